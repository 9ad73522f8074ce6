"""Infrastructure shapes derived from a validated config: one place for each, read by the program (component
Args), the manifest renderer (cross-checks), the cost estimate and the rules.

- ``accelerator_pool``: the accelerator node pool (size, autoscaling, capacity, placement, disk, labels), after
  GKE's TPU docs and cluster-toolkit ``modules/compute/gke-node-pool``;
- ``cluster_minor``: the Kubernetes minor the cluster runs (manifests are validated against its schema);
- ``startup_minutes``: the serving pods' startup budget.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from tpustack.core import names, weights
from tpustack.core.capacity import CapacityType
from tpustack.core.catalog import GIB, GpuShape, TpuShape
from tpustack.core.engines import EngineName

from .hyperdisk import HyperdiskMlConfig
from .model import StackConfig
from .units import Region, ServingUnit

# Kubernetes minor a new cluster gets per release channel, assumed (the mock engine reports 1.33.5 for a REGULAR
# cluster); gke.minMasterVersion pins it. Objects are validated against this minor's schema.
CHANNEL_MINOR = {"RAPID": "1.34", "REGULAR": "1.33", "STABLE": "1.32"}
UNPRIVILEGED_TPU_MINOR = (1, 28)  # GKE runs TPU containers without privileged mode from 1.28

# Startup budget when engine.startupMinutes is unset: a budget, not a measurement. Weights at ~100 MB/s from
# Hugging Face or GCS (10 s per GiB) plus XLA compilation and warm-up of every batch/length bucket.
COMPILE_MINUTES = 20
LOAD_SECONDS_PER_GIB = 10

# Boot disk of an accelerator node: room for the weights twice (download + conversion/cache) plus the images;
# the 100 GB default is too small for a 70B model. GB per GiB = 1.074.
MIN_DISK_GB = 100
GB_PER_GIB = GIB / 1e9


def minor_tuple(minor: str) -> tuple[int, int]:
    a, b = minor.split(".")[:2]
    return int(a), int(b)


def _version(v: str) -> tuple[int, ...]:
    """1.34.0-gke.1626000 -> (1, 34, 0, 1626000); a bare minor 1.34 -> (1, 34, 0, 0)."""
    head, _, gke = v.partition("-gke.")
    nums = [int(x) for x in head.split(".") if x.isdigit()]
    nums += [0] * (3 - len(nums))
    return (*nums[:3], int(gke) if gke.isdigit() else 0)


def gke_at_least(cfg: StackConfig, needed: str) -> bool:
    """The cluster is sure to run ``needed`` or later: a newer minor on its channel, or a minMasterVersion."""
    have = [_version(CHANNEL_MINOR[cfg.gke.release_channel])]
    if cfg.gke.min_master_version:
        have.append(_version(cfg.gke.min_master_version))
    want = _version(needed)
    return any(h >= want if h[3] else h[:2] > want[:2] for h in have)


def weight_path(cfg: StackConfig, unit: ServingUnit) -> str:
    """How the unit's engine reads the weights (tpustack.core.weights): ``hub`` for a Hugging Face id; for a gs://
    model (or one staged there, model.stage) on vLLM, ``tpustack:model.weights``, else the Run:ai streamer on GPU
    (vLLM's own choice for a gs:// model: vllm 0.32.0 vllm/config/vllm.py overrides load_format auto to
    runai_streamer) and GCS FUSE on TPU (tpu-inference 0.32.0's support matrix marks its runai_streamer loader
    untested; GKE's vLLM TPU sample mounts the bucket). A MaxText checkpoint on gs:// is read by JetStream itself
    (counted as ``gcs-fuse`` by the estimate)."""
    model = cfg.model
    if model is None or model.weights_uri is None:
        return weights.HUB
    if unit.engine is None or unit.engine.name is not EngineName.VLLM:
        return weights.GCS_FUSE
    if model.weights is not None:
        return model.weights
    return weights.RUNAI_STREAMER if unit.shape.kind == "gpu" else weights.GCS_FUSE


@dataclass(frozen=True, kw_only=True)
class HyperdiskVolume:
    uri: str  # the gs:// folder the populator copies, with its trailing slash (the GKE page: "indicate a folder")
    size_gib: int
    throughput_mibps: int
    zones: tuple[str, ...]  # where the region's serving nodes may run, in the region's order


def hyperdisk_settings(cfg: StackConfig) -> HyperdiskMlConfig:
    model = cfg.model
    return (model.hyperdisk_ml if model is not None else None) or HyperdiskMlConfig()


def hyperdisk_size_gib(cfg: StackConfig) -> int | None:
    """The Hyperdisk ML volume's size: stated, else the checkpoint as stored with room (the copy holds the folder,
    not the weights as an engine quantizes them); None when neither is known."""
    stated = hyperdisk_settings(cfg).size_gib
    if stated is not None:
        return stated
    if cfg.served is None or not cfg.served.known:
        return None
    return weights.volume_size_gib(cfg.served.checkpoint_gib)


def hyperdisk_volume(cfg: StackConfig, region: Region) -> HyperdiskVolume | None:
    """The region's Hyperdisk ML volume (one per cluster, read by every unit there; tpustack.core.weights); None
    unless a vLLM unit there reads its weights from one. Its zones are where the region's serving nodes may run:
    the node pool's zone, or every zone of the region for a unit GKE provisions from a ComputeClass (several zones:
    the driver keeps one disk per zone, enable-multi-zone-provisioning)."""
    model = cfg.model
    units = [u for u in cfg.units_in(region) if weight_path(cfg, u) == weights.HYPERDISK_ML]
    size = hyperdisk_size_gib(cfg)
    if model is None or model.weights_uri is None or not units or size is None:
        return None
    zones = dict.fromkeys(z for u in units for z in (region.zones if u.compute_class else (region.zone,)))
    return HyperdiskVolume(
        uri=model.weights_uri.rstrip("/") + "/",
        size_gib=size,
        throughput_mibps=hyperdisk_settings(cfg).throughput_mibps,
        zones=tuple(zones),
    )


def cluster_minor(cfg: StackConfig) -> str:
    """The Kubernetes minor ("1.33") the stack's cluster runs: the pinned master version, else the channel's."""
    pinned = cfg.gke.min_master_version
    if pinned:
        m = re.match(r"^(\d+)\.(\d+)", pinned)
        if m:
            return f"{m.group(1)}.{m.group(2)}"
    return CHANNEL_MINOR[cfg.gke.release_channel]


def startup_minutes(cfg: StackConfig) -> int:
    if cfg.engine is not None and cfg.engine.startup_minutes:
        return cfg.engine.startup_minutes
    weights = cfg.served.weights_gib if cfg.served else 0.0
    return COMPILE_MINUTES + math.ceil(weights * LOAD_SECONDS_PER_GIB / 60)


def maxtext_family(cfg: StackConfig) -> str | None:
    name = cfg.served.maxtext if cfg.served else None
    return name.rsplit("-", 1)[0] if name and "-" in name else name


@dataclass(frozen=True)
class Autoscaling:
    min_nodes: int
    max_nodes: int


@dataclass(frozen=True, kw_only=True)
class AcceleratorPool:
    """The accelerator node pool of a gke stack: everything about it that depends only on config."""

    name: str
    kind: str  # tpu | gpu
    machine_type: str
    zone: str
    # Fixed size, or autoscaled (then ``initial_nodes`` is where it starts).
    node_count: int | None
    initial_nodes: int | None
    autoscaling: Autoscaling | None
    # Nodes that run when the stack's replicas are up (what an hour costs).
    expected_nodes: int
    auto_repair: bool
    capacity: CapacityType  # how the nodes are obtained; the node-pool fields below follow from it
    reservation: str | None  # SPECIFIC_RESERVATION by name (capacity reservation only)
    compact_topology: str | None  # multi-host slices: COMPACT placement with this TPU topology
    disk_size_gb: int | None
    gpu_type: str | None
    gpu_count: int | None
    # A secondary boot disk with the engine images (projects/P/global/images/N) and GKE image streaming.
    preload_disk: str | None = None
    image_streaming: bool = False
    # Node labels tpustack sets on the pool; ``node_labels`` adds the ones GKE sets on such nodes.
    labels: dict[str, str] = field(default_factory=dict)
    gke_labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.reservation is not None) != (self.capacity is CapacityType.RESERVATION):
            raise ValueError(
                f"AcceleratorPool {self.name}: a reservation name goes with capacity reservation and nothing else "
                f"(capacity {self.capacity}, reservation {self.reservation!r})"
            )

    @property
    def spot(self) -> bool:
        return self.capacity is CapacityType.SPOT

    @property
    def flex_start(self) -> bool:
        # GKE queued provisioning today is flex-start with a queued request: --flex-start
        # --enable-queued-provisioning --reservation-affinity=none --no-enable-autorepair, autoscaling from 0
        # (cloud.google.com/kubernetes-engine/docs/how-to/provisioningrequest).
        return self.capacity.flex_start

    @property
    def queued_provisioning(self) -> bool:
        return self.capacity is CapacityType.QUEUED

    @property
    def no_reservation(self) -> bool:
        """Flex-start and queued nodes never come from a reservation."""
        return self.capacity.flex_start

    @property
    def max_nodes(self) -> int:
        return self.autoscaling.max_nodes if self.autoscaling else (self.node_count or 0)

    @property
    def node_labels(self) -> dict[str, str]:
        return {**self.labels, **self.gke_labels}


# GKE docs "Use secondary boot disks to preload data or container images": a disk used as the containerd image
# cache has mode CONTAINER_IMAGE_CACHE (pulumi-gcp 10.2.0 NodePoolNodeConfigSecondaryBootDisk.mode; the ComputeClass
# CRD's priorities[].storage.secondaryBootDisks[].mode enum).
PRELOAD_MODE = "CONTAINER_IMAGE_CACHE"


def preload_disk(cfg: StackConfig) -> str | None:
    """The preload disk image as projects/PROJECT/global/images/NAME, or None."""
    pre = cfg.gke.image_preload
    return None if pre is None else f"projects/{pre.project(cfg.project)}/global/images/{pre.name}"


def image_preloaded(cfg: StackConfig, image: str | None) -> bool:
    """Whether a unit's engine image is on the preload disk: the images stated, else every unit's engine image."""
    pre = cfg.gke.image_preload
    if pre is None or image is None:
        return False
    return pre.images is None or image_ref(image) in {image_ref(i) for i in pre.images}


def image_ref(image: str) -> str:
    """An image reference as containerd resolves it: Docker Hub's implied registry and library/ made explicit."""
    name = image
    for hub in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        name = name.removeprefix(hub)
    if "/" not in name:
        return "docker.io/library/" + name
    first = name.split("/", 1)[0]
    if "." in first or ":" in first or first == "localhost":
        return name  # another registry (host[:port]/...)
    return "docker.io/" + name


def pool_labels(stack: str) -> dict[str, str]:
    """Kubernetes labels tpustack puts on the nodes of every pool of a stack."""
    return {names.LABEL_STACK: names.label_value(stack)}


def accelerator_pool(cfg: StackConfig, unit: ServingUnit) -> AcceleratorPool:
    """The node pool a unit's replicas run on (capacity rule matrix: cluster-toolkit gke-node-pool, GKE flex-start /
    DWS docs): declared by the stack for a node-pool unit; for a ComputeClass unit, the pool GKE would create for
    the unit's first priority."""
    shape = unit.shape
    cap = unit.first_capacity
    nodes = shape.hosts * unit.replicas
    gke_labels: dict[str, str] = {}
    if isinstance(shape, TpuShape):
        gke_labels[names.TPU_ACCELERATOR_LABEL] = shape.gke_accelerator
        gke_labels[names.TPU_TOPOLOGY_LABEL] = shape.topology
    else:
        gke_labels[names.GPU_ACCELERATOR_LABEL] = shape.gke_accelerator
    if cap.type is CapacityType.SPOT:
        gke_labels[names.SPOT_LABEL] = "true"
    node_count: int | None = nodes
    initial: int | None = None
    autoscaling: Autoscaling | None = None
    if cap.type.flex_start:
        # Nodes come only when a workload asks: start at 0 (cluster-toolkit gke-node-pool validations).
        node_count, initial, autoscaling = None, 0, Autoscaling(min_nodes=0, max_nodes=nodes)
    elif cfg.gke.autoscaling_max_nodes and not shape.multi_host:
        node_count, initial = None, unit.replicas
        autoscaling = Autoscaling(min_nodes=0, max_nodes=cfg.gke.autoscaling_max_nodes)
    disk = None
    if cfg.served is not None:
        disk = max(MIN_DISK_GB, math.ceil(cfg.served.weights_gib * GB_PER_GIB * 2) + MIN_DISK_GB)
    gpu = shape if isinstance(shape, GpuShape) else None
    return AcceleratorPool(
        name=names.slug(f"{shape.kind}-{shape.name}", 40),
        kind=shape.kind,
        machine_type=shape.machine_type,
        zone=unit.region.zone,
        node_count=node_count,
        initial_nodes=initial,
        autoscaling=autoscaling,
        expected_nodes=nodes,
        auto_repair=cap.auto_repair,
        capacity=cap.type,
        reservation=cap.reservation if cap.type is CapacityType.RESERVATION else None,
        compact_topology=shape.topology if shape.multi_host else None,
        disk_size_gb=disk,
        gpu_type=gpu.gke_accelerator if gpu else None,
        gpu_count=gpu.count if gpu else None,
        preload_disk=preload_disk(cfg),
        image_streaming=cfg.gke.streaming,
        labels=pool_labels(cfg.stack),
        gke_labels=gke_labels,
    )


# ----- Google APIs a stack uses ---------------------------------------------------------------------------------
BASE_SERVICES = [
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "storage.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
]
TARGET_SERVICES = {
    "tpu-vm": ["tpu.googleapis.com", "compute.googleapis.com"],
    "gke": ["container.googleapis.com", "compute.googleapis.com", "artifactregistry.googleapis.com"],
    "results": [],
}


def services(cfg: StackConfig) -> list[str]:
    """The APIs to enable for a stack (sorted, unique)."""
    extra = []
    if cfg.gateway is not None:
        # GKE Inference Gateway: the Gateway controller's load balancers (GKE docs, deploy-gke-inference-gateway)
        extra += ["networkservices.googleapis.com", "compute.googleapis.com"]
        if cfg.gateway.dns_zone:
            extra.append("dns.googleapis.com")
    return sorted(set(BASE_SERVICES + TARGET_SERVICES[cfg.target] + extra))
