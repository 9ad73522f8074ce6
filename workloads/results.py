"""Reading result files that anyone may have written: which tool wrote a file, its record, and the gate a record
must pass before it counts toward a report, an SLO or a 'best'.

The tools' own files and the runner's records are read from disks and buckets; whatever a document holds, the
functions here return a record (tpustack.core.contracts.Record) or raise ``ResultFormatError`` naming the file and
what is wrong, never a Python exception of the parsing. ``record_problems`` checks exactly the keys a ``Record``
requires, so a record of an earlier version (without keys added since) still reads. How each tool's files map onto
the record is in its module (tpustack.workloads.tools); the record's parts are built by tpustack.workloads.records.
Stdlib only: the runner (a pod) imports this module.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from tpustack.core.contracts import (
    RECORD_SCHEMA,
    Client,
    Goodput,
    Latency,
    Record,
    RecordPoint,
    Requests,
    Stats,
    Throughput,
    required,
)
from tpustack.core.engines import ToolName
from tpustack.core.errors import BenchmarkError, InputError

from . import records, tools


class ResultFormatError(InputError):
    """A result file that is not what its tool writes, or a record that breaks the schema's value ranges."""


def detect_tool(doc: Any) -> ToolName | None:
    found = tools.detect(doc)
    return found.name if found else None


def normalize(
    doc: Any,
    *,
    source_file: str,
    stage: int = 0,
    slo: Mapping[str, object] | None = None,
    tolerance: float = records.KEPT_UP_TOLERANCE,
) -> Record:
    """A tool's own result document -> a record, or ResultFormatError naming the file and what is wrong."""
    tool = tools.detect(doc)
    if tool is None:
        raise ResultFormatError(f"{source_file}: not a result file of {', '.join(ToolName.values())}")
    try:
        rec = tool.normalize(doc, source_file=source_file, stage=stage, slo=slo, tolerance=tolerance)
    except BenchmarkError as e:
        raise ResultFormatError(str(e)) from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, ZeroDivisionError, OverflowError) as e:
        raise ResultFormatError(
            f"{source_file}: a {tool.name} result with fields of the wrong shape ({type(e).__name__}: {e})"
        ) from None
    problems = record_problems(rec)
    if problems:
        raise ResultFormatError(f"{source_file}: {'; '.join(problems)}")
    return rec


def checked(doc: Any) -> Record:
    """A record read from a file, once it passes the gate; ResultFormatError with the problems otherwise."""
    problems = record_problems(doc)
    if problems:
        raise ResultFormatError("; ".join(problems))
    return cast(Record, doc)  # record_problems proved every key a Record requires


def bad_number(v: Any, *, integer: bool = False, positive: bool = False) -> str | None:
    """Why a measured value is unusable, or None when it is a finite number in range (or absent)."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return f"{v!r} is not a number"
    if not math.isfinite(v):
        return f"{v!r} is not finite"
    if v < 0 or (positive and v == 0):
        return f"{v!r} is out of range"
    if integer and float(v) != int(v):
        return f"{v!r} is not a whole number"
    return None


def record_problems(rec: Any) -> list[str]:
    """What keeps a record from counting toward a report, an SLO or a 'best' (empty when it is usable): every
    key a Record requires present (null where unknown), every number finite and in range."""
    if not isinstance(rec, dict):
        return ["not a record (a JSON object)"]
    out: list[str] = []
    checks: list[tuple[str, Any, dict]] = []

    def section(name: str, keys: tuple[str, ...], numbers: dict[str, dict] | None = None) -> dict:
        v = rec.get(name)
        if not isinstance(v, dict):
            out.append(f"{name} is missing or not an object")
            return {}
        for k in keys:
            if k not in v:
                out.append(f"{name}.{k} is missing")
            elif numbers is not None and k in numbers:
                checks.append((f"{name}.{k}", v[k], numbers[k]))
        return v

    if rec.get("schema") != RECORD_SCHEMA:
        out.append(f"schema is {rec.get('schema')!r}, not {RECORD_SCHEMA}")
    if rec.get("tool") not in ToolName.values():
        out.append(f"tool {rec.get('tool')!r} is not one of {', '.join(ToolName.values())}")
    section(
        "point",
        required(RecordPoint),
        {
            "index": {"integer": True},
            "request_rate": {"positive": True},
            "max_concurrency": {"integer": True, "positive": True},
        },
    )
    section("requests", required(Requests), {"completed": {"integer": True}, "failed": {"integer": True}})
    section("throughput", required(Throughput), {k: {} for k in required(Throughput)})
    lat = section("latency_ms", required(Latency))
    for m in required(Latency):
        block = lat.get(m)
        if m in lat and not isinstance(block, dict):
            out.append(f"latency_ms.{m} is not an object")
        elif isinstance(block, dict):
            for k in required(Stats):
                if k not in block:
                    out.append(f"latency_ms.{m}.{k} is missing")
                else:
                    checks.append((f"latency_ms.{m}.{k}", block[k], {}))
    client = section("client", required(Client), {"achieved_rate": {}})
    if client.get("kept_up") not in (None, True, False):
        out.append(f"client.kept_up is {client.get('kept_up')!r}, not true/false/null")
    section("goodput", required(Goodput), {"requests_per_s": {}})
    checks.append(("duration_s", rec.get("duration_s"), {}))
    if not isinstance(rec.get("metadata", {}), dict):
        out.append("metadata is not an object")
    if not isinstance(rec.get("conversions", []), list):
        out.append("conversions is not a list")
    for where, value, kw in checks:
        why = bad_number(value, **kw)
        if why:
            out.append(f"{where}: {why}")
    return out


def normalize_dir(directory: Path, slo: Mapping[str, object] | None = None) -> list[Record]:
    """Every tool result file in a directory (raw, unnormalized) -> records, in a stable order. Files that
    are not a tool's result, or cannot be read, raise ResultFormatError."""
    found = []
    for path in sorted(directory.rglob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ResultFormatError(f"{path}: cannot be read as JSON ({e})") from None
        tool = tools.detect(doc)
        stage = tool.stage_of_file(path.name) if tool else None
        if tool is None or stage is None:
            continue
        found.append(normalize(doc, source_file=str(path.relative_to(directory)), stage=stage, slo=slo))
    return found
