"""The sparse and hybrid families: Mixtral, Qwen3-MoE, DeepSeek V2/V3 (MLA), gpt-oss, Llama 4, and the Qwen3-Next /
Qwen3.5 hybrids of linear-attention (Gated DeltaNet) and full-attention layers. Counted as tpustack.core.architectures
says (transformers 5.24's modelling code, tensor by tensor); MTP modules as vLLM builds them
(``vllm/model_executor/models/deepseek_mtp.py``, ``qwen3_next_mtp.py``), shared embeddings and heads not counted twice.
"""

from __future__ import annotations

from .architectures import (
    DTYPE_BYTES,
    Counts,
    Layout,
    embeddings,
    gated_mlp,
    gqa_params,
    heads,
    kind_counts,
    layer_types,
    moe_of,
    sizes,
    sliding_rule,
    tied,
    torch_dtype,
    window,
)
from .config_reader import Reader
from .model_facts import Attention, AttentionKind, LayerKind


def _gqa(n: int, kv: int, hd: int, sliding: int | None) -> Attention:
    return Attention(kind=AttentionKind.GQA, heads=n, kv_heads=kv, head_dim=hd, sliding_window=sliding)


def mixtral(r: Reader, top: Reader, family: str) -> Layout:
    """Mixtral: every layer a MoE of gated experts, top-k routed, no shared expert."""
    hidden, layers, vocab, context = sizes(r, "intermediate_size", "num_local_experts", "num_experts_per_tok")
    n, kv, hd = heads(r, hidden, kv_default_mha=False)
    experts, k, inter = r.integer("num_local_experts"), r.integer("num_experts_per_tok"), r.integer("intermediate_size")
    c = Counts()
    for _ in range(layers):
        gqa_params(c, hidden, n, kv, hd, qkv_bias=False, o_bias=False)
        c.experts += experts * gated_mlp(hidden, inter)
        c.other += hidden * experts  # router
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
        attention=_gqa(n, kv, hd, window(r, kinds)),
        moe=moe_of(experts=experts, k=k, shared=0, layers=layers, expert_params=gated_mlp(hidden, inter), r=r),
        tied=is_tied,
        embedding=emb,
        counts=c,
        torch_dtype=torch_dtype(r, top),
    )


def qwen3_moe(r: Reader, top: Reader, family: str) -> Layout:
    """Qwen3-MoE: MoE on every decoder_sparse_step-th layer outside mlp_only_layers, dense MLP elsewhere."""
    hidden, layers, vocab, context = sizes(r, "num_experts", "num_experts_per_tok", "moe_intermediate_size")
    n, kv, hd = heads(r, hidden, kv_default_mha=False)
    experts, k = r.integer("num_experts", low=0), r.integer("num_experts_per_tok")
    moe_inter, step = r.integer("moe_intermediate_size"), r.integer("decoder_sparse_step", 1)
    dense_only = r.indices("mlp_only_layers", layers) or set()
    sparse = [i not in dense_only and experts > 0 and (i + 1) % step == 0 for i in range(layers)]
    if not all(sparse):
        r.require("intermediate_size")
    bias = r.flag("attention_bias", False)
    c = Counts()
    for is_moe in sparse:
        gqa_params(c, hidden, n, kv, hd, qkv_bias=bias, o_bias=bias)
        c.other += 2 * hd  # q/k norms
        if is_moe:
            c.experts += experts * gated_mlp(hidden, moe_inter)
            c.other += hidden * experts
        else:
            c.mlp += gated_mlp(hidden, r.integer("intermediate_size"))
    is_tied = tied(r, top, False)
    emb = embeddings(c, hidden, vocab, layers, 2, is_tied)
    kinds = layer_types(r, layers, sliding_rule(r, family, layers))
    moe = moe_of(experts=experts, k=k, shared=0, layers=sum(sparse), expert_params=gated_mlp(hidden, moe_inter), r=r)
    return Layout(
        architecture=family,
        hidden=hidden,
        vocab=vocab,
        context_length=context,
        layers=layers,
        layer_kinds=kind_counts(kinds),
        attention=_gqa(n, kv, hd, window(r, kinds)),
        moe=moe,
        tied=is_tied,
        embedding=emb,
        counts=c,
        torch_dtype=torch_dtype(r, top),
    )


def _mla_layer(r: Reader, c: Counts, hidden: int, n: int) -> None:
    """One multi-head latent attention layer (DeepseekV3Attention): q through its low-rank pair (or direct), the
    compressed KV with its rotary key, its norm, the up-projection to every head's K and V, and o."""
    kv_lora, rope = r.integer("kv_lora_rank"), r.integer("qk_rope_head_dim")
    nope, v = r.integer("qk_nope_head_dim"), r.integer("v_head_dim")
    q_lora = r.opt_integer("q_lora_rank")
    bias = r.flag("attention_bias", False)
    q_out = n * (nope + rope)
    if q_lora:
        c.attn += hidden * q_lora + q_lora * q_out
        c.other += q_lora + (q_lora if bias else 0)  # q_a_layernorm, q_a_proj bias
    else:
        c.attn += hidden * q_out
    c.attn += hidden * (kv_lora + rope) + kv_lora * n * (nope + v) + n * v * hidden
    c.other += kv_lora + ((kv_lora + rope) + hidden if bias else 0)  # kv_a_layernorm, kv_a/o biases


def _deepseek_moe(r: Reader, c: Counts, hidden: int) -> None:
    experts, shared = r.integer("n_routed_experts"), r.integer("n_shared_experts", low=0)
    moe_inter = r.integer("moe_intermediate_size")
    c.experts += experts * gated_mlp(hidden, moe_inter)
    c.mlp += gated_mlp(hidden, moe_inter * shared)
    # the router, and its per-expert score bias where routing is aux-loss-free (V3's noaux_tc)
    c.other += experts * hidden + (experts if r.text("topk_method") == "noaux_tc" else 0)


def deepseek(r: Reader, top: Reader, family: str) -> Layout:
    """DeepSeek V2/V3: MLA on every layer; the first first_k_dense_replace layers dense, then a MoE (every
    moe_layer_freq-th layer) of routed plus shared experts; num_nextn_predict_layers MTP modules."""
    hidden, layers, vocab, context = sizes(
        r,
        *("kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "moe_intermediate_size"),
        *("n_routed_experts", "num_experts_per_tok", "n_shared_experts", "first_k_dense_replace"),
    )
    n = r.integer("num_attention_heads")
    first = r.integer("first_k_dense_replace", low=0, high=layers)
    freq = r.integer("moe_layer_freq", 1)
    sparse = [i >= first and i % freq == 0 for i in range(layers)]
    if not all(sparse):
        r.require("intermediate_size")
    c = Counts()
    for is_moe in sparse:
        _mla_layer(r, c, hidden, n)
        if is_moe:
            _deepseek_moe(r, c, hidden)
        else:
            c.mlp += gated_mlp(hidden, r.integer("intermediate_size"))
    is_tied = tied(r, top, False)
    emb = embeddings(c, hidden, vocab, layers, 2, is_tied)
    # An MTP module (DeepSeek README_WEIGHTS, vLLM DeepSeekMultiTokenPredictorLayer): enorm and hnorm, eh_proj
    # (2h -> h), one MoE decoder layer and its two norms, the shared head's norm; embedding and head are shared.
    mtp_layers = r.integer("num_nextn_predict_layers", 0, low=0)
    one = Counts()
    _mla_layer(r, one, hidden, n)
    _deepseek_moe(r, one, hidden)
    experts, k = r.integer("n_routed_experts"), r.integer("num_experts_per_tok")
    expert = gated_mlp(hidden, r.integer("moe_intermediate_size"))
    shared = r.integer("n_shared_experts", low=0)
    return Layout(
        architecture=family,
        hidden=hidden,
        vocab=vocab,
        context_length=context,
        layers=layers,
        layer_kinds={LayerKind.FULL: layers},
        attention=Attention(
            kind=AttentionKind.MLA,
            heads=n,
            kv_heads=1,
            head_dim=r.integer("v_head_dim"),
            kv_lora_rank=r.integer("kv_lora_rank"),
            qk_rope_head_dim=r.integer("qk_rope_head_dim"),
        ),
        moe=moe_of(experts=experts, k=k, shared=shared, layers=sum(sparse), expert_params=expert, r=r),
        tied=is_tied,
        embedding=emb,
        counts=c,
        mtp_layers=mtp_layers,
        mtp_params=mtp_layers * (one.total() + 2 * hidden * hidden + 5 * hidden),
        torch_dtype=torch_dtype(r, top),
    )


def gpt_oss(r: Reader, top: Reader, family: str) -> Layout:
    """gpt-oss: sliding and full attention alternating (layer_types), biased projections and a learned sink per
    head, every layer a MoE of experts with biases and a biased router."""
    hidden, layers, vocab, context = sizes(r, "intermediate_size", "num_local_experts")
    n, kv, hd = heads(r, hidden, kv_default_mha=False, head_dim_default=64)  # GptOssConfig.head_dim
    experts, inter = r.integer("num_local_experts"), r.integer("intermediate_size")
    k = r.integer("num_experts_per_tok", r.integer("experts_per_token", 4))  # GptOssConfig default 4
    bias = r.flag("attention_bias", True)
    weights, biases = gated_mlp(hidden, inter), 2 * inter + hidden  # gate_up_proj(+bias), down_proj(+bias)
    c = Counts()
    for _ in range(layers):
        gqa_params(c, hidden, n, kv, hd, qkv_bias=bias, o_bias=bias)
        c.experts += experts * weights
        c.other += n + experts * biases + experts * hidden + experts  # sinks, expert biases, router weight and bias
    is_tied = tied(r, top, False)
    emb = embeddings(c, hidden, vocab, layers, 2, is_tied)
    kinds = layer_types(r, layers, lambda i: LayerKind.SLIDING if (i + 1) % 2 else LayerKind.FULL)
    return Layout(
        architecture=family,
        hidden=hidden,
        vocab=vocab,
        context_length=context,
        layers=layers,
        layer_kinds=kind_counts(kinds),
        attention=_gqa(n, kv, hd, window(r, kinds, default=128)),
        moe=moe_of(experts=experts, k=k, shared=0, layers=layers, expert_params=weights + biases, r=r),
        tied=is_tied,
        embedding=emb,
        counts=c,
        torch_dtype=torch_dtype(r, top),
    )


def _rope_layers(r: Reader, layers: int) -> list[bool]:
    """Llama 4: which layers use RoPE (no_rope_layers: 1 = RoPE); the others are NoPE, global attention."""
    stated = r.items("no_rope_layers")
    if not stated:  # transformers: an empty or missing list means a NoPE layer every no_rope_layer_interval
        interval = r.integer("no_rope_layer_interval", 4)
        return [(i + 1) % interval != 0 for i in range(layers)]
    if len(stated) != layers or any(x not in (0, 1) or isinstance(x, float) for x in stated):
        raise r.fail("no_rope_layers", f"must hold one 0 or 1 per layer ({layers})")
    return [x == 1 for x in stated]


def llama4(r: Reader, top: Reader, family: str) -> Layout:
    """Llama 4: MoE layers (moe_layers, or every interleave_moe_layer_step-th) of routed experts plus one shared
    expert, dense MLP (intermediate_size_mlp) between; RoPE layers attend within attention_chunk_size chunks."""
    hidden, layers, vocab, context = sizes(r, "intermediate_size", "num_local_experts", "num_experts_per_tok")
    n, kv, hd = heads(r, hidden, kv_default_mha=True)
    experts, k, inter = r.integer("num_local_experts"), r.integer("num_experts_per_tok"), r.integer("intermediate_size")
    step = r.integer("interleave_moe_layer_step", 1)
    moe_set = r.indices("moe_layers", layers)
    if moe_set is None:
        moe_set = set(range(step - 1, layers, step))
    if len(moe_set) < layers:
        r.require("intermediate_size_mlp")
    chunk = r.opt_integer("attention_chunk_size") if "attention_chunk_size" in r.doc else 8192
    rope = _rope_layers(r, layers)
    bias = r.flag("attention_bias", False)
    c = Counts()
    for i in range(layers):
        gqa_params(c, hidden, n, kv, hd, qkv_bias=bias, o_bias=bias)  # its q/k norm is an L2 norm: no weights
        if i in moe_set:
            c.experts += experts * gated_mlp(hidden, inter)
            c.mlp += gated_mlp(hidden, inter)  # the shared expert
            c.other += hidden * experts
        else:
            c.mlp += gated_mlp(hidden, r.integer("intermediate_size_mlp"))
    is_tied = tied(r, top, False)
    emb = embeddings(c, hidden, vocab, layers, 2, is_tied)
    kinds = layer_types(r, layers, lambda i: LayerKind.SLIDING if rope[i] and chunk else LayerKind.FULL)
    return Layout(
        architecture=family,
        hidden=hidden,
        vocab=vocab,
        context_length=context,
        layers=layers,
        layer_kinds=kind_counts(kinds),
        attention=_gqa(n, kv, hd, chunk if LayerKind.SLIDING in kinds else None),
        moe=moe_of(experts=experts, k=k, shared=1, layers=len(moe_set), expert_params=gated_mlp(hidden, inter), r=r),
        tied=is_tied,
        embedding=emb,
        counts=c,
        torch_dtype=torch_dtype(r, top),
    )


def _hybrid_sparse(r: Reader, family: str, layers: int) -> list[bool]:
    """Which layers' MLP is a MoE: none (Qwen3.5 dense), all (Qwen3.5-MoE), or Qwen3-Next's sparse-step rule."""
    if family == "qwen3_5_text":
        return [False] * layers
    r.require("num_experts", "num_experts_per_tok", "moe_intermediate_size", "shared_expert_intermediate_size")
    if family == "qwen3_5_moe_text":
        return [True] * layers
    step, dense_only = r.integer("decoder_sparse_step", 1), r.indices("mlp_only_layers", layers) or set()
    return [i not in dense_only and (i + 1) % step == 0 for i in range(layers)]


def _hybrid_mlp(r: Reader, c: Counts, hidden: int, is_moe: bool) -> None:
    if not is_moe:
        c.mlp += gated_mlp(hidden, r.integer("intermediate_size"))
        return
    experts, shared = r.integer("num_experts"), r.integer("shared_expert_intermediate_size", low=0)
    c.experts += experts * gated_mlp(hidden, r.integer("moe_intermediate_size"))
    c.mlp += gated_mlp(hidden, shared)
    c.other += experts * hidden + (hidden if shared else 0)  # router, shared_expert_gate


def qwen_hybrid(r: Reader, top: Reader, family: str) -> Layout:
    """Qwen3-Next and Qwen3.5 (dense and MoE): Gated DeltaNet layers with a fixed per-sequence state, a full
    attention layer every full_attention_interval (q_proj twice as wide for the output gate), MTP modules."""
    linear_keys = ("linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim", "linear_value_head_dim")
    hidden, layers, vocab, context = sizes(r, "num_key_value_heads", *linear_keys, "linear_conv_kernel_dim")
    n, kv, hd = heads(r, hidden, kv_default_mha=False, head_dim_default=256)
    nk, nv, dk, dv = (r.integer(key) for key in linear_keys)
    if nv % nk:
        raise r.fail("linear_num_value_heads", f"is {nv}, not a multiple of linear_num_key_heads ({nk})")
    conv_k = r.integer("linear_conv_kernel_dim")
    interval = r.integer("full_attention_interval", 4)
    kinds = layer_types(r, layers, lambda i: LayerKind.LINEAR if (i + 1) % interval else LayerKind.FULL)
    sparse = _hybrid_sparse(r, family, layers)
    if not all(sparse):
        r.require("intermediate_size")
    gate, bias = r.flag("attn_output_gate", True), r.flag("attention_bias", False)
    conv_dim, value_dim = 2 * nk * dk + nv * dv, nv * dv
    c = Counts()
    for kind, is_moe in zip(kinds, sparse, strict=True):
        if kind is LayerKind.LINEAR:  # in_proj_qkv, in_proj_z, in_proj_b and _a, out_proj; conv, dt_bias, A_log, norm
            c.attn += hidden * conv_dim + hidden * value_dim + 2 * hidden * nv + value_dim * hidden
            c.other += conv_dim * conv_k + 2 * nv + dv
        else:
            gqa_params(c, hidden, n, kv, hd, qkv_bias=bias, o_bias=bias, q_gate=gate)
            c.other += 2 * hd
        _hybrid_mlp(r, c, hidden, is_moe)
    is_tied = tied(r, top, False)
    emb = embeddings(c, hidden, vocab, layers, 2, is_tied)
    dtype = torch_dtype(r, top)
    # vLLM's gated_delta_net_state_shape: conv state conv_dim x (kernel - 1) at the model dtype, recurrent state
    # num_v_heads x v_dim x k_dim at mamba_ssm_dtype when the config states it
    ssm = r.text("mamba_ssm_dtype") or dtype
    if ssm not in DTYPE_BYTES:
        raise r.fail("mamba_ssm_dtype", f"is {ssm!r}; tpustack knows {', '.join(DTYPE_BYTES)}")
    state = conv_dim * (conv_k - 1) * DTYPE_BYTES[dtype] + nv * dv * dk * DTYPE_BYTES[ssm]
    # MTP (vLLM Qwen3NextMultiTokenPredictor): fc (2h -> h), three norms, one full-attention layer and its MLP
    mtp_key = "num_nextn_predict_layers" if family == "qwen3_next" else "mtp_num_hidden_layers"
    mtp_layers = r.integer(mtp_key, 0, low=0)
    one = Counts()
    gqa_params(one, hidden, n, kv, hd, qkv_bias=bias, o_bias=bias, q_gate=gate)
    _hybrid_mlp(r, one, hidden, any(sparse))
    dedicated = emb if r.flag("mtp_use_dedicated_embeddings", False) else 0
    mtp_params = mtp_layers * (one.total() + 2 * hd + 2 * hidden * hidden + 5 * hidden + dedicated)
    experts = r.integer("num_experts") if any(sparse) else 0
    return Layout(
        architecture=family,
        hidden=hidden,
        vocab=vocab,
        context_length=context,
        layers=layers,
        layer_kinds=kind_counts(kinds),
        attention=_gqa(n, kv, hd, window(r, kinds)),
        moe=moe_of(
            experts=experts,
            k=r.integer("num_experts_per_tok") if experts else 1,
            shared=1 if experts and r.integer("shared_expert_intermediate_size", low=0) else 0,
            layers=sum(sparse),
            expert_params=gated_mlp(hidden, r.integer("moe_intermediate_size")) if experts else 0,
            r=r,
        ),
        tied=is_tied,
        embedding=emb,
        counts=c,
        linear_state_bytes=state if LayerKind.LINEAR in kinds else 0,
        mtp_layers=mtp_layers,
        mtp_params=mtp_params,
        torch_dtype=dtype,
    )
