"""Typed contexts of the stack's Jobs: the JetStream checkpoint conversion, the weights staging Job, the serving
benchmark and the GKE heartbeat. Each is built from the config, a serving unit and, for pod code, its payload
(tpustack.render.payload).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from tpustack.config.cold_start import unit_estimate
from tpustack.config.model import StackConfig
from tpustack.config.units import Role, ServingUnit
from tpustack.core import images, names
from tpustack.core.contracts import SpecGateway, SpecPods
from tpustack.core.errors import InternalError
from tpustack.workloads import tools

from . import bench as bench_spec
from .context import EXISTS, PodContext, ServiceContext, ServingContext, checkpoint_output, pod_context
from .payload import CONFIGMAP_NAME, MOUNT_PATH, Payload


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
class StageJob:
    job_name: str
    image: str
    labels: dict[str, str]
    annotations: dict[str, str]
    args: list[str]
    scratch: str


@dataclass(frozen=True, kw_only=True)
class WorkloadCode:
    """The pod payload as a ConfigMap (tpustack.render.payload)."""

    name: str
    module: str
    mount_path: str
    data: dict[str, str]
    mount_items: list[dict[str, str]]


@dataclass(frozen=True, kw_only=True)
class BenchJob:
    job_name: str
    spec_name: str
    spec_dir: str
    spec_path: str
    image: str
    spec_json: str
    annotations: dict[str, str]


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
class CheckpointContext(PodContext):
    checkpoint: Checkpoint


@dataclass(frozen=True, kw_only=True)
class StageContext(PodContext):
    workloads: WorkloadCode
    stage: StageJob


@dataclass(frozen=True, kw_only=True)
class BenchmarkContext(PodContext):
    workloads: WorkloadCode
    bench: BenchJob


@dataclass(frozen=True, kw_only=True)
class HeartbeatContext(PodContext):
    workloads: WorkloadCode
    heartbeat: HeartbeatJob


def checkpoint_context(cfg: StackConfig, unit: ServingUnit) -> CheckpointContext:
    """The Hugging Face -> unscanned MaxText checkpoint Job of a JetStream stack, run in the server's own image
    (MaxText's two steps, end_to_end/tpu/llama3.1/8b/3_test_llama3.1_8b.sh). Idempotent: it exits at once when the
    READY marker is there, and writes the marker last, so the server never loads a half-written checkpoint."""
    served = cfg.served
    if served is None or not served.maxtext or unit.image is None:
        raise InternalError("the checkpoint Job needs a MaxText model and an engine image (config rules ensure it)")
    weights = served.weights_gib
    out = checkpoint_output(cfg)
    script = "\n".join(
        [
            "set -euo pipefail",
            f'if python3 -c "{EXISTS}" "$OUT/{images.MAXTEXT_READY_MARKER}"; then '
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
            f'run_name={images.MAXTEXT_UNSCANNED_RUN} model_name="$MODEL_NAME" force_unroll=true '
            "weight_dtype=bfloat16 opt_type=sgd",
            'python3 -c "import os; from etils import epath; '
            f"epath.Path(os.environ['OUT'] + '/{images.MAXTEXT_READY_MARKER}').write_text("
            f"os.environ['OUT'] + '/{images.MAXTEXT_UNSCANNED_RUN}/checkpoints/0/items')\"",
        ]
    )
    return CheckpointContext(
        **pod_context(cfg, unit),
        checkpoint=Checkpoint(
            job_name="maxtext-checkpoint",
            image=unit.image,
            labels={names.LABEL_APP: "maxtext-checkpoint", **names.common_k8s_labels(cfg.stack)},
            # pulumi up waits for the Job to complete before the server (components/serving.py); its default 10
            # minutes is too short for a download plus two conversions
            annotations={names.PULUMI_TIMEOUT: str(1800 + 120 * math.ceil(weights))},
            workdir=images.JETSTREAM_ENGINE.paths["workdir"],
            script=script,
            env={"JAX_PLATFORMS": "cpu", "OUT": out, "HF_REPO": served.id, "MODEL_NAME": served.maxtext},
            # The safetensors, then scanned and unscanned trees in host RAM while converting on CPU.
            cpu="8",
            memory=f"{math.ceil(weights * 3) + 8}Gi",
            scratch=f"{math.ceil(weights * 1.2) + 10}Gi",
        ),
    )


STAGE_CONFIGMAP = "tpustack-stage-workloads"
# The staging Job's scratch holds one file at a time: the largest safetensors shard (transformers' save_pretrained
# shards at 5 GB by default; a few repos keep one file of a whole 8B model, ~16 GB).
STAGE_SCRATCH_GIB = 24


def stage_context(cfg: StackConfig, unit: ServingUnit, code: Payload) -> StageContext:
    """The Job that copies a Hub model's weights into model.stage once, before any server (pulumi up awaits it:
    the checkpoint app comes before the serving app), in the server's own image, on the system pool."""
    model, served = cfg.model, cfg.served
    if model is None or model.stage is None or unit.image is None:
        raise InternalError("the staging Job needs a staged model and an engine image (config rules ensure it)")
    gib = served.weights_gib if served else 0.0
    return StageContext(
        **pod_context(cfg, unit),
        workloads=workload_code(code, STAGE_CONFIGMAP),
        stage=StageJob(
            job_name="stage-weights",
            image=unit.image,
            labels={names.LABEL_APP: "stage-weights", **names.common_k8s_labels(cfg.stack)},
            # Hub download and GCS upload, each ~10 s per GiB at ~100 MB/s, and slack
            annotations={names.PULUMI_TIMEOUT: str(1800 + 30 * math.ceil(gib))},
            args=["--repo", model.id, "--dest", model.stage, "--local-dir", "/data/hf"],
            scratch=f"{min(STAGE_SCRATCH_GIB, math.ceil(gib) + 2)}Gi",
        ),
    )


def workload_code(payload: Payload, name: str = CONFIGMAP_NAME) -> WorkloadCode:
    return WorkloadCode(
        name=name,
        module=payload.entry,
        mount_path=MOUNT_PATH,
        data=payload.configmap_data(),
        mount_items=payload.mount_items(),
    )


def _pods(cfg: StackConfig, unit: ServingUnit, service: ServiceContext) -> SpecPods:
    """The serving pods whose cold start the runner reads, with the plan's estimate to set beside it."""
    pods: SpecPods = {"namespace": service.namespace, "selector": dict(service.service_selector)}
    est = unit_estimate(cfg, unit)
    if est is not None:
        pods["estimate"] = est.to_json()
    return pods


def role_metrics_urls(units: tuple[ServingUnit, ...], servings: list[ServingContext]) -> dict[str, str]:
    """P/D: each role's headless Service (manifests/serving/role-metrics-service.yaml.j2), which the runner
    resolves to the role's pods and scrapes one by one."""
    out = {}
    for u, s in zip(units, servings, strict=True):
        if u.role is not Role.SERVE:
            port = s.pd.engine_port if s.pd else s.port
            out[u.role.value] = f"{names.service_url(s.name + '-metrics', s.namespace, port)}{s.metrics.path}"
    return out


def benchmark_context(
    cfg: StackConfig,
    units: tuple[ServingUnit, ...],
    service: ServiceContext,
    payload: Payload,
    servings: list[ServingContext] | None = None,
) -> BenchmarkContext:
    """The benchmark Job of a region: the load model against the region's Service (or its Inference Gateway)."""
    unit = units[0]
    host = names.service_url(service.name, service.namespace)
    metrics_url = f"{host}:{service.metrics.port}{service.metrics.path}"
    results_uri = f"gs://{cfg.results_bucket}/{names.stack_dir(cfg.stack)}/serving-bench"
    gateway: SpecGateway | None = None
    if cfg.gateway is not None:
        gateway = {"namespace": service.namespace, "name": names.GATEWAY_NAME, "port": cfg.gateway.port}
    doc = bench_spec.bench_spec(
        cfg,
        units,
        base_url=service.url,
        metrics_url=metrics_url,
        results_uri=results_uri,
        git_revision=payload.revision(),
        gateway=gateway,
        pods=_pods(cfg, unit, service),
        role_metrics_urls=role_metrics_urls(units, servings) if servings else None,
    )
    image = doc["metadata"].get("tool_image") or tools.tool(doc["tool"]).facts.image or ""
    return BenchmarkContext(
        **pod_context(cfg, unit),
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


def heartbeat_context(cfg: StackConfig, unit: ServingUnit, payload: Payload) -> HeartbeatContext:
    w = cfg.workload
    if w is None:
        raise InternalError("heartbeat_context needs a workload (config rules ensure it)")
    kind = unit.shape.kind
    return HeartbeatContext(
        **pod_context(cfg, unit),
        workloads=workload_code(payload),
        heartbeat=HeartbeatJob(
            job_name="heartbeat",
            image=images.HEARTBEAT_IMAGES[kind],
            backend="xla" if kind == "tpu" else "cuda",
            dtype=w.dtype,
            shape=",".join(str(x) for x in w.shape),
            iterations=w.iterations,
            accelerator=unit.shape.name,
            out=f"gs://{cfg.results_bucket}/{names.stack_dir(cfg.stack)}/$(POD_NAME)/heartbeat.json",
            annotations={names.PULUMI_TIMEOUT: "1800"},
        ),
    )
