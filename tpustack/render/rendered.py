"""``Rendered``: a region's Kubernetes objects per app, with the template and the serving unit each came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from tpustack.config.units import Region, ServingUnit


@dataclass
class Rendered:
    """A region's Kubernetes objects, per app (in apply order), validated and cross-checked."""

    cluster_minor: str
    region: Region | None = None
    units: tuple[ServingUnit, ...] = ()  # the serving units of the region
    apps: dict[str, list[dict]] = field(default_factory=dict)
    sources: dict[int, str] = field(default_factory=dict)  # id(object) -> template it came from
    owners: dict[int, tuple[str, str]] = field(default_factory=dict)  # id(object) -> (unit key, app)
    secrets: dict[str, set[str]] = field(default_factory=dict)  # Secrets the stack creates -> their keys

    def objects(self) -> list[dict]:
        return [o for objs in self.apps.values() for o in objs]

    def source(self, obj: dict) -> str:
        return self.sources.get(id(obj), "manifests/")

    def of_unit(self, unit: ServingUnit, app: str | None = None) -> list[dict]:
        """The objects rendered for one unit (its workload and Jobs), optionally of one app only."""
        return [
            o
            for o in self.objects()
            if (owner := self.owners.get(id(o))) is not None
            and owner[0] == unit.keys.unit
            and (app is None or owner[1] == app)
        ]
