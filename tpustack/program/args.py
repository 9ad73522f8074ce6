"""Each component's Args, derived from a validated config (and, where it matters, one region or serving unit).

Pure functions of the config plus the Pulumi values other components produce (a bucket name, a service-account
email, a provider); the composition root (tpustack.program) wires the components with them.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from tpustack import render
from tpustack.components.gateway import GatewayNetwork, GatewayNetworkArgs, GeoDnsArgs
from tpustack.components.gke import ClusterArgs, NodeIdentity, NodePoolsArgs
from tpustack.components.identity import Account, BucketScope, GkeIdentityArgs, TpuVmIdentityArgs
from tpustack.components.lifecycle import Lifecycle, LifecycleArgs
from tpustack.components.results import ResultsStoreArgs
from tpustack.components.services import ProjectServicesArgs
from tpustack.components.serving import InferencePoolArgs, ServingArgs
from tpustack.components.tpu_vm import TpuVmArgs, WorkloadObject
from tpustack.config import derived
from tpustack.config.autoscaling import scaling
from tpustack.config.model import StackConfig
from tpustack.config.units import Provisioning, Region, ServingUnit
from tpustack.core import autoscaling, names
from tpustack.core.capacity import CapacityType
from tpustack.core.catalog import TpuShape
from tpustack.core.errors import InternalError
from tpustack.render import Rendered
from tpustack.render import gateway as gateway_render
from tpustack.render import weights as render_weights
from tpustack.render.autoscaling import ADAPTER_ROLE_ID


def model_bucket(cfg: StackConfig) -> str | None:
    """The bucket servers read the weights from: the gs:// model's, or the one it is staged in."""
    uri = cfg.model.weights_uri if cfg.model else None
    return names.gcs_split(uri)[0] if uri else None


def stage_prefix(cfg: StackConfig) -> str | None:
    """The folder of the model bucket the staging Job writes (model.stage), ending in '/'."""
    stage = cfg.model.stage if cfg.model else None
    return names.gcs_split(stage)[1].strip("/") + "/" if stage else None


def weights_fill_ksa(cfg: StackConfig) -> tuple[str, str] | None:
    """(namespace, KSA) GKE Volume Populator fills the Hyperdisk ML volume as, when a region has one."""
    if not any(derived.hyperdisk_volume(cfg, r) for r in cfg.serving_regions):
        return None
    return names.namespace(cfg.stack), render_weights.FILL_KSA


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
    # every TPU slice, single- or multi-host, reads and (its leader) writes the stack's XLA cache
    # (tpustack.render.context._compile_cache)
    compile_cache = bool(cfg.engine and cfg.engine.compile_cache and any(u.shape.kind == "tpu" for u in cfg.units))
    cache = [f"{names.COMPILE_CACHE_PREFIX}/{names.stack_dir(cfg.stack)}/"] if compile_cache else []
    return BucketScope(create=[own], read=[own], rewrite=cache)


def _account(cfg: StackConfig, role: str, purpose: str) -> Account:
    return Account(names.account_id(cfg.stack, role), f"{purpose}: stack {cfg.stack}")


def tpu_vm_identity_args(cfg: StackConfig, results_bucket: pulumi.Input[str]) -> TpuVmIdentityArgs:
    return TpuVmIdentityArgs(
        project=cfg.project,
        tpu_vm=_account(cfg, "tpu", "TPU VM (tpustack)"),
        results_bucket=results_bucket,
        results_scope=results_scope(cfg),
        model_bucket=model_bucket(cfg),
    )


def gke_identity_args(cfg: StackConfig, results_bucket: pulumi.Input[str]) -> GkeIdentityArgs:
    return GkeIdentityArgs(
        project=cfg.project,
        node=_account(cfg, "node", "GKE nodes (tpustack)"),
        workload=_account(cfg, "wl", "serving and benchmark pods (tpustack)"),
        results_bucket=results_bucket,
        results_scope=results_scope(cfg),
        model_bucket=model_bucket(cfg),
        model_stage=stage_prefix(cfg),
        weights_fill_ksa=weights_fill_ksa(cfg),
        workload_identity_member=names.wi_member(cfg.project, names.namespace(cfg.stack), names.SERVING_KSA),
        **_adapter_identity(cfg),
    )


def _adapter_identity(cfg: StackConfig) -> dict:
    """The metrics adapter's GSA and Workload Identity principal, when the stack renders an HPA."""
    if scaling(cfg) is None:
        return {}
    return {
        "metrics_adapter": _account(cfg, ADAPTER_ROLE_ID, "custom metrics adapter (tpustack)"),
        "metrics_adapter_member": names.wi_member(cfg.project, autoscaling.ADAPTER_NAMESPACE, autoscaling.ADAPTER_KSA),
    }


def tpu_vm_args(
    cfg: StackConfig,
    unit: ServingUnit,
    service_account: pulumi.Input[str],
    labels: pulumi.Input[dict[str, str]],
    results_bucket: pulumi.Input[str],
) -> TpuVmArgs:
    shape = unit.shape
    if not isinstance(shape, TpuShape):  # config rules: tpu-vm stacks have a TPU
        raise InternalError(f"tpu_vm_args: {shape.name} is not a TPU")
    vm_name = names.resource_name(cfg.stack, limit=63)
    stack_dir = names.stack_dir(cfg.stack)
    capacity = unit.first_capacity.type
    script, objects = None, []
    if cfg.workload is not None and capacity is not CapacityType.QUEUED:
        prefix = f"{names.WORKLOADS_PREFIX}/{stack_dir}"
        code = render.payload(render.HEARTBEAT_ENTRY)
        objects = [
            WorkloadObject(slug=f.slug, object_name=f"{prefix}/{f.path}", content=f.source.read_text())
            for f in code.files
        ]
        script = render.tpu_vm_startup(
            cfg,
            unit,
            workloads_uri=f"gs://{cfg.results_bucket}/{prefix}",
            results_prefix=f"gs://{cfg.results_bucket}/{stack_dir}",
            vm_name=vm_name,
        )
    return TpuVmArgs(
        project=cfg.project,
        zone=unit.region.zone,
        vm_name=vm_name,
        accelerator_type=shape.accelerator_type,
        runtime_version=shape.runtime_version,
        capacity=capacity,
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


def cluster_args(cfg: StackConfig, region: Region, nodes: NodeIdentity) -> ClusterArgs:
    return ClusterArgs(
        project=cfg.project,
        name=names.resource_name(cfg.stack, "" if region.primary else region.name),
        region=region.name,
        zones=list(region.zones),
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
    )


def node_pools_args(
    cfg: StackConfig, region: Region, cluster_name: pulumi.Input[str], nodes: NodeIdentity
) -> NodePoolsArgs:
    # Units GKE provisions from their ComputeClasses get their pools from GKE; the others get a declared pool.
    declared = [u for u in cfg.units_in(region) if u.provisioning is Provisioning.NODE_POOL]
    if len(declared) > 1:
        raise InternalError("a region with more than one declared accelerator pool")
    return NodePoolsArgs(
        project=cfg.project,
        region=region.name,
        cluster_name=cluster_name,
        nodes=nodes,
        system_machine_type=cfg.gke.system_machine_type,
        system_node_count=cfg.gke.system_node_count,
        system_zone=region.zone,
        accelerator=derived.accelerator_pool(cfg, declared[0]) if declared else None,
    )


def gateway_network_args(cfg: StackConfig, region: Region, lifecycle: Lifecycle | None) -> GatewayNetworkArgs:
    if cfg.gateway is None or lifecycle is None:
        raise InternalError("gateway_network_args of a stack without a gateway or lifecycle")
    return GatewayNetworkArgs(
        project=cfg.project,
        region=region.name,
        network=cfg.network.network,
        proxy_subnet_cidr=cfg.gateway.proxy_subnet_cidr,
        address_name=gateway_render.gateway_address_name(cfg, region) if cfg.gateway.dns_zone else None,
        labels=lifecycle.labels,
    )


def geo_dns_args(cfg: StackConfig, networks: dict[str, GatewayNetwork | None]) -> GeoDnsArgs | None:
    """DNS answering each client with its nearest region's gateway, when the stack names a zone and a name."""
    g = cfg.gateway
    if g is None or not g.dns_zone or not g.dns_name:
        return None
    addresses: dict[str, pulumi.Input[str]] = {
        region: net.address.address for region, net in networks.items() if net is not None and net.address is not None
    }
    return GeoDnsArgs(project=cfg.project, managed_zone=g.dns_zone, name=g.dns_name, addresses=addresses)


def serving_args(
    cfg: StackConfig, rendered: Rendered, provider: k8s.Provider, workload_service_account: pulumi.Input[str]
) -> ServingArgs:
    """The Kubernetes side of one region of a gke stack: its namespace, KSA, token Secret and rendered apps."""
    has_secret = names.HF_SECRET in rendered.secrets
    token = pulumi.Output.secret(cfg.hf_token.get_secret_value()) if cfg.hf_token is not None else None
    endpoint = None
    if cfg.engine is not None:
        endpoint = names.service_url(cfg.engine.record.server_name, names.namespace(cfg.stack), cfg.engine.port)
    extra: dict[str, Any] = {"clusterMinor": rendered.cluster_minor}
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
        extra_outputs=extra,
        pool=InferencePoolArgs(release=names.POOL_NAME, values=gateway_render.pool_values(cfg))
        if cfg.gateway is not None
        else None,
    )
