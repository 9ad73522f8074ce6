"""The user's project and its stack files.

A project is the directory holding ``Pulumi.yaml`` (found upward from the working directory, or given with
``--project-dir``); its stacks are ``<stackConfigDir>/Pulumi.<stack>.yaml`` (``stackConfigDir`` from
``Pulumi.yaml``, default the project directory itself) and its program is ``__main__.py``. The installed CLI
works on whichever project the user stands in, not on the one it was installed from.

``read_stack_file`` hands a stack's config over as the Pulumi engine would: JSON strings for structured values
and secrets replaced by placeholders, so no real secret reaches a plan.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tpustack.core.errors import ConfigError, problem, quote
from tpustack.core.outputs import NAME_MAX, PATH_MAX

PROJECT_FILE = "Pulumi.yaml"
SECRET_PLACEHOLDER = "[secret:tpustack:{key}]"
PROJECT_NAMESPACE = "tpustack"


class ProjectError(ConfigError):
    """No project where one was looked for, or its Pulumi.yaml cannot be read."""


@dataclass(frozen=True)
class Project:
    root: Path
    stacks_dir: Path
    program: Path
    name: str

    def stack_file(self, stack: str) -> Path:
        return self.stacks_dir / f"Pulumi.{stack}.yaml"

    def stack_names(self) -> list[str]:
        return stack_names(self.stacks_dir)


def _read_yaml(path: Path, key: str) -> Any:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            [problem(key, f"{path.name} is not UTF-8 text (byte {e.start})", "save the file as UTF-8")]
        ) from None
    except OSError as e:
        raise ConfigError(
            [problem(key, f"cannot read {path}: {e.strerror}", "check the path and its permissions")]
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        # Never echo the offending line: it may hold a secret. The position is enough to find it.
        mark = e.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(
            [
                problem(
                    key,
                    f"{path.name} is not valid YAML{where} ({e.problem})",
                    "fix the YAML syntax there (`python -c 'import yaml,sys; "
                    "yaml.safe_load(open(sys.argv[1]))' FILE` shows it)",
                )
            ]
        ) from None
    except (yaml.YAMLError, RecursionError) as e:
        raise ConfigError(
            [
                problem(
                    key,
                    f"{path.name} is not valid YAML ({type(e).__name__})",
                    "fix the YAML syntax (no recursive aliases, no custom tags)",
                )
            ]
        ) from None


def load_project(root: Path) -> Project:
    root = root.resolve()
    pulumi_file = root / PROJECT_FILE
    doc = _read_yaml(pulumi_file, str(pulumi_file))
    if not isinstance(doc, dict):
        raise ProjectError(
            [
                problem(
                    str(pulumi_file),
                    "is not a mapping of project settings",
                    "see https://www.pulumi.com/docs/iac/concepts/projects/project-file/",
                )
            ]
        )
    return Project(
        root=root,
        stacks_dir=stack_config_dir(root, doc.get("stackConfigDir"), str(pulumi_file)),
        program=root / "__main__.py",
        name=str(doc.get("name") or PROJECT_NAMESPACE),
    )


def stack_config_dir(root: Path, value: Any, where: str) -> Path:
    """Where the project's stack files are: ``stackConfigDir`` (a directory inside the project, relative to it,
    as Pulumi reads it), default the project directory. One that cannot be that is a ProjectError naming the
    key, never an OSError later."""
    key = f"{where}: stackConfigDir"
    fix = "set stackConfigDir to a folder inside the project, relative to Pulumi.yaml (e.g. stacks), or remove it"
    if value is None or value == "":
        return root
    if not isinstance(value, str):
        raise ProjectError([problem(key, f"is not a directory name but a YAML {type(value).__name__}", fix)])
    shown = quote(value, 120)
    if "\x00" in value:
        raise ProjectError([problem(key, f"{shown} holds a NUL character, which no path can", fix)])
    if os.path.isabs(value):
        raise ProjectError([problem(key, f"{shown} is an absolute path; Pulumi reads it relative to the project", fix)])
    joined = root / value
    if len(os.fsencode(joined)) >= PATH_MAX or any(len(os.fsencode(p)) > NAME_MAX for p in joined.parts):
        raise ProjectError(
            [problem(key, f"{shown} is longer than a path or a name in it may be ({PATH_MAX}, {NAME_MAX} bytes)", fix)]
        )
    try:
        resolved = joined.resolve()
    except (OSError, RuntimeError) as e:  # a loop of links, a name the filesystem refuses
        raise ProjectError([problem(key, f"{shown} cannot be resolved ({type(e).__name__})", fix)]) from None
    if not Path(os.path.normpath(joined)).is_relative_to(root):  # as written: a linked folder inside may lead out
        raise ProjectError([problem(key, f"{shown} leads outside the project ({quote(str(root))})", fix)])
    if resolved.exists() and not resolved.is_dir():
        raise ProjectError([problem(key, f"{shown} is a file, not a directory", fix)])
    return resolved


def find_project(start: Path | None = None, explicit: Path | None = None) -> Project:
    """The project at ``explicit`` (``--project-dir``), else the nearest directory upward from ``start`` (the
    working directory) that holds Pulumi.yaml; ``TPUSTACK_PROJECT_DIR`` stands in for ``--project-dir``."""
    if explicit is None and os.environ.get("TPUSTACK_PROJECT_DIR"):
        explicit = Path(os.environ["TPUSTACK_PROJECT_DIR"])
    if explicit is not None:
        if not (explicit / PROJECT_FILE).is_file():
            raise ProjectError(
                [
                    problem(
                        "--project-dir",
                        f"{explicit} holds no {PROJECT_FILE}",
                        "point it at the directory of your Pulumi project",
                    )
                ]
            )
        return load_project(explicit)
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / PROJECT_FILE).is_file():
            return load_project(d)
    raise ProjectError(
        [
            problem(
                "--project-dir",
                f"no {PROJECT_FILE} in {here} or any directory above it",
                "run tpustack inside your Pulumi project (e.g. a clone of tpustack), or pass --project-dir DIR",
            )
        ]
    )


def stack_names(stacks_dir: Path) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))


def read_stack_file(project: Project, stack: str) -> tuple[dict[str, str], set[str]]:
    """Config of one stack as the engine hands it to a program: JSON strings for structured values, secrets
    replaced by placeholders. Raises ConfigError (never anything else) for a missing or malformed file."""
    path = project.stack_file(stack)
    shown = path.relative_to(project.root) if path.is_relative_to(project.root) else path
    try:
        found = path.is_file()
    except OSError as e:  # a name the filesystem cannot hold (too long: ENAMETOOLONG)
        raise ConfigError(
            [
                problem(
                    f"stack '{stack}'",
                    f"cannot name a stack file ({e.strerror or type(e).__name__})",
                    "use a short stack name of letters, digits, '-', '_' and '.'",
                )
            ],
            stack,
        ) from None
    if not found:
        raise ConfigError(
            [
                problem(
                    f"stack '{stack}'",
                    f"no file {shown}",
                    f"pick one of {', '.join(project.stack_names()) or '(none)'}, or `pulumi stack init {stack}`",
                )
            ],
            stack,
        )
    doc = _read_yaml(path, str(shown))
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(
            [
                problem(
                    str(shown),
                    f"holds a {type(doc).__name__}, not a mapping",
                    "start the file with `config:` and put tpustack:* keys under it",
                )
            ],
            stack,
        )
    raw = doc.get("config") or {}
    if not isinstance(raw, dict):
        raise ConfigError(
            [
                problem(
                    f"{shown}: config",
                    f"is a {type(raw).__name__}, not a mapping of keys",
                    "write `config:` followed by indented `tpustack:key: value` lines",
                )
            ],
            stack,
        )
    values: dict[str, str] = {}
    secrets: set[str] = set()
    bad: list = []
    for key, value in raw.items():
        if not isinstance(key, str):
            bad.append(problem(f"{shown}: config", f"key {key!r} is not a string", "quote it, e.g. 'tpustack:zones'"))
            continue
        if ":" not in key:
            key = f"{project.name}:{key}"  # Pulumi's shorthand: bare keys belong to the project
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key] = SECRET_PLACEHOLDER.format(key=key.split(":", 1)[1])
            secrets.add(key)
        elif isinstance(value, str):
            values[key] = value
        else:
            try:
                values[key] = json.dumps(value)
            except (TypeError, ValueError):
                bad.append(
                    problem(
                        key,
                        f"holds a value YAML cannot hand to Pulumi ({type(value).__name__})",
                        "use strings, numbers, booleans, lists and mappings only",
                    )
                )
    if bad:
        raise ConfigError(bad, stack)
    return values, secrets
