"""The autoscaling app and its cross-checks: the Custom Metrics Stackdriver Adapter a stack with an HPA installs
(manifests/autoscaling/adapter.yaml.j2, pinned in tpustack.core.autoscaling), the External-metric selector of a
picker gauge, and the checks that each HPA scales on a gauge the pinned engine or picker exports and that a
PodMonitoring scrapes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tpustack.config.autoscaling import Scaling, scaling
from tpustack.config.model import StackConfig
from tpustack.config.units import ServingUnit
from tpustack.core import autoscaling as facts
from tpustack.core import names
from tpustack.core.errors import Problem, problem
from tpustack.core.k8s import obj_id, pod_specs, template_labels

from .rendered import Rendered

ADAPTER_TEMPLATES = ["autoscaling/adapter.yaml.j2"]
ADAPTER_ROLE_ID = "metrics"  # the adapter's GSA: names.account_id(stack, "metrics")


@dataclass(frozen=True, kw_only=True)
class AdapterContext:
    namespace: str
    ksa: str
    ksa_annotations: dict[str, str]
    image: str


def adapter_gsa(cfg: StackConfig) -> str:
    """The email of the GSA the adapter acts as (program/args.py creates it with the same account id)."""
    return names.account_email(cfg.stack, ADAPTER_ROLE_ID, cfg.project)


def adapter_context(cfg: StackConfig) -> AdapterContext:
    return AdapterContext(
        namespace=facts.ADAPTER_NAMESPACE,
        ksa=facts.ADAPTER_KSA,
        ksa_annotations={names.WI_ANNOTATION: adapter_gsa(cfg)},
        image=facts.ADAPTER_IMAGE,
    )


def cluster_name(cfg: StackConfig, unit: ServingUnit) -> str:
    """The GKE cluster of the unit's region (program/args.py cluster_args names it so)."""
    return names.resource_name(cfg.stack, "" if unit.region.primary else unit.region.name)


def external_selector(cfg: StackConfig, unit: ServingUnit, s: Scaling) -> dict[str, str] | None:
    """Which time series of a picker gauge the HPA reads: its pool, in this stack's namespace, in this region's
    cluster (Cloud Monitoring prometheus_target labels; metric label ``name`` per the picker's metrics.go)."""
    if s.source != "gateway":
        return None
    return {
        f"metric.labels.{facts.POOL_LABEL}": names.POOL_NAME,
        "resource.labels.namespace": names.namespace(cfg.stack),
        "resource.labels.cluster": cluster_name(cfg, unit),
    }


def picker_monitoring_values(cfg: StackConfig) -> dict:
    """llm-d-router-gateway chart values (llm-d-router v0.10.0 routerlib values.yaml ``router.monitoring``) that
    make the chart's GKE template (routerlib/templates/_gke.yaml: provider gke defaults the monitoring provider to
    gmp) create the picker's PodMonitoring, with the metrics-reader token the picker's /metrics needs; only when the
    HPA reads a picker gauge (other stacks' chart values stay as they were)."""
    s = scaling(cfg)
    if s is None or s.source != "gateway":
        return {}
    return {"monitoring": {"prometheus": {"enabled": True, "auth": {"enabled": True}}}}


# ----- cross-checks -------------------------------------------------------------------------------------------
def _known_names(cfg: StackConfig) -> set[str]:
    known = {f.adapter_name for f in facts.METRICS.values()}
    if cfg.engine is not None:  # the short form's engine queue gauge
        known.add(f"prometheus.googleapis.com|{cfg.engine.record.queue_metric}|gauge")
    return known


def _metric_of(hpa: dict) -> tuple[str, str]:
    m = hpa["spec"]["metrics"][0]
    kind = m["type"]
    return kind, m["pods" if kind == "Pods" else "external"]["metric"]["name"]


def _scraped(r: Rendered, target: dict) -> bool:
    """A PodMonitoring of the serving app selects pods of the HPA's target workload."""
    workloads = [
        o
        for o in r.apps.get("serving", [])
        if o.get("kind") == target["kind"] and o["metadata"]["name"] == target["name"]
    ]
    pod_labels = [template_labels(w, pod) for w in workloads for _, pod in pod_specs(w)]
    for pm in r.apps.get("serving", []):
        if pm.get("kind") != "PodMonitoring":
            continue
        want = pm["spec"]["selector"].get("matchLabels", {})
        if any(want.items() <= labels.items() for labels in pod_labels):
            return True
    return False


def autoscaling_problems(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """Each HPA scales on a known gauge, scraped where the adapter can read it, with the adapter installed."""
    hpas = [o for o in r.apps.get("serving", []) if o.get("kind") == "HorizontalPodAutoscaler"]
    s = scaling(cfg)
    key = s.max_key if s is not None else "tpustack:autoscaling"
    if hpas and not any(o.get("kind") == "APIService" for o in r.apps.get("autoscaling", [])):
        yield problem(key, "an HPA is rendered but not the metrics adapter that serves its metric", "fix the render")
    for hpa in hpas:
        kind, name = _metric_of(hpa)
        if name not in _known_names(cfg):
            yield problem(
                key,
                f"{obj_id(hpa)} scales on {name}, which neither the pinned engine nor the picker exports",
                "use a metric of tpustack.core.autoscaling.METRICS",
            )
        elif kind == "Pods" and not _scraped(r, hpa["spec"]["scaleTargetRef"]):
            yield problem(
                key,
                f"{obj_id(hpa)} scales on {name}, but no PodMonitoring scrapes its target's pods",
                "fix manifests/serving/podmonitoring.yaml.j2 (its selector must match the workload's pod labels)",
            )
        elif kind == "External" and not picker_monitoring_values(cfg):
            yield problem(
                key,
                f"{obj_id(hpa)} scales on the picker's {name}, but the pool chart's PodMonitoring is off",
                "enable router.monitoring.prometheus in the pool values",
            )
