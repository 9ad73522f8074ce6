"""The Serving component under Pulumi's mock engine (tpustack/plan/engine.py's recording monitor).

A small program declares a cluster provider, a node pool and a workload SA stand-in, then Serving; the
tests read what the engine received: children, providers, dependencies, the objects of each ConfigGroup.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tpustack import plan, render
from tpustack.config import load_config
from tpustack.config.project import read_stack_file
from tpustack.core import engines
from tpustack.core import k8s as objects
from tpustack.core import names as k8s_keys
from tpustack.core.errors import ConfigError
from tpustack.plan.engine import run_program

from helpers.project import BASE, PROJECT, as_engine_values, plan_config
from helpers.project import run_program as conftest_run_program

PROGRAM = """
import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from tpustack import render
from tpustack.components.serving import Serving
from tpustack.config import from_pulumi
from tpustack.program.args import serving_args

cfg = from_pulumi()
rendered = render.render(cfg)
provider = k8s.Provider("cluster-k8s", kubeconfig="{}")
pool = gcp.container.NodePool("pool", cluster="c", location=cfg.region, node_count=1)
wl = gcp.serviceaccount.Account("wl", account_id="tps-t-wl", project=cfg.project)
args = serving_args(cfg, rendered, provider, wl.email)
svc = Serving("serving", args, opts=pulumi.ResourceOptions(depends_on=[pool]))
pulumi.export("endpoint", svc.endpoint)
"""
SENTINEL = "hf_SENTINEL_do_not_leak_0123456789"
CG = "kubernetes:yaml/v2:ConfigGroup"
GKE_STACKS = ["gke-vllm-v6e", "gke-vllm-gpu", "gke-vllm-v6e-multihost", "gke-jetstream-v5e"]


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prog") / "__main__.py"
    path.write_text(PROGRAM)
    return path


_RUNS: dict[str, tuple] = {}


def run_stack(stack: str, program: Path):
    """Records of the program for a shipped stack, with the token replaced by SENTINEL."""
    if stack not in _RUNS:
        values, secrets = read_stack_file(PROJECT, stack)
        values = {**values, "tpustack:hfToken": SENTINEL}
        records, outputs = run_program(program, PROJECT.name, stack, values, secrets | {"tpustack:hfToken"})
        _RUNS[stack] = (records, outputs, load_config(values, secrets | {"tpustack:hfToken"}, stack))
    return _RUNS[stack]


def by_type(records, typ):
    return [r for r in records if r.type == typ]


def one(records, typ):
    found = by_type(records, typ)
    assert len(found) == 1, [r.urn for r in found]
    return found[0]


def unwrap(value):
    """The engine carries secret values wrapped in a signature object; look inside it."""
    if isinstance(value, dict) and "value" in value and "4dabf18193072939515e22adb298388d" in value:
        return value["value"]
    return value


class TestServingChildren:
    @pytest.mark.parametrize("stack", GKE_STACKS)
    def test_children_names_parent_and_provider(self, stack, program):
        records, _, _ = run_stack(stack, program)
        comp = one(records, "tpustack:serving:Serving")
        provider = one(records, "pulumi:providers:kubernetes")
        children = [r for r in records if r.parent == comp.urn]
        assert children and all(r.name.startswith("serving-") for r in children)
        for r in children:
            assert r.options["provider"].startswith(provider.urn), r.urn
        assert {r.type for r in children} >= {
            "kubernetes:core/v1:Namespace",
            "kubernetes:core/v1:ServiceAccount",
            "kubernetes:core/v1:Secret",
            CG,
        }

    @pytest.mark.parametrize("stack", GKE_STACKS)
    def test_every_child_waits_for_the_node_pool(self, stack, program):
        records, _, _ = run_stack(stack, program)
        comp = one(records, "tpustack:serving:Serving")
        pool = one(records, "gcp:container/nodePool:NodePool")
        for r in records:
            if r.parent == comp.urn:
                assert pool.urn in r.depends_on, r.urn

    @pytest.mark.parametrize("stack", GKE_STACKS)
    def test_config_groups_carry_the_rendered_objects(self, stack, program):
        records, _, cfg = run_stack(stack, program)
        want = render.render(cfg).apps
        groups = {r.name.removeprefix("serving-"): r for r in by_type(records, CG)}
        assert set(groups) == set(want)
        for app, objs in want.items():
            assert json.dumps(groups[app].inputs["objs"], sort_keys=True) == json.dumps(objs, sort_keys=True)

    @pytest.mark.parametrize("stack", GKE_STACKS)
    def test_apps_apply_in_order(self, stack, program):
        records, _, _ = run_stack(stack, program)
        groups = {r.name.removeprefix("serving-"): r for r in by_type(records, CG)}
        ns = one(records, "kubernetes:core/v1:Namespace")
        ksa = one(records, "kubernetes:core/v1:ServiceAccount")
        for g in groups.values():
            assert {ns.urn, ksa.urn} <= set(g.depends_on)
        assert groups["serving"].urn in groups["benchmark"].depends_on
        if "checkpoint" in groups:
            assert groups["checkpoint"].urn in groups["serving"].depends_on

    def test_workload_identity_annotation(self, program):
        records, _, cfg = run_stack("gke-vllm-v6e", program)
        ksa = one(records, "kubernetes:core/v1:ServiceAccount")
        wl = one(records, "gcp:serviceaccount/account:Account")
        assert ksa.inputs["metadata"]["name"] == k8s_keys.SERVING_KSA
        assert ksa.inputs["metadata"]["namespace"] == k8s_keys.namespace("gke-vllm-v6e")
        assert ksa.inputs["metadata"]["annotations"] == {
            k8s_keys.WI_ANNOTATION: f"{wl.inputs['accountId']}@{cfg.project}.iam.gserviceaccount.com"
        }
        pods = [pod for o in render.render(cfg).objects() for _, pod in objects.pod_specs(o)]
        assert pods and all(p["serviceAccountName"] == k8s_keys.SERVING_KSA for p in pods)

    def test_lws_controller_only_for_multi_host(self, program):
        records, _, _ = run_stack("gke-vllm-v6e-multihost", program)
        rel = one(records, "kubernetes:helm.sh/v3:Release")
        assert rel.inputs["chart"] == engines.LWS_CHART and rel.inputs["version"] == engines.LWS_CHART_VERSION
        assert rel.inputs["namespace"] == engines.LWS_NAMESPACE and rel.inputs["createNamespace"] is True
        assert rel.inputs["values"]["image"]["manager"]["tag"] == engines.LWS_IMAGE_TAG
        group = next(r for r in by_type(records, CG) if r.name == "serving-serving")
        assert rel.urn in group.depends_on
        for stack in ("gke-vllm-v6e", "gke-vllm-gpu", "gke-jetstream-v5e"):
            assert not by_type(run_stack(stack, program)[0], "kubernetes:helm.sh/v3:Release")

    def test_plan_reads_every_object(self, program):
        records, _, cfg = run_stack("gke-jetstream-v5e", program)
        objs = plan.manifests_of(records)
        kinds = [o["kind"] for o in objs]
        assert {"Namespace", "ServiceAccount", "Secret"} <= set(kinds)
        assert len(objs) == 3 + len(render.render(cfg).objects())

    def test_endpoint_output(self, program):
        _, outputs, _ = run_stack("gke-jetstream-v5e", program)
        assert outputs["endpoint"] == "http://jetstream.tpustack-gke-jetstream-v5e.svc.cluster.local:8000"


class TestTokenOnlyInTheSecret:
    @pytest.mark.parametrize("stack", GKE_STACKS)
    def test_token_reaches_only_the_secret(self, stack, program):
        records, _, _ = run_stack(stack, program)
        holders = [r for r in records if SENTINEL in json.dumps(r.inputs)]
        assert [r.type for r in holders] == ["kubernetes:core/v1:Secret"]
        secret = holders[0]
        assert secret.inputs["metadata"]["name"] == k8s_keys.HF_SECRET
        assert unwrap(secret.inputs["stringData"]) == {k8s_keys.HF_SECRET_KEY: SENTINEL}
        assert "data" not in secret.inputs


class TestFailsBeforeDeclaring:
    def test_manifest_problem_declares_no_child(self, program):
        doc = copy.deepcopy(BASE)
        doc["tpustack:engine"] = {"name": "vllm", "hpaMaxReplicas": 4}  # more replicas than the pool holds
        values = as_engine_values(doc)
        with pytest.raises(ConfigError) as e:
            run_program(program, PROJECT.name, "t", values, {"tpustack:hfToken"})
        assert any(p.startswith("tpustack:engine.hpaMaxReplicas:") for p in e.value.lines())
        declared = e.value.declared
        assert not [r for r in declared if r.type.startswith(("tpustack:serving", "kubernetes:core", CG))]

    def test_stack_program_declares_nothing_on_a_manifest_problem(self):
        """tpustack/program.py renders before its first resource, so the plan of a bad stack is empty."""
        doc = copy.deepcopy(BASE)
        doc["tpustack:engine"] = {"name": "vllm", "hpaMaxReplicas": 4}
        with pytest.raises(ConfigError) as e:
            plan_config(doc)  # the config gate of `tpustack plan`
        with pytest.raises(ConfigError) as e:
            conftest_run_program(doc)  # the program on its own (what `pulumi up` runs)
        assert e.value.declared == []

    def test_heartbeat_stack_has_no_secret_and_one_job_group(self, program):
        doc = copy.deepcopy(BASE)
        for k in ("tpustack:engine", "tpustack:benchmark", "tpustack:model", "tpustack:hfToken"):
            doc.pop(k)
        doc["tpustack:workload"] = {"iterations": 20}
        records, _ = run_program(program, PROJECT.name, "hb", as_engine_values(doc), set())
        assert not by_type(records, "kubernetes:core/v1:Secret")
        groups = by_type(records, CG)
        assert [g.name for g in groups] == ["serving-heartbeat"]
        assert [o["kind"] for o in groups[0].inputs["objs"]] == ["ConfigMap", "Job"]
