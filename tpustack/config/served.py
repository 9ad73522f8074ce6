"""The model a stack serves, as facts: its architecture from its own config.json (tpustack.config.model_source ->
tpustack.core.models.parse_config), with what the stack states on top (``model.paramsB``, ``contextLength``,
``dtype`` override the file; ``gated`` and ``maxtextName`` fill what the file cannot say).

Derived once per config (``StackConfig.served``); the rules, the renderer, the cost, the ceilings and the plan all
read it, never the catalog directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tpustack.core import catalog, models
from tpustack.core.errors import Problem, problem
from tpustack.core.models import BYTES_PER_PARAM, ModelFacts

from . import model_source

if TYPE_CHECKING:
    from .model import StackConfig

# KV cache values as vLLM stores them by --kv-cache-dtype (vllm/config/cache.py CacheDType at 0.32.0): auto follows
# the model's activation dtype (bf16 for every catalog model), the fp8 kinds are one byte.
KV_BYTES = {"auto": 2.0, "bfloat16": 2.0, "float16": 2.0, "fp8": 1.0, "fp8_e4m3": 1.0, "fp8_e5m2": 1.0}


@dataclass(frozen=True, kw_only=True)
class ServedModel:
    id: str
    facts: ModelFacts | None  # None: only what the stack states (paramsB, contextLength) is known
    origin: str  # catalog | cache | hub | file | gcs | stated
    source: str
    params: float  # parameters, a count
    context: int
    dtype: str  # the weights as served: the stack's model.dtype, else the checkpoint's
    weight_bytes: float
    kv_bytes_per_value: float
    gated: bool
    maxtext: str | None
    warnings: tuple[str, ...] = ()
    problem: Problem | None = None

    @property
    def params_b(self) -> float:
        return self.params / 1e9

    @property
    def weights_gib(self) -> float:
        return self.weight_bytes / catalog.GIB

    def kv_bytes_per_sequence(self, context: int) -> float | None:
        """KV cache bytes of one sequence of ``context`` tokens (None: the architecture is unknown)."""
        return None if self.facts is None else self.facts.kv_bytes_per_sequence(context, self.kv_bytes_per_value)


def _weight_bytes(facts: ModelFacts | None, params: float, dtype: str, stated_dtype: bool) -> float:
    """The checkpoint's own bytes when the stack serves it as it is; a stated dtype re-quantizes every weight."""
    if facts is not None and not stated_dtype and params == facts.params:
        return float(facts.weight_bytes)
    return params * BYTES_PER_PARAM[dtype]


def _kv_dtype(cfg: StackConfig) -> float:
    vllm = cfg.engine.vllm if cfg.engine is not None else None
    kv = vllm.kv_cache_dtype if vllm is not None else None
    return KV_BYTES.get(kv or "auto", 2.0)


def resolve(cfg: StackConfig) -> ServedModel | None:
    """The served model of a stack (None: it serves none)."""
    m = cfg.model
    if m is None:
        return None
    known = models.lookup(m.id)
    fetched = model_source.fetch(m, model_source.sources(cfg.hf_token.get_secret_value() if cfg.hf_token else None),
                                 in_catalog=known is not None)
    facts, origin, source, warnings, prob = known, "catalog", known.source if known else "", [], None
    if fetched is not None:
        warnings += list(fetched.warnings)
        if fetched.doc is not None:
            try:
                facts = models.parse_config(
                    fetched.doc,
                    ids=(m.id,),
                    source=fetched.source,
                    gated=bool(fetched.gated) if m.gated is None else m.gated,
                    maxtext_name=m.maxtext_name,
                )
                origin, source = fetched.origin, fetched.source
            except models.UnknownArchitecture as e:
                facts, prob = None, problem("tpustack:model.id", e.reason, e.fix or "state model.paramsB and model.contextLength")
        elif fetched.origin != "catalog":
            facts, prob = None, fetched.problem
    if facts is None and m.params_b is not None and m.context_length is not None:
        prob = None  # the stated figures are enough to plan (no KV size: the ceilings say so)
        origin, source = "stated", "tpustack:model.paramsB, tpustack:model.contextLength"
        warnings.append(
            f"tpustack:model.id: {m.id}'s architecture is unknown ({origin}); its KV cache size is not, so HBM fit "
            "counts the weights only and the ceilings leave the KV cache out"
        )
    params = m.params_b * 1e9 if m.params_b is not None else float(facts.params) if facts else 0.0
    if facts is not None and m.params_b is not None and abs(params - facts.params) > 0.05 * facts.params:
        warnings.append(
            f"tpustack:model.paramsB: {m.params_b:g}B overrides the {facts.params / 1e9:.2f}B of {m.id}'s config.json"
        )
    context = m.context_length or (facts.context_length if facts else 0)
    dtype = m.dtype or (facts.weights_dtype if facts else "bfloat16")
    return ServedModel(
        id=m.id,
        facts=facts,
        origin=origin,
        source=source,
        params=params,
        context=context,
        dtype=dtype,
        weight_bytes=_weight_bytes(facts, params, dtype, m.dtype is not None),
        kv_bytes_per_value=_kv_dtype(cfg),
        gated=m.gated if m.gated is not None else (facts.gated if facts else m.source == "huggingface"),
        maxtext=m.maxtext_name or (facts.maxtext_name if facts else None),
        warnings=tuple(warnings),
        problem=prob,
    )
