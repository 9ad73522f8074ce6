"""Model families: which config.json keys each family carries, and the layout they describe (layers of each kind,
attention, experts) with its parameters counted tensor by tensor.

Every count follows the family's own modelling code in transformers 5.24 (``transformers/models/<family>/``):
the projections of each attention layer (with the biases the family has), MLPs or routed experts with their
router, shared experts, norms, the embedding table and the output head (none when tied). Keys a real file may
leave out take the default of the family's transformers config class; sizes are never defaulted (a file without
``hidden_size`` is refused, not guessed). Vision towers of multimodal wrappers are not counted (their
``text_config`` is the language model a server runs; vLLM's ``--language-model-only``), nor are MTP modules
(``mtp_params``). The hybrid and sparse families live in tpustack.core.architectures_moe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .config_reader import MAX_LAYERS, Reader, override_fix
from .model_facts import Attention, AttentionKind, LayerKind, Moe, UnknownArchitecture

_LAYER_TYPES = {
    "full_attention": LayerKind.FULL,
    "sliding_attention": LayerKind.SLIDING,
    "chunked_attention": LayerKind.SLIDING,  # Llama 4: attention within a chunk, KV capped at the chunk
    "linear_attention": LayerKind.LINEAR,
}
_DTYPES = {"bfloat16": "bfloat16", "float16": "float16", "float32": "float32", "fp16": "float16", "bf16": "bfloat16"}
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}


@dataclass
class Counts:
    """Parameters by what quantization does to them: attention and dense-MLP projections and routed experts are
    what fp8/int4 checkpoints quantize; ``other`` (norms, biases, routers, convolutions, the output head) stays in
    the checkpoint's float dtype."""

    attn: int = 0  # attention (and linear-attention) projection weights
    mlp: int = 0  # dense MLP and shared-expert weights
    experts: int = 0  # routed experts' weight matrices
    other: int = 0

    def total(self) -> int:
        return self.attn + self.mlp + self.experts + self.other


@dataclass(frozen=True, kw_only=True)
class Layout:
    """What one family reader found: everything ModelFacts says except ids, source, gating and the weights' bytes."""

    architecture: str
    hidden: int
    vocab: int
    context_length: int
    layers: int
    layer_kinds: dict[LayerKind, int]
    attention: Attention
    moe: Moe | None
    tied: bool
    embedding: int
    counts: Counts
    linear_state_bytes: int = 0
    mtp_layers: int = 0
    mtp_params: int = 0
    torch_dtype: str = "bfloat16"

    @property
    def params(self) -> int:
        return self.embedding + self.counts.total()

    @property
    def active_params(self) -> int:
        if self.moe is None:
            return self.params
        idle = self.moe.experts - self.moe.experts_per_token
        return self.params - idle * self.moe.expert_params * self.moe.layers


# --- shared pieces ---------------------------------------------------------------------------------------------


def sizes(r: Reader, *extra: str) -> tuple[int, int, int, int]:
    """hidden, layers, vocab, context: the keys every family states (and the family's own required ones)."""
    r.require(
        "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size", "max_position_embeddings", *extra
    )
    layers = r.integer("num_hidden_layers", high=MAX_LAYERS)
    return r.integer("hidden_size"), layers, r.integer("vocab_size"), r.integer("max_position_embeddings")


def heads(r: Reader, hidden: int, *, kv_default_mha: bool, head_dim_default: int | None = None) -> tuple[int, int, int]:
    """Query heads, KV heads, head size. Without ``head_dim`` the family divides hidden_size by the heads."""
    n = r.integer("num_attention_heads")
    if not r.has("num_key_value_heads") and not kv_default_mha:
        r.require("num_key_value_heads")
    kv = r.integer("num_key_value_heads", n)
    if kv > n or n % kv:
        raise r.fail("num_key_value_heads", f"is {kv}, which does not divide num_attention_heads ({n})")
    if r.has("head_dim"):
        head_dim = r.integer("head_dim")
    elif head_dim_default is not None:
        head_dim = head_dim_default
    elif hidden % n:
        raise r.fail(
            "num_attention_heads", f"is {n}, which does not divide hidden_size ({hidden}) and no head_dim is set"
        )
    else:
        head_dim = hidden // n
    return n, kv, head_dim


def gqa_params(
    c: Counts, hidden: int, n: int, kv: int, hd: int, *, qkv_bias: bool, o_bias: bool, q_gate: bool = False
) -> None:
    """One GQA attention layer: q (twice as wide with an output gate), k, v, o projections and their biases."""
    q_out = n * hd * (2 if q_gate else 1)
    c.attn += hidden * q_out + 2 * hidden * kv * hd + n * hd * hidden
    c.other += (q_out + 2 * kv * hd if qkv_bias else 0) + (hidden if o_bias else 0)


def gated_mlp(hidden: int, inter: int) -> int:
    """gate, up and down projections of a SwiGLU/GeGLU MLP."""
    return 3 * hidden * inter


def embeddings(c: Counts, hidden: int, vocab: int, layers: int, norms_per_layer: int, tied: bool) -> int:
    """The embedding table; adds the per-layer and final norms and the untied output head to ``c``."""
    c.other += (norms_per_layer * layers + 1) * hidden + (0 if tied else vocab * hidden)
    return vocab * hidden


def layer_types(r: Reader, layers: int, default: Callable[[int], LayerKind]) -> list[LayerKind]:
    """Each layer's kind from ``layer_types`` when the file states it, else the family's rule."""
    stated = r.items("layer_types", layers)
    if stated is None:
        return [default(i) for i in range(layers)]
    unknown = sorted({repr(t) for t in stated if not (isinstance(t, str) and t in _LAYER_TYPES)})
    if unknown:
        raise r.fail("layer_types", f"names {', '.join(unknown)}; tpustack knows {', '.join(_LAYER_TYPES)}")
    return [_LAYER_TYPES[t] for t in stated]


def kind_counts(kinds: list[LayerKind]) -> dict[LayerKind, int]:
    return {k: n for k in LayerKind if (n := sum(1 for x in kinds if x is k))}


def window(r: Reader, kinds: list[LayerKind], key: str = "sliding_window", default: int | None = None) -> int | None:
    """The window of the SLIDING layers, required once a layer slides."""
    value = r.opt_integer(key) if r.has(key) else default
    if LayerKind.SLIDING in kinds and value is None:
        r.require(key)
    return value if LayerKind.SLIDING in kinds else None


def torch_dtype(r: Reader, top: Reader) -> str:
    for section in (r, top):
        for key in ("torch_dtype", "dtype"):
            value = section.text(key)
            if value is not None:
                if value not in _DTYPES:
                    raise section.fail(key, f"is {value!r}; tpustack knows {', '.join(sorted(_DTYPES))}")
                return _DTYPES[value]
    return "bfloat16"  # unstated: transformers loads such files as float32, but every family here ships 16-bit


def tied(r: Reader, top: Reader, default: bool) -> bool:
    """tie_word_embeddings: the language model's own section first, then a multimodal wrapper's, else the family's."""
    for section in (r, top):
        if section.has("tie_word_embeddings"):
            return section.flag("tie_word_embeddings", default)
    return default


def moe_of(*, experts: int, k: int, shared: int, layers: int, expert_params: int, r: Reader) -> Moe | None:
    if layers == 0 or experts == 0:
        return None
    if k > experts:
        raise r.fail("num_experts_per_tok", f"is {k}, more than the {experts} experts")
    return Moe(experts=experts, experts_per_token=k, shared_experts=shared, layers=layers, expert_params=expert_params)


# --- dense families ---------------------------------------------------------------------------------------------


def sliding_rule(r: Reader, family: str, layers: int) -> Callable[[int], LayerKind]:
    """Where the family slides when ``layer_types`` is not stated (transformers' config __post_init__)."""
    if family in ("mistral", "mixtral"):  # a stated window makes every layer slide
        kind = LayerKind.SLIDING if r.has("sliding_window") else LayerKind.FULL
        return lambda i: kind
    if family in ("qwen2", "qwen3", "qwen3_moe") and r.flag("use_sliding_window", False) and r.has("sliding_window"):
        first = r.integer("max_window_layers", 28, low=0)
        return lambda i: LayerKind.SLIDING if i >= first else LayerKind.FULL
    return lambda i: LayerKind.FULL


def llama_like(r: Reader, top: Reader, family: str) -> Layout:
    """Llama 2/3/3.1, Mistral, Qwen2/2.5, Qwen3: GQA over every layer and a gated MLP."""
    hidden, layers, vocab, context = sizes(r, "intermediate_size")
    n, kv, hd = heads(r, hidden, kv_default_mha=family == "llama")
    c = Counts()
    bias = r.flag("attention_bias", False)
    if family == "qwen2":  # Qwen2 hard-codes biases on q, k and v (not o)
        qkv_bias, o_bias = True, False
    else:
        qkv_bias = o_bias = bias and family != "mistral"
    inter = r.integer("intermediate_size")
    mlp_bias = family == "llama" and r.flag("mlp_bias", False)
    for _ in range(layers):
        gqa_params(c, hidden, n, kv, hd, qkv_bias=qkv_bias, o_bias=o_bias)
        c.mlp += gated_mlp(hidden, inter)
        c.other += (2 * inter + hidden if mlp_bias else 0) + (2 * hd if family == "qwen3" else 0)  # qk norms
    is_tied = tied(r, top, False)
    emb = embeddings(c, hidden, vocab, layers, 2, is_tied)
    kinds = layer_types(r, layers, sliding_rule(r, family, layers))
    return Layout(
        architecture=family,
        hidden=hidden,
        vocab=vocab,
        context_length=context,
        layers=layers,
        layer_kinds=kind_counts(kinds),
        attention=Attention(kind=AttentionKind.GQA, heads=n, kv_heads=kv, head_dim=hd, sliding_window=window(r, kinds)),
        moe=None,
        tied=is_tied,
        embedding=emb,
        counts=c,
        torch_dtype=torch_dtype(r, top),
    )


def gemma(r: Reader, top: Reader, family: str) -> Layout:
    """Gemma 2 (local/global alternation) and Gemma 3 (five local layers to one global, q/k norms)."""
    hidden, layers, vocab, context = sizes(r, "intermediate_size")
    n, kv, hd = heads(r, hidden, kv_default_mha=False, head_dim_default=256)  # Gemma2Config/Gemma3TextConfig
    c = Counts()
    inter = r.integer("intermediate_size")
    bias = r.flag("attention_bias", False)
    for _ in range(layers):
        gqa_params(c, hidden, n, kv, hd, qkv_bias=bias, o_bias=bias)
        c.mlp += gated_mlp(hidden, inter)
        c.other += 2 * hd if family == "gemma3_text" else 0
    is_tied = tied(r, top, True)
    emb = embeddings(c, hidden, vocab, layers, 4, is_tied)  # pre/post attention and pre/post feed-forward norms
    if family == "gemma2":
        pattern = 2
    else:  # newer transformers write _sliding_window_pattern beside layer_types
        key = "sliding_window_pattern" if r.has("sliding_window_pattern") else "_sliding_window_pattern"
        pattern = r.integer(key, 6)
    kinds = layer_types(r, layers, lambda i: LayerKind.SLIDING if (i + 1) % pattern else LayerKind.FULL)
    return Layout(
        architecture=family,
        hidden=hidden,
        vocab=vocab,
        context_length=context,
        layers=layers,
        layer_kinds=kind_counts(kinds),
        attention=Attention(
            kind=AttentionKind.GQA, heads=n, kv_heads=kv, head_dim=hd, sliding_window=window(r, kinds, default=4096)
        ),
        moe=None,
        tied=is_tied,
        embedding=emb,
        counts=c,
        torch_dtype=torch_dtype(r, top),
    )


# --- dispatch ---------------------------------------------------------------------------------------------------

Family = Callable[[Reader, Reader, str], Layout]
# A multimodal wrapper's model_type -> its language model's (when text_config does not say).
WRAPPERS = {
    "gemma3": "gemma3_text",
    "llama4": "llama4_text",
    "qwen3_5": "qwen3_5_text",
    "qwen3_5_moe": "qwen3_5_moe_text",
}


def families() -> dict[str, Family]:
    from . import architectures_moe as moe

    return {
        "llama": llama_like,
        "mistral": llama_like,
        "qwen2": llama_like,
        "qwen3": llama_like,
        "gemma2": gemma,
        "gemma3_text": gemma,
        "mixtral": moe.mixtral,
        "qwen3_moe": moe.qwen3_moe,
        "deepseek_v2": moe.deepseek,
        "deepseek_v3": moe.deepseek,
        "gpt_oss": moe.gpt_oss,
        "llama4_text": moe.llama4,
        "qwen3_next": moe.qwen_hybrid,
        "qwen3_5_text": moe.qwen_hybrid,
        "qwen3_5_moe_text": moe.qwen_hybrid,
    }


def read_layout(doc: Mapping[str, Any]) -> Layout:
    """The layout of a config.json document, or UnknownArchitecture saying what it lacks."""
    if not isinstance(doc, Mapping):
        raise UnknownArchitecture(f"config.json is {type(doc).__name__}, not a JSON object", fix=override_fix())
    top = Reader(doc, where="", model_type="?")
    model_type = top.text("model_type")
    archs = doc.get("architectures")
    top.model_type = str(model_type)
    text = top.section("text_config") if model_type in WRAPPERS or doc.get("text_config") is not None else None
    r = text or top
    family = (text.text("model_type") if text else None) or WRAPPERS.get(str(model_type), str(model_type))
    r.model_type = top.model_type = family
    readers = families()
    if family not in readers:
        raise UnknownArchitecture(
            f"config.json has model_type {model_type!r} (architectures {archs!r}), which tpustack cannot read",
            fix=f"{override_fix()} ({', '.join(sorted(readers))})",
            model_type=None if model_type is None else str(model_type),
            missing=() if model_type is not None else ("model_type",),
        )
    return readers[family](r, top, family)
