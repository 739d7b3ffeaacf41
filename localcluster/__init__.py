"""The embedded local control plane behind ``hodegos cluster``.

Layers, from data to processes:

- :mod:`toolchain.cluster` (build tooling, outside this package): the pinned Go tools it runs.
- :mod:`localcluster.layout`: a cluster's name, ports and the files in its state directory.
- :mod:`localcluster.pki`: the cluster CA, serving and client certificates, service-account keys.
- :mod:`localcluster.components`: the command line of each component (pure).
- :mod:`localcluster.processes`: starting, identifying and stopping processes; who holds a port.
- :mod:`localcluster.lifecycle`: ``up``, ``down`` and ``status``.
"""
