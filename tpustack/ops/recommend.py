"""`tpustack recommend`: the cheapest measured configuration that serves a demand within an SLO.

Reads results with the report's readers (local directories or gs:// prefixes, many runs), then:

1. groups points by configuration (model, accelerator, engine and its arguments, capacity type);
2. excludes, with the reason, every point that cannot be evidence: a run that failed, lost requests, a client
   that did not keep up with the requested rate (the latency was measured at a lower load than labelled),
   a missed SLO, a figure above a physical ceiling (tpustack.core.ceilings: a measurement error), a load whose
   prompt/output lengths are not the demand's, another model, no price;
3. for every remaining point: replicas needed = ceil(demand req/s / the point's completed req/s per replica),
   $/hour for the demand = replicas x $/hour of one replica (accelerators at the run's capacity type's list
   price, tpustack/cost/prices.yaml), $/1M output tokens at the point; each configuration is represented by
   its cheapest point for the demand;
4. answers the cheapest configuration, the runner-ups, and the exclusions. A replica is assumed to serve at
   least as well below the load it was measured at, and a load balancer to spread the demand evenly.

When no measured point fits, the ceilings name which single-host configurations could fit at all and what
they would cost at best: an estimate (a lower bound on cost) to decide what to measure next, never a result.

CLI side only; the Job never imports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpustack.config.model import ModelConfig
from tpustack.core import catalog, ceilings, models, outputs
from tpustack.core.display import json_text
from tpustack.core.errors import InputError, UsageError
from tpustack.cost import accelerator_hourly

from . import report
from .slo import METRICS, PERCENTILES, Slo, parse_slo

__all__ = ["METRICS", "PERCENTILES", "Demand", "Slo", "parse_slo", "recommend"]

# A measured load counts for a demand when its prompt and output lengths are within this share of the
# demand's: latency and throughput scale with both, so a 128-token benchmark says little about 1024 tokens.
LENGTH_TOLERANCE = 0.25


@dataclass(frozen=True)
class Demand:
    requests_per_s: float
    input_len: int
    output_len: int

    def to_json(self) -> dict:
        return {"requests_per_s": self.requests_per_s, "input_len": self.input_len, "output_len": self.output_len}


# A demand beyond these is a typo, and would overflow the replica count (demand / a point's req/s per replica).
MAX_DEMAND_RPS = 1e9
MAX_DEMAND_TOKENS = 10**8


def check_demand(d: Demand) -> None:
    if not (math.isfinite(d.requests_per_s) and 0 < d.requests_per_s <= MAX_DEMAND_RPS):
        raise UsageError(
            f"--rps {d.requests_per_s:g}: not a positive rate up to {MAX_DEMAND_RPS:g}",
            fix="the demand in requests/s, e.g. 20",
        )
    for name, v in (("--input-len", d.input_len), ("--output-len", d.output_len)):
        if not 1 <= v <= MAX_DEMAND_TOKENS:
            raise UsageError(
                f"{name} {v}: not a positive token count up to {MAX_DEMAND_TOKENS:g}", fix=f"e.g. {name} 1024"
            )


def config_key(row: dict) -> str:
    """One configuration: accelerator x capacity type x engine and its arguments (the model is the demand's)."""
    raw = row.get("engine_args")
    args: dict = raw if isinstance(raw, dict) else {}
    knobs = ",".join(f"{k}={v}" for k, v in sorted(args.items()) if k not in ("port", "replicas"))
    engine = row["engine"] or row["tool"]
    return f"{row['accelerator'] or '?'} {row['capacity_type'] or 'on-demand'} {engine}" + (
        f" [{knobs}]" if knobs else ""
    )


def _lengths_match(row: dict, d: Demand) -> str | None:
    il, ol = row.get("input_len"), row.get("output_len")
    if not isinstance(il, int) or not isinstance(ol, int):
        return "its load's prompt/output lengths are not recorded (raw tool file without the run's metadata)"
    for have, want in ((il, d.input_len), (ol, d.output_len)):
        if abs(have - want) > LENGTH_TOLERANCE * want:
            return f"measured at {il}/{ol} prompt/output tokens, the demand is {d.input_len}/{d.output_len}"
    return None


def _slo_misses(row: dict, slo: Slo) -> list[str]:
    out = []
    for metric, (pct, limit) in slo.limits.items():
        v = row.get(f"{metric}_{pct}_ms")
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            out.append(f"{metric.upper()} {pct} not measured")
        elif v > limit:
            out.append(f"{metric.upper()} {pct} {v:,.0f} ms > {limit:g} ms")
    return out


def _exclusions(row: dict, slo: Slo, demand: Demand, model: str | None) -> list[str]:
    """Why a measured point cannot be evidence for the demand (empty when it can)."""
    why: list[str] = []
    if model and (row.get("model") or "").lower() != model.lower():
        why.append(f"another model ({row.get('model') or 'not recorded'})")
    if row.get("measurement_error"):
        why.append("above a physical ceiling (measurement error): " + "; ".join(row["ceiling_violations"]))
    if row["failed"]:
        why.append(f"{row['failed']} request(s) failed")
    if row["kept_up"] is False:
        why.append(
            f"client did not keep up (sent {row['achieved_rate']:.3g} req/s of {row['request_rate']:g} requested)"
            if row.get("achieved_rate") is not None and row.get("request_rate")
            else "client did not keep up"
        )
    length = _lengths_match(row, demand)
    if length:
        why.append(length)
    misses = _slo_misses(row, slo)
    if misses:
        why.append("missed SLO: " + ", ".join(misses))
    if not row["requests_per_s"]:
        why.append("no completed requests/s")
    return why


def _replica_price(row: dict) -> float | str:
    """$/hour of one replica at the run's capacity type's list price, or why there is none."""
    shape = catalog.lookup(row["accelerator"]) if isinstance(row.get("accelerator"), str) else None
    if shape is None:
        return "no catalog accelerator in the run's metadata, so no price"
    cap = row["capacity_type"] if isinstance(row.get("capacity_type"), str) else "on-demand"
    hourly, basis = accelerator_hourly(shape, cap, 1)
    return hourly if hourly is not None else f"no price: {basis}"


def evaluate(row: dict, slo: Slo, demand: Demand, model: str | None) -> tuple[dict | None, list[str]]:
    """A point as evidence for the demand (replicas, $/h), or the reasons it is not."""
    why = _exclusions(row, slo, demand, model)
    hourly = _replica_price(row)
    if isinstance(hourly, str):
        why.append(hourly)
    if why or isinstance(hourly, str):
        return None, why
    reps = row.get("replicas") if isinstance(row.get("replicas"), int) and row["replicas"] > 0 else 1
    per_replica = row["requests_per_s"] / reps
    replicas = math.ceil(demand.requests_per_s / per_replica - 1e-9)
    out_tps = row["output_tokens_per_s"] / reps if row["output_tokens_per_s"] else None
    return {
        "requests_per_s_per_replica": per_replica,
        "replicas": replicas,
        "hourly_usd_per_replica": hourly,
        "hourly_usd": replicas * hourly,
        "usd_per_1m_output_tokens": hourly / (out_tps * 3600) * 1e6 if out_tps else None,
        "load_per_replica": demand.requests_per_s / replicas,
    }, []


def _evidence(row: dict) -> dict:
    keys = (
        "run_id",
        "point",
        "request_rate",
        "achieved_rate",
        "requests_per_s",
        "output_tokens_per_s",
        "ttft_p99_ms",
        "tpot_p99_ms",
        "e2e_p99_ms",
        "roofline_fraction",
        "source",
    )
    return {k: row.get(k) for k in keys}


def estimates(slo: Slo, demand: Demand, model_id: str, limit: int = 3) -> list[dict]:
    """What the ceilings allow: single-host catalog shapes the model fits (its checkpoint x the config's default
    HBM headroom, plus the cache of one sequence of the demand's length), whose latency floors are under the SLO,
    ranked by the least $/hour the demand could cost there (on-demand list price). An estimate: ceilings are never
    reached, so real replicas will need more."""
    facts = models.lookup(model_id)
    if facts is None:
        return []
    headroom = ModelConfig.model_fields["hbm_headroom"].default
    tpot_limit = slo.limits.get("tpot", (None, math.inf))[1] / 1e3
    ttft_limit = slo.limits.get("ttft", (None, math.inf))[1] / 1e3
    found = []
    for shape in catalog.CATALOG.values():
        if shape.multi_host:
            continue
        c = ceilings.for_shape(shape, facts=facts, model=model_id)  # the checkpoint as stored (its own dtype)
        ctx = demand.input_len
        if c.weight_bytes * headroom + (c.kv_bytes_per_sequence(ctx + demand.output_len) or 0) > c.hbm_bytes:
            continue
        if c.ttft_floor_s(demand.input_len) > ttft_limit or c.tpot_floor_s(1, ctx) > tpot_limit:
            continue
        # the largest batch whose decode step still meets the TPOT limit, within HBM
        b_max = c.max_batch(ctx) or 0
        lo, hi = 0, b_max
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if c.decode_step_s(mid, ctx) <= tpot_limit:
                lo = mid
            else:
                hi = mid - 1
        if lo < 1:
            continue
        decode_rps = c.decode_tokens_per_s(lo, ctx) / max(demand.output_len - 1, 1)
        compute_rps = c.prefill_tokens_per_s / (demand.input_len + demand.output_len)
        rps = min(decode_rps, compute_rps)
        hourly, basis = accelerator_hourly(shape, "on-demand", 1)
        if hourly is None:
            continue
        replicas = math.ceil(demand.requests_per_s / rps - 1e-9)
        found.append(
            {
                "accelerator": shape.name,
                "capacity_type": "on-demand",
                "requests_per_s_per_replica_ceiling": rps,
                "batch_at_tpot_limit": lo,
                "replicas_at_least": replicas,
                "hourly_usd_at_least": replicas * hourly,
                "price_basis": basis,
                "label": "ESTIMATE from physical ceilings (a lower bound on cost), not a measured result",
            }
        )
    found.sort(key=lambda e: (e["hourly_usd_at_least"], e["accelerator"]))
    return found[:limit]


def recommend(sources: list[str], slo: Slo, demand: Demand, model: str | None = None) -> dict:
    check_demand(demand)
    col = report.collect(sources)
    if not col.records and not col.runs:
        skipped = f" ({len(col.skipped)} file(s) could not be used)" if col.skipped else ""
        raise InputError(
            f"no benchmark results in {', '.join(sources)}{skipped}",
            fix="point at directories or gs:// prefixes holding <run>/run.json and <run>/points/*.json (what the "
            "benchmark Job writes)",
        )
    pct_any = next(iter(slo.limits.values()))[0]
    table = report.rows(col, {}, pct_any)
    model = _the_model(table, model)
    by_config, excluded = _weigh(table, slo, demand, model)
    excluded += _failed_runs(col)
    candidates = _candidates(by_config)
    doc: dict[str, Any] = {
        "sources": sources,
        "slo": slo.to_json(),
        "slo_text": str(slo),
        "demand": demand.to_json(),
        "model": model,
        "recommendation": candidates[0] if candidates else None,
        "runner_ups": candidates[1:],
        "excluded": excluded,
        "skipped": [s.to_json() for s in col.skipped],
        "estimates": [],
        "assumptions": [
            "a replica serves at least as well below the load it was measured at; the demand is spread evenly",
            "cost is the accelerators' list price at the run's capacity type (no cluster fee, CPUs, egress)",
        ],
        "points": table,
        # the same load on setups one axis apart (prefix caching, P/D, routing): what each choice is worth
        "comparisons": report.compare.pairs(table),
    }
    if not candidates and model:
        doc["estimates"] = estimates(slo, demand, model)
    return doc


def _the_model(table: list[dict], model: str | None) -> str | None:
    """The model asked for, else the one model the results hold (UsageError when they hold several)."""
    if model is not None:
        return model
    models_seen = sorted({r["model"] for r in table if r.get("model")})
    if len(models_seen) > 1:
        raise UsageError(f"the results hold several models ({', '.join(models_seen)})", fix="--model ONE_OF_THEM")
    return models_seen[0] if models_seen else None


def _weigh(table: list[dict], slo: Slo, demand: Demand, model: str | None) -> tuple[dict[str, list[dict]], list[dict]]:
    """Every point as evidence for its configuration, or excluded with its reasons."""
    by_config: dict[str, list[dict]] = {}
    excluded: list[dict] = []
    for row in table:
        key = config_key(row)
        row["meets_slo"] = not _slo_misses(row, slo)
        ev, why = evaluate(row, slo, demand, model)
        if ev is None:
            excluded.append({"configuration": key, **_evidence(row), "reasons": why})
            continue
        by_config.setdefault(key, []).append({"configuration": key, **_evidence(row), **ev})
    return by_config, excluded


def _failed_runs(col: report.Collection) -> list[dict]:
    """Runs whose manifest says they failed (possibly before any point): excluded, with their status."""
    out = []
    for run_id, run in sorted(col.runs.items()):
        status = str(run.get("status") or "")
        if status and status != "ok":
            raw = run.get("metadata")
            meta: dict = raw if isinstance(raw, dict) else {}
            out.append(
                {
                    "configuration": f"{meta.get('accelerator', '?')} {meta.get('capacity_type', '?')} "
                    f"{meta.get('engine', '?')}",
                    "run_id": run_id,
                    "point": None,
                    "reasons": [f"run {status}"],
                }
            )
    return out


def _candidates(by_config: dict[str, list[dict]]) -> list[dict]:
    """Each configuration by its cheapest point for the demand, cheapest configuration first."""
    candidates = []
    for points in by_config.values():
        pick = min(points, key=lambda p: (p["hourly_usd"], p["usd_per_1m_output_tokens"] or math.inf))
        candidates.append({**pick, "points_meeting_slo": len(points)})
    candidates.sort(key=lambda p: (p["hourly_usd"], p["usd_per_1m_output_tokens"] or math.inf, p["configuration"]))
    return candidates


def explain(doc: dict) -> list[str]:
    """The answer in plain lines (the CLI prints them; the HTML report shows them)."""
    d, lines = doc["demand"], []
    head = (
        f"demand: {d['requests_per_s']:g} req/s of {d['input_len']} prompt + {d['output_len']} output tokens"
        f"{' of ' + doc['model'] if doc.get('model') else ''}; SLO: {doc['slo_text']}"
    )
    lines.append(head)
    r = doc["recommendation"]
    if r:
        lines.append(
            f"recommended: {r['configuration']}: {r['replicas']} replica(s) x ${r['hourly_usd_per_replica']:.4g}/h "
            f"= ${r['hourly_usd']:.2f}/hour for the demand; ${r['usd_per_1m_output_tokens']:.3f} per 1M output tokens"
        )
        lines.append(
            f"  evidence: run {r['run_id']} point {r['point']} (requested {r['request_rate']} req/s, "
            f"completed {r['requests_per_s']:.3g} req/s per replica; TTFT p99 {r['ttft_p99_ms']} ms, "
            f"TPOT p99 {r['tpot_p99_ms']} ms); {r['points_meeting_slo']} point(s) of this configuration meet "
            f"the SLO; each replica would take {r['load_per_replica']:.3g} req/s"
        )
    else:
        lines.append("no measured configuration meets the SLO for this demand")
    for i, u in enumerate(doc["runner_ups"], 2):
        lines.append(
            f"#{i}: {u['configuration']}: {u['replicas']} x ${u['hourly_usd_per_replica']:.4g}/h = "
            f"${u['hourly_usd']:.2f}/hour (run {u['run_id']} point {u['point']}, "
            f"${u['usd_per_1m_output_tokens']:.3f}/1M output tokens)"
        )
    for e in doc["excluded"]:
        where = f"run {e['run_id']}" + (f" point {e['point']}" if e.get("point") is not None else "")
        lines.append(f"excluded: {e['configuration']} {where}: {'; '.join(e['reasons'])}")
    for e in doc["estimates"]:
        lines.append(
            f"worth measuring next ({e['label']}): {e['accelerator']} on-demand: at least {e['replicas_at_least']} "
            f"replica(s), from ${e['hourly_usd_at_least']:.2f}/hour (ceiling "
            f"{e['requests_per_s_per_replica_ceiling']:.3g} req/s per replica at batch {e['batch_at_tpot_limit']})"
        )
    if not doc["recommendation"] and not doc["estimates"]:
        lines.append("no estimate either: the model is not in the catalog, or no single-host shape fits it")
    lines += [f"same load, one setup apart: {c}" for c in report.compare.lines(doc.get("comparisons", []))]
    return lines


RECOMMEND_FILES = ("recommend.json", "frontier.png", "roofline.png", "report.html")


def check_out(out_dir: Path) -> None:
    outputs.check_dir(out_dir, "--out", empty=True, names=RECOMMEND_FILES)


def write(doc: dict, out_dir: Path) -> dict[str, str]:
    """recommend.json, the frontier and roofline pictures and the HTML report, into a new or empty DIR, whole or
    not at all (tpustack.core.outputs)."""
    from . import pictures

    with outputs.staged_dir(out_dir, "--out", empty=True, names=RECOMMEND_FILES) as tmp:
        r = doc["recommendation"]
        names = pictures.write_all(
            doc["points"],
            tmp,
            slo_lines=_slo_lines(doc),
            chosen=r,
            headline=explain(doc),
            title="tpustack recommend",
            notes=[f"sources: {', '.join(doc['sources'])}", *doc["assumptions"], f"ceilings: {ceilings.BASIS}"],
        )
        files = {"json": str(out_dir / "recommend.json"), **{k: str(out_dir / v) for k, v in names.items()}}
        doc["files"] = files
        (tmp / "recommend.json").write_text(json_text(doc))
    return files


def _slo_lines(doc: dict) -> dict[str, tuple[str, float]]:
    return {m: (v["percentile"], v["ms"]) for m, v in doc["slo"].items()}
