"""A fresh Pulumi mock runtime per test, and the questions a component test asks of it.

``MockStack`` installs ``ComponentMocks`` with a ``RecordingMonitor`` on its own event loop, builds components
under ``pulumi.runtime.test`` (which waits for every registration), answers with the records, and on exit
leaves the runtime as it found it: no root stack, no monitor, no event loop, the previous Pulumi config. So
component tests and tpustack's plan engine (tpustack/plan/engine.py, which installs its own mocks per plan)
run in one pytest process in any order (tests/unit/test_helpers.py proves both orders).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pulumi
import pytest
from pulumi.runtime import config as pulumi_config
from pulumi.runtime import settings

from .mocks import ComponentMocks, Invoked, RecordingMonitor, Registered

T = TypeVar("T")
PROJECT = "tpustack-unit"
STACK = "unit"


class MockStack:
    """One test's Pulumi runtime under mocks; a context manager (``with MockStack() as stack:``)."""

    def __init__(self, mocks: ComponentMocks | None = None, *, project: str = PROJECT, stack: str = STACK):
        self.mocks = mocks or ComponentMocks()
        self.project, self.stack = project, stack
        self.monitor = RecordingMonitor(self.mocks)
        self._loop: asyncio.AbstractEventLoop | None = None

    # ----- lifecycle --------------------------------------------------------------------------------------------
    def __enter__(self) -> MockStack:
        self._saved_config = dict(pulumi_config.CONFIG.get())
        self._saved_secret_keys = set(pulumi_config._SECRET_KEYS.get())
        settings.SETTINGS.rpc_manager.clear()
        settings.SETTINGS.outputs.clear()
        settings.set_root_resource(None)  # type: ignore[arg-type]  # drops a previous run's stack
        pulumi.runtime.set_all_config({}, [])  # components take Args, never stack config
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)  # before set_mocks, which registers the root stack on it
        pulumi.runtime.set_mocks(
            self.mocks, project=self.project, stack=self.stack, preview=False, monitor=self.monitor
        )
        return self

    def __exit__(self, *exc: object) -> None:
        loop = self._loop
        assert loop is not None, "MockStack exited without being entered"
        settings.set_root_resource(None)  # type: ignore[arg-type]
        settings.SETTINGS.rpc_manager.clear()
        settings.SETTINGS.outputs.clear()
        # The ambient settings of a process that has run nothing: no monitor, no engine.
        settings.configure(settings.Settings(project="project", stack="stack"))
        pulumi.runtime.set_all_config(self._saved_config, sorted(self._saved_secret_keys))
        try:
            loop.run_until_complete(loop.shutdown_default_executor())  # joins the RPC threads
        finally:
            asyncio.set_event_loop(None)
            loop.close()
            for thread_loop in self.monitor.thread_loops:
                thread_loop.close()
            self._loop = None

    # ----- building ---------------------------------------------------------------------------------------------
    def build(self, make: Callable[[], T]) -> T:
        """Run ``make`` (which declares a component, and whatever stands in for its neighbours) under
        ``pulumi.runtime.test``; return what it returned once every registration has reached the monitor.
        What ``make`` raises propagates."""
        made: list[T] = []

        @pulumi.runtime.test
        def program() -> None:
            made.append(make())

        program()
        return made[0]

    # ----- answers ----------------------------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """The value of an ``Output`` (or any Input), secrets included."""
        assert self._loop is not None, "resolve() outside the MockStack"
        return self._loop.run_until_complete(pulumi.Output.from_input(value).future())

    def is_secret(self, value: Any) -> bool:
        assert self._loop is not None, "is_secret() outside the MockStack"
        return bool(self._loop.run_until_complete(pulumi.Output.from_input(value).is_secret()))

    @property
    def resources(self) -> list[Registered]:
        return list(self.monitor.records)

    @property
    def invokes(self) -> list[Invoked]:
        return list(self.monitor.invokes)

    def outputs_of(self, component: pulumi.Resource | Registered | str) -> dict[str, Any]:
        """What a component passed to ``register_outputs`` (secrets unwrapped)."""
        urn = _urn_of(self, component)
        assert urn in self.monitor.outputs, f"{urn} registered no outputs"
        return self.monitor.outputs[urn]

    def urn(self, resource: pulumi.Resource) -> str:
        return str(self.resolve(resource.urn))

    def record(self, resource: pulumi.Resource | str) -> Registered:
        """The registration of a resource (object or URN)."""
        urn = resource if isinstance(resource, str) else self.urn(resource)
        for r in self.monitor.records:
            if r.urn == urn:
                return r
        raise AssertionError(f"{urn} was never registered; registered: {[r.urn for r in self.monitor.records]}")

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.monitor.records if r.type == typ]

    def one(self, typ: str, name: str | None = None) -> Registered:
        """The one registered resource of this type (and name)."""
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        assert len(found) == 1, f"want one {typ} {name or ''}, got {[r.urn for r in found]}"
        return found[0]

    def children(self, component: pulumi.Resource | Registered | str, typ: str | None = None) -> list[Registered]:
        """The direct children of a component (by object, record or URN), of a type if given, sorted by name."""
        urn = _urn_of(self, component)
        found = [r for r in self.monitor.records if r.parent == urn and (typ is None or r.type == typ)]
        return sorted(found, key=lambda r: r.name)

    def descendants(self, component: pulumi.Resource | Registered | str) -> list[Registered]:
        """Everything registered under a component, at any depth, sorted by name."""
        urns = {_urn_of(self, component)}
        found: dict[str, Registered] = {}
        while True:
            more = {r.urn: r for r in self.monitor.records if r.parent in urns and r.urn not in found}
            if not more:
                return sorted(found.values(), key=lambda r: r.name)
            found.update(more)
            urns |= set(more)

    def waits_for(
        self, resource: pulumi.Resource | Registered | str, target: pulumi.Resource | Registered | str
    ) -> bool:
        """Whether ``resource`` waits for ``target``: directly or through what it waits for (the resources its
        inputs come from included). A local component stands for its custom (and remote) descendants, as Pulumi
        expands it in ``depends_on``: waiting for it means waiting for every one of them."""
        by_urn = {r.urn: r for r in self.monitor.records}
        goals = self._aggregate(_urn_of(self, target), by_urn)
        reached: set[str] = set()
        todo = [_urn_of(self, resource)]
        while todo:
            record = by_urn.get(todo.pop())
            for dep in record.depends_on if record is not None else ():
                if dep not in reached:
                    reached.add(dep)
                    todo.append(dep)
        return bool(goals) and goals <= reached

    def _aggregate(self, urn: str, by_urn: dict[str, Registered]) -> set[str]:
        record = by_urn.get(urn)
        if record is None or record.custom or record.remote:
            return {urn}
        leaves: set[str] = set()
        for child in self.children(urn):
            leaves |= self._aggregate(child.urn, by_urn)
        return leaves


def _urn_of(stack: MockStack, thing: pulumi.Resource | Registered | str) -> str:
    if isinstance(thing, Registered):
        return thing.urn
    return thing if isinstance(thing, str) else stack.urn(thing)


def mock_stack_fixture(name: str = "stack", mocks: Callable[[], ComponentMocks] = ComponentMocks):
    """A pytest fixture (function scope) yielding a fresh ``MockStack``; assign it at module level:
    ``stack = mock_stack_fixture()``."""

    @pytest.fixture(name=name)
    def _fixture() -> Iterator[MockStack]:
        with MockStack(mocks()) as stack:
            yield stack

    return _fixture


def stand_in(name: str, typ: str = "test:index:StandIn", **props: Any) -> pulumi.CustomResource:
    """A custom resource of no provider, for what a component is told to wait for (``opts.depends_on``)."""
    return pulumi.CustomResource(typ, name, props)


def after(*resources: pulumi.Resource) -> pulumi.ResourceOptions:
    """Caller options that tell a component to wait for ``resources``."""
    return pulumi.ResourceOptions(depends_on=list(resources))
