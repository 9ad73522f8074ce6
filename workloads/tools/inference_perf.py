"""kubernetes-sigs/inference-perf 0.7.0 (its own image, tpustack.core.engines.INFERENCE_PERF): its config file for one
sweep point and its report files.

Config: the pydantic models under ``inference_perf/config/`` (extra="forbid"), one stage per sweep point, read with
its YAML loader from ``--config_file``. Report (``inference_perf/reportgen/base.py`` ``summarize_requests``, written
as ``stage_N_lifecycle_metrics.json``; docs/reports.md, docs/metrics.md): ``load_summary {count, schedule_delay,
send_duration, requested_rate, achieved_rate, concurrency}``, ``successes {count, latency {request_latency,
time_to_first_token, time_per_output_token, inter_token_latency, normalized_time_per_output_token}, throughput
{input_tokens_per_sec, output_tokens_per_sec, total_tokens_per_sec, requests_per_sec}, goodput_metrics}``,
``failures {count}``, ``benchmark_time_seconds``; latencies in seconds with keys mean/min/max/median/pNN. With
``per_request`` on, ``per_request_lifecycle_metrics.json`` holds each request's start/end times, token times and the
server's usage.

Definitions, and what tpustack converts: its time_per_output_token is (last token time - first token time) /
(n - 1), which is ours up to the gap between the last token and the end of the response; with per-request data ours
is recomputed as (E2E - TTFT) / (n - 1), n from the server's usage, and the achieved rate from the send times; its
normalized_time_per_output_token (E2E / n) is not used. It sends Poisson arrivals or a fixed concurrency only, and no
temperature (the server's default sampling applies).

Other versions: a stage file without ``benchmark_time_seconds`` was written by an inference-perf before 0.5.0
(``reportgen/base.py`` adds it in v0.5.0). Up to v0.2.0 its client timed every line of the SSE stream, the blank line
after each event included (``apis/completion.py``: ``output_token_times.append`` before ``if not chunk_bytes``; fixed
in v0.3.0), so its time_per_output_token and inter_token_latency are about half the real ones, and the file does not
say which version wrote it. Such a file is normalized only from its per-request data (TPOT = (E2E - TTFT) / (n - 1),
n its token count, not its timestamps), its ITL left empty; without per-request data it is refused, the version named.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from tpustack.core import images
from tpustack.core.contracts import BenchSpec, Record, SpecLoad, SpecPrefix, Stats, SweepPoint
from tpustack.core.engines import EngineName, ToolName
from tpustack.core.errors import BenchmarkError

from .. import records
from .base import BenchTool, PointResult, ToolFacts, read_json, tolerance

FACTS = ToolFacts(
    name=ToolName.INFERENCE_PERF,
    # server.type: vllm|sglang|tgi|mock (inference_perf/config/client/modelserver/config.py)
    engines=(EngineName.VLLM,),
    datasets=(*images.INFERENCE_PERF.datasets, images.SHARED_PREFIX_DATASET),
    concurrency_limit=True,  # load.type concurrent
    burstiness=False,  # load.type poisson: Poisson arrivals only
    ignores_eos_on_random=False,  # server.ignore_eos is sent as the stack says
    sends_temperature=False,
    command=images.INFERENCE_PERF.command,
    image=images.INFERENCE_PERF.image,
    version=images.INFERENCE_PERF_VERSION,
)
CONFIG_FILE = "config.yml"  # JSON is YAML: inference-perf reads it with its YAML loader
STAGE_GLOB = "stage_*_lifecycle_metrics.json"
PER_REQUEST_FILE = "per_request_lifecycle_metrics.json"
# inference-perf workers: its default is the machine's CPU count, in a pod the node's; the Job asks for 2 CPUs.
WORKERS = 2
TPOT_AS_WRITTEN = (
    "inference-perf time_per_output_token = (last token time - first token time) / "
    "(n - 1): ours up to the gap between the last token and the end of the response; "
    "its normalized_time_per_output_token (E2E / n) is not used; seconds -> ms"
)


def poisson_stage(num_prompts: int, rate: float) -> dict[str, float | int]:
    """A stage that sends exactly ``num_prompts`` at about ``rate``: inference-perf 0.7.0 sends int(rate x
    duration) requests (loadgen/load_generator.py run_stage) with an integer duration, so the rate is nudged
    to (N + 0.5) / duration, which truncates to N for every N and duration (rate N / duration can fall one short
    through float rounding)."""
    duration = max(1, round(num_prompts / rate))
    return {"rate": (num_prompts + 0.5) / duration, "duration": duration}


def shared_prefix(load: SpecLoad, prefix: SpecPrefix) -> dict[str, Any]:
    """Its shared_prefix data (inference_perf/config/datagen/config.py SharedPrefix, extra="forbid"): the load's
    groups of prompts, each group's prefix then a question of input_len tokens. Random data with one prefix (vLLM's
    --random-prefix-len) is the same workload with one group: its random data has no prefix."""
    return {
        "num_groups": prefix["groups"],
        "num_prompts_per_group": prefix["prompts_per_group"],
        "system_prompt_len": prefix["prefix_len"],
        "question_len": load["input_len"],
        "output_len": load["output_len"],
        "seed": load["seed"],
        "enable_multi_turn_chat": prefix["multi_turn"],
    }


def config(spec: BenchSpec, point: SweepPoint, outdir: Path, num_prompts: int, dataset_path: str | None) -> dict:
    """An inference-perf 0.7.0 config (inference_perf/config/*, extra="forbid"), one stage per sweep point."""
    load, slo = spec["load"], spec.get("slo") or {}

    def fixed(n: int) -> dict:
        return {"type": "fixed", "min": n, "max": n, "mean": n, "std_dev": 0, "total_count": num_prompts}

    prefix = load.get("prefix")
    data: dict[str, Any]
    if prefix:
        data = {"type": images.INFERENCE_PERF_PREFIX_DATA, "shared_prefix": shared_prefix(load, prefix)}
    elif load["dataset"] == "random":
        data = {
            "type": "random",
            "input_distribution": fixed(load["input_len"]),
            "output_distribution": fixed(load["output_len"]),
        }
    else:
        data = {"type": "shareGPT", "path": dataset_path}
    ld: dict[str, Any]
    if point.get("max_concurrency"):
        ld = {
            "type": "concurrent",
            "stages": [{"concurrency_level": point["max_concurrency"], "num_requests": num_prompts}],
        }
    else:  # a point without a concurrency has a rate (bench_spec builds one or the other)
        ld = {"type": "poisson", "stages": [poisson_stage(num_prompts, cast(float, point["request_rate"]))]}
    ld["base_seed"] = load["seed"]
    ld["num_workers"] = WORKERS
    # its goodput constraints, in seconds, with its metric names
    constraints = {
        k: v / 1e3
        for k, v in (("ttft", slo.get("ttft_ms")), ("tpot", slo.get("tpot_ms")), ("request_latency", slo.get("e2e_ms")))
        if v
    }
    report: dict[str, Any] = {
        "request_lifecycle": {
            "summary": True,
            "per_stage": True,
            # per request: send times (the achieved rate) and each request's own TTFT/E2E/tokens
            "per_request": True,
            "per_request_fields": {
                "request": False,
                "response": False,
                "response_chunks": False,
                "info": True,
                "computed_metrics": True,
            },
            "percentiles": list(records.PERCENTILES),
        }
    }
    if constraints:
        report["goodput"] = {"constraints": constraints}
    return {
        "api": {"type": "completion", "streaming": True},
        "data": data,
        "load": ld,
        "server": {
            "type": "vllm",
            "model_name": spec["model"]["id"],
            "base_url": spec["server"]["base_url"],
            "ignore_eos": load["ignore_eos"],
        },
        "tokenizer": {"pretrained_model_name_or_path": spec["model"]["id"]},
        "report": report,
        "storage": {"local_storage": {"path": str(outdir)}},
    }


# ----- its report files -> one record -------------------------------------------------------------------------
def _stats(d: dict | None) -> Stats:
    """inference-perf distribution (seconds; keys mean/median/pNN) -> ours (ms)."""
    if not d:
        return records.empty_stats()
    return records.scaled(
        records.stats_of(records.num(d.get("mean")), lambda p: records.num(d.get("median" if p == 50 else f"p{p}"))),
        1e3,
    )


def normalize(
    doc: dict[str, Any],
    *,
    stage: int = 0,
    source_file: str = "stage.json",
    slo: Mapping[str, object] | None = None,
    tolerance: float = records.KEPT_UP_TOLERANCE,
    per_request: list[dict] | None = None,
    requested_rate: float | None = None,
) -> Record:
    """One inference-perf 0.7.0 `stage_N_lifecycle_metrics.json` (and its `per_request_lifecycle_metrics.json`,
    when written) -> one record.

    Its summaries are in seconds, p50 written as ``median`` (reportgen/base.py). ``requested_rate`` is the sweep
    point's rate (the stage's own rate is nudged so it sends exactly N requests).
    """
    succ, ls = doc.get("successes"), doc.get("load_summary")
    if not isinstance(succ, dict) or not isinstance(ls, dict):
        raise BenchmarkError(
            f"{source_file}: not an inference-perf lifecycle report (no successes / load_summary)",
            fix="pass stage_N_lifecycle_metrics.json from its report dir",
        )
    older = "benchmark_time_seconds" not in doc
    if older and not per_request:
        raise BenchmarkError(
            f"{source_file}: an inference-perf stage file without benchmark_time_seconds, so written by a version "
            f"before 0.5.0 (tpustack pins {FACTS.version}); versions up to 0.2.0 time every SSE line and report "
            "about half the real time_per_output_token, and the file does not say which version wrote it",
            fix=f"put its {PER_REQUEST_FILE} beside it (TPOT is then recomputed per request), or rerun with "
            f"inference-perf {FACTS.version}",
        )
    r = records.new_record(ToolName.INFERENCE_PERF, source_file)
    r["point"]["index"] = stage
    requested = records.num(requested_rate) if requested_rate is not None else records.num(ls.get("requested_rate"))
    r["point"]["request_rate"] = requested if ls.get("concurrency") is None else None
    r["point"]["max_concurrency"] = ls.get("concurrency")
    completed = int(succ.get("count") or 0)
    failed = int((doc.get("failures") or {}).get("count") or 0)
    r["requests"] = {"completed": completed, "failed": failed}
    _throughput_and_latency(r, doc, succ, completed)
    r["load"] = {
        "request_rate": r["point"]["request_rate"],
        "concurrency": ls.get("concurrency"),
        "count": ls.get("count"),
        "send_duration_s": records.num(ls.get("send_duration")),
    }
    c = r["client"]
    c["requested_rate"] = r["point"]["request_rate"]
    c["achieved_rate"] = records.num(ls.get("achieved_rate"))
    c["achieved_rate_basis"] = "inference-perf load_summary.achieved_rate (count / send duration)"
    if per_request:
        _per_request(r, per_request, records.slo_ms(slo), r.get("duration_s"))
    if older:
        _older(r, source_file)
    delay = records.num((ls.get("schedule_delay") or {}).get("p99"))
    c["schedule_delay_p99_ms"] = delay * 1e3 if delay is not None else None
    records.kept_up(r, tolerance)
    gm = succ.get("goodput_metrics")
    if gm and not (per_request and r["goodput"].get("basis")):
        r["goodput"] = {
            "slo_ms": records.slo_ms(slo),
            "good_requests": gm.get("good_requests"),
            "requests_per_s": records.num(gm.get("request_goodput")),
            "fraction": (records.num(gm.get("goodput_percentage")) or 0.0) / 100.0,
            "basis": "inference-perf goodput_metrics (report.goodput.constraints)",
        }
    return r


def _older(r: Record, source_file: str) -> None:
    """A file of an inference-perf before 0.5.0: only what its per-request data gives counts (see the docstring)."""
    if not any(c.startswith("per-request data:") for c in r["conversions"]):
        raise BenchmarkError(
            f"{source_file}: an inference-perf stage file of a version before 0.5.0 (no benchmark_time_seconds) whose "
            "per-request data gives no request's TTFT, E2E and token count; its own time_per_output_token may be "
            "half the real one (versions up to 0.2.0)",
            fix=f"rerun with inference-perf {FACTS.version}",
        )
    r["latency_ms"]["itl"] = records.empty_stats()
    r["conversions"].append(
        "inference-perf before 0.5.0 (no benchmark_time_seconds): its time_per_output_token and inter_token_latency "
        "(about half the real ones up to 0.2.0, which timed every SSE line) are not used; TPOT from per-request "
        "data, ITL left empty"
    )


def _throughput_and_latency(r: Record, doc: dict[str, Any], succ: dict[str, Any], completed: int) -> None:
    tp = succ.get("throughput") or {}
    t = r["throughput"]
    t["requests_per_s"] = records.num(tp.get("requests_per_sec"))
    t["input_tokens_per_s"] = records.num(tp.get("input_tokens_per_sec"))
    t["output_tokens_per_s"] = records.num(tp.get("output_tokens_per_sec"))
    t["total_tokens_per_s"] = records.num(tp.get("total_tokens_per_sec"))
    dur = records.num(doc.get("benchmark_time_seconds"))
    if dur is None and t["requests_per_s"]:
        dur = completed / t["requests_per_s"]
        r["conversions"].append(
            "no benchmark_time_seconds (older inference-perf): duration = successes / requests_per_sec"
        )
    r["duration_s"] = dur
    lat = succ.get("latency") or {}
    r["latency_ms"] = {
        "ttft": _stats(lat.get("time_to_first_token")),
        "tpot": _stats(lat.get("time_per_output_token")),
        "itl": _stats(lat.get("inter_token_latency")),
        "e2e": _stats(lat.get("request_latency")),
    }
    r["conversions"].append(TPOT_AS_WRITTEN)


def _per_request(r: Record, rows: list[dict], slo_ms: dict[str, float], dur: float | None) -> None:
    """Per-request figures from inference-perf's per_request_lifecycle_metrics.json: our TPOT definition
    and the achieved (offered) rate from the send times (perf_counter seconds: only differences count)."""
    ttft, e2e, n_out, starts = [], [], [], []
    for row in rows:
        if not isinstance(row, dict):
            continue
        start, end = records.num(row.get("start_time")), records.num(row.get("end_time"))
        if start is not None:
            starts.append(start)
        if row.get("error") or start is None or end is None:
            continue
        # 0.7.0 nests the figures in info.response_metrics; before 0.5.0 they are info's own
        raw: dict = row["info"] if isinstance(row.get("info"), dict) else {}
        info: dict = raw.get("response_metrics") or raw
        usage = info.get("server_usage") or {}
        n = records.num(usage.get("completion_tokens")) or records.num(info.get("output_tokens"))
        times = info.get("output_token_times") or []
        first = records.num(times[0]) if times else None
        if not n or first is None:
            continue
        ttft.append(first - start)
        e2e.append(end - start)
        n_out.append(n)
    if ttft:
        itl = r["latency_ms"]["itl"]  # inference-perf's own pooled token gaps, kept
        records.per_request(r, ttft, e2e, n_out, None, slo_ms, dur)
        r["latency_ms"]["itl"] = itl
        r["conversions"].append(
            "per-request data: TTFT = first token time - start, E2E = end - start, TPOT = "
            "(E2E - TTFT) / (n - 1) with n the server's completion_tokens"
        )
    records.send_rate(r, starts)


class InferencePerf(BenchTool):
    facts = FACTS

    def argv(
        self, spec: BenchSpec, point: SweepPoint, outdir: Path, num_prompts: int, dataset_path: str | None
    ) -> list[str]:
        cfg = outdir / CONFIG_FILE
        cfg.write_text(json.dumps(config(spec, point, outdir, num_prompts, dataset_path), indent=2))
        return ["--config_file", str(cfg)]

    def recognizes(self, doc: Mapping[str, Any]) -> bool:
        return "load_summary" in doc and "successes" in doc

    def stage_of_file(self, filename: str) -> int | None:
        """Only its stage_N_lifecycle_metrics.json files are read on their own (its summary files repeat them)."""
        name = filename.rsplit("/", 1)[-1]
        if not name.startswith("stage_"):
            return None
        part = name.split("_")[1]
        return int(part) if part.isdigit() else 0

    def normalize(
        self,
        doc: dict[str, Any],
        *,
        source_file: str,
        stage: int,
        slo: Mapping[str, object] | None,
        tolerance: float,
    ) -> Record:
        return normalize(doc, stage=stage, source_file=source_file, slo=slo, tolerance=tolerance)

    def read_point(self, spec: BenchSpec, outdir: Path, point: SweepPoint) -> PointResult:
        stages = sorted(outdir.rglob(STAGE_GLOB))
        if not stages:
            raise BenchmarkError(f"inference-perf wrote no {STAGE_GLOB}", fix="see the tool log")
        per_request = sorted(outdir.rglob(PER_REQUEST_FILE))
        rec = normalize(
            read_json(stages[0]),
            source_file=stages[0].name,
            slo=spec.get("slo"),
            tolerance=tolerance(spec),
            per_request=read_json(per_request[0]) if per_request else None,
            requested_rate=point.get("request_rate"),
        )
        return PointResult(rec, sorted(outdir.rglob("*.json")) + sorted(outdir.rglob("*.yaml")))
