#!/usr/bin/env bash
# Install the Debian packages listed in .ci/apt/*.txt that are not installed yet.
set -euo pipefail
cd "$(dirname "$0")"
mapfile -t wanted < <(cat apt/*.txt 2>/dev/null | sed 's/#.*//' | awk 'NF' | sort -u)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then echo "system packages: all present"; exit 0; fi
echo "system packages: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
