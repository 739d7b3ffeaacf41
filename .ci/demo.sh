#!/usr/bin/env bash
# `make demo`: the seed's getting-started, whole, on the embedded local cluster (`hodegos demo up`):
#   1. a real control plane and a real node (containerd + kubelet + kube-proxy in namespaces of its own);
#   2. Hodegos's images, the language agents', the shop's and the backend's, as OCI archives, loaded;
#   3. `hodegos install` (the Helm chart, waiting for every pod);
#   4. the backend (Jaeger, a metrics-and-logs sink) and the shop (Node.js, Python, Java, Go; no OTel code);
#   5. the onboarding in the web UI with a real browser: opt-out mode, two Destinations;
#   6. the first complete trace at Jaeger, then a summary of what arrived and where to look.
# The cluster stays up afterwards; the last lines say how to look around and tear it down. Run it again:
# everything is cached and the install is an upgrade (a warm run takes a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:/usr/local/go/bin:$PATH"
exec hodegos demo up --name "${HODEGOS_DEMO_CLUSTER:-hodegos}" ${HODEGOS_DEMO_SHOTS:+--screenshots "$HODEGOS_DEMO_SHOTS"}
