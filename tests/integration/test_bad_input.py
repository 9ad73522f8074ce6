"""Bad input never crashes and nothing the user had is replaced.

Every case here failed once (a traceback, a silent drop, an overwrite); each now ends as plain lines naming the
problem and the fix, with the exit code of its kind (tpustack.core.errors): 2 usage, 3 invalid config or input,
1 runtime/cloud, 6 partial. Run through the real entry point (tpustack.cli.main).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tpustack.config import load_config
from tpustack.config.project import find_project, read_stack_file
from tpustack.core.errors import ConfigError

from helpers.project import BASE, FIXTURES, PROJECT, ROOT, SECRETS, as_engine_values, planned, run_cli

FIX = FIXTURES / "results"


def assert_plain_error(err: str) -> None:
    assert "Traceback" not in err and err.startswith("error:"), err
    assert "Fix:" in err, err


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the project (Pulumi.yaml, __main__.py, stacks/) to break stack files in."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy2(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    return tmp_path


class TestCliConventions:
    def test_help_with_brackets_does_not_crash(self, capsys):
        code, out, err = run_cli(capsys, "report", "--help")
        assert code == 0 and "RUN_ID" in out and not err

    def test_user_text_with_markup_is_printed_verbatim(self, capsys, project, monkeypatch):
        stack = project / "stacks" / "Pulumi.dev.yaml"
        stack.write_text(stack.read_text().replace("my-tpu-project", "proj[/x]"))
        code, _, err = run_cli(capsys, "plan", "--stack", "dev", cwd=project, monkeypatch=monkeypatch)
        assert code == 3 and "'proj[/x]'" in err, err
        assert_plain_error(err)

    def test_examples_in_brackets_survive(self, capsys, project, monkeypatch):
        stack = project / "stacks" / "Pulumi.dev.yaml"
        stack.write_text(stack.read_text().replace("[us-west4-a]", "[us-west4-a, us-west4-b]"))
        code, _, err = run_cli(capsys, "plan", "--stack", "dev", cwd=project, monkeypatch=monkeypatch)
        assert code == 3 and "e.g. [us-west4-a]" in err, err

    def test_usage_and_config_errors_have_different_codes(self, capsys):
        assert run_cli(capsys, "plan", "--no-such-option")[0] == 2
        assert run_cli(capsys, "no-such-command")[0] == 2
        assert run_cli(capsys, "plan", "--stack", "no-such-stack")[0] == 3

    def test_piped_output_is_not_folded(self):
        r = subprocess.run(
            [sys.executable, "-m", "tpustack.cli", "plan", "--stack", "gke-vllm-v6e"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        line = next(ln for ln in r.stdout.splitlines() if "getCredentials" in ln)
        assert line.endswith("--region us-east5 --project my-tpu-project"), line

    def test_internal_errors_are_one_line_and_debug_shows_the_traceback(self, capsys, monkeypatch):
        from tpustack.cli import plan as plan_cli

        def boom(*a, **k):
            raise RuntimeError("a bug")

        monkeypatch.setattr(plan_cli, "find_project", boom)
        code, _, err = run_cli(capsys, "stacks")
        assert code == 1 and "internal error (RuntimeError: a bug)" in err and "Traceback" not in err
        code, _, err = run_cli(capsys, "--debug", "stacks")
        assert code == 1 and "Traceback" in err


class TestStackFilesNeverCrash:
    CASES = {
        "malformed-yaml": b"config:\n  tpustack:project: [unclosed\n",
        "a-list": b"- a\n- b\n",
        "a-string": b"just text\n",
        "config-not-a-mapping": b"config: [1, 2]\n",
        "non-utf8": b"config:\n  tpustack:project: \xff\xfe\n",
        "non-string-key": b"config:\n  1: 2\n",
        "recursive-alias": b"config: &a\n  x: *a\n",
        "tab-indent": b"config:\n\ttpustack:project: p\n",
    }

    @pytest.mark.parametrize("name", sorted(CASES))
    def test_error_not_traceback(self, capsys, project, monkeypatch, name):
        (project / "stacks" / "Pulumi.bad.yaml").write_bytes(self.CASES[name])
        code, _, err = run_cli(capsys, "plan", "--stack", "bad", cwd=project, monkeypatch=monkeypatch)
        assert code == 3, (name, err)
        assert_plain_error(err)

    def test_parse_error_never_echoes_the_file(self, capsys, project, monkeypatch):
        token = "hf_" + "S3cr3t" * 6
        (project / "stacks" / "Pulumi.bad.yaml").write_text(f"config:\n  tpustack:x: {token}: [\n")
        code, _, err = run_cli(capsys, "plan", "--stack", "bad", cwd=project, monkeypatch=monkeypatch)
        assert code == 3 and token not in err and "line" in err, err


class TestSecretsOnlyThroughSecretFields:
    def test_token_in_extra_args_is_a_config_error(self):
        cfg = copy.deepcopy(BASE)
        cfg["tpustack:engine"] = {"name": "vllm", "vllm": {"extraArgs": ["--hf-token=hf_" + "a" * 34]}}
        with pytest.raises(ConfigError) as e:
            load_config(as_engine_values(cfg), SECRETS, "t")
        text = "\n".join(e.value.lines())
        assert "tpustack:engine.vllm.extraArgs[0]" in text and "Fix:" in text and "a" * 34 not in text

    def test_token_in_a_label_is_a_config_error(self):
        cfg = {**copy.deepcopy(BASE), "tpustack:labels": {"owner": "hf_" + "b" * 34}}
        with pytest.raises(ConfigError, match="tpustack:labels.owner.*Hugging Face token"):
            load_config(as_engine_values(cfg), SECRETS, "t")

    def test_check_flags_a_token_that_reached_a_manifest(self):
        from tpustack.policy.checks import check

        p = planned("gke-vllm-v6e")
        manifests = copy.deepcopy(p.manifests)
        dep = next(m for m in manifests if m["kind"] == "Deployment")
        dep["spec"]["template"]["spec"]["containers"][0]["args"].append("--api-key=sk-" + "c" * 30)
        rules = {v.rule for v in check(p.resources, manifests)}
        assert "credentials-in-secrets-only" in rules
        assert "credentials-in-secrets-only" not in {v.rule for v in check(p.resources, p.manifests)}


class TestStackNamesAreUniquePerStack:
    def test_case_and_punctuation_variants_get_different_names(self):
        from helpers.project import plan_config

        a, b = plan_config(BASE, "my-stack"), plan_config(BASE, "My_Stack")

        def named(p):
            return {
                r.inputs.get("name") or r.inputs.get("accountId")
                for r in p.resources
                if r.type in ("gcp:container/cluster:Cluster", "gcp:serviceaccount/account:Account")
            }

        assert named(a).isdisjoint(named(b)), (named(a), named(b))
        ns = {m["metadata"].get("namespace") for m in a.manifests} & {
            m["metadata"].get("namespace") for m in b.manifests
        }
        assert ns == {None} or not ns - {None}, ns


class TestNothingIsReplaced:
    def test_plan_out_refuses_a_non_empty_directory(self, capsys, tmp_path):
        (tmp_path / "keep.yaml").write_text("mine")
        code, _, err = run_cli(capsys, "plan", "--stack", "gke-vllm-v6e", "--out", str(tmp_path))
        assert code == 3 and "not empty" in err and (tmp_path / "keep.yaml").read_text() == "mine"
        assert_plain_error(err)

    def test_plan_out_writes_one_stack_into_a_new_directory(self, capsys, tmp_path):
        out = tmp_path / "plan"
        code, _, _ = run_cli(capsys, "plan", "--stack", "gke-vllm-v6e", "--out", str(out))
        assert code == 0 and len(list(out.iterdir())) == len(planned("gke-vllm-v6e").manifests)
        code, _, err = run_cli(capsys, "plan", "--stack", "gke-vllm-gpu", "--out", str(out))
        assert code == 3, "a second stack never lands beside the first"

    def test_report_writes_nothing_unless_asked_and_never_over_a_report(self, capsys, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        code, _, _ = run_cli(capsys, "report", str(FIX))
        assert code == 0 and list(tmp_path.iterdir()) == []
        out = tmp_path / "r1"
        assert run_cli(capsys, "report", str(FIX), "--out", str(out))[0] == 0
        before = (out / "report.json").read_bytes()
        code, _, err = run_cli(capsys, "report", str(FIX), "--out", str(out))
        assert code == 3 and "never replaced" in err and (out / "report.json").read_bytes() == before
        (tmp_path / "afile").write_text("x")
        assert run_cli(capsys, "report", str(FIX), "--out", str(tmp_path / "afile"))[0] == 3

    def test_heartbeat_checks_out_before_measuring(self, capsys, tmp_path):
        existing = tmp_path / "hb.json"
        existing.write_text("earlier result")
        for target, code in ((existing, 3), (tmp_path, 3)):
            c, _, err = run_cli(
                capsys, "heartbeat", "--backend", "cpu", "--shape", "8,8,8", "--iterations", "1", "--out", str(target)
            )
            assert c == code and "Fix:" in err, err
        assert existing.read_text() == "earlier result"

    def test_heartbeat_rejects_a_shape_that_cannot_fit(self, capsys):
        code, _, err = run_cli(capsys, "heartbeat", "--backend", "cpu", "--shape", "1000000,1000000,1000000")
        assert code == 3 and "GiB" in err and "Fix:" in err

    def test_heartbeat_backend_without_its_package(self, capsys):
        code, _, err = run_cli(capsys, "heartbeat", "--backend", "xla", "--accelerator", "v6e-1", "--shape", "8,8,8")
        assert code == 1 and "torch_xla" in err and "Fix:" in err


class TestReportReadsUntrustedResults:
    def results_dir(self, tmp_path: Path, mutate) -> Path:
        d = tmp_path / "res"
        shutil.copytree(FIX, d)
        rec_dir = d / "run-x" / "points"
        rec_dir.mkdir(parents=True)
        from tpustack.workloads import results

        base = results.normalize(
            json.loads((FIX / "vllm" / "vllm-2.0qps-Llama-3.1-8B-Instruct-20261123-101500.json").read_text()),
            source_file="v.json",
        )
        base["metadata"] = {"run_id": "run-x", "accelerator": "v6e-8", "capacity_type": "spot", "replicas": 1}
        for i, m in enumerate(mutate):
            rec = copy.deepcopy(base)
            rec["point"]["index"] = i
            m(rec)
            (rec_dir / f"{i:03d}.json").write_text(json.dumps(rec, allow_nan=True))
        return d

    def test_broken_records_are_named_not_dropped_or_crashing(self, capsys, tmp_path):
        def missing(r):
            del r["throughput"]

        def string(r):
            r["throughput"]["output_tokens_per_s"] = "fast"

        def nan(r):
            r["latency_ms"]["tpot"]["p99"] = float("nan")

        def negative(r):
            r["throughput"]["output_tokens_per_s"] = -1e9

        d = self.results_dir(tmp_path, [missing, string, nan, negative, lambda r: None])
        (d / "run-x" / "run.json").write_text('{"schema": "tpustack.serving-run/v1", "run_id": 7}')
        (d / "truncated.json").write_text('{"schema": "tpustack.serving-point/v1", "tool"')
        code, out, err = run_cli(capsys, "report", str(d), "--slo-tpot-ms", "1000", "--json")
        assert code == 6, err
        doc = json.loads(out)
        skipped = {Path(s["location"]).name: s["reason"] for s in doc["skipped"]}
        assert "throughput is missing" in skipped["000.json"]
        assert "'fast' is not a number" in skipped["001.json"]
        assert "not finite" in skipped["002.json"]
        assert "out of range" in skipped["003.json"]
        assert "run_id" in skipped["run.json"] and "not JSON" in skipped["truncated.json"]
        best = doc["best"]
        assert best is not None and best["output_tokens_per_s"] > 0

    def test_nan_never_meets_an_slo(self):
        from tpustack.ops import report

        rec = {"latency_ms": {"tpot": {"p99": float("nan")}}}
        assert report.meets_slo(rec, {"tpot": 50.0}, "p99") is False

    def test_missing_bucket_and_missing_credentials_are_runtime_errors(self, capsys, gcs_env, monkeypatch):
        code, _, err = run_cli(capsys, "report", "gs://no-such-bucket/stack")
        assert code == 1 and "no-such-bucket" in err and "Fix:" in err, err
        monkeypatch.delenv("STORAGE_EMULATOR_HOST")
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
        code, _, err = run_cli(capsys, "report", "gs://tpustack-results/stack")
        assert code == 1 and "Fix:" in err and "Traceback" not in err, err


class TestDiffSeesPerExperimentCost:
    def test_ttl_change(self):
        from tpustack.ops.diff import diff_plans

        base = json.loads(planned("gke-vllm-v6e").dumps())
        head = copy.deepcopy(base)
        head["cost"]["ttl_hours"] = 12
        head["cost"]["per_experiment_usd"] = round(head["cost"]["hourly_usd"] * 12, 2)
        head["resources"][0]["inputs"]["note"] = "changed"  # any change, so the stack is not 'no changes'
        text = diff_plans(base, head, stack="gke-vllm-v6e").to_text()
        assert "hourly cost unchanged" in text and "per experiment $68.76 -> $137.52" in text, text


def test_project_found_upward_and_explicit(tmp_path):
    assert find_project(start=ROOT / "stacks").root == ROOT
    with pytest.raises(ConfigError, match="Pulumi.yaml"):
        find_project(start=tmp_path)
    assert read_stack_file(PROJECT, "dev")[0]["tpustack:target"] == "tpu-vm"
