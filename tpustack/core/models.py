"""Model facts read from a model's own ``config.json``, and the offline catalog of the ones tpustack ships.

``parse_config`` turns any config.json document into ``ModelFacts`` (parameters counted from the architecture,
layers by kind, attention, experts, the checkpoint's quantization) or raises ``UnknownArchitecture`` naming what
it could not read and the stack keys that override it (``model.paramsB``, ``model.contextLength``). The catalog
is ``tpustack/core/model_configs/<org>__<name>.json`` (each file's origin and fidelity in ``SOURCES.md`` there),
read lazily on first use so importing this module stays cheap; what a config.json cannot say (which ids share the
file, gating, the MaxText name) is ``_CATALOG`` below. A model outside the catalog is still served: the stack
states ``model.paramsB`` and ``model.contextLength`` (config rule), or tpustack reads its config.json. Stdlib only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .architectures import read_layout
from .errors import InternalError
from .model_facts import (
    BYTES_PER_PARAM,
    Attention,
    AttentionKind,
    LayerKind,
    ModelFacts,
    Moe,
    UnknownArchitecture,
)
from .quantization import checkpoint_weights

__all__ = [
    "BYTES_PER_PARAM",
    "MODELS",
    "Attention",
    "AttentionKind",
    "LayerKind",
    "ModelFacts",
    "Moe",
    "UnknownArchitecture",
    "lookup",
    "parse_config",
]


def parse_config(
    doc: Mapping[str, Any],
    *,
    ids: Sequence[str],
    source: str,
    gated: bool,
    maxtext_name: str | None = None,
    total_size: int | None = None,
) -> ModelFacts:
    """The facts of the model whose config.json is ``doc``. ``total_size`` (a safetensors index's
    metadata.total_size), when given, is the checkpoint's byte count and replaces the computed weight bytes."""
    layout = read_layout(doc)
    dtype, weight_bytes, expert_byte = checkpoint_weights(doc, layout, total_size)
    return ModelFacts(
        ids=tuple(ids),
        architecture=layout.architecture,
        source=source,
        params=layout.params,
        active_params=layout.active_params,
        embedding_params=layout.embedding,
        tied_embeddings=layout.tied,
        layers=layout.layers,
        layer_kinds=dict(layout.layer_kinds),
        hidden=layout.hidden,
        vocab=layout.vocab,
        context_length=layout.context_length,
        attention=layout.attention,
        moe=layout.moe,
        linear_state_bytes=layout.linear_state_bytes,
        mtp_layers=layout.mtp_layers,
        mtp_params=layout.mtp_params,
        weights_dtype=dtype,
        weight_bytes=weight_bytes,
        expert_bytes=round(layout.moe.expert_params * expert_byte) if layout.moe else 0,
        gated=gated,
        maxtext_name=maxtext_name,
    )


@dataclass(frozen=True)
class _Entry:
    file: str  # in tpustack/core/model_configs
    ids: tuple[str, ...]  # the first is the repo the file was read for; the others share it (SOURCES.md says why)
    gated: bool  # SOURCES.md: where each was read
    maxtext_name: str | None  # MaxText's model config name (src/maxtext/configs/models/<name>.yml)


_CATALOG = (
    _Entry(
        "meta-llama__Llama-3.1-8B-Instruct.json",
        ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
        True,
        "llama3.1-8b",
    ),
    _Entry(
        "meta-llama__Llama-3.1-70B-Instruct.json",
        (
            "meta-llama/Llama-3.1-70B-Instruct",
            "meta-llama/Llama-3.1-70B",
            "meta-llama/Llama-3.3-70B-Instruct",
            "meta-llama/Meta-Llama-3.1-70B-Instruct",
        ),
        True,
        "llama3.1-70b",
    ),
    _Entry(
        "meta-llama__Llama-3.1-405B-Instruct.json",
        ("meta-llama/Llama-3.1-405B-Instruct", "meta-llama/Llama-3.1-405B"),
        True,
        "llama3.1-405b",
    ),
    _Entry(
        "meta-llama__Meta-Llama-3-8B-Instruct.json",
        ("meta-llama/Meta-Llama-3-8B-Instruct", "meta-llama/Meta-Llama-3-8B"),
        True,
        "llama3-8b",
    ),
    _Entry(
        "meta-llama__Llama-2-7b-hf.json",
        ("meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-7b-chat-hf"),
        True,
        "llama2-7b",
    ),
    _Entry(
        "meta-llama__Llama-4-Maverick-17B-128E-Instruct.json",
        ("meta-llama/Llama-4-Maverick-17B-128E-Instruct",),
        True,
        "llama4-17b-128e",
    ),
    _Entry("Qwen__Qwen2.5-7B-Instruct.json", ("Qwen/Qwen2.5-7B-Instruct",), False, None),
    _Entry("Qwen__Qwen3-32B.json", ("Qwen/Qwen3-32B",), False, "qwen3-32b"),
    _Entry("Qwen__Qwen3-30B-A3B-Base.json", ("Qwen/Qwen3-30B-A3B-Base",), False, "qwen3-30b-a3b-base"),
    _Entry("Qwen__Qwen3.5-397B-A17B.json", ("Qwen/Qwen3.5-397B-A17B",), False, "qwen3.5-397b-a17b"),
    _Entry("Qwen__Qwen3.5-397B-A17B-FP8.json", ("Qwen/Qwen3.5-397B-A17B-FP8",), False, None),
    _Entry("mistralai__Mistral-7B-Instruct-v0.3.json", ("mistralai/Mistral-7B-Instruct-v0.3",), True, None),
    _Entry(
        "mistralai__Mixtral-8x7B-v0.1.json",
        ("mistralai/Mixtral-8x7B-v0.1", "mistralai/Mixtral-8x7B-Instruct-v0.1"),
        True,
        "mixtral-8x7b",
    ),
    _Entry("google__gemma-2-27b.json", ("google/gemma-2-27b",), True, "gemma2-27b"),
    _Entry("google__gemma-3-27b-it.json", ("google/gemma-3-27b-it",), True, "gemma3-27b"),
    _Entry("openai__gpt-oss-120b.json", ("openai/gpt-oss-120b",), False, "gpt-oss-120b"),
    _Entry(
        "deepseek-ai__DeepSeek-V3.json",
        ("deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-R1-0528"),
        False,
        "deepseek3-671b",
    ),
)
_HF = "huggingface.co/{}/blob/main/config.json (shipped as tpustack/core/model_configs/{}; see SOURCES.md there)"
MODELS: tuple[ModelFacts, ...]  # the catalog, read on first use (module __getattr__ below)
_loaded: tuple[ModelFacts, ...] | None = None
_by_id: dict[str, ModelFacts] = {}


def _load() -> tuple[ModelFacts, ...]:
    global _loaded
    if _loaded is None:
        folder = resources.files(__package__).joinpath("model_configs")
        facts = []
        for e in _CATALOG:
            doc = json.loads(folder.joinpath(e.file).read_text(encoding="utf-8"))
            try:
                facts.append(
                    parse_config(
                        doc,
                        ids=e.ids,
                        source=_HF.format(e.ids[0], e.file),
                        gated=e.gated,
                        maxtext_name=e.maxtext_name,
                    )
                )
            except UnknownArchitecture as err:  # a shipped file tpustack cannot read is tpustack's bug
                raise InternalError(f"shipped model config {e.file}: {err}") from err
        _by_id.update({i.lower(): m for m in facts for i in m.ids})
        _loaded = tuple(facts)
    return _loaded


def lookup(model_id: str) -> ModelFacts | None:
    """The catalog model behind a Hugging Face id (case-insensitive), or None."""
    _load()
    return _by_id.get(model_id.strip().lower())


def __getattr__(name: str) -> Any:  # PEP 562: MODELS is read from the data files on first use, then kept
    if name == "MODELS":
        return _load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
