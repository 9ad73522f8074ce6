"""The `tpustack` command line: one module per command group, one error path (tpustack/cli/output.py).

  plan, check, stacks, catalog   tpustack/cli/plan.py       (the project's stacks, offline)
  diff, reap                     tpustack/cli/lifecycle.py  (a change's effect; the TTL reaper)
  heartbeat, report              tpustack/cli/bench.py      (benchmarks and their results)

``main`` is the only place that turns exceptions into exit codes (tpustack.core.errors lists them): every error
a user can cause ends as plain lines on stderr, never a traceback; ``--debug`` (or TPUSTACK_DEBUG=1) shows the
traceback of unexpected ones.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import traceback

import typer

from tpustack.core.errors import EXIT_RUNTIME, EXIT_USAGE, TpuStackError, bounded

from . import bench, lifecycle, output, plan

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="LLM inference on Cloud TPUs and GPUs: plan, benchmark, report, tear down.",
)


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", envvar="TPUSTACK_DEBUG", help="Show the Python traceback of unexpected errors."
    ),
) -> None:
    output.DEBUG = debug


plan.register(app)
lifecycle.register(app)
bench.register(app)


def _click_exceptions() -> list:
    """click's exception modules: click itself (older typer depends on it), and the copy newer typer releases
    vendor (then click may not be installed at all)."""
    mods = []
    for name in ("click.exceptions", "typer._click.exceptions"):
        with contextlib.suppress(ImportError):
            mods.append(importlib.import_module(name))
    return mods


_CLICK = _click_exceptions()
USAGE_ERRORS = tuple(m.UsageError for m in _CLICK)
CLICK_ERRORS = tuple(m.ClickException for m in _CLICK)
ABORTS = (typer.Abort, *(m.Abort for m in _CLICK if hasattr(m, "Abort")))


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with the code of what happened (README "Exit codes")."""
    output.DEBUG = os.environ.get("TPUSTACK_DEBUG", "") not in ("", "0")
    try:
        code = app(args=argv, standalone_mode=False)
    except USAGE_ERRORS as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # `tpustack` alone: the help, as click prints it
            output.warn(e.format_message())
            sys.exit(EXIT_USAGE)
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
        output.warn(f"error: {e.format_message()}{hint}")
        code = EXIT_USAGE
    except CLICK_ERRORS as e:
        output.warn(f"error: {e.format_message()}")
        code = e.exit_code
    except (*ABORTS, KeyboardInterrupt):
        output.warn("interrupted")
        code = 130
    except TpuStackError as e:
        for line in output.error_lines(e):
            output.warn(line)
        code = e.exit_code
    except Exception as e:  # a bug, not the user's doing: one line, the traceback only on request
        if output.DEBUG:
            traceback.print_exc()
        output.warn(
            f"error: internal error ({type(e).__name__}: {bounded(str(e))}). "
            "Fix: rerun with --debug for the traceback and report it"
        )
        code = EXIT_RUNTIME
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
