"""Loading a stack's config: from a stack file (``tpustack plan``) or from the Pulumi runtime (``pulumi up``).

``load_config`` is the one gate: it turns ``{"tpustack:key": value}`` into a validated ``StackConfig`` or
raises ``ConfigError`` with every problem (unknown keys with "did you mean", field errors, cross-field rules),
each as ``Problem(key, reason, fix)``. Nothing in tpustack reads Pulumi config any other way.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from pydantic import BaseModel, ValidationError

from tpustack.core.errors import ConfigError, Problem, problem, quote

from . import rules
from .model import NAMESPACE, StackConfig
from .rules.stack import credentials_in
from .sections import INVALID


def _parse_value(v: Any) -> Any:
    """Pulumi hands structured config to programs as JSON strings."""
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def _loc(loc: tuple) -> str:
    out = ""
    for p in loc:
        if isinstance(p, str) and p.startswith("function-"):
            continue
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return f"{NAMESPACE}:{out}" if out else NAMESPACE


def load_config(
    values: dict[str, Any], secret_keys: set[str] | frozenset[str] = frozenset(), stack: str = "dev"
) -> StackConfig:
    """Validate a stack's Pulumi config (``{"tpustack:key": value}``) into a StackConfig.

    Raises ConfigError listing every problem; nothing else in tpustack reads config.
    """
    data, found = _settings(values, secret_keys)
    # credentials anywhere in the values, found before validation can stop at another key's type error
    leaks = list(credentials_in({k: v for k, v in data.items() if k != "hfToken"}))
    if found:
        raise ConfigError(_unique(found + leaks), stack)
    try:
        cfg = StackConfig.model_validate({**data, "stack": stack})
    except ValidationError as e:
        raise ConfigError(_unique(_format_errors(e) + leaks), stack) from None
    cross = rules.problems(cfg)
    if cross:
        raise ConfigError(cross, stack)
    return cfg


def _settings(values: dict[str, Any], secret_keys: set[str] | frozenset[str]) -> tuple[dict[str, Any], list[Problem]]:
    """The tpustack: settings by field name, parsed, and the problems visible before validation (unknown keys, a
    plain-text token, single-accelerator keys beside variants, a differing gcp:project)."""
    found: list[Problem] = []
    data: dict[str, Any] = {}
    fields = {f.alias or n: n for n, f in StackConfig.model_fields.items() if n != "stack"}
    for key, raw in values.items():
        ns, _, name = str(key).partition(":")
        if ns != NAMESPACE:
            continue
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=3)
            found.append(
                problem(
                    str(key),
                    "is not a tpustack setting",
                    f"use one of {', '.join(close) if close else ', '.join(sorted(fields))}",
                )
            )
            continue
        data[name] = _parse_value(raw)
    token_key = f"{NAMESPACE}:hfToken"
    if token_key in values and token_key not in secret_keys:
        found.append(
            problem(
                token_key,
                "is stored as plain text in the stack file",
                "pulumi config rm tpustack:hfToken && pulumi config set --secret tpustack:hfToken hf_...",
            )
        )
    if "variants" in data:
        for single in ("accelerator", "capacity"):
            if single in data:
                found.append(
                    problem(
                        f"{NAMESPACE}:{single}",
                        "is set per variant in a stack with tpustack:variants",
                        f"move it into each variant (variants[].{single}) and remove tpustack:{single}",
                    )
                )
    gcp_project = values.get("gcp:project")
    if gcp_project and data.get("project") and gcp_project != data["project"]:
        found.append(
            problem(
                "gcp:project",
                f"'{gcp_project}' differs from tpustack:project '{data['project']}'",
                "make them equal or remove gcp:project",
            )
        )
    return data, found


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def _format_errors(e: ValidationError) -> list[Problem]:
    out: list[Problem] = []
    for err in e.errors(include_url=False):
        msg = err["msg"].removeprefix("Value error, ")
        where = _loc(err["loc"])
        if err["type"] == "extra_forbidden":
            known = _known_keys(err["loc"][:-1])
            close = difflib.get_close_matches(str(err["loc"][-1]), known, n=3)
            out.append(
                problem(
                    where,
                    "is not a known setting",
                    f"use one of {', '.join(close or known)} (README 'Stack config' lists every key)",
                )
            )
            continue
        if err["type"] == "missing":
            out.append(problem(where, "is required", "add it to the stack file (see stacks/ for examples)"))
            continue
        ctx = err.get("ctx") or {}
        if err["type"] == INVALID:  # a section's own validator: reason and fix as it stated them
            out.append(problem(where, str(ctx["reason"]), str(ctx["fix"])))
            continue
        if err["type"] in ("literal_error", "enum"):
            out.append(problem(where, msg, "use one of the listed values"))
            continue
        bounds = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}
        wanted = [f"{bounds[k]} {ctx[k]}" for k in bounds if k in ctx]
        fix = f"set a value {' and '.join(wanted)}" if wanted else f"give a value that satisfies: {msg}"
        out.append(problem(where, f"{msg} (got {quote(err.get('input'))})", fix))
    return out


def _known_keys(loc: tuple) -> list[str]:
    """The camelCase keys valid at a config path (for 'did you mean' on typos in nested settings)."""
    model: Any = StackConfig
    for part in loc:
        if isinstance(part, int) or not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return []
        ann = field.annotation
        args = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        model = args[0] if args else ann
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(f.alias or n for n, f in model.model_fields.items())
    return []


def pulumi_config_values() -> tuple[dict[str, Any], set[str]]:
    """Every config value and secret key the Pulumi runtime holds (CLI run or mock engine)."""
    from pulumi.runtime import config as rc

    values = {**rc.get_config_env(), **rc.CONFIG.get()}
    secrets = set(rc.get_config_secret_keys_env()) | {k for k in values if rc.is_config_secret(k)}
    return values, secrets


def from_pulumi() -> StackConfig:
    """The validated config of the stack the Pulumi engine runs (``__main__.py``)."""
    import pulumi

    values, secrets = pulumi_config_values()
    return load_config(values, secrets, stack=pulumi.get_stack())
