"""`tpustack plan --json` honours its contract for every shipped stack; secrets stay placeholders."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tpustack import plan as plan_mod
from tpustack.config.project import SECRET_PLACEHOLDER, read_stack_file

from helpers.project import PROJECT, STACKS, planned

CONTRACT_KEYS = {"stack", "resources", "manifests", "outputs", "cost", "warnings", "ceilings", "units"}
UNIT_KEYS = {
    "region",
    "zones",
    "variant",
    "role",
    "accelerator",
    "provisioning",
    "capacity",
    "replicas",
    "tensor_parallel",
    "image",
    "ceilings",
    "cold_start",
}
RESOURCE_KEYS = {"urn", "type", "name", "parent", "inputs", "depends_on"}


def _walk(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, path + (i,))
    else:
        yield path, node


def test_every_shipped_stack_is_listed():
    assert {"dev", "gke-vllm-v6e", "gke-jetstream-v5e", "gke-vllm-gpu"} <= set(STACKS)
    assert any("multihost" in s for s in STACKS)


@pytest.mark.parametrize("stack", STACKS)
class TestPlanJsonContract:
    def test_shape(self, stack):
        doc = json.loads(planned(stack).dumps())
        assert set(doc) == CONTRACT_KEYS
        assert doc["stack"] == stack
        for u in doc["units"]:
            assert set(u) == UNIT_KEYS and u["role"] in ("serve", "prefill", "decode") and u["capacity"], u
        # the headline ceilings are the first unit's
        assert doc["ceilings"] == (doc["units"][0]["ceilings"] if doc["units"] else None)
        urns = {r["urn"] for r in doc["resources"]}
        for r in doc["resources"]:
            assert set(r) == RESOURCE_KEYS, r["urn"]
            assert isinstance(r["urn"], str) and r["urn"].startswith(f"urn:pulumi:{stack}::tpustack::")
            assert r["type"].count(":") >= 2, r["type"]
            assert (
                r["parent"] is None
                or r["parent"] in urns
                or r["parent"].endswith("::" + "tpustack-" + stack)
                or "pulumi:pulumi:Stack" in r["parent"]
            ), r["urn"]
            assert isinstance(r["inputs"], dict)
            assert all(d in urns for d in r["depends_on"]), f"{r['urn']} depends on an unknown URN"
        assert all(isinstance(m, dict) and "kind" in m and "apiVersion" in m for m in doc["manifests"])
        assert isinstance(doc["outputs"], dict)
        assert isinstance(doc["cost"]["hourly_usd"], float)
        for item in doc["cost"]["items"]:
            if item["urn"].startswith("variant:"):  # a serving variant: nodes GKE creates from its ComputeClass
                assert set(item) == {"urn", "hourly_usd", "basis", "variant", "region", "by_capacity"}
            else:
                assert set(item) == {"urn", "hourly_usd", "basis"} and item["urn"] in urns
        assert abs(sum(i["hourly_usd"] for i in doc["cost"]["items"]) - doc["cost"]["hourly_usd"]) < 1e-6
        assert all(isinstance(w, str) for w in doc["warnings"])

    def test_secret_placeholder_only_where_the_secret_goes(self, stack):
        """The placeholder may sit only in the Kubernetes Secret that carries the token; outputs mask it."""
        doc = json.loads(planned(stack).dumps())
        values, secrets = read_stack_file(PROJECT, stack)
        placeholders = {SECRET_PLACEHOLDER.format(key=k.split(":", 1)[1]) for k in secrets}
        for path, value in _walk(doc):
            if not isinstance(value, str) or not any(p in value for p in placeholders):
                continue
            if path[0] == "resources":
                res = doc["resources"][path[1]]
                assert res["type"] == "kubernetes:core/v1:Secret" and path[2:4] == ("inputs", "stringData"), path
            else:
                assert path[0] == "manifests", path
                assert doc["manifests"][path[1]]["kind"] == "Secret" and path[2] == "stringData", path

    def test_stack_file_secrets_are_replaced_before_the_program_runs(self, stack):
        values, secrets = read_stack_file(PROJECT, stack)
        for key in secrets:
            assert values[key] == SECRET_PLACEHOLDER.format(key=key.split(":", 1)[1])


@pytest.mark.parametrize("stack", STACKS)
def test_plan_is_deterministic_in_process(stack):
    assert plan_mod.plan(PROJECT, stack).dumps() == planned(stack).dumps()


def test_cli_json_is_byte_identical_across_processes():
    """Two separate `tpustack plan --json` runs print the same bytes (no clocks, no random names)."""
    cmd = [sys.executable, "-m", "tpustack.cli", "plan", "--stack", "gke-vllm-v6e", "--json"]
    runs = [subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=PROJECT.root) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    assert json.loads(runs[0].stdout)["stack"] == "gke-vllm-v6e"


def test_cli_bad_stack_exits_3_with_fix(tmp_path):
    cmd = [sys.executable, "-m", "tpustack.cli", "plan", "--stack", "no-such-stack"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=PROJECT.root)
    assert r.returncode == 3
    assert "no-such-stack" in r.stderr and "Fix" in r.stderr
