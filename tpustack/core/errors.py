"""The project's exception hierarchy and the one shape of a user-facing problem.

Every error tpustack raises on purpose is a ``TpuStackError``; its ``exit_code`` is what the CLI exits with
(README "Exit codes"). Config problems are typed ``Problem(key, reason, fix)`` values, collected all at once
and carried by ``ConfigError``. Stdlib only: pods raise these too.

Exit codes (the one table; the CLI, the pods and the README use these):
  0  ok
  1  runtime or cloud error: an API, the network, credentials, a file that cannot be written
  2  usage error: an unknown option, a missing or malformed argument
  3  invalid config or input: the stack file, config rules, rendered manifests, an input file
  4  benchmark error: no trustworthy figure (e.g. a timing faster than the device's roofline)
  5  capacity unavailable (stockout, quota): retryable (reserved: no tpustack command provisions capacity;
     `pulumi up` reports stockouts itself)
  6  partial failure: what could be done was done, the rest is reported (e.g. some deletes failed); the
     command prints its results, then exits with this code
  7  policy violations found (`tpustack check`)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .secrets import redact

# The most characters of one text an error shows (a key, a reason, a fix, a quoted value): a 5,000-entry list
# or a 300 KB string in the wrong key is named, not echoed.
MAX_TEXT = 2000
MAX_QUOTE = 160


def bounded(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` redacted (tpustack.core.secrets.redact), then cut to ``limit`` characters with what was left out
    said. Redaction comes first, so a cut never leaves part of a token behind."""
    text = redact(str(text))
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def first_line(e: BaseException, text: str | None = None, limit: int = 300) -> str:
    """What an error line says of a caught exception: the first line of ``text`` (default: the exception's own
    message), at most ``limit`` characters; the exception's type name when it says nothing."""
    if not str(e):
        return type(e).__name__
    return (str(e) if text is None else text).splitlines()[0][:limit]


def quote(value: Any, limit: int = MAX_QUOTE) -> str:
    """How an error shows a value the user gave: its repr, redacted and bounded."""
    try:
        shown = repr(value)
    except Exception:  # a repr that fails (a recursive structure pydantic handed over): name the type only
        shown = f"<{type(value).__name__}>"
    return bounded(shown, limit)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the user's input: where (a config key, a template, a file), what and why, and
    the fix. Every text is redacted and bounded when the problem is made, whoever makes it: no problem carries a
    credential the user typed, or more than ``MAX_TEXT`` characters of what they typed."""

    key: str
    reason: str
    fix: str

    def __post_init__(self) -> None:
        for name in ("key", "reason", "fix"):
            object.__setattr__(self, name, bounded(getattr(self, name)))

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}. Fix: {self.fix}"


def problem(key: str, reason: str, fix: str) -> Problem:
    """A problem (its texts redacted and bounded, as every Problem's are)."""
    return Problem(key, reason, fix)


EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_BENCHMARK = 4
EXIT_CAPACITY = 5
EXIT_PARTIAL = 6
EXIT_VIOLATIONS = 7


class TpuStackError(Exception):
    """Base of every error tpustack raises on purpose: a runtime or cloud error unless a subclass says more.

    ``fix`` is what the user can do about it, kept as data (``--json`` and tests read it; the message shows it as
    ``<reason>. Fix: <fix>``)."""

    exit_code = EXIT_RUNTIME

    def __init__(self, reason: str = "", *, fix: str | None = None):
        reason, fix = bounded(reason), bounded(fix) if fix is not None else None
        self.reason = reason
        self.fix = fix
        super().__init__(f"{reason}. Fix: {fix}" if fix else reason)


class InternalError(TpuStackError):
    """An invariant tpustack relies on does not hold: a bug in tpustack, never the user's input (exit 1). Raised
    instead of ``assert`` (which ``python -O`` drops) wherever code depends on what validation guarantees."""


class UsageError(TpuStackError):
    """An option or argument the command cannot use (checked by tpustack itself, beyond the parser)."""

    exit_code = EXIT_USAGE


class InputError(TpuStackError):
    """An input the user gave (a file, a directory, a value) cannot be used; nothing was changed."""

    exit_code = EXIT_INVALID


class ConfigError(TpuStackError):
    """The stack config is invalid. Raised before any resource is declared.

    Each problem names the config key, what is wrong and how to fix it.
    """

    exit_code = EXIT_INVALID

    def __init__(self, problems: list[Problem], stack: str | None = None):
        self.problems = list(problems)
        self.stack = bounded(stack, MAX_QUOTE) if stack is not None else None
        where = f" for stack '{self.stack}'" if self.stack else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)  # each problem already redacted and bounded
        Exception.__init__(self, f"invalid tpustack config{where}:\n{lines}")
        self.reason = f"invalid tpustack config{where}"
        self.fix = None

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class BenchmarkError(TpuStackError):
    """A benchmark produced no trustworthy figure (e.g. a timing above the device roofline)."""

    exit_code = EXIT_BENCHMARK
