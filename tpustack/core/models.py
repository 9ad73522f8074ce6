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


@dataclass(frozen=True, kw_only=True)
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
        ids=("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
        params_b=8.03,
        context_length=131072,
        layers=32,
        hidden=4096,
        heads=32,
        kv_heads=8,
        head_dim=128,
        vocab=128256,
        gated=True,
        maxtext_name="llama3.1-8b",
        source=_HF.format("meta-llama/Llama-3.1-8B-Instruct"),
    ),
    # Llama 3.1 / 3.3 70B: 70.6B params, 128K context, 80 layers, GQA 64/8 heads of 128.
    ModelFacts(
        ids=(
            "meta-llama/Llama-3.1-70B-Instruct",
            "meta-llama/Llama-3.1-70B",
            "meta-llama/Llama-3.3-70B-Instruct",
            "meta-llama/Meta-Llama-3.1-70B-Instruct",
        ),
        params_b=70.6,
        context_length=131072,
        layers=80,
        hidden=8192,
        heads=64,
        kv_heads=8,
        head_dim=128,
        vocab=128256,
        gated=True,
        maxtext_name="llama3.1-70b",
        source=_HF.format("meta-llama/Llama-3.1-70B-Instruct"),
    ),
    # Llama 3 8B: 8.03B params, 8K context.
    ModelFacts(
        ids=("meta-llama/Meta-Llama-3-8B-Instruct", "meta-llama/Meta-Llama-3-8B"),
        params_b=8.03,
        context_length=8192,
        layers=32,
        hidden=4096,
        heads=32,
        kv_heads=8,
        head_dim=128,
        vocab=128256,
        gated=True,
        maxtext_name="llama3-8b",
        source=_HF.format("meta-llama/Meta-Llama-3-8B-Instruct"),
    ),
    # Llama 2 7B: 6.74B params, 4K context, MHA 32/32 heads.
    ModelFacts(
        ids=("meta-llama/Llama-2-7b-chat-hf", "meta-llama/Llama-2-7b-hf"),
        params_b=6.74,
        context_length=4096,
        layers=32,
        hidden=4096,
        heads=32,
        kv_heads=32,
        head_dim=128,
        vocab=32000,
        gated=True,
        maxtext_name="llama2-7b",
        source=_HF.format("meta-llama/Llama-2-7b-hf"),
    ),
    # Qwen2.5 7B Instruct: 7.62B params, 32K context, 28 layers, GQA 28/4 heads of 128; public.
    ModelFacts(
        ids=("Qwen/Qwen2.5-7B-Instruct",),
        params_b=7.62,
        context_length=32768,
        layers=28,
        hidden=3584,
        heads=28,
        kv_heads=4,
        head_dim=128,
        vocab=152064,
        gated=False,
        maxtext_name=None,
        source=_HF.format("Qwen/Qwen2.5-7B-Instruct"),
    ),
    # Mistral 7B Instruct v0.3: 7.25B params, 32K context, GQA 32/8.
    ModelFacts(
        ids=("mistralai/Mistral-7B-Instruct-v0.3",),
        params_b=7.25,
        context_length=32768,
        layers=32,
        hidden=4096,
        heads=32,
        kv_heads=8,
        head_dim=128,
        vocab=32768,
        gated=True,
        maxtext_name=None,
        source=_HF.format("mistralai/Mistral-7B-Instruct-v0.3"),
    ),
)
_BY_ID = {i.lower(): m for m in MODELS for i in m.ids}


def lookup(model_id: str) -> ModelFacts | None:
    """The known model behind a Hugging Face id (case-insensitive), or None."""
    return _BY_ID.get(model_id.strip().lower())
