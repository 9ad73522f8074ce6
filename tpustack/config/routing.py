"""``tpustack:gateway.routing``: how GKE Inference Gateway's endpoint picker (llm-d-router v0.10.0,
tpustack.core.router) weighs the serving pods: its scorers and their weights, and prefix-cache-aware routing
(``prefixCache: approximate | precise | off``) with the prefix index's parameters.

``approximate`` (the chart's default): the picker hashes each prompt into blocks and remembers which pod it sent
them to (approx-prefix-cache-producer). ``precise``: the picker reads the KV-cache events the engine publishes
(vLLM ``--kv-events-config``) and tokenizes prompts in a sidecar (the chart's vLLM render tokenizer).
``off``: no prefix scorer, load only. The rendered EndpointPickerConfig is tpustack.render.picker.

Every scorer and parameter name is the pinned plugin's own (tests/fixtures/router/plugins-v0.10.0.json).
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from pydantic import Field, field_validator, model_validator

from tpustack.core import router
from tpustack.core.enums import StrEnum
from tpustack.core.errors import quote

from .sections import GatewayConfig as _GatewaySection
from .sections import Section, invalid


class PrefixCache(StrEnum):
    """Where the picker's prefix-cache scores come from."""

    APPROXIMATE = "approximate"
    PRECISE = "precise"
    OFF = "off"


class PrefixIndexConfig(Section):
    """The picker's prefix index (approx-prefix-cache-producer parameters, dataproducer/approximateprefix/types.go
    at v0.10.0; ``blockSizeTokens`` is also precise-prefix-cache-producer's tokenProcessorConfig.blockSize) and the
    prefix-cache-scorer's ``matchLengthWeight``. Unset: the picker's defaults."""

    # Infer blockSizeTokens and lruCapacityPerServer from the pods' metrics (picker default true).
    auto_tune: bool | None = None
    block_size_tokens: int | None = Field(default=None, ge=router.APPROX_MIN_BLOCK_SIZE_TOKENS, le=1 << 20)
    max_prefix_tokens: int | None = Field(default=None, ge=0, le=1 << 24)  # maxPrefixTokensToMatch; 0: whole prompt
    lru_capacity_per_server: int | None = Field(default=None, ge=1, le=1 << 30)
    # prefix-cache-scorer: the weight of the absolute match length beside the match ratio, 0..1 (default 0).
    match_length_weight: float | None = Field(default=None, ge=0, le=1)


class RoutingConfig(Section):
    """The endpoint picker's scorers and weights, and prefix-cache-aware routing."""

    prefix_cache: PrefixCache = PrefixCache.APPROXIMATE
    # Scorer plugin type -> weight; default: the chart's own default-plugins.yaml.
    scorers: dict[str, float] = Field(default_factory=lambda: dict(router.CHART_SCORER_WEIGHTS))
    prefix: PrefixIndexConfig = Field(default_factory=PrefixIndexConfig)

    @field_validator("scorers", mode="before")
    @classmethod
    def _scorers(cls, v: Any) -> Any:
        if not isinstance(v, dict) or not v:
            raise invalid(
                "scorers maps scorer names to weights and needs at least one",
                f"e.g. scorers: {{{router.QUEUE_SCORER}: 2, {router.KV_UTILIZATION_SCORER}: 2}}",
            )
        for name, weight in v.items():
            if name not in router.SCORERS:
                raise invalid(f"{quote(str(name))} is not a scorer tpustack configures", _scorer_fix(str(name)))
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
                raise invalid(f"the weight of {name} is {weight!r}, not a number", f"a number > 0, e.g. {name}: 2")
            if weight <= 0:
                raise invalid(
                    f"the weight of {name} is {weight}; the picker adds weight x score, so 0 or less only "
                    "hides or inverts the scorer",
                    f"a number > 0, or remove {name} from scorers",
                )
        return v

    @model_validator(mode="after")
    def _prefix_scorer(self) -> RoutingConfig:
        has = router.PREFIX_SCORER in self.scorers
        explicit = "scorers" in self.model_fields_set
        if self.prefix_cache is PrefixCache.OFF:
            if has and explicit:
                raise invalid(
                    f"prefixCache is off but scorers weighs {router.PREFIX_SCORER}",
                    f"remove {router.PREFIX_SCORER} from scorers, or set prefixCache approximate",
                )
            if self.prefix.model_fields_set:
                raise invalid("prefix sets the prefix index, but prefixCache is off", "remove prefix or turn it on")
        elif not has:
            raise invalid(
                f"prefixCache {self.prefix_cache} needs {router.PREFIX_SCORER} among the scorers",
                f"add {router.PREFIX_SCORER}: 3 to scorers (the chart's weight), or set prefixCache off",
            )
        if self.prefix_cache is PrefixCache.APPROXIMATE:
            _tuned(self.prefix)
        if self.prefix_cache is PrefixCache.PRECISE:
            approx_only = [
                _camel(k)
                for k in ("auto_tune", "max_prefix_tokens", "lru_capacity_per_server")
                if getattr(self.prefix, k) is not None
            ]
            if approx_only:
                raise invalid(
                    f"prefix.{', prefix.'.join(approx_only)} belong to the approximate index; the precise one "
                    "follows the engine's KV-cache events",
                    "remove them (precise takes blockSizeTokens and matchLengthWeight only), or use approximate",
                )
        return self

    def weights(self) -> dict[str, float]:
        """The scorers the picker runs, with their weights (the prefix scorer only while prefixCache is on)."""
        if self.prefix_cache is PrefixCache.OFF:
            return {k: float(w) for k, w in self.scorers.items() if k != router.PREFIX_SCORER}
        return {k: float(w) for k, w in self.scorers.items()}


class GatewayConfig(_GatewaySection):
    """``tpustack:gateway`` with its ``routing`` section."""

    routing: RoutingConfig = Field(default_factory=RoutingConfig)


def _tuned(x: PrefixIndexConfig) -> None:
    fixed = [k for k in ("block_size_tokens", "lru_capacity_per_server") if getattr(x, k) is not None]
    if fixed and x.auto_tune is not False:
        names = " and ".join(f"prefix.{_camel(k)}" for k in fixed)
        raise invalid(
            f"{names} apply only with autoTune off (the picker takes them from the pods' metrics otherwise; "
            "approx-prefix-cache-producer at llm-d-router v0.10.0)",
            f"add autoTune: false beside {names}, or remove {names}",
        )


def _scorer_fix(name: str) -> str:
    close = difflib.get_close_matches(name, router.SCORERS, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"{hint}use {', '.join(router.SCORERS)} (the pinned llm-d-router plugin type names)"


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(p.title() for p in rest)
