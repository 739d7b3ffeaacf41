#!/usr/bin/env bash
# Build the Node.js agent image tree into OUTDIR (the image root):
#   OUTDIR/autoinstrumentation/node_modules        `npm ci` of package-lock.json (production deps only)
#   OUTDIR/autoinstrumentation/autoinstrumentation.js  the --require entry point
# The lock file carries integrity hashes but no registry URLs: npm fetches from its configured registry.
#   build.sh OUTDIR        build
#   build.sh --lock        re-resolve package.json and rewrite package-lock.json
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
npm_flags=(--ignore-scripts --no-audit --no-fund --loglevel=error)

if [ "${1:-}" = "--lock" ]; then
  cd "$here"
  rm -f package-lock.json
  npm install --package-lock-only --omit-lockfile-registry-resolved "${npm_flags[@]}"
  exit 0
fi

out="${1:?usage: build.sh OUTDIR | build.sh --lock}"
dest="$out/autoinstrumentation"
mkdir -p "$dest"
cp "$here/package.json" "$here/package-lock.json" "$dest/"
# --ignore-scripts: no install script of any dependency runs in the builder; the agent needs none.
(cd "$dest" && npm ci --omit=dev "${npm_flags[@]}")
cp "$here/autoinstrumentation.js" "$dest/autoinstrumentation.js"
test -f "$dest/node_modules/@opentelemetry/auto-instrumentations-node/build/src/register.js"
chmod -R go+rX "$dest"
