"""Where the CLI writes, and the one error path.

stdout carries results (tables, JSON); stderr carries progress and errors. User-controlled text is never read
as rich markup, and output to a pipe or a log is never folded at 80 columns. Everything printed passes the one
sanitizing step (tpustack.core.display): control characters from result files or bucket names are shown escaped,
never sent to the terminal as escape sequences, and ``--json`` is strict JSON (no Infinity/NaN). Every error a user
can cause ends as one plain line per problem and the exit code of its kind (README "Exit codes"), never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from tpustack.core.display import json_text, printable
from tpustack.core.errors import ConfigError, TpuStackError
from tpustack.core.secrets import redact

# Wide enough for a JSON line or a gcloud command when not on a terminal (a pipe, a CI log).
PIPE_WIDTH = 400
# Set by `--debug` / TPUSTACK_DEBUG: tracebacks of unexpected errors.
DEBUG = False


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    return Console(stderr=stderr, highlight=False, soft_wrap=not tty, width=None if tty else PIPE_WIDTH)


out = _console(stderr=False)
err = _console(stderr=True)


def say(text: str = "", *, end: str = "\n") -> None:
    """A plain line on stdout: no markup, no highlighting, never folded, no control character."""
    out.print(printable(text), markup=False, highlight=False, soft_wrap=True, end=end)


def warn(text: str) -> None:
    """A line on stderr (progress, warnings, errors): redacted, so no credential reaches a terminal or a log through
    it, whichever message quotes one (tpustack.core.secrets.redact), and control characters escaped."""
    err.print(printable(redact(text)), markup=False, highlight=False, soft_wrap=True)


def print_json(doc: object, *, sort_keys: bool = False) -> None:
    """A command's --json output: strict JSON on stdout (tpustack.core.display.json_text)."""
    sys.stdout.write(json_text(doc, sort_keys=sort_keys))


def cell(value: object) -> str:
    """One table cell from any value: control characters escaped, never read as rich markup."""
    return escape(printable(value, newlines=False))


def error_lines(e: TpuStackError) -> list[str]:
    if isinstance(e, ConfigError):
        where = f" (stack {e.stack})" if e.stack else ""
        return [f"error: invalid config{where}:"] + [f"  {line}" for line in e.lines()]
    return [f"error: {line}" if i == 0 else f"  {line}" for i, line in enumerate(str(e).splitlines() or [""])]


def fail(e: TpuStackError) -> NoReturn:
    for line in error_lines(e):
        warn(line)
    raise typer.Exit(e.exit_code)


def require(module: str, extra: str, command: str) -> None:
    """Fail with the install command when an optional dependency of a command is missing."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:
        found = False
    if not found:
        warn(
            f"error: `tpustack {command}` needs {module}, which this install lacks. "
            f"Fix: pip install 'tpustack[{extra}]' (in a checkout: make test, or pip install -e '.[{extra}]')"
        )
        raise typer.Exit(1)


@contextmanager
def progress(message: str, enabled: bool = True) -> Iterator[None]:
    """A spinner on stderr for work over a second (only on a terminal, never in --json mode)."""
    if enabled and err.is_terminal:
        with err.status(message):
            yield
    else:
        yield
