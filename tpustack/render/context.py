"""Typed per-app contexts: the values each template under ``manifests/`` reads, derived from a validated config.

One frozen dataclass per app (``ServingContext``, ``CheckpointContext``, ``BenchmarkContext``,
``HeartbeatContext``), each extending ``PodContext`` (namespace, service account, placement, secrets); templates
read them as ``c.<field>``. Plain values only, no Pulumi Outputs: the objects are rendered, validated and
cross-checked before any resource is declared.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from tpustack.config import derived
from tpustack.config.model import MaxTextConfig, StackConfig, VllmConfig
from tpustack.core import engines, names
from tpustack.core.catalog import TpuShape

from . import bench as bench_spec
from .payload import CONFIGMAP_NAME, MOUNT_PATH, Payload

PROBE_PERIOD_S = 10
CACHE_PATH = "/xla-cache"
WEIGHTS_PATH = "/data"  # --download-dir, as the GKE vLLM TPU sample
MODEL_MOUNT_PATH = "/models"
# `pulumi up` waits for readiness this much longer than the startup budget (image pull and scheduling).
AWAIT_SLACK_S = 900


# ----- pieces ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Accel:
    kind: str
    resource: str
    count: int
    node_selector: dict[str, str]
    tolerations: list[dict[str, str]]


@dataclass(frozen=True)
class SecretRef:
    secret: str
    key: str
    env: str  # the variable the process reads it from


@dataclass(frozen=True)
class GcsMount:
    bucket: str
    dir: str
    path: str
    mount_options: str


@dataclass(frozen=True)
class ScratchDir:
    path: str
    size: str


@dataclass(frozen=True)
class Probes:
    period: int
    startup_failures: int


@dataclass(frozen=True)
class Metrics:
    port: int
    path: str
    selector: dict[str, str]
    interval: str


@dataclass(frozen=True)
class Hpa:
    target: dict[str, str]
    min_replicas: int
    max_replicas: int
    metric: str
    average_value: str


@dataclass(frozen=True)
class MaxText:
    model_name: str
    tokenizer_path: str
    tokenizer_type: str
    per_device_batch_size: int
    max_prefill_predict_length: int
    max_target_length: int
    scan_layers: bool
    weight_dtype: str
    load_parameters_path: str
    grpc_port: int
    metrics_port: int
    http_image: str
    command: list[str]
    workdir: str
    ready_marker: str | None  # gs:// object the checkpoint Job writes last; None for a user's own checkpoint
    wait_script: str


@dataclass(frozen=True)
class Checkpoint:
    job_name: str
    image: str
    labels: dict[str, str]
    annotations: dict[str, str]
    workdir: str
    script: str
    env: dict[str, str]
    cpu: str
    memory: str
    scratch: str


@dataclass(frozen=True)
class WorkloadCode:
    """The pod payload as a ConfigMap (tpustack.render.payload)."""

    name: str
    module: str
    mount_path: str
    data: dict[str, str]
    mount_items: list[dict[str, str]]


@dataclass(frozen=True)
class BenchJob:
    job_name: str
    spec_name: str
    spec_dir: str
    spec_path: str
    image: str
    spec_json: str
    annotations: dict[str, str]


@dataclass(frozen=True)
class HeartbeatJob:
    job_name: str
    image: str
    backend: str
    dtype: str
    shape: str
    iterations: int
    accelerator: str
    out: str
    annotations: dict[str, str]


# ----- app contexts -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PodContext:
    namespace: str
    ksa: str
    stack: str
    privileged: bool
    hf: SecretRef | None
    accel: Accel
    hosts: int
    job_labels: dict[str, str]


@dataclass(frozen=True)
class ServingContext(PodContext):
    name: str
    selector: dict[str, str]
    labels: dict[str, str]
    pod_labels: dict[str, str]
    leader_labels: dict[str, str]
    worker_labels: dict[str, str]
    workload_annotations: dict[str, str]
    pod_annotations: dict[str, str]
    image: str
    port: int
    tp: int
    replicas: int | None
    probes: Probes
    drain_seconds: int
    grace_seconds: int
    cache: GcsMount | ScratchDir | None  # GCS FUSE (single host) or the pod's local disk (multi-host)
    model_mount: GcsMount | None
    download_dir: ScratchDir | None
    model_arg: str
    served_name: str | None
    vllm: VllmConfig
    xla_cache_env: str
    multihost_env: dict[str, str]
    server_command: list[str]
    leader_command: list[str]
    worker_command: list[str]
    health_path: str
    service_type: str
    service_selector: dict[str, str]
    service_ports: list[dict[str, Any]]
    metrics: Metrics
    hpa: Hpa | None
    maxtext: MaxText | None

    @property
    def url(self) -> str:
        """The engine's URL inside the cluster."""
        return f"http://{self.name}.{self.namespace}.svc.cluster.local:{self.port}"


@dataclass(frozen=True)
class CheckpointContext(PodContext):
    checkpoint: Checkpoint


@dataclass(frozen=True)
class BenchmarkContext(PodContext):
    workloads: WorkloadCode
    bench: BenchJob


@dataclass(frozen=True)
class HeartbeatContext(PodContext):
    workloads: WorkloadCode
    heartbeat: HeartbeatJob


# ----- builders -----------------------------------------------------------------------------------------------
def _accel(cfg: StackConfig) -> Accel:
    shape = cfg.shape
    stack_label = {names.LABEL_STACK: names.label_value(cfg.stack)}
    if cfg.variant is not None:
        # A serving variant lands wherever its ComputeClass provisions; GKE rejects pods that pair a class with
        # system labels such as gke-accelerator, so the class alone (and the labels it gives its nodes) selects.
        resource = names.TPU_RESOURCE if isinstance(shape, TpuShape) else names.GPU_RESOURCE
        return Accel(
            shape.kind,
            resource,
            shape.chips_per_host,
            {names.COMPUTE_CLASS_LABEL: names.compute_class(cfg.stack, cfg.variant), **stack_label},
            [{"key": resource, "operator": "Exists", "effect": "NoSchedule"}],
        )
    if isinstance(shape, TpuShape):
        return Accel(
            "tpu",
            names.TPU_RESOURCE,
            shape.chips_per_host,
            {
                names.TPU_ACCELERATOR_LABEL: shape.gke_accelerator,
                names.TPU_TOPOLOGY_LABEL: shape.topology,
                **stack_label,
            },
            [{"key": names.TPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
        )
    return Accel(
        "gpu",
        names.GPU_RESOURCE,
        shape.chips_per_host,
        {names.GPU_ACCELERATOR_LABEL: shape.gke_accelerator, **stack_label},
        [{"key": names.GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
    )


def pod_context(cfg: StackConfig) -> dict[str, Any]:
    """The fields every app context shares, as keyword arguments."""
    return {
        "namespace": names.namespace(cfg.stack),
        "ksa": names.SERVING_KSA,
        "stack": names.label_value(cfg.stack),
        "privileged": bool(cfg.engine and cfg.engine.privileged),
        "hf": SecretRef(names.HF_SECRET, names.HF_SECRET_KEY, engines.HF_TOKEN_ENV)
        if cfg.hf_token is not None
        else None,
        "accel": _accel(cfg),
        "hosts": cfg.shape.hosts,
        "job_labels": {names.LABEL_APP: "tpustack-jobs", **names.common_k8s_labels(cfg.stack)},
    }


def serving_context(cfg: StackConfig) -> ServingContext:
    engine, model = cfg.engine, cfg.model
    if engine is None or model is None:
        raise ValueError("serving_context needs an engine and a model (config rules ensure it)")
    stack_label = names.stack_dir(cfg.stack)
    base = engines.SERVER_NAMES[engine.name]
    name = base if cfg.variant is None else f"{base}-{cfg.variant}"
    selector = {names.LABEL_APP: name}
    labels = {**selector, **names.common_k8s_labels(cfg.stack)}
    variant_labels = {} if cfg.variant is None else {names.LABEL_SERVING: base, names.LABEL_VARIANT: cfg.variant}
    minutes = derived.startup_minutes(cfg)
    multi = cfg.shape.multi_host
    wl_ann = {names.PULUMI_TIMEOUT: str(minutes * 60 + AWAIT_SLACK_S)}
    if multi:
        wl_ann[names.PULUMI_WAIT_FOR] = "condition=Available"
        wl_ann[names.LWS_EXCLUSIVE_TOPOLOGY] = names.NODEPOOL_LABEL
    pod_labels = {
        **labels,
        **variant_labels,
        names.GKE_MODEL_LABEL: names.k8s_label_value(model.id.rstrip("/").rsplit("/", 1)[-1]),
        names.GKE_SERVER_LABEL: engines.GKE_SERVER_LABELS[engine.name],
    }
    cache: GcsMount | ScratchDir | None = None
    if engine.compile_cache and cfg.shape.kind == "tpu":
        if multi:
            # Several hosts writing one GCS FUSE cache race (GKE's multi-host vLLM RayService sample keeps
            # VLLM_XLA_CACHE_PATH on local disk "to prevent multi-host GCSFuse race conditions"): each pod keeps its
            # own, which still saves recompiling when a container restarts.
            cache = ScratchDir(CACHE_PATH, "20Gi")
        else:
            cache_dir = f"{names.COMPILE_CACHE_PREFIX}/{stack_label}"
            cache = GcsMount(cfg.results_bucket, cache_dir, CACHE_PATH, f"implicit-dirs,only-dir={cache_dir}")
    model_mount = download = None
    model_arg, served = model.id, None
    if engine.name == "vllm":
        if model.source == "gcs":
            bucket, path = names.gcs_split(model.id)
            # Read-only weights through the GCS FUSE file cache with parallel downloads (GKE vLLM TPU sample).
            model_mount = GcsMount(
                bucket,
                path,
                MODEL_MOUNT_PATH,
                f"implicit-dirs,only-dir={path},file-cache:enable-parallel-downloads:true,file-cache:max-size-mb:-1",
            )
            model_arg, served = MODEL_MOUNT_PATH, path.rsplit("/", 1)[-1] or bucket
        else:
            download = ScratchDir(WEIGHTS_PATH, f"{math.ceil(model.weights_gib * 1.1) + 1}Gi")
    pod_ann: dict[str, str] = {}
    if isinstance(cache, GcsMount) or model_mount:
        # GKE's GCS FUSE sidecar; limits "0" = unlimited, as the GKE vLLM TPU sample sets them.
        pod_ann = {
            "gke-gcsfuse/volumes": "true",
            "gke-gcsfuse/cpu-limit": "0",
            "gke-gcsfuse/memory-limit": "0",
            "gke-gcsfuse/ephemeral-storage-limit": "0",
        }
    port = engine.port
    if engine.name == "vllm":
        metrics_port, metrics_path = port, engines.VLLM_METRICS_PATH
        ports: list[dict[str, Any]] = [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}]
    else:
        metrics_port, metrics_path = engines.JETSTREAM_METRICS_PORT, "/"
        # Port names as the ai-on-gke JetStream sample's Service.
        ports = [
            {"name": "jetstream-http", "port": port, "targetPort": port, "protocol": "TCP"},
            {
                "name": "jetstream-grpc",
                "port": engines.JETSTREAM_GRPC_PORT,
                "targetPort": engines.JETSTREAM_GRPC_PORT,
                "protocol": "TCP",
            },
            {
                "name": "metrics",
                "port": engines.JETSTREAM_METRICS_PORT,
                "targetPort": engines.JETSTREAM_METRICS_PORT,
                "protocol": "TCP",
            },
        ]
    leader_sel = {**selector, "role": "leader"}
    service_selector = {names.LWS_NAME_LABEL: name, "role": "leader"} if multi else selector
    if cfg.variant is not None:
        service_selector = {names.LABEL_SERVING: base}  # every variant behind one Service
    hpa = None
    if engine.hpa_max_replicas:
        target = (
            {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": name}
            if multi
            else {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        )
        hpa = Hpa(
            target,
            cfg.replicas,
            engine.hpa_max_replicas,
            f"prometheus.googleapis.com|{engines.QUEUE_METRICS[engine.name]}|gauge",
            f"{engine.hpa_queue_target:g}",
        )
    server = " ".join(engines.VLLM_SERVER_COMMAND)
    return ServingContext(
        **pod_context(cfg),
        name=name,
        selector=selector,
        labels=labels,
        pod_labels=pod_labels,
        leader_labels={**pod_labels, "role": "leader"},
        worker_labels={**pod_labels, "role": "worker"},
        workload_annotations=wl_ann,
        pod_annotations=pod_ann,
        image=cfg.engine_image or "",
        port=port,
        tp=cfg.tensor_parallel,
        replicas=None if engine.hpa_max_replicas else cfg.replicas,
        probes=Probes(PROBE_PERIOD_S, minutes * 60 // PROBE_PERIOD_S),
        drain_seconds=engine.drain_seconds,
        grace_seconds=engine.drain_seconds + 60,
        cache=cache,
        model_mount=model_mount,
        download_dir=download,
        model_arg=model_arg,
        served_name=served,
        vllm=derived.vllm_settings(cfg),
        xla_cache_env=engines.XLA_CACHE_ENV,
        multihost_env=dict(engines.TPU_MULTIHOST_ENV) if multi and cfg.shape.kind == "tpu" else {},
        server_command=list(engines.VLLM_SERVER_COMMAND),
        leader_command=[
            "sh",
            "-c",
            f'bash {engines.VLLM_RAY_BOOTSTRAP} leader --ray_cluster_size=$(LWS_GROUP_SIZE) && exec {server} "$@"',
            "vllm",
        ],
        worker_command=["sh", "-c", f"bash {engines.VLLM_RAY_BOOTSTRAP} worker --ray_address=$(LWS_LEADER_ADDRESS)"],
        health_path=engines.HEALTH_PATHS[engine.name],
        service_type=engine.service_type,
        service_selector=service_selector,
        service_ports=ports,
        metrics=Metrics(metrics_port, metrics_path, leader_sel if multi else selector, "15s"),
        hpa=hpa,
        maxtext=_maxtext(cfg) if engine.name == "jetstream-maxtext" else None,
    )


def _checkpoint_output(cfg: StackConfig) -> str:
    assert cfg.model is not None and cfg.model.maxtext
    # Under the stack's own folder: the workload SA may write nowhere else in the bucket.
    return f"gs://{cfg.results_bucket}/{names.stack_dir(cfg.stack)}/maxtext/{cfg.model.maxtext}"


def _maxtext_load_path(cfg: StackConfig) -> str:
    assert cfg.model is not None
    if cfg.model.source == "gcs":
        return cfg.model.id
    # generate_param_only_checkpoint writes <base_output_directory>/<run_name>/checkpoints/0/items
    return f"{_checkpoint_output(cfg)}/{engines.MAXTEXT_UNSCANNED_RUN}/checkpoints/0/items"


def _ready_marker(cfg: StackConfig) -> str | None:
    assert cfg.model is not None
    return None if cfg.model.source == "gcs" else f"{_checkpoint_output(cfg)}/{engines.MAXTEXT_READY_MARKER}"


# Polls for a gs:// object with the GCS client MaxText itself uses (etils.epath, generate_param_only_checkpoint).
_EXISTS = "import sys; from etils import epath; sys.exit(0 if epath.Path(sys.argv[1]).exists() else 1)"


def _maxtext(cfg: StackConfig) -> MaxText:
    assert cfg.engine is not None and cfg.model is not None and cfg.model.maxtext
    mt = cfg.engine.maxtext or MaxTextConfig()
    family = derived.maxtext_family(cfg) or ""
    facts = engines.JETSTREAM_ENGINE
    return MaxText(
        cfg.model.maxtext,
        facts.tokenizers[family],
        engines.MAXTEXT_FAMILIES[family][0],
        mt.per_device_batch_size,
        mt.max_prefill_predict_length,
        mt.max_target_length,
        mt.scan_layers,
        mt.weight_dtype,
        _maxtext_load_path(cfg),
        engines.JETSTREAM_GRPC_PORT,
        engines.JETSTREAM_METRICS_PORT,
        engines.JETSTREAM_HTTP_IMAGE,
        list(facts.command),
        facts.paths["workdir"],
        _ready_marker(cfg),
        wait_for_object_script(),
    )


def wait_for_object_script(uri_var: str = "$0") -> str:
    """bash: block until a gs:// object exists (the server's initContainer waits for the checkpoint marker)."""
    return (
        f'until python3 -c "{_EXISTS}" "{uri_var}"; do echo "waiting for {uri_var}"; sleep 30; done; '
        f'echo "found {uri_var}"'
    )


def checkpoint_context(cfg: StackConfig) -> CheckpointContext:
    """The Hugging Face -> unscanned MaxText checkpoint Job of a JetStream stack, run in the server's own image
    (MaxText's two steps, end_to_end/tpu/llama3.1/8b/3_test_llama3.1_8b.sh). Idempotent: it exits at once when the
    READY marker is there, and writes the marker last, so the server never loads a half-written checkpoint."""
    assert cfg.model is not None and cfg.model.maxtext and cfg.engine_image is not None
    weights = cfg.model.weights_gib
    out = _checkpoint_output(cfg)
    script = "\n".join(
        [
            "set -euo pipefail",
            f'if python3 -c "{_EXISTS}" "$OUT/{engines.MAXTEXT_READY_MARKER}"; then '
            'echo "MaxText checkpoint already at $OUT"; exit 0; fi',
            # Only the safetensors and configs: Meta's original/*.pth would double the download.
            'python3 -c "import os; from huggingface_hub import snapshot_download; '
            "snapshot_download(os.environ['HF_REPO'], local_dir='/data/hf', "
            "allow_patterns=['*.safetensors', '*.json'])\"",
            "python3 -m MaxText.llama_or_mistral_ckpt --base-model-path=/data/hf "
            '--model-size="$MODEL_NAME" --maxtext-model-path="$OUT/scanned" --huggingface-checkpoint=true',
            # bf16 weights and SGD keep the full train state this builds within the Job's memory (ai-on-gke
            # checkpoint_converter.sh passes the same).
            "python3 -m MaxText.generate_param_only_checkpoint MaxText/configs/base.yml async_checkpointing=false "
            'base_output_directory="$OUT" load_parameters_path="$OUT/scanned/0/items" '
            f'run_name={engines.MAXTEXT_UNSCANNED_RUN} model_name="$MODEL_NAME" force_unroll=true '
            "weight_dtype=bfloat16 opt_type=sgd",
            'python3 -c "import os; from etils import epath; '
            f"epath.Path(os.environ['OUT'] + '/{engines.MAXTEXT_READY_MARKER}').write_text("
            f"os.environ['OUT'] + '/{engines.MAXTEXT_UNSCANNED_RUN}/checkpoints/0/items')\"",
        ]
    )
    return CheckpointContext(
        **pod_context(cfg),
        checkpoint=Checkpoint(
            job_name="maxtext-checkpoint",
            image=cfg.engine_image,
            labels={names.LABEL_APP: "maxtext-checkpoint", **names.common_k8s_labels(cfg.stack)},
            # pulumi up waits for the Job to complete before the server (components/serving.py); its default 10
            # minutes is too short for a download plus two conversions
            annotations={names.PULUMI_TIMEOUT: str(1800 + 120 * math.ceil(weights))},
            workdir=engines.JETSTREAM_ENGINE.paths["workdir"],
            script=script,
            env={"JAX_PLATFORMS": "cpu", "OUT": out, "HF_REPO": cfg.model.id, "MODEL_NAME": cfg.model.maxtext},
            # The safetensors, then scanned and unscanned trees in host RAM while converting on CPU.
            cpu="8",
            memory=f"{math.ceil(weights * 3) + 8}Gi",
            scratch=f"{math.ceil(weights * 1.2) + 10}Gi",
        ),
    )


def workload_code(payload: Payload) -> WorkloadCode:
    return WorkloadCode(CONFIGMAP_NAME, payload.entry, MOUNT_PATH, payload.configmap_data(), payload.mount_items())


def benchmark_context(cfg: StackConfig, serving: ServingContext, payload: Payload) -> BenchmarkContext:
    host = f"http://{serving.name}.{serving.namespace}.svc.cluster.local"
    metrics_url = f"{host}:{serving.metrics.port}{serving.metrics.path}"
    results_uri = f"gs://{cfg.results_bucket}/{names.stack_dir(cfg.stack)}/serving-bench"
    gateway = None
    if cfg.gateway is not None:
        gateway = {"namespace": serving.namespace, "name": names.gateway_name(cfg.stack), "port": cfg.gateway.port}
    doc = bench_spec.bench_spec(
        cfg,
        base_url=serving.url,
        metrics_url=metrics_url,
        results_uri=results_uri,
        git_revision=payload.revision(),
        gateway=gateway,
    )
    image = doc["metadata"].get("tool_image") or engines.INFERENCE_PERF_IMAGE
    return BenchmarkContext(
        **pod_context(cfg),
        workloads=workload_code(payload),
        bench=BenchJob(
            job_name="serving-bench",
            spec_name="serving-bench-spec",
            spec_dir=bench_spec.SPEC_DIR,
            spec_path=bench_spec.SPEC_PATH,
            image=image,
            spec_json=json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n",
            # A sweep may run for hours: `pulumi up` does not wait for it; results land in GCS.
            annotations={names.PULUMI_SKIP_AWAIT: "true"},
        ),
    )


def heartbeat_context(cfg: StackConfig, payload: Payload) -> HeartbeatContext:
    w = cfg.workload
    assert w is not None
    kind = cfg.shape.kind
    return HeartbeatContext(
        **pod_context(cfg),
        workloads=workload_code(payload),
        heartbeat=HeartbeatJob(
            job_name="heartbeat",
            image=engines.HEARTBEAT_IMAGES[kind],
            backend="xla" if kind == "tpu" else "cuda",
            dtype=w.dtype,
            shape=",".join(str(x) for x in w.shape),
            iterations=w.iterations,
            accelerator=cfg.shape.name,
            out=f"gs://{cfg.results_bucket}/{names.stack_dir(cfg.stack)}/$(POD_NAME)/heartbeat.json",
            annotations={names.PULUMI_TIMEOUT: "1800"},
        ),
    )


# ----- serving variants: ComputeClasses, the Inference Gateway ------------------------------------------------------
@dataclass(frozen=True)
class ComputeClass:
    name: str
    labels: dict[str, str]
    priorities: list[dict[str, Any]]
    zones: list[str]
    node_labels: dict[str, str]
    service_account: str


@dataclass(frozen=True)
class CapacityContext:
    classes: list[ComputeClass]


def _priority(shape: Any, cap: Any, project: str) -> dict[str, Any]:
    """One ComputeClass priority (GKE CRD reference, computeclass; AC "TPU configuration": type, count, topology
    are all required for TPUs). One capacity option per priority: spot, flex-start and reservations never share
    one (the CRD rejects flexStart with spot; tpustack keeps reservations apart too)."""
    if isinstance(shape, TpuShape):
        item: dict[str, Any] = {
            "tpu": {"type": shape.gke_accelerator, "count": shape.chips_per_host, "topology": shape.topology}
        }
    else:
        item = {"machineType": shape.machine_type, "gpu": {"type": shape.gke_accelerator, "count": shape.chips}}
    if cap.type == "spot":
        item["spot"] = True
    elif cap.type == "flex-start":
        item["flexStart"] = {"enabled": True}
    elif cap.type == "reservation":
        res = str(cap.reservation)
        spec: dict[str, Any] = {"name": res.rsplit("/", 1)[-1]}
        if res.startswith("projects/"):
            spec["project"] = res.split("/")[1]
        elif project:
            spec["project"] = project
        # TPU reservations take Specific affinity only (GKE docs, about-custom-compute-classes)
        item["reservations"] = {"affinity": "Specific", "specific": [spec]}
    return item


def capacity_context(cfg: StackConfig) -> CapacityContext:
    """A ComputeClass per serving variant: its capacity options as priorities, in the stack's order."""
    out = []
    node_sa = f"{names.account_id(cfg.stack, 'node')}@{cfg.project}.iam.gserviceaccount.com"
    for v, vc in zip(cfg.variants or [], cfg.variant_configs(), strict=True):
        out.append(
            ComputeClass(
                name=names.compute_class(cfg.stack, v.name),
                labels={**names.common_k8s_labels(cfg.stack), names.LABEL_VARIANT: v.name},
                priorities=[_priority(vc.shape, cap, cfg.project) for cap in v.capacity],
                zones=list(cfg.zones),
                node_labels=derived.pool_labels(cfg.stack),
                service_account=node_sa,
            )
        )
    return CapacityContext(out)


@dataclass(frozen=True)
class GatewayContext:
    namespace: str
    labels: dict[str, str]
    name: str
    class_name: str
    port: int
    address: str | None  # a reserved regional address (NamedAddress), for DNS across regions
    route: str
    pool: str
    objective: str
    priority: int


def gateway_context(cfg: StackConfig) -> GatewayContext:
    assert cfg.gateway is not None
    return GatewayContext(
        namespace=names.namespace(cfg.stack),
        labels=names.common_k8s_labels(cfg.stack),
        name=names.gateway_name(cfg.stack),
        class_name=cfg.gateway.class_name,
        port=cfg.gateway.port,
        address=gateway_address_name(cfg) if cfg.gateway.dns_zone else None,
        route=f"{names.pool_name(cfg.stack)}-route",
        pool=names.pool_name(cfg.stack),
        objective=f"{names.pool_name(cfg.stack)}-objective",
        priority=cfg.gateway.priority,
    )


def gateway_address_name(cfg: StackConfig) -> str:
    """The regional static address a gateway uses when DNS names it (one per region)."""
    return names.resource_name(cfg.stack, f"gw-{cfg.region}", limit=63)


def pool_values(cfg: StackConfig) -> dict[str, Any]:
    """Helm values of the inferencepool chart (gateway-api-inference-extension v1.5.0 config/charts/inferencepool/
    values.yaml): the pool selects every variant's pods by their shared serving label, on the engine's port."""
    assert cfg.engine is not None
    return {
        "inferencePool": {
            "modelServers": {"matchLabels": pool_selector(cfg)},
            "targetPorts": [{"number": cfg.engine.port}],
            "modelServerType": engines.GAIE_SERVER_TYPES[cfg.engine.name],
        },
        "provider": {"name": "gke"},
        "inferenceExtension": {"image": {"tag": f"v{engines.GAIE_VERSION}", "pullPolicy": "IfNotPresent"}},
    }


def pool_selector(cfg: StackConfig) -> dict[str, str]:
    assert cfg.engine is not None
    return {names.LABEL_SERVING: engines.SERVER_NAMES[cfg.engine.name]}


def expected_pool(cfg: StackConfig) -> dict[str, Any]:
    """The InferencePool the chart makes from pool_values() (templates/inferencepool.yaml at v1.5.0: selector from
    modelServers.matchLabels, targetPorts from targetPorts), for the cross-checks and `plan --out`."""
    v = pool_values(cfg)["inferencePool"]
    return {
        "apiVersion": "inference.networking.k8s.io/v1",
        "kind": "InferencePool",
        "metadata": {"name": names.pool_name(cfg.stack), "namespace": names.namespace(cfg.stack)},
        "spec": {
            "selector": {"matchLabels": v["modelServers"]["matchLabels"]},
            "targetPorts": v["targetPorts"],
            "endpointPickerRef": {"name": f"{names.pool_name(cfg.stack)}-epp", "port": {"number": 9002}},
        },
    }
