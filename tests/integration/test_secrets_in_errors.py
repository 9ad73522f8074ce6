"""No error message ever prints a secret-looking value, and none echoes an unbounded one.

A Hugging Face token pasted into the wrong key (a label, model.id, a number field, engine args, a variant field, a
stack name, a matrix value) must be named as wrong without being printed back: every Problem and every
TpuStackError is redacted and bounded where it is made (tpustack.core.errors), and every stderr line where it is
written (tpustack.cli.output.warn). Run through the real entry point, in stack files and in matrix files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tpustack.core.errors import MAX_TEXT, ConfigError, Problem, TpuStackError, bounded, quote
from tpustack.core.secrets import redact

from helpers.project import ROOT, run_cli

TOKEN = "hf_" + "Q7xZ" * 8 + "ab"  # hf_ + 34 characters, the format of huggingface.co/docs/hub/security-tokens
PIECE = TOKEN[3:15]  # any recognizable part of it


def assert_clean(*texts: str) -> None:
    for t in texts:
        assert PIECE not in t, t


@pytest.fixture
def project(tmp_path) -> Path:
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy2(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    return tmp_path


def write_stack(project: Path, name: str, edit) -> None:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.gke-vllm-any.yaml").read_text())
    edit(doc["config"])
    (project / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(doc))


def _set(path: str, value):
    """An edit that sets ``tpustack:<path>`` (dotted, [i] for list items) to ``value``."""

    def edit(cfg: dict) -> None:
        head, *rest = path.split(".")
        node, key = cfg, f"tpustack:{head}"
        for part in rest:
            node = node[key]
            key = int(part) if part.isdigit() else part
        node[key] = value

    return edit


WRONG_KEYS = {
    "label value": _set("labels.team", TOKEN),
    "label value after text": _set("labels.team", "x" + TOKEN),
    "label key": _set("labels", {"x" + TOKEN: "v"}),
    "label key lowercase": _set("labels", {TOKEN.lower(): "v"}),
    "model.id": _set("model.id", TOKEN),
    "model.id in a path": _set("model.id", f"meta-llama/{TOKEN}"),
    "number field": _set("benchmark.numPrompts", TOKEN),
    "float list": _set("benchmark.requestRates", [1, TOKEN]),
    "engine args": _set("engine.vllm.extraArgs", [f"--foo={TOKEN}"]),
    "engine args as a string": _set("engine.vllm.extraArgs", TOKEN),
    "engine arg glued": _set("engine.vllm.extraArgs", [f"--x=abc{TOKEN}"]),
    "unknown engine key": _set("engine.vllm", {TOKEN: 1}),
    "variant name": _set("variants.0.name", TOKEN),
    "variant replicas": _set("variants.0.replicas", TOKEN),
    "variant accelerator": _set("variants.0.accelerator", TOKEN),
    "variant capacity": _set("variants.0.capacity", [TOKEN]),
    "variant image": _set("variants.0.image", f"vllm/vllm-tpu:{TOKEN}"),
    "project": _set("project", TOKEN),
    "zones": _set("zones", [TOKEN]),
    "gateway dns": _set("gateway", {"dnsZone": TOKEN, "dnsName": f"{TOKEN}.example.com."}),
    "a whole section": _set("lifecycle", TOKEN),
}


class TestTokensInWrongKeysAreNeverPrinted:
    @pytest.mark.parametrize("where", sorted(WRONG_KEYS))
    def test_plan(self, capsys, project, monkeypatch, where):
        write_stack(project, "leak", WRONG_KEYS[where])
        code, out, err = run_cli(capsys, "plan", "--stack", "leak", cwd=project, monkeypatch=monkeypatch)
        assert code == 3, (code, err)
        assert "Traceback" not in err and err.startswith("error:") and "Fix:" in err, err
        assert_clean(out, err)

    @pytest.mark.parametrize("where", ["label value", "model.id", "number field", "variant name"])
    def test_plan_json(self, capsys, project, monkeypatch, where):
        write_stack(project, "leak", WRONG_KEYS[where])
        code, out, err = run_cli(capsys, "plan", "--stack", "leak", "--json", cwd=project, monkeypatch=monkeypatch)
        assert code == 3
        assert_clean(out, err)

    def test_the_problem_names_the_key(self, capsys, project, monkeypatch):
        write_stack(project, "leak", WRONG_KEYS["number field"])
        _, _, err = run_cli(capsys, "plan", "--stack", "leak", cwd=project, monkeypatch=monkeypatch)
        assert "tpustack:benchmark.numPrompts" in err and "[redacted]" in err, err

    def test_stack_name(self, capsys, project, monkeypatch):
        for name in (TOKEN, "x" + TOKEN):
            code, out, err = run_cli(capsys, "plan", "--stack", name, cwd=project, monkeypatch=monkeypatch)
            assert code == 3 and "Fix:" in err, err
            assert_clean(out, err)

    def test_stack_file_named_like_a_token_is_not_listed(self, capsys, project, monkeypatch):
        write_stack(project, TOKEN, lambda c: None)
        _, out, err = run_cli(capsys, "plan", "--stack", "nosuch", cwd=project, monkeypatch=monkeypatch)
        assert_clean(out, err)


class TestTokensInMatrixFiles:
    def matrix(self, project: Path, axis_set: dict, **extra) -> Path:
        doc = {
            "matrix": {
                "prefix": "m",
                "base": "gke-vllm-v6e",
                "axes": [{"name": "a", "values": [{"slug": "one", "set": axis_set}]}],
                **extra,
            }
        }
        path = project / "stacks" / "leak.matrix.yaml"
        path.write_text(yaml.safe_dump(doc))
        return path

    @pytest.mark.parametrize(
        "axis_set",
        [
            {"tpustack:labels": {"team": TOKEN}},
            {"tpustack:model.id": TOKEN},
            {"tpustack:benchmark.numPrompts": TOKEN},
            {"tpustack:engine.vllm.extraArgs": [f"--hf-token={TOKEN}"]},
            {TOKEN: 1},
            {f"tpustack:{TOKEN}": 1},
        ],
        ids=["label", "model.id", "number", "engine args", "bad key", "unknown tpustack key"],
    )
    @pytest.mark.parametrize("as_json", [False, True])
    def test_matrix(self, capsys, project, monkeypatch, axis_set, as_json):
        path = self.matrix(project, axis_set)
        argv = ["matrix", str(path), *(["--json"] if as_json else [])]
        code, out, err = run_cli(capsys, *argv, cwd=project, monkeypatch=monkeypatch)
        assert code == 3, (code, out, err)
        assert "Traceback" not in err
        assert_clean(out, err)

    def test_token_as_a_slug(self, capsys, project, monkeypatch):
        path = project / "stacks" / "leak.matrix.yaml"
        path.write_text(
            yaml.safe_dump(
                {"matrix": {"prefix": TOKEN, "axes": [{"name": TOKEN, "values": [{"slug": TOKEN, "set": {}}]}]}}
            )
        )
        code, out, err = run_cli(capsys, "matrix", str(path), cwd=project, monkeypatch=monkeypatch)
        assert code == 3 and "Fix:" in err, err
        assert_clean(out, err)


class TestOneRedactionStep:
    """Whoever makes the problem or the error, its texts are redacted and bounded: the step is in the types."""

    def test_problem_made_directly(self):
        p = Problem(f"tpustack:labels.{TOKEN}", f"value {TOKEN}", f"remove {TOKEN}")
        assert_clean(str(p), p.key, p.reason, p.fix)

    def test_errors(self):
        e = TpuStackError(f"bad {TOKEN}", fix=f"not {TOKEN}")
        assert_clean(str(e), e.reason, e.fix or "")
        c = ConfigError([Problem("k", TOKEN, "f")], stack=TOKEN)
        assert_clean(str(c), c.stack or "", *c.lines())

    @pytest.mark.parametrize(
        "text",
        [TOKEN, "x" + TOKEN, "my_" + TOKEN, f"--hf-token={PIECE}", f"HF_TOKEN={PIECE}", f"['--api-key', '{PIECE}']"],
    )
    def test_redact(self, text):
        assert_clean(redact(text))

    def test_our_own_fixes_survive(self):
        fix = "pulumi config set --secret tpustack:hfToken hf_..."
        assert redact(fix) == fix
        assert redact("task-abcdefghijklmnopqrstuvwxyz") == "task-abcdefghijklmnopqrstuvwxyz"

    def test_bounded_after_redaction(self):
        # a cut never leaves part of a token: redaction runs on the whole text first
        text = "a" * (MAX_TEXT - 5) + TOKEN + "b" * 10_000
        out = bounded(text)
        assert_clean(out)
        assert len(out) < MAX_TEXT + 60 and "more characters" in out
        assert len(quote(list(range(100_000)))) < 250


class TestHugeValuesAreNotEchoed:
    def test_five_thousand_variants(self, capsys, project, monkeypatch):
        variant = {"name": "tpu", "accelerator": "v6e-4", "capacity": ["spot"]}
        write_stack(project, "huge", _set("variants", [dict(variant, name=f"v{i}") for i in range(5000)]))
        code, _, err = run_cli(capsys, "plan", "--stack", "huge", cwd=project, monkeypatch=monkeypatch)
        assert code == 3 and "tpustack:variants" in err and "at most 8" in err, err
        assert len(err) < 3000, len(err)

    def test_huge_string(self, capsys, project, monkeypatch):
        write_stack(project, "huge", _set("benchmark.numPrompts", "9x" * 150_000))
        code, _, err = run_cli(capsys, "plan", "--stack", "huge", cwd=project, monkeypatch=monkeypatch)
        assert code == 3 and "tpustack:benchmark.numPrompts" in err
        assert len(err) < 3000, len(err)

    def test_huge_json(self, capsys, project, monkeypatch):
        write_stack(project, "huge", _set("labels", {f"k{i}": "V" * 70 for i in range(3000)}))
        code, out, err = run_cli(capsys, "plan", "--stack", "huge", "--json", cwd=project, monkeypatch=monkeypatch)
        assert code == 3 and len(err) + len(out) < 4000, len(err)
        json.dumps(err)  # plain text, nothing unprintable
