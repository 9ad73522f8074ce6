"""Engine and image facts: what each pinned image contains and how it is driven. One place per fact.

Images, ports, endpoints, paths inside images, model-name tables and benchmark tool invocations used by the
templates, the config rules, the benchmark spec and the runner. Each fact names its source. Stdlib only: the
benchmark runner (a pod) reads the tool facts too.
"""

from __future__ import annotations

# ----- serving images (never `latest`) ------------------------------------------------------------------------
# vllm/vllm-tpu and vllm/vllm-openai are the images vLLM's docs deploy on TPU and GPU.
# maxengine-server: kubernetes-engine-samples ai-ml/llm-serving-tpus-jetstream.
DEFAULT_IMAGES: dict[tuple[str, str], str] = {
    ("vllm", "tpu"): "docker.io/vllm/vllm-tpu:v0.11.1",
    ("vllm", "gpu"): "docker.io/vllm/vllm-openai:v0.11.1",
    ("jetstream-maxtext", "tpu"): "us-docker.pkg.dev/cloud-tpu-images/inference/maxengine-server:v0.2.2",
}
ENGINE_KINDS = {"vllm": ("tpu", "gpu"), "jetstream-maxtext": ("tpu",)}
# The name of the serving workload and its Service per engine.
SERVER_NAMES = {"vllm": "vllm", "jetstream-maxtext": "jetstream"}
# Value of the ai.gke.io/inference-server pod label (GKE samples).
GKE_SERVER_LABELS = {"vllm": "vllm", "jetstream-maxtext": "jetstream"}

# ----- vLLM -------------------------------------------------------------------------------------------------------
VLLM_HEALTH_PATH = "/health"  # vllm/entrypoints/openai/api_server.py
VLLM_METRICS_PATH = "/metrics"
VLLM_SERVER_COMMAND = ["python3", "-m", "vllm.entrypoints.openai.api_server"]  # GKE vLLM samples' command
# Ray bootstrap script of the LWS vLLM TPU example (kubernetes-sigs/lws docs/examples/vllm/TPU/lws.yaml).
VLLM_LWS_SCRIPT = "/workspace/vllm/examples/online_serving/multi-node-serving.sh"
# Flags tpustack sets from config; extraArgs may not repeat them.
VLLM_OWNED_FLAGS = ("--model", "--tensor-parallel-size", "--port", "--max-model-len", "--host")
VLLM_QUEUE_METRIC = "vllm:num_requests_waiting"  # kubernetes-engine-samples ai-ml/vllm-tpu/vllm-hpa.yaml

# ----- JetStream MaxText -----------------------------------------------------------------------------------------
# jetstream-http pairs with maxengine-server v0.2.2 (ai-on-gke .../jetstream/maxtext/single-host-inference/
# kubectl/deployment.yaml). maxengine-server's gRPC port and the MaxText prometheus_port (ai-on-gke samples); the
# jetstream-http image serves HTTP on 8000 (its Dockerfile CMD: uvicorn ... --port=8000).
JETSTREAM_HTTP_IMAGE = "us-docker.pkg.dev/cloud-tpu-images/inference/jetstream-http:v0.2.2"
JETSTREAM_GRPC_PORT = 9000
JETSTREAM_METRICS_PORT = 9100
JETSTREAM_HTTP_PORT = 8000
JETSTREAM_HEALTH_PATH = "/healthcheck"
JETSTREAM_QUEUE_METRIC = "jetstream_prefill_backlog_size"  # ai-on-gke jetstream hpa template
# The converter is the one ai-on-gke/tutorials-and-examples inference-servers/checkpoints/examples/llama3.1-405b
# uses.
CHECKPOINT_IMAGE = "us-docker.pkg.dev/cloud-tpu-images/inference/inference-checkpoint:v0.2.5"
CHECKPOINT_CONVERTER = "/usr/bin/checkpoint_converter.sh"
# MaxText model family (model.maxtextName before "-<size>") -> the converter's --model_name and the tokenizer
# asset maxengine-server loads (checkpoint_converter.sh: llama-2 uses assets/tokenizer.llama2, llama-3/3.1/3.3
# assets/tokenizer_llama3.tiktoken; GKE's Gemma sample: assets/tokenizer.gemma). Families without a converter
# name are served only from an already converted gs:// checkpoint.
MAXTEXT_FAMILIES: dict[str, tuple[str | None, str]] = {
    "llama2": ("llama-2", "assets/tokenizer.llama2"),
    "llama3": ("llama-3", "assets/tokenizer_llama3.tiktoken"),
    "llama3.1": ("llama-3.1", "assets/tokenizer_llama3.tiktoken"),
    "llama3.3": ("llama-3.3", "assets/tokenizer_llama3.tiktoken"),
    "gemma": (None, "assets/tokenizer.gemma"),
}

HEALTH_PATHS = {"vllm": VLLM_HEALTH_PATH, "jetstream-maxtext": JETSTREAM_HEALTH_PATH}
QUEUE_METRICS = {"vllm": VLLM_QUEUE_METRIC, "jetstream-maxtext": JETSTREAM_QUEUE_METRIC}

# ----- benchmark tools ---------------------------------------------------------------------------------------------
BENCH_TOOLS = ("vllm-bench", "jetstream-benchmark", "inference-perf")
DEFAULT_TOOL = {"vllm": "vllm-bench", "jetstream-maxtext": "jetstream-benchmark"}
# Tool invocations inside the benchmark image; the spec may override them for another layout.
TOOL_COMMANDS = {
    "vllm-bench": ["vllm", "bench", "serve"],
    "jetstream-benchmark": ["python3", "/JetStream/benchmarks/benchmark_serving.py"],
    "inference-perf": ["inference-perf"],
}
# The benchmark runs inside the engine's image; inference-perf has its own (kubernetes-sigs/inference-perf
# docs: quay.io/inference-perf/inference-perf).
INFERENCE_PERF_IMAGE = "quay.io/inference-perf/inference-perf:v0.2.0"
# Tools each engine's API can be driven by (inference-perf server.type: vllm|sglang|tgi|mock, from
# inference_perf/config/client/modelserver/config.py; JetStream serves gRPC + its own /v1/generate).
TOOLS_FOR_ENGINE = {"vllm": ("vllm-bench", "inference-perf"), "jetstream-maxtext": ("jetstream-benchmark",)}
DATASETS_FOR_TOOL = {
    "vllm-bench": ("random", "sharegpt", "sonnet"),
    "jetstream-benchmark": ("random", "sharegpt"),
    "inference-perf": ("random", "sharegpt"),
}
# Where the runner fetches datasets that are files (vLLM docs/benchmarking/cli.md, JetStream benchmarks).
DATASET_URLS = {
    "sharegpt": "https://huggingface.co/datasets/anon8231489123/ShareGPT_Vicuna_unfiltered/resolve/main/"
    "ShareGPT_V3_unfiltered_cleaned_split.json",
    "sonnet": "https://raw.githubusercontent.com/vllm-project/vllm/main/benchmarks/sonnet.txt",
}

# ----- the heartbeat's images ---------------------------------------------------------------------------------------
# The PyTorch/XLA TPU image is listed in pytorch/xla README.md ("Docker"); pytorch/pytorch is PyTorch's CUDA
# runtime image.
HEARTBEAT_IMAGES = {
    "tpu": "us-central1-docker.pkg.dev/tpu-pytorch-releases/docker/xla:r2.7.0_3.10_tpuvm",
    "gpu": "docker.io/pytorch/pytorch:2.7.0-cuda12.6-cudnn9-runtime",
}
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


def is_pinned(image: str) -> bool:
    """An image reference with an explicit version tag or digest (never ``latest`` or no tag)."""
    tag = image.rsplit("/", 1)[-1]
    return "@sha256:" in image or (":" in tag and not tag.endswith(":latest"))
