"""Physical ceilings of serving (tpustack.core.ceilings) against values computed by hand, and the report and the
plan that show them: a measured point above a ceiling is a measurement error, never a result."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tpustack.cli import app
from tpustack.core import catalog, ceilings, models
from tpustack.ops import report

from helpers.project import FIXTURES

SWEEP = FIXTURES / "sweep"
GIB = 2**30

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
QWEN = "Qwen/Qwen2.5-7B-Instruct"


def ceil_of(accel: str, model: str) -> ceilings.Ceilings:
    c, why = ceilings.for_names(accel, model, "bfloat16")
    assert c is not None, why
    return c


class TestCeilingsByHand:
    """The arithmetic, written out. Catalog facts: v6e 918 TFLOP/s, 1,638 GB/s, 32 GiB per chip; H100 989 TFLOP/s,
    3,350 GB/s, 80 GiB. Model facts (config.json): Llama-3.1-8B 8.03e9 params, 32 layers, 8 KV heads of 128;
    Qwen2.5-7B 7.62e9 params, 28 layers, 4 KV heads of 128. bf16: 2 bytes per weight and per KV value."""

    def test_llama_8b_on_v6e_8(self):
        c = ceil_of("v6e-8", LLAMA)
        weights = 8.03e9 * 2  # 16.06e9 bytes
        flops = 8 * 918e12  # 7.344e15 FLOP/s
        bw = 8 * 1638e9  # 13.104e12 B/s
        hbm = 8 * 32 * GIB  # 274,877,906,944 B
        kv = 2 * 32 * 8 * 128 * 2  # 131,072 B per token (K and V, every layer)
        assert c.kv_bytes_per_token == kv == 131_072
        # prefill: 7.344e15 / (2 x 8.03e9) = 457,285 tok/s
        assert c.prefill_tokens_per_s == pytest.approx(flops / (2 * 8.03e9)) == pytest.approx(457_285, abs=1)
        # TPOT floor, batch 1, no KV: 16.06e9 / 13.104e12 = 1.2256 ms
        assert c.tpot_floor_s(1, 0) * 1e3 == pytest.approx(weights / bw * 1e3) == pytest.approx(1.2256, abs=1e-4)
        # largest batch at 1024 tokens: (274,877,906,944 - 16.06e9) // (131,072 x 1024) = 1928
        assert c.max_batch(1024) == (hbm - weights) // (kv * 1024) == 1928
        # decode at that batch: (16.06e9 + 1928 x 134,217,728) / 13.104e12 = 20.973 ms per step
        # (compute: 2 x 8.03e9 x 1928 / 7.344e15 = 4.2 ms, not binding) -> 1928 / 0.020973 = 91,927 tok/s
        step = (weights + 1928 * kv * 1024) / bw
        assert step == pytest.approx(0.020973, abs=1e-6)
        assert c.decode_ceiling(1024) == pytest.approx(1928 / step) == pytest.approx(91_927, abs=1)
        # TTFT floor of a 1024-token prompt: 2 x 8.03e9 x 1024 / 7.344e15 = 2.2393 ms (> one weight read)
        assert c.ttft_floor_s(1024) * 1e3 == pytest.approx(2.2393, abs=1e-4)

    def test_llama_8b_on_h100_1(self):
        c = ceil_of("h100-1", LLAMA)
        weights, bw, hbm, kv = 16.06e9, 3.35e12, 80 * GIB, 131_072
        assert c.prefill_tokens_per_s == pytest.approx(989e12 / 16.06e9) == pytest.approx(61_582, abs=1)
        assert c.tpot_floor_s(1, 0) * 1e3 == pytest.approx(4.7940, abs=1e-4)  # 16.06e9 / 3.35e12
        # (85,899,345,920 - 16.06e9) // 134,217,728 = 520
        assert c.max_batch(1024) == (hbm - weights) // (kv * 1024) == 520
        # (16.06e9 + 520 x 134,217,728) / 3.35e12 = 25.628 ms -> 520 / 0.025628 = 20,290 tok/s
        assert c.decode_ceiling(1024) == pytest.approx(520 / ((weights + 520 * kv * 1024) / bw))
        assert c.decode_ceiling(1024) == pytest.approx(20_290, abs=1)

    def test_qwen_7b_on_v6e_8(self):
        c = ceil_of("v6e-8", QWEN)
        kv = 2 * 28 * 4 * 128 * 2  # 57,344 B per token; weights 7.62e9 x 2 = 15.24e9 B
        assert c.kv_bytes_per_token == kv == 57_344
        assert c.prefill_tokens_per_s == pytest.approx(7.344e15 / 15.24e9) == pytest.approx(481_890, abs=1)
        assert c.tpot_floor_s(1, 0) * 1e3 == pytest.approx(1.1630, abs=1e-4)  # 15.24e9 / 13.104e12
        # (274,877,906,944 - 15.24e9) // (57,344 x 4096 = 234,881,024) = 1105
        assert c.max_batch(4096) == 1105

    def test_qwen_7b_on_h100_1(self):
        c = ceil_of("h100-1", QWEN)
        # (85,899,345,920 - 15.24e9) // 234,881,024 = 300
        assert c.max_batch(4096) == 300
        # (15.24e9 + 300 x 234,881,024) / 3.35e12 = 25.583 ms -> 300 / 0.025583 = 11,726 tok/s
        assert c.decode_ceiling(4096) == pytest.approx(11_726, abs=1)

    def test_throughput_grows_with_batch_up_to_the_ceiling(self):
        c = ceil_of("v6e-8", LLAMA)
        rates = [c.decode_tokens_per_s(b, 1024) for b in (1, 8, 64, 512, 1928)]
        assert rates == sorted(rates)
        assert rates[-1] == pytest.approx(c.decode_ceiling(1024))
        assert all(r <= c.prefill_tokens_per_s for r in rates)

    def test_8_bit_weights_halve_the_bytes_and_double_the_compute_peak(self):
        shape = catalog.lookup("v6e-8")
        facts = models.lookup(LLAMA)
        assert shape is not None and facts is not None
        b16 = ceilings.for_shape(shape, facts.params_b, "bfloat16", facts)
        i8 = ceilings.for_shape(shape, facts.params_b, "int8", facts)
        assert i8.weight_bytes == b16.weight_bytes / 2
        assert i8.peak_flops == 2 * b16.peak_flops

    def test_weights_that_do_not_fit(self):
        c = ceil_of("v5litepod-1", "meta-llama/Llama-3.1-70B-Instruct")  # 141 GB of weights, 16 GiB of HBM
        assert not c.fits and c.max_batch(1024) == 0 and c.decode_ceiling(1024) == 0.0

    def test_unknown_names_give_no_ceiling_and_say_why(self):
        assert ceilings.for_names("v9z-8", LLAMA)[0] is None
        c, why = ceilings.for_names("v6e-8", "acme/unknown-model")
        assert c is None and "model catalog" in why


class TestImpossibleResultIsFlagged:
    def test_report_flags_the_impossible_fixture_and_never_ranks_it(self):
        doc = report.build([str(SWEEP)], None, {"ttft": 500.0, "tpot": 50.0}, "p99")
        bad = [p for p in doc["points"] if p["measurement_error"]]
        assert [p["run_id"] for p in bad] == ["impossible-v5e-4-ondemand"]
        text = " ".join(bad[0]["ceiling_violations"])
        assert "decode ceiling" in text and "TPOT p50 1.5 ms < floor" in text
        # it is the cheapest per token by far, and still not the best point
        assert min(doc["points"], key=lambda p: p["usd_per_1m_output_tokens"]) is bad[0]
        assert doc["best"]["run_id"] != "impossible-v5e-4-ondemand"

    def test_real_points_sit_under_their_ceilings(self):
        doc = report.build([str(SWEEP)], None, {}, "p99")
        ok = [p for p in doc["points"] if not p["run_id"].startswith("impossible")]
        assert ok and all(p["measurement_error"] is False for p in ok)
        assert all(0 < p["roofline_fraction"] < 1 for p in ok)
        # the binding fraction of v6e-4 at 7.9 req/s: decode 7.9 x 128 / (43,110 x 128/127) = 2.3%, compute
        # 7.9 x (1024 + 128) / 228,643 (= 4 x 918e12 / (2 x 8.03e9)) = 3.98%
        p = next(p for p in ok if p["run_id"] == "sweep-v6e-4-spot" and p["point"] == 1)
        c = ceil_of("v6e-4", LLAMA)
        decode = 7.9 * 128 / (c.decode_ceiling(1024) * 128 / 127)
        compute = 7.9 * 1152 / (4 * 918e12 / (2 * 8.03e9))
        assert decode == pytest.approx(0.0233, abs=1e-4) and compute == pytest.approx(0.0398, abs=1e-4)
        assert p["roofline_fraction"] == pytest.approx(max(decode, compute))

    def test_a_point_one_token_per_second_above_the_ceiling_is_flagged(self):
        c = ceil_of("v6e-8", LLAMA)
        top = c.decode_ceiling(1024) * 128 / 127
        kw = dict(replicas=1, total_tokens_per_s=None, ttft_p50_ms=None, tpot_p50_ms=None, input_len=1024)
        assert ceilings.check_point(c, output_tokens_per_s=top - 1, output_len=128, **kw).violations == ()
        assert ceilings.check_point(c, output_tokens_per_s=top + 1, output_len=128, **kw).violations
        # two replicas may do twice as much
        kw["replicas"] = 2
        assert ceilings.check_point(c, output_tokens_per_s=2 * top - 1, output_len=128, **kw).violations == ()

    def test_cli_report_says_measurement_error(self):
        r = CliRunner().invoke(app, ["report", str(SWEEP)])
        assert r.exit_code == 0, r.output
        assert "MEASUREMENT ERROR: run impossible-v5e-4-ondemand point 0" in r.output
        assert "ABOVE CEILING" in r.output


class TestPlanShowsCeilings:
    def test_json_and_text(self):
        r = CliRunner().invoke(app, ["plan", "-s", "gke-vllm-v6e", "--json"])
        assert r.exit_code == 0, r.output
        ce = json.loads(r.output)["ceilings"]
        c = ceil_of("v6e-8", LLAMA)
        assert ce["accelerator"] == "v6e-8" and ce["context_tokens"] == 1024 and ce["batch"] == 256
        assert ce["decode_tokens_per_s_max"] == pytest.approx(c.decode_ceiling(1024))
        assert ce["max_batch"] == 1928
        text = CliRunner().invoke(app, ["plan", "-s", "gke-vllm-v6e"]).output
        assert "ceilings per replica (v6e-8" in text and "largest batch at 1024 context tokens: 1,928" in text

    def test_a_stack_without_a_model_has_none(self):
        r = CliRunner().invoke(app, ["plan", "-s", "dev", "--json"])
        assert json.loads(r.output)["ceilings"] is None
