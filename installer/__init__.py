"""Installing Hodegos into a cluster with its Helm chart, and taking it out again cleanly.

- :mod:`installer.helm` — the pinned Helm binary: install or upgrade, uninstall, status;
- :mod:`installer.removal` — uninstalling: instrumentation off first (every workload rolled back clean),
  then the release, then (``purge``) CRDs, records and every annotation Hodegos added;
- :mod:`installer.diagnose` — a ``.tar.gz`` of every Hodegos object, config, log and metric, Secrets
  redacted;
- :mod:`installer.versions` — the CLI's and the cluster's versions.

Errors: :class:`installer.errors.InstallError` and its subclasses.
"""
