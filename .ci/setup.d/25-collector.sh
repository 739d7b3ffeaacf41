#!/usr/bin/env bash
# Build the pinned OpenTelemetry Collector (toolchain/pins/otelcol/manifest.yaml) with the Collector Builder
# into ~/.cache/hodegos/otelcol-<version>-<digest>/bin/otelcol. Idempotent: a cached pin is never rebuilt.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"
nice -n 10 .venv/bin/python -m toolchain.otelcol
