"""Results in GCS and `tpustack report`, end to end against a real local GCS server (gcp-storage-emulator on
127.0.0.1) with the real google-cloud-storage client: runs uploaded by the benchmark runner and the
heartbeat, then the report over the gs:// prefix."""

from __future__ import annotations

import copy
import csv
import io
import json
import sys

import pytest
from typer.testing import CliRunner

from tpustack import cost
from tpustack.cli import app
from tpustack.config import load_config
from tpustack.ops import report
from tpustack.render import bench as spec
from tpustack.workloads import gcs, heartbeat, serving_bench

from helpers.project import BASE, BUCKET, FIXTURES, SECRETS, as_engine_values

FIX = FIXTURES / "results"
from helpers.fake_engine import Engine

PREFIX = f"gs://{BUCKET}/bench"
SLO = ["--slo-ttft-ms", "350", "--slo-tpot-ms", "35"]


def bench_run(monkeypatch, accelerator: str, capacity: str, slowdown: float, warmups: int) -> dict:
    c = copy.deepcopy(BASE)
    c["tpustack:accelerator"] = accelerator
    c["tpustack:capacity"] = {"type": capacity}
    c["tpustack:benchmark"] = {"requestRates": [1, 2, 4], "numPrompts": 12, "warmups": warmups}
    cfg = load_config(as_engine_values(c), SECRETS, "bench")
    monkeypatch.setenv("FAKE_ENGINE_SLOWDOWN", str(slowdown))
    with Engine() as engine:
        s = spec.bench_spec(
            cfg, base_url=engine.url, metrics_url=engine.url + "/metrics", results_uri=PREFIX, git_revision="deadbeef"
        )
        s["tool_command"] = [sys.executable, str(FIX / "fake_vllm_bench.py")]
        s["scrape_interval_s"] = 0.2
        return serving_bench.run(s, log=lambda m: None)


@pytest.fixture(scope="module")
def uploaded(emulator):
    """Two benchmark runs (vLLM on v6e-8 spot, vLLM on v5litepod-8 on-demand, slower) and a heartbeat."""
    mp = pytest.MonkeyPatch()
    mp.setenv("STORAGE_EMULATOR_HOST", emulator)
    try:
        a = bench_run(mp, "v6e-8", "spot", 1.0, warmups=2)
        b = bench_run(mp, "v5litepod-8", "on-demand", 1.6, warmups=0)
        hb = heartbeat.run(backend="cpu", shape=(32, 256, 512), iterations=5, trials=1)
        heartbeat.write_result(hb, f"{PREFIX}/heartbeat-cpu-1/heartbeat.json")
    finally:
        mp.undo()
    return a, b


class TestResultsInGcs:
    def test_layout(self, gcs_env, uploaded):
        a, _ = uploaded
        names = gcs.list_uris(f"{PREFIX}/{a['run_id']}/")
        base = f"{PREFIX}/{a['run_id']}"
        assert f"{base}/run.json" in names and f"{base}/points/002.json" in names
        assert f"{base}/raw/000-vllm.json" in names and f"{base}/raw/warmup-tool.log" in names
        rec = json.loads(gcs.read(f"{base}/points/000.json"))
        assert rec["metadata"]["accelerator"] == "v6e-8" and rec["metadata"]["run_id"] == a["run_id"]

    def test_never_overwrites(self, gcs_env, uploaded, monkeypatch):
        a, _ = uploaded
        target = f"{PREFIX}/{a['run_id']}/points/000.json"
        before = gcs.read(target)
        with pytest.raises(gcs.ObjectExists, match="write-once"):
            gcs.write_new(target, b"{}")
        monkeypatch.setenv("TPUSTACK_GCS_STDLIB", "1")  # the Job's path when the image has no client library
        with pytest.raises(gcs.ObjectExists):
            gcs.write_new(target, b"{}")
        assert gcs.read(target) == before
        assert "ifGenerationMatch=0" in gcs.upload_url(BUCKET, "x/y.json")

    def test_stdlib_client_sees_what_the_library_wrote(self, gcs_env, uploaded, monkeypatch):
        a, _ = uploaded
        lib = gcs.list_uris(f"{PREFIX}/{a['run_id']}/")
        monkeypatch.setenv("TPUSTACK_GCS_STDLIB", "1")
        assert gcs.list_uris(f"{PREFIX}/{a['run_id']}/") == lib
        gcs.write_new(f"{PREFIX}/stdlib-check/a b.json", b'{"ok": 1}', "application/json")
        monkeypatch.delenv("TPUSTACK_GCS_STDLIB")
        assert json.loads(gcs.read(f"{PREFIX}/stdlib-check/a b.json")) == {"ok": 1}


class TestReportOverGcs:
    def test_json_csv_png(self, gcs_env, uploaded, tmp_path):
        a, b = uploaded
        res = CliRunner().invoke(app, ["report", PREFIX, "--out", str(tmp_path), *SLO, "--json"])
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        pts = doc["points"]
        assert len(pts) == 6 and {p["run_id"] for p in pts} == {a["run_id"], b["run_id"]}
        assert set(doc["runs"]) == {a["run_id"], b["run_id"]}
        assert len(doc["heartbeats"]) == 1 and doc["heartbeats"][0]["ok"]

        # cost from the price table: v6e spot x 8 chips; $/1M output tokens and $/experiment from it
        row = next(p for p in pts if p["run_id"] == a["run_id"] and p["request_rate"] == 2.0)
        hourly = cost.tpu_chip_price("v6e", "spot")[0] * 8
        assert row["hourly_usd"] == pytest.approx(hourly)
        assert row["usd_per_1m_output_tokens"] == pytest.approx(hourly / (row["output_tokens_per_s"] * 3600) * 1e6)
        assert 0 < row["usd_per_experiment"] < hourly  # the run took seconds, not hours
        v5e = next(p for p in pts if p["run_id"] == b["run_id"])
        assert v5e["hourly_usd"] == pytest.approx(cost.tpu_chip_price("v5e", "on_demand")[0] * 8)

        # best point: meets both SLOs at p99, kept up, no failures, cheapest per token among those
        best = doc["best"]
        qualifying = [p for p in pts if p["meets_slo"] and p["kept_up"] is not False and not p["failed"]]
        assert best["meets_slo"] is True and best["ttft_p99_ms"] <= 350 and best["tpot_p99_ms"] <= 35
        assert best["usd_per_1m_output_tokens"] == min(p["usd_per_1m_output_tokens"] for p in qualifying)
        assert any(p["meets_slo"] is False for p in pts)  # the SLO really filters

        rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
        assert len(rows) == 6 and {r["run_id"] for r in rows} == {a["run_id"], b["run_id"]}
        assert json.loads((tmp_path / "report.json").read_text())["best"]["run_id"] == best["run_id"]

        png = tmp_path / "throughput_vs_latency.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        import matplotlib.image

        pixels = matplotlib.image.imread(png)
        assert pixels.shape[0] > 400 and len({tuple(px) for px in pixels.reshape(-1, pixels.shape[-1])[::97]}) > 10
        assert sorted(doc["plot_series"]) == sorted(
            [f"{a['run_id']} (vllm / v6e-8)", f"{b['run_id']} (vllm / v5litepod-8)"]
        )

    def test_table(self, gcs_env, uploaded, tmp_path):
        a, b = uploaded
        res = CliRunner().invoke(app, ["report", PREFIX, "--out", str(tmp_path), *SLO])
        assert res.exit_code == 0, res.output
        assert a["run_id"] in res.stdout and b["run_id"] in res.stdout and "best point under the SLO" in res.stdout
        assert "heartbeats" in res.stdout and "v6e-8" in res.stdout

    def test_missing_prefix_is_explained(self, gcs_env):
        res = CliRunner().invoke(app, ["report", f"gs://{BUCKET}/no-such-stack"])
        assert res.exit_code == 3 and "no result objects" in res.output


class TestReportLocal:
    def test_raw_tool_files(self, tmp_path):
        doc = report.build([str(FIX)], tmp_path, {"ttft": 150.0}, "p99")
        assert {p["tool"] for p in doc["points"]} == {"vllm-bench", "jetstream-benchmark", "inference-perf"}
        assert all(p["hourly_usd"] is None for p in doc["points"])  # no metadata, so no price: said, not guessed
        assert (tmp_path / "throughput_vs_latency.png").stat().st_size > 10_000

    def test_best_skips_points_whose_client_fell_behind(self):
        rows = [
            {
                "meets_slo": True,
                "kept_up": False,
                "failed": 0,
                "output_tokens_per_s": 900.0,
                "usd_per_1m_output_tokens": 0.1,
                "output_tokens_per_s_per_chip": 100.0,
            },
            {
                "meets_slo": True,
                "kept_up": True,
                "failed": 0,
                "output_tokens_per_s": 500.0,
                "usd_per_1m_output_tokens": 0.3,
                "output_tokens_per_s_per_chip": 60.0,
            },
            {
                "meets_slo": True,
                "kept_up": True,
                "failed": 3,
                "output_tokens_per_s": 700.0,
                "usd_per_1m_output_tokens": 0.2,
                "output_tokens_per_s_per_chip": 80.0,
            },
        ]
        assert report.best(rows) is rows[1]
