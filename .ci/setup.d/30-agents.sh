#!/usr/bin/env bash
# Build the Python, Node.js and Java agent image trees into ~/.cache/hodegos/agents with the same build.sh
# each agent's Dockerfile runs (idempotent: a recipe already built is skipped), and the test apps' own
# dependencies. The end-to-end injection tests run injected pods from these trees.
set -euo pipefail
cd "$(dirname "$0")/../.."
nice -n 10 .venv/bin/python -m webhook.agents.building python nodejs java
