"""Comparisons at the same load (tpustack.ops.compare), through `tpustack report` and `tpustack recommend`: records
of one load model on setups one axis apart are paired; records of another load never are."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from tpustack.core import contracts
from tpustack.ops import compare, recommend, report

SRC = Path(__file__).resolve().parents[2] / "fixtures" / "sweep" / "sweep-v6e-4-spot"
PREFIX = {"groups": 8, "prefix_len": 1024, "prompts_per_group": 62, "multi_turn": False}


def run_dir(tmp: Path, name: str, change) -> Path:
    """The fixture run as another run id, every record v2 with a shared-prefix load and ``change`` applied."""
    d = tmp / name
    shutil.copytree(SRC, d)
    run = json.loads((d / "run.json").read_text())
    run["run_id"] = name
    (d / "run.json").write_text(json.dumps(run))
    for p in sorted((d / "points").glob("*.json")):
        rec = json.loads(p.read_text())
        rec["schema"] = contracts.RECORD_SCHEMA
        rec["metadata"]["run_id"] = name
        rec["load"] = {**rec["load"], "dataset": "shared-prefix", "num_prompts": 496, "prefix": dict(PREFIX)}
        rec["prefix_cache"] = {"serve": {"queries": 1000.0, "hits": 800.0, "hit_rate": 0.8, "basis": "b"}}
        change(rec)
        p.write_text(json.dumps(rec))
    return d


def caching_off(rec: dict) -> None:
    rec["metadata"]["engine_args"]["enablePrefixCaching"] = False
    rec["prefix_cache"] = {"serve": {"queries": 0.0, "hits": 0.0, "hit_rate": None, "basis": "b"}}
    rec["latency_ms"]["ttft"]["p50"] *= 2


def disaggregated(rec: dict) -> None:
    rec["prefix_cache"] = {
        "prefill": {"queries": 1000.0, "hits": 700.0, "hit_rate": 0.7, "basis": "b"},
        "decode": {"queries": 1000.0, "hits": 0.0, "hit_rate": 0.0, "basis": "b"},
    }
    rec["kv_transfer"] = {"decode": {"transfers": 10.0, "bytes": 1e9, "basis": "b"}}


@pytest.fixture
def runs(tmp_path) -> Path:
    run_dir(tmp_path, "on", lambda r: r["metadata"]["engine_args"].update(enablePrefixCaching=True))
    run_dir(tmp_path, "off", caching_off)
    run_dir(tmp_path, "pd", lambda r: (r["metadata"]["engine_args"].update(enablePrefixCaching=True), disaggregated(r)))
    other = run_dir(tmp_path, "other-load", caching_off)
    for p in (other / "points").glob("*.json"):
        rec = json.loads(p.read_text())
        rec["load"]["prefix"]["prefix_len"] = 512  # another workload: never compared
        p.write_text(json.dumps(rec))
    run_dir(tmp_path, "other-args", lambda r: (caching_off(r), r["metadata"]["engine_args"].update(maxNumSeqs=64)))
    return tmp_path


def test_report_pairs_the_same_load_one_axis_apart(runs):
    doc = report.build([str(runs)], None, {"ttft": 5000.0})
    rows = {(r["run_id"], r["point"]): r for r in doc["points"]}
    assert rows[("on", 0)]["prefix_hit_rate"] == 0.8 and rows[("off", 0)]["prefix_hit_rate"] is None
    assert rows[("pd", 0)]["prefix_hit_rate"] == pytest.approx(0.35)  # all roles' hits / all roles' queries
    assert rows[("pd", 0)]["serving"] == "disaggregated" and rows[("on", 0)]["serving"] == "aggregated"
    assert "prefix_hit_rate" in report.to_csv(doc["points"]).splitlines()[0].split(",")
    found = {(c["axis"], c["a"]["run_id"], c["b"]["run_id"], c["a"]["point"]) for c in doc["comparisons"]}
    points = {r["point"] for r in doc["points"]}
    assert found == {("prefix_caching", "off", "on", p) for p in points} | {("serving", "on", "pd", p) for p in points}
    c = next(c for c in doc["comparisons"] if c["axis"] == "prefix_caching")
    assert c["figures"]["ttft_p50_ms"]["b_over_a"] == pytest.approx(0.5)  # caching on halves TTFT here
    assert c["a"]["setup"] == "off" and c["b"]["setup"] == "on"
    # another load, or another engine setting beside the axis: never paired
    assert all(r["run_id"] not in ("other-load", "other-args") for c in doc["comparisons"] for r in (c["a"], c["b"]))
    assert compare.lines(doc["comparisons"])[0].startswith("prefix_caching off -> on at rate")


def test_recommend_lists_them_too(runs):
    doc = recommend.recommend([str(runs)], recommend.parse_slo("ttft:p99<=5000ms"), recommend.Demand(1, 1024, 128))
    assert doc["comparisons"] and any("same load, one setup apart" in line for line in recommend.explain(doc))


def test_older_records_have_no_rate_and_still_compare_by_load():
    rec = json.loads(next((SRC / "points").glob("*.json")).read_text())
    assert compare.hit_rate(rec) is None and compare.roles(rec) == []
    assert compare.setup(rec)["prefix_caching"] == "on (engine default)"
    other = copy.deepcopy(rec)
    other["point"]["request_rate"] = 99.0
    assert compare.load_key(rec) != compare.load_key(other)
