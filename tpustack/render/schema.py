"""Schema validation of rendered objects at the cluster's Kubernetes minor.

Core objects are validated with kubernetes-validate (the OpenAPI schemas of each Kubernetes release, strict: no
unknown fields). Custom resources are checked against the field names of their CRDs, and the pod templates
they embed against the core PodTemplate schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tpustack.config.derived import minor_tuple
from tpustack.core.errors import Problem, problem
from tpustack.core.k8s import obj_id

from .rendered import Rendered

# Field names of the two custom resources, from their CRDs: kubernetes-sigs/lws
# charts/lws/crds/leaderworkerset.x-k8s.io_leaderworkersets.yaml (v1) and GoogleCloudPlatform/
# prometheus-engine pkg/operator/apis/monitoring/v1/pod_types.go + common_types.go (PodMonitoring v1).
# None = any value; their pod templates are validated against the core schema instead.
_META = {"name": None, "namespace": None, "labels": None, "annotations": None}
_SELECTOR = {"matchLabels": None, "matchExpressions": None}
CRD_FIELDS: dict[tuple[str, str], dict] = {
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"): {
        "apiVersion": None,
        "kind": None,
        "metadata": _META,
        "spec": {
            "replicas": None,
            "startupPolicy": None,
            "networkConfig": {"subdomainPolicy": None},
            "rolloutStrategy": {
                "type": None,
                "rollingUpdateConfiguration": {"maxUnavailable": None, "maxSurge": None, "partition": None},
            },
            "leaderWorkerTemplate": {
                "size": None,
                "restartPolicy": None,
                "leaderTemplate": None,
                "workerTemplate": None,
                "subGroupPolicy": None,
                "volumeClaimTemplates": None,
                "persistentVolumeClaimRetentionPolicy": None,
            },
        },
    },
    ("monitoring.googleapis.com/v1", "PodMonitoring"): {
        "apiVersion": None,
        "kind": None,
        "metadata": _META,
        "spec": {
            "selector": _SELECTOR,
            "filterRunning": None,
            "limits": None,
            "targetLabels": {"metadata": None, "fromPod": None},
            "endpoints": [
                {
                    "port": None,
                    "path": None,
                    "interval": None,
                    "timeout": None,
                    "scheme": None,
                    "params": None,
                    "metricRelabeling": None,
                }
            ],
        },
    },
}


def _shape_errors(obj: Any, allowed: Any, path: str) -> Iterator[str]:
    if allowed is None:
        return
    if isinstance(allowed, list):
        if not isinstance(obj, list):
            yield f"{path}: expected a list"
            return
        for i, item in enumerate(obj):
            yield from _shape_errors(item, allowed[0], f"{path}[{i}]")
        return
    if not isinstance(obj, dict):
        yield f"{path}: expected an object"
        return
    for k, v in obj.items():
        if k not in allowed:
            yield f"{path}.{k}: unknown field (known: {', '.join(sorted(allowed))})"
        else:
            yield from _shape_errors(v, allowed[k], f"{path}.{k}")


def schema_errors(obj: dict, minor: str) -> Iterator[str]:
    import kubernetes_validate as kv

    key = (obj.get("apiVersion"), obj.get("kind"))
    if key in CRD_FIELDS:
        yield from (e.lstrip(".") for e in _shape_errors(obj, CRD_FIELDS[key], ""))
        if obj["kind"] == "LeaderWorkerSet":
            lwt = (obj.get("spec") or {}).get("leaderWorkerTemplate") or {}
            for part in ("leaderTemplate", "workerTemplate"):
                if part in lwt:
                    wrapped = {
                        "apiVersion": "v1",
                        "kind": "PodTemplate",
                        "metadata": {"name": obj["metadata"]["name"]},
                        "template": lwt[part],
                    }
                    for e in schema_errors(wrapped, minor):
                        yield f"spec.leaderWorkerTemplate.{part}.{e.removeprefix('template.')}"
        return
    try:
        kv.validate(obj, minor, strict=True)
    except kv.ValidationError as e:
        yield f"{'.'.join(str(p) for p in e.path) or '(object)'}: {e.message}"
    except kv.SchemaNotFoundError:
        yield f"no Kubernetes {minor} schema for {obj.get('apiVersion')} {obj.get('kind')}"
    except kv.utils.VersionNotSupportedError:
        yield f"kubernetes-validate has no schema for Kubernetes {minor}"


def validation_minor(minor: str) -> str:
    """The schema version kubernetes-validate holds for a cluster minor (newest it has, if the cluster is newer)."""
    import kubernetes_validate as kv

    have = sorted({".".join(v.split(".")[:2]) for v in kv.utils.all_versions()}, key=minor_tuple)
    return minor if minor in have else (have[-1] if minor_tuple(minor) > minor_tuple(have[-1]) else minor)


def schema_problems(rendered: Rendered) -> Iterator[Problem]:
    """Problems of every rendered object against the schemas of the cluster's minor, named by template."""
    minor = validation_minor(rendered.cluster_minor)
    for obj in rendered.objects():
        for err in schema_errors(obj, minor):
            yield problem(
                rendered.source(obj),
                f"{obj_id(obj)} does not match the Kubernetes {minor} schema at {err}",
                "fix the template (or the config value that fills it); see `tpustack plan --out DIR`",
            )
