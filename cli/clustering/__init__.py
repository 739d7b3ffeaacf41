"""The embedded local control plane behind ``hodegos cluster``.

Layers, from data to processes:

- :mod:`cli.clustering.tools`: the pinned Go tools (Kubernetes, etcd, kwok, Helm) and building them.
- :mod:`cli.clustering.layout`: a cluster's name, ports and the files in its state directory.
- :mod:`cli.clustering.pki`: the cluster CA, serving and client certificates, service-account keys.
- :mod:`cli.clustering.components`: the command line of each component (pure).
- :mod:`cli.clustering.processes`: starting, identifying and stopping processes; who holds a port.
- :mod:`cli.clustering.lifecycle`: ``up``, ``down`` and ``status``.
"""
