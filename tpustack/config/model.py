"""The typed stack config: ``StackConfig``, everything under ``tpustack:`` in a stack file.

Its sections (accelerator, capacity, model, engine, ...) are in ``tpustack.config.sections``; rules that relate
several fields are in ``tpustack.config.rules``; ``tpustack.config.load`` reads a stack file or the Pulumi
runtime and runs both, so a ``StackConfig`` that reaches a component is fully validated. What the stack serves
is derived once, as ``units`` (tpustack.config.units); infrastructure shapes derived from the config (pools,
cluster version) are in ``tpustack.config.derived``.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import Field, SecretStr, field_validator

from tpustack.core import images, names
from tpustack.core.capacity import CapacityType
from tpustack.core.engines import ToolName

from . import served as served_mod
from . import units as units_mod
from .autoscaling import AutoscalingConfig
from .cluster import GkeConfig, NetworkConfig
from .disaggregation import DisaggregationConfig
from .routing import GatewayConfig  # tpustack:gateway with its routing section (tpustack/config/routing.py)
from .sections import (
    AcceleratorConfig,
    BenchmarkConfig,
    CapacityConfig,
    EngineConfig,
    LifecycleConfig,
    MaxTextConfig,
    ModelConfig,
    PricesConfig,
    RegionConfig,
    ResultsConfig,
    Section,
    VariantConfig,
    VllmConfig,
    WorkloadConfig,
    accelerator_shorthand,
    check_labels,
    invalid,
)
from .served import ServedModel
from .units import Region, ServingUnit

NAMESPACE = "tpustack"
ZONES_FILE = Path(__file__).parent / "zones.yaml"

_PROJECT_RE = re.compile(f"^{names.PROJECT_ID_PATTERN}$")

__all__ = [
    "NAMESPACE",
    "AcceleratorConfig",
    "BenchmarkConfig",
    "CapacityConfig",
    "EngineConfig",
    "MaxTextConfig",
    "ModelConfig",
    "StackConfig",
    "VllmConfig",
]


T = TypeVar("T")
_DERIVED: dict[tuple[int, str], tuple[weakref.ref, Any]] = {}


def derived_once(obj: Any, name: str, derive: Callable[[Any], T]) -> T:
    """``derive(obj)``, computed once per object and kept beside it, not in it: a copy (``model_copy(update=...)``)
    is another object and derives its own, so nothing derived from the original can go stale in it."""
    key = (id(obj), name)
    hit = _DERIVED.get(key)
    if hit is not None and hit[0]() is obj:
        return hit[1]
    value = derive(obj)

    def forget(_ref: weakref.ref) -> None:
        _DERIVED.pop(key, None)

    _DERIVED[key] = (weakref.ref(obj, forget), value)
    return value


class StackConfig(Section):
    project: str
    region: str
    zones: list[str] = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    # tpu-vm / gke: an experiment. results: the project's results bucket, in a stack experiments never destroy.
    target: Literal["tpu-vm", "gke", "results"]
    accelerator: AcceleratorConfig | None = None
    capacity: CapacityConfig = Field(default_factory=CapacityConfig)
    model: ModelConfig | None = None
    engine: EngineConfig | None = None
    workload: WorkloadConfig | None = None
    benchmark: BenchmarkConfig | None = None
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    results: ResultsConfig = Field(default_factory=ResultsConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    gke: GkeConfig = Field(default_factory=GkeConfig)
    prices: PricesConfig = Field(default_factory=PricesConfig)
    # Serve one model on whichever accelerator has capacity: variants (each its own Deployment and ComputeClass)
    # behind GKE Inference Gateway, optionally in several regions (a cluster each).
    variants: list[VariantConfig] | None = Field(default=None, min_length=1, max_length=8)
    gateway: GatewayConfig | None = None
    disaggregation: DisaggregationConfig | None = None  # prefill/decode roles (tpustack.config.disaggregation)
    regions: list[RegionConfig] | None = Field(default=None, min_length=1, max_length=8)
    autoscaling: AutoscalingConfig | None = None  # tpustack.config.autoscaling
    hf_token: SecretStr | None = None
    # Set by the loader, not by users: the stack name.
    stack: str = Field(default="dev", exclude=True)

    @field_validator("accelerator", mode="before")
    @classmethod
    def _accel_shorthand(cls, v: Any) -> Any:
        return accelerator_shorthand(v)

    @field_validator("project")
    @classmethod
    def _project(cls, v: str) -> str:
        if not _PROJECT_RE.fullmatch(v):
            raise invalid(
                f"'{v}' is not a GCP project id (6-30 chars: lowercase letters, digits, hyphens; starts with a letter)",
                "`gcloud projects list` shows yours",
            )
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        return check_labels(v)

    # ----- what the stack serves, derived once ---------------------------------------------------------------
    @property
    def served(self) -> ServedModel | None:
        """The model as facts (tpustack.config.served): read from its config.json once, whatever asks."""
        return derived_once(self, "served", served_mod.resolve)

    @property
    def serving_regions(self) -> tuple[Region, ...]:
        """Every region the stack serves in: its own first, then tpustack:regions."""
        return derived_once(self, "regions", units_mod.regions)

    @property
    def units(self) -> tuple[ServingUnit, ...]:
        """The serving units (tpustack.config.units): one for a plain stack, one per variant and region otherwise;
        none for a results stack."""
        return derived_once(self, "units", units_mod.derive)

    def units_in(self, region: Region) -> tuple[ServingUnit, ...]:
        return tuple(u for u in self.units if u.region.index == region.index)

    @property
    def primary(self) -> ServingUnit | None:
        """The first unit: what the stack's outputs, its benchmark metadata and ``plan``'s headline describe."""
        return self.units[0] if self.units else None

    # ----- derived facts -------------------------------------------------------------------------------------
    @property
    def is_experiment(self) -> bool:
        return self.target != "results"

    @property
    def benchmark_tool(self) -> ToolName | None:
        if self.benchmark is None or self.engine is None:
            return None
        return self.benchmark.tool or self.engine.record.default_tool

    @property
    def results_bucket(self) -> str:
        return self.results.bucket or f"{self.project}-tpustack-results"

    @property
    def warnings(self) -> list[str]:
        """What `plan` warns about (never an error): per unit, zones the dated table does not list for its
        accelerator, images without facts, calendar reservations that end before the TTL."""
        return list(derived_once(self, "warnings", _warnings))


def _warnings(cfg: StackConfig) -> list[str]:
    out: list[str] = list(cfg.served.warnings) if cfg.served is not None else []
    if not cfg.is_experiment:
        return out
    table = yaml.safe_load(ZONES_FILE.read_text())
    for unit in cfg.units:
        offered = table["zones"].get(unit.shape.family, [])
        for z in unit.region.zones:
            if z in offered:
                continue
            lister = (
                f"gcloud compute tpus accelerator-types list --zone={z}"
                if unit.shape.kind == "tpu"
                else f"gcloud compute accelerator-types list --filter=zone:{z}"
            )
            out.append(
                f"{unit.region.zones_key}: {unit.label}{unit.shape.family} was not listed in {z} as of "
                f"{table['as_of']} (listed: {', '.join(offered) or 'none'}); check `{lister}` before `pulumi up`"
            )
        if unit.image and images.facts_for(unit.image) is None:
            out.append(
                f"{unit.keys.image}: {unit.image} has no entry in tpustack.core.images, so the flags, paths and "
                'endpoints tpustack renders for it are unchecked; add an entry (README "Engine versions") or '
                "use a pinned image"
            )
        for cap in unit.capacity:
            if cap.ends is not None and cap.ends.tzinfo is not None:
                expiry = datetime.now(UTC) + timedelta(hours=cfg.lifecycle.ttl_hours)
                if expiry > cap.ends:
                    out.append(
                        f"{cap.key}.ends: started now, the experiment's TTL ends {expiry:%Y-%m-%d %H:%M} UTC, "
                        f"after the calendar reservation {cap.reservation} ends ({cap.ends:%Y-%m-%d %H:%M} "
                        "UTC); its nodes are deleted then"
                    )
        if cfg.target == "tpu-vm" and unit.first_capacity.type is CapacityType.QUEUED:
            out.append(
                f"{unit.first_capacity.key}.type: pulumi-gcp's tpu.V2QueuedResource node spec has no metadata, "
                "service account or labels, so the startup workload cannot be attached to a queued TPU VM; "
                "run it by hand over ssh once the queued resource is ACTIVE"
            )
    return list(dict.fromkeys(out))
