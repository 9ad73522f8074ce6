"""The TTL reaper: finds tpustack's billable resources past their expiry and (with ``--yes``) deletes them.

Owns the rules for what is expired and what goes: TPU VMs (nodes), queued resources, GKE clusters and GKE
node pools, read through the real API clients (``google.cloud.tpu_v2.TpuClient`` and
``google.cloud.container_v1.ClusterManagerClient``, REST transport).

- Ownership: a resource is tpustack's when it carries the ``tpustack-stack`` label (names.LABEL_STACK) or,
  for TPU nodes and queued resources, the description ``tpustack stack <name>`` that tpustack/components/tpu_vm.py
  writes. Anything else is never listed or touched.
- Expiry: the ``tpustack-expires`` label (unix seconds). pulumi-gcp's queued-resource node spec carries no
  labels, so tpustack's own queued TPU VMs have no expiry label; ``max_age_hours`` (``--max-age``) gives those
  an expiry of createTime + max age, otherwise they are listed as ``no-expiry`` and left alone.
- ``tpustack-keep=true`` wins over any expiry.
- A queued resource is deleted with ``force=true`` (its nodes first, then the request, per
  DeleteQueuedResourceRequest.force in google/cloud/tpu_v2/types/cloud_tpu.py), so a reaped request never
  keeps holding quota; its nodes are judged through it. An expired cluster is deleted whole (it takes its
  pools with it) unless one of its pools is marked keep, in which case only its expired pools go.

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
from tpustack.core.errors import TpuStackError

KINDS = ("tpu-node", "queued-resource", "cluster", "node-pool")

EXPIRED = "expired"  # past its expiry, not kept: deleted with --yes
ALIVE = "alive"
KEPT = "kept"
NO_EXPIRY = "no-expiry"
BAD_LABEL = "bad-label"
COVERED = "covered"  # goes (or stays) with its queued resource or cluster
DELETING = "deleting"  # already being deleted

# Written by tpustack/components/tpu_vm.py on every TPU node and queued-resource node spec.
DESCRIPTION_PREFIX = "tpustack stack "
_ZONE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")


class ReapError(TpuStackError):
    """The reaper could not start (bad arguments, no credentials)."""


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


def judge(
    labels: dict[str, str], now: int, created: Any = None, max_age_hours: float | None = None
) -> tuple[str, int | None, bool, str]:
    """(verdict, expires, keep, reason) for one resource's labels at ``now``."""
    keep = labels.get(names.LABEL_KEEP, "").lower() == "true"
    raw = labels.get(names.LABEL_EXPIRES)
    created_unix = _created_unix(created)
    expires: int | None = None
    if raw is not None:
        basis = f"label {names.LABEL_EXPIRES}"
        try:
            expires = int(raw)
        except ValueError:
            return (
                KEPT if keep else BAD_LABEL,
                None,
                keep,
                f"label {names.LABEL_EXPIRES}={raw!r} is not unix seconds; left alone. Fix: relabel "
                f"it with a unix time, or delete it by hand",
            )
    elif max_age_hours is not None and created_unix is not None:
        basis = f"createTime + --max-age {max_age_hours:g} h"
        expires = created_unix + int(max_age_hours * 3600)
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


def _api_errors() -> tuple[type[BaseException], ...]:
    import requests
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as aexc

    return (gexc.GoogleAPIError, aexc.GoogleAuthError, requests.RequestException)


def _describe(e: BaseException) -> str:
    code = getattr(e, "code", None)
    msg = getattr(e, "message", None) or str(e)
    return f"{code} {msg}".strip() if code else msg


# ----- the reaper -------------------------------------------------------------------------------------
class Reaper:
    """Survey a project, then (``delete=True``) delete what is expired. One instance per run."""

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
        if not project:
            raise ReapError("--project: empty. Fix: pass the GCP project id, e.g. --project my-tpu-project")
        if max_age_hours is not None and max_age_hours <= 0:
            raise ReapError(
                f"--max-age: {max_age_hours:g} is not a positive number of hours. Fix: e.g. "
                f"--max-age 24, or leave it out"
            )
        self.project = project
        self.tpu = tpu
        self.gke = gke
        self.locations = list(locations or [])
        self.now = int(time.time()) if now is None else int(now)
        self.max_age_hours = max_age_hours

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
        errs = _api_errors()
        try:
            zones = self._tpu_zones()
        except errs as e:
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
            except errs as e:
                report.errors.append(
                    f"TPU nodes/queued resources in {parent}: {_describe(e)}. Fix: grant "
                    f"roles/tpu.viewer (roles/tpu.admin to delete) to the reaper's identity"
                )
                continue
            self._judge_tpu(report, zone, nodes, queued)

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
            # No labels on the request (pulumi-gcp cannot set them): take them from the node it produced.
            for n in by_qr.get(q.name, []):
                if not labels and names.LABEL_STACK in n.labels:
                    labels = dict(n.labels)
            stack = _stack_of(labels, description)
            if stack is None:
                continue
            state = _enum_name(q.state.state) if q.state else "STATE_UNSPECIFIED"
            verdict, expires, keep, reason = judge(labels, self.now, q.create_time, self.max_age_hours)
            if state == "DELETING":
                verdict, reason = DELETING, "already being deleted"
            held = [n.name.rsplit("/", 1)[-1] for n in by_qr.get(q.name, [])]
            if held:
                reason += f"; holds node(s) {', '.join(held)} (deleted with it: force=true)"
            report.findings.append(
                Finding("queued-resource", q.name, zone, stack, expires, keep, state, verdict, reason)
            )
        for n in nodes:
            labels = dict(n.labels)
            stack = _stack_of(labels, n.description)
            if stack is None:
                continue
            state = _enum_name(n.state)
            if n.queued_resource in qr_names:
                f = Finding(
                    "tpu-node",
                    n.name,
                    zone,
                    stack,
                    None,
                    False,
                    state,
                    COVERED,
                    f"judged through its queued resource {n.queued_resource.rsplit('/', 1)[-1]}",
                )
            else:
                verdict, expires, keep, reason = judge(labels, self.now, n.create_time, self.max_age_hours)
                if state == "DELETING":
                    verdict, reason = DELETING, "already being deleted"
                f = Finding("tpu-node", n.name, zone, stack, expires, keep, state, verdict, reason)
            report.findings.append(f)

    def _survey_gke(self, report: Report) -> None:
        errs = _api_errors()
        parent = f"projects/{self.project}/locations/-"
        try:
            resp = self.gke.list_clusters(parent=parent)
        except errs as e:
            report.errors.append(
                f"GKE clusters of projects/{self.project}: {_describe(e)}. Fix: enable "
                f"container.googleapis.com and grant roles/container.viewer (container.admin "
                f"to delete) to the reaper's identity"
            )
            return
        if resp.missing_zones:
            report.errors.append(
                f"GKE clusters: zones {', '.join(resp.missing_zones)} did not answer; their "
                f"clusters are missing from this run. Fix: rerun later"
            )
        for c in resp.clusters:
            if self.locations and not any(_within(c.location, w) for w in self.locations):
                continue
            self._judge_cluster(report, c)

    def _judge_cluster(self, report: Report, c: Any) -> None:
        cname = f"projects/{self.project}/locations/{c.location}/clusters/{c.name}"
        labels = dict(c.resource_labels)
        stack = _stack_of(labels)
        pools = []
        for p in c.node_pools:
            plabels = dict(p.config.resource_labels) if p.config else {}
            pstack = _stack_of(plabels)
            pools.append((p, plabels, pstack, judge(plabels, self.now) if pstack else None))
        kept_pools = [p.name for p, _, _, j in pools if j and j[2]]
        cluster_goes = False
        if stack is not None:
            verdict, expires, keep, reason = judge(labels, self.now, c.create_time, self.max_age_hours)
            state = _enum_name(c.status)
            if state == "STOPPING":
                verdict, reason = DELETING, "already being deleted"
            elif verdict == EXPIRED and kept_pools:
                verdict = KEPT
                reason += (
                    f"; kept because pool(s) {', '.join(kept_pools)} are {names.LABEL_KEEP}=true "
                    f"(their expired sibling pools still go)"
                )
            cluster_goes = verdict in (EXPIRED, DELETING)
            report.findings.append(Finding("cluster", cname, c.location, stack, expires, keep, state, verdict, reason))
        for p, _plabels, pstack, j in pools:
            if pstack is None or j is None:
                continue
            pname = f"{cname}/nodePools/{p.name}"
            state = _enum_name(p.status)
            if cluster_goes:
                report.findings.append(
                    Finding(
                        "node-pool",
                        pname,
                        c.location,
                        pstack,
                        j[1],
                        j[2],
                        state,
                        COVERED,
                        f"goes with its cluster {c.name}",
                    )
                )
                continue
            verdict, expires, keep, reason = j
            if state == "STOPPING":
                verdict, reason = DELETING, "already being deleted"
            report.findings.append(
                Finding("node-pool", pname, c.location, pstack, expires, keep, state, verdict, reason)
            )

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
        errs = _api_errors()
        pending: list[tuple[Finding, Callable[[float], str | None]]] = []
        for f in report.expired():
            if not delete:
                f.action = "would delete"
                continue
            try:
                f.detail, waiter = self._start_delete(f)
                f.action = "delete started"
                pending.append((f, waiter))
            except errs as e:
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
            except errs as e:
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
