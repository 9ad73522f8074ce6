"""Engine and image facts: what each pinned image contains and how it is driven. One place per fact.

``IMAGES`` holds one ``ImageFacts`` per pinned image: the package and version its code comes from, the CLI flags
of its server and of its benchmark client that tpustack uses, its endpoints, the paths and environment
variables it reads, its model names and tokenizer assets. Templates, config rules, the benchmark spec and the
runner read these; tests/test_engine_facts.py downloads the very packages named here and checks every entry
against them (flags from the argparse definitions, endpoints from the routers, paths from the file lists,
model names from the model registries), and checks that every flag, path and endpoint a rendered manifest or a
Job uses is listed here. Moving to a newer image = a new entry here (README "Engine versions").

Stdlib only: the benchmark runner (a pod) reads the tool facts too.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ImageFacts:
    """What one pinned image offers, as read from the packages it is built from (``source``)."""

    image: str
    role: str  # engine | frontend | converter | benchmark | heartbeat
    built_from: tuple[str, ...]  # PyPI "dist==version" (or "repo@ref") the facts were read from
    source: str  # where each fact below was read, for a reader checking them
    command: tuple[str, ...] = ()  # the server's (or tool's) command inside the image
    flags: frozenset[str] = frozenset()  # server flags (engines) or tool flags (benchmarks) tpustack passes
    bench_command: tuple[str, ...] = ()  # the benchmark client shipped in the image, if any
    bench_flags: frozenset[str] = frozenset()
    datasets: tuple[str, ...] = ()  # the benchmark client's datasets tpustack can feed
    endpoints: dict[str, str] = field(default_factory=dict)  # health, metrics, completions...
    ports: dict[str, int] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)  # files inside the image tpustack refers to
    env: frozenset[str] = frozenset()  # environment variables tpustack sets that the image reads
    model_names: frozenset[str] = frozenset()  # MaxText model_name values the image knows
    tokenizers: dict[str, str] = field(default_factory=dict)  # model family -> tokenizer asset path
    notes: tuple[str, ...] = ()


# ----- vLLM 0.32.0 ------------------------------------------------------------------------------------------------
# Both images are vLLM 0.32.0: the newest number with a `vllm` and a `vllm-tpu` wheel on PyPI (2026-10). Their
# benchmark code is byte-identical (vllm/benchmarks/serve.py, datasets/datasets.py). Sources, by wheel path:
#   server flags   vllm/engine/arg_utils.py (EngineArgs), vllm/entrypoints/launchers/cli_args.py (FrontendArgs)
#   bench flags    vllm/benchmarks/serve.py add_cli_args, vllm/benchmarks/datasets/datasets.py
#   endpoints      vllm/entrypoints/serve/instrumentator/health.py (/health), .../metrics.py (/metrics),
#                  vllm/entrypoints/openai/completion/api_router.py (/v1/completions)
#   env            vllm/envs.py VLLM_XLA_CACHE_PATH (tpu_inference/runner/compilation_manager.py hands it to
#                  JAX's persistent cache); tpu_inference/envs.py TPU_MULTIHOST_BACKEND ("ray" selects the Ray
#                  executor, tpu_inference/platforms/tpu_platform.py; unset -> single-host "uni"); HF_TOKEN read by
#                  huggingface_hub (utils/_auth.py), which both the server and the client's tokenizer go through
#   script         examples/ray_serving/multi-node-serving.sh in the vllm-tpu sdist; the TPU image clones vllm into
#                  /workspace/vllm (tpu-inference docker/Dockerfile)
VLLM_VERSION = "0.32.0"
_VLLM_SERVER_FLAGS = frozenset(
    {
        "--host",
        "--port",
        "--model",
        "--served-model-name",
        "--tensor-parallel-size",
        "--max-model-len",
        "--download-dir",
        "--max-num-batched-tokens",
        "--max-num-seqs",
        "--enable-prefix-caching",
        "--no-enable-prefix-caching",
        "--quantization",
        "--gpu-memory-utilization",
        "--async-scheduling",
        "--no-async-scheduling",
    }
)
_VLLM_BENCH_FLAGS = frozenset(
    {
        "--backend",
        "--base-url",
        "--endpoint",
        "--model",
        "--num-prompts",
        "--seed",
        "--temperature",
        "--percentile-metrics",
        "--metric-percentiles",
        "--save-result",
        "--save-detailed",
        "--result-dir",
        "--result-filename",
        "--disable-tqdm",
        "--dataset-name",
        "--random-input-len",
        "--random-output-len",
        "--dataset-path",
        "--sharegpt-output-len",
        "--ignore-eos",
        "--max-concurrency",
        "--request-rate",
        "--burstiness",
        "--goodput",
    }
)
_VLLM_COMMON = {
    "command": ("vllm", "serve"),
    "flags": _VLLM_SERVER_FLAGS,
    "bench_command": ("vllm", "bench", "serve"),
    "bench_flags": _VLLM_BENCH_FLAGS,
    # `sonnet` is gone in 0.32.0; `random` always ignores EOS there (serve.py: "when using random datasets,
    # default to ignoring EOS"), so natural stop lengths need sharegpt.
    "datasets": ("random", "sharegpt"),
    "endpoints": {"health": "/health", "metrics": "/metrics", "completions": "/v1/completions"},
    "ports": {"http": 8000},
}
VLLM_TPU = ImageFacts(
    image=f"docker.io/vllm/vllm-tpu:v{VLLM_VERSION}",
    role="engine",
    built_from=(f"vllm-tpu=={VLLM_VERSION}", f"tpu-inference=={VLLM_VERSION}"),
    source="vllm-tpu 0.32.0 wheel and sdist, tpu-inference 0.32.0 wheel (paths above)",
    paths={"ray_bootstrap": "/workspace/vllm/examples/ray_serving/multi-node-serving.sh"},
    env=frozenset({"HF_TOKEN", "VLLM_XLA_CACHE_PATH", "TPU_MULTIHOST_BACKEND"}),
    notes=(
        "The vllm/vllm-tpu:v0.32.0 tag follows the release pattern of earlier tags (v0.11.1 ... v0.27.0); "
        "`docker manifest inspect` it, and pin its digest, before relying on it.",
    ),
    **_VLLM_COMMON,  # type: ignore[arg-type]
)
VLLM_GPU = ImageFacts(
    image=f"docker.io/vllm/vllm-openai:v{VLLM_VERSION}",
    role="engine",
    built_from=(f"vllm=={VLLM_VERSION}",),
    source="vllm 0.32.0 wheel and sdist (docker/Dockerfile: ENTRYPOINT vllm serve; .buildkite/scripts/"
    "publish-release-images.sh pushes vllm/vllm-openai:v<version>)",
    env=frozenset({"HF_TOKEN"}),
    **_VLLM_COMMON,  # type: ignore[arg-type]
)

# ----- JetStream MaxText ------------------------------------------------------------------------------------------
# maxengine-server + jetstream-http, kubernetes-engine-samples ai-ml/llm-serving-tpus-jetstream.
JETSTREAM_ENGINE = ImageFacts(
    image="us-docker.pkg.dev/cloud-tpu-images/inference/maxengine-server:v0.2.2",
    role="engine",
    built_from=("google-jetstream==0.2.2",),
    source="kubernetes-engine-samples ai-ml/llm-serving-tpus-jetstream",
    ports={"grpc": 9000, "metrics": 9100},
    model_names=frozenset({"llama3.1-8b"}),
    tokenizers={
        "llama2": "assets/tokenizer.llama2",
        "llama3": "assets/tokenizer_llama3.tiktoken",
        "llama3.1": "assets/tokenizer_llama3.tiktoken",
        "llama3.3": "assets/tokenizer_llama3.tiktoken",
        "gemma": "assets/tokenizer.gemma",
    },
    bench_command=("python3", "/JetStream/benchmarks/benchmark_serving.py"),
    datasets=("random", "sharegpt"),
)
JETSTREAM_HTTP = ImageFacts(
    image="us-docker.pkg.dev/cloud-tpu-images/inference/jetstream-http:v0.2.2",
    role="frontend",
    built_from=("google-jetstream==0.2.2",),
    source="ai-on-gke jetstream/maxtext/single-host-inference/kubectl/deployment.yaml",
    endpoints={"health": "/healthcheck"},
    ports={"http": 8000},
)
CHECKPOINT = ImageFacts(
    image="us-docker.pkg.dev/cloud-tpu-images/inference/inference-checkpoint:v0.2.5",
    role="converter",
    built_from=("ai-on-gke@inference-checkpoint-v0.2.5",),
    source="ai-on-gke tutorials-and-examples inference-servers/checkpoints/checkpoint_converter.sh",
    paths={"converter": "/usr/bin/checkpoint_converter.sh"},
)

# ----- inference-perf 0.7.0 ---------------------------------------------------------------------------------------
# 0.7.0 timestamps only SSE messages that carry text (inference_perf/apis/streaming_parser.py parse_sse_stream);
# 0.2.0 timed every line, blank ones included, and reported about half the real TPOT. Config: pydantic models
# under inference_perf/config/ (extra="forbid"); outputs: reportgen/base.py (times in seconds, p50 written as
# "median"). The release workflow (.github/workflows/publish-on-release.yml) pushes
# quay.io/inference-perf/inference-perf:<tag> for every v*.*.* tag.
INFERENCE_PERF_VERSION = "0.7.0"
INFERENCE_PERF = ImageFacts(
    image=f"quay.io/inference-perf/inference-perf:v{INFERENCE_PERF_VERSION}",
    role="benchmark",
    built_from=(f"inference-perf=={INFERENCE_PERF_VERSION}",),
    source="inference-perf 0.7.0 wheel: utils/cli_parser.py (--config_file), config/*.py, reportgen/base.py",
    command=("inference-perf",),
    flags=frozenset({"--config_file"}),
    datasets=("random", "sharegpt"),
    env=frozenset({"HF_TOKEN"}),
)

# ----- the heartbeat's images -------------------------------------------------------------------------------------
# The PyTorch/XLA TPU image is listed in pytorch/xla README.md ("Docker"); pytorch/pytorch is PyTorch's CUDA
# runtime image.
HEARTBEAT_TPU = ImageFacts(
    image="us-central1-docker.pkg.dev/tpu-pytorch-releases/docker/xla:r2.7.0_3.10_tpuvm",
    role="heartbeat",
    built_from=("torch_xla==2.7.0",),
    source="pytorch/xla README.md (Docker)",
)
HEARTBEAT_GPU = ImageFacts(
    image="docker.io/pytorch/pytorch:2.7.0-cuda12.6-cudnn9-runtime",
    role="heartbeat",
    built_from=("torch==2.7.0",),
    source="hub.docker.com/r/pytorch/pytorch tags",
)

IMAGES: dict[str, ImageFacts] = {
    f.image: f
    for f in (
        VLLM_TPU,
        VLLM_GPU,
        JETSTREAM_ENGINE,
        JETSTREAM_HTTP,
        CHECKPOINT,
        INFERENCE_PERF,
        HEARTBEAT_TPU,
        HEARTBEAT_GPU,
    )
}

# ----- what the rest of tpustack reads ------------------------------------------------------------------------------
DEFAULT_IMAGES: dict[tuple[str, str], str] = {
    ("vllm", "tpu"): VLLM_TPU.image,
    ("vllm", "gpu"): VLLM_GPU.image,
    ("jetstream-maxtext", "tpu"): JETSTREAM_ENGINE.image,
}
ENGINE_KINDS = {"vllm": ("tpu", "gpu"), "jetstream-maxtext": ("tpu",)}
# The name of the serving workload and its Service per engine.
SERVER_NAMES = {"vllm": "vllm", "jetstream-maxtext": "jetstream"}
# Value of the ai.gke.io/inference-server pod label (GKE samples).
GKE_SERVER_LABELS = {"vllm": "vllm", "jetstream-maxtext": "jetstream"}

VLLM_HEALTH_PATH = VLLM_TPU.endpoints["health"]
VLLM_METRICS_PATH = VLLM_TPU.endpoints["metrics"]
VLLM_SERVER_COMMAND = list(VLLM_TPU.command)
VLLM_RAY_BOOTSTRAP = VLLM_TPU.paths["ray_bootstrap"]
# Multi-host TPU: tpu-inference picks its Ray executor only with this set (leader and workers alike, as the
# upstream LWS example sets it).
TPU_MULTIHOST_ENV = {"TPU_MULTIHOST_BACKEND": "ray"}
HF_TOKEN_ENV = "HF_TOKEN"  # huggingface_hub: HF_TOKEN first, HUGGING_FACE_HUB_TOKEN only as a fallback
XLA_CACHE_ENV = "VLLM_XLA_CACHE_PATH"
# Flags tpustack sets from config; extraArgs may not repeat them.
VLLM_OWNED_FLAGS = ("--model", "--tensor-parallel-size", "--port", "--max-model-len", "--host")
VLLM_QUEUE_METRIC = "vllm:num_requests_waiting"  # kubernetes-engine-samples ai-ml/vllm-tpu/vllm-hpa.yaml

JETSTREAM_HTTP_IMAGE = JETSTREAM_HTTP.image
JETSTREAM_GRPC_PORT = JETSTREAM_ENGINE.ports["grpc"]
JETSTREAM_METRICS_PORT = JETSTREAM_ENGINE.ports["metrics"]
JETSTREAM_HTTP_PORT = JETSTREAM_HTTP.ports["http"]
JETSTREAM_HEALTH_PATH = JETSTREAM_HTTP.endpoints["health"]
JETSTREAM_QUEUE_METRIC = "jetstream_prefill_backlog_size"  # ai-on-gke jetstream hpa template
CHECKPOINT_IMAGE = CHECKPOINT.image
CHECKPOINT_CONVERTER = CHECKPOINT.paths["converter"]
# MaxText model family (model.maxtextName before "-<size>") -> (the converter's --model_name, tokenizer asset).
# Families without a converter name are served only from an already converted gs:// checkpoint.
MAXTEXT_FAMILIES: dict[str, tuple[str | None, str]] = {
    "llama2": ("llama-2", JETSTREAM_ENGINE.tokenizers["llama2"]),
    "llama3": ("llama-3", JETSTREAM_ENGINE.tokenizers["llama3"]),
    "llama3.1": ("llama-3.1", JETSTREAM_ENGINE.tokenizers["llama3.1"]),
    "llama3.3": ("llama-3.3", JETSTREAM_ENGINE.tokenizers["llama3.3"]),
    "gemma": (None, JETSTREAM_ENGINE.tokenizers["gemma"]),
}

HEALTH_PATHS = {"vllm": VLLM_HEALTH_PATH, "jetstream-maxtext": JETSTREAM_HEALTH_PATH}
QUEUE_METRICS = {"vllm": VLLM_QUEUE_METRIC, "jetstream-maxtext": JETSTREAM_QUEUE_METRIC}

# ----- benchmark tools ---------------------------------------------------------------------------------------------
BENCH_TOOLS = ("vllm-bench", "jetstream-benchmark", "inference-perf")
DEFAULT_TOOL = {"vllm": "vllm-bench", "jetstream-maxtext": "jetstream-benchmark"}
# Tool invocations inside the benchmark image; the spec may override them for another layout.
TOOL_COMMANDS = {
    "vllm-bench": list(VLLM_TPU.bench_command),
    "jetstream-benchmark": list(JETSTREAM_ENGINE.bench_command),
    "inference-perf": list(INFERENCE_PERF.command),
}
INFERENCE_PERF_IMAGE = INFERENCE_PERF.image
# Tools each engine's API can be driven by (inference-perf server.type: vllm|sglang|tgi|mock, from
# inference_perf/config/client/modelserver/config.py; JetStream serves gRPC + its own /v1/generate).
TOOLS_FOR_ENGINE = {"vllm": ("vllm-bench", "inference-perf"), "jetstream-maxtext": ("jetstream-benchmark",)}
DATASETS_FOR_TOOL = {
    "vllm-bench": VLLM_TPU.datasets,
    "jetstream-benchmark": JETSTREAM_ENGINE.datasets,
    "inference-perf": INFERENCE_PERF.datasets,
}
# Tools that always run to max_tokens on the random dataset, whatever benchmark.ignoreEos says.
IGNORES_EOS_ON_RANDOM = ("vllm-bench",)
# Where the runner fetches datasets that are files (vLLM docs/benchmarking/cli.md, JetStream benchmarks).
DATASET_URLS = {
    "sharegpt": "https://huggingface.co/datasets/anon8231489123/ShareGPT_Vicuna_unfiltered/resolve/main/"
    "ShareGPT_V3_unfiltered_cleaned_split.json",
}

HEARTBEAT_IMAGES = {"tpu": HEARTBEAT_TPU.image, "gpu": HEARTBEAT_GPU.image}
# PyTorch/XLA release pinned with its torch for a TPU VM (pytorch/xla README: torch==X torch_xla[tpu]==X); plus
# the GCS client the heartbeat uses to write gs:// results.
TPU_VM_PIP_PACKAGES = ["torch==2.8.0", "'torch_xla[tpu]==2.8.0'", "google-cloud-storage==2.19.0"]

# ----- LeaderWorkerSet controller -------------------------------------------------------------------------------------
# kubernetes-sigs/lws site/content/en/docs/installation/_index.md ("Install by Helm"): chart
# oci://registry.k8s.io/lws/charts/lws, release lws in lws-system. The chart's values default the controller
# image tag to "main" (charts/lws/values.yaml image.manager.tag), so the tag is pinned too.
LWS_CHART = "oci://registry.k8s.io/lws/charts/lws"
LWS_CHART_VERSION = "0.10.0"
LWS_IMAGE_TAG = "v0.10.0"
LWS_NAMESPACE = "lws-system"


@dataclass(frozen=True)
class Tuned:
    """Published engine settings for some models on some accelerators, used where a stack sets none."""

    models: tuple[str, ...]
    accelerators: tuple[str, ...]  # catalog families
    settings: dict[str, object]
    source: str


# AI-Hypercomputer/tpu-recipes inference/trillium/vLLM/Llama3.x/README.md (v6e-8, tensor parallel 8, image
# vllm/vllm-tpu:v0.12.0): `--max-num-batched-tokens 512 --max-num-seqs 256 --gpu-memory-utilization 0.98
# --async-scheduling` for Llama 3.x 70B, the decode-heavy / balanced row of its table. No source publishes
# 8B values for a full v6e-8 or for the GPU images; vLLM's own defaults apply there.
VLLM_TUNED: tuple[Tuned, ...] = (
    Tuned(
        ("meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.1-70B", "meta-llama/Llama-3.3-70B-Instruct"),
        ("v6e",),
        {"max_num_batched_tokens": 512, "max_num_seqs": 256, "gpu_memory_utilization": 0.98, "async_scheduling": True},
        "AI-Hypercomputer/tpu-recipes inference/trillium/vLLM/Llama3.x/README.md (v6e-8, TP 8, vllm-tpu v0.12.0)",
    ),
)


def facts_for(image: str) -> ImageFacts | None:
    return IMAGES.get(image)


def is_pinned(image: str) -> bool:
    """An image reference with an explicit version tag or digest (never ``latest`` or no tag)."""
    tag = image.rsplit("/", 1)[-1]
    return "@sha256:" in image or (":" in tag and not tag.endswith(":latest"))
