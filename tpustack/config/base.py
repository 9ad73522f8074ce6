"""The base of every stack-config section and the validators' refusal (re-exported by tpustack.config.sections)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

# The error type the loader recognizes as tpustack's own (its context carries reason and fix).
INVALID = "tpustack_invalid"


def invalid(reason: str, fix: str) -> PydanticCustomError:
    """A field validator's refusal: what is wrong and why, and what to do instead."""
    return PydanticCustomError(INVALID, "{reason}. Fix: {fix}", {"reason": reason, "fix": fix})


class Section(BaseModel):
    """Strict base: unknown keys are errors (typos never pass silently); camelCase keys as in Pulumi."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


__all__ = ["INVALID", "Section", "invalid"]
