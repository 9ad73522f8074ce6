"""The Pulumi program of one stack: a validated StackConfig -> each component's Args -> components -> outputs.

``__main__.py`` calls ``run()``. This is the one place where config becomes component Args, so components never
see the stack file. Order (each arrow a dependency): ProjectServices -> ResultsStore -> Identity -> TpuVm |
GkeCluster -> NodePools -> (Workload Identity binding, Serving). Destroy runs it backwards, so Kubernetes
objects go before node pools, node pools before the cluster, and the results bucket and APIs are never touched.
Everything that can be wrong with the config (fields, rules, rendered manifests) fails before the first
resource is declared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from tpustack import render
from tpustack.components.gateway import GatewayNetwork, GatewayNetworkArgs, GeoDns, GeoDnsArgs
from tpustack.components.gke import ClusterArgs, GkeCluster, NodeIdentity, NodePools, NodePoolsArgs
from tpustack.components.identity import (
    Account,
    BucketScope,
    GkeIdentity,
    GkeIdentityArgs,
    TpuVmIdentity,
    TpuVmIdentityArgs,
)
from tpustack.components.lifecycle import Lifecycle, LifecycleArgs
from tpustack.components.results import ResultsStore, ResultsStoreArgs
from tpustack.components.services import ProjectServices, ProjectServicesArgs
from tpustack.components.serving import InferencePoolArgs, Serving, ServingArgs
from tpustack.components.tpu_vm import TpuVm, TpuVmArgs, WorkloadObject
from tpustack.config import derived, from_pulumi
from tpustack.config.model import StackConfig
from tpustack.core import engines, names
from tpustack.core.catalog import TpuShape
from tpustack.render import Rendered


@dataclass
class Built:
    """What a stack declared (the tests reach in through it)."""

    resources: dict[str, pulumi.Resource] = field(default_factory=dict)
    rendered: Rendered | None = None


def model_bucket(cfg: StackConfig) -> str | None:
    if cfg.model and cfg.model.source == "gcs":
        return names.gcs_split(cfg.model.id)[0]
    return None


def services_args(cfg: StackConfig) -> ProjectServicesArgs:
    return ProjectServicesArgs(project=cfg.project, services=derived.services(cfg))


def results_args(cfg: StackConfig) -> ResultsStoreArgs:
    return ResultsStoreArgs(
        bucket=cfg.results_bucket,
        project=cfg.project,
        own=cfg.target == "results",
        location=(cfg.results.location or cfg.region).upper(),
        labels=names.stack_labels(cfg.stack, cfg.labels, keep=True),
    )


def lifecycle_args(cfg: StackConfig) -> LifecycleArgs:
    return LifecycleArgs(
        ttl_minutes=int(round(cfg.lifecycle.ttl_hours * 60)),
        base_labels=names.stack_labels(cfg.stack, cfg.labels, cfg.lifecycle.keep),
    )


def results_scope(cfg: StackConfig) -> BucketScope:
    """Where in the results bucket the stack's accounts may act: its own folders, nothing else."""
    own = f"{names.stack_dir(cfg.stack)}/"
    if cfg.target == "tpu-vm":
        code = f"{names.WORKLOADS_PREFIX}/{names.stack_dir(cfg.stack)}/"
        return BucketScope(create=[own], read=[own, code])
    # multi-host slices keep the XLA cache on each pod's disk (tpustack.render.context): no bucket grant
    compile_cache = bool(
        cfg.engine and cfg.engine.compile_cache and cfg.shape.kind == "tpu" and not cfg.shape.multi_host
    )
    cache = [f"{names.COMPILE_CACHE_PREFIX}/{names.stack_dir(cfg.stack)}/"] if compile_cache else []
    return BucketScope(create=[own], read=[own], rewrite=cache)


def _account(cfg: StackConfig, role: str, purpose: str) -> Account:
    return Account(names.account_id(cfg.stack, role), f"{purpose}: stack {cfg.stack}")


def tpu_vm_args(
    cfg: StackConfig,
    service_account: pulumi.Input[str],
    labels: pulumi.Input[dict[str, str]],
    results_bucket: pulumi.Input[str],
) -> TpuVmArgs:
    shape = cfg.shape
    if not isinstance(shape, TpuShape):  # config rules: tpu-vm stacks have a TPU
        raise ValueError(f"tpu_vm_args: {shape.name} is not a TPU")
    vm_name = names.resource_name(cfg.stack, limit=63)
    stack_dir = names.stack_dir(cfg.stack)
    script, objects = None, []
    if cfg.workload is not None and cfg.capacity.type != "queued":
        prefix = f"{names.WORKLOADS_PREFIX}/{stack_dir}"
        code = render.payload(render.HEARTBEAT_ENTRY)
        objects = [WorkloadObject(f.slug, f"{prefix}/{f.path}", f.source.read_text()) for f in code.files]
        script = render.tpu_vm_startup(
            cfg,
            workloads_uri=f"gs://{cfg.results_bucket}/{prefix}",
            results_prefix=f"gs://{cfg.results_bucket}/{stack_dir}",
            vm_name=vm_name,
        )
    return TpuVmArgs(
        project=cfg.project,
        zone=cfg.zone,
        vm_name=vm_name,
        accelerator_type=shape.accelerator_type,
        runtime_version=shape.runtime_version,
        capacity=cfg.capacity.type,  # type: ignore[arg-type]
        description=names.tpu_vm_description(cfg.stack),
        network=cfg.network.network,
        subnetwork=cfg.network.subnetwork,
        external_ips=not cfg.network.private_nodes,
        service_account=service_account,
        labels=labels,
        results_bucket=results_bucket,
        startup_script=script,
        workload_objects=objects,
    )


def serving_args(
    cfg: StackConfig, rendered: Rendered, provider: k8s.Provider, workload_service_account: pulumi.Input[str]
) -> ServingArgs:
    """The Kubernetes side of a gke stack: its namespace, KSA, token Secret and rendered apps."""
    has_secret = names.HF_SECRET in rendered.secrets
    token = pulumi.Output.secret(cfg.hf_token.get_secret_value()) if cfg.hf_token is not None else None
    endpoint = None
    if cfg.engine is not None:
        endpoint = (
            f"http://{engines.SERVER_NAMES[cfg.engine.name]}.{names.namespace(cfg.stack)}.svc.cluster.local:"
            f"{cfg.engine.port}"
        )
    return ServingArgs(
        provider=provider,
        namespace=names.namespace(cfg.stack),
        service_account=names.SERVING_KSA,
        labels=names.common_k8s_labels(cfg.stack),
        workload_service_account=workload_service_account,
        apps=rendered.apps,
        hf_secret=names.HF_SECRET if has_secret else None,
        hf_secret_key=names.HF_SECRET_KEY if has_secret else None,
        hf_token=token if has_secret else None,
        lws_controller=any(o.get("kind") == "LeaderWorkerSet" for o in rendered.objects()),
        endpoint=endpoint,
        extra_outputs={"clusterMinor": rendered.cluster_minor},
        pool=InferencePoolArgs(release=names.pool_name(cfg.stack), values=render.context.pool_values(cfg))
        if cfg.gateway is not None
        else None,
    )


def build(cfg: StackConfig) -> Built:
    """Declare every resource of the stack. Only called with a fully validated config."""
    built = Built()
    # Kubernetes objects are rendered and checked before any resource is declared.
    built.rendered = render.render(cfg) if cfg.target == "gke" else None
    res = built.resources
    services = res["services"] = ProjectServices("apis", services_args(cfg))
    after_apis = pulumi.ResourceOptions(depends_on=[services.ready])
    results = ResultsStore("results", results_args(cfg), opts=after_apis)
    res["results"] = results
    pulumi.export("target", cfg.target)
    pulumi.export("resultsBucket", results.url)
    if not cfg.is_experiment:
        return built

    shape = cfg.shape
    pulumi.export("accelerator", shape.name)
    pulumi.export("chips", shape.chips)
    pulumi.export("hosts", shape.hosts)
    lifecycle = res["lifecycle"] = Lifecycle("lifecycle", lifecycle_args(cfg))
    pulumi.export("expiresUnix", lifecycle.expires_unix)
    bucket = model_bucket(cfg)

    if cfg.target == "tpu-vm":
        tpu_identity = res["identity"] = TpuVmIdentity(
            "identity",
            TpuVmIdentityArgs(
                project=cfg.project,
                tpu_vm=_account(cfg, "tpu", "TPU VM (tpustack)"),
                results_bucket=results.name,
                results_scope=results_scope(cfg),
                model_bucket=bucket,
            ),
            opts=after_apis,
        )
        vm = res["tpu_vm"] = TpuVm(
            "tpu", tpu_vm_args(cfg, tpu_identity.service_account, lifecycle.labels, results.name), opts=after_apis
        )
        pulumi.export("tpuVmName", vm.name)
        pulumi.export("tpuVmIp", vm.ip)
        return built

    identity = res["identity"] = GkeIdentity(
        "identity",
        GkeIdentityArgs(
            project=cfg.project,
            node=_account(cfg, "node", "GKE nodes (tpustack)"),
            workload=_account(cfg, "wl", "serving and benchmark pods (tpustack)"),
            results_bucket=results.name,
            results_scope=results_scope(cfg),
            model_bucket=bucket,
            workload_identity_member=names.wi_member(cfg.project, names.namespace(cfg.stack), names.SERVING_KSA),
        ),
        opts=after_apis,
    )
    nodes = NodeIdentity(
        service_account=identity.node_service_account,
        resource_labels=lifecycle.labels,
        node_labels=derived.pool_labels(cfg.stack),
    )
    # One cluster per region the stack serves in: its own region first (names as a single-region stack has
    # them), then tpustack:regions; each gets the variants, and its own gateway when there is one.
    addresses: dict[str, pulumi.Input[str]] = {}
    binding = None
    for index, rc in enumerate(cfg.region_configs()):
        suffix = "" if index == 0 else f"-{rc.region}"
        gke = res[f"gke{suffix}"] = GkeCluster(
            f"gke{suffix}",
            ClusterArgs(
                project=cfg.project,
                name=names.resource_name(cfg.stack, rc.region if index else ""),
                region=rc.region,
                zones=list(rc.zones),
                nodes=nodes,
                system_machine_type=cfg.gke.system_machine_type,
                release_channel=cfg.gke.release_channel,
                min_master_version=cfg.gke.min_master_version,
                deletion_protection=cfg.lifecycle.protected,
                network=cfg.network.network,
                subnetwork=cfg.network.subnetwork,
                private_nodes=cfg.network.private_nodes,
                master_ipv4_cidr=cfg.network.master_ipv4_cidr,
                gateway_api=cfg.gateway is not None,
            ),
            opts=after_apis,
        )
        pools = res[f"pools{suffix}"] = NodePools(
            f"pools{suffix}",
            NodePoolsArgs(
                project=cfg.project,
                region=rc.region,
                cluster_name=gke.cluster.name,
                nodes=nodes,
                system_machine_type=cfg.gke.system_machine_type,
                system_node_count=cfg.gke.system_node_count,
                system_zone=rc.zone,
                # serving variants: their ComputeClasses have GKE create the accelerator pools
                accelerator=None if cfg.variants else derived.accelerator_pool(rc),
            ),
        )
        ready: list[pulumi.Resource] = [r for r in (pools.system, pools.accelerator) if r is not None]
        if cfg.gateway is not None:
            net = res[f"gateway-network{suffix}"] = GatewayNetwork(
                f"gateway-network{suffix}",
                GatewayNetworkArgs(
                    project=cfg.project,
                    region=rc.region,
                    network=cfg.network.network,
                    proxy_subnet_cidr=cfg.gateway.proxy_subnet_cidr,
                    address_name=render.context.gateway_address_name(rc) if cfg.gateway.dns_zone else None,
                    labels=lifecycle.labels,
                ),
                opts=after_apis,
            )
            ready.append(net)
            if net.address is not None:
                addresses[rc.region] = net.address.address
        if binding is None:
            # one Workload Identity binding: the project's identity pool is shared by its clusters
            binding = res["workload_identity"] = identity.bind_workload_identity(gke.cluster)
        rendered = built.rendered if index == 0 else render.render(rc)
        assert rendered is not None  # rendered above for every gke stack
        if index == 0:
            pulumi.export("clusterName", gke.cluster.name)
            pulumi.export("clusterEndpoint", gke.cluster.endpoint)
            pulumi.export("kubeconfig", gke.kubeconfig)
            if pools.accelerator is not None:
                pulumi.export("acceleratorPool", pools.accelerator.name)
            pulumi.export(
                "getCredentials",
                pulumi.Output.concat(
                    "gcloud container clusters get-credentials ",
                    gke.cluster.name,
                    " --region ",
                    rc.region,
                    " --project ",
                    cfg.project,
                ),
            )
        else:
            pulumi.export(f"clusterName-{rc.region}", gke.cluster.name)
        res[f"serving{suffix}"] = Serving(
            f"k8s{suffix}",
            serving_args(rc, rendered, gke.provider, identity.workload_service_account),
            opts=pulumi.ResourceOptions(depends_on=[*ready, binding]),
        )
    if cfg.gateway is not None and cfg.gateway.dns_zone and cfg.gateway.dns_name:
        res["dns"] = GeoDns(
            "dns",
            GeoDnsArgs(
                project=cfg.project,
                managed_zone=cfg.gateway.dns_zone,
                name=cfg.gateway.dns_name,
                addresses=addresses,
            ),
            opts=after_apis,
        )
        pulumi.export("serviceName", cfg.gateway.dns_name)
    return built


def run() -> Built:
    """The program ``pulumi up`` runs: load and validate the stack's config, then declare everything."""
    return build(from_pulumi())
