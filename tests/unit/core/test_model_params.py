"""Parameter counts computed from each shipped config.json, written out by hand and held against the figure the
model's makers publish (the name, e.g. "30B-A3B", or the card's stated totals; tpustack/core/model_configs/SOURCES.md
says where each was read). Tolerance 3 %: the published figures are rounded, some count a vision tower.

Notation: h hidden, L layers, V vocab, n/kv query/KV heads of d, i MLP size; q = h*n*d, k = v = h*kv*d, o = n*d*h."""

from __future__ import annotations

import pytest

from tpustack.core import models

TOLERANCE = 0.03


def facts(model_id: str) -> models.ModelFacts:
    f = models.lookup(model_id)
    assert f is not None, model_id
    return f


def near(value: float, published: float) -> bool:
    return abs(value - published) <= TOLERANCE * published


class TestDenseCountsMatchTheirCards:
    def test_llama_3_1_8b(self):
        f = facts("meta-llama/Llama-3.1-8B-Instruct")
        # L=32, h=4096, 32/8 heads of 128, i=14336, V=128256, untied
        attn = 4096 * 4096 + 2 * 4096 * 1024 + 4096 * 4096  # 41,943,040
        mlp = 3 * 4096 * 14336  # 176,160,768
        layer = attn + mlp + 2 * 4096  # + two RMSNorms
        total = 32 * layer + 2 * 128256 * 4096 + 4096  # embeddings + lm_head + final norm
        assert f.params == total == 8_030_261_248
        assert f.active_params == f.params and f.params_b == 8.03  # the card's 8.03B

    def test_llama_3_1_70b(self):
        f = facts("meta-llama/Llama-3.3-70B-Instruct")  # shares the 3.1-70B file
        attn = 8192 * 8192 * 2 + 2 * 8192 * 1024  # q, o + k, v
        total = 80 * (attn + 3 * 8192 * 28672 + 2 * 8192) + 2 * 128256 * 8192 + 8192
        assert f.params == total == 70_553_706_496
        assert near(f.params, 70e9)

    def test_llama_3_1_405b(self):
        f = facts("meta-llama/Llama-3.1-405B-Instruct")
        # L=126, h=16384, 128/8 heads of 128, i=53248
        attn = 2 * 16384 * 16384 + 2 * 16384 * 1024  # 570,425,344
        total = 126 * (attn + 3 * 16384 * 53248 + 2 * 16384) + 2 * 128256 * 16384 + 16384
        assert f.params == total
        assert near(f.params, 405e9)  # 405.85e9

    def test_llama_3_8b_and_2_7b(self):
        l3 = facts("meta-llama/Meta-Llama-3-8B-Instruct")
        assert l3.params == 8_030_261_248 and l3.context_length == 8192  # same sizes as 3.1-8B, 8K context
        l2 = facts("meta-llama/Llama-2-7b-hf")
        # MHA: 4 x 4096^2 attention, i=11008, V=32000
        total = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096) + 2 * 32000 * 4096 + 4096
        assert l2.params == total == 6_738_415_616 and l2.params_b == 6.74

    def test_qwen2_5_7b_has_qkv_biases(self):
        f = facts("Qwen/Qwen2.5-7B-Instruct")
        # h=3584, 28/4 heads of 128, i=18944, V=152064; q/k/v carry biases (3584 + 512 + 512), o does not
        attn = 3584 * 3584 + 2 * 3584 * 512 + 3584 * 3584 + (3584 + 2 * 512)
        total = 28 * (attn + 3 * 3584 * 18944 + 2 * 3584) + 2 * 152064 * 3584 + 3584
        assert f.params == total == 7_615_616_512 and f.params_b == 7.62

    def test_qwen3_32b_has_qk_norms(self):
        f = facts("Qwen/Qwen3-32B")
        # h=5120, 64/8 heads of 128 (q 8192 wide), i=25600, V=151936; q_norm and k_norm of 128 each
        attn = 5120 * 8192 + 2 * 5120 * 1024 + 8192 * 5120 + 2 * 128
        total = 64 * (attn + 3 * 5120 * 25600 + 2 * 5120) + 2 * 151936 * 5120 + 5120
        assert f.params == total
        assert near(f.params, 32.8e9)  # card: 32.8B total
        assert near(f.params - 2 * f.embedding_params, 31.2e9)  # card: 31.2B non-embedding

    def test_mistral_7b_v0_3(self):
        f = facts("mistralai/Mistral-7B-Instruct-v0.3")
        total = 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096) + 2 * 32768 * 4096 + 4096
        assert f.params == total and f.params_b == 7.25

    def test_gemma_2_27b_is_tied_with_four_norms(self):
        f = facts("google/gemma-2-27b")
        # h=4608, 32/16 heads of 128, i=36864, V=256000, tied: one table, no lm_head; four norms per layer
        attn = 4608 * 4096 + 2 * 4608 * 2048 + 4096 * 4608
        total = 46 * (attn + 3 * 4608 * 36864 + 4 * 4608) + 256000 * 4608 + 4608
        assert f.tied_embeddings and f.params == total
        assert near(f.params, 27e9)  # 27.23e9

    def test_gemma_3_27b_language_model(self):
        f = facts("google/gemma-3-27b-it")
        # text_config: h=5376, 32/16 heads of 128, i=21504, V=262208, tied, four norms + q/k norms
        attn = 5376 * 4096 + 2 * 5376 * 2048 + 4096 * 5376 + 2 * 128
        total = 62 * (attn + 3 * 5376 * 21504 + 4 * 5376) + 262208 * 5376 + 5376
        assert f.architecture == "gemma3_text" and f.params == total
        assert near(f.params, 27e9)  # 27.01e9 (the SigLIP tower, ~0.4B, is not counted)


class TestMoeTotalAndActive:
    """active = total - (experts - k) x one expert x MoE layers; embeddings stay in both, as in ModelFacts."""

    def test_mixtral_8x7b(self):
        f = facts("mistralai/Mixtral-8x7B-Instruct-v0.1")
        expert = 3 * 4096 * 14336  # 176,160,768
        attn = 2 * 4096 * 4096 + 2 * 4096 * 1024
        total = 32 * (attn + 8 * expert + 4096 * 8 + 2 * 4096) + 2 * 32000 * 4096 + 4096  # router 4096 x 8
        assert f.params == total and f.moe is not None and f.moe.expert_params == expert
        assert f.active_params == total - 32 * 6 * expert
        assert near(f.params, 46.7e9) and near(f.active_params, 12.9e9)  # 46.70e9 / 12.88e9

    def test_qwen3_30b_a3b(self):
        f = facts("Qwen/Qwen3-30B-A3B-Base")
        expert = 3 * 2048 * 768  # 4,718,592; 128 experts, top 8, every layer (decoder_sparse_step 1)
        attn = 2048 * 4096 + 2 * 2048 * 512 + 4096 * 2048 + 2 * 128
        total = 48 * (attn + 128 * expert + 2048 * 128 + 2 * 2048) + 2 * 151936 * 2048 + 2048
        assert f.params == total and f.moe is not None and f.moe.layers == 48
        assert f.active_params == total - 48 * 120 * expert
        assert near(f.params, 30.5e9) and near(f.active_params, 3.3e9)  # 30.53e9 / 3.35e9

    def test_qwen3_5_397b_a17b(self):
        f = facts("Qwen/Qwen3.5-397B-A17B")
        h = 4096
        expert = 3 * h * 1024  # 12,582,912; 512 experts, top 10, plus one shared expert and its gate
        moe = 512 * expert + 3 * h * 1024 + 512 * h + h
        full = h * (32 * 256 * 2) + 2 * h * 2 * 256 + 32 * 256 * h + 2 * 256  # q doubled by the output gate
        # Gated DeltaNet: keys 16 x 128 = 2048, values 64 x 128 = 8192, conv over q,k,v = 12288 channels
        linear = h * 12288 + h * 8192 + 2 * h * 64 + 8192 * h + 12288 * 4 + 2 * 64 + 128
        total = 15 * full + 45 * linear + 60 * (moe + 2 * h) + 2 * 248320 * h + h
        assert f.params == total
        assert f.active_params == total - 60 * 502 * expert
        assert near(f.params, 397e9) and near(f.active_params, 17e9)  # 396.35e9 / 17.35e9
        assert f.mtp_layers == 1 and f.mtp_params > 0  # one MTP module, not in params

    def test_deepseek_v3(self):
        f = facts("deepseek-ai/DeepSeek-V3")
        h, n = 7168, 128
        # MLA: q 7168->1536->128x192, kv 7168->576, 512->128x256, o 128x128->7168, two low-rank norms
        mla = h * 1536 + 1536 * n * 192 + h * 576 + 512 * n * 256 + n * 128 * h + 1536 + 512
        expert = 3 * h * 2048  # 44,040,192
        moe = 256 * expert + expert + 256 * h + 256  # routed, one shared, router and its score bias
        total = 61 * (mla + 2 * h) + 3 * 3 * h * 18432 + 58 * moe + 2 * 129280 * h + h
        assert f.params == total and f.moe is not None and (f.moe.layers, f.moe.shared_experts) == (58, 1)
        assert f.active_params == total - 58 * 248 * expert
        assert near(f.params, 671e9)  # README_WEIGHTS: 671B
        # its 36.6B "activated (including 0.9B for the output Head)" leaves the input embedding out
        assert near(f.active_params - f.embedding_params, 36.6e9)  # 36.63e9
        assert near(f.mtp_params, 11.5e9)  # "11.5B unique parameters" of the one MTP module: 11.61e9

    def test_gpt_oss_120b(self):
        f = facts("openai/gpt-oss-120b")
        h = 2880
        # experts carry biases: gate_up (2880 x 5760 + 5760), down (2880 x 2880 + 2880)
        expert = 3 * h * 2880 + 2 * 2880 + h  # 24,891,840
        attn = h * 4096 + 2 * h * 512 + 4096 * h + (4096 + 2 * 512 + h) + 64  # biased, one sink per head
        total = 36 * (attn + 128 * expert + 128 * h + 128 + 2 * h) + 2 * 201088 * h + h
        assert f.params == total
        assert f.active_params == total - 36 * 124 * expert
        assert near(f.params, 117e9)  # README: 117B (116.83e9)
        # "5.1B active" counts what a token multiplies: the input embedding is a lookup
        assert near(f.active_params - f.embedding_params, 5.1e9)  # 5.13e9

    def test_llama_4_maverick_interleaves_dense_and_moe(self):
        f = facts("meta-llama/Llama-4-Maverick-17B-128E-Instruct")
        h = 5120
        expert = 3 * h * 8192  # 125,829,120; 128 experts, top 1, one shared expert
        attn = 2 * h * 5120 + 2 * h * 1024
        moe = 128 * expert + expert + h * 128
        dense = 3 * h * 16384
        total = 48 * (attn + 2 * h) + 24 * moe + 24 * dense + 2 * 202048 * h + h
        assert f.params == total and f.moe is not None and f.moe.layers == 24
        assert f.active_params == total - 24 * 127 * expert
        assert near(f.params, 400e9) and near(f.active_params, 17e9)  # 400.71e9 / 17.19e9


def test_every_catalog_model_has_a_test_here():
    tested = {
        "meta-llama/Llama-3.1-8B-Instruct",
        "meta-llama/Llama-3.1-70B-Instruct",
        "meta-llama/Llama-3.1-405B-Instruct",
        "meta-llama/Meta-Llama-3-8B-Instruct",
        "meta-llama/Llama-2-7b-hf",
        "Qwen/Qwen2.5-7B-Instruct",
        "Qwen/Qwen3-32B",
        "mistralai/Mistral-7B-Instruct-v0.3",
        "google/gemma-2-27b",
        "google/gemma-3-27b-it",
        "mistralai/Mixtral-8x7B-v0.1",
        "Qwen/Qwen3-30B-A3B-Base",
        "Qwen/Qwen3.5-397B-A17B",
        "Qwen/Qwen3.5-397B-A17B-FP8",  # same architecture, test_model_kv checks its bytes
        "deepseek-ai/DeepSeek-V3",
        "openai/gpt-oss-120b",
        "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
    }
    assert {m.ids[0] for m in models.MODELS} == tested


@pytest.mark.parametrize("model", [m.ids[0] for m in models.MODELS])
def test_layer_kinds_sum_to_the_layers(model):
    f = facts(model)
    assert sum(f.layer_kinds.values()) == f.layers
    assert f.active_params <= f.params and f.embedding_params < f.params
