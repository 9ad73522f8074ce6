"""``tpustack:engine.vllm.speculative``: speculative decoding (part of tpustack.config.sections.VllmConfig)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from .base import Section, invalid


class SpeculativeConfig(Section):
    """Speculative decoding (`vllm serve --speculative-config`, vllm/config/speculative.py at 0.32.0): a draft
    proposes ``numSpeculativeTokens`` tokens that one target step verifies, so a step emits at most k + 1."""

    # vLLM's SpeculativeMethod values tpustack renders (tests/integration/test_engine_facts.py reads the literal)
    method: Literal["ngram", "eagle", "eagle3", "mtp", "draft_model"]
    num_speculative_tokens: int = Field(ge=1, le=16)
    model: str | None = None  # the draft or EAGLE head (eagle, eagle3, draft_model); MTP and n-gram need none

    @model_validator(mode="after")
    def _draft(self) -> SpeculativeConfig:
        needs = self.method in ("eagle", "eagle3", "draft_model")
        if needs and not self.model:
            raise invalid(f"speculative method {self.method} needs its draft model", "set speculative.model")
        if not needs and self.model:
            raise invalid(f"speculative method {self.method} takes no draft model", "remove speculative.model")
        return self

    def vllm_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "num_speculative_tokens": self.num_speculative_tokens}
        if self.model:
            out["model"] = self.model
        return out
