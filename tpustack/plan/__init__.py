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
from tpustack.config.model import StackConfig
from tpustack.config.project import Project, read_stack_file
from tpustack.core import ceilings as ceilings_mod

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
    return Plan(
        stack=stack,
        resources=resources,
        manifests=manifests_of(resources),
        outputs=outputs,
        cost=hourly,
        warnings=list(cfg.warnings),
        ceilings=stack_ceilings(cfg),
    )


def stack_ceilings(cfg: StackConfig) -> dict | None:
    """The physical ceilings of one serving replica of the stack (tpustack.core.ceilings) at its benchmark's
    prompt/output lengths and the engine's batch cap; None for stacks that serve no model."""
    if cfg.model is None or cfg.engine is None or cfg.accelerator is None:
        return None
    c = ceilings_mod.for_shape(cfg.shape, cfg.model.params, cfg.model.dtype, cfg.model.facts, cfg.model.id)
    batch = None
    if cfg.engine.name == "vllm" and cfg.engine.vllm and cfg.engine.vllm.max_num_seqs:
        batch = cfg.engine.vllm.max_num_seqs
    elif cfg.engine.name == "jetstream-maxtext" and cfg.engine.maxtext:
        batch = cfg.engine.maxtext.per_device_batch_size * cfg.shape.chips
    b = cfg.benchmark
    out = c.summary(b.input_len if b else None, b.output_len if b else None, batch)
    out["replicas"] = cfg.replicas
    return out


def quiet_pulumi_logs() -> None:
    os.environ.setdefault("PULUMI_PYTHON_LOG_LEVEL", "ERROR")
