"""Helpers the tests and the benchmarks share (never shipped: not part of the installed packages).

- :mod:`harness.gobuilds` — Go toolchains and the Go HTTP server target built with each, cached.
"""
