"""Rendering: ``manifests/**/*.j2`` -> typed contexts -> text -> parsed objects -> schema -> cross-checks.

A gke stack renders once per region it serves in (``render_stack``), every region before any resource is
declared. A region's apps, each one ConfigGroup (tpustack.components.serving), in apply order:
  capacity    a GKE ComputeClass per unit that GKE provisions from its capacity priorities
  checkpoint  the Job that readies the weights in GCS before the servers: JetStream's MaxText conversion, or
              vLLM's staging of Hub weights (model.stage)
  weights     with model.weights hyperdisk-ml: the Hyperdisk ML volume GKE Volume Populator fills once from the
              weights in GCS (transfer ComputeClass, StorageClass, KSA, GCPDataSource, ReadOnlyMany PVC)
  serving     per unit the engine (Deployment, or LeaderWorkerSet for a multi-host slice), PodDisruptionBudget,
              PodMonitoring, opt-in HPA; one Service in front of the region's units
  autoscaling with an HPA: the Custom Metrics Stackdriver Adapter (namespace custom-metrics, its RBAC, the
              custom/external metrics APIServices) that serves the HPA's metric
  gateway     GKE Inference Gateway: Gateway, HTTPRoute, InferenceObjective
  benchmark   the pod payload and spec ConfigMaps, the serving-benchmark Job
  heartbeat   a gke stack with a workload and no engine: pod payload ConfigMap, the matmul heartbeat Job
Not rendered here: the Namespace, the Workload Identity KSA and the Hugging Face token Secret; their values
are Pulumi Outputs, so the Serving component declares them as typed resources.

A TPU VM's startup script (``manifests/tpu-vm/startup.sh.j2``) renders through the same environment.
Every failure is a ConfigError whose problems name the config key (or template) and the fix.
"""

from __future__ import annotations

from typing import Any

import yaml

from tpustack.config import derived, rules
from tpustack.config.model import StackConfig
from tpustack.config.units import Region, Role, ServingUnit
from tpustack.core import images, names
from tpustack.core.engines import EngineName
from tpustack.core.errors import ConfigError, InternalError, Problem, problem

from . import autoscaling, gateway, jobs
from . import context as ctx
from . import weights as weights_app
from .checks import cross_problems
from .env import render_text
from .payload import Payload, payload
from .rendered import Rendered
from .schema import schema_problems
from .selection import grouped, selection_problems

HEARTBEAT_ENTRY = "tpustack.workloads.heartbeat"
BENCH_ENTRY = "tpustack.workloads.serving_bench"
STAGE_ENTRY = "tpustack.workloads.stage_weights"

# The engine's workload template per engine: (one host, a multi-host slice).
WORKLOAD_TEMPLATES: dict[EngineName, tuple[str, str | None]] = {
    EngineName.VLLM: ("vllm/deployment.yaml.j2", "vllm/leaderworkerset.yaml.j2"),
    EngineName.JETSTREAM_MAXTEXT: ("jetstream-maxtext/deployment.yaml.j2", None),
}
UNIT_EXTRAS = ["serving/pdb.yaml.j2", "serving/podmonitoring.yaml.j2"]
HPA_TEMPLATE = "serving/hpa.yaml.j2"
SERVICE_TEMPLATE = "serving/service.yaml.j2"
CHECKPOINT_TEMPLATES = ["jetstream-maxtext/checkpoint-job.yaml.j2"]
STAGE_TEMPLATES = ["_lib/workloads-configmap.yaml.j2", "vllm/stage-job.yaml.j2"]
HYPERDISK_TEMPLATES = ["vllm/hyperdisk-ml.yaml.j2"]
ROLE_METRICS_TEMPLATE = "serving/role-metrics-service.yaml.j2"
BENCHMARK_TEMPLATES = ["_lib/workloads-configmap.yaml.j2", "benchmark/spec-configmap.yaml.j2", "benchmark/job.yaml.j2"]
HEARTBEAT_TEMPLATES = ["_lib/workloads-configmap.yaml.j2", "heartbeat/job.yaml.j2"]
TPU_VM_STARTUP = "tpu-vm/startup.sh.j2"
CAPACITY_TEMPLATES = ["capacity/computeclass.yaml.j2"]
GATEWAY_TEMPLATES = ["gateway/gateway.yaml.j2"]
GATEWAY_READER_TEMPLATE = "benchmark/gateway-reader.yaml.j2"
POD_READER_TEMPLATE = "benchmark/pod-reader.yaml.j2"  # the serving pods' cold start (tpustack.workloads.cold_start)

__all__ = ["Payload", "Rendered", "payload", "render", "render_stack", "render_template", "tpu_vm_startup"]


def render_template(template: str, context: Any) -> list[dict]:
    """One template's objects (``c`` in the template is the app context)."""
    text = render_text(template, c=context)
    try:
        return [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as e:
        raise ConfigError(
            [
                problem(
                    f"manifests/{template}",
                    f"renders to invalid YAML ({e})",
                    "fix the template; `tpustack plan --out DIR` shows what it rendered",
                )
            ]
        ) from None


def _add(r: Rendered, app: str, templates: list[str], context: Any, owner: ServingUnit | None = None) -> None:
    for t in templates:
        for o in render_template(t, context):
            r.sources[id(o)] = f"manifests/{t}"
            if owner is not None:
                r.owners[id(o)] = (owner.keys.unit, app)
            r.apps.setdefault(app, []).append(o)


def workload_template(unit: ServingUnit) -> str:
    if unit.engine is None:
        raise InternalError("workload_template of a unit without an engine")
    single, multi = WORKLOAD_TEMPLATES[unit.engine.name]
    if unit.shape.multi_host:
        if multi is None:  # config rules: the engine serves single-host only
            raise InternalError(f"{unit.engine.name} has no multi-host workload")
        return multi
    return single


def _render_serving(cfg: StackConfig, r: Rendered) -> None:
    """Capacity, checkpoint, serving, gateway and benchmark apps of a region whose stack runs an engine."""
    if cfg.engine is None or cfg.model is None:
        raise InternalError("_render_serving needs an engine and a model (config rules ensure it)")
    classes = gateway.capacity_context(cfg, r.units)
    if classes.classes:
        _add(r, "capacity", list(CAPACITY_TEMPLATES), classes)
    # One Service in front of the region's units: a group of variants shares it (after them all); a single
    # unit's Service follows its workload, as the GKE samples list them.
    group = grouped(r)
    if cfg.model.stage is not None:  # once per cluster, before its servers
        _add(r, "checkpoint", list(STAGE_TEMPLATES), jobs.stage_context(cfg, r.units[0], payload(STAGE_ENTRY)))
    volume = weights_app.hyperdisk_context(cfg, r.region) if r.region is not None else None
    if volume is not None:  # once per cluster, after the staging (the copy reads what it staged)
        _add(r, "weights", list(HYPERDISK_TEMPLATES), volume)
    servings = []
    for unit in r.units:
        if cfg.engine.name is EngineName.JETSTREAM_MAXTEXT and cfg.model.source == "huggingface":
            _add(r, "checkpoint", list(CHECKPOINT_TEMPLATES), jobs.checkpoint_context(cfg, unit), owner=unit)
        serving = ctx.serving_context(cfg, unit)
        servings.append(serving)
        _add(r, "serving", [workload_template(unit)], serving, owner=unit)
        if not group:
            _add(r, "serving", [SERVICE_TEMPLATE], ctx.service_context(cfg, [serving], grouped=False))
        extras = UNIT_EXTRAS + ([HPA_TEMPLATE] if serving.hpa is not None else [])
        if unit.role is not Role.SERVE:  # a P/D role's own pods, for its per-role metrics
            extras = [*extras, ROLE_METRICS_TEMPLATE]
        _add(r, "serving", extras, serving, owner=unit)
    if any(s.hpa is not None for s in servings):
        _add(r, "autoscaling", list(autoscaling.ADAPTER_TEMPLATES), autoscaling.adapter_context(cfg))
    service = ctx.service_context(cfg, servings, grouped=group)
    if group:
        _add(r, "serving", [SERVICE_TEMPLATE], service)
    if cfg.gateway is not None and r.region is not None:
        _add(r, "gateway", list(GATEWAY_TEMPLATES), gateway.gateway_context(cfg, r.region))
    if cfg.benchmark is not None:
        bench = jobs.benchmark_context(cfg, r.units, service, payload(BENCH_ENTRY), servings)
        templates = ([GATEWAY_READER_TEMPLATE] if cfg.gateway is not None else []) + [POD_READER_TEMPLATE]
        templates += BENCHMARK_TEMPLATES
        _add(r, "benchmark", templates, bench)


def render(cfg: StackConfig, region: Region | None = None) -> Rendered:
    """Render, validate and cross-check every Kubernetes object of one region of a gke stack (its own region
    unless told otherwise).

    Raises ConfigError listing every problem. A stack that is not on GKE has no objects.
    """
    region = region or cfg.serving_regions[0]
    minor = derived.cluster_minor(cfg) if cfg.target == "gke" else ""
    rendered = Rendered(cluster_minor=minor, region=region, units=cfg.units_in(region))
    if cfg.target != "gke" or not cfg.is_experiment:
        return rendered
    # The templates rely on the config rules; a config built around the loader is checked here too.
    broken = rules.problems(cfg)
    if broken:
        raise ConfigError(broken, cfg.stack)
    if cfg.hf_token is not None:
        rendered.secrets[names.HF_SECRET] = {names.HF_SECRET_KEY}
    if cfg.engine is not None:
        _render_serving(cfg, rendered)
    elif cfg.workload is not None and rendered.units:
        unit = rendered.units[0]
        _add(
            rendered,
            "heartbeat",
            list(HEARTBEAT_TEMPLATES),
            jobs.heartbeat_context(cfg, unit, payload(HEARTBEAT_ENTRY)),
            owner=unit,
        )
    found: dict[Problem, None] = {}
    for ps in (
        schema_problems(rendered),
        cross_problems(cfg, rendered),
        selection_problems(cfg, rendered),
        autoscaling.autoscaling_problems(cfg, rendered),
    ):
        found.update(dict.fromkeys(ps))
    if found:
        raise ConfigError(list(found), cfg.stack)
    return rendered


def render_stack(cfg: StackConfig) -> tuple[Rendered, ...]:
    """Every region of a stack rendered and checked, in the stack's region order (raises on the first region
    with problems, before the program declares anything)."""
    return tuple(render(cfg, region) for region in cfg.serving_regions)


def tpu_vm_startup(cfg: StackConfig, unit: ServingUnit, workloads_uri: str, results_prefix: str, vm_name: str) -> str:
    """The startup script of a tpu-vm stack: copy the heartbeat payload, install PyTorch/XLA, run it once."""
    w = cfg.workload
    if w is None:
        raise InternalError("tpu_vm_startup needs a workload (config rules ensure a tpu-vm stack has one)")
    return render_text(
        TPU_VM_STARTUP,
        vm_name=vm_name,
        stack=cfg.stack,
        workloads_uri=workloads_uri,
        results_prefix=results_prefix,
        pip_packages=images.TPU_VM_PIP_PACKAGES,
        module=HEARTBEAT_ENTRY,
        backend="xla",
        dtype=w.dtype,
        shape=",".join(map(str, w.shape)),
        iterations=w.iterations,
        accelerator=unit.shape.name,
    )
