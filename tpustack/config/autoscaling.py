"""``tpustack:autoscaling``: a HorizontalPodAutoscaler per serving unit on a serving signal (the engine's
queue, running requests or KV-cache use, or the Inference Gateway picker's pool averages), read through the Custom
Metrics Stackdriver Adapter the stack installs (tpustack.core.autoscaling has the metric facts and the pin).

The older keys ``tpustack:engine.hpaMaxReplicas`` / ``hpaQueueTarget`` keep working as a short form of
``{metric: queue, target: hpaQueueTarget, maxReplicas: hpaMaxReplicas}`` with the unit's replicas as minimum,
so stacks that use them render the same HPA; stating both forms is refused (rules/autoscaling.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import Field

from tpustack.core.autoscaling import METRICS, ScaleMetric

from .sections import Section

if TYPE_CHECKING:
    from .model import StackConfig

KEY = "tpustack:autoscaling"
LEGACY_MAX_KEY = "tpustack:engine.hpaMaxReplicas"


class AutoscalingConfig(Section):
    metric: ScaleMetric = ScaleMetric.QUEUE
    target: float | None = Field(default=None, gt=0)  # default: the metric's (tpustack.core.autoscaling)
    min_replicas: int | None = Field(default=None, ge=0, le=64)  # default: the unit's replicas
    max_replicas: int = Field(ge=1, le=64)
    scale_to_zero: bool = False


@dataclass(frozen=True, kw_only=True)
class Scaling:
    """The autoscaling a stack asks for, whichever form it states it in."""

    metric: ScaleMetric | None  # None: the legacy keys on an engine the new section does not cover (JetStream)
    prometheus: str  # Prometheus name of the gauge
    source: str  # "engine" | "gateway"
    target: float
    min_replicas: int | None  # None: each unit's replicas
    max_replicas: int
    max_key: str  # where the stack states the maximum
    legacy: bool

    @property
    def adapter_name(self) -> str:
        return f"prometheus.googleapis.com|{self.prometheus}|gauge"

    def min_for(self, unit_replicas: int) -> int:
        return unit_replicas if self.min_replicas is None else self.min_replicas


def scaling(cfg: StackConfig) -> Scaling | None:
    """The stack's autoscaling, resolved (None: none asked for)."""
    a, e = cfg.autoscaling, cfg.engine
    if a is not None:
        fact = METRICS[a.metric]
        return Scaling(
            metric=a.metric,
            prometheus=fact.prometheus,
            source=fact.source,
            target=fact.default_target if a.target is None else a.target,
            min_replicas=a.min_replicas,
            max_replicas=a.max_replicas,
            max_key=f"{KEY}.maxReplicas",
            legacy=False,
        )
    if e is None or e.hpa_max_replicas is None:
        return None
    # The old form: the engine's queue gauge (tpustack.core.engines queue_metric), as before.
    return Scaling(
        metric=ScaleMetric.QUEUE if e.record.queue_metric == METRICS[ScaleMetric.QUEUE].prometheus else None,
        prometheus=e.record.queue_metric,
        source="engine",
        target=e.hpa_queue_target,
        min_replicas=None,
        max_replicas=e.hpa_max_replicas,
        max_key=LEGACY_MAX_KEY,
        legacy=True,
    )
