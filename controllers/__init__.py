"""Hodegos controllers: the instrumentor, scheduler and autoscaler, run by ``hodegos controllers run``.

Layers (pure core, thin shell):

- Decisions, functions from data to data with no I/O: :mod:`controllers.optin` (who is opted in, which
  InstrumentedApplications should exist), :mod:`controllers.rollouts` (when to roll a workload, when to roll
  back), :mod:`controllers.scheduling` (which CollectorsGroups exist), :mod:`controllers.collectors`
  (the gateway and node collector objects), :mod:`controllers.conditions` (``metav1.Condition`` and events).
- Plumbing shared by every controller, written once: :mod:`controllers.kube` (raw API client, list+watch
  caches, server-side apply with the ``hodegos`` field manager), :mod:`controllers.workqueue` (level-triggered
  queue with per-key backoff), :mod:`controllers.leader` (Lease-based leader election).
- Reconcilers that join the two: :mod:`controllers.instrumentor`, :mod:`controllers.autoscaler`, and
  :mod:`controllers.manager` which runs them.

Errors: :mod:`controllers.errors`.
"""
