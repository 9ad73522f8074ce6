"""Known models: what a stack may leave out for them and what the rules and the ceilings check against.

Each entry comes from the model's own ``config.json`` on Hugging Face (max_position_embeddings,
num_hidden_layers, hidden_size, num_attention_heads, num_key_value_heads, head_dim, vocab_size) and its model
card (parameter count, gated or not); MaxText names from MaxText's model configs (tpustack.core.images lists
the ones the pinned image has). A model outside this table can still be served: the stack then states
``model.paramsB`` and ``model.contextLength`` itself (config rule). Stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass

# Bytes one weight (or cache value) takes in each dtype a stack may name (tpustack:model.dtype).
BYTES_PER_PARAM = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}


@dataclass(frozen=True)
class ModelFacts:
    ids: tuple[str, ...]  # Hugging Face repo ids (base and instruct share an architecture)
    params_b: float  # parameters, billions
    context_length: int  # max_position_embeddings
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    gated: bool
    maxtext_name: str | None
    source: str

    def kv_bytes_per_token(self, bytes_per_value: float = 2.0) -> float:
        """KV cache bytes one token occupies (K and V, every layer): 2 x layers x kv_heads x head_dim x bytes."""
        return 2 * self.layers * self.kv_heads * self.head_dim * bytes_per_value


_HF = "huggingface.co/{}/blob/main/config.json"
MODELS: tuple[ModelFacts, ...] = (
    # Llama 3.1 8B: 8.03B params, 128K context, 32 layers, GQA 32/8 heads of 128, vocab 128256; gated.
    ModelFacts(
        ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
        8.03,
        131072,
        32,
        4096,
        32,
        8,
        128,
        128256,
        True,
        "llama3.1-8b",
        _HF.format("meta-llama/Llama-3.1-8B-Instruct"),
    ),
    # Llama 3.1 / 3.3 70B: 70.6B params, 128K context, 80 layers, GQA 64/8 heads of 128.
    ModelFacts(
        (
            "meta-llama/Llama-3.1-70B-Instruct",
            "meta-llama/Llama-3.1-70B",
            "meta-llama/Llama-3.3-70B-Instruct",
            "meta-llama/Meta-Llama-3.1-70B-Instruct",
        ),
        70.6,
        131072,
        80,
        8192,
        64,
        8,
        128,
        128256,
        True,
        "llama3.1-70b",
        _HF.format("meta-llama/Llama-3.1-70B-Instruct"),
    ),
    # Llama 3 8B: 8.03B params, 8K context.
    ModelFacts(
        ("meta-llama/Meta-Llama-3-8B-Instruct", "meta-llama/Meta-Llama-3-8B"),
        8.03,
        8192,
        32,
        4096,
        32,
        8,
        128,
        128256,
        True,
        "llama3-8b",
        _HF.format("meta-llama/Meta-Llama-3-8B-Instruct"),
    ),
    # Llama 2 7B: 6.74B params, 4K context, MHA 32/32 heads.
    ModelFacts(
        ("meta-llama/Llama-2-7b-chat-hf", "meta-llama/Llama-2-7b-hf"),
        6.74,
        4096,
        32,
        4096,
        32,
        32,
        128,
        32000,
        True,
        "llama2-7b",
        _HF.format("meta-llama/Llama-2-7b-hf"),
    ),
    # Qwen2.5 7B Instruct: 7.62B params, 32K context, 28 layers, GQA 28/4 heads of 128; public.
    ModelFacts(
        ("Qwen/Qwen2.5-7B-Instruct",),
        7.62,
        32768,
        28,
        3584,
        28,
        4,
        128,
        152064,
        False,
        None,
        _HF.format("Qwen/Qwen2.5-7B-Instruct"),
    ),
    # Mistral 7B Instruct v0.3: 7.25B params, 32K context, GQA 32/8.
    ModelFacts(
        ("mistralai/Mistral-7B-Instruct-v0.3",),
        7.25,
        32768,
        32,
        4096,
        32,
        8,
        128,
        32768,
        True,
        None,
        _HF.format("mistralai/Mistral-7B-Instruct-v0.3"),
    ),
)
_BY_ID = {i.lower(): m for m in MODELS for i in m.ids}


def lookup(model_id: str) -> ModelFacts | None:
    """The known model behind a Hugging Face id (case-insensitive), or None."""
    return _BY_ID.get(model_id.strip().lower())
