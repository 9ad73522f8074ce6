"""The one write path (tpustack.core.outputs) and every --out that goes through it: nothing is written outside the
target, nothing replaced, a multi-file output lands whole or not at all, and a target that cannot be used is one
plain error with the README's exit code (3: an output path; 1: the filesystem refused), never a traceback.

Each case below failed before the write path existed: a dangling symlink inside --out sent report.csv outside it, an
--out below a file or with a 300-byte name ended as an internal error, recommend --out took a non-empty directory,
and a failure half-way through left part of a report behind."""

from __future__ import annotations

import json
import os
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tpustack.cli import app
from tpustack.core import outputs
from tpustack.core.errors import EXIT_INVALID, EXIT_RUNTIME, InputError, TpuStackError

from helpers.project import FIXTURES

SWEEP = str(FIXTURES / "sweep")
runner = CliRunner()


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under root (links by target, files by content)."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            key = str(p.relative_to(root))
            if p.is_symlink():
                out[key] = "-> " + os.readlink(p)
            elif p.is_file():
                out[key] = p.read_bytes()
            else:
                out[key] = "dir"
    return out


class TestStagedDir:
    def test_new_directory_appears_whole(self, tmp_path):
        target = tmp_path / "a" / "b" / "out"
        with outputs.staged_dir(target) as tmp:
            (tmp / "one.txt").write_text("1")
            (tmp / "two.txt").write_text("2")
            assert not target.exists()  # nothing visible until the end
        assert sorted(p.name for p in target.iterdir()) == ["one.txt", "two.txt"]
        assert [p.name for p in target.parent.iterdir()] == ["out"]  # no temporary left beside it

    def test_failure_half_way_leaves_nothing(self, tmp_path):
        target = tmp_path / "out"
        with pytest.raises(RuntimeError), outputs.staged_dir(target) as tmp:
            (tmp / "one.txt").write_text("1")
            raise RuntimeError("the second picture failed")
        assert list(tmp_path.iterdir()) == []

    def test_failure_half_way_into_an_existing_directory_leaves_it_as_it_was(self, tmp_path):
        (tmp_path / "notes.md").write_text("mine")
        before = snapshot(tmp_path)
        with pytest.raises(RuntimeError), outputs.staged_dir(tmp_path, empty=False, names=("r.csv",)) as tmp:
            (tmp / "r.csv").write_text("1")
            raise RuntimeError("boom")
        assert snapshot(tmp_path) == before

    def test_dangling_link_inside_cannot_redirect_a_write(self, tmp_path):
        out, victim = tmp_path / "out", tmp_path / "elsewhere" / "report.csv"
        out.mkdir()
        victim.parent.mkdir()
        (out / "report.csv").symlink_to(victim)
        with (
            pytest.raises(InputError, match="already holds report.csv"),
            outputs.staged_dir(out, empty=False, names=("report.csv",)) as tmp,
        ):
            (tmp / "report.csv").write_text("x")
        assert not victim.exists()

    def test_a_name_that_appears_while_writing_undoes_the_whole_output(self, tmp_path):
        with (
            pytest.raises(InputError, match="appeared there while writing"),
            outputs.staged_dir(tmp_path, empty=False, names=("a", "b")) as tmp,
        ):
            (tmp / "a").write_text("new a")
            (tmp / "b").write_text("new b")
            (tmp_path / "b").symlink_to(tmp_path / "nowhere")  # a race: b is taken after the check
        assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # a was linked, then undone
        assert (tmp_path / "b").is_symlink() and not (tmp_path / "nowhere").exists()

    @pytest.mark.parametrize(
        ("make", "message"),
        [
            (lambda t: (t / "f").write_text("x") and t / "f" / "out", "is a file, so nothing can be written below"),
            (lambda t: (t / "f").write_text("x") and t / "f", "is a file"),
            (lambda t: t / ("n" * 300), "more than a filesystem name may be"),
            (lambda t: t / "/".join(["d" * 200] * 25), "more than the filesystem takes"),
            (lambda t: (t / "l").symlink_to(t) or t / "l", "is a symbolic link"),
            (lambda t: (t / "l").symlink_to(t / "gone") or t / "l" / "out", "dangling symbolic link"),
            (lambda t: (t / "d").mkdir() or (t / "d" / "x").write_text("1") and t / "d", "is not empty"),
        ],
        ids=["below-a-file", "a-file", "long-name", "long-path", "a-link", "below-a-dangling-link", "not-empty"],
    )
    def test_unusable_targets_are_input_errors_before_anything_is_written(self, tmp_path, make, message):
        target = make(tmp_path)
        before = snapshot(tmp_path)
        with pytest.raises(InputError, match=message) as e, outputs.staged_dir(target) as tmp:
            (tmp / "x").write_text("x")
        assert e.value.exit_code == EXIT_INVALID and "Fix:" in str(e.value)
        assert len(str(e.value)) < 600  # an absurd path is named, not echoed whole
        assert snapshot(tmp_path) == before

    @pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere; permissions cannot refuse it")
    def test_unwritable_directory_is_a_runtime_error(self, tmp_path):
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(TpuStackError, match="not writable") as e:
            outputs.check_dir(ro / "out")
        assert e.value.exit_code == EXIT_RUNTIME


class TestWriteFile:
    def test_creates_exclusively_and_whole(self, tmp_path):
        p = outputs.write_file(tmp_path / "a" / "r.json", b"{}")
        assert p.read_bytes() == b"{}" and [q.name for q in p.parent.iterdir()] == ["r.json"]
        with pytest.raises(InputError, match="write-once"):
            outputs.write_file(p, b"new")
        assert p.read_bytes() == b"{}"

    def test_dangling_link_is_never_followed(self, tmp_path):
        (tmp_path / "r.json").symlink_to(tmp_path / "outside.json")
        with pytest.raises(InputError, match="symbolic link"):
            outputs.write_file(tmp_path / "r.json", b"{}")
        assert not (tmp_path / "outside.json").exists()


class TestEveryOut:
    """The commands' --out all go through the write path."""

    def test_report_out_with_a_dangling_link_writes_nothing_outside(self, tmp_path):
        out = tmp_path / "rep"
        out.mkdir()
        (out / "report.csv").symlink_to(tmp_path / "stolen.csv")
        r = runner.invoke(app, ["report", SWEEP, "--out", str(out)])
        assert r.exit_code == EXIT_INVALID, r.output
        assert "Traceback" not in r.output and "Fix:" in r.output
        assert not (tmp_path / "stolen.csv").exists()

    def test_recommend_out_refuses_a_non_empty_directory(self, tmp_path):
        out = tmp_path / "rec"
        out.mkdir()
        (out / "mine.txt").write_text("keep")
        args = ["recommend", SWEEP, "--slo", "ttft:p99<=500ms", "--rps", "1", "--input-len", "1024"]
        r = runner.invoke(app, [*args, "--output-len", "128", "--out", str(out)])
        assert r.exit_code == EXIT_INVALID and "not empty" in r.output, r.output
        assert [p.name for p in out.iterdir()] == ["mine.txt"]

    @pytest.mark.parametrize("cmd", [["plan", "--stack", "dev"], ["report", SWEEP]])
    def test_out_below_a_file(self, tmp_path, cmd):
        (tmp_path / "f").write_text("x")
        r = runner.invoke(app, [*cmd, "--out", str(tmp_path / "f" / "out")])
        assert r.exit_code == EXIT_INVALID, r.output
        assert r.output.startswith("error:") and "below it" in r.output

    def test_heartbeat_out_too_long(self, tmp_path):
        r = runner.invoke(app, ["heartbeat", "--out", str(tmp_path / ("x" * 300 + ".json")), "--iterations", "1"])
        assert r.exit_code == EXIT_INVALID and "more than a filesystem name" in r.output, r.output


names = st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=12).filter(
    lambda n: n not in (".", "..")  # a name, not the directory itself or its parent
)
layouts = st.lists(
    st.tuples(names, st.sampled_from(["file", "dir", "link-in", "link-out", "dangling"])), max_size=4, unique_by=str
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=layouts, sub=st.lists(names, min_size=0, max_size=3), long=st.integers(0, 300))
def test_report_out_anywhere(tmp_path_factory, layout, sub, long):
    """For any --out in a tree of files, directories and links: exit 0 or 3 with one plain error, nothing that was
    there changed, nothing new outside what --out names (a link the user put in the path itself is followed, as the
    shell would; a link inside the target never is), and --json output strict JSON."""
    root = tmp_path_factory.mktemp("outs")
    (root / "outside").mkdir()
    for n, kind in layout:
        p = root / n
        if kind == "file":
            p.write_text("mine")
        elif kind == "dir":
            p.mkdir()
        elif kind == "link-in":
            p.symlink_to(root)
        elif kind == "link-out":
            p.symlink_to(root / "outside")
        else:
            p.symlink_to(root / "outside" / "gone")
    target = root.joinpath(*(sub or [layout[0][0] if layout else "new"]))
    if long:
        target = target / ("z" * long)
    resolved = Path(os.path.realpath(target))
    before = snapshot(root)
    r = runner.invoke(app, ["report", SWEEP, "--out", str(target), "--json"])
    assert r.exit_code in (0, EXIT_INVALID), r.output
    assert "Traceback" not in r.output and (r.exception is None or isinstance(r.exception, SystemExit))
    after = snapshot(root)
    assert not {k for k in before if before[k] != after.get(k)}  # nothing the user had changed
    new = [Path(os.path.realpath(root / k)) for k in set(after) - set(before)]
    if r.exit_code == 0:
        json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
        assert target.is_dir() and not target.is_symlink()
        # what appeared is the target, what is in it, or a directory made on the way to it
        assert all(p.is_relative_to(resolved) or resolved.is_relative_to(p) for p in new), new
    else:
        assert r.output.count("error:") == 1 and "Fix:" in r.output
        assert new == []
