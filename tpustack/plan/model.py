"""The plan: what a stack's program declares, as ``tpustack plan --json`` prints it (the contract, README).

``{"stack", "resources": [{"urn", "type", "name", "parent", "inputs", "depends_on"}], "manifests": [...],
"outputs": {...}, "cost": {"hourly_usd", "items"}, "warnings": [...], "ceilings": {...} | null, "units": [...]}``;
deterministic for the same stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tpustack.core.display import json_text


@dataclass
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    depends_on: list[str]
    custom: bool
    # Resource options the engine would act on (not part of the JSON contract): retainOnDelete, protect,
    # deleteBeforeReplace, customTimeouts, ignoreChanges, provider.
    options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "inputs": self.inputs,
            "depends_on": self.depends_on,
        }


def manifests_of(resources: list[PlannedResource]) -> list[dict]:
    """Every Kubernetes object the program hands to the Kubernetes provider, in declaration order.

    Read from what the engine receives: the ``objs`` of each ``kubernetes:yaml/v2:ConfigGroup`` and the inputs
    of each typed Kubernetes resource (``kubernetes:core/v1:Secret`` ...). Provider resources and Helm releases
    are not objects of their own and are left out.
    """
    return [o for _, o in _objects(resources)]


def _objects(resources: list[PlannedResource]) -> list[tuple[PlannedResource, dict]]:
    """Each Kubernetes object with the resource that declares it, in declaration order."""
    objs: list[tuple[PlannedResource, dict]] = []
    for r in resources:
        if not r.type.startswith("kubernetes:"):
            continue
        if r.type == "kubernetes:yaml/v2:ConfigGroup":
            objs.extend((r, o) for o in r.inputs.get("objs") or [] if isinstance(o, dict))
        elif r.custom and "apiVersion" in r.inputs and "kind" in r.inputs:
            objs.append((r, r.inputs))
    return objs


CLUSTER_TYPE = "gcp:container/cluster:Cluster"


def manifests_by_cluster(resources: list[PlannedResource]) -> dict[str, list[dict]]:
    """The Kubernetes objects per cluster they are applied to, keyed by the cluster's location (its region), in
    declaration order. An object goes to the cluster whose Kubernetes provider declares it: the provider and the
    cluster are children of one GkeCluster component (tpustack.components.gke). Objects of no known cluster are
    keyed ``""``."""
    by_urn = {r.urn: r for r in resources}
    location = {r.parent: str(r.inputs.get("location") or "") for r in resources if r.type == CLUSTER_TYPE}
    groups: dict[str, list[dict]] = {}
    for r, obj in _objects(resources):
        ref = str(r.options.get("provider") or "")
        provider = by_urn.get(ref.rsplit("::", 1)[0]) if ref else None
        key = location.get(provider.parent, "") if provider is not None else ""
        groups.setdefault(key, []).append(obj)
    return groups


@dataclass
class Plan:
    stack: str
    resources: list[PlannedResource]
    manifests: list[dict]
    outputs: dict[str, Any]
    cost: dict[str, Any]
    warnings: list[str]
    # Physical ceilings of one serving replica (tpustack.core.ceilings); None when the stack serves no model.
    ceilings: dict[str, Any] | None = None
    # Every serving unit (tpustack.config.units): where it serves, on what, how provisioned, and its ceilings.
    units: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "stack": self.stack,
            "resources": [r.to_json() for r in self.resources],
            "manifests": self.manifests,
            "outputs": self.outputs,
            "cost": self.cost,
            "warnings": self.warnings,
            "ceilings": self.ceilings,
            "units": self.units,
        }

    def dumps(self) -> str:
        """The plan as strict JSON (a non-finite figure is null: never `Infinity`, which is not JSON)."""
        return json_text(self.to_json(), sort_keys=True).rstrip("\n")

    def manifests_by_cluster(self) -> dict[str, list[dict]]:
        """``manifests`` per cluster (its region): a multi-region stack has a cluster, and objects, per region."""
        return manifests_by_cluster(self.resources)

    def by_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str) -> PlannedResource:
        found = self.by_type(type_token)
        if len(found) != 1:
            raise LookupError(f"expected one {type_token}, found {[r.urn for r in found]}")
        return found[0]
