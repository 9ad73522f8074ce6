"""Cross-field rules of a stack config: one small function per rule, each yielding typed ``Problem``s.

``problems(cfg)`` runs every rule over a config whose fields already passed their own validation; the loader
raises one ``ConfigError`` with all of them, before any resource is declared. Rules that need an accelerator
run only when the stack has one. Sources of the capacity rules: cluster-toolkit
``modules/compute/gke-node-pool`` (validations) and the GKE / Cloud TPU docs; engine facts come from
``tpustack.core.engines``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tpustack.core import catalog, engines
from tpustack.core.catalog import TpuShape
from tpustack.core.errors import Problem, problem
from tpustack.core.secrets import secret_in

from . import derived
from .model import NAMESPACE, StackConfig

Rule = Callable[[StackConfig], Iterator[Problem]]


# ----- target ----------------------------------------------------------------------------------------------------
def results_stack_owns_only_the_bucket(c: StackConfig) -> Iterator[Problem]:
    if c.target != "results":
        return
    for k in ("accelerator", "model", "engine", "workload", "benchmark"):
        if getattr(c, k):
            yield problem(
                f"tpustack:{k}",
                "a results stack only owns the results bucket",
                f"remove tpustack:{k}, or set tpustack:target to gke / tpu-vm for an experiment",
            )


def experiment_has_accelerator(c: StackConfig) -> Iterator[Problem]:
    if c.is_experiment and c.accelerator is None:
        yield problem(
            "tpustack:accelerator",
            f"a {c.target} stack needs an accelerator",
            "set it to a catalog name, e.g. v6e-8, v5litepod-1 or h100-8 (`tpustack catalog`)",
        )


# ----- accelerator -----------------------------------------------------------------------------------------------
def topology_matches_catalog(c: StackConfig) -> Iterator[Problem]:
    a, shape = c.accelerator, c.shape
    if a is None or a.topology is None:
        return
    if not isinstance(shape, TpuShape):
        yield problem(
            "tpustack:accelerator.topology",
            f"{shape.name} is a GPU machine and has no TPU topology",
            "remove accelerator.topology",
        )
    elif a.topology != shape.topology:
        other = catalog.tpu_shape(shape.family, a.topology)
        fix = (
            f"use accelerator.type {other.name} for topology {a.topology}"
            if other
            else f"valid {shape.family} topologies: "
            + ", ".join(shape.generation.single_host_topologies + shape.generation.multi_host_topologies)
        )
        yield problem(
            "tpustack:accelerator.topology",
            f"{shape.name} is topology {shape.topology} ({shape.chips} chips), not {a.topology}",
            fix,
        )


def machine_type_matches_catalog(c: StackConfig) -> Iterator[Problem]:
    a, shape = c.accelerator, c.shape
    if a is None or a.machine_type is None or a.machine_type == shape.machine_type:
        return
    other = catalog.by_machine_type(a.machine_type)
    held = (
        f"{a.machine_type} holds {other.chips_per_host} chips per host"
        if other
        else f"{a.machine_type} is not a machine type tpustack knows"
    )
    yield problem(
        "tpustack:accelerator.machineType",
        f"{held}, but {shape.name} needs {shape.machine_type} ({shape.chips_per_host} per host)",
        f"remove machineType or set it to {shape.machine_type}",
    )


def zones_in_region(c: StackConfig) -> Iterator[Problem]:
    for z in c.zones:
        if not z.startswith(c.region + "-"):
            yield problem(
                "tpustack:zones",
                f"zone {z} is not in region {c.region}",
                f"use zones of {c.region} (e.g. {c.region}-a) or change tpustack:region",
            )


# ----- TPU VM ----------------------------------------------------------------------------------------------------
def tpu_vm_is_a_tpu_with_runtime(c: StackConfig) -> Iterator[Problem]:
    shape = c.shape
    if c.target != "tpu-vm":
        return
    if not isinstance(shape, TpuShape):
        yield problem(
            "tpustack:target",
            f"tpu-vm creates a Cloud TPU VM, but {shape.name} is a GPU",
            "set tpustack:target to gke for GPU accelerators",
        )
    elif not shape.runtime_version:
        yield problem(
            "tpustack:target",
            f"the Cloud TPU API does not offer {shape.family} as a TPU VM "
            "(GKE only, cloud.google.com/tpu/docs/runtimes)",
            "set tpustack:target to gke",
        )


def tpu_vm_runs_workloads_not_engines(c: StackConfig) -> Iterator[Problem]:
    if c.target == "tpu-vm" and c.engine is not None:
        yield problem(
            "tpustack:engine",
            "serving engines run on GKE; a tpu-vm stack runs a workload (tpustack:workload)",
            "remove tpustack:engine or set tpustack:target to gke",
        )


def tpu_vm_single_zone(c: StackConfig) -> Iterator[Problem]:
    if c.target == "tpu-vm" and len(c.zones) != 1:
        yield problem("tpustack:zones", "a TPU VM lives in exactly one zone", f"list one zone, e.g. [{c.zones[0]}]")


# ----- engine ----------------------------------------------------------------------------------------------------
def engine_runs_on_accelerator(c: StackConfig) -> Iterator[Problem]:
    if c.engine is None or c.engine.name != "jetstream-maxtext":
        return
    shape = c.shape
    if not isinstance(shape, TpuShape):
        yield problem(
            "tpustack:engine.name",
            f"JetStream MaxText runs on TPUs only, not {shape.name}",
            "use engine vllm on GPUs, or a TPU accelerator",
        )
    elif shape.multi_host:
        yield problem(
            "tpustack:engine.name",
            f"JetStream MaxText serving here is single-host; {shape.name} spans "
            f"{shape.hosts} hosts (multi-host JetStream needs Pathways)",
            "pick a single-host shape (e.g. v5litepod-8, v6e-8) or engine vllm",
        )


def engine_settings_match_engine(c: StackConfig) -> Iterator[Problem]:
    e = c.engine
    if e is None:
        return
    if e.name == "jetstream-maxtext" and e.vllm is not None:
        yield problem(
            "tpustack:engine.vllm",
            "vLLM settings on a JetStream engine",
            "move them to tpustack:engine.maxtext or set engine.name vllm",
        )
    if e.name == "vllm" and e.maxtext is not None:
        yield problem(
            "tpustack:engine.maxtext",
            "MaxText settings on a vLLM engine",
            "move them to tpustack:engine.vllm or set engine.name jetstream-maxtext",
        )


def engine_has_model(c: StackConfig) -> Iterator[Problem]:
    if c.engine is not None and c.model is None:
        yield problem(
            "tpustack:model", "an engine needs a model to serve", "set tpustack:model.id and tpustack:model.paramsB"
        )


def maxtext_needs_model_name(c: StackConfig) -> Iterator[Problem]:
    if c.engine is not None and c.engine.name == "jetstream-maxtext" and c.model is not None and not c.model.maxtext:
        yield problem(
            "tpustack:model.maxtextName",
            "JetStream MaxText needs the MaxText model name for checkpoint conversion",
            "set it, e.g. llama3.1-8b or gemma-7b",
        )


def maxtext_model_is_convertible(c: StackConfig) -> Iterator[Problem]:
    """The model name exists in the pinned MaxText, and a Hugging Face model is one its converter takes."""
    if c.engine is None or c.engine.name != "jetstream-maxtext" or c.model is None or not c.model.maxtext:
        return
    facts = engines.JETSTREAM_ENGINE
    if c.model.maxtext not in facts.model_names:
        yield problem(
            "tpustack:model.maxtextName",
            f"MaxText at {engines.MAXTEXT_REF[:8]} (tpu-recipes-v0.1.4) has no model '{c.model.maxtext}' "
            "(MaxText/pyconfig.py validate_model_name)",
            f"use one of {', '.join(sorted(facts.model_names))}",
        )
        return
    family = derived.maxtext_family(c) or ""
    known = engines.MAXTEXT_FAMILIES.get(family)
    if known is None:
        yield problem(
            "tpustack:model.maxtextName",
            f"tpustack knows no tokenizer for MaxText family '{family}'",
            f"use one of {', '.join(k + '-<size>' for k in engines.MAXTEXT_FAMILIES)}",
        )
        return
    if c.model.source != "huggingface":
        return
    if not known[1]:
        yield problem(
            "tpustack:model.id",
            f"MaxText converts {family} checkpoints with a separate converter, not llama_or_mistral_ckpt from "
            "Hugging Face safetensors",
            "convert it yourself and set model.id to the gs:// path of the unscanned MaxText checkpoint "
            "(.../checkpoints/0/items)",
        )


def context_fits_model(c: StackConfig) -> Iterator[Problem]:
    """The engine's context must not exceed the model's (vLLM refuses to start; MaxText extrapolates)."""
    if c.engine is None or c.model is None:
        return
    limit = c.model.context
    if c.engine.name == "vllm":
        asked = c.engine.vllm.max_model_len if c.engine.vllm else 4096
        key = "tpustack:engine.vllm.maxModelLen"
    else:
        asked = c.engine.maxtext.max_target_length if c.engine.maxtext else 2048
        key = "tpustack:engine.maxtext.maxTargetLength"
    if asked > limit:
        yield problem(
            key,
            f"{asked} tokens exceed {c.model.id}'s context of {limit} (its config.json max_position_embeddings)",
            f"set it to {limit} or less",
        )


def tpu7x_multi_host_needs_workload_policy(c: StackConfig) -> Iterator[Problem]:
    # GKE creates multi-host TPU7x (Ironwood) pools with a workload policy (a compute resource policy of type
    # HIGH_THROUGHPUT with the accelerator topology), not COMPACT placement (GKE TPU7x docs), which this
    # stack's pool model does not declare.
    shape = c.shape
    if c.target == "gke" and isinstance(shape, TpuShape) and shape.family == "tpu7x" and shape.multi_host:
        yield problem(
            "tpustack:accelerator",
            f"{shape.name} is a multi-host TPU7x slice; GKE needs a "
            "HIGH_THROUGHPUT workload policy for it instead of COMPACT placement, which tpustack does not "
            "declare yet",
            "use the single-host tpu7x-8, or create the node pool yourself "
            "(gcloud compute resource-policies create workload-policy ... --type=HIGH_THROUGHPUT)",
        )


def queued_without_auto_repair(c: StackConfig) -> Iterator[Problem]:
    if c.capacity.type == "queued" and c.capacity.auto_repair and c.target == "gke":
        yield problem(
            "tpustack:capacity.autoRepair",
            "queued provisioning (flex-start with a queued request) nodes cannot be auto-repaired",
            "remove capacity.autoRepair or set it false",
        )


def eos_setting_is_what_the_tool_does(c: StackConfig) -> Iterator[Problem]:
    b = c.benchmark
    if b is None or c.engine is None or b.ignore_eos or b.dataset != "random":
        return
    if c.benchmark_tool in engines.IGNORES_EOS_ON_RANDOM:
        yield problem(
            "tpustack:benchmark.ignoreEos",
            f"{c.benchmark_tool} {engines.VLLM_VERSION} always ignores "
            "end-of-sequence on the random dataset (vllm/benchmarks/serve.py), so false would be "
            "recorded but not done",
            "set ignoreEos true, or use dataset sharegpt for natural stop lengths",
        )


def jetstream_http_port(c: StackConfig) -> Iterator[Problem]:
    e = c.engine
    if e is not None and e.name == "jetstream-maxtext" and e.port != engines.JETSTREAM_HTTP_PORT:
        yield problem(
            "tpustack:engine.port",
            f"jetstream-http listens on {engines.JETSTREAM_HTTP_PORT} (its image's command), not {e.port}",
            f"set engine.port {engines.JETSTREAM_HTTP_PORT} or remove it",
        )


def tensor_parallel_spans_replica(c: StackConfig) -> Iterator[Problem]:
    """The pod takes every chip of its host(s), so tensor parallelism spans all of them."""
    e = c.engine
    if e is None or e.tensor_parallel is None or e.tensor_parallel == c.shape.chips:
        return
    shape = c.shape
    yield problem(
        "tpustack:engine.tensorParallel",
        f"{e.tensor_parallel} does not match the {shape.chips} chips of one {shape.name} replica (each "
        "serving pod requests every chip of its node, GKE's rule for TPU slices)",
        f"set tensorParallel to {shape.chips} or remove it, or pick the accelerator with {e.tensor_parallel} chips",
    )


def model_fits_hbm(c: StackConfig) -> Iterator[Problem]:
    """Weights x headroom must fit the HBM of one serving replica."""
    if c.model is None:
        return
    shape = c.shape
    need = c.model.weights_gib * c.model.hbm_headroom
    have = shape.total_hbm_gib
    if need <= have:
        return
    fits = sorted(
        (s for s in catalog.CATALOG.values() if s.family == shape.family and s.total_hbm_gib >= need),
        key=lambda s: (s.chips, s.name),
    )
    fix = f"use {fits[0].name} ({fits[0].total_hbm_gib:.0f} GiB)" if fits else "use a larger accelerator family"
    yield problem(
        "tpustack:model.paramsB",
        f"{c.model.params:g}B params x {c.model.dtype} = {c.model.weights_gib:.1f} GiB of weights, "
        f"x{c.model.hbm_headroom} headroom = {need:.1f} GiB > {have:.0f} GiB HBM of {shape.name}",
        f"{fix}, quantize (model.dtype int8/fp8) or lower model.hbmHeadroom",
    )


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def credentials_only_in_secret_fields(c: StackConfig) -> Iterator[Problem]:
    """A token in extraArgs, a label or any other plain field would land in Deployment args, ConfigMaps and the
    plan; tokens enter only through tpustack:hfToken (a Pulumi secret -> Kubernetes Secret -> secretKeyRef)."""
    dumped = c.model_dump(by_alias=True, mode="json", exclude={"hf_token", "stack"})
    for path, value in _strings(dumped, NAMESPACE):
        what = secret_in(value)
        if what:
            yield problem(
                path.replace(f"{NAMESPACE}.", f"{NAMESPACE}:", 1),
                f"holds {what}; credentials in plain config end up in manifests, plans and logs",
                "remove it; give the Hugging Face token with `pulumi config set --secret tpustack:hfToken "
                "hf_...` (the engine reads it from a Kubernetes Secret)",
            )


def gated_model_has_token(c: StackConfig) -> Iterator[Problem]:
    if c.model is not None and c.model.needs_token and c.hf_token is None:
        yield problem(
            "tpustack:hfToken",
            f"{c.model.id} is downloaded from Hugging Face and marked gated, but no token is set",
            "pulumi config set --secret tpustack:hfToken hf_... (or set model.gated false for a public model)",
        )


# ----- benchmark --------------------------------------------------------------------------------------------------
def benchmark_needs_engine(c: StackConfig) -> Iterator[Problem]:
    if c.benchmark is not None and c.engine is None:
        yield problem(
            "tpustack:benchmark",
            "a serving benchmark needs a serving engine",
            "set tpustack:engine, or remove tpustack:benchmark",
        )


def benchmark_tool_drives_engine(c: StackConfig) -> Iterator[Problem]:
    if c.benchmark is None or c.engine is None:
        return
    tool, engine = c.benchmark_tool, c.engine.name
    if tool not in engines.TOOLS_FOR_ENGINE[engine]:
        yield problem(
            "tpustack:benchmark.tool",
            f"{tool} cannot drive {engine}'s API",
            f"use one of {', '.join(engines.TOOLS_FOR_ENGINE[engine])} for {engine}",
        )


def benchmark_load_fits_tool(c: StackConfig) -> Iterator[Problem]:
    b = c.benchmark
    if b is None or c.engine is None:
        return
    tool = c.benchmark_tool
    if b.dataset not in engines.DATASETS_FOR_TOOL.get(tool or "", ()):
        yield problem(
            "tpustack:benchmark.dataset",
            f"{tool} has no '{b.dataset}' dataset",
            f"use one of {', '.join(engines.DATASETS_FOR_TOOL[tool or ''])}",
        )
    if tool == "jetstream-benchmark" and b.max_concurrency:
        yield problem(
            "tpustack:benchmark.maxConcurrency",
            "JetStream's benchmark_serving.py has no concurrency limit flag",
            "sweep requestRates instead, or use another engine",
        )
    if tool in ("jetstream-benchmark", "inference-perf") and b.burstiness != 1.0 and not b.max_concurrency:
        yield problem(
            "tpustack:benchmark.burstiness",
            f"{tool} only sends Poisson arrivals (burstiness 1)",
            "set burstiness to 1, or use vllm-bench for gamma arrivals",
        )


# ----- capacity (cluster-toolkit gke-node-pool, Cloud TPU docs) -------------------------------------------------------
def reservation_named(c: StackConfig) -> Iterator[Problem]:
    cap = c.capacity
    if cap.type == "reservation" and not cap.reservation:
        yield problem(
            "tpustack:capacity.reservation",
            "capacity type reservation needs the reservation name",
            "set capacity.reservation (a name, or projects/P/reservations/R when shared); "
            "`gcloud compute reservations list` shows them",
        )
    if cap.reservation and cap.type != "reservation":
        yield problem(
            "tpustack:capacity.reservation",
            f"{cap.type} capacity cannot consume a reservation (flex-start and queued provisioning "
            "exclude reservations; spot and on-demand do not target one)",
            "set capacity.type to reservation, or remove capacity.reservation",
        )


# DWS flex-start VMs run at most 7 days (GKE docs, concepts/dws: "VMs up to 7 days").
FLEX_START_MAX_HOURS = 7 * 24


def capacity_windows(c: StackConfig) -> Iterator[Problem]:
    """Calendar reservations are reservations with an end; flex-start nodes live at most 7 days: an experiment
    that outlives its capacity loses its nodes mid-run."""
    caps = [
        (f"tpustack:variants[{i}].capacity[{j}]", cap)
        for i, v in enumerate(c.variants or [])
        for j, cap in enumerate(v.capacity)
    ] or [("tpustack:capacity", c.capacity)]
    for key, cap in caps:
        if (cap.calendar or cap.ends is not None) and cap.type != "reservation":
            yield problem(
                f"{key}.calendar",
                "a calendar-mode reservation is consumed as a specific reservation",
                "set type reservation with its name, or remove calendar/ends",
            )
        if cap.calendar and cap.ends is None:
            yield problem(
                f"{key}.ends",
                "a calendar-mode reservation ends, and its VMs are deleted then",
                "set ends to the reservation's end time (`gcloud compute future-reservations describe`)",
            )
        if cap.ends is not None and cap.ends.tzinfo is None:
            yield problem(
                f"{key}.ends",
                f"'{cap.ends.isoformat()}' has no time zone",
                "write it in UTC, e.g. 2026-12-01T00:00:00Z",
            )
        if cap.type == "flex-start" and c.lifecycle.ttl_hours > FLEX_START_MAX_HOURS:
            yield problem(
                "tpustack:lifecycle.ttlHours",
                f"flex-start nodes run at most {FLEX_START_MAX_HOURS} h, the TTL is {c.lifecycle.ttl_hours:g} h",
                f"set ttlHours to {FLEX_START_MAX_HOURS} or less, or use another capacity type",
            )


def flex_start_without_auto_repair(c: StackConfig) -> Iterator[Problem]:
    if c.capacity.type == "flex-start" and c.capacity.auto_repair:
        yield problem(
            "tpustack:capacity.autoRepair",
            "flex-start nodes cannot be auto-repaired (GKE recreates them outside the flex-start request)",
            "remove capacity.autoRepair or set it false",
        )


def flex_start_on_gke_only(c: StackConfig) -> Iterator[Problem]:
    if c.capacity.type == "flex-start" and c.target == "tpu-vm":
        yield problem(
            "tpustack:capacity.type",
            "flex-start TPU VMs need a queued resource with a provisioning "
            "model, and pulumi-gcp's tpu.V2QueuedResource has no such field",
            "use target gke (flex-start node pool), or spot / on-demand / queued on tpu-vm",
        )


def autoscaling_fits_shape(c: StackConfig) -> Iterator[Problem]:
    limit = c.gke.autoscaling_max_nodes
    if limit is None:
        return
    shape = c.shape
    if shape.multi_host:
        yield problem(
            "tpustack:gke.autoscalingMaxNodes",
            f"{shape.name} is a multi-host slice; its pool is fixed "
            f"at {shape.hosts} nodes (a partial slice cannot run)",
            "remove gke.autoscalingMaxNodes; scale by adding replicas",
        )
    elif limit < c.replicas * shape.hosts:
        yield problem(
            "tpustack:gke.autoscalingMaxNodes",
            f"{limit} nodes cannot hold {c.replicas} replicas",
            f"set it to at least {c.replicas * shape.hosts}",
        )


def multi_host_single_zone(c: StackConfig) -> Iterator[Problem]:
    shape = c.shape
    if isinstance(shape, TpuShape) and shape.multi_host and c.target == "gke" and len(c.zones) != 1:
        yield problem(
            "tpustack:zones",
            f"{shape.name} is multi-host and uses COMPACT placement, which needs a single zone",
            f"list one zone, e.g. [{c.zones[0]}]",
        )


def multi_host_one_slice_per_pool(c: StackConfig) -> Iterator[Problem]:
    # A GKE multi-host TPU node pool holds exactly one slice (node count = hosts of the topology).
    if c.replicas > 1 and c.shape.multi_host:
        yield problem(
            "tpustack:engine.replicas",
            f"{c.shape.name} is a multi-host slice and a GKE TPU node pool holds exactly one slice",
            "use replicas 1 here and a second stack for another slice",
        )


# ----- serving on GKE -------------------------------------------------------------------------------------------------
def tpu_containers_unprivileged(c: StackConfig) -> Iterator[Problem]:
    if c.target != "gke" or c.shape.kind != "tpu" or (c.engine is not None and c.engine.privileged):
        return
    minor = derived.cluster_minor(c)
    if derived.minor_tuple(minor) < derived.UNPRIVILEGED_TPU_MINOR:
        yield problem(
            "tpustack:gke.minMasterVersion",
            f"GKE {minor} runs TPU containers only in privileged mode (unprivileged from 1.28)",
            "set gke.minMasterVersion to 1.28 or newer, or set tpustack:engine.privileged true",
        )


def gke_heartbeat_single_host(c: StackConfig) -> Iterator[Problem]:
    if c.target == "gke" and c.engine is None and c.workload is not None and c.shape.multi_host:
        yield problem(
            "tpustack:workload",
            f"the GKE heartbeat Job runs on one host, but {c.shape.name} spans "
            f"{c.shape.hosts} hosts whose TPU runtime starts only together",
            "use a single-host accelerator (e.g. v6e-8, v5litepod-8) or target tpu-vm",
        )


def hpa_fits_pool(c: StackConfig) -> Iterator[Problem]:
    e = c.engine
    if c.target != "gke" or e is None or e.hpa_max_replicas is None:
        return
    shape = c.shape
    if e.hpa_max_replicas < c.replicas:
        yield problem(
            "tpustack:engine.hpaMaxReplicas",
            f"{e.hpa_max_replicas} is below engine.replicas {c.replicas}, the HPA's minimum",
            f"set hpaMaxReplicas to at least {c.replicas}, or remove it",
        )
    need = e.hpa_max_replicas * shape.hosts
    have = derived.accelerator_pool(c).max_nodes
    if need > have:
        yield problem(
            "tpustack:engine.hpaMaxReplicas",
            f"{e.hpa_max_replicas} replicas need {need} {shape.machine_type} nodes, but the accelerator "
            f"pool holds at most {have}, so the extra pods would stay Pending",
            f"set tpustack:gke.autoscalingMaxNodes to {need} (single-host shapes), or lower "
            f"hpaMaxReplicas to {max(have // shape.hosts, 1)}",
        )


# Rules that read the accelerator run only when the stack has one.
GENERAL: list[Rule] = [
    results_stack_owns_only_the_bucket,
    experiment_has_accelerator,
    zones_in_region,
    credentials_only_in_secret_fields,
]
WITH_ACCELERATOR: list[Rule] = [
    topology_matches_catalog,
    machine_type_matches_catalog,
    tpu_vm_is_a_tpu_with_runtime,
    tpu_vm_runs_workloads_not_engines,
    tpu_vm_single_zone,
    engine_runs_on_accelerator,
    engine_settings_match_engine,
    engine_has_model,
    maxtext_needs_model_name,
    benchmark_needs_engine,
    benchmark_tool_drives_engine,
    benchmark_load_fits_tool,
    tensor_parallel_spans_replica,
    reservation_named,
    flex_start_without_auto_repair,
    flex_start_on_gke_only,
    autoscaling_fits_shape,
    multi_host_single_zone,
    multi_host_one_slice_per_pool,
    model_fits_hbm,
    gated_model_has_token,
    tpu_containers_unprivileged,
    gke_heartbeat_single_host,
    hpa_fits_pool,
    jetstream_http_port,
    maxtext_model_is_convertible,
    context_fits_model,
    tpu7x_multi_host_needs_workload_policy,
    queued_without_auto_repair,
    eos_setting_is_what_the_tool_does,
]


# ----- serving variants, Inference Gateway, regions ------------------------------------------------------------------
# GKE versions (GKE docs): ComputeClass node-pool auto-creation without node auto-provisioning
# (concepts/node-auto-provisioning), flex-start for TPUs (concepts/dws), the GKE-managed InferencePool v1 CRD
# (how-to/deploy-gke-inference-gateway, "prepare environment").
GKE_FOR_VARIANTS = "1.33.3-gke.1136000"
GKE_FOR_TPU_FLEX_START = "1.33.0-gke.1712000"
GKE_FOR_GATEWAY = "1.34.0-gke.1626000"


def _version(v: str) -> tuple[int, ...]:
    """1.34.0-gke.1626000 -> (1, 34, 0, 1626000); a bare minor 1.34 -> (1, 34, 0, 0)."""
    head, _, gke = v.partition("-gke.")
    nums = [int(x) for x in head.split(".") if x.isdigit()]
    nums += [0] * (3 - len(nums))
    return (*nums[:3], int(gke) if gke.isdigit() else 0)


def gke_at_least(cfg: StackConfig, needed: str) -> bool:
    """The cluster is sure to run ``needed`` or later: a newer minor on its channel, or a minMasterVersion."""
    have = [_version(derived.CHANNEL_MINOR[cfg.gke.release_channel])]
    if cfg.gke.min_master_version:
        have.append(_version(cfg.gke.min_master_version))
    want = _version(needed)
    return any(h >= want if h[3] else h[:2] > want[:2] for h in have)


def _needs_gke(cfg: StackConfig, needed: str, what: str) -> Iterator[Problem]:
    if not gke_at_least(cfg, needed):
        yield problem(
            "tpustack:gke.minMasterVersion",
            f"{what} needs GKE {needed} or later; release channel {cfg.gke.release_channel} "
            f"({derived.CHANNEL_MINOR[cfg.gke.release_channel]}) with minMasterVersion "
            f"{cfg.gke.min_master_version or 'unset'} does not guarantee it",
            f"set tpustack:gke.minMasterVersion {needed} (or later) on the RAPID channel",
        )


def variants_rules(c: StackConfig) -> Iterator[Problem]:
    if not c.variants:
        return
    if c.target != "gke" or c.engine is None:
        yield problem(
            "tpustack:variants",
            "serving variants are Deployments on GKE, so they need target gke and an engine",
            "set tpustack:target gke and tpustack:engine, or remove tpustack:variants",
        )
        return
    names_seen: set[str] = set()
    for i, v in enumerate(c.variants):
        key = f"tpustack:variants[{i}]"
        if v.name in names_seen:
            yield problem(f"{key}.name", f"'{v.name}' names two variants", "give every variant its own name")
        names_seen.add(v.name)
        shape = catalog.lookup(v.accelerator.type)
        if shape is not None and shape.multi_host:
            yield problem(
                f"{key}.accelerator",
                f"{shape.name} is a multi-host slice; variants are single-host (one pod per replica, which the "
                "InferencePool and its ComputeClass select as such)",
                "use a single-host shape per variant, or the single-accelerator stack form for multi-host",
            )
        seen: set[tuple[str, str | None]] = set()
        for j, cap in enumerate(v.capacity):
            ckey = f"{key}.capacity[{j}]"
            if (cap.type, cap.reservation) in seen:
                yield problem(ckey, f"{cap.type} is listed twice", "list each capacity option once, in order")
            seen.add((cap.type, cap.reservation))
            if cap.type == "queued":
                yield problem(
                    ckey,
                    "queued provisioning is all-or-nothing batch capacity; a ComputeClass priority has no such "
                    "option and serving should not wait in a queue",
                    "use flex-start (a ComputeClass flexStart priority) instead",
                )
            if cap.type == "reservation" and not cap.reservation:
                yield problem(
                    ckey + ".reservation",
                    "a reservation priority needs the reservation's name",
                    "set reservation: NAME (or projects/P/reservations/R)",
                )
            if cap.type != "reservation" and cap.reservation:
                yield problem(
                    ckey + ".reservation",
                    f"a {cap.type} priority takes no reservation",
                    "remove it, or set type reservation",
                )
            if cap.type == "flex-start" and isinstance(shape, TpuShape):
                yield from _needs_gke(c, GKE_FOR_TPU_FLEX_START, f"variant {v.name}: flex-start for TPUs")
    yield from _needs_gke(c, GKE_FOR_VARIANTS, "ComputeClass node-pool auto-creation (serving variants)")


def gateway_rules(c: StackConfig) -> Iterator[Problem]:
    g = c.gateway
    if g is None:
        if c.regions:
            yield problem(
                "tpustack:regions", "several regions are joined by Inference Gateways", "set tpustack:gateway too"
            )
        return
    if c.target != "gke" or c.engine is None:
        yield problem(
            "tpustack:gateway",
            "Inference Gateway fronts a serving engine on GKE",
            "set tpustack:target gke and tpustack:engine, or remove tpustack:gateway",
        )
        return
    if c.engine.name != "vllm":
        yield problem(
            "tpustack:gateway",
            f"the Inference Gateway endpoint picker (v{engines.GAIE_VERSION}) reads the metrics of vLLM, SGLang "
            f"and TensorRT-LLM servers; {c.engine.name} is not one of them",
            "use engine vllm, or remove tpustack:gateway and use the engine's Service",
        )
    if not c.variants:
        yield problem(
            "tpustack:gateway",
            "the Inference Gateway's pool selects serving variants",
            "describe the accelerator as tpustack:variants (one entry is fine) instead of "
            "tpustack:accelerator/capacity",
        )
    if c.engine.service_type == "LoadBalancer":
        yield problem(
            "tpustack:engine.serviceType",
            "the Gateway is the way in; a LoadBalancer Service beside it bypasses the endpoint picker",
            "remove serviceType (ClusterIP)",
        )
    if g.proxy_subnet_cidr is not None:
        import ipaddress

        try:
            net = ipaddress.ip_network(g.proxy_subnet_cidr)
            if net.prefixlen > 26:
                raise ValueError
        except ValueError:
            yield problem(
                "tpustack:gateway.proxySubnetCidr",
                f"'{g.proxy_subnet_cidr}' is not an IPv4 range of /26 or larger",
                "use e.g. 10.129.0.0/23, or null if the VPC has a proxy-only subnet in this region",
            )
    if bool(g.dns_zone) != bool(g.dns_name):
        yield problem(
            "tpustack:gateway.dnsZone",
            "geolocation DNS needs both the managed zone and the name",
            "set both dnsZone and dnsName (ending in '.'), or neither",
        )
    if g.dns_name and not g.dns_name.endswith("."):
        yield problem(
            "tpustack:gateway.dnsName",
            f"'{g.dns_name}' is not a fully qualified DNS name",
            f"end it with a dot: {g.dns_name}.",
        )
    if g.dns_zone and g.class_name != "gke-l7-regional-external-managed":
        yield problem(
            "tpustack:gateway.dnsZone",
            "public DNS answers with public addresses; an internal gateway (gke-l7-rilb) has none",
            "use className gke-l7-regional-external-managed, or drop dnsZone/dnsName",
        )
    yield from _needs_gke(c, GKE_FOR_GATEWAY, "GKE Inference Gateway (GKE-managed InferencePool CRD)")


def regions_rules(c: StackConfig) -> Iterator[Problem]:
    if not c.regions:
        return
    seen = {c.region}
    for i, r in enumerate(c.regions):
        if r.region in seen:
            yield problem(
                f"tpustack:regions[{i}].region",
                f"{r.region} is listed twice (tpustack:region counts)",
                "list each extra region once",
            )
        seen.add(r.region)
        for z in r.zones:
            if not z.startswith(r.region + "-"):
                yield problem(
                    f"tpustack:regions[{i}].zones",
                    f"zone {z} is not in {r.region}",
                    f"use zones of {r.region}, e.g. {r.region}-a",
                )


_VARIANT_KEYS = {
    "tpustack:accelerator": "accelerator",
    "tpustack:engine.tensorParallel": "tensorParallel",
    "tpustack:engine.image": "image",
    "tpustack:engine.replicas": "replicas",
}


def _in_variant(p: Problem, i: int, j: int, name: str, accel: str) -> Problem:
    """A rule's problem for variant i (capacity priority j), keyed to where the variant says it."""
    key = p.key
    for single, field in _VARIANT_KEYS.items():
        if key == single or key.startswith(single + "."):
            key = f"tpustack:variants[{i}].{field}" + key[len(single) :]
    if key == "tpustack:capacity" or key.startswith("tpustack:capacity."):
        key = f"tpustack:variants[{i}].capacity[{j}]" + key[len("tpustack:capacity") :]
    return Problem(key, f"variant {name} ({accel}): {p.reason}", p.fix)


def problems(cfg: StackConfig) -> list[Problem]:
    """Every cross-field problem of a config whose fields are individually valid."""
    out: list[Problem] = []
    for rule in [*GENERAL, variants_rules, gateway_rules, regions_rules, capacity_windows]:
        out.extend(rule(cfg))
    if cfg.variants and cfg.is_experiment and cfg.target == "gke" and cfg.engine is not None:
        # Everything a single-accelerator stack is checked for, per variant and per capacity priority.
        for i, vc in enumerate(cfg.variant_configs()):
            assert cfg.variants is not None
            v = cfg.variants[i]
            for j, cap in enumerate(v.capacity):
                one = vc.model_copy(update={"capacity": cap})
                one.__dict__.pop("shape", None)
                for rule in WITH_ACCELERATOR:
                    for p in rule(one):
                        q = _in_variant(p, i, j, v.name, v.accelerator.type)
                        if q not in out:
                            out.append(q)
    elif cfg.is_experiment and cfg.accelerator is not None:
        for rule in WITH_ACCELERATOR:
            out.extend(rule(cfg))
    return out
