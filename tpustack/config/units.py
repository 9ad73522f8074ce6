"""Serving units: what a stack serves, derived once from its validated config.

A unit is one place where one accelerator shape serves the model in one role: (region, variant, role) with its
shape, its capacity options in order, how GKE provisions it, its engine, image, replicas and tensor parallelism.
A plain stack is one unit; serving variants give one unit per variant, and every extra region repeats them. The
rules, the renderer, the cross-checks, the cost, the ceilings, ``tpustack check`` and the plan output loop over
units; nothing outside this module looks at ``tpustack:variants`` or ``tpustack:regions`` to find them.

Each unit also knows where the config states each of its facts (``UnitKeys``, ``CapacityOption.key``), so a
problem found on any unit names the key the user edits, in one shape for every unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tpustack.core import engines, names
from tpustack.core.capacity import CapacityType
from tpustack.core.catalog import Accelerator
from tpustack.core.engines import Engine
from tpustack.core.enums import StrEnum

from .sections import AcceleratorConfig, CapacityConfig, EngineSettings, VllmConfig

if TYPE_CHECKING:
    from .model import StackConfig


class Role(StrEnum):
    """What a unit's replicas do: serve whole requests, or one half of a disaggregated request
    (tpustack:disaggregation). The values are the llm-d.ai/role pod label's (tpustack.core.router.ROLE_LABEL)."""

    SERVE = "serve"
    PREFILL = "prefill"
    DECODE = "decode"


class Provisioning(StrEnum):
    """How a unit's machines come to exist."""

    TPU_VM = "tpu-vm"  # a Cloud TPU VM (or queued resource) the stack declares
    NODE_POOL = "node-pool"  # a GKE node pool the stack declares
    COMPUTE_CLASS = "compute-class"  # GKE creates pools from a custom ComputeClass's priorities


@dataclass(frozen=True, kw_only=True)
class Region:
    """A region the stack serves in: its own (index 0), then each of tpustack:regions."""

    index: int
    name: str
    zones: tuple[str, ...]
    zones_key: str  # where the config lists its zones

    @property
    def zone(self) -> str:
        return self.zones[0]

    @property
    def primary(self) -> bool:
        return self.index == 0

    @property
    def suffix(self) -> str:
        """Resource-name suffix of the region's parts: none for the stack's own region (names as a single-region
        stack has them), ``-<region>`` for the others."""
        return "" if self.primary else f"-{self.name}"


@dataclass(frozen=True, kw_only=True)
class CapacityOption:
    """One way to get a unit's chips, in the order the stack lists them."""

    index: int
    key: str  # tpustack:capacity or tpustack:variants[i].capacity[j]
    type: CapacityType
    reservation: str | None
    auto_repair_set: bool | None  # as stated; None: the capacity type's default
    calendar: bool
    ends: datetime | None

    @property
    def auto_repair(self) -> bool:
        return self.auto_repair_set if self.auto_repair_set is not None else self.type.auto_repair_default


@dataclass(frozen=True, kw_only=True)
class UnitKeys:
    """The config keys where a unit's facts are stated."""

    unit: str  # the unit as a whole: tpustack:accelerator, tpustack:variants[i]
    accelerator: str
    capacity: str
    tensor_parallel: str
    replicas: str
    image: str


@dataclass(frozen=True, kw_only=True)
class ServingUnit:
    stack: str
    region: Region
    variant: str | None  # None: the stack's single accelerator
    role: Role
    accelerator: AcceleratorConfig  # as stated (topology / machine type spelled out or not)
    shape: Accelerator
    capacity: tuple[CapacityOption, ...]
    provisioning: Provisioning
    engine: Engine | None
    settings: EngineSettings | None  # the engine's settings as this unit runs them (tuned defaults filled in)
    image: str | None  # the engine image the unit runs
    replicas: int
    tensor_parallel: int
    tensor_parallel_set: int | None  # as stated
    keys: UnitKeys

    @property
    def label(self) -> str:
        """How a problem names the unit: nothing for a stack's single accelerator, else its variant."""
        if self.role is not Role.SERVE:
            return f"{self.role.value} role ({self.accelerator.type}): "
        return "" if self.variant is None else f"variant {self.variant} ({self.accelerator.type}): "

    @property
    def first_capacity(self) -> CapacityOption:
        return self.capacity[0]

    @property
    def workload_name(self) -> str:
        """The serving workload of the unit: the engine's server name, with the variant's name if any."""
        base = self.engine.server_name if self.engine else "workload"
        return base if self.variant is None else f"{base}-{self.variant}"

    @property
    def compute_class(self) -> str | None:
        if self.provisioning is not Provisioning.COMPUTE_CLASS or self.variant is None:
            return None
        return names.compute_class(self.stack, self.variant)


def _options(caps: list[CapacityConfig], key: str, listed: bool) -> tuple[CapacityOption, ...]:
    return tuple(
        CapacityOption(
            index=j,
            key=f"{key}[{j}]" if listed else key,
            type=c.type,
            reservation=c.reservation,
            auto_repair_set=c.auto_repair,
            calendar=c.calendar,
            ends=c.ends,
        )
        for j, c in enumerate(caps)
    )


def regions(cfg: StackConfig) -> tuple[Region, ...]:
    """Every region the stack serves in, its own first."""
    own = Region(index=0, name=cfg.region, zones=tuple(cfg.zones), zones_key="tpustack:zones")
    extra = (
        Region(index=i + 1, name=r.region, zones=tuple(r.zones), zones_key=f"tpustack:regions[{i}].zones")
        for i, r in enumerate(cfg.regions or [])
    )
    return (own, *extra)


def tuned_settings(cfg: StackConfig, shape: Accelerator, tensor_parallel: int) -> EngineSettings | None:
    """The engine's settings for a unit: the stack's, with a published recipe's values filling what it leaves
    unset where the recipe measured this model on this shape (tpustack.core.engines.VLLM_TUNED, with sources)."""
    if cfg.engine is None:
        return None
    given = cfg.engine.settings
    if not isinstance(given, VllmConfig) or cfg.model is None:
        return given
    for t in engines.VLLM_TUNED:
        if cfg.model.id in t.models and shape.name in t.accelerators and tensor_parallel == shape.devices:
            unset = {k: v for k, v in t.settings.items() if getattr(given, k) is None}
            return given.model_copy(update=unset)
    return given


def _unit(
    cfg: StackConfig,
    region: Region,
    accelerator: AcceleratorConfig,
    capacity: tuple[CapacityOption, ...],
    *,
    variant: str | None,
    replicas: int,
    tensor_parallel: int | None,
    image: str | None,
    keys: UnitKeys,
    role: Role = Role.SERVE,
    kv_cache_dtype: str | None = None,
) -> ServingUnit:
    shape = accelerator.shape
    if cfg.target == "tpu-vm":
        provisioning = Provisioning.TPU_VM
    elif variant is not None:
        provisioning = Provisioning.COMPUTE_CLASS
    else:
        provisioning = Provisioning.NODE_POOL
    engine = cfg.engine.record if cfg.engine is not None else None
    tp = tensor_parallel or shape.devices
    if image is None and engine is not None:
        image = engine.image_for(shape.kind, cfg.project, region.name)
    settings = tuned_settings(cfg, shape, tp)
    if kv_cache_dtype is not None and isinstance(settings, VllmConfig):
        settings = settings.model_copy(update={"kv_cache_dtype": kv_cache_dtype})
    return ServingUnit(
        stack=cfg.stack,
        region=region,
        variant=variant,
        role=role,
        accelerator=accelerator,
        shape=shape,
        capacity=capacity,
        provisioning=provisioning,
        engine=engine,
        settings=settings,
        image=image,
        replicas=replicas,
        tensor_parallel=tp,
        tensor_parallel_set=tensor_parallel,
        keys=keys,
    )


def derive(cfg: StackConfig) -> tuple[ServingUnit, ...]:
    """The units of a stack whose fields are valid: region-major, then in the stack's variant order. None for a
    results stack or an experiment that names no accelerator (a config rule reports that)."""
    if not cfg.is_experiment:
        return ()
    out: list[ServingUnit] = []
    for region in regions(cfg):
        if cfg.disaggregation is not None:
            out.extend(_pd_units(cfg, region))
        elif cfg.variants:
            for i, v in enumerate(cfg.variants):
                key = f"tpustack:variants[{i}]"
                out.append(
                    _unit(
                        cfg,
                        region,
                        v.accelerator,
                        _options(v.capacity, f"{key}.capacity", listed=True),
                        variant=v.name,
                        replicas=v.replicas,
                        tensor_parallel=v.tensor_parallel,
                        image=v.image,
                        keys=UnitKeys(
                            unit=key,
                            accelerator=f"{key}.accelerator",
                            capacity=f"{key}.capacity",
                            tensor_parallel=f"{key}.tensorParallel",
                            replicas=f"{key}.replicas",
                            image=f"{key}.image",
                        ),
                    )
                )
        elif cfg.accelerator is not None:
            e = cfg.engine
            out.append(
                _unit(
                    cfg,
                    region,
                    cfg.accelerator,
                    _options([cfg.capacity], "tpustack:capacity", listed=False),
                    variant=None,
                    replicas=e.replicas if e else 1,
                    tensor_parallel=e.tensor_parallel if e else None,
                    image=e.image if e else None,
                    keys=UnitKeys(
                        unit="tpustack:accelerator",
                        accelerator="tpustack:accelerator",
                        capacity="tpustack:capacity",
                        tensor_parallel="tpustack:engine.tensorParallel",
                        replicas="tpustack:engine.replicas",
                        image="tpustack:engine.image",
                    ),
                )
            )
    return tuple(out)


def _pd_units(cfg: StackConfig, region: Region) -> list[ServingUnit]:
    """A disaggregated stack's units in a region: prefill, then decode. Each is provisioned like a serving variant
    named after its role (its own ComputeClass and Deployment, vllm-prefill / vllm-decode)."""
    d = cfg.disaggregation
    if d is None:
        return []
    out = []
    for role, rc in ((Role.PREFILL, d.prefill), (Role.DECODE, d.decode)):
        key = f"tpustack:disaggregation.{role.value}"
        out.append(
            _unit(
                cfg,
                region,
                rc.accelerator,
                _options(rc.capacity, f"{key}.capacity", listed=True),
                variant=role.value,
                replicas=rc.replicas,
                tensor_parallel=rc.tensor_parallel,
                image=rc.image,
                keys=UnitKeys(
                    unit=key,
                    accelerator=f"{key}.accelerator",
                    capacity=f"{key}.capacity",
                    tensor_parallel=f"{key}.tensorParallel",
                    replicas=f"{key}.replicas",
                    image=f"{key}.image",
                ),
                role=role,
                kv_cache_dtype=rc.kv_cache_dtype,
            )
        )
    return out
