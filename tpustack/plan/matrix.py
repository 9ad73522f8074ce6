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

A matrix file is untrusted input, checked before anything is expanded: at most MAX_FILE_BYTES, at most MAX_NODES
YAML nodes counting every alias where it is used (an alias bomb fails while counting, arithmetically), no key twice
in one mapping (YAML would keep the last silently), no axis name twice, at most MAX_COMBINATIONS combinations (the
product of the axes' lengths, computed before expanding), stack names of at most MAX_STACK_NAME characters, and no
two combinations with the same stack name. Every refusal names the field and never echoes more than a short,
redacted excerpt of the input.
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
from tpustack.core import catalog, names, outputs
from tpustack.core.errors import ConfigError, InputError, Problem, TpuStackError, problem
from tpustack.core.secrets import redact, secret_in

from . import Plan, plan_values
from .untrusted_yaml import MAX_FILE_BYTES as MAX_FILE_BYTES  # re-exported: the limits of a matrix file
from .untrusted_yaml import MAX_NODES as MAX_NODES
from .untrusted_yaml import read
from .untrusted_yaml import short as _short

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
# Axis names appear in the generated files' header comment and in `exclude:`: one line of plain characters.
_AXIS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# Pulumi's stack name rule (pulumi/pulumi backend: "stack names are limited to 100 characters and may only contain
# alphanumeric, hyphens, underscores, or periods"); a base is a stack of the project, never a path.
_STACK = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")

# Planning one combination takes about half a second and keeps about 0.4 MB (its resources and manifests), so
# 1000 combinations are minutes of planning and well under a GB; a sweep beyond that is more stacks than any
# quota runs and belongs in several matrix files. Checked from the axes' lengths before anything is expanded.
MAX_COMBINATIONS = 1000
# A generated stack's namespace is tpustack-<stack>, a DNS label of at most 63 characters (names.namespace); within
# this the namespace is the stack name as typed (the README's deploy loop uses `-n tpustack-$s`), and every GCP
# name derived from it fits its limit (tpustack.core.names). Pulumi itself takes at most 100.
MAX_STACK_NAME = 63 - len(names.NAMESPACE_PREFIX)
MAX_PROBLEMS = 20  # problems of the matrix file listed in full; the rest are counted


def _not_secret(v: str, what: str) -> str:
    """Names end up in stack names, file headers and --names output: never a credential pasted there."""
    kind = secret_in(v)
    if kind:
        raise invalid(f"{what} {_short(v)} looks like {kind}", f"a plain {what}; keep credentials out of matrix files")
    return v


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
                f"slug {_short(v)} cannot be part of a stack name", "1-31 lowercase letters, digits and '-', e.g. v6e8"
            )
        return _not_secret(v, "slug")

    @field_validator("set")
    @classmethod
    def _keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _config_keys(v)


def _config_keys(v: dict[str, Any]) -> dict[str, Any]:
    """Keys of ``set`` and ``config``: tpustack:KEY[.sub.key], and never a credential (the config gate names keys
    in its problems as they are)."""
    bad = [k for k in v if not (isinstance(k, str) and k.startswith("tpustack:") and len(k) > len("tpustack:"))]
    if bad:
        shown = ", ".join(_short(k, 40) for k in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise invalid(f"keys {shown} are not tpustack:KEY[.sub.key]", "e.g. tpustack:engine.vllm.maxNumSeqs")
    for k in v:
        _not_secret(k, "key")
    return v


class Axis(_M):
    name: str
    values: list[Variant] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _AXIS.fullmatch(v):
            raise invalid(f"axis name {_short(v)} is not a plain name", "1-63 letters, digits, '_', '.', '-'")
        return _not_secret(v, "axis name")

    @field_validator("values")
    @classmethod
    def _unique(cls, v: list[Variant]) -> list[Variant]:
        dup = _repeated([x.slug for x in v])
        if dup:
            raise invalid(f"slugs {dup} repeat within the axis", "give each value its own slug")
        return v


def _repeated(items: list[str]) -> str:
    """The items that occur more than once, as a short list for a message ("" when none)."""
    seen: set[str] = set()
    dup: list[str] = []
    for x in items:
        if x in seen and x not in dup:
            dup.append(x)
        seen.add(x)
    return ", ".join(_short(d, 40) for d in dup[:5]) + (f" and {len(dup) - 5} more" if len(dup) > 5 else "")


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
            raise invalid(f"prefix {_short(v)} cannot start a stack name", "lowercase letters, digits, '-'")
        return _not_secret(v, "prefix")

    @field_validator("config")
    @classmethod
    def _keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _config_keys(v)

    @field_validator("base")
    @classmethod
    def _base(cls, v: str | None) -> str | None:
        if v is not None and not _STACK.fullmatch(v):
            raise invalid(f"base {_short(v)} is not a stack name", "the name of a stack of this project, e.g. dev")
        return v

    @field_validator("axes")
    @classmethod
    def _axis_names(cls, v: list[Axis]) -> list[Axis]:
        dup = _repeated([a.name for a in v])
        if dup:
            raise invalid(
                f"axis names {dup} repeat",
                "give each axis its own name (a combination is one value of every axis)",
            )
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


def _validation_problems(e: ValidationError, shown: str) -> list[Problem]:
    probs = []
    errors = e.errors(include_url=False)
    for err in errors[:MAX_PROBLEMS]:
        where = f"{shown}: matrix." + ".".join(_short(p, 40) for p in err["loc"])
        ctx = err.get("ctx") or {}
        reason, fix = str(ctx.get("reason", err["msg"])), str(ctx.get("fix", ""))
        if err["type"] == "extra_forbidden":
            reason, fix = "is not a matrix setting", "use prefix, base, config, axes, exclude (README 'Matrix')"
        elif err["type"] == "missing":
            fix = "add it (README 'Matrix' shows a complete file)"
        probs.append(problem(where, reason, fix or "see README 'Matrix'"))
    if len(errors) > MAX_PROBLEMS:
        probs.append(problem(f"{shown}: matrix", f"and {len(errors) - MAX_PROBLEMS} more problems", "fix these first"))
    return probs


def _check_exclude(m: Matrix, shown: str) -> None:
    slugs = {a.name: {x.slug for x in a.values} for a in m.axes}
    for i, ex in enumerate(m.exclude):
        if not ex:
            raise ConfigError(
                [
                    problem(
                        f"{shown}: matrix.exclude.{i}",
                        "is empty, so it would exclude every combination",
                        "name axis: slug pairs",
                    )
                ]
            )
        for k, v in ex.items():
            if v not in slugs.get(k, ()):
                axes = ", ".join(_short(a, 40) for a in list(slugs)[:10])
                raise ConfigError(
                    [
                        problem(
                            f"{shown}: matrix.exclude.{i}",
                            f"{_short(k, 40)}: {_short(v, 40)} names no axis value",
                            f"use axis names ({axes}) and their slugs",
                        )
                    ]
                )


def check_bounds(m: Matrix, shown: str) -> None:
    """Before expanding: the number of combinations (the product of the axes' lengths, stopping at the bound) and
    the longest stack name (the prefix and each axis's longest slug)."""
    count = 1
    for a in m.axes:
        count *= len(a.values)
        if count > MAX_COMBINATIONS:
            lengths = " x ".join(str(len(a.values)) for a in m.axes[:10]) + (" x ..." if len(m.axes) > 10 else "")
            raise ConfigError(
                [
                    problem(
                        f"{shown}: matrix.axes",
                        f"expand to more than {MAX_COMBINATIONS} combinations ({lengths})",
                        "split the sweep into several matrix files, or fewer values per axis",
                    )
                ]
            )
    longest = "-".join([m.prefix, *(max((v.slug for v in a.values), key=len) for a in m.axes)])
    if len(longest) > MAX_STACK_NAME:
        raise ConfigError(
            [
                problem(
                    f"{shown}: matrix.prefix and matrix.axes",
                    f"stack names reach {len(longest)} characters ({_short(longest)}), more than {MAX_STACK_NAME} "
                    f"(the stack's namespace {names.NAMESPACE_PREFIX}<stack> is a DNS label of at most 63)",
                    "shorten matrix.prefix or the longest slugs",
                )
            ]
        )


def load(path: Path) -> Matrix:
    shown = str(path)
    if not path.is_file():
        raise InputError(f"{_short(shown, 160)}: no such matrix file", fix="pass a file like stacks/sweep.matrix.yaml")
    doc = read(path, shown)
    if not isinstance(doc, dict) or not isinstance(doc.get("matrix"), dict):
        raise ConfigError([problem(shown, "has no `matrix:` mapping", "start the file with `matrix:` (README)")])
    try:
        m = Matrix.model_validate(doc["matrix"])
    except ValidationError as e:
        raise ConfigError(_validation_problems(e, shown)) from None
    _check_exclude(m, shown)
    check_bounds(m, shown)
    return m


def _set(config: dict[str, Any], dotted: str, value: Any, where: str) -> None:
    key, *path = dotted.split(".")
    if not path:
        config[key] = copy.deepcopy(value)
        return
    node = config.setdefault(key, {})
    for p in path[:-1]:
        if not isinstance(node, dict):
            raise ConfigError(
                [
                    problem(
                        where,
                        f"{_short(dotted)}: {_short(p, 40)} is not a mapping in the base config",
                        "set the parent",
                    )
                ]
            )
        node = node.setdefault(p, {})
    if not isinstance(node, dict):
        raise ConfigError(
            [problem(where, f"{_short(dotted)}: the parent is not a mapping", "set the parent key instead")]
        )
    node[path[-1]] = copy.deepcopy(value)


def _base_config(m: Matrix, project: Project, source: str) -> dict[str, Any]:
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
        config = raw.get("config") if isinstance(raw, dict) else None
        if config is not None and not isinstance(config, dict):
            raise ConfigError(
                [problem(f"{source}: matrix.base", f"{path.name}: `config` is not a mapping", "fix that stack")]
            )
        base = copy.deepcopy(config or {})
    for k, v in m.config.items():
        _set(base, k, v, f"{source}: matrix.config")
    return base


def _axes_text(c: Combination) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in c.slugs.items()) + "}"


def _check_collisions(combos: list[Combination], source: str) -> None:
    """Two combinations named alike would be one stack file, listed twice by --names: refused, naming both."""
    first: dict[str, Combination] = {}
    probs = []
    for c in combos:
        other = first.setdefault(c.name, c)
        if other is not c:
            probs.append(
                problem(
                    f"{source}: matrix.axes",
                    f"combinations {_axes_text(other)} and {_axes_text(c)} are both named {c.name} (the stack name "
                    "is the prefix and the slugs joined by '-', so a '-' inside a slug can join like the next "
                    "axis's slug)",
                    "rename a slug of one of them so the joined names differ (e.g. a slug without '-')",
                )
            )
    if probs:
        more = [problem(f"{source}: matrix.axes", f"and {len(probs) - 5} more such pairs", "fix these first")]
        raise ConfigError(probs[:5] + (more if len(probs) > 5 else []))


def expand(m: Matrix, project: Project, source: str) -> list[Combination]:
    """Every combination's stack file, after the bounds (check_bounds) and before any is planned; refuses two
    combinations with the same stack name."""
    check_bounds(m, source)
    base = _base_config(m, project, source)
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
    _check_collisions(combos, source)
    return combos


def header(source: str, m: Matrix, c: Combination) -> str:
    axes = ", ".join(f"{k}={v}" for k, v in c.slugs.items())
    base = f" from stack {m.base}" if m.base else ""
    return (
        f"# {c.name}: generated by `tpustack matrix {_short(source, 200)}`{base} ({axes}).\n"
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
            scratch.stack_file(c.name).write_text(stack_text(source, m, c))
            try:
                values, secrets = read_stack_file(scratch, c.name)
                c.plan = plan_values(scratch, c.name, values, secrets)
            except ConfigError as e:  # keys too are shown redacted (a value may name a key in its problem)
                c.problems = [Problem(redact(p.key), p.reason, p.fix) for p in e.problems]
            except TpuStackError as e:
                c.problems = [problem(c.name, str(e), "fix the matrix values of this combination")]
    return combos


def stack_text(source: str, m: Matrix, c: Combination) -> str:
    """A combination's stack file, as planned and as written."""
    return header(source, m, c) + yaml.safe_dump(c.doc, sort_keys=False)


def write(m: Matrix, combos: list[Combination], out_dir: Path, source: str) -> list[Path]:
    """The valid combinations' stack files into out_dir (the project's stack directory: other files stay): all of
    them or none, never over an existing file (tpustack.core.outputs)."""
    todo = [c for c in combos if c.ok]
    files = tuple(f"Pulumi.{c.name}.yaml" for c in todo)
    taken = [str(out_dir / n) for n in files if os.path.lexists(out_dir / n)]
    if taken:
        shown = ", ".join(taken[:5]) + (f" and {len(taken) - 5} more" if len(taken) > 5 else "")
        raise InputError(
            f"{shown} already exist; stack files are never replaced and nothing was written",
            fix="change matrix.prefix, pass --out NEW_DIR, or remove those stacks first",
        )
    for n in files:  # each file's whole path must fit the filesystem, checked before any is written
        outputs.check_file(out_dir / n, "--out")
    with outputs.staged_dir(out_dir, "--out", empty=False, names=files) as tmp:
        for c, n in zip(todo, files, strict=True):
            try:
                (tmp / n).write_text(stack_text(source, m, c))
            except OSError as e:
                raise TpuStackError(
                    f"--out {_short(str(out_dir), 160)}: cannot write {n}: {e.strerror}; nothing was written",
                    fix="a directory you can write, with space",
                ) from None
    return [out_dir / n for n in files]


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
