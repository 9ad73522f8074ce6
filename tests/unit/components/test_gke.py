"""GkeCluster and NodePools from their own Args: a hardened cluster whose every pool runs as the custom node SA,
and the capacity rule matrix of an ``AcceleratorPool`` as the node-pool inputs GKE reads."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest

from tpustack.components.gke import (
    CLUSTER_TIMEOUTS,
    POOL_TIMEOUTS,
    ClusterArgs,
    GkeCluster,
    NodeIdentity,
    NodePools,
    NodePoolsArgs,
)
from tpustack.config.derived import AcceleratorPool, Autoscaling
from tpustack.core import names
from tpustack.core.capacity import CapacityType

from helpers import CLUSTER_CA_PEM, CLUSTER_ENDPOINT, MockStack, Registered, after, mock_stack_fixture, stand_in

stack = mock_stack_fixture()

CLUSTER = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
K8S_PROVIDER = "pulumi:providers:kubernetes"
PROJECT, REGION, ZONE = "unit-project", "us-east5", "us-east5-a"
NODE_SA = f"tps-unit-node@{PROJECT}.iam.gserviceaccount.com"
RESOURCE_LABELS = {names.LABEL_STACK: "unit", names.LABEL_EXPIRES: "1795420800"}
NODES = NodeIdentity(service_account=NODE_SA, resource_labels=RESOURCE_LABELS, node_labels={names.LABEL_STACK: "unit"})


def cluster_args(**changes) -> ClusterArgs:
    base = ClusterArgs(
        project=PROJECT,
        name="tpustack-unit",
        region=REGION,
        zones=[ZONE],
        nodes=NODES,
        system_machine_type="e2-standard-4",
        release_channel="REGULAR",
        min_master_version=None,
        deletion_protection=False,
    )
    return dataclasses.replace(base, **changes)


def cluster(stack: MockStack, **changes) -> tuple[GkeCluster, Registered]:
    comp = stack.build(lambda: GkeCluster("gke", cluster_args(**changes)))
    return comp, stack.record(comp.cluster)


# ----- accelerator pools as tpustack.config.derived.accelerator_pool makes them, by hand ---------------------------
def tpu_pool(**changes) -> AcceleratorPool:
    """v6e-8 on demand: one single-host node of 8 chips."""
    base = AcceleratorPool(
        name="tpu-v6e-8",
        kind="tpu",
        machine_type="ct6e-standard-8t",
        zone=ZONE,
        node_count=1,
        initial_nodes=None,
        autoscaling=None,
        expected_nodes=1,
        auto_repair=True,
        capacity=CapacityType.ON_DEMAND,
        reservation=None,
        compact_topology=None,
        disk_size_gb=None,
        gpu_type=None,
        gpu_count=None,
        labels={names.LABEL_STACK: "unit"},
        gke_labels={names.TPU_ACCELERATOR_LABEL: "tpu-v6e-slice", names.TPU_TOPOLOGY_LABEL: "2x4"},
    )
    return dataclasses.replace(base, **changes)


def multi_host_pool(**changes) -> AcceleratorPool:
    """v6e-16: a 4x4 slice of four hosts, four chips each."""
    return tpu_pool(
        name="tpu-v6e-16",
        machine_type="ct6e-standard-4t",
        node_count=4,
        expected_nodes=4,
        compact_topology="4x4",
        gke_labels={names.TPU_ACCELERATOR_LABEL: "tpu-v6e-slice", names.TPU_TOPOLOGY_LABEL: "4x4"},
        **changes,
    )


def gpu_pool(**changes) -> AcceleratorPool:
    return tpu_pool(
        name="gpu-h100-80gb",
        kind="gpu",
        machine_type="a3-highgpu-8g",
        gpu_type="nvidia-h100-80gb",
        gpu_count=8,
        gke_labels={names.GPU_ACCELERATOR_LABEL: "nvidia-h100-80gb"},
        **changes,
    )


def on_demand_later(**changes) -> dict:
    """The fields a flex-start or queued pool has: nodes only on request, autoscaled from 0, no auto-repair."""
    return dict(
        node_count=None,
        initial_nodes=0,
        autoscaling=Autoscaling(0, 1),
        auto_repair=False,
        capacity=CapacityType.FLEX_START,
        **changes,
    )


CAPACITIES = {
    "on-demand": tpu_pool(),
    "spot": tpu_pool(capacity=CapacityType.SPOT),
    "reservation": tpu_pool(capacity=CapacityType.RESERVATION, reservation="unit-res"),
    "flex-start": tpu_pool(**on_demand_later()),
    "queued": tpu_pool(**{**on_demand_later(), "capacity": CapacityType.QUEUED}),
    "multi-host": multi_host_pool(capacity=CapacityType.RESERVATION, reservation="unit-res"),
    "gpu": gpu_pool(capacity=CapacityType.SPOT),
    "autoscaled": tpu_pool(node_count=None, initial_nodes=1, autoscaling=Autoscaling(0, 3)),
}


def pools_args(accelerator: AcceleratorPool | None, **changes) -> NodePoolsArgs:
    base = NodePoolsArgs(
        project=PROJECT,
        region=REGION,
        cluster_name="tpustack-unit",
        nodes=NODES,
        system_machine_type="e2-standard-4",
        system_node_count=1,
        system_zone=ZONE,
        accelerator=accelerator,
    )
    return dataclasses.replace(base, **changes)


def pools(stack: MockStack, accelerator: AcceleratorPool | None, **kw) -> tuple[NodePools, Registered | None]:
    comp = stack.build(lambda: NodePools("pools", pools_args(accelerator), **kw))
    return comp, stack.record(comp.accelerator) if comp.accelerator is not None else None


def unhardened(node_config: dict) -> list[str]:
    """What a node config lacks of the hardening every pool must have (STYLE "Security defaults")."""
    problems = []
    sa = node_config.get("serviceAccount")
    if not sa or sa == "default" or sa.endswith("-compute@developer.gserviceaccount.com"):
        problems.append(f"service account {sa!r} is not the custom node SA")
    if node_config.get("workloadMetadataConfig") != {"mode": "GKE_METADATA"}:
        problems.append("metadata server is not GKE_METADATA")
    if node_config.get("shieldedInstanceConfig") != {"enableSecureBoot": True, "enableIntegrityMonitoring": True}:
        problems.append("not shielded")
    if node_config.get("oauthScopes") != [names.CLOUD_PLATFORM_SCOPE]:
        problems.append(f"scopes {node_config.get('oauthScopes')}")
    return problems


class TestEveryPoolRunsAsTheCustomNodeSa:
    @pytest.mark.parametrize("kind", sorted(CAPACITIES))
    def test_system_and_accelerator_pools(self, stack, kind):
        comp, _ = pools(stack, CAPACITIES[kind])
        node_pools = stack.children(comp, POOL)
        assert len(node_pools) == 2
        for r in node_pools:
            assert unhardened(r.inputs["nodeConfig"]) == [], r.urn
            assert r.inputs["nodeConfig"]["serviceAccount"] == NODE_SA
            assert r.inputs["nodeConfig"]["resourceLabels"] == RESOURCE_LABELS
            assert r.inputs["nodeConfig"]["labels"] == {names.LABEL_STACK: "unit"}

    def test_the_clusters_default_pool_too(self, stack):
        """Removed after create, but it exists for minutes: it must not run as the Compute default SA either."""
        _, c = cluster(stack)
        assert c.inputs["removeDefaultNodePool"] is True
        assert unhardened(c.inputs["nodeConfig"]) == []

    @pytest.mark.parametrize(
        "doctor",
        [
            {"serviceAccount": "default"},
            {"serviceAccount": "123-compute@developer.gserviceaccount.com"},
            {"workloadMetadataConfig": {"mode": "GCE_METADATA"}},
            {"shieldedInstanceConfig": {"enableSecureBoot": False, "enableIntegrityMonitoring": True}},
        ],
    )
    def test_the_check_catches_an_unhardened_pool(self, stack, doctor):
        _, accel = pools(stack, tpu_pool())
        assert accel is not None
        assert unhardened({**accel.inputs["nodeConfig"], **doctor})


class TestSingleHostTpu:
    def test_no_topology_and_a_fixed_node(self, stack):
        comp, accel = pools(stack, tpu_pool())
        assert accel is not None and accel.name == "pools-tpu"
        assert accel.inputs["name"] == "tpu-v6e-8"
        assert accel.inputs["nodeConfig"]["machineType"] == "ct6e-standard-8t"
        assert "placementPolicy" not in accel.inputs, "GKE rejects a TPU topology on single-host pools"
        assert accel.inputs["nodeCount"] == 1 and "autoscaling" not in accel.inputs
        assert accel.inputs["nodeLocations"] == [ZONE]
        assert (accel.inputs["cluster"], accel.inputs["location"], accel.inputs["project"]) == (
            "tpustack-unit",
            REGION,
            PROJECT,
        )

    def test_upgrades_replace_in_place(self, stack):
        """Surge needs spare accelerators, which rarely exist."""
        _, accel = pools(stack, tpu_pool())
        assert accel is not None
        assert accel.inputs["upgradeSettings"] == {"maxSurge": 0, "maxUnavailable": 1, "strategy": "SURGE"}
        assert accel.inputs["management"] == {"autoRepair": True, "autoUpgrade": True}

    def test_boot_disk_for_the_weights(self, stack):
        _, accel = pools(stack, tpu_pool(disk_size_gb=250))
        assert accel is not None and accel.inputs["nodeConfig"]["diskSizeGb"] == 250

    def test_no_model_keeps_the_default_disk(self, stack):
        _, accel = pools(stack, tpu_pool())
        assert accel is not None and "diskSizeGb" not in accel.inputs["nodeConfig"]


class TestMultiHostSliceIsCompact:
    def test_compact_placement_with_the_slice_topology(self, stack):
        _, accel = pools(stack, multi_host_pool())
        assert accel is not None
        assert accel.inputs["placementPolicy"] == {"type": "COMPACT", "tpuTopology": "4x4"}
        assert accel.inputs["nodeCount"] == 4, "every host of the slice"
        assert accel.inputs["nodeConfig"]["machineType"] == "ct6e-standard-4t"
        assert accel.ignore_changes == (), "a slice's size is fixed, not the autoscaler's"


class TestGpuPool:
    def test_gpus_with_gke_managed_drivers(self, stack):
        _, accel = pools(stack, gpu_pool())
        assert accel is not None and accel.name == "pools-gpu"
        assert accel.inputs["nodeConfig"]["guestAccelerators"] == [
            {"type": "nvidia-h100-80gb", "count": 8, "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"}}
        ]
        assert "placementPolicy" not in accel.inputs

    def test_tpu_pools_attach_no_gpus(self, stack):
        _, accel = pools(stack, tpu_pool())
        assert accel is not None and "guestAccelerators" not in accel.inputs["nodeConfig"]


class TestCapacityRuleMatrix:
    """cluster-toolkit gke-node-pool and GKE's flex-start / queued provisioning docs, as node-pool inputs."""

    def capacity_inputs(self, stack: MockStack, kind: str) -> tuple[dict, dict]:
        _, accel = pools(stack, CAPACITIES[kind])
        assert accel is not None
        return accel.inputs, accel.inputs["nodeConfig"]

    def test_on_demand(self, stack):
        pool, node = self.capacity_inputs(stack, "on-demand")
        assert not {"spot", "flexStart", "reservationAffinity"} & set(node)
        assert "queuedProvisioning" not in pool

    def test_spot(self, stack):
        pool, node = self.capacity_inputs(stack, "spot")
        assert node["spot"] is True
        assert not {"flexStart", "reservationAffinity"} & set(node)

    def test_specific_reservation(self, stack):
        _, node = self.capacity_inputs(stack, "reservation")
        assert node["reservationAffinity"] == {
            "consumeReservationType": "SPECIFIC_RESERVATION",
            "key": "compute.googleapis.com/reservation-name",
            "values": ["unit-res"],
        }
        assert "spot" not in node

    @pytest.mark.parametrize("kind", ["flex-start", "queued"])
    def test_nodes_only_on_request_never_from_a_reservation(self, stack, kind):
        pool, node = self.capacity_inputs(stack, kind)
        assert node["flexStart"] is True
        assert node["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}
        assert pool["management"]["autoRepair"] is False
        assert pool["initialNodeCount"] == 0 and "nodeCount" not in pool
        assert pool["autoscaling"] == {"totalMinNodeCount": 0, "totalMaxNodeCount": 1, "locationPolicy": "ANY"}
        assert ("queuedProvisioning" in pool) is (kind == "queued")
        if kind == "queued":
            assert pool["queuedProvisioning"] == {"enabled": True}

    def test_multi_host_slice_from_a_reservation(self, stack):
        pool, node = self.capacity_inputs(stack, "multi-host")
        assert node["reservationAffinity"]["consumeReservationType"] == "SPECIFIC_RESERVATION"
        assert pool["placementPolicy"]["type"] == "COMPACT"

    # The pool's capacity was once five independent flags, and a combination derived.accelerator_pool never makes
    # (flex-start without no-reservation, spot with a reservation) silently became another capacity. Now the pool
    # holds one CapacityType, and a reservation name only goes with a reservation.
    @pytest.mark.parametrize(
        "changes",
        [{"capacity": CapacityType.SPOT, "reservation": "unit-res"}, {"capacity": CapacityType.RESERVATION}],
        ids=["spot-and-reservation", "reservation-without-name"],
    )
    def test_an_inconsistent_capacity_is_refused(self, changes):
        with pytest.raises(ValueError, match="reservation name goes with capacity reservation"):
            tpu_pool(**changes)


class TestTheAutoscalerOwnsTheSizeOfAutoscaledPools:
    @pytest.mark.parametrize("kind", ["autoscaled", "flex-start", "queued"])
    def test_size_changes_are_ignored(self, stack, kind):
        _, accel = pools(stack, CAPACITIES[kind])
        assert accel is not None
        assert set(accel.ignore_changes) == {"nodeCount", "initialNodeCount"}

    def test_autoscaling_bounds(self, stack):
        _, accel = pools(stack, CAPACITIES["autoscaled"])
        assert accel is not None
        assert accel.inputs["autoscaling"] == {"totalMinNodeCount": 0, "totalMaxNodeCount": 3, "locationPolicy": "ANY"}
        assert accel.inputs["initialNodeCount"] == 1

    @pytest.mark.parametrize("kind", ["on-demand", "spot", "multi-host", "gpu"])
    def test_fixed_pools_track_their_size(self, stack, kind):
        _, accel = pools(stack, CAPACITIES[kind])
        assert accel is not None and accel.ignore_changes == ()


class TestPoolsReplaceFirstAndWaitLong:
    def test_options(self, stack):
        comp, accel = pools(stack, tpu_pool())
        system = stack.record(comp.system)
        assert accel is not None
        assert system.delete_before_replace and accel.delete_before_replace, "pool names are fixed"
        assert accel.custom_timeouts == {
            "create": POOL_TIMEOUTS.create,
            "update": POOL_TIMEOUTS.update,
            "delete": POOL_TIMEOUTS.delete,
        }
        assert system.custom_timeouts == {"create": "45m", "update": "45m", "delete": "45m"}


class TestSystemPool:
    def test_the_system_pool(self, stack):
        comp, _ = pools(stack, tpu_pool())
        system = stack.record(comp.system)
        assert system.name == "pools-system" and system.inputs["name"] == "system"
        assert system.inputs["nodeCount"] == 1 and system.inputs["nodeLocations"] == [ZONE]
        assert system.inputs["nodeConfig"]["machineType"] == "e2-standard-4"
        assert system.inputs["management"] == {"autoRepair": True, "autoUpgrade": True}

    def test_serving_variants_get_no_accelerator_pool(self, stack):
        """Variants' ComputeClasses have GKE create their pools: only the system pool is declared."""
        comp, accel = pools(stack, None)
        assert accel is None and comp.accelerator is None
        assert [r.inputs["name"] for r in stack.children(comp, POOL)] == ["system"]


class TestPoolsWaitForTheCluster:
    def test_through_the_cluster_name(self, stack):
        """The program passes no depends_on to NodePools: the cluster's name output is what orders them."""

        def make():
            gke = GkeCluster("gke", cluster_args())
            return gke, NodePools("pools", pools_args(tpu_pool(), cluster_name=gke.cluster.name))

        gke, comp = stack.build(make)
        for r in stack.children(comp, POOL):
            assert r.waits_for(stack.urn(gke.cluster)), r.urn
            assert r.inputs["cluster"] == "tpustack-unit"

    def test_and_for_what_the_caller_names(self, stack):
        def make():
            apis = stand_in("apis-ready")
            return apis, NodePools("pools", pools_args(tpu_pool()), opts=after(apis))

        apis, comp = stack.build(make)
        for r in stack.children(comp, POOL):
            assert r.waits_for(stack.urn(apis)), r.urn


# ----- the cluster ------------------------------------------------------------------------------------------------
class TestClusterIsHardened:
    def test_workload_identity_pool_of_the_project(self, stack):
        _, c = cluster(stack)
        assert c.inputs["workloadIdentityConfig"] == {"workloadPool": f"{PROJECT}.svc.id.goog"}

    def test_shielded_nodes_and_no_client_certificate(self, stack):
        _, c = cluster(stack)
        assert c.inputs["enableShieldedNodes"] is True
        assert c.inputs["masterAuth"] == {"clientCertificateConfig": {"issueClientCertificate": False}}

    def test_regional_vpc_native_with_the_args(self, stack):
        _, c = cluster(stack, zones=["us-east5-a", "us-east5-b"], min_master_version="1.34")
        want = {
            "name": "tpustack-unit",
            "project": PROJECT,
            "location": REGION,
            "nodeLocations": ["us-east5-a", "us-east5-b"],
            "network": "default",
            "networkingMode": "VPC_NATIVE",
            "releaseChannel": {"channel": "REGULAR"},
            "minMasterVersion": "1.34",
            "resourceLabels": RESOURCE_LABELS,
        }
        assert {k: c.inputs.get(k) for k in want} == want

    def test_managed_prometheus_and_gcs_fuse(self, stack):
        _, c = cluster(stack)
        assert c.inputs["monitoringConfig"]["managedPrometheus"] == {"enabled": True}
        assert c.inputs["addonsConfig"]["gcsFuseCsiDriverConfig"] == {"enabled": True}

    def test_the_removed_default_pool_never_forces_a_replacement(self, stack):
        _, c = cluster(stack)
        assert set(c.ignore_changes) == {"nodeConfig", "initialNodeCount"}
        assert c.custom_timeouts == {
            "create": CLUSTER_TIMEOUTS.create,
            "update": CLUSTER_TIMEOUTS.update,
            "delete": CLUSTER_TIMEOUTS.delete,
        }


class TestDeletionProtectionIsTheCallers:
    """On for prod stacks, off for experiments so `pulumi destroy` works: the Args decide, nothing else."""

    @pytest.mark.parametrize("protected", [True, False])
    def test_deletion_protection(self, stack, protected):
        _, c = cluster(stack, deletion_protection=protected)
        assert c.inputs["deletionProtection"] is protected
        assert not c.protect, "the cluster is guarded by GKE's deletion_protection, not Pulumi's protect"


class TestOptionalClusterFeatures:
    def test_private_nodes(self, stack):
        _, c = cluster(stack, private_nodes=True, master_ipv4_cidr="172.16.0.48/28", subnetwork="sub-a")
        assert c.inputs["privateClusterConfig"] == {
            "enablePrivateNodes": True,
            "enablePrivateEndpoint": False,
            "masterIpv4CidrBlock": "172.16.0.48/28",
        }
        assert c.inputs["subnetwork"] == "sub-a"

    def test_public_nodes_by_default(self, stack):
        _, c = cluster(stack)
        assert "privateClusterConfig" not in c.inputs and "gatewayApiConfig" not in c.inputs

    def test_gateway_api(self, stack):
        _, c = cluster(stack, gateway_api=True)
        assert c.inputs["gatewayApiConfig"] == {"channel": "CHANNEL_STANDARD"}


class TestKubeconfigHoldsNoStaticCredential:
    def test_kubeconfig_is_a_secret_that_authenticates_with_the_gcloud_plugin(self, stack):
        comp, _ = cluster(stack)
        assert stack.is_secret(comp.kubeconfig)
        cfg = json.loads(stack.resolve(comp.kubeconfig))
        (entry,) = cfg["clusters"]
        assert entry["cluster"]["server"] == f"https://{CLUSTER_ENDPOINT}"
        assert base64.b64decode(entry["cluster"]["certificate-authority-data"]) == CLUSTER_CA_PEM
        (user,) = cfg["users"]
        assert set(user["user"]) == {"exec"}, "no token, password or client key"
        assert user["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
        assert cfg["current-context"] == "tpustack-unit"

    def test_the_provider_gets_it_as_a_secret_and_waits_for_the_cluster(self, stack):
        comp, c = cluster(stack)
        provider = stack.record(comp.provider)
        assert provider.type == K8S_PROVIDER and provider.name == "gke-k8s"
        assert provider.parent == stack.urn(comp)
        assert "kubeconfig" in provider.secret_paths
        assert provider.waits_for(c)


class TestRegisteredOutputs:
    def test_cluster_outputs(self, stack):
        comp, _ = cluster(stack)
        out = stack.outputs_of(comp)
        assert set(out) == {"name", "endpoint", "kubeconfig"}
        assert (out["name"], out["endpoint"]) == ("tpustack-unit", CLUSTER_ENDPOINT)
        assert json.loads(out["kubeconfig"])["current-context"] == "tpustack-unit"

    def test_pool_outputs(self, stack):
        comp, _ = pools(stack, tpu_pool())
        assert stack.outputs_of(comp) == {"system": "system", "accelerator": "tpu-v6e-8"}


class TestClusterWaitsForTheApis:
    def test_the_cluster_waits_for_what_the_caller_names(self, stack):
        def make():
            apis = stand_in("apis-ready")
            return apis, GkeCluster("gke", cluster_args(), opts=after(apis))

        apis, comp = stack.build(make)
        assert stack.record(comp.cluster).waits_for(stack.urn(apis))
        assert stack.waits_for(comp.provider, apis)
