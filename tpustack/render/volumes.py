"""Cross-checks of what rendered objects refer to by name, where the API server would accept a dangling name and
the failure would show only on the cluster: a PVC a pod mounts, the StorageClass and data source a PVC names,
the ServiceAccount a GCPDataSource reads as, and the ``config.kubernetes.io/depends-on`` references that order
objects inside one ConfigGroup (pulumi-kubernetes refuses a reference outside the group)."""

from __future__ import annotations

from collections.abc import Iterator

from tpustack.config.model import StackConfig
from tpustack.core import names, weights
from tpustack.core.errors import Problem, problem
from tpustack.core.k8s import CLUSTER_SCOPED, obj_id, pod_specs

from .rendered import Rendered

_FIX = "fix the template so the name matches an object it renders; `tpustack plan --out DIR` shows them"


def reference(obj: dict) -> str:
    """The depends-on reference of an object: ``<group>/namespaces/<ns>/<kind>/<name>`` or ``<group>/<kind>/<name>``
    for a cluster-scoped one (the core group is empty)."""
    api = str(obj.get("apiVersion") or "")
    group = api.rsplit("/", 1)[0] if "/" in api else ""
    meta = obj.get("metadata") or {}
    if obj.get("kind") in CLUSTER_SCOPED:
        return f"{group}/{obj.get('kind')}/{meta.get('name')}"
    return f"{group}/namespaces/{meta.get('namespace', 'default')}/{obj.get('kind')}/{meta.get('name')}"


def check_depends_on(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    for objs in r.apps.values():
        held = {reference(o) for o in objs}
        for obj in objs:
            refs = ((obj.get("metadata") or {}).get("annotations") or {}).get(names.DEPENDS_ON)
            for ref in str(refs).split(",") if refs else ():
                if ref.strip() not in held:
                    yield problem(
                        r.source(obj),
                        f"{obj_id(obj)} waits for {ref.strip()}, which its app does not hold (pulumi-kubernetes "
                        "orders only objects of one ConfigGroup)",
                        _FIX,
                    )


def _named(r: Rendered, kind: str, namespace: str | None, name: str, group: str = "") -> dict | None:
    for o in r.objects():
        meta = o.get("metadata") or {}
        api = str(o.get("apiVersion") or "")
        if o.get("kind") != kind or meta.get("name") != name or (group and not api.startswith(group + "/")):
            continue
        if namespace is None or meta.get("namespace") == namespace:
            return o
    return None


def _claims(pod: dict) -> Iterator[tuple[str, bool]]:
    for v in pod.get("volumes") or ():
        claim = v.get("persistentVolumeClaim")
        if claim:
            yield claim.get("claimName", ""), bool(claim.get("readOnly"))


def _pod_claims(r: Rendered, obj: dict, ns: str | None) -> Iterator[Problem]:
    for where, pod in pod_specs(obj):
        for claim, read_only in _claims(pod):
            pvc = _named(r, "PersistentVolumeClaim", ns, claim)
            if pvc is None:
                yield problem(r.source(obj), f"{where} mounts PVC {claim}, which is not rendered", _FIX)
            elif "ReadOnlyMany" in (pvc.get("spec") or {}).get("accessModes", ()) and not read_only:
                yield problem(
                    r.source(obj),
                    f"{where} mounts the ReadOnlyMany PVC {claim} writable (the node attaches it read-only)",
                    "mount it with readOnly: true",
                )


def _claim_sources(r: Rendered, obj: dict, ns: str | None) -> Iterator[Problem]:
    spec = obj.get("spec") or {}
    sc = spec.get("storageClassName")
    if sc and _named(r, "StorageClass", None, sc) is None:
        yield problem(r.source(obj), f"{obj_id(obj)} names StorageClass {sc}, which is not rendered", _FIX)
    src = spec.get("dataSourceRef")
    if src and _named(r, src.get("kind", ""), ns, src.get("name", ""), src.get("apiGroup", "")) is None:
        what = f"{src.get('kind')} {src.get('name')} ({src.get('apiGroup') or 'core'})"
        yield problem(r.source(obj), f"{obj_id(obj)} fills from {what}, which is not rendered", _FIX)


def _datasource_account(r: Rendered, obj: dict, ns: str | None) -> Iterator[Problem]:
    sa = (((obj.get("spec") or {}).get("cloudStorage") or {}).get("serviceAccountName")) or ""
    if sa != names.SERVING_KSA and _named(r, "ServiceAccount", ns, sa) is None:
        yield problem(r.source(obj), f"{obj_id(obj)} reads as ServiceAccount {sa!r}, not rendered", _FIX)


def check_claims(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """A pod's PVC is rendered in its namespace (ReadOnlyMany ones mounted read-only); a PVC's StorageClass and
    data source are rendered; a GCPDataSource reads as a ServiceAccount of its namespace."""
    for obj in r.objects():
        ns = (obj.get("metadata") or {}).get("namespace")
        yield from _pod_claims(r, obj, ns)
        if obj.get("kind") == "PersistentVolumeClaim":
            yield from _claim_sources(r, obj, ns)
        if obj.get("kind") == weights.DATASOURCE_KIND:
            yield from _datasource_account(r, obj, ns)


CHECKS = [check_depends_on, check_claims]
