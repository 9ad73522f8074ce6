"""The reaper's rule for containers: what a queued resource or a cluster holds decides whether it may go.

Owns judging the API's listings (TPU nodes and queued resources of one zone; a GKE cluster with its node
pools) into Findings, without calling any API. The rule: **a resource is deleted only if it is tpustack's, in
--project, expired by a well-formed label (or --max-age), not kept (neither it nor what holds it carries
tpustack-keep=true), and everything it holds qualifies too; a cluster that holds anything else stays, and only
its qualifying pools go.**

- holds: a cluster holds its node pools; a queued resource holds the TPU nodes it created. A queued resource is
  deleted with ``force=true`` (its nodes first; DeleteQueuedResourceRequest.force in
  google/cloud/tpu_v2/types/cloud_tpu.py), so what it holds is *covered*: it goes, or stays, with it.
- in --project: the resource name the API returns starts with ``projects/<--project>/``; anything named
  elsewhere is ``foreign`` and never touched.
- Anything that is not tpustack's is left alone, and inside a tpustack cluster or queued resource keeps that
  container alive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tpustack.core import names

from .reap_rules import Finding, Kind, Verdict, judge, stack_of

# Verdicts of what a container may take with it, and what a kept cluster keeps.
_GOES_ALONG = (Verdict.EXPIRED, Verdict.DELETING)
_UNDECIDED = (Verdict.EXPIRED, Verdict.ALIVE, Verdict.NO_EXPIRY)
_ALREADY_DELETING = "already being deleted"


def enum_name(value: Any) -> str:
    """An API enum's name (``READY``), or the value as text when it is not an enum."""
    return getattr(value, "name", str(value))


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


@dataclass(frozen=True, kw_only=True)
class Judge:
    """Judges listings for one run: the project they must be in, the time, and --max-age."""

    project: str
    now: int
    max_age_hours: float | None = None

    def in_project(self, name: str) -> bool:
        return name.startswith(f"projects/{self.project}/")

    def _foreign(self, kind: Kind, name: str, location: str, stack: str, state: str) -> Finding:
        return Finding(
            kind=kind,
            name=name,
            location=location,
            stack=stack,
            expires=None,
            keep=False,
            state=state,
            verdict=Verdict.FOREIGN,
            reason=f"named outside projects/{self.project}; never touched",
        )

    # ----- TPU nodes and queued resources ---------------------------------------------------------------
    def node(self, n: Any, zone: str) -> Finding | None:
        """A TPU node judged on its own labels (None when it is not tpustack's)."""
        labels = dict(n.labels)
        stack = stack_of(labels, n.description)
        if stack is None:
            return None
        state = enum_name(n.state)
        if not self.in_project(n.name):
            return self._foreign(Kind.TPU_NODE, n.name, zone, stack, state)
        j = judge(labels, self.now, n.create_time, self.max_age_hours)
        verdict, reason = (Verdict.DELETING, _ALREADY_DELETING) if state == "DELETING" else (j.verdict, j.reason)
        return Finding(
            kind=Kind.TPU_NODE,
            name=n.name,
            location=zone,
            stack=stack,
            expires=j.expires,
            keep=j.keep,
            state=state,
            verdict=verdict,
            reason=reason,
        )

    def tpu_zone(self, zone: str, nodes: list, queued: list) -> list[Finding]:
        """Every tpustack node and queued resource of one zone; a node a listed queued resource holds is judged
        with it."""
        by_qr: dict[str, list] = {}
        for n in nodes:
            if n.queued_resource:
                by_qr.setdefault(n.queued_resource, []).append(n)
        found: list[Finding] = []
        for q in queued:
            found.extend(self.queued(q, by_qr.get(q.name, []), zone))
        qr_names = {q.name for q in queued}
        for n in nodes:
            if n.queued_resource in qr_names:
                continue  # judged with its queued resource
            own = self.node(n, zone)
            if own is not None:
                found.append(own)
        return found

    def queued(self, q: Any, held: list, zone: str) -> list[Finding]:
        """A queued resource and the nodes it holds; nothing when it is not tpustack's, only itself when it is
        named outside the project."""
        labels, description = _queued_identity(q, held)
        stack = stack_of(labels, description)
        if stack is None:
            return []
        state = enum_name(q.state.state) if q.state else "STATE_UNSPECIFIED"
        if not self.in_project(q.name):
            return [self._foreign(Kind.QUEUED_RESOURCE, q.name, zone, stack, state)]
        j = judge(labels, self.now, q.create_time, self.max_age_hours)
        verdict, reason = (Verdict.DELETING, _ALREADY_DELETING) if state == "DELETING" else (j.verdict, j.reason)
        nodes = [(n, self.node(n, zone)) for n in held]
        blockers = _node_blockers(stack, nodes)
        if verdict == Verdict.EXPIRED and blockers:
            verdict, reason = Verdict.HELD, f"{reason}; stays because it holds what may not go: {'; '.join(blockers)}"
        elif held:
            reason += f"; holds node(s) {', '.join(_short(n.name) for n in held)}" + (
                " (deleted with it: force=true)" if verdict == Verdict.EXPIRED else ""
            )
        found = [
            Finding(
                kind=Kind.QUEUED_RESOURCE,
                name=q.name,
                location=zone,
                stack=stack,
                expires=j.expires,
                keep=j.keep,
                state=state,
                verdict=verdict,
                reason=reason,
            )
        ]
        for _, own in nodes:
            if own is None:
                continue
            if verdict == Verdict.EXPIRED:
                own.verdict, own.reason = Verdict.COVERED, f"goes with its queued resource {_short(q.name)}"
            elif own.verdict in _UNDECIDED:
                own.verdict, own.reason = (
                    Verdict.COVERED,
                    f"stays with its queued resource {_short(q.name)} ({verdict})",
                )
            found.append(own)
        return found

    # ----- GKE ---------------------------------------------------------------------------------------
    def cluster(self, c: Any) -> list[Finding]:
        """A tpustack cluster and every pool in it (nothing when the cluster is not tpustack's)."""
        cname = f"projects/{self.project}/locations/{c.location}/clusters/{c.name}"
        labels = dict(c.resource_labels)
        stack = stack_of(labels)
        if stack is None:
            return []  # not tpustack's: never listed, never touched
        state = enum_name(c.status)
        j = judge(labels, self.now, c.create_time, self.max_age_hours)
        verdict, reason = (Verdict.DELETING, _ALREADY_DELETING) if state == "STOPPING" else (j.verdict, j.reason)
        pools: list[Finding] = []
        blockers: list[str] = []
        for p in c.node_pools:
            pool, blocker = self._pool(c, p, stack, verdict)
            pools.append(pool)
            if blocker:
                blockers.append(blocker)
        if verdict == Verdict.EXPIRED and blockers:
            verdict, reason = (
                Verdict.HELD,
                f"{reason}; the cluster stays because {'; '.join(blockers)} (its expired tpustack pools still go)",
            )
        found = [
            Finding(
                kind=Kind.CLUSTER,
                name=cname,
                location=c.location,
                stack=stack,
                expires=j.expires,
                keep=j.keep,
                state=state,
                verdict=verdict,
                reason=reason,
            )
        ]
        for f in pools:
            if verdict == Verdict.EXPIRED and f.verdict in _GOES_ALONG:
                f.verdict, f.reason = Verdict.COVERED, f"goes with its cluster {c.name}"
            found.append(f)
        return found

    def _pool(self, c: Any, p: Any, stack: str, cluster_verdict: Verdict) -> tuple[Finding, str | None]:
        """One node pool on its own labels (kept with a kept cluster), and why it stops the cluster from going
        (None when it does not)."""
        labels = dict(p.config.resource_labels) if p.config else {}
        name = f"projects/{self.project}/locations/{c.location}/clusters/{c.name}/nodePools/{p.name}"
        pstack = stack_of(labels)
        state = enum_name(p.status)
        if pstack is None:
            foreign = Finding(
                kind=Kind.NODE_POOL,
                name=name,
                location=c.location,
                stack=None,
                expires=None,
                keep=False,
                state=state,
                verdict=Verdict.FOREIGN,
                reason="not tpustack's (no tpustack-stack label); never touched",
            )
            return foreign, f"pool {p.name} is not tpustack's"
        j = judge(labels, self.now)
        verdict, reason = (Verdict.DELETING, _ALREADY_DELETING) if state == "STOPPING" else (j.verdict, j.reason)
        if cluster_verdict == Verdict.KEPT and verdict in _UNDECIDED:
            verdict, reason = Verdict.KEPT, f"its cluster {c.name} is {names.LABEL_KEEP}=true ({reason})"
        pool = Finding(
            kind=Kind.NODE_POOL,
            name=name,
            location=c.location,
            stack=pstack,
            expires=j.expires,
            keep=j.keep,
            state=state,
            verdict=verdict,
            reason=reason,
        )
        if pstack != stack:
            return pool, f"pool {p.name} belongs to stack {pstack}"
        if verdict not in _GOES_ALONG:
            return pool, f"pool {p.name} is {verdict}"
        return pool, None


def _queued_identity(q: Any, held: list) -> tuple[dict[str, str], str]:
    """(labels, description) of a queued resource: the first node spec with a stack label, else the first node
    it produced with one (pulumi-gcp cannot label the request itself); the first node spec's description."""
    specs = list(q.tpu.node_spec) if q.tpu else []
    labelled = [dict(s.node.labels) for s in specs if names.LABEL_STACK in s.node.labels]
    labelled += [dict(n.labels) for n in held if names.LABEL_STACK in n.labels]
    description = next((s.node.description for s in specs if s.node.description), "")
    return (labelled[0] if labelled else {}), description


def _node_blockers(stack: str, nodes: list[tuple[Any, Finding | None]]) -> list[str]:
    """Why each held node may not go with its queued resource (none: all of them may)."""
    out = []
    for n, own in nodes:
        short = _short(n.name)
        if own is None or own.stack != stack:
            out.append(f"node {short} is not this stack's")
        elif own.verdict in (Verdict.KEPT, Verdict.BAD_LABEL):
            out.append(f"node {short} is {own.verdict} ({own.reason})")
        elif own.verdict == Verdict.ALIVE and names.LABEL_EXPIRES in n.labels:
            out.append(f"node {short} has not expired ({own.reason})")
    return out
