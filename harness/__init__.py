"""Helpers the tests and the benchmarks share (never shipped: not part of the installed packages).

- :mod:`harness.gobuilds` — Go toolchains and the Go HTTP server target built with each, cached.
- :mod:`harness.otlp` — OTLP/HTTP and OTLP/gRPC receivers on loopback that record what arrives.
- :mod:`harness.collectors` — run the built collector with a rendered config until it is healthy.
- :mod:`harness.spans` — build OTLP trace requests (trace IDs, errors, durations, attributes) and send them.
"""
