"""Heartbeat: honest timing on this CPU, and the roofline guard that rejects impossible figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tpustack.cli import app
from tpustack.core import catalog
from tpustack.core.errors import BenchmarkError, UsageError
from tpustack.workloads import heartbeat, roofline

SMALL = (32, 256, 512)  # fast on a 2-core CI machine, still a real matmul


class TestRooflineReadsTheCatalog:
    """The roofline takes its per-chip figures from tpustack.core.catalog (one place), shipped with the pod."""

    def test_every_shape_has_its_catalog_roofline(self):
        for name, shape in catalog.CATALOG.items():
            roof = roofline.accelerator_roofline(name)
            assert roof.device == shape.family == roofline.resolve_family(name), name
            assert (roof.peak_tflops, roof.mem_gbps) == (shape.peak_bf16_tflops_per_chip, shape.hbm_gbps_per_chip)
        assert roofline.resolve_family("h100-8") == "h100-80gb"
        assert roofline.resolve_family("nonsense") is None

    def test_heartbeat_payload_carries_the_catalog(self):
        from tpustack.render import HEARTBEAT_ENTRY, payload

        paths = {f.path for f in payload(HEARTBEAT_ENTRY).files}
        assert {
            "tpustack/core/catalog.py",
            "tpustack/workloads/roofline.py",
            "tpustack/workloads/heartbeat.py",
        } <= paths


class TestSeedHandbookFigureRejected:
    """The handbook's 0.0056 ms for the 128x4096x16384 fp32 matmul on v6e is physically impossible."""

    work = heartbeat.Work(*heartbeat.SEED_SHAPE, "float32")

    def test_floors_from_first_principles(self):
        roof = roofline.accelerator_roofline("v6e-1")
        v = roofline.verdict(1.0, self.work.flops, self.work.bytes_moved, roof)
        assert self.work.flops == pytest.approx(17.18e9, rel=1e-3)
        assert v.compute_floor_ms == pytest.approx(2 * 128 * 4096 * 16384 / 918e12 * 1e3)  # 0.0187 ms
        # fp32 operands: 279 MB, larger than any on-chip memory, so HBM bandwidth binds: ~0.17 ms
        assert v.memory_floor_enforced
        assert v.floor_ms == pytest.approx(4 * (128 * 4096 + 4096 * 16384 + 128 * 16384) / 1638e9 * 1e3)
        assert 0.16 < v.floor_ms < 0.18

    def test_guard_raises_with_the_reason(self):
        roof = roofline.accelerator_roofline("v6e-1")
        with pytest.raises(BenchmarkError) as e:
            heartbeat.evaluate(self.work, [heartbeat.SEED_HANDBOOK_TPU_MS], roof)
        msg = str(e.value)
        assert "measurement error" in msg and "below the v6e" in msg and "time device completion" in msg
        # Even against compute alone (bf16 operands fit in 139 MB, so no bandwidth floor) it is ~3.3x too fast.
        bf16 = heartbeat.Work(*heartbeat.SEED_SHAPE, "bfloat16")
        with pytest.raises(BenchmarkError, match="compute floor"):
            heartbeat.evaluate(bf16, [heartbeat.SEED_HANDBOOK_TPU_MS], roof)
        v = roofline.verdict(heartbeat.SEED_HANDBOOK_TPU_MS, bf16.flops, bf16.bytes_moved, roof)
        assert v.fraction_of_roofline == pytest.approx(3.34, rel=0.01)  # floor / measured

    def test_one_impossible_trial_spoils_the_run(self):
        roof = roofline.accelerator_roofline("v6e-1")
        with pytest.raises(BenchmarkError):
            heartbeat.evaluate(self.work, [0.5, 0.0056, 0.5], roof)
        assert heartbeat.evaluate(self.work, [0.5, 0.4, 0.6], roof)["ms_per_iteration"] == 0.5

    def test_dispatch_only_timing_exits_4_and_is_not_a_result(self, monkeypatch, tmp_path):
        """The handbook's mistake end to end: a 'device' that returns before doing the work (lazy
        dispatch) on a v6e; the CLI must exit 4 and write an error document without a result."""

        def lazy_runner(backend, work, seed):
            return heartbeat.Runner(
                backend="xla",
                device="fake-v6e",
                versions={},
                notes=["dispatch only"],
                block=lambda n: None,
                checksum=lambda y: 1.0,
                platform_kind="tpu",
            )

        monkeypatch.setattr(heartbeat, "make_runner", lazy_runner)
        out = tmp_path / "hb.json"
        rc = heartbeat.main(["--backend", "xla", "--accelerator", "v6e-1", "--iterations", "100", "--out", str(out)])
        assert rc == 4
        doc = json.loads(out.read_text())
        assert doc["ok"] is False and doc["result"] is None
        assert "below the v6e" in doc["error"]


class TestHonestCpuHeartbeat:
    def test_torch_cpu_float32(self, tmp_path):
        doc = heartbeat.run(backend="cpu", dtype="float32", shape=SMALL, iterations=10, trials=2)
        assert doc["ok"], doc["error"]
        r, w = doc["result"], doc["workload"]
        assert w["flops_per_iteration"] == 2 * 32 * 256 * 512
        assert r["achieved_tflops"] == pytest.approx(w["flops_per_iteration"] / (r["ms_per_iteration"] / 1e3) / 1e12)
        assert 0 < r["fraction_of_roofline"] <= 1
        assert doc["roofline"]["kind"] == "cpu" and math.isfinite(doc["checksum"])
        assert len(doc["timing"]["trials_ms_per_iteration"]) == 2
        path = heartbeat.write_result(doc, str(tmp_path / "a" / "hb.json"))
        assert json.loads(Path(path).read_text())["schema"] == heartbeat.SCHEMA

    def test_bf16_and_jax(self):
        bf = heartbeat.run(backend="cpu", dtype="bfloat16", shape=(16, 128, 256), iterations=3, trials=1)
        assert bf["ok"] and bf["workload"]["bytes_per_iteration"] == 2 * (16 * 128 + 128 * 256 + 16 * 256)
        jx = heartbeat.run(backend="jax", dtype="bfloat16", shape=SMALL, iterations=10, trials=2)
        assert jx["ok"] and jx["backend"] == "jax" and jx["roofline"]["device"] == "cpu"

    def test_every_iteration_feeds_the_next(self):
        """No compiler may drop or hoist iterations: the output of N iterations differs from N-1's."""
        for backend in ("cpu", "jax"):
            runner = heartbeat.make_runner(backend, heartbeat.Work(8, 64, 32, "float32"), seed=1)  # I < H: tiled
            sums = [runner.checksum(runner.block(n)) for n in (1, 2, 3)]
            assert len({round(s, 6) for s in sums}) == 3, (backend, sums)

    def test_bad_input_names_the_flag_and_the_fix(self):
        with pytest.raises(UsageError, match="--shape.*Fix"):
            heartbeat.parse_shape("128,4096")
        with pytest.raises(UsageError, match="--accelerator 'v9z-1'.*Fix"):
            heartbeat.run(backend="cpu", accelerator="v9z-1", shape=SMALL, iterations=1, trials=1)
        with pytest.raises(UsageError, match="--iterations"):
            heartbeat.run(backend="cpu", shape=SMALL, iterations=0)
        # auto on a machine without the named TPU must not quietly time the CPU under the TPU's name
        with pytest.raises(BenchmarkError, match="--accelerator v6e-1 is a TPU.*Fix"):
            heartbeat.run(backend="auto", accelerator="v6e-1", shape=SMALL, iterations=1, trials=1)


class TestHeartbeatCli:
    def test_json_output(self):
        res = CliRunner().invoke(
            app,
            ["heartbeat", "--shape", "32,256,512", "--iterations", "5", "--trials", "1", "--backend", "cpu", "--json"],
        )
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        assert doc["ok"] and doc["workload"]["intermediate"] == 512

    def test_unknown_accelerator_is_a_usage_error(self):
        res = CliRunner().invoke(app, ["heartbeat", "--accelerator", "tpu-v99", "--backend", "cpu"])
        assert res.exit_code == 2
