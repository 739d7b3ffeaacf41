"""The API resources Hodegos reads and writes, by name: group, version, plural, kind and scope.

A :class:`Resource` builds its own request paths, so no other module spells a URL. :data:`BY_KIND` finds
one from an object's ``kind``.
"""

from __future__ import annotations

from dataclasses import dataclass

from api import constants


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if sub:
            base += f"/{sub}"
        return base


NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
PODS = Resource("", "v1", "pods", "Pod")
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
SECRETS = Resource("", "v1", "secrets", "Secret")
SERVICES = Resource("", "v1", "services", "Service")
SERVICEACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
STATEFULSETS = Resource("apps", "v1", "statefulsets", "StatefulSet")
DAEMONSETS = Resource("apps", "v1", "daemonsets", "DaemonSet")
REPLICASETS = Resource("apps", "v1", "replicasets", "ReplicaSet")
JOBS = Resource("batch", "v1", "jobs", "Job")
CRONJOBS = Resource("batch", "v1", "cronjobs", "CronJob")
HPAS = Resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler")
PDBS = Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget")
ENDPOINTSLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
EVENTS = Resource("events.k8s.io", "v1", "events", "Event")
CLUSTERROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False)
CLUSTERROLEBINDINGS = Resource(
    "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
)
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLEBINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")
MUTATING_WEBHOOKS = Resource(
    "admissionregistration.k8s.io",
    "v1",
    "mutatingwebhookconfigurations",
    "MutatingWebhookConfiguration",
    namespaced=False,
)
CRDS = Resource(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced=False
)
RECORDS = Resource(constants.GROUP, constants.VERSION, "instrumentedapplications", "InstrumentedApplication")
DESTINATIONS = Resource(constants.GROUP, constants.VERSION, "destinations", "Destination")
GROUPS = Resource(constants.GROUP, constants.VERSION, "collectorsgroups", "CollectorsGroup")
ACTIONS = Resource(constants.GROUP, constants.VERSION, "actions", "Action")
SAMPLING_RULES = Resource(constants.GROUP, constants.VERSION, "samplingrules", "SamplingRule")

BY_KIND: dict[str, Resource] = {
    r.kind: r
    for r in (
        NAMESPACES, NODES, PODS, CONFIGMAPS, SECRETS, SERVICES, SERVICEACCOUNTS, DEPLOYMENTS, STATEFULSETS,
        DAEMONSETS, REPLICASETS, JOBS, CRONJOBS, HPAS, PDBS, ENDPOINTSLICES, LEASES, EVENTS, CLUSTERROLES,
        CLUSTERROLEBINDINGS, ROLES, ROLEBINDINGS, MUTATING_WEBHOOKS, CRDS, RECORDS, DESTINATIONS, GROUPS,
        ACTIONS, SAMPLING_RULES,
    )
}  # fmt: skip


def of(obj: dict[str, object]) -> Resource:
    """The resource of an object by its ``kind``; ``KeyError`` for a kind Hodegos does not know."""
    return BY_KIND[str(obj.get("kind"))]
