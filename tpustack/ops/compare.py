"""Comparisons at the same load: records that ran one load model (tool, dataset, lengths, shared prefix, rate or
concurrency, prompts, seed) against serving setups that differ in one way, paired point by point.

The setup axes (``SETUP_AXES``), each read from what the record says about its server:

* ``prefix_caching``: on or off (the engine's ``enablePrefixCaching`` in the run's engine arguments; vLLM's default
  is on);
* ``serving``: aggregated (one role, ``serve``) or disaggregated (``prefill`` and ``decode`` roles: the roles the
  record's per-role prefix-cache and KV-transfer figures are keyed by, or ``metadata.roles`` where a run says);
* ``routing``: how requests reach the servers, as the run's metadata says (``metadata.routing``, e.g. a
  prefix-cache-aware endpoint picker); "unstated" where it does not.

Two rows pair on an axis when their load is the same and every other part of their setup (accelerator,
chips, replicas, model, engine and its other arguments, the other axes) is the same: then the difference in
throughput, latency and hit rate is the axis's. Rows whose load differs are never compared. The report and
``tpustack recommend`` list the pairs.
CLI side only.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from tpustack.core.contracts import Record

Row = dict[str, Any]
SETUP_AXES = ("prefix_caching", "serving", "routing")
# the setup every other axis must share for a pair to say something about one axis
FIXED_SETUP = ("model", "engine", "accelerator", "chips", "replicas", "capacity_type")
FIGURES = ("output_tokens_per_s", "requests_per_s", "ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms", "prefix_hit_rate")
DISAGGREGATED_ROLES = frozenset({"prefill", "decode"})


def _obj(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def hit_rate(rec: Record) -> float | None:
    """The point's prefix-cache hit rate over every role: all roles' hits / all roles' queries (None: not
    measured, e.g. caching off or a record of schema v1)."""
    q = h = 0.0
    for pc in _obj(rec.get("prefix_cache")).values():
        pc = _obj(pc)
        if isinstance(pc.get("queries"), (int, float)) and isinstance(pc.get("hits"), (int, float)):
            q, h = q + pc["queries"], h + pc["hits"]
    return h / q if q > 0 else None


def roles(rec: Record) -> list[str]:
    meta = _obj(rec.get("metadata"))
    stated = meta.get("roles")
    if isinstance(stated, list) and all(isinstance(r, str) for r in stated):
        return sorted(stated)
    return sorted(set(_obj(rec.get("prefix_cache"))) | set(_obj(rec.get("kv_transfer"))))


def setup(rec: Record) -> dict[str, Any]:
    """The record's serving setup on each axis (what the report's row shows)."""
    meta = _obj(rec.get("metadata"))
    args = _obj(meta.get("engine_args"))
    caching = args.get("enablePrefixCaching")
    routing = meta.get("routing")
    return {
        "prefix_caching": ("on" if caching else "off") if isinstance(caching, bool) else "on (engine default)",
        "serving": "disaggregated" if DISAGGREGATED_ROLES & set(roles(rec)) else "aggregated",
        "routing": routing if isinstance(routing, str) else "unstated",
    }


def load_key(rec: Record) -> str:
    """The load model as one comparable value: what a point asked of the server, not how it was served."""
    load, point = _obj(rec.get("load")), _obj(rec.get("point"))
    keys = ("dataset", "input_len", "output_len", "num_prompts", "burstiness", "seed", "ignore_eos", "temperature")
    return json.dumps(
        {
            "tool": rec.get("tool"),
            "model": _obj(rec.get("metadata")).get("model"),
            **{k: load.get(k) for k in keys},
            "prefix": load.get("prefix"),
            "request_rate": point.get("request_rate"),
            "max_concurrency": point.get("max_concurrency"),
        },
        sort_keys=True,
        default=str,
    )


def _args(row: Row) -> dict:
    """The engine's arguments but the one the prefix_caching axis reads: a pair on any axis shares the rest."""
    return {k: v for k, v in _obj(row.get("engine_args")).items() if k != "enablePrefixCaching"}


def _ratio(a: Any, b: Any) -> float | None:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a:
        return b / a
    return None


def pairs(table: list[Row]) -> list[dict]:
    """Every pair of rows at the same load whose setups differ on exactly one axis, with the figures side by side
    and b / a for each (a: the first value of the axis in the pair's order)."""
    by_load: dict[str, list[Row]] = {}
    for r in table:
        if r.get("load_key"):
            by_load.setdefault(r["load_key"], []).append(r)
    out = []
    for key, group in by_load.items():
        for a, b in itertools.combinations(group, 2):
            differs = [ax for ax in SETUP_AXES if a.get(ax) != b.get(ax)]
            if len(differs) != 1 or any(a.get(k) != b.get(k) for k in FIXED_SETUP) or _args(a) != _args(b):
                continue
            axis = differs[0]
            a, b = sorted((a, b), key=lambda r: str(r.get(axis)))
            out.append(
                {
                    "axis": axis,
                    "load": json.loads(key),
                    "a": {"setup": a.get(axis), "run_id": a.get("run_id"), "point": a.get("point")},
                    "b": {"setup": b.get(axis), "run_id": b.get("run_id"), "point": b.get("point")},
                    "figures": {
                        f: {"a": a.get(f), "b": b.get(f), "b_over_a": _ratio(a.get(f), b.get(f))} for f in FIGURES
                    },
                    "both_meet_slo": a.get("meets_slo") is not False and b.get("meets_slo") is not False,
                }
            )
    return out


def _show(figures: dict, name: str, fmt: str) -> str:
    v = figures[name]
    a = format(v["a"], fmt) if v["a"] is not None else "-"
    b = format(v["b"], fmt) if v["b"] is not None else "-"
    return f"{name} {a} -> {b}"


def lines(comparisons: list[dict]) -> list[str]:
    """The pairs in plain lines (report and recommend print them)."""
    out = []
    for c in comparisons:
        f, load = c["figures"], c["load"]
        at = (
            f"rate {load['request_rate']}"
            if load.get("request_rate") is not None
            else f"concurrency {load['max_concurrency']}"
        )

        out.append(
            f"{c['axis']} {c['a']['setup']} -> {c['b']['setup']} at {at}, {load.get('dataset')} "
            f"{load.get('input_len')}/{load.get('output_len')}: "
            + ", ".join(
                (
                    _show(f, "output_tokens_per_s", ",.0f"),
                    _show(f, "ttft_p50_ms", ".1f"),
                    _show(f, "prefix_hit_rate", ".2f"),
                )
            )
        )
    return out


def row_fields(rec: Record) -> Row:
    """The columns a report row gets from this module."""
    return {"prefix_hit_rate": hit_rate(rec), "roles": roles(rec), **setup(rec), "load_key": load_key(rec)}
