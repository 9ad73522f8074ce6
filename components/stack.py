"""Wires the components of one stack together from a validated StackConfig and exports its outputs.

Order (each arrow a dependency): ProjectServices -> ResultsStore -> Identity -> TpuVm | GkeCluster ->
NodePools -> (Workload Identity binding, serving). Destroy runs it backwards, so Kubernetes objects go
before node pools, node pools before the cluster, and the results bucket and APIs are never touched.
"""

from __future__ import annotations

import pulumi

from .config import StackConfig
from .gke import GkeCluster, NodePools
from .identity import Identity
from .lifecycle import Lifecycle
from .results import ResultsStore
from .services import ProjectServices
from .tpu_vm import TpuVm


def build(cfg: StackConfig) -> dict[str, pulumi.Resource]:
    """Declare every resource of the stack. Only called with a fully validated config."""
    built: dict[str, pulumi.Resource] = {}
    if cfg.target == "gke":
        from . import manifests

        manifests.render(cfg)  # Kubernetes objects are checked before any resource is declared
    services = built["services"] = ProjectServices("apis", cfg)
    results = built["results"] = ResultsStore("results", cfg, depends_on=[services.ready])
    pulumi.export("target", cfg.target)
    pulumi.export("resultsBucket", results.url)
    if not cfg.is_experiment:
        return built

    shape = cfg.shape
    pulumi.export("accelerator", shape.name)
    pulumi.export("chips", shape.chips)
    pulumi.export("hosts", shape.hosts)
    lifecycle = built["lifecycle"] = Lifecycle("lifecycle", cfg)
    pulumi.export("expiresUnix", lifecycle.expires_unix)
    identity = built["identity"] = Identity("identity", cfg, results_bucket=results.name,
                                            depends_on=[services.ready])

    if cfg.target == "tpu-vm":
        assert identity.tpu_vm_sa is not None
        vm = built["tpu_vm"] = TpuVm("tpu", cfg, service_account=identity.tpu_vm_sa.email,
                                     results_bucket=results.name, labels=lifecycle.labels,
                                     depends_on=[services.ready])
        pulumi.export("tpuVmName", vm.vm.name if vm.vm else vm.queued.name)  # type: ignore[union-attr]
        pulumi.export("tpuVmIp", vm.ip)
        return built

    assert identity.node_sa is not None
    gke = built["gke"] = GkeCluster("gke", cfg, node_service_account=identity.node_sa.email,
                                    labels=lifecycle.labels, depends_on=[services.ready])
    pools = built["pools"] = NodePools("pools", cfg, cluster=gke.cluster,
                                       node_service_account=identity.node_sa.email, labels=lifecycle.labels)
    built["workload_identity"] = identity.bind_workload_identity(gke.cluster)
    pulumi.export("clusterName", gke.cluster.name)
    pulumi.export("clusterEndpoint", gke.cluster.endpoint)
    pulumi.export("kubeconfig", gke.kubeconfig)
    pulumi.export("acceleratorPool", pools.accelerator.name)
    pulumi.export("getCredentials", pulumi.Output.concat(
        "gcloud container clusters get-credentials ", gke.cluster.name, " --region ", cfg.region,
        " --project ", cfg.project))
    from .serving import Serving

    assert identity.workload_sa is not None
    token = pulumi.Output.secret(cfg.hf_token.get_secret_value()) if cfg.hf_token is not None else None
    built["serving"] = Serving("k8s", cfg, provider=gke.provider, workload_sa_email=identity.workload_sa.email,
                               hf_token=token, depends_on=[pools.system, pools.accelerator,
                                                           built["workload_identity"]])
    return built
