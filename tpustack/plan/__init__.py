"""`tpustack plan`: run the project's real ``__main__.py`` under the mock engine and collect the plan.

``plan(project, stack)`` validates the stack's config first (nothing runs on a bad config), then runs the
program (tpustack.plan.engine) and returns a ``Plan`` (tpustack.plan.model): resources with their inputs as the
engine receives them, the Kubernetes manifests, outputs, cost (tpustack.cost) and warnings. Secret config
values (``secure:`` in the stack file) never reach the program: each is replaced by a placeholder first.
"""

from __future__ import annotations

import os

from tpustack import cost
from tpustack.config import load_config
from tpustack.config.cold_start import unit_estimate
from tpustack.config.model import StackConfig
from tpustack.config.project import Project, read_stack_file
from tpustack.config.units import ServingUnit
from tpustack.core import ceilings

from .engine import run_program
from .model import Plan, PlannedResource, manifests_of

__all__ = ["Plan", "PlannedResource", "plan", "plan_values", "quiet_pulumi_logs", "stack_ceilings"]


def plan(project: Project, stack: str) -> Plan:
    """Validate the stack's config, then run the program and collect the plan. Raises ConfigError."""
    values, secrets = read_stack_file(project, stack)
    return plan_values(project, stack, values, secrets)


def plan_values(project: Project, stack: str, values: dict[str, str], secrets: set[str]) -> Plan:
    """Plan config values as the engine hands them over (``{"tpustack:key": str}``)."""
    cfg = load_config(values, secrets, stack)  # fail fast, before any runtime is set up
    records, outputs = run_program(project.program, project.name, stack, values, secrets)
    # Registration order depends on when inputs resolve (asynchronous); order parents first, then by URN, so
    # the same stack always gives the same bytes.
    resources = sorted(records, key=lambda r: (r.urn.split("::")[2].count("$"), r.urn))
    hourly = cost.estimate(resources, cfg)
    if cfg.is_experiment:  # one experiment lives for its TTL (when the reaper may delete it)
        hourly["ttl_hours"] = cfg.lifecycle.ttl_hours
        hourly["per_experiment_usd"] = float(round(hourly["hourly_usd"] * cfg.lifecycle.ttl_hours, 2))
        if "autoscaling" in hourly:  # at most: every unit at its maximum replicas for the whole TTL
            top = hourly["autoscaling"]["max_hourly_usd"] * cfg.lifecycle.ttl_hours
            hourly["autoscaling"]["per_experiment_max_usd"] = float(round(top, 2))
    return Plan(
        stack=stack,
        resources=resources,
        manifests=manifests_of(resources),
        outputs=outputs,
        cost=hourly,
        warnings=list(cfg.warnings),
        ceilings=stack_ceilings(cfg),
        units=unit_summaries(cfg),
    )


def unit_ceilings(cfg: StackConfig, unit: ServingUnit) -> dict | None:
    """The physical ceilings of one replica of a unit (tpustack.core.ceilings) at the benchmark's prompt/output
    lengths and the engine's batch cap; None when the stack serves no model."""
    if cfg.served is None or cfg.engine is None or unit.settings is None:
        return None
    c = cfg.served.ceilings(unit.shape)
    b = cfg.benchmark
    # a prompt is its shared prefix (benchmark.prefix) and its own inputLen tokens
    prompt = b.input_len + (b.prefix.prefix_len if b.prefix else 0) if b else None
    batch = unit.settings.batch_cap(unit.shape.chips)
    out = c.summary(prompt, b.output_len if b else None, batch)
    role = ceilings.role_ceiling(c, str(unit.role), prompt, batch)
    if role is not None:  # a prefill or decode unit (P/D): the bound of its role
        out["role"] = role
    out["replicas"] = unit.replicas
    out["facts_source"] = f"{cfg.served.origin}: {cfg.served.source}" if cfg.served.source else cfg.served.origin
    return out


def stack_ceilings(cfg: StackConfig) -> dict | None:
    """The ceilings of the stack's first unit (``plan --json`` ``ceilings``; every unit's are under ``units``)."""
    return unit_ceilings(cfg, cfg.primary) if cfg.primary is not None else None


def unit_cold_start(cfg: StackConfig, unit: ServingUnit) -> dict | None:
    """The cold-start estimate of one replica of a unit (tpustack.config.cold_start); None when it serves no model."""
    est = unit_estimate(cfg, unit)
    return None if est is None else est.to_json()


def unit_summaries(cfg: StackConfig) -> list[dict]:
    """What each serving unit is, as ``plan --json`` lists it."""
    return [
        {
            "region": u.region.name,
            "zones": list(u.region.zones),
            "variant": u.variant,
            "role": str(u.role),
            "accelerator": u.shape.name,
            "provisioning": str(u.provisioning),
            "capacity": [str(c.type) for c in u.capacity],
            "replicas": u.replicas,
            "tensor_parallel": u.tensor_parallel if u.engine else None,
            "image": u.image,
            "ceilings": unit_ceilings(cfg, u),
            "cold_start": unit_cold_start(cfg, u),
        }
        for u in cfg.units
    ]


def quiet_pulumi_logs() -> None:
    os.environ.setdefault("PULUMI_PYTHON_LOG_LEVEL", "ERROR")
