"""The Pulumi program of one stack: a validated StackConfig -> each component's Args -> components -> outputs.

``__main__.py`` calls ``run()``. This is the composition root: the one place where config becomes component Args
(tpustack.program.args), so components never see the stack file. Order (each arrow a dependency): ProjectServices ->
ResultsStore -> Identity -> TpuVm | (per region: GkeCluster -> NodePools -> Serving). Destroy runs it backwards,
so Kubernetes objects go before node pools, node pools before the cluster, and the results bucket and APIs are
never touched. Everything that can be wrong with the config (fields, rules, the rendered manifests of every
region) fails before the first resource is declared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from tpustack import render
from tpustack.components.gateway import GatewayNetwork, GeoDns
from tpustack.components.gke import GkeCluster, NodeIdentity, NodePools
from tpustack.components.identity import GkeIdentity, TpuVmIdentity
from tpustack.components.lifecycle import Lifecycle
from tpustack.components.results import ResultsStore
from tpustack.components.services import ProjectServices
from tpustack.components.serving import Serving
from tpustack.components.tpu_vm import TpuVm
from tpustack.config import derived, from_pulumi
from tpustack.config.model import StackConfig
from tpustack.config.units import Region
from tpustack.core.errors import InternalError
from tpustack.render import Rendered

from . import args


@dataclass
class Foundation:
    """What every stack declares: the APIs and the results bucket (owned by a results stack, looked up by
    experiments)."""

    services: ProjectServices
    results: ResultsStore
    after_apis: pulumi.ResourceOptions


@dataclass
class GkeRegion:
    """What one region of a gke stack declares."""

    region: Region
    cluster: GkeCluster
    pools: NodePools
    gateway_network: GatewayNetwork | None
    serving: Serving


@dataclass
class Built:
    """What a stack declared, typed by target."""

    config: StackConfig
    foundation: Foundation
    rendered: tuple[Rendered, ...] = ()
    lifecycle: Lifecycle | None = None
    tpu_identity: TpuVmIdentity | None = None
    tpu_vm: TpuVm | None = None
    gke_identity: GkeIdentity | None = None
    workload_identity: gcp.serviceaccount.IAMMember | None = None
    adapter_identity: gcp.serviceaccount.IAMMember | None = None  # the metrics adapter's, with an HPA
    fill_identity: gcp.storage.BucketIAMMember | None = None  # GKE Volume Populator's read of the model bucket
    regions: list[GkeRegion] = field(default_factory=list)
    dns: GeoDns | None = None


def foundation(cfg: StackConfig) -> Foundation:
    services = ProjectServices("apis", args.services_args(cfg))
    after_apis = pulumi.ResourceOptions(depends_on=[services.ready])
    results = ResultsStore("results", args.results_args(cfg), opts=after_apis)
    pulumi.export("target", cfg.target)
    pulumi.export("resultsBucket", results.url)
    return Foundation(services=services, results=results, after_apis=after_apis)


def tpu_vm(cfg: StackConfig, base: Foundation, lifecycle: Lifecycle, built: Built) -> None:
    """A tpu-vm stack: its VM's service account and the TPU VM that runs the workload."""
    unit = cfg.primary
    if unit is None:
        raise InternalError("a tpu-vm stack without a serving unit passed validation")
    built.tpu_identity = TpuVmIdentity(
        "identity", args.tpu_vm_identity_args(cfg, base.results.name), opts=base.after_apis
    )
    built.tpu_vm = TpuVm(
        "tpu",
        args.tpu_vm_args(cfg, unit, built.tpu_identity.service_account, lifecycle.labels, base.results.name),
        opts=base.after_apis,
    )
    pulumi.export("tpuVmName", built.tpu_vm.name)
    pulumi.export("tpuVmIp", built.tpu_vm.ip)


def gke_region(
    cfg: StackConfig,
    region: Region,
    rendered: Rendered,
    base: Foundation,
    identity: GkeIdentity,
    nodes: NodeIdentity,
    built: Built,
) -> GkeRegion:
    """One region of a gke stack: its cluster, node pools, gateway network and Kubernetes objects."""
    s = region.suffix
    cluster = GkeCluster(f"gke{s}", args.cluster_args(cfg, region, nodes), opts=base.after_apis)
    pools = NodePools(f"pools{s}", args.node_pools_args(cfg, region, cluster.cluster.name, nodes))
    ready: list[pulumi.Resource] = [r for r in (pools.system, pools.accelerator) if r is not None]
    network = None
    if cfg.gateway is not None:
        network = GatewayNetwork(
            f"gateway-network{s}", args.gateway_network_args(cfg, region, built.lifecycle), opts=base.after_apis
        )
        ready.append(network)
    if built.workload_identity is None:
        # one Workload Identity binding: the project's identity pool is shared by its clusters
        built.workload_identity = identity.bind_workload_identity(cluster.cluster)
        built.adapter_identity = identity.bind_metrics_adapter(cluster.cluster)
        built.fill_identity = identity.bind_weights_fill(cluster.cluster)
    grants = [g for g in (built.workload_identity, built.adapter_identity, built.fill_identity) if g is not None]
    serving = Serving(
        f"k8s{s}",
        args.serving_args(cfg, rendered, cluster.provider, identity.workload_service_account),
        opts=pulumi.ResourceOptions(depends_on=[*ready, *grants]),
    )
    _export_cluster(cfg, region, cluster, pools)
    return GkeRegion(region=region, cluster=cluster, pools=pools, gateway_network=network, serving=serving)


def _export_cluster(cfg: StackConfig, region: Region, cluster: GkeCluster, pools: NodePools) -> None:
    if not region.primary:
        pulumi.export(f"clusterName-{region.name}", cluster.cluster.name)
        return
    pulumi.export("clusterName", cluster.cluster.name)
    pulumi.export("clusterEndpoint", cluster.cluster.endpoint)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    if pools.accelerator is not None:
        pulumi.export("acceleratorPool", pools.accelerator.name)
    pulumi.export(
        "getCredentials",
        pulumi.Output.concat(
            "gcloud container clusters get-credentials ",
            cluster.cluster.name,
            " --region ",
            region.name,
            " --project ",
            cfg.project,
        ),
    )


def gke(cfg: StackConfig, base: Foundation, built: Built) -> None:
    """A gke stack: the stack's identities, then each region it serves in, then DNS across them."""
    identity = built.gke_identity = GkeIdentity(
        "identity", args.gke_identity_args(cfg, base.results.name), opts=base.after_apis
    )
    if built.lifecycle is None:
        raise InternalError("a gke stack without its lifecycle")
    nodes = NodeIdentity(
        service_account=identity.node_service_account,
        resource_labels=built.lifecycle.labels,
        node_labels=derived.pool_labels(cfg.stack),
    )
    for region, rendered in zip(cfg.serving_regions, built.rendered, strict=True):
        built.regions.append(gke_region(cfg, region, rendered, base, identity, nodes, built))
    dns = args.geo_dns_args(cfg, {r.region.name: r.gateway_network for r in built.regions})
    if dns is not None and cfg.gateway is not None:
        built.dns = GeoDns("dns", dns, opts=base.after_apis)
        pulumi.export("serviceName", cfg.gateway.dns_name)


def build(cfg: StackConfig) -> Built:
    """Declare every resource of the stack. Only called with a fully validated config."""
    # Kubernetes objects of every region are rendered and checked before any resource is declared.
    rendered = render.render_stack(cfg) if cfg.target == "gke" else ()
    base = foundation(cfg)
    built = Built(config=cfg, foundation=base, rendered=rendered)
    unit = cfg.primary
    if not cfg.is_experiment or unit is None:
        return built
    pulumi.export("accelerator", unit.shape.name)
    pulumi.export("chips", unit.shape.chips)
    pulumi.export("hosts", unit.shape.hosts)
    built.lifecycle = Lifecycle("lifecycle", args.lifecycle_args(cfg))
    pulumi.export("expiresUnix", built.lifecycle.expires_unix)
    if cfg.target == "tpu-vm":
        tpu_vm(cfg, base, built.lifecycle, built)
    else:
        gke(cfg, base, built)
    return built


def run() -> Built:
    """The program ``pulumi up`` runs: load and validate the stack's config, then declare everything."""
    return build(from_pulumi())
