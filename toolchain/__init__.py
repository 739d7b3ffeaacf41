"""Build tooling: the pinned tools Hodegos builds from the registries, cached under versioned directories.

Nothing here ships in a runtime component; the runtime packages only find what was built (a binary's path).

- :mod:`toolchain.cache` — :class:`~toolchain.cache.GoTool` (a Go module of ours pinning upstream code,
  ``toolchain/pins/<name>/``), the cache directory, cross-process build locks, logged commands;
- :mod:`toolchain.cluster` — the local cluster's Kubernetes (control plane, kubelet, kube-proxy), etcd, kwok
  and Helm pins;
- :mod:`toolchain.nodes` — a real node's containerd, runc, CNI plugins, CoreDNS and metrics-server pins and
  the images every node starts with (pause from ``pause.c``);
- :mod:`toolchain.images` — a deterministic OCI image-layout writer (root filesystem -> importable tar);
- :mod:`toolchain.localimages` — agent images from the recipes, a Python runtime layer, small app images;
- :mod:`toolchain.otelcol` — the OpenTelemetry Collector distribution (Collector Builder manifest);
- :mod:`toolchain.agents` — the language agents' image trees, from ``toolchain/recipes/<lang>/``.

Errors: :class:`toolchain.cache.ToolBuildError` (a build failed; carries the command and its output tail),
:class:`toolchain.agents.AgentBuildError`, :class:`toolchain.images.ImageError`.
"""
