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

import functools
import json
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from tpustack.core.contracts import (
    RECORD_SCHEMAS,
    Record,
    RecordMetadata,
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


# The ranges of what a result file may hold. A benchmark's figure (tokens/s, ms, seconds, requests) is never
# larger than HUGE, and never, unless zero, smaller than TINY: 5e-324 req/s would make a demand need infinitely many
# replicas, 1e308 tok/s overflows every sum. A file that holds such a value is corrupt, and is refused, not charted.
HUGE = 1e15
TINY = 1e-9
MAX_COUNT = 10**12  # requests, tokens, indices
MAX_CHIPS = 100_000  # replicas, hosts, chips: more than any fleet
MAX_TEXT = 4096  # characters of one string (a run id, a model, a path, a conversion note)
# Bounds by field where they differ from the defaults: (lowest, highest, zero allowed).
_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "point.request_rate": (TINY, HUGE, False),
    "point.max_concurrency": (1, MAX_COUNT, False),
    "goodput.fraction": (0, 1, True),
    "load.seed": (-(2**63), 2**64, True),
    **{f"metadata.{k}": (1, MAX_CHIPS, False) for k in ("replicas", "hosts", "chips", "chips_per_replica")},
    "metadata.speculative_tokens": (0, 1024, True),
}
# Bounds by a field's own name, wherever it sits (the per-role sections of schema v2: prefix_cache.<role>.hit_rate).
_LEAF_BOUNDS: dict[str, tuple[float, float, bool]] = {"hit_rate": (0, 1, True), "external_hit_rate": (0, 1, True)}


def bad_number(v: Any, *, integer: bool = False, positive: bool = False, lo: float = 0, hi: float = HUGE) -> str | None:
    """Why a measured value is unusable, or None when it is a finite number in range (or absent)."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return f"{_shown(v)} is not a number"
    if isinstance(v, int) and not lo <= v <= hi:  # before float(): 10**400 does not convert
        return f"{_shown(v)} is out of range ({lo:g} to {hi:g})"
    if not math.isfinite(v):
        return f"{v!r} is not finite"
    if v < lo or v > hi or (positive and v == 0) or (v != 0 and abs(v) < TINY):
        return f"{_shown(v)} is out of range ({lo:g} to {hi:g}{'' if positive else ', or 0'})"
    if integer and float(v) != int(v):
        return f"{v!r} is not a whole number"
    return None


def _shown(v: Any) -> str:
    """A value as an error quotes it: short, whatever it is (a 400-digit number, a 1 MB string)."""
    s = repr(v)
    return s if len(s) <= 60 else f"{s[:40]}...({len(s)} characters)"


def _kind(tp: Any) -> tuple[Any, bool]:
    """A field's type without ``| None``, and whether None is allowed."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Any), True
    return tp, False


def _value_problem(where: str, v: Any, tp: Any, out: list[str]) -> None:
    """Whether ``v`` is what the contract's type ``tp`` says, in the range of ``where`` (appends the problems)."""
    tp, nullable = _kind(tp)
    if v is None:
        if not nullable:
            out.append(f"{where} is null, not {_name(tp)}")
    elif typing.is_typeddict(tp):
        _section_problems(where, v, tp, out, require=True)
    elif tp in (str, bool, int, float):
        why = _scalar_problem(where, v, tp)
        if why:
            out.append(why)
    elif typing.get_origin(tp) in (list, dict):
        _container_problems(where, v, tp, out)


def _scalar_problem(where: str, v: Any, tp: type) -> str | None:
    if tp is str:
        if not isinstance(v, str):
            return f"{where} is {_shown(v)}, not a string"
        return f"{where} is a string of {len(v)} characters (at most {MAX_TEXT})" if len(v) > MAX_TEXT else None
    if tp is bool:
        return None if isinstance(v, bool) else f"{where} is {_shown(v)}, not true/false"
    default = _LEAF_BOUNDS.get(where.rsplit(".", 1)[-1], (0, MAX_COUNT if tp is int else HUGE, True))
    lo, hi, zero = _BOUNDS.get(where, default)
    why = bad_number(v, integer=tp is int, positive=not zero, lo=lo, hi=hi)
    return f"{where}: {why}" if why else None


def _container_problems(where: str, v: Any, tp: Any, out: list[str]) -> None:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if not isinstance(v, origin):
        out.append(f"{where} is {_shown(v)}, not {'a list' if origin is list else 'an object'}")
    elif origin is list and args:
        for i, item in enumerate(v[:1000]):
            _value_problem(f"{where}[{i}]", item, args[0], out)
    elif origin is dict and len(args) == 2 and args[1] is not typing.Any:
        for k, item in v.items():
            _value_problem(f"{where}.{str(k)[:40]}", item, args[1], out)


def _name(tp: Any) -> str:
    return {str: "a string", bool: "true/false", int: "a whole number", float: "a number"}.get(tp, "an object")


@functools.cache
def _hints(td: type) -> dict[str, Any]:
    return typing.get_type_hints(td)


def _section_problems(where: str, v: Any, td: type, out: list[str], *, require: bool) -> None:
    """A section against its TypedDict: the keys it requires present (when ``require``), every key it declares of
    its type and range (null allowed for an optional scalar: unknown), keys it does not declare ignored."""
    if not isinstance(v, dict):
        out.append(f"{where} is missing or not an object" if require else f"{where} is not an object")
        return
    hints = _hints(td)
    needed = set(required(td)) if require else set()
    for k, tp in hints.items():
        path = f"{where}.{k}" if where else k
        if k not in v:
            if k in needed:
                out.append(f"{path} is missing")
            continue
        if v[k] is None and k not in needed and _kind(tp)[0] in (str, int, float, bool):
            continue  # an optional figure or name left unknown; an optional section is an object or absent
        _value_problem(path, v[k], tp, out)


def record_problems(rec: Any) -> list[str]:
    """What keeps a record from counting toward a report, an SLO or a 'best' (empty when it is usable): every key a
    Record requires present (null where unknown), and every key the contract declares (tpustack.core.contracts)
    of its type and range: strings are strings of a sane length, numbers finite and within the ranges above,
    sections objects. Keys the contract does not declare are ignored (a later version's)."""
    if not isinstance(rec, dict):
        return ["not a record (a JSON object)"]
    out: list[str] = []
    if rec.get("schema") not in RECORD_SCHEMAS:
        out.append(f"schema is {_shown(rec.get('schema'))}, not one of {', '.join(RECORD_SCHEMAS)}")
    if rec.get("tool") not in ToolName.values():
        out.append(f"tool {_shown(rec.get('tool'))} is not one of {', '.join(ToolName.values())}")
    _section_problems("", rec, Record, out, require=True)
    _cache_problems(rec, out)
    return out[:20] + ([f"and {len(out) - 20} more"] if len(out) > 20 else [])


def _cache_problems(rec: dict, out: list[str]) -> None:
    """Schema v2's per-role prefix-cache figures agree with themselves: hits never exceed queries, and the hit rate
    is hits / queries (a file that says otherwise was edited or corrupted)."""
    roles = rec.get("prefix_cache")
    if not isinstance(roles, dict):
        return
    for role, pc in list(roles.items())[:20]:
        if not isinstance(pc, dict):
            continue  # _section_problems said so
        for pre in ("", "external_"):
            q, h, rate = pc.get(f"{pre}queries"), pc.get(f"{pre}hits"), pc.get(f"{pre}hit_rate")
            if (
                isinstance(q, bool)
                or isinstance(h, bool)
                or not isinstance(q, (int, float))
                or not isinstance(h, (int, float))
            ):
                continue
            where = f"prefix_cache.{str(role)[:40]}"
            if h > q:
                out.append(f"{where}: {pre}hits {_shown(h)} exceed {pre}queries {_shown(q)}")
            elif isinstance(rate, (int, float)) and q > 0 and abs(rate - h / q) > 1e-6:  # q, h numbers (above)
                out.append(f"{where}.{pre}hit_rate {_shown(rate)} is not {pre}hits / {pre}queries ({h / q:.6g})")


def run_problems(doc: Any) -> list[str]:
    """What keeps a run manifest (run.json) from being read: the keys the report reads, of their types."""
    if not isinstance(doc, dict):
        return ["not a run manifest (a JSON object)"]
    out: list[str] = []
    if not isinstance(doc.get("run_id"), str) or not doc["run_id"]:
        out.append("run manifest without a run_id")
    for k in ("run_id", "stack", "status", "started_at", "finished_at", "uri"):
        _value_problem(k, doc.get(k), str | None, out)
    if doc.get("metadata") is not None:
        _section_problems("metadata", doc["metadata"], RecordMetadata, out, require=False)
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
