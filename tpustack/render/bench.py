"""The serving-benchmark spec: everything the benchmark Job needs, built from a validated StackConfig and the
serving unit the benchmark measures (a region's first).

``bench_spec(cfg, unit, ...)`` returns a JSON-serializable dict; the benchmark app puts ``json.dumps(spec)`` in a
ConfigMap mounted at ``SPEC_PATH`` and the Job runs ``python3 -m tpustack.workloads.serving_bench --spec
SPEC_PATH`` (tpustack/workloads/serving_bench.py reads it). Whether the tool can run the load against the
engine is a config rule (tpustack.config.rules), checked before this is built.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

from tpustack.config import derived
from tpustack.config.model import StackConfig
from tpustack.config.sections import BenchmarkConfig
from tpustack.config.units import ServingUnit
from tpustack.core import engines, images
from tpustack.core.contracts import (
    SPEC_SCHEMA,
    BenchSpec,
    ClientTokenizer,
    SpecGateway,
    SpecPods,
    SpecPrefix,
    SpecServer,
    SpecSlo,
    SweepPoint,
)
from tpustack.core.engines import ToolName
from tpustack.core.errors import InternalError
from tpustack.workloads import tools

__all__ = ["SPEC_DIR", "SPEC_PATH", "SPEC_SCHEMA", "bench_spec"]

SPEC_DIR = "/opt/tpustack/spec"
SPEC_PATH = f"{SPEC_DIR}/spec.json"


def _server(
    base_url: str,
    health_path: str,
    metrics_url: str | None,
    host: str,
    gateway: SpecGateway | None,
    pods: SpecPods | None,
    role_metrics_urls: dict[str, str] | None = None,
) -> SpecServer:
    server: SpecServer = {
        "base_url": base_url.rstrip("/"),
        "health_path": health_path,
        "metrics_url": metrics_url,
        "grpc_target": f"{host}:{engines.JETSTREAM_GRPC_PORT}",
        # Behind GKE Inference Gateway: the runner reads the Gateway's address from the Kubernetes API and
        # benchmarks through it, so results show what users get (tpustack.workloads.serving_bench).
        "gateway": gateway,
    }
    if pods is not None:  # the serving pods whose cold start the runner reads (tpustack.workloads.cold_start)
        server["pods"] = pods
    if role_metrics_urls:  # P/D: each role's own pods, scraped one by one (tpustack.workloads.promscrape)
        server["role_metrics_urls"] = role_metrics_urls
    return server


def bench_spec(
    cfg: StackConfig,
    units: tuple[ServingUnit, ...] | None = None,
    *,
    base_url: str,
    metrics_url: str | None,
    results_uri: str,
    git_revision: str,
    gateway: SpecGateway | None = None,
    pods: SpecPods | None = None,
    role_metrics_urls: dict[str, str] | None = None,
) -> BenchSpec:
    """The Job's spec for a stack with an engine, a model and a benchmark, measuring a region's units (the
    metadata describes the first; every unit of a group of variants is listed). Default: the stack's own
    region."""
    units = units or cfg.units_in(cfg.serving_regions[0])
    unit = units[0]
    b, engine, model, shape, tool = cfg.benchmark, cfg.engine, cfg.served, unit.shape, cfg.benchmark_tool
    if b is None or engine is None or model is None or tool is None:
        raise InternalError("bench_spec needs a config with engine, model and benchmark (config rules ensure it)")
    sweep: list[SweepPoint]
    if b.max_concurrency:
        sweep = [{"max_concurrency": c, "request_rate": None} for c in b.max_concurrency]
        arrival = "closed loop: fixed concurrency, each client sends when its last request completes"
    else:
        sweep = [{"request_rate": r, "max_concurrency": None} for r in b.request_rates]
        arrival = "poisson" if b.burstiness == 1.0 else f"gamma (burstiness {b.burstiness:g})"
    engine_args: dict[str, Any] = {
        "tensorParallel": unit.tensor_parallel,
        "replicas": unit.replicas,
        "port": engine.port,
    }
    if unit.settings is not None:  # what the server really gets
        engine_args.update(unit.settings.model_dump(by_alias=True, mode="json"))
    host = urlsplit(base_url).hostname or "localhost"
    image = unit.image
    if image is None:  # every unit of a stack with an engine has one (tpustack.config.units)
        raise InternalError(f"unit {unit.keys.unit} serves without an image")
    server = _server(base_url, engine.record.health_path, metrics_url, host, gateway, pods, role_metrics_urls)
    doc: BenchSpec = {
        "schema": SPEC_SCHEMA,
        "stack": cfg.stack,
        "results_uri": results_uri.rstrip("/"),
        "tool": tool,
        "tool_command": list(tools.tool(tool).facts.command),
        "server": server,
        "model": {
            "id": model.id,
            "dtype": model.dtype,
            "params_b": round(model.params_b, 2),
            **_client_tokenizer(cfg, tool),
        },
        "load": {
            "arrival": arrival,
            "dataset": b.dataset,
            "dataset_url": engines.DATASET_URLS.get(b.dataset),
            "input_len": b.input_len,
            "output_len": b.output_len,
            "num_prompts": b.num_prompts,
            "burstiness": b.burstiness,
            "warmups": b.warmups,
            "seed": b.seed,
            "temperature": b.temperature,
            "ignore_eos": b.ignore_eos,
        },
        "sweep": sweep,
        "slo": cast(SpecSlo, b.slo.model_dump(mode="json", exclude_none=True)),
        "kept_up_tolerance": 0.9,
        "timeouts": {"ready_s": 3600, "point_min_s": 900},
        "scrape_interval_s": 5,
        "chips": shape.chips * unit.replicas,
        "metadata": {
            "stack": cfg.stack,
            "project": cfg.project,
            "region": unit.region.name,
            "zone": unit.region.zone,
            "engine": engine.name,
            "engine_image": image,
            "engine_args": engine_args,
            "tool": tool,
            "tool_image": unit.image if tool is not ToolName.INFERENCE_PERF else None,
            "accelerator": shape.name,
            "accelerator_kind": shape.kind,
            "family": shape.family,
            "topology": shape.topology,
            "machine_type": shape.machine_type,
            "hosts": shape.hosts,
            "chips_per_replica": shape.chips,
            "replicas": unit.replicas,
            "chips": shape.chips * unit.replicas,
            "capacity_type": unit.first_capacity.type,
            "variants": [
                {
                    "name": u.variant,
                    "accelerator": u.accelerator.type,
                    "capacity": [c.type for c in u.capacity],
                    "replicas": u.replicas,
                }
                for u in units
                if u.variant is not None
            ]
            or None,
            "model": model.id,
            "model_dtype": model.dtype,
            "kv_cache_dtype": (engine.vllm.kv_cache_dtype if engine.vllm else None) or "auto",
            "speculative_tokens": model.speculative_tokens,
            "dataset": b.dataset,
            "git_revision": git_revision,
        },
    }
    return _with_prefix(doc, b)


def _with_prefix(doc: BenchSpec, b: BenchmarkConfig) -> BenchSpec:
    """The load's shared-prefix workload (tpustack.config.workload), when it has one; only then, so a plain
    benchmark's spec is what it was."""
    if b.prefix is not None:
        prefix: SpecPrefix = {
            "groups": b.prefix.groups,
            "prefix_len": b.prefix.prefix_len,
            "prompts_per_group": b.prefix.prompts_per_group(b.num_prompts),
            "multi_turn": b.prefix.multi_turn,
        }
        doc["load"]["prefix"] = prefix
    return doc


def _client_tokenizer(cfg: StackConfig, tool: ToolName) -> ClientTokenizer:
    """JetStream's client tokenizes with the MaxText asset in the image (tiktoken for Llama 3 via --model llama-3;
    SentencePiece otherwise), as the server does: no Hugging Face access, no second BOS."""
    if tool is not ToolName.JETSTREAM_BENCHMARK or cfg.served is None or not cfg.served.maxtext:
        return {}
    family = derived.maxtext_family(cfg) or ""
    facts = images.JETSTREAM_ENGINE
    return {
        "client_model": images.JETSTREAM_CLIENT_MODEL.get(family, cfg.served.maxtext),
        "tokenizer_path": f"{facts.paths['workdir']}/{facts.tokenizers[family]}",
    }
