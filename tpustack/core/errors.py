"""The project's exception hierarchy and the one shape of a user-facing problem.

Every error tpustack raises on purpose is a ``TpuStackError``; its ``exit_code`` is what the CLI exits with
(README "Exit codes"). Config problems are typed ``Problem(key, reason, fix)`` values, collected all at once
and carried by ``ConfigError``. Stdlib only: pods raise these too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the user's input: where (a config key, a template, a file), what and why, and
    the fix."""

    key: str
    reason: str
    fix: str

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}. Fix: {self.fix}"


def problem(key: str, reason: str, fix: str) -> Problem:
    return Problem(key, reason, fix)


class TpuStackError(Exception):
    """Base of every error tpustack raises on purpose."""

    exit_code = 1


class ConfigError(TpuStackError):
    """The stack config is invalid. Raised before any resource is declared.

    Each problem names the config key, what is wrong and how to fix it.
    """

    exit_code = 2

    def __init__(self, problems: list[Problem], stack: str | None = None):
        self.problems = list(problems)
        self.stack = stack
        where = f" for stack '{stack}'" if stack else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid tpustack config{where}:\n{lines}")

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class CapacityError(TpuStackError):
    """Capacity was not available (stockout, quota). Retryable, unlike a ConfigError."""

    exit_code = 3
    retryable = True


class BenchmarkError(TpuStackError):
    """A benchmark produced no trustworthy figure (e.g. a timing above the device roofline)."""

    exit_code = 4
