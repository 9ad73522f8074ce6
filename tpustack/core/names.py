"""Names, labels and keys: the one place each is spelled, so components, manifests, the reaper and the
policy checks agree.

GCP limits: service account ids 6-30 chars, GKE cluster and node pool names <= 40, TPU node ids <= 63,
GCP label values <= 63 of [a-z0-9_-]; Kubernetes label values <= 63 of [A-Za-z0-9._-], alphanumeric at both
ends. Long stack names are shortened with a stable hash suffix so two stacks never collide and a name never
changes between `pulumi up`s.

Kubernetes sources: GKE TPU docs ("Deploy TPU workloads in GKE Standard": node labels
cloud.google.com/gke-tpu-accelerator and cloud.google.com/gke-tpu-topology, resource google.com/tpu), GKE GPU
docs (cloud.google.com/gke-accelerator, nvidia.com/gpu), Workload Identity docs
(iam.gke.io/gcp-service-account annotation, PROJECT.svc.id.goog[NS/KSA] member).
"""

from __future__ import annotations

import hashlib
import re

# ----- labels tpustack puts on what it creates (GCP labels and Kubernetes labels share these keys) ------
LABEL_STACK = "tpustack-stack"
LABEL_EXPIRES = "tpustack-expires"  # unix seconds, as a GCP label value
LABEL_KEEP = "tpustack-keep"
LABEL_APP = "app.kubernetes.io/name"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
# What GKE's own samples label inference pods with (kubernetes-engine-samples ai-ml/llm-serving-*/vllm/*.yaml).
GKE_MODEL_LABEL = "ai.gke.io/model"
GKE_SERVER_LABEL = "ai.gke.io/inference-server"

# ----- node labels GKE sets on accelerator nodes; nodeSelectors must match them ---------------------------
TPU_ACCELERATOR_LABEL = "cloud.google.com/gke-tpu-accelerator"
TPU_TOPOLOGY_LABEL = "cloud.google.com/gke-tpu-topology"
GPU_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
SPOT_LABEL = "cloud.google.com/gke-spot"
NODEPOOL_LABEL = "cloud.google.com/gke-nodepool"

# ----- extended resources the device plugins advertise -----------------------------------------------------
TPU_RESOURCE = "google.com/tpu"
GPU_RESOURCE = "nvidia.com/gpu"
ACCELERATOR_RESOURCES = (TPU_RESOURCE, GPU_RESOURCE)

# ----- Workload Identity -----------------------------------------------------------------------------------
WI_ANNOTATION = "iam.gke.io/gcp-service-account"

# ----- where tpustack's workloads live in the cluster ----------------------------------------------------------
NAMESPACE = "tpustack"
SERVING_KSA = "tpustack-serving"  # the serving and benchmark pods run as this KSA
HF_SECRET = "hf-token"  # Kubernetes Secret holding the Hugging Face token
HF_SECRET_KEY = "token"

# Bucket prefix of the XLA/JAX compile cache (GCS FUSE, one directory per stack). The serving KSA may replace
# objects only under it; results elsewhere in the bucket stay write-once.
COMPILE_CACHE_PREFIX = "xla-cache"
# Bucket prefix of the workload code a TPU VM copies at boot.
WORKLOADS_PREFIX = "_workloads"

# ----- pulumi-kubernetes await annotations ---------------------------------------------------------------------
# How long `pulumi up` waits for readiness, on which condition for a custom resource (the LWS controller sets
# condition Available), and "do not wait" for Jobs that run for hours.
PULUMI_TIMEOUT = "pulumi.com/timeoutSeconds"
PULUMI_WAIT_FOR = "pulumi.com/waitFor"
PULUMI_SKIP_AWAIT = "pulumi.com/skipAwait"

# kubernetes-sigs/lws api/leaderworkerset/v1/leaderworkerset_types.go
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
LWS_EXCLUSIVE_TOPOLOGY = "leaderworkerset.sigs.k8s.io/exclusive-topology"


def wi_member(project: str, namespace: str, ksa: str) -> str:
    """The IAM member a Kubernetes service account acts as under Workload Identity."""
    return f"serviceAccount:{project}.svc.id.goog[{namespace}/{ksa}]"


# ----- names of GCP resources ------------------------------------------------------------------------------------
def slug(text: str, limit: int) -> str:
    """Lowercase [a-z0-9-], starting with a letter, at most ``limit`` chars, stable for the same text."""
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"
    if not s[0].isalpha():
        s = "s" + s
    if len(s) <= limit:
        return s
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{s[: limit - 7].rstrip('-')}-{digest}"


def resource_name(stack: str, suffix: str = "", limit: int = 40) -> str:
    """``tps-<stack>[-suffix]`` within ``limit`` characters (GKE cluster/pool, TPU VM names)."""
    tail = f"-{suffix}" if suffix else ""
    return slug(f"tps-{stack}", limit - len(tail)) + tail


def account_id(stack: str, role: str) -> str:
    """Service account id (6-30 chars) for one role of a stack: tps-<stack>-<role>."""
    return resource_name(stack, role, limit=30)


# ----- label values ---------------------------------------------------------------------------------------------
def label_value(text: str) -> str:
    """A GCP label value: lowercase [a-z0-9_-], at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower())[:63]


def k8s_label_value(text: str) -> str:
    """A Kubernetes label value: [A-Za-z0-9._-], at most 63, alphanumeric at both ends."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:63].strip("-._") or "x"


def stack_labels(stack: str, user: dict[str, str], keep: bool) -> dict[str, str]:
    """Labels on every billable resource; the expiry label is added from the stack's Offset (Lifecycle)."""
    return {**user, LABEL_STACK: label_value(stack), LABEL_KEEP: "true" if keep else "false", "managed-by": "tpustack"}


def common_k8s_labels(stack: str) -> dict[str, str]:
    """Labels on every Kubernetes object tpustack creates."""
    return {LABEL_PART_OF: "tpustack", LABEL_MANAGED_BY: "pulumi", LABEL_STACK: label_value(stack)}


def gcs_split(uri: str) -> tuple[str, str]:
    """(bucket, path) of a gs:// URI, the path without leading or trailing slashes."""
    bucket, _, path = uri.removeprefix("gs://").partition("/")
    return bucket, path.strip("/")
