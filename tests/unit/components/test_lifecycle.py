"""Lifecycle from its own Args: one expiry fixed at the first `up`, as a label next to the stack's base labels."""

from __future__ import annotations

import pytest

from tpustack.components.lifecycle import Lifecycle, LifecycleArgs
from tpustack.core import names

from helpers import EPOCH, MockStack, mock_stack_fixture

stack = mock_stack_fixture()

OFFSET = "time:index/offset:Offset"
BASE = {names.LABEL_STACK: "unit", "tpustack-keep": "false", "managed-by": "tpustack"}


def build(stack: MockStack, ttl_minutes: int = 480, base: dict | None = None, name: str = "lifecycle") -> Lifecycle:
    labels = dict(BASE if base is None else base)
    return stack.build(lambda: Lifecycle(name, LifecycleArgs(ttl_minutes=ttl_minutes, base_labels=labels)))


class TestExpiryIsFixedAtTheFirstUp:
    def test_one_offset_of_the_ttl(self, stack):
        comp = build(stack, ttl_minutes=480)
        (offset,) = stack.children(comp)
        assert offset.type == OFFSET and offset.name == "lifecycle-expiry"
        assert offset.inputs["offsetMinutes"] == 480
        assert stack.record(comp).type == "tpustack:lifecycle:Lifecycle"

    def test_only_a_new_ttl_replaces_it(self, stack):
        """The trigger is the TTL alone (no clock, no labels): a re-`up` keeps the expiry, a new TTL resets it."""
        a, b, c = (build(stack, ttl, name=f"l{i}") for i, ttl in enumerate((480, 480, 60)))
        triggers = [stack.children(x)[0].inputs["triggers"] for x in (a, b, c)]
        assert triggers[0] == triggers[1] == {"ttlMinutes": "480"}
        assert triggers[2] == {"ttlMinutes": "60"}
        other_labels = build(stack, 480, base={**BASE, "team": "x"}, name="l3")
        assert stack.children(other_labels)[0].inputs["triggers"] == triggers[0]

    # A gap these tests found, since fixed: Lifecycle accepts ttl_minutes <= 0, an expiry that is already past, so
    # `tpustack  reap` deletes the stack at its next run; lifecycle.ttlHours: 0.008 passes the config (gt=0) and
    # tpustack.program.lifecycle_args rounds it to 0 minutes
    @pytest.mark.parametrize("ttl", [0, -60])
    def test_an_expiry_in_the_past_is_refused(self, stack, ttl):
        with pytest.raises(ValueError):
            build(stack, ttl_minutes=ttl)


class TestBillableResourcesCarryTheExpiry:
    def test_labels_are_the_base_plus_the_expiry(self, stack):
        comp = build(stack, ttl_minutes=90)
        want = str(EPOCH + 90 * 60)
        assert stack.resolve(comp.expires_unix) == want
        assert stack.resolve(comp.labels) == {**BASE, names.LABEL_EXPIRES: want}

    def test_the_expiry_is_a_valid_gcp_label_value(self, stack):
        """GCP label values: lowercase letters, digits, '_' and '-', at most 63 characters; unix seconds fit."""
        value = stack.resolve(build(stack).labels)[names.LABEL_EXPIRES]
        assert value.isdigit() and len(value) <= 63

    def test_a_base_label_cannot_forge_the_expiry(self, stack):
        comp = build(stack, ttl_minutes=60, base={**BASE, names.LABEL_EXPIRES: "99999999999"})
        assert stack.resolve(comp.labels)[names.LABEL_EXPIRES] == str(EPOCH + 3600)

    def test_the_args_labels_are_not_mutated(self, stack):
        base = dict(BASE)
        stack.build(lambda: Lifecycle("lifecycle", LifecycleArgs(ttl_minutes=60, base_labels=base)))
        assert base == BASE


class TestLifecycleDeletesNothing:
    def test_its_only_child_is_the_offset(self, stack):
        """The reaper (tpustack reap) deletes; this component only declares a clock value."""
        comp = build(stack)
        assert [r.type for r in stack.descendants(comp)] == [OFFSET]
        assert not stack.children(comp)[0].protect
