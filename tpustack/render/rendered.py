"""``Rendered``: a stack's Kubernetes objects per app, with the template each came from."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Rendered:
    """A stack's Kubernetes objects, per app (in apply order), validated and cross-checked."""

    cluster_minor: str
    apps: dict[str, list[dict]] = field(default_factory=dict)
    sources: dict[int, str] = field(default_factory=dict)  # id(object) -> template it came from
    secrets: dict[str, set[str]] = field(default_factory=dict)  # Secrets the stack creates -> their keys

    def objects(self) -> list[dict]:
        return [o for objs in self.apps.values() for o in objs]

    def source(self, obj: dict) -> str:
        return self.sources.get(id(obj), "manifests/")
