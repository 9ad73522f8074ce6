"""Hourly cost of a plan, per billable resource, from the price table (tpustack/cost/prices.yaml).

Reads what the program declared (resource inputs, as the engine receives them) and prices TPU VMs, queued
resources, node pools and the cluster fee. Each item says its basis so a reader can check the arithmetic.
"""

from __future__ import annotations

from typing import Any, Protocol

from tpustack.config import derived
from tpustack.config.model import StackConfig
from tpustack.config.units import Provisioning
from tpustack.core import catalog

from .autoscaling import autoscaling_range
from .prices import accelerator_hourly, machine_price, price_table, tpu_chip_price


class PlannedResource(Protocol):
    urn: str
    type: str
    inputs: dict[str, Any]


def _node_pool_item(inputs: dict, cfg: StackConfig | None) -> tuple[float | None, str]:
    node = inputs.get("nodeConfig") or {}
    mt = node.get("machineType", "")
    nodes = inputs.get("nodeCount") or inputs.get("initialNodeCount") or 0
    autoscaling = inputs.get("autoscaling") or {}
    grown = ""
    if not nodes and autoscaling:
        # Pools that scale from zero (flex-start, queued provisioning) cost what the workload brings up.
        pools = (
            [derived.accelerator_pool(cfg, u) for u in cfg.units if u.provisioning is Provisioning.NODE_POOL]
            if cfg
            else []
        )
        nodes = next((p.expected_nodes for p in pools if p.machine_type == mt), 1)
        grown = " (scaled up from 0 by the workload)"
    model = (
        "flex_start"
        if node.get("flexStart")
        else "spot"
        if (node.get("spot") or node.get("preemptible"))
        else "on_demand"
    )
    overrides = cfg.prices if cfg else None
    acc = catalog.machine_accelerators(mt)
    if acc and acc[0] == "tpu":
        price, why = tpu_chip_price(acc[1], model, overrides)
        if price is None:
            return None, why
        return price * acc[2] * nodes, f"{nodes} x {mt} x {acc[2]} chips x ${price}/chip-h ({why}){grown}"
    price, why = machine_price(mt, model, overrides)
    if price is None:
        return None, why
    return price * nodes, f"{nodes} x {mt} x ${price}/h ({why}){grown}"


def _tpu_vm_item(accel_type: str, spot: bool, cfg: StackConfig | None) -> tuple[float | None, str]:
    shape = catalog.by_accelerator_type(accel_type)
    if shape is None:
        return None, f"unknown accelerator type {accel_type}"
    price, why = tpu_chip_price(shape.family, "spot" if spot else "on_demand", cfg.prices if cfg else None)
    if price is None:
        return None, why
    return price * shape.chips, f"{shape.chips} chips x ${price}/chip-h ({why})"


def estimate(resources: list, cfg: StackConfig | None = None) -> dict[str, Any]:
    """{"hourly_usd": total, "items": [{"urn", "hourly_usd", "basis"}]} over billable resources."""
    items = []
    for r in resources:
        price: float | None = None
        if r.type == "gcp:tpu/v2Vm:V2Vm":
            sched = r.inputs.get("schedulingConfig") or {}
            price, basis = _tpu_vm_item(
                r.inputs.get("acceleratorType", ""), bool(sched.get("spot") or sched.get("preemptible")), cfg
            )
        elif r.type == "gcp:tpu/v2QueuedResource:V2QueuedResource":
            specs = (r.inputs.get("tpu") or {}).get("nodeSpecs") or []
            price, basis = _tpu_vm_item(specs[0]["node"].get("acceleratorType", "") if specs else "", False, cfg)
        elif r.type == "gcp:container/nodePool:NodePool":
            price, basis = _node_pool_item(r.inputs, cfg)
        elif r.type == "gcp:container/cluster:Cluster":
            price, basis = price_table()["gke_cluster_hour"], "GKE Standard cluster management fee"
        else:
            continue
        if price is None:
            items.append({"urn": r.urn, "hourly_usd": 0.0, "basis": f"UNPRICED: {basis}"})
            continue
        discount = cfg.prices.discount if cfg else 0.0
        if discount:
            price, basis = price * (1 - discount), f"{basis}, less {discount:.0%} discount"
        items.append({"urn": r.urn, "hourly_usd": float(round(price, 4)), "basis": basis})
    if cfg is not None:
        items += unit_items(cfg)
    total = float(round(sum(i["hourly_usd"] for i in items), 4))
    out: dict[str, Any] = {"hourly_usd": total, "items": items}
    scaled = autoscaling_range(cfg, total) if cfg is not None else None
    if scaled is not None:
        out["autoscaling"] = scaled
    return out


def unit_items(cfg: StackConfig) -> list[dict[str, Any]]:
    """One item per unit GKE provisions from a ComputeClass (a declared pool is priced as a resource): what it
    costs at each of its capacity priorities, and the worst of them counted in the total (all units that find
    capacity run at once; GKE picks the priority)."""
    out = []
    discount = cfg.prices.discount
    for u in cfg.units:
        if u.provisioning is not Provisioning.COMPUTE_CLASS:
            continue
        options = []
        for cap in u.capacity:
            price, why = accelerator_hourly(u.shape, cap.type, u.replicas, cfg.prices)
            if price is not None and discount:
                price *= 1 - discount
            options.append((cap.type, price, why))
        priced = [p for _, p, _ in options if p is not None]
        worst = max(priced) if priced else 0.0
        basis = "; ".join(
            f"{t}: ${p:.2f}/h ({why})" if p is not None else f"{t}: UNPRICED ({why})" for t, p, why in options
        )
        out.append(
            {
                "urn": f"variant:{u.variant}@{u.region.name}",
                "hourly_usd": float(round(worst, 4)),
                "basis": f"{u.accelerator.type} by priority: {basis}; worst case counted",
                "variant": u.variant,
                "region": u.region.name,
                "by_capacity": {str(t): (float(round(p, 4)) if p is not None else None) for t, p, _ in options},
            }
        )
    return out
