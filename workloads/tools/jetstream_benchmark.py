"""JetStream's ``benchmarks/benchmark_serving.py`` (JetStream 29329e8, shipped in the self-built JetStream MaxText
image): its command line, the token counting it needs afterwards, and its result files.

Flags: ``parse_args`` at 29329e8 (tpustack.core.engines lists the ones tpustack passes). Result files:
``--save-result`` writes ``JetStream-<rate>qps-<model>-<date>.json``: ``{"metrics": {num_prompts, request_rate,
duration, completed, total_input_tokens, total_output_tokens, request_throughput, input_throughput,
output_throughput, {mean,median,p99}_{ttft,ttst,TPOT}_ms}, "dimensions": {date, model_id, tokenizer_id, ...}}`` (key
names from ``EventMetric.distribution_summary_dict`` in ``benchmarks/metrics.py``); ``--save-request-outputs``
writes per-request latency_sec, ttft_sec, success, prompt and generated_text (no token counts).

Definitions, and what tpustack converts:
* its "TPOT" is latency / output tokens (``calculate_metrics``), so TTFT is inside it: tpustack's is recomputed per
  request from latency_sec and ttft_sec, or, from aggregates only, for the mean alone (mean E2E = mean_TPOT_ms x n);
* its prompt lengths for ``prefix_cache_test`` (tpustack's "random") are characters (``prompt_len = len(prompt)``),
  and it records no output lengths: after the run, every prompt and generated text is re-encoded with the client's
  own tokenizer (``request-tokens.json``), which gives true input throughput and per-request output counts;
* it records no send times: completed / duration is a lower bound on the send rate;
* it sends no temperature: the server's default sampling applies.

Other versions: a --save-result file with ``mean_tpot_ms`` and no ``mean_TPOT_ms`` was written by a benchmark_serving.py
before c134433 (2025-01-06, "Add reporting in benchmark for TTST"; the last such revision is 92fa048), which
renamed the keys (``EventMetric("TPOT", ...)``) and added ``*_ttst_ms``. Its TPOT is the same latency / n, but its
``completed`` leaves out successful requests with no output tokens (``completed += 1`` after the ``output_len == 0``
check, moved before it in c134433) and its request-outputs rows hold ``latency`` (seconds) and no TTFT (``ttft_sec``
and ``ttst_sec`` added in c134433). Such a file is normalized only with its request-outputs.json: E2E from each
request's latency, TTFT from the file (same definition), TPOT's mean only when request-tokens.json shows one output
length for all (then (mean E2E - mean TTFT) / (n - 1) is exact), TPOT percentiles left empty; without per-request
data it is refused, the version named.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tpustack.core import images
from tpustack.core.contracts import BenchSpec, Record, Stats, SweepPoint
from tpustack.core.engines import EngineName, ToolName
from tpustack.core.errors import BenchmarkError

from .. import records
from .base import BenchTool, PointResult, RunCommand, ToolFacts, read_json, tolerance

FACTS = ToolFacts(
    name=ToolName.JETSTREAM_BENCHMARK,
    # JetStream's gRPC Orchestrator API, which only its own client speaks
    engines=(EngineName.JETSTREAM_MAXTEXT,),
    # "random" is run as JetStream's prefix_cache_test with no common prefix (argv below)
    datasets=("random", "sharegpt"),
    concurrency_limit=False,  # parse_args has no concurrency limit flag
    burstiness=False,  # Poisson arrivals only (get_request: np.random.exponential)
    ignores_eos_on_random=False,
    sends_temperature=False,
    command=images.JETSTREAM_ENGINE.bench_command,
    image=None,
    version=images.JETSTREAM_REF,
)
REQUEST_OUTPUTS = "request-outputs.json"
TOKENS = "request-tokens.json"
RESULT_GLOB = "JetStream-*.json"
# Written by benchmark_serving.py before c134433 (2025-01-06), which renamed mean_tpot_ms to mean_TPOT_ms
OLDER_TPOT_KEY = "mean_tpot_ms"
OLDER = "a JetStream benchmark_serving.py before c134433 (2025-01-06)"
CHARACTERS = (
    "input tokens as JetStream reported them: characters, not tokens, for its prefix_cache_test dataset "
    "(no request-tokens.json to count them)"
)
# Runs with the tool's own Python (the image's), which has JetStream and its tokenizers: encodes every prompt and
# generated text with the very tokenizer the client used (benchmarks.benchmark_serving.get_tokenizer), because
# benchmark_serving records characters as prompt lengths for prefix_cache_test and no output lengths at all.
_COUNT_TOKENS = """
import json, sys
from benchmarks.benchmark_serving import get_tokenizer
model, tokenizer, src, dst = sys.argv[1:5]
tok = get_tokenizer(model, tokenizer, False)
out = [{"prompt_tokens": len(tok.encode(o["prompt"])), "output_tokens": len(tok.encode(o["generated_text"]))}
       for o in json.load(open(src))]
json.dump(out, open(dst, "w"))
"""


def args(spec: BenchSpec, point: SweepPoint, outdir: Path, num_prompts: int, dataset_path: str | None) -> list[str]:
    """JetStream benchmarks/benchmark_serving.py flags (parse_args at 29329e8; tpustack.core.engines)."""
    load, model = spec["load"], spec["model"]
    host, _, port = spec["server"]["grpc_target"].rpartition(":")
    a = [
        "--server",
        host,
        "--port",
        port,
        # --model "llama-3" selects JetStream's tiktoken tokenizer for the file given as --tokenizer
        "--model",
        model.get("client_model", model["id"]),
        "--tokenizer",
        model.get("tokenizer_path", model["id"]),
        "--num-prompts",
        str(num_prompts),
        "--request-rate",
        str(point["request_rate"]),
        "--seed",
        str(load["seed"]),
        "--max-output-length",
        str(load["output_len"]),
        "--save-result",
        "--save-request-outputs",
        "--request-outputs-file-path",
        str(outdir / REQUEST_OUTPUTS),
        "--warmup-mode",
        "none",
        "--disable-tqdm",
    ]
    if load["dataset"] == "random":
        # JetStream's synthetic prompts: prefix_cache_test with no common prefix. Its lengths are characters, so
        # the runner counts the real tokens afterwards (count_tokens).
        a += [
            "--dataset",
            "prefix_cache_test",
            "--max-input-length",
            str(load["input_len"]),
            "--prefix-cache-test-common-len",
            "0",
        ]
    else:
        a += [
            "--dataset",
            "sharegpt",
            "--dataset-path",
            dataset_path or "",
            "--max-input-length",
            str(load["input_len"]),
            "--max-target-length",
            str(load["input_len"] + load["output_len"]),
        ]
    return a


def count_tokens(spec: BenchSpec, outdir: Path, python: str, log: Path, run: RunCommand) -> Path | None:
    """request-tokens.json beside request-outputs.json (same order), or None when it could not be made."""
    src, dst = outdir / REQUEST_OUTPUTS, outdir / TOKENS
    if not src.exists():
        return None
    model = spec["model"]
    argv = [
        python,
        "-c",
        _COUNT_TOKENS,
        model.get("client_model", model["id"]),
        model.get("tokenizer_path", model["id"]),
        str(src),
        str(dst),
    ]
    rc = run(argv, outdir, spec["timeouts"]["point_min_s"], log)
    return dst if rc == 0 and dst.exists() else None


# ----- its result files -> one record --------------------------------------------------------------------------
def normalize(
    doc: dict[str, Any],
    request_outputs: list[dict] | None = None,
    *,
    source_file: str = "jetstream.json",
    slo: Mapping[str, object] | None = None,
    tolerance: float = records.KEPT_UP_TOLERANCE,
    token_counts: list[dict] | None = None,
) -> Record:
    """A JetStream `benchmark_serving.py --save-result` file (and optionally its --save-request-outputs file
    and the runner's request-tokens.json, the same requests re-tokenized with the client's tokenizer) -> one
    record, with its TPOT (latency / n, TTFT included) converted to ours."""
    m = doc.get("metrics")
    if not isinstance(m, dict) or "completed" not in m:
        raise BenchmarkError(
            f"{source_file}: not a JetStream --save-result file (no metrics.completed)",
            fix="pass the JetStream-<rate>qps-<model>-<date>.json file",
        )
    older = OLDER_TPOT_KEY in m and "mean_TPOT_ms" not in m
    if older and not request_outputs:
        raise BenchmarkError(
            f"{source_file}: a JetStream --save-result file with mean_tpot_ms and no mean_TPOT_ms, so written by "
            f"{OLDER[2:]} (tpustack pins {FACTS.version[:7]}); its completed leaves out requests with no output "
            "tokens, and its figures convert only with its per-request data",
            fix=f"read it with its {REQUEST_OUTPUTS} (tpustack's runner does), or rerun with JetStream "
            f"{FACTS.version[:7]}",
        )
    r = records.new_record(ToolName.JETSTREAM_BENCHMARK, source_file)
    _summary(r, m, doc.get("dimensions") or {})
    slo_ms = records.slo_ms(slo)
    completed, out_tok = int(m["completed"]), records.num(m.get("total_output_tokens"))
    n_mean = out_tok / completed if completed and out_tok else None
    r["latency_ms"]["ttft"] = {
        "mean": records.num(m.get("mean_ttft_ms")),
        "p50": records.num(m.get("median_ttft_ms")),
        "p90": None,
        "p99": records.num(m.get("p99_ttft_ms")),
    }
    counted = token_counts if request_outputs and token_counts and len(token_counts) == len(request_outputs) else None
    if older and request_outputs:
        _older(r, request_outputs, counted, source_file)
    elif request_outputs and counted is not None:
        _counted(r, m, request_outputs, counted, slo_ms)
    elif request_outputs:
        r["conversions"].append(CHARACTERS)
        _timed(r, request_outputs, n_mean, slo_ms)
    else:
        r["conversions"].append(CHARACTERS)
        _from_aggregates(r, m, n_mean)
    if r["requests"]["failed"] is None:
        r["conversions"].append("JetStream num_prompts was not positive: failures unknown")
    r["client"]["requested_rate"] = r["point"]["request_rate"]
    dur = r.get("duration_s")
    if dur and r["point"]["request_rate"]:
        # JetStream records no send times; completed / duration can only understate the send rate.
        r["client"]["achieved_rate"] = completed / dur
        r["client"]["achieved_rate_basis"] = records.LOWER_BOUND_BASIS
    records.kept_up(r, tolerance)
    return r


def _summary(r: Record, m: dict[str, Any], dims: dict[str, Any]) -> None:
    """Point, requests, duration, throughput and load from the summary file."""
    completed = int(m["completed"])
    dur = records.num(m.get("duration"))
    out_tok, in_tok = records.num(m.get("total_output_tokens")), records.num(m.get("total_input_tokens"))
    rate = records.num(m.get("request_rate"))
    r["point"]["request_rate"] = rate if rate else None  # 0.0 = every request at t=0 (no arrival process)
    num_prompts = m.get("num_prompts")
    failed = max(0, int(num_prompts) - completed) if isinstance(num_prompts, int) and num_prompts > 0 else None
    r["requests"] = {"completed": completed, "failed": failed}
    r["duration_s"] = dur
    t = r["throughput"]
    t["requests_per_s"] = records.num(m.get("request_throughput"))
    t["input_tokens_per_s"] = records.num(m.get("input_throughput"))
    t["output_tokens_per_s"] = records.num(m.get("output_throughput"))
    if dur and out_tok is not None and in_tok is not None:
        t["total_tokens_per_s"] = (in_tok + out_tok) / dur
    r["load"] = {
        "request_rate": r["point"]["request_rate"],
        "num_prompts": num_prompts,
        "arrival": "poisson" if rate else "all at t=0",
        "model_id": dims.get("model_id"),
        "tokenizer_id": dims.get("tokenizer_id"),
        "date": dims.get("date"),
    }


def _assumption(n_mean: float | None) -> str:
    return (
        f"JetStream records no per-request output token counts; n = total_output_tokens / completed "
        f"= {n_mean:.2f} is used for every request (exact when output lengths are fixed)"
        if n_mean
        else "no output tokens recorded"
    )


def _counted(r: Record, m: dict[str, Any], outputs: list[dict], counted: list[dict], slo_ms: dict[str, float]) -> None:
    """Per-request figures with each request's own re-encoded token counts."""
    dur = r.get("duration_s")
    out_tok, in_tok = records.num(m.get("total_output_tokens")), records.num(m.get("total_input_tokens"))
    pairs = [(o, t) for o, t in zip(outputs, counted, strict=True) if o.get("success", True)]
    ttft = [float(o["ttft_sec"]) for o, _ in pairs]
    e2e = [float(o["latency_sec"]) for o, _ in pairs]
    n_out = [float(k["output_tokens"]) for _, k in pairs]
    records.per_request(r, ttft, e2e, n_out, None, slo_ms, dur)
    true_in = sum(int(k["prompt_tokens"]) for _, k in pairs)
    true_out = sum(int(k["output_tokens"]) for _, k in pairs)
    if dur:
        r["throughput"]["input_tokens_per_s"] = true_in / dur
        r["throughput"]["total_tokens_per_s"] = (true_in + (out_tok if out_tok is not None else true_out)) / dur
    r["conversions"].append(
        f"TPOT recomputed per request as {records.TPOT_DEFINITION}, with each request's output tokens counted by "
        "re-encoding its generated text with the client's tokenizer (request-tokens.json); input tokens "
        f"likewise: {true_in} (JetStream reported {in_tok:g}, which counts characters for prefix_cache_test)"
        if in_tok is not None
        else f"TPOT recomputed per request as {records.TPOT_DEFINITION} with re-encoded output token counts"
    )


def _older(r: Record, outputs: list[dict], counted: list[dict] | None, source_file: str) -> None:
    """A file of a benchmark_serving.py before c134433 with its request-outputs.json (see the docstring)."""
    rows = [o for o in outputs if isinstance(o, dict) and o.get("success", True)]
    e2e = [records.num(o.get("latency")) for o in rows]  # seconds; "latency_sec" only since c134433
    if not rows or any(v is None for v in e2e):
        raise BenchmarkError(
            f"{source_file}: a file of {OLDER[2:]} whose {REQUEST_OUTPUTS} gives no latency for every request",
            fix=f"rerun with JetStream {FACTS.version[:7]}",
        )
    e2e_s = [float(v) for v in e2e if v is not None]
    completed = len(rows)  # its own completed leaves out requests with no output tokens
    num_prompts = r["load"].get("num_prompts")
    r["requests"] = {
        "completed": completed,
        "failed": max(0, num_prompts - completed) if isinstance(num_prompts, int) and num_prompts > 0 else None,
    }
    dur = r.get("duration_s")
    if dur:
        r["throughput"]["requests_per_s"] = completed / dur
    lat = r["latency_ms"]
    lat["e2e"] = records.scaled(records.stats(e2e_s), 1e3)
    lat["tpot"] = _older_tpot(outputs, counted, e2e_s, lat["ttft"]["mean"])
    r["conversions"].append(
        f"{OLDER} (mean_tpot_ms, no mean_TPOT_ms): its TPOT figures are not used; completed and E2E from its "
        f"{REQUEST_OUTPUTS} (latency per request), TTFT as it reports it; its request outputs hold no TTFT, so TPOT "
        + (
            f"= (mean E2E - mean TTFT) / (n - 1), all requests having one output length n ({TOKENS}); "
            "percentiles left empty"
            if lat["tpot"]["mean"] is not None
            else f"is left empty (output lengths differ, or are not counted in {TOKENS})"
        )
    )


def _older_tpot(outputs: list[dict], counted: list[dict] | None, e2e_s: list[float], ttft_mean: float | None) -> Stats:
    """TPOT's mean without per-request TTFT: exact only when every request has the same output length n."""
    tpot = records.empty_stats()
    pairs = zip(outputs, counted or [], strict=False)
    lengths = {int(k["output_tokens"]) for o, k in pairs if isinstance(o, dict) and o.get("success", True)}
    n = lengths.pop() if counted and len(lengths) == 1 else 0
    if n > 1 and ttft_mean is not None:
        tpot["mean"] = (1e3 * sum(e2e_s) / len(e2e_s) - ttft_mean) / (n - 1)
    return tpot


def _timed(r: Record, outputs: list[dict], n_mean: float | None, slo_ms: dict[str, float]) -> None:
    """Per-request latency_sec and ttft_sec, with one mean output length for every request."""
    ok = [o for o in outputs if o.get("success", True)]
    ttft = [float(o["ttft_sec"]) for o in ok]
    e2e = [float(o["latency_sec"]) for o in ok]
    records.per_request(r, ttft, e2e, [n_mean or 0.0] * len(ok), None, slo_ms, r.get("duration_s"))
    r["conversions"].append(
        f"TPOT recomputed per request from latency_sec and ttft_sec as {records.TPOT_DEFINITION}; {_assumption(n_mean)}"
    )


def _from_aggregates(r: Record, m: dict[str, Any], n_mean: float | None) -> None:
    """Only JetStream's means: mean E2E = its mean TPOT x n, then ours for the mean; no percentiles."""
    lat = r["latency_ms"]
    mean_js_tpot = records.num(m.get("mean_TPOT_ms"))
    ttft_mean = lat["ttft"]["mean"]
    if mean_js_tpot is not None and n_mean and n_mean > 1 and ttft_mean is not None:
        e2e_mean = mean_js_tpot * n_mean
        lat["e2e"] = {"mean": e2e_mean, "p50": None, "p90": None, "p99": None}
        lat["tpot"] = {"mean": (e2e_mean - ttft_mean) / (n_mean - 1), "p50": None, "p90": None, "p99": None}
    r["conversions"].append(
        "JetStream's TPOT is latency / output tokens (TTFT included); converted: mean E2E = mean_TPOT_ms x n, "
        f"mean TPOT = (mean E2E - mean TTFT) / (n - 1); {_assumption(n_mean)}. TPOT and E2E percentiles cannot be "
        "converted from aggregates and are left empty (run with --save-request-outputs)"
    )


class JetStreamBenchmark(BenchTool):
    facts = FACTS

    def argv(
        self, spec: BenchSpec, point: SweepPoint, outdir: Path, num_prompts: int, dataset_path: str | None
    ) -> list[str]:
        return args(spec, point, outdir, num_prompts, dataset_path)

    def after_run(self, spec: BenchSpec, outdir: Path, run: RunCommand) -> None:
        count_tokens(spec, outdir, spec["tool_command"][0], outdir / "tokens.log", run)

    def recognizes(self, doc: Mapping[str, Any]) -> bool:
        return isinstance(doc.get("metrics"), dict) and "dimensions" in doc

    def normalize(
        self,
        doc: dict[str, Any],
        *,
        source_file: str,
        stage: int,
        slo: Mapping[str, object] | None,
        tolerance: float,
    ) -> Record:
        return normalize(doc, source_file=source_file, slo=slo, tolerance=tolerance)

    def read_point(self, spec: BenchSpec, outdir: Path, point: SweepPoint) -> PointResult:
        found = sorted(outdir.glob(RESULT_GLOB))
        if not found:
            raise BenchmarkError(f"benchmark_serving.py wrote no {RESULT_GLOB}", fix="see the tool log")
        outputs, counted = outdir / REQUEST_OUTPUTS, outdir / TOKENS
        rec = normalize(
            read_json(found[-1]),
            read_json(outputs) if outputs.exists() else None,
            source_file=found[-1].name,
            slo=spec.get("slo"),
            tolerance=tolerance(spec),
            token_counts=read_json(counted) if counted.exists() else None,
        )
        return PointResult(rec, [found[-1]] + [f for f in (outputs, counted) if f.exists()])
