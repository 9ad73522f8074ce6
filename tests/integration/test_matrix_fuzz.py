"""Property-based tests of `tpustack matrix FILE` over hostile matrix files: random axes, values, types and sizes,
repeated keys, aliases (benign, recursive and bombs). The README's promises hold for every one: the exit code is
0, 2 or 3 (README "Exit codes"), no traceback, `--json` is strict JSON, nothing is written outside `--out`, and a
secret-looking value placed anywhere in the file is never printed.

Every combination still goes through the real config gate (load_config); the mock engine's run is replaced by
one real plan of `dev` made once, so an example takes milliseconds (the plans themselves: test_matrix.py)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tpustack import plan as plan_mod
from tpustack.cli import app
from tpustack.config import load_config
from tpustack.config.project import load_project
from tpustack.plan import matrix

from helpers.project import ROOT

TOKEN = "hf_" + "Zq9Xw8Vu7T" * 4  # a Hugging Face token's shape (hf_ + 34+ characters)
FUZZ = settings(
    max_examples=int(os.environ.get("TPUSTACK_FUZZ_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-project")
    for f in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / f, root / f)
    (root / "stacks").mkdir()
    shutil.copy(ROOT / "stacks" / "Pulumi.dev.yaml", root / "stacks" / "Pulumi.dev.yaml")
    return root


@pytest.fixture(scope="module", autouse=True)
def fast_plans(project):
    canned = plan_mod.plan(load_project(project), "dev")

    def plan_values(scratch, stack, values, secrets):
        load_config(values, secrets, stack)  # the real gate: its problems are what the matrix lists
        return dataclasses.replace(canned, stack=stack)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(matrix, "plan_values", plan_values)
        yield


class Alias:
    """Where the flow emitter writes ``*name``."""

    def __init__(self, name: str):
        self.name = name


class Repeat(dict):
    """A mapping the flow emitter writes with its first key twice (YAML keeps the last)."""


def flow(v: Any) -> str:
    """YAML flow text (JSON is YAML) that can also hold aliases and repeated keys."""
    if isinstance(v, Alias):
        return f"*{v.name}"
    if isinstance(v, dict):
        items = [f"{flow(k)}: {flow(x)}" for k, x in v.items()]
        if isinstance(v, Repeat) and items:
            items.append(items[0])
        return "{" + ", ".join(items) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(flow(x) for x in v) + "]"
    if isinstance(v, float) and not math.isfinite(v):
        return ".nan" if math.isnan(v) else (".inf" if v > 0 else "-.inf")
    return json.dumps(v)


slugs = st.one_of(st.sampled_from(["a", "b", "x-y", "y", "x", "v6e8", "a-b", "s" * 31]), st.text(max_size=8))
axis_names = st.one_of(st.sampled_from(["acc", "engine", "knob", TOKEN]), st.text(max_size=6))
keys = st.sampled_from(
    [
        "tpustack:accelerator",
        "tpustack:lifecycle.ttlHours",
        "tpustack:engine.vllm.maxNumSeqs",
        "tpustack:model.id",
        "tpustack:labels.team",
        "tpustack:x",
        "tpustack:" + TOKEN,
        TOKEN,
        "plain",
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.sampled_from([TOKEN, f"--hf-token={TOKEN}", "v6e-8", "h100-1", "v5litepod-8", "meta-llama/Llama-3.1-8B"]),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=8,
)
variants = st.fixed_dictionaries({"slug": slugs}, optional={"set": st.dictionaries(keys, values, max_size=3)})
axes = st.lists(
    st.fixed_dictionaries({"name": axis_names, "values": st.lists(variants, max_size=3)}), min_size=0, max_size=3
)
docs = st.fixed_dictionaries(
    {"prefix": st.one_of(st.sampled_from(["fz", "p" * 31, "Bad", TOKEN]), st.text(max_size=5)), "axes": axes},
    optional={
        "base": st.sampled_from(["dev", "nope", "../stacks/Pulumi.dev", TOKEN]),
        "config": st.dictionaries(keys, values, max_size=2),
        "exclude": st.lists(st.dictionaries(axis_names, slugs, max_size=2), max_size=2),
        "extra": values,
    },
)

# Files close to valid, so that combinations plan, --json lists them and --write writes them.
good_sets = st.dictionaries(
    st.sampled_from(["tpustack:lifecycle.ttlHours", "tpustack:labels.team", "tpustack:workload.iterations"]),
    st.one_of(st.integers(1, 5), st.sampled_from(["ml", "perf", "ml", TOKEN])),
    max_size=2,
)
good_docs = st.fixed_dictionaries(
    {
        "prefix": st.just("fz"),
        "base": st.just("dev"),
        "axes": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["acc", "knob", "load"]),
                    "values": st.lists(
                        st.fixed_dictionaries({"slug": st.sampled_from(["a", "b", "a-b", "c"]), "set": good_sets}),
                        min_size=1,
                        max_size=3,
                        unique_by=lambda v: v["slug"],
                    ),
                }
            ),
            min_size=1,
            max_size=2,
            unique_by=lambda a: a["name"],
        ),
    }
)


@st.composite
def matrix_files(draw) -> str:
    doc = draw(st.one_of(good_docs, good_docs, docs))
    how = draw(st.sampled_from(["dump", "dump", "dump", "repeat", "alias", "bomb", "recursive", "junk"]))
    if how == "dump":
        return yaml.safe_dump({"matrix": doc})
    if how == "junk":
        return draw(st.text(max_size=200))
    anchors = ""
    if how in ("alias", "repeat"):
        anchors = f"shared: &a {flow(draw(values))}\n"
        if doc["axes"] and doc["axes"][0]["values"]:
            doc["axes"][0]["values"][0]["set"] = Alias("a")
        if how == "repeat":
            doc = Repeat(doc)
            if doc["axes"] and doc["axes"][0]["values"]:
                doc["axes"][0]["values"][0] = Repeat(doc["axes"][0]["values"][0])
    elif how == "bomb":
        fan, depth = draw(st.integers(2, 12)), draw(st.integers(1, 9))
        anchors = f"l0: &l0 [{', '.join(['lol'] * fan)}]\n"
        anchors += "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]\n" for i in range(1, depth))
        doc["config"] = {"tpustack:x": Alias(f"l{depth - 1}")}
    else:
        return "matrix: &m " + flow({**doc, "config": {"tpustack:x": Alias("m")}}) + "\n"
    return anchors + "matrix: " + flow(doc) + "\n"


def strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in --json output: not JSON")

    return json.loads(text, parse_constant=refuse)


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


MODES = st.sampled_from(["table", "--json", "--names", "--write", "--out"])


class TestHostileMatrixFiles:
    @FUZZ
    @given(text=matrix_files(), mode=MODES)
    def test_readme_promises_hold(self, project, text, mode):
        check(project, text, mode)

    @FUZZ
    @given(doc=good_docs, mode=MODES)
    def test_and_near_valid_files_plan_and_write(self, project, doc, mode):
        check(project, yaml.safe_dump({"matrix": doc}), mode)


def check(project: Path, text: str, mode: str) -> None:
    """Run `tpustack matrix` on the file in one mode and assert the README's promises."""
    before = files_under(project)
    with tempfile.TemporaryDirectory() as tmp:
        f, out = Path(tmp) / "m.matrix.yaml", Path(tmp) / "out"
        f.write_text(text)
        flags = {"table": [], "--json": ["--json"], "--names": ["--names"], "--out": ["--out", str(out)]}.get(mode)
        r = CliRunner().invoke(
            app, ["matrix", str(f), *(flags or ["--write", "--out", str(out)]), "--project-dir", str(project)]
        )
        event(f"exit {r.exit_code}")
        assert r.exit_code in (0, 2, 3), (r.exit_code, r.output, repr(r.exception))
        assert "Traceback" not in r.output and "internal error" not in r.output, r.output
        assert TOKEN not in r.output, r.output
        if mode == "--json" and r.stdout.strip():
            assert set(strict_json(r.stdout)) == {"matrix", "combinations", "sweep", "written"}
        if mode == "--out":
            assert r.exit_code == 2 and not out.exists()  # --out without --write: a usage error
        written = files_under(out) if out.exists() else set()
        assert files_under(Path(tmp)) == {"m.matrix.yaml"} | (
            {"out", *(f"out/{n}" for n in written)} if out.exists() else set()
        )
        if mode == "--write" and r.exit_code == 0:
            names = CliRunner().invoke(app, ["matrix", str(f), "--names", "--project-dir", str(project)]).stdout.split()
            assert written == {f"Pulumi.{n}.yaml" for n in names} and len(names) == len(set(names))
        elif mode == "--write":
            assert not written  # whole or nothing
    assert files_under(project) == before  # nothing written outside --out
