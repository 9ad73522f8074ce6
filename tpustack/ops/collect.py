"""Reading results for `tpustack report` and `tpustack recommend`: every document under gs:// prefixes or local
directories, sorted into records, run manifests and heartbeats, and what could not be used, with the reason.

Reads what the runner and the heartbeat write (``<prefix>/<run_id>/run.json``, ``points/NNN.json``,
``heartbeat.json``), or a tool's own files (normalized on the fly by its module, without metadata). Records are read
through the one record type (tpustack.core.contracts.Record) once they pass the gate files from disks and buckets
must pass (tpustack.workloads.results.record_problems); records of earlier versions, without keys added since,
still read. Nothing is silently dropped: a file that cannot be used is ``Skipped`` with its reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tpustack.core import contracts
from tpustack.core.errors import InputError
from tpustack.workloads import gcs, heartbeat, results, tools

# Per-request files the tools write beside their summaries; read with the summary, not on their own.
COMPANION_FILES = ("request-outputs.json", "per_request_lifecycle_metrics.json")


@dataclass(frozen=True)
class Skipped:
    """A file the report could not use, and why (reported, never silently dropped)."""

    location: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"location": self.location, "reason": self.reason}


@dataclass(frozen=True)
class Found:
    """A record that passed the gate, its metadata holding a run_id, and where it was found."""

    record: contracts.Record
    location: str

    @property
    def metadata(self) -> contracts.RecordMetadata:
        return self.record["metadata"]  # collect gives every record one


@dataclass
class Collection:
    records: list[Found] = field(default_factory=list)
    runs: dict[str, dict] = field(default_factory=dict)  # run_id -> run.json (contracts.RunManifest, untrusted)
    heartbeats: list[dict] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _heartbeat_problems(doc: dict) -> list[str]:
    out = []
    w = doc.get("workload")
    if not isinstance(w, dict) or not all(
        results.bad_number(w.get(k), integer=True, positive=True, hi=results.MAX_COUNT) is None
        and isinstance(w.get(k), int)
        for k in ("batch", "hidden", "intermediate")
    ):
        out.append("workload.batch/hidden/intermediate missing or not positive whole numbers")
    elif not isinstance(w.get("dtype"), str):
        out.append("workload.dtype missing or not a string")
    for k in ("backend", "device", "accelerator"):
        if not isinstance(doc.get(k), str) or len(doc[k]) > results.MAX_TEXT:
            out.append(f"{k} missing or not a string")
    if not isinstance(doc.get("ok"), bool):
        out.append("ok missing or not true/false")
    if doc.get("error") is not None and not isinstance(doc.get("error"), str):
        out.append("error is not a string")
    r = doc.get("result") or {}
    if not isinstance(r, dict):
        out.append("result is not an object")
    else:
        for k in ("ms_per_iteration", "achieved_tflops", "fraction_of_roofline"):
            why = results.bad_number(r.get(k))
            if why:
                out.append(f"result.{k}: {why}")
    return out


def _add_record(col: Collection, source: str, parts: list[str], doc: dict, location: str) -> None:
    try:
        rec = results.checked(doc)
    except results.ResultFormatError as e:
        col.skipped.append(Skipped(location, str(e)))
        return
    meta = rec.setdefault("metadata", {})
    if not isinstance(meta.get("run_id"), str) or not meta["run_id"]:
        meta["run_id"] = "/".join([source.rstrip("/"), *parts[:-2]]) if len(parts) >= 3 else location
    col.records.append(Found(rec, location))


def _add_tool_file(col: Collection, source: str, parts: list[str], doc: dict, location: str) -> None:
    """A tool's own file outside a run: normalized without metadata. Its run is its directory under the source and
    its tool, so files of different tools or directories never merge into one curve."""
    tool = tools.detect(doc)
    stage = tool.stage_of_file(parts[-1]) if tool else None
    if tool is None or stage is None:
        return  # not a tool's file, or one that repeats another (inference-perf's summary files)
    try:
        rec = results.normalize(doc, source_file="/".join(parts), stage=stage)
    except results.ResultFormatError as e:
        col.skipped.append(Skipped(location, str(e)))
        return
    folder = "/".join([source.rstrip("/"), *parts[:-1]])
    rec["metadata"] = {"run_id": f"{folder}#{tool.name}"}
    col.records.append(Found(rec, location))


def _add(col: Collection, source: str, name: str, doc: Any, location: str) -> None:
    """One JSON document found under a source: a record, a run manifest, a heartbeat or a tool's raw file."""
    if name.rsplit("/", 1)[-1] in COMPANION_FILES:
        return
    if not isinstance(doc, dict):
        col.skipped.append(Skipped(location, f"holds a JSON {type(doc).__name__}, not an object"))
        return
    schema = doc.get("schema")
    parts = name.split("/")
    if schema in contracts.RECORD_SCHEMAS:
        _add_record(col, source, parts, doc, location)
    elif schema == contracts.RUN_SCHEMA:
        problems = results.run_problems(doc)
        if problems:
            col.skipped.append(Skipped(location, "; ".join(problems)))
            return
        col.runs[doc["run_id"]] = doc
    elif schema == heartbeat.SCHEMA:
        problems = _heartbeat_problems(doc)
        if problems:
            col.skipped.append(Skipped(location, "; ".join(problems)))
            return
        doc["location"] = location
        col.heartbeats.append(doc)
    elif "raw" not in parts[:-1]:
        _add_tool_file(col, source, parts, doc, location)


def _read_json(text: bytes | str, location: str, col: Collection) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        col.skipped.append(Skipped(location, f"not JSON ({type(e).__name__})"))
        return None


def _collect_gcs(col: Collection, src: str) -> None:
    prefix = src.rstrip("/") + "/"
    uris = [u for u in gcs.list_uris(prefix) if u.endswith(".json")]
    if not uris:
        raise InputError(
            f"{src}: no result objects under that prefix",
            fix="pass gs://BUCKET/STACK (or .../RUN_ID) as the runs were written",
        )
    for uri in uris:
        doc = _read_json(gcs.read(uri), uri, col)
        if doc is not None:
            _add(col, src, uri[len(prefix) :], doc, uri)


def _collect_dir(col: Collection, src: str) -> None:
    root = Path(src)
    if not root.is_dir():
        raise InputError(f"{src}: not a directory or gs:// prefix", fix="pass a results directory or gs://BUCKET/STACK")
    for path in sorted(root.rglob("*.json")):
        try:
            data = path.read_bytes()
        except OSError as e:
            col.skipped.append(Skipped(str(path), f"cannot be read ({e.strerror})"))
            continue
        doc = _read_json(data, str(path), col)
        if doc is not None:
            _add(col, src, path.relative_to(root).as_posix(), doc, str(path))


def collect(sources: list[str]) -> Collection:
    """Every result under the sources; what cannot be used is listed in ``skipped`` with the reason."""
    col = Collection()
    for src in sources:
        if src.startswith("gs://"):
            _collect_gcs(col, src)
        else:
            _collect_dir(col, src)
    col.records.sort(key=lambda f: (str(f.metadata.get("run_id", "")), f.record["point"].get("index", 0)))
    return col
