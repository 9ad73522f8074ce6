"""Typed contexts of the serving app: the values the serving templates under ``manifests/`` read, derived from a
validated config and one serving unit (tpustack.config.units).

``PodContext`` holds what every pod of a unit shares (namespace, service account, placement, secrets);
``ServingContext`` extends it with the engine's workload, probes, caches and metrics, one per unit;
``ServiceContext`` is the one Service in front of a region's units. Templates read them as ``c.<field>``. Plain
values only, no Pulumi Outputs: the objects are rendered, validated and cross-checked before any resource is
declared. The other apps' contexts are in ``tpustack.render.jobs`` (checkpoint, benchmark, heartbeat) and
``tpustack.render.gateway`` (ComputeClasses, Inference Gateway).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tpustack.config import derived
from tpustack.config.autoscaling import scaling
from tpustack.config.model import StackConfig
from tpustack.config.offload import Offload, unit_offload
from tpustack.config.sections import MaxTextConfig, VllmConfig
from tpustack.config.units import ServingUnit
from tpustack.core import engines, images, names
from tpustack.core.catalog import TpuShape
from tpustack.core.engines import EngineName
from tpustack.core.errors import InternalError

from . import autoscaling as autoscaling_ctx
from .disagg import PdPod, pd_pod
from .gateway import serving_kv_events
from .weights import GcsMount, ScratchDir, vllm_weights

PROBE_PERIOD_S = 10
CACHE_PATH = "/xla-cache"
# `pulumi up` waits for readiness this much longer than the startup budget (image pull and scheduling).
AWAIT_SLACK_S = 900


# ----- pieces ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Accel:
    kind: str
    resource: str
    count: int
    node_selector: dict[str, str]
    tolerations: list[dict[str, str]]


@dataclass(frozen=True, kw_only=True)
class SecretRef:
    secret: str
    key: str
    env: str  # the variable the process reads it from


@dataclass(frozen=True, kw_only=True)
class Probes:
    period: int
    startup_failures: int


@dataclass(frozen=True, kw_only=True)
class Metrics:
    port: int
    path: str
    selector: dict[str, str]
    interval: str


@dataclass(frozen=True, kw_only=True)
class Hpa:
    target: dict[str, str]
    min_replicas: int
    max_replicas: int
    metric: str
    average_value: str
    selector: dict[str, str] | None = None  # an External (picker) metric's labels; None: a Pods metric


@dataclass(frozen=True, kw_only=True)
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


# ----- contexts ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class PodContext:
    namespace: str
    ksa: str
    stack: str
    privileged: bool
    hf: SecretRef | None
    accel: Accel
    hosts: int
    job_labels: dict[str, str]


@dataclass(frozen=True, kw_only=True)
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
    cache: GcsMount | None  # the stack's XLA cache over GCS FUSE (read-only on multi-host workers)
    model_mount: GcsMount | None
    model_claim: str | None  # the region's Hyperdisk ML PVC (tpustack.render.weights), mounted at model_arg
    download_dir: ScratchDir | None
    model_arg: str
    served_name: str | None
    load_format: str | None  # --load-format (the Run:ai streamer)
    offload: Offload | None  # KV cache offload to the node's memory (engine.vllm.kvOffloadGib)
    vllm: VllmConfig
    expert_parallel: bool  # vLLM --enable-expert-parallel
    xla_cache_env: str
    multihost_env: dict[str, str]
    server_command: list[str]
    leader_command: list[str]
    worker_command: list[str]
    health_path: str
    serves_selector: dict[str, str]  # what a Service in front of this unit alone selects
    service_ports: list[dict[str, Any]]
    metrics: Metrics
    hpa: Hpa | None
    maxtext: MaxText | None
    kv_events: str | None = None  # vLLM's --kv-events-config=... for the picker's precise prefix index
    pd: PdPod | None = None  # a prefill or decode pod's additions (tpustack.render.disagg)

    @property
    def url(self) -> str:
        """The engine's URL inside the cluster."""
        return names.service_url(self.name, self.namespace, self.port)


@dataclass(frozen=True, kw_only=True)
class ServiceContext:
    """The Service in front of a region's serving units (what the benchmark and the gateway reach)."""

    name: str
    namespace: str
    labels: dict[str, str]
    service_type: str
    service_selector: dict[str, str]
    service_ports: list[dict[str, Any]]
    port: int
    metrics: Metrics

    @property
    def url(self) -> str:
        return names.service_url(self.name, self.namespace, self.port)


# ----- builders -----------------------------------------------------------------------------------------------
def _accel(unit: ServingUnit) -> Accel:
    shape = unit.shape
    stack_label = {names.LABEL_STACK: names.label_value(unit.stack)}
    resource = names.TPU_RESOURCE if isinstance(shape, TpuShape) else names.GPU_RESOURCE
    tolerations = [{"key": resource, "operator": "Exists", "effect": "NoSchedule"}]
    if unit.compute_class is not None:
        # A unit provisioned by a ComputeClass lands wherever the class provisions; GKE rejects pods that pair a
        # class with system labels such as gke-accelerator, so the class alone (and the labels it gives its nodes)
        # selects.
        selector = {names.COMPUTE_CLASS_LABEL: unit.compute_class, **stack_label}
    elif isinstance(shape, TpuShape):
        selector = {
            names.TPU_ACCELERATOR_LABEL: shape.gke_accelerator,
            names.TPU_TOPOLOGY_LABEL: shape.topology,
            **stack_label,
        }
    else:
        selector = {names.GPU_ACCELERATOR_LABEL: shape.gke_accelerator, **stack_label}
    return Accel(
        kind=shape.kind,
        resource=resource,
        count=shape.chips_per_host,
        node_selector=selector,
        tolerations=tolerations,
    )


def pod_context(cfg: StackConfig, unit: ServingUnit) -> dict[str, Any]:
    """The fields every app context of a unit shares, as keyword arguments."""
    return {
        "namespace": names.namespace(cfg.stack),
        "ksa": names.SERVING_KSA,
        "stack": names.label_value(cfg.stack),
        "privileged": bool(cfg.engine and cfg.engine.privileged),
        "hf": SecretRef(secret=names.HF_SECRET, key=names.HF_SECRET_KEY, env=engines.HF_TOKEN_ENV)
        if cfg.hf_token is not None
        else None,
        "accel": _accel(unit),
        "hosts": unit.shape.hosts,
        "job_labels": {names.LABEL_APP: "tpustack-jobs", **names.common_k8s_labels(cfg.stack)},
    }


def _compile_cache(cfg: StackConfig, unit: ServingUnit) -> GcsMount | None:
    engine = cfg.engine
    if engine is None or not engine.compile_cache or unit.shape.kind != "tpu":
        return None
    # One cache per stack in its bucket, for single- and multi-host slices. Several hosts writing one GCS FUSE
    # directory race (GKE's multi-host vLLM RayService sample keeps VLLM_XLA_CACHE_PATH on local disk "to prevent
    # multi-host GCSFuse race conditions"), so on a multi-host slice only the leader's mount is writable: the
    # worker templates mount it read-only (manifests/vllm/leaderworkerset.yaml.j2). That is JAX's own rule too: its
    # persistent cache is written by process 0 only (jax/_src/compiler.py _cache_write, "Only write cache entries
    # from the first process"), and a failed write is a warning, not an error (jax_raise_persistent_cache_errors
    # defaults to false), so a worker that tries anyway keeps serving.
    cache_dir = f"{names.COMPILE_CACHE_PREFIX}/{names.stack_dir(cfg.stack)}"
    return GcsMount(bucket=cfg.results_bucket, path=CACHE_PATH, mount_options=f"implicit-dirs,only-dir={cache_dir}")


def _ports(cfg: StackConfig, unit: ServingUnit) -> tuple[int, str, list[dict[str, Any]]]:
    """(metrics port, metrics path, Service ports) of the unit's engine."""
    engine = unit.engine
    if engine is None or cfg.engine is None:
        raise InternalError("serving ports of a unit without an engine")
    port = cfg.engine.port
    http = {"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}
    if engine.metrics_port is None:
        return port, engine.metrics_path, [http]
    # Port names as the ai-on-gke JetStream sample's Service.
    return (
        engine.metrics_port,
        engine.metrics_path,
        [
            {**http, "name": "jetstream-http"},
            {
                "name": "jetstream-grpc",
                "port": engines.JETSTREAM_GRPC_PORT,
                "targetPort": engines.JETSTREAM_GRPC_PORT,
                "protocol": "TCP",
            },
            {
                "name": "metrics",
                "port": engine.metrics_port,
                "targetPort": engine.metrics_port,
                "protocol": "TCP",
            },
        ],
    )


def _hpa(cfg: StackConfig, unit: ServingUnit, name: str) -> Hpa | None:
    s = scaling(cfg)
    if s is None:
        return None
    kind = (
        {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet"}
        if unit.shape.multi_host
        else {"apiVersion": "apps/v1", "kind": "Deployment"}
    )
    return Hpa(
        target={**kind, "name": name},
        min_replicas=s.min_for(unit.replicas),
        max_replicas=s.max_replicas,
        metric=s.adapter_name,
        average_value=f"{s.target:g}",
        selector=autoscaling_ctx.external_selector(cfg, unit, s),
    )


def serving_context(cfg: StackConfig, unit: ServingUnit) -> ServingContext:
    engine, model, record = cfg.engine, cfg.model, unit.engine
    if engine is None or model is None or record is None:
        raise InternalError("serving_context needs an engine and a model (config rules ensure it)")
    name = unit.workload_name
    selector = {names.LABEL_APP: name}
    labels = {**selector, **names.common_k8s_labels(cfg.stack)}
    variant_labels = (
        {} if unit.variant is None else {names.LABEL_SERVING: record.server_name, names.LABEL_VARIANT: unit.variant}
    )
    minutes = derived.startup_minutes(cfg)
    multi = unit.shape.multi_host
    wl_ann = {names.PULUMI_TIMEOUT: str(minutes * 60 + AWAIT_SLACK_S)}
    if multi:
        wl_ann[names.PULUMI_WAIT_FOR] = "condition=Available"
        wl_ann[names.LWS_EXCLUSIVE_TOPOLOGY] = names.NODEPOOL_LABEL
    pod_labels = {
        **labels,
        **variant_labels,
        names.GKE_MODEL_LABEL: names.k8s_label_value(model.id.rstrip("/").rsplit("/", 1)[-1]),
        names.GKE_SERVER_LABEL: record.gke_server_label,
    }
    pd = pd_pod(cfg, unit)
    if pd is not None:
        pod_labels.update(pd.labels)
    cache = _compile_cache(cfg, unit)
    w = vllm_weights(cfg, unit)
    pod_ann: dict[str, str] = {}
    if isinstance(cache, GcsMount) or w.mount:
        # GKE's GCS FUSE sidecar; limits "0" = unlimited, as the GKE vLLM TPU sample sets them.
        pod_ann = {
            "gke-gcsfuse/volumes": "true",
            "gke-gcsfuse/cpu-limit": "0",
            "gke-gcsfuse/memory-limit": "0",
            "gke-gcsfuse/ephemeral-storage-limit": "0",
        }
    metrics_port, metrics_path, ports = _ports(cfg, unit)
    leader_sel = {**selector, "role": "leader"}
    server = " ".join(engines.VLLM_SERVER_COMMAND)
    hpa = _hpa(cfg, unit, name)
    return ServingContext(
        **pod_context(cfg, unit),
        name=name,
        selector=selector,
        labels=labels,
        pod_labels=pod_labels,
        leader_labels={**pod_labels, "role": "leader"},
        worker_labels={**pod_labels, "role": "worker"},
        workload_annotations=wl_ann,
        pod_annotations=pod_ann,
        image=unit.image or "",
        port=engine.port,
        tp=unit.tensor_parallel,
        replicas=None if hpa else unit.replicas,
        probes=Probes(period=PROBE_PERIOD_S, startup_failures=minutes * 60 // PROBE_PERIOD_S),
        drain_seconds=engine.drain_seconds,
        grace_seconds=engine.drain_seconds + 60,
        cache=cache,
        model_mount=w.mount,
        model_claim=w.claim,
        download_dir=w.download,
        model_arg=w.model_arg,
        served_name=w.served_name,
        load_format=w.load_format,
        offload=unit_offload(cfg, unit),
        vllm=unit.settings if isinstance(unit.settings, VllmConfig) else VllmConfig(),
        expert_parallel=expert_parallel(cfg, unit),
        xla_cache_env=engines.XLA_CACHE_ENV,
        multihost_env=dict(engines.TPU_MULTIHOST_ENV) if multi and unit.shape.kind == "tpu" else {},
        server_command=list(engines.VLLM_SERVER_COMMAND),
        leader_command=[
            "sh",
            "-c",
            f'bash {engines.VLLM_RAY_BOOTSTRAP} leader --ray_cluster_size=$(LWS_GROUP_SIZE) && exec {server} "$@"',
            "vllm",
        ],
        worker_command=["sh", "-c", f"bash {engines.VLLM_RAY_BOOTSTRAP} worker --ray_address=$(LWS_LEADER_ADDRESS)"],
        health_path=record.health_path,
        serves_selector={names.LWS_NAME_LABEL: name, "role": "leader"} if multi else selector,
        service_ports=ports,
        metrics=Metrics(
            port=metrics_port, path=metrics_path, selector=leader_sel if multi else selector, interval="15s"
        ),
        hpa=hpa,
        maxtext=maxtext_context(cfg, unit) if record.name is EngineName.JETSTREAM_MAXTEXT else None,
        kv_events=serving_kv_events(cfg) if record.name is EngineName.VLLM else None,
        pd=pd,
    )


def expert_parallel(cfg: StackConfig, unit: ServingUnit) -> bool:
    """vLLM's --enable-expert-parallel: as the stack says; by default on for a mixture-of-experts model on TPUs
    (every tpu-recipes vLLM MoE recipe passes it: Qwen3.5-397B and Qwen3-Coder-480B on tpu7x)."""
    settings = unit.settings
    if not isinstance(settings, VllmConfig):
        return False
    if settings.expert_parallel is not None:
        return settings.expert_parallel
    return unit.shape.kind == "tpu" and cfg.served is not None and cfg.served.moe


def service_context(cfg: StackConfig, units: list[ServingContext], grouped: bool) -> ServiceContext:
    """The Service in front of a region's serving units: one unit's own pods, or, when the units are a group of
    variants, every pod with the serving label (the InferencePool selects the same)."""
    if cfg.engine is None or not units:
        raise InternalError("service_context needs an engine and at least one serving unit")
    first = units[0]
    base = cfg.engine.record.server_name
    return ServiceContext(
        name=base,
        namespace=first.namespace,
        labels={names.LABEL_APP: base, **names.common_k8s_labels(cfg.stack)},
        service_type=cfg.engine.service_type,
        service_selector={names.LABEL_SERVING: base} if grouped else first.serves_selector,
        service_ports=first.service_ports,
        port=first.port,
        metrics=first.metrics,
    )


# ----- JetStream MaxText ------------------------------------------------------------------------------------------
def checkpoint_output(cfg: StackConfig) -> str:
    if cfg.served is None or not cfg.served.maxtext:
        raise InternalError("a MaxText checkpoint needs a model with a MaxText name (config rules ensure it)")
    # Under the stack's own folder: the workload SA may write nowhere else in the bucket.
    return f"gs://{cfg.results_bucket}/{names.stack_dir(cfg.stack)}/maxtext/{cfg.served.maxtext}"


# Polls for a gs:// object with the GCS client MaxText itself uses (etils.epath, generate_param_only_checkpoint).
EXISTS = "import sys; from etils import epath; sys.exit(0 if epath.Path(sys.argv[1]).exists() else 1)"


def wait_for_object_script(uri_var: str = "$0") -> str:
    """bash: block until a gs:// object exists (the server's initContainer waits for the checkpoint marker)."""
    return (
        f'until python3 -c "{EXISTS}" "{uri_var}"; do echo "waiting for {uri_var}"; sleep 30; done; '
        f'echo "found {uri_var}"'
    )


def maxtext_context(cfg: StackConfig, unit: ServingUnit) -> MaxText:
    model, served = cfg.model, cfg.served
    if model is None or served is None or not served.maxtext:
        raise InternalError("a MaxText server needs a model with a MaxText name (config rules ensure it)")
    mt = unit.settings if isinstance(unit.settings, MaxTextConfig) else MaxTextConfig()
    family = derived.maxtext_family(cfg) or ""
    facts = images.JETSTREAM_ENGINE
    gcs = model.source == "gcs"
    out = None if gcs else checkpoint_output(cfg)
    return MaxText(
        model_name=served.maxtext,
        tokenizer_path=facts.tokenizers[family],
        tokenizer_type=images.MAXTEXT_FAMILIES[family][0],
        per_device_batch_size=mt.per_device_batch_size,
        max_prefill_predict_length=mt.max_prefill_predict_length,
        max_target_length=mt.max_target_length,
        scan_layers=mt.scan_layers,
        weight_dtype=mt.weight_dtype,
        # generate_param_only_checkpoint writes <base_output_directory>/<run_name>/checkpoints/0/items
        load_parameters_path=model.id if gcs else f"{out}/{images.MAXTEXT_UNSCANNED_RUN}/checkpoints/0/items",
        grpc_port=engines.JETSTREAM_GRPC_PORT,
        metrics_port=engines.JETSTREAM_METRICS_PORT,
        http_image=engines.JETSTREAM_HTTP_IMAGE,
        command=list(facts.command),
        workdir=facts.paths["workdir"],
        ready_marker=None if gcs else f"{out}/{images.MAXTEXT_READY_MARKER}",
        wait_script=wait_for_object_script(),
    )
