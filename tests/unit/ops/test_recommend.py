"""`tpustack recommend` on result fixtures a reader can check by hand (tests/fixtures/sweep/make_sweep.py holds the
table): the pick, the runner-ups, every exclusion with its reason, the estimate when nothing fits, bad input."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from tpustack.cli import app
from tpustack.core.errors import UsageError
from tpustack.ops import recommend as rec

from helpers.project import FIXTURES

FIX = FIXTURES
SWEEP = FIX / "sweep"
RAW = FIX / "results"
SLO = "ttft:p99<=500ms,tpot:p99<=50ms"
DEMAND = ["--rps", "20", "--input-len", "1024", "--output-len", "128"]


def run(sources=(SWEEP,), slo=SLO, demand=(20, 1024, 128)) -> dict:
    return rec.recommend([str(s) for s in sources], rec.parse_slo(slo), rec.Demand(*demand))


class TestThePickCanBeCheckedByHand:
    """Prices (tpustack/cost/prices.yaml): v6e spot $1.4033/chip-h, v5e on-demand $1.20/chip-h,
    a3-highgpu-1g $11.0613/h (no spot price listed). Demand 20 req/s."""

    def test_cheapest_for_the_demand(self):
        doc = run()
        r = doc["recommendation"]
        # v6e-4 spot: best point meeting the SLO is 8 req/s (TTFT p99 420, TPOT p99 47), 7.90 req/s completed;
        # ceil(20 / 7.90) = 3 replicas x 4 chips x $1.4033 = $16.84/h
        assert r["run_id"] == "sweep-v6e-4-spot" and r["point"] == 1
        assert r["replicas"] == math.ceil(20 / 7.90) == 3
        assert r["hourly_usd"] == pytest.approx(3 * 4 * 1.4033)
        # $/1M output tokens: $5.6132/h / (7.90 x 128 tok/s x 3600 s) x 1e6 = $1.542
        assert r["usd_per_1m_output_tokens"] == pytest.approx(4 * 1.4033 / (7.90 * 128 * 3600) * 1e6)
        assert r["points_meeting_slo"] == 2

    def test_runner_ups_in_order(self):
        ups = [(u["run_id"], u["replicas"], round(u["hourly_usd"], 2)) for u in run()["runner_ups"]]
        assert ups == [
            ("sweep-v6e-8-spot", 2, round(2 * 8 * 1.4033, 2)),  # 15.8 req/s at 16 req/s; 32 req/s fell behind
            ("sweep-v5e-8-ondemand", 3, round(3 * 8 * 1.20, 2)),  # 7.9 req/s
            ("sweep-h100-1-ondemand", 3, round(3 * 11.0613, 2)),  # 7.95 req/s; 12 req/s lost 3 requests
        ]

    def test_replicas_round_up(self):
        # v6e-4 completes 7.90 req/s per replica: 7.9 req/s takes one replica, 8 req/s takes two
        assert run(demand=(7.9, 1024, 128))["recommendation"]["replicas"] == 1
        doc = run(demand=(8, 1024, 128))
        r = next(c for c in [doc["recommendation"], *doc["runner_ups"]] if c["run_id"] == "sweep-v6e-4-spot")
        assert r["replicas"] == 2 and r["load_per_replica"] == 4

    def test_every_exclusion_says_why(self):
        ex = {(e["run_id"], e["point"]): " ".join(e["reasons"]) for e in run()["excluded"]}
        assert "above a physical ceiling" in ex[("impossible-v5e-4-ondemand", 0)]
        assert "client did not keep up (sent 24.3 req/s of 32 requested)" in ex[("sweep-v6e-8-spot", 2)]
        assert "3 request(s) failed" in ex[("sweep-h100-1-ondemand", 2)]
        assert "missed SLO: TTFT p99 780 ms > 500 ms, TPOT p99 61 ms > 50 ms" in ex[("sweep-v6e-4-spot", 2)]
        assert "missed SLO" in ex[("sweep-v5e-8-ondemand", 2)]
        assert "run failed: server not ready" in ex[("sweep-h100-8-spot", None)]
        assert len(ex) == 6

    def test_shipped_raw_fixtures_are_excluded_with_reasons(self):
        doc = run(sources=(SWEEP, RAW))
        assert doc["recommendation"]["run_id"] == "sweep-v6e-4-spot"
        raw = [e for e in doc["excluded"] if str(e["run_id"]).startswith(str(RAW))]
        assert raw and all("no catalog accelerator" in " ".join(e["reasons"]) for e in raw)

    def test_other_lengths_are_not_evidence(self):
        doc = run(demand=(20, 4096, 512))
        assert doc["recommendation"] is None
        assert all(
            "measured at 1024/128 prompt/output tokens" in " ".join(e["reasons"])
            for e in doc["excluded"]
            if e["point"] is not None
        )


class TestNothingFits:
    def test_estimates_are_labelled_and_respect_the_slo(self):
        doc = run(slo="ttft:p99<=100,tpot:p99<=10ms")
        assert doc["recommendation"] is None and doc["runner_ups"] == []
        est = doc["estimates"]
        assert est and all("ESTIMATE" in e["label"] and "not a measured result" in e["label"] for e in est)
        assert [e["hourly_usd_at_least"] for e in est] == sorted(e["hourly_usd_at_least"] for e in est)
        lines = "\n".join(rec.explain(doc))
        assert "no measured configuration meets the SLO" in lines and "worth measuring next (ESTIMATE" in lines

    def test_cli_exit_code_when_nothing_fits(self):
        r = CliRunner().invoke(app, ["recommend", str(SWEEP), "--slo", "tpot<=1", *DEMAND])
        assert r.exit_code == 4, r.output
        assert "no measured configuration meets the SLO" in r.output


class TestCli:
    def test_text_and_json(self):
        r = CliRunner().invoke(app, ["recommend", str(SWEEP), "--slo", SLO, *DEMAND])
        assert r.exit_code == 0, r.output
        assert "recommended: v6e-4 spot vllm" in r.output and "$16.84/hour" in r.output
        assert "excluded: v5litepod-4 on-demand vllm" in r.output
        j = CliRunner().invoke(app, ["recommend", str(SWEEP), "--slo", SLO, *DEMAND, "--json"])
        doc = json.loads(j.output)
        assert doc["recommendation"]["run_id"] == "sweep-v6e-4-spot" and len(doc["runner_ups"]) == 3

    @pytest.mark.parametrize(
        "slo, says",
        [
            ("ttft<=abc", "not METRIC[:PERCENTILE]<=VALUE"),
            ("latency:p99<=5", "unknown metric 'latency'"),
            ("ttft:p95<=500", "percentile p95 is not recorded"),
            ("ttft<=0", "not a positive number"),
            ("ttft<=5,ttft<=6", "ttft is given twice"),
            ("", "empty"),
        ],
    )
    def test_bad_slo_is_a_usage_error(self, slo, says):
        with pytest.raises(UsageError, match="Fix:"):
            rec.parse_slo(slo)
        r = CliRunner().invoke(app, ["recommend", str(SWEEP), "--slo", slo, *DEMAND])
        assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output

    def test_seconds_and_default_percentile(self):
        assert rec.parse_slo("e2e<=2s, tpot:p90<=50").limits == {"e2e": ("p99", 2000.0), "tpot": ("p90", 50.0)}

    def test_bad_demand(self):
        r = CliRunner().invoke(
            app, ["recommend", str(SWEEP), "--slo", SLO, "--rps", "0", "--input-len", "1", "--output-len", "1"]
        )
        assert r.exit_code == 2 and "--rps" in r.output

    def test_no_results(self, tmp_path):
        r = CliRunner().invoke(app, ["recommend", str(tmp_path), "--slo", SLO, *DEMAND])
        assert r.exit_code == 3 and "no benchmark results" in r.output and "Fix:" in r.output
        r = CliRunner().invoke(app, ["recommend", str(tmp_path / "nope"), "--slo", SLO, *DEMAND])
        assert r.exit_code == 3 and "not a directory" in r.output

    def test_several_models_need_model(self, tmp_path):
        for run_dir in ("sweep-v6e-4-spot", "sweep-v6e-8-spot"):
            src = SWEEP / run_dir / "points" / "000.json"
            d = json.loads(src.read_text())
            if run_dir.endswith("8-spot"):
                d["metadata"]["model"] = "Qwen/Qwen2.5-7B-Instruct"
            (tmp_path / run_dir / "points").mkdir(parents=True)
            (tmp_path / run_dir / "points" / "000.json").write_text(json.dumps(d))
        r = CliRunner().invoke(app, ["recommend", str(tmp_path), "--slo", SLO, *DEMAND])
        assert r.exit_code == 2 and "--model" in r.output
        r = CliRunner().invoke(
            app, ["recommend", str(tmp_path), "--slo", SLO, *DEMAND, "--model", "Qwen/Qwen2.5-7B-Instruct"]
        )
        assert r.exit_code == 0 and "sweep-v6e-8-spot" in r.output and "another model" in r.output

    def test_out_is_write_once(self, tmp_path):
        out = tmp_path / "rec"
        args = ["recommend", str(SWEEP), "--slo", SLO, *DEMAND, "--out", str(out)]
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 0, r.output
        assert {p.name for p in out.iterdir()} == set(rec.RECOMMEND_FILES)
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 3 and "never replaced" in r.output
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
