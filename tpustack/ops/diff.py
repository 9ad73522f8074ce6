"""`tpustack diff`: what a change does to a stack, as a reviewer needs to see it.

The one import for callers (the CLI, tests); the work is split by responsibility:

- tpustack.ops.diff_values: two JSON values, every difference by path; lists of named things (containers,
  ports, env) by name, argument lists as flags (``--max-model-len 4096 -> 8192``).
- tpustack.ops.diff_plan: two plan documents (the contract of `tpustack plan --json`) of one stack ->
  ``PlanDiff``, shown as plain text, markdown (for a pull-request comment) and JSON.
- tpustack.ops.diff_git: planning a stack at a git revision and in the working tree, each side with its own
  code (``--matrix``: also every stack each side's matrix files expand to).
"""

from __future__ import annotations

from .diff_git import (
    BaseTree,
    DiffError,
    WorkingTreeCopy,
    diff_stacks,
    expand_matrix,
    matrix_files,
    plan_command,
    plan_tree,
    repo_root,
    stacks_in,
)
from .diff_plan import HEAD, ItemDiff, Op, PlanDiff, Section, diff_plans, manifest_key, markdown_report
from .diff_values import MISSING, Change, argv_change, compare

__all__ = [
    "HEAD",
    "MISSING",
    "BaseTree",
    "Change",
    "DiffError",
    "ItemDiff",
    "Op",
    "PlanDiff",
    "Section",
    "WorkingTreeCopy",
    "argv_change",
    "compare",
    "diff_plans",
    "diff_stacks",
    "expand_matrix",
    "manifest_key",
    "markdown_report",
    "matrix_files",
    "plan_command",
    "plan_tree",
    "repo_root",
    "stacks_in",
]
