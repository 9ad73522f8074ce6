"""GkeCluster and NodePools: a hardened GKE Standard cluster with a system pool and a TPU or GPU pool.

Cluster: regional control plane, default pool removed, Workload Identity pool ``PROJECT.svc.id.goog``,
shielded nodes, release channel, optional private nodes, Managed Prometheus (engine metrics via PodMonitoring)
and the GCS FUSE CSI driver (weights from buckets), ``deletion_protection`` as the caller says (on for prod
stacks, off for experiments so `pulumi destroy` works).

Pools (after GKE's TPU docs and cluster-toolkit ``modules/compute/gke-node-pool``): every pool runs as the
custom node SA with ``GKE_METADATA``, secure boot and integrity monitoring. The accelerator pool is an
``AcceleratorPool`` (tpustack.config.derived): a multi-host TPU slice gets ``placementPolicy {type: COMPACT,
tpuTopology}`` and a fixed node count (GKE rejects a topology on single-host pools); capacity maps to spot, a
specific reservation, flex-start (``nodeConfig.flexStart``, no reservation, auto-repair off, autoscaling from
0) or queued provisioning (``queuedProvisioning.enabled``, same rules). GPU pools attach the GPUs with
GKE-managed driver installation. Long timeouts: TPU pool creation waits for capacity.

Deliberately not done: Autopilot, multi-slice (JobSet), VPC creation, node auto-provisioning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from tpustack.config.derived import PRELOAD_MODE, AcceleratorPool
from tpustack.core import names

from .base import inherited_depends_on

SCOPES = [names.CLOUD_PLATFORM_SCOPE]
CLUSTER_TIMEOUTS = pulumi.CustomTimeouts(create="45m", update="45m", delete="45m")
# TPU/GPU pools wait for capacity and drain slowly (pulumi-gcp and terraform-provider-google issues on
# node-pool timeouts); the provider default (30m) is too short for a v6e-16 slice from a busy zone.
POOL_TIMEOUTS = pulumi.CustomTimeouts(create="90m", update="90m", delete="60m")


@dataclass(frozen=True, kw_only=True)
class NodeIdentity:
    """What every node of the stack runs as and is labelled with."""

    service_account: pulumi.Input[str]
    resource_labels: pulumi.Input[dict[str, str]]  # GCP labels (expiry, stack, keep)
    node_labels: dict[str, str]  # Kubernetes node labels tpustack sets


def hardened_node_config(nodes: NodeIdentity, machine_type: str, **extra: Any) -> dict[str, Any]:
    """A node config with the custom SA, GKE_METADATA and shielded nodes (the cluster's and every pool's).

    Typed as pulumi-gcp's NodePoolNodeConfigArgsDict (mypy checks the keys); the cluster's default pool takes
    the same fields as ClusterNodeConfigArgsDict.
    """
    config: gcp.container.NodePoolNodeConfigArgsDict = {
        "machine_type": machine_type,
        "service_account": nodes.service_account,
        "oauth_scopes": SCOPES,
        "workload_metadata_config": {"mode": "GKE_METADATA"},
        "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
        "resource_labels": nodes.resource_labels,
        "labels": dict(nodes.node_labels),
    }
    return {**config, **extra}


def kubeconfig(name: str, endpoint: str, ca: str) -> str:
    """A kubeconfig that authenticates with gke-gcloud-auth-plugin (what `gcloud container clusters
    get-credentials` writes since GKE 1.26); no static credentials."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": name,
            "clusters": [
                {"name": name, "cluster": {"server": f"https://{endpoint}", "certificate-authority-data": ca}}
            ],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "users": [
                {
                    "name": name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "gke-gcloud-auth-plugin",
                            "installHint": "gcloud components install gke-gcloud-auth-plugin",
                            "provideClusterInfo": True,
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    project: str
    name: str
    region: str
    zones: list[str]
    nodes: NodeIdentity
    system_machine_type: str
    release_channel: str
    min_master_version: str | None
    deletion_protection: bool
    network: str = "default"
    subnetwork: str | None = None
    private_nodes: bool = False
    master_ipv4_cidr: str = "172.16.0.32/28"
    # GKE Gateway controller with the Gateway API CRDs GKE manages (Inference Gateway)
    gateway_api: bool = False


class GkeCluster(pulumi.ComponentResource):
    cluster: gcp.container.Cluster
    provider: k8s.Provider
    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tpustack:gke:GkeCluster", name, None, opts)
        private: gcp.container.ClusterPrivateClusterConfigArgsDict | None = None
        if args.private_nodes:
            private = {
                "enable_private_nodes": True,
                "enable_private_endpoint": False,
                "master_ipv4_cidr_block": args.master_ipv4_cidr,
            }
        self.cluster = gcp.container.Cluster(
            f"{name}-cluster",
            name=args.name,
            project=args.project,
            location=args.region,
            node_locations=list(args.zones),
            network=args.network,
            subnetwork=args.subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy={},
            private_cluster_config=private,
            remove_default_node_pool=True,
            initial_node_count=1,
            # The short-lived default pool is hardened too: it must not run as the Compute default SA.
            node_config=cast(
                gcp.container.ClusterNodeConfigArgsDict, hardened_node_config(args.nodes, args.system_machine_type)
            ),
            workload_identity_config={"workload_pool": f"{args.project}.svc.id.goog"},
            enable_shielded_nodes=True,
            release_channel={"channel": args.release_channel},
            min_master_version=args.min_master_version,
            addons_config={"gcs_fuse_csi_driver_config": {"enabled": True}, "http_load_balancing": {"disabled": False}},
            monitoring_config={"managed_prometheus": {"enabled": True}, "enable_components": ["SYSTEM_COMPONENTS"]},
            logging_config={"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
            master_auth={"client_certificate_config": {"issue_client_certificate": False}},
            resource_labels=args.nodes.resource_labels,
            deletion_protection=args.deletion_protection,
            gateway_api_config={"channel": "CHANNEL_STANDARD"} if args.gateway_api else None,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=inherited_depends_on(opts),
                custom_timeouts=CLUSTER_TIMEOUTS,
                # the default pool is removed after create; its config must not force
                # replacement later
                ignore_changes=["nodeConfig", "initialNodeCount"],
            ),
        )
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                self.cluster.name,
                self.cluster.endpoint,
                self.cluster.master_auth.cluster_ca_certificate,
            ).apply(lambda a: kubeconfig(*a))
        )
        self.provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=self.kubeconfig, opts=pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs(
            {"name": self.cluster.name, "endpoint": self.cluster.endpoint, "kubeconfig": self.kubeconfig}
        )


@dataclass(frozen=True, kw_only=True)
class NodePoolsArgs:
    project: str
    region: str
    cluster_name: pulumi.Input[str]
    nodes: NodeIdentity
    system_machine_type: str
    system_node_count: int
    system_zone: str
    accelerator: AcceleratorPool | None  # None: serving variants, whose ComputeClasses make their own pools


def preload_inputs(pool: AcceleratorPool) -> dict[str, Any]:
    """nodeConfig fields of the image preload: the secondary boot disk as containerd's image cache, and image
    streaming, which GKE needs on for that cache (GKE docs, data-container-image-preloading, "Requirements")."""
    out: dict[str, Any] = {}
    if pool.preload_disk is not None:
        disks: list[gcp.container.NodePoolNodeConfigSecondaryBootDiskArgsDict] = [
            {"disk_image": pool.preload_disk, "mode": PRELOAD_MODE}
        ]
        out["secondary_boot_disks"] = disks
    if pool.image_streaming:
        gcfs: gcp.container.NodePoolNodeConfigGcfsConfigArgsDict = {"enabled": True}
        out["gcfs_config"] = gcfs
    return out


def accelerator_pool_inputs(pool: AcceleratorPool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(NodePool arguments, extra nodeConfig) of the accelerator pool: the capacity rule matrix as inputs."""
    args: dict[str, Any] = {
        "node_locations": [pool.zone],
        "management": {"auto_repair": pool.auto_repair, "auto_upgrade": True},
        # Surge needs spare accelerators, which rarely exist; replace in place instead.
        "upgrade_settings": {"max_surge": 0, "max_unavailable": 1, "strategy": "SURGE"},
    }
    extra: dict[str, Any] = {}
    if pool.compact_topology:
        args["placement_policy"] = {"type": "COMPACT", "tpu_topology": pool.compact_topology}
    if pool.disk_size_gb is not None:
        extra["disk_size_gb"] = pool.disk_size_gb
    if pool.gpu_type is not None:
        extra["guest_accelerators"] = [
            {
                "type": pool.gpu_type,
                "count": pool.gpu_count,
                "gpu_driver_installation_config": {"gpu_driver_version": "LATEST"},
            }
        ]
    extra.update(preload_inputs(pool))
    if pool.spot:
        extra["spot"] = True
    elif pool.reservation is not None:
        extra["reservation_affinity"] = {
            "consume_reservation_type": "SPECIFIC_RESERVATION",
            "key": "compute.googleapis.com/reservation-name",
            "values": [pool.reservation],
        }
    elif pool.no_reservation:
        # Nodes come only when a workload asks, never from a reservation (cluster-toolkit gke-node-pool
        # validations; GKE flex-start and DWS queued provisioning docs).
        extra["reservation_affinity"] = {"consume_reservation_type": "NO_RESERVATION"}
        if pool.flex_start:
            extra["flex_start"] = True
        if pool.queued_provisioning:
            args["queued_provisioning"] = {"enabled": True}
    if pool.autoscaling is not None:
        args["initial_node_count"] = pool.initial_nodes
        args["autoscaling"] = {
            "total_min_node_count": pool.autoscaling.min_nodes,
            "total_max_node_count": pool.autoscaling.max_nodes,
            "location_policy": "ANY",
        }
    else:
        args["node_count"] = pool.node_count
    return args, extra


class NodePools(pulumi.ComponentResource):
    system: gcp.container.NodePool
    accelerator: gcp.container.NodePool | None

    def __init__(self, name: str, args: NodePoolsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tpustack:gke:NodePools", name, None, opts)
        deps = inherited_depends_on(opts)
        self.system = gcp.container.NodePool(
            f"{name}-system",
            name="system",
            node_count=args.system_node_count,
            node_locations=[args.system_zone],
            node_config=cast(
                gcp.container.NodePoolNodeConfigArgsDict, hardened_node_config(args.nodes, args.system_machine_type)
            ),
            management={"auto_repair": True, "auto_upgrade": True},
            cluster=args.cluster_name,
            project=args.project,
            location=args.region,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=deps, custom_timeouts=CLUSTER_TIMEOUTS, delete_before_replace=True
            ),
        )
        pool = args.accelerator
        self.accelerator = None
        if pool is None:
            self.register_outputs({"system": self.system.name})
            return
        pool_args, node_extra = accelerator_pool_inputs(pool)
        self.accelerator = gcp.container.NodePool(
            f"{name}-{pool.kind}",
            name=pool.name,
            node_config=cast(
                gcp.container.NodePoolNodeConfigArgsDict,
                hardened_node_config(args.nodes, pool.machine_type, **node_extra),
            ),
            cluster=args.cluster_name,
            project=args.project,
            location=args.region,
            **pool_args,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=deps,
                custom_timeouts=POOL_TIMEOUTS,
                delete_before_replace=True,
                # Let the autoscaler own the size of autoscaled pools.
                ignore_changes=["nodeCount", "initialNodeCount"] if pool.autoscaling else None,
            ),
        )
        self.register_outputs({"system": self.system.name, "accelerator": self.accelerator.name})
