"""Kubernetes names, label keys and resource keys: the one place they are spelled.

Sources: GKE TPU docs ("Deploy TPU workloads in GKE Standard": node labels
cloud.google.com/gke-tpu-accelerator and cloud.google.com/gke-tpu-topology, resource google.com/tpu),
GKE GPU docs (cloud.google.com/gke-accelerator, nvidia.com/gpu), Workload Identity docs
(iam.gke.io/gcp-service-account annotation, PROJECT.svc.id.goog[NS/KSA] member).
"""

from __future__ import annotations

# Node labels GKE sets on accelerator nodes; nodeSelectors must match them.
TPU_ACCELERATOR_LABEL = "cloud.google.com/gke-tpu-accelerator"
TPU_TOPOLOGY_LABEL = "cloud.google.com/gke-tpu-topology"
GPU_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
SPOT_LABEL = "cloud.google.com/gke-spot"
NODEPOOL_LABEL = "cloud.google.com/gke-nodepool"

# Extended resources the device plugins advertise.
TPU_RESOURCE = "google.com/tpu"
GPU_RESOURCE = "nvidia.com/gpu"

# Workload Identity.
WI_ANNOTATION = "iam.gke.io/gcp-service-account"


def wi_member(project: str, namespace: str, ksa: str) -> str:
    """The IAM member a Kubernetes service account acts as under Workload Identity."""
    return f"serviceAccount:{project}.svc.id.goog[{namespace}/{ksa}]"


# Where tpustack's workloads live in the cluster.
NAMESPACE = "tpustack"
SERVING_KSA = "tpustack-serving"  # the serving and benchmark pods run as this KSA
HF_SECRET = "hf-token"  # Kubernetes Secret holding the Hugging Face token
HF_SECRET_KEY = "token"

# Labels tpustack puts on what it creates (GCP labels and Kubernetes labels share these values).
LABEL_STACK = "tpustack-stack"
LABEL_EXPIRES = "tpustack-expires"  # unix seconds, as a GCP label value
LABEL_KEEP = "tpustack-keep"
LABEL_APP = "app.kubernetes.io/name"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"

# Bucket prefix of the XLA/JAX compile cache (GCS FUSE, one directory per stack). The serving KSA may replace
# objects only under it; results elsewhere in the bucket stay write-once.
COMPILE_CACHE_PREFIX = "xla-cache"
