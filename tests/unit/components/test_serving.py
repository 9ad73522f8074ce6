"""Serving from its own Args: the stack's namespace, KSA, token Secret, controllers and one ConfigGroup per app,
all through the cluster's provider, after the node pools, in apply order."""

from __future__ import annotations

import dataclasses
import json

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pytest

from tpustack.components.serving import APP_ORDER, InferencePoolArgs, Serving, ServingArgs
from tpustack.core import engines, names, router

from helpers import MockStack, Registered, after, mock_stack_fixture, stand_in

stack = mock_stack_fixture()

NAMESPACE = "kubernetes:core/v1:Namespace"
KSA = "kubernetes:core/v1:ServiceAccount"
SECRET = "kubernetes:core/v1:Secret"
RELEASE = "kubernetes:helm.sh/v3:Release"
GROUP = "kubernetes:yaml/v2:ConfigGroup"
CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
NS = "tpustack-unit"
LABELS = names.common_k8s_labels("unit")
WL_EMAIL = "tps-unit-wl@unit-project.iam.gserviceaccount.com"
TOKEN = "hf_UNIT_SENTINEL_not_a_token_0123456789"


def obj(kind: str, name: str, api: str = "v1") -> dict:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": NS}}


APPS = {
    "capacity": [obj("ComputeClass", "unit-v6e", "cloud.google.com/v1")],
    "checkpoint": [obj("Job", "checkpoint", "batch/v1")],
    "weights": [obj("PersistentVolumeClaim", "model-weights")],
    "serving": [obj("Deployment", "vllm", "apps/v1"), obj("Service", "vllm")],
    "gateway": [obj("Gateway", "unit", "gateway.networking.k8s.io/v1")],
    "benchmark": [obj("Job", "bench", "batch/v1")],
}
POOL = InferencePoolArgs(release="unit-pool", values={"router": {"modelServers": {"targetPorts": [{"number": 8000}]}}})


def args(provider: k8s.Provider, **changes) -> ServingArgs:
    base = ServingArgs(
        provider=provider,
        namespace=NS,
        service_account=names.SERVING_KSA,
        labels=LABELS,
        workload_service_account=WL_EMAIL,
        apps=APPS,
        hf_secret=names.HF_SECRET,
        hf_secret_key=names.HF_SECRET_KEY,
        hf_token=pulumi.Output.secret(TOKEN),
        endpoint=f"http://vllm.{NS}.svc.cluster.local:8000",
        extra_outputs={"clusterMinor": "1.33"},
    )
    return dataclasses.replace(base, **changes)


@dataclasses.dataclass
class Built:
    serving: Serving
    provider: k8s.Provider
    pool: pulumi.Resource  # what the caller makes Serving wait for (the node pools)


def build(stack: MockStack, **changes) -> Built:
    def make() -> Built:
        provider = k8s.Provider("cluster-k8s", kubeconfig="{}")
        pool = stand_in("accelerator-pool", "gcp:container/nodePool:NodePool")
        serving = Serving("k8s", args(provider, **changes), opts=after(pool))
        return Built(serving, provider, pool)

    return stack.build(make)


def groups(stack: MockStack, b: Built) -> dict[str, Registered]:
    return {r.name.removeprefix("k8s-"): r for r in stack.children(b.serving, GROUP)}


class TestEveryChildGoesThroughTheClustersProvider:
    def test_provider_parent_and_names(self, stack):
        b = build(stack, lws_controller=True, pool=POOL, apps={**APPS, "heartbeat": [obj("Job", "hb", "batch/v1")]})
        provider = stack.urn(b.provider)
        children = stack.children(b.serving)
        assert {r.type for r in children} == {NAMESPACE, KSA, SECRET, RELEASE, GROUP, CONFIG_FILE}
        for r in children:
            assert r.provider_urn == provider, f"{r.urn} would go to the ambient kubeconfig's cluster"
            assert r.name.startswith("k8s-"), r.urn
        assert stack.descendants(b.serving) == children, "nothing nested below the children"
        assert stack.record(b.serving).type == "tpustack:serving:Serving"


class TestChildrenWaitForTheNodePools:
    def test_every_child_waits_for_what_the_caller_names(self, stack):
        b = build(stack, lws_controller=True, pool=POOL)
        for r in stack.children(b.serving):
            assert r.waits_for(stack.urn(b.pool)), f"{r.urn} may apply before any node exists"

    def test_without_a_caller_dependency_no_child_waits_for_the_pool(self, stack):
        """The companion: the waits above come from opts.depends_on (a child does not inherit its parent's)."""

        def make():
            provider = k8s.Provider("cluster-k8s", kubeconfig="{}")
            pool = stand_in("accelerator-pool", "gcp:container/nodePool:NodePool")
            return pool, Serving("k8s", args(provider))

        pool, serving = stack.build(make)
        assert not any(r.waits_for(stack.urn(pool)) for r in stack.children(serving))


class TestTheStacksNamespace:
    def test_namespace_and_everything_in_it_after_it(self, stack):
        b = build(stack, pool=POOL)
        ns = stack.one(NAMESPACE)
        assert ns.inputs["metadata"] == {"name": NS, "labels": LABELS}
        for r in stack.children(b.serving):
            if r.type in (KSA, SECRET, GROUP, RELEASE):
                assert r.waits_for(ns), f"{r.urn} may apply before its namespace exists"


class TestKsaActsAsTheWorkloadSa:
    def test_workload_identity_annotation(self, stack):
        build(stack)
        ksa = stack.one(KSA)
        assert ksa.name == "k8s-ksa"
        assert ksa.inputs["metadata"] == {
            "name": names.SERVING_KSA,
            "namespace": NS,
            "labels": LABELS,
            "annotations": {names.WI_ANNOTATION: WL_EMAIL},
        }

    def test_the_annotation_follows_the_account_output(self, stack):
        def make():
            provider = k8s.Provider("cluster-k8s", kubeconfig="{}")
            wl = gcp.serviceaccount.Account("wl", account_id="tps-unit-wl", project="unit-project")
            return wl, Serving("k8s", args(provider, workload_service_account=wl.email))

        wl, _ = stack.build(make)
        ksa = stack.one(KSA)
        assert ksa.inputs["metadata"]["annotations"] == {names.WI_ANNOTATION: WL_EMAIL}
        assert ksa.waits_for(stack.urn(wl))


class TestTokenOnlyInTheSecret:
    def test_the_secret_holds_the_token_as_a_pulumi_secret(self, stack):
        build(stack)
        secret = stack.one(SECRET)
        assert secret.inputs["metadata"] == {"name": names.HF_SECRET, "namespace": NS, "labels": LABELS}
        assert secret.inputs["type"] == "Opaque"
        assert secret.inputs["stringData"] == {names.HF_SECRET_KEY: TOKEN}
        assert secret.is_secret(f"stringData.{names.HF_SECRET_KEY}"), "the token would be stored in plain text"
        assert "data" not in secret.inputs
        assert not secret.is_secret("metadata.name"), "only the token is secret"

    def test_the_token_is_nowhere_else(self, stack):
        build(stack, lws_controller=True, pool=POOL)
        holders = [r.type for r in stack.resources if TOKEN in json.dumps(r.inputs)]
        assert holders == [SECRET]
        assert TOKEN not in json.dumps(stack.outputs_of(stack.one("tpustack:serving:Serving")))

    def test_a_plain_token_is_made_secret(self, stack):
        """Held twice: Serving wraps the token in Output.secret, and pulumi-kubernetes' Secret marks stringData
        secret itself (so removing the component's wrap alone does not fail this test; removing both would)."""
        build(stack, hf_token=TOKEN)
        assert stack.one(SECRET).is_secret(f"stringData.{names.HF_SECRET_KEY}")

    def test_the_default_key(self, stack):
        build(stack, hf_secret_key=None)
        assert stack.one(SECRET).inputs["stringData"] == {"token": TOKEN}

    def test_apps_apply_after_the_secret(self, stack):
        b = build(stack)
        secret = stack.one(SECRET)
        for g in stack.children(b.serving, GROUP):
            assert g.waits_for(secret), f"{g.urn}: pods would start without their secretKeyRef"

    def test_a_secret_without_a_token_is_refused_before_anything_is_declared(self, stack):
        with pytest.raises(ValueError, match="hf_secret is set but no hf_token"):
            build(stack, hf_token=None)
        assert [r.type for r in stack.resources if r.type.startswith(("tpustack:", "kubernetes:"))] == []

    def test_no_secret_asked_for_no_secret(self, stack):
        """A token without a Secret name is not placed anywhere (the program passes one only with the other)."""
        build(stack, hf_secret=None, hf_secret_key=None)
        assert stack.of_type(SECRET) == []
        assert not [r for r in stack.resources if TOKEN in json.dumps(r.inputs)]


class TestLwsControllerForMultiHost:
    def test_pinned_release_of_the_official_chart(self, stack):
        b = build(stack, lws_controller=True)
        rel = stack.one(RELEASE)
        assert rel.name == "k8s-lws"
        assert (rel.inputs["chart"], rel.inputs["version"]) == (engines.LWS_CHART, engines.LWS_CHART_VERSION)
        assert rel.inputs["namespace"] == engines.LWS_NAMESPACE and rel.inputs["createNamespace"] is True
        assert rel.inputs["values"]["image"]["manager"]["tag"] == engines.LWS_IMAGE_TAG
        assert groups(stack, b)["serving"].waits_for(rel), "a LeaderWorkerSet before its CRD and controller fails"

    def test_none_for_single_host(self, stack):
        build(stack)
        assert stack.of_type(RELEASE) == []


class TestInferencePool:
    def test_chart_and_objective_crd_pinned(self, stack):
        b = build(stack, pool=POOL)
        rel = stack.one(RELEASE)
        assert rel.name == "k8s-pool"
        want = {
            "name": "unit-pool",
            "chart": router.ROUTER_CHART,
            "version": router.ROUTER_CHART_VERSION,
            "namespace": NS,
            "values": POOL.values,
        }
        assert {k: rel.inputs.get(k) for k in want} == want
        crd = stack.one(CONFIG_FILE)
        assert crd.name == "k8s-objective-crd" and crd.inputs["file"] == router.OBJECTIVE_CRD
        gateway = groups(stack, b)["gateway"]
        assert gateway.waits_for(rel) and gateway.waits_for(crd)
        # a new chart (GAIE inferencepool -> llm-d-router-gateway) changes the picker's immutable selector
        assert rel.replace_on_changes == ("chart",) and rel.delete_before_replace

    def test_none_without_a_gateway(self, stack):
        build(stack)
        assert stack.of_type(CONFIG_FILE) == [] and stack.of_type(RELEASE) == []


class TestAppsApplyInOrder:
    def test_one_config_group_per_app_with_its_objects(self, stack):
        b = build(stack)
        found = groups(stack, b)
        assert set(found) == set(APPS)
        for app, objs in APPS.items():
            assert found[app].inputs["objs"] == objs
        assert sorted(b.serving.apps) == sorted(APPS)

    def test_the_order_of_the_docstring(self, stack):
        b = build(stack, pool=POOL)
        g = groups(stack, b)
        assert g["serving"].waits_for(g["capacity"]) and g["serving"].waits_for(g["checkpoint"])
        # the Hyperdisk ML volume copies what the checkpoint staged; the servers mount it
        assert g["weights"].waits_for(g["checkpoint"]) and g["serving"].waits_for(g["weights"])
        assert g["gateway"].waits_for(g["serving"])
        assert g["benchmark"].waits_for(g["gateway"])
        for first in ("capacity", "checkpoint", "weights"):
            assert not g[first].waits_for(g["serving"])
        assert not g["checkpoint"].waits_for(g["weights"])

    def test_without_a_gateway_the_benchmark_waits_for_serving(self, stack):
        b = build(stack, apps={k: v for k, v in APPS.items() if k != "gateway"})
        g = groups(stack, b)
        assert g["benchmark"].waits_for(g["serving"])

    def test_a_heartbeat_stack_has_one_group(self, stack):
        b = build(stack, apps={"heartbeat": [obj("ConfigMap", "hb-code"), obj("Job", "hb", "batch/v1")]})
        assert list(groups(stack, b)) == ["heartbeat"]

    def test_an_empty_app_declares_no_group(self, stack):
        b = build(stack, apps={"serving": APPS["serving"], "benchmark": []})
        assert list(groups(stack, b)) == ["serving"]

    # A gap these tests found, since fixed: Serving deploys only the apps named in APP_ORDER and silently drops any
    # other key  of ServingArgs.apps (a renamed or new app would vanish from `up` and from the plan)
    def test_an_unknown_app_is_refused(self, stack):
        assert "monitoring" not in APP_ORDER
        with pytest.raises(ValueError):
            build(stack, apps={**APPS, "monitoring": [obj("ConfigMap", "dashboards")]})


class TestRegisteredOutputs:
    def test_namespace_endpoint_apps_and_extras(self, stack):
        b = build(stack)
        assert stack.outputs_of(b.serving) == {
            "namespace": NS,
            "endpoint": f"http://vllm.{NS}.svc.cluster.local:8000",
            "apps": sorted(APPS),
            "clusterMinor": "1.33",
        }
        assert b.serving.endpoint == f"http://vllm.{NS}.svc.cluster.local:8000"
