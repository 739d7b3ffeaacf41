"""Certificates for the webhook's HTTPS endpoint: a self-signed CA, a serving certificate, rotation, reload.

Public surface:

- :mod:`certs.authority`: :func:`~certs.authority.issue` builds a :class:`~certs.authority.Material` (CA,
  serving certificate and the caBundle the API server trusts); :func:`~certs.authority.service_hosts` names
  the webhook Service's DNS names.
- :mod:`certs.rotation`: :func:`~certs.rotation.decide` (pure: when to rotate, and what the caBundle holds
  during the switch) and :func:`~certs.rotation.rotate` (applies a decision to a Material).
- :mod:`certs.storing`: Material <-> a directory of PEM files, and <-> a Kubernetes Secret's data.
- :mod:`certs.reloading`: :class:`~certs.reloading.ReloadingContext`, one ``ssl.SSLContext`` whose
  certificate is swapped in place when the files change: new handshakes get the new one, nothing drops.
- :mod:`certs.errors`: the error tree.
"""
