"""How a vLLM server's weights reach it from a gs:// model (``tpustack:model.weights``), as the pinned artifacts
define each path. Stdlib only: facts, no config.

- ``gcs-fuse``: the bucket mounted read-only by GKE's Cloud Storage FUSE CSI driver, tuned for reading large files
  once (the file cache with parallel downloads, the metadata caches without expiry, the listing prefetched at
  mount); vLLM reads the mount as a local directory.
- ``hyperdisk-ml``: a Hyperdisk ML volume, filled once from the bucket by GKE Volume Populator (a PVC whose
  ``dataSourceRef`` is a ``GCPDataSource``), attached read-only to every serving node (ReadOnlyMany); vLLM reads
  it as a local directory.
- ``runai-streamer``: vLLM streams the safetensors shards from gs:// itself (``--load-format runai_streamer``);
  config and tokenizer files are copied to the container first (vllm 0.32.0 vllm/config/model.py
  maybe_pull_model_tokenizer_for_runai). Credentials: Application Default Credentials, i.e. the pod's Workload
  Identity (runai-model-streamer-gcs 0.15.9 credentials.py: google.auth.default() unless a key file is named).

Every attribute, mount option and flag here is checked against the pinned artifacts: by tests/integration/
test_weight_paths.py (the FUSE CSI driver's and gcsfuse's definitions in tests/fixtures/gcsfuse/facts.json, the
vllm and tpu-inference wheels, vLLM's Dockerfile) and tests/integration/test_hyperdisk_ml.py (the Persistent Disk
CSI driver's in tests/fixtures/pdcsi/facts.json, GKE Volume Populator's in tests/fixtures/volume_populator/
facts.json).
"""

from __future__ import annotations

import math

HUB = "hub"
GCS_FUSE = "gcs-fuse"
RUNAI_STREAMER = "runai-streamer"
HYPERDISK_ML = "hyperdisk-ml"
# The paths a stack may name for a gs:// model (tpustack:model.weights).
GCS_PATHS = (GCS_FUSE, RUNAI_STREAMER, HYPERDISK_ML)

# vllm 0.32.0 vllm/model_executor/model_loader/__init__.py: LoadFormats has "runai_streamer" (RunaiModelStreamerLoader,
# safetensors only); tpu-inference 0.32.0 tpu_inference/models/vllm/vllm_model_loader.py registers its own loader
# under the same name (sharding each layer onto the TPU as it arrives). runai_streamer_sharded cannot list gs://
# (sharded_state_loader.py globs s3:// only), so tpustack never renders it.
RUNAI_LOAD_FORMAT = "runai_streamer"

# ----- GCS FUSE, tuned for loading weights ----------------------------------------------------------------------
# gcsfuse options in the CSI driver's mountOptions form: `section:key:value` is a config-file key, a bare word or
# `flag=value` a CLI flag (gcs-fuse-csi-driver pkg/sidecar_mounter/sidecar_mounter_config.go). Values: GKE's vLLM
# TPU sample (kubernetes-engine-samples ai-ml/vllm-tpu/vllm-llama3-70b.yaml): the file cache unbounded, parallel
# downloads, 100 workers per file, 10 MiB chunks. GKE turns the file cache on only when max-size-mb is not 0.
MODEL_MOUNT_OPTIONS = (
    "implicit-dirs",
    "file-cache:max-size-mb:-1",
    "file-cache:enable-parallel-downloads:true",
    "file-cache:parallel-downloads-per-file:100",
    "file-cache:max-parallel-downloads:-1",
    "file-cache:download-chunk-size-mb:10",
)
# The driver's volume attributes for a read-only model (gcs-fuse-csi-driver docs/troubleshooting.md, metadata cache:
# "-1" bypasses the TTL and the size limits): the weights never change under a running server.
MODEL_VOLUME_ATTRIBUTES = {
    "metadataCacheTTLSeconds": "-1",
    "metadataStatCacheCapacity": "-1",
    "metadataTypeCacheCapacity": "-1",
}
# Read by the driver's webhook (pkg/webhook/sidecar_spec.go): a sidecar lists the mount once (`ls -R`) so the
# server's first reads find the metadata cached. GKE 1.32.1-gke.1357001 or later (gcs-fuse-csi-driver
# docs/releases.md, "Metadata prefetch"); older clusters ignore the attribute, so tpustack renders it only on a
# cluster sure to have it.
METADATA_PREFETCH_ATTRIBUTE = "gcsfuseMetadataPrefetchOnMount"
GKE_FOR_METADATA_PREFETCH = "1.32.1-gke.1357001"
# docs/releases.md, "Parallel download": 1.29.6-gke.1254000 / 1.30.2-gke.1394000 or later; every release channel
# tpustack knows runs a newer minor (tests/integration/test_weight_paths.py).
GKE_FOR_PARALLEL_DOWNLOADS = "1.30.2-gke.1394000"


def mount_options(only_dir: str | None) -> str:
    """The model volume's mountOptions (one comma-separated string: the driver splits on commas)."""
    scope = () if not only_dir else (f"only-dir={only_dir}",)
    return ",".join((*MODEL_MOUNT_OPTIONS[:1], *scope, *MODEL_MOUNT_OPTIONS[1:]))


def volume_attributes(prefetch: bool) -> dict[str, str]:
    """The model volume's attributes beside bucketName and mountOptions."""
    out = dict(MODEL_VOLUME_ATTRIBUTES)
    if prefetch:
        out[METADATA_PREFETCH_ATTRIBUTE] = "true"
    return out


# ----- Hyperdisk ML, filled once by GKE Volume Populator ----------------------------------------------------------
# GKE docs, "Automate data transfer from Cloud Storage to a Hyperdisk ML volume using GKE Volume Populator"
# (kubernetes-engine/docs/how-to/persistent-volumes/volume-populator-hdml) and the GCPDataSource reference
# (kubernetes-engine/docs/reference/crds/gcpdatasource): a ReadOnlyMany PVC whose dataSourceRef names a
# GCPDataSource (same namespace) is provisioned empty, filled from the gs:// folder by a transfer Job on a node
# of the predefined ComputeClass, then bound; the Persistent Disk CSI driver switches the disk to READ_ONLY_MANY
# when a node first attaches it read-only (gcp-compute-persistent-disk-csi-driver pkg/gce-pd-csi-driver/
# controller.go). Recorded in tests/fixtures/volume_populator/facts.json.
DATASOURCE_GROUP = "datalayer.gke.io"
DATASOURCE_VERSION = "v1"
DATASOURCE_KIND = "GCPDataSource"
# "The gcs-to-hdml-compute-class compute class name is predefined for the transfer Job, and it must be specified
# exactly." Its sample prefers machine families c3, then c3d (tpustack.core.catalog.HDML_TRANSFER_FAMILIES).
TRANSFER_COMPUTE_CLASS = "gcs-to-hdml-compute-class"
# "Your GKE cluster must be running version 1.33.2-gke.4780000 or later."
GKE_FOR_VOLUME_POPULATOR = "1.33.2-gke.4780000"
# Persistent Disk CSI driver (tests/fixtures/pdcsi/facts.json, gcp-compute-persistent-disk-csi-driver@b560165):
# the provisioner, the disk type, the StorageClass parameters and the zone topology key.
PD_CSI_PROVISIONER = "pd.csi.storage.gke.io"
HYPERDISK_ML_TYPE = "hyperdisk-ml"
THROUGHPUT_PARAMETER = "provisioned-throughput-on-create"  # "<N>Mi": MiB/s
MULTI_ZONE_PARAMETER = "enable-multi-zone-provisioning"  # one disk per zone, the same content, one PV
ZONE_TOPOLOGY_KEY = "topology.gke.io/zone"
# The driver's read-ahead mount flag (pkg/gce-pd-csi-driver/node.go, read_ahead_kb=N): 4 MiB read-ahead for
# loading large files sequentially, as GKE's model-serving samples mount ReadOnlyMany weight disks.
HYPERDISK_MOUNT_OPTIONS = ("read_ahead_kb=4096",)
# Compute Engine, "Google Cloud Hyperdisk overview" (updated 2026-08-26): Hyperdisk ML from 400 MiB/s to 2,097,152
# MiB/s per volume (earlier versions of the Hyperdisk ML page: 1,200,000), 4 GiB to 64 TiB. The driver refuses less
# than 0.12 MiB/s per GiB (pkg/common/utils.go minThroughputForML). 2400 MiB/s: GKE's Volume Populator sample.
THROUGHPUT_MIBPS_DEFAULT = 2400
THROUGHPUT_MIBPS_RANGE = (400, 2_097_152)
SIZE_GIB_RANGE = (4, 64 * 1024)
MIN_THROUGHPUT_MIBPS_PER_GIB = 0.12
# Room over the served weights for what the folder holds beside them (tokenizer, configs) and the filesystem.
SIZE_MARGIN = 1.1


def volume_size_gib(weights_gib: float) -> int:
    """The disk a model's folder fits on: weights x margin, rounded up, above the Hyperdisk ML minimum (the
    Volume Populator page: DISK_SIZE "must be larger than 4 Gi")."""
    return max(SIZE_GIB_RANGE[0] + 1, math.ceil(weights_gib * SIZE_MARGIN) + 1)
