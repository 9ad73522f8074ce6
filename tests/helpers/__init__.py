"""What component tests share (tests/unit/components): a recording Pulumi mock runtime and questions to it.

A test module takes a fresh runtime per test with ``stack = mock_stack_fixture()``, builds a component from a
hand-made Args with ``stack.build(lambda: Component(name, args, opts=after(stand_in("apis"))))`` and asks:

- ``stack.children(comp, type)`` / ``stack.descendants(comp)`` / ``stack.record(resource)`` / ``stack.one(type)``
  / ``stack.of_type(type)``: ``Registered`` records (type, name, parent, inputs with ``is_secret(path)``,
  provider, protect, retain_on_delete, delete_before_replace, ignore_changes, custom_timeouts, depends_on);
- ``record.waits_for(other)`` (directly) and ``stack.waits_for(a, b)`` (directly, through inputs, or through a
  component's children);
- ``stack.resolve(output)``, ``stack.is_secret(output)``, ``stack.outputs_of(comp)`` (its register_outputs),
  ``stack.invokes`` (data-source calls).

``ComponentMocks`` fills provider-computed outputs by type token (``COMPUTED``; documentation addresses only) and
takes per-test overrides; ``MockStack`` is also a plain context manager.
"""

from .mocks import (
    ADDRESS_BASE,
    CLUSTER_CA_PEM,
    CLUSTER_ENDPOINT,
    COMPUTED,
    EPOCH,
    INVOKES,
    TPU_VM_IP,
    ComponentMocks,
    Invoked,
    RecordingMonitor,
    Registered,
    plain,
)
from .runtime import MockStack, after, mock_stack_fixture, stand_in

__all__ = [
    "ADDRESS_BASE",
    "CLUSTER_CA_PEM",
    "CLUSTER_ENDPOINT",
    "COMPUTED",
    "EPOCH",
    "INVOKES",
    "TPU_VM_IP",
    "ComponentMocks",
    "Invoked",
    "MockStack",
    "Registered",
    "RecordingMonitor",
    "after",
    "mock_stack_fixture",
    "plain",
    "stand_in",
]
