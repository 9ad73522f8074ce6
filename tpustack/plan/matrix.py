"""Experiment matrices: one file describes a sweep, ``tpustack matrix FILE`` expands it into stacks.

A matrix file (YAML; ``stacks/*.matrix.yaml`` by convention, a name Pulumi never reads as a stack file, which
are ``Pulumi.<stack>.yaml``)::

    matrix:
      prefix: sweep8b              # stack names: <prefix>-<slug>-<slug>...
      base: gke-vllm-v6e           # a stack of this project every combination starts from (optional)
      config: {tpustack:lifecycle: {ttlHours: 3}}   # set on every combination (optional)
      axes:                        # the cartesian product of the axes' values
        - name: accelerator
          values:
            - {slug: v6e8, set: {tpustack:accelerator: v6e-8}}
            - {slug: h100, set: {tpustack:accelerator: h100-1, tpustack:zones: [us-east5-a]}}
        - name: knobs
          values:
            - {slug: seqs128, set: {tpustack:engine.vllm.maxNumSeqs: 128}}   # dotted: a nested key
      exclude:                     # combinations left out on purpose (listed as such, never silently)
        - {accelerator: h100, knobs: seqs128}

Every combination is validated by the one config gate and planned by the mock engine on its own
(tpustack.plan), exactly as ``tpustack plan -s NAME`` will plan the written file. Invalid combinations are
listed with their problems; the sweep's cost is the sum of the plans' costs (per hour with everything up at
once, and per experiment: each stack for its TTL).
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tpustack.config.project import Project, _read_yaml, read_stack_file
from tpustack.config.sections import invalid
from tpustack.core import catalog, outputs
from tpustack.core.errors import ConfigError, InputError, Problem, TpuStackError, problem

from . import Plan, plan_values

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variant(_M):
    slug: str
    set: dict[str, Any] = Field(default_factory=dict)

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not _SLUG.fullmatch(v):
            raise invalid(
                f"slug {v!r} cannot be part of a stack name", "1-31 lowercase letters, digits and '-', e.g. v6e8"
            )
        return v

    @field_validator("set")
    @classmethod
    def _keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in v if not (isinstance(k, str) and k.startswith("tpustack:") and len(k) > len("tpustack:"))]
        if bad:
            raise invalid(f"keys {bad} are not tpustack:KEY[.sub.key]", "e.g. tpustack:engine.vllm.maxNumSeqs")
        return v


class Axis(_M):
    name: str
    values: list[Variant] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _unique(cls, v: list[Variant]) -> list[Variant]:
        slugs = [x.slug for x in v]
        dup = sorted({s for s in slugs if slugs.count(s) > 1})
        if dup:
            raise invalid(f"slugs {dup} repeat within the axis", "give each value its own slug")
        return v


class Matrix(_M):
    prefix: str
    base: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    axes: list[Axis] = Field(min_length=1)
    exclude: list[dict[str, str]] = Field(default_factory=list)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not _SLUG.fullmatch(v):
            raise invalid(f"prefix {v!r} cannot start a stack name", "lowercase letters, digits, '-'")
        return v


@dataclass
class Combination:
    name: str
    slugs: dict[str, str]
    doc: dict[str, Any]  # the stack file ({"config": {...}})
    excluded: bool = False
    problems: list[Problem] = field(default_factory=list)
    plan: Plan | None = None

    @property
    def ok(self) -> bool:
        return self.plan is not None


def load(path: Path) -> Matrix:
    shown = str(path)
    if not path.is_file():
        raise InputError(f"{shown}: no such matrix file", fix="pass a file like stacks/sweep.matrix.yaml")
    doc = _read_yaml(path, shown)
    if not isinstance(doc, dict) or not isinstance(doc.get("matrix"), dict):
        raise ConfigError([problem(shown, "has no `matrix:` mapping", "start the file with `matrix:` (README)")])
    try:
        m = Matrix.model_validate(doc["matrix"])
    except ValidationError as e:
        probs = []
        for err in e.errors(include_url=False):
            where = f"{shown}: matrix." + ".".join(str(p) for p in err["loc"])
            ctx = err.get("ctx") or {}
            reason, fix = str(ctx.get("reason", err["msg"])), str(ctx.get("fix", ""))
            if err["type"] == "extra_forbidden":
                reason, fix = "is not a matrix setting", "use prefix, base, config, axes, exclude (README 'Matrix')"
            elif err["type"] == "missing":
                fix = "add it (README 'Matrix' shows a complete file)"
            probs.append(problem(where, reason, fix or "see README 'Matrix'"))
        raise ConfigError(probs) from None
    names = [a.name for a in m.axes]
    for i, ex in enumerate(m.exclude):
        for k, v in ex.items():
            axis = next((a for a in m.axes if a.name == k), None)
            if axis is None or v not in [x.slug for x in axis.values]:
                raise ConfigError(
                    [
                        problem(
                            f"{shown}: matrix.exclude.{i}",
                            f"{k}: {v} names no axis value",
                            f"use axis names {names} and their slugs",
                        )
                    ]
                )
    return m


def _set(config: dict[str, Any], dotted: str, value: Any, where: str) -> None:
    key, *path = dotted.split(".")
    if not path:
        config[key] = copy.deepcopy(value)
        return
    node = config.setdefault(key, {})
    for p in path[:-1]:
        if not isinstance(node, dict):
            raise ConfigError([problem(where, f"{dotted}: {p} is not a mapping in the base config", "set the parent")])
        node = node.setdefault(p, {})
    if not isinstance(node, dict):
        raise ConfigError([problem(where, f"{dotted}: the parent is not a mapping", "set the parent key instead")])
    node[path[-1]] = copy.deepcopy(value)


def expand(m: Matrix, project: Project, source: str) -> list[Combination]:
    base: dict[str, Any] = {}
    if m.base:
        path = project.stack_file(m.base)
        if not path.is_file():
            raise ConfigError(
                [
                    problem(
                        f"{source}: matrix.base",
                        f"no stack file {path.name} in {project.stacks_dir}",
                        f"use one of {', '.join(project.stack_names())}",
                    )
                ]
            )
        raw = _read_yaml(path, str(path))
        base = copy.deepcopy((raw or {}).get("config") or {}) if isinstance(raw, dict) else {}
    for k, v in m.config.items():
        _set(base, k, v, f"{source}: matrix.config")
    combos = []
    for variants in itertools.product(*(a.values for a in m.axes)):
        slugs = {a.name: v.slug for a, v in zip(m.axes, variants, strict=True)}
        cfg = copy.deepcopy(base)
        for a, v in zip(m.axes, variants, strict=True):
            for k, val in v.set.items():
                _set(cfg, k, val, f"{source}: matrix.axes.{a.name}.{v.slug}")
        name = "-".join([m.prefix, *slugs.values()])
        excluded = any(all(slugs.get(k) == v for k, v in ex.items()) for ex in m.exclude)
        combos.append(Combination(name, slugs, {"config": cfg}, excluded=excluded))
    return combos


def header(source: str, m: Matrix, c: Combination) -> str:
    axes = ", ".join(f"{k}={v}" for k, v in c.slugs.items())
    base = f" from stack {m.base}" if m.base else ""
    return (
        f"# {c.name}: generated by `tpustack matrix {source}`{base} ({axes}).\n"
        "# Edit the matrix file and expand it again, not this file. Set your own Hugging Face token:\n"
        f"#   pulumi config set --secret tpustack:hfToken hf_... -s {c.name}\n"
    )


def plan_all(m: Matrix, project: Project, source: str) -> list[Combination]:
    """Expand, then validate and plan every combination from its own stack file in a scratch directory."""
    combos = expand(m, project, source)
    with tempfile.TemporaryDirectory(prefix="tpustack-matrix-") as tmp:
        scratch = Project(root=project.root, stacks_dir=Path(tmp), program=project.program, name=project.name)
        for c in combos:
            if c.excluded:
                continue
            scratch.stack_file(c.name).write_text(header(source, m, c) + yaml.safe_dump(c.doc, sort_keys=False))
            try:
                values, secrets = read_stack_file(scratch, c.name)
                c.plan = plan_values(scratch, c.name, values, secrets)
            except ConfigError as e:
                c.problems = list(e.problems)
            except TpuStackError as e:
                c.problems = [problem(c.name, str(e), "fix the matrix values of this combination")]
    return combos


def write(m: Matrix, combos: list[Combination], out_dir: Path, source: str) -> list[Path]:
    """The valid combinations' stack files into out_dir (the project's stack directory: other files stay): all of
    them or none, never over an existing file (tpustack.core.outputs)."""
    todo = [c for c in combos if c.ok]
    names = tuple(f"Pulumi.{c.name}.yaml" for c in todo)
    taken = [str(out_dir / n) for n in names if os.path.lexists(out_dir / n)]
    if taken:
        shown = ", ".join(taken[:5]) + (f" and {len(taken) - 5} more" if len(taken) > 5 else "")
        raise InputError(
            f"{shown} already exist; stack files are never replaced and nothing was written",
            fix="change matrix.prefix, pass --out NEW_DIR, or remove those stacks first",
        )
    with outputs.staged_dir(out_dir, "--out", empty=False, names=names) as tmp:
        for c, n in zip(todo, names, strict=True):
            (tmp / n).write_text(header(source, m, c) + yaml.safe_dump(c.doc, sort_keys=False))
    return [out_dir / n for n in names]


def summary(combos: list[Combination]) -> dict[str, Any]:
    """The sweep's cost and what it asks of quota (accelerator chips by family, if all run at once)."""
    ok = [c for c in combos if c.ok]
    chips: dict[str, int] = {}
    for c in ok:
        for unit in c.plan.units if c.plan is not None else []:
            shape = catalog.lookup(str(unit["accelerator"]))
            fam = shape.family if shape else "?"
            chips[fam] = chips.get(fam, 0) + (shape.chips if shape else 0) * int(unit["replicas"])
    return {
        "stacks": len(ok),
        "invalid": sum(1 for c in combos if not c.ok and not c.excluded),
        "excluded": sum(1 for c in combos if c.excluded),
        "hourly_usd_all_at_once": round(sum(c.plan.cost["hourly_usd"] for c in ok if c.plan), 2),
        "per_sweep_usd": round(
            sum((c.plan.cost.get("per_experiment_usd") or 0.0) for c in ok if c.plan),
            2,
        ),
        "chips_all_at_once": chips,
    }


def to_json(combos: list[Combination]) -> list[dict]:
    out = []
    for c in combos:
        row: dict[str, Any] = {"stack": c.name, "axes": c.slugs}
        if c.excluded:
            row["status"] = "excluded by the matrix file"
        elif c.plan is None:
            row["status"] = "invalid"
            row["problems"] = [str(p) for p in c.problems]
        else:
            row["status"] = "ok"
            row["hourly_usd"] = c.plan.cost["hourly_usd"]
            row["ttl_hours"] = c.plan.cost.get("ttl_hours")
            row["per_experiment_usd"] = c.plan.cost.get("per_experiment_usd")
            row["resources"] = len(c.plan.resources)
            row["kubernetes_objects"] = len(c.plan.manifests)
            row["ceilings"] = c.plan.ceilings
            row["warnings"] = c.plan.warnings
        out.append(row)
    return out
