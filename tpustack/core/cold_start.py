"""Cold start, estimated: how long a serving unit takes from its pod being created to its engine answering.

Phases, in order: scheduled -> image pulled -> weights loaded -> compiled -> ready. Each phase of the estimate is
bytes over a stated bandwidth, with its basis, or "no source" when no public source gives the figure: such a phase
is left out of the total, and the total says so (``left_out``), never a guess. What a real run measured is in the
benchmark record's ``cold_start`` (tpustack.core.contracts.ColdStart, measured by tpustack.workloads.cold_start);
``tpustack report`` shows both side by side.

The weight path (``hub``, ``gcs-fuse``, ``runai-streamer``, ``hyperdisk-ml``) of a serving unit comes from
tpustack.config.derived.weight_path (tpustack:model.weights); whether the engine image is preloaded on the node
from the stack's ``gke.imagePreload`` (tpustack.config.derived.image_preloaded). Stdlib only: the
benchmark runner imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PHASES = ("scheduled", "image_pulled", "weights_loaded", "compiled", "ready")
WEIGHT_PATHS = ("hub", "gcs-fuse", "runai-streamer", "hyperdisk-ml")
MIB = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class Bandwidth:
    """A sustained read bandwidth in bytes/s (None: no source gives one) and where the figure comes from."""

    bytes_per_s: float | None
    basis: str


# Weight paths. Only a published measurement counts; a path without one is "no source" and stays out of the total.
BANDWIDTH: dict[str, Bandwidth] = {
    # GoogleCloudPlatform/gcsfuse docs/benchmarks.md, sequential reads, 1 GB files, 1 MiB blocks, 128 fio threads,
    # n2-standard-96 with 100 Gbps, bucket in the VM's region: 7714 MiB/s. An upper bound: an engine's loader reads
    # its safetensors shards with far fewer streams, and a TPU host's NIC is not that VM's.
    "gcs-fuse": Bandwidth(
        bytes_per_s=7714 * MIB,
        basis="gcsfuse docs/benchmarks.md: 7714 MiB/s sequential read of 1 GB files with 128 fio threads on "
        "n2-standard-96 (100 Gbps); an upper bound for one engine's loader",
    ),
    "hub": Bandwidth(
        bytes_per_s=None,
        basis="no source: Hugging Face publishes no download bandwidth (it depends on the CDN and the node's egress)",
    ),
    "runai-streamer": Bandwidth(
        bytes_per_s=None,
        basis="no source: the GKE Run:ai Model Streamer guide (kubernetes-engine/docs/how-to/persistent-volumes/"
        "run-ai-model-streamer) shows relative load times, no bandwidth for a TPU host",
    ),
    # A stack's own volume has its provisioned throughput (hyperdisk_bandwidth); this is the path without one.
    "hyperdisk-ml": Bandwidth(
        bytes_per_s=None,
        basis="no source for a TPU host: Compute Engine's Hyperdisk ML page gives up to 1,200,000 MiB/s per volume "
        "across every attached instance; one instance's share is its machine type's limit "
        "(compute/docs/disks/hyperdisk-perf-limits), which lists no TPU machine type",
    ),
}

# Compressed size of each pinned engine image (the bytes an uncached node pulls). None: no source this project can
# cite (Docker Hub's tag pages are not reachable offline, and no vLLM document states the size of v0.32.0); the
# measured pull (the kubelet's `Pulled` event says "Image size: N bytes") fills it in.
IMAGE_BYTES: dict[str, tuple[int | None, str]] = {}
_IMAGE_NO_SOURCE = (
    "no source: the compressed size of this tag is published only by its registry; the kubelet's Pulled event "
    "of a real run states it (report)"
)
# The rate an image is pulled at: no source (GKE's image streaming page states no throughput).
IMAGE_PULL = Bandwidth(
    bytes_per_s=None,
    basis="no source: GKE's image streaming and pull documentation state no throughput",
)
COMPILE_BASIS = (
    "no source: vLLM 0.32.0 / tpu-inference 0.32.0 publish no compile time; it is measured from the engine's "
    "'init engine ... took N s (compilation: N s)' log line"
)
SCHEDULE_BASIS = "no source: depends on free capacity (stockouts, queued provisioning, node creation)"


@dataclass(frozen=True, kw_only=True)
class Phase:
    name: str  # one of PHASES
    seconds: float | None  # None: not estimated (basis says why), left out of the total
    basis: str

    def to_json(self) -> dict[str, Any]:
        return {"phase": self.name, "seconds": self.seconds, "basis": self.basis}


@dataclass(frozen=True, kw_only=True)
class Estimate:
    weight_path: str
    image_preloaded: bool
    phases: tuple[Phase, ...]

    @property
    def total_s(self) -> float:
        """The sum of the phases before ``ready`` that have a figure (``left_out`` lists the rest)."""
        return sum(p.seconds for p in self.phases if p.seconds is not None and p.name != "ready")

    @property
    def left_out(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.phases if p.seconds is None)

    def to_json(self) -> dict[str, Any]:
        return {
            "weight_path": self.weight_path,
            "image_preloaded": self.image_preloaded,
            "phases": [p.to_json() for p in self.phases],
            "total_s": round(self.total_s, 3),
            "left_out": list(self.left_out),
        }

    def line(self) -> str:
        """One line for ``tpustack plan``."""
        parts = [f"{p.name} {p.seconds:,.1f} s" if p.seconds is not None else f"{p.name} ?" for p in self.phases]
        out = f"{self.total_s:,.1f} s ({', '.join(parts)})"
        return out + (f"; left out (no source): {', '.join(self.left_out)}" if self.left_out else "")


def _image_phase(image: str | None, preloaded: bool) -> Phase:
    if preloaded:
        return Phase(name="image_pulled", seconds=0.0, basis="image preloaded on the node: nothing to pull")
    size, basis = IMAGE_BYTES.get(image or "", (None, _IMAGE_NO_SOURCE))
    if size is None or IMAGE_PULL.bytes_per_s is None:
        why = basis if size is None else IMAGE_PULL.basis
        return Phase(name="image_pulled", seconds=None, basis=f"{image}: {why}")
    return Phase(
        name="image_pulled",
        seconds=size / IMAGE_PULL.bytes_per_s,
        basis=f"{image}: {size:,} B ({basis}) / {IMAGE_PULL.bytes_per_s / MIB:,.0f} MiB/s ({IMAGE_PULL.basis})",
    )


def hyperdisk_bandwidth(throughput_mibps: int) -> Bandwidth:
    """A Hyperdisk ML volume's read bandwidth: what the stack provisions (model.hyperdiskMl.throughputMibps)."""
    return Bandwidth(
        bytes_per_s=throughput_mibps * MIB,
        basis="the volume's provisioned throughput (tpustack:model.hyperdiskMl.throughputMibps), across every node "
        "that attaches it; an upper bound for one replica: a node reads at most its machine type's Hyperdisk "
        "limit, which compute/docs/disks/hyperdisk-perf-limits does not give for TPU machine types",
    )


def _weights_phase(weight_bytes: float, path: str, bw: Bandwidth) -> Phase:
    if bw.bytes_per_s is None:
        return Phase(name="weights_loaded", seconds=None, basis=f"{weight_bytes:,.0f} B over {path}: {bw.basis}")
    return Phase(
        name="weights_loaded",
        seconds=weight_bytes / bw.bytes_per_s,
        basis=f"{weight_bytes:,.0f} B / {bw.bytes_per_s / MIB:,.0f} MiB/s over {path} ({bw.basis})",
    )


def estimate(
    *, image: str | None, weight_bytes: float, path: str, image_preloaded: bool, bandwidth: Bandwidth | None = None
) -> Estimate:
    """The cold start of one serving replica: phases with their basis; ``ready`` is the sum of those known.
    ``bandwidth``: the path's bandwidth where the stack sets it (a Hyperdisk ML volume's throughput)."""
    if path not in BANDWIDTH:
        raise ValueError(f"weight path {path!r} is not one of {', '.join(WEIGHT_PATHS)}")
    phases = [
        Phase(name="scheduled", seconds=None, basis=SCHEDULE_BASIS),
        _image_phase(image, image_preloaded),
        _weights_phase(weight_bytes, path, bandwidth or BANDWIDTH[path]),
        Phase(name="compiled", seconds=None, basis=COMPILE_BASIS),
    ]
    known = sum(p.seconds for p in phases if p.seconds is not None)
    left = [p.name for p in phases if p.seconds is None]
    ready_basis = "sum of the phases above" + (f", without {', '.join(left)} (no source)" if left else "")
    phases.append(Phase(name="ready", seconds=known, basis=ready_basis))
    return Estimate(weight_path=path, image_preloaded=image_preloaded, phases=tuple(phases))
