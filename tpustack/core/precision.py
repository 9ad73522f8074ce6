"""The number formats an accelerator's matrix units run, and a chip's dense peak in each of them.

A chip's peak depends on the format its matrix units multiply in: v6e runs int8 at twice its bf16 rate but fp8 at
the bf16 rate, tpu7x and H100 run fp8 at twice bf16, B200 fp4 at twice fp8. The catalog (tpustack.core.catalog,
tpustack.core.gpus) records, per TPU generation and GPU model, the dense (no structured sparsity) peak of each
format its matrix units actually run, with the source of each number; a format that is absent has no rate there
(``None``), and callers treat that as unknown, never as zero or as the bf16 rate.

Stdlib only, Python 3.10-compatible: pods import tpustack.core.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .enums import StrEnum


class Precision(StrEnum):
    """A format the matrix units multiply in (weights and activations both in it: W8A8, not weight-only int8)."""

    BF16 = "bf16"
    FP8 = "fp8"
    INT8 = "int8"
    FP4 = "fp4"
    INT4 = "int4"


def peak_table(bf16: float, others: Mapping[Precision, float]) -> Mapping[Precision, float]:
    """A read-only {precision: dense TFLOP/s (TOP/s for integers) per chip}, bf16 first, every rate positive."""
    table = {Precision.BF16: bf16, **others}
    for p, v in table.items():
        if not isinstance(p, Precision) or not v > 0:
            raise ValueError(f"peak {p!r}: {v!r} is not a positive rate of a Precision")
    return MappingProxyType(table)
