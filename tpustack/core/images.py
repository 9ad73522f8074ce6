"""Image facts: what each pinned image contains, as read from the packages it is built from. One place per fact.

``IMAGES`` holds one ``ImageFacts`` per pinned image: the package and version its code comes from, the CLI flags
of its server and of its benchmark client that tpustack uses, its endpoints, the paths and environment
variables it reads, its model names and tokenizer assets. tests/integration/test_engine_facts.py downloads the very
packages named here and checks every entry against them (flags from the argparse definitions, endpoints from the
routers, paths from the file lists, model names from the model registries), and checks that every flag, path and
endpoint a rendered manifest or a Job uses is listed here. Moving to a newer image = a new entry here (README
"Engine versions"). How tpustack drives each engine (its records, tools, charts) is ``tpustack.core.engines``.

Stdlib only: the benchmark runner (a pod) reads these too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import disagg


@dataclass(frozen=True)
class ImageFacts:
    """What one pinned image offers, as read from the packages it is built from (``source``)."""

    image: str
    role: str  # engine | frontend | converter | benchmark | heartbeat | metrics-adapter
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
        "--load-format",  # the Run:ai streamer (tpustack.core.weights)
        "--kv-offloading-size",  # KV cache offload on GPU (tpustack.core.offload)
        "--max-num-batched-tokens",
        "--max-num-seqs",
        "--enable-prefix-caching",
        "--no-enable-prefix-caching",
        "--quantization",
        "--gpu-memory-utilization",
        "--async-scheduling",
        "--no-async-scheduling",
        "--kv-cache-dtype",
        "--enable-expert-parallel",
        "--speculative-config",
        "--kv-transfer-config",  # P/D: EngineArgs.kv_transfer_config (tpustack.core.disagg)
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
        # shared-prefix workloads (benchmark.prefix): datasets.py add_dataset_parser, "prefix repetition dataset
        # options" and the random dataset's --random-prefix-len
        "--prefix-repetition-prefix-len",
        "--prefix-repetition-suffix-len",
        "--prefix-repetition-num-prefixes",
        "--prefix-repetition-output-len",
        "--random-prefix-len",
    }
)
# tpustack's benchmark.dataset of prompts in shared-prefix groups (tpustack.config.workload), and the name each
# tool gives it: vllm bench serve's --dataset-name choice (datasets.py), inference-perf's data.type
# (inference_perf/config/datagen/config.py DataGenType.SharedPrefix)
SHARED_PREFIX_DATASET = "shared-prefix"
VLLM_PREFIX_DATASET = "prefix_repetition"
INFERENCE_PERF_PREFIX_DATA = "shared_prefix"
_VLLM_COMMON = {
    "command": ("vllm", "serve"),
    "flags": _VLLM_SERVER_FLAGS,
    "bench_command": ("vllm", "bench", "serve"),
    "bench_flags": _VLLM_BENCH_FLAGS,
    # `sonnet` is gone in 0.32.0; `random` always ignores EOS there (serve.py: "when using random datasets,
    # default to ignoring EOS"), so natural stop lengths need sharegpt.
    "datasets": ("random", "sharegpt"),
    "endpoints": {"health": "/health", "metrics": "/metrics", "completions": "/v1/completions"},
}
# P/D (tpustack.core.disagg): vLLM behind the decode sidecar, and the KV connector's default ports per image.
_VLLM_PORTS = {"http": 8000, "pd_engine": disagg.SIDECAR_ENGINE_PORT}
VLLM_TPU = ImageFacts(
    image=f"docker.io/vllm/vllm-tpu:v{VLLM_VERSION}",
    role="engine",
    built_from=(f"vllm-tpu=={VLLM_VERSION}", f"tpu-inference=={VLLM_VERSION}"),
    source="vllm-tpu 0.32.0 wheel and sdist, tpu-inference 0.32.0 wheel (paths above)",
    paths={"ray_bootstrap": "/workspace/vllm/examples/ray_serving/multi-node-serving.sh"},
    env=frozenset(
        # TPU_OFFLOAD_NUM_CPU_CHUNKS: KV offload (tpustack.core.offload.TPU_OFFLOAD_CHUNKS_ENV, the same name: tested);
        # spelled out so the benchmark pod's code, which imports this module, does not grow by that module
        {
            "HF_TOKEN",
            "VLLM_XLA_CACHE_PATH",
            "TPU_MULTIHOST_BACKEND",
            *disagg.TPU_CONNECTOR.env,
            "TPU_OFFLOAD_NUM_CPU_CHUNKS",
        }
    ),
    ports={**_VLLM_PORTS, **{k.lower(): int(v) for k, v in disagg.TPU_CONNECTOR.env.items()}},
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
    env=frozenset({"HF_TOKEN", *disagg.NIXL_CONNECTOR.env, disagg.NIXL_SIDE_CHANNEL_HOST_ENV}),
    ports={**_VLLM_PORTS, **{k.lower(): int(v) for k, v in disagg.NIXL_CONNECTOR.env.items()}},
    **_VLLM_COMMON,  # type: ignore[arg-type]
)

# ----- JetStream MaxText ------------------------------------------------------------------------------------------
# No public image serves Llama 3.1 with MaxText: the only maxengine-server tag any sample uses (v0.2.2) is MaxText
# `jetstream-v0.2.2`, which has no llama3.1-8b and no tiktoken asset. So the server image is built from pinned
# sources by workloads/images/jetstream-maxtext.Dockerfile (README "JetStream image") and pushed to the stack's own
# Artifact Registry. Facts below were read from those pinned sources:
#   MaxText    AI-Hypercomputer/maxtext tag tpu-recipes-v0.1.4 = 9f1820b472ef362e7b5c782fe1d6fda8a0943eff (the pin
#              tpu-recipes uses for Llama-3.1-8B on v6e-8, training/trillium/Llama3.1-8B-MaxText/v6e-8/README.md),
#              on the jax-ai-image tpu:jax0.6.1-rev1 base that README pairs with it.
#              model names   MaxText/pyconfig.py validate_model_name
#              assets        tokenizer.llama2, tokenizer_llama3.tiktoken, tokenizer.gemma, tokenizer.mistral-v1
#              tokenizer_type=tiktoken is asserted for tokenizer_llama3.tiktoken (pyconfig.py:255-258)
#              server        python3 -m MaxText.maxengine_server MaxText/configs/base.yml key=value..., gRPC on 9000
#                            (maxengine_server.py:70), Prometheus on prometheus_port when != 0
#              conversion    python3 -m MaxText.llama_or_mistral_ckpt --huggingface-checkpoint=true reads
#                            *.safetensors (llama_or_mistral_ckpt.py:605) and writes <out>/0/items; then
#                            python3 -m MaxText.generate_param_only_checkpoint ... force_unroll=true writes the
#                            unscanned <base_output_directory>/<run_name>/checkpoints/0/items
#                            (end_to_end/tpu/llama3.1/8b/3_test_llama3.1_8b.sh:22,36)
#   JetStream  AI-Hypercomputer/JetStream 29329e8e73820993f77cfc8efe34eb2a73f5de98 (google-jetstream 0.3.0, the
#              repository's final code; PyPI stops at 0.2.2, whose client lacks these flags). Its wheel ships
#              benchmarks/benchmark_serving.py as a top-level package: run it as `-m benchmarks.benchmark_serving`
#              from a directory other than MaxText's root (which has its own benchmarks/ package).
#   front end  jetstream-http:v0.2.3, the tag the GKE samples pair with /healthcheck probes on 8000
#              (kubernetes-engine-samples 32872d69); it dials the engine at 127.0.0.1:9000, so it shares the pod.
MAXTEXT_REF = "9f1820b472ef362e7b5c782fe1d6fda8a0943eff"  # tag tpu-recipes-v0.1.4
JETSTREAM_REF = "29329e8e73820993f77cfc8efe34eb2a73f5de98"
JETSTREAM_IMAGE_REPO = "jetstream-maxtext"
JETSTREAM_IMAGE_TAG = "mt-trv014-js29329e8-jax061"
JETSTREAM_DOCKERFILE = "workloads/images/jetstream-maxtext.Dockerfile"
JETSTREAM_ENGINE = ImageFacts(
    image=f"REGISTRY/{JETSTREAM_IMAGE_REPO}:{JETSTREAM_IMAGE_TAG}",
    role="engine",
    built_from=(f"AI-Hypercomputer/maxtext@{MAXTEXT_REF}", f"AI-Hypercomputer/JetStream@{JETSTREAM_REF}"),
    source="MaxText tpu-recipes-v0.1.4 and JetStream 29329e8 sources (paths above)",
    command=("python3", "-m", "MaxText.maxengine_server", "MaxText/configs/base.yml"),
    # MaxText base.yml keys tpustack sets (MaxText/configs/base.yml at the pinned ref)
    flags=frozenset(
        {
            "model_name",
            "tokenizer_path",
            "tokenizer_type",
            "per_device_batch_size",
            "max_prefill_predict_length",
            "max_target_length",
            "async_checkpointing",
            "ici_fsdp_parallelism",
            "ici_autoregressive_parallelism",
            "ici_tensor_parallelism",
            "scan_layers",
            "weight_dtype",
            "load_parameters_path",
            "attention",
            "prometheus_port",
            "jax_cache_dir",
        }
    ),
    bench_command=("python3", "-m", "benchmarks.benchmark_serving"),
    # benchmarks/benchmark_serving.py parse_args at 29329e8 (:988-1210)
    bench_flags=frozenset(
        {
            "--server",
            "--port",
            "--model",
            "--tokenizer",
            "--use-hf-tokenizer",
            "--hf-access-token",
            "--dataset",
            "--dataset-path",
            "--num-prompts",
            "--request-rate",
            "--seed",
            "--max-output-length",
            "--max-input-length",
            "--max-target-length",
            "--prefix-cache-test-common-len",
            "--save-result",
            "--save-request-outputs",
            "--request-outputs-file-path",
            "--warmup-mode",
            "--disable-tqdm",
        }
    ),
    # prefix_cache_test: synthetic prompts (lengths in characters, not tokens: prompt_len = len(prompt), :437)
    datasets=("prefix_cache_test", "sharegpt"),
    ports={"grpc": 9000, "metrics": 9100},
    paths={"workdir": "/deps", "assets": "/deps/assets"},
    env=frozenset({"JAX_PLATFORMS", "HF_TOKEN"}),
    model_names=frozenset(
        {
            "llama2-7b",
            "llama2-13b",
            "llama2-70b",
            "llama3-8b",
            "llama3-70b",
            "llama3.1-8b",
            "llama3.1-70b",
            "llama3.1-405b",
            "llama3.3-70b",
            "mistral-7b",
            "gemma-7b",
            "gemma-2b",
            "gemma2-2b",
            "gemma2-9b",
            "gemma2-27b",
        }
    ),
    tokenizers={
        "llama2": "assets/tokenizer.llama2",
        "llama3": "assets/tokenizer_llama3.tiktoken",
        "llama3.1": "assets/tokenizer_llama3.tiktoken",
        "llama3.3": "assets/tokenizer_llama3.tiktoken",
        "mistral": "assets/tokenizer.mistral-v1",
        "gemma": "assets/tokenizer.gemma",
    },
    notes=(f"Built by {JETSTREAM_DOCKERFILE}; pin the pushed image by digest after the first build.",),
)
JETSTREAM_HTTP = ImageFacts(
    image="us-docker.pkg.dev/cloud-tpu-images/inference/jetstream-http:v0.2.3",
    role="frontend",
    built_from=("GoogleCloudPlatform/ai-on-gke tutorials-and-examples/inference-servers/jetstream/http-server",),
    source="ai-on-gke http-server/{Dockerfile,http_server.py} (GET /healthcheck -> gRPC HealthCheck on "
    "127.0.0.1:9000, uvicorn on 8000); GKE samples pair v0.2.3 with /healthcheck probes",
    endpoints={"health": "/healthcheck", "root": "/"},
    ports={"http": 8000},
    notes=(
        "Built against JetStream v0.2.2 protos; do not rebuild it against >= v0.3 (session_cache and priority "
        "are reserved there). Over the wire it works with the 29329e8 server.",
    ),
)
# MaxText families -> (tokenizer_type, convertible from Hugging Face safetensors by llama_or_mistral_ckpt).
# Gemma checkpoints need MaxText's separate Gemma converter: serve them from an already converted gs:// path.
MAXTEXT_FAMILIES: dict[str, tuple[str, bool]] = {
    "llama2": ("sentencepiece", True),
    "llama3": ("tiktoken", True),
    "llama3.1": ("tiktoken", True),
    "llama3.3": ("tiktoken", True),
    "mistral": ("sentencepiece", True),
    "gemma": ("sentencepiece", False),
}
# The benchmark client's tokenizer per family: JetStream's own tiktoken Llama 3 tokenizer when --model is "llama-3"
# (benchmark_serving.py get_tokenizer), which needs no Hugging Face access and adds no second BOS; otherwise the
# SentencePiece asset through seqio.
JETSTREAM_CLIENT_MODEL = {"llama3": "llama-3", "llama3.1": "llama-3", "llama3.3": "llama-3"}
# Files the checkpoint Job writes; the server waits for the marker (written last).
MAXTEXT_READY_MARKER = "READY"
MAXTEXT_UNSCANNED_RUN = "unscanned"

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

# ----- the metrics adapter HPAs read through ------------------------------------------------------------------------
# GoogleCloudPlatform/k8s-stackdriver custom-metrics-stackdriver-adapter/deploy/production/
# adapter_new_resource_model.yaml at 673c7dd872a7d8b7c1a26c2af7cca7c33549efa0 (tpustack.core.autoscaling renders it).
METRICS_ADAPTER = ImageFacts(
    image="gcr.io/gke-release/custom-metrics-stackdriver-adapter:v0.16.9-gke.0",
    role="metrics-adapter",
    built_from=("GoogleCloudPlatform/k8s-stackdriver@673c7dd872a7d8b7c1a26c2af7cca7c33549efa0",),
    source="custom-metrics-stackdriver-adapter/deploy/production/adapter_new_resource_model.yaml",
    endpoints={"health": "/healthz"},  # the manifest's liveness/readiness probes
    ports={"https": 443},  # its secure port (--secure-port default in the manifest's probes and Service)
)

# ----- llm-d-router v0.10.0 P/D routing sidecar (tpustack.core.disagg has the sources) ----------------------------
PD_SIDECAR = ImageFacts(
    image=disagg.SIDECAR_IMAGE,
    role="frontend",
    built_from=("llm-d/llm-d-router@v0.10.0 cmd/pd-sidecar",),
    source="llm-d-router v0.10.0 pkg/sidecar/proxy/{options,proxy}.go, .github/workflows/ci-release.yaml",
    flags=frozenset({"--port", "--model-server-port", "--kv-connector", "--secure-proxy"}),
    endpoints={"health": disagg.SIDECAR_HEALTH_PATH},
    ports={"http": 8000},
)

IMAGES: dict[str, ImageFacts] = {
    f.image: f
    for f in (
        VLLM_TPU,
        VLLM_GPU,
        JETSTREAM_ENGINE,
        JETSTREAM_HTTP,
        INFERENCE_PERF,
        HEARTBEAT_TPU,
        HEARTBEAT_GPU,
        METRICS_ADAPTER,
        PD_SIDECAR,
    )
}

HEARTBEAT_IMAGES = {"tpu": HEARTBEAT_TPU.image, "gpu": HEARTBEAT_GPU.image}
# PyTorch/XLA release pinned with its torch for a TPU VM (pytorch/xla README: torch==X torch_xla[tpu]==X); plus
# the GCS client the heartbeat uses to write gs:// results.
TPU_VM_PIP_PACKAGES = ["torch==2.8.0", "'torch_xla[tpu]==2.8.0'", "google-cloud-storage==2.19.0"]


def jetstream_image(project: str, region: str) -> str:
    """Where the stack's JetStream MaxText image lives: the project's own Artifact Registry (README)."""
    return f"{region}-docker.pkg.dev/{project}/tpustack/{JETSTREAM_IMAGE_REPO}:{JETSTREAM_IMAGE_TAG}"


def facts_for(image: str) -> ImageFacts | None:
    """The facts of a pinned image; a self-built JetStream image is known by its repository name and tag."""
    if image in IMAGES:
        return IMAGES[image]
    if image.endswith(f"/{JETSTREAM_IMAGE_REPO}:{JETSTREAM_IMAGE_TAG}"):
        return JETSTREAM_ENGINE
    return None


def is_pinned(image: str) -> bool:
    """An image reference with an explicit version tag or digest (never ``latest`` or no tag)."""
    tag = image.rsplit("/", 1)[-1]
    return "@sha256:" in image or (":" in tag and not tag.endswith(":latest"))
