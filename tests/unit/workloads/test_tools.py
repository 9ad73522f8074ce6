"""The benchmark tools behind one interface, and the contracts across the pod boundary as types.

* The registry holds one tool per ToolName, and each tool's facts are the ones the config rules read today from
  tpustack.core.engines (datasets, engines, EOS, command, image).
* No code of the benchmark pipeline or its readers compares a tool name with a string literal: dispatch goes
  through the registry.
* The TypedDicts are the documents: the keys bench_spec builds, the runner writes and record_problems checks.
* A record of an earlier version, without the keys later versions add, still reads and reports.
"""

from __future__ import annotations

import ast
import copy
import json
import shutil
import sys
from pathlib import Path

import pytest

from tpustack.config import load_config
from tpustack.core import contracts, engines, images
from tpustack.core.contracts import required
from tpustack.core.engines import EngineName, ToolName
from tpustack.core.errors import BenchmarkError
from tpustack.ops import recommend, report
from tpustack.render import bench
from tpustack.workloads import records, results, serving_bench, tools

from helpers.project import BASE, FIXTURES, ROOT, SECRETS, as_engine_values

FIX = FIXTURES
from helpers.fake_engine import Engine


def spec_of(**overrides) -> contracts.BenchSpec:
    c = copy.deepcopy(BASE)
    c.update(overrides)
    return bench.bench_spec(
        load_config(as_engine_values(c), SECRETS, "tools"),
        base_url="http://h:8000",
        metrics_url="http://h:8000/metrics",
        results_uri="/r",
        git_revision="g",
    )


def jetstream_spec() -> contracts.BenchSpec:
    return spec_of(
        **{
            "tpustack:engine": {"name": "jetstream-maxtext", "maxtext": {}},
            "tpustack:model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "paramsB": 8.03, "maxtextName": "llama3.1-8b"},
        }
    )


class TestOneRegistry:
    def test_one_tool_per_name(self):
        assert list(tools.TOOLS) == list(ToolName)
        for name, t in tools.TOOLS.items():
            assert t.name == t.facts.name == name
            assert tools.tool(str(name)) is t and tools.tool(name) is t

    def test_unknown_tool_names_the_known_ones(self):
        with pytest.raises(tools.UnknownTool) as e:
            tools.tool("locust")
        assert e.value.fix == "one of vllm-bench, jetstream-benchmark, inference-perf"
        assert isinstance(e.value, BenchmarkError) and e.value.exit_code == 4
        s = spec_of()
        s["tool"] = "locust"
        with pytest.raises(BenchmarkError, match=r"^spec.tool 'locust' is unknown. Fix: one of vllm-bench"):
            serving_bench.invocation(s, s["sweep"][0], Path("/tmp/unused-tpustack"), 1, None)

    def test_facts_are_the_image_facts(self):
        """What the config rules read, one place: each tool's facts, taken from the image it runs in."""
        expected = {
            ToolName.VLLM_BENCH: (("random", "sharegpt", "shared-prefix"), True, images.VLLM_TPU.bench_command, None),
            ToolName.JETSTREAM_BENCHMARK: (("random", "sharegpt"), False, images.JETSTREAM_ENGINE.bench_command, None),
            ToolName.INFERENCE_PERF: (
                (*images.INFERENCE_PERF.datasets, "shared-prefix"),
                False,
                images.INFERENCE_PERF.command,
                images.INFERENCE_PERF.image,
            ),
        }
        for name, t in tools.TOOLS.items():
            f = t.facts
            assert (f.datasets, f.ignores_eos_on_random, tuple(f.command), f.image) == expected[name], name
            assert all(isinstance(e, EngineName) for e in f.engines)
        drives = {engine: tuple(t.name for t in tools.tools_for(engine)) for engine in EngineName}
        assert drives == {
            EngineName.VLLM: (ToolName.VLLM_BENCH, ToolName.INFERENCE_PERF),
            EngineName.JETSTREAM_MAXTEXT: (ToolName.JETSTREAM_BENCHMARK,),
        }
        # every engine's default tool can drive it
        for engine, record in engines.ENGINES.items():
            assert record.default_tool in drives[engine]
        # the load shapes the rules allow (tpustack.config.rules benchmark_load_fits_tool)
        assert [t.name for t in tools.TOOLS.values() if not t.facts.concurrency_limit] == [ToolName.JETSTREAM_BENCHMARK]
        assert [t.name for t in tools.TOOLS.values() if t.facts.burstiness] == [ToolName.VLLM_BENCH]
        assert [t.name for t in tools.TOOLS.values() if t.facts.sends_temperature] == [ToolName.VLLM_BENCH]

    def test_the_spec_runs_the_registered_command(self):
        for s in (spec_of(), jetstream_spec(), spec_of(**{"tpustack:benchmark": {"tool": "inference-perf"}})):
            t = tools.tool(s["tool"])
            assert s["tool_command"] == list(t.facts.command)
            # metadata.tool_image: the engine's image, or None where the tool brings its own (render/context.py)
            assert s["metadata"]["tool_image"] == (None if t.facts.image else s["metadata"]["engine_image"])

    def test_every_tool_module_is_registered(self):
        modules = {p.stem for p in (ROOT / "workloads" / "tools").glob("*.py")} - {"__init__", "base"}
        assert modules == {type(t).__module__.rsplit(".", 1)[-1] for t in tools.TOOLS.values()}

    def test_specific_signatures_are_tried_first(self):
        """A document with JetStream's sections and vLLM's flat keys is JetStream's, as before the registry."""
        doc = {"metrics": {"completed": 1}, "dimensions": {}, "request_throughput": 1.0, "completed": 1}
        assert results.detect_tool(doc) == ToolName.JETSTREAM_BENCHMARK
        doc = {"load_summary": {}, "successes": {}, "request_throughput": 1.0, "completed": 1}
        assert results.detect_tool(doc) == ToolName.INFERENCE_PERF


TOOL_NAMES = set(ToolName.values())
SCOPE = [
    *(ROOT / "workloads").rglob("*.py"),
    ROOT / "tpustack" / "ops" / "report.py",
    ROOT / "tpustack" / "ops" / "collect.py",
    ROOT / "tpustack" / "ops" / "recommend.py",
    ROOT / "tpustack" / "ops" / "pictures.py",
    ROOT / "tpustack" / "cli" / "bench.py",
]


class TestNoDispatchOnToolNames:
    def test_no_comparison_with_a_tool_name_literal(self):
        found = []
        for path in SCOPE:
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Compare):
                    consts = [c for c in (node.left, *node.comparators) if isinstance(c, ast.Constant)]
                    consts += [e for c in node.comparators if isinstance(c, ast.Tuple | ast.List) for e in c.elts]
                    if any(isinstance(c, ast.Constant) and c.value in TOOL_NAMES for c in consts):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        assert not found, found


class TestContractsAreTheDocuments:
    def test_the_spec_bench_spec_builds(self):
        for s in (spec_of(), jetstream_spec(), spec_of(**{"tpustack:benchmark": {"maxConcurrency": [4]}})):
            assert s["schema"] == contracts.SPEC_SCHEMA == bench.SPEC_SCHEMA
            assert list(s) == list(contracts.BenchSpec.__annotations__)
            for key, td in (
                ("server", contracts.SpecServer),
                ("load", contracts.SpecLoad),
                ("timeouts", contracts.SpecTimeouts),
                ("metadata", contracts.SpecMetadata),
            ):
                assert list(s[key]) == list(required(td)), key
            assert set(required(contracts.SpecModel)) <= set(s["model"]) <= set(contracts.SpecModel.__annotations__)
            assert set(s["slo"]) <= set(contracts.SpecSlo.__annotations__)
            assert all(set(p) == set(required(contracts.SweepPoint)) for p in s["sweep"])
        assert {"client_model", "tokenizer_path"} <= set(jetstream_spec()["model"])

    def test_what_the_runner_writes(self, tmp_path):
        with Engine() as engine:
            s = spec_of(**{"tpustack:benchmark": {"requestRates": [2], "numPrompts": 6, "warmups": 1}})
            s["server"]["base_url"], s["server"]["metrics_url"] = engine.url, engine.url + "/metrics"
            s["results_uri"] = str(tmp_path)
            s["tool_command"] = [sys.executable, str(FIX / "results" / "fake_vllm_bench.py")]
            s["scrape_interval_s"] = 0.2
            serving_bench.run(s, run_id="r", log=lambda m: None)
        manifest = json.loads((tmp_path / "r" / "run.json").read_text())
        rec = json.loads((tmp_path / "r" / "points" / "000.json").read_text())
        assert set(manifest) == set(contracts.RunManifest.__annotations__) - {"gateway_address"}  # no Gateway here
        assert set(manifest["points"][0]) <= set(contracts.RunPoint.__annotations__)
        # cold_start only where the spec names serving pods; kv_transfer only where the engine exports KV-connector
        # metrics (P/D); this run has neither
        assert set(rec) == set(contracts.Record.__annotations__) - {"cold_start", "kv_transfer"}
        # the fake engine's counters grow 64 queried / 48 hit tokens per scrape: 0.75 whatever the scrape count
        pc = rec["prefix_cache"]["serve"]
        assert pc["hit_rate"] == pytest.approx(0.75) and pc["queries"] > 0 and pc["hits"] == 0.75 * pc["queries"]
        assert set(rec["metadata"]) == set(contracts.RecordMetadata.__annotations__)
        assert set(rec["load"]) <= set(contracts.RecordLoad.__annotations__)
        for key, td in (
            ("point", contracts.RecordPoint),
            ("requests", contracts.Requests),
            ("throughput", contracts.Throughput),
            ("client", contracts.Client),
            ("goodput", contracts.Goodput),
        ):
            assert set(rec[key]) == set(td.__annotations__), key
        assert all(list(v) == list(required(contracts.Stats)) for v in rec["latency_ms"].values())
        assert required(contracts.Stats) == ("mean", *(f"p{p}" for p in records.PERCENTILES))

    def test_the_gate_checks_exactly_the_required_keys(self):
        """Every key a Record requires is checked by record_problems; no optional one is."""
        rec = results.normalize(
            json.loads(next((FIX / "results" / "vllm").glob("*.json")).read_text()), source_file="v"
        )
        sections = {
            "point": contracts.RecordPoint,
            "requests": contracts.Requests,
            "throughput": contracts.Throughput,
            "client": contracts.Client,
            "goodput": contracts.Goodput,
        }
        for key in contracts.Record.__annotations__:
            r = copy.deepcopy(rec)
            r.pop(key, None)  # type: ignore[misc]  (a tool's own file has no cold_start / prefix_cache / kv_transfer)
            assert bool(results.record_problems(r)) == (key in required(contracts.Record)), key
        for section, td in sections.items():
            for key in td.__annotations__:
                r = copy.deepcopy(rec)
                del r[section][key]
                assert bool(results.record_problems(r)) == (key in required(td)), (section, key)
        for metric in required(contracts.Latency):
            for key in required(contracts.Stats):
                r = copy.deepcopy(rec)
                del r["latency_ms"][metric][key]
                assert results.record_problems(r) == [f"latency_ms.{metric}.{key} is missing"]


class TestOlderRecordsStillRead:
    """A record as an earlier version may have written it: only what the gate requires, no conversions, no server
    metrics, no TPOT definition, a shorter client and goodput section, metadata without the keys added since."""

    OPTIONAL = ("source_file", "duration_s", "tpot_definition", "conversions", "server_metrics")
    LATER_METADATA = ("variants", "tool_image", "git_revision", "model_dtype", "run_started_at", "region", "zone")

    def older(self, rec: dict, *gone: str) -> dict:
        old = copy.deepcopy(rec)
        for k in (*self.OPTIONAL, *gone):
            old.pop(k, None)
        old["client"] = {k: old["client"][k] for k in required(contracts.Client)}
        old["goodput"] = {k: old["goodput"][k] for k in required(contracts.Goodput)}
        for k in self.LATER_METADATA:
            old["metadata"].pop(k, None)
        return old

    def test_reads_and_reports(self, tmp_path):
        src = FIX / "sweep" / "sweep-v6e-4-spot"
        run = tmp_path / "sweep-v6e-4-spot"
        shutil.copytree(src, run)
        full = [json.loads(p.read_text()) for p in sorted((src / "points").glob("*.json"))]
        for p, rec in zip(sorted((run / "points").glob("*.json")), full, strict=True):
            p.write_text(json.dumps(self.older(rec)))
            assert results.record_problems(self.older(rec)) == []
        old = report.build([str(tmp_path)], None, {"ttft": 500.0, "tpot": 50.0})
        new = report.build([str(src.parent)], None, {"ttft": 500.0, "tpot": 50.0})
        assert old["skipped"] == [] and len(old["points"]) == len(full)
        mine = [p for p in new["points"] if p["run_id"] == "sweep-v6e-4-spot"]
        for o, n in zip(old["points"], mine, strict=True):
            assert o["conversions"] == [] and o["source"].startswith(str(run))
            differs = {k for k in n if n[k] != o[k]} - {"conversions", "source"}
            assert not differs, differs
        assert old["best"]["run_id"] == "sweep-v6e-4-spot" and old["best"]["point"] == 1

    def test_without_its_load_recommend_says_why(self, tmp_path):
        """Lengths unknown: not evidence for a demand, with the reason; never guessed."""
        src = FIX / "sweep" / "sweep-v6e-4-spot"
        run = tmp_path / "sweep-v6e-4-spot"
        shutil.copytree(src, run)
        for p in (run / "points").glob("*.json"):
            p.write_text(json.dumps(self.older(json.loads(p.read_text()), "load")))
        doc = recommend.recommend(
            [str(tmp_path)], recommend.parse_slo("ttft:p99<=500ms"), recommend.Demand(5, 1024, 128)
        )
        assert doc["recommendation"] is None and doc["skipped"] == []
        assert all("prompt/output lengths are not recorded" in " ".join(e["reasons"]) for e in doc["excluded"])
