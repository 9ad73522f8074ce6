"""Shared fixtures: a valid base config to mutate, and helpers to plan stacks under the mock engine."""

from __future__ import annotations

import copy
import json

import pytest

from components import plan as plan_mod

BASE = {
    "tpustack:project": "my-tpu-project",
    "tpustack:region": "us-east5",
    "tpustack:zones": ["us-east5-a"],
    "tpustack:target": "gke",
    "tpustack:accelerator": "v6e-8",
    "tpustack:capacity": {"type": "spot"},
    "tpustack:model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "paramsB": 8.03},
    "tpustack:engine": {"name": "vllm", "vllm": {"maxModelLen": 8192}},
    "tpustack:benchmark": {"requestRates": [1, 2, 4]},
    "tpustack:hfToken": "[secret:tpustack:hfToken]",
}
SECRETS = {"tpustack:hfToken"}


def as_engine_values(cfg: dict) -> dict[str, str]:
    """Config as the Pulumi engine hands it over: structured values as JSON strings."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in cfg.items()}


@pytest.fixture
def base() -> dict:
    return copy.deepcopy(BASE)


_PLANS: dict[str, plan_mod.Plan] = {}


def planned(stack: str) -> plan_mod.Plan:
    """Plan a shipped stack once per test session (plans are deterministic; see test_plan idempotency)."""
    if stack not in _PLANS:
        _PLANS[stack] = plan_mod.plan(stack)
    return _PLANS[stack]


STACKS = plan_mod.stack_names()


def plan_config(cfg: dict, stack: str = "t") -> plan_mod.Plan:
    """Plan an in-memory config (as a stack file would hold it) under the mock engine."""
    return plan_mod.plan_values(stack, as_engine_values(cfg), {k for k in SECRETS if k in cfg})


def by_type(p: plan_mod.Plan, typ: str) -> list:
    return [r for r in p.resources if r.type == typ]
