"""How a vLLM pod gets its weights (tpustack.core.weights, the path chosen by tpustack.config.derived.weight_path):
a Hugging Face id is downloaded into a scratch dir (--download-dir); a gs:// model (or one staged there by the
staging Job, model.stage) is mounted through GCS FUSE, tuned for loading, streamed by vLLM itself
(--load-format runai_streamer, the URI as the model), or read from the region's Hyperdisk ML volume, a
ReadOnlyMany PVC GKE Volume Populator fills once from the bucket (``hyperdisk_context``: the ``weights`` app)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tpustack.config import derived
from tpustack.config.derived import HyperdiskVolume
from tpustack.config.model import StackConfig
from tpustack.config.units import Region, ServingUnit
from tpustack.core import catalog, names, weights
from tpustack.core.engines import EngineName
from tpustack.core.errors import InternalError

WEIGHTS_PATH = "/data"  # --download-dir, as the GKE vLLM TPU sample
MODEL_MOUNT_PATH = "/models"
# The weights app's objects (one set per cluster): the StorageClass is cluster-scoped, hence the stack's name.
WEIGHTS_CLAIM = "model-weights"  # the PVC and its GCPDataSource: model-weights-<digest of the volume>
FILL_KSA = "tpustack-weights-fill"  # the Volume Populator reads the bucket as this KSA (its own, as GKE advises)


@dataclass(frozen=True, kw_only=True)
class GcsMount:
    bucket: str
    path: str  # where the pod sees it
    mount_options: str
    attributes: dict[str, str] = field(default_factory=dict)  # CSI volumeAttributes beside bucketName, mountOptions


@dataclass(frozen=True, kw_only=True)
class ScratchDir:
    path: str
    size: str


@dataclass(frozen=True, kw_only=True)
class Weights:
    """What a vLLM pod is given for its weights: one of a FUSE mount, a Hyperdisk ML claim or a download dir."""

    model_arg: str  # vllm serve MODEL
    mount: GcsMount | None = None  # the model bucket over GCS FUSE
    claim: str | None = None  # the Hyperdisk ML PVC, mounted read-only at MODEL_MOUNT_PATH
    download: ScratchDir | None = None  # where vLLM downloads a Hub model
    served_name: str | None = None  # --served-model-name: a gs:// model is served under its last path element
    load_format: str | None = None  # --load-format


def vllm_weights(cfg: StackConfig, unit: ServingUnit) -> Weights:
    model = cfg.model
    if model is None or unit.engine is None or unit.engine.name is not EngineName.VLLM:
        return Weights(model_arg=model.id if model else "")
    path = derived.weight_path(cfg, unit)
    if path == weights.HUB:
        gib = cfg.served.weights_gib if cfg.served else 0.0
        scratch = ScratchDir(path=WEIGHTS_PATH, size=f"{math.ceil(gib * 1.1) + 1}Gi")
        return Weights(model_arg=model.id, download=scratch)
    uri = model.weights_uri or model.id
    bucket, prefix = names.gcs_split(uri)
    # a staged Hub model keeps its id as the served name (clients and the gateway ask for it by that name)
    served = model.id if model.stage else (prefix.rstrip("/").rsplit("/", 1)[-1] or bucket)
    if path == weights.RUNAI_STREAMER:
        return Weights(model_arg=uri, served_name=served, load_format=weights.RUNAI_LOAD_FORMAT)
    if path == weights.HYPERDISK_ML:
        volume = derived.hyperdisk_volume(cfg, unit.region)
        if volume is None:  # config rules: a Hyperdisk ML stack's volume size is known
            raise InternalError(f"{unit.label}reads Hyperdisk ML but its region has no volume")
        return Weights(model_arg=MODEL_MOUNT_PATH, claim=claim_name(volume), served_name=served)
    prefetch = derived.gke_at_least(cfg, weights.GKE_FOR_METADATA_PREFETCH)
    mount = GcsMount(
        bucket=bucket,
        path=MODEL_MOUNT_PATH,
        mount_options=weights.mount_options(prefix),
        attributes=weights.volume_attributes(prefetch),
    )
    return Weights(model_arg=MODEL_MOUNT_PATH, mount=mount, served_name=served)


@dataclass(frozen=True, kw_only=True)
class HyperdiskContext:
    """The weights app: GKE Volume Populator's transfer ComputeClass, the Hyperdisk ML StorageClass, the KSA the
    populator reads the bucket as, the GCPDataSource and the ReadOnlyMany PVC that names it (GKE docs,
    volume-populator-hdml)."""

    namespace: str
    labels: dict[str, str]
    transfer_class: str
    transfer_priorities: list[dict[str, str]]
    node_service_account: str
    storage_class: str
    provisioner: str
    parameters: dict[str, str]
    mount_options: list[str]
    zone_key: str
    zones: list[str]
    ksa: str
    datasource: str
    datasource_api: str  # apiVersion
    datasource_group: str
    datasource_kind: str
    uri: str
    claim: str
    size: str
    claim_annotations: dict[str, str]


def claim_name(vol: HyperdiskVolume) -> str:
    """The PVC (and GCPDataSource) of a volume. A filled Hyperdisk ML disk cannot change: its folder, size,
    throughput and zones are in the name, so a change to any of them makes `pulumi up` fill a new volume, roll the
    servers onto it, then delete the old one (PVC before data source)."""
    return f"{WEIGHTS_CLAIM}-{names.digest(vol.uri, vol.size_gib, vol.throughput_mibps, *vol.zones)}"


def hyperdisk_context(cfg: StackConfig, region: Region) -> HyperdiskContext | None:
    """The region's Hyperdisk ML objects; None when no unit there reads one. ``pulumi up`` awaits the PVC bound,
    which the populator does once the copy is complete, before the serving app (its timeout: the transfer node's
    start and ~10 s per GiB)."""
    vol = derived.hyperdisk_volume(cfg, region)
    if vol is None:
        return None
    ns = names.namespace(cfg.stack)
    claim = claim_name(vol)
    sc = f"{ns}-{claim.replace(WEIGHTS_CLAIM, 'hyperdisk-ml')}"  # its parameters are immutable too
    params = {"type": weights.HYPERDISK_ML_TYPE, weights.THROUGHPUT_PARAMETER: f"{vol.throughput_mibps}Mi"}
    if len(vol.zones) > 1:
        params[weights.MULTI_ZONE_PARAMETER] = "true"
    group, kind = weights.DATASOURCE_GROUP, weights.DATASOURCE_KIND
    # pulumi-kubernetes yaml/v2 orders objects of one ConfigGroup by this annotation, and deletes in reverse: the
    # PVC goes before its GCPDataSource (the GKE page: deleting the GCPDataSource first leaves the PVC stuck).
    depends = [
        f"{group}/namespaces/{ns}/{kind}/{claim}",
        f"/namespaces/{ns}/ServiceAccount/{FILL_KSA}",
        f"storage.k8s.io/StorageClass/{sc}",
        f"cloud.google.com/ComputeClass/{weights.TRANSFER_COMPUTE_CLASS}",
    ]
    timeout = 1200 + derived.LOAD_SECONDS_PER_GIB * vol.size_gib
    return HyperdiskContext(
        namespace=ns,
        labels=names.common_k8s_labels(cfg.stack),
        transfer_class=weights.TRANSFER_COMPUTE_CLASS,
        transfer_priorities=[{"machineFamily": f} for f in catalog.HDML_TRANSFER_FAMILIES],
        node_service_account=names.account_email(cfg.stack, "node", cfg.project),
        storage_class=sc,
        provisioner=weights.PD_CSI_PROVISIONER,
        parameters=params,
        mount_options=list(weights.HYPERDISK_MOUNT_OPTIONS),
        zone_key=weights.ZONE_TOPOLOGY_KEY,
        zones=list(vol.zones),
        ksa=FILL_KSA,
        datasource=claim,
        datasource_api=f"{group}/{weights.DATASOURCE_VERSION}",
        datasource_group=group,
        datasource_kind=kind,
        uri=vol.uri,
        claim=claim,
        size=f"{vol.size_gib}Gi",
        claim_annotations={names.PULUMI_TIMEOUT: str(timeout), names.DEPENDS_ON: ",".join(depends)},
    )
