"""Typed reads of a config.json section: every key's absence, wrong type or absurd value becomes one
``UnknownArchitecture`` naming the key (its path, e.g. ``text_config.num_hidden_layers``) and the stack keys that
override what could not be read. Nothing here knows a model family; tpustack.core.architectures does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model_facts import UnknownArchitecture

# The largest size a config may state: generous for any real model, small enough that per-layer lists stay cheap.
MAX_SIZE = 2**31 - 1
MAX_LAYERS = 100_000
_NO: Any = object()


OVERRIDES = ("model.paramsB", "model.contextLength")


def override_fix() -> str:
    """What a user does when tpustack cannot read a config: state what it would have derived."""
    return (
        "state tpustack:model.paramsB and tpustack:model.contextLength in the stack instead (the ceilings then know "
        "no KV size or experts), or point the model at a config.json of a family tpustack reads"
    )


class Reader:
    """One section of a config.json (the document itself, or a multimodal wrapper's ``text_config``)."""

    def __init__(self, doc: Mapping[str, Any], *, where: str, model_type: str):
        self.doc = doc
        self.where = where  # "" or "text_config."
        self.model_type = model_type

    def path(self, key: str) -> str:
        return f"{self.where}{key}"

    def fail(self, key: str, reason: str) -> UnknownArchitecture:
        return UnknownArchitecture(
            f"config.json ({self.model_type}): {self.path(key)} {reason}",
            fix=override_fix(),
            model_type=self.model_type,
        )

    def has(self, key: str) -> bool:
        return self.doc.get(key) is not None

    def require(self, *keys: str) -> None:
        """Every key present and not null, or one error naming all that are not."""
        missing = tuple(self.path(k) for k in keys if not self.has(k))
        if missing:
            raise UnknownArchitecture(
                f"config.json ({self.model_type}) lacks {', '.join(missing)}",
                fix=override_fix(),
                model_type=self.model_type,
                missing=missing,
            )

    def integer(self, key: str, default: int = _NO, *, low: int = 1, high: int = MAX_SIZE) -> int:
        value = self.doc.get(key)
        if value is None:
            if default is _NO:
                self.require(key)
            return int(default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"is {value!r}, not a whole number")
        if not low <= value <= high:
            raise self.fail(key, f"is {value}, outside {low}..{high}")
        return value

    def opt_integer(self, key: str, *, low: int = 1) -> int | None:
        return self.integer(key, low=low) if self.has(key) else None

    def flag(self, key: str, default: bool) -> bool:
        value = self.doc.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"is {value!r}, not true or false")
        return value

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.doc.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.fail(key, f"is {value!r}, not a string")
        return value

    def items(self, key: str, length: int | None = None) -> list[Any] | None:
        value = self.doc.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self.fail(key, f"is {value!r}, not a list")
        if length is not None and len(value) != length:
            raise self.fail(key, f"has {len(value)} entries, not one per layer ({length})")
        return value

    def indices(self, key: str, layers: int) -> set[int] | None:
        """A list of layer indices (``mlp_only_layers``, ``moe_layers``), each in 0..layers-1."""
        value = self.items(key)
        if value is None:
            return None
        if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < layers for i in value):
            raise self.fail(key, f"must list layer indices 0..{layers - 1}")
        return set(value)

    def section(self, key: str) -> Reader | None:
        value = self.doc.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.fail(key, f"is {value!r}, not an object")
        return Reader(value, where=f"{self.where}{key}.", model_type=self.model_type)
