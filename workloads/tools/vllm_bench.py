"""``vllm bench serve`` (vLLM 0.32.0, shipped in the engine's image): its command line and its result file.

Flags: ``vllm/benchmarks/serve.py`` add_cli_args and ``vllm/benchmarks/datasets/datasets.py`` add_dataset_parser
(tpustack.core.engines lists the ones tpustack passes). Result file (``--save-result [--save-detailed]``):
``benchmark()``'s result dict and ``main_async``'s result_json: duration, completed, failed, total_input_tokens,
total_output_tokens, request_throughput, request_goodput, output_throughput, total_token_throughput, request_rate,
burstiness, max_concurrency, ``{mean,median,std,pNN}_{ttft,tpot,itl,e2el}_ms``; with ``--save-detailed`` also
per-request input_lens, output_lens, ttfts, itls, latencies, start_times, errors (seconds).

Definitions: its TPOT is already tpustack's, (latency - ttft) / (output_len - 1) per request (calculate_metrics);
its throughputs are totals over the benchmark's duration. With per-request data tpustack recomputes every latency
figure and the achieved send rate from start_times; without it the aggregates are used as written. On the random
dataset it always ignores EOS ("when using random datasets, default to ignoring EOS").
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tpustack.core import images
from tpustack.core.contracts import BenchSpec, Metric, Record, SpecLoad, Stats, SweepPoint
from tpustack.core.engines import EngineName, ToolName
from tpustack.core.errors import BenchmarkError

from .. import records
from .base import BenchTool, PointResult, ToolFacts, read_json, tolerance

FACTS = ToolFacts(
    name=ToolName.VLLM_BENCH,
    # vllm bench serve speaks vLLM's OpenAI-compatible API (--backend vllm); JetStream serves gRPC and its own
    # /v1/generate.
    engines=(EngineName.VLLM,),
    # `sonnet` is gone in 0.32.0 (vllm/benchmarks/datasets/datasets.py)
    datasets=(*images.VLLM_TPU.datasets, images.SHARED_PREFIX_DATASET),
    concurrency_limit=True,  # --max-concurrency
    burstiness=True,  # --burstiness: gamma arrivals (1 = Poisson)
    # serve.py: "when using random datasets, default to ignoring EOS", whatever --ignore-eos says
    ignores_eos_on_random=True,
    sends_temperature=True,
    command=images.VLLM_TPU.bench_command,
    image=None,
    version=images.VLLM_VERSION,
)
RESULT_FILE = "vllm.json"  # --result-filename
AGGREGATES_AS_WRITTEN = (
    "vLLM aggregates used as written: its TPOT is already (E2E - TTFT)/(n - 1); "
    "no per-request data (--save-detailed) to recompute or check send rate"
)
# Our latency names -> vLLM's in {mean,median,pNN}_<name>_ms.
LATENCY_NAMES: tuple[tuple[Metric, str], ...] = (("ttft", "ttft"), ("tpot", "tpot"), ("itl", "itl"), ("e2e", "e2el"))


def args(
    spec: BenchSpec, point: SweepPoint, outdir: Path, name: str, num_prompts: int, dataset_path: str | None
) -> list[str]:
    """`vllm bench serve` flags (vllm/benchmarks/serve.py add_cli_args, datasets.py add_dataset_parser)."""
    load, model = spec["load"], spec["model"]
    a = [
        "--backend",
        "vllm",
        "--base-url",
        spec["server"]["base_url"],
        "--endpoint",
        "/v1/completions",
        "--model",
        model["id"],
        "--num-prompts",
        str(num_prompts),
        "--seed",
        str(load["seed"]),
        "--temperature",
        str(load["temperature"]),
        "--percentile-metrics",
        "ttft,tpot,itl,e2el",
        "--metric-percentiles",
        ",".join(str(p) for p in records.PERCENTILES),
        "--save-result",
        "--save-detailed",
        "--result-dir",
        str(outdir),
        "--result-filename",
        name,
        "--disable-tqdm",
    ]
    a += _dataset_args(load, dataset_path)
    if load["ignore_eos"]:
        a.append("--ignore-eos")
    if point.get("max_concurrency"):
        a += ["--max-concurrency", str(point["max_concurrency"]), "--request-rate", "inf"]
    else:
        a += ["--request-rate", str(point["request_rate"]), "--burstiness", str(load["burstiness"])]
    slo = spec.get("slo") or {}
    # --goodput KEY:MS with vLLM's metric names (serve.py parse_goodput)
    goodput = [
        f"{k}:{v:g}"
        for k, v in (("ttft", slo.get("ttft_ms")), ("tpot", slo.get("tpot_ms")), ("e2el", slo.get("e2e_ms")))
        if v
    ]
    if goodput:
        a += ["--goodput", *goodput]
    return a


def _dataset_args(load: SpecLoad, dataset_path: str | None) -> list[str]:
    """--dataset-name and its options (datasets.py add_dataset_parser). Shared prefixes (load.prefix): the
    prefix_repetition dataset (groups x prompts of prefix + input_len tokens), or random's --random-prefix-len (one
    prefix before every random prompt)."""
    prefix = load.get("prefix")
    if load["dataset"] == images.SHARED_PREFIX_DATASET and prefix:
        return [
            "--dataset-name",
            images.VLLM_PREFIX_DATASET,
            "--prefix-repetition-prefix-len",
            str(prefix["prefix_len"]),
            "--prefix-repetition-suffix-len",
            str(load["input_len"]),
            "--prefix-repetition-num-prefixes",
            str(prefix["groups"]),
            "--prefix-repetition-output-len",
            str(load["output_len"]),
        ]
    a = ["--dataset-name", load["dataset"]]
    if load["dataset"] == "random":
        a += ["--random-input-len", str(load["input_len"]), "--random-output-len", str(load["output_len"])]
        if prefix:
            a += ["--random-prefix-len", str(prefix["prefix_len"])]
    elif load["dataset"] == "sharegpt":
        a += ["--dataset-path", dataset_path or "", "--sharegpt-output-len", str(load["output_len"])]
    elif load["dataset"] == "sonnet":
        a += [
            "--dataset-path",
            dataset_path or "",
            "--sonnet-input-len",
            str(load["input_len"]),
            "--sonnet-output-len",
            str(load["output_len"]),
        ]
    return a


def normalize(
    doc: dict[str, Any],
    *,
    source_file: str = "vllm.json",
    slo: Mapping[str, object] | None = None,
    tolerance: float = records.KEPT_UP_TOLERANCE,
) -> Record:
    """A `vllm bench serve --save-result [--save-detailed]` JSON file -> one record."""
    if "request_throughput" not in doc or "completed" not in doc:
        raise BenchmarkError(
            f"{source_file}: not a `vllm bench serve --save-result` file (no completed / request_throughput)",
            fix="pass the JSON written under --result-dir",
        )
    r = records.new_record(ToolName.VLLM_BENCH, source_file)
    rate = doc.get("request_rate")
    r["point"]["request_rate"] = records.num(rate) if rate not in ("inf", None) else None
    r["point"]["max_concurrency"] = doc.get("max_concurrency")
    r["requests"] = {"completed": int(doc["completed"]), "failed": int(doc.get("failed") or 0)}
    dur = records.num(doc.get("duration"))
    r["duration_s"] = dur
    t = r["throughput"]
    t["requests_per_s"] = records.num(doc.get("request_throughput"))
    t["output_tokens_per_s"] = records.num(doc.get("output_throughput"))
    t["total_tokens_per_s"] = records.num(doc.get("total_token_throughput"))
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
    if all(k in doc for k in ("ttfts", "latencies", "output_lens")):
        _per_request(r, doc, records.slo_ms(slo), dur)
    else:
        _aggregates(r, doc, records.slo_ms(slo), dur)
    r["client"]["requested_rate"] = r["point"]["request_rate"]
    records.kept_up(r, tolerance)
    return r


def _per_request(r: Record, doc: dict[str, Any], slo_ms: dict[str, float], dur: float | None) -> None:
    """--save-detailed arrays: every latency figure recomputed over the successful requests, the send rate from
    start_times."""
    errors = doc.get("errors") or [""] * len(doc["latencies"])
    ok = [i for i, e in enumerate(errors) if not e and doc["output_lens"][i] > 0]
    ttft = [doc["ttfts"][i] for i in ok]
    e2e = [doc["latencies"][i] for i in ok]
    n_out = [doc["output_lens"][i] for i in ok]
    itl = [x for i in ok for x in (doc.get("itls") or [[]] * len(errors))[i]] if "itls" in doc else None
    records.per_request(r, ttft, e2e, n_out, itl, slo_ms, dur)
    records.send_rate(r, doc.get("start_times") or [])


def _aggregate(doc: dict[str, Any], theirs: str) -> Stats:
    """One of vLLM's {mean,median,pNN}_<name>_ms distributions (its p50 is written as median)."""

    def at(p: int) -> float | None:
        return records.num(doc.get(f"{'median' if p == 50 else f'p{p}'}_{theirs}_ms", doc.get(f"p{p}_{theirs}_ms")))

    return records.stats_of(records.num(doc.get(f"mean_{theirs}_ms")), at)


def _aggregates(r: Record, doc: dict[str, Any], slo_ms: dict[str, float], dur: float | None) -> None:
    """No per-request data: vLLM's own aggregates and its goodput (its --goodput SLOs)."""
    for ours, theirs in LATENCY_NAMES:
        r["latency_ms"][ours] = _aggregate(doc, theirs)
    r["conversions"].append(AGGREGATES_AS_WRITTEN)
    if doc.get("request_goodput") is not None:
        good = doc["request_goodput"]
        completed = r["requests"]["completed"]
        r["goodput"] = {
            "slo_ms": slo_ms,
            "good_requests": round(good * dur) if dur else None,
            "requests_per_s": good,
            "fraction": (good * dur / completed) if dur and completed else None,
            "basis": "vLLM request_goodput (its --goodput SLOs)",
        }


class VllmBench(BenchTool):
    facts = FACTS
    generic_signature = True

    def argv(
        self, spec: BenchSpec, point: SweepPoint, outdir: Path, num_prompts: int, dataset_path: str | None
    ) -> list[str]:
        return args(spec, point, outdir, RESULT_FILE, num_prompts, dataset_path)

    def recognizes(self, doc: Mapping[str, Any]) -> bool:
        return "request_throughput" in doc and ("backend" in doc or "endpoint_type" in doc or "completed" in doc)

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
        f = outdir / RESULT_FILE
        if not f.exists():
            raise BenchmarkError(f"vllm bench serve wrote no {f.name}", fix="see the tool log beside it")
        rec = normalize(read_json(f), source_file=f.name, slo=spec.get("slo"), tolerance=tolerance(spec))
        return PointResult(rec, [f])
