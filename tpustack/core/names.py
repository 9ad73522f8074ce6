"""Names, labels and keys: the one place each is spelled, so components, manifests, the reaper and the
policy checks agree.

GCP limits: service account ids 6-30 chars, GKE cluster and node pool names <= 40, TPU node ids <= 63,
GCP label values <= 63 of [a-z0-9_-]; Kubernetes label values <= 63 of [A-Za-z0-9._-], alphanumeric at both
ends; namespaces are DNS labels (<= 63 of [a-z0-9-]). A name that had to be changed to fit (shortened, lowercased,
punctuation replaced) gets a stable hash of the original, so stacks whose names differ only in case or
punctuation (``My_Stack``, ``my-stack``) never share a resource, a label value or a namespace, and a name never
changes between `pulumi up`s. Names that already fit are used as they are.

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
# GKE custom ComputeClass: pods select one by this node label (GKE docs, about-custom-compute-classes).
COMPUTE_CLASS_LABEL = "cloud.google.com/compute-class"
# Every serving variant's pods carry this label (value: the server name); the Service and the InferencePool select
# on it, so they reach whichever variant has capacity. LABEL_VARIANT tells the variants apart.
LABEL_SERVING = "tpustack.dev/serving"
LABEL_VARIANT = "tpustack.dev/variant"

# ----- extended resources the device plugins advertise -----------------------------------------------------
TPU_RESOURCE = "google.com/tpu"
GPU_RESOURCE = "nvidia.com/gpu"
ACCELERATOR_RESOURCES = (TPU_RESOURCE, GPU_RESOURCE)

# ----- Workload Identity -----------------------------------------------------------------------------------
WI_ANNOTATION = "iam.gke.io/gcp-service-account"

# ----- where tpustack's workloads live in the cluster ----------------------------------------------------------
# Each stack has its own namespace (namespace(stack)), so each workload SA trusts only its own Workload Identity
# principal PROJECT.svc.id.goog[tpustack-<stack>/tpustack-serving].
NAMESPACE_PREFIX = "tpustack-"
SERVING_KSA = "tpustack-serving"  # the serving and benchmark pods run as this KSA
HF_SECRET = "hf-token"  # Kubernetes Secret holding the Hugging Face token
HF_SECRET_KEY = "token"

# Bucket prefix of the XLA/JAX compile cache (GCS FUSE, one directory per stack). The serving KSA may replace
# objects only under it; results elsewhere in the bucket stay write-once.
COMPILE_CACHE_PREFIX = "xla-cache"
# Bucket prefix of the workload code a TPU VM copies at boot.
WORKLOADS_PREFIX = "_workloads"

# The OAuth scope of every VM tpustack creates (GKE nodes, TPU VMs): access is governed by IAM roles, not scopes
# (GKE hardening guide, "use the cloud-platform scope with a custom service account").
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# A GCP project id: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter, not ending
# with a hyphen (cloud.google.com/resource-manager/docs/creating-managing-projects).
PROJECT_ID_PATTERN = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
# TPU nodes and queued-resource node specs carry labels only where pulumi-gcp can set them; their description
# always says whose they are (tpustack.components.tpu_vm writes it, the reaper reads it).
TPU_VM_DESCRIPTION_PREFIX = "tpustack stack "

# ----- pulumi-kubernetes await annotations ---------------------------------------------------------------------
# How long `pulumi up` waits for readiness, on which condition for a custom resource (the LWS controller sets
# condition Available), and "do not wait" for Jobs that run for hours.
PULUMI_TIMEOUT = "pulumi.com/timeoutSeconds"
PULUMI_WAIT_FOR = "pulumi.com/waitFor"
PULUMI_SKIP_AWAIT = "pulumi.com/skipAwait"
# pulumi-kubernetes yaml/v2 (ConfigGroup): objects of one group wait for those this names, comma-separated
# `<group>/namespaces/<ns>/<kind>/<name>` or `<group>/<kind>/<name>` (core group: empty); deletion is in reverse.
DEPENDS_ON = "config.kubernetes.io/depends-on"

# kubernetes-sigs/lws api/leaderworkerset/v1/leaderworkerset_types.go
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
LWS_EXCLUSIVE_TOPOLOGY = "leaderworkerset.sigs.k8s.io/exclusive-topology"


def wi_member(project: str, namespace: str, ksa: str) -> str:
    """The IAM member a Kubernetes service account acts as under Workload Identity."""
    return f"serviceAccount:{project}.svc.id.goog[{namespace}/{ksa}]"


def wi_principal(project_number: str, project: str, namespace: str, ksa: str) -> str:
    """The IAM principal of a Kubernetes service account itself (Workload Identity Federation for GKE, direct
    resource access: no service account to act as); IAM names the project by number there."""
    pool = f"{project}.svc.id.goog"
    return (
        f"principal://iam.googleapis.com/projects/{project_number}/locations/global/workloadIdentityPools/{pool}"
        f"/subject/ns/{namespace}/sa/{ksa}"
    )


# ----- names of GCP resources ------------------------------------------------------------------------------------
def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def digest(*parts: object) -> str:
    """Six hex characters naming what ``parts`` are: objects whose content cannot change in place (a filled
    volume) carry it in their name, so a change creates a new one beside the old."""
    return _digest("\x1f".join(str(p) for p in parts))


def slug(text: str, limit: int) -> str:
    """Lowercase [a-z0-9-], starting with a letter, at most ``limit`` chars; unique and stable per text: when
    the text had to change to fit, a hash of the original is appended."""
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"
    if not s[0].isalpha():
        s = "s" + s
    if s == text and len(s) <= limit:
        return s
    return f"{s[: limit - 7].rstrip('-')}-{_digest(text)}"


def resource_name(stack: str, suffix: str = "", limit: int = 40) -> str:
    """``tps-<stack>[-suffix]`` within ``limit`` characters (GKE cluster/pool, TPU VM names)."""
    tail = f"-{suffix}" if suffix else ""
    return slug(f"tps-{stack}", limit - len(tail)) + tail


def account_id(stack: str, role: str) -> str:
    """Service account id (6-30 chars) for one role of a stack: tps-<stack>-<role>."""
    return resource_name(stack, role, limit=30)


def account_email(stack: str, role: str, project: str) -> str:
    """The email of the stack's service account for ``role`` (account_id), as GCP forms it."""
    return f"{account_id(stack, role)}@{project}.iam.gserviceaccount.com"


# ----- label values ---------------------------------------------------------------------------------------------
def label_value(text: str) -> str:
    """A GCP label value: lowercase [a-z0-9_-], at most 63 characters (hashed when it had to change)."""
    v = re.sub(r"[^a-z0-9_-]+", "-", text.lower())
    if v == text and len(v) <= 63:
        return v
    return f"{v[:56]}-{_digest(text)}"


def k8s_label_value(text: str) -> str:
    """A Kubernetes label value: [A-Za-z0-9._-], at most 63, alphanumeric at both ends (hashed when it had to
    change)."""
    v = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    if v == text and len(v) <= 63 and v[:1].isalnum() and v[-1:].isalnum():
        return v
    return f"{v[:56].strip('-._') or 'x'}-{_digest(text)}"


def namespace(stack: str) -> str:
    """The stack's Kubernetes namespace (a DNS label): tpustack-<stack>."""
    return slug(f"{NAMESPACE_PREFIX}{stack}", 63)


def stack_dir(stack: str) -> str:
    """The stack's folder in the results bucket: every object a stack writes lives under it."""
    return label_value(stack)


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


def tpu_vm_description(stack: str) -> str:
    return f"{TPU_VM_DESCRIPTION_PREFIX}{stack}"


def service_url(service: str, namespace: str, port: int | None = None) -> str:
    """The in-cluster URL of a Service (cluster DNS: <service>.<namespace>.svc.cluster.local)."""
    return f"http://{service}.{namespace}.svc.cluster.local" + (f":{port}" if port is not None else "")


def compute_class(stack: str, variant: str) -> str:
    """A variant's ComputeClass (cluster-scoped, so the stack is in the name; may not start with gke)."""
    return resource_name(stack, variant, limit=63)


# GKE Inference Gateway objects live in the stack's own namespace, so their names need no stack in them.
GATEWAY_NAME = "inference-gateway"
POOL_NAME = "serving-pool"  # the InferencePool, and the Helm release of the inferencepool chart that makes it


# ----- DNS (the gateway's geolocation record) -------------------------------------------------------------------------
# Cloud DNS: a managed zone's name (cloud.google.com/dns/docs/zones: "1-63 characters ... lowercase letters, numbers
# and dashes, start with a letter, end with a letter or number"); a host name's label (RFC 1123 section 2.1).
DNS_ZONE_RE = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
DNS_LABEL_RE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?")


def dns_name_problem(v: str) -> str | None:
    """What makes ``v`` no RFC 1123 host name (a trailing dot allowed, a leading ``*.`` wildcard too), or None.
    The trailing dot itself is a rule of its own (tpustack.config.rules.stack: it names the fix)."""
    name = v[:-1] if v.endswith(".") else v
    if not name:
        return "it is empty"
    if len(name) > 253:
        return f"{len(name)} characters, at most 253"
    labels = name.split(".")
    if len(labels) < 2:
        return "a record needs a name within a domain, at least two labels"
    for i, label in enumerate(labels):
        if i == 0 and label == "*":
            continue
        if not DNS_LABEL_RE.fullmatch(label):
            return f"label {repr(label[:70])} is not 1-63 letters, digits and inner '-'"
    return None
