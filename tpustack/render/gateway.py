"""Typed contexts of the capacity and gateway apps: a GKE ComputeClass per unit that GKE provisions from its
capacity priorities, and GKE Inference Gateway in front of a region's units (Gateway, HTTPRoute,
InferenceObjective; the InferencePool and its endpoint picker come from llm-d-router's llm-d-router-gateway Helm
chart, whose values, with the picker's configuration (render/picker.py), are built here too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tpustack.config import derived
from tpustack.config.disaggregation import pd_routing
from tpustack.config.model import StackConfig
from tpustack.config.routing import PrefixCache
from tpustack.config.units import CapacityOption, Region, ServingUnit
from tpustack.core import names, router
from tpustack.core.capacity import CapacityType
from tpustack.core.catalog import Accelerator, TpuShape
from tpustack.core.errors import InternalError

from .autoscaling import picker_monitoring_values
from .picker import PickerInputs, kv_events_config, picker_config_yaml


@dataclass(frozen=True, kw_only=True)
class ComputeClass:
    name: str
    labels: dict[str, str]
    priorities: list[dict[str, Any]]
    zones: list[str]
    node_labels: dict[str, str]
    service_account: str
    image_streaming: bool = False


def _storage(cfg: StackConfig) -> dict[str, Any]:
    """A priority's storage with the image preload disk (ComputeClass CRD: priorities[].storage.secondaryBootDisks,
    diskImageName + project + mode), or nothing."""
    pre = cfg.gke.image_preload
    if pre is None:
        return {}
    disk = {"diskImageName": pre.name, "project": pre.project(cfg.project), "mode": derived.PRELOAD_MODE}
    return {"storage": {"secondaryBootDisks": [disk]}}


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
    node_sa = names.account_email(cfg.stack, "node", cfg.project)
    out = []
    for u in units:
        if u.compute_class is None or u.variant is None:
            continue
        out.append(
            ComputeClass(
                name=u.compute_class,
                labels={**names.common_k8s_labels(cfg.stack), names.LABEL_VARIANT: u.variant},
                priorities=[{**_priority(u.shape, cap, cfg.project), **_storage(cfg)} for cap in u.capacity],
                zones=list(u.region.zones),
                node_labels=derived.pool_labels(cfg.stack),
                service_account=node_sa,
                image_streaming=cfg.gke.streaming,
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
    objective_api: str
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
        objective_api=router.OBJECTIVE_API,
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


def picker_inputs(cfg: StackConfig) -> PickerInputs:
    """What the picker's configuration is made from: the stack's routing, its Hugging Face model id (the precise
    index's tokenizer loads it), and the P/D routing of a stack that serves prefill and decode apart
    (tpustack:disaggregation's decider and nonCachedTokens)."""
    if cfg.gateway is None:
        raise InternalError("picker_inputs of a stack without tpustack:gateway")
    model = cfg.model.id if cfg.model is not None and cfg.model.source != "gcs" else None
    return PickerInputs(routing=cfg.gateway.routing, model=model, pd=pd_routing(cfg))


def pool_values(cfg: StackConfig) -> dict[str, Any]:
    """Helm values of the llm-d-router-gateway chart (llm-d-router v0.10.0 config/charts/llm-d-router-gateway and
    routerlib values.yaml; every key is in tests/fixtures/router/chart-values-v0.10.0.json): the pool selects every
    variant's pods by their shared serving label, on the engine's port; the picker runs the pinned image with
    tpustack's EndpointPickerConfig; GKE's health-check and backend policies (provider gke)."""
    if cfg.engine is None or cfg.engine.record.gaie_server_type is None:
        raise InternalError("pool_values needs an engine the Inference Gateway supports (config rules ensure it)")
    picker = picker_inputs(cfg)
    epp: dict[str, Any] = {
        "image": {
            "registry": router.ROUTER_REGISTRY,
            "repository": router.EPP_IMAGE_REPOSITORY,
            "tag": router.EPP_IMAGE_TAG,
            "pullPolicy": "IfNotPresent",
        },
        "pluginsConfigFile": router.PICKER_CONFIG_FILE,
        "pluginsCustomConfig": {router.PICKER_CONFIG_FILE: picker_config_yaml(picker)},
    }
    values: dict[str, Any] = {
        "router": {
            "modelServers": {
                "matchLabels": pool_selector(cfg),
                "type": cfg.engine.record.gaie_server_type,
                "targetPorts": [{"number": cfg.engine.port}],
            },
            "epp": epp,
        },
        "provider": {"name": "gke"},
    }
    values["router"].update(picker_monitoring_values(cfg))
    if picker.routing.prefix_cache is PrefixCache.PRECISE and picker.model is not None:
        values["router"]["tokenizer"] = tokenizer_values(cfg, picker.model)
    return values


def tokenizer_values(cfg: StackConfig, model: str) -> dict[str, Any]:
    """The chart's tokenizer sidecar (routerlib values.yaml router.tokenizer at v0.10.0: `vllm launch render <model>`
    beside the picker) for the precise index. Its default env reads a Secret llm-d-hf-token the stack does not
    have: the stack's own token Secret instead, or none."""
    env = []
    if cfg.hf_token is not None:
        ref = {"secretKeyRef": {"name": names.HF_SECRET, "key": names.HF_SECRET_KEY}}
        env.append({"name": "HF_TOKEN", "valueFrom": ref})
    return {"enabled": True, "modelName": model, "env": env}


def expected_pool(cfg: StackConfig) -> dict[str, Any]:
    """The InferencePool the chart makes from pool_values() (routerlib templates/_inferencepool.yaml at v0.10.0:
    named after the release, targetPorts and selector from router.modelServers, appProtocol from its protocol (http
    by default), endpointPickerRef to the "<release>-epp" Service on extProcPort), for the cross-checks and
    `plan --out`."""
    v = pool_values(cfg)["router"]["modelServers"]
    pool = names.POOL_NAME
    return {
        "apiVersion": router.POOL_API,
        "kind": "InferencePool",
        "metadata": {"name": pool, "namespace": names.namespace(cfg.stack)},
        "spec": {
            "selector": {"matchLabels": v["matchLabels"]},
            "targetPorts": v["targetPorts"],
            "appProtocol": "http",
            "endpointPickerRef": {
                "name": f"{pool}{router.EPP_SUFFIX}",
                "port": {"number": router.EPP_PORT},
                "failureMode": router.EPP_FAILURE_MODE,
            },
        },
    }


def serving_kv_events(cfg: StackConfig) -> str | None:
    """The vLLM ``--kv-events-config=...`` argument the serving pods publish the precise prefix index's events with
    (None: the stack's picker does not read KV events)."""
    if cfg.gateway is None or cfg.gateway.routing.prefix_cache is not PrefixCache.PRECISE:
        return None
    model = picker_inputs(cfg).model
    return f"{router.VLLM_KV_EVENTS_FLAG}={kv_events_config(model)}" if model is not None else None
