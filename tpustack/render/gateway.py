"""Typed contexts of the capacity and gateway apps: a GKE ComputeClass per unit that GKE provisions from its
capacity priorities, and GKE Inference Gateway in front of a region's units (Gateway, HTTPRoute,
InferenceObjective; the InferencePool and its endpoint picker come from the inferencepool Helm chart, whose
values are built here too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tpustack.config import derived
from tpustack.config.model import StackConfig
from tpustack.config.units import CapacityOption, Region, ServingUnit
from tpustack.core import engines, names
from tpustack.core.capacity import CapacityType
from tpustack.core.catalog import Accelerator, TpuShape
from tpustack.core.errors import InternalError

from .autoscaling import picker_monitoring_values


@dataclass(frozen=True, kw_only=True)
class ComputeClass:
    name: str
    labels: dict[str, str]
    priorities: list[dict[str, Any]]
    zones: list[str]
    node_labels: dict[str, str]
    service_account: str


@dataclass(frozen=True, kw_only=True)
class CapacityContext:
    classes: list[ComputeClass]


def _priority(shape: Accelerator, cap: CapacityOption, project: str) -> dict[str, Any]:
    """One ComputeClass priority (GKE CRD reference, computeclass; AC "TPU configuration": type, count, topology
    are all required for TPUs). One capacity option per priority: spot, flex-start and reservations never share
    one (the CRD rejects flexStart with spot; tpustack keeps reservations apart too)."""
    if isinstance(shape, TpuShape):
        item: dict[str, Any] = {
            "tpu": {"type": shape.gke_accelerator, "count": shape.chips_per_host, "topology": shape.topology}
        }
    else:
        item = {"machineType": shape.machine_type, "gpu": {"type": shape.gke_accelerator, "count": shape.chips}}
    if cap.type is CapacityType.SPOT:
        item["spot"] = True
    elif cap.type is CapacityType.FLEX_START:
        item["flexStart"] = {"enabled": True}
    elif cap.type is CapacityType.RESERVATION:
        res = str(cap.reservation)
        spec: dict[str, Any] = {"name": res.rsplit("/", 1)[-1]}
        if res.startswith("projects/"):
            spec["project"] = res.split("/")[1]
        elif project:
            spec["project"] = project
        # TPU reservations take Specific affinity only (GKE docs, about-custom-compute-classes)
        item["reservations"] = {"affinity": "Specific", "specific": [spec]}
    return item


def capacity_context(cfg: StackConfig, units: tuple[ServingUnit, ...]) -> CapacityContext:
    """A ComputeClass per unit GKE provisions from a class: its capacity options as priorities, in the stack's
    order."""
    node_sa = f"{names.account_id(cfg.stack, 'node')}@{cfg.project}.iam.gserviceaccount.com"
    out = []
    for u in units:
        if u.compute_class is None or u.variant is None:
            continue
        out.append(
            ComputeClass(
                name=u.compute_class,
                labels={**names.common_k8s_labels(cfg.stack), names.LABEL_VARIANT: u.variant},
                priorities=[_priority(u.shape, cap, cfg.project) for cap in u.capacity],
                zones=list(u.region.zones),
                node_labels=derived.pool_labels(cfg.stack),
                service_account=node_sa,
            )
        )
    return CapacityContext(classes=out)


@dataclass(frozen=True, kw_only=True)
class GatewayContext:
    namespace: str
    labels: dict[str, str]
    name: str
    class_name: str
    port: int
    address: str | None  # a reserved regional address (NamedAddress), for DNS across regions
    route: str
    pool: str
    objective: str
    priority: int


def gateway_context(cfg: StackConfig, region: Region) -> GatewayContext:
    if cfg.gateway is None:
        raise InternalError("gateway_context of a stack without tpustack:gateway")
    pool = names.POOL_NAME
    return GatewayContext(
        namespace=names.namespace(cfg.stack),
        labels=names.common_k8s_labels(cfg.stack),
        name=names.GATEWAY_NAME,
        class_name=cfg.gateway.class_name,
        port=cfg.gateway.port,
        address=gateway_address_name(cfg, region) if cfg.gateway.dns_zone else None,
        route=f"{pool}-route",
        pool=pool,
        objective=f"{pool}-objective",
        priority=cfg.gateway.priority,
    )


def gateway_address_name(cfg: StackConfig, region: Region) -> str:
    """The regional static address a gateway uses when DNS names it (one per region)."""
    return names.resource_name(cfg.stack, f"gw-{region.name}", limit=63)


def pool_selector(cfg: StackConfig) -> dict[str, str]:
    """What the InferencePool (and the Service in front of variants) selects: every pod with the serving label."""
    if cfg.engine is None:
        raise InternalError("pool_selector of a stack without an engine")
    return {names.LABEL_SERVING: cfg.engine.record.server_name}


def pool_values(cfg: StackConfig) -> dict[str, Any]:
    """Helm values of the inferencepool chart (gateway-api-inference-extension v1.5.0 config/charts/inferencepool/
    values.yaml): the pool selects every variant's pods by their shared serving label, on the engine's port."""
    if cfg.engine is None or cfg.engine.record.gaie_server_type is None:
        raise InternalError("pool_values needs an engine the Inference Gateway supports (config rules ensure it)")
    return {
        "inferencePool": {
            "modelServers": {"matchLabels": pool_selector(cfg)},
            "targetPorts": [{"number": cfg.engine.port}],
            "modelServerType": cfg.engine.record.gaie_server_type,
        },
        "provider": {"name": "gke"},
        "inferenceExtension": {
            "image": {"tag": f"v{engines.GAIE_VERSION}", "pullPolicy": "IfNotPresent"},
            **picker_monitoring_values(cfg),
        },
    }


def expected_pool(cfg: StackConfig) -> dict[str, Any]:
    """The InferencePool the chart makes from pool_values() (templates/inferencepool.yaml at v1.5.0: selector from
    modelServers.matchLabels, targetPorts from targetPorts), for the cross-checks and `plan --out`."""
    v = pool_values(cfg)["inferencePool"]
    pool = names.POOL_NAME
    return {
        "apiVersion": "inference.networking.k8s.io/v1",
        "kind": "InferencePool",
        "metadata": {"name": pool, "namespace": names.namespace(cfg.stack)},
        "spec": {
            "selector": {"matchLabels": v["modelServers"]["matchLabels"]},
            "targetPorts": v["targetPorts"],
            "endpointPickerRef": {"name": f"{pool}-epp", "port": {"number": 9002}},
        },
    }
