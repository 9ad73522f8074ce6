"""Wires the components of one stack together from a validated StackConfig and exports its outputs."""

from __future__ import annotations

import pulumi

from .config import StackConfig


def build(cfg: StackConfig) -> None:
    """Declare every resource of the stack. Only called with a fully validated config."""
    shape = cfg.shape
    pulumi.export("accelerator", shape.name)
    pulumi.export("chips", shape.chips)
    pulumi.export("hosts", shape.hosts)
    pulumi.export("target", cfg.target)
    pulumi.export("resultsBucket", f"gs://{cfg.results_bucket}")
