"""The component-test helpers themselves: the recorder reads every option a test asserts on (so an assertion
that an option is off is not vacuous), the mocks fill computed outputs, and a MockStack leaves the runtime as it
found it, so component tests and tpustack's plan engine share one pytest process in either order."""

from __future__ import annotations

import asyncio

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pulumiverse_time as time
import pytest
from pulumi.runtime import config as pulumi_config
from pulumi.runtime import settings

from tpustack import plan as plan_mod

from helpers import CLUSTER_ENDPOINT, EPOCH, ComponentMocks, MockStack, after, mock_stack_fixture, stand_in
from helpers.project import PROJECT

stack = mock_stack_fixture()


class TestTheRecorderReadsEveryOption:
    def test_options(self, stack):
        def make():
            first = stand_in("first")
            provider = k8s.Provider("p", kubeconfig="{}")
            opts = pulumi.ResourceOptions(
                protect=True,
                retain_on_delete=True,
                delete_before_replace=True,
                ignore_changes=["labels"],
                replace_on_changes=["name"],
                custom_timeouts=pulumi.CustomTimeouts(create="5m", delete="7m"),
                depends_on=[first],
                provider=provider,
            )
            return first, provider, k8s.core.v1.Namespace("ns", metadata={"name": "x"}, opts=opts)

        first, provider, ns = stack.build(make)
        r = stack.record(ns)
        assert (r.protect, r.retain_on_delete, r.delete_before_replace) == (True, True, True)
        assert r.ignore_changes == ("labels",) and r.replace_on_changes == ("name",)
        assert r.custom_timeouts == {"create": "5m", "delete": "7m"}
        assert r.waits_for(stack.urn(first)) and r.provider_urn == stack.urn(provider)
        assert r.parent is not None and r.parent.endswith("::pulumi:pulumi:Stack::tpustack-unit-unit")

    def test_defaults_are_off(self, stack):
        r = stack.record(stack.build(lambda: stand_in("plain")))
        assert (r.protect, r.retain_on_delete, r.delete_before_replace) == (False, False, False)
        assert r.custom_timeouts is None and r.provider is None and r.depends_on == frozenset()

    def test_secrets_are_unwrapped_and_marked(self, stack):
        r = stack.record(stack.build(lambda: stand_in("s", a={"b": pulumi.Output.secret("x")}, c="y")))
        assert r.inputs == {"a": {"b": "x"}, "c": "y"}
        assert r.is_secret("a.b") and not r.is_secret("c")

    def test_waits_for_follows_inputs_and_components(self, stack):
        class Comp(pulumi.ComponentResource):
            def __init__(self, name):
                super().__init__("test:index:Comp", name)
                child = pulumi.ResourceOptions(parent=self)
                self.a = pulumi.CustomResource("test:index:StandIn", f"{name}-a", {}, child)
                self.b = pulumi.CustomResource("test:index:StandIn", f"{name}-b", {}, child)

        def make():
            comp = Comp("c")
            via_input = stand_in("via-input", ref=comp.a.urn)
            chained = stand_in("chained", ref=via_input.urn)
            after_comp = pulumi.CustomResource("test:index:StandIn", "after", {}, after(comp))
            return comp, via_input, chained, after_comp

        comp, via_input, chained, after_comp = stack.build(make)
        assert stack.waits_for(via_input, comp.a) and stack.waits_for(chained, comp.a)
        assert not stack.waits_for(via_input, comp), "it waits for one child, not the whole component"
        assert stack.waits_for(after_comp, comp)
        assert [r.name for r in stack.children(comp)] == ["c-a", "c-b"]


class TestComputedOutputs:
    def test_by_type_token(self, stack):
        def make():
            sa = gcp.serviceaccount.Account("sa", account_id="a1", project="p1")
            bucket = gcp.storage.Bucket("b", name="bkt", location="US")
            cluster = gcp.container.Cluster("c", name="c1", location="us-east5", project="p1")
            return sa, bucket, cluster

        sa, bucket, cluster = stack.build(make)
        assert stack.resolve(sa.email) == "a1@p1.iam.gserviceaccount.com"
        assert stack.resolve(sa.member) == "serviceAccount:a1@p1.iam.gserviceaccount.com"
        assert stack.resolve(bucket.url) == "gs://bkt"
        assert stack.resolve(cluster.endpoint) == CLUSTER_ENDPOINT

    def test_a_test_can_override_one(self):
        mocks = ComponentMocks({"time:index/offset:Offset": lambda name, inputs: {"unix": EPOCH + 1}})
        with MockStack(mocks) as stack:
            offset = stack.build(lambda: time.Offset("o", offset_minutes=5))
            assert stack.resolve(offset.unix) == EPOCH + 1


def runtime_state() -> tuple:
    try:
        loop = asyncio.get_event_loop_policy()._local._loop  # type: ignore[attr-defined]
    except AttributeError:
        loop = None
    return settings.get_root_resource(), settings.SETTINGS.monitor, loop, dict(pulumi_config.CONFIG.get())


class TestTheRuntimeIsRestored:
    def test_nothing_is_left_behind(self):
        pulumi.runtime.set_all_config({"x:y": "1"}, [])
        before = runtime_state()
        with MockStack() as stack:
            stack.build(lambda: stand_in("r"))
            assert pulumi_config.CONFIG.get() == {}, "components see no stack config"
        root, monitor, loop, config = runtime_state()
        assert root is None and monitor is None and loop is None
        assert config == before[3] == {"x:y": "1"}
        pulumi.runtime.set_all_config({}, [])

    def test_an_error_in_the_program_still_restores(self):
        with pytest.raises(RuntimeError, match="boom"), MockStack() as stack:
            stack.build(lambda: (_ for _ in ()).throw(RuntimeError("boom")))
        assert runtime_state()[:3] == (None, None, None)


class TestCoexistsWithThePlanEngine:
    def test_either_order_in_one_process(self):
        """mock -> plan -> mock -> plan: each sees only its own resources, and the two plans are identical."""

        def component_run() -> list[str]:
            with MockStack() as stack:
                stack.build(lambda: stand_in("only-me"))
                return [r.name for r in stack.resources]

        assert component_run() == ["only-me"]
        first = plan_mod.plan(PROJECT, "dev")
        assert component_run() == ["only-me"]
        second = plan_mod.plan(PROJECT, "dev")
        assert [r.urn for r in first.resources] == [r.urn for r in second.resources]
        assert [r.inputs for r in first.resources] == [r.inputs for r in second.resources]
        assert not [r for r in second.resources if "only-me" in r.urn]
