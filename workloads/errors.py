"""The project's error kinds, as seen from workloads/.

Where components/ is importable (the CLI, tests) these are components.errors' own classes, so `tpustack`
maps them to its exit codes. On a TPU VM or in a benchmark Job only workloads/ is present, so stdlib
stand-ins with the same names and exit codes take their place.
"""

from __future__ import annotations

try:
    from components.errors import BenchmarkError, TpuStackError
except ImportError:  # TPU VM / Job: only workloads/ is there

    class TpuStackError(Exception):  # type: ignore[no-redef]
        exit_code = 1

    class BenchmarkError(TpuStackError):  # type: ignore[no-redef]
        exit_code = 4

__all__ = ["BenchmarkError", "TpuStackError"]
