"""Comparing two plans of one stack, and showing the result as text, markdown and JSON.

Owns ``diff_plans`` (two documents of the ``tpustack plan --json`` contract -> ``PlanDiff``) and the three
renderings of ``tpustack diff``. Resources are matched by URN and their inputs compared by path
(``nodeConfig.machineType``); Kubernetes objects are matched by apiVersion/kind/namespace/name and compared
field by field (tpustack.ops.diff_values). Planning the two sides is tpustack.ops.diff_git.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tpustack.core import names
from tpustack.render.payload import CONFIGMAP_NAME

from .diff_values import MISSING, Change, compare

HEAD = "working tree"


class Op(StrEnum):
    """What happened to an item; the order is the report's order within a section."""

    CHANGED = "~"
    ADDED = "+"
    REMOVED = "-"


class Section(StrEnum):
    """Where an item lives in the plan; the order is the report's order."""

    RESOURCES = "resources"
    MANIFESTS = "manifests"
    # tpustack's own code the pods run (tpustack.render.payload): its files in the workloads ConfigMap or as a TPU
    # VM's bucket objects, their mount list, and the content hash the benchmark spec records. Shown apart, so a
    # change of tpustack's pod code is not mistaken for a change of the infrastructure or of what the pods do.
    POD_CODE = "pod-code"
    OUTPUTS = "outputs"


@dataclass(frozen=True, kw_only=True)
class ItemDiff:
    op: Op
    section: Section
    key: str
    title: str
    changes: list[Change] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "op": self.op,
            "section": self.section,
            "key": self.key,
            "title": self.title,
            "changes": [c.to_json() for c in self.changes],
        }


@dataclass(frozen=True, kw_only=True)
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
    matrix: str | None = None  # the matrix file the stack was expanded from (`tpustack diff --matrix`)

    def count(self, section: str, op: str) -> int:
        return sum(1 for i in self.items if i.section == section and i.op == op)

    @property
    def empty(self) -> bool:
        return not self.items

    @property
    def changed(self) -> bool:
        """Worth showing in full: items changed, or the stack exists on one side only."""
        return not self.empty or not self.base_exists or not self.head_exists

    def to_json(self) -> dict:
        doc: dict[str, Any] = {
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
            "items": [i.to_json() for i in self.items],
        }
        if self.matrix is not None:  # only matrix stacks carry the key: plain stacks' JSON is as before
            doc["matrix"] = self.matrix
        return doc

    # ----- text ---------------------------------------------------------------------------------------
    def _summary(self) -> str:
        parts = []
        for section, label in ((Section.RESOURCES, "resources"), (Section.MANIFESTS, "Kubernetes objects")):
            parts.append(
                f"{label}: {self.count(section, Op.CHANGED)} changed, {self.count(section, Op.ADDED)} added, "
                f"{self.count(section, Op.REMOVED)} removed"
            )
        pod = sum(1 for i in self.items if i.section == Section.POD_CODE)
        if pod:
            parts.append(f"pod code only: {pod} object(s) carry tpustack's changed pod code (listed after the others)")
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

    def _source(self) -> str | None:
        return None if self.matrix is None else f"a combination of matrix {self.matrix}"

    def to_text(self) -> str:
        lines = [f"tpustack diff {self.stack}: {self.base} -> {self.head}"]
        lines += [f"  {note}" for note in (self._source(), self._existence()) if note]
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
            else f"{sum(self.count(s, Op.CHANGED) for s in _SHOWN)} changed, "
            f"{sum(self.count(s, Op.ADDED) for s in _SHOWN)} added, "
            f"{sum(self.count(s, Op.REMOVED) for s in _SHOWN)} removed"
        )
        lines = [head, ""]
        for note in (self._source(), self._existence()):
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
                lines.append(f"| {item.op} | {what} | | {'added' if item.op == Op.ADDED else 'removed'} |")
            for c in item.changes:
                lines.append(f"| {item.op} | {what} | {_md_code(c.path)} | {_md_change(c)} |")
        return "\n".join(lines) + "\n"


# The sections counted in a markdown heading (outputs are listed, not counted).
_SHOWN = (Section.RESOURCES, Section.MANIFESTS)


def markdown_report(diffs: list[PlanDiff]) -> str:
    """One markdown document for a pull request: changed stacks in full, unchanged ones on one line."""
    base = diffs[0].base if diffs else "?"
    lines = [f"### tpustack diff against `{base}`", ""]
    for d in diffs:
        if d.changed:
            lines.append(d.to_markdown())
    same = [_md_name(d) for d in diffs if not d.changed]
    if same:
        lines.append("No changes: " + ", ".join(same))
    if not diffs:
        lines.append("No stacks.")
    return "\n".join(lines).rstrip("\n") + "\n"


def _md_name(d: PlanDiff) -> str:
    return f"`{d.stack}`" if d.matrix is None else f"`{d.stack}` (matrix `{d.matrix}`)"


# ----- rendering one change ------------------------------------------------------------------------------
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


def _resource_items(base: dict, head: dict) -> list[ItemDiff]:
    """Resources by URN, in head's plan order, then those only at base."""
    br = {r["urn"]: r for r in base.get("resources", [])}
    hr = {r["urn"]: r for r in head.get("resources", [])}
    items: list[ItemDiff] = []
    for urn in [*hr, *(u for u in br if u not in hr)]:
        r = hr.get(urn) or br[urn]
        title = f"{r['type']} {r['name']}"
        if urn not in br or urn not in hr:
            if _resource_inputs(r) is not None:
                op = Op.ADDED if urn not in br else Op.REMOVED
                items.append(ItemDiff(op=op, section=Section.RESOURCES, key=urn, title=title))
            continue
        bi, hi = _resource_inputs(br[urn]), _resource_inputs(hr[urn])
        if bi is None or hi is None:
            continue
        changes = compare(bi, hi)
        if br[urn].get("parent") != hr[urn].get("parent"):
            changes.append(Change(path="(parent)", before=br[urn].get("parent"), after=hr[urn].get("parent")))
        if changes:
            items.append(ItemDiff(op=Op.CHANGED, section=Section.RESOURCES, key=urn, title=title, changes=changes))
    return items


def _manifest_items(base: dict, head: dict) -> list[ItemDiff]:
    """Kubernetes objects by apiVersion/kind/namespace/name, in head's order, then those only at base."""
    bm = {manifest_key(m): m for m in base.get("manifests", [])}
    hm = {manifest_key(m): m for m in head.get("manifests", [])}
    items: list[ItemDiff] = []
    for key in [*hm, *(k for k in bm if k not in hm)]:
        title = _manifest_title(hm.get(key) or bm[key])
        if key not in bm or key not in hm:
            op = Op.ADDED if key not in bm else Op.REMOVED
            items.append(ItemDiff(op=op, section=Section.MANIFESTS, key=key, title=title))
            continue
        changes = compare(bm[key], hm[key])
        if changes:
            items.append(ItemDiff(op=Op.CHANGED, section=Section.MANIFESTS, key=key, title=title, changes=changes))
    return items


def _spec_revision_only(c: Change) -> bool:
    """A benchmark spec whose only difference is the content hash of the pod code (metadata.git_revision)."""
    if not (isinstance(c.before, str) and isinstance(c.after, str) and c.path.startswith("data")):
        return False
    try:
        b, a = json.loads(c.before), json.loads(c.after)
    except ValueError:
        return False
    if not (isinstance(b, dict) and isinstance(a, dict)):
        return False
    rev = [(d.get("metadata") or {}).pop("git_revision", None) for d in (b, a)]
    return rev[0] != rev[1] and b == a


def _pod_code_change(item: ItemDiff, c: Change) -> bool:
    """One change of a Kubernetes object that is the pod code: the payload ConfigMap's files, the Jobs' volume
    that lays them out (key -> path), the spec's content hash of them."""
    if " ConfigMap " in item.key and item.key.endswith(f"/{CONFIGMAP_NAME}"):
        return c.path.startswith("data")
    return c.path.endswith("[workloads].configMap.items") or _spec_revision_only(c)


def _is_pod_code(item: ItemDiff, resource: dict | None) -> bool:
    """Whether every change of an item is tpustack's pod code changing (never a change of what is deployed)."""
    if resource is not None:  # a TPU VM's payload file, as a bucket object under _workloads/
        inputs = resource.get("inputs") or {}
        payload_object = resource.get("type") == "gcp:storage/bucketObject:BucketObject" and str(
            inputs.get("name", "")
        ).startswith(f"{names.WORKLOADS_PREFIX}/")
        return payload_object and all(c.path.startswith("source") for c in item.changes)
    if item.op != Op.CHANGED:
        return False
    return bool(item.changes) and all(_pod_code_change(item, c) for c in item.changes)


def _classify(items: list[ItemDiff], base: dict, head: dict) -> list[ItemDiff]:
    resources = {r["urn"]: r for r in [*base.get("resources", []), *head.get("resources", [])]}
    out = []
    for i in items:
        r = resources.get(i.key) if i.section == Section.RESOURCES else None
        if i.section in (Section.RESOURCES, Section.MANIFESTS) and _is_pod_code(i, r):
            i = ItemDiff(op=i.op, section=Section.POD_CODE, key=i.key, title=i.title, changes=i.changes)
        out.append(i)
    return out


def _cost(p: dict | None, key: str = "hourly_usd") -> float | None:
    """A plan's cost figure: None when there is no plan, or (per experiment) no TTL; an unpriced hour is 0."""
    value = None if p is None else (p.get("cost") or {}).get(key)
    if value is None:
        return None if p is None or key != "hourly_usd" else 0.0
    return float(value)


def diff_plans(
    base: dict | None,
    head: dict | None,
    *,
    stack: str | None = None,
    base_label: str = "base",
    head_label: str = HEAD,
    matrix: str | None = None,
) -> PlanDiff:
    """Compare two plan documents (either may be None: the stack does not exist on that side)."""
    b = base or {}
    h = head or {}
    items = _classify(_resource_items(b, h) + _manifest_items(b, h), b, h)
    if base is not None and head is not None:
        changes = compare(b.get("outputs") or {}, h.get("outputs") or {})
        if changes:
            items.append(
                ItemDiff(op=Op.CHANGED, section=Section.OUTPUTS, key="outputs", title="stack outputs", changes=changes)
            )
    ops, sections = list(Op), list(Section)
    items.sort(key=lambda i: (sections.index(i.section), ops.index(i.op)))  # stable: plan order within a group
    return PlanDiff(
        stack=stack or h.get("stack") or b.get("stack") or "?",
        base=base_label,
        head=head_label,
        base_exists=base is not None,
        head_exists=head is not None,
        items=items,
        cost_before=_cost(base),
        cost_after=_cost(head),
        experiment_before=_cost(base, "per_experiment_usd"),
        experiment_after=_cost(head, "per_experiment_usd"),
        matrix=matrix,
    )
