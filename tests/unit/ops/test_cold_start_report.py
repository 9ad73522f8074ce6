"""`tpustack report`'s cold start: the measured phases of each run side by side, beside the plan's estimate."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tpustack.cli import app
from tpustack.core import cold_start as estimates
from tpustack.ops import report
from tpustack.workloads import cold_start, results

from helpers.project import FIXTURES

FIX = FIXTURES / "cold_start"
VLLM = FIXTURES / "results" / "vllm" / "vllm-2.0qps-Llama-3.1-8B-Instruct-20261123-101500.json"
IMAGE = "docker.io/vllm/vllm-tpu:v0.32.0"


def _pod() -> dict:
    pod, events = (
        json.loads((FIX / "pod-vllm-tpu.json").read_text()),
        json.loads((FIX / "events-vllm-tpu.json").read_text()),
    )
    return dict(cold_start.pod_cold_start(pod, events["items"], (FIX / "engine-vllm-tpu.log").read_text(), IMAGE))


def _write_run(root: Path, run_id: str, stack: str, pods: list[dict], estimate: dict | None) -> None:
    rec = dict(results.normalize(json.loads(VLLM.read_text()), source_file=VLLM.name))
    rec["metadata"] = {"run_id": run_id, "stack": stack, "accelerator": "v6e-8", "engine": "vllm"}
    rec["cold_start"] = {"pods": pods, **({"estimate": estimate} if estimate else {})}
    (root / run_id / "points").mkdir(parents=True)
    (root / run_id / "points" / "000.json").write_text(json.dumps(rec))


def test_runs_side_by_side_with_the_estimate(tmp_path):
    fast = _pod()
    slow = json.loads(json.dumps(fast))
    slow["pod"], slow["phases"]["ready"]["s"] = "vllm-other", 900.0
    est = estimates.estimate(image=IMAGE, weight_bytes=7714 * 2**20 * 10, path="gcs-fuse", image_preloaded=True)
    _write_run(tmp_path, "r1", "gke-vllm-v6e", [fast, slow], est.to_json())
    _write_run(tmp_path, "r2", "gke-vllm-gpu", [fast], None)
    doc = report.build([str(tmp_path)], None, {})
    by_run = {r["run_id"]: r for r in doc["cold_start"]}
    r1 = by_run["r1"]
    assert r1["pods"] == 2 and r1["measured_s"]["ready"] == 900.0  # the slowest pod
    assert r1["measured_s"]["weights_loaded"] == 409.311
    assert r1["estimated_s"] == {
        "scheduled": None,
        "image_pulled": 0.0,
        "weights_loaded": 10.0,
        "compiled": None,
        "ready": 10.0,
    }
    assert by_run["r2"]["estimated_s"] is None
    rows = {r[0]: r for r in report_rows(doc)}
    assert rows["r1"][4:] == [
        "192 s (est. ?)",
        "302 s (est. 0 s)",
        "304 s",
        "409 s (est. 10 s)",
        "680 s (est. ?)",
        "900 s (est. 10 s)",
    ]
    assert rows["r2"][4:] == ["192 s", "302 s", "304 s", "409 s", "680 s", "705 s"]


def report_rows(doc: dict) -> list[list[str]]:
    from tpustack.ops import cold_start_report

    return cold_start_report.table_rows(doc["cold_start"])


def test_cli_prints_the_table(tmp_path):
    _write_run(tmp_path, "r1", "gke-vllm-v6e", [_pod()], None)
    res = CliRunner().invoke(app, ["report", str(tmp_path)], env={"COLUMNS": "250"})
    assert "cold start" in res.output and "409 s" in res.output and "705 s" in res.output, res.output


def test_a_run_without_cold_start_has_no_row(tmp_path):
    rec = dict(results.normalize(json.loads(VLLM.read_text()), source_file=VLLM.name))
    rec["metadata"] = {"run_id": "r0"}
    (tmp_path / "r0" / "points").mkdir(parents=True)
    (tmp_path / "r0" / "points" / "000.json").write_text(json.dumps(rec))
    assert report.build([str(tmp_path)], None, {})["cold_start"] == []
