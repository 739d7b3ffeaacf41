#!/usr/bin/env bash
# Build the pinned local cluster (kube-apiserver, controller-manager, scheduler, kubectl, etcd, kwok; the real
# nodes' kubelet, kube-proxy, containerd, runc, CNI plugins, CoreDNS, metrics-server and their images)
# and helm from the Go module proxy into ~/.cache/hodegos. Idempotent: a cached pin is never rebuilt.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"
nice -n 10 .venv/bin/hodegos cluster build
