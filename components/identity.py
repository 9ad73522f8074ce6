"""Identity: a stack's service accounts and their IAM, least privilege, additive only.

``GkeIdentity`` (gke stacks):
- node SA: ``roles/container.defaultNodeServiceAccount`` (CIS GKE Benchmark 5.2.1: nodes must not run as the
  Compute Engine default SA) and ``roles/artifactregistry.reader`` to pull private images. Nothing else.
- workload SA: what serving and benchmark pods act as through Workload Identity (``bind_workload_identity``
  once the cluster exists): create and read objects in the results bucket, read the model bucket when weights
  come from ``gs://``, replace objects only under the compile-cache prefix. No delete elsewhere, so a run
  cannot erase an earlier one.
``TpuVmIdentity`` (tpu-vm stacks): an explicit account for the TPU VM (never the Compute default): results
bucket create/read, log and metric writer.

Both share the type token ``tpustack:identity:Identity`` (one identity per stack). Every grant is an
``IAMMember`` (project, bucket or service-account level); nothing replaces a policy and nothing grants a
primitive role. Deliberately not done: the operator's own roles (Service Account Admin, Project IAM Admin, TPU
Admin), which the person running `pulumi up` must already hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from .base import inherited_depends_on

TYPE = "tpustack:identity:Identity"
NODE_ROLES = ["roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"]
TPU_VM_ROLES = ["roles/logging.logWriter", "roles/monitoring.metricWriter"]
RESULTS_ROLES = ["roles/storage.objectCreator", "roles/storage.objectViewer"]
MODEL_ROLES = ["roles/storage.objectViewer"]


@dataclass(frozen=True)
class Account:
    """One service account to create: its id and what it is for."""

    account_id: str
    display_name: str


@dataclass(frozen=True)
class GkeIdentityArgs:
    project: str
    node: Account
    workload: Account
    results_bucket: pulumi.Input[str]
    model_bucket: str | None
    # The compile cache prefix (gs://BUCKET/<prefix>/) the workload SA may rewrite, or None.
    compile_cache_prefix: str | None
    # The Workload Identity principal allowed to act as the workload SA.
    workload_identity_member: str


@dataclass(frozen=True)
class TpuVmIdentityArgs:
    project: str
    tpu_vm: Account
    results_bucket: pulumi.Input[str]
    model_bucket: str | None


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
        super().__init__(name, args.project, opts)
        self._args = args
        node_sa = self._account("node", args.node)
        for role in NODE_ROLES:
            self._project_member("node", role, node_sa)
        self._workload_sa = self._account("wl", args.workload)
        self._bucket_members("wl", args.results_bucket, RESULTS_ROLES, self._workload_sa)
        if args.model_bucket is not None:
            self._bucket_members("wl-model", args.model_bucket, MODEL_ROLES, self._workload_sa)
        if args.compile_cache_prefix is not None:
            self._compile_cache_member(args.results_bucket, args.compile_cache_prefix)
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

    def _compile_cache_member(self, bucket: pulumi.Input[str], prefix: str) -> gcp.storage.BucketIAMMember:
        """The compile cache rewrites its entries (GCS FUSE renames = copy + delete): objectUser, but only under
        the cache prefix, through an IAM condition; results stay create-only."""
        resource_prefix = pulumi.Output.concat("projects/_/buckets/", bucket, "/objects/", prefix, "/")
        return gcp.storage.BucketIAMMember(
            f"{self._name}-wl-compile-cache",
            bucket=bucket,
            role="roles/storage.objectUser",
            member=self._workload_sa.member,
            condition={
                "title": "tpustack-compile-cache-only",
                "description": "XLA compile cache entries of tpustack stacks",
                "expression": resource_prefix.apply(lambda p: f'resource.name.startsWith("{p}")'),
            },
            opts=pulumi.ResourceOptions(parent=self),
        )


class TpuVmIdentity(_IdentityBase):
    service_account: pulumi.Output[str]  # email

    def __init__(self, name: str, args: TpuVmIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.project, opts)
        sa = self._account("tpu", args.tpu_vm)
        for role in TPU_VM_ROLES:
            self._project_member("tpu", role, sa)
        self._bucket_members("tpu", args.results_bucket, RESULTS_ROLES, sa)
        if args.model_bucket is not None:
            self._bucket_members("tpu-model", args.model_bucket, MODEL_ROLES, sa)
        self.service_account = sa.email
        self.register_outputs({"tpuVmServiceAccount": sa.email})
