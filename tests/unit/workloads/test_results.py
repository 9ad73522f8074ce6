"""One result schema: normalizers over each tool's real file format, the benchmark spec, the tool command
lines, the metrics scraper, and the runner end to end against a local engine."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tpustack.config import load_config
from tpustack.core import contracts
from tpustack.core.errors import BenchmarkError, ConfigError
from tpustack.render import bench as spec
from tpustack.workloads import gcs, promscrape, records, results, serving_bench
from tpustack.workloads.tools import inference_perf, jetstream_benchmark, vllm_bench

from helpers.project import BASE, FIXTURES, SECRETS, as_engine_values

FIX = FIXTURES / "results"
from helpers.fake_engine import Engine

VLLM_DETAILED = FIX / "vllm" / "vllm-2.0qps-Llama-3.1-8B-Instruct-20261123-101500.json"
VLLM_AGG = FIX / "vllm" / "vllm-4.0qps-Llama-3.1-8B-Instruct-20261123-102000.json"
JS = FIX / "jetstream" / "JetStream-2.0qps-Llama-3.1-8B-Instruct-20261123-101500.json"
JS_OUT = FIX / "jetstream" / "request-outputs.json"
IP0 = FIX / "inference-perf" / "stage_0_lifecycle_metrics.json"
IP1 = FIX / "inference-perf" / "stage_1_lifecycle_metrics.json"


def load(p: Path) -> dict:
    return json.loads(p.read_text())


def cfg_from(**overrides):
    c = copy.deepcopy(BASE)
    c.update(overrides)
    return load_config(as_engine_values(c), SECRETS, "bench")


class TestStatistics:
    def test_percentile_matches_numpy(self):
        xs = list(np.random.default_rng(0).exponential(1.0, 101))
        for p in (0, 1, 50, 90, 99, 100):
            assert records.percentile(xs, p) == pytest.approx(float(np.percentile(xs, p)))

    def test_goodput_counts_requests_meeting_every_slo(self):
        g = records.goodput_from_requests(
            [0.1, 0.3, 0.1], [0.01, 0.01, 0.05], [1, 1, 1], {"ttft": 200, "tpot": 20}, duration_s=2.0, completed=3
        )
        assert g["good_requests"] == 1 and g["requests_per_s"] == 0.5 and g["fraction"] == pytest.approx(1 / 3)


class TestVllmNormalizer:
    def test_recomputed_figures_agree_with_vllms_own(self):
        """Field mapping and units are right when our per-request recomputation reproduces vLLM's aggregates."""
        doc = load(VLLM_DETAILED)
        r = vllm_bench.normalize(doc, slo={"ttft_ms": 120, "tpot_ms": 21})
        for ours, theirs in (("ttft", "ttft"), ("tpot", "tpot"), ("itl", "itl"), ("e2e", "e2el")):
            assert r["latency_ms"][ours]["mean"] == pytest.approx(doc[f"mean_{theirs}_ms"])
            assert r["latency_ms"][ours]["p50"] == pytest.approx(doc[f"median_{theirs}_ms"])
            assert r["latency_ms"][ours]["p99"] == pytest.approx(doc[f"p99_{theirs}_ms"])
        assert r["requests"] == {"completed": doc["completed"], "failed": 1}
        assert r["throughput"]["output_tokens_per_s"] == doc["output_throughput"]

    def test_send_rate_and_goodput_from_per_request_data(self):
        doc = load(VLLM_DETAILED)
        r = vllm_bench.normalize(doc, slo={"ttft_ms": 120, "tpot_ms": 21})
        starts = doc["start_times"]
        assert r["client"]["achieved_rate"] == pytest.approx((len(starts) - 1) / (max(starts) - min(starts)))
        assert r["client"]["kept_up"] is True and r["client"]["requested_rate"] == 2.0
        ok = [i for i, e in enumerate(doc["errors"]) if not e]
        good = sum(
            1
            for i in ok
            if doc["ttfts"][i] <= 0.120
            and (doc["latencies"][i] - doc["ttfts"][i]) / (doc["output_lens"][i] - 1) <= 0.021
        )
        assert r["goodput"]["good_requests"] == good and 0 < good < len(ok)

    def test_aggregate_only_file(self):
        doc = load(VLLM_AGG)
        r = vllm_bench.normalize(doc)
        assert r["latency_ms"]["tpot"]["p50"] == doc["median_tpot_ms"]
        assert r["latency_ms"]["e2e"]["p90"] == doc["p90_e2el_ms"]
        assert r["client"]["kept_up"] is None  # no send times: not proven either way
        assert any("no per-request data" in c for c in r["conversions"])

    def test_wrong_file_is_named(self):
        with pytest.raises(BenchmarkError, match="x.json: not a `vllm bench serve"):
            vllm_bench.normalize({"foo": 1}, source_file="x.json")


class TestJetStreamTpotConversion:
    """JetStream's TPOT is latency / n (TTFT inside); ours is (E2E - TTFT) / (n - 1)."""

    def truth(self):
        doc, outs = load(JS), load(JS_OUT)
        n = doc["metrics"]["total_output_tokens"] / doc["metrics"]["completed"]
        return doc, outs, [(o["latency_sec"] - o["ttft_sec"]) / (n - 1) * 1e3 for o in outs]

    def test_from_aggregates(self):
        doc, outs, tpot = self.truth()
        r = jetstream_benchmark.normalize(doc)
        assert r["latency_ms"]["tpot"]["mean"] == pytest.approx(float(np.mean(tpot)))
        assert r["latency_ms"]["tpot"]["mean"] < doc["metrics"]["mean_TPOT_ms"]  # TTFT no longer inside
        assert r["latency_ms"]["e2e"]["mean"] == pytest.approx(np.mean([o["latency_sec"] for o in outs]) * 1e3)
        assert r["latency_ms"]["tpot"]["p99"] is None  # not derivable from aggregates: left empty, not guessed
        assert any("latency / output tokens" in c for c in r["conversions"])

    def test_from_request_outputs(self):
        doc, outs, tpot = self.truth()
        r = jetstream_benchmark.normalize(doc, outs, slo={"ttft_ms": 120})
        assert r["latency_ms"]["tpot"]["p99"] == pytest.approx(float(np.percentile(tpot, 99)))
        assert r["latency_ms"]["ttft"]["p50"] == pytest.approx(doc["metrics"]["median_ttft_ms"])
        assert r["goodput"]["good_requests"] == sum(o["ttft_sec"] <= 0.12 for o in outs)

    def test_send_rate_is_a_lower_bound(self):
        r = jetstream_benchmark.normalize(load(JS))
        assert r["client"]["achieved_rate_basis"].startswith("lower bound")
        assert r["client"]["kept_up"] is True  # 1.89 >= 0.9 x 2.0 proves it
        slow = copy.deepcopy(load(JS))
        slow["metrics"]["duration"] *= 3
        assert jetstream_benchmark.normalize(slow)["client"]["kept_up"] is None  # unproven, not "failed"


class TestInferencePerfNormalizer:
    def test_units_and_fields(self):
        doc = load(IP0)
        r = inference_perf.normalize(doc, stage=0)
        lat = doc["successes"]["latency"]
        assert r["latency_ms"]["tpot"]["p90"] == pytest.approx(lat["time_per_output_token"]["p90"] * 1e3)
        assert r["latency_ms"]["e2e"]["p50"] == pytest.approx(lat["request_latency"]["median"] * 1e3)
        assert r["duration_s"] == doc["benchmark_time_seconds"]
        assert r["goodput"]["fraction"] == pytest.approx(
            doc["successes"]["goodput_metrics"]["goodput_percentage"] / 100
        )

    def test_client_that_fell_behind_is_flagged(self):
        r = inference_perf.normalize(load(IP1), stage=1)
        assert r["client"]["requested_rate"] == 8.0 and r["client"]["achieved_rate"] < 0.9 * 8.0
        assert r["client"]["kept_up"] is False
        assert r["client"]["schedule_delay_p99_ms"] > 1000

    def test_detect_and_normalize_a_directory(self):
        recs = results.normalize_dir(FIX)
        assert sorted(r["tool"] for r in recs) == sorted(
            ["inference-perf"] * 2 + ["jetstream-benchmark"] + ["vllm-bench"] * 2
        )
        assert all(
            r["schema"] == contracts.RECORD_SCHEMA and r["tpot_definition"] == records.TPOT_DEFINITION for r in recs
        )


class TestBenchSpec:
    def spec(self, **kw):
        return spec.bench_spec(
            cfg_from(**kw),
            base_url="http://vllm.default.svc:8000",
            metrics_url="http://vllm.default.svc:8000/metrics",
            results_uri="gs://b/bench",
            git_revision="abc123",
        )

    def test_vllm_spec_is_json_and_complete(self):
        s = self.spec()
        assert json.loads(json.dumps(s)) == s
        assert s["tool"] == "vllm-bench" and s["server"]["health_path"] == "/health"
        assert [p["request_rate"] for p in s["sweep"]] == [1, 2, 4]
        m = s["metadata"]
        assert (m["accelerator"], m["chips"], m["capacity_type"], m["engine"], m["git_revision"]) == (
            "v6e-8",
            8,
            "spot",
            "vllm",
            "abc123",
        )
        assert m["engine_image"].startswith("docker.io/vllm/vllm-tpu:") and m["engine_args"]["maxModelLen"] == 8192
        assert s["load"]["arrival"] == "poisson" and s["load"]["ignore_eos"] is True

    def test_impossible_tool_engine_pairs_are_config_errors(self):
        with pytest.raises(ConfigError, match="tpustack:benchmark.tool.*jetstream-benchmark cannot drive vllm"):
            self.spec(**{"tpustack:benchmark": {"tool": "jetstream-benchmark"}})
        with pytest.raises(ConfigError, match="burstiness.*Fix"):
            self.spec(**{"tpustack:benchmark": {"tool": "inference-perf", "burstiness": 0.5}})

    def test_concurrency_sweep(self):
        s = self.spec(**{"tpustack:benchmark": {"maxConcurrency": [8, 32]}})
        assert [p["max_concurrency"] for p in s["sweep"]] == [8, 32]


class TestToolCommandLines:
    def base_spec(self):
        return spec.bench_spec(
            cfg_from(**{"tpustack:benchmark": {"requestRates": [2], "slo": {"ttftMs": 500, "tpotMs": 40}}}),
            base_url="http://h:8000",
            metrics_url="http://h:8000/metrics",
            results_uri="/tmp/x",
            git_revision="r",
        )

    def test_vllm_flags(self, tmp_path):
        s = self.base_spec()
        argv, _ = serving_bench.invocation(s, s["sweep"][0], tmp_path, 500, None)
        assert argv[:3] == ["vllm", "bench", "serve"]
        flags = dict(zip(argv, argv[1:], strict=False))
        assert flags["--request-rate"] == "2.0" and flags["--burstiness"] == "1.0"
        assert flags["--random-input-len"] == "1024" and flags["--metric-percentiles"] == "50,90,99"
        assert {"--ignore-eos", "--save-detailed", "--save-result"} <= set(argv)
        assert argv[argv.index("--goodput") + 1 : argv.index("--goodput") + 3] == ["ttft:500", "tpot:40"]
        conc = serving_bench.invocation(s, {"max_concurrency": 16, "request_rate": None}, tmp_path, 10, None)[0]
        assert conc[conc.index("--max-concurrency") + 1] == "16" and conc[conc.index("--request-rate") + 1] == "inf"

    def test_inference_perf_config(self, tmp_path):
        s = self.base_spec()
        s["tool"], s["tool_command"] = "inference-perf", ["inference-perf"]
        argv, _ = serving_bench.invocation(s, s["sweep"][0], tmp_path, 500, None)
        cfg = json.loads(Path(argv[-1]).read_text())
        assert argv[-2] == "--config_file"
        # 500 prompts at 2/s: inference-perf 0.7.0 schedules int(rate * duration) requests, so the runner asks for
        # rate (500 + 0.5) / 250 = 2.002, which schedules exactly 500 (2.0 * 250 can float down to 499)
        stage = cfg["load"]["stages"][0]
        assert cfg["load"]["type"] == "poisson" and stage["duration"] == 250
        assert stage["rate"] == pytest.approx(2.002) and int(stage["rate"] * stage["duration"]) == 500
        assert cfg["load"]["num_workers"] >= 1
        assert cfg["data"]["output_distribution"]["type"] == "fixed"
        assert cfg["report"]["goodput"]["constraints"] == {"ttft": 0.5, "tpot": 0.04}  # seconds
        assert cfg["server"] == {
            "type": "vllm",
            "model_name": "meta-llama/Llama-3.1-8B-Instruct",
            "base_url": "http://h:8000",
            "ignore_eos": True,
        }

    def test_jetstream_flags(self, tmp_path):
        c = copy.deepcopy(BASE)
        c["tpustack:engine"] = {"name": "jetstream-maxtext", "maxtext": {}}
        c["tpustack:model"] = {"id": "meta-llama/Llama-3.1-8B-Instruct", "paramsB": 8.03, "maxtextName": "llama3.1-8b"}
        s = spec.bench_spec(
            load_config(as_engine_values(c), SECRETS, "js"),
            base_url="http://js:8000",
            metrics_url="http://js:9100/metrics",
            results_uri="/tmp/x",
            git_revision="r",
        )
        argv, _ = serving_bench.invocation(s, s["sweep"][0], tmp_path, 100, None)
        flags = dict(zip(argv, argv[1:], strict=False))
        assert s["server"]["health_path"] == "/healthcheck"
        assert (flags["--server"], flags["--port"]) == ("js", "9000")
        assert flags["--dataset"] == "prefix_cache_test" and "--save-request-outputs" in argv


class TestMetricsScrape:
    def test_parse_and_summarize(self):
        text = (
            '# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name="a"} 3\n'
            'vllm:num_requests_running{model_name="b"} 1\nvllm:x_bucket{le="1"} 9\nother_metric 5\n'
        )
        assert promscrape.parse(text) == {"vllm:num_requests_running": 4.0}
        s = promscrape.summarize(
            [
                (0, {"vllm:t_total": 10, "vllm:g": 2, "vllm:l_sum": 1.0, "vllm:l_count": 4}),
                (1, {"vllm:t_total": 30, "vllm:g": 4, "vllm:l_sum": 3.0, "vllm:l_count": 8}),
            ]
        )
        assert s["vllm:t_total"] == {"increase": 20} and s["vllm:g"] == {"mean": 3, "max": 4}
        assert s["vllm:l:mean"] == pytest.approx(0.5)


class TestJobSideIsStdlibOnly:
    @pytest.mark.parametrize("entry", ["tpustack.workloads.serving_bench", "tpustack.workloads.heartbeat"])
    def test_imports(self, tmp_path, entry):
        """A pod has the payload and the stdlib only (-S: no site-packages, so no pydantic, no pulumi, no
        google-cloud-storage): importing the entry point must work and pull in nothing else."""
        from tpustack.render import payload

        for f in payload(entry).files:
            (tmp_path / f.path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / f.path).write_bytes(f.source.read_bytes())
        code = (
            f"import sys; sys.path.insert(0, '.'); import {entry}; "
            "bad = sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names) - "
            "{'tpustack', '__main__'}); print(bad)"
        )
        out = subprocess.run(
            [sys.executable, "-I", "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "[]"


class TestRunnerEndToEnd:
    def test_sweep_with_a_local_engine(self, tmp_path):
        with Engine() as engine:
            s = spec.bench_spec(
                cfg_from(
                    **{
                        "tpustack:benchmark": {
                            "requestRates": [1, 4],
                            "numPrompts": 12,
                            "warmups": 2,
                            "slo": {"ttftMs": 400},
                        }
                    }
                ),
                base_url=engine.url,
                metrics_url=engine.url + "/metrics",
                results_uri=str(tmp_path / "results" / "bench"),
                git_revision="r1",
            )
            s["tool_command"] = [sys.executable, str(FIX / "fake_vllm_bench.py")]
            s["scrape_interval_s"] = 0.2
            manifest = serving_bench.run(s, run_id="run-a", log=lambda m: None)
        run_dir = tmp_path / "results" / "bench" / "run-a"
        assert manifest["status"] == "ok" and manifest["warmup"] == {"requests": 2, "exit_code": 0}
        rec = json.loads((run_dir / "points" / "001.json").read_text())
        assert rec["point"] == {"index": 1, "request_rate": 4.0, "max_concurrency": None}
        assert rec["metadata"]["run_id"] == "run-a" and rec["metadata"]["git_revision"] == "r1"
        assert rec["throughput"]["output_tokens_per_s_per_chip"] == pytest.approx(
            rec["throughput"]["output_tokens_per_s"] / 8
        )
        assert (
            rec["server_metrics"]["scrapes"] >= 1 and "vllm:generation_tokens_total" in rec["server_metrics"]["metrics"]
        )
        assert (run_dir / "raw" / "001-vllm.json").exists() and (run_dir / "raw" / "001-tool.log").exists()
        assert json.loads((run_dir / "run.json").read_text())["points"][0]["status"] == "ok"
        with pytest.raises(gcs.ObjectExists, match="never reused"):
            serving_bench.run(s, run_id="run-a", log=lambda m: None)
        # the pod's entry point: the same mistake is an input error (exit 3) on one line, never a traceback
        spec_file = tmp_path / "spec.json"
        spec_file.write_text(json.dumps(s))
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = serving_bench.main(["--spec", str(spec_file), "--run-id", "run-a"])
        assert rc == 3 and err.getvalue().startswith("error: ") and "Traceback" not in err.getvalue()

    def test_server_never_ready(self, tmp_path):
        s = {
            "results_uri": str(tmp_path),
            "stack": "x",
            "metadata": {},
            "load": {},
            "tool": "vllm-bench",
            "server": {"base_url": "http://127.0.0.1:9", "health_path": "/health"},
            "timeouts": {"ready_s": 0.5},
        }
        with pytest.raises(BenchmarkError, match="not ready.*Fix"):
            serving_bench.run(s, run_id="r", log=lambda m: None)
        assert "failed" in json.loads((tmp_path / "r" / "run.json").read_text())["status"]

    @staticmethod
    def _pod(spec_doc: dict, tmp_path: Path, *args: str) -> tuple[int, str]:
        """The pod's entry point as the Job runs it; returns (exit code, stderr)."""
        spec_file = tmp_path / "spec.json"
        spec_file.write_text(json.dumps(spec_doc))
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = serving_bench.main(["--spec", str(spec_file), *args])
        return rc, err.getvalue()

    def _spec(self, results_uri: str) -> dict:
        return {
            "results_uri": results_uri,
            "stack": "x",
            "metadata": {},
            "load": {},
            "tool": "vllm-bench",
            "server": {"base_url": "http://127.0.0.1:9", "health_path": "/health"},
            "timeouts": {"ready_s": 0.2},
        }

    def test_pod_with_a_bucket_that_does_not_exist(self, tmp_path, gcs_env):
        """A missing bucket is one line and exit 1 (a cloud error), before any measurement, never a traceback."""
        rc, err = self._pod(self._spec("gs://no-such-bucket-tpustack/bench"), tmp_path, "--run-id", "r1")
        assert rc == 1, err
        assert err.startswith("error: ") and "Traceback" not in err and "Fix:" in err
        assert err.count("\n") == 1

    def test_pod_never_writes_through_a_link_in_its_results_dir(self, tmp_path):
        """A dangling link where run.json goes: the pod refuses (write-once) and writes nothing outside."""
        run = tmp_path / "results" / "r"
        run.mkdir(parents=True)
        (run / "run.json").symlink_to(tmp_path / "outside.json")
        rc, err = self._pod(self._spec(str(tmp_path / "results")), tmp_path, "--run-id", "r")
        assert rc == 3 and "already holds results" in err and "Traceback" not in err, err
        assert not (tmp_path / "outside.json").exists()


class TestJetStreamRealOutputs:
    """Recorded outputs of the pinned JetStream client (tests/fixtures/jetstream-29329e8/README.md)."""

    DIR = FIXTURES / "jetstream-29329e8"

    def load(self):
        doc = json.loads(next(self.DIR.glob("JetStream-*.json")).read_text())
        return doc, json.loads((self.DIR / "request-outputs.json").read_text())

    def test_figures_the_tool_reports_come_through(self):
        doc, outs = self.load()
        rec = jetstream_benchmark.normalize(doc, outs)
        m = doc["metrics"]
        assert rec["requests"]["completed"] == m["completed"] == len(outs)
        assert rec["latency_ms"]["ttft"]["mean"] == pytest.approx(m["mean_ttft_ms"], rel=1e-6)
        assert rec["latency_ms"]["ttft"]["p50"] == pytest.approx(m["median_ttft_ms"], rel=1e-6)
        assert rec["throughput"]["output_tokens_per_s"] == pytest.approx(m["output_throughput"])
        # JetStream's TPOT is latency / n with TTFT inside: its own per-request data gives its figure back...
        n = m["total_output_tokens"] / m["completed"]
        assert statistics.mean(1000 * o["latency_sec"] / n for o in outs) == pytest.approx(m["mean_TPOT_ms"], rel=1e-6)
        # ...and ours, (E2E - TTFT) / (n - 1), is the stub's pace (asyncio.sleep(0.020) per token plus gRPC
        # streaming overhead: within 5 %), while JetStream's 22.6 ms carries the 50 ms TTFT spread over 16 tokens
        assert rec["latency_ms"]["tpot"]["mean"] == pytest.approx(20.0, rel=0.05)
        assert m["mean_TPOT_ms"] > 1.08 * rec["latency_ms"]["tpot"]["mean"]

    def test_counted_tokens_replace_characters(self):
        doc, outs = self.load()
        counts = [{"prompt_tokens": 40, "output_tokens": 16} for _ in outs]
        rec = jetstream_benchmark.normalize(doc, outs, token_counts=counts)
        dur = doc["metrics"]["duration"]
        assert rec["throughput"]["input_tokens_per_s"] == pytest.approx(40 * len(outs) / dur)
        assert any("counts characters" in c for c in rec["conversions"])
        # lengths that differ per request give per-request TPOT, not one average length for all
        varied = [{"prompt_tokens": 40, "output_tokens": 8 + i} for i in range(len(outs))]
        v = jetstream_benchmark.normalize(doc, outs, token_counts=varied)
        expect = [
            1000 * (o["latency_sec"] - o["ttft_sec"]) / (c["output_tokens"] - 1)
            for o, c in zip(outs, varied, strict=True)
        ]
        assert v["latency_ms"]["tpot"]["mean"] == pytest.approx(statistics.mean(expect), rel=1e-9)
