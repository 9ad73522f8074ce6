"""The base of tpustack's closed sets (engines, benchmark tools, capacity types, roles).

``enum.StrEnum`` is Python 3.11+, but pod code also runs on Python 3.10 (the TPU VM runtime's Ubuntu 22.04 and
the PyTorch/XLA r2.7.0 image), so the closed sets use this equivalent: members are their values as strings
(``str(m)``, f-strings, ``json.dumps`` and comparisons with plain strings all give the value).
"""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):  # noqa: UP042 (enum.StrEnum is 3.11+; pods run 3.10)
    """A closed set of names whose members are the strings users and files spell."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(str(m.value) for m in cls)
