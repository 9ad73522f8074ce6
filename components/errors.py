"""The project's exception hierarchy. Scripts and the CLI map these kinds to exit codes."""

from __future__ import annotations


class TpuStackError(Exception):
    """Base of every error tpustack raises on purpose."""

    exit_code = 1


class ConfigError(TpuStackError):
    """The stack config is invalid. Raised before any resource is declared.

    Each problem is one line that names the config key, what is wrong and how to fix it.
    """

    exit_code = 2

    def __init__(self, problems: list[str], stack: str | None = None):
        self.problems = list(problems)
        self.stack = stack
        where = f" for stack '{stack}'" if stack else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid tpustack config{where}:\n{lines}")


class CapacityError(TpuStackError):
    """Capacity was not available (stockout, quota). Retryable, unlike a ConfigError."""

    exit_code = 3
    retryable = True


class BenchmarkError(TpuStackError):
    """A benchmark produced no trustworthy figure (e.g. a timing above the device roofline)."""

    exit_code = 4


def problem(field: str, reason: str, fix: str) -> str:
    """Format one config problem: the key, what is wrong and why, and the fix."""
    return f"{field}: {reason}. Fix: {fix}"
