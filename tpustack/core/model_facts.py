"""What tpustack knows about a model: the types every consumer (config rules, ceilings, plan, pods) reads.

``ModelFacts`` is derived from a model's own ``config.json`` (tpustack.core.architectures reads the families,
tpustack.core.quantization the checkpoint's dtype); ``tpustack.core.models`` is the public entry point
(``parse_config``, ``lookup``, ``MODELS``) and re-exports these names. Stdlib only: pods import core.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .enums import StrEnum
from .errors import InputError

# Bytes one weight (or cache value) takes in each dtype a stack may name (tpustack:model.dtype). fp4/mxfp4: 4 bits
# (mxfp4's shared 8-bit scale per 32 values is counted by tpustack.core.quantization, not here).
BYTES_PER_PARAM = {
    "float32": 4.0,
    "bfloat16": 2.0,
    "float16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
    "fp4": 0.5,
    "mxfp4": 0.5,
}


class AttentionKind(StrEnum):
    GQA = "gqa"  # MHA / GQA / MQA: K and V per KV head
    MLA = "mla"  # multi-head latent attention (DeepSeek V2/V3): one compressed latent per token


class LayerKind(StrEnum):
    FULL = "full"  # attention over the whole context
    SLIDING = "sliding"  # attention over a window (KV capped at the window); Llama 4's chunked layers too
    LINEAR = "linear"  # linear attention / state-space layer: a fixed state per sequence, no per-token KV


class UnknownArchitecture(InputError):
    """A config.json tpustack cannot read: an unknown model_type, a missing or malformed key, an absurd value.

    ``missing`` lists the config keys it lacked, ``overrides`` the stack keys that stand in for what could not be
    read (``model.paramsB``, ``model.contextLength``); ``fix`` says both in words."""

    def __init__(
        self,
        reason: str,
        *,
        fix: str,
        model_type: str | None = None,
        missing: tuple[str, ...] = (),
        overrides: tuple[str, ...] = ("model.paramsB", "model.contextLength"),
    ):
        self.model_type = model_type
        self.missing = missing
        self.overrides = overrides
        super().__init__(reason, fix=fix)


@dataclass(frozen=True, kw_only=True)
class Attention:
    kind: AttentionKind
    heads: int  # query heads
    kv_heads: int  # GQA: K/V heads; MLA: 1 (one latent per token, shared by every head)
    head_dim: int  # the K/V head size (MLA: v_head_dim)
    kv_lora_rank: int | None = None  # MLA: the compressed latent's size
    qk_rope_head_dim: int | None = None  # MLA: the decoupled rotary key, cached beside the latent
    sliding_window: int | None = None  # tokens a SLIDING layer attends to (Llama 4: attention_chunk_size)


@dataclass(frozen=True, kw_only=True)
class Moe:
    experts: int  # routed experts per MoE layer
    experts_per_token: int
    shared_experts: int  # always-active experts per MoE layer (0 if none)
    layers: int  # layers whose MLP is a MoE (the rest are dense)
    expert_params: int  # parameters of ONE routed expert in ONE layer (its biases included where it has them)


@dataclass(frozen=True, kw_only=True)
class ModelFacts:
    ids: tuple[str, ...]  # Hugging Face ids that share the file (the first is the one the file was read for)
    architecture: str  # config.json model_type (text_config's for multimodal wrappers such as Gemma 3, Llama 4)
    source: str  # where the config came from
    params: int  # parameters of the language model (weights stored; vision towers and MTP modules not counted)
    active_params: int  # parameters one token uses: dense == params; MoE: params less the routed experts not chosen
    embedding_params: int  # the input embedding table (looked up, never read in full, no FLOPs)
    tied_embeddings: bool  # the output head is the embedding table (then it is read and multiplied)
    layers: int
    layer_kinds: Mapping[LayerKind, int]  # layers of each kind, summing to ``layers``
    hidden: int
    vocab: int
    context_length: int  # max_position_embeddings
    attention: Attention
    moe: Moe | None
    linear_state_bytes: int  # one LINEAR layer's per-sequence state in bytes, at the state's dtype (0 if none)
    mtp_layers: int  # multi-token-prediction modules shipped with the model (draft heads for speculative decoding)
    mtp_params: int  # their parameters not shared with the main model (not in ``params``)
    weights_dtype: str  # the checkpoint's: bfloat16 | float16 | float32 | fp8 | mxfp4 | int8 | int4 | fp4
    weight_bytes: int  # bytes of ``params`` as the checkpoint stores them (quantization scales included)
    expert_bytes: int  # bytes of ONE routed expert in ONE layer as stored (scales included; 0: dense model)
    gated: bool  # downloading needs a Hugging Face token
    maxtext_name: str | None

    @property
    def params_b(self) -> float:
        """Parameters in billions, to the hundredth, as model cards state them (what a stack's paramsB compares to)."""
        return round(self.params / 1e9, 2)

    def kv_bytes_per_token(self, bytes_per_value: float = 2.0) -> float:
        """KV cache bytes one more token adds, summed over the FULL layers (SLIDING layers stop growing at their
        window, LINEAR layers never grow). GQA: 2 (K and V) x kv_heads x head_dim x bytes per layer; MLA: the
        latent and its rotary key, (kv_lora_rank + qk_rope_head_dim) x bytes per layer (vLLM's MLA cache)."""
        return self.layer_kinds.get(LayerKind.FULL, 0) * self._kv_values_per_layer() * bytes_per_value

    def kv_bytes_per_sequence(self, context: int, bytes_per_value: float = 2.0) -> float:
        """Cache bytes of one sequence of ``context`` tokens: FULL layers x context + SLIDING layers x
        min(context, window) per-token KV, plus LINEAR layers x their fixed state (at the state's own dtype)."""
        per_layer = self._kv_values_per_layer() * bytes_per_value
        window = self.attention.sliding_window or context
        full = self.layer_kinds.get(LayerKind.FULL, 0) * per_layer * context
        sliding = self.layer_kinds.get(LayerKind.SLIDING, 0) * per_layer * min(context, window)
        return full + sliding + self.layer_kinds.get(LayerKind.LINEAR, 0) * self.linear_state_bytes

    def _kv_values_per_layer(self) -> int:
        a = self.attention
        if a.kind is AttentionKind.MLA:
            return (a.kv_lora_rank or 0) + (a.qk_rope_head_dim or 0)
        return 2 * a.kv_heads * a.head_dim
