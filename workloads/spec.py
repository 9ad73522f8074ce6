"""The serving-benchmark spec: everything the benchmark Job needs, rendered from a validated StackConfig.

``bench_spec(cfg, ...)`` returns a JSON-serializable dict; the manifest renderer puts ``json.dumps(spec)``
in a ConfigMap mounted at /opt/tpustack/spec/spec.json, with ``WORKLOAD_FILES`` mounted under
/opt/tpustack (PYTHONPATH=/opt/tpustack), and the Job runs
``python3 -m workloads.serving_bench --spec /opt/tpustack/spec/spec.json``.

components.* is imported only inside ``bench_spec`` so that importing this module (and everything the Job
imports) needs nothing beyond the stdlib.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

SPEC_SCHEMA = "tpustack.bench-spec/v1"

# Files the Job imports, relative to the repository root (all stdlib-only; tests/test_results.py checks).
WORKLOAD_FILES: list[str] = [
    "workloads/__init__.py",
    "workloads/errors.py",
    "workloads/gcs.py",
    "workloads/promscrape.py",
    "workloads/results.py",
    "workloads/serving_bench.py",
]

# Readiness endpoints of what the manifests deploy: vLLM's OpenAI server serves GET /health
# (vllm/entrypoints/openai/api_server.py); the JetStream pod's front end is the `jetstream-http` container of
# the GKE JetStream samples, whose probes use GET /healthcheck on 8000 (manifests/jetstream-maxtext probes the
# same path). JetStream's in-process FastAPI server (jetstream/entrypoints/http/api_server.py, /v1/health) is
# not what runs there.
HEALTH_PATHS = {"vllm": "/health", "jetstream-maxtext": "/healthcheck"}
# JetStream's benchmark speaks gRPC to the server's orchestrator port (benchmark_serving.py --port default
# 9000, the MaxText server's default too).
JETSTREAM_GRPC_PORT = 9000
# Default tool invocations inside the benchmark image; override spec["tool_command"] for another layout.
TOOL_COMMANDS = {
    "vllm-bench": ["vllm", "bench", "serve"],
    "jetstream-benchmark": ["python3", "/JetStream/benchmarks/benchmark_serving.py"],
    "inference-perf": ["inference-perf"],
}
# Where the runner fetches datasets that are files (vLLM docs/benchmarking/cli.md, JetStream benchmarks).
DATASET_URLS = {
    "sharegpt": "https://huggingface.co/datasets/anon8231489123/ShareGPT_Vicuna_unfiltered/resolve/main/"
                "ShareGPT_V3_unfiltered_cleaned_split.json",
    "sonnet": "https://raw.githubusercontent.com/vllm-project/vllm/main/benchmarks/sonnet.txt",
}
# Tools each engine's API can be driven by (inference-perf server.type: vllm|sglang|tgi|mock, from
# inference_perf/config/client/modelserver/config.py; JetStream serves gRPC + its own /v1/generate).
TOOLS_FOR_ENGINE = {"vllm": ("vllm-bench", "inference-perf"), "jetstream-maxtext": ("jetstream-benchmark",)}
DATASETS_FOR_TOOL = {"vllm-bench": ("random", "sharegpt", "sonnet"),
                     "jetstream-benchmark": ("random", "sharegpt"),
                     "inference-perf": ("random", "sharegpt")}


def _problems(cfg: Any, tool: str) -> list[str]:
    from components.errors import problem

    b, engine = cfg.benchmark, cfg.engine.name
    out = []
    if tool not in TOOLS_FOR_ENGINE[engine]:
        out.append(problem("tpustack:benchmark.tool", f"{tool} cannot drive {engine}'s API",
                           f"use one of {', '.join(TOOLS_FOR_ENGINE[engine])} for {engine}"))
    if b.dataset not in DATASETS_FOR_TOOL.get(tool, ()):
        out.append(problem("tpustack:benchmark.dataset", f"{tool} has no '{b.dataset}' dataset",
                           f"use one of {', '.join(DATASETS_FOR_TOOL[tool])}"))
    if tool == "jetstream-benchmark" and b.max_concurrency:
        out.append(problem("tpustack:benchmark.maxConcurrency", "JetStream's benchmark_serving.py has no "
                           "concurrency limit flag", "sweep requestRates instead, or use another engine"))
    if tool in ("jetstream-benchmark", "inference-perf") and b.burstiness != 1.0 and not b.max_concurrency:
        out.append(problem("tpustack:benchmark.burstiness", f"{tool} only sends Poisson arrivals "
                           "(burstiness 1)", "set burstiness to 1, or use vllm-bench for gamma arrivals"))
    return out


def bench_spec(cfg: Any, *, base_url: str, metrics_url: str, results_uri: str, git_revision: str) -> dict:
    """The Job's spec for a stack with an engine and a benchmark. Raises ConfigError when the tool cannot
    run the configured load against the engine."""
    from components.errors import ConfigError, problem

    if cfg.benchmark is None or cfg.engine is None or cfg.model is None:
        missing = [k for k in ("engine", "model", "benchmark") if getattr(cfg, k) is None]
        raise ConfigError([problem(f"tpustack:{k}", "a serving benchmark needs it",
                                   "see stacks/ for a gke stack with engine, model and benchmark")
                           for k in missing], cfg.stack)
    tool = cfg.benchmark_tool
    problems = _problems(cfg, tool)
    if problems:
        raise ConfigError(problems, cfg.stack)
    b, shape, engine = cfg.benchmark, cfg.shape, cfg.engine
    if b.max_concurrency:
        sweep = [{"max_concurrency": c, "request_rate": None} for c in b.max_concurrency]
        arrival = "closed loop: fixed concurrency, each client sends when its last request completes"
    else:
        sweep = [{"request_rate": r, "max_concurrency": None} for r in b.request_rates]
        arrival = "poisson" if b.burstiness == 1.0 else f"gamma (burstiness {b.burstiness:g})"
    engine_args = {"tensorParallel": cfg.tensor_parallel, "replicas": cfg.replicas, "port": engine.port}
    sub = engine.vllm if engine.name == "vllm" else engine.maxtext
    if sub is not None:
        engine_args.update(sub.model_dump(by_alias=True, mode="json"))
    host = urlsplit(base_url).hostname or "localhost"
    return {
        "schema": SPEC_SCHEMA,
        "stack": cfg.stack,
        "results_uri": results_uri.rstrip("/"),
        "tool": tool,
        "tool_command": TOOL_COMMANDS[tool],
        "server": {"base_url": base_url.rstrip("/"), "health_path": HEALTH_PATHS[engine.name],
                   "metrics_url": metrics_url, "grpc_target": f"{host}:{JETSTREAM_GRPC_PORT}"},
        "model": {"id": cfg.model.id, "dtype": cfg.model.dtype, "params_b": cfg.model.params_b},
        "load": {"arrival": arrival, "dataset": b.dataset, "dataset_url": DATASET_URLS.get(b.dataset),
                 "input_len": b.input_len, "output_len": b.output_len, "num_prompts": b.num_prompts,
                 "burstiness": b.burstiness, "warmups": b.warmups, "seed": b.seed,
                 "temperature": b.temperature, "ignore_eos": b.ignore_eos},
        "sweep": sweep,
        "slo": b.slo.model_dump(mode="json", exclude_none=True),
        "kept_up_tolerance": 0.9,
        "timeouts": {"ready_s": 3600, "point_min_s": 900},
        "scrape_interval_s": 5,
        "chips": shape.chips * cfg.replicas,
        "metadata": {
            "stack": cfg.stack, "project": cfg.project, "region": cfg.region, "zone": cfg.zone,
            "engine": engine.name, "engine_image": cfg.engine_image, "engine_args": engine_args,
            "tool": tool, "tool_image": cfg.engine_image if tool != "inference-perf" else None,
            "accelerator": shape.name, "accelerator_kind": shape.kind, "family": shape.family,
            "topology": shape.topology, "machine_type": shape.machine_type, "hosts": shape.hosts,
            "chips_per_replica": shape.chips, "replicas": cfg.replicas, "chips": shape.chips * cfg.replicas,
            "capacity_type": cfg.capacity.type, "model": cfg.model.id, "model_dtype": cfg.model.dtype,
            "dataset": b.dataset, "git_revision": git_revision,
        },
    }
