"""Published, measured serving results (tests/fixtures/published/results.json) as tpustack records.

Each entry states its source (repository, path, commit or URL), the lines that hold its figures, and the
configuration the source gives: accelerator (a catalog shape), chips per replica, replicas, model id, the weights'
dtype as served (null: the checkpoint's own), KV-cache dtype, speculative tokens, load and the measured figures.
``record`` turns one into the record the report reads (tpustack.core.contracts.Record); what a source does not
state stays None. ``collection`` gives the report's own Collection of them, so ``report.rows`` computes each
one's ceiling and fraction exactly as for a user's run (the file gate is not involved: most of these were measured
by tools tpustack does not run, e.g. trtllm-bench, so their records name that tool).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tpustack.core import catalog, contracts
from tpustack.ops.collect import Collection, Found

from helpers.project import FIXTURES

DATA = FIXTURES / "published" / "results.json"


def load() -> dict[str, Any]:
    return json.loads(DATA.read_text())


def _stats(p50: float | None) -> dict[str, float | None]:
    return {"mean": None, "p50": p50, "p90": None, "p99": None}


def record(e: dict[str, Any]) -> dict[str, Any]:
    shape = catalog.lookup(e["accelerator"])
    assert shape is not None, e["accelerator"]
    m, load_ = e["measured"], e["load"]
    out_tps, total = m["output_tokens_per_s"], m.get("total_tokens_per_s")
    chips = e["chips_per_replica"] * e["replicas"]
    meta: dict[str, Any] = {
        "run_id": e["id"],
        "stack": e["id"],
        "engine": e["engine"],
        "tool": e["tool"],
        "accelerator": shape.name,
        "accelerator_kind": shape.kind,
        "family": shape.family,
        "machine_type": shape.machine_type,
        "chips_per_replica": e["chips_per_replica"],
        "replicas": e["replicas"],
        "chips": chips,
        "model": e["model"],
        "speculative_tokens": e["speculative_tokens"],
    }
    if e.get("model_dtype"):
        meta["model_dtype"] = e["model_dtype"]
    if e.get("kv_cache_dtype"):
        meta["kv_cache_dtype"] = e["kv_cache_dtype"]
    return {
        "schema": contracts.RECORD_SCHEMA,
        "tool": e["tool"],
        "metadata": meta,
        "point": {"index": 0, "request_rate": None, "max_concurrency": load_.get("max_concurrency")},
        "requests": {"completed": load_.get("num_prompts"), "failed": None},
        "throughput": {
            "requests_per_s": m.get("requests_per_s"),
            "input_tokens_per_s": total - out_tps if total is not None else None,
            "output_tokens_per_s": out_tps,
            "total_tokens_per_s": total,
            "output_tokens_per_s_per_chip": out_tps / chips,
            "total_tokens_per_s_per_chip": total / chips if total is not None else None,
        },
        "latency_ms": {
            "ttft": _stats(m.get("ttft_p50_ms")),
            "tpot": _stats(m.get("tpot_p50_ms")),
            "itl": _stats(None),
            "e2e": _stats(None),
        },
        "client": {"achieved_rate": None, "kept_up": None},
        "goodput": {"slo_ms": {}, "good_requests": None, "fraction": None, "requests_per_s": None},
        "load": {k: load_.get(k) for k in ("input_len", "output_len", "num_prompts")},
        "conversions": [],
        "source_file": e["source"].get("url") or f"{e['source']['repo']}/{e['source']['path']}",
    }


def collection(entries: list[dict[str, Any]] | None = None) -> Collection:
    col = Collection()
    for e in entries if entries is not None else load()["records"]:
        col.records.append(Found(record(e), f"published:{e['id']}"))  # type: ignore[arg-type]
    return col


def write_run_dirs(root: Path, entries: list[dict[str, Any]]) -> Path:
    """The entries measured by a client tpustack runs (vllm bench serve) as run directories `tpustack report`
    reads from disk: ``<root>/<id>/points/000.json``."""
    for e in entries:
        d = root / e["id"] / "points"
        d.mkdir(parents=True)
        (d / "000.json").write_text(json.dumps(record(e), indent=1))
    return root
