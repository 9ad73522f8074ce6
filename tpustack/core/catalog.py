"""Accelerator catalog: every fact tpustack knows about a TPU slice or a GPU machine.

One place per fact. Per-chip numbers live on the generation / GPU model (tpustack.core.gpus holds the GPU models
and machines); a shape (what a user types, ``v6e-8``, ``v5p-16``, ``h100-8``, ``b200-8``) only adds its topology or
count and derives the rest (chips, hosts, machine type). Peaks are dense and per precision
(tpustack.core.precision): ``shape.peak_tflops_per_chip(Precision.FP8)`` is None where the matrix units have no
such rate. Generations announced without a Cloud accelerator type (TPU 8t / 8i) are in ``ANNOUNCED``, which
``lookup`` never returns: they cannot be ordered. Prices are not here: they live in ``tpustack/cost/prices.yaml``
with their source and date.

Sources (read 2026-11):
  [tpu-versions] https://cloud.google.com/tpu/docs/v4, /v5e, /v5p, /v6e, /tpu7x (per-chip HBM, bandwidth,
                 peak FLOP/s, accelerator type naming, hosts)
  [v4]           https://cloud.google.com/tpu/docs/v4: "Peak compute per chip 275 teraflops (bf16 or int8)",
                 "HBM2 capacity and bandwidth 32 GiB, 1200 GBps"
  [v5e]          https://docs.cloud.google.com/tpu/docs/v5e (authuser=6 variant): "Peak compute per chip (bf16)
                 197 TFLOPs", "(Int8) 393 TOPs", "HBM bandwidth per chip 800 GiBps"; the older variant of the
                 same page: "HBM2 capacity and bandwidth 16 GB, 819 GBps"
  [v5p]          https://docs.cloud.google.com/tpu/docs/v5p-training: "Peak compute per chip (BF16) 459",
                 "(FP8) 459", "HBM bandwidth per chip (GBps) 2765" (2575 GiBps in the it variant: the same)
  [v5p-int8]     Google's v5p announcement (2023-12-06) as restated by aiwiki.ai/wiki/google_tpu_v5p and
                 newsflash.city/2401/a7c7c408caada5fa.html: "459 teraflops ... bfloat16 ... or 918 teraops ... INT8"
  [v6e]          https://docs.cloud.google.com/tpu/docs/v6e: "Peak compute per chip (bf16) 918 TFLOPs",
                 "(Int8) 1836 TOPs", "HBM bandwidth per chip 1638 GBps"
  [tpu7x]        https://docs.cloud.google.com/tpu/docs/tpu7x (authuser=2 variant): "Peak compute per chip (BF16)
                 459 | 918 | 2307", "(FP8) 459 | 918 | 4614", "HBM capacity per chip (GiB) 95 | 32 | 192",
                 "HBM bandwidth per chip (GBps) 2765 | 1638 | 7380" (v5p | v6e | TPU7x); "Each TPU7x chip contains
                 two TensorCores"; https://docs.cloud.google.com/tpu/docs/ironwood-performance: "FP8 doubles peak
                 FLOPs" against BF16. Measured, below the peak as it must be: ~6,421 GB/s per chip copy bandwidth
                 (AI-Hypercomputer/tpu-recipes microbenchmarks/ironwood/hbm/hbm.md @ c8cfe2f6)
  [tpu-runtime]  https://cloud.google.com/tpu/docs/runtimes (TPU VM software versions)
  [gke-tpu]      https://cloud.google.com/kubernetes-engine/docs/concepts/plan-tpus (machine types,
                 gke-tpu-accelerator values, single/multi-host topologies)
  [xpk]          AI-Hypercomputer/xpk src/xpk/core/system_characteristics.py (same mapping, as code; @ 073d687d:
                 tpu7x machine types tpu7x-standard-1t with topology 1x1x1 and tpu7x-standard-4t from 2x2x1)
  [tpu-recipes]  AI-Hypercomputer/tpu-recipes @ c8cfe2f6 inference/ironwood/vLLM/Qwen3-32B/README.md:
                 --machine-type=tpu7x-standard-1t, gke-tpu-topology 1x1x1, google.com/tpu: '1'
  [tpu8]         Google Cloud Next '26, 2026-04-22, "Our eighth generation TPUs: two chips for the agentic era"
                 (blog.google, as restated by hb.int2inf.com/s/item/CqJ7yGorVjsbxvKLoB6e3V-... and
                 news.800.works/news/2026-04-22/google-tpu-8i-8t-agentic-era/): TPU 8t (training) and TPU 8i
                 (inference), "available ... later this year"; no accelerator type, machine type or GKE label for
                 them was found in the Cloud TPU or GKE docs, xpk, MaxText or tpu-recipes
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from .gpus import GPU_ALIASES, GPU_MODELS, GpuModel, GpuShape, alias_shape, gpu_shapes, machine_gpus
from .precision import Precision, peak_table

__all__ = [
    "ANNOUNCED",
    "CATALOG",
    "GIB",
    "GPU_ALIASES",
    "GPU_MODELS",
    "HDML_TRANSFER_FAMILIES",
    "HYPERDISK_ML_FAMILIES",
    "TPU_GENERATIONS",
    "Accelerator",
    "Announced",
    "GpuModel",
    "GpuShape",
    "Precision",
    "TpuGeneration",
    "TpuShape",
    "announced",
    "by_accelerator_type",
    "by_machine_type",
    "hyperdisk_ml_attachable",
    "lookup",
    "machine_accelerators",
    "suggestions",
    "topology_chips",
    "tpu_shape",
    "unknown_accelerator_hint",
]

GIB = 1024**3
P = Precision


@dataclass(frozen=True, kw_only=True)
class TpuGeneration:
    """Per-chip facts of one TPU generation."""

    name: str  # catalog family name: v4, v5e, v5p, v6e, tpu7x
    api_prefix: str  # prefix of the TPU API accelerator type: v4-8, v5litepod-4, v6e-8, tpu7x-8
    type_counts_cores: bool  # True where the accelerator type counts TensorCores (2 per chip), not chips
    gke_accelerator: str  # value of the cloud.google.com/gke-tpu-accelerator node label
    machine_type_fmt: str  # GKE/Compute machine type, formatted with the chips per host
    hbm_gib: float  # HBM per chip
    hbm_gbps: float  # HBM bandwidth per chip, GB/s
    peak_bf16_tflops: float  # dense bf16 peak per chip
    # dense peaks of the other precisions the MXUs run (TOP/s for int8); absent: no such rate (or none published)
    peak_other_tflops: Mapping[Precision, float] = field(default_factory=dict, compare=False)
    runtime_version: str  # TPU VM software version for PyTorch/XLA and JAX
    topology_dims: int  # 2 for v5e/v6e (AxB), 3 for v4/v5p/tpu7x (AxBxC)
    single_host_topologies: tuple[str, ...]  # shapes served by one VM (all chips on one host)
    multi_host_topologies: tuple[str, ...]  # shapes spread over several VMs
    multi_host_chips_per_host: int  # chips on each VM of a multi-host slice
    # JAX devices per chip: what vLLM's --tensor-parallel-size counts. 1 where a chip's TensorCores act as one
    # (megacore v4/v5p, single-core v5e/v6e); 2 on tpu7x, whose TensorCores are devices of their own
    # (tpu-recipes inference/ironwood/vLLM: Qwen3.5-397B --tensor-parallel-size=8 on tpu7x-standard-4t, 4 chips;
    # Qwen3-32B --tensor-parallel-size=2 on tpu7x-standard-1t, 1 chip).
    devices_per_chip: int = 1
    peak_tflops: Mapping[Precision, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "peak_tflops", peak_table(self.peak_bf16_tflops, self.peak_other_tflops))

    def accelerator_type(self, chips: int) -> str:
        count = chips * 2 if self.type_counts_cores else chips
        return f"{self.api_prefix}-{count}"


# --- TPU generations -------------------------------------------------------------------------------
# v4: 275 TFLOP/s bf16 and 275 TOP/s int8 ("bf16 or int8": int8 runs at the bf16 rate), 32 GiB HBM2, 1,200 GB/s per
# chip [v4]; 4 chips per host; type counts TensorCores (v4-8 = 4 chips) [tpu-versions]. GKE: ct4p-hightpu-4t,
# tpu-v4-podslice [gke-tpu][xpk].
V4 = TpuGeneration(
    name="v4",
    api_prefix="v4",
    type_counts_cores=True,
    gke_accelerator="tpu-v4-podslice",
    machine_type_fmt="ct4p-hightpu-{n}t",
    hbm_gib=32,
    hbm_gbps=1200,
    peak_bf16_tflops=275,
    peak_other_tflops={P.INT8: 275},
    runtime_version="tpu-ubuntu2204-base",
    topology_dims=3,
    single_host_topologies=("2x2x1",),
    multi_host_topologies=("2x2x2", "2x2x4", "2x4x4", "4x4x4", "4x4x8"),
    multi_host_chips_per_host=4,
)
# v5e: 197 TFLOP/s bf16, 393 TOP/s int8 (2x), no fp8 rate published, 16 GiB HBM2 per chip [v5e]. Bandwidth: the
# current page says 800 GiB/s (= 859 GB/s), its older variant 819 GB/s [v5e]; the higher is the ceiling. Single-host
# 1/4/8 chips, multi-host 4 chips per host; type counts chips (v5litepod-4) [tpu-versions]. GKE:
# ct5lp-hightpu-{1,4,8}t, tpu-v5-lite-podslice [gke-tpu][xpk].
V5E = TpuGeneration(
    name="v5e",
    api_prefix="v5litepod",
    type_counts_cores=False,
    gke_accelerator="tpu-v5-lite-podslice",
    machine_type_fmt="ct5lp-hightpu-{n}t",
    hbm_gib=16,
    hbm_gbps=859,
    peak_bf16_tflops=197,
    peak_other_tflops={P.INT8: 393},
    runtime_version="v2-alpha-tpuv5-lite",
    topology_dims=2,
    single_host_topologies=("1x1", "2x2", "2x4"),
    multi_host_topologies=("4x4", "4x8", "8x8", "8x16", "16x16"),
    multi_host_chips_per_host=4,
)
# v5p: 459 TFLOP/s bf16 and 459 fp8 (fp8 runs at the bf16 rate) [v5p][tpu7x], 918 TOP/s int8 [v5p-int8], 95 GiB
# HBM2e, 2,765 GB/s per chip [v5p]; 4 chips per host; type counts TensorCores (v5p-8 = 4 chips) [tpu-versions].
# GKE: ct5p-hightpu-4t, tpu-v5p-slice [gke-tpu][xpk].
V5P = TpuGeneration(
    name="v5p",
    api_prefix="v5p",
    type_counts_cores=True,
    gke_accelerator="tpu-v5p-slice",
    machine_type_fmt="ct5p-hightpu-{n}t",
    hbm_gib=95,
    hbm_gbps=2765,
    peak_bf16_tflops=459,
    peak_other_tflops={P.FP8: 459, P.INT8: 918},
    runtime_version="v2-alpha-tpuv5",
    topology_dims=3,
    single_host_topologies=("2x2x1",),
    multi_host_topologies=("2x2x2", "2x2x4", "2x4x4", "4x4x4", "4x4x8", "4x8x8"),
    multi_host_chips_per_host=4,
)
# v6e (Trillium): 918 TFLOP/s bf16, 918 fp8 (the bf16 rate) [tpu7x], 1,836 TOP/s int8 (2x) [v6e], 32 GiB HBM,
# 1,638 GB/s per chip [v6e]; single-host 1/4/8 chips, multi-host 4 chips per host; type counts chips (v6e-8)
# [tpu-versions]. GKE: ct6e-standard-{1,4,8}t, tpu-v6e-slice [gke-tpu][xpk].
V6E = TpuGeneration(
    name="v6e",
    api_prefix="v6e",
    type_counts_cores=False,
    gke_accelerator="tpu-v6e-slice",
    machine_type_fmt="ct6e-standard-{n}t",
    hbm_gib=32,
    hbm_gbps=1638,
    peak_bf16_tflops=918,
    peak_other_tflops={P.FP8: 918, P.INT8: 1836},
    runtime_version="v2-alpha-tpuv6e",
    topology_dims=2,
    single_host_topologies=("1x1", "2x2", "2x4"),
    multi_host_topologies=("4x4", "4x8", "8x8", "8x16", "16x16"),
    multi_host_chips_per_host=4,
)
# tpu7x (Ironwood): 2,307 TFLOP/s bf16, 4,614 FP8 (2x), 192 GiB HBM3E, 7,380 GB/s per chip [tpu7x]; no int8 or fp4
# rate published. 2 TensorCores per chip and the name counts them [tpu7x][xpk]. GKE machine types (label tpu7x):
# tpu7x-standard-1t, one chip, topology 1x1x1 (tpu7x-2) and tpu7x-standard-4t, 4 chips per VM, from 2x2x1
# (tpu7x-8) up [xpk][tpu-recipes][gke-tpu]. "The Cloud TPU API is not supported on TPU7x" [tpu-runtime]: no TPU VM
# runtime, GKE only, so runtime_version is empty and config rejects tpu-vm.
TPU7X = TpuGeneration(
    name="tpu7x",
    api_prefix="tpu7x",
    type_counts_cores=True,
    gke_accelerator="tpu7x",
    machine_type_fmt="tpu7x-standard-{n}t",
    hbm_gib=192,
    hbm_gbps=7380,
    peak_bf16_tflops=2307,
    peak_other_tflops={P.FP8: 4614},
    runtime_version="",
    topology_dims=3,
    single_host_topologies=("1x1x1", "2x2x1"),
    multi_host_topologies=("2x2x2", "2x2x4", "2x4x4", "4x4x4", "4x4x8"),
    multi_host_chips_per_host=4,
    devices_per_chip=2,
)

TPU_GENERATIONS: dict[str, TpuGeneration] = {g.name: g for g in (V4, V5E, V5P, V6E, TPU7X)}


# Memory of each machine type a pool of tpustack can run, GiB as Compute Engine reports it (`gcloud compute
# machine-types describe`: memoryMb / 1024). Sources: Cloud TPU docs, "TPU v5e" (ct5lp machine types table) and
# "TPU v6e"; Compute Engine docs, "Accelerator-optimized machine family" (a3-highgpu, a2-ultragpu); the rest as
# `gcloud compute machine-types list` prints them (exported in Cyclenerd/google-cloud-pricing-cost-calculator
# tools/machinetypes.csv). A machine type not listed has no figure: KV offload there is refused, never guessed
# (tpustack.core.offload).
HOST_MEMORY_GIB: dict[str, float] = {
    "ct5lp-hightpu-1t": 48,
    "ct5lp-hightpu-4t": 192,
    "ct5lp-hightpu-8t": 384,
    "ct5p-hightpu-4t": 448,
    "ct6e-standard-1t": 176,
    "ct6e-standard-4t": 720,
    "ct6e-standard-8t": 1440,
    "tpu7x-standard-4t": 960,
    "a3-highgpu-1g": 234,
    "a3-highgpu-2g": 468,
    "a3-highgpu-4g": 936,
    "a3-highgpu-8g": 1872,
    "a2-ultragpu-1g": 170,
    "a2-ultragpu-8g": 1360,
}


def topology_chips(topology: str) -> int:
    return math.prod(int(d) for d in topology.split("x"))


@dataclass(frozen=True)
class TpuShape:
    """A TPU slice a user can ask for: a generation and a topology. Everything else is derived."""

    generation: TpuGeneration
    topology: str
    kind: Literal["tpu"] = "tpu"

    @cached_property
    def chips(self) -> int:
        return topology_chips(self.topology)

    @cached_property
    def multi_host(self) -> bool:
        return self.topology in self.generation.multi_host_topologies

    @cached_property
    def chips_per_host(self) -> int:
        return self.generation.multi_host_chips_per_host if self.multi_host else self.chips

    @cached_property
    def hosts(self) -> int:
        return self.chips // self.chips_per_host

    @property
    def devices(self) -> int:
        """Accelerator devices the engine shards over (vLLM tensor parallel): chips x devices per chip."""
        return self.chips * self.generation.devices_per_chip

    @cached_property
    def name(self) -> str:
        return self.generation.accelerator_type(self.chips)

    @property
    def accelerator_type(self) -> str:
        """The TPU API ``acceleratorType`` (the same string users type)."""
        return self.name

    @property
    def machine_type(self) -> str:
        return self.generation.machine_type_fmt.format(n=self.chips_per_host)

    @property
    def gke_accelerator(self) -> str:
        return self.generation.gke_accelerator

    @property
    def family(self) -> str:
        return self.generation.name

    @property
    def runtime_version(self) -> str:
        return self.generation.runtime_version

    @property
    def hbm_gib_per_chip(self) -> float:
        return self.generation.hbm_gib

    @property
    def hbm_gbps_per_chip(self) -> float:
        return self.generation.hbm_gbps

    @property
    def peak_bf16_tflops_per_chip(self) -> float:
        return self.generation.peak_bf16_tflops

    @property
    def peak_tflops(self) -> Mapping[Precision, float]:
        """Dense peak per chip of every precision the MXUs run."""
        return self.generation.peak_tflops

    def peak_tflops_per_chip(self, precision: Precision | str) -> float | None:
        """Dense peak per chip at a precision, or None: the MXUs have no such rate (or none is published)."""
        return self.generation.peak_tflops.get(Precision(precision))

    @property
    def total_hbm_gib(self) -> float:
        return self.hbm_gib_per_chip * self.chips


Accelerator = TpuShape | GpuShape


def devices_in_words(shape: Accelerator) -> str:
    """The devices an engine shards over: chips, or TensorCores where each is its own device (tpu7x)."""
    if shape.devices == shape.chips:
        return f"{shape.chips} chips"
    return f"{shape.devices} devices ({shape.chips} chips of {shape.devices // shape.chips} TensorCores)"


def _build_catalog() -> dict[str, Accelerator]:
    shapes: dict[str, Accelerator] = {}
    for gen in TPU_GENERATIONS.values():
        for topo in gen.single_host_topologies + gen.multi_host_topologies:
            shape = TpuShape(gen, topo)
            shapes[shape.name] = shape
    for gpu_shape in gpu_shapes():
        shapes[gpu_shape.name] = gpu_shape
    return shapes


CATALOG: dict[str, Accelerator] = _build_catalog()


def lookup(name: str) -> Accelerator | None:
    """The shape for a name users type (``v6e-8``, ``v5p-16``, ``h100-8``, ``l4-1``, ``b200-8``), or None.
    Announced generations (``ANNOUNCED``) are never returned: they cannot be ordered."""
    name = name.strip().lower()
    if name in CATALOG:
        return CATALOG[name]
    return alias_shape(name)


@dataclass(frozen=True, kw_only=True)
class Announced:
    """A generation announced without a Cloud accelerator type: listed so users see it, never orderable."""

    name: str  # the name the announcement uses, lower case without spaces: what a stack would type
    announced: str  # ISO date of the announcement
    source: str
    note: str


# [tpu8]: two eighth-generation chips; no per-chip peak, HBM, accelerator type, machine type or GKE label was found,
# so none is given.
ANNOUNCED: dict[str, Announced] = {
    a.name: a
    for a in (
        Announced(
            name="tpu8t",
            announced="2026-04-22",
            source="Google Cloud Next '26, 'Our eighth generation TPUs: two chips for the agentic era' (blog.google)",
            note="TPU 8t, for training; Google says it comes to Cloud customers later in 2026",
        ),
        Announced(
            name="tpu8i",
            announced="2026-04-22",
            source="Google Cloud Next '26, 'Our eighth generation TPUs: two chips for the agentic era' (blog.google)",
            note="TPU 8i, for inference; Google says it comes to Cloud customers later in 2026",
        ),
    )
}


def announced(name: str) -> Announced | None:
    """The announced generation a name refers to (``tpu8i``, ``tpu8t-16``, ``TPU-8i``), or None."""
    flat = name.strip().lower().replace("-", "").replace(" ", "")
    return next((a for key, a in ANNOUNCED.items() if flat.startswith(key)), None)


def unknown_accelerator_hint(name: str) -> str:
    """What to tell a user whose accelerator name is not in the catalog: not orderable yet, or the close names."""
    a = announced(name)
    if a is not None:
        return (
            f"{a.name} was announced {a.announced} ({a.source}) but has no Cloud accelerator type yet, so it "
            "cannot be ordered; pick an orderable shape from `tpustack catalog`"
        )
    close = suggestions(name)
    return f"did you mean {', '.join(close)}?" if close else "see `tpustack catalog`"


def tpu_shape(generation: str, topology: str) -> TpuShape | None:
    gen = TPU_GENERATIONS.get(generation)
    if gen is None or topology not in gen.single_host_topologies + gen.multi_host_topologies:
        return None
    return TpuShape(gen, topology)


def by_machine_type(machine_type: str) -> Accelerator | None:
    """The single-host shape whose VM is this machine type (cost and cross-checks use it)."""
    for shape in CATALOG.values():
        if shape.machine_type == machine_type and not shape.multi_host:
            return shape
    return None


def by_accelerator_type(accelerator_type: str) -> TpuShape | None:
    shape = CATALOG.get(accelerator_type)
    return shape if isinstance(shape, TpuShape) else None


# Machine families whose VMs can attach Hyperdisk ML (kubernetes-sigs/gcp-compute-persistent-disk-csi-driver@b560165
# deploy/kubernetes/overlays/node-labeler/configmap.yaml, "hyperdisk-ml": true; the same TPU and GPU families as
# Compute Engine's "Hyperdisk overview" machine table). tests/fixtures/pdcsi/facts.json keeps the driver's list.
HYPERDISK_ML_FAMILIES = frozenset(
    {"a2", "a3", "a4", "a4x", "c3", "c3d", "c4a", "ct5lp", "ct5p", "ct6e", "g2", "g4", "n4a", "tpu7x"}
)
# The machine families GKE's Volume Populator sample gives its transfer ComputeClass, in order (GKE docs,
# volume-populator-hdml: "for optimal transfer performance, a transfer Job by default scales up a node with 24
# vCPUs").
HDML_TRANSFER_FAMILIES = ("c3", "c3d")


def hyperdisk_ml_attachable(machine_type: str) -> bool:
    """Whether a VM of this machine type can attach Hyperdisk ML (by its family: ct6e of ct6e-standard-8t)."""
    return machine_type.split("-", 1)[0] in HYPERDISK_ML_FAMILIES


def suggestions(name: str, limit: int = 6) -> list[str]:
    """Catalog names close to a mistyped one, for error messages."""
    import difflib

    return difflib.get_close_matches(name.lower(), list(CATALOG), n=limit, cutoff=0.5)


def machine_accelerators(machine_type: str) -> tuple[str, str, int] | None:
    """(kind, family, accelerators per VM) for an accelerator machine type, e.g. ct6e-standard-4t."""
    for gen in TPU_GENERATIONS.values():
        head, tail = gen.machine_type_fmt.split("{n}")
        if machine_type.startswith(head) and machine_type.endswith(tail):
            n = machine_type[len(head) : len(machine_type) - len(tail)]
            if n.isdigit():
                return "tpu", gen.name, int(n)
    gpu = machine_gpus(machine_type)
    return ("gpu", *gpu) if gpu else None
