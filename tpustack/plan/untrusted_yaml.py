"""Reading a YAML file tpustack did not write (a matrix file) as untrusted input, before any Python object is built
from it: at most MAX_FILE_BYTES, at most MAX_NODES nodes with every alias counted where it is used (an alias bomb
fails while counting, arithmetically, never by expanding), no alias that contains itself, no key twice in one
mapping (YAML would keep the last silently). Every refusal names the file and the place, and shows at most a short,
redacted excerpt of the input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tpustack.core.errors import ConfigError, problem
from tpustack.core.secrets import redact

__all__ = ["MAX_FILE_BYTES", "MAX_NODES", "read", "short"]

MAX_FILE_BYTES = 1 << 20  # a sweep's description is a few KB; more is not a matrix file
MAX_NODES = 100_000  # YAML nodes, every alias counted where it is used (a "billion laughs" file stops here)


def short(value: Any, limit: int = 60) -> str:
    """What an error may show of a value from the file: redacted, on one line, at most ``limit`` characters."""
    text = redact(value if isinstance(value, str) else repr(value))
    text = text.encode("unicode_escape").decode("ascii")  # control characters and newlines shown, not sent
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _children(node: yaml.Node, where: str) -> list[tuple[yaml.Node, str]]:
    if isinstance(node, yaml.MappingNode):
        out: list[tuple[yaml.Node, str]] = []
        for k, v in node.value:
            key = short(k.value, 40) if isinstance(k, yaml.ScalarNode) else "?"
            out += [(k, where), (v, f"{where}.{key}" if where else key)]
        return out
    if isinstance(node, yaml.SequenceNode):
        return [(v, f"{where}.{i}" if where else str(i)) for i, v in enumerate(node.value)]
    return []


def _no_repeated_keys(node: yaml.MappingNode, where: str, shown: str) -> None:
    first: dict[tuple[str, str], yaml.Node] = {}
    for k, _ in node.value:
        if not isinstance(k, yaml.ScalarNode) or k.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *base` merges on purpose; a non-scalar key fails when constructed
        earlier = first.setdefault((k.tag, k.value), k)
        if earlier is not k:
            raise ConfigError(
                [
                    problem(
                        f"{shown}: {where or 'the top level'}",
                        f"key {short(k.value, 40)} appears twice (lines {earlier.start_mark.line + 1} and "
                        f"{k.start_mark.line + 1}); YAML would silently keep only the last",
                        "keep one of them (merge their contents)",
                    )
                ]
            )


def _check_nodes(root: yaml.Node, shown: str) -> None:
    """Before any Python object is built: no key twice in a mapping, no alias that contains itself, and at most
    MAX_NODES nodes with every alias counted where it is used (sizes are summed per node, never expanded)."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    todo: list[tuple[yaml.Node, str, bool]] = [(root, "", False)]
    while todo:
        node, where, done = todo.pop()
        nid = id(node)
        if done:
            on_path.discard(nid)
            size[nid] = 1 + sum(size[id(c)] for c, _ in _children(node, where))
            if size[nid] > MAX_NODES:
                raise ConfigError(
                    [
                        problem(
                            shown,
                            f"has more than {MAX_NODES:,} YAML nodes with its aliases expanded "
                            f"(at {where or 'the top level'})",
                            "a matrix file describes a sweep in a few KB: list the values, do not multiply aliases",
                        )
                    ]
                )
        elif nid in on_path:
            raise ConfigError(
                [problem(f"{shown}: {where}", "is an alias of a node that contains it", "no recursive aliases")]
            )
        elif nid not in size:
            on_path.add(nid)
            if isinstance(node, yaml.MappingNode):
                _no_repeated_keys(node, where, shown)
            todo.append((node, where, True))
            todo += [(c, w, False) for c, w in _children(node, where)]


def _parse(text: str, shown: str) -> Any:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, shown)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read(path: Path, shown: str) -> Any:
    """The matrix file's document, checked as untrusted input (module docstring) before it is built."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ConfigError(
            [problem(shown, f"cannot be read: {e.strerror}", "check the path and its permissions")]
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            [
                problem(
                    shown, f"is larger than {MAX_FILE_BYTES:,} bytes", "a matrix file describes one sweep in a few KB"
                )
            ]
        )
    try:
        return _parse(data.decode("utf-8"), shown)
    except UnicodeDecodeError as e:
        raise ConfigError([problem(shown, f"is not UTF-8 text (byte {e.start})", "save the file as UTF-8")]) from None
    except yaml.MarkedYAMLError as e:  # never echo the offending line: the position is enough to find it
        mark = e.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(
            [problem(shown, f"is not valid YAML{at} ({short(e.problem)})", "fix the YAML there")]
        ) from None
    except (yaml.YAMLError, RecursionError) as e:
        raise ConfigError(
            [problem(shown, f"is not valid YAML ({type(e).__name__})", "no recursive aliases, no custom tags")]
        ) from None
