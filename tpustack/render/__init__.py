"""Rendering: ``manifests/**/*.j2`` -> typed per-app context -> text -> parsed objects -> schema -> cross-checks.

Apps of a gke stack, each one ConfigGroup (tpustack.components.serving), in apply order:
  checkpoint  JetStream MaxText only: the Job that converts the Hugging Face checkpoint into GCS
  serving     the engine (Deployment, or LeaderWorkerSet for a multi-host slice), Service,
              PodDisruptionBudget, PodMonitoring, opt-in HPA
  benchmark   the pod payload and spec ConfigMaps, the serving-benchmark Job
  heartbeat   a gke stack with a workload and no engine: pod payload ConfigMap, the matmul heartbeat Job
Not rendered here: the Namespace, the Workload Identity KSA and the Hugging Face token Secret; their values
are Pulumi Outputs, so the Serving component declares them as typed resources.

A TPU VM's startup script (``manifests/tpu-vm/startup.sh.j2``) renders through the same environment.
Every failure is a ConfigError whose problems name the config key (or template) and the fix.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from tpustack.config import derived, rules
from tpustack.config.model import StackConfig
from tpustack.core import engines, names
from tpustack.core.errors import ConfigError, problem

from . import context as ctx
from .checks import cross_problems, variant_problems
from .env import render_text
from .payload import Payload, payload
from .rendered import Rendered
from .schema import schema_problems

HEARTBEAT_ENTRY = "tpustack.workloads.heartbeat"
BENCH_ENTRY = "tpustack.workloads.serving_bench"

# Which templates make each app (apply order inside an app: config before workloads).
SERVING_TEMPLATES = {
    "vllm": ["vllm/deployment.yaml.j2"],
    "vllm-multihost": ["vllm/leaderworkerset.yaml.j2"],
    "jetstream-maxtext": ["jetstream-maxtext/deployment.yaml.j2"],
}
SERVING_EXTRAS = ["serving/service.yaml.j2", "serving/pdb.yaml.j2", "serving/podmonitoring.yaml.j2"]
CHECKPOINT_TEMPLATES = ["jetstream-maxtext/checkpoint-job.yaml.j2"]
BENCHMARK_TEMPLATES = ["_lib/workloads-configmap.yaml.j2", "benchmark/spec-configmap.yaml.j2", "benchmark/job.yaml.j2"]
HEARTBEAT_TEMPLATES = ["_lib/workloads-configmap.yaml.j2", "heartbeat/job.yaml.j2"]
TPU_VM_STARTUP = "tpu-vm/startup.sh.j2"
CAPACITY_TEMPLATES = ["capacity/computeclass.yaml.j2"]
GATEWAY_TEMPLATES = ["gateway/gateway.yaml.j2"]
GATEWAY_READER_TEMPLATE = "benchmark/gateway-reader.yaml.j2"

__all__ = ["Rendered", "render", "render_template", "tpu_vm_startup", "payload", "Payload"]


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


def app_templates(cfg: StackConfig) -> dict[str, tuple[list[str], Any]]:
    """{app: (templates, context)} of a gke stack, in apply order."""
    out: dict[str, tuple[list[str], Any]] = {}
    if cfg.engine is not None:
        serving = ctx.serving_context(cfg)
        if cfg.engine.name == "jetstream-maxtext" and cfg.model is not None and cfg.model.source == "huggingface":
            out["checkpoint"] = (list(CHECKPOINT_TEMPLATES), ctx.checkpoint_context(cfg))
        key = "vllm-multihost" if cfg.engine.name == "vllm" and cfg.shape.multi_host else cfg.engine.name
        templates = SERVING_TEMPLATES[key] + SERVING_EXTRAS
        if cfg.engine.hpa_max_replicas:
            templates = templates + ["serving/hpa.yaml.j2"]
        out["serving"] = (templates, serving)
        if cfg.benchmark is not None:
            out["benchmark"] = (list(BENCHMARK_TEMPLATES), ctx.benchmark_context(cfg, serving, payload(BENCH_ENTRY)))
    elif cfg.workload is not None:
        out["heartbeat"] = (list(HEARTBEAT_TEMPLATES), ctx.heartbeat_context(cfg, payload(HEARTBEAT_ENTRY)))
    return out


def _add(rendered: Rendered, app: str, templates: list[str], context: Any) -> list[dict]:
    objs = []
    for t in templates:
        for o in render_template(t, context):
            rendered.sources[id(o)] = f"manifests/{t}"
            objs.append(o)
    rendered.apps.setdefault(app, []).extend(objs)
    return objs


def _render_variants(cfg: StackConfig, rendered: Rendered) -> Rendered:
    """A stack with serving variants: a ComputeClass and a Deployment per variant, one Service over all of them,
    the Inference Gateway objects, and one benchmark Job through the gateway (or the Service)."""
    assert cfg.engine is not None
    found: list = []
    _add(rendered, "capacity", list(CAPACITY_TEMPLATES), ctx.capacity_context(cfg))
    first = None
    for vc in cfg.variant_configs():
        serving = ctx.serving_context(vc)
        first = first or serving
        templates = SERVING_TEMPLATES[vc.engine.name if vc.engine else "vllm"] + SERVING_EXTRAS[1:]
        if cfg.engine.hpa_max_replicas:
            templates = templates + ["serving/hpa.yaml.j2"]
        one = Rendered(cluster_minor=rendered.cluster_minor, secrets=rendered.secrets)
        objs = _add(one, "serving", templates, serving)
        rendered.sources.update(one.sources)
        rendered.apps.setdefault("serving", []).extend(objs)
        # every check a single-accelerator stack gets, against this variant's accelerator
        found += [p for p in cross_problems(vc, one) if p not in found]
    assert first is not None
    base = engines.SERVER_NAMES[cfg.engine.name]
    service = dataclasses.replace(
        first, name=base, labels={names.LABEL_APP: base, **names.common_k8s_labels(cfg.stack)}
    )
    _add(rendered, "serving", ["serving/service.yaml.j2"], service)
    if cfg.gateway is not None:
        _add(rendered, "gateway", list(GATEWAY_TEMPLATES), ctx.gateway_context(cfg))
    if cfg.benchmark is not None:
        bench = ctx.benchmark_context(cfg, service, payload(BENCH_ENTRY))
        templates = list(BENCHMARK_TEMPLATES)
        if cfg.gateway is not None:
            templates.insert(0, GATEWAY_READER_TEMPLATE)
        _add(rendered, "benchmark", templates, bench)
    found += list(schema_problems(rendered))
    found += list(variant_problems(cfg, rendered))
    if found:
        raise ConfigError(found, cfg.stack)
    return rendered


def render(cfg: StackConfig) -> Rendered:
    """Render, validate and cross-check every Kubernetes object of a gke stack.

    Raises ConfigError listing every problem. A stack that is not on GKE has no objects.
    """
    rendered = Rendered(cluster_minor=derived.cluster_minor(cfg) if cfg.target == "gke" else "")
    if cfg.target != "gke" or not cfg.is_experiment:
        return rendered
    # The templates rely on the config rules; a config built around the loader is checked here too.
    broken = rules.problems(cfg)
    if broken:
        raise ConfigError(broken, cfg.stack)
    if cfg.hf_token is not None:
        rendered.secrets[names.HF_SECRET] = {names.HF_SECRET_KEY}
    if cfg.variants:
        return _render_variants(cfg, rendered)
    for app, (templates, context) in app_templates(cfg).items():
        objs = []
        for t in templates:
            for o in render_template(t, context):
                rendered.sources[id(o)] = f"manifests/{t}"
                objs.append(o)
        rendered.apps[app] = objs
    found = list(schema_problems(rendered))
    found += list(cross_problems(cfg, rendered))
    if found:
        raise ConfigError(found, cfg.stack)
    return rendered


def tpu_vm_startup(cfg: StackConfig, workloads_uri: str, results_prefix: str, vm_name: str) -> str:
    """The startup script of a tpu-vm stack: copy the heartbeat payload, install PyTorch/XLA, run it once."""
    w = cfg.workload
    if w is None:
        raise ValueError("tpu_vm_startup needs a workload (config rules ensure a tpu-vm stack has one)")
    return render_text(
        TPU_VM_STARTUP,
        vm_name=vm_name,
        stack=cfg.stack,
        workloads_uri=workloads_uri,
        results_prefix=results_prefix,
        pip_packages=engines.TPU_VM_PIP_PACKAGES,
        module=HEARTBEAT_ENTRY,
        backend="xla",
        dtype=w.dtype,
        shape=",".join(map(str, w.shape)),
        iterations=w.iterations,
        accelerator=cfg.shape.name,
    )
