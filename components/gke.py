"""GkeCluster and NodePools: a hardened GKE Standard cluster with a system pool and a TPU or GPU pool.

Cluster: regional control plane, default pool removed, Workload Identity pool ``PROJECT.svc.id.goog``,
shielded nodes, release channel, optional private nodes, Managed Prometheus (engine metrics via
PodMonitoring) and the GCS FUSE CSI driver (weights from buckets), ``deletion_protection`` from
``lifecycle`` (on for prod stacks, off for experiments so `pulumi destroy` works).

Pools (after GKE's TPU docs and cluster-toolkit ``modules/compute/gke-node-pool``): every pool runs as the
custom node SA with ``GKE_METADATA``, secure boot and integrity monitoring. The accelerator pool uses the
catalog's machine type; a multi-host TPU slice gets ``placementPolicy {type: COMPACT, tpuTopology}`` and a
fixed node count of hosts x replicas (GKE rejects a topology on single-host pools); capacity maps to
spot, a specific reservation, flex-start (``nodeConfig.flexStart``, no reservation, auto-repair off,
autoscaling from 0) or queued provisioning (``queuedProvisioning.enabled``, same rules). GPU pools attach
the GPUs with GKE-managed driver installation. Long timeouts: TPU pool creation waits for capacity.

Deliberately not done: Autopilot, multi-slice (JobSet), VPC creation, node auto-provisioning.
"""

from __future__ import annotations

import json
import math

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from . import k8s_keys, naming
from .catalog import GpuShape
from .config import StackConfig

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
CLUSTER_TIMEOUTS = pulumi.CustomTimeouts(create="45m", update="45m", delete="45m")
# TPU/GPU pools wait for capacity and drain slowly (pulumi-gcp and terraform-provider-google issues on
# node-pool timeouts); the provider default (30m) is too short for a v6e-16 slice from a busy zone.
POOL_TIMEOUTS = pulumi.CustomTimeouts(create="90m", update="90m", delete="60m")


def hardened_node_config(config: StackConfig, service_account: pulumi.Input[str], machine_type: str,
                         labels: pulumi.Input[dict], **extra) -> dict:
    return {
        "machine_type": machine_type,
        "service_account": service_account,
        "oauth_scopes": SCOPES,
        "workload_metadata_config": {"mode": "GKE_METADATA"},
        "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
        "resource_labels": labels,
        "labels": {k8s_keys.LABEL_STACK: naming.label_value(config.stack)},
        **extra,
    }


def kubeconfig(name: str, endpoint: str, ca: str) -> str:
    """A kubeconfig that authenticates with gke-gcloud-auth-plugin (what `gcloud container clusters
    get-credentials` writes since GKE 1.26); no static credentials."""
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": f"https://{endpoint}",
                                                 "certificate-authority-data": ca}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "users": [{"name": name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "gke-gcloud-auth-plugin",
            "installHint": "gcloud components install gke-gcloud-auth-plugin", "provideClusterInfo": True}}}],
    }, sort_keys=True)


class GkeCluster(pulumi.ComponentResource):
    cluster: gcp.container.Cluster
    provider: k8s.Provider
    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, config: StackConfig, *, node_service_account: pulumi.Input[str],
                 labels: pulumi.Input[dict], depends_on: list[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("tpustack:gke:GkeCluster", name, None, opts)
        net = config.network
        private = {"enable_private_nodes": True, "enable_private_endpoint": False,
                   "master_ipv4_cidr_block": net.master_ipv4_cidr} if net.private_nodes else None
        self.cluster = gcp.container.Cluster(
            f"{name}-cluster",
            name=naming.resource_name(config.stack),
            project=config.project,
            location=config.region,
            node_locations=list(config.zones),
            network=net.network,
            subnetwork=net.subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy={},
            private_cluster_config=private,
            remove_default_node_pool=True,
            initial_node_count=1,
            # The short-lived default pool is hardened too: it must not run as the Compute default SA.
            node_config=hardened_node_config(config, node_service_account, config.gke.system_machine_type,
                                             labels),
            workload_identity_config={"workload_pool": f"{config.project}.svc.id.goog"},
            enable_shielded_nodes=True,
            release_channel={"channel": config.gke.release_channel},
            min_master_version=config.gke.min_master_version,
            addons_config={"gcs_fuse_csi_driver_config": {"enabled": True},
                           "http_load_balancing": {"disabled": False}},
            monitoring_config={"managed_prometheus": {"enabled": True},
                               "enable_components": ["SYSTEM_COMPONENTS"]},
            logging_config={"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
            master_auth={"client_certificate_config": {"issue_client_certificate": False}},
            resource_labels=labels,
            deletion_protection=config.lifecycle.protected,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on, custom_timeouts=CLUSTER_TIMEOUTS,
                                        # the default pool is removed after create; its config must not
                                        # force replacement later
                                        ignore_changes=["nodeConfig", "initialNodeCount"]),
        )
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(
            self.cluster.name, self.cluster.endpoint, self.cluster.master_auth.cluster_ca_certificate,
        ).apply(lambda a: kubeconfig(*a)))
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig,
                                     opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"name": self.cluster.name, "endpoint": self.cluster.endpoint,
                               "kubeconfig": self.kubeconfig})


def accelerator_pool_args(config: StackConfig) -> dict:
    """NodePool arguments of the accelerator pool that depend only on config (capacity rule matrix)."""
    shape = config.shape
    cap = config.capacity
    nodes = shape.hosts * config.replicas
    extra: dict = {}
    args: dict = {"node_locations": [config.zone],
                  "management": {"auto_repair": config.auto_repair, "auto_upgrade": True},
                  # Surge needs spare accelerators, which rarely exist; replace in place instead.
                  "upgrade_settings": {"max_surge": 0, "max_unavailable": 1, "strategy": "SURGE"}}
    if shape.multi_host:
        args["placement_policy"] = {"type": "COMPACT", "tpu_topology": shape.topology}
    if config.model is not None:
        # Each host downloads the weights to local disk (emptyDir); the 100 GB default is too small for a
        # 70B model. Room for the weights twice (download + conversion/cache) plus the images.
        extra["disk_size_gb"] = max(100, math.ceil(config.model.weights_gib * 1.074 * 2) + 100)
    if isinstance(shape, GpuShape):
        extra["guest_accelerators"] = [{
            "type": shape.gke_accelerator, "count": shape.count,
            "gpu_driver_installation_config": {"gpu_driver_version": "LATEST"},
        }]
    if cap.type == "spot":
        extra["spot"] = True
    elif cap.type == "reservation":
        assert cap.reservation is not None
        extra["reservation_affinity"] = {"consume_reservation_type": "SPECIFIC_RESERVATION",
                                         "key": "compute.googleapis.com/reservation-name",
                                         "values": [cap.reservation]}
    elif cap.type in ("flex-start", "queued"):
        # Nodes come only when a workload asks: start at 0, never from a reservation (cluster-toolkit
        # gke-node-pool validations; GKE flex-start and DWS queued provisioning docs).
        extra["reservation_affinity"] = {"consume_reservation_type": "NO_RESERVATION"}
        if cap.type == "flex-start":
            extra["flex_start"] = True
        else:
            args["queued_provisioning"] = {"enabled": True}
        args["initial_node_count"] = 0
        args["autoscaling"] = {"total_min_node_count": 0, "total_max_node_count": nodes, "location_policy": "ANY"}
        return {"args": args, "node_config_extra": extra}
    if config.gke.autoscaling_max_nodes and not shape.multi_host:
        args["initial_node_count"] = config.replicas
        args["autoscaling"] = {"total_min_node_count": 0,
                               "total_max_node_count": config.gke.autoscaling_max_nodes,
                               "location_policy": "ANY"}
    else:
        args["node_count"] = nodes
    return {"args": args, "node_config_extra": extra}


class NodePools(pulumi.ComponentResource):
    system: gcp.container.NodePool
    accelerator: gcp.container.NodePool

    def __init__(self, name: str, config: StackConfig, *, cluster: gcp.container.Cluster,
                 node_service_account: pulumi.Input[str], labels: pulumi.Input[dict],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("tpustack:gke:NodePools", name, None, opts)
        common = {"cluster": cluster.name, "project": config.project, "location": config.region}
        self.system = gcp.container.NodePool(
            f"{name}-system",
            name="system",
            node_count=config.gke.system_node_count,
            node_locations=[config.zone],
            node_config=hardened_node_config(config, node_service_account, config.gke.system_machine_type,
                                             labels),
            management={"auto_repair": True, "auto_upgrade": True},
            **common,
            opts=pulumi.ResourceOptions(parent=self, custom_timeouts=CLUSTER_TIMEOUTS,
                                        delete_before_replace=True),
        )
        shape = config.shape
        spec = accelerator_pool_args(config)
        autoscaled = "autoscaling" in spec["args"]
        self.accelerator = gcp.container.NodePool(
            f"{name}-{shape.kind}",
            name=naming.slug(f"{shape.kind}-{shape.name}", 40),
            node_config=hardened_node_config(config, node_service_account, shape.machine_type, labels,
                                             **spec["node_config_extra"]),
            **spec["args"],
            **common,
            opts=pulumi.ResourceOptions(
                parent=self, custom_timeouts=POOL_TIMEOUTS, delete_before_replace=True,
                # Let the autoscaler own the size of autoscaled pools.
                ignore_changes=["nodeCount", "initialNodeCount"] if autoscaled else None),
        )
        self.register_outputs({"system": self.system.name, "accelerator": self.accelerator.name})
