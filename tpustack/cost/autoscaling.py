"""The hourly range of a stack whose serving units autoscale (tpustack:autoscaling): the estimate prices what the
program declares (each unit at its starting replicas); with an HPA the bill moves between every unit at its
minimum and every unit at its maximum replicas, each extra replica at the unit's dearest capacity option."""

from __future__ import annotations

from typing import Any

from tpustack.config.autoscaling import scaling
from tpustack.config.model import StackConfig

from .prices import accelerator_hourly


def autoscaling_range(cfg: StackConfig, declared_usd: float) -> dict[str, Any] | None:
    """{"min_hourly_usd", "max_hourly_usd", "basis"}, or None when nothing autoscales."""
    s = scaling(cfg)
    if s is None or cfg.target != "gke":
        return None
    low = high = declared_usd
    parts = []
    for u in cfg.units:
        prices = [accelerator_hourly(u.shape, cap.type, 1, cfg.prices)[0] for cap in u.capacity]
        per = max((p for p in prices if p is not None), default=0.0) * (1 - cfg.prices.discount)
        lo, hi = s.min_for(u.replicas), s.max_replicas
        low += (lo - u.replicas) * per
        high += (hi - u.replicas) * per
        parts.append(f"{u.label or u.shape.name + ': '}{lo}-{hi} replicas x ${per:.2f}/h")
    return {
        "min_hourly_usd": float(round(low, 4)),
        "max_hourly_usd": float(round(high, 4)),
        "basis": "; ".join(parts) + f" (HPA on {s.prometheus})",
    }
