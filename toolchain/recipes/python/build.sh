#!/usr/bin/env bash
# Build the Python agent image tree into OUTDIR (the image root):
#   OUTDIR/autoinstrumentation/glibc  pip --target install for manylinux (glibc) CPython
#   OUTDIR/autoinstrumentation/musl   the same for musllinux (Alpine) CPython
# Both installs resolve binary wheels for one CPython minor version (PY_VERSION, default 3.11) and the
# platform tag, so one builder on any Linux makes both. requirements.txt pins every package exactly.
#   build.sh OUTDIR        build
#   build.sh --lock        re-resolve requirements.in and rewrite requirements.txt
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${PYTHON:-python3}"
PY_VERSION="${PY_VERSION:-3.11}"
ARCH="${ARCH:-x86_64}"
abi="cp${PY_VERSION/./}"

install() { # target platform-tag requirements-file
  "$PYTHON" -m pip install --quiet --no-compile --disable-pip-version-check --root-user-action=ignore \
    --target "$1" --platform "$2" --python-version "$PY_VERSION" --implementation cp --abi "$abi" \
    --only-binary=:all: -r "$3"
}

if [ "${1:-}" = "--lock" ]; then
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  install "$tmp/t" "manylinux2014_$ARCH" "$here/requirements.in"
  {
    echo "# Exact pins of requirements.in and its closure (CPython $PY_VERSION). Regenerate with: build.sh --lock"
    for meta in "$tmp"/t/*.dist-info/METADATA; do
      name="$(sed -n 's/^Name: //p' "$meta" | head -1 | tr 'A-Z_' 'a-z-')"
      version="$(sed -n 's/^Version: //p' "$meta" | head -1)"
      echo "$name==$version"
    done | sort
  } > "$here/requirements.txt"
  exit 0
fi

out="${1:?usage: build.sh OUTDIR | build.sh --lock}"
mkdir -p "$out/autoinstrumentation"
install "$out/autoinstrumentation/glibc" "manylinux2014_$ARCH" "$here/requirements.txt"
install "$out/autoinstrumentation/musl" "musllinux_1_2_$ARCH" "$here/requirements.txt"
for libc in glibc musl; do
  dir="$out/autoinstrumentation/$libc"
  # Console scripts carry the builder's interpreter path; the injected app never runs them.
  rm -rf "$dir/bin"
  # The hook that starts the agent: PYTHONPATH puts this directory first so its sitecustomize runs.
  test -f "$dir/opentelemetry/instrumentation/auto_instrumentation/sitecustomize.py"
done
# The init container runs as a non-root user: everything must be world-readable.
chmod -R go+rX "$out/autoinstrumentation"
