"""Building the one result record (tpustack.core.contracts.Record) that every benchmark tool's normalizer fills.

One record per sweep point (a request rate or a concurrency), whatever tool measured it:

* throughput: requests/s, input/output/total tokens/s, and output/total tokens/s per chip;
* latency in ms (mean, p50, p90, p99) of TTFT, TPOT, ITL and E2E, with ONE definition of TPOT:
  ``(E2E - TTFT) / (output tokens - 1)`` per request, over requests with more than one output token;
* failures, goodput against the SLOs (a request is good when it meets every SLO that is set),
* the load model and proof the client kept up (requested vs achieved arrival rate, schedule delay),
* conversions: a line for every place a tool's own definition had to be converted, or a figure could
  not be derived and is left empty rather than guessed,
* metadata (stack, engine, image, engine args, accelerator, topology, capacity, model, dataset, git
  revision, timestamps) added by the runner from the benchmark spec (``finish``).

How each tool defines its own figures, and what tpustack converts, is in its module (tpustack.workloads.tools).
Stdlib only: this module runs inside the benchmark image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tpustack.core.contracts import (
    RECORD_SCHEMA,
    Goodput,
    Record,
    RecordMetadata,
    SpecLoad,
    Stats,
)

PERCENTILES = (50, 90, 99)  # the pNN keys of contracts.Stats
TPOT_DEFINITION = "(E2E - TTFT) / (output tokens - 1), per request with > 1 output token"
# The client kept up when it sent at least this share of the requested arrival rate.
KEPT_UP_TOLERANCE = 0.9
# How an achieved rate that can only understate the send rate is labelled (JetStream records no send times).
LOWER_BOUND_BASIS = "lower bound: completed / duration"
SEND_TIMES_BASIS = "send times: (n - 1) / (last send - first send)"


# ----- statistics ----------------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), so figures match the tools'."""
    if not values:
        raise ValueError("percentile of no values")
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def stats_of(mean: float | None, at: Callable[[int], float | None]) -> Stats:
    """A Stats block from its mean and a function giving the value at each of PERCENTILES."""
    return {"mean": mean, "p50": at(50), "p90": at(90), "p99": at(99)}


def stats(values: Iterable[float]) -> Stats:
    xs = [float(v) for v in values]
    if not xs:
        return empty_stats()
    return stats_of(sum(xs) / len(xs), lambda p: percentile(xs, p))


def empty_stats() -> Stats:
    return stats_of(None, lambda p: None)


def num(v: Any) -> float | None:
    """A finite number from an untrusted field, else None (booleans are not numbers)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def scaled(d: Stats, factor: float) -> Stats:
    def s(v: float | None) -> float | None:
        return v * factor if v is not None else None

    return {"mean": s(d["mean"]), "p50": s(d["p50"]), "p90": s(d["p90"]), "p99": s(d["p99"])}


# ----- the record ----------------------------------------------------------------------------------------
def new_record(tool: str, source_file: str) -> Record:
    return {
        "schema": RECORD_SCHEMA,
        "tool": tool,
        "source_file": source_file,
        "point": {"index": 0, "request_rate": None, "max_concurrency": None},
        "load": {},
        "client": {
            "requested_rate": None,
            "achieved_rate": None,
            "achieved_rate_basis": None,
            "kept_up": None,
            "schedule_delay_p99_ms": None,
        },
        "requests": {"completed": None, "failed": None},
        "duration_s": None,
        "throughput": {
            "requests_per_s": None,
            "input_tokens_per_s": None,
            "output_tokens_per_s": None,
            "total_tokens_per_s": None,
            "output_tokens_per_s_per_chip": None,
            "total_tokens_per_s_per_chip": None,
        },
        "latency_ms": {"ttft": empty_stats(), "tpot": empty_stats(), "itl": empty_stats(), "e2e": empty_stats()},
        "tpot_definition": TPOT_DEFINITION,
        "goodput": {"slo_ms": {}, "good_requests": None, "requests_per_s": None, "fraction": None, "basis": None},
        "conversions": [],
        "server_metrics": {},
        "metadata": {},
    }


def kept_up(record: Record, tolerance: float) -> None:
    c = record["client"]
    req, ach = c.get("requested_rate"), c["achieved_rate"]
    if req is None or ach is None:
        return
    if c.get("achieved_rate_basis") == LOWER_BOUND_BASIS:
        # A lower bound proves the client kept up when it clears the bar; below it, nothing is proven.
        c["kept_up"] = True if ach >= tolerance * req else None
    else:
        c["kept_up"] = ach >= tolerance * req


def slo_ms(slo: Mapping[str, object] | None) -> dict[str, float]:
    """The SLOs in ms, from the spec's keys (ttft_ms) or the config's (ttftMs) or bare names (ttft)."""
    slo = slo or {}
    keys = {
        "ttft": ("ttft_ms", "ttftMs", "ttft"),
        "tpot": ("tpot_ms", "tpotMs", "tpot"),
        "e2e": ("e2e_ms", "e2eMs", "e2e"),
    }
    out = {}
    for k, names in keys.items():
        for n in names:
            v = num(slo.get(n))
            if v is not None:
                out[k] = v
                break
    return out


def goodput_from_requests(
    ttft_s: list[float],
    tpot_s: list[float],
    e2e_s: list[float],
    slo: dict[str, float],
    duration_s: float | None,
    completed: int,
) -> Goodput:
    """Requests meeting every set SLO (ms), per second of the run and as a share of completed requests."""
    good = 0
    for t, p, e in zip(ttft_s, tpot_s, e2e_s, strict=False):
        ok = (
            ("ttft" not in slo or t * 1e3 <= slo["ttft"])
            and ("tpot" not in slo or p * 1e3 <= slo["tpot"])
            and ("e2e" not in slo or e * 1e3 <= slo["e2e"])
        )
        good += ok
    return {
        "slo_ms": slo,
        "good_requests": good,
        "requests_per_s": good / duration_s if duration_s else None,
        "fraction": good / completed if completed else None,
        "basis": "per-request, computed by tpustack",
    }


def per_request(
    record: Record,
    ttft_s: list[float],
    e2e_s: list[float],
    n_out: list[float],
    itl_s: list[float] | None,
    slo: dict[str, float],
    duration_s: float | None,
) -> None:
    """Fill latency (and goodput) from per-request figures with the one TPOT definition."""
    tpot_s = [(e - t) / (n - 1) for t, e, n in zip(ttft_s, e2e_s, n_out, strict=False) if n > 1]
    lat = record["latency_ms"]
    lat["ttft"] = scaled(stats(ttft_s), 1e3)
    lat["e2e"] = scaled(stats(e2e_s), 1e3)
    lat["tpot"] = scaled(stats(tpot_s), 1e3)
    if itl_s is not None:
        lat["itl"] = scaled(stats(itl_s), 1e3)
    if slo:
        # A request with one output token has no TPOT; like vLLM, count it as meeting the TPOT SLO.
        all_tpot = [(e - t) / (n - 1) if n > 1 else 0.0 for t, e, n in zip(ttft_s, e2e_s, n_out, strict=False)]
        record["goodput"] = goodput_from_requests(ttft_s, all_tpot, e2e_s, slo, duration_s, len(ttft_s))


def send_rate(record: Record, starts: list[float]) -> None:
    """The achieved (offered) rate from the requests' send times (only differences count)."""
    if len(starts) > 1 and max(starts) > min(starts):
        record["client"]["achieved_rate"] = (len(starts) - 1) / (max(starts) - min(starts))
        record["client"]["achieved_rate_basis"] = SEND_TIMES_BASIS


def finish(
    record: Record,
    *,
    chips: int | None,
    metadata: RecordMetadata | None = None,
    load: SpecLoad | None = None,
    index: int | None = None,
) -> Record:
    """Per-chip throughput, metadata and the spec's load model."""
    if index is not None:
        record["point"]["index"] = index
    if metadata:
        record["metadata"] = {**record["metadata"], **metadata}
    if load:
        record["load"] = {**record["load"], **load}
    t = record["throughput"]
    if chips:
        if t["output_tokens_per_s"] is not None:
            t["output_tokens_per_s_per_chip"] = t["output_tokens_per_s"] / chips
        if t["total_tokens_per_s"] is not None:
            t["total_tokens_per_s_per_chip"] = t["total_tokens_per_s"] / chips
    return record
