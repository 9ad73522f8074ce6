"""Identity: a stack's service accounts and their IAM, least privilege, additive only.

``GkeIdentity`` (gke stacks):
- node SA: ``roles/container.defaultNodeServiceAccount`` (CIS GKE Benchmark 5.2.1: nodes must not run as the
  Compute Engine default SA) and ``roles/artifactregistry.reader`` to pull private images. Nothing else.
- workload SA: what serving and benchmark pods act as through Workload Identity (``bind_workload_identity``
  once the cluster exists; the principal is the stack's own namespace and KSA): create and read objects only
  under the stack's own folder of the results bucket, replace objects only under the stack's compile-cache
  folder, read the model bucket when weights come from ``gs://``, and create objects (never replace them) only
  under the model's staging folder when the stack stages Hub weights there (``model.stage``).
- the Hyperdisk ML fill (``model.weights: hyperdisk-ml``): GKE Volume Populator reads the model bucket as the
  stack's own fill KSA, granted ``roles/storage.objectViewer`` on that bucket directly (its Workload Identity
  principal ``principal://.../subject/ns/NS/sa/KSA``, as GKE's volume-populator-hdml page grants it; no service
  account to act as), once the cluster exists (``bind_weights_fill``).
- metrics SA (stacks with an HPA): ``roles/monitoring.viewer`` in the project, acted as by the Custom Metrics
  Stackdriver Adapter's KSA (``bind_metrics_adapter``); nothing else. No delete elsewhere, so a run cannot erase an
  earlier one, and no stack can read or touch another stack's objects.
``TpuVmIdentity`` (tpu-vm stacks): an explicit account for the TPU VM (never the Compute default): read its
workload code and create results, again only under the stack's folders; log and metric writer.

Bucket grants are scoped with IAM conditions on ``resource.name`` (objects) and the
``storage.googleapis.com/objectListPrefix`` API attribute (listing only under the prefix), as Cloud Storage's
IAM Conditions support; object names (not contents) of other folders stay unlistable.

Both share the type token ``tpustack:identity:Identity`` (one identity per stack). Every grant is an
``IAMMember`` (project, bucket or service-account level); nothing replaces a policy and nothing grants a
primitive role. Deliberately not done: the operator's own roles (Service Account Admin, Project IAM Admin, TPU
Admin), which the person running `pulumi up` must already hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import cast

import pulumi
import pulumi_gcp as gcp

from tpustack.core import names

from .base import inherited_depends_on

TYPE = "tpustack:identity:Identity"
NODE_ROLES = ["roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"]
TPU_VM_ROLES = ["roles/logging.logWriter", "roles/monitoring.metricWriter"]
MODEL_ROLES = ["roles/storage.objectViewer"]
# The Custom Metrics Stackdriver Adapter reads Cloud Monitoring (GKE docs, custom-metrics autoscaling: "grant the
# adapter's service account roles/monitoring.viewer").
ADAPTER_ROLE = "roles/monitoring.viewer"
# Roles whose permissions include storage.objects.list: their condition also allows listing under the prefixes.
LISTING_ROLES = {"roles/storage.objectViewer", "roles/storage.objectUser"}
# Object-name prefixes go into a CEL expression between quotes: letters, digits and _ . / - only.
_PREFIX = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*/$")


@dataclass(frozen=True)
class BucketScope:
    """Folders of the results bucket an account may use, per role (each folder ends with '/')."""

    create: list[str]  # roles/storage.objectCreator: new objects only
    read: list[str]  # roles/storage.objectViewer: get, and list under the folder
    rewrite: list[str] = field(default_factory=list)  # roles/storage.objectUser: replace and delete (caches)

    def by_role(self) -> dict[str, list[str]]:
        roles = {
            "roles/storage.objectCreator": self.create,
            "roles/storage.objectViewer": self.read,
            "roles/storage.objectUser": self.rewrite,
        }
        return {r: p for r, p in roles.items() if p}


def prefix_condition(bucket: pulumi.Input[str], role: str, prefixes: list[str]) -> pulumi.Output[dict[str, str]]:
    """An IAM condition that limits a bucket role to objects under ``prefixes`` (and listing under them)."""
    for p in prefixes:
        if not _PREFIX.fullmatch(p):
            raise ValueError(f"prefix {p!r} is not a folder of [A-Za-z0-9_./-] ending in '/'")

    def expression(b: str) -> str:
        terms = [f'resource.name.startsWith("projects/_/buckets/{b}/objects/{p}")' for p in prefixes]
        if role in LISTING_ROLES:
            terms += [
                f'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{p}")' for p in prefixes
            ]
        return " || ".join(terms)

    return pulumi.Output.from_input(bucket).apply(
        lambda b: {
            "title": f"tpustack-{role.rsplit('.', 1)[-1].lower()}-scope",
            "description": "only under " + ", ".join(prefixes),
            "expression": expression(b),
        }
    )


@dataclass(frozen=True)
class Account:
    """One service account to create: its id and what it is for."""

    account_id: str
    display_name: str


@dataclass(frozen=True, kw_only=True)
class GkeIdentityArgs:
    project: str
    node: Account
    workload: Account
    results_bucket: pulumi.Input[str]
    results_scope: BucketScope
    model_bucket: str | None
    # The Workload Identity principal allowed to act as the workload SA.
    workload_identity_member: str
    # With an HPA: the Custom Metrics Stackdriver Adapter's GSA (roles/monitoring.viewer) and its KSA's principal.
    metrics_adapter: Account | None = None
    metrics_adapter_member: str | None = None
    # The model bucket's folder the weights staging Job creates objects in (model.stage), ending in '/'.
    model_stage: str | None = None
    # The Kubernetes service account GKE Volume Populator fills the Hyperdisk ML volume as: (namespace, name).
    weights_fill_ksa: tuple[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class TpuVmIdentityArgs:
    project: str
    tpu_vm: Account
    results_bucket: pulumi.Input[str]
    results_scope: BucketScope
    model_bucket: str | None


def refuse_weights_in_results(results_bucket: pulumi.Input[str], model_bucket: str | None) -> None:
    """Weights in the results bucket would need read access to all of it, every stack's results included: refused
    (the config rules refuse model.id there before any resource; a bucket name known only later fails the
    deployment when it resolves)."""

    def check(bucket: str) -> str:
        if model_bucket is not None and bucket == model_bucket:
            raise ValueError(
                f"model weights in the results bucket {bucket}: reading them needs read access to every stack's "
                "results there; keep weights in a bucket of their own"
            )
        return bucket

    if isinstance(results_bucket, str):
        check(results_bucket)
    else:
        pulumi.Output.from_input(cast(pulumi.Output[str], results_bucket)).apply(check)


class _IdentityBase(pulumi.ComponentResource):
    def __init__(self, name: str, project: str, opts: pulumi.ResourceOptions | None):
        super().__init__(TYPE, name, None, opts)
        self._name, self._project = name, project
        self._deps = inherited_depends_on(opts)

    def _account(self, role: str, account: Account) -> gcp.serviceaccount.Account:
        return gcp.serviceaccount.Account(
            f"{self._name}-{role}",
            project=self._project,
            account_id=account.account_id,
            display_name=account.display_name,
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._deps),
        )

    def _project_member(self, who: str, role: str, sa: gcp.serviceaccount.Account) -> gcp.projects.IAMMember:
        return gcp.projects.IAMMember(
            f"{self._name}-{who}-{role.split('/')[-1]}",
            project=self._project,
            role=role,
            member=sa.member,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _scoped_members(
        self, who: str, bucket: pulumi.Input[str], scope: BucketScope, sa: gcp.serviceaccount.Account
    ) -> list[gcp.storage.BucketIAMMember]:
        names = {"roles/storage.objectUser": f"{self._name}-{who}-compile-cache"}
        return [
            gcp.storage.BucketIAMMember(
                names.get(role, f"{self._name}-{who}-{role.split('/')[-1]}"),
                bucket=bucket,
                role=role,
                member=sa.member,
                condition=prefix_condition(bucket, role, prefixes),  # type: ignore[arg-type]
                opts=pulumi.ResourceOptions(parent=self),
            )
            for role, prefixes in scope.by_role().items()
        ]

    def _bucket_members(
        self, who: str, bucket: pulumi.Input[str], roles: list[str], sa: gcp.serviceaccount.Account
    ) -> list[gcp.storage.BucketIAMMember]:
        return [
            gcp.storage.BucketIAMMember(
                f"{self._name}-{who}-{role.split('/')[-1]}",
                bucket=bucket,
                role=role,
                member=sa.member,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for role in roles
        ]


class GkeIdentity(_IdentityBase):
    node_service_account: pulumi.Output[str]  # email
    workload_service_account: pulumi.Output[str]  # email

    def __init__(self, name: str, args: GkeIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        pool = re.escape(f"{args.project}.svc.id.goog")
        if not re.fullmatch(rf"serviceAccount:{pool}\[[a-z0-9-]+/[a-z0-9-]+\]", args.workload_identity_member):
            raise ValueError(
                f"GkeIdentity: {args.workload_identity_member!r} is not a Kubernetes service account of project "
                f"{args.project}'s Workload Identity pool (serviceAccount:{args.project}.svc.id.goog[NS/KSA])"
            )
        refuse_weights_in_results(args.results_bucket, args.model_bucket)
        super().__init__(name, args.project, opts)
        self._args = args
        node_sa = self._account("node", args.node)
        for role in NODE_ROLES:
            self._project_member("node", role, node_sa)
        self._workload_sa = self._account("wl", args.workload)
        self._scoped_members("wl", args.results_bucket, args.results_scope, self._workload_sa)
        if args.model_bucket is not None:
            self._bucket_members("wl-model", args.model_bucket, MODEL_ROLES, self._workload_sa)
            if args.model_stage is not None:  # new objects only, and only under the staging folder
                stage = BucketScope(create=[args.model_stage], read=[])
                self._scoped_members("wl-stage", args.model_bucket, stage, self._workload_sa)
        self._adapter_sa = None
        if args.metrics_adapter is not None:
            self._adapter_sa = self._account("metrics", args.metrics_adapter)
            self._project_member("metrics", ADAPTER_ROLE, self._adapter_sa)
        self.node_service_account = node_sa.email
        self.workload_service_account = self._workload_sa.email
        self.register_outputs({"nodeServiceAccount": node_sa.email, "workloadServiceAccount": self._workload_sa.email})

    def bind_workload_identity(self, cluster: pulumi.Resource) -> gcp.serviceaccount.IAMMember:
        """Let the serving KSA act as the workload SA. Needs the cluster: the identity pool PROJECT.svc.id.goog
        exists only once a Workload Identity cluster does."""
        return gcp.serviceaccount.IAMMember(
            f"{self._name}-wl-wi",
            service_account_id=self._workload_sa.name,
            role="roles/iam.workloadIdentityUser",
            member=self._args.workload_identity_member,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]),
        )

    def bind_metrics_adapter(self, cluster: pulumi.Resource) -> gcp.serviceaccount.IAMMember | None:
        """Let the metrics adapter's KSA (custom-metrics/custom-metrics-stackdriver-adapter) act as its GSA; None
        when the stack has no HPA."""
        if self._adapter_sa is None or self._args.metrics_adapter_member is None:
            return None
        return gcp.serviceaccount.IAMMember(
            f"{self._name}-metrics-wi",
            service_account_id=self._adapter_sa.name,
            role="roles/iam.workloadIdentityUser",
            member=self._args.metrics_adapter_member,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]),
        )

    def bind_weights_fill(self, cluster: pulumi.Resource) -> gcp.storage.BucketIAMMember | None:
        """Let GKE Volume Populator read the model bucket as the fill KSA (None without a Hyperdisk ML volume).
        The member is the KSA's own Workload Identity principal, which names the project by number; the pool
        exists once a Workload Identity cluster does."""
        a = self._args
        if a.weights_fill_ksa is None or a.model_bucket is None:
            return None
        namespace, ksa = a.weights_fill_ksa
        number = gcp.organizations.get_project_output(project_id=a.project).number
        return gcp.storage.BucketIAMMember(
            f"{self._name}-fill-model-objectViewer",
            bucket=a.model_bucket,
            role=MODEL_ROLES[0],
            member=number.apply(lambda n: names.wi_principal(str(n), a.project, namespace, ksa)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]),
        )


class TpuVmIdentity(_IdentityBase):
    service_account: pulumi.Output[str]  # email

    def __init__(self, name: str, args: TpuVmIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        refuse_weights_in_results(args.results_bucket, args.model_bucket)
        super().__init__(name, args.project, opts)
        sa = self._account("tpu", args.tpu_vm)
        for role in TPU_VM_ROLES:
            self._project_member("tpu", role, sa)
        self._scoped_members("tpu", args.results_bucket, args.results_scope, sa)
        if args.model_bucket is not None:
            self._bucket_members("tpu-model", args.model_bucket, MODEL_ROLES, sa)
        self.service_account = sa.email
        self.register_outputs({"tpuVmServiceAccount": sa.email})
