#!/usr/bin/env bash
# The web UI's one third-party asset: htmx, from the npm registry, into the tool cache (never committed).
# Pinned in ui/assets.py (version and sha256); the UI serves the cached file, and the image build copies it.
# Idempotent: a cached file with the pinned digest is kept.
set -euo pipefail
cd "$(dirname "$0")/../.."
# ui/assets.py is read on its own (stdlib only), so a half-edited package elsewhere cannot stop the setup
pin='import runpy; a = runpy.run_path("ui/assets.py")'
read -r version digest < <(.venv/bin/python -c "${pin}; print(a['HTMX_VERSION'], a['HTMX_SHA256'])")
target="$(.venv/bin/python -c "${pin}; print(a['cached_htmx']())")"
if [ -f "${target}" ] && echo "${digest}  ${target}" | sha256sum --check --status; then
  echo "ui: htmx ${version} already cached"
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
(cd "${work}" && npm pack "htmx.org@${version}" --silent >/dev/null)
tar -xzf "${work}/htmx.org-${version}.tgz" -C "${work}" package/dist/htmx.min.js
echo "${digest}  ${work}/package/dist/htmx.min.js" | sha256sum --check --status || {
  echo "ui: htmx.org@${version} from the registry does not match the pinned sha256 ${digest}" >&2
  exit 1
}
mkdir -p "$(dirname "${target}")"
install -m 0644 "${work}/package/dist/htmx.min.js" "${target}"
echo "ui: cached htmx ${version} at ${target}"
