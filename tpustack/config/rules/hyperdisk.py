"""Rules of Hyperdisk ML weights (``tpustack:model.weights: hyperdisk-ml``, ``tpustack:model.hyperdiskMl``): what
GKE Volume Populator and the Persistent Disk CSI driver accept (tpustack.core.weights), and what the serving
machines can attach (tpustack.core.catalog.HYPERDISK_ML_FAMILIES)."""

from __future__ import annotations

from collections.abc import Iterator

from tpustack.core import catalog, weights
from tpustack.core.errors import Problem, problem

from .. import derived
from ..model import StackConfig
from ..units import ServingUnit
from .stack import GKE_FOR_VARIANTS, needs_gke

KEY = "tpustack:model.weights"
SETTINGS_KEY = "tpustack:model.hyperdiskMl"


def _reads_hyperdisk(c: StackConfig) -> bool:
    return c.model is not None and c.model.weights == weights.HYPERDISK_ML and c.model.weights_uri is not None


def hyperdisk_settings_have_a_volume(c: StackConfig) -> Iterator[Problem]:
    """hyperdiskMl tunes the volume model.weights hyperdisk-ml creates; without it nothing reads them."""
    m = c.model
    if m is not None and m.hyperdisk_ml is not None and m.weights != weights.HYPERDISK_ML:
        yield problem(
            SETTINGS_KEY,
            f"sizes a Hyperdisk ML volume, but model.weights is {m.weights or 'unset (the default path)'}",
            "set tpustack:model.weights: hyperdisk-ml, or remove model.hyperdiskMl",
        )


def hyperdisk_fill_runs_here(c: StackConfig) -> Iterator[Problem]:
    """The cluster runs GKE Volume Populator's Hyperdisk ML transfer (GKE >= 1.33.2-gke.4780000) and can create the
    transfer node from its ComputeClass without node auto-provisioning (>= 1.33.3-gke.1136000); the volume holds
    the checkpoint and its throughput is at least what the driver requires for its size."""
    if not _reads_hyperdisk(c):
        return
    # in ascending order: the last one missing is the one to ask for
    missing = [v for v in (weights.GKE_FOR_VOLUME_POPULATOR, GKE_FOR_VARIANTS) if not derived.gke_at_least(c, v)]
    if missing:
        yield from needs_gke(
            c,
            missing[-1],
            f"Hyperdisk ML filled by GKE Volume Populator ({weights.GKE_FOR_VOLUME_POPULATOR}) on a transfer node "
            f"its ComputeClass auto-creates ({GKE_FOR_VARIANTS})",
        )
    size = derived.hyperdisk_size_gib(c)
    if size is None:
        yield problem(
            f"{SETTINGS_KEY}.sizeGib",
            "the volume's size follows the checkpoint's, which is unknown for this model",
            "state tpustack:model.hyperdiskMl.sizeGib (GiB, larger than the model's folder), or model.paramsB",
        )
        return
    stored = c.served.checkpoint_gib if c.served is not None and c.served.known else None
    if stored is not None and size <= stored:
        yield problem(
            f"{SETTINGS_KEY}.sizeGib",
            f"{size} GiB cannot hold the checkpoint the volume copies from {c.model.weights_uri if c.model else ''} "
            f"({stored:,.1f} GiB as stored)",
            f"remove sizeGib (tpustack sizes it {weights.volume_size_gib(stored)} GiB) or raise it",
        )
    hd = derived.hyperdisk_settings(c)
    floor = size * weights.MIN_THROUGHPUT_MIBPS_PER_GIB
    if hd.throughput_mibps < floor:
        yield problem(
            f"{SETTINGS_KEY}.throughputMibps",
            f"{hd.throughput_mibps} MiB/s is below the Persistent Disk CSI driver's minimum for {size} GiB "
            f"({weights.MIN_THROUGHPUT_MIBPS_PER_GIB} MiB/s per GiB: {floor:,.0f} MiB/s)",
            f"set throughputMibps to {int(floor) + 1} or more, or a smaller sizeGib",
        )


def hyperdisk_attaches_to_unit(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    """Every serving node of a Hyperdisk ML stack attaches the volume: its machine family must support it."""
    if derived.weight_path(c, u) != weights.HYPERDISK_ML:
        return
    machine = u.shape.machine_type
    if not catalog.hyperdisk_ml_attachable(machine):
        yield problem(
            KEY,
            f"{u.label}{machine} cannot attach Hyperdisk ML (Compute Engine supports it on "
            f"{', '.join(sorted(catalog.HYPERDISK_ML_FAMILIES))} machines)",
            "use model.weights gcs-fuse or runai-streamer, or an accelerator whose machines attach Hyperdisk ML",
        )


STACK_RULES = [hyperdisk_settings_have_a_volume, hyperdisk_fill_runs_here]
UNIT_RULES = [hyperdisk_attaches_to_unit]
