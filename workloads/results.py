"""One result schema for serving benchmarks, and the normalizers that map each tool's own files onto it.

One record per sweep point (a request rate or a concurrency), whatever tool measured it:

* throughput: requests/s, input/output/total tokens/s, and output/total tokens/s per chip;
* latency in ms (mean, p50, p90, p99) of TTFT, TPOT, ITL and E2E, with ONE definition of TPOT:
  ``(E2E - TTFT) / (output tokens - 1)`` per request, over requests with more than one output token;
* failures, goodput against the SLOs (a request is good when it meets every SLO that is set),
* the load model and proof the client kept up (requested vs achieved arrival rate, schedule delay),
* conversions: a line for every place a tool's own definition had to be converted, or a figure could
  not be derived and is left empty rather than guessed,
* metadata (stack, engine, image, engine args, accelerator, topology, capacity, model, dataset, git
  revision, timestamps) added by the runner from the benchmark spec.

Field names of each tool come from its source:

* vLLM ``vllm/benchmarks/serve.py`` (``benchmark()`` result dict and ``main_async`` result_json):
  duration, completed, failed, total_input_tokens, total_output_tokens, request_throughput,
  request_goodput, output_throughput, total_token_throughput, request_rate, burstiness, max_concurrency,
  ``{mean,median,std,pNN}_{ttft,tpot,itl,e2el}_ms``; with ``--save-detailed`` also per-request
  input_lens, output_lens, ttfts, itls, latencies, start_times, errors (seconds). Its TPOT is already
  (latency - ttft)/(output_len - 1).
* JetStream ``benchmarks/benchmark_serving.py`` (``--save-result``): ``{"metrics": {num_prompts,
  request_rate, duration, completed, total_input_tokens, total_output_tokens, request_throughput,
  input_throughput, output_throughput, {mean,median,p99}_{ttft,ttst,TPOT}_ms}, "dimensions": {date,
  model_id, tokenizer_id, ...}}`` (key names from ``EventMetric.distribution_summary_dict`` in
  ``benchmarks/metrics.py``). Its "TPOT" is latency / output tokens (``calculate_metrics``), so TTFT is
  inside it; ``--save-request-outputs`` writes per-request latency_sec, ttft_sec, success (no token
  counts).
* kubernetes-sigs/inference-perf ``inference_perf/reportgen/base.py`` (``summarize_requests``, written as
  ``stage_N_lifecycle_metrics.json``; docs/reports.md, docs/metrics.md): ``load_summary {count,
  schedule_delay, send_duration, requested_rate, achieved_rate, concurrency}``, ``successes {count,
  latency {request_latency, time_to_first_token, time_per_output_token, inter_token_latency,
  normalized_time_per_output_token}, throughput {input_tokens_per_sec, output_tokens_per_sec,
  total_tokens_per_sec, requests_per_sec}, goodput_metrics}``, ``failures {count}``,
  ``benchmark_time_seconds``; latencies in seconds with keys mean/min/max/median/pNN.

Stdlib only: this module runs inside the engine's benchmark image (see workloads/spec.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tpustack.core.errors import BenchmarkError, InputError

RECORD_SCHEMA = "tpustack.serving-point/v1"
RUN_SCHEMA = "tpustack.serving-run/v1"
TOOLS = ("vllm-bench", "jetstream-benchmark", "inference-perf")
PERCENTILES = (50, 90, 99)
TPOT_DEFINITION = "(E2E - TTFT) / (output tokens - 1), per request with > 1 output token"
# The client kept up when it sent at least this share of the requested arrival rate.
KEPT_UP_TOLERANCE = 0.9


# ----- statistics ----------------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), so figures match the tools'."""
    if not values:
        raise ValueError("percentile of no values")
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def stats(values: Iterable[float]) -> dict[str, float | None]:
    xs = [float(v) for v in values]
    if not xs:
        return empty_stats()
    return {"mean": sum(xs) / len(xs), **{f"p{p}": percentile(xs, p) for p in PERCENTILES}}


def empty_stats() -> dict[str, float | None]:
    return {"mean": None, **{f"p{p}": None for p in PERCENTILES}}


def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _scaled(d: dict[str, float | None], factor: float) -> dict[str, float | None]:
    return {k: (v * factor if v is not None else None) for k, v in d.items()}


# ----- the record ----------------------------------------------------------------------------------------
def new_record(tool: str, source_file: str) -> dict[str, Any]:
    return {
        "schema": RECORD_SCHEMA,
        "tool": tool,
        "source_file": source_file,
        "point": {"index": 0, "request_rate": None, "max_concurrency": None},
        "load": {},
        "client": {
            "requested_rate": None,
            "achieved_rate": None,
            "achieved_rate_basis": None,
            "kept_up": None,
            "schedule_delay_p99_ms": None,
        },
        "requests": {"completed": None, "failed": None},
        "duration_s": None,
        "throughput": {
            "requests_per_s": None,
            "input_tokens_per_s": None,
            "output_tokens_per_s": None,
            "total_tokens_per_s": None,
            "output_tokens_per_s_per_chip": None,
            "total_tokens_per_s_per_chip": None,
        },
        "latency_ms": {m: empty_stats() for m in ("ttft", "tpot", "itl", "e2e")},
        "tpot_definition": TPOT_DEFINITION,
        "goodput": {"slo_ms": {}, "good_requests": None, "requests_per_s": None, "fraction": None, "basis": None},
        "conversions": [],
        "server_metrics": {},
        "metadata": {},
    }


def _kept_up(record: dict[str, Any], tolerance: float) -> None:
    c = record["client"]
    req, ach = c["requested_rate"], c["achieved_rate"]
    if req is None or ach is None:
        return
    if c["achieved_rate_basis"] == "lower bound: completed / duration":
        # A lower bound proves the client kept up when it clears the bar; below it, nothing is proven.
        c["kept_up"] = True if ach >= tolerance * req else None
    else:
        c["kept_up"] = ach >= tolerance * req


def _slo_ms(slo: dict[str, Any] | None) -> dict[str, float]:
    slo = slo or {}
    keys = {
        "ttft": ("ttft_ms", "ttftMs", "ttft"),
        "tpot": ("tpot_ms", "tpotMs", "tpot"),
        "e2e": ("e2e_ms", "e2eMs", "e2e"),
    }
    out = {}
    for k, names in keys.items():
        for n in names:
            if _num(slo.get(n)) is not None:
                out[k] = float(slo[n])
                break
    return out


def goodput_from_requests(
    ttft_s: list[float],
    tpot_s: list[float],
    e2e_s: list[float],
    slo: dict[str, float],
    duration_s: float | None,
    completed: int,
) -> dict[str, Any]:
    """Requests meeting every set SLO (ms), per second of the run and as a share of completed requests."""
    good = 0
    for t, p, e in zip(ttft_s, tpot_s, e2e_s, strict=False):
        ok = (
            ("ttft" not in slo or t * 1e3 <= slo["ttft"])
            and ("tpot" not in slo or p * 1e3 <= slo["tpot"])
            and ("e2e" not in slo or e * 1e3 <= slo["e2e"])
        )
        good += ok
    return {
        "slo_ms": slo,
        "good_requests": good,
        "requests_per_s": good / duration_s if duration_s else None,
        "fraction": good / completed if completed else None,
        "basis": "per-request, computed by tpustack",
    }


def _per_request(
    record: dict[str, Any],
    ttft_s: list[float],
    e2e_s: list[float],
    n_out: list[float],
    itl_s: list[float] | None,
    slo: dict[str, float],
    duration_s: float | None,
) -> None:
    """Fill latency (and goodput) from per-request figures with the one TPOT definition."""
    tpot_s = [(e - t) / (n - 1) for t, e, n in zip(ttft_s, e2e_s, n_out, strict=False) if n > 1]
    lat = record["latency_ms"]
    lat["ttft"] = _scaled(stats(ttft_s), 1e3)
    lat["e2e"] = _scaled(stats(e2e_s), 1e3)
    lat["tpot"] = _scaled(stats(tpot_s), 1e3)
    if itl_s is not None:
        lat["itl"] = _scaled(stats(itl_s), 1e3)
    if slo:
        # A request with one output token has no TPOT; like vLLM, count it as meeting the TPOT SLO.
        all_tpot = [(e - t) / (n - 1) if n > 1 else 0.0 for t, e, n in zip(ttft_s, e2e_s, n_out, strict=False)]
        record["goodput"] = goodput_from_requests(ttft_s, all_tpot, e2e_s, slo, duration_s, len(ttft_s))


# ----- vLLM ----------------------------------------------------------------------------------------------
def normalize_vllm(
    doc: dict[str, Any],
    *,
    source_file: str = "vllm.json",
    slo: dict | None = None,
    tolerance: float = KEPT_UP_TOLERANCE,
) -> dict[str, Any]:
    """A `vllm bench serve --save-result [--save-detailed]` JSON file -> one record."""
    if "request_throughput" not in doc or "completed" not in doc:
        raise BenchmarkError(
            f"{source_file}: not a `vllm bench serve --save-result` file (no completed / "
            "request_throughput). Fix: pass the JSON written under --result-dir"
        )
    r = new_record("vllm-bench", source_file)
    slo_ms = _slo_ms(slo)
    rate = doc.get("request_rate")
    r["point"]["request_rate"] = _num(rate) if rate not in ("inf", None) else None
    r["point"]["max_concurrency"] = doc.get("max_concurrency")
    r["requests"] = {"completed": int(doc["completed"]), "failed": int(doc.get("failed") or 0)}
    dur = _num(doc.get("duration"))
    r["duration_s"] = dur
    t = r["throughput"]
    t["requests_per_s"] = _num(doc.get("request_throughput"))
    t["output_tokens_per_s"] = _num(doc.get("output_throughput"))
    t["total_tokens_per_s"] = _num(doc.get("total_token_throughput"))
    if dur and doc.get("total_input_tokens") is not None:
        t["input_tokens_per_s"] = doc["total_input_tokens"] / dur
    r["load"] = {
        "request_rate": r["point"]["request_rate"],
        "burstiness": doc.get("burstiness"),
        "max_concurrency": doc.get("max_concurrency"),
        "num_prompts": doc.get("num_prompts"),
        "model_id": doc.get("model_id"),
        "tokenizer_id": doc.get("tokenizer_id"),
        "backend": doc.get("backend") or doc.get("endpoint_type"),
    }
    per_request = all(k in doc for k in ("ttfts", "latencies", "output_lens"))
    if per_request:
        errors = doc.get("errors") or [""] * len(doc["latencies"])
        ok = [i for i, e in enumerate(errors) if not e and doc["output_lens"][i] > 0]
        ttft = [doc["ttfts"][i] for i in ok]
        e2e = [doc["latencies"][i] for i in ok]
        n_out = [doc["output_lens"][i] for i in ok]
        itl = [x for i in ok for x in (doc.get("itls") or [[]] * len(errors))[i]] if "itls" in doc else None
        _per_request(r, ttft, e2e, n_out, itl, slo_ms, dur)
        starts = doc.get("start_times") or []
        if len(starts) > 1 and max(starts) > min(starts):
            r["client"]["achieved_rate"] = (len(starts) - 1) / (max(starts) - min(starts))
            r["client"]["achieved_rate_basis"] = "send times: (n - 1) / (last send - first send)"
    else:
        for ours, theirs in (("ttft", "ttft"), ("tpot", "tpot"), ("itl", "itl"), ("e2e", "e2el")):
            r["latency_ms"][ours] = {
                "mean": _num(doc.get(f"mean_{theirs}_ms")),
                **{
                    f"p{p}": _num(
                        doc.get(f"{'median' if p == 50 else f'p{p}'}_{theirs}_ms", doc.get(f"p{p}_{theirs}_ms"))
                    )
                    for p in PERCENTILES
                },
            }
        r["conversions"].append(
            "vLLM aggregates used as written: its TPOT is already (E2E - TTFT)/(n - 1); "
            "no per-request data (--save-detailed) to recompute or check send rate"
        )
        if doc.get("request_goodput") is not None:
            good = doc["request_goodput"]
            r["goodput"] = {
                "slo_ms": slo_ms,
                "good_requests": round(good * dur) if dur else None,
                "requests_per_s": good,
                "fraction": (good * dur / r["requests"]["completed"]) if dur and r["requests"]["completed"] else None,
                "basis": "vLLM request_goodput (its --goodput SLOs)",
            }
    r["client"]["requested_rate"] = r["point"]["request_rate"]
    _kept_up(r, tolerance)
    return r


# ----- JetStream -----------------------------------------------------------------------------------------
def normalize_jetstream(
    doc: dict[str, Any],
    request_outputs: list[dict] | None = None,
    *,
    source_file: str = "jetstream.json",
    slo: dict | None = None,
    tolerance: float = KEPT_UP_TOLERANCE,
    token_counts: list[dict] | None = None,
) -> dict[str, Any]:
    """A JetStream `benchmark_serving.py --save-result` file (and optionally its --save-request-outputs file
    and the runner's request-tokens.json, the same requests re-tokenized with the client's tokenizer) -> one
    record, with its TPOT (latency / n, TTFT included) converted to ours."""
    m = doc.get("metrics")
    if not isinstance(m, dict) or "completed" not in m:
        raise BenchmarkError(
            f"{source_file}: not a JetStream --save-result file (no metrics.completed). "
            "Fix: pass the JetStream-<rate>qps-<model>-<date>.json file"
        )
    r = new_record("jetstream-benchmark", source_file)
    slo_ms = _slo_ms(slo)
    completed = int(m["completed"])
    dur = _num(m.get("duration"))
    out_tok, in_tok = _num(m.get("total_output_tokens")), _num(m.get("total_input_tokens"))
    rate = _num(m.get("request_rate"))
    r["point"]["request_rate"] = rate if rate else None  # 0.0 = every request at t=0 (no arrival process)
    num_prompts = m.get("num_prompts")
    failed = max(0, int(num_prompts) - completed) if isinstance(num_prompts, int) and num_prompts > 0 else None
    r["requests"] = {"completed": completed, "failed": failed}
    r["duration_s"] = dur
    t = r["throughput"]
    t["requests_per_s"] = _num(m.get("request_throughput"))
    t["input_tokens_per_s"] = _num(m.get("input_throughput"))
    t["output_tokens_per_s"] = _num(m.get("output_throughput"))
    if dur and out_tok is not None and in_tok is not None:
        t["total_tokens_per_s"] = (in_tok + out_tok) / dur
    dims = doc.get("dimensions") or {}
    r["load"] = {
        "request_rate": r["point"]["request_rate"],
        "num_prompts": num_prompts,
        "arrival": "poisson" if rate else "all at t=0",
        "model_id": dims.get("model_id"),
        "tokenizer_id": dims.get("tokenizer_id"),
        "date": dims.get("date"),
    }
    n_mean = out_tok / completed if completed and out_tok else None
    assumption = (
        f"JetStream records no per-request output token counts; n = total_output_tokens / completed "
        f"= {n_mean:.2f} is used for every request (exact when output lengths are fixed)"
        if n_mean
        else "no output tokens recorded"
    )
    lat = r["latency_ms"]
    lat["ttft"] = {
        "mean": _num(m.get("mean_ttft_ms")),
        "p50": _num(m.get("median_ttft_ms")),
        "p90": None,
        "p99": _num(m.get("p99_ttft_ms")),
    }
    counted = token_counts if request_outputs and token_counts and len(token_counts) == len(request_outputs) else None
    if counted is not None:
        assert request_outputs is not None
        pairs = [(o, t) for o, t in zip(request_outputs, counted, strict=True) if o.get("success", True)]
        ttft = [float(o["ttft_sec"]) for o, _ in pairs]
        e2e = [float(o["latency_sec"]) for o, _ in pairs]
        n_out = [float(k["output_tokens"]) for _, k in pairs]
        _per_request(r, ttft, e2e, n_out, None, slo_ms, dur)
        true_in = sum(int(k["prompt_tokens"]) for _, k in pairs)
        true_out = sum(int(k["output_tokens"]) for _, k in pairs)
        if dur:
            t["input_tokens_per_s"] = true_in / dur
            t["total_tokens_per_s"] = (true_in + (out_tok if out_tok is not None else true_out)) / dur
        r["conversions"].append(
            f"TPOT recomputed per request as {TPOT_DEFINITION}, with each request's output tokens counted by "
            "re-encoding its generated text with the client's tokenizer (request-tokens.json); input tokens "
            f"likewise: {true_in} (JetStream reported {in_tok:g}, which counts characters for prefix_cache_test)"
            if in_tok is not None
            else f"TPOT recomputed per request as {TPOT_DEFINITION} with re-encoded output token counts"
        )
    else:
        r["conversions"].append(
            "input tokens as JetStream reported them: characters, not tokens, for its prefix_cache_test dataset "
            "(no request-tokens.json to count them)"
        )
    if counted is None and request_outputs:
        ok = [o for o in request_outputs if o.get("success", True)]
        ttft = [float(o["ttft_sec"]) for o in ok]
        e2e = [float(o["latency_sec"]) for o in ok]
        _per_request(r, ttft, e2e, [n_mean or 0.0] * len(ok), None, slo_ms, dur)
        r["conversions"].append(
            f"TPOT recomputed per request from latency_sec and ttft_sec as {TPOT_DEFINITION}; {assumption}"
        )
    elif counted is None:
        mean_js_tpot = _num(m.get("mean_TPOT_ms"))
        if mean_js_tpot is not None and n_mean and n_mean > 1 and lat["ttft"]["mean"] is not None:
            e2e_mean = mean_js_tpot * n_mean
            lat["e2e"] = {"mean": e2e_mean, "p50": None, "p90": None, "p99": None}
            lat["tpot"] = {
                "mean": (e2e_mean - lat["ttft"]["mean"]) / (n_mean - 1),
                "p50": None,
                "p90": None,
                "p99": None,
            }
        r["conversions"].append(
            "JetStream's TPOT is latency / output tokens (TTFT included); converted: mean E2E = mean_TPOT_ms x n, "
            f"mean TPOT = (mean E2E - mean TTFT) / (n - 1); {assumption}. TPOT and E2E percentiles cannot be "
            "converted from aggregates and are left empty (run with --save-request-outputs)"
        )
    if failed is None:
        r["conversions"].append("JetStream num_prompts was not positive: failures unknown")
    r["client"]["requested_rate"] = r["point"]["request_rate"]
    if dur and r["point"]["request_rate"]:
        # JetStream records no send times; completed / duration can only understate the send rate.
        r["client"]["achieved_rate"] = completed / dur
        r["client"]["achieved_rate_basis"] = "lower bound: completed / duration"
    _kept_up(r, tolerance)
    return r


# ----- inference-perf ------------------------------------------------------------------------------------
def _ip_stats(d: dict | None) -> dict[str, float | None]:
    """inference-perf distribution (seconds; keys mean/median/pNN) -> ours (ms)."""
    if not d:
        return empty_stats()
    out = {"mean": _num(d.get("mean"))}
    for p in PERCENTILES:
        out[f"p{p}"] = _num(d.get("median" if p == 50 else f"p{p}"))
    return _scaled(out, 1e3)


def normalize_inference_perf(
    doc: dict[str, Any],
    *,
    stage: int = 0,
    source_file: str = "stage.json",
    slo: dict | None = None,
    tolerance: float = KEPT_UP_TOLERANCE,
    per_request: list[dict] | None = None,
    requested_rate: float | None = None,
) -> dict[str, Any]:
    """One inference-perf 0.7.0 `stage_N_lifecycle_metrics.json` (and its `per_request_lifecycle_metrics.json`,
    when written) -> one record.

    Its summaries are in seconds, p50 written as ``median`` (reportgen/base.py). Its TPOT is (last token time -
    first token time) / (n - 1); with per-request data ours is recomputed as (E2E - TTFT) / (n - 1), n from the
    server's usage, and the achieved rate from the send times. ``requested_rate`` is the sweep point's rate
    (the stage's own rate is nudged so it sends exactly N requests).
    """
    succ, ls = doc.get("successes"), doc.get("load_summary")
    if not isinstance(succ, dict) or not isinstance(ls, dict):
        raise BenchmarkError(
            f"{source_file}: not an inference-perf lifecycle report (no successes / "
            "load_summary). Fix: pass stage_N_lifecycle_metrics.json from its report dir"
        )
    r = new_record("inference-perf", source_file)
    r["point"]["index"] = stage
    requested = _num(requested_rate) if requested_rate is not None else _num(ls.get("requested_rate"))
    r["point"]["request_rate"] = requested if ls.get("concurrency") is None else None
    r["point"]["max_concurrency"] = ls.get("concurrency")
    completed = int(succ.get("count") or 0)
    failed = int((doc.get("failures") or {}).get("count") or 0)
    r["requests"] = {"completed": completed, "failed": failed}
    tp = succ.get("throughput") or {}
    t = r["throughput"]
    t["requests_per_s"] = _num(tp.get("requests_per_sec"))
    t["input_tokens_per_s"] = _num(tp.get("input_tokens_per_sec"))
    t["output_tokens_per_s"] = _num(tp.get("output_tokens_per_sec"))
    t["total_tokens_per_s"] = _num(tp.get("total_tokens_per_sec"))
    dur = _num(doc.get("benchmark_time_seconds"))
    if dur is None and t["requests_per_s"]:
        dur = completed / t["requests_per_s"]
        r["conversions"].append(
            "no benchmark_time_seconds (older inference-perf): duration = successes / requests_per_sec"
        )
    r["duration_s"] = dur
    lat = succ.get("latency") or {}
    r["latency_ms"] = {
        "ttft": _ip_stats(lat.get("time_to_first_token")),
        "tpot": _ip_stats(lat.get("time_per_output_token")),
        "itl": _ip_stats(lat.get("inter_token_latency")),
        "e2e": _ip_stats(lat.get("request_latency")),
    }
    r["conversions"].append(
        "inference-perf time_per_output_token = (last token time - first token time) / "
        "(n - 1): ours up to the gap between the last token and the end of the response; "
        "its normalized_time_per_output_token (E2E / n) is not used; seconds -> ms"
    )
    r["load"] = {
        "request_rate": r["point"]["request_rate"],
        "concurrency": ls.get("concurrency"),
        "count": ls.get("count"),
        "send_duration_s": _num(ls.get("send_duration")),
    }
    c = r["client"]
    c["requested_rate"] = r["point"]["request_rate"]
    c["achieved_rate"] = _num(ls.get("achieved_rate"))
    c["achieved_rate_basis"] = "inference-perf load_summary.achieved_rate (count / send duration)"
    if per_request:
        _ip_per_request(r, per_request, _slo_ms(slo), dur)
    delay = _num((ls.get("schedule_delay") or {}).get("p99"))
    c["schedule_delay_p99_ms"] = delay * 1e3 if delay is not None else None
    _kept_up(r, tolerance)
    gm = succ.get("goodput_metrics")
    if gm and not (per_request and r["goodput"]["basis"]):
        r["goodput"] = {
            "slo_ms": _slo_ms(slo),
            "good_requests": gm.get("good_requests"),
            "requests_per_s": _num(gm.get("request_goodput")),
            "fraction": (_num(gm.get("goodput_percentage")) or 0.0) / 100.0,
            "basis": "inference-perf goodput_metrics (report.goodput.constraints)",
        }
    return r


def _ip_per_request(r: dict[str, Any], rows: list[dict], slo_ms: dict[str, float], dur: float | None) -> None:
    """Per-request figures from inference-perf's per_request_lifecycle_metrics.json: our TPOT definition
    and the achieved (offered) rate from the send times (perf_counter seconds: only differences count)."""
    ttft, e2e, n_out, starts = [], [], [], []
    for row in rows:
        if not isinstance(row, dict):
            continue
        start, end = _num(row.get("start_time")), _num(row.get("end_time"))
        if start is not None:
            starts.append(start)
        if row.get("error") or start is None or end is None:
            continue
        info = (row.get("info") or {}).get("response_metrics") or {}
        usage = info.get("server_usage") or {}
        n = _num(usage.get("completion_tokens")) or _num(info.get("output_tokens"))
        times = info.get("output_token_times") or []
        first = _num(times[0]) if times else None
        if not n or first is None:
            continue
        ttft.append(first - start)
        e2e.append(end - start)
        n_out.append(n)
    if ttft:
        itl = r["latency_ms"]["itl"]  # inference-perf's own pooled token gaps, kept
        _per_request(r, ttft, e2e, n_out, None, slo_ms, dur)
        r["latency_ms"]["itl"] = itl
        r["conversions"].append(
            "per-request data: TTFT = first token time - start, E2E = end - start, TPOT = "
            "(E2E - TTFT) / (n - 1) with n the server's completion_tokens"
        )
    if len(starts) > 1 and max(starts) > min(starts):
        r["client"]["achieved_rate"] = (len(starts) - 1) / (max(starts) - min(starts))
        r["client"]["achieved_rate_basis"] = "send times: (n - 1) / (last send - first send)"


# ----- reading untrusted files ----------------------------------------------------------------------------
class ResultFormatError(InputError):
    """A result file that is not what its tool writes, or a record that breaks the schema's value ranges."""


def normalize(
    doc: Any, *, source_file: str, stage: int = 0, slo: dict | None = None, tolerance: float = KEPT_UP_TOLERANCE
) -> dict[str, Any]:
    """A tool's own result document -> a record, or ResultFormatError naming the file and what is wrong.

    The tools' files are read from disks and buckets anyone may have written to: whatever the document holds,
    this returns a record or raises this module's error, never a Python exception of the parsing.
    """
    tool = detect_tool(doc)
    if tool is None:
        raise ResultFormatError(f"{source_file}: not a result file of {', '.join(TOOLS)}")
    try:
        if tool == "vllm-bench":
            rec = normalize_vllm(doc, source_file=source_file, slo=slo, tolerance=tolerance)
        elif tool == "jetstream-benchmark":
            rec = normalize_jetstream(doc, source_file=source_file, slo=slo, tolerance=tolerance)
        else:
            rec = normalize_inference_perf(doc, stage=stage, source_file=source_file, slo=slo, tolerance=tolerance)
    except BenchmarkError as e:
        raise ResultFormatError(str(e)) from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, ZeroDivisionError, OverflowError) as e:
        raise ResultFormatError(
            f"{source_file}: a {tool} result with fields of the wrong shape ({type(e).__name__}: {e})"
        ) from None
    problems = record_problems(rec)
    if problems:
        raise ResultFormatError(f"{source_file}: {'; '.join(problems)}")
    return rec


def _bad_number(v: Any, *, integer: bool = False, positive: bool = False) -> str | None:
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
    field of the schema present (null where unknown), every number finite and in range."""
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
    if rec.get("tool") not in TOOLS:
        out.append(f"tool {rec.get('tool')!r} is not one of {', '.join(TOOLS)}")
    section(
        "point",
        ("index", "request_rate", "max_concurrency"),
        {
            "index": {"integer": True},
            "request_rate": {"positive": True},
            "max_concurrency": {"integer": True, "positive": True},
        },
    )
    section("requests", ("completed", "failed"), {"completed": {"integer": True}, "failed": {"integer": True}})
    tp_keys = (
        "requests_per_s",
        "input_tokens_per_s",
        "output_tokens_per_s",
        "total_tokens_per_s",
        "output_tokens_per_s_per_chip",
        "total_tokens_per_s_per_chip",
    )
    section("throughput", tp_keys, {k: {} for k in tp_keys})
    lat = section("latency_ms", ("ttft", "tpot", "itl", "e2e"))
    for m in ("ttft", "tpot", "itl", "e2e"):
        block = lat.get(m)
        if m in lat and not isinstance(block, dict):
            out.append(f"latency_ms.{m} is not an object")
        elif isinstance(block, dict):
            for k in ("mean", *(f"p{p}" for p in PERCENTILES)):
                if k not in block:
                    out.append(f"latency_ms.{m}.{k} is missing")
                else:
                    checks.append((f"latency_ms.{m}.{k}", block[k], {}))
    client = section("client", ("achieved_rate", "kept_up"), {"achieved_rate": {}})
    if client.get("kept_up") not in (None, True, False):
        out.append(f"client.kept_up is {client.get('kept_up')!r}, not true/false/null")
    section("goodput", ("requests_per_s",), {"requests_per_s": {}})
    checks.append(("duration_s", rec.get("duration_s"), {}))
    if not isinstance(rec.get("metadata", {}), dict):
        out.append("metadata is not an object")
    if not isinstance(rec.get("conversions", []), list):
        out.append("conversions is not a list")
    for where, value, kw in checks:
        why = _bad_number(value, **kw)
        if why:
            out.append(f"{where}: {why}")
    return out


# ----- detection, finishing, files ----------------------------------------------------------------------
def detect_tool(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("metrics"), dict) and "dimensions" in doc:
        return "jetstream-benchmark"
    if "load_summary" in doc and "successes" in doc:
        return "inference-perf"
    if "request_throughput" in doc and ("backend" in doc or "endpoint_type" in doc or "completed" in doc):
        return "vllm-bench"
    return None


def finish(
    record: dict[str, Any],
    *,
    chips: int | None,
    metadata: dict[str, Any] | None = None,
    load: dict[str, Any] | None = None,
    index: int | None = None,
) -> dict[str, Any]:
    """Per-chip throughput, metadata and the spec's load model."""
    if index is not None:
        record["point"]["index"] = index
    if metadata:
        record["metadata"] = {**record["metadata"], **metadata}
    if load:
        record["load"] = {**record["load"], **load}
    t = record["throughput"]
    if chips:
        for k in ("output_tokens_per_s", "total_tokens_per_s"):
            if t[k] is not None:
                t[f"{k}_per_chip"] = t[k] / chips
    return record


def normalize_dir(directory: Path, slo: dict | None = None) -> list[dict[str, Any]]:
    """Every tool result file in a directory (raw, unnormalized) -> records, in a stable order. Files that
    are not a tool's result, or cannot be read, raise ResultFormatError."""
    records = []
    for path in sorted(directory.rglob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ResultFormatError(f"{path}: cannot be read as JSON ({e})") from None
        tool = detect_tool(doc)
        name = str(path.relative_to(directory))
        if tool is None or (tool == "inference-perf" and not path.name.startswith("stage_")):
            continue
        stage_part = path.name.split("_")[1] if path.name.count("_") else ""
        records.append(normalize(doc, source_file=name, stage=int(stage_part) if stage_part.isdigit() else 0, slo=slo))
    return records
