"""A serving unit's cold-start estimate (tpustack.core.cold_start) from the validated config: the served model's
weight bytes, the unit's engine image, and the weight path and image preloading ``cold_start.weight_path`` derives.
Read by ``tpustack plan`` (``units[].cold_start``) and by the benchmark spec (so the report can set the measured
phases beside it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tpustack.core import cold_start, weights

from .derived import hyperdisk_settings, image_preloaded, weight_path

if TYPE_CHECKING:
    from .model import StackConfig
    from .units import ServingUnit


def unit_estimate(cfg: StackConfig, unit: ServingUnit) -> cold_start.Estimate | None:
    """One replica's estimate; None when the unit serves no known model with an engine."""
    if cfg.served is None or not cfg.served.known or unit.engine is None:
        return None
    path = weight_path(cfg, unit)
    disk = path == weights.HYPERDISK_ML
    return cold_start.estimate(
        image=unit.image,
        weight_bytes=cfg.served.weight_bytes,
        path=path,
        image_preloaded=image_preloaded(cfg, unit.image),
        bandwidth=cold_start.hyperdisk_bandwidth(hyperdisk_settings(cfg).throughput_mibps) if disk else None,
    )
