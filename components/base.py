"""What every tpustack component shares."""

from __future__ import annotations

import pulumi


def inherited_depends_on(opts: pulumi.ResourceOptions | None) -> list[pulumi.Resource]:
    """The caller's ``opts.depends_on``, for the children that must wait for it too.

    Pulumi registers a component's children with only their own dependencies: a child does not wait for what
    its parent component ``depends_on`` (checked under the mock engine: tests/integration/test_infra.py). So a component
    that is told to wait (e.g. for the API enablement) passes the same resources on to each child that calls
    those APIs; the rest of the caller's options (provider, protect...) are never merged into children.
    """
    deps = opts.depends_on if opts is not None else None
    if deps is None:
        return []
    if isinstance(deps, pulumi.Resource):
        return [deps]
    return [d for d in deps if isinstance(d, pulumi.Resource)]  # type: ignore[union-attr]
