"""The project under test and ways to plan it: the checkout's paths, a valid base config to mutate, shipped stacks
planned once per session, in-memory configs planned or run under the mock engine, the CLI run in-process."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from tpustack import plan as plan_mod
from tpustack import render
from tpustack.config import load_config
from tpustack.config.model import StackConfig
from tpustack.config.project import find_project, read_stack_file

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures"
PROJECT = find_project(explicit=ROOT)
STACKS = PROJECT.stack_names()

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
BUCKET = "tpustack-results"  # the GCS emulator's bucket (tests/conftest.py)


def base() -> dict:
    return copy.deepcopy(BASE)


def as_engine_values(cfg: dict) -> dict[str, str]:
    """Config as the Pulumi engine hands it over: structured values as JSON strings."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in cfg.items()}


def edited(cfg: dict, **over) -> dict:
    """A copy of a stack config with ``tpustack:<key>`` set per keyword; None removes the key."""
    d = copy.deepcopy(cfg)
    for k, v in over.items():
        if v is None:
            d.pop(f"tpustack:{k}", None)
        else:
            d[f"tpustack:{k}"] = v
    return d


def load(cfg: dict, stack: str = "t") -> StackConfig:
    """Validate an in-memory stack config; its secrets are the keys of SECRETS it holds."""
    return load_config(as_engine_values(cfg), {k for k in SECRETS if k in cfg}, stack)


def problems_of(cfg: dict, stack: str = "t") -> list[str]:
    """The problem lines an in-memory stack config is refused with, by the loader or the renderer (it must be)."""
    import pytest

    from tpustack.core.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        render.render(load(cfg, stack))
    return e.value.lines()


def named(lines: list[str], key: str, *words: str) -> None:
    """Some problem is keyed ``key``, every such problem says its fix, and together they say ``words``."""
    hits = [p for p in lines if p.startswith(key + ":")]
    assert hits, (key, lines)
    assert all("Fix:" in p for p in hits), hits
    for w in words:
        assert any(w in p for p in hits), (w, hits)


def vllm_pods(objs: list[dict]) -> list[dict]:
    """The pod specs of the rendered vLLM Deployments."""
    pods = [o["spec"]["template"]["spec"] for o in objs if o["kind"] == "Deployment"]
    return [p for p in pods if any(c["name"] == "vllm" for c in p["containers"])]


_PLANS: dict[str, plan_mod.Plan] = {}


def planned(stack: str) -> plan_mod.Plan:
    """Plan a shipped stack once per test session (plans are deterministic; see test_plan idempotency)."""
    if stack not in _PLANS:
        _PLANS[stack] = plan_mod.plan(PROJECT, stack)
    return _PLANS[stack]


def plan_config(cfg: dict, stack: str = "t") -> plan_mod.Plan:
    """Plan an in-memory config (as a stack file would hold it) under the mock engine."""
    return plan_mod.plan_values(PROJECT, stack, as_engine_values(cfg), {k for k in SECRETS if k in cfg})


def run_program(cfg: dict, stack: str = "t"):
    """Run the project's program on an in-memory config under the mock engine, without the config gate
    that plan_values applies first (so what the program itself declares before failing shows)."""
    from tpustack.plan.engine import run_program as run

    return run(PROJECT.program, PROJECT.name, stack, as_engine_values(cfg), {k for k in SECRETS if k in cfg})


def by_type(p: plan_mod.Plan, typ: str) -> list:
    return [r for r in p.resources if r.type == typ]


def cfg_of(stack: str) -> StackConfig:
    """A shipped stack's validated config."""
    values, secrets = read_stack_file(PROJECT, stack)
    return load_config(values, secrets, stack)


def stack_cfg(stack: str) -> StackConfig:
    return load_config(*read_stack_file(PROJECT, stack), stack)


GKE_STACKS = [s for s in STACKS if stack_cfg(s).target == "gke"]

_RENDERED: dict[str, render.Rendered] = {}


def rendered(stack: str) -> render.Rendered:
    """A shipped gke stack's objects (its own region), rendered once per session."""
    if stack not in _RENDERED:
        _RENDERED[stack] = render.render(stack_cfg(stack))
    return _RENDERED[stack]


def run_cli(capsys, *argv: str, cwd=None, monkeypatch=None) -> tuple[int, str, str]:
    """The real entry point (tpustack.cli.main, with its one error path) in-process: (exit code, stdout,
    stderr)."""
    from tpustack.cli import main

    if cwd is not None and monkeypatch is not None:
        monkeypatch.chdir(cwd)
    capsys.readouterr()
    try:
        main(list(argv))
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err
