"""The latency SLO `report` and `recommend` both take: one syntax, one parser, one meaning.

``--slo METRIC[:PCT]<=MS,...`` (metrics ttft, tpot, e2e; percentiles p50, p90, p99, p99 when left out; ms unless
``s`` is given), e.g. ``--slo 'ttft:p99<=500ms,tpot:p99<=50ms'``. `report` also keeps its older options
``--slo-ttft-ms``, ``--slo-tpot-ms``, ``--slo-e2e-ms`` (at ``--slo-percentile``) as aliases: ``merged`` turns them into
the same ``Slo``, and refuses a limit that is not a positive number of milliseconds (0 was once dropped silently).

CLI side only; the Job never imports it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from tpustack.core.errors import UsageError

METRICS = ("ttft", "tpot", "e2e")
PERCENTILES = ("p50", "p90", "p99")
FIX = "e.g. --slo 'ttft:p99<=500ms,tpot:p99<=50ms' (metrics ttft, tpot, e2e; percentiles p50, p90, p99)"

_SLO_ITEM = re.compile(
    r"^\s*(?P<metric>[a-z0-9]+)(?:[:@ ](?P<pct>p?\d+))?\s*(?:<=|=|<)\s*(?P<value>[0-9.eE+-]+)\s*(?P<unit>ms|s)?\s*$"
)


@dataclass(frozen=True)
class Slo:
    """Latency limits in ms, each at its percentile: {"ttft": ("p99", 500.0), ...}; empty: no SLO."""

    limits: dict[str, tuple[str, float]]

    def to_json(self) -> dict:
        return {m: {"percentile": p, "ms": v} for m, (p, v) in self.limits.items()}

    def ms(self) -> dict[str, float]:
        """{metric: limit in ms} (the report's ``slo_ms``)."""
        return {m: v for m, (_, v) in self.limits.items()}

    def lines(self) -> dict[str, tuple[str, float]]:
        """{metric: (percentile, ms)}: what the pictures draw."""
        return dict(self.limits)

    def __bool__(self) -> bool:
        return bool(self.limits)

    def __str__(self) -> str:
        return ", ".join(f"{m.upper()} {p} <= {v:g} ms" for m, (p, v) in self.limits.items()) or "none"


def check_percentile(pct: str, option: str = "--slo-percentile") -> str:
    if pct not in PERCENTILES:
        raise UsageError(f"{option} {pct!r}: unknown", fix="p50, p90 or p99")
    return pct


def parse_slo(text: str, default_pct: str = "p99") -> Slo:
    """``ttft:p99<=500ms,tpot:p90<=50`` (percentile ``default_pct`` when left out; ms unless ``s`` is given)."""
    limits: dict[str, tuple[str, float]] = {}
    items = [i for i in text.split(",") if i.strip()]
    if not items:
        raise UsageError(f"--slo {text!r}: empty", fix=FIX)
    for item in items:
        m = _SLO_ITEM.match(item.lower())
        if not m:
            raise UsageError(f"--slo item {item.strip()!r}: not METRIC[:PERCENTILE]<=VALUE[ms|s]", fix=FIX)
        metric = m["metric"]
        if metric == "e2el":
            metric = "e2e"
        if metric not in METRICS:
            raise UsageError(f"--slo item {item.strip()!r}: unknown metric {metric!r}", fix=FIX)
        pct = m["pct"] or default_pct
        pct = pct if pct.startswith("p") else f"p{pct}"
        if pct not in PERCENTILES:
            raise UsageError(
                f"--slo item {item.strip()!r}: percentile {pct} is not recorded", fix="use p50, p90 or p99"
            )
        try:
            value = float(m["value"]) * (1000.0 if m["unit"] == "s" else 1.0)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise UsageError(f"--slo item {item.strip()!r}: {m['value']!r} is not a positive number", fix=FIX)
        if metric in limits:
            raise UsageError(f"--slo: {metric} is given twice", fix="one limit per metric")
        limits[metric] = (pct, value)
    return Slo(limits)


def merged(text: str | None, aliases: dict[str, float | None], pct: str = "p99") -> Slo:
    """``--slo`` and the older ``--slo-METRIC-ms`` options (at ``pct``) as one Slo; each limit given once."""
    check_percentile(pct)
    limits = dict(parse_slo(text, pct).limits) if text is not None else {}
    for metric, v in aliases.items():
        if v is None:
            continue
        option = f"--slo-{metric}-ms"
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise UsageError(f"{option} {v:g}: not a positive number of milliseconds", fix=f"e.g. {option} 500")
        if metric in limits:
            raise UsageError(f"{option} and --slo both set {metric}", fix="give each limit once")
        limits[metric] = (pct, float(v))
    return Slo(limits)


def of(slo: Slo | dict[str, float] | None, pct: str = "p99") -> Slo:
    """An Slo from either form callers hold: an Slo, or {metric: ms} all at ``pct`` (checked like the options)."""
    if isinstance(slo, Slo):
        return slo
    return merged(None, dict(slo or {}), pct)
