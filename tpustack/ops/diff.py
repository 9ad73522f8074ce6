"""`tpustack diff`: what a change does to a stack, as a reviewer needs to see it.

Owns comparing two plan JSON documents (the contract of `tpustack plan --json`) and planning a stack at a git
revision. Resources are matched by URN and their inputs compared by path (``nodeConfig.machineType``);
Kubernetes objects are matched by apiVersion/kind/namespace/name and compared field by field, lists of named
things (containers, ports, env) by name, and argument lists as flags (``--max-model-len 4096 -> 8192``).
Output: plain text, markdown (for a pull-request comment) and JSON.

Each side is planned with its own code: a ``git worktree`` of REF in a temporary directory, running that
tree's CLI (``python -m tpustack.cli plan``, or ``python -m components.cli plan`` for revisions from before the
``tpustack`` package) with the tree first on PYTHONPATH and the current interpreter, so neither side's plan
mixes in the other's modules (tpustack/__init__.py maps a checkout's components/ and workloads/ into the package
of the same tree). Deliberately not done: talking to Pulumi state or the cloud (that is `pulumi preview
--diff`, run by the CI workflow when credentials exist).
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tpustack.core.errors import TpuStackError

HEAD = "working tree"


class DiffError(TpuStackError):
    """A side of the diff could not be planned (bad ref, the revision's plan failed)."""


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


@dataclass
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


@dataclass
class ItemDiff:
    op: str  # "+", "-", "~"
    section: str  # "resources", "manifests", "outputs"
    key: str
    title: str
    changes: list[Change] = field(default_factory=list)


@dataclass
class PlanDiff:
    stack: str
    base: str
    head: str
    base_exists: bool
    head_exists: bool
    items: list[ItemDiff]
    cost_before: float | None
    cost_after: float | None
    experiment_before: float | None = None  # per experiment (hourly x TTL)
    experiment_after: float | None = None

    def count(self, section: str, op: str) -> int:
        return sum(1 for i in self.items if i.section == section and i.op == op)

    @property
    def empty(self) -> bool:
        return not self.items

    def to_json(self) -> dict:
        return {
            "stack": self.stack,
            "base": self.base,
            "head": self.head,
            "base_exists": self.base_exists,
            "head_exists": self.head_exists,
            "cost": {
                "before": self.cost_before,
                "after": self.cost_after,
                "per_experiment_before": self.experiment_before,
                "per_experiment_after": self.experiment_after,
            },
            "items": [
                {
                    "op": i.op,
                    "section": i.section,
                    "key": i.key,
                    "title": i.title,
                    "changes": [c.to_json() for c in i.changes],
                }
                for i in self.items
            ],
        }

    # ----- text ---------------------------------------------------------------------------------------
    def _summary(self) -> str:
        parts = []
        for section, label in (("resources", "resources"), ("manifests", "Kubernetes objects")):
            parts.append(
                f"{label}: {self.count(section, '~')} changed, {self.count(section, '+')} added, "
                f"{self.count(section, '-')} removed"
            )
        return "; ".join(parts)

    def _cost(self, arrow: str = "->") -> str:
        def money(v: float | None, unit: str) -> str:
            return "none" if v is None else f"${v:.2f}{unit}"

        if self.cost_before == self.cost_after:
            hourly = f"hourly cost unchanged ({money(self.cost_after or 0, '/h')})"
        else:
            hourly = f"cost {money(self.cost_before, '/h')} {arrow} {money(self.cost_after, '/h')}"
        if self.experiment_before == self.experiment_after:
            if self.experiment_after is None:
                return hourly
            return f"{hourly}; per experiment unchanged ({money(self.experiment_after, '')})"
        return (
            f"{hourly}; per experiment {money(self.experiment_before, '')} {arrow} {money(self.experiment_after, '')}"
        )

    def _existence(self) -> str | None:
        if not self.base_exists:
            return f"stack '{self.stack}' does not exist at {self.base}: everything is added"
        if not self.head_exists:
            return f"stack '{self.stack}' is removed in the {self.head}: everything is removed"
        return None

    def to_text(self) -> str:
        lines = [f"tpustack diff {self.stack}: {self.base} -> {self.head}"]
        note = self._existence()
        if note:
            lines.append(f"  {note}")
        if self.empty:
            lines.append("  no changes")
            return "\n".join(lines) + "\n"
        lines.append(f"  {self._summary()}")
        lines.append(f"  {self._cost()}")
        for item in self.items:
            lines.append(f"{item.op} {item.title}")
            for c in item.changes:
                lines.extend(f"    {line}" for line in _change_text(c))
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        total = len(self.items)
        head = f"#### `{self.stack}`: " + (
            "no changes"
            if self.empty
            else f"{self.count('resources', '~') + self.count('manifests', '~')} changed, "
            f"{self.count('resources', '+') + self.count('manifests', '+')} added, "
            f"{self.count('resources', '-') + self.count('manifests', '-')} removed"
        )
        lines = [head, ""]
        note = self._existence()
        if note:
            lines += [f"_{_md_escape(note)}_", ""]
        if not total:
            return "\n".join(lines) + "\n"
        lines += [
            f"{_md_escape(self._summary())}; {self._cost('→')}",
            "",
            "| | object | field | change |",
            "|---|---|---|---|",
        ]
        for item in self.items:
            what = _md_code(item.title)
            if not item.changes:
                lines.append(f"| {item.op} | {what} | | {'added' if item.op == '+' else 'removed'} |")
            for c in item.changes:
                lines.append(f"| {item.op} | {what} | {_md_code(c.path)} | {_md_change(c)} |")
        return "\n".join(lines) + "\n"


def markdown_report(diffs: list[PlanDiff]) -> str:
    """One markdown document for a pull request: changed stacks in full, unchanged ones on one line."""
    base = diffs[0].base if diffs else "?"
    lines = [f"### tpustack diff against `{base}`", ""]
    changed = [d for d in diffs if not d.empty or not d.base_exists or not d.head_exists]
    same = [d.stack for d in diffs if d not in changed]
    for d in changed:
        lines.append(d.to_markdown())
    if same:
        lines.append("No changes: " + ", ".join(f"`{s}`" for s in same))
    if not diffs:
        lines.append("No stacks.")
    return "\n".join(lines).rstrip("\n") + "\n"


# ----- comparing values --------------------------------------------------------------------------------
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
            out.append(Change(p, after=after[k]))
        elif k not in after:
            out.append(Change(p, before=before[k]))
        else:
            out.extend(compare(before[k], after[k], p))
    return out


def compare(before: Any, after: Any, path: str = "") -> list[Change]:
    """Every difference between two JSON values, by path."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(set(before) | set(after), key=str)
        return _compare_keyed(before, after, keys, lambda k: _key_path(path, str(k)))
    if isinstance(before, list) and isinstance(after, list):
        if before == after:
            return []
        if _named(before) and _named(after):
            b = {i["name"]: i for i in before}
            a = {i["name"]: i for i in after}
            names = [*b, *(n for n in a if n not in b)]
            return _compare_keyed(b, a, names, lambda name: f"{path}[{name}]")
        if _is_argv(path, before, after):
            return [Change(path, before, after, text=argv_change(before, after))]
        if len(before) == len(after) and any(isinstance(x, (dict, list)) for x in before):
            out = []
            for i, (x, y) in enumerate(zip(before, after, strict=False)):
                out.extend(compare(x, y, f"{path}[{i}]"))
            return out
        return [Change(path, before, after)]
    if before != after:
        return [Change(path, before, after)]
    return []


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


def _show(v: Any) -> str:
    if v is MISSING:
        return "(absent)"
    return json.dumps(v, sort_keys=True, separators=(", ", ": "))


def _multiline(c: Change) -> bool:
    return any(isinstance(v, str) and "\n" in v for v in (c.before, c.after))


def _change_text(c: Change) -> list[str]:
    if c.text is not None:
        return [f"{c.path}: {c.text}"]
    if _multiline(c):
        b = c.before if isinstance(c.before, str) else ""
        a = c.after if isinstance(c.after, str) else ""
        diff = difflib.unified_diff(b.splitlines(), a.splitlines(), "before", "after", lineterm="", n=1)
        return [f"{c.path}:"] + [f"  {line}" for line in list(diff)[2:]]
    if c.before is MISSING:
        return [f"{c.path}: + {_show(c.after)}"]
    if c.after is MISSING:
        return [f"{c.path}: - {_show(c.before)}"]
    return [f"{c.path}: {_show(c.before)} -> {_show(c.after)}"]


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_code(text: str, limit: int = 160) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    text = text.replace("|", "\\|").replace("\n", "⏎")
    ticks = "``" if "`" in text else "`"
    return f"{ticks}{text}{ticks}"


def _md_change(c: Change) -> str:
    if c.text is not None:
        return _md_code(c.text, limit=400)
    if _multiline(c):
        b = c.before.splitlines() if isinstance(c.before, str) else []
        a = c.after.splitlines() if isinstance(c.after, str) else []
        sm = difflib.SequenceMatcher(a=b, b=a)
        added = sum(j2 - j1 for tag, _, _, j1, j2 in sm.get_opcodes() if tag in ("insert", "replace"))
        removed = sum(i2 - i1 for tag, i1, i2, _, _ in sm.get_opcodes() if tag in ("delete", "replace"))
        return f"multi-line text: +{added} / −{removed} lines"
    if c.before is MISSING:
        return f"added {_md_code(_show(c.after))}"
    if c.after is MISSING:
        return f"removed {_md_code(_show(c.before))}"
    return f"{_md_code(_show(c.before))} → {_md_code(_show(c.after))}"


# ----- comparing plans ---------------------------------------------------------------------------------
def manifest_key(m: dict) -> str:
    meta = m.get("metadata") or {}
    ns = meta.get("namespace") or ""
    return f"{m.get('apiVersion')} {m.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}"


def _manifest_title(m: dict) -> str:
    meta = m.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{m.get('kind')} {ns + '/' if ns else ''}{meta.get('name')} ({m.get('apiVersion')})"


def _resource_inputs(r: dict) -> dict | None:
    """Inputs to compare, or None when the resource is a Kubernetes object diffed under manifests."""
    inputs = dict(r.get("inputs") or {})
    if r["type"] == "kubernetes:yaml/v2:ConfigGroup":
        inputs.pop("objs", None)  # its objects are compared one by one as manifests
    elif r["type"].startswith("kubernetes:") and "apiVersion" in inputs and "kind" in inputs:
        return None
    return inputs


def diff_plans(
    base: dict | None, head: dict | None, *, stack: str | None = None, base_label: str = "base", head_label: str = HEAD
) -> PlanDiff:
    """Compare two plan documents (either may be None: the stack does not exist on that side)."""
    b = base or {}
    h = head or {}
    name = stack or h.get("stack") or b.get("stack") or "?"
    items: list[ItemDiff] = []

    br = {r["urn"]: r for r in b.get("resources", [])}
    hr = {r["urn"]: r for r in h.get("resources", [])}
    for urn in [*hr, *(u for u in br if u not in hr)]:
        r = hr.get(urn) or br[urn]
        title = f"{r['type']} {r['name']}"
        if urn not in br:
            if _resource_inputs(r) is not None:
                items.append(ItemDiff("+", "resources", urn, title))
        elif urn not in hr:
            if _resource_inputs(r) is not None:
                items.append(ItemDiff("-", "resources", urn, title))
        else:
            bi, hi = _resource_inputs(br[urn]), _resource_inputs(hr[urn])
            if bi is None or hi is None:
                continue
            changes = compare(bi, hi)
            if br[urn].get("parent") != hr[urn].get("parent"):
                changes.append(Change("(parent)", br[urn].get("parent"), hr[urn].get("parent")))
            if changes:
                items.append(ItemDiff("~", "resources", urn, title, changes))

    bm = {manifest_key(m): m for m in b.get("manifests", [])}
    hm = {manifest_key(m): m for m in h.get("manifests", [])}
    for key in [*hm, *(k for k in bm if k not in hm)]:
        m = hm.get(key) or bm[key]
        if key not in bm:
            items.append(ItemDiff("+", "manifests", key, _manifest_title(m)))
        elif key not in hm:
            items.append(ItemDiff("-", "manifests", key, _manifest_title(m)))
        else:
            changes = compare(bm[key], hm[key])
            if changes:
                items.append(ItemDiff("~", "manifests", key, _manifest_title(m), changes))

    if base is not None and head is not None:
        changes = compare(b.get("outputs") or {}, h.get("outputs") or {})
        if changes:
            items.append(ItemDiff("~", "outputs", "outputs", "stack outputs", changes))

    order = {"~": 0, "+": 1, "-": 2}
    section = {"resources": 0, "manifests": 1, "outputs": 2}
    items.sort(key=lambda i: (section[i.section], order[i.op]))  # stable: plan order within a group

    def cost(p: dict | None, key: str = "hourly_usd") -> float | None:
        value = None if p is None else (p.get("cost") or {}).get(key)
        if value is None:
            return None if p is None or key != "hourly_usd" else 0.0
        return float(value)

    def per_experiment(p: dict | None) -> float | None:
        return cost(p, "per_experiment_usd")

    return PlanDiff(
        name,
        base_label,
        head_label,
        base is not None,
        head is not None,
        items,
        cost(base),
        cost(head),
        per_experiment(base),
        per_experiment(head),
    )


# ----- planning a revision -----------------------------------------------------------------------------
def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=120)


def repo_root(path: Path) -> Path:
    proc = _git(path, "rev-parse", "--show-toplevel")
    if proc.returncode != 0:
        raise DiffError(
            f"--base: {path} is not inside a git repository ({proc.stderr.strip()}). Fix: run "
            f"`tpustack diff` from a clone of the repository"
        )
    return Path(proc.stdout.strip())


def stacks_in(tree: Path) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (tree / "stacks").glob("Pulumi.*.yaml"))


def plan_command(tree: Path, stack: str, python: str = sys.executable) -> list[str]:
    """The command that plans ``stack`` with ``tree``'s own code (the layout differs across revisions)."""
    if (tree / "tpustack" / "cli" / "__init__.py").is_file():
        return [python, "-m", "tpustack.cli", "plan", "--project-dir", str(tree), "--stack", stack, "--json"]
    return [python, "-m", "components.cli", "plan", "--stack", stack, "--json"]


def plan_tree(tree: Path, stack: str, label: str, python: str = sys.executable) -> dict | None:
    """Plan ``stack`` with the code and stack file of ``tree``; None when the tree has no such stack."""
    if not (tree / "stacks" / f"Pulumi.{stack}.yaml").exists():
        return None
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("PULUMI_PYTHON_LOG_LEVEL", "ERROR")
    env.pop("TPUSTACK_PROJECT_DIR", None)
    proc = subprocess.run(
        plan_command(tree, stack, python), cwd=tree, env=env, capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        tail = " / ".join(proc.stderr.strip().splitlines()[-6:]) or "(no output)"
        raise DiffError(
            f"stack '{stack}' at {label}: `tpustack plan` exited {proc.returncode}: {tail}. Fix: "
            f"make `tpustack plan --stack {stack}` pass at {label}, or diff against another --base"
        )
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise DiffError(
            f"stack '{stack}' at {label}: `tpustack plan --json` printed no JSON ({e}). Fix: the "
            f"revision may predate `plan --json`; diff against a newer --base"
        ) from e


class BaseTree:
    """A detached ``git worktree`` of REF in a temporary directory, removed on exit."""

    def __init__(self, repo: Path, ref: str):
        self.repo = repo
        self.ref = ref
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.path = Path()

    def __enter__(self) -> Path:
        sha = _git(self.repo, "rev-parse", "--verify", "--quiet", f"{self.ref}^{{commit}}")
        if sha.returncode != 0:
            raise DiffError(
                f"--base: '{self.ref}' is not a commit in {self.repo}. Fix: `git fetch origin` (in "
                f"CI: actions/checkout with fetch-depth: 0), or pass a branch, tag or sha that exists"
            )
        self._tmp = tempfile.TemporaryDirectory(prefix="tpustack-diff-")
        self.path = Path(self._tmp.name) / "base"
        add = _git(self.repo, "worktree", "add", "--detach", "--quiet", str(self.path), sha.stdout.strip())
        if add.returncode != 0:
            self._tmp.cleanup()
            raise DiffError(
                f"--base {self.ref}: `git worktree add` failed: {add.stderr.strip()}. Fix: "
                f"`git worktree prune`, then retry"
            )
        return self.path

    def __exit__(self, *exc: Any) -> None:
        _git(self.repo, "worktree", "remove", "--force", str(self.path))
        _git(self.repo, "worktree", "prune")
        if self._tmp is not None:
            self._tmp.cleanup()


def diff_stacks(
    repo: Path, base_ref: str, stacks: list[str] | None = None, python: str = sys.executable
) -> list[PlanDiff]:
    """Plan each stack at ``base_ref`` and in the working tree of ``repo``, and diff them.

    With no ``stacks``: every stack present on either side (so a removed stack shows as removed).
    """
    root = repo_root(repo)
    with BaseTree(root, base_ref) as base_tree:
        names = stacks or sorted(set(stacks_in(base_tree)) | set(stacks_in(root)))
        diffs = []
        for s in names:
            before = plan_tree(base_tree, s, base_ref, python)
            after = plan_tree(root, s, HEAD, python)
            if before is None and after is None:
                raise DiffError(
                    f"--stack {s}: no stacks/Pulumi.{s}.yaml at {base_ref} nor in the {HEAD}. Fix: "
                    f"pick one of {', '.join(stacks_in(root)) or '(none)'}"
                )
            diffs.append(diff_plans(before, after, stack=s, base_label=base_ref, head_label=HEAD))
    return diffs
