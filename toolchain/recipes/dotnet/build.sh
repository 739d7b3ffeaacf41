#!/usr/bin/env bash
# Build the .NET agent image tree into OUTDIR (the image root):
#   OUTDIR/autoinstrumentation/glibc   the upstream linux-glibc-x64 release, unpacked
#   OUTDIR/autoinstrumentation/musl    the upstream linux-musl-x64 release, unpacked
# Each variant keeps the upstream layout (linux-x64/ or linux-musl-x64/ native profiler, net/ startup hook,
# AdditionalDeps/, store/); layout.txt lists what the injection rules rely on and is checked here.
#   build.sh OUTDIR               build (needs the SHA-256 pins in release.env)
#   build.sh --record-checksums   download both assets and print their SHA-256 lines for release.env
# The release assets are published on GitHub; RELEASES_URL overrides where they are fetched from.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=release.env
. "$here/release.env"
RELEASES_URL="${RELEASES_URL:-https://github.com/open-telemetry/opentelemetry-dotnet-instrumentation/releases/download}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

fetch() { # libc -> path of the downloaded zip
  local asset="opentelemetry-dotnet-instrumentation-linux-$1-x64.zip"
  curl -fsSL --retry 3 -o "$work/$asset" "$RELEASES_URL/v$DOTNET_AUTO_VERSION/$asset"
  echo "$work/$asset"
}

if [ "${1:-}" = "--record-checksums" ]; then
  echo "DOTNET_AUTO_SHA256_GLIBC=$(sha256sum "$(fetch glibc)" | cut -d' ' -f1)"
  echo "DOTNET_AUTO_SHA256_MUSL=$(sha256sum "$(fetch musl)" | cut -d' ' -f1)"
  exit 0
fi

out="${1:?usage: build.sh OUTDIR | build.sh --record-checksums}"
for libc in glibc musl; do
  var="DOTNET_AUTO_SHA256_${libc^^}"
  want="${!var}"
  if [ -z "$want" ]; then
    echo "build.sh: $var is not pinned in release.env; run build.sh --record-checksums on a trusted machine" >&2
    exit 2
  fi
  zip="$(fetch "$libc")"
  echo "$want  $zip" | sha256sum --check --quiet
  dest="$out/autoinstrumentation/$libc"
  mkdir -p "$dest"
  unzip -q -o "$zip" -d "$dest"
  while read -r variant path; do
    [ "$variant" = "$libc" ] || continue
    test -e "$dest/$path" || { echo "build.sh: release $DOTNET_AUTO_VERSION lacks $libc/$path" >&2; exit 1; }
  done < <(sed 's/#.*//' "$here/layout.txt" | awk 'NF')
done
chmod -R go+rX "$out/autoinstrumentation"
