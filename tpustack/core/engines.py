"""Engines and benchmark tools as records: how tpustack names, deploys, probes and benchmarks each one.

``ENGINES`` holds one ``Engine`` per serving engine (its workload and Service names, the accelerator kinds it runs
on, its default images, probes, metrics, the benchmark tools that can drive it, whether the Inference Gateway's
endpoint picker reads it); ``EngineName`` and ``ToolName`` are the closed sets config and records name them by.
What each pinned image contains is ``tpustack.core.images``. Templates, config rules, the benchmark spec and the
runner read these.

Stdlib only: the benchmark runner (a pod) reads the tool facts too.
"""

from __future__ import annotations

from dataclasses import dataclass

from .enums import StrEnum
from .images import (
    JETSTREAM_ENGINE,
    JETSTREAM_HTTP,
    VLLM_GPU,
    VLLM_TPU,
    jetstream_image,
)


class EngineName(StrEnum):
    """The serving engines tpustack deploys (``tpustack:engine.name``)."""

    VLLM = "vllm"
    JETSTREAM_MAXTEXT = "jetstream-maxtext"


class ToolName(StrEnum):
    """The benchmark clients tpustack runs (``tpustack:benchmark.tool``, the spec's and the records' ``tool``)."""

    VLLM_BENCH = "vllm-bench"
    JETSTREAM_BENCHMARK = "jetstream-benchmark"
    INFERENCE_PERF = "inference-perf"


# ----- the engines, as records -----------------------------------------------------------------------------------
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
VLLM_OWNED_FLAGS = (
    "--model",
    "--tensor-parallel-size",
    "--port",
    "--max-model-len",
    "--host",
    "--kv-cache-dtype",
    "--enable-expert-parallel",
    "--speculative-config",
)
# Engine defaults tpustack renders when a stack leaves them out (one place: the config models read these).
VLLM_MAX_MODEL_LEN = 4096
MAXTEXT_MAX_TARGET_LENGTH = 2048

JETSTREAM_HTTP_IMAGE = JETSTREAM_HTTP.image
JETSTREAM_GRPC_PORT = JETSTREAM_ENGINE.ports["grpc"]
JETSTREAM_METRICS_PORT = JETSTREAM_ENGINE.ports["metrics"]
JETSTREAM_HTTP_PORT = JETSTREAM_HTTP.ports["http"]
JETSTREAM_HEALTH_PATH = JETSTREAM_HTTP.endpoints["health"]


@dataclass(frozen=True, kw_only=True)
class Engine:
    """One serving engine: how tpustack names, deploys, probes and benchmarks it."""

    name: EngineName
    display: str  # how messages name it
    server_name: str  # the serving workload and its Service
    gke_server_label: str  # value of the ai.gke.io/inference-server pod label (GKE samples)
    kinds: tuple[str, ...]  # accelerator kinds it runs on (tpu, gpu)
    multi_host: bool  # serves a multi-host TPU slice (one replica over several hosts)
    multi_host_note: str  # why not, when it does not
    images: dict[str, str]  # accelerator kind -> pinned public image; empty: the stack builds its own (image_for)
    health_path: str
    metrics_port: int | None  # None: the serving port
    metrics_path: str
    queue_metric: str  # the gauge the opt-in HPA scales on
    default_tool: (
        ToolName  # the benchmark client a stack gets when it names none (which can drive it: the tools' facts)
    )
    gaie_server_type: str | None  # Inference Gateway endpoint picker's modelServerType; None: not supported
    settings_key: str  # tpustack:engine.<settings_key> holds its engine-specific settings

    def image_for(self, kind: str, project: str, region: str) -> str | None:
        """The image a replica on ``kind`` runs when the stack names none."""
        if self.images:
            return self.images.get(kind)
        return jetstream_image(project, region)  # self-built (README "JetStream image")


ENGINES: dict[EngineName, Engine] = {
    e.name: e
    for e in (
        Engine(
            name=EngineName.VLLM,
            display="vLLM",
            server_name="vllm",
            gke_server_label="vllm",
            kinds=("tpu", "gpu"),
            multi_host=True,
            multi_host_note="",
            images={"tpu": VLLM_TPU.image, "gpu": VLLM_GPU.image},
            health_path=VLLM_HEALTH_PATH,
            metrics_port=None,
            metrics_path=VLLM_METRICS_PATH,
            queue_metric="vllm:num_requests_waiting",  # kubernetes-engine-samples ai-ml/vllm-tpu/vllm-hpa.yaml
            default_tool=ToolName.VLLM_BENCH,
            gaie_server_type="vllm",  # site-src/implementations/model-servers.md at GAIE v1.5.0
            settings_key="vllm",
        ),
        Engine(
            name=EngineName.JETSTREAM_MAXTEXT,
            display="JetStream MaxText",
            server_name="jetstream",
            gke_server_label="jetstream",
            kinds=("tpu",),
            multi_host=False,
            multi_host_note="multi-host JetStream needs Pathways",
            images={},
            health_path=JETSTREAM_HEALTH_PATH,
            metrics_port=JETSTREAM_METRICS_PORT,
            metrics_path="/",
            queue_metric="jetstream_prefill_backlog_size",  # ai-on-gke jetstream hpa template
            default_tool=ToolName.JETSTREAM_BENCHMARK,
            gaie_server_type=None,
            settings_key="maxtext",
        ),
    )
}


def engine(name: EngineName | str) -> Engine:
    return ENGINES[EngineName(name)]


def engines_for(kind: str) -> list[Engine]:
    """The engines that run on an accelerator kind (tpu, gpu)."""
    return [e for e in ENGINES.values() if kind in e.kinds]


# ----- benchmark datasets ---------------------------------------------------------------------------------------
# Where the runner fetches datasets that are files (vLLM docs/benchmarking/cli.md, JetStream benchmarks).
DATASET_URLS = {
    "sharegpt": "https://huggingface.co/datasets/anon8231489123/ShareGPT_Vicuna_unfiltered/resolve/main/"
    "ShareGPT_V3_unfiltered_cleaned_split.json",
}

# ----- GKE Inference Gateway ------------------------------------------------------------------------------------
# kubernetes-sigs/gateway-api-inference-extension v1.5.0: the last release with the inferencepool Helm chart and
# InferenceObjective (v1.6.0 moved both to llm-d). The chart (config/charts/inferencepool, provider.name=gke) makes the
# InferencePool named after the release (selector = inferencePool.modelServers.matchLabels, targetPorts =
# inferencePool.targetPorts; templates/inferencepool.yaml), its endpoint picker (EPP, image epp:v1.5.0) and GKE's
# HealthCheckPolicy/GCPBackendPolicy for the pool (templates/gke.yaml). GKE >= 1.34.0-gke.1626000 installs the
# InferencePool CRD; the InferenceObjective CRD (v1alpha2) is installed from the release's YAML.
GAIE_VERSION = "1.5.0"
GAIE_CHART = "oci://registry.k8s.io/gateway-api-inference-extension/charts/inferencepool"
GAIE_OBJECTIVE_CRD = (
    "https://raw.githubusercontent.com/kubernetes-sigs/gateway-api-inference-extension/v1.5.0/config/crd/bases/"
    "inference.networking.x-k8s.io_inferenceobjectives.yaml"
)
# The Model Server Protocol gauges the endpoint picker scrapes from vLLM (docs/proposals/003-model-server-protocol);
# tests/integration/test_engine_facts.py finds them in the pinned vllm-tpu wheel (vllm/v1/metrics/), so TPU pods
# report them too.
GAIE_VLLM_METRICS = ("vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc")

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
    accelerators: tuple[str, ...]  # catalog shape names the recipe measured (its tensor parallel = their chips)
    settings: dict[str, object]
    source: str


# AI-Hypercomputer/tpu-recipes inference/trillium/vLLM/Llama3.x/README.md (v6e-8, tensor parallel 8, image
# vllm/vllm-tpu:v0.12.0): `--max-num-batched-tokens 512 --max-num-seqs 256 --gpu-memory-utilization 0.98
# --async-scheduling` for Llama 3.x 70B, the decode-heavy / balanced row of its table. No source publishes
# 8B values for a full v6e-8 or for the GPU images; vLLM's own defaults apply there.
VLLM_TUNED: tuple[Tuned, ...] = (
    Tuned(
        ("meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.1-70B", "meta-llama/Llama-3.3-70B-Instruct"),
        ("v6e-8",),
        {"max_num_batched_tokens": 512, "max_num_seqs": 256, "gpu_memory_utilization": 0.98, "async_scheduling": True},
        "AI-Hypercomputer/tpu-recipes inference/trillium/vLLM/Llama3.x/README.md (v6e-8, TP 8, vllm-tpu v0.12.0)",
    ),
)
