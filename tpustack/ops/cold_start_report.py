"""`tpustack report`'s cold-start section: the serving pods' measured phases (the records' ``cold_start``,
tpustack.workloads.cold_start) side by side across runs and stacks, beside the plan's estimate when the run's spec
carried one (tpustack.core.cold_start).

One row per run: each phase in seconds from pod creation, for the slowest pod (the unit serves fully only when
its last replica is ready), with how many pods were read; the estimate's figure beside it, ``?`` where it has no
source. Every record of a run carries the same measurement, so the first one is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tpustack.core.cold_start import PHASES

from .collect import Collection

# measured phases, in order (``started``, the container's start, lies between the pull and the weights)
MEASURED = ("scheduled", "image_pulled", "started", "weights_loaded", "compiled", "ready")


def _slowest(pods: Sequence[Any], phase: str) -> float | None:
    """The latest a phase ended over the pods (the replica that was last to get there), None if no pod saw it."""
    seen = [p["phases"][phase]["s"] for p in pods if (p["phases"].get(phase) or {}).get("s") is not None]
    return max(seen) if seen else None


def _estimated(estimate: dict | None) -> dict[str, float | None]:
    phases = (estimate or {}).get("phases") or []
    return {str(p["phase"]): p.get("seconds") for p in phases if isinstance(p, dict) and p.get("phase") in PHASES}


def rows(col: Collection) -> list[dict[str, Any]]:
    """One row per run that measured its cold start, in the order the runs were found."""
    out: dict[str, dict[str, Any]] = {}
    for f in col.records:
        cs = f.record.get("cold_start")
        run_id = f.metadata.get("run_id") or ""
        if cs is None or run_id in out:
            continue
        pods = list(cs["pods"])
        est = cs.get("estimate")
        out[run_id] = {
            "run_id": run_id,
            "stack": f.metadata.get("stack"),
            "accelerator": f.metadata.get("accelerator"),
            "engine": f.metadata.get("engine"),
            "pods": len(pods),
            "measured_s": {ph: _slowest(pods, ph) for ph in MEASURED},
            "estimated_s": _estimated(est) if est else None,
            "estimate_left_out": list(est.get("left_out") or []) if isinstance(est, dict) else None,
            "image_pull_detail": next(
                (p["phases"]["image_pulled"].get("detail") for p in pods if p["phases"].get("image_pulled")), None
            ),
            "error": cs.get("error"),
        }
    return list(out.values())


def cell(measured: float | None, estimated: float | None, has_estimate: bool) -> str:
    """``measured (est. E)``: ``-`` where nothing was seen, ``?`` where the estimate has no source."""
    m = "-" if measured is None else f"{measured:,.0f} s"
    if not has_estimate:
        return m
    return f"{m} (est. {'?' if estimated is None else f'{estimated:,.0f} s'})"


def table_rows(doc_rows: list[dict[str, Any]]) -> list[list[str]]:
    """The text table: run, stack, accelerator, pods, then each measured phase beside its estimate."""
    out = []
    for r in doc_rows:
        est = r["estimated_s"] or {}
        has = r["estimated_s"] is not None
        cells = [cell(r["measured_s"][ph], est.get(ph), has and ph in PHASES) for ph in MEASURED]
        out.append([r["run_id"], r["stack"] or "?", r["accelerator"] or "?", str(r["pods"]), *cells])
    return out
