"""Accelerator catalog: every fact tpustack knows about a TPU slice or a GPU machine.

One place per fact. Per-chip numbers live on the generation / GPU model; a shape (what a user types,
``v6e-8``, ``v5p-16``, ``h100-8``) only adds its topology or count and derives the rest (chips, hosts,
machine type). Prices are not here: they live in ``tpustack/cost/prices.yaml`` with their source and date.

Sources (read 2026-11):
  [tpu-versions] https://cloud.google.com/tpu/docs/v4, /v5e, /v5p, /v6e, /tpu7x (per-chip HBM, bandwidth,
                 peak FLOP/s, accelerator type naming, hosts)
  [tpu-runtime]  https://cloud.google.com/tpu/docs/runtimes (TPU VM software versions)
  [gke-tpu]      https://cloud.google.com/kubernetes-engine/docs/concepts/plan-tpus (machine types,
                 gke-tpu-accelerator values, single/multi-host topologies)
  [xpk]          AI-Hypercomputer/xpk src/xpk/core/system_characteristics.py (same mapping, as code)
  [gpu]          NVIDIA L4 / A100 / H100 / H200 datasheets (dense bf16, no sparsity) and
                 https://cloud.google.com/compute/docs/gpus (machine types, GKE accelerator names)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

GIB = 1024**3


@dataclass(frozen=True)
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
    runtime_version: str  # TPU VM software version for PyTorch/XLA and JAX
    topology_dims: int  # 2 for v5e/v6e (AxB), 3 for v4/v5p/tpu7x (AxBxC)
    single_host_topologies: tuple[str, ...]  # shapes served by one VM (all chips on one host)
    multi_host_topologies: tuple[str, ...]  # shapes spread over several VMs
    multi_host_chips_per_host: int  # chips on each VM of a multi-host slice

    def accelerator_type(self, chips: int) -> str:
        count = chips * 2 if self.type_counts_cores else chips
        return f"{self.api_prefix}-{count}"


# --- TPU generations -------------------------------------------------------------------------------
# v4: 275 TFLOP/s bf16, 32 GiB HBM2, 1,200 GB/s per chip; 4 chips per host; type counts TensorCores
# (v4-8 = 4 chips) [tpu-versions]. GKE: ct4p-hightpu-4t, tpu-v4-podslice [gke-tpu][xpk].
V4 = TpuGeneration(
    name="v4",
    api_prefix="v4",
    type_counts_cores=True,
    gke_accelerator="tpu-v4-podslice",
    machine_type_fmt="ct4p-hightpu-{n}t",
    hbm_gib=32,
    hbm_gbps=1200,
    peak_bf16_tflops=275,
    runtime_version="tpu-ubuntu2204-base",
    topology_dims=3,
    single_host_topologies=("2x2x1",),
    multi_host_topologies=("2x2x2", "2x2x4", "2x4x4", "4x4x4", "4x4x8"),
    multi_host_chips_per_host=4,
)
# v5e: 197 TFLOP/s bf16, 16 GiB HBM2, 819 GB/s per chip; single-host 1/4/8 chips, multi-host 4 chips per
# host; type counts chips (v5litepod-4) [tpu-versions]. GKE: ct5lp-hightpu-{1,4,8}t,
# tpu-v5-lite-podslice [gke-tpu][xpk].
V5E = TpuGeneration(
    name="v5e",
    api_prefix="v5litepod",
    type_counts_cores=False,
    gke_accelerator="tpu-v5-lite-podslice",
    machine_type_fmt="ct5lp-hightpu-{n}t",
    hbm_gib=16,
    hbm_gbps=819,
    peak_bf16_tflops=197,
    runtime_version="v2-alpha-tpuv5-lite",
    topology_dims=2,
    single_host_topologies=("1x1", "2x2", "2x4"),
    multi_host_topologies=("4x4", "4x8", "8x8", "8x16", "16x16"),
    multi_host_chips_per_host=4,
)
# v5p: 459 TFLOP/s bf16, 95 GiB HBM2e, 2,765 GB/s per chip; 4 chips per host; type counts TensorCores
# (v5p-8 = 4 chips) [tpu-versions]. GKE: ct5p-hightpu-4t, tpu-v5p-slice [gke-tpu][xpk].
V5P = TpuGeneration(
    name="v5p",
    api_prefix="v5p",
    type_counts_cores=True,
    gke_accelerator="tpu-v5p-slice",
    machine_type_fmt="ct5p-hightpu-{n}t",
    hbm_gib=95,
    hbm_gbps=2765,
    peak_bf16_tflops=459,
    runtime_version="v2-alpha-tpuv5",
    topology_dims=3,
    single_host_topologies=("2x2x1",),
    multi_host_topologies=("2x2x2", "2x2x4", "2x4x4", "4x4x4", "4x4x8", "4x8x8"),
    multi_host_chips_per_host=4,
)
# v6e (Trillium): 918 TFLOP/s bf16, 32 GiB HBM, 1,638 GB/s per chip; single-host 1/4/8 chips, multi-host
# 4 chips per host; type counts chips (v6e-8) [tpu-versions]. GKE: ct6e-standard-{1,4,8}t,
# tpu-v6e-slice [gke-tpu][xpk].
V6E = TpuGeneration(
    name="v6e",
    api_prefix="v6e",
    type_counts_cores=False,
    gke_accelerator="tpu-v6e-slice",
    machine_type_fmt="ct6e-standard-{n}t",
    hbm_gib=32,
    hbm_gbps=1638,
    peak_bf16_tflops=918,
    runtime_version="v2-alpha-tpuv6e",
    topology_dims=2,
    single_host_topologies=("1x1", "2x2", "2x4"),
    multi_host_topologies=("4x4", "4x8", "8x8", "8x16", "16x16"),
    multi_host_chips_per_host=4,
)
# tpu7x (Ironwood): 2,307 TFLOP/s bf16 (4,614 FP8), 192 GiB HBM3E, 7,380 GB/s per chip; 4 chips per VM;
# 2 TensorCores per chip and the name counts them (tpu7x-8 = 4 chips, one VM) [tpu-versions][xpk].
# GKE: tpu7x-standard-4t, label tpu7x [gke-tpu][xpk]. "The Cloud TPU API is not supported on TPU7x"
# [tpu-runtime]: no TPU VM runtime, GKE only, so runtime_version is empty and config rejects tpu-vm.
TPU7X = TpuGeneration(
    name="tpu7x",
    api_prefix="tpu7x",
    type_counts_cores=True,
    gke_accelerator="tpu7x",
    machine_type_fmt="tpu7x-standard-{n}t",
    hbm_gib=192,
    hbm_gbps=7380,
    peak_bf16_tflops=2307,
    runtime_version="",
    topology_dims=3,
    single_host_topologies=("2x2x1",),
    multi_host_topologies=("2x2x2", "2x2x4", "2x4x4", "4x4x4", "4x4x8"),
    multi_host_chips_per_host=4,
)

TPU_GENERATIONS: dict[str, TpuGeneration] = {g.name: g for g in (V4, V5E, V5P, V6E, TPU7X)}


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
    def total_hbm_gib(self) -> float:
        return self.hbm_gib_per_chip * self.chips


@dataclass(frozen=True)
class GpuModel:
    """Per-GPU facts of one NVIDIA model as Google Cloud offers it."""

    name: str  # catalog name: l4, a100-40gb, a100-80gb, h100-80gb, h200-141gb
    gke_accelerator: str  # cloud.google.com/gke-accelerator label and guest_accelerator type
    hbm_gib: float
    hbm_gbps: float
    peak_bf16_tflops: float  # dense, without structured sparsity
    machine_types: dict[int, str]  # GPUs per VM -> machine type


# L4: 24 GB GDDR6, 300 GB/s, 121 TFLOP/s bf16 dense [gpu]; G2 machines g2-standard-{12,24,48,96} hold
# 1/2/4/8 GPUs (the sizes xpk uses) [gpu][xpk].
L4 = GpuModel(
    "l4",
    "nvidia-l4",
    24,
    300,
    121,
    {1: "g2-standard-12", 2: "g2-standard-24", 4: "g2-standard-48", 8: "g2-standard-96"},
)
# A100 40GB SXM: 1,555 GB/s, 312 TFLOP/s bf16 dense [gpu]; A2 highgpu machines [gpu].
A100_40 = GpuModel(
    "a100-40gb",
    "nvidia-tesla-a100",
    40,
    1555,
    312,
    {1: "a2-highgpu-1g", 2: "a2-highgpu-2g", 4: "a2-highgpu-4g", 8: "a2-highgpu-8g"},
)
# A100 80GB SXM: 2,039 GB/s, 312 TFLOP/s bf16 dense [gpu]; A2 ultragpu machines [gpu].
A100_80 = GpuModel(
    "a100-80gb",
    "nvidia-a100-80gb",
    80,
    2039,
    312,
    {1: "a2-ultragpu-1g", 2: "a2-ultragpu-2g", 4: "a2-ultragpu-4g", 8: "a2-ultragpu-8g"},
)
# H100 80GB SXM: 3,350 GB/s, 989 TFLOP/s bf16 dense [gpu]; A3 highgpu machines [gpu].
H100 = GpuModel(
    "h100-80gb",
    "nvidia-h100-80gb",
    80,
    3350,
    989,
    {1: "a3-highgpu-1g", 2: "a3-highgpu-2g", 4: "a3-highgpu-4g", 8: "a3-highgpu-8g"},
)
# H200 141GB: 4,800 GB/s, 989 TFLOP/s bf16 dense [gpu]; A3 Ultra: a3-ultragpu-8g only [gpu].
H200 = GpuModel("h200-141gb", "nvidia-h200-141gb", 141, 4800, 989, {8: "a3-ultragpu-8g"})

GPU_MODELS: dict[str, GpuModel] = {g.name: g for g in (L4, A100_40, A100_80, H100, H200)}
# Short names users type for the GPU part of a shape: "h100-8" as well as "h100-80gb-8".
GPU_ALIASES = {
    "l4": L4,
    "a100": A100_40,
    "a100-40gb": A100_40,
    "a100-80gb": A100_80,
    "h100": H100,
    "h100-80gb": H100,
    "h200": H200,
    "h200-141gb": H200,
}


@dataclass(frozen=True)
class GpuShape:
    """A GPU machine a user can ask for: a model and a GPU count on one VM."""

    gpu: GpuModel
    count: int
    kind: Literal["gpu"] = "gpu"

    @property
    def name(self) -> str:
        return f"{self.gpu.name}-{self.count}"

    @property
    def chips(self) -> int:
        return self.count

    chips_per_host = chips
    hosts = 1
    multi_host = False
    topology = None

    @property
    def machine_type(self) -> str:
        return self.gpu.machine_types[self.count]

    @property
    def gke_accelerator(self) -> str:
        return self.gpu.gke_accelerator

    @property
    def family(self) -> str:
        return self.gpu.name

    @property
    def hbm_gib_per_chip(self) -> float:
        return self.gpu.hbm_gib

    @property
    def hbm_gbps_per_chip(self) -> float:
        return self.gpu.hbm_gbps

    @property
    def peak_bf16_tflops_per_chip(self) -> float:
        return self.gpu.peak_bf16_tflops

    @property
    def total_hbm_gib(self) -> float:
        return self.hbm_gib_per_chip * self.chips


Accelerator = TpuShape | GpuShape


def _build_catalog() -> dict[str, Accelerator]:
    shapes: dict[str, Accelerator] = {}
    for gen in TPU_GENERATIONS.values():
        for topo in gen.single_host_topologies + gen.multi_host_topologies:
            shape = TpuShape(gen, topo)
            shapes[shape.name] = shape
    for gpu in GPU_MODELS.values():
        for count in gpu.machine_types:
            shapes[GpuShape(gpu, count).name] = GpuShape(gpu, count)
    return shapes


CATALOG: dict[str, Accelerator] = _build_catalog()


def lookup(name: str) -> Accelerator | None:
    """The shape for a name users type (``v6e-8``, ``v5p-16``, ``h100-8``, ``l4-1``), or None."""
    name = name.strip().lower()
    if name in CATALOG:
        return CATALOG[name]
    head, _, count = name.rpartition("-")
    if head in GPU_ALIASES and count.isdigit():
        gpu = GPU_ALIASES[head]
        if int(count) in gpu.machine_types:
            return GpuShape(gpu, int(count))
    return None


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
    for gpu in GPU_MODELS.values():
        for count, mt in gpu.machine_types.items():
            if mt == machine_type:
                return "gpu", gpu.name, count
    return None
