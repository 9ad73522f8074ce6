"""The model a stack serves, as facts: its architecture from its own config.json (tpustack.config.model_source ->
tpustack.core.models.parse_config), with what the stack states on top (``model.paramsB``, ``contextLength``,
``dtype`` override the file; ``gated`` and ``maxtextName`` fill what the file cannot say).

Derived once per config (``StackConfig.served``); the rules, the renderer, the cost, the ceilings and the plan all
read it, never the catalog directly. Resolving never raises: a file that cannot be read or understood is a
``problem`` (the config gate lists it with the others, before any resource), or, when the stack states
``paramsB`` and ``contextLength``, a warning and a model known only by those two figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tpustack.core import catalog, ceilings, models
from tpustack.core.errors import Problem, problem
from tpustack.core.models import BYTES_PER_PARAM, ModelFacts
from tpustack.core.secrets import secret_in

from . import model_source

if TYPE_CHECKING:
    from .model import StackConfig
    from .sections import ModelConfig

KEY = "tpustack:model"


@dataclass(frozen=True, kw_only=True)
class ServedModel:
    id: str
    facts: ModelFacts | None  # None: only what the stack states (paramsB, contextLength) is known
    origin: str  # catalog | cache | hub | file | gcs | stated
    source: str
    params: float  # parameters, a count
    context: int  # the model's own limit: contextLength, else its config.json max_position_embeddings
    dtype: str  # the weights as served: the stack's model.dtype, else the checkpoint's
    weight_bytes: float
    kv_bytes_per_value: float  # the KV cache's (engine.vllm.kvCacheDtype), apart from the weights'
    speculative_tokens: int  # drafted tokens one step verifies (engine.vllm.speculative), 0 without
    gated: bool
    maxtext: str | None
    warnings: tuple[str, ...] = ()
    problem: Problem | None = None
    # a credential sits in model.id or model.config: nothing was read or sent anywhere, and the config rule for
    # credentials in plain fields is the one error (tpustack.config.rules.stack)
    withheld: bool = False

    @property
    def params_b(self) -> float:
        return self.params / 1e9

    @property
    def weights_gib(self) -> float:
        return self.weight_bytes / catalog.GIB

    @property
    def checkpoint_gib(self) -> float:
        """The checkpoint as stored (what a copy of its folder holds), whatever dtype it is served at: its own
        bytes when its config is known, else its parameters at the served dtype or bf16, whichever is larger."""
        if self.facts is not None:
            return self.facts.weight_bytes / catalog.GIB
        widest = max(BYTES_PER_PARAM[self.dtype], BYTES_PER_PARAM["bfloat16"])
        return self.params * widest / catalog.GIB

    @property
    def known(self) -> bool:
        """Whether tpustack can plan with it (no problem)."""
        return self.problem is None

    @property
    def moe(self) -> bool:
        return self.facts is not None and self.facts.moe is not None

    def kv_bytes_per_sequence(self, context: int) -> float | None:
        """Cache bytes of one sequence of ``context`` tokens (None: the architecture is unknown)."""
        return None if self.facts is None else self.facts.kv_bytes_per_sequence(context, self.kv_bytes_per_value)

    def ceilings(self, shape: catalog.Accelerator) -> ceilings.Ceilings:
        """The physical ceilings of one replica of ``shape`` serving this model as the stack serves it."""
        return ceilings.for_shape(
            shape,
            self.params_b,
            self.dtype,
            self.facts,
            self.id,
            self.kv_bytes_per_value,
            speculative_tokens=self.speculative_tokens,
        )


def _weight_bytes(facts: ModelFacts | None, params: float, dtype: str) -> float:
    """The checkpoint's own bytes when the stack serves it as stored; another dtype (or a stated parameter count)
    counts every weight at that dtype, as the engine's on-the-fly quantization stores it."""
    if facts is not None and dtype == facts.weights_dtype and params == facts.params:
        return float(facts.weight_bytes)
    return params * BYTES_PER_PARAM[dtype]


def _engine_kv(cfg: StackConfig) -> tuple[float, int]:
    vllm = cfg.engine.vllm if cfg.engine is not None else None
    if vllm is None:
        return ceilings.KV_BYTES_DEFAULT, 0
    kv = ceilings.KV_BYTES.get(vllm.kv_cache_dtype or "auto", ceilings.KV_BYTES_DEFAULT)
    return kv, vllm.speculative.num_speculative_tokens if vllm.speculative else 0


def _read(
    m: ModelConfig, cfg: StackConfig, known: ModelFacts | None
) -> tuple[ModelFacts | None, str, str, list[str], Problem | None]:
    """(facts, origin, source, warnings, problem) from wherever the model's config.json should come from."""
    token = cfg.hf_token.get_secret_value() if cfg.hf_token else None
    fetched = model_source.fetch(m, model_source.sources(token), in_catalog=known is not None)
    if fetched is None:  # the catalog's copy
        return known, "catalog", known.source if known else "", [], None
    warnings = list(fetched.warnings)
    if fetched.doc is None:
        if fetched.origin == "catalog":  # asked the Hub first; it did not answer
            return known, "catalog", known.source if known else "", warnings, None
        return None, fetched.origin, fetched.source, warnings, fetched.problem
    try:
        facts = models.parse_config(
            fetched.doc,
            ids=(m.id,),
            source=fetched.source,
            gated=bool(fetched.gated) if m.gated is None else m.gated,
            maxtext_name=m.maxtext_name,
        )
    except models.UnknownArchitecture as e:
        return (
            None,
            fetched.origin,
            fetched.source,
            warnings,
            problem(f"{KEY}.id", e.reason, e.fix or "state model.paramsB and model.contextLength"),
        )
    return facts, fetched.origin, fetched.source, warnings, None


def _without_facts(m: ModelConfig, prob: Problem | None, warnings: list[str]) -> tuple[Problem | None, bool]:
    """When the file gave no facts: (the problem that stops the plan or None, whether the stated figures stand in)."""
    if m.stated:
        why = prob.reason if prob else "no config.json"
        warnings.append(
            f"{KEY}.id: {m.id}'s architecture is unknown ({why}), so tpustack plans with the stated paramsB and "
            "contextLength: HBM fit counts the weights only and the ceilings leave the KV cache out; set "
            "model.config to its config.json for both"
        )
        return None, True
    missing = [k for k, v in (("paramsB", m.params_b), ("contextLength", m.context_length)) if v is None]
    if prob is None:  # nothing was read, and nothing said why
        return problem(
            KEY,
            f"{m.id}'s config.json was not read, so its {' and '.join(missing)} must be stated",
            f"set model.{' and model.'.join(missing)}, or model.config to its config.json",
        ), False
    if m.params_b is not None:  # stated in part
        return problem(
            KEY,
            f"{prob.reason}; paramsB alone is not enough to plan without it",
            f"state model.contextLength as well (its config.json max_position_embeddings), or: {prob.fix}",
        ), False
    return prob, False


def _params(m: ModelConfig, facts: ModelFacts | None, source: str, warnings: list[str]) -> float:
    """The parameter count: the stated one (the file's exact count when they agree to the hundredth), else the
    file's; with a warning where the stack overrides the file."""
    if m.params_b is None:
        return float(facts.params) if facts else 0.0
    if facts is None:
        return m.params_b * 1e9
    if round(m.params_b, 2) == facts.params_b:
        return float(facts.params)
    if abs(m.params_b * 1e9 - facts.params) > 0.05 * facts.params:
        warnings.append(
            f"{KEY}.paramsB: {m.params_b:g}B overrides the {facts.params_b:g}B counted from {m.id}'s config.json "
            f"({source}); remove it unless the weights really differ"
        )
    return m.params_b * 1e9


def _gated(m: ModelConfig, facts: ModelFacts | None) -> bool:
    if m.source == "gcs":
        return False
    if m.gated is not None:
        return m.gated
    return facts.gated if facts else True


def resolve(cfg: StackConfig) -> ServedModel | None:
    """The served model of a stack (None: it serves none)."""
    m = cfg.model
    if m is None:
        return None
    if secret_in(m.id) or secret_in(m.config or ""):
        withheld = problem(KEY, "holds a credential, so nothing it names is read", "remove the credential")
        return ServedModel(
            id=m.id, facts=None, origin="none", source="", params=0.0, context=0, dtype="bfloat16",
            weight_bytes=0.0, kv_bytes_per_value=ceilings.KV_BYTES_DEFAULT, speculative_tokens=0, gated=False,
            maxtext=None, problem=withheld, withheld=True,
        )  # fmt: skip
    facts, origin, source, warnings, prob = _read(m, cfg, models.lookup(m.id))
    if facts is None:
        prob, stands_in = _without_facts(m, prob, warnings)
        if stands_in:
            origin, source = "stated", "tpustack:model.paramsB, tpustack:model.contextLength"
    params = _params(m, facts, source, warnings)
    if facts is not None and m.context_length is not None and m.context_length > facts.context_length:
        warnings.append(
            f"{KEY}.contextLength: {m.context_length} overrides {m.id}'s max_position_embeddings of "
            f"{facts.context_length}; quality past the trained context is the model's, not the engine's"
        )
    dtype = m.dtype or (facts.weights_dtype if facts else "bfloat16")
    kv, spec = _engine_kv(cfg)
    return ServedModel(
        id=m.id,
        facts=facts,
        origin=origin,
        source=source,
        params=params,
        context=m.context_length or (facts.context_length if facts else 0),
        dtype=dtype,
        weight_bytes=_weight_bytes(facts, params, dtype),
        kv_bytes_per_value=kv,
        speculative_tokens=spec,
        gated=_gated(m, facts),
        maxtext=m.maxtext_name or (facts.maxtext_name if facts else None),
        warnings=tuple(warnings),
        problem=prob,
    )
