"""Rooflines: the least time a piece of work can take on a device, and the guard that turns any faster
timing into a measurement error instead of a result.

The time floor of a kernel is max(FLOPs / peak FLOP/s, bytes / memory bandwidth). A measured time below
that floor is not a fast device, it is a broken measurement (timing dispatch instead of completion, or a
compiler that dropped work), so ``check`` raises BenchmarkError and callers never print the figure as
a result.

``for_platform`` picks the roofline of the device that ran the work, ``device_memory`` what that device can hold.
Stdlib only (it runs on TPU VMs and in pods, Python 3.10+): the per-chip facts come from tpustack.core.catalog.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass

from tpustack.core import catalog
from tpustack.core.errors import BenchmarkError, UsageError

# The bandwidth floor only binds when the operands cannot stay on chip between iterations: below this size
# an L2 cache (50 MB on H100/H200, 40 MB on A100, 48 MB on L4: NVIDIA datasheets) or TPU VMEM/CMEM can
# serve re-reads faster than HBM. 256 MiB is above every on-chip memory of the catalog's devices, so a
# working set larger than that must come from HBM every iteration.
ON_CHIP_CEILING_BYTES = 256 * 2**20

# CPU ceiling (no catalog entry): cores x clock x FLOPs per cycle, every factor rounded up so the ceiling
# is never below what the CPU can really do. x86 server cores issue at most 2 FMA per cycle (Intel and AMD
# optimization manuals), each on 16 fp32 lanes with AVX-512 or 8 with AVX2; an FMA is 2 FLOPs. AMX tiles
# do at most 1024 bf16 multiply-adds per cycle per core (Intel AMX documentation). /proc/cpuinfo gives the
# current (often base) clock; turbo can run up to ~1.75x base on server parts, so that headroom is added.
CPU_FMA_PIPES = 2
CPU_TURBO_HEADROOM = 1.75
CPU_UNKNOWN_CLOCK_GHZ = 4.5  # where the clock cannot be read (arm64 VMs): above any server CPU's turbo


@dataclass(frozen=True, kw_only=True)
class Roofline:
    """The best a single device can do, and where that figure comes from."""

    device: str  # catalog family (v6e, h100-80gb) or "cpu"
    kind: str  # tpu | gpu | cpu
    peak_tflops: float  # FLOP/s ceiling for this dtype, in TFLOP/s
    mem_gbps: float | None  # memory bandwidth ceiling, GB/s (None: unknown, not enforced)
    source: str

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_family(name: str) -> str | None:
    """Catalog family of a name users type (v6e-8 -> v6e, v5litepod-4 -> v5e, h100-8 -> h100-80gb)."""
    shape = catalog.lookup(name)
    return shape.family if shape is not None else None


def accelerator_roofline(name: str) -> Roofline:
    """Per-chip roofline of a catalog accelerator. Both dtypes share the dense bf16 peak: fp32 matmuls on
    the MXU / tensor cores are never faster than bf16 ones, so it is a true ceiling for either."""
    shape = catalog.lookup(name)
    if shape is None:
        raise UsageError(
            f"--accelerator '{name}': not a catalog accelerator, so there is no roofline to check timings against",
            fix="pass the catalog name of the machine (e.g. v6e-1, v5litepod-4, h100-1; `tpustack catalog` lists "
            "them) or 'cpu' for the host CPU",
        )
    family, tflops, gbps = shape.family, shape.peak_bf16_tflops_per_chip, shape.hbm_gbps_per_chip
    return Roofline(
        device=family,
        kind=shape.kind,
        peak_tflops=float(tflops),
        mem_gbps=float(gbps),
        source=f"tpustack catalog {family}: {tflops:g} TFLOP/s dense bf16, {gbps:g} GB/s HBM per chip",
    )


def for_platform(accelerator: str, platform_kind: str, dtype: str) -> Roofline:
    """The roofline of the device that actually ran the work (``platform_kind``), which must be the one named."""
    if platform_kind == "cpu":
        return cpu_roofline(dtype)
    if accelerator.strip().lower() == "cpu":
        raise BenchmarkError(
            f"--accelerator cpu, but the work ran on a {platform_kind.upper()}",
            fix="pass the catalog name of the machine (e.g. v6e-1, h100-1) so timings are checked against its roofline",
        )
    roof = accelerator_roofline(accelerator)
    if roof.kind != platform_kind:
        raise BenchmarkError(
            f"--accelerator {accelerator} is a {roof.kind.upper()}, but the work ran on a {platform_kind.upper()}",
            fix="name the machine that runs the heartbeat",
        )
    return roof


@dataclass(frozen=True)
class Memory:
    """What one device can hold (None: unknown), and which memory that is."""

    bytes: int | None
    where: str


def available_memory_bytes() -> int | None:
    """The host's available memory (MemAvailable), or None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def device_memory(accelerator: str, platform_kind: str) -> Memory:
    """The memory a workload must fit: the host's available memory on CPU, one chip's HBM (catalog) otherwise."""
    if platform_kind == "cpu":
        return Memory(available_memory_bytes(), "of available host memory")
    shape = catalog.lookup(accelerator)
    hbm = int(shape.hbm_gib_per_chip * catalog.GIB) if shape is not None else None
    return Memory(hbm, f"of HBM on one {accelerator} chip")


def _cpuinfo() -> tuple[set[str], float | None, str]:
    flags: set[str] = set()
    mhz: list[float] = []
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("flags", "features"):
                    flags.update(value.split())
                elif key == "cpu mhz":
                    mhz.append(float(value))
                elif key == "model name":
                    model = value.strip()
    except OSError:
        pass
    max_khz = None
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", encoding="utf-8") as f:
            max_khz = float(f.read().strip())
    except (OSError, ValueError):
        pass
    ghz = max_khz / 1e6 if max_khz else (max(mhz) / 1e3 * CPU_TURBO_HEADROOM if mhz else None)
    return flags, ghz, model


def cpu_roofline(dtype: str) -> Roofline:
    """An upper bound on this host's matmul FLOP/s (see the constants above for each factor's source)."""
    flags, ghz, model = _cpuinfo()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if "avx512f" in flags:
        lanes, isa = 16, "AVX-512"
    elif "avx2" in flags or "fma" in flags:
        lanes, isa = 8, "AVX2/FMA"
    else:  # arm64 NEON/SVE: up to 4 FMA pipes x 4 fp32 lanes (Neoverse V1/V2 guides) = 2 x 8 lanes
        lanes, isa = 8, "NEON/SVE (4 pipes x 4 lanes)"
    per_cycle = CPU_FMA_PIPES * lanes * 2
    if dtype == "bfloat16":
        if "amx_bf16" in flags:
            per_cycle, isa = 2 * 1024, "AMX-BF16"
        elif "avx512_bf16" in flags:
            per_cycle, isa = per_cycle * 2, "AVX512-BF16"
        # otherwise bf16 is converted and computed in fp32: the fp32 ceiling holds
    clock = ghz if ghz else CPU_UNKNOWN_CLOCK_GHZ
    tflops = cores * clock * 1e9 * per_cycle / 1e12
    return Roofline(
        device="cpu",
        kind="cpu",
        peak_tflops=tflops,
        mem_gbps=None,
        source=f"{model}: {cores} cores x {clock:.2f} GHz (incl. turbo headroom) x {per_cycle} "
        f"{dtype} FLOP/cycle ({isa}); DRAM bandwidth unknown, not enforced",
    )


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """A timing set against a roofline."""

    ms_per_iteration: float
    compute_floor_ms: float
    memory_floor_ms: float | None
    memory_floor_enforced: bool
    floor_ms: float
    fraction_of_roofline: float  # floor / measured: 1.0 means running at the roofline
    achieved_tflops: float
    achieved_gbps: float

    def to_dict(self) -> dict:
        return asdict(self)


def verdict(ms_per_iteration: float, flops: float, bytes_moved: float, roof: Roofline) -> Verdict:
    compute_ms = flops / (roof.peak_tflops * 1e12) * 1e3
    memory_ms = bytes_moved / (roof.mem_gbps * 1e9) * 1e3 if roof.mem_gbps else None
    enforced = memory_ms is not None and bytes_moved > ON_CHIP_CEILING_BYTES
    floor = max(compute_ms, memory_ms) if enforced and memory_ms is not None else compute_ms
    seconds = ms_per_iteration / 1e3
    return Verdict(
        ms_per_iteration=ms_per_iteration,
        compute_floor_ms=compute_ms,
        memory_floor_ms=memory_ms,
        memory_floor_enforced=enforced,
        floor_ms=floor,
        fraction_of_roofline=floor / ms_per_iteration if ms_per_iteration > 0 else float("inf"),
        achieved_tflops=flops / seconds / 1e12 if seconds > 0 else float("inf"),
        achieved_gbps=bytes_moved / seconds / 1e9 if seconds > 0 else float("inf"),
    )


def check(ms_per_iteration: float, flops: float, bytes_moved: float, roof: Roofline) -> Verdict:
    """The verdict, or BenchmarkError when the timing beats the device's physical floor."""
    v = verdict(ms_per_iteration, flops, bytes_moved, roof)
    if not ms_per_iteration > 0 or ms_per_iteration < v.floor_ms:
        bound = "compute" if v.floor_ms == v.compute_floor_ms else "memory bandwidth"
        raise BenchmarkError(
            f"timing {ms_per_iteration:.4g} ms per iteration is below the {roof.device} {bound} floor of "
            f"{v.floor_ms:.4g} ms ({flops / 1e9:.1f} GFLOP at {roof.peak_tflops:g} TFLOP/s"
            + (f", {bytes_moved / 1e6:.1f} MB at {roof.mem_gbps:g} GB/s" if roof.mem_gbps else "")
            + f"; would be {v.achieved_tflops:.1f} TFLOP/s = {v.fraction_of_roofline:.2f}x the roofline). "
            "This is a measurement error, not a result: time device completion (sync/block_until_ready), "
            "keep every iteration's output live, and check --accelerator names the device that ran it"
        )
    return v
