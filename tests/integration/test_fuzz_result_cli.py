"""Property-based tests of `report` and `recommend` over result records (issue 21): a valid record with any one
field, at any path, replaced by a value of any type, run through the CLI. The README's promises hold whatever the
file says: the exit code of its class (report 0 or 6; recommend 0, 4 or 6), no traceback, strict JSON on --json, no
control character from the input in the output, nothing written outside --out."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tpustack.cli import app
from tpustack.core.errors import EXIT_BENCHMARK, EXIT_OK, EXIT_PARTIAL

from helpers.project import FIXTURES

RUN = FIXTURES / "sweep" / "sweep-v6e-4-spot"
RECORD = json.loads((RUN / "points" / "001.json").read_text())
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEMAND = ["--slo", "ttft:p99<=5000ms", "--rps", "5", "--input-len", "1024", "--output-len", "128"]
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON document (dict keys and list indices), the root excluded."""
    out = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for k, v in items:
        out.append((*prefix, k))
        out += paths(v, (*prefix, k))
    return out


PATHS = paths(RECORD)
hostile_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["$\\frac{a}{b}$", "$\\foo{$", "a $ b", "\x1b[31mred\x1b]0;t\x07", "\x9b2J", "v6e-4\u202e", ""]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([10**400, 5e-324, 1e308, -1.0, 0, 0.0, float("inf"), float("nan"), -0.0]),
    st.floats(allow_nan=True),
    hostile_text,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(hostile_text, inner, max_size=3)),
    max_leaves=8,
)


def with_value(path: tuple, value: Any) -> str:
    doc = json.loads(json.dumps(RECORD))
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return json.dumps(doc)  # Infinity/NaN as Python writes them: what a careless writer leaves in a file


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run(*args: str):
    res = CliRunner().invoke(app, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    assert not CONTROL.search(res.output), repr(CONTROL.search(res.output))
    return res


def strict(text: str) -> None:
    def refuse(c: str) -> None:
        raise AssertionError(f"not JSON: {c}")

    json.loads(text, parse_constant=refuse)


class TestReportAndRecommendOverAnyRecord:
    def results(self, tmp: Path, path: tuple, value: Any) -> Path:
        root = tmp / "runs"
        shutil.copytree(RUN, root / RUN.name)
        (root / RUN.name / "points" / "001.json").write_text(with_value(path, value))
        return root

    @FUZZ
    @given(path=st.sampled_from(PATHS), value=values)
    def test_any_field_any_value(self, path, value):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            root = self.results(tmp, path, value)
            before = snapshot(tmp)
            rep = run("report", str(root), "--json")
            assert rep.exit_code in (EXIT_OK, EXIT_PARTIAL), rep.output
            strict(rep.stdout)
            assert run("report", str(root)).exit_code == rep.exit_code
            rec = run("recommend", str(root), *DEMAND, "--json")
            assert rec.exit_code in (EXIT_OK, EXIT_BENCHMARK, EXIT_PARTIAL), rec.output
            strict(rec.stdout)
            if rep.exit_code == EXIT_PARTIAL:  # the same files are skipped by both
                assert rec.exit_code in (EXIT_BENCHMARK, EXIT_PARTIAL)
            assert snapshot(tmp) == before  # without --out nothing is written

    @settings(FUZZ, max_examples=15)
    @given(path=st.sampled_from(PATHS), value=values)
    def test_any_field_any_value_with_out(self, path, value):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            root = self.results(tmp, path, value)
            before = snapshot(tmp)
            rep = run("report", str(root), "--out", str(tmp / "rep"), "--slo", "ttft<=500")
            assert rep.exit_code in (EXIT_OK, EXIT_PARTIAL), rep.output
            rec = run("recommend", str(root), *DEMAND, "--out", str(tmp / "rec"))
            assert rec.exit_code in (EXIT_OK, EXIT_BENCHMARK, EXIT_PARTIAL), rec.output
            after = snapshot(tmp)
            new = {k for k in after if k not in before}
            assert all(k.startswith(("rep/", "rec/")) for k in new), new
            assert {k: after[k] for k in before} == before
            assert "rep/report.html" in new and "rec/report.html" in new
            strict((tmp / "rep" / "report.json").read_text())
            strict((tmp / "rec" / "recommend.json").read_text())
