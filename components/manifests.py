"""Kubernetes manifests of a stack: render ``manifests/<app>/*.yaml.j2``, validate, cross-check.

Owns the one Jinja environment (StrictUndefined), the values each template gets from a validated
StackConfig, validation of every rendered object against the Kubernetes schema of the cluster's minor
version (kubernetes-validate; for the two custom resources, their embedded pod templates plus the field
names of their CRDs), and the cross-checks of the objects against the infrastructure the stack declares:
accelerator requests vs chips per node, tensor parallelism vs chips, node selectors vs pool labels, one TPU
container per pod, pinned images, referenced secrets, privilege, ports, drain. Every failure is a
ConfigError whose lines name the config key (or template) and the fix.

Apps, each one ConfigGroup in components/serving.py, in apply order:
  checkpoint  JetStream MaxText only: the Job that converts the Hugging Face checkpoint into GCS
  serving     the engine (Deployment, or LeaderWorkerSet for a multi-host slice), Service,
              PodDisruptionBudget, PodMonitoring, opt-in HPA
  benchmark   workload code and spec ConfigMaps, the serving-benchmark Job
  heartbeat   a GKE stack with a workload and no engine: workload code ConfigMap, the matmul heartbeat Job
Not rendered here: the Namespace, the Workload Identity KSA and the Hugging Face token Secret. Their values
are Pulumi Outputs, so serving.py declares them as typed resources.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import jinja2
import yaml

from . import k8s_keys, naming
from .catalog import TpuShape
from .config import DEFAULT_IMAGES, MaxTextConfig, StackConfig, VllmConfig
from .errors import ConfigError, problem

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "manifests"
ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                         autoescape=False, keep_trailing_newline=True)


def _tojson(value: Any) -> str:
    """JSON (valid YAML flow) for maps and lists; a missing value fails as loudly as everywhere else."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return json.dumps(value, sort_keys=True)


ENV.filters["tojson"] = _tojson

# Which templates make each app (apply order inside an app: config before workloads).
APP_TEMPLATES: dict[str, dict[str, list[str]]] = {
    "checkpoint": {"jetstream-maxtext": ["jetstream-maxtext/checkpoint-job.yaml.j2"]},
    "serving": {
        "vllm": ["vllm/deployment.yaml.j2"],
        "vllm-multihost": ["vllm/leaderworkerset.yaml.j2"],
        "jetstream-maxtext": ["jetstream-maxtext/deployment.yaml.j2"],
    },
    "benchmark": {"*": ["_lib/workloads-configmap.yaml.j2", "benchmark/spec-configmap.yaml.j2",
                        "benchmark/job.yaml.j2"]},
    "heartbeat": {"*": ["_lib/workloads-configmap.yaml.j2", "heartbeat/job.yaml.j2"]},
}
SERVING_EXTRAS = ["serving/service.yaml.j2", "serving/pdb.yaml.j2", "serving/podmonitoring.yaml.j2"]

SERVER_NAMES = {"vllm": "vllm", "jetstream-maxtext": "jetstream"}
# What GKE's own samples label inference pods with (kubernetes-engine-samples ai-ml/llm-serving-*/vllm/*.yaml).
GKE_MODEL_LABEL = "ai.gke.io/model"
GKE_SERVER_LABEL = "ai.gke.io/inference-server"
# kubernetes-sigs/lws api/leaderworkerset/v1/leaderworkerset_types.go
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
LWS_EXCLUSIVE_TOPOLOGY = "leaderworkerset.sigs.k8s.io/exclusive-topology"
# pulumi-kubernetes await annotations: how long `pulumi up` waits for readiness, and on which condition
# for a custom resource (the LWS controller sets condition Available).
PULUMI_TIMEOUT = "pulumi.com/timeoutSeconds"
PULUMI_WAIT_FOR = "pulumi.com/waitFor"
PULUMI_SKIP_AWAIT = "pulumi.com/skipAwait"

# Images the stack runs besides the engine, pinned. jetstream-http pairs with maxengine-server v0.2.2
# (ai-on-gke .../jetstream/maxtext/single-host-inference/kubectl/deployment.yaml); the converter is the one
# ai-on-gke/tutorials-and-examples inference-servers/checkpoints/examples/llama3.1-405b uses; the PyTorch/XLA
# TPU image is listed in pytorch/xla README.md ("Docker"); pytorch/pytorch is PyTorch's CUDA runtime image.
JETSTREAM_HTTP_IMAGE = "us-docker.pkg.dev/cloud-tpu-images/inference/jetstream-http:v0.2.2"
CHECKPOINT_IMAGE = "us-docker.pkg.dev/cloud-tpu-images/inference/inference-checkpoint:v0.2.5"
HEARTBEAT_IMAGES = {
    "tpu": "us-central1-docker.pkg.dev/tpu-pytorch-releases/docker/xla:r2.7.0_3.10_tpuvm",
    "gpu": "docker.io/pytorch/pytorch:2.7.0-cuda12.6-cudnn9-runtime",
}
# The benchmark runs inside the engine's image (workloads/spec.py metadata.tool_image); inference-perf has
# its own (kubernetes-sigs/inference-perf docs: quay.io/inference-perf/inference-perf).
INFERENCE_PERF_IMAGE = "quay.io/inference-perf/inference-perf:v0.2.0"
# What the heartbeat Job imports (workloads/heartbeat.py: roofline, errors; gcs for gs:// results).
HEARTBEAT_FILES = ["workloads/__init__.py", "workloads/errors.py", "workloads/gcs.py", "workloads/roofline.py",
                   "workloads/heartbeat.py"]

# JetStream MaxText: maxengine-server's gRPC port and the MaxText prometheus_port (ai-on-gke samples); the
# jetstream-http image serves HTTP on 8000 (its Dockerfile CMD: uvicorn ... --port=8000).
JETSTREAM_GRPC_PORT = 9000
JETSTREAM_METRICS_PORT = 9100
JETSTREAM_HTTP_PORT = 8000
# MaxText model family (engine.maxtext name before "-<size>") -> the converter's --model_name and the
# tokenizer asset maxengine-server loads (checkpoint_converter.sh: llama-2 uses assets/tokenizer.llama2,
# llama-3/3.1/3.3 assets/tokenizer_llama3.tiktoken; GKE's Gemma sample: assets/tokenizer.gemma). Families
# without a converter name are served only from an already converted gs:// checkpoint.
MAXTEXT_FAMILIES = {
    "llama2": ("llama-2", "assets/tokenizer.llama2"),
    "llama3": ("llama-3", "assets/tokenizer_llama3.tiktoken"),
    "llama3.1": ("llama-3.1", "assets/tokenizer_llama3.tiktoken"),
    "llama3.3": ("llama-3.3", "assets/tokenizer_llama3.tiktoken"),
    "gemma": (None, "assets/tokenizer.gemma"),
}

# Kubernetes minor a new cluster gets per release channel, assumed (the mock engine reports 1.33.5 for a
# REGULAR cluster); gke.minMasterVersion pins it. Objects are validated against this minor's schema.
CHANNEL_MINOR = {"RAPID": "1.34", "REGULAR": "1.33", "STABLE": "1.32"}
UNPRIVILEGED_TPU_MINOR = (1, 28)  # GKE runs TPU containers without privileged mode from 1.28

# Startup budget when engine.startupMinutes is unset: a budget, not a measurement. Weights at ~100 MB/s
# from Hugging Face or GCS (10 s per GiB) plus XLA compilation and warm-up of every batch/length bucket.
COMPILE_MINUTES = 20
LOAD_SECONDS_PER_GIB = 10
PROBE_PERIOD_S = 10
CONFIGMAP_MAX_BYTES = 1024 * 1024  # Kubernetes ConfigMap limit (kubernetes.io/docs/concepts/configuration/configmap)

CACHE_PATH = "/xla-cache"
WEIGHTS_PATH = "/data"  # --download-dir, as the GKE vLLM TPU sample
MODEL_MOUNT_PATH = "/models"
VLLM_LWS_SCRIPT = "/workspace/vllm/examples/online_serving/multi-node-serving.sh"  # kubernetes-sigs/lws TPU example


# ----- context ------------------------------------------------------------------------------------------
def cluster_minor(cfg: StackConfig) -> str:
    """The Kubernetes minor ("1.33") the stack's cluster runs: the pinned master version, else the channel's."""
    pinned = cfg.gke.min_master_version
    if pinned:
        m = re.match(r"^(\d+)\.(\d+)", pinned)
        if m:
            return f"{m.group(1)}.{m.group(2)}"
    return CHANNEL_MINOR[cfg.gke.release_channel]


def _minor_tuple(minor: str) -> tuple[int, int]:
    a, b = minor.split(".")[:2]
    return int(a), int(b)


def accelerator_pool_labels(cfg: StackConfig) -> dict[str, str]:
    """Node labels of the accelerator pool: what tpustack sets (components/gke.py node_config.labels) and
    what GKE sets on TPU/GPU/spot nodes (k8s_keys sources)."""
    from .gke import hardened_node_config

    shape = cfg.shape
    labels = dict(hardened_node_config(cfg, "sa", shape.machine_type, {})["labels"])
    if isinstance(shape, TpuShape):
        labels[k8s_keys.TPU_ACCELERATOR_LABEL] = shape.gke_accelerator
        labels[k8s_keys.TPU_TOPOLOGY_LABEL] = shape.topology
    else:
        labels[k8s_keys.GPU_ACCELERATOR_LABEL] = shape.gke_accelerator
    if cfg.capacity.type == "spot":
        labels[k8s_keys.SPOT_LABEL] = "true"
    return labels


def _accel(cfg: StackConfig) -> dict[str, Any]:
    shape = cfg.shape
    stack_label = {k8s_keys.LABEL_STACK: naming.label_value(cfg.stack)}
    if isinstance(shape, TpuShape):
        return {"kind": "tpu", "resource": k8s_keys.TPU_RESOURCE, "count": shape.chips_per_host,
                "node_selector": {k8s_keys.TPU_ACCELERATOR_LABEL: shape.gke_accelerator,
                                  k8s_keys.TPU_TOPOLOGY_LABEL: shape.topology, **stack_label},
                "tolerations": [{"key": k8s_keys.TPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]}
    return {"kind": "gpu", "resource": k8s_keys.GPU_RESOURCE, "count": shape.chips_per_host,
            "node_selector": {k8s_keys.GPU_ACCELERATOR_LABEL: shape.gke_accelerator, **stack_label},
            "tolerations": [{"key": k8s_keys.GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]}


def startup_minutes(cfg: StackConfig) -> int:
    if cfg.engine is not None and cfg.engine.startup_minutes:
        return cfg.engine.startup_minutes
    weights = cfg.model.weights_gib if cfg.model else 0.0
    return COMPILE_MINUTES + math.ceil(weights * LOAD_SECONDS_PER_GIB / 60)


def _label_value(text: str) -> str:
    """A Kubernetes label value: [A-Za-z0-9._-], at most 63, alphanumeric at both ends."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:63].strip("-._") or "x"


def _gcs_split(uri: str) -> tuple[str, str]:
    bucket, _, path = uri.removeprefix("gs://").partition("/")
    return bucket, path.strip("/")


def maxtext_family(cfg: StackConfig) -> str | None:
    name = cfg.model.maxtext_name if cfg.model else None
    return name.rsplit("-", 1)[0] if name and "-" in name else name


def _image_version(image: str) -> str:
    tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
    return f"jetstream-{tag}" if re.fullmatch(r"v\d+\.\d+\.\d+", tag) else "main"


def workload_files(names: Iterable[str]) -> list[tuple[str, Path]]:
    """(path under workloads/, file) for repository paths such as workloads/heartbeat.py."""
    base = ROOT / "workloads"
    out = []
    for f in names:
        p = Path(f)
        p = p if p.is_absolute() else ROOT / p
        out.append((p.relative_to(base).as_posix(), p))
    return sorted(out)


def workload_revision(files: list[tuple[str, Path]]) -> str:
    """Content hash of the workload code the pods run. Stands in for a git revision so that two plans of
    the same code are identical whatever commit they are made from."""
    h = hashlib.sha256()
    for rel, p in files:
        h.update(rel.encode() + b"\0" + p.read_bytes() + b"\0")
    return "sha256:" + h.hexdigest()[:16]


def _workloads_cm(files: list[tuple[str, Path]]) -> dict[str, Any]:
    # ConfigMap keys allow [-._a-zA-Z0-9]; the mount restores the package layout.
    data, items = {}, []
    for rel, p in files:
        key = rel.replace("/", "--")
        data[key] = p.read_text()
        items.append({"key": key, "path": rel})
    return {"name": "tpustack-workloads", "data": data, "mount_items": items}


def context(cfg: StackConfig) -> dict[str, Any]:
    """Everything the templates read, derived from a validated config (no Outputs: plain values only)."""
    stack_label = naming.label_value(cfg.stack)
    common = {k8s_keys.LABEL_PART_OF: "tpustack", k8s_keys.LABEL_MANAGED_BY: "pulumi",
              k8s_keys.LABEL_STACK: stack_label}
    c: dict[str, Any] = {
        "namespace": k8s_keys.NAMESPACE, "ksa": k8s_keys.SERVING_KSA, "stack": stack_label,
        "privileged": bool(cfg.engine and cfg.engine.privileged),
        "hf": {"secret": k8s_keys.HF_SECRET, "key": k8s_keys.HF_SECRET_KEY} if cfg.hf_token is not None else None,
        "accel": _accel(cfg), "hosts": cfg.shape.hosts,
        "job_labels": {k8s_keys.LABEL_APP: "tpustack-jobs", **common},
    }
    engine = cfg.engine
    if engine is not None:
        assert cfg.model is not None  # config: an engine needs a model
        name = SERVER_NAMES[engine.name]
        selector = {k8s_keys.LABEL_APP: name}
        labels = {**selector, **common}
        minutes = startup_minutes(cfg)
        multi = cfg.shape.multi_host
        wl_ann = {PULUMI_TIMEOUT: str(minutes * 60 + 900)}  # + image pull and scheduling
        if multi:
            wl_ann[PULUMI_WAIT_FOR] = "condition=Available"
            wl_ann[LWS_EXCLUSIVE_TOPOLOGY] = k8s_keys.NODEPOOL_LABEL
        pod_labels = {**labels, GKE_MODEL_LABEL: _label_value(cfg.model.id.rstrip("/").rsplit("/", 1)[-1]),
                      GKE_SERVER_LABEL: "vllm" if engine.name == "vllm" else "jetstream"}
        cache = None
        if engine.compile_cache and cfg.shape.kind == "tpu":
            cache_dir = f"{k8s_keys.COMPILE_CACHE_PREFIX}/{stack_label}"
            cache = {"bucket": cfg.results_bucket, "dir": cache_dir, "path": CACHE_PATH,
                     "mount_options": f"implicit-dirs,only-dir={cache_dir}"}
        model_mount = download = None
        model_arg, served = cfg.model.id, None
        if engine.name == "vllm":
            if cfg.model.source == "gcs":
                bucket, path = _gcs_split(cfg.model.id)
                # Read-only weights through the GCS FUSE file cache with parallel downloads (GKE vLLM TPU sample).
                model_mount = {"bucket": bucket, "dir": path, "path": MODEL_MOUNT_PATH,
                               "mount_options": f"implicit-dirs,only-dir={path},file-cache:enable-parallel-"
                                                "downloads:true,file-cache:max-size-mb:-1"}
                model_arg, served = MODEL_MOUNT_PATH, path.rsplit("/", 1)[-1] or bucket
            else:
                download = {"path": WEIGHTS_PATH, "size": f"{math.ceil(cfg.model.weights_gib * 1.1) + 1}Gi"}
        pod_ann = {}
        if cache or model_mount:
            # GKE's GCS FUSE sidecar; limits "0" = unlimited, as the GKE vLLM TPU sample sets them.
            pod_ann = {"gke-gcsfuse/volumes": "true", "gke-gcsfuse/cpu-limit": "0",
                       "gke-gcsfuse/memory-limit": "0", "gke-gcsfuse/ephemeral-storage-limit": "0"}
        port = engine.port
        if engine.name == "vllm":
            metrics = {"port": port, "path": "/metrics"}
            ports = [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}]
        else:
            metrics = {"port": JETSTREAM_METRICS_PORT, "path": "/"}
            # Port names as the ai-on-gke JetStream sample's Service.
            ports = [{"name": "jetstream-http", "port": port, "targetPort": port, "protocol": "TCP"},
                     {"name": "jetstream-grpc", "port": JETSTREAM_GRPC_PORT, "targetPort": JETSTREAM_GRPC_PORT,
                      "protocol": "TCP"},
                     {"name": "metrics", "port": JETSTREAM_METRICS_PORT, "targetPort": JETSTREAM_METRICS_PORT,
                      "protocol": "TCP"}]
        leader_sel = {**selector, "role": "leader"}
        service_selector = {LWS_NAME_LABEL: name, "role": "leader"} if multi else selector
        metrics["selector"] = leader_sel if multi else selector
        metrics["interval"] = "15s"
        c.update({
            "name": name, "selector": selector, "labels": labels, "pod_labels": pod_labels,
            "leader_labels": {**pod_labels, "role": "leader"}, "worker_labels": {**pod_labels, "role": "worker"},
            "workload_annotations": wl_ann, "pod_annotations": pod_ann,
            "image": cfg.engine_image, "port": port, "tp": cfg.tensor_parallel,
            "replicas": None if engine.hpa_max_replicas else cfg.replicas,
            "probes": {"period": PROBE_PERIOD_S, "startup_failures": minutes * 60 // PROBE_PERIOD_S},
            "drain_seconds": engine.drain_seconds, "grace_seconds": engine.drain_seconds + 60,
            "cache": cache, "model_mount": model_mount, "download_dir": download,
            "model_arg": model_arg, "served_name": served,
            "vllm": engine.vllm or VllmConfig(),
            "leader_command": ["sh", "-c", f"bash {VLLM_LWS_SCRIPT} leader --ray_cluster_size=$(LWS_GROUP_SIZE)"
                               " && exec python3 -m vllm.entrypoints.openai.api_server \"$@\"", "vllm"],
            "worker_command": ["sh", "-c", f"bash {VLLM_LWS_SCRIPT} worker --ray_address=$(LWS_LEADER_ADDRESS)"],
            "service_type": engine.service_type, "service_selector": service_selector, "service_ports": ports,
            "metrics": metrics,
        })
        if engine.hpa_max_replicas:
            target = ({"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": name}
                      if multi else {"apiVersion": "apps/v1", "kind": "Deployment", "name": name})
            metric = "vllm:num_requests_waiting" if engine.name == "vllm" else "jetstream_prefill_backlog_size"
            c["hpa"] = {"target": target, "min_replicas": cfg.replicas, "max_replicas": engine.hpa_max_replicas,
                        "metric": f"prometheus.googleapis.com|{metric}|gauge",
                        "average_value": f"{engine.hpa_queue_target:g}"}
        if engine.name == "jetstream-maxtext":
            c["maxtext"] = _maxtext_context(cfg)
            if cfg.model.source == "huggingface":
                c["checkpoint"] = _checkpoint_context(cfg, common)
    return c


def _maxtext_load_path(cfg: StackConfig) -> str:
    assert cfg.model is not None
    if cfg.model.source == "gcs":
        return cfg.model.id
    # checkpoint_converter.sh writes the unscanned checkpoint to <output>/bf16/unscanned/checkpoints/0/items
    return f"{_checkpoint_output(cfg)}/bf16/unscanned/checkpoints/0/items"


def _checkpoint_output(cfg: StackConfig) -> str:
    assert cfg.model is not None and cfg.model.maxtext_name
    return f"gs://{cfg.results_bucket}/maxtext/{cfg.model.maxtext_name}"


def _maxtext_context(cfg: StackConfig) -> dict[str, Any]:
    assert cfg.engine is not None and cfg.model is not None
    mt = cfg.engine.maxtext or MaxTextConfig()
    family = maxtext_family(cfg)
    return {"model_name": cfg.model.maxtext_name, "tokenizer_path": MAXTEXT_FAMILIES[family][1],
            "per_device_batch_size": mt.per_device_batch_size,
            "max_prefill_predict_length": mt.max_prefill_predict_length,
            "max_target_length": mt.max_target_length, "scan_layers": mt.scan_layers,
            "weight_dtype": mt.weight_dtype, "load_parameters_path": _maxtext_load_path(cfg),
            "grpc_port": JETSTREAM_GRPC_PORT, "metrics_port": JETSTREAM_METRICS_PORT,
            "http_image": JETSTREAM_HTTP_IMAGE}


def _checkpoint_context(cfg: StackConfig, common: dict[str, str]) -> dict[str, Any]:
    assert cfg.model is not None and cfg.engine_image is not None
    weights = cfg.model.weights_gib
    load = _maxtext_load_path(cfg)
    skip = ('if gcloud storage ls "$0" > /dev/null 2>&1; then echo "MaxText checkpoint already at $0"; '
            'exit 0; fi; exec /usr/bin/checkpoint_converter.sh "$@"')
    return {"job_name": "maxtext-checkpoint", "image": CHECKPOINT_IMAGE,
            "labels": {k8s_keys.LABEL_APP: "maxtext-checkpoint", **common},
            "annotations": {PULUMI_TIMEOUT: str(1800 + 60 * math.ceil(weights))},
            "command": ["bash", "-c", skip, load], "bucket": cfg.results_bucket, "model_path": cfg.model.id,
            "model_name": MAXTEXT_FAMILIES[maxtext_family(cfg)][0],
            "output_directory": _checkpoint_output(cfg), "version": _image_version(cfg.engine_image),
            # Download + scanned + unscanned copies in host RAM while converting on CPU.
            "cpu": "8", "memory": f"{math.ceil(weights * 3) + 8}Gi"}


# ----- rendering --------------------------------------------------------------------------------------
@dataclass
class Rendered:
    """A stack's Kubernetes objects, per app, validated and cross-checked."""

    cluster_minor: str
    apps: dict[str, list[dict]] = field(default_factory=dict)
    sources: dict[int, str] = field(default_factory=dict)  # id(object) -> template it came from
    secrets: dict[str, set[str]] = field(default_factory=dict)  # Secrets the stack creates -> their keys

    def objects(self) -> list[dict]:
        return [o for objs in self.apps.values() for o in objs]

    def source(self, obj: dict) -> str:
        return self.sources.get(id(obj), "manifests/")


def render_template(template: str, ctx: dict[str, Any]) -> list[dict]:
    text = ENV.get_template(template).render(c=ctx)
    try:
        return [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as e:
        raise ConfigError([problem(f"manifests/{template}", f"renders to invalid YAML ({e})",
                                   "fix the template; `tpustack plan --out DIR` shows what it rendered")]) from None


def app_templates(cfg: StackConfig) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if cfg.engine is not None:
        if cfg.engine.name == "jetstream-maxtext" and cfg.model is not None and cfg.model.source == "huggingface":
            out["checkpoint"] = list(APP_TEMPLATES["checkpoint"]["jetstream-maxtext"])
        key = "vllm-multihost" if cfg.engine.name == "vllm" and cfg.shape.multi_host else cfg.engine.name
        serving = list(APP_TEMPLATES["serving"][key]) + SERVING_EXTRAS
        if cfg.engine.hpa_max_replicas:
            serving.append("serving/hpa.yaml.j2")
        out["serving"] = serving
        if cfg.benchmark is not None:
            out["benchmark"] = list(APP_TEMPLATES["benchmark"]["*"])
    elif cfg.workload is not None:
        out["heartbeat"] = list(APP_TEMPLATES["heartbeat"]["*"])
    return out


def render(cfg: StackConfig) -> Rendered:
    """Render, validate and cross-check every Kubernetes object of a gke stack.

    Raises ConfigError listing every problem. A stack that is not on GKE has no objects.
    """
    rendered = Rendered(cluster_minor=cluster_minor(cfg) if cfg.target == "gke" else "")
    if cfg.target != "gke" or not cfg.is_experiment:
        return rendered
    pre = list(config_problems(cfg))
    if pre:
        raise ConfigError(pre, cfg.stack)
    if cfg.hf_token is not None:
        rendered.secrets[k8s_keys.HF_SECRET] = {k8s_keys.HF_SECRET_KEY}
    templates = app_templates(cfg)
    if not templates:
        return rendered
    ctx = context(cfg)
    if "benchmark" in templates:
        from workloads import spec as wspec

        files = workload_files(wspec.WORKLOAD_FILES)
        ctx["workloads"] = _workloads_cm(files)
        ctx["bench"] = _bench_context(cfg, ctx, workload_revision(files))
    elif "heartbeat" in templates:
        ctx["workloads"] = _workloads_cm(workload_files(HEARTBEAT_FILES))
        ctx["heartbeat"] = _heartbeat_context(cfg)
    for app, names in templates.items():
        objs = []
        for t in names:
            for o in render_template(t, ctx):
                rendered.sources[id(o)] = f"manifests/{t}"
                objs.append(o)
        rendered.apps[app] = objs
    problems = list(schema_problems(rendered)) + list(cross_problems(cfg, rendered))
    if problems:
        raise ConfigError(problems, cfg.stack)
    return rendered


def _bench_context(cfg: StackConfig, ctx: dict[str, Any], revision: str) -> dict[str, Any]:
    from workloads import spec as wspec

    host = f"http://{ctx['name']}.{k8s_keys.NAMESPACE}.svc.cluster.local"
    base_url = f"{host}:{ctx['port']}"
    metrics_url = f"{host}:{ctx['metrics']['port']}{ctx['metrics']['path']}"
    results_uri = f"gs://{cfg.results_bucket}/{naming.label_value(cfg.stack)}/serving-bench"
    doc = wspec.bench_spec(cfg, base_url=base_url, metrics_url=metrics_url, results_uri=results_uri,
                           git_revision=revision)
    image = doc["metadata"].get("tool_image") or INFERENCE_PERF_IMAGE
    return {"job_name": "serving-bench", "spec_name": "serving-bench-spec", "image": image,
            "spec_json": json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n",
            # A sweep may run for hours: `pulumi up` does not wait for it; results land in GCS.
            "annotations": {PULUMI_SKIP_AWAIT: "true"}}


def _heartbeat_context(cfg: StackConfig) -> dict[str, Any]:
    w = cfg.workload
    assert w is not None
    kind = cfg.shape.kind
    return {"job_name": "heartbeat", "image": HEARTBEAT_IMAGES[kind],
            "backend": "xla" if kind == "tpu" else "cuda", "dtype": w.dtype,
            "shape": ",".join(str(x) for x in w.shape), "iterations": w.iterations,
            "accelerator": cfg.shape.name,
            "out": f"gs://{cfg.results_bucket}/{naming.label_value(cfg.stack)}/$(POD_NAME)/heartbeat.json",
            "annotations": {PULUMI_TIMEOUT: "1800"}}


# ----- config problems found before rendering ------------------------------------------------------------
def config_problems(cfg: StackConfig) -> Iterator[str]:
    """Serving rules that depend only on config; checked before anything is rendered."""
    shape = cfg.shape
    engine = cfg.engine
    minor = cluster_minor(cfg)
    if _minor_tuple(minor) < UNPRIVILEGED_TPU_MINOR and shape.kind == "tpu" and not (engine and engine.privileged):
        yield problem("tpustack:gke.minMasterVersion", f"GKE {minor} runs TPU containers only in privileged mode "
                      "(unprivileged from 1.28)", "set gke.minMasterVersion to 1.28 or newer, or set "
                      "tpustack:engine.privileged true")
    if engine is None:
        if cfg.workload is not None and shape.multi_host:
            yield problem("tpustack:workload", f"the GKE heartbeat Job runs on one host, but {shape.name} spans "
                          f"{shape.hosts} hosts whose TPU runtime starts only together",
                          "use a single-host accelerator (e.g. v6e-8, v5litepod-8) or target tpu-vm")
        return
    if engine.hpa_max_replicas is not None:
        if engine.hpa_max_replicas < cfg.replicas:
            yield problem("tpustack:engine.hpaMaxReplicas", f"{engine.hpa_max_replicas} is below "
                          f"engine.replicas {cfg.replicas}, the HPA's minimum",
                          f"set hpaMaxReplicas to at least {cfg.replicas}, or remove it")
        need = engine.hpa_max_replicas * shape.hosts
        have = pool_max_nodes(cfg)
        if need > have:
            yield problem("tpustack:engine.hpaMaxReplicas",
                          f"{engine.hpa_max_replicas} replicas need {need} {shape.machine_type} nodes, but the "
                          f"accelerator pool holds at most {have}, so the extra pods would stay Pending",
                          f"set tpustack:gke.autoscalingMaxNodes to {need} (single-host shapes), or lower "
                          f"hpaMaxReplicas to {max(have // shape.hosts, 1)}")
    if engine.name == "jetstream-maxtext":
        if engine.port != JETSTREAM_HTTP_PORT:
            yield problem("tpustack:engine.port", f"jetstream-http listens on {JETSTREAM_HTTP_PORT} (its image's "
                          f"command), not {engine.port}", f"set engine.port {JETSTREAM_HTTP_PORT} or remove it")
        family = maxtext_family(cfg)
        if cfg.model is not None and family is not None:
            known = MAXTEXT_FAMILIES.get(family)
            if known is None:
                yield problem("tpustack:model.maxtextName", f"no MaxText tokenizer/converter known for family "
                              f"'{family}'", f"use one of {', '.join(k + '-<size>' for k in MAXTEXT_FAMILIES)}")
            elif cfg.model.source == "huggingface":
                if known[0] is None:
                    yield problem("tpustack:model.id", f"the checkpoint converter takes {family} models from "
                                  "Kaggle, not Hugging Face", "convert it yourself and set model.id to the gs:// "
                                  "path of the unscanned MaxText checkpoint (.../checkpoints/0/items)")
                elif "Llama" not in cfg.model.id:
                    yield problem("tpustack:model.id", f"{cfg.model.id} is not a Llama repo; the converter "
                                  "(checkpoint_converter.sh) converts Hugging Face checkpoints whose path "
                                  "contains 'Llama'", "use a meta-llama/Llama-* repo, or a converted gs:// "
                                  "checkpoint")
                if cfg.hf_token is None:
                    yield problem("tpustack:hfToken", "the checkpoint converter logs in to Hugging Face with "
                                  "the token", "pulumi config set --secret tpustack:hfToken hf_...")


def pool_max_nodes(cfg: StackConfig) -> int:
    """Most nodes the accelerator pool can have (components/gke.py accelerator_pool_args)."""
    fixed = cfg.shape.hosts * cfg.replicas
    if cfg.capacity.type in ("flex-start", "queued"):
        return fixed
    if cfg.gke.autoscaling_max_nodes and not cfg.shape.multi_host:
        return cfg.gke.autoscaling_max_nodes
    return fixed


# ----- schema validation ---------------------------------------------------------------------------------
# Field names of the two custom resources, from their CRDs: kubernetes-sigs/lws
# charts/lws/crds/leaderworkerset.x-k8s.io_leaderworkersets.yaml (v1) and GoogleCloudPlatform/
# prometheus-engine pkg/operator/apis/monitoring/v1/pod_types.go + common_types.go (PodMonitoring v1).
# None = any value; their pod templates are validated against the core schema instead.
_META = {"name": None, "namespace": None, "labels": None, "annotations": None}
_SELECTOR = {"matchLabels": None, "matchExpressions": None}
CRD_FIELDS: dict[tuple[str, str], dict] = {
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"): {
        "apiVersion": None, "kind": None, "metadata": _META,
        "spec": {"replicas": None, "startupPolicy": None, "networkConfig": {"subdomainPolicy": None},
                 "rolloutStrategy": {"type": None, "rollingUpdateConfiguration": {
                     "maxUnavailable": None, "maxSurge": None, "partition": None}},
                 "leaderWorkerTemplate": {"size": None, "restartPolicy": None, "leaderTemplate": None,
                                          "workerTemplate": None, "subGroupPolicy": None,
                                          "volumeClaimTemplates": None,
                                          "persistentVolumeClaimRetentionPolicy": None}},
    },
    ("monitoring.googleapis.com/v1", "PodMonitoring"): {
        "apiVersion": None, "kind": None, "metadata": _META,
        "spec": {"selector": _SELECTOR, "filterRunning": None, "limits": None,
                 "targetLabels": {"metadata": None, "fromPod": None},
                 "endpoints": [{"port": None, "path": None, "interval": None, "timeout": None, "scheme": None,
                                "params": None, "metricRelabeling": None}]},
    },
}


def _shape_errors(obj: Any, allowed: Any, path: str) -> Iterator[str]:
    if allowed is None:
        return
    if isinstance(allowed, list):
        if not isinstance(obj, list):
            yield f"{path}: expected a list"
            return
        for i, item in enumerate(obj):
            yield from _shape_errors(item, allowed[0], f"{path}[{i}]")
        return
    if not isinstance(obj, dict):
        yield f"{path}: expected an object"
        return
    for k, v in obj.items():
        if k not in allowed:
            yield f"{path}.{k}: unknown field (known: {', '.join(sorted(allowed))})"
        else:
            yield from _shape_errors(v, allowed[k], f"{path}.{k}")


def _schema_errors(obj: dict, minor: str) -> Iterator[str]:
    import kubernetes_validate as kv

    key = (obj.get("apiVersion"), obj.get("kind"))
    if key in CRD_FIELDS:
        yield from (e.lstrip(".") for e in _shape_errors(obj, CRD_FIELDS[key], ""))
        if obj["kind"] == "LeaderWorkerSet":
            lwt = (obj.get("spec") or {}).get("leaderWorkerTemplate") or {}
            for part in ("leaderTemplate", "workerTemplate"):
                if part in lwt:
                    wrapped = {"apiVersion": "v1", "kind": "PodTemplate",
                               "metadata": {"name": obj["metadata"]["name"]}, "template": lwt[part]}
                    for e in _schema_errors(wrapped, minor):
                        yield f"spec.leaderWorkerTemplate.{part}.{e.removeprefix('template.')}"
        return
    try:
        kv.validate(obj, minor, strict=True)
    except kv.ValidationError as e:
        yield f"{'.'.join(str(p) for p in e.path) or '(object)'}: {e.message}"
    except kv.SchemaNotFoundError:
        yield f"no Kubernetes {minor} schema for {obj.get('apiVersion')} {obj.get('kind')}"
    except kv.utils.VersionNotSupportedError:
        yield f"kubernetes-validate has no schema for Kubernetes {minor}"


def validation_minor(minor: str) -> str:
    """The schema version kubernetes-validate holds for a cluster minor (newest it has, if the cluster is newer)."""
    import kubernetes_validate as kv

    have = sorted({".".join(v.split(".")[:2]) for v in kv.utils.all_versions()}, key=_minor_tuple)
    return minor if minor in have else (have[-1] if _minor_tuple(minor) > _minor_tuple(have[-1]) else minor)


def schema_problems(rendered: Rendered) -> Iterator[str]:
    minor = validation_minor(rendered.cluster_minor)
    for obj in rendered.objects():
        for err in _schema_errors(obj, minor):
            yield problem(rendered.source(obj), f"{_obj_id(obj)} does not match the Kubernetes {minor} schema at "
                          f"{err}", "fix the template (or the config value that fills it); see "
                          "`tpustack plan --out DIR`")


# ----- cross-checks against the infrastructure -----------------------------------------------------------
def _obj_id(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('namespace', 'default')}/{meta.get('name')}"


def pod_specs(obj: dict) -> list[tuple[str, dict]]:
    """(where, pod spec) of every pod template in an object."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        return [(f"{_obj_id(obj)} {part}", (lwt[part] or {}).get("spec") or {})
                for part in ("leaderTemplate", "workerTemplate") if lwt.get(part)]
    if obj.get("kind") in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        return [(_obj_id(obj), (spec.get("template") or {}).get("spec") or {})]
    return []


def _containers(pod: dict) -> list[dict]:
    return list(pod.get("containers") or []) + list(pod.get("initContainers") or [])


def _accel_of(container: dict) -> dict[str, tuple[Any, Any]]:
    res = container.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    return {k: (req.get(k), lim.get(k)) for k in (k8s_keys.TPU_RESOURCE, k8s_keys.GPU_RESOURCE)
            if k in req or k in lim}


def _flag(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def cross_problems(cfg: StackConfig, rendered: Rendered) -> Iterator[str]:
    for check in CROSS_CHECKS:
        yield from check(cfg, rendered)


def check_accelerator_requests(cfg: StackConfig, r: Rendered) -> Iterator[str]:
    """Accelerator requests = limits = the chips of one node (GKE gives a TPU pod its whole host)."""
    shape = cfg.shape
    want = k8s_keys.TPU_RESOURCE if shape.kind == "tpu" else k8s_keys.GPU_RESOURCE
    for obj in r.objects():
        for where, pod in pod_specs(obj):
            for c in _containers(pod):
                for res, (req, lim) in _accel_of(c).items():
                    if res != want:
                        yield problem("tpustack:accelerator", f"{where} container {c.get('name')} asks for {res}, "
                                      f"but {shape.name} nodes offer {want}",
                                      f"request {want} in {r.source(obj)}, or change the accelerator")
                    elif not (str(req) == str(lim) == str(shape.chips_per_host)):
                        yield problem("tpustack:accelerator", f"{where} container {c.get('name')} requests {req} "
                                      f"/ limits {lim} {res}, but a {shape.machine_type} node of {shape.name} has "
                                      f"{shape.chips_per_host}", f"set {res} requests = limits = "
                                      f"{shape.chips_per_host} in {r.source(obj)} (a pod takes every chip of its node)")


def check_one_tpu_container(cfg: StackConfig, r: Rendered) -> Iterator[str]:
    for obj in r.objects():
        for where, pod in pod_specs(obj):
            holders = [c.get("name") for c in _containers(pod) if k8s_keys.TPU_RESOURCE in _accel_of(c)]
            if len(holders) > 1:
                yield problem(r.source(obj), f"{where} has {len(holders)} containers requesting TPUs "
                              f"({', '.join(map(str, holders))}); the TPU runtime opens the chips from one process",
                              "request google.com/tpu in one container only")


def check_tensor_parallel(cfg: StackConfig, r: Rendered) -> Iterator[str]:
    """The engine shards over every chip of the replica: vLLM --tensor-parallel-size, MaxText ici_*."""
    if cfg.engine is None:
        return
    chips = cfg.shape.chips
    for obj in r.apps.get("serving", []):
        for where, pod in pod_specs(obj):
            for c in pod.get("containers") or []:
                args = [str(a) for a in c.get("args") or []]
                tp = _flag(args, "--tensor-parallel-size")
                if tp is not None and int(tp) != chips:
                    yield problem("tpustack:engine.tensorParallel", f"{where} runs vLLM with tensor parallel {tp}, "
                                  f"but one {cfg.shape.name} replica has {chips} chips",
                                  f"set engine.tensorParallel to {chips} or remove it")
                ici = {a.split("=", 1)[0]: int(a.split("=", 1)[1]) for a in args
                       if a.startswith("ici_") and "=" in a and a.split("=", 1)[1].lstrip("-").isdigit()}
                if ici:
                    fixed = math.prod(v for v in ici.values() if v != -1)
                    fill = sum(1 for v in ici.values() if v == -1)
                    if (fill == 0 and fixed != chips) or (fill and chips % fixed) or fill > 1:
                        yield problem("tpustack:engine.tensorParallel", f"{where} MaxText parallelism "
                                      f"{ici} does not cover the {chips} chips of {cfg.shape.name}",
                                      "make the product of ici_*_parallelism equal the chip count")
                    elif ici.get("ici_tensor_parallelism") not in (cfg.tensor_parallel, -1):
                        yield problem("tpustack:engine.tensorParallel", f"{where} sets ici_tensor_parallelism="
                                      f"{ici.get('ici_tensor_parallelism')}, config says {cfg.tensor_parallel}",
                                      f"set engine.tensorParallel to {chips} or remove it")


def check_node_selectors(cfg: StackConfig, r: Rendered) -> Iterator[str]:
    """Every nodeSelector names a label the accelerator pool's nodes carry, with the same value."""
    labels = accelerator_pool_labels(cfg)
    for obj in r.objects():
        for where, pod in pod_specs(obj):
            for k, v in (pod.get("nodeSelector") or {}).items():
                if labels.get(k) != v:
                    have = f"'{labels[k]}'" if k in labels else "no such label"
                    yield problem("tpustack:accelerator", f"{where} selects nodes with {k}={v}, but the "
                                  f"{cfg.shape.name} pool's nodes have {have}", f"select {k}={labels[k]}"
                                  if k in labels else f"drop {k} from nodeSelector in {r.source(obj)}, or label "
                                  "the pool in components/gke.py")


def check_images_pinned(cfg: StackConfig, r: Rendered) -> Iterator[str]:
    for obj in r.objects():
        for where, pod in pod_specs(obj):
            for c in _containers(pod):
                image = str(c.get("image") or "")
                tag = image.rsplit("/", 1)[-1]
                if "@sha256:" not in image and (":" not in tag or tag.endswith(":latest")):
                    field_ = "tpustack:engine.image" if image == cfg.engine_image else r.source(obj)
                    yield problem(field_, f"{where} container {c.get('name')} image '{image}' is not pinned",
                                  "use an explicit version tag or a digest (never latest)")


def check_secrets(cfg: StackConfig, r: Rendered) -> Iterator[str]:
    """Every secret a pod reads is one the stack creates, with that key."""
    for obj in r.objects():
        for where, pod in pod_specs(obj):
            refs: list[tuple[str, str | None]] = []
            for c in _containers(pod):
                for env in c.get("env") or []:
                    ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                    if ref:
                        refs.append((ref.get("name"), ref.get("key")))
            for v in pod.get("volumes") or []:
                sec = v.get("secret")
                if sec:
                    keys = [i.get("key") for i in sec.get("items") or []] or [None]
                    refs.extend((sec.get("secretName"), k) for k in keys)
            for name, key in refs:
                if name not in r.secrets or (key is not None and key not in r.secrets[name]):
                    yield problem("tpustack:hfToken", f"{where} reads secret {name} key {key}, which this stack "
                                  "does not create", "pulumi config set --secret tpustack:hfToken hf_... (the "
                                  f"stack then creates Secret {k8s_keys.HF_SECRET} with key {k8s_keys.HF_SECRET_KEY})")


def check_privilege(cfg: StackConfig, r: Rendered) -> Iterator[str]:
    allowed = bool(cfg.engine and cfg.engine.privileged)
    for obj in r.objects():
        for where, pod in pod_specs(obj):
            for c in _containers(pod):
                if (c.get("securityContext") or {}).get("privileged") and not allowed:
                    yield problem("tpustack:engine.privileged", f"{where} container {c.get('name')} is privileged",
                                  "TPU containers need no privilege on GKE >= 1.28: drop it from "
                                  f"{r.source(obj)}, or set engine.privileged true for an image that needs it")


def check_ports(cfg: StackConfig, r: Rendered) -> Iterator[str]:
    """Service target ports and probe ports are ports the selected containers declare."""
    pods = [(obj, where, pod) for obj in r.objects() for where, pod in pod_specs(obj)]

    def declared(pod: dict) -> set:
        return {p.get(k) for c in pod.get("containers") or [] for p in c.get("ports") or []
                for k in ("containerPort", "name")}

    for obj in r.objects():
        if obj.get("kind") != "Service":
            continue
        sel = (obj.get("spec") or {}).get("selector") or {}
        targets = [pod for o, _, pod in pods
                   if sel and all(_template_labels(o, pod).get(k) == v for k, v in sel.items())]
        if not targets:
            yield problem("tpustack:engine.port", f"{_obj_id(obj)} selects {sel}, which no serving pod carries",
                          f"make the Service selector match the pod labels in {r.source(obj)}")
        for port in (obj.get("spec") or {}).get("ports") or []:
            tp = port.get("targetPort", port.get("port"))
            for pod in targets:
                if tp not in declared(pod):
                    yield problem("tpustack:engine.port", f"{_obj_id(obj)} sends port {port.get('port')} to "
                                  f"{tp}, which the selected pods do not declare", "keep engine.port, the "
                                  "container ports and the Service ports equal")
    for obj, where, pod in pods:
        ports = declared(pod)
        for c in pod.get("containers") or []:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                p = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
                if p is not None and p not in ports:
                    yield problem("tpustack:engine.port", f"{where} {c.get('name')} {probe} checks port {p}, "
                                  "which no container of the pod serves", "probe the server's own port")


def _template_labels(obj: dict, pod: dict) -> dict:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        for part in ("leaderTemplate", "workerTemplate"):
            t = lwt.get(part) or {}
            if t.get("spec") is pod:
                # The LWS controller adds the set's name label to every pod it creates.
                return {**((t.get("metadata") or {}).get("labels") or {}), LWS_NAME_LABEL: obj["metadata"]["name"]}
        return {}
    return ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}


def check_drain(cfg: StackConfig, r: Rendered) -> Iterator[str]:
    """Grace period longer than the preStop drain, or the kubelet kills the engine mid-drain."""
    for obj in r.objects():
        for where, pod in pod_specs(obj):
            grace = pod.get("terminationGracePeriodSeconds", 30)
            for c in pod.get("containers") or []:
                cmd = (((c.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command") or []
                if len(cmd) == 2 and cmd[0] == "sleep" and str(cmd[1]).isdigit() and int(cmd[1]) >= grace:
                    yield problem("tpustack:engine.drainSeconds", f"{where} drains {cmd[1]} s but its grace "
                                  f"period is {grace} s", f"keep terminationGracePeriodSeconds above the drain "
                                  f"(tpustack sets drain + 60), or lower engine.drainSeconds below {grace}")


def check_startup_budget(cfg: StackConfig, r: Rendered) -> Iterator[str]:
    """The startup probe allows the weight load + XLA compile budget, and `pulumi up` waits at least as long."""
    if cfg.engine is None:
        return
    budget_s = startup_minutes(cfg) * 60
    for obj in r.apps.get("serving", []):
        timeout = int(((obj.get("metadata") or {}).get("annotations") or {}).get(PULUMI_TIMEOUT, 0) or 0)
        for where, pod in pod_specs(obj):
            for c in pod.get("containers") or []:
                sp = c.get("startupProbe")
                if not sp:
                    continue
                allowed = sp.get("periodSeconds", 10) * sp.get("failureThreshold", 3) + sp.get("initialDelaySeconds", 0)
                if allowed < budget_s:
                    yield problem("tpustack:engine.startupMinutes", f"{where} {c.get('name')} startup probe allows "
                                  f"{allowed} s, less than the {budget_s} s budget for weights + XLA compile",
                                  "raise engine.startupMinutes or the probe's failureThreshold")
                if timeout < allowed:
                    yield problem("tpustack:engine.startupMinutes", f"{_obj_id(obj)} lets `pulumi up` wait "
                                  f"{timeout} s ({PULUMI_TIMEOUT}) but the pod may take {allowed} s to start",
                                  f"set {PULUMI_TIMEOUT} above the startup probe's allowance")


def check_lws_size(cfg: StackConfig, r: Rendered) -> Iterator[str]:
    for obj in r.objects():
        if obj.get("kind") == "LeaderWorkerSet":
            size = ((obj.get("spec") or {}).get("leaderWorkerTemplate") or {}).get("size")
            if size != cfg.shape.hosts:
                yield problem("tpustack:accelerator", f"{_obj_id(obj)} groups {size} pods, but {cfg.shape.name} "
                              f"has {cfg.shape.hosts} hosts", f"set leaderWorkerTemplate.size to {cfg.shape.hosts}")


def check_configmap_size(cfg: StackConfig, r: Rendered) -> Iterator[str]:
    for obj in r.objects():
        if obj.get("kind") == "ConfigMap":
            size = sum(len(k) + len(str(v).encode()) for k, v in (obj.get("data") or {}).items())
            if size > CONFIGMAP_MAX_BYTES:
                yield problem(r.source(obj), f"{_obj_id(obj)} holds {size} bytes, over the 1 MiB ConfigMap limit",
                              "trim workloads.spec.WORKLOAD_FILES to the modules the pods import")


CROSS_CHECKS = [check_accelerator_requests, check_one_tpu_container, check_tensor_parallel, check_node_selectors,
                check_images_pinned, check_secrets, check_privilege, check_ports, check_drain,
                check_startup_budget, check_lws_size, check_configmap_size]


def walk_strings(obj: Any) -> Iterable[str]:
    """Every string inside an object (tests and callers search rendered objects for leaked values)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from walk_strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from walk_strings(v)
