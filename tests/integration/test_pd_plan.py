"""The shipped P/D stacks (gke-vllm-v6e-pd on Trillium, gke-vllm-gpu-pd its H100 twin) plan offline under the mock
engine: a ComputeClass and a Deployment per role, decode pods fronted by the routing sidecar, the InferencePool over
both roles, and the plan's units naming their roles."""

from __future__ import annotations

import json

import pytest

from tpustack.core.router import ROLE_LABEL, ROUTER_CHART

from helpers.project import by_type, planned

PD_STACKS = ["gke-vllm-v6e-pd", "gke-vllm-gpu-pd"]
CONNECTOR = {"gke-vllm-v6e-pd": "TPUConnector", "gke-vllm-gpu-pd": "NixlConnector"}


@pytest.mark.parametrize("stack", PD_STACKS)
def test_plans_a_deployment_and_compute_class_per_role(stack):
    p = planned(stack)
    kinds = {(m["kind"], m["metadata"]["name"]) for m in p.manifests}
    assert {("Deployment", "vllm-prefill"), ("Deployment", "vllm-decode")} <= kinds
    assert {("ComputeClass", f"tps-{stack}-prefill"), ("ComputeClass", f"tps-{stack}-decode")} <= kinds
    assert {"Gateway", "HTTPRoute", "InferenceObjective"} <= {k for k, _ in kinds}
    (release,) = [r for r in by_type(p, "kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == ROUTER_CHART]
    assert release.inputs["values"]["router"]["modelServers"]["targetPorts"] == [{"number": 8000}]


@pytest.mark.parametrize("stack", PD_STACKS)
def test_role_pods_carry_role_label_connector_and_sidecar(stack):
    deps = {m["metadata"]["name"]: m for m in planned(stack).manifests if m["kind"] == "Deployment"}
    for role in ("prefill", "decode"):
        tmpl = deps[f"vllm-{role}"]["spec"]["template"]
        assert tmpl["metadata"]["labels"][ROLE_LABEL] == role
        cs = {c["name"]: c for c in tmpl["spec"]["containers"]}
        (kv,) = [a for a in cs["vllm"]["args"] if a.startswith("--kv-transfer-config=")]
        assert json.loads(kv.split("=", 1)[1])["kv_connector"] == CONNECTOR[stack]
        assert ("routing-proxy" in cs) == (role == "decode")


@pytest.mark.parametrize("stack", PD_STACKS)
def test_plan_json_is_serializable_and_deterministic(stack):
    from tpustack import plan as plan_mod

    from helpers.project import PROJECT

    a = json.dumps(planned(stack).to_json(), sort_keys=True)
    b = json.dumps(plan_mod.plan(PROJECT, stack).to_json(), sort_keys=True)
    assert a == b


@pytest.mark.parametrize("stack", PD_STACKS)
def test_each_role_is_scraped_through_its_own_headless_service(stack):
    """The benchmark's role_metrics_urls name one headless Service per role, selecting that role's pods only, on
    the port its vLLM container listens on (the decode pod's engine port, behind the sidecar)."""
    import copy
    import dataclasses

    from tpustack.render.selection import check_role_metrics_services

    from helpers.project import rendered, stack_cfg

    r = rendered(stack)
    objs = r.objects()
    spec = json.loads(next(o for o in objs if o["metadata"]["name"] == "serving-bench-spec")["data"]["spec.json"])
    urls = spec["server"]["role_metrics_urls"]
    assert set(urls) == {"prefill", "decode"}
    services = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Service"}
    deployments = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Deployment"}
    for role, url in urls.items():
        name = url.removeprefix("http://").split(".", 1)[0]
        svc = services[name]
        assert svc["spec"]["clusterIP"] == "None"
        port = svc["spec"]["ports"][0]["targetPort"]
        assert url.endswith(f":{port}/metrics")
        (dep,) = [
            d
            for d in deployments.values()
            if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in svc["spec"]["selector"].items())
        ]
        assert dep["metadata"]["name"].endswith(role)
        (vllm,) = [c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "vllm"]
        assert port in {p["containerPort"] for p in vllm["ports"]}
    assert not list(check_role_metrics_services(stack_cfg(stack), r))
    # the check fails a Service that targets another port, or selects every role
    bad = dataclasses.replace(r, apps={"serving": copy.deepcopy(r.apps["serving"])})
    for svc in bad.apps["serving"]:
        if svc["kind"] == "Service" and svc["spec"].get("clusterIP") == "None":
            svc["spec"]["ports"][0]["targetPort"] = 9999
    assert len(list(check_role_metrics_services(stack_cfg(stack), bad))) == 2
    for svc in bad.apps["serving"]:
        if svc["kind"] == "Service" and svc["spec"].get("clusterIP") == "None":
            svc["spec"]["selector"] = {"tpustack.dev/serving": "vllm"}
    assert any("selects 2 workloads" in p.reason for p in check_role_metrics_services(stack_cfg(stack), bad))
