"""`tpustack report`: compare runs from GCS prefixes or local directories.

Reads what the runner and the heartbeat write (``<prefix>/<run_id>/run.json``, ``points/NNN.json``,
``heartbeat.json``), or raw tool files (normalized on the fly, without metadata), and produces:

* a table of sweep points (rich), ``report.csv`` and ``report.json``;
* ``throughput_vs_latency.png``: output tokens/s against TTFT and TPOT per run, one colour per
  engine/accelerator, the best point under the SLO starred;
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
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tpustack.core import catalog, ceilings, contracts
from tpustack.core.errors import InputError, UsageError
from tpustack.cost import accelerator_hourly
from tpustack.workloads import gcs, results, tools

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
    *[f"{m}_{p}_ms" for m in ("ttft", "tpot", "itl", "e2e") for p in ("p50", "p90", "p99")],
    "goodput_rps",
    "hourly_usd",
    "usd_per_1m_output_tokens",
    "usd_per_experiment",
    "meets_slo",
    "ceiling_output_tokens_per_s",
    "roofline_fraction",
    "measurement_error",
    "source",
]


@dataclass(frozen=True)
class Skipped:
    """A file the report could not use, and why (reported, never silently dropped)."""

    location: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"location": self.location, "reason": self.reason}


@dataclass
class Collection:
    records: list[dict] = field(default_factory=list)
    runs: dict[str, dict] = field(default_factory=dict)  # run_id -> run.json
    heartbeats: list[dict] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


HEARTBEAT_SCHEMA = "tpustack.heartbeat/v1"


def _heartbeat_problems(doc: dict) -> list[str]:
    out = []
    w = doc.get("workload")
    if not isinstance(w, dict) or not all(isinstance(w.get(k), int) for k in ("batch", "hidden", "intermediate")):
        out.append("workload.batch/hidden/intermediate missing or not integers")
    for k in ("backend", "device", "accelerator"):
        if not isinstance(doc.get(k), str):
            out.append(f"{k} missing or not a string")
    if not isinstance(doc.get("ok"), bool):
        out.append("ok missing or not true/false")
    r = doc.get("result") or {}
    if not isinstance(r, dict):
        out.append("result is not an object")
    else:
        for k in ("ms_per_iteration", "achieved_tflops", "fraction_of_roofline"):
            why = results.bad_number(r.get(k))
            if why:
                out.append(f"result.{k}: {why}")
    return out


# Per-request files the tools write beside their summaries; read with the summary, not on their own.
COMPANION_FILES = ("request-outputs.json", "per_request_lifecycle_metrics.json")


def _add(col: Collection, source: str, name: str, doc: Any, location: str) -> None:
    """One JSON document found under a source: a record, a run manifest, a heartbeat or a tool's raw file."""
    if name.rsplit("/", 1)[-1] in COMPANION_FILES:
        return
    if not isinstance(doc, dict):
        col.skipped.append(Skipped(location, f"holds a JSON {type(doc).__name__}, not an object"))
        return
    schema = doc.get("schema")
    parts = name.split("/")
    if schema == contracts.RECORD_SCHEMA:
        problems = results.record_problems(doc)
        if problems:
            col.skipped.append(Skipped(location, "; ".join(problems)))
            return
        meta = doc.setdefault("metadata", {})
        if not isinstance(meta.get("run_id"), str) or not meta["run_id"]:
            meta["run_id"] = "/".join([source.rstrip("/"), *parts[:-2]]) if len(parts) >= 3 else location
        doc["location"] = location
        col.records.append(doc)
    elif schema == contracts.RUN_SCHEMA:
        if not isinstance(doc.get("run_id"), str) or not doc["run_id"]:
            col.skipped.append(Skipped(location, "run manifest without a run_id"))
            return
        col.runs[doc["run_id"]] = doc
    elif schema == HEARTBEAT_SCHEMA:
        problems = _heartbeat_problems(doc)
        if problems:
            col.skipped.append(Skipped(location, "; ".join(problems)))
            return
        doc["location"] = location
        col.heartbeats.append(doc)
    elif "raw" not in parts[:-1] and (tool := tools.detect(doc)) is not None:
        # A tool's own file outside a run: normalized without metadata. Its run is its directory under the
        # source and its tool, so files of different tools or directories never merge into one curve.
        stage = tool.stage_of_file(parts[-1])
        if stage is None:
            return  # e.g. inference-perf's summary files repeat its stage files
        try:
            rec = results.normalize(doc, source_file=name, stage=stage)
        except results.ResultFormatError as e:
            col.skipped.append(Skipped(location, str(e)))
            return
        folder = "/".join([source.rstrip("/"), *parts[:-1]])
        rec["metadata"] = {"run_id": f"{folder}#{tool.name}"}
        found: dict = dict(rec)
        found["location"] = location
        col.records.append(found)


def _read_json(text: bytes | str, location: str, col: Collection) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        col.skipped.append(Skipped(location, f"not JSON ({type(e).__name__})"))
        return None


def collect(sources: list[str]) -> Collection:
    """Every result under the sources; what cannot be used is listed in ``skipped`` with the reason."""
    col = Collection()
    for src in sources:
        if src.startswith("gs://"):
            prefix = src.rstrip("/") + "/"
            uris = [u for u in gcs.list_uris(prefix) if u.endswith(".json")]
            if not uris:
                raise InputError(
                    f"{src}: no result objects under that prefix. Fix: pass gs://BUCKET/STACK (or .../RUN_ID) "
                    "as the runs were written"
                )
            for uri in uris:
                doc = _read_json(gcs.read(uri), uri, col)
                if doc is not None:
                    _add(col, src, uri[len(prefix) :], doc, uri)
        else:
            root = Path(src)
            if not root.is_dir():
                raise InputError(
                    f"{src}: not a directory or gs:// prefix. Fix: pass a results directory or gs://BUCKET/STACK"
                )
            for path in sorted(root.rglob("*.json")):
                try:
                    data = path.read_bytes()
                except OSError as e:
                    col.skipped.append(Skipped(str(path), f"cannot be read ({e.strerror})"))
                    continue
                doc = _read_json(data, str(path), col)
                if doc is not None:
                    _add(col, src, path.relative_to(root).as_posix(), doc, str(path))
    col.records.sort(key=lambda r: (str(r["metadata"].get("run_id", "")), r["point"].get("index", 0)))
    return col


# ----- cost --------------------------------------------------------------------------------------------
def hourly_cost(meta: dict) -> tuple[float | None, str]:
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


def run_hours(run: dict | None, recs: list[dict]) -> float | None:
    """Wall time of a run: the manifest's start to finish, else the sum of its points' durations."""
    if run:
        a, b = _parse_time(run.get("started_at")), _parse_time(run.get("finished_at"))
        try:
            if a and b and b > a:
                return (b - a).total_seconds() / 3600
        except TypeError:  # one time with a zone, one without
            pass
    durs = [r["duration_s"] for r in recs if r.get("duration_s")]
    return sum(durs) / 3600 if durs else None


# ----- rows, SLO, best point ---------------------------------------------------------------------------
def meets_slo(rec: dict, slo: dict[str, float], pct: str) -> bool | None:
    if not slo:
        return None
    for metric, limit in slo.items():
        value = rec["latency_ms"][metric].get(pct)
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


def point_ceiling(rec: dict) -> dict:
    """The point beside the ceilings of its configuration (tpustack.core.ceilings): the ceiling of output tok/s
    (all replicas), the fraction of roofline, and every ceiling it beats, which makes it a measurement error."""
    meta, load = _obj(rec.get("metadata")), _obj(rec.get("load"))
    dtype = meta.get("model_dtype")
    c, why = ceilings.for_names(
        str(meta.get("accelerator")), str(meta.get("model")), dtype if isinstance(dtype, str) else None
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
    )
    return {
        "ceiling_output_tokens_per_s": c.decode_ceiling(in_len) * replicas,
        "roofline_fraction": chk.roofline_fraction,
        "ceiling_violations": list(chk.violations),
        "measurement_error": bool(chk.violations),
        "ceiling_note": (
            f"{replicas} x {c.accelerator}, {c.model} {c.dtype}, context {in_len or 'unknown'}: {ceilings.BASIS}"
        ),
    }


def rows(col: Collection, slo: dict[str, float], pct: str = "p99") -> list[dict]:
    by_run: dict[str, list[dict]] = {}
    for r in col.records:
        by_run.setdefault(r["metadata"].get("run_id", "-"), []).append(r)
    out = []
    for run_id, recs in by_run.items():
        meta = recs[0]["metadata"]
        hourly, basis = hourly_cost(meta)
        hours = run_hours(col.runs.get(run_id), recs)
        for r in recs:
            t, lat, c = r["throughput"], r["latency_ms"], r["client"]
            out_tps = t["output_tokens_per_s"]
            per_m = hourly / (out_tps * 3600) * 1e6 if hourly is not None and out_tps else None
            out.append(
                {
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
                    **{f"{m}_{p}_ms": lat[m][p] for m in ("ttft", "tpot", "itl", "e2e") for p in ("p50", "p90", "p99")},
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
                    "source": r.get("location") or r["source_file"],
                    "conversions": r["conversions"],
                }
            )
    return out


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


def plot(table: list[dict], best_row: dict | None, path: Path, slo: dict[str, float], pct: str) -> list[str]:
    """Output tok/s vs TTFT and TPOT at the SLO percentile, one curve per run; returns the curve labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def group(r: dict) -> tuple[str, str]:
        return (r["engine"] or r["tool"], r["accelerator"] or "?")

    groups = sorted({group(r) for r in table})
    colours = {g: plt.get_cmap("tab10")(i % 10) for i, g in enumerate(groups)}
    markers = "os^Dv<>pPX"
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    labels = []
    for i, run in enumerate(sorted({r["run_id"] for r in table})):
        pts = sorted(
            (r for r in table if r["run_id"] == run), key=lambda r: r["request_rate"] or r["max_concurrency"] or 0
        )
        g = group(pts[0])
        label = f"{run} ({g[0]} / {g[1]})"
        drawn = False
        for ax, metric in zip(axes, ("ttft", "tpot"), strict=False):
            xy = [
                (r["output_tokens_per_s"], r[f"{metric}_{pct}_ms"])
                for r in pts
                if r[f"{metric}_{pct}_ms"] is not None and r["output_tokens_per_s"] is not None
            ]
            if xy:
                ax.plot(*zip(*xy, strict=False), marker=markers[i % len(markers)], color=colours[g], label=label)
                drawn = True
        if drawn:
            labels.append(label)
    for ax, metric in zip(axes, ("ttft", "tpot"), strict=False):
        if metric in slo:
            ax.axhline(slo[metric], color="grey", linestyle="--", linewidth=1, label=f"SLO {slo[metric]:g} ms")
        if best_row and best_row.get(f"{metric}_{pct}_ms") is not None:
            ax.plot(
                [best_row["output_tokens_per_s"]],
                [best_row[f"{metric}_{pct}_ms"]],
                marker="*",
                markersize=18,
                color="gold",
                markeredgecolor="black",
                linestyle="none",
                label="best under SLO",
            )
        ax.set_xlabel("output tokens/s (all replicas)")
        ax.set_ylabel(f"{metric.upper()} {pct} (ms)")
        ax.set_title(f"Throughput vs {metric.upper()} {pct}")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("tpustack serving benchmark: one curve per run, one colour per engine / accelerator")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return labels


def best_line(b: dict | None, slo: dict[str, float], pct: str) -> str:
    if b is None:
        return "no point meets the SLO while keeping up without failures and under every ceiling"
    cost = b["usd_per_1m_output_tokens"]
    under = " under the SLO (" + ", ".join(f"{k} {pct} <= {v:g} ms" for k, v in slo.items()) + ")" if slo else ""
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
    """Reports are write-once like results: refuse a file, or a directory that already holds a report."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir}: is a file. Fix: pass a directory (new or empty), e.g. --out report-1")
    taken = [f for f in names if (out_dir / f).exists()]
    if taken:
        raise InputError(
            f"--out {out_dir}: already holds a report ({', '.join(taken)}); reports are never "
            "replaced. Fix: pass a new directory, or move the old report away"
        )


def build(sources: list[str], out_dir: Path | None, slo: dict[str, float], pct: str = "p99") -> dict:
    """Collect, price, rank and write the report files; returns the report document."""
    if pct not in ("p50", "p90", "p99"):
        raise UsageError(f"--slo-percentile {pct}: unknown. Fix: p50, p90 or p99")
    for k, v in slo.items():
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise UsageError(f"--slo-{k}-ms {v}: not a positive number of milliseconds. Fix: e.g. 500")
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
            f"no usable benchmark results in {', '.join(sources)}{skipped}. Fix: point at a directory or "
            "gs:// prefix holding run.json / points/*.json / heartbeat.json, or tool result files"
        )
    table = rows(col, slo, pct)
    top = best(table)
    files: dict[str, str] = {}
    doc: dict[str, Any] = {
        "sources": sources,
        "slo_ms": slo,
        "slo_percentile": pct,
        "points": table,
        "best": top,
        "runs": {
            k: {kk: v.get(kk) for kk in ("run_id", "stack", "status", "started_at", "finished_at", "uri")}
            for k, v in col.runs.items()
        },
        "heartbeats": heartbeat_rows(col),
        "skipped": [sk.to_json() for sk in col.skipped],
        "files": files,
    }
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)  # checked above: new, or without a report
        (out_dir / "report.csv").write_text(to_csv(table))
        files["csv"] = str(out_dir / "report.csv")
        if table:
            from . import pictures

            png = out_dir / "throughput_vs_latency.png"
            doc["plot_series"] = plot(table, top, png, slo, pct)
            files["plot"] = str(png)
            files.update(
                pictures.write_all(
                    table,
                    out_dir,
                    slo_lines={k: (pct, v) for k, v in slo.items()},
                    chosen=top,
                    headline=[best_line(top, slo, pct)],
                    title="tpustack report",
                    notes=report_notes(doc),
                )
            )
        files["json"] = str(out_dir / "report.json")
        (out_dir / "report.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return doc
