#!/usr/bin/env bash
# Build what `make demo` and the end-to-end scenarios (tests/journey) run: Jaeger (toolchain/pins/jaeger, from
# the Go module proxy), the demo shop's and backend's images, and Hodegos's own images, into ~/.cache/hodegos.
# Idempotent: an image or build whose inputs did not change is not made again.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"
nice -n 10 .venv/bin/python -c 'from journey import images; images.archives(progress=print)'
nice -n 10 .venv/bin/hodegos images build
