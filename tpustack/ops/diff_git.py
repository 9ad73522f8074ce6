"""Planning both sides of `tpustack diff`: a git revision and the working tree, each with its own code.

Owns the subprocesses and temporary trees. The base side is a ``git worktree`` of REF in a temporary
directory; each side's stacks are planned by running that tree's CLI (``python -m tpustack.cli plan``, or
``python -m components.cli plan`` for revisions from before the ``tpustack`` package) with the tree first on
PYTHONPATH and the current interpreter, so neither side's plan mixes in the other's modules
(tpustack/__init__.py maps a checkout's components/ and workloads/ into the package of the same tree).

With ``matrix=True`` each side's matrix files (``stacks/*.matrix.yaml``) are expanded by that side's own
``tpustack matrix FILE --write --out DIR`` too, and the stacks they expand to are planned like the others. The
generated stack files go into the side's temporary tree only: the working-tree side is then planned from a
temporary copy of the working tree (tracked and untracked-but-not-ignored files), so the user's stacks/ is never
written. A combination named like a stack file of the same side is that stack file (what `pulumi up` deploys).

Deliberately not done: talking to Pulumi state or the cloud (that is `pulumi preview --diff`, run by the CI
workflow when credentials exist).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tpustack.core.errors import TpuStackError

from .diff_plan import HEAD, PlanDiff, diff_plans

MATRIX_GLOB = "*.matrix.yaml"
# Typer's usage-error panel frames its message in these.
_BOX = " │╭╮╰╯─"


class DiffError(TpuStackError):
    """A side of the diff could not be planned (bad ref, the revision's plan or matrix failed)."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=120)


def repo_root(path: Path) -> Path:
    proc = _git(path, "rev-parse", "--show-toplevel")
    if proc.returncode != 0:
        raise DiffError(
            f"--base: {path} is not inside a git repository ({proc.stderr.strip()})",
            fix="run `tpustack diff` from a clone of the repository",
        )
    return Path(proc.stdout.strip())


def _stack_names(directory: Path) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in directory.glob("Pulumi.*.yaml"))


def stacks_in(tree: Path) -> list[str]:
    return _stack_names(tree / "stacks")


def matrix_files(tree: Path) -> list[str]:
    """The tree's matrix files, as paths relative to it (``stacks/sweep.matrix.yaml``)."""
    return sorted(p.relative_to(tree).as_posix() for p in (tree / "stacks").glob(MATRIX_GLOB))


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
            f"stack '{stack}' at {label}: `tpustack plan` exited {proc.returncode}: {tail}",
            fix=f"make `tpustack plan --stack {stack}` pass at {label}, or diff against another --base",
        )
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise DiffError(
            f"stack '{stack}' at {label}: `tpustack plan --json` printed no JSON ({e})",
            fix="the revision may predate `plan --json`; diff against a newer --base",
        ) from e


# ----- matrices -----------------------------------------------------------------------------------------
def _matrix_error(file: str, label: str, proc: subprocess.CompletedProcess) -> DiffError:
    lines = [line.strip(_BOX) for line in proc.stderr.splitlines()]
    tail = " / ".join([line for line in lines if line][-6:]) or "(no output)"
    command = f"`tpustack matrix {file}`"
    if proc.returncode == 2:  # a usage error: the CLI there has no such command or options
        return DiffError(
            f"matrix {file} at {label}: the CLI there has no `tpustack matrix FILE --write --out DIR` ({tail}). "
            "Fix: diff against a --base whose CLI has it, or without --matrix"
        )
    if proc.returncode == 3:
        return DiffError(
            f"matrix {file} at {label}: does not expand ({command} exited 3: {tail}). Fix: make {command} pass at "
            f"{label} (fix the invalid combinations or name them under `exclude:`), or diff without --matrix"
        )
    return DiffError(
        f"matrix {file} at {label}: {command} exited {proc.returncode}: {tail}. Fix: make {command} pass at "
        f"{label}, or diff without --matrix"
    )


def expand_matrix(tree: Path, file: str, label: str, out: Path, python: str = sys.executable) -> list[str]:
    """Expand one matrix file of ``tree`` with ``tree``'s own code, writing its stack files into ``out``; the
    stack names written."""
    if not _has_package_cli(tree):
        raise DiffError(
            f"matrix {file} at {label}: that revision predates the tpustack package and its `tpustack matrix`",
            fix="diff against a newer --base, or without --matrix",
        )
    command = [python, "-m", "tpustack.cli", "matrix", file, "--write", "--out", str(out)]
    try:
        proc = subprocess.run(command, cwd=tree, env=_tree_env(tree), capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as e:
        raise DiffError(
            f"matrix {file} at {label}: `tpustack matrix {file}` ran over {e.timeout:g} s",
            fix="exclude combinations, split the matrix, or diff without --matrix",
        ) from e
    if proc.returncode != 0:
        raise _matrix_error(file, label, proc)
    return _stack_names(out)


@dataclass(frozen=True, kw_only=True)
class Side:
    """One side of the diff: the tree planned, how the output names it, and where its matrix stacks came from."""

    tree: Path
    label: str
    matrix: dict[str, str] = field(default_factory=dict)  # stack -> the matrix file it was expanded from

    @property
    def names(self) -> set[str]:
        return set(stacks_in(self.tree))


def side_of(tree: Path, label: str, python: str, scratch: Path | None) -> Side:
    """The side of ``tree``; with ``scratch`` (``--matrix``), its matrix stacks are expanded there and their stack
    files added to the tree's stacks/ (a temporary tree: the base worktree or the working tree's copy)."""
    if scratch is None:
        return Side(tree=tree, label=label)
    own = set(stacks_in(tree))
    found: dict[str, str] = {}
    for i, file in enumerate(matrix_files(tree)):
        out = scratch / str(i)
        for name in expand_matrix(tree, file, label, out, python):
            if name in own:
                continue  # that stack file is what deploys, and it is diffed as a stack
            if name in found:
                raise DiffError(
                    f"matrix {file} at {label}: stack '{name}' is also a combination of {found[name]}",
                    fix="give the matrices different `prefix:`es",
                )
            found[name] = file
            shutil.copy2(out / f"Pulumi.{name}.yaml", tree / "stacks" / f"Pulumi.{name}.yaml")
    return Side(tree=tree, label=label, matrix=found)


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
                f"--base: '{self.ref}' is not a commit in {self.repo}",
                fix="`git fetch origin` (in "
                "CI: actions/checkout with fetch-depth: 0), or pass a branch, tag or sha that exists",
            )
        self._tmp = tempfile.TemporaryDirectory(prefix="tpustack-diff-")
        self.path = Path(self._tmp.name) / "base"
        add = _git(self.repo, "worktree", "add", "--detach", "--quiet", str(self.path), sha.stdout.strip())
        if add.returncode != 0:
            self._tmp.cleanup()
            raise DiffError(
                f"--base {self.ref}: `git worktree add` failed: {add.stderr.strip()}",
                fix="`git worktree prune`, then retry",
            )
        return self.path

    def __exit__(self, *exc: Any) -> None:
        _git(self.repo, "worktree", "remove", "--force", str(self.path))
        _git(self.repo, "worktree", "prune")
        if self._tmp is not None:
            self._tmp.cleanup()


class WorkingTreeCopy:
    """The working tree's tracked and untracked-but-not-ignored files (as `git ls-files --cached --others
    --exclude-standard` lists them, deleted files skipped) copied into a temporary directory, removed on exit."""

    def __init__(self, repo: Path):
        self.repo = repo
        self._tmp: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> Path:
        ls = subprocess.run(
            ["git", "-C", str(self.repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            timeout=120,
        )
        if ls.returncode != 0:
            raise DiffError(
                f"--matrix: `git ls-files` failed in {self.repo}: {os.fsdecode(ls.stderr).strip()}",
                fix="run `git status` there and repair what it reports",
            )
        self._tmp = tempfile.TemporaryDirectory(prefix="tpustack-diff-")
        path = Path(self._tmp.name) / "head"
        try:
            for raw in dict.fromkeys(ls.stdout.split(b"\0")):  # an unmerged file is listed once per stage
                if raw:
                    _copy_entry(self.repo / os.fsdecode(raw), path / os.fsdecode(raw))
        except OSError as e:
            self._tmp.cleanup()
            raise DiffError(
                f"--matrix: cannot copy the working tree into {path}: {e}",
                fix="free space in the temporary directory (TMPDIR), or diff without --matrix",
            ) from e
        return path

    def __exit__(self, *exc: Any) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def _copy_entry(src: Path, dst: Path) -> None:
    """One listed path: a file or a symbolic link as it is; nothing for a deleted file or a submodule."""
    if src.is_symlink():
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.readlink(src), dst)
    elif src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


# ----- both sides ----------------------------------------------------------------------------------------
def _unknown_stack(stack: str, base: Side, head: Side, matrix: bool) -> DiffError:
    if not matrix:
        return DiffError(
            f"--stack {stack}: no stacks/Pulumi.{stack}.yaml at {base.label} nor in the {head.label}. Fix: "
            f"pick one of {', '.join(stacks_in(head.tree)) or '(none)'}"
        )
    return DiffError(
        f"--stack {stack}: no stacks/Pulumi.{stack}.yaml and no matrix combination of that name at {base.label} "
        f"nor in the {head.label}. Fix: pick one of {', '.join(sorted(head.names)) or '(none)'}"
    )


def diff_stacks(
    repo: Path, base_ref: str, stacks: list[str] | None = None, python: str = sys.executable, *, matrix: bool = False
) -> list[PlanDiff]:
    """Plan each stack at ``base_ref`` and in the working tree of ``repo``, and diff them.

    With no ``stacks``: every stack present on either side (so a removed stack shows as removed); with ``matrix``
    the stacks each side's matrix files expand to count as present on that side.
    """
    root = repo_root(repo)
    with contextlib.ExitStack() as scope:
        base_tree = scope.enter_context(BaseTree(root, base_ref))
        scratch = Path(scope.enter_context(tempfile.TemporaryDirectory(prefix="tpustack-diff-"))) if matrix else None
        head_tree = scope.enter_context(WorkingTreeCopy(root)) if matrix else root
        base = side_of(base_tree, base_ref, python, scratch / "base" if scratch else None)
        head = side_of(head_tree, HEAD, python, scratch / "head" if scratch else None)
        diffs = []
        for s in stacks or sorted(base.names | head.names):
            before = plan_tree(base.tree, s, base.label, python)
            after = plan_tree(head.tree, s, head.label, python)
            if before is None and after is None:
                raise _unknown_stack(s, base, head, matrix)
            source = head.matrix.get(s) or base.matrix.get(s)
            diffs.append(diff_plans(before, after, stack=s, base_label=base_ref, head_label=HEAD, matrix=source))
    return diffs
