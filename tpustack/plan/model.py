"""The plan: what a stack's program declares, as ``tpustack plan --json`` prints it (the contract, README).

``{"stack", "resources": [{"urn", "type", "name", "parent", "inputs", "depends_on"}], "manifests": [...],
"outputs": {...}, "cost": {"hourly_usd", "items"}, "warnings": [...], "ceilings": {...} | null, "units": [...]}``;
deterministic for the same stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


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
    objs: list[dict] = []
    for r in resources:
        if not r.type.startswith("kubernetes:"):
            continue
        if r.type == "kubernetes:yaml/v2:ConfigGroup":
            objs.extend(o for o in r.inputs.get("objs") or [] if isinstance(o, dict))
        elif r.custom and "apiVersion" in r.inputs and "kind" in r.inputs:
            objs.append(r.inputs)
    return objs


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
        return json.dumps(self.to_json(), indent=2, sort_keys=True, default=str)

    def by_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str) -> PlannedResource:
        found = self.by_type(type_token)
        if len(found) != 1:
            raise LookupError(f"expected one {type_token}, found {[r.urn for r in found]}")
        return found[0]
