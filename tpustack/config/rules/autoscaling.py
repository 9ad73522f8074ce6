"""Rules of ``tpustack:autoscaling`` (tpustack.config.autoscaling): what the HPA may scale on, between which
bounds, and where the pool or ComputeClass can hold its maximum."""

from __future__ import annotations

from collections.abc import Iterator

from tpustack.core.autoscaling import METRICS
from tpustack.core.engines import EngineName
from tpustack.core.errors import Problem, problem

from .. import derived
from ..autoscaling import KEY, LEGACY_MAX_KEY, scaling
from ..model import StackConfig
from ..units import ServingUnit

# Why scaleToZero is refused (README "Autoscaling on serving signals"): an HPA with minReplicas 0 needs the
# HPAScaleToZero feature gate (alpha since Kubernetes 1.16, off by default; GKE enables no alpha gates outside
# alpha clusters), and GKE documents no path that wakes a workload from zero. The endpoint picker's flow control
# (gateway-api-inference-extension v1.5.0 site-src/guides/flow-control.md) can hold requests while an endpoint
# boots, but its guide leaves the 0 -> 1 step to an external controller (KEDA), which tpustack does not install.
SCALE_TO_ZERO_REASON = (
    "nothing in this stack can wake a unit from zero replicas: the HPA needs the HPAScaleToZero feature gate "
    "(alpha, not enabled on GKE), and the endpoint picker's queue only holds requests; the 0 -> 1 step needs an "
    "external controller (KEDA) that tpustack does not install"
)


def one_form(c: StackConfig) -> Iterator[Problem]:
    e = c.engine
    if c.autoscaling is not None and e is not None and e.hpa_max_replicas is not None:
        yield problem(
            LEGACY_MAX_KEY,
            "is the short form of tpustack:autoscaling, which the stack states too",
            "keep one: move hpaMaxReplicas/hpaQueueTarget into tpustack:autoscaling "
            "(maxReplicas, target with metric: queue) and remove them from tpustack:engine",
        )


def section_fits_stack(c: StackConfig) -> Iterator[Problem]:
    a = c.autoscaling
    if a is None:
        return
    if c.target != "gke" or c.engine is None:
        yield problem(KEY, "autoscales a serving engine on GKE; this stack serves none", "remove tpustack:autoscaling")
        return
    if c.engine.name is not EngineName.VLLM:
        yield problem(
            f"{KEY}.metric",
            f"the serving metrics are verified for vLLM only, not {c.engine.record.display}",
            "remove tpustack:autoscaling, or use tpustack:engine.hpaMaxReplicas (the engine's queue gauge)",
        )
    if METRICS[a.metric].source == "gateway" and c.gateway is None:
        yield problem(
            f"{KEY}.metric",
            f"{a.metric} is a metric of the Inference Gateway's endpoint picker, and the stack has no gateway",
            "add tpustack:gateway (with variants), or use metric: queue, running or kv-cache (the engine's own)",
        )


def bounds(c: StackConfig) -> Iterator[Problem]:
    a = c.autoscaling
    if a is None:
        return
    if a.scale_to_zero or a.min_replicas == 0:
        yield problem(
            f"{KEY}.scaleToZero" if a.scale_to_zero else f"{KEY}.minReplicas",
            SCALE_TO_ZERO_REASON,
            "set minReplicas to 1 or more and remove scaleToZero; to stop paying for an idle experiment, let its "
            "TTL expire (`tpustack reap`) or `pulumi destroy` it",
        )
    if a.min_replicas is not None and a.min_replicas > a.max_replicas:
        yield problem(
            f"{KEY}.minReplicas",
            f"{a.min_replicas} is above maxReplicas {a.max_replicas}",
            f"set minReplicas to at most {a.max_replicas}, or raise maxReplicas",
        )


def hpa_fits_pool(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    """The HPA's bounds against the unit: its minimum at most its maximum, and its maximum on nodes the
    accelerator pool (or the ComputeClass's pool limit) can hold."""
    s = scaling(c)
    if c.target != "gke" or s is None:
        return
    shape, short = u.shape, s.max_key.rsplit(".", 1)[-1]
    low = s.min_for(u.replicas)
    if s.max_replicas < low:
        what = f"{u.keys.replicas.removeprefix('tpustack:')} {u.replicas}" if s.min_replicas is None else "minReplicas"
        yield problem(
            s.max_key,
            f"{u.label}{s.max_replicas} is below {what}, the HPA's minimum",
            f"set {short} to at least {low}, or remove it",
        )
    need = s.max_replicas * shape.hosts
    have = derived.accelerator_pool(c, u).max_nodes
    if need > have:
        yield problem(
            s.max_key,
            f"{u.label}{s.max_replicas} replicas need {need} {shape.machine_type} nodes, but the accelerator "
            f"pool holds at most {have}, so the extra pods would stay Pending",
            f"set tpustack:gke.autoscalingMaxNodes to {need} (single-host shapes), or lower "
            f"{short} to {max(have // shape.hosts, 1)}",
        )
