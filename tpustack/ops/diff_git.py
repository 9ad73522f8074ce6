"""Planning both sides of `tpustack diff`: a git revision and the working tree, each with its own code.

Owns the subprocesses and temporary trees. The base side is a ``git worktree`` of REF in a temporary
directory; each side's stacks are planned by running that tree's CLI (``python -m tpustack.cli plan``, or
``python -m components.cli plan`` for revisions from before the ``tpustack`` package) with the tree first on
PYTHONPATH and the current interpreter, so neither side's plan mixes in the other's modules
(tpustack/__init__.py maps a checkout's components/ and workloads/ into the package of the same tree).

Deliberately not done: talking to Pulumi state or the cloud (that is `pulumi preview --diff`, run by the CI
workflow when credentials exist).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tpustack.core.errors import TpuStackError

from .diff_plan import HEAD, PlanDiff, diff_plans


class DiffError(TpuStackError):
    """A side of the diff could not be planned (bad ref, the revision's plan failed)."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=120)


def repo_root(path: Path) -> Path:
    proc = _git(path, "rev-parse", "--show-toplevel")
    if proc.returncode != 0:
        raise DiffError(
            f"--base: {path} is not inside a git repository ({proc.stderr.strip()}). Fix: run "
            f"`tpustack diff` from a clone of the repository"
        )
    return Path(proc.stdout.strip())


def _stack_names(directory: Path) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in directory.glob("Pulumi.*.yaml"))


def stacks_in(tree: Path) -> list[str]:
    return _stack_names(tree / "stacks")


def _tree_env(tree: Path) -> dict[str, str]:
    """The environment that runs ``tree``'s own code: the tree first on PYTHONPATH, no project override."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("PULUMI_PYTHON_LOG_LEVEL", "ERROR")
    env.pop("TPUSTACK_PROJECT_DIR", None)
    return env


def _has_package_cli(tree: Path) -> bool:
    return (tree / "tpustack" / "cli" / "__init__.py").is_file()


def plan_command(tree: Path, stack: str, python: str = sys.executable) -> list[str]:
    """The command that plans ``stack`` with ``tree``'s own code (the layout differs across revisions)."""
    if _has_package_cli(tree):
        return [python, "-m", "tpustack.cli", "plan", "--project-dir", str(tree), "--stack", stack, "--json"]
    return [python, "-m", "components.cli", "plan", "--stack", stack, "--json"]


def plan_tree(tree: Path, stack: str, label: str, python: str = sys.executable) -> dict | None:
    """Plan ``stack`` with the code and stack file of ``tree``; None when the tree has no such stack."""
    if not (tree / "stacks" / f"Pulumi.{stack}.yaml").exists():
        return None
    proc = subprocess.run(
        plan_command(tree, stack, python), cwd=tree, env=_tree_env(tree), capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        tail = " / ".join(proc.stderr.strip().splitlines()[-6:]) or "(no output)"
        raise DiffError(
            f"stack '{stack}' at {label}: `tpustack plan` exited {proc.returncode}: {tail}. Fix: "
            f"make `tpustack plan --stack {stack}` pass at {label}, or diff against another --base"
        )
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise DiffError(
            f"stack '{stack}' at {label}: `tpustack plan --json` printed no JSON ({e}). Fix: the "
            f"revision may predate `plan --json`; diff against a newer --base"
        ) from e


# ----- the two trees ------------------------------------------------------------------------------------
class BaseTree:
    """A detached ``git worktree`` of REF in a temporary directory, removed on exit."""

    def __init__(self, repo: Path, ref: str):
        self.repo = repo
        self.ref = ref
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.path = Path()

    def __enter__(self) -> Path:
        sha = _git(self.repo, "rev-parse", "--verify", "--quiet", f"{self.ref}^{{commit}}")
        if sha.returncode != 0:
            raise DiffError(
                f"--base: '{self.ref}' is not a commit in {self.repo}. Fix: `git fetch origin` (in "
                f"CI: actions/checkout with fetch-depth: 0), or pass a branch, tag or sha that exists"
            )
        self._tmp = tempfile.TemporaryDirectory(prefix="tpustack-diff-")
        self.path = Path(self._tmp.name) / "base"
        add = _git(self.repo, "worktree", "add", "--detach", "--quiet", str(self.path), sha.stdout.strip())
        if add.returncode != 0:
            self._tmp.cleanup()
            raise DiffError(
                f"--base {self.ref}: `git worktree add` failed: {add.stderr.strip()}. Fix: "
                f"`git worktree prune`, then retry"
            )
        return self.path

    def __exit__(self, *exc: Any) -> None:
        _git(self.repo, "worktree", "remove", "--force", str(self.path))
        _git(self.repo, "worktree", "prune")
        if self._tmp is not None:
            self._tmp.cleanup()


# ----- both sides ----------------------------------------------------------------------------------------
def diff_stacks(
    repo: Path, base_ref: str, stacks: list[str] | None = None, python: str = sys.executable
) -> list[PlanDiff]:
    """Plan each stack at ``base_ref`` and in the working tree of ``repo``, and diff them.

    With no ``stacks``: every stack present on either side (so a removed stack shows as removed).
    """
    root = repo_root(repo)
    with BaseTree(root, base_ref) as base_tree:
        names = stacks or sorted(set(stacks_in(base_tree)) | set(stacks_in(root)))
        diffs = []
        for s in names:
            before = plan_tree(base_tree, s, base_ref, python)
            after = plan_tree(root, s, HEAD, python)
            if before is None and after is None:
                raise DiffError(
                    f"--stack {s}: no stacks/Pulumi.{s}.yaml at {base_ref} nor in the {HEAD}. Fix: "
                    f"pick one of {', '.join(stacks_in(root)) or '(none)'}"
                )
            diffs.append(diff_plans(before, after, stack=s, base_label=base_ref, head_label=HEAD))
    return diffs
