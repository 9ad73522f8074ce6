"""The hardening checklist (STYLE.md "Security defaults"), as checks over what a stack declares.

One implementation, three users: `tpustack check --stack S` (over the mock-engine plan), the test suite (every
shipped stack must pass; a weakened plan must fail), and the Pulumi policy pack in ``tpustack/policy/pack``
for a real `pulumi preview --policy-pack tpustack/policy/pack`.

Each check reads resources as ``(urn, type, inputs)`` with camelCase inputs, the shape both the plan and
the policy engine give. Checks that need the stack's intent (deletion protection from config, the
privileged flag) take the config when there is one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tpustack.core import images, names
from tpustack.core.k8s import containers, pod_specs, walk_strings
from tpustack.core.secrets import secret_in

PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
CIS_NODE_ROLE = "roles/container.defaultNodeServiceAccount"
# Whole-policy and authoritative-binding resources replace what others granted; tpustack adds members only.
AUTHORITATIVE_IAM = (
    "/iAMPolicy:",
    "/iAMBinding:",
    "/bucketIAMPolicy:",
    "/bucketIAMBinding:",
    "/iamPolicy:",
    "/iamBinding:",
)
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
TPU_VM = "gcp:tpu/v2Vm:V2Vm"
QUEUED = "gcp:tpu/v2QueuedResource:V2QueuedResource"
BUCKET = "gcp:storage/bucket:Bucket"
SERVICE = "gcp:projects/service:Service"
BILLABLE_LABELS = (names.LABEL_STACK, names.LABEL_EXPIRES, names.LABEL_KEEP)


class Resource(Protocol):
    urn: str
    type: str
    inputs: dict[str, Any]


@dataclass(frozen=True)
class Violation:
    rule: str
    urn: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.urn.rsplit('::', 1)[-1]}: {self.message}"


@dataclass(frozen=True)
class Intent:
    """What the stack's config says, for the checks that depend on it (None: not known, check skipped)."""

    deletion_protection: bool | None = None
    privileged_tpu: bool = False
    experiment: bool = True
    prod: bool = False  # lifecycle.environment prod


def _is_default_compute_sa(email: Any) -> bool:
    return not email or (isinstance(email, str) and email.endswith("-compute@developer.gserviceaccount.com"))


def _node_configs(r: Resource) -> list[dict]:
    nc = r.inputs.get("nodeConfig")
    return [nc] if isinstance(nc, dict) else []


# ----- checks over GCP resources ---------------------------------------------------------------------
def no_primitive_roles(resources: Sequence[Resource], intent: Intent) -> Iterable[Violation]:
    for r in resources:
        role = r.inputs.get("role")
        if role in PRIMITIVE_ROLES:
            yield Violation("no-primitive-roles", r.urn, f"grants {role}; grant a predefined role instead")
        if any(t in r.type for t in AUTHORITATIVE_IAM):
            yield Violation("iam-additive-only", r.urn, f"{r.type} replaces existing grants; use an IAMMember")


def node_sa_has_cis_role(resources: Sequence[Resource], intent: Intent) -> Iterable[Violation]:
    granted = {
        (r.inputs.get("member") or "").removeprefix("serviceAccount:")
        for r in resources
        if r.inputs.get("role") == CIS_NODE_ROLE
    }
    for r in resources:
        if r.type not in (CLUSTER, NODE_POOL):
            continue
        for nc in _node_configs(r):
            sa = nc.get("serviceAccount")
            if _is_default_compute_sa(sa):
                yield Violation(
                    "custom-node-sa",
                    r.urn,
                    "nodes run as the Compute Engine default service "
                    "account (CIS GKE 5.2.1); set nodeConfig.serviceAccount to a custom SA",
                )
            elif sa not in granted:
                yield Violation("custom-node-sa", r.urn, f"node SA {sa} lacks {CIS_NODE_ROLE}")


def workload_identity(resources: Sequence[Resource], intent: Intent) -> Iterable[Violation]:
    for r in resources:
        if r.type == CLUSTER and not (r.inputs.get("workloadIdentityConfig") or {}).get("workloadPool"):
            yield Violation("workload-identity", r.urn, "cluster has no workloadIdentityConfig.workloadPool")
        if r.type in (CLUSTER, NODE_POOL):
            for nc in _node_configs(r):
                if (nc.get("workloadMetadataConfig") or {}).get("mode") != "GKE_METADATA":
                    yield Violation(
                        "gke-metadata",
                        r.urn,
                        "nodeConfig.workloadMetadataConfig.mode is not "
                        "GKE_METADATA: pods could read the node's credentials",
                    )


def shielded_nodes(resources: Sequence[Resource], intent: Intent) -> Iterable[Violation]:
    for r in resources:
        if r.type == CLUSTER and r.inputs.get("enableShieldedNodes") is not True:
            yield Violation("shielded-nodes", r.urn, "enableShieldedNodes is not true")
        if r.type in (CLUSTER, NODE_POOL):
            for nc in _node_configs(r):
                sic = nc.get("shieldedInstanceConfig") or {}
                if not (sic.get("enableSecureBoot") and sic.get("enableIntegrityMonitoring")):
                    yield Violation("shielded-nodes", r.urn, "nodes lack secure boot and integrity monitoring")


def bucket_access(resources: Sequence[Resource], intent: Intent) -> Iterable[Violation]:
    for r in resources:
        if r.type != BUCKET:
            continue
        if r.inputs.get("uniformBucketLevelAccess") is not True:
            yield Violation("bucket-ubla", r.urn, "uniformBucketLevelAccess is not true")
        if r.inputs.get("publicAccessPrevention") != "enforced":
            yield Violation("bucket-pap", r.urn, "publicAccessPrevention is not 'enforced'")
        if intent.experiment:
            yield Violation(
                "results-survive-destroy",
                r.urn,
                "an experiment stack owns a bucket; its "
                "`pulumi destroy` would delete it. Keep results in the results stack",
            )
        elif r.inputs.get("forceDestroy"):
            yield Violation("results-survive-destroy", r.urn, "forceDestroy deletes every object on destroy")
        elif (options := getattr(r, "options", None)) is not None and not options.get("protect"):
            yield Violation("results-survive-destroy", r.urn, "the results bucket is not protected")


def services_stay_enabled(resources: Sequence[Resource], intent: Intent) -> Iterable[Violation]:
    for r in resources:
        if r.type == SERVICE and r.inputs.get("disableOnDestroy") is not False:
            yield Violation(
                "apis-stay-enabled",
                r.urn,
                "disableOnDestroy must be false: other stacks and users of the project rely on the API",
            )


def tpu_vm_service_account(resources: Sequence[Resource], intent: Intent) -> Iterable[Violation]:
    for r in resources:
        if r.type == TPU_VM and _is_default_compute_sa((r.inputs.get("serviceAccount") or {}).get("email")):
            yield Violation("tpu-vm-sa", r.urn, "TPU VM runs as the Compute default SA; set serviceAccount.email")


def deletion_protection(resources: Sequence[Resource], intent: Intent) -> Iterable[Violation]:
    if intent.deletion_protection is None:
        return
    for r in resources:
        if r.type == CLUSTER and bool(r.inputs.get("deletionProtection")) != intent.deletion_protection:
            yield Violation(
                "deletion-protection",
                r.urn,
                f"deletionProtection is {r.inputs.get('deletionProtection')}, config says {intent.deletion_protection}",
            )


def no_credentials_in_inputs(resources: Sequence[Resource], intent: Intent) -> Iterable[Violation]:
    """No token in any resource input (labels, metadata, startup scripts...) but a Kubernetes Secret's data."""
    for r in resources:
        if r.type == "kubernetes:core/v1:Secret" or r.type == "kubernetes:yaml/v2:ConfigGroup":
            continue  # a Secret is where the token belongs; ConfigGroup objects are checked as manifests
        found = sorted({w for w in (secret_in(v) for v in walk_strings(r.inputs)) if w})
        if found:
            yield Violation(
                "credentials-in-secrets-only",
                r.urn,
                f"an input holds {', '.join(found)}; pass credentials as Pulumi secrets into a Kubernetes Secret only",
            )


def prod_is_protected(resources: Sequence[Resource], intent: Intent) -> Iterable[Violation]:
    """A prod stack keeps deletion protection on. Turning it off is how a prod cluster is destroyed on purpose
    (README), so the config allows it; the checklist says so until it is back on."""
    if not intent.prod:
        return
    for r in resources:
        if r.type == CLUSTER and r.inputs.get("deletionProtection") is not True:
            yield Violation(
                "prod-deletion-protection",
                r.urn,
                "a prod cluster without deletion protection; "
                "set lifecycle.deletionProtection true unless you are about to destroy it",
            )


def ttl_labels(resources: Sequence[Resource], intent: Intent) -> Iterable[Violation]:
    for r in resources:
        if r.type == TPU_VM:
            labels = r.inputs.get("labels") or {}
        elif r.type == CLUSTER:
            labels = r.inputs.get("resourceLabels") or {}
        elif r.type == NODE_POOL:
            labels = next(iter(_node_configs(r)), {}).get("resourceLabels") or {}
        else:
            continue
        missing = [k for k in BILLABLE_LABELS if k not in labels]
        if missing:
            yield Violation(
                "ttl-labels", r.urn, f"billable resource lacks labels {missing}; the reaper cannot tell when it expires"
            )


# ----- checks over Kubernetes objects -----------------------------------------------------------------
def unprivileged_tpu_containers(manifests: list[dict], intent: Intent) -> Iterable[Violation]:
    for m in manifests:
        for _, spec in pod_specs(m):
            for c in containers(spec):
                limits = (c.get("resources") or {}).get("limits") or {}
                privileged = (c.get("securityContext") or {}).get("privileged")
                if names.TPU_RESOURCE in limits and privileged and not intent.privileged_tpu:
                    yield Violation(
                        "unprivileged-tpu",
                        _obj_id(m),
                        f"container {c.get('name')} is privileged; "
                        "TPU containers need no privilege on GKE >= 1.28 (set engine.privileged "
                        "only for images that require it)",
                    )


def pinned_images(manifests: list[dict], intent: Intent) -> Iterable[Violation]:
    for m in manifests:
        for _, spec in pod_specs(m):
            for c in containers(spec):
                image = c.get("image") or ""
                if not images.is_pinned(image):
                    yield Violation(
                        "pinned-images",
                        _obj_id(m),
                        f"container {c.get('name')} image '{image}' is not pinned to a version or digest",
                    )


def token_only_in_secret(manifests: list[dict], intent: Intent) -> Iterable[Violation]:
    """The Hugging Face token reaches pods only through secretKeyRef, never as a literal env value."""
    for m in manifests:
        for _, spec in pod_specs(m):
            for c in containers(spec):
                for env in c.get("env") or []:
                    if env.get("name") in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN") and "value" in env:
                        yield Violation(
                            "token-in-secret",
                            _obj_id(m),
                            f"container {c.get('name')} sets {env['name']} as a literal; use valueFrom.secretKeyRef",
                        )


def no_credentials_outside_secrets(manifests: list[dict], intent: Intent) -> Iterable[Violation]:
    """No token in any Kubernetes object but a Secret (args, env values, ConfigMaps, annotations...)."""
    for m in manifests:
        if m.get("kind") == "Secret":
            continue
        found = sorted({w for w in (secret_in(v) for v in walk_strings(m)) if w})
        if found:
            yield Violation(
                "credentials-in-secrets-only",
                _obj_id(m),
                f"holds {', '.join(found)}; credentials reach pods only through a Secret and secretKeyRef",
            )


def compute_classes_hardened(manifests: list[dict], intent: Intent) -> Iterable[Violation]:
    """Node pools GKE creates from a ComputeClass get what the class says, not the cluster's pools' settings: every
    class names the stack's own node service account (CIS GKE 5.2.1, as custom-node-sa for declared pools) and
    creates nodes only when a priority can be had (whenUnsatisfiable DoNotScaleUp, never a general-purpose pool)."""
    for m in manifests:
        if m.get("kind") != "ComputeClass":
            continue
        spec = m.get("spec") or {}
        sa = (spec.get("nodePoolConfig") or {}).get("serviceAccount") or ""
        if not sa or sa.endswith("-compute@developer.gserviceaccount.com"):
            yield Violation(
                "custom-node-sa",
                _obj_id(m),
                "nodes of this ComputeClass would run as the Compute Engine default service account; set "
                "nodePoolConfig.serviceAccount to the stack's node service account",
            )
        if spec.get("whenUnsatisfiable") != "DoNotScaleUp":
            yield Violation(
                "compute-class-scale-up",
                _obj_id(m),
                "whenUnsatisfiable is not DoNotScaleUp: with no priority available GKE may scale up a general-purpose "
                "pool the accelerator pods cannot use",
            )


def _obj_id(m: dict) -> str:
    meta = m.get("metadata") or {}
    return f"{m.get('kind')}::{meta.get('namespace', 'default')}/{meta.get('name')}"


RESOURCE_CHECKS: list[Callable[[Sequence[Resource], Intent], Iterable[Violation]]] = [
    no_primitive_roles,
    node_sa_has_cis_role,
    workload_identity,
    shielded_nodes,
    bucket_access,
    services_stay_enabled,
    tpu_vm_service_account,
    deletion_protection,
    ttl_labels,
    no_credentials_in_inputs,
    prod_is_protected,
]
MANIFEST_CHECKS: list[Callable[[list[dict], Intent], Iterable[Violation]]] = [
    unprivileged_tpu_containers,
    pinned_images,
    token_only_in_secret,
    no_credentials_outside_secrets,
    compute_classes_hardened,
]


def check(resources: Sequence[Resource], manifests: list[dict], intent: Intent = Intent()) -> list[Violation]:
    out: list[Violation] = []
    for rc in RESOURCE_CHECKS:
        out.extend(rc(resources, intent))
    for mc in MANIFEST_CHECKS:
        out.extend(mc(manifests, intent))
    return out


def intent_of(cfg) -> Intent:
    return Intent(
        deletion_protection=cfg.lifecycle.protected if cfg.target == "gke" else None,
        privileged_tpu=bool(cfg.engine and cfg.engine.privileged),
        experiment=cfg.is_experiment,
        prod=cfg.lifecycle.environment == "prod" and cfg.target == "gke",
    )


def check_plan(p, cfg) -> list[Violation]:
    """Run every check over a mock-engine plan of a stack."""
    return check(p.resources, p.manifests, intent_of(cfg))


@dataclass
class AdaptedResource:
    urn: str
    type: str
    inputs: dict[str, Any]
    options: dict[str, Any]


def adapt_policy_resources(policy_resources) -> tuple[list[AdaptedResource], list[dict]]:
    """Policy-engine resources (``resource_type``, ``props``, ``urn``, ``opts.protect``) -> the checks'
    shape, plus the Kubernetes objects they carry (ConfigGroup ``objs`` and typed resources)."""
    resources: list[AdaptedResource] = []
    manifests: list[dict] = []
    for pr in policy_resources:
        props = dict(pr.props or {})
        opts = getattr(pr, "opts", None)
        resources.append(
            AdaptedResource(
                urn=pr.urn,
                type=pr.resource_type,
                inputs=props,
                options={"protect": bool(getattr(opts, "protect", False))},
            )
        )
        if pr.resource_type == "kubernetes:yaml/v2:ConfigGroup":
            manifests.extend(o for o in props.get("objs") or [] if isinstance(o, dict))
        elif pr.resource_type.startswith("kubernetes:") and "kind" in props and "apiVersion" in props:
            manifests.append(props)
    return resources, manifests
