"""ProjectServices from its own Args: one Service per API, never disabled on destroy, and one wait after them."""

from __future__ import annotations

import dataclasses

import pytest

from tpustack.components.services import PROPAGATION, ProjectServices, ProjectServicesArgs

from helpers import MockStack, Registered, mock_stack_fixture

stack = mock_stack_fixture()

SERVICE = "gcp:projects/service:Service"
SLEEP = "time:index/sleep:Sleep"
APIS = ["container.googleapis.com", "iam.googleapis.com", "storage.googleapis.com", "tpu.googleapis.com"]


def build(stack: MockStack, services: list[str] = APIS, name: str = "apis") -> ProjectServices:
    return stack.build(lambda: ProjectServices(name, ProjectServicesArgs(project="unit-project", services=services)))


def disabled_on_destroy(services: list[Registered]) -> list[str]:
    """Services whose destroy would turn the API off (for itself or for the APIs that depend on it)."""
    return [
        r.urn
        for r in services
        if r.inputs.get("disableOnDestroy") is not False or r.inputs.get("disableDependentServices") is not False
    ]


class TestApisNeverDisabledOnDestroy:
    def test_every_service_keeps_its_api_on(self, stack):
        comp = build(stack)
        services = stack.children(comp, SERVICE)
        assert len(services) == len(APIS)
        assert disabled_on_destroy(services) == []

    def test_the_check_catches_a_service_that_would_disable(self, stack):
        """The check above has teeth: a Service left at the provider default (disable on destroy) is flagged."""
        comp = build(stack)
        svc = stack.children(comp, SERVICE)[0]
        default = dataclasses.replace(svc, inputs={k: v for k, v in svc.inputs.items() if k != "disableOnDestroy"})
        cascading = dataclasses.replace(svc, inputs={**svc.inputs, "disableDependentServices": True})
        assert disabled_on_destroy([default, cascading]) == [svc.urn, svc.urn]

    def test_nothing_is_protected_or_retained_instead(self, stack):
        """Keeping APIs on is the Service's own input, not a protect flag that would block `pulumi destroy`."""
        comp = build(stack)
        for r in stack.descendants(comp):
            assert not r.protect and not r.retain_on_delete, r.urn


class TestOneServicePerApi:
    def test_each_api_once_in_the_project(self, stack):
        comp = build(stack, services=[*APIS, "iam.googleapis.com"])  # a duplicate collapses
        services = stack.children(comp, SERVICE)
        assert sorted(r.inputs["service"] for r in services) == APIS
        assert {r.inputs["project"] for r in services} == {"unit-project"}
        assert sorted(comp.services) == APIS

    def test_children_are_named_after_the_component_and_the_api(self, stack):
        comp = build(stack, name="apis-x")
        assert sorted(r.name for r in stack.children(comp)) == [
            "apis-x-container",
            "apis-x-iam",
            "apis-x-propagation",
            "apis-x-storage",
            "apis-x-tpu",
        ]
        assert stack.record(comp).type == "tpustack:project:ProjectServices"

    def test_no_services_still_gives_something_to_wait_for(self, stack):
        comp = build(stack, services=[])
        assert stack.children(comp, SERVICE) == []
        assert stack.record(comp.ready).type == SLEEP


class TestChildrenWaitForTheApis:
    """``ready`` is what every API caller of the stack depends on: it must come after every Service."""

    def test_ready_waits_for_every_service(self, stack):
        comp = build(stack)
        ready = stack.record(comp.ready)
        assert ready.parent == stack.urn(comp)
        assert ready.type == SLEEP and ready.inputs["createDuration"] == PROPAGATION
        for svc in stack.children(comp, SERVICE):
            assert ready.waits_for(svc), f"{ready.urn} does not wait for {svc.urn}"

    def test_the_wait_is_keyed_on_the_set_of_services(self, stack):
        """Order and duplicates do not change the trigger (a re-`up` does not sleep again); a new API does."""
        comp = build(stack, services=list(reversed(APIS)) + APIS, name="a")
        same = build(stack, services=APIS, name="b")
        more = build(stack, services=[*APIS, "dns.googleapis.com"], name="c")
        trigger = [stack.record(c.ready).inputs["triggers"] for c in (comp, same, more)]
        assert trigger[0] == trigger[1] == {"services": ",".join(APIS)}
        assert trigger[2] != trigger[0]

    def test_ready_and_services_are_the_registered_children(self, stack):
        comp = build(stack, services=["tpu.googleapis.com", "iam.googleapis.com"])
        assert stack.resolve(comp.ready.urn).endswith("::apis-propagation")
        assert stack.resolve(comp.services["iam.googleapis.com"].service) == "iam.googleapis.com"


@pytest.mark.parametrize("api", ["compute.googleapis.com", "tpu.googleapis.com"])
def test_a_single_api(stack, api):
    comp = build(stack, services=[api])
    (svc,) = stack.children(comp, SERVICE)
    assert svc.inputs["service"] == api and svc.name == f"apis-{api.split('.')[0]}"
