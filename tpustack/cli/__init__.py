"""The `tpustack` command line: one module per command group, one error path (tpustack/cli/output.py).

  plan, check, stacks, catalog   tpustack/cli/plan.py       (the project's stacks, offline)
  diff, reap                     tpustack/cli/lifecycle.py  (a change's effect; the TTL reaper)
  heartbeat, report              tpustack/cli/bench.py      (benchmarks and their results)

Exit codes scripts can trust: README "Exit codes".
"""

from __future__ import annotations

import typer

from . import bench, lifecycle, plan

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="LLM inference on Cloud TPUs and GPUs: plan, benchmark, report, tear down.",
)
plan.register(app)
lifecycle.register(app)
bench.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
