"""`tpustack diff --matrix`: every stack each side's matrix files expand to, each side expanded by its own code,
in a temporary git repository (real worktrees, real `tpustack matrix` and `tpustack plan` runs); the working
tree's stacks/ is never written."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tpustack.ops import diff, diff_git

from helpers.diffrepo import commit, copy_program, git, plan_doc, run_diff


def matrix_file(prefix: str, accelerators: dict[str, str]) -> str:
    values = "\n".join(
        f"        - {{slug: {slug}, set: {{tpustack:accelerator: {acc}}}}}" for slug, acc in accelerators.items()
    )
    return f"matrix:\n  prefix: {prefix}\n  base: dev\n  axes:\n    - name: accelerator\n      values:\n{values}\n"


SAME = {"v5e1": "v5litepod-1"}  # expands identically on both sides
ACC = {"v5e1": "v5litepod-1", "v5e4": "v5litepod-4"}  # the working tree changes v5e4 to v5litepod-8


def state_of(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.rglob("*")}


@pytest.fixture(scope="module")
def matrix_repo(tmp_path_factory) -> Path:
    """Tags: `nomatrix` (its CLI has no matrix command), `broken` (acc.matrix.yaml has an invalid combination),
    then main (both matrices expand); the working tree changes one axis value of acc.matrix.yaml."""
    r = tmp_path_factory.mktemp("matrix-repo")
    copy_program(r, ("dev",))
    (r / ".gitignore").write_text("__pycache__/\n")
    (r / "stacks" / "same.matrix.yaml").write_text(matrix_file("same", SAME))
    acc = r / "stacks" / "acc.matrix.yaml"
    acc.write_text(matrix_file("acc", ACC))
    cli = r / "tpustack" / "cli" / "plan.py"
    code = cli.read_text()
    assert '@app.command("matrix")' in code
    cli.write_text(code.replace('@app.command("matrix")', '@app.command("sweep")'))
    git(r, "init", "-q", "-b", "main")
    git(r, "add", ".")
    commit(r, "a CLI without `matrix`")
    git(r, "tag", "nomatrix")
    cli.write_text(code)
    acc.write_text(matrix_file("acc", {**ACC, "v5e4": "v5litepod-3"}))  # no such accelerator
    commit(r, "a matrix that does not expand")
    git(r, "tag", "broken")
    acc.write_text(matrix_file("acc", ACC))
    commit(r, "base")
    acc.write_text(matrix_file("acc", {**ACC, "v5e4": "v5litepod-8"}))
    return r


@pytest.fixture(scope="module")
def matrix_run(matrix_repo, tmp_path_factory):
    """One `tpustack diff --base main --matrix --json`, with the working tree's state before and after and its
    own temporary directory (so what it leaves behind there can be seen)."""
    tmp = tmp_path_factory.mktemp("matrix-tmp")
    before = (state_of(matrix_repo / "stacks"), git(matrix_repo, "status", "--porcelain"))
    proc = run_diff(matrix_repo, "--base", "main", "--matrix", "--json", env={"TMPDIR": str(tmp)})
    after = (state_of(matrix_repo / "stacks"), git(matrix_repo, "status", "--porcelain"))
    return proc, before, after, tmp


class TestMatrixStacksAreDiffed:
    def test_identical_expansions_are_empty_and_a_changed_axis_shows(self, matrix_run):
        proc, *_ = matrix_run
        assert proc.returncode == 0, proc.stderr
        by_stack = {d["stack"]: d for d in json.loads(proc.stdout)}
        assert sorted(by_stack) == ["acc-v5e1", "acc-v5e4", "dev", "same-v5e1"], "stack files and matrix stacks"
        for name in ("acc-v5e1", "same-v5e1", "dev"):
            d = by_stack[name]
            assert d["items"] == [] and d["base_exists"] and d["head_exists"], (name, d["items"])
        assert by_stack["same-v5e1"]["matrix"] == "stacks/same.matrix.yaml"
        assert by_stack["acc-v5e1"]["matrix"] == "stacks/acc.matrix.yaml"
        assert "matrix" not in by_stack["dev"], "a stack file's JSON is as without --matrix"

        changed = by_stack["acc-v5e4"]
        assert changed["matrix"] == "stacks/acc.matrix.yaml"
        (vm,) = [i for i in changed["items"] if i["title"] == "gcp:tpu/v2Vm:V2Vm tpu-vm"]
        changes = {c["path"]: c for c in vm["changes"]}
        assert (changes["acceleratorType"]["before"], changes["acceleratorType"]["after"]) == (
            "v5litepod-4",
            "v5litepod-8",
        )
        assert changed["cost"]["after"] > changed["cost"]["before"], "twice the chips costs more"

    def test_the_working_tree_is_untouched(self, matrix_run, matrix_repo):
        proc, (stacks_before, status_before), (stacks_after, status_after), tmp = matrix_run
        assert proc.returncode == 0, proc.stderr
        assert stacks_after == stacks_before, "nothing written to, or changed in, the working tree's stacks/"
        assert not any(name.startswith("Pulumi.acc-") for name in stacks_after)
        assert status_after == status_before
        assert list(tmp.iterdir()) == [], "the temporary trees and expansions are removed"
        assert git(matrix_repo, "worktree", "list").count("\n") == 1

    def test_without_the_option_matrices_are_not_expanded(self, matrix_repo):
        assert [d.stack for d in diff.diff_stacks(matrix_repo, "main")] == ["dev"]

    def test_a_matrix_that_does_not_expand_at_the_base_names_file_revision_and_fix(self, matrix_repo):
        with pytest.raises(
            diff.DiffError,
            match=r"matrix stacks/acc\.matrix\.yaml at broken: does not expand .*v5litepod-3.*Fix: make "
            r"`tpustack matrix stacks/acc\.matrix\.yaml` pass at broken",
        ):
            diff.diff_stacks(matrix_repo, "broken", matrix=True)
        proc = run_diff(matrix_repo, "--base", "broken", "--matrix")
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.startswith("error: matrix stacks/acc.matrix.yaml at broken") and "Fix:" in proc.stderr
        assert "Traceback" not in proc.stderr

    def test_a_revision_without_the_matrix_command(self, matrix_repo):
        proc = run_diff(matrix_repo, "--base", "nomatrix", "--matrix")
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.startswith("error: matrix stacks/acc.matrix.yaml at nomatrix: the CLI there has no "), (
            proc.stderr
        )
        assert "Fix: diff against a --base whose CLI has it, or without --matrix" in proc.stderr
        assert "Traceback" not in proc.stderr

    def test_an_unknown_stack_names_the_matrix_stacks(self, matrix_repo):
        with pytest.raises(diff.DiffError, match=r"--stack nope: .*matrix combination.*acc-v5e1, acc-v5e4, dev"):
            diff.diff_stacks(matrix_repo, "main", ["nope"], matrix=True)


class TestMatrixNamesAreUnambiguous:
    def test_a_stack_file_wins_and_two_matrices_may_not_share_a_name(self, matrix_repo, tmp_path):
        tree = tmp_path / "tree"
        shutil.copytree(matrix_repo, tree, ignore=shutil.ignore_patterns(".git"))
        stack_file = tree / "stacks" / "Pulumi.same-v5e1.yaml"
        shutil.copy2(tree / "stacks" / "Pulumi.dev.yaml", stack_file)  # as if expanded and committed earlier
        side = diff_git.side_of(tree, "here", sys.executable, tmp_path / "scratch")
        assert side.matrix == {"acc-v5e1": "stacks/acc.matrix.yaml", "acc-v5e4": "stacks/acc.matrix.yaml"}
        assert stack_file.read_bytes() == (tree / "stacks" / "Pulumi.dev.yaml").read_bytes(), "what deploys"

        tree2 = tmp_path / "tree2"
        shutil.copytree(matrix_repo, tree2, ignore=shutil.ignore_patterns(".git"))
        (tree2 / "stacks" / "zz.matrix.yaml").write_text(matrix_file("acc", {"v5e1": "v5litepod-1"}))
        with pytest.raises(diff.DiffError, match=r"stack 'acc-v5e1' is also a combination of stacks/acc\.matrix"):
            diff_git.side_of(tree2, "here", sys.executable, tmp_path / "scratch2")


class TestMatrixStacksInTheOutput:
    def test_text_markdown_and_json_say_which_matrix(self):
        d = diff.diff_plans(
            plan_doc(), plan_doc(machine_type="ct6e-standard-4t"), stack="m-a", matrix="stacks/m.matrix.yaml"
        )
        assert d.to_text().splitlines()[1] == "  a combination of matrix stacks/m.matrix.yaml"
        assert "_a combination of matrix stacks/m.matrix.yaml_" in d.to_markdown()
        assert d.to_json()["matrix"] == "stacks/m.matrix.yaml"
        same = diff.diff_plans(plan_doc(), plan_doc(), stack="m-b", matrix="stacks/m.matrix.yaml")
        assert "a combination of matrix stacks/m.matrix.yaml" in same.to_text() and "no changes" in same.to_text()
        md = diff.markdown_report([d, same])
        assert md.rstrip().endswith("No changes: `m-b` (matrix `stacks/m.matrix.yaml`)")

    def test_plain_stacks_are_rendered_as_before(self):
        d = diff.diff_plans(plan_doc(), plan_doc(machine_type="ct6e-standard-4t"), stack="s")
        assert "matrix" not in d.to_json() and "matrix" not in d.to_text() and "matrix" not in d.to_markdown()


class TestWorkingTreeCopy:
    def test_tracked_and_untracked_files_not_ignored_nor_deleted(self, tmp_path):
        r = tmp_path / "r"
        (r / "stacks").mkdir(parents=True)
        (r / ".gitignore").write_text("*.log\n")
        (r / "stacks" / "Pulumi.a.yaml").write_text("a")
        (r / "stacks" / "Pulumi.gone.yaml").write_text("gone")
        git(r, "init", "-q", "-b", "main")
        git(r, "add", ".")
        commit(r, "base")
        (r / "stacks" / "Pulumi.gone.yaml").unlink()
        (r / "stacks" / "Pulumi.a.yaml").write_text("a, edited")
        (r / "stacks" / "Pulumi.new.yaml").write_text("new")
        (r / "debug.log").write_text("ignored")
        (r / "link").symlink_to("stacks/Pulumi.a.yaml")
        with diff.WorkingTreeCopy(r) as copy_:
            files = sorted(str(p.relative_to(copy_)) for p in copy_.rglob("*") if not p.is_dir())
            assert files == [".gitignore", "link", "stacks/Pulumi.a.yaml", "stacks/Pulumi.new.yaml"]
            assert (copy_ / "stacks" / "Pulumi.a.yaml").read_text() == "a, edited"
            assert (copy_ / "link").is_symlink() and (copy_ / "link").read_text() == "a, edited"
        assert not copy_.exists(), "removed on exit"
