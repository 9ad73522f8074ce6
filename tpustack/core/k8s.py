"""Reading Kubernetes objects (stdlib only): pod templates inside workloads, containers, accelerator requests,
flags in argument lists. Shared by the cross-checks and the policy checks, so both see the same pods."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tpustack.core import names

# Kinds tpustack renders that have no namespace (the Kubernetes API's namespaced: false; ComputeClass: GKE's CRD).
CLUSTER_SCOPED = frozenset(
    {"StorageClass", "ComputeClass", "Namespace", "ClusterRole", "ClusterRoleBinding", "APIService"}
)


def obj_id(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('namespace', 'default')}/{meta.get('name')}"


def pod_specs(obj: dict) -> list[tuple[str, dict]]:
    """(where, pod spec) of every pod template in a workload object (Deployment, Job, LeaderWorkerSet...)."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        return [
            (f"{obj_id(obj)} {part}", (lwt[part] or {}).get("spec") or {})
            for part in ("leaderTemplate", "workerTemplate")
            if lwt.get(part)
        ]
    if obj.get("kind") in ("Deployment", "Job", "StatefulSet", "DaemonSet", "ReplicaSet"):
        return [(obj_id(obj), (spec.get("template") or {}).get("spec") or {})]
    if obj.get("kind") == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        return [(obj_id(obj), (job.get("template") or {}).get("spec") or {})]
    if obj.get("kind") == "Pod":
        return [(obj_id(obj), spec)]
    # Any other kind (a custom resource that embeds pods, e.g. JobSet): every mapping with a containers list.
    found: list[tuple[str, dict]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("containers"), list):
                found.append((f"{obj_id(obj)} {path}".rstrip(), node))
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(spec, "spec")
    return found


def containers(pod: dict) -> list[dict]:
    """Containers and init containers of a pod spec."""
    return list(pod.get("containers") or []) + list(pod.get("initContainers") or [])


def accelerator_requests(container: dict) -> dict[str, tuple[Any, Any]]:
    """{resource: (request, limit)} for the accelerator resources a container asks for."""
    res = container.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    return {k: (req.get(k), lim.get(k)) for k in names.ACCELERATOR_RESOURCES if k in req or k in lim}


def flag(args: list[str], name: str) -> str | None:
    """The value of ``--name v`` or ``--name=v`` in an argument list."""
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def template_labels(obj: dict, pod: dict) -> dict:
    """The labels the pods of ``pod`` (a pod spec inside ``obj``) carry, including controller-added ones."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        for part in ("leaderTemplate", "workerTemplate"):
            t = lwt.get(part) or {}
            if t.get("spec") is pod:
                # The LWS controller adds the set's name label to every pod it creates.
                return {
                    **((t.get("metadata") or {}).get("labels") or {}),
                    names.LWS_NAME_LABEL: obj["metadata"]["name"],
                }
        return {}
    return ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}


def walk_strings(obj: Any) -> Iterable[str]:
    """Every string inside an object (map keys included), e.g. to search rendered objects for leaked values."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from walk_strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from walk_strings(v)
