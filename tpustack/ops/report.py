"""`tpustack report`: compare runs from GCS prefixes or local directories.

Reads results with tpustack.ops.collect (what the runner and the heartbeat write, or raw tool files normalized on
the fly without metadata) and produces:

* a table of sweep points (rich), ``report.csv`` and ``report.json`` (its ``points``: one row per record, the
  columns of ``CSV_COLUMNS`` and more);
* ``throughput_vs_latency.png`` and the frontier and roofline pictures (tpustack.ops.pictures);
* cost: $/hour of the run's accelerators from the price table (tpustack/cost/prices.yaml) and its
  capacity type, then $ per 1M output tokens = $/h / (output tok/s x 3600) x 1e6 and
  $ per experiment = $/h x the run's wall time (start of readiness wait to last point);
* the best point under a latency SLO: among points that kept up, had no failures and meet every SLO at
  the chosen percentile, the lowest $ per 1M output tokens (the highest output tok/s per chip when a
  price is unknown), which is how GKE Inference Quickstart picks a configuration.

CLI side only (matplotlib, tpustack.cost); the Job never imports it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from tpustack.core import catalog, ceilings, outputs
from tpustack.core.contracts import Record, RecordMetadata
from tpustack.core.display import json_text
from tpustack.core.errors import InputError
from tpustack.cost import accelerator_hourly

from . import cold_start_report, compare
from .collect import Collection, Found, Skipped, collect
from .slo import Slo, check_percentile, of

__all__ = ["Collection", "Found", "Skipped", "best", "build", "collect", "meets_slo", "rows", "to_csv"]
# A row of the table (report.json "points", report.csv): a record's figures beside its price and ceilings.
Row = dict[str, Any]
METRICS = ("ttft", "tpot", "itl", "e2e")
PERCENTILES = ("p50", "p90", "p99")

CSV_COLUMNS = [
    "run_id",
    "stack",
    "engine",
    "accelerator",
    "chips",
    "capacity_type",
    "tool",
    "point",
    "request_rate",
    "max_concurrency",
    "achieved_rate",
    "kept_up",
    "completed",
    "failed",
    "requests_per_s",
    "output_tokens_per_s",
    "output_tokens_per_s_per_chip",
    *[f"{m}_{p}_ms" for m in METRICS for p in PERCENTILES],
    "goodput_rps",
    "prefix_hit_rate",
    "prefix_caching",
    "serving",
    "routing",
    "hourly_usd",
    "usd_per_1m_output_tokens",
    "usd_per_experiment",
    "meets_slo",
    "ceiling_output_tokens_per_s",
    "roofline_fraction",
    "measurement_error",
    "source",
]


# ----- cost --------------------------------------------------------------------------------------------
def hourly_cost(meta: RecordMetadata) -> tuple[float | None, str]:
    """USD/hour of the run's accelerators (all replicas) at its capacity type's list price."""
    name = meta.get("accelerator")
    shape = catalog.lookup(name) if isinstance(name, str) else None
    if shape is None:
        return None, "no catalog accelerator in the run's metadata"
    replicas = meta.get("replicas", 1)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        return None, f"metadata.replicas {replicas!r} is not a positive whole number"
    capacity = meta.get("capacity_type")
    return accelerator_hourly(shape, capacity if isinstance(capacity, str) else "on-demand", replicas)


def _parse_time(s: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(s) if isinstance(s, str) and s else None
    except ValueError:
        return None


def run_hours(run: dict | None, recs: list[Record]) -> float | None:
    """Wall time of a run: the manifest's start to finish, else the sum of its points' durations."""
    if run:
        a, b = _parse_time(run.get("started_at")), _parse_time(run.get("finished_at"))
        try:
            if a and b and b > a:
                return (b - a).total_seconds() / 3600
        except TypeError:  # one time with a zone, one without
            pass
    durs = [d for d in (r.get("duration_s") for r in recs) if d]
    return sum(durs) / 3600 if durs else None


# ----- rows, SLO, best point ---------------------------------------------------------------------------
def latency(rec: Record, metric: str, pct: str) -> Any:
    """A record's latency figure by the names SLO options and table columns use (untrusted: any JSON value)."""
    return cast(Mapping[str, Mapping[str, Any]], rec["latency_ms"])[metric].get(pct)


def meets_slo(rec: Record, slo: Slo | dict[str, float], pct: str = "p99") -> bool | None:
    """Whether a record meets every limit at its percentile (``slo`` a dict: every limit at ``pct``); None: no
    SLO."""
    limits = of(slo, pct).limits
    if not limits:
        return None
    for metric, (at, limit) in limits.items():
        value = latency(rec, metric, at)
        # Unknown or not finite never meets an SLO (record_problems already refuses non-finite values).
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value > limit:
            return False
    return True


def _obj(v: Any) -> dict:
    """A record's optional section (load, metadata) as a mapping; untrusted files may hold anything there."""
    return v if isinstance(v, dict) else {}


def _count(v: Any) -> int | None:
    """A positive whole number from an untrusted record, else None."""
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def point_ceiling(rec: Record) -> dict[str, Any]:
    """The point beside the ceilings of its configuration (tpustack.core.ceilings): the ceiling of output tok/s
    (all replicas), the fraction of roofline, and every ceiling it beats, which makes it a measurement error."""
    meta, load = _obj(rec.get("metadata")), _obj(rec.get("load"))
    dtype, kv = meta.get("model_dtype"), meta.get("kv_cache_dtype")
    c, why = ceilings.for_names(
        str(meta.get("accelerator")),
        str(meta.get("model")),
        dtype if isinstance(dtype, str) else None,
        kv_cache_dtype=kv if isinstance(kv, str) and kv != "auto" else None,
        speculative_tokens=_count(meta.get("speculative_tokens")) or 0,
        chips=_count(meta.get("chips_per_replica")),
    )
    if c is None:
        return {
            "ceiling_output_tokens_per_s": None,
            "roofline_fraction": None,
            "ceiling_violations": [],
            "measurement_error": None,
            "ceiling_note": f"no ceiling: {why}",
        }
    replicas = _count(meta.get("replicas")) or 1
    in_len, out_len = _count(load.get("input_len")), _count(load.get("output_len"))
    conc = _count(_obj(rec.get("point")).get("max_concurrency"))  # no replica batched more than were in flight
    t, lat = rec["throughput"], rec["latency_ms"]
    chk = ceilings.check_point(
        c,
        replicas=replicas,
        output_tokens_per_s=t["output_tokens_per_s"],
        total_tokens_per_s=t["total_tokens_per_s"],
        ttft_p50_ms=lat["ttft"]["p50"],
        tpot_p50_ms=lat["tpot"]["p50"],
        input_len=in_len,
        output_len=out_len,
        max_concurrency=conc,
    )
    return {
        "ceiling_output_tokens_per_s": c.decode_ceiling(in_len, conc) * replicas,
        "roofline_fraction": chk.roofline_fraction,
        "ceiling_violations": list(chk.violations),
        "measurement_error": bool(chk.violations),
        "ceiling_note": (
            f"{replicas} x {c.accelerator}, {c.model} {c.dtype}, context {in_len or 'unknown'}: {ceilings.BASIS}"
        ),
    }


def rows(col: Collection, slo: Slo | dict[str, float], pct: str = "p99") -> list[Row]:
    slo = of(slo, pct)
    by_run: dict[str, list[Found]] = {}
    for f in col.records:
        by_run.setdefault(f.metadata.get("run_id", "-"), []).append(f)
    out = []
    for run_id, found in by_run.items():
        meta = found[0].metadata
        hourly, basis = hourly_cost(meta)
        hours = run_hours(col.runs.get(run_id), [f.record for f in found])
        for f in found:
            out.append(_row(f, run_id, meta, slo, pct, hourly, basis, hours))
    return out


def _row(
    f: Found,
    run_id: str,
    meta: RecordMetadata,
    slo: Slo,
    pct: str,
    hourly: float | None,
    basis: str,
    hours: float | None,
) -> Row:
    r = f.record
    t, c = r["throughput"], r["client"]
    out_tps = t["output_tokens_per_s"]
    per_m = hourly / (out_tps * 3600) * 1e6 if hourly is not None and out_tps else None
    return {
        "run_id": run_id,
        "stack": meta.get("stack"),
        "engine": meta.get("engine"),
        "accelerator": meta.get("accelerator"),
        "chips": meta.get("chips"),
        "capacity_type": meta.get("capacity_type"),
        "tool": r["tool"],
        "point": r["point"]["index"],
        "request_rate": r["point"]["request_rate"],
        "max_concurrency": r["point"]["max_concurrency"],
        "achieved_rate": c["achieved_rate"],
        "kept_up": c["kept_up"],
        "completed": r["requests"]["completed"],
        "failed": r["requests"]["failed"],
        "requests_per_s": t["requests_per_s"],
        "output_tokens_per_s": out_tps,
        "output_tokens_per_s_per_chip": t["output_tokens_per_s_per_chip"],
        **{f"{m}_{p}_ms": latency(r, m, p) for m in METRICS for p in PERCENTILES},
        "goodput_rps": r["goodput"]["requests_per_s"],
        "hourly_usd": hourly,
        "cost_basis": basis,
        "usd_per_1m_output_tokens": per_m,
        "usd_per_experiment": hourly * hours if hourly is not None and hours else None,
        "meets_slo": meets_slo(r, slo, pct),
        **point_ceiling(r),
        "input_len": _count(_obj(r.get("load")).get("input_len")),
        "output_len": _count(_obj(r.get("load")).get("output_len")),
        "model": meta.get("model"),
        "replicas": meta.get("replicas"),
        "engine_args": meta.get("engine_args"),
        "source": f.location,
        # a record of an earlier version may have none
        "conversions": r.get("conversions", []),
        **compare.row_fields(r),  # hit rate (schema v2), setup axes and load key (tpustack.ops.compare)
    }


def best(table: list[dict]) -> dict | None:
    """Cheapest per output token among points that meet the SLO, kept up, lost no request and beat no
    physical ceiling."""
    ok = [
        r
        for r in table
        if r["meets_slo"] is not False
        and r["kept_up"] is not False
        and not r["failed"]
        and r["output_tokens_per_s"]
        and not r.get("measurement_error")
    ]
    if not ok:
        return None
    priced = [r for r in ok if r["usd_per_1m_output_tokens"] is not None]
    if priced:
        return min(priced, key=lambda r: r["usd_per_1m_output_tokens"])
    return max(ok, key=lambda r: r["output_tokens_per_s_per_chip"] or r["output_tokens_per_s"])


# ----- outputs -----------------------------------------------------------------------------------------
def to_csv(table: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in table:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_COLUMNS})
    return buf.getvalue()


def best_line(b: dict | None, slo: Slo) -> str:
    if b is None:
        return "no point meets the SLO while keeping up without failures and under every ceiling"
    cost = b["usd_per_1m_output_tokens"]
    under = f" under the SLO ({slo})" if slo else ""
    return (
        f"best point{under}"
        f": run {b['run_id']} point {b['point']} ({b['engine'] or b['tool']} on {b['accelerator'] or '?'}): "
        f"{b['output_tokens_per_s']:,.0f} out tok/s"
        + (f", ${cost:.3f} per 1M output tokens" if cost is not None else ", no price")
    )


def report_notes(doc: dict) -> list[str]:
    notes = [f"sources: {', '.join(doc['sources'])}", f"ceilings: {ceilings.BASIS}"]
    notes += [f"skipped {s['location']}: {s['reason']}" for s in doc.get("skipped", [])]
    return notes


def heartbeat_rows(col: Collection) -> list[dict]:
    out = []
    for h in col.heartbeats:
        w, r = h["workload"], h.get("result") or {}
        out.append(
            {
                "location": h["location"],
                "backend": h["backend"],
                "device": h["device"],
                "accelerator": h["accelerator"],
                "dtype": w["dtype"],
                "shape": f"{w['batch']}x{w['hidden']}x{w['intermediate']}",
                "ok": h["ok"],
                "ms_per_iteration": r.get("ms_per_iteration"),
                "achieved_tflops": r.get("achieved_tflops"),
                "fraction_of_roofline": r.get("fraction_of_roofline"),
                "error": h.get("error"),
            }
        )
    return out


REPORT_FILES = (
    "report.csv",
    "report.json",
    "throughput_vs_latency.png",
    "frontier.png",
    "roofline.png",
    "report.html",
)


def check_out_dir(out_dir: Path, names: tuple[str, ...] = REPORT_FILES) -> None:
    """Reports are write-once like results: refuse a file, a link, or a directory that already holds a report."""
    outputs.check_dir(out_dir, "--out", empty=False, names=names)


def _write(doc: dict, table: list[dict], top: dict | None, tmp: Path, out_dir: Path, slo: Slo, pct: str) -> None:
    """The report's files into the staging directory ``tmp``; ``doc["files"]`` names where they land. Every file
    is written whatever the results hold: one point, none that can be ranked, or only heartbeats."""
    from . import pictures

    files: dict[str, str] = doc["files"]
    (tmp / "report.csv").write_text(to_csv(table))
    names = {"csv": "report.csv"}
    doc["plot_series"] = pictures.throughput_vs_latency(table, top, tmp / "throughput_vs_latency.png", slo.lines(), pct)
    names["plot"] = "throughput_vs_latency.png"
    names.update(
        pictures.write_all(
            table,
            tmp,
            slo_lines=slo.lines(),
            chosen=top,
            headline=[best_line(top, slo)],
            title="tpustack report",
            notes=report_notes(doc),
        )
    )
    names["json"] = "report.json"
    files.update({k: str(out_dir / v) for k, v in names.items()})
    (tmp / "report.json").write_text(json_text(doc))


def build(sources: list[str], out_dir: Path | None, slo: Slo | dict[str, float], pct: str = "p99") -> dict:
    """Collect, price, rank and write the report files; returns the report document. ``slo``: an Slo (per-metric
    percentiles, tpustack.ops.slo) or {metric: ms} at ``pct``."""
    check_percentile(pct)
    slo = of(slo, pct)
    if out_dir is not None:
        check_out_dir(out_dir)
    col = collect(sources)
    if not col.records and not col.heartbeats:
        skipped = (
            f" ({len(col.skipped)} file(s) could not be used: {col.skipped[0].location}: {col.skipped[0].reason})"
            if col.skipped
            else ""
        )
        raise InputError(
            f"no usable benchmark results in {', '.join(sources)}{skipped}",
            fix="point at a directory or gs:// prefix holding run.json / points/*.json / heartbeat.json, or tool "
            "result files",
        )
    table = rows(col, slo, pct)
    top = best(table)
    files: dict[str, str] = {}
    doc: dict[str, Any] = {
        "sources": sources,
        "slo_ms": slo.ms(),
        "slo_percentile": pct,
        "slo": slo.to_json(),
        "points": table,
        "best": top,
        "runs": {
            k: {kk: v.get(kk) for kk in ("run_id", "stack", "status", "started_at", "finished_at", "uri")}
            for k, v in col.runs.items()
        },
        "comparisons": compare.pairs(table),  # same load, one setup axis apart
        "heartbeats": heartbeat_rows(col),
        "cold_start": cold_start_report.rows(col),  # measured phases per run, beside the plan's estimate
        "skipped": [sk.to_json() for sk in col.skipped],
        "files": files,
    }
    if out_dir is not None:
        with outputs.staged_dir(out_dir, "--out", empty=False, names=REPORT_FILES) as tmp:
            _write(doc, table, top, tmp, out_dir, slo, pct)
    return doc
