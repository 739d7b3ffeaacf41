"""Node agent detection: what runs in each process and container on this node.

Public API (everything takes a ``/proc`` root, default ``/proc``, so tests and chroots can point elsewhere):

- :func:`inspect(pid, proc) <detector.detection.inspect>` -> :class:`Detection`: language, runtime
  version, libc, other APM agents, evidence, and the pod/container the process belongs to.
- :func:`read_cgroup(pid, proc) <detector.cgroups.read_cgroup>` -> :class:`CgroupIdentity` (pod UID,
  container ID, runtime); :func:`parse_cgroup_file` / :func:`parse_cgroup_path` are the pure parsers;
  :func:`pod_processes(pod_uid, proc)` groups a pod's PIDs by container ID.
- :func:`pick_application(detections) <detector.picking.pick_application>` -> :class:`Choice`: the
  application process of one container, skipping shells and init wrappers.
- :func:`detector.records.status_patch` (pure) and :mod:`detector.writer` / :mod:`detector.node` (the
  Kubernetes side) turn detections into an InstrumentedApplication's ``status.containers``.
"""

from detector.cgroups import CgroupIdentity, parse_cgroup_file, parse_cgroup_path, pod_processes, read_cgroup
from detector.detection import Detection, ElfCache, decide, inspect, libc_of
from detector.errors import DetectorError, NotInspectable, ProcessGone, RecordWriteError
from detector.picking import Choice, pick_application

__all__ = [
    "CgroupIdentity",
    "Choice",
    "Detection",
    "DetectorError",
    "ElfCache",
    "NotInspectable",
    "ProcessGone",
    "RecordWriteError",
    "decide",
    "inspect",
    "libc_of",
    "parse_cgroup_file",
    "parse_cgroup_path",
    "pick_application",
    "pod_processes",
    "read_cgroup",
]
