"""Benchmark (not a test): published, measured serving results beside tpustack's ceilings.

For every record of tests/fixtures/published/results.json: what it measured, the ceiling of its configuration
(output tok/s, all replicas, at its prompt length and client concurrency) and the fraction of the ceiling it
reached, as `tpustack report` computes them (tpustack.ops.report.rows). tests/unit/ops/test_published.py asserts
none is above 100 % and none below 5 % (20x) without a stated reason.
Run: `.venv/bin/python tests/bench_published.py` (`--json` for the rows).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tpustack.ops import report

from helpers import published


def main() -> None:
    data = published.load()
    by_id = {e["id"]: e for e in data["records"]}
    rows = report.rows(published.collection(), {})
    if "--json" in sys.argv:
        keys = ("run_id", "accelerator", "model", "output_tokens_per_s", "ceiling_output_tokens_per_s")
        print(json.dumps([{k: r[k] for k in (*keys, "roofline_fraction")} for r in rows], indent=1))
        return
    head = (
        f"{'record':50} {'accelerator':14} {'chips':>7} {'dtype':6} {'spec':>4} "
        f"{'measured':>10} {'ceiling':>11} {'of it':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in sorted(rows, key=lambda r: r["roofline_fraction"] or 0):
        e = by_id[r["run_id"]]
        chips = f"{e['chips_per_replica']}x{e['replicas']}"
        dtype = e.get("model_dtype") or "ckpt"
        frac = r["roofline_fraction"]
        flag = " *" if e.get("far_from_roofline") else ""
        print(
            f"{r['run_id'][:50]:50} {r['accelerator']:14} {chips:>7} {dtype:6} {e['speculative_tokens']:>4} "
            f"{r['output_tokens_per_s']:>10,.0f} {r['ceiling_output_tokens_per_s']:>11,.0f} {frac:>6.1%}{flag}"
        )
    fr = [r["roofline_fraction"] for r in rows]
    print(
        f"\n{len(rows)} records, {len(data['excluded'])} excluded (README.md there says why); "
        f"fraction of ceiling: min {min(fr):.1%}, median {sorted(fr)[len(fr) // 2]:.1%}, max {max(fr):.1%}"
    )
    print("* far from the roofline for a stated reason (the record's far_from_roofline)")


if __name__ == "__main__":
    main()
