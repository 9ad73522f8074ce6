"""GkeIdentity, TpuVmIdentity and BucketScope from their own Args: least privilege, additive only, scoped to the
stack's folders (README "Isolation between experiments")."""

from __future__ import annotations

import dataclasses
import re

import pytest

from tpustack.components.identity import (
    MODEL_ROLES,
    NODE_ROLES,
    TYPE,
    Account,
    BucketScope,
    GkeIdentity,
    GkeIdentityArgs,
    TpuVmIdentity,
    TpuVmIdentityArgs,
    prefix_condition,
)
from tpustack.core import names

from helpers import MockStack, Registered, after, mock_stack_fixture, stand_in

stack = mock_stack_fixture()

SA = "gcp:serviceaccount/account:Account"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
PROJECT = "unit-project"
RESULTS = "unit-project-tpustack-results"
MODELS = "unit-weights"
NODE = Account("tps-unit-node", "GKE nodes (tpustack): stack unit")
WORKLOAD = Account("tps-unit-wl", "serving and benchmark pods (tpustack): stack unit")
TPU = Account("tps-unit-tpu", "TPU VM (tpustack): stack unit")
GKE_SCOPE = BucketScope(create=["unit/"], read=["unit/"], rewrite=["xla-cache/unit/"])
TPU_SCOPE = BucketScope(create=["unit/"], read=["unit/", "_workloads/unit/"])
WI_MEMBER = names.wi_member(PROJECT, "tpustack-unit", names.SERVING_KSA)
PRIMITIVE = {"roles/owner", "roles/editor", "roles/viewer"}


def email(account: Account) -> str:
    return f"{account.account_id}@{PROJECT}.iam.gserviceaccount.com"


def gke_args(**changes) -> GkeIdentityArgs:
    base = GkeIdentityArgs(
        project=PROJECT,
        node=NODE,
        workload=WORKLOAD,
        results_bucket=RESULTS,
        results_scope=GKE_SCOPE,
        model_bucket=None,
        workload_identity_member=WI_MEMBER,
    )
    return dataclasses.replace(base, **changes)


def tpu_args(**changes) -> TpuVmIdentityArgs:
    base = TpuVmIdentityArgs(
        project=PROJECT, tpu_vm=TPU, results_bucket=RESULTS, results_scope=TPU_SCOPE, model_bucket=None
    )
    return dataclasses.replace(base, **changes)


def gke(stack: MockStack, **changes) -> GkeIdentity:
    return stack.build(lambda: GkeIdentity("identity", gke_args(**changes)))


def tpu(stack: MockStack, **changes) -> TpuVmIdentity:
    return stack.build(lambda: TpuVmIdentity("identity", tpu_args(**changes)))


def not_additive(records: list[Registered]) -> list[str]:
    """IAM resources that set a whole policy or a whole role's members (and so can remove others' grants)."""
    return [r.urn for r in records if re.search(r"IAM(Policy|Binding)$", r.type)]


def primitive_roles(records: list[Registered]) -> list[str]:
    return [f"{r.urn}: {r.inputs['role']}" for r in records if r.inputs.get("role") in PRIMITIVE]


def grants(records: list[Registered], typ: str, member: str) -> dict[str, Registered]:
    return {r.inputs["role"]: r for r in records if r.type == typ and r.inputs["member"] == member}


# A small evaluator of the CEL the conditions use (disjunctions of startsWith on the object name and on the
# listing prefix), so the tests ask what a condition allows rather than how its text reads.
_TERM = re.compile(
    r'^(?:resource\.name\.startsWith\("(?P<obj>[^"]*)"\)'
    r'|api\.getAttribute\("storage\.googleapis\.com/objectListPrefix", ""\)\.startsWith\("(?P<list>[^"]*)"\))$'
)


def allows(condition: dict, *, obj: str | None = None, listing: str | None = None) -> bool:
    """Whether the condition lets a request on object ``obj`` of the results bucket (or a listing under
    ``listing``) through."""
    hits = []
    for term in condition["expression"].split(" || "):
        m = _TERM.match(term)
        assert m, f"unexpected CEL term {term!r}"
        if m["obj"] is not None and obj is not None:
            hits.append(f"projects/_/buckets/{RESULTS}/objects/{obj}".startswith(m["obj"]))
        if m["list"] is not None and listing is not None:
            hits.append(listing.startswith(m["list"]))
    return any(hits)


class TestIamIsAdditiveOnly:
    @pytest.mark.parametrize("build", [gke, tpu])
    def test_every_grant_is_a_member(self, stack, build):
        comp = build(stack, model_bucket=MODELS)
        children = stack.descendants(comp)
        iam = [r for r in children if "IAM" in r.type]
        assert iam and {r.type for r in iam} <= {PROJECT_MEMBER, BUCKET_MEMBER}
        assert not_additive(children) == []

    def test_the_check_catches_a_whole_policy(self, stack):
        comp = gke(stack)
        member = stack.children(comp, PROJECT_MEMBER)[0]
        policy = dataclasses.replace(member, type="gcp:projects/iAMPolicy:IAMPolicy")
        binding = dataclasses.replace(member, type="gcp:storage/bucketIAMBinding:BucketIAMBinding")
        assert not_additive([policy, binding]) == [member.urn, member.urn]

    def test_the_workload_identity_binding_is_a_member_too(self, stack):
        def make():
            identity = GkeIdentity("identity", gke_args())
            return identity, identity.bind_workload_identity(stand_in("cluster", "gcp:container/cluster:Cluster"))

        _, binding = stack.build(make)
        assert stack.record(binding).type == SA_MEMBER


class TestNoPrimitiveRoles:
    """No Args field carries a role (roles are the module's constants), so no Args can ask for a primitive role;
    what is checked is that the constants and the scope's roles are the predefined ones the docstring names."""

    @pytest.mark.parametrize("build", [gke, tpu])
    def test_no_owner_editor_or_viewer(self, stack, build):
        comp = build(stack, model_bucket=MODELS)
        assert primitive_roles(stack.descendants(comp)) == []

    def test_the_check_catches_a_primitive_role(self, stack):
        comp = gke(stack)
        member = stack.children(comp, PROJECT_MEMBER)[0]
        editor = dataclasses.replace(member, inputs={**member.inputs, "role": "roles/editor"})
        assert primitive_roles([editor]) == [f"{member.urn}: roles/editor"]

    def test_roles_are_exactly_the_documented_ones(self, stack):
        comp = gke(stack, model_bucket=MODELS)
        roles = {r.inputs["role"] for r in stack.descendants(comp) if "role" in r.inputs}
        assert roles == {
            *NODE_ROLES,
            "roles/storage.objectCreator",
            "roles/storage.objectViewer",
            "roles/storage.objectUser",
        }


class TestNodeSaHasTheCisRoleAndNothingElse:
    """CIS GKE 5.2.1: nodes run as a custom SA holding roles/container.defaultNodeServiceAccount (and image pulls)."""

    def test_node_sa_project_roles(self, stack):
        comp = gke(stack)
        node = f"serviceAccount:{email(NODE)}"
        children = stack.descendants(comp)
        assert set(grants(children, PROJECT_MEMBER, node)) == {
            "roles/container.defaultNodeServiceAccount",
            "roles/artifactregistry.reader",
        }
        assert {r.inputs["project"] for r in stack.children(comp, PROJECT_MEMBER)} == {PROJECT}
        assert grants(children, BUCKET_MEMBER, node) == {}, "nodes get no bucket access: pods use Workload Identity"

    def test_node_service_account_output_is_the_custom_account(self, stack):
        comp = gke(stack)
        assert stack.resolve(comp.node_service_account) == email(NODE)
        assert not stack.resolve(comp.node_service_account).endswith("-compute@developer.gserviceaccount.com")

    def test_accounts_are_the_args(self, stack):
        comp = gke(stack)
        accounts = {r.inputs["accountId"]: r for r in stack.children(comp, SA)}
        assert set(accounts) == {NODE.account_id, WORKLOAD.account_id}
        assert accounts[NODE.account_id].inputs["displayName"] == NODE.display_name
        assert {r.inputs["project"] for r in accounts.values()} == {PROJECT}
        assert stack.record(comp).type == TYPE
        assert stack.resolve(comp.workload_service_account) == email(WORKLOAD)


class TestBucketGrantsStayInTheStacksFolders:
    def workload_grants(self, stack: MockStack, **changes) -> dict[str, Registered]:
        comp = gke(stack, **changes)
        found = grants(stack.descendants(comp), BUCKET_MEMBER, f"serviceAccount:{email(WORKLOAD)}")
        assert all(r.inputs["bucket"] == RESULTS for r in found.values())
        return found

    def test_every_results_grant_is_conditional(self, stack):
        found = self.workload_grants(stack)
        assert set(found) == {"roles/storage.objectCreator", "roles/storage.objectViewer", "roles/storage.objectUser"}
        for role, r in found.items():
            assert r.inputs.get("condition", {}).get("expression"), f"{role} on the whole bucket: {r.urn}"

    def test_create_and_read_only_under_the_stack_folder(self, stack):
        found = self.workload_grants(stack)
        for role in ("roles/storage.objectCreator", "roles/storage.objectViewer"):
            cond = found[role].inputs["condition"]
            assert allows(cond, obj="unit/run-1/result.json"), role
            for other in ("other/run-1/result.json", "unit2/run-1/result.json", "xla-cache/unit/x", "unit"):
                assert not allows(cond, obj=other), f"{role} reaches {other}"

    def test_listing_only_under_the_stack_folder(self, stack):
        found = self.workload_grants(stack)
        viewer = found["roles/storage.objectViewer"].inputs["condition"]
        assert allows(viewer, listing="unit/run-1/")
        assert not allows(viewer, listing="") and not allows(viewer, listing="other/")
        creator = found["roles/storage.objectCreator"].inputs["condition"]
        assert not allows(creator, listing="unit/"), "objectCreator has no list permission to scope"

    def test_only_the_compile_cache_can_be_replaced(self, stack):
        user = self.workload_grants(stack)["roles/storage.objectUser"]
        assert user.name == "identity-wl-compile-cache"
        assert allows(user.inputs["condition"], obj="xla-cache/unit/abc")
        assert not allows(user.inputs["condition"], obj="unit/run-1/result.json"), "results must not be replaceable"

    def test_no_cache_folder_no_replace_grant(self, stack):
        found = self.workload_grants(stack, results_scope=BucketScope(create=["unit/"], read=["unit/"]))
        assert "roles/storage.objectUser" not in found

    def test_tpu_vm_reads_its_code_and_creates_results(self, stack):
        comp = tpu(stack)
        found = grants(stack.descendants(comp), BUCKET_MEMBER, f"serviceAccount:{email(TPU)}")
        assert set(found) == {"roles/storage.objectCreator", "roles/storage.objectViewer"}
        viewer = found["roles/storage.objectViewer"].inputs["condition"]
        assert allows(viewer, obj="_workloads/unit/heartbeat.py")
        assert not allows(viewer, obj="_workloads/other/heartbeat.py")
        assert not allows(found["roles/storage.objectCreator"].inputs["condition"], obj="_workloads/unit/x.py")

    @pytest.mark.parametrize("bad", ["unit", "/unit/", "../unit/", 'unit"/', "un it/", "", "unit/*"])
    def test_a_prefix_that_is_not_a_folder_is_refused(self, stack, bad):
        """Without the trailing '/', "unit" would also reach "unit2/"; a quote would end the CEL string; the component
        refuses such a scope (letters of either case are object names like any other)."""
        with pytest.raises(ValueError, match="is not a folder"):
            gke(stack, results_scope=BucketScope(create=[bad], read=["unit/"]))

    def test_condition_title_and_description(self, stack):
        """prefix_condition on its own: a title per role, the folders in the description."""
        cond = stack.resolve(prefix_condition(RESULTS, "roles/storage.objectViewer", ["a/", "c/"]))
        assert cond["title"] == "tpustack-objectviewer-scope"
        assert cond["description"] == "only under a/, c/"
        assert allows(cond, obj="c/x") and allows(cond, listing="a/") and not allows(cond, obj="b/x")


class TestModelBucketIsReadOnly:
    @pytest.mark.parametrize("build, who", [(gke, WORKLOAD), (tpu, TPU)])
    def test_model_bucket_gets_object_viewer_only(self, stack, build, who):
        comp = build(stack, model_bucket=MODELS)
        on_models = [r for r in stack.descendants(comp) if r.type == BUCKET_MEMBER and r.inputs["bucket"] == MODELS]
        assert [(r.inputs["role"], r.inputs["member"]) for r in on_models] == [
            (role, f"serviceAccount:{email(who)}") for role in MODEL_ROLES
        ]

    @pytest.mark.parametrize("build", [gke, tpu])
    def test_no_model_bucket_no_grant(self, stack, build):
        comp = build(stack)
        assert {r.inputs["bucket"] for r in stack.descendants(comp) if r.type == BUCKET_MEMBER} == {RESULTS}

    # A gap these tests found, since fixed: a model bucket that is the results bucket gets an unconditional
    # objectViewer grant,  so the stack reads every other stack's results (neither the component nor the config
    # rules refuse  model.id gs://<results bucket>/...)
    @pytest.mark.parametrize("build", [gke, tpu])
    def test_weights_in_the_results_bucket_are_refused(self, stack, build):
        with pytest.raises(ValueError):
            build(stack, model_bucket=RESULTS)


class TestWorkloadIdentityBinding:
    def bind(self, stack: MockStack, **changes):
        def make():
            cluster = stand_in("cluster", "gcp:container/cluster:Cluster")
            identity = GkeIdentity("identity", gke_args(**changes))
            return cluster, identity, identity.bind_workload_identity(cluster)

        return stack.build(make)

    def test_only_the_stacks_ksa_may_act_as_the_workload_sa(self, stack):
        _, identity, binding = self.bind(stack)
        r = stack.record(binding)
        assert r.inputs["role"] == "roles/iam.workloadIdentityUser"
        assert r.inputs["member"] == "serviceAccount:unit-project.svc.id.goog[tpustack-unit/tpustack-serving]"
        # the account's resource name, not its email (which would address nothing)
        assert r.inputs["serviceAccountId"] == f"projects/{PROJECT}/serviceAccounts/{email(WORKLOAD)}"
        assert r.parent == stack.urn(identity)
        assert r.name == "identity-wl-wi"

    def test_the_binding_waits_for_the_cluster(self, stack):
        """The identity pool PROJECT.svc.id.goog exists only once a Workload Identity cluster does."""
        cluster, _, binding = self.bind(stack)
        assert stack.record(binding).waits_for(stack.urn(cluster))

    # A gap these tests found, since fixed: GkeIdentity grants roles/iam.workloadIdentityUser to any
    # workload_identity_member,  also one outside the project's pool PROJECT.svc.id.goog (another project's KSA,
    # allAuthenticatedUsers)
    @pytest.mark.parametrize(
        "member",
        [
            "allAuthenticatedUsers",
            names.wi_member("someone-elses-project", "tpustack-unit", names.SERVING_KSA),
        ],
    )
    def test_a_principal_outside_the_projects_pool_is_refused(self, stack, member):
        with pytest.raises(ValueError):
            self.bind(stack, workload_identity_member=member)


class TestChildrenWaitForTheApis:
    @pytest.mark.parametrize("build_args, cls", [(gke_args, GkeIdentity), (tpu_args, TpuVmIdentity)])
    def test_every_child_waits_for_the_apis(self, stack, build_args, cls):
        def make():
            apis = stand_in("apis-ready")
            return apis, cls("identity", build_args(model_bucket=MODELS), opts=after(apis))

        apis, comp = stack.build(make)
        children = stack.descendants(comp)
        assert children
        for r in children:
            assert stack.waits_for(r, apis), f"{r.urn} may call the IAM API before it is enabled"
        for r in stack.children(comp, SA):
            assert r.waits_for(stack.urn(apis)), "the accounts wait directly"

    def test_without_the_caller_dependency_nothing_waits(self, stack):
        """The companion: the waits above come from opts.depends_on."""

        def make():
            apis = stand_in("apis-ready")
            return apis, GkeIdentity("identity", gke_args())

        apis, comp = stack.build(make)
        assert not any(stack.waits_for(r, apis) for r in stack.descendants(comp))


class TestBucketScope:
    def test_by_role_drops_empty_folders(self):
        assert BucketScope(create=["a/"], read=[]).by_role() == {"roles/storage.objectCreator": ["a/"]}
        assert set(GKE_SCOPE.by_role()) == {
            "roles/storage.objectCreator",
            "roles/storage.objectViewer",
            "roles/storage.objectUser",
        }

    def test_an_empty_scope_grants_nothing(self, stack):
        comp = tpu(stack, results_scope=BucketScope(create=[], read=[]))
        assert stack.children(comp, BUCKET_MEMBER) == []


class TestMetricsAdapterIdentity:
    """With an HPA the stack grants the Custom Metrics Stackdriver Adapter read access to Cloud Monitoring:
    its own GSA, roles/monitoring.viewer as an additive member, acted as by custom-metrics/<adapter KSA>."""

    ADAPTER = Account("tps-unit-metrics", "custom metrics adapter (tpustack): stack unit")
    MEMBER = names.wi_member(PROJECT, "custom-metrics", "custom-metrics-stackdriver-adapter")

    def test_viewer_role_and_binding(self, stack):
        def make():
            identity = GkeIdentity(
                "identity", gke_args(metrics_adapter=self.ADAPTER, metrics_adapter_member=self.MEMBER)
            )
            return identity, identity.bind_metrics_adapter(stand_in("cluster", "gcp:container/cluster:Cluster"))

        identity, binding = stack.build(make)
        children = stack.descendants(identity)
        adapter = f"serviceAccount:{email(self.ADAPTER)}"
        assert set(grants(children, PROJECT_MEMBER, adapter)) == {"roles/monitoring.viewer"}
        wi = stack.record(binding)
        assert wi.type == SA_MEMBER and wi.inputs["member"] == self.MEMBER
        assert wi.inputs["role"] == "roles/iam.workloadIdentityUser"
        assert not_additive(children) == [] and primitive_roles(children) == []

    def test_none_without_an_hpa(self, stack):
        def make():
            identity = GkeIdentity("identity", gke_args())
            return identity, identity.bind_metrics_adapter(stand_in("cluster", "gcp:container/cluster:Cluster"))

        identity, binding = stack.build(make)
        assert binding is None
        assert not [r for r in stack.descendants(identity) if r.inputs.get("role") == "roles/monitoring.viewer"]
