"""GCP side of every stack under the mock engine: the right resources, inputs, hardening and capacity."""

from __future__ import annotations

import copy

import pytest

from tpustack.config import load_config
from tpustack.config.autoscaling import scaling
from tpustack.config.project import read_stack_file
from tpustack.config.units import Provisioning
from tpustack.core import catalog
from tpustack.core import names as k8s_keys
from tpustack.core.errors import ConfigError
from tpustack.policy.checks import check_plan

from helpers.project import BASE, PROJECT, STACKS, by_type, plan_config, planned

CLUSTER = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
VM = "gcp:tpu/v2Vm:V2Vm"
QR = "gcp:tpu/v2QueuedResource:V2QueuedResource"
SA = "gcp:serviceaccount/account:Account"
PIAM = "gcp:projects/iAMMember:IAMMember"
BIAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
SAIAM = "gcp:serviceaccount/iAMMember:IAMMember"
BUCKET = "gcp:storage/bucket:Bucket"
SERVICE = "gcp:projects/service:Service"


def cfg_of(stack):
    values, secrets = read_stack_file(PROJECT, stack)
    return load_config(values, secrets, stack)


def accel_pool(p):
    pools = [r for r in by_type(p, POOL) if r.inputs["name"] != "system"]
    assert len(pools) == 1, [r.urn for r in pools]
    return pools[0]


class TestShapesReachTheApis:
    def test_single_host_v6e(self):
        pool = accel_pool(planned("gke-vllm-v6e"))
        assert pool.inputs["nodeConfig"]["machineType"] == "ct6e-standard-8t"
        assert pool.inputs["nodeCount"] == 1
        assert "placementPolicy" not in pool.inputs, "GKE rejects tpu_topology on single-host pools"
        assert pool.inputs["nodeLocations"] == ["us-east5-a"]

    def test_multi_host_v6e_16(self):
        p = planned("gke-vllm-v6e-multihost")
        pool = accel_pool(p)
        shape = catalog.lookup("v6e-16")
        assert pool.inputs["nodeConfig"]["machineType"] == "ct6e-standard-4t" == shape.machine_type
        assert pool.inputs["nodeCount"] == shape.hosts == 4
        assert pool.inputs["placementPolicy"] == {"type": "COMPACT", "tpuTopology": "4x4"}
        assert pool.inputs["nodeConfig"]["reservationAffinity"]["consumeReservationType"] == "SPECIFIC_RESERVATION"

    def test_jetstream_v5e(self):
        pool = accel_pool(planned("gke-jetstream-v5e"))
        assert pool.inputs["nodeConfig"]["machineType"] == "ct5lp-hightpu-8t"
        assert "placementPolicy" not in pool.inputs

    def test_gpu_pool(self):
        pool = accel_pool(planned("gke-vllm-gpu"))
        nc = pool.inputs["nodeConfig"]
        assert nc["machineType"] == "a3-highgpu-8g"
        assert nc["guestAccelerators"] == [
            {"type": "nvidia-h100-80gb", "count": 8, "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"}}
        ]

    def test_tpu_vm(self):
        p = planned("dev")
        (vm,) = by_type(p, VM)
        assert vm.inputs["acceleratorType"] == "v5litepod-1"
        assert vm.inputs["runtimeVersion"] == "v2-alpha-tpuv5-lite"
        assert vm.inputs["schedulingConfig"] == {"spot": True}
        assert vm.inputs["zone"] == "us-west4-a"
        script = vm.inputs["metadata"]["startup-script"]
        assert "python -m tpustack.workloads.heartbeat" in script and "--accelerator v5litepod-1" in script
        assert "gs://my-tpu-project-tpustack-results/dev/${RUN_ID}/heartbeat.json" in script
        # the workload is shipped as bucket objects, not inlined into metadata
        objects = by_type(p, "gcp:storage/bucketObject:BucketObject")
        assert objects and all(o.inputs["name"].startswith("_workloads/dev/tpustack/") for o in objects)
        assert all(o.urn in vm.depends_on for o in objects)
        assert not any("def " in str(v) for v in vm.inputs["metadata"].values())

    def test_queued_tpu_vm(self, base):
        base.update(
            {"tpustack:target": "tpu-vm", "tpustack:accelerator": "v6e-8", "tpustack:capacity": {"type": "queued"}}
        )
        for k in ("engine", "benchmark", "model", "hfToken"):
            base.pop(f"tpustack:{k}")
        p = plan_config(base)
        assert not by_type(p, VM)
        (qr,) = by_type(p, QR)
        node = qr.inputs["tpu"]["nodeSpecs"][0]
        assert node["parent"] == "projects/my-tpu-project/locations/us-east5-a"
        assert node["node"]["acceleratorType"] == "v6e-8" and node["node"]["runtimeVersion"] == "v2-alpha-tpuv6e"
        assert any("V2QueuedResource" in w for w in p.warnings)

    def test_outputs_users_need(self):
        out = planned("gke-vllm-v6e").outputs
        assert out["clusterName"] and out["clusterEndpoint"] == "203.0.113.10"
        assert out["kubeconfig"] == "[secret]"
        assert out["resultsBucket"] == "gs://my-tpu-project-tpustack-results"
        assert planned("dev").outputs["tpuVmIp"] == "192.0.2.10"


@pytest.mark.parametrize("stack", STACKS)
class TestHardeningInvariants:
    def test_checklist_passes(self, stack):
        assert check_plan(planned(stack), cfg_of(stack)) == []

    def test_no_primitive_roles_and_additive_iam(self, stack):
        for r in planned(stack).resources:
            assert r.inputs.get("role") not in {"roles/owner", "roles/editor", "roles/viewer"}, r.urn
            assert "IAMPolicy" not in r.type and "IAMBinding" not in r.type, r.urn

    def test_services_never_disabled_on_destroy(self, stack):
        services = by_type(planned(stack), SERVICE)
        assert services
        for s in services:
            assert s.inputs["disableOnDestroy"] is False and s.inputs["disableDependentServices"] is False


@pytest.mark.parametrize("stack", [s for s in STACKS if cfg_of(s).target == "gke"])
class TestGkeHardening:
    def test_node_sa_has_cis_role_and_only_that_plus_pulls(self, stack):
        p = planned(stack)
        node_sa = next(r for r in by_type(p, SA) if r.inputs["accountId"].endswith("-node"))
        email = f"{node_sa.inputs['accountId']}@my-tpu-project.iam.gserviceaccount.com"
        roles = {r.inputs["role"] for r in by_type(p, PIAM) if r.inputs["member"] == f"serviceAccount:{email}"}
        assert roles == {"roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"}
        for r in by_type(p, POOL) + by_type(p, CLUSTER):
            assert r.inputs["nodeConfig"]["serviceAccount"] == email, r.urn

    def test_workload_identity_everywhere(self, stack):
        p = planned(stack)
        clusters = by_type(p, CLUSTER)  # one per region the stack serves in
        assert clusters
        for cluster in clusters:
            assert cluster.inputs["workloadIdentityConfig"] == {"workloadPool": "my-tpu-project.svc.id.goog"}
        for r in by_type(p, POOL):
            assert r.inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}, r.urn
        bindings = by_type(p, SAIAM)
        assert all(b.inputs["role"] == "roles/iam.workloadIdentityUser" for b in bindings)
        # with an HPA, the metrics adapter's KSA (custom-metrics namespace) acts as its own GSA; nothing else
        adapter = k8s_keys.wi_member("my-tpu-project", "custom-metrics", "custom-metrics-stackdriver-adapter")
        others = [b for b in bindings if b.inputs["member"] == adapter]
        assert len(others) == (1 if scaling(cfg_of(stack)) is not None else 0)
        (binding,) = [b for b in bindings if b not in others]
        # the stack's own namespace: no other stack's KSA can act as this workload SA
        assert binding.inputs["member"] == k8s_keys.wi_member("my-tpu-project", f"tpustack-{stack}", "tpustack-serving")
        # the identity pool (one per project, whichever cluster made it) exists only once a cluster does
        assert any(c.urn in binding.depends_on for c in clusters), "the identity pool exists only once the cluster does"

    def test_workload_sa_acts_only_under_its_own_stack_folders(self, stack):
        p = planned(stack)
        wl = [r for r in by_type(p, BIAM) if "-wl@" in r.inputs["member"]]
        results = [r for r in wl if r.inputs["bucket"] == "my-tpu-project-tpustack-results"]
        assert {r.inputs["role"] for r in results} == {"roles/storage.objectCreator", "roles/storage.objectViewer"} | (
            # the XLA cache in the bucket: every TPU slice (a multi-host one's leader writes it, its workers read)
            {"roles/storage.objectUser"} if cfg_of(stack).primary.shape.kind == "tpu" else set()
        )
        objects = "projects/_/buckets/my-tpu-project-tpustack-results/objects/"
        for r in results:
            expr = r.inputs["condition"]["expression"]  # every grant on the shared bucket is scoped
            folder = f"xla-cache/{stack}/" if r.inputs["role"] == "roles/storage.objectUser" else f"{stack}/"
            terms = expr.split(" || ")
            assert terms[0] == f'resource.name.startsWith("{objects}{folder}")', expr
            listing = 'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith'
            assert terms[1:] == (
                [] if r.inputs["role"] == "roles/storage.objectCreator" else [f'{listing}("{folder}")']
            ), expr
        assert not [r for r in by_type(p, PIAM) if "-wl@" in r.inputs["member"]], "no project-wide grants"

    def test_shielded_nodes(self, stack):
        p = planned(stack)
        clusters = by_type(p, CLUSTER)
        assert clusters
        for cluster in clusters:
            assert cluster.inputs["enableShieldedNodes"] is True, cluster.urn
        for r in by_type(p, POOL):
            assert r.inputs["nodeConfig"]["shieldedInstanceConfig"] == {
                "enableSecureBoot": True,
                "enableIntegrityMonitoring": True,
            }

    def test_deletion_protection_follows_config(self, stack):
        clusters = by_type(planned(stack), CLUSTER)
        assert len(clusters) == len(cfg_of(stack).serving_regions)  # a cluster per region
        for cluster in clusters:
            assert cluster.inputs["deletionProtection"] is cfg_of(stack).lifecycle.protected is False, cluster.urn

    def test_pools_outlast_long_creates(self, stack):
        if all(u.provisioning is Provisioning.COMPUTE_CLASS for u in cfg_of(stack).units):
            pytest.skip(f"{stack}: GKE creates its accelerator pools from ComputeClasses (no pool resource)")
        pool = accel_pool(planned(stack))
        assert pool.options["customTimeouts"]["create"] == "90m"


class TestResultsSurviveDestroy:
    def test_experiments_own_no_bucket(self):
        for stack in STACKS:
            if cfg_of(stack).is_experiment:
                assert not by_type(planned(stack), BUCKET), stack

    def test_results_stack_bucket_is_hardened_protected_retained(self):
        (b,) = by_type(planned("results"), BUCKET)
        assert b.inputs["uniformBucketLevelAccess"] is True
        assert b.inputs["publicAccessPrevention"] == "enforced"
        assert b.inputs["forceDestroy"] is False and b.inputs["deletionPolicy"] == "ABANDON"
        assert b.inputs["versioning"] == {"enabled": True}
        assert b.options["protect"] is True and b.options["retainOnDelete"] is True

    def test_prod_cluster_is_deletion_protected(self, base):
        base["tpustack:lifecycle"] = {"environment": "prod"}
        (cluster,) = by_type(plan_config(base), CLUSTER)
        assert cluster.inputs["deletionProtection"] is True


class TestApisBeforeUse:
    @pytest.mark.parametrize("stack", ["dev", "gke-vllm-v6e"])
    def test_consumers_wait_for_propagation(self, stack):
        p = planned(stack)
        (sleep,) = by_type(p, "time:index/sleep:Sleep")
        assert set(sleep.depends_on) == {s.urn for s in by_type(p, SERVICE)}
        assert sleep.inputs["createDuration"] == "60s"
        for typ in (SA, CLUSTER, VM):
            for r in by_type(p, typ):
                assert sleep.urn in r.depends_on, f"{r.urn} may hit the post-enable 403 window"

    def test_tpu_api_only_where_used(self):
        apis = lambda s: {r.inputs["service"] for r in by_type(planned(s), SERVICE)}  # noqa: E731
        assert "tpu.googleapis.com" in apis("dev") and "container.googleapis.com" not in apis("dev")
        assert "container.googleapis.com" in apis("gke-vllm-v6e") and "tpu.googleapis.com" not in apis("gke-vllm-v6e")


class TestTtlLabels:
    @pytest.mark.parametrize("stack", [s for s in STACKS if s != "results"])
    def test_every_billable_resource_carries_stack_and_expiry(self, stack):
        p = planned(stack)
        billable = by_type(p, VM) + by_type(p, CLUSTER) + by_type(p, POOL)
        assert billable
        ttl = cfg_of(stack).lifecycle.ttl_hours
        for r in billable:
            labels = (
                r.inputs.get("labels") or r.inputs.get("resourceLabels") or r.inputs["nodeConfig"]["resourceLabels"]
            )
            assert labels[k8s_keys.LABEL_STACK] == stack
            assert int(labels[k8s_keys.LABEL_EXPIRES]) == 1795392000 + int(ttl * 3600), r.urn
            assert labels[k8s_keys.LABEL_KEEP] == "false"


# -- the capacity rule matrix ---------------------------------------------------------------------------
LLAMA_70B = {"id": "meta-llama/Llama-3.1-70B-Instruct", "paramsB": 70.6}
SHAPES = {
    "single-host-tpu": {"tpustack:accelerator": "v6e-8"},
    "multi-host-tpu": {"tpustack:accelerator": "v6e-16", "tpustack:model": LLAMA_70B},
    "gpu": {"tpustack:accelerator": "h100-8"},
}
CAPACITY = {
    "on-demand": {"type": "on-demand"},
    "spot": {"type": "spot"},
    "reservation": {"type": "reservation", "reservation": "projects/host-proj/reservations/tpu-res"},
    "flex-start": {"type": "flex-start"},
    "queued": {"type": "queued"},
}


@pytest.mark.parametrize("cap", list(CAPACITY))
@pytest.mark.parametrize("shape", list(SHAPES))
def test_capacity_matrix_pool_inputs(shape, cap):
    cfg = copy.deepcopy(BASE)
    cfg.update(SHAPES[shape])
    cfg["tpustack:capacity"] = CAPACITY[cap]
    p = plan_config(cfg)
    pool = accel_pool(p)
    nc, i = pool.inputs["nodeConfig"], pool.inputs
    hosts = catalog.lookup(cfg["tpustack:accelerator"]).hosts
    assert nc.get("spot", False) is (cap == "spot")
    # GKE today: queued provisioning is flex-start plus queuedProvisioning (GKE docs, "queued provisioning")
    assert nc.get("flexStart", False) is (cap in ("flex-start", "queued"))
    assert i.get("queuedProvisioning", {}).get("enabled", False) is (cap == "queued")
    ra = nc.get("reservationAffinity")
    if cap == "reservation":
        assert ra == {
            "consumeReservationType": "SPECIFIC_RESERVATION",
            "key": "compute.googleapis.com/reservation-name",
            "values": ["projects/host-proj/reservations/tpu-res"],
        }
    elif cap in ("flex-start", "queued"):
        # GKE: nodes on demand of a workload, from 0, never from a reservation, auto-repair off
        assert ra == {"consumeReservationType": "NO_RESERVATION"}
        assert i["initialNodeCount"] == 0 and "nodeCount" not in i
        assert i["autoscaling"] == {"totalMinNodeCount": 0, "totalMaxNodeCount": hosts, "locationPolicy": "ANY"}
    else:
        assert ra is None
    if cap not in ("flex-start", "queued"):
        assert i["nodeCount"] == hosts and "autoscaling" not in i
    assert i["management"]["autoRepair"] is (cap not in ("flex-start", "queued"))
    assert ("placementPolicy" in i) is (shape == "multi-host-tpu")


@pytest.mark.parametrize(
    "capacity,field",
    [
        ({"type": "flex-start", "reservation": "r"}, "tpustack:capacity.reservation"),
        ({"type": "queued", "reservation": "r"}, "tpustack:capacity.reservation"),
        ({"type": "spot", "reservation": "r"}, "tpustack:capacity.reservation"),
        ({"type": "flex-start", "autoRepair": True}, "tpustack:capacity.autoRepair"),
        ({"type": "reservation"}, "tpustack:capacity.reservation"),
    ],
)
def test_forbidden_capacity_rejected_before_any_resource(capacity, field):
    from helpers.project import run_program

    cfg = {**BASE, "tpustack:capacity": capacity}
    with pytest.raises(ConfigError) as info:
        run_program(cfg)
    assert field in str(info.value) and "Fix:" in str(info.value)
    assert info.value.declared == []
