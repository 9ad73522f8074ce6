"""Teardown: `pulumi destroy` of an experiment removes billable things in dependency order and keeps results
and APIs; expiry labels are stable; prices come with their basis and can be overridden."""

from __future__ import annotations

import copy

import pytest

from tpustack import plan as plan_mod

from helpers.project import BASE, PROJECT, STACKS, by_type, cfg_of, plan_config, planned


def destroy_order(p: plan_mod.Plan) -> list[str]:
    """The order Pulumi deletes resources: a resource goes only after everything that depends on it
    (explicitly, through an input, or as a child) is gone. Ties keep the plan's order."""
    deps = {r.urn: set(r.depends_on) | ({r.parent} if r.parent else set()) for r in p.resources}
    dependents = {u: {d for d, ds in deps.items() if u in ds} for u in deps}
    order, gone = [], set()
    while len(order) < len(deps):
        ready = [u for u in deps if u not in gone and dependents[u] <= gone]
        assert ready, "dependency cycle"
        order.extend(ready)
        gone.update(ready)
    return order


def urn_of(p, typ, name_part=""):
    return next(r.urn for r in p.resources if r.type == typ and name_part in r.name)


class TestDestroyOrder:
    @pytest.mark.parametrize("stack", ["gke-vllm-v6e", "gke-vllm-v6e-multihost", "gke-vllm-gpu"])
    def test_pools_and_kubernetes_before_cluster_before_identity(self, stack):
        p = planned(stack)
        order = destroy_order(p)
        cluster = urn_of(p, "gcp:container/cluster:Cluster")
        for pool in by_type(p, "gcp:container/nodePool:NodePool"):
            assert cluster in pool.depends_on, f"{pool.urn} must be deleted before the cluster"
            assert order.index(pool.urn) < order.index(cluster)
        for r in p.resources:
            if r.type.startswith("kubernetes:"):
                assert order.index(r.urn) < order.index(cluster), f"{r.urn} after its cluster"
        node_sa = urn_of(p, "gcp:serviceaccount/account:Account", "node")
        assert order.index(cluster) < order.index(node_sa), "nodes must not lose their SA while running"

    def test_tpu_vm_before_its_service_account_and_workload_objects(self):
        p = planned("dev")
        order = destroy_order(p)
        vm = urn_of(p, "gcp:tpu/v2Vm:V2Vm")
        assert order.index(vm) < order.index(urn_of(p, "gcp:serviceaccount/account:Account"))
        for obj in by_type(p, "gcp:storage/bucketObject:BucketObject"):
            assert order.index(vm) < order.index(obj.urn)


class TestDestroyKeepsResultsAndApis:
    @pytest.mark.parametrize("stack", [s for s in STACKS if s != "results"])
    def test_nothing_destroy_removes_holds_results(self, stack):
        p = planned(stack)
        assert not by_type(p, "gcp:storage/bucket:Bucket")
        # objects an experiment writes are its workload code only, never under a results prefix
        for obj in by_type(p, "gcp:storage/bucketObject:BucketObject"):
            assert obj.inputs["name"].startswith("_workloads/")
        for s in by_type(p, "gcp:projects/service:Service"):
            assert s.inputs["disableOnDestroy"] is False

    def test_results_stack_refuses_destroy_and_then_abandons(self):
        (b,) = by_type(planned("results"), "gcp:storage/bucket:Bucket")
        assert b.options["protect"] and b.options["retainOnDelete"] and b.inputs["deletionPolicy"] == "ABANDON"


class TestExpiryIsStable:
    def test_expiry_is_an_offset_keyed_on_ttl(self):
        p = planned("gke-vllm-v6e")
        (offset,) = by_type(p, "time:index/offset:Offset")
        assert offset.inputs["offsetMinutes"] == 6 * 60
        assert offset.inputs["triggers"] == {"ttlMinutes": "360"}
        assert "baseRfc3339" not in offset.inputs, "the base is the creation time, fixed in state"

    def test_plan_twice_identical(self):
        assert plan_mod.plan(PROJECT, "gke-vllm-v6e").dumps() == plan_mod.plan(PROJECT, "gke-vllm-v6e").dumps()


class TestCost:
    @pytest.mark.parametrize("stack", [s for s in STACKS if s != "results"])
    def test_every_billable_resource_priced_with_basis(self, stack):
        p = planned(stack)
        billable = {
            r.urn
            for r in p.resources
            if r.type in ("gcp:tpu/v2Vm:V2Vm", "gcp:container/nodePool:NodePool", "gcp:container/cluster:Cluster")
        }
        priced = {i["urn"]: i for i in p.cost["items"]}
        cfg = cfg_of(stack)
        billable |= {f"variant:{u.variant}@{u.region.name}" for u in cfg.units if u.variant is not None}
        assert billable == set(priced)
        for item in priced.values():
            assert item["hourly_usd"] > 0 and "UNPRICED" not in item["basis"], item
        assert p.cost["hourly_usd"] > 0

    def test_v6e_spot_arithmetic(self):
        items = {i["urn"].rsplit("::", 1)[-1]: i for i in planned("gke-vllm-v6e").cost["items"]}
        assert items["pools-tpu"]["hourly_usd"] == pytest.approx(8 * 1.4033, abs=1e-3)
        assert "8 chips" in items["pools-tpu"]["basis"] and "spot" in items["pools-tpu"]["basis"]

    def test_override_and_discount(self):
        cfg = copy.deepcopy(BASE)
        cfg["tpustack:prices"] = {"tpuChipHour": {"v6e": 1.0}, "discount": 0.25}
        items = {i["urn"].rsplit("::", 1)[-1]: i for i in plan_config(cfg).cost["items"]}
        assert items["pools-tpu"]["hourly_usd"] == pytest.approx(8 * 1.0 * 0.75, abs=1e-3)
        assert "override" in items["pools-tpu"]["basis"]
