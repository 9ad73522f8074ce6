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
# None = any value; their pod templates are validated against the core schema instead. GCPDataSource v1 (GKE
# Volume Populator): GKE's CRD reference, kubernetes-engine/docs/reference/crds/gcpdatasource (spec.cloudStorage
# {serviceAccountName, uri}; its apiVersion and kind from the how-to volume-populator-hdml; tests/fixtures/
# volume_populator/facts.json).
_META = {"name": None, "namespace": None, "labels": None, "annotations": None}
_SELECTOR = {"matchLabels": None, "matchExpressions": None}
CRD_FIELDS: dict[tuple[str, str], dict] = {
    ("datalayer.gke.io/v1", "GCPDataSource"): {
        "apiVersion": None,
        "kind": None,
        "metadata": _META,
        "spec": {"cloudStorage": {"serviceAccountName": None, "uri": None}},
    },
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


# Custom resources of serving variants and the Inference Gateway, validated against their pinned schemas (JSON, in
# tpustack/render/crds/, README there: source, version, sha256): Gateway API v1.5.1 Gateway/HTTPRoute v1,
# Inference Extension InferencePool v1 (v1.5.0, the revision llm-d-router v0.10.0 deploys), llm-d-router v0.10.0
# InferenceObjective llm-d.ai/v1alpha2, GKE ComputeClass v1 (a schema dumped from a GKE cluster; strict). CRD
# schemas allow unknown fields; here they are refused, as `kubectl --validate=strict` would.
CRD_SCHEMAS = {
    ("gateway.networking.k8s.io/v1", "Gateway"): "gateway.networking.k8s.io_Gateway_v1.json",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "gateway.networking.k8s.io_HTTPRoute_v1.json",
    ("inference.networking.k8s.io/v1", "InferencePool"): "inference.networking.k8s.io_InferencePool_v1.json",
    ("llm-d.ai/v1alpha2", "InferenceObjective"): "llm-d.ai_InferenceObjective_v1alpha2.json",
    ("cloud.google.com/v1", "ComputeClass"): "cloud.google.com_ComputeClass_v1.json",
}


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def crd_schema(key: tuple[Any, Any]) -> dict | None:
    import json
    from pathlib import Path

    name = CRD_SCHEMAS.get(key)
    if name is None:
        return None
    schema = _strict(json.loads((Path(__file__).parent / "crds" / name).read_text()))
    # metadata is the API server's ObjectMeta, not part of the CRD's schema
    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    return schema


def crd_errors(obj: dict) -> Iterator[str] | None:
    schema = crd_schema((obj.get("apiVersion"), obj.get("kind")))
    if schema is None:
        return None
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    return (
        f"{'.'.join(str(p) for p in e.absolute_path) or '(object)'}: {e.message}"
        for e in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    )


def schema_errors(obj: dict, minor: str) -> Iterator[str]:
    import kubernetes_validate as kv

    key = (obj.get("apiVersion"), obj.get("kind"))
    crd = crd_errors(obj)
    if crd is not None:
        yield from crd
        return
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
