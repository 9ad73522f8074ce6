"""Rules about one serving unit (tpustack.config.units): its accelerator, its replicas, where it runs. Every rule
here runs on every unit of a stack, a plain stack's single one as each variant in each region, and names the key
where that unit states the fact (``unit.keys``, ``unit.region.zones_key``) with the unit's label in front of the
reason. The same mistake gives the same problem shape wherever it is made."""

from __future__ import annotations

from collections.abc import Iterator

from tpustack.core import catalog
from tpustack.core.catalog import TpuShape
from tpustack.core.engines import engines_for
from tpustack.core.errors import Problem, problem
from tpustack.core.models import AttentionKind

from ..model import StackConfig
from ..sections import VllmConfig
from ..units import Provisioning, ServingUnit


def _path(key: str) -> str:
    """How a fix names a setting: its key without the namespace (accelerator.topology, variants[0].replicas)."""
    return key.removeprefix("tpustack:")


# ----- the accelerator as stated ----------------------------------------------------------------------------------
def topology_matches_catalog(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    a, shape = u.accelerator, u.shape
    if a.topology is None:
        return
    key = f"{u.keys.accelerator}.topology"
    if not isinstance(shape, TpuShape):
        yield problem(
            key, f"{u.label}{shape.name} is a GPU machine and has no TPU topology", "remove accelerator.topology"
        )
    elif a.topology != shape.topology:
        other = catalog.tpu_shape(shape.family, a.topology)
        fix = (
            f"use {_path(u.keys.accelerator)}.type {other.name} for topology {a.topology}"
            if other
            else f"valid {shape.family} topologies: "
            + ", ".join(shape.generation.single_host_topologies + shape.generation.multi_host_topologies)
        )
        yield problem(
            key, f"{u.label}{shape.name} is topology {shape.topology} ({shape.chips} chips), not {a.topology}", fix
        )


def machine_type_matches_catalog(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    a, shape = u.accelerator, u.shape
    if a.machine_type is None or a.machine_type == shape.machine_type:
        return
    other = catalog.by_machine_type(a.machine_type)
    held = (
        f"{a.machine_type} holds {other.chips_per_host} chips per host"
        if other
        else f"{a.machine_type} is not a machine type tpustack knows"
    )
    yield problem(
        f"{u.keys.accelerator}.machineType",
        f"{u.label}{held}, but {shape.name} needs {shape.machine_type} ({shape.chips_per_host} per host)",
        f"remove {_path(u.keys.accelerator)}.machineType or set it to {shape.machine_type}",
    )


# ----- where the unit runs ----------------------------------------------------------------------------------------
def tpu_vm_is_a_tpu_with_runtime(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    shape = u.shape
    if u.provisioning is not Provisioning.TPU_VM:
        return
    if not isinstance(shape, TpuShape):
        yield problem(
            "tpustack:target",
            f"{u.label}tpu-vm creates a Cloud TPU VM, but {shape.name} is a GPU",
            "set tpustack:target to gke for GPU accelerators",
        )
    elif not shape.runtime_version:
        yield problem(
            "tpustack:target",
            f"{u.label}the Cloud TPU API does not offer {shape.family} as a TPU VM "
            "(GKE only, cloud.google.com/tpu/docs/runtimes)",
            "set tpustack:target to gke",
        )


def tpu_vm_single_zone(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    zones = u.region.zones
    if u.provisioning is Provisioning.TPU_VM and len(zones) != 1:
        yield problem(
            u.region.zones_key, f"{u.label}a TPU VM lives in exactly one zone", f"list one zone, e.g. [{zones[0]}]"
        )


def multi_host_single_zone(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    shape, zones = u.shape, u.region.zones
    if isinstance(shape, TpuShape) and shape.multi_host and c.target == "gke" and len(zones) != 1:
        yield problem(
            u.region.zones_key,
            f"{u.label}{shape.name} is multi-host and uses COMPACT placement, which needs a single zone",
            f"list one zone, e.g. [{zones[0]}]",
        )


def compute_class_units_single_host(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    if u.provisioning is Provisioning.COMPUTE_CLASS and u.shape.multi_host:
        yield problem(
            u.keys.accelerator,
            f"{u.label}{u.shape.name} is a multi-host slice; variants are single-host (one pod per replica, which the "
            "InferencePool and its ComputeClass select as such)",
            "use a single-host shape per variant, or the single-accelerator stack form for multi-host",
        )


def tpu7x_multi_host_needs_workload_policy(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    # GKE creates multi-host TPU7x (Ironwood) pools with a workload policy (a compute resource policy of type
    # HIGH_THROUGHPUT with the accelerator topology), not COMPACT placement (GKE TPU7x docs), which this
    # stack's pool model does not declare.
    shape = u.shape
    if c.target == "gke" and isinstance(shape, TpuShape) and shape.family == "tpu7x" and shape.multi_host:
        yield problem(
            u.keys.accelerator,
            f"{u.label}{shape.name} is a multi-host TPU7x slice; GKE needs a "
            "HIGH_THROUGHPUT workload policy for it instead of COMPACT placement, which tpustack does not "
            "declare yet",
            "use the single-host tpu7x-8, or create the node pool yourself "
            "(gcloud compute resource-policies create workload-policy ... --type=HIGH_THROUGHPUT)",
        )


# ----- the engine on this accelerator -----------------------------------------------------------------------------
def engine_runs_on_accelerator(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    e, shape = u.engine, u.shape
    if e is None:
        return
    if shape.kind not in e.kinds:
        others = [o.name for o in engines_for(shape.kind)]
        yield problem(
            "tpustack:engine.name",
            f"{u.label}{e.display} runs on {'/'.join(k.upper() + 's' for k in e.kinds)} only, not {shape.name}",
            f"use engine {' or '.join(others)} on {shape.kind.upper()}s, or a {'/'.join(k.upper() for k in e.kinds)} "
            "accelerator",
        )
    elif shape.multi_host and not e.multi_host:
        yield problem(
            "tpustack:engine.name",
            f"{u.label}{e.display} serving here is single-host; {shape.name} spans {shape.hosts} hosts"
            + (f" ({e.multi_host_note})" if e.multi_host_note else ""),
            "pick a single-host shape (e.g. v5litepod-8, v6e-8) or engine "
            + " or ".join(o.name for o in engines_for(shape.kind) if o.multi_host),
        )


def tensor_parallel_spans_replica(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    """The pod takes every chip of its host(s), so tensor parallelism spans all of their devices."""
    tp, shape = u.tensor_parallel_set, u.shape
    if u.engine is None or tp is None or tp == shape.devices:
        return
    yield problem(
        u.keys.tensor_parallel,
        f"{u.label}{tp} does not match the {catalog.devices_in_words(shape)} of one {shape.name} replica (each "
        "serving pod requests every chip of its node, GKE's rule for TPU slices)",
        f"set {_path(u.keys.tensor_parallel)} to {shape.devices} or remove it, or pick the accelerator with {tp} "
        "devices",
    )


def _memory_need(c: StackConfig, u: ServingUnit) -> tuple[float, str]:
    """Bytes one replica needs before it serves (weights x headroom, plus the cache the engine must hold at its
    context), and how that was counted."""
    m = c.served
    if m is None:
        return 0.0, "no model"
    headroom = c.model.hbm_headroom if c.model else 1.0
    need, how = m.weight_bytes * headroom, f"{m.weights_gib:.1f} GiB of {m.dtype} weights x{headroom:g} headroom"
    settings = u.settings
    if settings is None:
        return need, how
    ctx = settings.context_tokens
    # vLLM refuses to start unless its cache holds one sequence of --max-model-len
    # (vllm/v1/core/kv_cache_planning.py _check_enough_kv_cache_memory at 0.32.0: "To serve at least one request
    # with the model's max seq len"); MaxText allocates the cache of its whole batch up front.
    seqs = 1 if isinstance(settings, VllmConfig) else (settings.batch_cap(u.shape.devices) or 1)
    per = m.kv_bytes_per_sequence(ctx)
    if per is None:
        return need, how + " (KV cache unknown: not counted)"
    need += seqs * per
    what = "one sequence" if seqs == 1 else f"{seqs} sequences"
    return need, how + f" + {what} of {ctx} tokens of KV cache ({seqs * per / catalog.GIB:.2f} GiB)"


def _budget(u: ServingUnit, shape: catalog.Accelerator) -> float:
    util = u.settings.gpu_memory_utilization if isinstance(u.settings, VllmConfig) else None
    return shape.total_hbm_gib * catalog.GIB * (util or 1.0)


def model_fits_hbm(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    """The weights x headroom and the cache the engine must hold at its context fit the HBM of one replica; else
    the error names the smallest shape where they do (same family first). A model whose facts are missing (its
    config.json unread, contextLength unstated) is still checked on the weights it states (paramsB): if those alone
    do not fit, that is said in the same run as what is missing."""
    if c.served is None or c.served.withheld or c.served.weight_bytes <= 0:
        return
    shape = u.shape
    need, how = _memory_need(c, u)
    if need <= _budget(u, shape):
        return
    fits = sorted(
        (s for s in catalog.CATALOG.values() if _budget(u, s) >= need),
        key=lambda s: (s.family != shape.family, s.kind != shape.kind, s.chips, s.name),
    )
    if fits and fits[0].family == shape.family:
        fix = f"use {fits[0].name} ({fits[0].total_hbm_gib:.0f} GiB)"
    elif fits:
        fix = (
            f"use a larger accelerator family (no {shape.family} shape holds it; e.g. {fits[0].name}, "
            f"{fits[0].total_hbm_gib:.0f} GiB)"
        )
    else:
        fix = "use a larger accelerator (no catalog shape holds it)"
    util = u.settings.gpu_memory_utilization if isinstance(u.settings, VllmConfig) else None
    have = f"{shape.total_hbm_gib:.0f} GiB HBM of {shape.name}" + (f" x gpuMemoryUtilization {util:g}" if util else "")
    yield problem(
        "tpustack:model.paramsB" if c.model and c.model.params_b is not None else "tpustack:model.id",
        f"{u.label}{c.served.id}: {how} = {need / catalog.GIB:.1f} GiB > {have}",
        f"{fix}, quantize (model.dtype fp8/int8, engine.vllm.kvCacheDtype fp8), shorten the context or lower "
        "model.hbmHeadroom",
    )


def tensor_parallel_fits_heads(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    """vLLM shards attention heads over tensor parallel ranks: the heads must divide evenly
    (vllm/config/model.py verify_with_parallel_config at 0.32.0: "must be divisible by tensor parallel size"), and
    KV heads either divide by the ranks or are replicated a whole number of times
    (vllm/model_executor/layers/linear.py QKVParallelLinear: divide(tp_size, total_num_kv_heads))."""
    m = c.served
    if m is None or m.facts is None or u.engine is None or not isinstance(u.settings, VllmConfig):
        return
    a, tp = m.facts.attention, u.tensor_parallel
    key = u.keys.tensor_parallel
    fits = [t for t in range(1, a.heads + 1) if a.heads % t == 0 and (t % a.kv_heads == 0 or a.kv_heads % t == 0)]
    near = ", ".join(str(t) for t in fits if t <= 2 * u.shape.devices)
    if a.heads % tp:
        yield problem(
            key,
            f"{u.label}{m.id} has {a.heads} attention heads, which vLLM cannot split over tensor parallel {tp}",
            f"use an accelerator or tensor parallel size that divides {a.heads} (e.g. {near})",
        )
    elif a.kind is AttentionKind.GQA and (tp % a.kv_heads if tp >= a.kv_heads else a.kv_heads % tp):
        yield problem(
            key,
            f"{u.label}{m.id} has {a.kv_heads} KV heads: tensor parallel {tp} neither divides them nor is a "
            "multiple of them (vLLM replicates KV heads only a whole number of times)",
            f"use a tensor parallel size of {near}",
        )


def expert_parallel_needs_experts(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    """--enable-expert-parallel on a dense model stops vLLM (vllm/config/model.py _verify_with_expert_parallelism
    at 0.32.0: "Number of experts in the model must be greater than 0 when expert parallelism is enabled")."""
    m, settings = c.served, u.settings
    if m is None or m.facts is None or not isinstance(settings, VllmConfig) or not settings.expert_parallel:
        return
    if not m.moe:
        yield problem(
            "tpustack:engine.vllm.expertParallel",
            f"{u.label}{m.id} is a dense model (its config.json names no experts); vLLM refuses expert parallelism "
            "without experts",
            "remove engine.vllm.expertParallel",
        )


def gke_heartbeat_single_host(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    if c.target == "gke" and c.engine is None and c.workload is not None and u.shape.multi_host:
        yield problem(
            "tpustack:workload",
            f"{u.label}the GKE heartbeat Job runs on one host, but {u.shape.name} spans "
            f"{u.shape.hosts} hosts whose TPU runtime starts only together",
            "use a single-host accelerator (e.g. v6e-8, v5litepod-8) or target tpu-vm",
        )


# ----- replicas and the pool that holds them ----------------------------------------------------------------------
def multi_host_one_slice_per_pool(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    # A GKE multi-host TPU node pool holds exactly one slice (node count = hosts of the topology).
    if u.replicas > 1 and u.shape.multi_host:
        yield problem(
            u.keys.replicas,
            f"{u.label}{u.shape.name} is a multi-host slice and a GKE TPU node pool holds exactly one slice",
            "use replicas 1 here and a second stack for another slice",
        )


def autoscaling_fits_shape(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    limit = c.gke.autoscaling_max_nodes
    if limit is None:
        return
    shape = u.shape
    if shape.multi_host:
        yield problem(
            "tpustack:gke.autoscalingMaxNodes",
            f"{u.label}{shape.name} is a multi-host slice; its pool is fixed "
            f"at {shape.hosts} nodes (a partial slice cannot run)",
            "remove gke.autoscalingMaxNodes; scale by adding replicas",
        )
    elif limit < u.replicas * shape.hosts:
        yield problem(
            "tpustack:gke.autoscalingMaxNodes",
            f"{u.label}{limit} nodes cannot hold {u.replicas} replicas",
            f"set it to at least {u.replicas * shape.hosts}",
        )


def capacity_options_listed_once(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    seen: set[tuple[str, str | None]] = set()
    for cap in u.capacity:
        if (cap.type, cap.reservation) in seen:
            yield problem(cap.key, f"{u.label}{cap.type} is listed twice", "list each capacity option once, in order")
        seen.add((cap.type, cap.reservation))
