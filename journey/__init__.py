"""The demo journey: what ``make demo`` runs, on the local cluster with real nodes.

The seed's getting-started made real: the shop's images (:mod:`journey.images`), a backend in the cluster
(Jaeger for traces, a sink for metrics and logs: :mod:`journey.backend`), ``hodegos install``, onboarding
through the UI, traffic, and a live summary of what arrived (:mod:`journey.summary`).

It sits above the local cluster, the installer and the UI, and below the CLI (``hodegos demo``).
"""
