"""The shipped prefix-caching experiment (stacks/prefix-routing.matrix.yaml): every combination plans, runs the one
shared-prefix load, and differs from its pair only in prefix caching, so `tpustack report` can compare them."""

from __future__ import annotations

import json

import pytest

from tpustack.plan import matrix
from workloads import serving_bench

from helpers.project import PROJECT

FILE = "stacks/prefix-routing.matrix.yaml"


@pytest.fixture(scope="module")
def combos():
    return matrix.plan_all(matrix.load(PROJECT.stacks_dir / "prefix-routing.matrix.yaml"), PROJECT, FILE)


def specs(c) -> list[dict]:
    return [
        json.loads(v)
        for o in c.plan.manifests
        if o.get("kind") == "ConfigMap"
        for k, v in (o.get("data") or {}).items()
        if k.endswith(".json") and '"tool_command"' in v
    ]


def engine_args(c) -> list[str]:
    for o in c.plan.manifests:
        for ct in ((o.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers", []):
            if (ct.get("command") or [None])[0] == "vllm" or "vllm" in " ".join(ct.get("args") or []):
                return [*(ct.get("command") or []), *(ct.get("args") or [])]
    return []


def test_every_combination_plans_tpu_and_gpu(combos):
    assert {c.name for c in combos} == {f"prefix-{a}-{k}" for a in ("v6e8", "h100") for k in ("cache", "nocache")}
    for c in combos:
        assert c.ok, (c.name, [str(p) for p in c.problems])


def test_the_same_shared_prefix_load_everywhere(combos, tmp_path):
    loads = []
    for c in combos:
        (spec,) = specs(c)
        loads.append(json.dumps(spec["load"], sort_keys=True))
        assert spec["load"]["prefix"] == {
            "groups": 16,
            "prefix_len": 2048,
            "prompts_per_group": 30,
            "multi_turn": False,
        }
        argv, _ = serving_bench.invocation(spec, spec["sweep"][0], tmp_path, 480, None)
        assert argv[argv.index("--dataset-name") + 1] == "prefix_repetition"
        assert argv[argv.index("--prefix-repetition-num-prefixes") + 1] == "16"
    assert len(set(loads)) == 1


def test_pairs_differ_only_in_prefix_caching(combos):
    by = {c.name: c for c in combos}
    for acc in ("v6e8", "h100"):
        on, off = engine_args(by[f"prefix-{acc}-cache"]), engine_args(by[f"prefix-{acc}-nocache"])
        assert "--enable-prefix-caching" in on and "--no-enable-prefix-caching" in off, (on, off)
        assert [a for a in on if "prefix-caching" not in a] == [a for a in off if "prefix-caching" not in a]


PD_FILE = "stacks/pd-routing.matrix.yaml"


@pytest.fixture(scope="module")
def pd_combos():
    return matrix.plan_all(matrix.load(PROJECT.stacks_dir / "pd-routing.matrix.yaml"), PROJECT, PD_FILE)


def role_args(c, role: str) -> list[str]:
    (dep,) = [o for o in c.plan.manifests if o.get("kind") == "Deployment" and o["metadata"]["name"] == f"vllm-{role}"]
    (ct,) = [x for x in dep["spec"]["template"]["spec"]["containers"] if x["name"] == "vllm"]
    return [*(ct.get("command") or []), *(ct.get("args") or [])]


def test_pd_matrix_plans_tpu_and_gpu_at_the_aggregated_matrix_load(pd_combos, combos):
    assert {c.name for c in pd_combos} == {
        f"pd-{a}-{r}" for a in ("v6e4", "h100") for r in ("always", "approx", "precise")
    }
    for c in pd_combos:
        assert c.ok, (c.name, [str(p) for p in c.problems])
    # every P/D run sits at the same load as the aggregated runs of prefix-routing.matrix.yaml
    (aggregated,) = {json.dumps(specs(c)[0]["load"], sort_keys=True) for c in combos}
    assert {json.dumps(specs(c)[0]["load"], sort_keys=True) for c in pd_combos} == {aggregated}


def test_pd_matrix_connector_per_kind_and_kv_events_only_for_precise(pd_combos):
    by = {c.name: c for c in pd_combos}
    for acc, connector in (("v6e4", "TPUConnector"), ("h100", "NixlConnector")):
        for routing in ("always", "approx", "precise"):
            for role in ("prefill", "decode"):
                args = role_args(by[f"pd-{acc}-{routing}"], role)
                (kv,) = [a for a in args if a.startswith("--kv-transfer-config=")]
                assert json.loads(kv.split("=", 1)[1])["kv_connector"] == connector
                assert any(a.startswith("--kv-events-config=") for a in args) == (routing == "precise"), args
