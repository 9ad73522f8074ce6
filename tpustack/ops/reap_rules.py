"""The reaper's vocabulary and its label rules: what a resource's own labels say about it.

Owns the closed sets (``Verdict``, ``Kind``, ``Action``), the records the reaper reports (``Finding``,
``Report``, whose JSON is the ``tpustack reap --json`` contract), the strict parsing of the expiry and keep
labels, and ``judge``: labels -> verdict for one resource on its own. What a container's contents do to its
verdict is tpustack.ops.reap_holds; listing and deleting through the APIs is tpustack.ops.reap.

- tpustack's: the ``tpustack-stack`` label (names.LABEL_STACK) or, for TPU nodes and queued resources, the
  description ``tpustack stack <name>`` that tpustack/components/tpu_vm.py writes.
- expired: ``tpustack-expires`` holds unix seconds, digits only, at most year 9999; anything else is a bad label
  and the resource is left alone. ``--max-age`` gives a resource without the label (pulumi-gcp's queued-resource
  node spec carries no labels) an expiry of createTime + max age; otherwise it is ``no-expiry`` and left alone.
- kept: ``tpustack-keep`` must be ``true`` or ``false``; ``true`` wins over any expiry.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from tpustack.core import names
from tpustack.core.errors import EXIT_PARTIAL, EXIT_RUNTIME


class Verdict(StrEnum):
    """What the reaper decided about one resource (the values are the JSON and text output)."""

    EXPIRED = "expired"  # past its expiry, not kept: deleted with --yes
    ALIVE = "alive"
    KEPT = "kept"
    NO_EXPIRY = "no-expiry"
    BAD_LABEL = "bad-label"
    COVERED = "covered"  # goes (or stays) with its queued resource or cluster
    DELETING = "deleting"  # already being deleted
    HELD = "held"  # expired, but it holds something that may not go (or is held by something kept)
    FOREIGN = "foreign"  # not tpustack's (inside a tpustack container), or not in --project: never touched


class Kind(StrEnum):
    """The billable resources the reaper knows, in the order its report lists them."""

    TPU_NODE = "tpu-node"
    QUEUED_RESOURCE = "queued-resource"
    CLUSTER = "cluster"
    NODE_POOL = "node-pool"


class Action(StrEnum):
    """What was done about an expired resource."""

    NONE = ""
    WOULD_DELETE = "would delete"
    DELETE_STARTED = "delete started"
    DELETED = "deleted"
    FAILED = "failed"


# tpustack-expires: unix seconds as digits only, up to 9999-12-31T23:59:59Z (what datetime can represent).
_EXPIRES = re.compile(r"^[0-9]{1,12}$")
MAX_UNIX = 253402300799

# Written by tpustack/components/tpu_vm.py on every TPU node and queued-resource node spec.
DESCRIPTION_PREFIX = names.TPU_VM_DESCRIPTION_PREFIX


@dataclass(kw_only=True)
class Finding:
    """One resource and the decision about it. Mutable: a container's verdict can cover what it holds, and the
    delete fills in action and detail."""

    kind: Kind
    name: str  # the full resource name the API uses
    location: str
    stack: str | None
    expires: int | None
    keep: bool
    state: str
    verdict: Verdict
    reason: str
    action: Action = Action.NONE
    detail: str = ""  # operation name, or what failed and the fix

    @property
    def short(self) -> str:
        return self.name.split("/locations/", 1)[-1]


@dataclass(kw_only=True)
class Report:
    project: str
    now: int
    delete: bool
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # listings that failed

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(f.action == Action.FAILED for f in self.findings)

    @property
    def exit_code(self) -> int:
        """0 all well; 6 (partial) when a listing or a delete failed but the rest was done; 1 when nothing could
        be listed at all."""
        if not self.failed:
            return 0
        if self.errors and not self.findings and len(self.errors) >= 2:
            return EXIT_RUNTIME
        return EXIT_PARTIAL

    def expired(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == Verdict.EXPIRED]

    def sort(self) -> None:
        """Report order: by kind (Kind's order), then by name."""
        order = {k: i for i, k in enumerate(Kind)}
        self.findings.sort(key=lambda f: (order[f.kind], f.name))

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "now": self.now,
            "mode": "delete" if self.delete else "dry-run",
            "resources": [asdict(f) for f in self.findings],
            "errors": list(self.errors),
            "summary": {
                "listed": len(self.findings),
                "expired": len(self.expired()),
                "failed": sum(f.action == Action.FAILED for f in self.findings) + len(self.errors),
            },
        }


class Judgement(NamedTuple):
    """A resource judged on its own labels."""

    verdict: Verdict
    expires: int | None
    keep: bool
    reason: str


# ----- reading labels -----------------------------------------------------------------------------------
def iso(unix: int) -> str:
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(seconds: int) -> str:
    seconds = abs(seconds)
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _created_unix(value: Any) -> int | None:
    """createTime as unix seconds: a datetime (TPU API) or an RFC 3339 string (GKE API)."""
    if not value:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    return None


def parse_expires(raw: Any) -> int | None:
    """The expiry in unix seconds, or None when the label is not digits-only within year 9999."""
    if not isinstance(raw, str) or not _EXPIRES.fullmatch(raw):
        return None
    value = int(raw)
    return value if value <= MAX_UNIX else None


def parse_keep(raw: Any) -> bool | None:
    """True / False for the keep label ("true" / "false", or absent: False); None when it is anything else."""
    if raw is None:
        return False
    if raw in ("true", "false"):
        return raw == "true"
    return None


def stack_of(labels: dict[str, str], description: str = "") -> str | None:
    """The stack a resource belongs to, or None when it is not tpustack's."""
    if names.LABEL_STACK in labels:
        return labels[names.LABEL_STACK]
    if description.startswith(DESCRIPTION_PREFIX):
        return description[len(DESCRIPTION_PREFIX) :].strip() or None
    return None


def _expiry(raw: str | None, created: Any, max_age_hours: float | None) -> tuple[int | None, str]:
    """(expiry, its basis) from a well-formed expiry label, else from createTime + --max-age; (None, "") when
    neither applies."""
    if raw is not None:
        return parse_expires(raw), f"label {names.LABEL_EXPIRES}"
    created_unix = _created_unix(created)
    if max_age_hours is not None and created_unix is not None:
        return min(created_unix + int(max_age_hours * 3600), MAX_UNIX), f"createTime + --max-age {max_age_hours:g} h"
    return None, ""


def judge(labels: dict[str, str], now: int, created: Any = None, max_age_hours: float | None = None) -> Judgement:
    """(verdict, expires, keep, reason) for one resource's own labels at ``now``."""
    keep = parse_keep(labels.get(names.LABEL_KEEP))
    if keep is None:
        return Judgement(
            Verdict.BAD_LABEL,
            None,
            False,
            f"label {names.LABEL_KEEP}={labels.get(names.LABEL_KEEP)!r} is neither "
            "'true' nor 'false'; left alone. Fix: relabel it, or delete it by hand",
        )
    raw = labels.get(names.LABEL_EXPIRES)
    if raw is not None and parse_expires(raw) is None:
        return Judgement(
            Verdict.KEPT if keep else Verdict.BAD_LABEL,
            None,
            keep,
            f"label {names.LABEL_EXPIRES}={raw!r} is not unix seconds (digits only, up to year 9999); left "
            "alone. Fix: relabel it with a unix time, or delete it by hand",
        )
    expires, basis = _expiry(raw, created, max_age_hours)
    if keep:
        return Judgement(Verdict.KEPT, expires, keep, f"label {names.LABEL_KEEP}=true")
    if expires is None:
        return Judgement(
            Verdict.NO_EXPIRY,
            None,
            keep,
            f"no {names.LABEL_EXPIRES} label; left alone. Fix: pass --max-age "
            f"HOURS to expire it by its creation time, or delete it by hand",
        )
    if expires <= now:
        return Judgement(Verdict.EXPIRED, expires, keep, f"expired {_span(now - expires)} ago ({basis} {iso(expires)})")
    return Judgement(Verdict.ALIVE, expires, keep, f"expires in {_span(expires - now)} ({basis} {iso(expires)})")


def gcloud_fix(f: Finding, project: str) -> str:
    """The hand-deletion command for one resource (gcloud reference: compute tpus tpu-vm / queued-resources,
    container clusters / node-pools)."""
    parts = f.name.split("/")
    match f.kind:
        case Kind.TPU_NODE:
            return f"gcloud compute tpus tpu-vm delete {parts[-1]} --zone {f.location} --project {project}"
        case Kind.QUEUED_RESOURCE:
            return (
                f"gcloud compute tpus queued-resources delete {parts[-1]} --zone {f.location} --project {project} "
                "--force"
            )
        case Kind.CLUSTER:
            return f"gcloud container clusters delete {parts[-1]} --location {f.location} --project {project}"
    return (
        f"gcloud container node-pools delete {parts[-1]} --cluster {parts[-3]} --location {f.location} "
        f"--project {project}"
    )
