"""Identity: the stack's service accounts and their IAM, least privilege, additive only.

- GKE node SA: ``roles/container.defaultNodeServiceAccount`` (CIS GKE Benchmark 5.2.1: nodes must not run as
  the Compute Engine default SA) and ``roles/artifactregistry.reader`` to pull private images. Nothing else.
- Workload SA: what serving and benchmark pods act as through Workload Identity
  (``PROJECT.svc.id.goog[tpustack/tpustack-serving]``): create and read objects in the results bucket, read
  the model bucket when weights come from ``gs://``. No delete, so a run cannot erase an earlier one.
- TPU VM SA: an explicit account for the TPU VM (never the Compute default): results bucket create/read,
  log and metric writer.

Every grant is an ``IAMMember`` (project, bucket or service-account level); nothing replaces a policy and
nothing grants a primitive role. Deliberately not done: the operator's own roles (Service Account Admin,
Project IAM Admin, TPU Admin) which the person running `pulumi up` must already hold.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from . import k8s_keys, naming
from .config import StackConfig

NODE_ROLES = ["roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"]
TPU_VM_ROLES = ["roles/logging.logWriter", "roles/monitoring.metricWriter"]
RESULTS_ROLES = ["roles/storage.objectCreator", "roles/storage.objectViewer"]
MODEL_ROLES = ["roles/storage.objectViewer"]


def model_bucket(config: StackConfig) -> str | None:
    if config.model and config.model.source == "gcs":
        return config.model.id.removeprefix("gs://").split("/", 1)[0]
    return None


class Identity(pulumi.ComponentResource):
    node_sa: gcp.serviceaccount.Account | None = None
    workload_sa: gcp.serviceaccount.Account | None = None
    tpu_vm_sa: gcp.serviceaccount.Account | None = None

    def __init__(self, name: str, config: StackConfig, *, results_bucket: pulumi.Input[str],
                 depends_on: list[pulumi.Resource], opts: pulumi.ResourceOptions | None = None):
        super().__init__("tpustack:identity:Identity", name, None, opts)
        self._name, self._config = name, config
        self._deps = depends_on
        outputs: dict[str, pulumi.Input] = {}
        if config.target == "gke":
            self.node_sa = self._account("node", "GKE nodes (tpustack)")
            for role in NODE_ROLES:
                self._project_member("node", role, self.node_sa)
            self.workload_sa = self._account("wl", "serving and benchmark pods (tpustack)")
            self._bucket_members("wl", results_bucket, RESULTS_ROLES, self.workload_sa)
            if (mb := model_bucket(config)) is not None:
                self._bucket_members("wl-model", mb, MODEL_ROLES, self.workload_sa)
            if config.engine and config.engine.compile_cache and config.shape.kind == "tpu":
                self._compile_cache_member(results_bucket)
            outputs.update(nodeServiceAccount=self.node_sa.email, workloadServiceAccount=self.workload_sa.email)
        elif config.target == "tpu-vm":
            self.tpu_vm_sa = self._account("tpu", "TPU VM (tpustack)")
            for role in TPU_VM_ROLES:
                self._project_member("tpu", role, self.tpu_vm_sa)
            self._bucket_members("tpu", results_bucket, RESULTS_ROLES, self.tpu_vm_sa)
            if (mb := model_bucket(config)) is not None:
                self._bucket_members("tpu-model", mb, MODEL_ROLES, self.tpu_vm_sa)
            outputs.update(tpuVmServiceAccount=self.tpu_vm_sa.email)
        self.register_outputs(outputs)

    def bind_workload_identity(self, cluster: pulumi.Resource) -> gcp.serviceaccount.IAMMember:
        """Let the serving KSA act as the workload SA. Needs the cluster: the identity pool
        PROJECT.svc.id.goog exists only once a Workload Identity cluster does."""
        assert self.workload_sa is not None, "bind_workload_identity is for gke stacks"
        return gcp.serviceaccount.IAMMember(
            f"{self._name}-wl-wi",
            service_account_id=self.workload_sa.name,
            role="roles/iam.workloadIdentityUser",
            member=k8s_keys.wi_member(self._config.project, k8s_keys.NAMESPACE, k8s_keys.SERVING_KSA),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]),
        )

    def _compile_cache_member(self, bucket: pulumi.Input[str]) -> gcp.storage.BucketIAMMember:
        """The compile cache rewrites its entries (GCS FUSE renames = copy + delete): objectUser, but only
        under the cache prefix, through an IAM condition; results stay create-only."""
        assert self.workload_sa is not None
        prefix = pulumi.Output.concat("projects/_/buckets/", bucket, "/objects/", k8s_keys.COMPILE_CACHE_PREFIX, "/")
        return gcp.storage.BucketIAMMember(
            f"{self._name}-wl-compile-cache",
            bucket=bucket,
            role="roles/storage.objectUser",
            member=self.workload_sa.member,
            condition={"title": "tpustack-compile-cache-only",
                       "description": "XLA compile cache entries of tpustack stacks",
                       "expression": prefix.apply(lambda p: f'resource.name.startsWith("{p}")')},
            opts=pulumi.ResourceOptions(parent=self),
        )

    # -- helpers ------------------------------------------------------------------------------------
    def _account(self, role: str, purpose: str) -> gcp.serviceaccount.Account:
        return gcp.serviceaccount.Account(
            f"{self._name}-{role}",
            project=self._config.project,
            account_id=naming.account_id(self._config.stack, role),
            display_name=f"{purpose}: stack {self._config.stack}",
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._deps),
        )

    def _project_member(self, who: str, role: str, sa: gcp.serviceaccount.Account) -> gcp.projects.IAMMember:
        return gcp.projects.IAMMember(
            f"{self._name}-{who}-{role.split('/')[-1]}",
            project=self._config.project,
            role=role,
            member=sa.member,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _bucket_members(self, who: str, bucket: pulumi.Input[str], roles: list[str],
                        sa: gcp.serviceaccount.Account) -> list[gcp.storage.BucketIAMMember]:
        return [gcp.storage.BucketIAMMember(
            f"{self._name}-{who}-{role.split('/')[-1]}",
            bucket=bucket,
            role=role,
            member=sa.member,
            opts=pulumi.ResourceOptions(parent=self),
        ) for role in roles]
