"""Hyperdisk ML weights (``tpustack:model.weights: hyperdisk-ml``, tpustack.core.weights): the stack's settings,
``tpustack:model.hyperdiskMl``. The volume each serving region gets is derived once from the validated config
(tpustack.config.derived.hyperdisk_volume)."""

from __future__ import annotations

from pydantic import Field

from tpustack.core import weights

from .base import Section


class HyperdiskMlConfig(Section):
    """The Hyperdisk ML volume's provisioned throughput (MiB/s, shared by every node that attaches it; billed per
    MiB/s) and size (GiB; default the checkpoint as stored x 1.1, at least 5)."""

    throughput_mibps: int = Field(
        default=weights.THROUGHPUT_MIBPS_DEFAULT,
        ge=weights.THROUGHPUT_MIBPS_RANGE[0],
        le=weights.THROUGHPUT_MIBPS_RANGE[1],
    )
    size_gib: int | None = Field(default=None, gt=weights.SIZE_GIB_RANGE[0], le=weights.SIZE_GIB_RANGE[1])
