"""The mutating admission webhook that injects OpenTelemetry agents into pods at CREATE.

Public surface:

- :func:`webhook.admission.review`: the pure core, AdmissionReview in, :class:`Outcome` out.
- :class:`webhook.admission.ClusterView`: what the core may ask about the cluster (answered from a cache).
- :mod:`webhook.server`: the FastAPI/uvicorn HTTPS shell.
"""
