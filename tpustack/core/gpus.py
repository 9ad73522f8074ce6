"""NVIDIA GPU models as Google Cloud offers them, and the GPU machines a user can ask for.

Part of the accelerator catalog (tpustack.core.catalog builds the catalog from these and re-exports them): the
per-GPU facts live on the model (HBM, bandwidth, dense peak per precision, GKE label, machine type per GPU count);
a shape (``h100-8``, ``b200-8``, ``gb200-4``) only adds the GPU count, and the machine variant where Compute
Engine sells the same GPUs in a second machine type (``-nolssd``: without the bundled Local SSD).

Peaks are dense (without 2:4 structured sparsity): NVIDIA's datasheets print the sparse figure with an asterisk,
"Specifications 1/2 lower without sparsity". Where sources disagree on a rate or a bandwidth, the higher credible
figure is kept (a ceiling may be loose, never low) and both are cited; where they disagree on HBM capacity, the
lower (what a model may use; the HBM-fit check must never pass a model that does not fit). Like H100 80GB and H200
141GB before them, capacities are NVIDIA's GB figures, taken as GiB.

Sources (read 2026-11):
  [gpu]      NVIDIA L4 / A100 / H100 / H200 datasheets (dense bf16, no sparsity) and
             https://cloud.google.com/compute/docs/gpus (machine types, GKE accelerator names)
  [gcp-gpus] https://cloud.google.com/compute/docs/gpus: "A4X NVIDIA GB200 Grace Blackwell Superchips
             (nvidia-gb200)", "A4 NVIDIA B200 Blackwell GPUs (nvidia-b200)", "A3 Ultra NVIDIA H200 SXM GPUs"
  [xpk]      AI-Hypercomputer/xpk src/xpk/core/system_characteristics.py @ 073d687d: b200-8 = a4-highgpu-8g /
             nvidia-b200 / 8 per VM; gb200-4 = a4x-highgpu-4g / nvidia-gb200 / 4 per VM; gb200-4-nolssd =
             a4x-highgpu-4g-nolssd; h200-141gb-8 = a3-ultragpu-8g / nvidia-h200-141gb
  [recipes]  AI-Hypercomputer/gpu-recipes @ 2e1fd5ef: a4-highgpu-8g (docs/configuring-environment-gke-a4.md),
             a4x-highgpu-4g (docs/configuring-environment-gke-a4x.md), pods on A4X request nvidia.com/gpu: 4;
             inference/a4xmax/aggregated-serving/tensorrt-llm/README.md: GKE node pools of a4x-maxgpu-4g-metal,
             "4x GB300 GPUs" per machine
  [cit]      GoogleCloudPlatform/cloud-image-tests @ d6ee8de0 test_suites/acceleratorrdma/setup.go: machine type
             a3-ultragpu-8g-nolssd with 8 x nvidia-h200-141gb
  [gke-ca]   GKE cluster-autoscaler machine-type and GPU-label tables (Google LLC, Go package machinetypes /
             labels, 2026; code corpus): a3-ultragpu-8g and a3-ultragpu-8g-nolssd (8 x nvidia-h200-141gb),
             a4x-maxgpu-4g-metal (4 x nvidia-gb300), NvidiaGB300 = "nvidia-gb300"
  [mig]      https://docs.nvidia.com/datacenter/tesla/mig-user-guide/supported-gpus.html: memory size GB200 186GB,
             B200 180GB, H200-SXM5 141GB, H100-SXM5 80GB
  [h100ds]   NVIDIA H100 datasheet as reproduced by archive-lib.hpctech.co.jp/gpuproduct/nvidia-h100.html: SXM
             BF16 1,979*, FP8 3,958*, INT8 3,958* TFLOPS, 3,350 GB/s, "* Shown with sparsity"
  [h200ds]   NVIDIA H200 spec page as quoted by morphllm.com/nvidia-h200: SXM FP8 3,958, BF16 1,979, INT8 3,958
             with sparsity, 141GB HBM3e at 4.8TB/s; same compute as H100 SXM (itkb.uw.cz dense: 1,979 FP8 / 989 BF16)
  [l4ds]     NVIDIA L4 datasheet as listed by store.sourcecode.com: INT8 Tensor Core 485 TOPS with sparsity
  [hmc]      hmc-tech.com/gpu/nvidia-l4-vs-nvidia-a100-40gb (computed from clocks, third party): L4 dense BF16
             125.34, FP8 250.68, INT8 250.68, INT4 501.35; A100 dense BF16 311.87, INT8 623.74, INT4 1,250 (1.25 POPS)
  [gk]       glennklockwood.com/garden/processors/B200 (third party, restating NVIDIA): dense (first numeric
             column) for the B200 of GB200 at 1,200 W: BF16 2,500, FP8 5,000, FP4 10,000, INT8 5,000; for HGX B200
             at 1,000 W: BF16 2,250, FP8 4,500, FP4 9,000, INT8 4,500; 8 TB/s
  [dgxb200]  brent-newsom-nvidia.github.io/AIPS-Boom/wiki/NVIDIA-DGX-B200 (restating nvidia.com DGX B200): 8 GPUs,
             1,440 GB HBM3e, 64 TB/s; FP4 72 PFLOPS dense, FP8 72 PFLOPS sparse -> per GPU 180 GB, 8 TB/s, FP4
             9,000, FP8 4,500 dense
  [b200-20]  NVIDIA's Blackwell launch figure "B200 GPU delivers 20 petaFLOPS of FP4" (with sparsity; restated by
             wifitalents.com/nvidia-blackwell-statistics, worldmetrics.org, nullvuild.com): 10,000 dense
  [nvl72]    NVIDIA GB200 NVL72 (aiwiki.ai/wiki/nvidia_gb200_nvl72 quoting NVIDIA): 1.44 EF FP4 and 720 PF FP8
             per 72 GPUs (sparse) -> 10,000 FP4 and 5,000 FP8 dense per GPU; 13.4 TB HBM -> 186 GB per GPU
  [verda]    verda.com/blog/gb300-nvl72-architecture (third party), "without sparsity": GB300 FP4 15, FP8 5,
             BF16 2.5 PFLOPS, 279 GB HBM3E, 8 TB/s; GB200 FP4 9, FP8 4.5, INT8 4.5, BF16 2.25, 7.7 TB/s; B200 FP4 9,
             FP8 4.5, INT8 4.5, BF16 2.25, 180 GB, 7.7 TB/s
  [nim]      docs.nvidia.com/nim/bionemo/msa-search/get-started/support-matrix: NVIDIA GB300 288 GB
  [trt]      NVIDIA/TensorRT-LLM docs/source/developer-guide/perf-overview.md @ 03e27c7d: "B200 180GB (DGX B200)",
             "GB200 192GB (GB200 NVL72)"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .precision import Precision, peak_table

P = Precision


@dataclass(frozen=True, kw_only=True)
class GpuModel:
    """Per-GPU facts of one NVIDIA model as Google Cloud offers it."""

    name: str  # catalog name: l4, a100-40gb, a100-80gb, h100-80gb, h200-141gb, b200, gb200, gb300
    gke_accelerator: str  # cloud.google.com/gke-accelerator label and guest_accelerator type
    hbm_gib: float
    hbm_gbps: float
    peak_bf16_tflops: float  # dense, without structured sparsity
    # dense peaks of the other precisions the tensor cores run (TOP/s for integers); absent: no such rate
    peak_other_tflops: Mapping[Precision, float] = field(default_factory=dict, compare=False)
    machine_types: dict[int, str]  # GPUs per VM -> machine type
    # variant suffix -> {GPUs per VM -> machine type}: the same GPUs in a second machine type
    variants: Mapping[str, Mapping[int, str]] = field(default_factory=dict, compare=False)
    peak_tflops: Mapping[Precision, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "peak_tflops", peak_table(self.peak_bf16_tflops, self.peak_other_tflops))

    def machines(self) -> dict[tuple[int, str], str]:
        """(GPUs per VM, variant) -> machine type, the plain machines first."""
        out = {(n, ""): mt for n, mt in self.machine_types.items()}
        out.update({(n, v): mt for v, per in self.variants.items() for n, mt in per.items()})
        return out


# L4: 24 GB GDDR6, 300 GB/s [gpu]. Dense bf16: NVIDIA's 121 (242 with sparsity) [gpu] vs 125.34 computed from the
# 2,040 MHz boost clock [hmc]: the higher is kept, likewise FP8 and INT8 (NVIDIA 485 sparse = 242.5 dense [l4ds]
# vs 250.68 [hmc]) and INT4 501.35 [hmc]. G2 machines g2-standard-{12,24,48,96} hold 1/2/4/8 GPUs [gpu][xpk].
L4 = GpuModel(
    name="l4",
    gke_accelerator="nvidia-l4",
    hbm_gib=24,
    hbm_gbps=300,
    peak_bf16_tflops=125.34,
    peak_other_tflops={P.FP8: 250.68, P.INT8: 250.68, P.INT4: 501.35},
    machine_types={1: "g2-standard-12", 2: "g2-standard-24", 4: "g2-standard-48", 8: "g2-standard-96"},
)
# A100 40GB SXM: 1,555 GB/s, 312 TFLOP/s bf16 dense, int8 624 TOP/s dense [gpu] (311.87 / 623.74 computed [hmc]:
# NVIDIA's rounded-up figures are the higher); int4 1.25 POP/s [hmc]; no fp8 (Ampere). A2 highgpu machines [gpu].
A100_40 = GpuModel(
    name="a100-40gb",
    gke_accelerator="nvidia-tesla-a100",
    hbm_gib=40,
    hbm_gbps=1555,
    peak_bf16_tflops=312,
    peak_other_tflops={P.INT8: 624, P.INT4: 1250},
    machine_types={1: "a2-highgpu-1g", 2: "a2-highgpu-2g", 4: "a2-highgpu-4g", 8: "a2-highgpu-8g"},
)
# A100 80GB SXM: 2,039 GB/s; the same GA100 tensor cores as the 40GB part [gpu][hmc]. A2 ultragpu machines [gpu].
A100_80 = GpuModel(
    name="a100-80gb",
    gke_accelerator="nvidia-a100-80gb",
    hbm_gib=80,
    hbm_gbps=2039,
    peak_bf16_tflops=312,
    peak_other_tflops={P.INT8: 624, P.INT4: 1250},
    machine_types={1: "a2-ultragpu-1g", 2: "a2-ultragpu-2g", 4: "a2-ultragpu-4g", 8: "a2-ultragpu-8g"},
)
# H100 80GB SXM: 3,350 GB/s; dense BF16 989 (1,979 sparse; 0.05 % under 1,979 / 2, below what a measurement
# resolves), FP8 and INT8 1,979 (3,958 sparse) [h100ds], which lists no fp4 or int4 rate. A3 highgpu
# machines [gpu].
H100 = GpuModel(
    name="h100-80gb",
    gke_accelerator="nvidia-h100-80gb",
    hbm_gib=80,
    hbm_gbps=3350,
    peak_bf16_tflops=989,
    peak_other_tflops={P.FP8: 1979, P.INT8: 1979},
    machine_types={1: "a3-highgpu-1g", 2: "a3-highgpu-2g", 4: "a3-highgpu-4g", 8: "a3-highgpu-8g"},
)
# H200 141GB SXM: 4,800 GB/s, 141 GB [h200ds][mig]; the H100's compute, dense BF16 989, FP8 and INT8 1,979
# [h200ds]. A3 Ultra: a3-ultragpu-8g only [gpu][xpk], and a3-ultragpu-8g-nolssd, the same 8 GPUs without the
# bundled Local SSD [cit][gke-ca]; no other H200 machine type was found.
H200 = GpuModel(
    name="h200-141gb",
    gke_accelerator="nvidia-h200-141gb",
    hbm_gib=141,
    hbm_gbps=4800,
    peak_bf16_tflops=989,
    peak_other_tflops={P.FP8: 1979, P.INT8: 1979},
    machine_types={8: "a3-ultragpu-8g"},
    variants={"nolssd": {8: "a3-ultragpu-8g-nolssd"}},
)
# B200 (A4): a4-highgpu-8g holds 8 GPUs, label nvidia-b200 [xpk][recipes][gcp-gpus]. HBM: 180 GB [mig][dgxb200]
# [verda][trt] vs 192 GB [gk]: the lower kept. Bandwidth 8 TB/s [gk][dgxb200]
# vs 7.7 [verda]: 8. Dense peaks: HGX B200 at 1,000 W runs BF16 2,250 / FP8 4,500 / FP4 9,000 / INT8 4,500 [gk]
# [verda][dgxb200], NVIDIA's launch figure 20 PF FP4 sparse [b200-20] and the same B200 at 1,200 W (in GB200) BF16
# 2,500 / FP8 5,000 / FP4 10,000 / INT8 5,000 [gk]. No source read states the power A4 runs its B200s at, so the
# higher set is the ceiling. fp8 = 2 x bf16, fp4 = 2 x fp8.
B200 = GpuModel(
    name="b200",
    gke_accelerator="nvidia-b200",
    hbm_gib=180,
    hbm_gbps=8000,
    peak_bf16_tflops=2500,
    peak_other_tflops={P.FP8: 5000, P.FP4: 10000, P.INT8: 5000},
    machine_types={8: "a4-highgpu-8g"},
)
# GB200 (A4X): a4x-highgpu-4g holds 4 Blackwell GPUs (GCP's page says "four NVIDIA B200 Blackwell GPUs" per
# superchip; the recipes' pods request nvidia.com/gpu: 4), label nvidia-gb200 [xpk][recipes][gcp-gpus]; also sold as
# a4x-highgpu-4g-nolssd [xpk]. HBM: 186 GB [mig][nvl72] vs 192 GB [trt]: the lower kept.
# Bandwidth 8 TB/s [gk] vs 7.7 [verda]: 8. Dense peaks BF16 2,500, FP8 5,000, FP4 10,000, INT8 5,000 [gk][nvl72] vs
# 2,250 / 4,500 / 9,000 / 4,500 [verda]: the higher kept.
GB200 = GpuModel(
    name="gb200",
    gke_accelerator="nvidia-gb200",
    hbm_gib=186,
    hbm_gbps=8000,
    peak_bf16_tflops=2500,
    peak_other_tflops={P.FP8: 5000, P.FP4: 10000, P.INT8: 5000},
    machine_types={4: "a4x-highgpu-4g"},
    variants={"nolssd": {4: "a4x-highgpu-4g-nolssd"}},
)
# GB300 (A4X Max): a4x-maxgpu-4g-metal, a bare-metal machine with 4 GPUs, used by GKE node pools [recipes][gke-ca];
# label nvidia-gb300 [gke-ca]. HBM 279 GB [verda] vs 288 GB [nim]: the lower kept. 8 TB/s [verda]. Dense BF16 2,500,
# FP8 5,000, FP4 15,000 [verda]. [verda] lists its INT8 at 0.165 POP/s (Blackwell Ultra drops the int8 tensor rate);
# with one source and that unit it is left unknown.
GB300 = GpuModel(
    name="gb300",
    gke_accelerator="nvidia-gb300",
    hbm_gib=279,
    hbm_gbps=8000,
    peak_bf16_tflops=2500,
    peak_other_tflops={P.FP8: 5000, P.FP4: 15000},
    machine_types={4: "a4x-maxgpu-4g-metal"},
)

GPU_MODELS: dict[str, GpuModel] = {g.name: g for g in (L4, A100_40, A100_80, H100, H200, B200, GB200, GB300)}
# Short names users type for the GPU part of a shape: "h100-8" as well as "h100-80gb-8", "b200-180gb-8" as well as
# "b200-8".
GPU_ALIASES = {
    "l4": L4,
    "a100": A100_40,
    "a100-40gb": A100_40,
    "a100-80gb": A100_80,
    "h100": H100,
    "h100-80gb": H100,
    "h200": H200,
    "h200-141gb": H200,
    "b200": B200,
    "b200-180gb": B200,
    "gb200": GB200,
    "gb200-186gb": GB200,
    "gb300": GB300,
}


@dataclass(frozen=True)
class GpuShape:
    """A GPU machine a user can ask for: a model, a GPU count on one VM, and its machine variant (or the plain one)."""

    gpu: GpuModel
    count: int
    variant: str = ""  # "" or a key of gpu.variants ("nolssd")
    kind: Literal["gpu"] = "gpu"

    @property
    def name(self) -> str:
        return f"{self.gpu.name}-{self.count}" + (f"-{self.variant}" if self.variant else "")

    @property
    def chips(self) -> int:
        return self.count

    chips_per_host = chips
    devices = chips  # what vLLM's --tensor-parallel-size counts: one per GPU
    hosts = 1
    multi_host = False
    topology = None

    @property
    def machine_type(self) -> str:
        return self.gpu.machines()[(self.count, self.variant)]

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
    def peak_tflops(self) -> Mapping[Precision, float]:
        """Dense peak per chip of every precision the tensor cores run."""
        return self.gpu.peak_tflops

    def peak_tflops_per_chip(self, precision: Precision | str) -> float | None:
        """Dense peak per chip at a precision, or None: the tensor cores have no such rate (or none is known)."""
        return self.gpu.peak_tflops.get(Precision(precision))

    @property
    def total_hbm_gib(self) -> float:
        return self.hbm_gib_per_chip * self.chips


def gpu_shapes() -> list[GpuShape]:
    """Every GPU machine of every model, in catalog order."""
    return [GpuShape(g, n, v) for g in GPU_MODELS.values() for n, v in g.machines()]


def alias_shape(name: str) -> GpuShape | None:
    """The shape for a GPU name with a short model name (``h100-8``, ``b200-180gb-8``, ``h200-8-nolssd``)."""
    head, _, tail = name.rpartition("-")
    variant = ""
    if not tail.isdigit():
        variant, (head, _, tail) = tail, head.rpartition("-")
    gpu = GPU_ALIASES.get(head)
    if gpu is None or not tail.isdigit() or (int(tail), variant) not in gpu.machines():
        return None
    return GpuShape(gpu, int(tail), variant)


def machine_gpus(machine_type: str) -> tuple[str, int] | None:
    """(model name, GPUs per VM) for a GPU machine type, e.g. a4-highgpu-8g -> (b200, 8)."""
    for gpu in GPU_MODELS.values():
        for (count, _), mt in gpu.machines().items():
            if mt == machine_type:
                return gpu.name, count
    return None
