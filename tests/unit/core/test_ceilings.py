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
    """The arithmetic, written out. Catalog facts: v6e 918 TFLOP/s bf16, 1,638 GB/s, 32 GiB per chip; H100 989
    TFLOP/s bf16, 3,350 GB/s, 80 GiB. Model facts, counted from each config.json (tests/unit/core/test_model_params.py
    checks the counts): Llama-3.1-8B 8,030,261,248 params of which an untied 128,256 x 4,096 = 525,336,576 input
    embedding (a lookup: no FLOPs, only the rows a batch uses are read), 32 layers, 8 KV heads of 128; Qwen2.5-7B
    7,615,616,512 params, untied 152,064 x 3,584 = 544,997,376 embedding, 28 layers, 4 KV heads of 128. bf16: 2 bytes
    per weight and per KV value."""

    def test_llama_8b_on_v6e_8(self):
        c = ceil_of("v6e-8", LLAMA)
        weights = 8_030_261_248 * 2  # 16,060,522,496 B stored
        read = weights - 525_336_576 * 2  # 15,009,849,344 B every decode step reads (not the embedding table)
        active = 8_030_261_248 - 525_336_576  # 7,504,924,672 parameters multiplied per token
        flops = 8 * 918e12  # 7.344e15 FLOP/s
        bw = 8 * 1638e9  # 13.104e12 B/s
        hbm = 8 * 32 * GIB  # 274,877,906,944 B
        kv = 2 * 32 * 8 * 128 * 2  # 131,072 B per token (K and V, every layer)
        assert c.weight_bytes == weights and c.dense_bytes == read == 15_009_849_344
        assert c.active_params == active == 7_504_924_672
        assert c.kv_bytes_per_token == kv == 131_072
        # prefill: 7.344e15 / (2 x 7,504,924,672) = 489,278.7 tok/s
        assert c.prefill_tokens_per_s == pytest.approx(flops / (2 * active)) == pytest.approx(489_278.7, abs=0.1)
        # TPOT floor, batch 1, no KV: 15,009,849,344 / 13.104e12 = 1.14544 ms
        assert c.tpot_floor_s(1, 0) * 1e3 == pytest.approx(read / bw * 1e3) == pytest.approx(1.14544, abs=1e-5)
        # largest batch at 1024 tokens: (274,877,906,944 - 16,060,522,496) // (131,072 x 1024) = 1928
        assert c.max_batch(1024) == (hbm - weights) // (kv * 1024) == 1928
        # decode at that batch: (15,009,849,344 + 1928 x 134,217,728) / 13.104e12 = 20.893 ms per step
        # (compute: 2 x 7,504,924,672 x 1928 / 7.344e15 = 3.9 ms, not binding) -> 1928 / 0.020893 = 92,280 tok/s
        step = (read + 1928 * kv * 1024) / bw
        assert step == pytest.approx(0.020893, abs=1e-6)
        assert c.decode_ceiling(1024) == pytest.approx(1928 / step) == pytest.approx(92_280, abs=1)
        # TTFT floor of a 1024-token prompt: 2 x 7,504,924,672 x 1024 / 7.344e15 = 2.0929 ms (> one weight read)
        assert c.ttft_floor_s(1024) * 1e3 == pytest.approx(2.0929, abs=1e-4)

    def test_llama_8b_on_h100_1(self):
        c = ceil_of("h100-1", LLAMA)
        weights, read, bw, hbm, kv = 16_060_522_496, 15_009_849_344, 3.35e12, 80 * GIB, 131_072
        # 989e12 / (2 x 7,504,924,672) = 65,890 tok/s
        assert c.prefill_tokens_per_s == pytest.approx(989e12 / (2 * 7_504_924_672)) == pytest.approx(65_890, abs=1)
        assert c.tpot_floor_s(1, 0) * 1e3 == pytest.approx(4.48055, abs=1e-5)  # 15,009,849,344 / 3.35e12
        # (85,899,345,920 - 16,060,522,496) // 134,217,728 = 520
        assert c.max_batch(1024) == (hbm - weights) // (kv * 1024) == 520
        # (15,009,849,344 + 520 x 134,217,728) / 3.35e12 = 25.314 ms -> 520 / 0.025314 = 20,542 tok/s
        assert c.decode_ceiling(1024) == pytest.approx(520 / ((read + 520 * kv * 1024) / bw))
        assert c.decode_ceiling(1024) == pytest.approx(20_542, abs=1)

    def test_qwen_7b_on_v6e_8(self):
        c = ceil_of("v6e-8", QWEN)
        kv = 2 * 28 * 4 * 128 * 2  # 57,344 B per token; weights 7,615,616,512 x 2 = 15,231,233,024 B
        assert c.kv_bytes_per_token == kv == 57_344
        # active 7,615,616,512 - 544,997,376 = 7,070,619,136: 7.344e15 / 14,141,238,272 = 519,332 tok/s
        assert c.prefill_tokens_per_s == pytest.approx(7.344e15 / 14_141_238_272) == pytest.approx(519_332, abs=1)
        # read per step 15,231,233,024 - 1,089,994,752 = 14,141,238,272 B / 13.104e12 = 1.07915 ms
        assert c.tpot_floor_s(1, 0) * 1e3 == pytest.approx(1.07915, abs=1e-5)
        # (274,877,906,944 - 15,231,233,024) // (57,344 x 4096 = 234,881,024) = 1105
        assert c.max_batch(4096) == 1105

    def test_qwen_7b_on_h100_1(self):
        c = ceil_of("h100-1", QWEN)
        # (85,899,345,920 - 15,231,233,024) // 234,881,024 = 300
        assert c.max_batch(4096) == 300
        # (14,141,238,272 + 300 x 234,881,024) / 3.35e12 = 25.255 ms -> 300 / 0.025255 = 11,879 tok/s
        assert c.decode_ceiling(4096) == pytest.approx(11_879, abs=1)

    def test_throughput_grows_with_batch_up_to_the_ceiling(self):
        c = ceil_of("v6e-8", LLAMA)
        rates = [c.decode_tokens_per_s(b, 1024) for b in (1, 8, 64, 512, 1928)]
        assert rates == sorted(rates)
        assert rates[-1] == pytest.approx(c.decode_ceiling(1024))
        assert all(r <= c.prefill_tokens_per_s for r in rates)

    def test_a_client_concurrency_caps_the_batch(self):
        c = ceil_of("v6e-8", LLAMA)
        # 64 requests in flight: (15,009,849,344 + 64 x 134,217,728) / 13.104e12 = 23,599,783,936 / 13.104e12
        # = 1.80096 ms per step -> 64 / 0.00180096 = 35,537 tok/s
        step = (15_009_849_344 + 64 * 134_217_728) / 13.104e12
        assert c.decode_ceiling(1024, 64) == pytest.approx(64 / step) == pytest.approx(35_537, abs=1)
        assert c.decode_ceiling(1024, 10_000) == c.decode_ceiling(1024)  # never beyond what fits

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
        assert "KV cache dtype" in ceilings.for_names("v6e-8", LLAMA, kv_cache_dtype="fp3")[1]
        assert "do not fit one v6e-8" in ceilings.for_names("v6e-8", LLAMA, chips=9)[1]


class TestPrecision:
    """The dense peak the weights' dtype multiplies at (catalog, tpustack.core.precision): v6e and v5p run fp8 at their
    bf16 rate and only int8 at twice it; tpu7x and H100 double for fp8; B200 doubles again for fp4."""

    @pytest.mark.parametrize(
        ("accel", "dtype", "tflops", "precision"),
        [
            ("v6e-8", "bfloat16", 918, "bf16"),
            ("v6e-8", "fp8", 918, "fp8"),  # v6e: fp8 == bf16
            ("v6e-8", "int8", 1836, "int8"),
            ("v5p-8", "fp8", 459, "fp8"),  # v5p: fp8 == bf16
            ("v5p-8", "int8", 918, "int8"),
            ("tpu7x-8", "fp8", 4614, "fp8"),  # 2 x 2307
            ("tpu7x-8", "int8", 4614, "fp8"),  # no published int8 rate: the fp8 one, so never below a kernel's
            ("h100-1", "fp8", 1979, "fp8"),
            ("h100-1", "mxfp4", 1979, "fp8"),  # Hopper has no fp4 units
            ("b200-8", "fp8", 5000, "fp8"),
            ("b200-8", "fp4", 10000, "fp4"),
            ("b200-8", "mxfp4", 10000, "fp4"),
            ("a100-40gb-1", "fp8", 312, "bf16"),  # Ampere has no fp8: the bf16 rate
            ("v6e-8", "fp4", 918, "fp8"),
        ],
    )
    def test_peak_per_chip(self, accel, dtype, tflops, precision):
        shape = catalog.lookup(accel)
        assert shape is not None
        rate, p = ceilings.peak_tflops_per_chip(shape, dtype)
        assert (rate, str(p)) == (tflops, precision)

    def test_fp8_on_v6e_halves_the_bytes_but_not_the_compute_time(self):
        # Llama-3.1-8B re-quantized to fp8 on v6e-8: every weight 1 byte (8,030,261,248 B), peak still 8 x 918e12
        b16, f8 = ceil_of("v6e-8", LLAMA), ceilings.for_names("v6e-8", LLAMA, "fp8")[0]
        assert f8 is not None
        assert f8.weight_bytes == 8_030_261_248 and f8.peak_flops == b16.peak_flops == 7.344e15
        # prefill unchanged: 7.344e15 / (2 x 7,504,924,672) = 489,278.7 tok/s; TPOT floor halves:
        # (8,030,261,248 - 525,336,576) / 13.104e12 = 0.57272 ms
        assert f8.prefill_tokens_per_s == b16.prefill_tokens_per_s == pytest.approx(489_278.7, abs=0.1)
        assert f8.tpot_floor_s(1, 0) * 1e3 == pytest.approx(0.57272, abs=1e-5)
        # on tpu7x-8 fp8 doubles the peak: 4 x 4614e12 = 1.8456e16 FLOP/s
        x = ceilings.for_names("tpu7x-8", LLAMA, "fp8")[0]
        assert x is not None and x.peak_flops == 1.8456e16 and x.precision == "fp8"


class TestMixtureOfExperts:
    """Qwen3.5-397B-A17B-FP8 on tpu7x-8 (4 chips: 4 x 4614 TFLOP/s fp8, 4 x 7,380 GB/s, 4 x 192 GiB), counted from
    its config.json: 396,346,350,336 params, 17,349,040,896 active (dense weights, the shared expert and 10 of 512
    routed experts per layer, with the 248,320 x 4,096 = 1,017,118,720 input embedding), 60 MoE layers, one routed
    expert 3 x 4,096 x 1,024 = 12,582,912 params, stored in fp8 with one float32 scale per 128 x 128 block:
    12,582,912 x (1 + 4 / 16,384) = 12,585,984 B. Checkpoint 398,605,625,472 B; the embedding stays bf16."""

    def ceil(self, **kw) -> ceilings.Ceilings:
        c, why = ceilings.for_names("tpu7x-8", "Qwen/Qwen3.5-397B-A17B-FP8", **kw)
        assert c is not None, why
        return c

    def test_compute_counts_active_parameters_only(self):
        c = self.ceil()
        active = 17_349_040_896 - 1_017_118_720  # 16,331,922,176: the embedding is a lookup
        assert c.active_params == active and c.peak_flops == 4 * 4614e12
        # 1.8456e16 / (2 x 16,331,922,176) = 565,028 tok/s; with all 396B counted it would be 23,283 (24 x lower)
        assert c.prefill_tokens_per_s == pytest.approx(565_028, abs=1)
        assert pytest.approx(23_283, abs=1) == 1.8456e16 / (2 * 396_346_350_336)

    def test_a_step_reads_the_experts_the_batch_touches(self):
        c = self.ceil()
        routed = 60 * 512 * 12_585_984  # 386,641,428,480 B of routed experts
        dense = 398_605_625_472 - 1_017_118_720 * 2 - routed  # 9,929,959,552 B read whatever the batch
        assert c.dense_bytes == dense == 9_929_959_552 and c.expert_bytes == 12_585_984
        # batch 1: each layer reads the 10 experts one token picks: 9,929,959,552 + 60 x 10 x 12,585,984
        assert c.weights_read(1) == dense + 60 * 10 * 12_585_984 == 17_481_549_952
        # batch 64: 512 x (1 - (1 - 10/512)^64) = 367.11 experts per layer in expectation, not 640
        touched = 512 * (1 - (1 - 10 / 512) ** 64)
        assert ceilings.expected_experts(512, 10, 64) == pytest.approx(touched) == pytest.approx(367.11, abs=0.01)
        assert c.weights_read(64) == pytest.approx(dense + 60 * touched * 12_585_984)
        # never more than every expert, however large the batch
        assert ceilings.expected_experts(512, 10, 10**6) == 512
        assert c.weights_read(10**6) == pytest.approx(dense + routed)

    def test_hybrid_attention_caches_only_its_full_layers(self):
        # 15 of the 60 layers are full attention (2 KV heads of 256), 45 are linear attention with a fixed state
        # of 4,268,032 B per sequence; kvCacheDtype fp8: 1 byte per value
        c = self.ceil(kv_cache_dtype="fp8")
        assert c.kv_bytes_per_token == 15 * 2 * 2 * 256 * 1 == 15_360
        assert c.kv_bytes_per_sequence(9216) == 15_360 * 9216 + 45 * 4_268_032 == 333_619_200
        # (768 GiB - 398,605,625,472) // 333,619_200 = (824,633,720,832 - 398,605,625,472) // 333,619,200 = 1276
        assert c.max_batch(9216) == (768 * GIB - 398_605_625_472) // 333_619_200 == 1276

    def test_the_published_tpu7x_result_is_under_its_ceiling(self):
        # tpu-recipes inference/ironwood/vLLM/Qwen3.5-397B (976253b): 1k/8k at concurrency 128, 5,171.98 output
        # tok/s on 4 chips. At batch 128 and 1024 cached tokens a step reads 9,929,959,552 + 60 x 512 x
        # (1 - (1 - 10/512)^128) x 12,585,984 B of weights and 128 x (15,360 x 1024 + 45 x 4,268,032) B of cache
        c = self.ceil(kv_cache_dtype="fp8")
        touched = 512 * (1 - (1 - 10 / 512) ** 128)
        read = 9_929_959_552 + 60 * touched * 12_585_984 + 128 * (15_360 * 1024 + 45 * 4_268_032)
        assert c.decode_ceiling(1024, 128) == pytest.approx(128 / (read / 29.52e12))
        fraction = 5171.98 / c.decode_ceiling(1024, 128)
        assert 0.4 < fraction < 1  # 54 %: well inside, where the dense model of the ceiling put it near 88 %


class TestMla:
    """DeepSeek-V3 (config.json: 61 layers of multi-head latent attention, kv_lora_rank 512, qk_rope_head_dim 64):
    vLLM's MLA cache keeps one latent and its rotary key per token and layer, (512 + 64) values, shared by every
    head; a GQA cache of its 128 heads of 128 would be 2 x 128 x 128 = 32,768 values, 57 x more."""

    def test_kv_per_token(self):
        c, _ = ceilings.for_names("v5p-16", "deepseek-ai/DeepSeek-V3")
        assert c is not None
        assert c.kv_bytes_per_token == 61 * (512 + 64) * 2 == 70_272
        c8, _ = ceilings.for_names("v5p-16", "deepseek-ai/DeepSeek-V3", kv_cache_dtype="fp8")
        assert c8 is not None and c8.kv_bytes_per_token == 35_136

    def test_fp8_checkpoint_on_v5p(self):
        # fp8 weights on v5p multiply at the bf16 rate: 8 chips x 459e12 = 3.672e15 FLOP/s; 36,625,618,432 active
        # (37,552,297,472 less the 129,280 x 7,168 = 926,679,040 embedding) -> 3.672e15 / 73,251,236,864 = 50,129 tok/s
        c, _ = ceilings.for_names("v5p-16", "deepseek-ai/DeepSeek-V3")
        assert c is not None and c.peak_flops == 3.672e15 and c.precision == "fp8"
        assert c.active_params == 37_552_297_472 - 926_679_040
        assert c.prefill_tokens_per_s == pytest.approx(50_129, abs=1)


class TestSlidingWindow:
    """Gemma 3 27B (config.json: 62 layers, 5 sliding (window 1,024) per full one: 52 + 10; 16 KV heads of 128):
    a sliding layer's cache stops at the window, so a long sequence costs far less than 62 full layers."""

    def test_cache_per_sequence(self):
        c = ceil_of("v6e-4", "google/gemma-3-27b-it")
        per_layer_token = 2 * 16 * 128 * 2  # 8,192 B
        assert c.kv_bytes_per_token == 10 * per_layer_token == 81_920  # only full layers grow
        # 4096 tokens: 10 x 8,192 x 4,096 + 52 x 8,192 x 1,024 = 335,544,320 + 436,207,616
        assert c.kv_bytes_per_sequence(4096) == 771_751_936
        # under the window every layer holds every token: 62 x 8,192 x 512
        assert c.kv_bytes_per_sequence(512) == 260_046_848

    def test_tied_embeddings_are_read_and_multiplied(self):
        # the output head is the 262,208 x 5,376 embedding table: every parameter is active and read every step
        c = ceil_of("v6e-4", "google/gemma-3-27b-it")
        assert c.active_params == 27_009_346_304 and c.dense_bytes == c.weight_bytes == 54_018_692_608


class TestSpeculativeDecoding:
    """A target step verifies k drafted tokens per sequence and emits at most k + 1 (vLLM --speculative-config
    num_speculative_tokens): at most (k + 1) x the output of one step, a TPOT floor (k + 1) x lower."""

    def test_k_plus_one_tokens_per_step(self):
        plain = ceil_of("v6e-8", LLAMA)
        spec, _ = ceilings.for_names("v6e-8", LLAMA, "bfloat16", speculative_tokens=3)
        assert spec is not None
        # batch 1 at 1024 tokens: one step reads 15,009,849,344 + 134,217,728 B: 1.15568 ms at 13.104e12 B/s;
        # 4 positions of compute (2 x 7,504,924,672 x 4 / 7.344e15 = 0.0082 ms) do not bind
        step = (15_009_849_344 + 134_217_728) / 13.104e12
        assert spec.decode_step_s(1, 1024) == pytest.approx(step) == pytest.approx(1.15568e-3, abs=1e-8)
        assert spec.decode_tokens_per_s(1, 1024) == pytest.approx(4 / step) == 4 * plain.decode_tokens_per_s(1, 1024)
        assert spec.tpot_floor_s(1, 1024) == pytest.approx(step / 4)

    def test_verification_flops_bind_at_large_batch(self):
        # 1928 sequences x 4 positions x 2 x 7,504,924,672 FLOPs = 1.1576e14 / 7.344e15 = 15.76 ms, under the
        # 20.893 ms read: still bandwidth-bound, 4 x 1928 / 0.020893 = 369,119 tok/s. With k = 7 the compute
        # (31.52 ms) binds: 8 x 1928 / 0.03152 = 489,279 tok/s, the prefill rate
        spec3, _ = ceilings.for_names("v6e-8", LLAMA, "bfloat16", speculative_tokens=3)
        spec7, _ = ceilings.for_names("v6e-8", LLAMA, "bfloat16", speculative_tokens=7)
        assert spec3 is not None and spec7 is not None
        assert spec3.decode_ceiling(1024) == pytest.approx(369_119, abs=1)
        assert spec7.decode_ceiling(1024) == pytest.approx(spec7.prefill_tokens_per_s) == pytest.approx(489_279, abs=1)


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
        # the binding fraction of v6e-4 at 7.9 req/s: decode 7.9 x 128 / (43,442 x 128/127) = 2.3%, compute
        # 7.9 x (1024 + 128) / 244,639 (= 4 x 918e12 / (2 x 7,504,924,672)) = 3.72%
        p = next(p for p in ok if p["run_id"] == "sweep-v6e-4-spot" and p["point"] == 1)
        c = ceil_of("v6e-4", LLAMA)
        decode = 7.9 * 128 / (c.decode_ceiling(1024) * 128 / 127)
        compute = 7.9 * 1152 / (4 * 918e12 / (2 * 7_504_924_672))
        assert decode == pytest.approx(0.0231, abs=1e-4) and compute == pytest.approx(0.0372, abs=1e-4)
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
