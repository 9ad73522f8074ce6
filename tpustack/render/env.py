"""The one Jinja environment of tpustack: every template under ``manifests/`` (Kubernetes objects and the TPU
VM startup script) renders through it, with StrictUndefined and a ``tojson`` that fails on missing values."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jinja2

import tpustack


def _tojson(value: Any) -> str:
    """JSON (valid YAML flow) for maps and lists; a missing value fails as loudly as everywhere else."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return json.dumps(value, sort_keys=True)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(tpustack.package_dir("manifests"))),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["tojson"] = _tojson
    return env


def render_text(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)
