"""KV cache and checkpoint bytes of the shipped models, computed by hand: GQA, MLA, sliding windows below and above
the window, a hybrid of linear and full attention, fp8 block-scaled and mxfp4 weights."""

from __future__ import annotations

import pytest

from tpustack.core import models
from tpustack.core.models import AttentionKind, LayerKind

BF16, FP8 = 2.0, 1.0


def facts(model_id: str) -> models.ModelFacts:
    f = models.lookup(model_id)
    assert f is not None, model_id
    return f


class TestGqa:
    def test_llama_3_1_8b(self):
        f = facts("meta-llama/Llama-3.1-8B-Instruct")
        assert f.attention.kind is AttentionKind.GQA and f.layer_kinds == {LayerKind.FULL: 32}
        assert f.kv_bytes_per_token(BF16) == 2 * 32 * 8 * 128 * 2 == 131_072  # K and V x layers x kv heads x d x 2 B
        assert f.kv_bytes_per_token(FP8) == 65_536
        assert f.kv_bytes_per_sequence(4096, BF16) == 4096 * 131_072  # every layer grows with the context


class TestMla:
    def test_deepseek_v3_caches_one_latent_per_token(self):
        f = facts("deepseek-ai/DeepSeek-V3")
        a = f.attention
        assert (a.kind, a.kv_lora_rank, a.qk_rope_head_dim, a.heads, a.kv_heads) == (AttentionKind.MLA, 512, 64, 128, 1)
        assert f.kv_bytes_per_token(BF16) == 61 * (512 + 64) * 2 == 70_272
        # what GQA over 128 heads of K (192) and V (128) would have cost: 61 x 128 x 320 x 2 = 4,997,120 B
        assert f.kv_bytes_per_token(BF16) * 71 < 61 * 128 * (192 + 128) * 2
        assert f.kv_bytes_per_sequence(1000, BF16) == 1000 * 70_272


class TestSlidingWindow:
    def test_gemma_3_27b_below_and_above_its_window(self):
        f = facts("google/gemma-3-27b-it")
        assert f.layer_kinds == {LayerKind.SLIDING: 52, LayerKind.FULL: 10} and f.attention.sliding_window == 1024
        per_layer = 2 * 16 * 128 * 2  # 8,192 B per token per layer
        assert f.kv_bytes_per_token(BF16) == 10 * per_layer == 81_920  # only the global layers keep growing
        # 512 tokens: every layer holds all 512
        assert f.kv_bytes_per_sequence(512, BF16) == 62 * per_layer * 512 == 260_046_848
        # 32768 tokens: 10 global layers x 32768 + 52 local layers x 1024
        assert f.kv_bytes_per_sequence(32768, BF16) == (10 * 32768 + 52 * 1024) * per_layer == 3_120_562_176

    def test_gpt_oss_120b_below_and_above_its_window(self):
        f = facts("openai/gpt-oss-120b")
        assert f.layer_kinds == {LayerKind.SLIDING: 18, LayerKind.FULL: 18} and f.attention.sliding_window == 128
        per_layer = 2 * 8 * 64 * 2  # 2,048 B
        assert f.kv_bytes_per_token(BF16) == 18 * per_layer == 36_864
        assert f.kv_bytes_per_sequence(100, BF16) == 36 * per_layer * 100 == 7_372_800
        assert f.kv_bytes_per_sequence(8192, BF16) == (18 * 8192 + 18 * 128) * per_layer == 306_708_480

    def test_llama_4_chunked_layers_are_capped_at_the_chunk(self):
        f = facts("meta-llama/Llama-4-Maverick-17B-128E-Instruct")
        # every 4th layer is NoPE (global); the other 36 attend within 8192-token chunks
        assert f.layer_kinds == {LayerKind.FULL: 12, LayerKind.SLIDING: 36} and f.attention.sliding_window == 8192
        per_layer = 2 * 8 * 128 * 2
        assert f.kv_bytes_per_sequence(65536, BF16) == (12 * 65536 + 36 * 8192) * per_layer


class TestHybridLinear:
    def test_qwen3_5_only_full_layers_grow(self):
        f = facts("Qwen/Qwen3.5-397B-A17B")
        assert f.layer_kinds == {LayerKind.LINEAR: 45, LayerKind.FULL: 15}
        # vLLM's Gated DeltaNet state: conv (2 x 16 x 128 + 64 x 128 = 12288 channels) x (kernel 4 - 1) at bf16,
        # recurrent 64 heads x 128 x 128 at mamba_ssm_dtype float32
        state = 12288 * 3 * 2 + 64 * 128 * 128 * 4
        assert f.linear_state_bytes == state == 4_268_032
        per_layer = 2 * 2 * 256 * 2  # 2 KV heads of 256: 2,048 B
        assert f.kv_bytes_per_token(BF16) == 15 * per_layer == 30_720
        for context in (1, 8192, 262144):
            assert f.kv_bytes_per_sequence(context, BF16) == 15 * per_layer * context + 45 * state
        grown = f.kv_bytes_per_sequence(9216, BF16) - f.kv_bytes_per_sequence(1024, BF16)
        assert grown == 15 * per_layer * 8192  # the 45 linear layers add nothing per token


class TestCheckpointBytes:
    def test_bf16_is_two_bytes_per_parameter(self):
        f = facts("Qwen/Qwen3-32B")
        assert f.weights_dtype == "bfloat16" and f.weight_bytes == 2 * f.params

    def test_deepseek_v3_fp8_block_scaled(self):
        f = facts("deepseek-ai/DeepSeek-V3")
        assert f.weights_dtype == "fp8"
        h = 7168
        # bf16: embedding + lm_head (2 x 129280 x h), routers (58 x (256 x h + 256)), norms (61 x 2h + 2048 x 61 + h)
        kept = 2 * 129280 * h + 58 * (256 * h + 256) + 61 * (2 * h + 1536 + 512) + h
        projections = f.params - kept
        # fp8: 1 byte each plus one float32 scale per 128 x 128 block (4 / 16384 B per weight)
        expected = round(projections * (1 + 4 / 16384) + kept * 2)
        assert f.weight_bytes == expected
        assert f.weight_bytes == pytest.approx(673.15e9, rel=1e-4)

    def test_gpt_oss_120b_mxfp4_experts(self):
        f = facts("openai/gpt-oss-120b")
        assert f.weights_dtype == "mxfp4"
        experts = 36 * 128 * 3 * 2880 * 2880  # the routed experts' weight matrices (biases stay bf16)
        expected = round(experts * 4.25 / 8 + (f.params - experts) * 2)  # 4 bits + an 8-bit scale per 32 values
        assert f.weight_bytes == expected
        assert f.weight_bytes / 2**30 == pytest.approx(60.77, abs=0.01)  # the ~60.8 GiB checkpoint

    def test_qwen3_5_fp8_is_about_400_gb(self):
        fp8, bf16 = facts("Qwen/Qwen3.5-397B-A17B-FP8"), facts("Qwen/Qwen3.5-397B-A17B")
        assert fp8.params == bf16.params and fp8.weights_dtype == "fp8" and bf16.weights_dtype == "bfloat16"
        assert fp8.weight_bytes == pytest.approx(400e9, rel=0.01)  # tpu-recipes: "~400GB in FP8"
        assert bf16.weight_bytes == 2 * bf16.params

    def test_total_size_fixes_the_bytes(self):
        doc = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
        doc |= {"vocab_size": 100, "intermediate_size": 128, "max_position_embeddings": 512}
        f = models.parse_config(doc, ids=["x/y"], source="test", gated=False, total_size=123_456)
        assert f.weight_bytes == 123_456 and f.weights_dtype == "bfloat16"
