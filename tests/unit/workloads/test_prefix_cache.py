"""Schema v2: each role's prefix-cache hit rate and KV transfers, from the engine's own counters scraped before and
after a point (tpustack.workloads.cachestats), and the gate that checks them in files anyone may have written."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tpustack.core import contracts
from workloads import cachestats, promscrape, results

FIX = Path(__file__).resolve().parents[2] / "fixtures"
BEFORE = """# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 1000.0
vllm:prefix_cache_queries_total{engine="1",model_name="m"} 1000.0
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 100.0
vllm:prefix_cache_hits_total{engine="1",model_name="m"} 100.0
vllm:nixl_xfer_time_seconds_sum{engine="0",model_name="m"} 1.0
vllm:nixl_xfer_time_seconds_count{engine="0",model_name="m"} 10.0
vllm:nixl_bytes_transferred_sum{engine="0",model_name="m"} 1000.0
vllm:nixl_num_failed_transfers_total{engine="0",model_name="m"} 0.0
"""
AFTER = (
    BEFORE.replace("} 1000.0\n", "} 2000.0\n", 2)
    .replace("} 100.0\n", "} 850.0\n", 2)
    .replace("} 1.0\n", "} 3.0\n")
    .replace("} 10.0\n", "} 30.0\n")
    .replace('model_name="m"} 1000.0\n', 'model_name="m"} 5000.0\n')
)


def summary(*texts: str) -> dict:
    return promscrape.summarize([(float(i), promscrape.parse(t)) for i, t in enumerate(texts)])


def test_hit_rate_is_the_delta_over_the_point():
    pc = cachestats.prefix_cache(summary(BEFORE, AFTER))
    # 2 engines: +2000 queried tokens, +1500 hit; the counters' totals before the point do not count
    assert pc == {"queries": 2000.0, "hits": 1500.0, "hit_rate": 0.75, "basis": cachestats.BASIS}


def test_nothing_queried_is_no_rate_not_zero():
    """Prefix caching off: vLLM records no query; the rate is unknown, never 0 or 1."""
    pc = cachestats.prefix_cache(summary(BEFORE, BEFORE))
    assert pc is not None and pc["queries"] == 0 and pc["hit_rate"] is None
    assert cachestats.prefix_cache(summary("vllm:num_requests_running 1\n")) is None  # no counters: no section


def test_kv_transfer_from_the_nixl_metrics():
    kv = cachestats.kv_transfer(summary(BEFORE, AFTER))
    assert kv is not None
    assert kv["transfers"] == 20 and kv["bytes"] == 4000 and kv["mean_transfer_s"] == pytest.approx(0.1)
    assert kv["failed_transfers"] == 0
    assert cachestats.kv_transfer(summary("vllm:num_requests_running 1\n")) is None


def a_record() -> dict:
    rec = json.loads(next((FIX / "sweep" / "sweep-v6e-4-spot" / "points").glob("*.json")).read_text())
    rec["schema"] = contracts.RECORD_SCHEMA
    rec["prefix_cache"] = {"serve": {"queries": 2000.0, "hits": 1500.0, "hit_rate": 0.75, "basis": "b"}}
    rec["kv_transfer"] = {"decode": {"transfers": 20.0, "bytes": 4000.0, "basis": "b"}}
    return rec


class TestTheGate:
    def test_v2_and_v1_read(self):
        rec = a_record()
        assert results.record_problems(rec) == []
        old = copy.deepcopy(rec)
        old["schema"] = "tpustack.serving-point/v1"
        del old["prefix_cache"], old["kv_transfer"]
        assert results.record_problems(old) == []
        assert contracts.RECORD_SCHEMA == "tpustack.serving-point/v2" and len(contracts.RECORD_SCHEMAS) == 2

    @pytest.mark.parametrize(
        "change,problem",
        [
            ({"hit_rate": 1.5}, "prefix_cache.serve.hit_rate: 1.5 is out of range"),
            ({"hit_rate": 0.5}, "hit_rate 0.5 is not hits / queries"),
            ({"hits": 3000.0, "hit_rate": None}, "hits 3000.0 exceed queries"),
            ({"queries": -1.0}, "prefix_cache.serve.queries: -1.0 is out of range"),
            ({"hit_rate": "high"}, "prefix_cache.serve.hit_rate: 'high' is not a number"),
            ({"basis": None}, "prefix_cache.serve.basis is null"),
        ],
    )
    def test_figures_that_cannot_be_are_refused(self, change, problem):
        rec = a_record()
        rec["prefix_cache"]["serve"].update(change)
        found = results.record_problems(rec)
        assert any(problem in p for p in found), found

    def test_a_role_that_is_not_an_object_is_refused(self):
        rec = a_record()
        rec["prefix_cache"] = {"serve": 0.75}
        assert results.record_problems(rec)
        rec["kv_transfer"] = {"decode": {"bytes": float("inf"), "basis": "b"}}
        rec["prefix_cache"] = {}
        assert any("kv_transfer.decode.bytes" in p for p in results.record_problems(rec))
