"""The embedded local control plane behind ``hodegos cluster``.

Layers, from data to processes:

- :mod:`toolchain.cluster` (build tooling, outside this package): the pinned Go tools it runs.
- :mod:`localcluster.layout`: a cluster's name, ports and the files in its state directory.
- :mod:`localcluster.pki`: the cluster CA, serving and client certificates, service-account keys.
- :mod:`localcluster.components`: the command line of each component (pure).
- :mod:`localcluster.processes`: starting, identifying and stopping processes; who holds a port.
- :mod:`localcluster.nodeconfig`: a real node as data (addresses; containerd, kubelet, kube-proxy, CNI).
- :mod:`localcluster.nodes`: the namespaces, cgroups and processes of real nodes; taking them away.
- :mod:`localcluster.netproxy`: the process joining the cluster's private network to the host's loopback.
- :mod:`localcluster.fleet`: the real nodes of one cluster: start, Ready, load images, stop, status rows.
- :mod:`localcluster.addons`: CoreDNS and metrics-server.
- :mod:`localcluster.lifecycle`: ``up``, ``down``, ``load`` and ``status``.
"""
