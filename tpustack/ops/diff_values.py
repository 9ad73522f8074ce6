"""Comparing two JSON values the way a reviewer reads a change: every difference by path.

Owns ``compare`` (dict keys by name, lists of named things such as containers, ports and env by ``name``,
argument lists as flags) and ``argv_change`` (``--max-model-len 4096 -> 8192; + --enforce-eager``), and the
``Change`` record both produce. Knows nothing of plans, stacks or git (tpustack.ops.diff_plan,
tpustack.ops.diff_git).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


# The value on a side where the path does not exist (None is a value: JSON null).
MISSING: Any = _Missing()


@dataclass(frozen=True, kw_only=True)
class Change:
    path: str
    before: Any = MISSING
    after: Any = MISSING
    text: str | None = None  # readable form, when the raw values are not (argument lists)

    def to_json(self) -> dict:
        d: dict[str, Any] = {"path": self.path}
        if self.before is not MISSING:
            d["before"] = self.before
        if self.after is not MISSING:
            d["after"] = self.after
        if self.text is not None:
            d["text"] = self.text
        return d


def _key_path(path: str, key: str) -> str:
    if any(ch in key for ch in "./ []"):
        return f'{path}["{key}"]'
    return f"{path}.{key}" if path else key


def _named(items: list) -> bool:
    names = [i.get("name") for i in items if isinstance(i, dict)]
    return (
        bool(items)
        and len(names) == len(items)
        and all(isinstance(n, str) for n in names)
        and len(set(names)) == len(names)
    )


def _is_argv(path: str, before: list, after: list) -> bool:
    if not all(isinstance(x, str) for x in [*before, *after]):
        return False
    last = path.rsplit(".", 1)[-1]
    return last in ("args", "command") or any(x.startswith("-") for x in [*before, *after])


def _compare_keyed(before: dict, after: dict, keys: list, path_of) -> list[Change]:
    """Added, removed and changed entries of two keyed collections (dict keys, or list items by name)."""
    out: list[Change] = []
    for k in keys:
        p = path_of(k)
        if k not in before:
            out.append(Change(path=p, after=after[k]))
        elif k not in after:
            out.append(Change(path=p, before=before[k]))
        else:
            out.extend(compare(before[k], after[k], p))
    return out


def compare(before: Any, after: Any, path: str = "") -> list[Change]:
    """Every difference between two JSON values, by path."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(set(before) | set(after), key=str)
        return _compare_keyed(before, after, keys, lambda k: _key_path(path, str(k)))
    if isinstance(before, list) and isinstance(after, list):
        return _compare_lists(before, after, path)
    if before != after:
        return [Change(path=path, before=before, after=after)]
    return []


def _compare_lists(before: list, after: list, path: str) -> list[Change]:
    """Lists of named things by name, argument lists as flags, equal-length lists of objects item by item;
    anything else changes as a whole."""
    if before == after:
        return []
    if _named(before) and _named(after):
        b = {i["name"]: i for i in before}
        a = {i["name"]: i for i in after}
        names = [*b, *(n for n in a if n not in b)]
        return _compare_keyed(b, a, names, lambda name: f"{path}[{name}]")
    if _is_argv(path, before, after):
        return [Change(path=path, before=before, after=after, text=argv_change(before, after))]
    if len(before) == len(after) and any(isinstance(x, (dict, list)) for x in before):
        out = []
        for i, (x, y) in enumerate(zip(before, after, strict=False)):
            out.extend(compare(x, y, f"{path}[{i}]"))
        return out
    return [Change(path=path, before=before, after=after)]


def _tokens(argv: list[str]) -> list[str]:
    """Split shell-style elements (``sh -c "vllm serve ... --flag v"``) into words so flags line up."""
    out: list[str] = []
    for a in argv:
        if " " in a.strip() and "-" in a:
            try:
                out.extend(shlex.split(a))
            except ValueError:
                out.extend(a.split())
        else:
            out.append(a)
    return out


def _flags(argv: list[str]) -> tuple[dict[str, list[str | None]], list[str]]:
    """(flag -> values in order, positional words). ``--k=v`` and ``--k v`` are the same flag."""
    flags: dict[str, list[str | None]] = {}
    positional: list[str] = []
    words = _tokens(argv)
    i = 0
    while i < len(words):
        w = words[i]
        if w.startswith("-") and len(w) > 1 and not _is_number(w):
            if "=" in w:
                k, v = w.split("=", 1)
                flags.setdefault(k, []).append(v)
            elif i + 1 < len(words) and not (words[i + 1].startswith("-") and not _is_number(words[i + 1])):
                flags.setdefault(w, []).append(words[i + 1])
                i += 1
            else:
                flags.setdefault(w, []).append(None)
        else:
            positional.append(w)
        i += 1
    return flags, positional


def _is_number(w: str) -> bool:
    try:
        float(w)
        return True
    except ValueError:
        return False


def _flag_text(flag: str, values: list[str | None]) -> str:
    vals = [v for v in values if v is not None]
    return f"{flag} {', '.join(vals)}" if vals else flag


def argv_change(before: list[str], after: list[str]) -> str:
    """A command line change as a reviewer reads it: ``--max-model-len 4096 -> 8192; + --enforce-eager``."""
    bf, bp = _flags(before)
    af, ap = _flags(after)
    parts: list[str] = []
    if bp != ap:
        parts.append(f"{' '.join(bp) or '(none)'} -> {' '.join(ap) or '(none)'}")
    for flag in [*bf, *(f for f in af if f not in bf)]:
        if flag not in af:
            parts.append(f"- {_flag_text(flag, bf[flag])}")
        elif flag not in bf:
            parts.append(f"+ {_flag_text(flag, af[flag])}")
        elif bf[flag] != af[flag]:
            old = ", ".join(v if v is not None else "(on)" for v in bf[flag])
            new = ", ".join(v if v is not None else "(on)" for v in af[flag])
            parts.append(f"{flag} {old} -> {new}")
    if not parts:  # same flags and words, different order
        parts.append("same arguments, reordered")
    return "; ".join(parts)
