"""Property-based tests: for any input, the stack loader, the result readers and the reaper's label parsing
return a value or raise the project's own error types; nothing else escapes (no KeyError, TypeError, ...)."""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tpustack.config import load_config
from tpustack.config.project import Project, read_stack_file
from tpustack.core import names
from tpustack.core.errors import ConfigError, TpuStackError
from tpustack.ops import collect, reap, report
from tpustack.workloads import results

from helpers.project import BASE, FIXTURES, ROOT, SECRETS, as_engine_values

FIX = FIXTURES / "results"
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=20,
)


def mutate(doc: Any, path: list[int], value: Any) -> Any:
    """Replace the node a path of choice indices leads to (walking dicts and lists) by ``value``."""
    doc = copy.deepcopy(doc)
    node, parent, key = doc, None, None
    for step in path:
        if isinstance(node, dict) and node:
            key = sorted(node, key=str)[step % len(node)]
        elif isinstance(node, list) and node:
            key = step % len(node)
        else:
            break
        parent, node = node, node[key]
    if parent is None:
        return value
    parent[key] = value
    return doc


class TestStackLoader:
    def project(self, tmp_path: Path) -> Project:
        (tmp_path / "stacks").mkdir(exist_ok=True)
        return Project(root=tmp_path, stacks_dir=tmp_path / "stacks", program=ROOT / "__main__.py", name="tpustack")

    @FUZZ
    @given(data=st.binary(max_size=300))
    def test_any_bytes(self, tmp_path, data):
        p = self.project(tmp_path)
        (p.stacks_dir / "Pulumi.f.yaml").write_bytes(data)
        try:
            values, secrets = read_stack_file(p, "f")
            load_config(values, secrets, "f")
        except ConfigError:
            pass

    @FUZZ
    @given(
        config=st.dictionaries(
            st.sampled_from([*BASE, "tpustack:engine", "tpustack:lifecycle", "tpustack:x", "gcp:project", "plain"]),
            json_values,
            max_size=8,
        )
    )
    def test_any_structure_under_config(self, tmp_path, config):
        p = self.project(tmp_path)
        (p.stacks_dir / "Pulumi.f.yaml").write_text(yaml.safe_dump({"config": config}))
        try:
            values, secrets = read_stack_file(p, "f")
            load_config(values, secrets, "f")
        except ConfigError:
            pass

    @FUZZ
    @given(path=st.lists(st.integers(0, 50), min_size=1, max_size=5), value=json_values)
    def test_a_valid_config_with_one_value_changed(self, path, value):
        cfg = mutate(copy.deepcopy(BASE), path, value)
        if not isinstance(cfg, dict):
            return
        with contextlib.suppress(ConfigError):
            load_config(as_engine_values(cfg), SECRETS, "f")


RAW = [json.loads(p.read_text()) for p in sorted(FIX.rglob("*.json")) if "request-outputs" not in p.name]


class TestResultReaders:
    @FUZZ
    @given(which=st.integers(0, len(RAW) - 1), path=st.lists(st.integers(0, 50), max_size=6), value=json_values)
    def test_tool_files_with_any_value_changed(self, which, path, value):
        doc = mutate(RAW[which], path, value)
        try:
            rec = results.normalize(doc, source_file="f.json")
        except results.ResultFormatError:
            return
        assert results.record_problems(rec) == []

    @FUZZ
    @given(doc=json_values)
    def test_any_json(self, doc):
        with contextlib.suppress(results.ResultFormatError):
            results.normalize(doc, source_file="f.json")

    @FUZZ
    @given(path=st.lists(st.integers(0, 50), max_size=6), value=json_values)
    def test_report_over_records_with_any_value_changed(self, path, value):
        rec = results.normalize(RAW[-1], source_file="v.json")
        rec["metadata"] = {"run_id": "r", "accelerator": "v6e-8", "capacity_type": "spot", "replicas": 1}
        doc = mutate(rec, path, value)
        col = collect.Collection()
        collect._add(col, "src", "r/points/000.json", doc, "src/r/points/000.json")
        assert len(col.records) + len(col.skipped) + len(col.runs) + len(col.heartbeats) <= 1
        table = report.rows(col, {"ttft": 100.0, "tpot": 10.0}, "p99")
        report.best(table)
        report.to_csv(table)


class TestReaperLabels:
    @FUZZ
    @given(
        labels=st.dictionaries(
            st.sampled_from([names.LABEL_STACK, names.LABEL_EXPIRES, names.LABEL_KEEP, "x"]),
            st.text(max_size=30),
            max_size=4,
        ),
        now=st.integers(0, reap.MAX_UNIX),
        max_age=st.one_of(st.none(), st.floats(0.01, 24 * 3650)),
    )
    def test_judge_any_labels(self, labels, now, max_age):
        verdict, expires, keep, reason = reap.judge(labels, now, "2026-11-20T00:00:00Z", max_age)
        assert verdict in (reap.EXPIRED, reap.ALIVE, reap.KEPT, reap.NO_EXPIRY, reap.BAD_LABEL) and reason
        if verdict == reap.EXPIRED:
            assert expires is not None and expires <= now and not keep

    @FUZZ
    @given(raw=st.text(max_size=25))
    def test_parse_expires_is_strict(self, raw):
        v = reap.parse_expires(raw)
        assert v is None or (raw.isascii() and raw.isdigit() and 0 <= v <= reap.MAX_UNIX)

    @FUZZ
    @given(now=st.integers(-(2**70), 2**70))
    def test_any_now(self, now):
        with contextlib.suppress(TpuStackError):
            reap.Reaper("my-tpu-project", None, None, now=now)
