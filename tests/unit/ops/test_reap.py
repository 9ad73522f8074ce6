"""`tpustack reap` against a local server speaking the TPU v2 and GKE v1 REST APIs, through the real client
libraries: it lists across zones and pages, a dry run deletes nothing, --yes deletes only what is expired and
not kept, and an API error is reported while the rest continues."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from google.auth.credentials import AnonymousCredentials
from typer.testing import CliRunner

from tpustack.cli import app
from tpustack.core import names as k8s_keys
from tpustack.ops import reap
from tpustack.ops.reap_holds import Judge

from helpers.fake_gcp import FakeGcpServer, FakeState

NOW = 1_795_392_000  # 2026-11-23T00:00:00Z; the fake's createTime is 2026-11-20T00:00:00Z
P = "my-tpu-project"


def labels(stack: str, expires_in_s: int | None, keep: bool = False) -> dict[str, str]:
    out = {k8s_keys.LABEL_STACK: stack, k8s_keys.LABEL_KEEP: "true" if keep else "false", "team": "ml"}
    if expires_in_s is not None:
        out[k8s_keys.LABEL_EXPIRES] = str(NOW + expires_in_s)
    return out


def populate(st: FakeState) -> dict[str, str]:
    """A project as a forgetful team leaves it. Returns short handles -> full resource names."""
    n: dict[str, str] = {}
    # Three tpustack nodes in one zone, so the listing spans pages (the server's page size is 2).
    n["expired"] = st.add_node("us-east5-a", "tps-old", labels("old", -3600))
    n["alive"] = st.add_node("us-east5-a", "tps-young", labels("young", 3600))
    n["kept"] = st.add_node("us-east5-a", "tps-kept", labels("kept", -86400, keep=True))
    n["foreign"] = st.add_node("us-east5-a", "someone-elses", {"team": "other"})
    # In the last zone of the (paginated) location list.
    n["west"] = st.add_node("us-west4-a", "tps-dev", labels("dev", -60))
    # A tpustack VM known only by its description (no labels), like a queued one.
    n["nolabel"] = st.add_node("us-east5-b", "tps-desc", None, description="tpustack stack desc")
    # Queued resource with labels in its node spec, and the node it produced.
    n["qr"] = st.add_queued("us-east5-b", "tps-queued", labels("queued", -7200), state="ACTIVE")
    n["qr-node"] = st.add_node("us-east5-b", "tps-queued", labels("queued", -7200), queued_resource=n["qr"])
    # Queued resource as pulumi-gcp creates it: no labels, only the description.
    n["qr-bare"] = st.add_queued("us-east5-b", "tps-bare", None, description="tpustack stack bare")
    # GKE: an expired cluster (goes whole), a live one with one expired pool, an expired one with a kept pool.
    n["c-old"] = st.add_cluster(
        "us-east5", "tps-old", labels("old", -3600), {"system": labels("old", -3600), "tpu": labels("old", -3600)}
    )
    n["c-live"] = st.add_cluster(
        "us-east5", "tps-live", labels("live", 3600), {"system": labels("live", 3600), "tpu": labels("live", -10)}
    )
    n["c-pin"] = st.add_cluster(
        "us-west4",
        "tps-pin",
        labels("pin", -3600),
        {"system": labels("pin", -3600, keep=True), "tpu": labels("pin", -3600)},
    )
    n["c-foreign"] = st.add_cluster("us-east5", "prod", {"team": "other"}, {"default": {}})
    return n


@pytest.fixture
def fake():
    with FakeGcpServer() as srv:
        handles = populate(srv.state)
        srv.handles = handles  # type: ignore[attr-defined]
        yield srv


def reaper(srv, **kw) -> reap.Reaper:
    tpu, gke = reap.make_clients(srv.endpoint, AnonymousCredentials())
    return reap.Reaper(P, tpu, gke, now=NOW, **kw)


def by_name(report: reap.Report) -> dict[str, reap.Finding]:
    return {f.name: f for f in report.findings}


class TestListsEverythingTpustackOwns:
    def test_verdicts_across_zones_pages_and_apis(self, fake):
        n = fake.handles
        found = by_name(reaper(fake).run(delete=False))
        pool = lambda c, p: f"{n[c]}/nodePools/{p}"  # noqa: E731
        expected = {
            n["expired"]: "expired",
            n["alive"]: "alive",
            n["kept"]: "kept",
            n["west"]: "expired",
            n["nolabel"]: "no-expiry",
            n["qr"]: "expired",
            n["qr-node"]: "covered",
            n["qr-bare"]: "no-expiry",
            n["c-old"]: "expired",
            pool("c-old", "system"): "covered",
            pool("c-old", "tpu"): "covered",
            n["c-live"]: "alive",
            pool("c-live", "system"): "alive",
            pool("c-live", "tpu"): "expired",
            n["c-pin"]: "held",
            pool("c-pin", "system"): "kept",
            pool("c-pin", "tpu"): "expired",
        }
        assert {k: f.verdict for k, f in found.items()} == expected
        assert n["foreign"] not in found and n["c-foreign"] not in found, "resources without tpustack labels"
        # The listing really paginated: locations (3 zones, page size 2) and nodes in us-east5-a.
        paged = [(p, q["pageToken"]) for m, p, q in fake.state.requests if "pageToken" in q]
        assert (f"/v2/projects/{P}/locations", "2") in paged
        assert (f"/v2/projects/{P}/locations/us-east5-a/nodes", "2") in paged

    def test_reasons_and_stacks(self, fake):
        n = fake.handles
        found = by_name(reaper(fake).run(delete=False))
        assert found[n["expired"]].stack == "old" and found[n["expired"]].expires == NOW - 3600
        assert "expired 1.0 h ago" in found[n["expired"]].reason
        assert found[n["qr-bare"]].stack == "bare", "stack read from the description tpu_vm.py writes"
        assert "--max-age" in found[n["qr-bare"]].reason
        assert "tps-queued" in found[n["qr"]].reason and "force" in found[n["qr"]].reason
        assert "pool system is kept" in found[n["c-pin"]].reason

    def test_max_age_expires_unlabelled_resources_by_create_time(self, fake):
        n = fake.handles
        found = by_name(reaper(fake, max_age_hours=24).run(delete=False))
        # createTime 2026-11-20 + 24 h is two days before NOW.
        assert found[n["qr-bare"]].verdict == "expired"
        assert found[n["nolabel"]].verdict == "expired"
        assert found[n["alive"]].verdict == "alive", "an expiry label wins over --max-age"
        found = by_name(reaper(fake, max_age_hours=24 * 7).run(delete=False))
        assert found[n["qr-bare"]].verdict == "alive"

    def test_location_filter(self, fake):
        n = fake.handles
        found = by_name(reaper(fake, locations=["us-west4"]).run(delete=False))
        assert set(found) == {n["west"], n["c-pin"], f"{n['c-pin']}/nodePools/system", f"{n['c-pin']}/nodePools/tpu"}
        # A zone list skips the location listing and asks for exactly those zones.
        fake.state.requests.clear()
        reaper(fake, locations=["us-east5-b"]).run(delete=False)
        tpu_paths = {p for m, p, _ in fake.state.requests if p.startswith("/v2/")}
        assert tpu_paths == {
            f"/v2/projects/{P}/locations/us-east5-b/nodes",
            f"/v2/projects/{P}/locations/us-east5-b/queuedResources",
        }


class TestDryRunDeletesNothing:
    def test_no_delete_request_and_nothing_gone(self, fake):
        before = (dict(fake.state.nodes), dict(fake.state.queued), json.dumps(fake.state.clusters))
        report = reaper(fake).run(delete=False)
        assert fake.state.deletes() == []
        assert (fake.state.nodes, fake.state.queued, json.dumps(fake.state.clusters)) == before
        assert {f.action for f in report.expired()} == {"would delete"}
        assert not report.failed


class TestYesDeletesOnlyExpired:
    def test_deletes_expired_keeps_the_rest(self, fake):
        n = fake.handles
        st = fake.state
        report = reaper(fake).run(delete=True, wait_s=10)
        assert not report.failed, [f.detail for f in report.findings if f.action == "failed"]
        assert sorted(st.deletes()) == sorted(
            [
                f"/v2/{n['expired']}",
                f"/v2/{n['west']}",
                f"/v2/{n['qr']}",
                f"/v1/{n['c-old']}",
                f"/v1/{n['c-live']}/nodePools/tpu",
                f"/v1/{n['c-pin']}/nodePools/tpu",
            ]
        )
        assert set(st.nodes) == {n["alive"], n["kept"], n["foreign"], n["nolabel"]}
        assert set(st.queued) == {n["qr-bare"]}
        assert set(st.clusters) == {n["c-live"], n["c-pin"], n["c-foreign"]}
        assert st.pool_names(n["c-live"]) == ["system"] and st.pool_names(n["c-pin"]) == ["system"]
        # The queued resource went with force=true, taking its node with it.
        qr_delete = next(q for m, p, q in st.requests if m == "DELETE" and p == f"/v2/{n['qr']}")
        assert qr_delete.get("force") == "true"
        done = {f.name: f for f in report.expired()}
        assert {f.action for f in done.values()} == {"deleted"}
        assert done[n["c-old"]].detail.startswith(f"projects/{P}/locations/us-east5/operations/")
        assert "/operations/" in done[n["expired"]].detail

    def test_without_wait_the_deletes_are_sent_not_awaited(self, fake):
        report = reaper(fake).run(delete=True)
        assert {f.action for f in report.expired()} == {"delete started"}
        assert not any(m == "GET" and "/operations/" in p for m, p, _ in fake.state.requests)


class TestErrorsAreReportedAndTheRestContinues:
    def test_one_delete_fails(self, fake):
        n = fake.handles
        fake.state.failures[n["expired"]] = (403, "PERMISSION_DENIED", "tpu.nodes.delete denied")
        report = reaper(fake).run(delete=True, wait_s=10)
        failed = [f for f in report.findings if f.action == "failed"]
        assert [f.name for f in failed] == [n["expired"]]
        assert "403" in failed[0].detail and "tpu.nodes.delete denied" in failed[0].detail
        assert "Fix:" in failed[0].detail and "gcloud compute tpus tpu-vm delete tps-old" in failed[0].detail
        assert report.failed
        assert n["expired"] in fake.state.nodes
        assert n["west"] not in fake.state.nodes and n["c-old"] not in fake.state.clusters, "the rest went on"

    def test_one_listing_fails(self, fake):
        n = fake.handles
        fake.state.failures[f"projects/{P}/locations/us-east5-a/nodes"] = (500, "INTERNAL", "backend error")
        report = reaper(fake).run(delete=False)
        assert report.failed and len(report.errors) == 1
        assert "us-east5-a" in report.errors[0] and "backend error" in report.errors[0] and "Fix:" in report.errors[0]
        found = by_name(report)
        assert n["expired"] not in found
        assert found[n["west"]].verdict == "expired" and found[n["c-old"]].verdict == "expired"


class TestJudge:
    def test_keep_wins_and_bad_labels_are_left_alone(self):
        assert reap.judge(labels("s", -10, keep=True), NOW)[0] == "kept"
        verdict, expires, _, reason = reap.judge({k8s_keys.LABEL_STACK: "s", k8s_keys.LABEL_EXPIRES: "soon"}, NOW)
        assert (verdict, expires) == ("bad-label", None) and "Fix:" in reason
        assert reap.judge(labels("s", 0), NOW)[0] == "expired", "expiry is inclusive"

    def test_bad_arguments(self):
        with pytest.raises(reap.ReapError, match="--max-age.*Fix"):
            reap.Reaper(P, None, None, max_age_hours=0)
        with pytest.raises(reap.ReapError, match="--project.*Fix"):
            reap.Reaper("", None, None)
        with pytest.raises(reap.ReapError, match="--now.*Fix"):
            reap.Reaper(P, None, None, now=10**30)

    @pytest.mark.parametrize(
        "raw", ["-5", "1_0", " 10", "10 ", "+10", "0x10", "1e9", "253402300800", "99999999999999999999", "", "١٢٣"]
    )
    def test_expiry_labels_are_parsed_strictly(self, raw):
        verdict, expires, _, reason = reap.judge({k8s_keys.LABEL_STACK: "s", k8s_keys.LABEL_EXPIRES: raw}, NOW)
        assert (verdict, expires) == ("bad-label", None), raw
        assert "Fix:" in reason

    @pytest.mark.parametrize("raw", ["True", "yes", "1", "TRUE ", ""])
    def test_keep_label_is_true_or_false(self, raw):
        verdict, *_ = reap.judge({**labels("s", -10), k8s_keys.LABEL_KEEP: raw}, NOW)
        assert verdict == "bad-label"

    def test_verdicts_and_kinds_are_closed_sets_with_the_json_values(self):
        assert reap.judge(labels("s", -10, keep=True), NOW).verdict is reap.Verdict.KEPT
        assert [v.value for v in reap.Verdict] == [
            "expired",
            "alive",
            "kept",
            "no-expiry",
            "bad-label",
            "covered",
            "deleting",
            "held",
            "foreign",
        ]
        assert [k.value for k in reap.Kind] == ["tpu-node", "queued-resource", "cluster", "node-pool"]
        f = reap.Finding(
            kind=reap.Kind.NODE_POOL,
            name="n",
            location="l",
            stack=None,
            expires=None,
            keep=False,
            state="RUNNING",
            verdict=reap.Verdict.FOREIGN,
            reason="r",
        )
        assert json.dumps(f.verdict) == '"foreign"' and f"{f.kind:<10}|" == "node-pool |"
        with pytest.raises(TypeError):
            reap.Finding("tpu-node", "n", "l", None, None, False, "READY", "alive", "r")


class TestContainersAreJudgedWithoutAnApi:
    """The rule for containers is pure: plain objects shaped like the API's messages are enough."""

    def cluster(self, cluster_labels: dict, pools: dict[str, dict]) -> SimpleNamespace:
        return SimpleNamespace(
            name="tps-c",
            location="us-east5",
            status=SimpleNamespace(name="RUNNING"),
            resource_labels=cluster_labels,
            create_time="2026-11-20T00:00:00Z",
            node_pools=[
                SimpleNamespace(name=n, status="RUNNING", config=SimpleNamespace(resource_labels=pl))
                for n, pl in pools.items()
            ],
        )

    def test_a_kept_pool_holds_its_expired_cluster(self):
        found = Judge(project=P, now=NOW).cluster(
            self.cluster(labels("c", -60), {"tpu": labels("c", -60), "system": labels("c", -60, keep=True)})
        )
        verdicts = {f.name.rsplit("/", 1)[-1]: f.verdict for f in found}
        assert verdicts == {"tps-c": "held", "tpu": "expired", "system": "kept"}

    def test_an_expired_cluster_covers_its_expired_pools(self):
        found = Judge(project=P, now=NOW).cluster(self.cluster(labels("c", -60), {"tpu": labels("c", -60)}))
        assert [(f.kind, f.verdict) for f in found] == [("cluster", "expired"), ("node-pool", "covered")]


class TestTheRule:
    """A resource is deleted only if it is tpustack's, in --project, expired by a well-formed label, not kept
    (itself or what holds it), and everything it holds qualifies; a cluster that holds anything else stays."""

    @pytest.fixture
    def bare(self):
        with FakeGcpServer() as srv:
            yield srv

    def run(self, srv, **kw):
        report = reaper(srv, **kw).run(delete=True, wait_s=5)
        return report, by_name(report)

    @pytest.mark.parametrize(
        "pool_labels,why,extra_goes",
        [
            (labels("s", 3600), "is alive", False),
            ({}, "is not tpustack's", False),
            # another stack's pool is judged by its own labels (expired: it goes), but the cluster must not take it
            (labels("other", -3600), "belongs to stack other", True),
            (labels("s", -3600, keep=True), "is kept", False),
            ({**labels("s", -3600), k8s_keys.LABEL_EXPIRES: "-5"}, "is bad-label", False),
        ],
    )
    def test_an_expired_cluster_stays_when_it_holds_what_may_not_go(self, bare, pool_labels, why, extra_goes):
        c = bare.state.add_cluster(
            "us-east5", "tps-s", labels("s", -3600), {"tpu": labels("s", -3600), "extra": pool_labels}
        )
        report, found = self.run(bare)
        assert found[c].verdict == "held" and why in found[c].reason
        assert c in bare.state.clusters, "the cluster was not deleted"
        want = {f"/v1/{c}/nodePools/tpu"} | ({f"/v1/{c}/nodePools/extra"} if extra_goes else set())
        assert set(bare.state.deletes()) == want, "only qualifying pools went"

    def test_a_kept_cluster_keeps_its_pools(self, bare):
        c = bare.state.add_cluster(
            "us-east5",
            "tps-k",
            labels("k", -3600, keep=True),
            {"system": labels("k", -3600), "tpu": labels("k", -3600)},
        )
        _, found = self.run(bare)
        assert bare.state.deletes() == []
        assert {found[f"{c}/nodePools/{p}"].verdict for p in ("system", "tpu")} == {"kept"}

    def test_a_queued_resource_holding_a_kept_node_stays(self, bare):
        qr = bare.state.add_queued("us-east5-b", "tps-q", labels("q", -3600))
        node = bare.state.add_node("us-east5-b", "tps-q", labels("q", -3600, keep=True), queued_resource=qr)
        _, found = self.run(bare)
        assert bare.state.deletes() == []
        assert found[qr].verdict == "held" and "kept" in found[qr].reason
        assert found[node].verdict == "kept"

    def test_a_queued_resource_holding_a_foreign_node_stays(self, bare):
        qr = bare.state.add_queued("us-east5-b", "tps-q", labels("q", -3600))
        bare.state.add_node("us-east5-b", "someone", {"team": "x"}, queued_resource=qr)
        _, found = self.run(bare)
        assert bare.state.deletes() == [] and found[qr].verdict == "held"

    def test_names_outside_the_project_are_never_touched(self, bare):
        bare.state.add_node("us-east5-a", "tps-x", labels("x", -3600), name_project="victim-project")
        report, found = self.run(bare)
        (f,) = [f for f in report.findings if "victim-project" in f.name]
        assert f.verdict == "foreign" and bare.state.deletes() == []

    def test_an_answer_that_is_not_json_fails_that_delete_only(self, bare):
        a = bare.state.add_node("us-east5-a", "tps-a", labels("a", -3600))
        b = bare.state.add_node("us-east5-a", "tps-b", labels("b", -3600))
        c = bare.state.add_cluster("us-east5", "tps-c", labels("c", -3600), {"tpu": labels("c", -3600)})
        bare.state.garbage[a] = b"<html>502 Bad Gateway</html>"
        report, found = self.run(bare)
        assert found[a].action == "failed" and "Fix:" in found[a].detail
        assert found[b].action == "deleted" and found[c].action == "deleted"
        assert report.exit_code == 6

    def test_labels_far_in_the_future_or_huge_never_stop_the_run(self, bare):
        far = bare.state.add_node("us-east5-a", "tps-far", {**labels("f", 0), k8s_keys.LABEL_EXPIRES: "253402300800"})
        ok = bare.state.add_node("us-east5-a", "tps-ok", labels("o", -3600))
        report, found = self.run(bare)
        assert found[far].verdict == "bad-label" and found[ok].action == "deleted"


_make_clients = reap.make_clients


class TestCommand:
    def run(self, fake, monkeypatch, *args: str):
        # The command builds its clients with make_clients(); point them at the local server.
        monkeypatch.setattr(reap, "make_clients", lambda: _make_clients(fake.endpoint, AnonymousCredentials()))
        return CliRunner().invoke(app, ["reap", "--project", P, "--now", str(NOW), *args])

    def test_dry_run_json_exit_0(self, fake, monkeypatch):
        res = self.run(fake, monkeypatch, "--json")
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        assert doc["mode"] == "dry-run" and doc["summary"]["expired"] == 6 and doc["summary"]["failed"] == 0
        assert fake.state.deletes() == []

    def test_yes_with_a_failure_exits_6_partial_and_says_which(self, fake, monkeypatch):
        n = fake.handles
        fake.state.failures[f"{n['c-live']}/nodePools/tpu"] = (409, "FAILED_PRECONDITION", "cluster is busy")
        res = self.run(fake, monkeypatch, "--yes", "--wait", "5")
        assert res.exit_code == 6, res.output
        assert "cluster is busy" in res.output and "gcloud container node-pools delete tpu" in res.output
        assert "5 delete(s) sent, 1 failed" in res.output
