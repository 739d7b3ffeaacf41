#!/usr/bin/env bash
# Build the Python, Node.js and Java agent image trees into ~/.cache/hodegos/agents with the same build.sh
# each agent's Dockerfile runs, and the end-to-end injection tests' app images (and the agents' busybox base
# layer) into ~/.cache/hodegos/e2e-apps. Idempotent: a recipe or app already built is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
nice -n 10 .venv/bin/python -m toolchain.agents python nodejs java
nice -n 10 .venv/bin/python -m tests.e2e_injection.appimages
