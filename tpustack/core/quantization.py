"""The checkpoint's weights: their dtype and bytes, from ``quantization_config`` when the file has one (it wins over
``torch_dtype``), scales included.

What each method quantizes and what its scales cost, with where it is stated:
- ``fp8`` (DeepSeek V3 README_WEIGHTS, transformers FineGrainedFP8): every linear projection in the decoder layers
  at 1 byte, one float32 scale per ``weight_block_size`` block (128 x 128: 4 / 16,384 B per weight); embeddings,
  output head, norms and routers stay in the float dtype.
- ``fbgemm_fp8`` (Llama 3.1 FP8): the same projections at 1 byte with one float32 scale per output row (under
  0.1 %, not counted).
- ``mxfp4`` (openai/gpt-oss README: "native MXFP4 precision for the MoE layer"): the routed experts' weights at
  4 bits plus one 8-bit scale per 32 values, 4.25 bits; everything else in the float dtype.
- ``awq`` / ``gptq``: ``bits`` per weight plus, per ``group_size`` weights, a 16-bit scale and a ``bits``-bit zero.
- ``compressed-tensors`` / ``modelopt``: the first weight scheme's bits (8-bit float: fp8; 4-bit float: NVFP4 with
  one fp8 scale per 16 values, 4.5 bits; integers with their group scales).
Modules the config names as not converted (``modules_to_not_convert``, ``ignore``, ``exclude_modules``) keep the
float dtype by category (attention, shared/dense MLP, experts). A safetensors index's ``metadata.total_size``, when
given, is the checkpoint's own byte count and replaces all of this (it includes MTP and vision weights).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .architectures import DTYPE_BYTES, Layout
from .config_reader import Reader
from .model_facts import UnknownArchitecture

_METHODS = ("fp8", "fbgemm_fp8", "mxfp4", "awq", "gptq", "compressed-tensors", "modelopt")


def _section(doc: Mapping[str, Any], layout: Layout) -> Reader | None:
    top = Reader(doc, where="", model_type=layout.architecture)
    q = top.section("quantization_config")
    if q is None and isinstance(doc.get("text_config"), Mapping):
        q = Reader(doc["text_config"], where="text_config.", model_type=layout.architecture).section(
            "quantization_config"
        )
    return q


def _kept(q: Reader) -> tuple[bool, bool, bool]:
    """Whether attention, dense/shared MLP and routed experts stay unquantized: only exclusions of a whole module
    count (``model.layers.*.self_attn``, ``re:.*mlp\\.shared_expert$``); excluded single tensors (a router, a
    gate, ``linear_attn.in_proj_a``) are small and stay counted with their module."""
    ends: set[str] = set()
    for key in ("modules_to_not_convert", "ignore", "ignored_layers", "exclude_modules"):
        for name in q.items(key) or []:
            if isinstance(name, str):
                parts = [p.strip("*$^\\") for p in name.removeprefix("re:").split(".")]
                ends.add(next((p for p in reversed(parts) if p), ""))
    attn = bool(ends & {"self_attn", "linear_attn", "attn", "attention"})
    mlp = bool(ends & {"shared_expert", "mlp", "feed_forward"})
    experts = bool(ends & {"experts", "mlp", "feed_forward"})
    return attn, mlp, experts


def _scheme(q: Reader, method: str) -> tuple[str, float, int]:
    """(dtype, bits per quantized weight incl. scales, quantized categories: 7 = attention|mlp|experts, 4 = experts)."""
    if method == "fp8":
        block = q.items("weight_block_size")
        if block and all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in block):
            size = 1
            for b in block:
                size *= b
            return "fp8", 8 + 32 / size, 7
        return "fp8", 8.0, 7
    if method == "fbgemm_fp8":
        return "fp8", 8.0, 7
    if method == "mxfp4":
        return "mxfp4", 4 + 8 / 32, 4
    if method in ("awq", "gptq"):
        bits = q.integer("bits", 4)
        group = q.integer("group_size", 128, low=-1)
        if bits not in (4, 8):
            raise q.fail("bits", f"is {bits}; tpustack counts 4- and 8-bit {method} checkpoints")
        return f"int{bits}", bits + ((16 + bits) / group if group > 0 else 0), 7
    if method == "modelopt":
        algo = (q.text("quant_algo") or "").upper()
        if algo in ("FP8", "NVFP4"):
            return ("fp8", 8.0, 7) if algo == "FP8" else ("fp4", 4 + 8 / 16, 7)
        raise q.fail("quant_algo", f"is {algo!r}; tpustack counts FP8 and NVFP4")
    return _compressed(q)


def _compressed(q: Reader) -> tuple[str, float, int]:
    groups = q.section("config_groups")
    first = next((v for v in (groups.doc.values() if groups else ()) if isinstance(v, Mapping)), None)
    weights = first.get("weights") if first else None
    if not isinstance(weights, Mapping):
        raise q.fail("config_groups", "states no weights scheme")
    w = Reader(weights, where=f"{q.where}config_groups.*.weights.", model_type=q.model_type)
    bits, kind = w.integer("num_bits"), w.text("type", "int")
    group = w.integer("group_size", 0, low=0) if w.has("group_size") else 0
    if kind == "float" and bits in (4, 8):
        return ("fp8", 8.0, 7) if bits == 8 else ("fp4", 4 + 8 / (group or 16), 7)
    if kind == "int" and bits in (4, 8):
        return f"int{bits}", bits + (16 / group if group else 0), 7
    raise w.fail("num_bits", f"is {bits} ({kind}); tpustack counts 8- and 4-bit float or integer weights")


def checkpoint_weights(doc: Mapping[str, Any], layout: Layout, total_size: int | None) -> tuple[str, int, float]:
    """(weights dtype, bytes of the language model's weights as stored, bytes per routed-expert weight as stored)."""
    c, float_bytes = layout.counts, DTYPE_BYTES[layout.torch_dtype]
    q = _section(doc, layout)
    expert_byte = float(float_bytes)
    if q is None:
        dtype, stored = layout.torch_dtype, layout.params * float_bytes
    else:
        method = q.text("quant_method")
        if method not in _METHODS:
            raise UnknownArchitecture(
                f"config.json ({layout.architecture}): {q.path('quant_method')} is {method!r}, which tpustack cannot "
                f"count (it reads {', '.join(_METHODS)})",
                fix="state tpustack:model.paramsB, tpustack:model.contextLength and tpustack:model.dtype in the stack",
                model_type=layout.architecture,
                overrides=("model.paramsB", "model.contextLength", "model.dtype"),
            )
        dtype, bits, which = _scheme(q, method)
        keep_attn, keep_mlp, keep_experts = _kept(q)
        quantized = (0 if keep_attn or not which & 1 else c.attn) + (0 if keep_mlp or not which & 2 else c.mlp)
        quantized += 0 if keep_experts else c.experts
        expert_byte = float_bytes if keep_experts else bits / 8
        stored = round(quantized * bits / 8 + (layout.params - quantized) * float_bytes)
    if total_size is not None:
        if isinstance(total_size, bool) or not isinstance(total_size, int) or total_size <= 0:
            raise UnknownArchitecture(
                f"model.safetensors.index.json metadata.total_size is {total_size!r}, not a positive byte count",
                fix="point tpustack at the checkpoint's own index, or leave total_size out",
            )
        stored = total_size
    return dtype, int(stored), expert_byte
