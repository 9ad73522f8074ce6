"""Benchmark (not a test): `tpustack plan` wall time per stack beside the import floor.

The floor is `python -c "import pulumi, pulumi_gcp"` on the same machine: a plan cannot be faster than
loading the SDKs it drives. Prints median of N runs per command and the ratio plan / floor.
Run: `make bench` (or `.venv/bin/python tests/bench_plan.py --runs 3`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from tpustack.config.project import find_project


def wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    floor = wall([sys.executable, "-c", "import pulumi, pulumi_gcp"], args.runs)
    print(f"floor  python -c 'import pulumi, pulumi_gcp'  {floor:6.2f} s  (median of {args.runs})")
    print(f"{'stack':32} {'resources':>9} {'plan s':>8} {'ratio':>6}")
    for stack in find_project(explicit=ROOT).stack_names():
        t = wall([sys.executable, "-m", "tpustack.cli", "plan", "--stack", stack, "--json"], args.runs)
        out = subprocess.run(
            [sys.executable, "-m", "tpustack.cli", "plan", "--stack", stack, "--json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout
        n = len(json.loads(out)["resources"])
        print(f"{stack:32} {n:9d} {t:8.2f} {t / floor:6.2f}")


if __name__ == "__main__":
    main()
