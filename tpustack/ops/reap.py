"""The TTL reaper: finds tpustack's billable resources past their expiry and (with ``--yes``) deletes them.

Owns the rules for what is expired and what goes: TPU VMs (nodes), queued resources, GKE clusters and GKE
node pools, read through the real API clients (``google.cloud.tpu_v2.TpuClient`` and
``google.cloud.container_v1.ClusterManagerClient``, REST transport).

The rule, in one sentence: **a resource is deleted only if it is tpustack's, in --project, expired by a
well-formed label (or --max-age), not kept (neither it nor what holds it carries tpustack-keep=true), and
everything it holds qualifies too; a cluster that holds anything else stays, and only its qualifying pools go.**

- tpustack's: the ``tpustack-stack`` label (names.LABEL_STACK) or, for TPU nodes and queued resources, the
  description ``tpustack stack <name>`` that tpustack/components/tpu_vm.py writes. Anything else is left alone
  (and, inside a tpustack cluster or queued resource, keeps that container alive).
- in --project: the resource name the API returns starts with ``projects/<--project>/``.
- expired: ``tpustack-expires`` holds unix seconds, digits only, at most year 9999; anything else is a bad label
  and the resource is left alone. pulumi-gcp's queued-resource node spec carries no labels, so tpustack's queued
  TPU VMs have no expiry label; ``--max-age`` gives those an expiry of createTime + max age, otherwise they are
  listed as ``no-expiry`` and left alone. ``tpustack-keep`` must be ``true`` or ``false``.
- holds: a cluster holds its node pools; a queued resource holds the TPU nodes it created. A queued resource is
  deleted with ``force=true`` (its nodes first; DeleteQueuedResourceRequest.force in
  google/cloud/tpu_v2/types/cloud_tpu.py), so a reaped request never keeps holding quota.
- Every decision is a Finding with its reason (``--json`` lists them all); each delete is isolated: a failure or
  an odd answer is recorded on that resource and the others go on.

Deliberately not done: deleting anything else (buckets, service accounts, IAM: not billable per hour, and
results must survive), waiting on deletes unless asked (``wait_s``), and fixing Pulumi state: after a reap,
``pulumi refresh`` in the affected stack makes its state match.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from tpustack.core import names
from tpustack.core.errors import EXIT_PARTIAL, EXIT_RUNTIME, TpuStackError, UsageError

KINDS = ("tpu-node", "queued-resource", "cluster", "node-pool")

EXPIRED = "expired"  # past its expiry, not kept: deleted with --yes
ALIVE = "alive"
KEPT = "kept"
NO_EXPIRY = "no-expiry"
BAD_LABEL = "bad-label"
COVERED = "covered"  # goes (or stays) with its queued resource or cluster
DELETING = "deleting"  # already being deleted
HELD = "held"  # expired, but it holds something that may not go (or is held by something kept)
FOREIGN = "foreign"  # not tpustack's (inside a tpustack container), or not in --project: never touched

# tpustack-expires: unix seconds as digits only, up to 9999-12-31T23:59:59Z (what datetime can represent).
_EXPIRES = re.compile(r"^[0-9]{1,12}$")
MAX_UNIX = 253402300799

# Written by tpustack/components/tpu_vm.py on every TPU node and queued-resource node spec.
DESCRIPTION_PREFIX = names.TPU_VM_DESCRIPTION_PREFIX
_ZONE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")


class ReapError(TpuStackError):
    """The reaper could not start (no credentials)."""


class ReapOptionError(ReapError, UsageError):
    """An option the reaper cannot use (exit code of a usage error)."""


@dataclass
class Finding:
    kind: str
    name: str  # the full resource name the API uses
    location: str
    stack: str | None
    expires: int | None
    keep: bool
    state: str
    verdict: str
    reason: str
    action: str = ""  # "would delete", "delete started", "deleted", "failed"
    detail: str = ""  # operation name, or what failed and the fix

    @property
    def short(self) -> str:
        return self.name.split("/locations/", 1)[-1]


@dataclass
class Report:
    project: str
    now: int
    delete: bool
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # listings that failed

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(f.action == "failed" for f in self.findings)

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
        return [f for f in self.findings if f.verdict == EXPIRED]

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
                "failed": sum(f.action == "failed" for f in self.findings) + len(self.errors),
            },
        }


# ----- judging one resource ---------------------------------------------------------------------------
def _iso(unix: int) -> str:
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


def judge(
    labels: dict[str, str], now: int, created: Any = None, max_age_hours: float | None = None
) -> tuple[str, int | None, bool, str]:
    """(verdict, expires, keep, reason) for one resource's own labels at ``now``."""
    keep = parse_keep(labels.get(names.LABEL_KEEP))
    if keep is None:
        return (
            BAD_LABEL,
            None,
            False,
            f"label {names.LABEL_KEEP}={labels.get(names.LABEL_KEEP)!r} is neither "
            "'true' nor 'false'; left alone. Fix: relabel it, or delete it by hand",
        )
    raw = labels.get(names.LABEL_EXPIRES)
    created_unix = _created_unix(created)
    expires: int | None = None
    if raw is not None:
        basis = f"label {names.LABEL_EXPIRES}"
        expires = parse_expires(raw)
        if expires is None:
            return (
                KEPT if keep else BAD_LABEL,
                None,
                keep,
                f"label {names.LABEL_EXPIRES}={raw!r} is not unix seconds (digits only, up to year 9999); left "
                "alone. Fix: relabel it with a unix time, or delete it by hand",
            )
    elif max_age_hours is not None and created_unix is not None:
        basis = f"createTime + --max-age {max_age_hours:g} h"
        expires = min(created_unix + int(max_age_hours * 3600), MAX_UNIX)
    if keep:
        return KEPT, expires, keep, f"label {names.LABEL_KEEP}=true"
    if expires is None:
        return (
            NO_EXPIRY,
            None,
            keep,
            f"no {names.LABEL_EXPIRES} label; left alone. Fix: pass --max-age "
            f"HOURS to expire it by its creation time, or delete it by hand",
        )
    if expires <= now:
        return EXPIRED, expires, keep, f"expired {_span(now - expires)} ago ({basis} {_iso(expires)})"
    return ALIVE, expires, keep, f"expires in {_span(expires - now)} ({basis} {_iso(expires)})"


def _stack_of(labels: dict[str, str], description: str = "") -> str | None:
    if names.LABEL_STACK in labels:
        return labels[names.LABEL_STACK]
    if description.startswith(DESCRIPTION_PREFIX):
        return description[len(DESCRIPTION_PREFIX) :].strip() or None
    return None


def _within(location: str, wanted: str) -> bool:
    """Same location, or a zone inside a region (either way round)."""
    return location == wanted or location.startswith(wanted + "-") or wanted.startswith(location + "-")


def _enum_name(value: Any) -> str:
    return getattr(value, "name", str(value))


def _gcloud_fix(f: Finding, project: str) -> str:
    """The hand-deletion command for one resource (gcloud reference: compute tpus tpu-vm / queued-resources,
    container clusters / node-pools)."""
    parts = f.name.split("/")
    if f.kind == "tpu-node":
        return f"gcloud compute tpus tpu-vm delete {parts[-1]} --zone {f.location} --project {project}"
    if f.kind == "queued-resource":
        return (
            f"gcloud compute tpus queued-resources delete {parts[-1]} --zone {f.location} --project {project} --force"
        )
    if f.kind == "cluster":
        return f"gcloud container clusters delete {parts[-1]} --location {f.location} --project {project}"
    return (
        f"gcloud container node-pools delete {parts[-1]} --cluster {parts[-3]} --location {f.location} "
        f"--project {project}"
    )


def _describe(e: BaseException) -> str:
    code = getattr(e, "code", None)
    msg = (getattr(e, "message", None) or str(e)).splitlines()[0][:300] if str(e) else type(e).__name__
    if code and isinstance(code, (int, str)):
        return f"{code} {msg}".strip()
    return f"{type(e).__name__}: {msg}"


# ----- the reaper -------------------------------------------------------------------------------------
class Reaper:
    """Survey a project, then (``delete=True``) delete what qualifies. One instance per run."""

    def __init__(
        self,
        project: str,
        tpu: Any,
        gke: Any,
        *,
        locations: list[str] | None = None,
        now: int | None = None,
        max_age_hours: float | None = None,
    ):
        if not project or not re.fullmatch(names.PROJECT_ID_PATTERN, project):
            raise ReapOptionError(
                f"--project {project!r}: not a GCP project id. Fix: e.g. --project my-tpu-project "
                "(`gcloud projects list`)"
            )
        if max_age_hours is not None and not (0 < max_age_hours <= 24 * 3650):
            raise ReapOptionError(
                f"--max-age: {max_age_hours:g} is not a number of hours between 0 and 87600. Fix: e.g. "
                "--max-age 24, or leave it out"
            )
        if now is not None and not (0 <= now <= MAX_UNIX):
            raise ReapOptionError(
                f"--now {now}: not unix seconds between 0 and {MAX_UNIX} (year 9999). Fix: e.g. "
                f"--now {int(time.time())}, or leave it out"
            )
        self.project = project
        self.tpu = tpu
        self.gke = gke
        self.locations = list(locations or [])
        self.now = int(time.time()) if now is None else int(now)
        self.max_age_hours = max_age_hours

    def _in_project(self, name: str) -> bool:
        return name.startswith(f"projects/{self.project}/")

    # ----- listing --------------------------------------------------------------------------------
    def _tpu_zones(self) -> list[str]:
        if self.locations and all(_ZONE.match(loc) for loc in self.locations):
            return sorted(set(self.locations))
        zones: list[str] = []
        token = ""
        while True:
            resp = self.tpu.list_locations(request={"name": f"projects/{self.project}", "page_token": token})
            zones.extend(loc.location_id for loc in resp.locations)
            token = resp.next_page_token
            if not token:
                break
        if self.locations:
            zones = [z for z in zones if any(_within(z, w) for w in self.locations)]
        return sorted(set(zones))

    def _survey_tpu(self, report: Report) -> None:
        try:
            zones = self._tpu_zones()
        except Exception as e:  # any answer that is not a location list: reported, the GKE survey goes on
            report.errors.append(
                f"TPU locations of projects/{self.project}: {_describe(e)}. Fix: enable "
                f"tpu.googleapis.com and grant roles/tpu.viewer, or pass --location ZONE"
            )
            return
        for zone in zones:
            parent = f"projects/{self.project}/locations/{zone}"
            try:
                nodes = list(self.tpu.list_nodes(parent=parent))
                queued = list(self.tpu.list_queued_resources(parent=parent))
            except Exception as e:  # one zone's failure never stops the others
                report.errors.append(
                    f"TPU nodes/queued resources in {parent}: {_describe(e)}. Fix: grant "
                    f"roles/tpu.viewer (roles/tpu.admin to delete) to the reaper's identity"
                )
                continue
            self._judge_tpu(report, zone, nodes, queued)

    def _node_finding(self, n: Any, zone: str) -> Finding | None:
        """A TPU node judged on its own labels (None when it is not tpustack's)."""
        labels = dict(n.labels)
        stack = _stack_of(labels, n.description)
        if stack is None:
            return None
        state = _enum_name(n.state)
        if not self._in_project(n.name):
            return Finding(
                "tpu-node",
                n.name,
                zone,
                stack,
                None,
                False,
                state,
                FOREIGN,
                f"named outside projects/{self.project}; never touched",
            )
        verdict, expires, keep, reason = judge(labels, self.now, n.create_time, self.max_age_hours)
        if state == "DELETING":
            verdict, reason = DELETING, "already being deleted"
        return Finding("tpu-node", n.name, zone, stack, expires, keep, state, verdict, reason)

    def _judge_tpu(self, report: Report, zone: str, nodes: list, queued: list) -> None:
        by_qr: dict[str, list] = {}
        for n in nodes:
            if n.queued_resource:
                by_qr.setdefault(n.queued_resource, []).append(n)
        qr_names = {q.name for q in queued}
        for q in queued:
            specs = list(q.tpu.node_spec) if q.tpu else []
            labels: dict[str, str] = {}
            description = ""
            for spec in specs:
                if not labels and names.LABEL_STACK in spec.node.labels:
                    labels = dict(spec.node.labels)
                description = description or spec.node.description
            held = by_qr.get(q.name, [])
            # No labels on the request (pulumi-gcp cannot set them): take them from the node it produced.
            for n in held:
                if not labels and names.LABEL_STACK in n.labels:
                    labels = dict(n.labels)
            stack = _stack_of(labels, description)
            if stack is None:
                continue
            state = _enum_name(q.state.state) if q.state else "STATE_UNSPECIFIED"
            if not self._in_project(q.name):
                report.findings.append(
                    Finding(
                        "queued-resource",
                        q.name,
                        zone,
                        stack,
                        None,
                        False,
                        state,
                        FOREIGN,
                        f"named outside projects/{self.project}; never touched",
                    )
                )
                continue
            verdict, expires, keep, reason = judge(labels, self.now, q.create_time, self.max_age_hours)
            if state == "DELETING":
                verdict, reason = DELETING, "already being deleted"
            blockers = []
            for n in held:
                own = self._node_finding(n, zone)
                short = n.name.rsplit("/", 1)[-1]
                if own is None or own.stack != stack:
                    blockers.append(f"node {short} is not this stack's")
                elif own.verdict in (KEPT, BAD_LABEL):
                    blockers.append(f"node {short} is {own.verdict} ({own.reason})")
                elif own.verdict == ALIVE and names.LABEL_EXPIRES in n.labels:
                    blockers.append(f"node {short} has not expired ({own.reason})")
            if verdict == EXPIRED and blockers:
                verdict, reason = HELD, f"{reason}; stays because it holds what may not go: {'; '.join(blockers)}"
            elif held:
                reason += f"; holds node(s) {', '.join(n.name.rsplit('/', 1)[-1] for n in held)}" + (
                    " (deleted with it: force=true)" if verdict == EXPIRED else ""
                )
            report.findings.append(
                Finding("queued-resource", q.name, zone, stack, expires, keep, state, verdict, reason)
            )
            for n in held:
                own = self._node_finding(n, zone)
                if own is None:
                    continue
                if verdict == EXPIRED:
                    own.verdict, own.reason = COVERED, f"goes with its queued resource {q.name.rsplit('/', 1)[-1]}"
                elif own.verdict in (EXPIRED, ALIVE, NO_EXPIRY):
                    own.verdict, own.reason = (
                        COVERED,
                        (f"stays with its queued resource {q.name.rsplit('/', 1)[-1]} ({verdict})"),
                    )
                report.findings.append(own)
        for n in nodes:
            if n.queued_resource in qr_names:
                continue  # judged with its queued resource above
            own = self._node_finding(n, zone)
            if own is not None:
                report.findings.append(own)

    def _survey_gke(self, report: Report) -> None:
        parent = f"projects/{self.project}/locations/-"
        try:
            resp = self.gke.list_clusters(parent=parent)
            clusters = list(resp.clusters)
            missing = list(resp.missing_zones)
        except Exception as e:  # any answer that is not a cluster list: reported
            report.errors.append(
                f"GKE clusters of projects/{self.project}: {_describe(e)}. Fix: enable "
                f"container.googleapis.com and grant roles/container.viewer (container.admin "
                f"to delete) to the reaper's identity"
            )
            return
        if missing:
            report.errors.append(
                f"GKE clusters: zones {', '.join(missing)} did not answer; their "
                f"clusters are missing from this run. Fix: rerun later"
            )
        for c in clusters:
            if self.locations and not any(_within(c.location, w) for w in self.locations):
                continue
            self._judge_cluster(report, c)

    def _judge_cluster(self, report: Report, c: Any) -> None:
        cname = f"projects/{self.project}/locations/{c.location}/clusters/{c.name}"
        labels = dict(c.resource_labels)
        stack = _stack_of(labels)
        if stack is None:
            return  # not tpustack's: never listed, never touched
        state = _enum_name(c.status)
        verdict, expires, keep, reason = judge(labels, self.now, c.create_time, self.max_age_hours)
        if state == "STOPPING":
            verdict, reason = DELETING, "already being deleted"
        pools: list[Finding] = []
        blockers: list[str] = []
        for p in c.node_pools:
            plabels = dict(p.config.resource_labels) if p.config else {}
            pname = f"{cname}/nodePools/{p.name}"
            pstack = _stack_of(plabels)
            pstate = _enum_name(p.status)
            if pstack is None:
                pools.append(
                    Finding(
                        "node-pool",
                        pname,
                        c.location,
                        None,
                        None,
                        False,
                        pstate,
                        FOREIGN,
                        "not tpustack's (no tpustack-stack label); never touched",
                    )
                )
                blockers.append(f"pool {p.name} is not tpustack's")
                continue
            pv, pexp, pkeep, preason = judge(plabels, self.now)
            if pstate == "STOPPING":
                pv, preason = DELETING, "already being deleted"
            if verdict == KEPT and pv in (EXPIRED, ALIVE, NO_EXPIRY):
                pv, preason = KEPT, f"its cluster {c.name} is {names.LABEL_KEEP}=true ({preason})"
            pools.append(Finding("node-pool", pname, c.location, pstack, pexp, pkeep, pstate, pv, preason))
            if pstack != stack:
                blockers.append(f"pool {p.name} belongs to stack {pstack}")
            elif pv not in (EXPIRED, DELETING):
                blockers.append(f"pool {p.name} is {pv}")
        if verdict == EXPIRED and blockers:
            verdict, reason = (
                HELD,
                (f"{reason}; the cluster stays because {'; '.join(blockers)} (its expired tpustack pools still go)"),
            )
        report.findings.append(Finding("cluster", cname, c.location, stack, expires, keep, state, verdict, reason))
        for f in pools:
            if verdict == EXPIRED and f.verdict in (EXPIRED, DELETING):
                f.verdict, f.reason = COVERED, f"goes with its cluster {c.name}"
            report.findings.append(f)

    def survey(self, delete: bool = False) -> Report:
        report = Report(self.project, self.now, delete)
        self._survey_tpu(report)
        self._survey_gke(report)
        order = {k: i for i, k in enumerate(KINDS)}
        report.findings.sort(key=lambda f: (order[f.kind], f.name))
        return report

    # ----- deleting -------------------------------------------------------------------------------
    def _start_delete(self, f: Finding) -> tuple[str, Callable[[float], str | None]]:
        """Send the delete; return (operation name, wait(timeout) -> error text or None when done, raises
        TimeoutError when still running)."""
        if f.kind == "tpu-node":
            op = self.tpu.delete_node(name=f.name)
            return op.operation.name, lambda timeout: self._wait_tpu(op, timeout)
        if f.kind == "queued-resource":
            op = self.tpu.delete_queued_resource(request={"name": f.name, "force": True})
            return op.operation.name, lambda timeout: self._wait_tpu(op, timeout)
        if f.kind == "cluster":
            gop = self.gke.delete_cluster(name=f.name)
        else:
            gop = self.gke.delete_node_pool(name=f.name)
        op_name = f"projects/{self.project}/locations/{f.location}/operations/{gop.name}"
        return op_name, lambda timeout: self._wait_gke(op_name, timeout)

    @staticmethod
    def _wait_tpu(op: Any, timeout: float) -> str | None:
        import concurrent.futures

        try:
            op.result(timeout=max(timeout, 0.001))
        except concurrent.futures.TimeoutError as e:
            raise TimeoutError from e
        return None

    def _wait_gke(self, op_name: str, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            op = self.gke.get_operation(name=op_name)
            if _enum_name(op.status) == "DONE":
                if op.error and op.error.code:
                    return f"{op.error.code} {op.error.message}"
                return None
            if time.monotonic() >= deadline:
                raise TimeoutError
            time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))

    def run(self, delete: bool = False, wait_s: float = 0.0) -> Report:
        """Survey, then delete every expired resource when ``delete``; errors are recorded per resource."""
        report = self.survey(delete)
        pending: list[tuple[Finding, Callable[[float], str | None]]] = []
        for f in report.expired():
            if not delete:
                f.action = "would delete"
                continue
            try:
                f.detail, waiter = self._start_delete(f)
                f.action = "delete started"
                pending.append((f, waiter))
            except Exception as e:  # each delete is isolated: an error or an odd answer is recorded here
                f.action = "failed"
                f.detail = (
                    f"delete {f.kind} {f.short}: {_describe(e)}. Fix: rerun `tpustack reap --yes` (it "
                    f"is idempotent) or delete it by hand: {_gcloud_fix(f, self.project)}"
                )
        # Deletes run in parallel on Google's side; wait for them all against one deadline.
        deadline = time.monotonic() + wait_s
        for f, waiter in pending if wait_s > 0 else []:
            try:
                problem = waiter(deadline - time.monotonic())
            except TimeoutError:
                f.detail += f" (still running after {wait_s:g} s)"
                continue
            except Exception as e:  # an operation that cannot be read is that resource's failure only
                problem = _describe(e)
            if problem:
                f.action = "failed"
                f.detail = (
                    f"delete {f.kind} {f.short}: operation {f.detail} failed: {problem}. Fix: "
                    f"{_gcloud_fix(f, self.project)}"
                )
            else:
                f.action = "deleted"
        return report


def make_clients(endpoint: str | None = None, credentials: Any = None) -> tuple[Any, Any]:
    """TPU v2 and GKE v1 clients over REST (the reaper needs no gRPC); ``endpoint`` for a local server."""
    from google.api_core.client_options import ClientOptions
    from google.auth import exceptions as aexc
    from google.cloud import container_v1, tpu_v2

    opts = ClientOptions(api_endpoint=endpoint) if endpoint else None
    try:
        tpu = tpu_v2.TpuClient(transport="rest", credentials=credentials, client_options=opts)
        gke = container_v1.ClusterManagerClient(transport="rest", credentials=credentials, client_options=opts)
    except aexc.DefaultCredentialsError as e:
        raise ReapError(
            f"credentials: none found ({e}). Fix: `gcloud auth application-default login`, or "
            f"run the scheduled job as a service account with roles/tpu.admin and "
            f"roles/container.admin"
        ) from e
    return tpu, gke
