"""`tpustack matrix`: the shipped matrix expands to stacks that each plan on their own, the sweep is priced, invalid
combinations are listed with their reason, and stack files are written once, never over a file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tpustack import plan as plan_mod
from tpustack.cli import app
from tpustack.config.project import load_project
from tpustack.core import catalog
from tpustack.core.errors import ConfigError, TpuStackError
from tpustack.plan import matrix

from helpers.project import ROOT

SHIPPED = ROOT / "stacks" / "sweep-llama8b.matrix.yaml"


@pytest.fixture(scope="module")
def shipped():
    project = load_project(ROOT)
    m = matrix.load(SHIPPED)
    return m, matrix.plan_all(m, project, str(SHIPPED))


@pytest.fixture
def project_copy(tmp_path):
    for f in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / f, tmp_path / f)
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    return tmp_path


class TestShippedMatrix:
    def test_is_not_a_stack_file(self):
        assert not SHIPPED.name.startswith("Pulumi.")
        assert SHIPPED.stem not in load_project(ROOT).stack_names()

    def test_expands_to_six_stacks_that_all_plan(self, shipped):
        _, combos = shipped
        assert len(combos) >= 6
        assert all(c.ok for c in combos), [(c.name, [str(p) for p in c.problems]) for c in combos]
        families = {catalog.lookup(c.plan.outputs["accelerator"]).family for c in combos}
        assert {"v5e", "v6e"} <= families
        kinds = {catalog.lookup(c.plan.outputs["accelerator"]).kind for c in combos}
        assert kinds == {"tpu", "gpu"}
        caps = {json.dumps(c.doc["config"]["tpustack:engine"], sort_keys=True) for c in combos}
        assert len(caps) >= 2  # two engine settings

    def test_each_combination_plans_like_its_written_file(self, shipped, project_copy):
        m, combos = shipped
        r = CliRunner().invoke(app, ["matrix", str(SHIPPED), "--write", "--project-dir", str(project_copy)])
        assert r.exit_code == 0, r.output
        project = load_project(project_copy)
        for c in combos:
            p = plan_mod.plan(project, c.name)  # the file as `tpustack plan -s` / `pulumi up -s` reads it
            assert p.cost == c.plan.cost and len(p.resources) == len(c.plan.resources), c.name

    def test_sweep_cost_is_the_sum_of_the_plans(self, shipped):
        _, combos = shipped
        s = matrix.summary(combos)
        assert s["stacks"] == len(combos) and s["invalid"] == 0
        assert s["hourly_usd_all_at_once"] == pytest.approx(sum(c.plan.cost["hourly_usd"] for c in combos), abs=0.01)
        # per experiment: each stack for its TTL (3 h in the shipped matrix)
        assert all(c.plan.cost["ttl_hours"] == 3 for c in combos)
        assert s["per_sweep_usd"] == pytest.approx(3 * s["hourly_usd_all_at_once"], abs=0.05)
        assert s["chips_all_at_once"] == {"v5e": 16, "v6e": 16, "h100-80gb": 2}

    def test_cli_table_and_names(self):
        r = CliRunner().invoke(app, ["matrix", str(SHIPPED)])
        assert r.exit_code == 0, r.output
        assert "sweep: 6 stacks" in r.output and "/hour with all up at once" in r.output
        names = CliRunner().invoke(app, ["matrix", str(SHIPPED), "--names"]).output.split()
        assert names == sorted(names, key=names.index) and len(names) == 6
        assert all(n.startswith("sweep8b-") for n in names)


def write_matrix(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump({"matrix": doc}))
    return path


class TestInvalidCombinations:
    def test_listed_with_their_reason_and_nothing_written(self, tmp_path, project_copy):
        f = write_matrix(
            tmp_path / "m.matrix.yaml",
            {
                "prefix": "bad",
                "base": "gke-vllm-v6e",
                "axes": [
                    {
                        "name": "acc",
                        "values": [
                            {"slug": "v6e8", "set": {"tpustack:accelerator": "v6e-8"}},
                            {"slug": "v5e1", "set": {"tpustack:accelerator": "v5litepod-1"}},  # 8B does not fit
                        ],
                    },
                    {
                        "name": "engine",
                        "values": [
                            {"slug": "jetstream", "set": {"tpustack:engine.name": "jetstream-maxtext"}},
                            {"slug": "vllm", "set": {}},
                        ],
                    },
                ],
                "exclude": [{"acc": "v6e8", "engine": "jetstream"}],
            },
        )
        r = CliRunner().invoke(app, ["matrix", str(f), "--write", "--project-dir", str(project_copy)])
        assert r.exit_code == 3, r.output
        assert "invalid: bad-v5e1-vllm: tpustack:" in r.output and "HBM" in r.output
        assert "excluded by the matrix file: bad-v6e8-jetstream" in r.output
        assert "nothing written" in r.output
        assert not list((project_copy / "stacks").glob("Pulumi.bad-*"))
        doc = json.loads(
            CliRunner().invoke(app, ["matrix", str(f), "--json", "--project-dir", str(project_copy)]).output
        )
        status = {c["stack"]: c["status"] for c in doc["combinations"]}
        assert status["bad-v6e8-vllm"] == "ok" and status["bad-v5e1-vllm"] == "invalid"
        assert status["bad-v6e8-jetstream"] == "excluded by the matrix file"

    @pytest.mark.parametrize(
        "doc, says",
        [
            ({"prefix": "x", "axes": []}, "matrix.axes"),
            ({"prefix": "Bad Name", "axes": [{"name": "a", "values": [{"slug": "a"}]}]}, "prefix"),
            ({"prefix": "x", "axes": [{"name": "a", "values": [{"slug": "a", "set": {"engine": 1}}]}]}, "tpustack:KEY"),
            ({"prefix": "x", "base": "nope", "axes": [{"name": "a", "values": [{"slug": "a"}]}]}, "matrix.base"),
            ({"prefix": "x", "axes": [{"name": "a", "values": [{"slug": "a"}, {"slug": "a"}]}]}, "repeat"),
            ({"prefix": "x", "axes": [{"name": "a", "values": [{"slug": "a"}]}], "exclude": [{"b": "a"}]}, "exclude"),
            ({"prefix": "x", "axis": []}, "not a matrix setting"),
        ],
    )
    def test_bad_matrix_file(self, tmp_path, doc, says):
        f = write_matrix(tmp_path / "m.yaml", doc)
        r = CliRunner().invoke(app, ["matrix", str(f)])
        assert r.exit_code == 3, r.output
        assert says in r.output and "Fix:" in r.output and "Traceback" not in r.output

    def test_not_yaml_and_missing(self, tmp_path):
        f = tmp_path / "m.yaml"
        f.write_text("matrix: [unclosed")
        r = CliRunner().invoke(app, ["matrix", str(f)])
        assert r.exit_code == 3 and "not valid YAML" in r.output
        r = CliRunner().invoke(app, ["matrix", str(tmp_path / "none.yaml")])
        assert r.exit_code == 3 and "no such matrix file" in r.output


class TestWriteOnce:
    def test_never_over_an_existing_stack_file(self, tmp_path, project_copy):
        out = tmp_path / "out"
        out.mkdir()
        mine = out / "Pulumi.sweep8b-v6e8-seqs64.yaml"
        mine.write_text("config: {}\n# mine\n")
        r = CliRunner().invoke(app, ["matrix", str(SHIPPED), "--write", "--out", str(out)])
        assert r.exit_code == 3 and "never replaced" in r.output
        assert mine.read_text() == "config: {}\n# mine\n"
        assert [p.name for p in out.iterdir()] == [mine.name]  # nothing else written either


def one_axis(prefix: str = "one", slugs: tuple[str, ...] = ("a",), base: str | None = "dev") -> dict:
    doc: dict = {"prefix": prefix, "axes": [{"name": "acc", "values": [{"slug": s} for s in slugs]}]}
    if base:
        doc["base"] = base
    return doc


def run(*args: str):
    r = CliRunner().invoke(app, ["matrix", *args])
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    return r


class TestOneStackPerName:
    def test_two_combinations_with_one_name_are_refused_naming_both(self, tmp_path):
        doc = {
            "prefix": "c",
            "base": "dev",
            "axes": [
                {"name": "a", "values": [{"slug": "x-y"}, {"slug": "x"}]},
                {"name": "b", "values": [{"slug": "z"}, {"slug": "y-z"}]},
            ],
        }
        f = write_matrix(tmp_path / "m.yaml", doc)
        for flags in ([], ["--names"], ["--json"]):
            r = run(str(f), *flags)
            assert r.exit_code == 3, r.output
            assert "{a: x-y, b: z} and {a: x, b: y-z} are both named c-x-y-z" in r.output
            assert "Fix: rename a slug" in r.output
            assert "c-x-z" not in r.output  # refused before anything is planned or listed

    def test_repeated_axis_names_are_refused(self, tmp_path):
        doc = {
            "prefix": "d",
            "axes": [{"name": "a", "values": [{"slug": "x"}]}, {"name": "a", "values": [{"slug": "y"}]}],
        }
        r = run(str(write_matrix(tmp_path / "m.yaml", doc)))
        assert r.exit_code == 3 and "matrix.axes: axis names a repeat" in r.output and "Fix:" in r.output

    @pytest.mark.parametrize(
        "text, where",
        [
            (
                "matrix:\n  prefix: d\n  axes:\n    - {name: a, values: [{slug: x}]}\n"
                "  axes:\n    - {name: b, values: [{slug: y}]}\n",
                "matrix: key axes appears twice (lines 3 and 5)",
            ),
            (
                "matrix:\n  prefix: d\n  axes:\n    - name: a\n      values:\n        - slug: x\n"
                "          set: {tpustack:accelerator: v6e-8, tpustack:accelerator: v5litepod-8}\n",
                "matrix.axes.0.values.0.set: key tpustack:accelerator appears twice",
            ),
        ],
    )
    def test_repeated_keys_are_refused_not_overwritten(self, tmp_path, text, where):
        f = tmp_path / "m.yaml"
        f.write_text(text)
        r = run(str(f))
        assert r.exit_code == 3 and where in r.output and "YAML would silently keep only the last" in r.output

    def test_a_yaml_merge_key_is_not_a_repeat(self, tmp_path):
        f = tmp_path / "m.yaml"
        f.write_text(
            "common: &c {slug: x, set: {tpustack:lifecycle.ttlHours: 2}}\n"
            "matrix:\n  prefix: mk\n  axes:\n    - name: a\n      values:\n        - {<<: *c, slug: y}\n"
        )
        m = matrix.load(f)
        assert m.axes[0].values[0].slug == "y" and m.axes[0].values[0].set == {"tpustack:lifecycle.ttlHours": 2}


class TestSizeBounds:
    def test_a_hundred_million_combinations_fail_fast_before_expanding(self, tmp_path):
        values = "".join(f"      - {{slug: s{i}}}\n" for i in range(10_000))
        f = tmp_path / "m.yaml"
        f.write_text(
            "matrix:\n  prefix: big\n  axes:\n"
            f"    - name: a\n      values:\n{values}    - name: b\n      values:\n{values}"
        )
        r = run(str(f))
        assert r.exit_code == 3, r.output
        assert f"more than {matrix.MAX_COMBINATIONS} combinations (10000 x 10000)" in r.output
        assert len(r.output) < 1000  # the input is not echoed

    def test_the_bound_is_on_the_product_of_the_axes(self):
        axes = [{"name": n, "values": [{"slug": f"v{i}"} for i in range(10)]} for n in "abc"]
        matrix.check_bounds(matrix.Matrix.model_validate({"prefix": "p", "axes": axes}), "m")  # 1000: fine
        axes[2]["values"].append({"slug": "v10"})
        with pytest.raises(ConfigError, match="more than 1000 combinations"):
            matrix.check_bounds(matrix.Matrix.model_validate({"prefix": "p", "axes": axes}), "m")

    def test_an_alias_bomb_fails_fast_without_echoing(self, tmp_path):
        lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
        f = tmp_path / "m.yaml"
        f.write_text(
            "\n".join(lines) + "\nmatrix: {prefix: b, axes: [{name: a, values: [{slug: x, set: {tpustack:x: *l9}}]}]}\n"
        )
        r = run(str(f))
        assert r.exit_code == 3, r.output
        assert f"more than {matrix.MAX_NODES:,} YAML nodes" in r.output and "lol" not in r.output

    def test_benign_aliases_still_work(self, tmp_path):
        f = tmp_path / "m.yaml"
        f.write_text(
            "ttl: &ttl {tpustack:lifecycle.ttlHours: 2}\n"
            "matrix:\n  prefix: al\n  axes:\n"
            "    - name: a\n      values: [{slug: x, set: *ttl}, {slug: y, set: *ttl}]\n"
        )
        assert [v.set for v in matrix.load(f).axes[0].values] == [{"tpustack:lifecycle.ttlHours": 2}] * 2

    def test_a_recursive_alias_is_refused(self, tmp_path):
        f = tmp_path / "m.yaml"
        f.write_text("matrix: &m {prefix: r, axes: [{name: a, values: [{slug: x, set: {tpustack:x: *m}}]}]}\n")
        r = run(str(f))
        assert r.exit_code == 3 and "alias of a node that contains it" in r.output

    def test_a_huge_file_is_refused_unread(self, tmp_path):
        f = tmp_path / "m.yaml"
        f.write_text("matrix:\n  prefix: h\n# " + "x" * matrix.MAX_FILE_BYTES + "\n")
        r = run(str(f))
        assert r.exit_code == 3 and f"larger than {matrix.MAX_FILE_BYTES:,} bytes" in r.output and len(r.output) < 1000

    def test_overlong_stack_names_are_refused_with_the_limit(self, tmp_path):
        r = run(str(write_matrix(tmp_path / "m.yaml", one_axis("p" * 31, ("s" * 31,)))))
        assert r.exit_code == 3, r.output
        assert "matrix.prefix and matrix.axes: stack names reach 63 characters" in r.output
        assert f"more than {matrix.MAX_STACK_NAME}" in r.output and "Fix: shorten" in r.output
        ok = matrix.Matrix.model_validate(one_axis("p" * 22, ("s" * 31,)))  # 54 characters: the limit
        matrix.check_bounds(ok, "m")

    def test_many_problems_are_counted_not_all_echoed(self, tmp_path):
        doc = {"prefix": "x", "axes": [{"name": "a", "values": [{"slug": f"BAD{i}"} for i in range(5000)]}]}
        r = run(str(write_matrix(tmp_path / "m.yaml", doc)))
        assert r.exit_code == 3 and "and 4980 more problems" in r.output and len(r.output) < 10_000


class TestNoSecretInErrors:
    TOKEN = "hf_" + "A1b2C3d4E5" * 4

    @pytest.mark.parametrize(
        "doc",
        [
            {"prefix": "x", "axes": [{"name": "a", "values": [{"slug": "a"}]}], "exclude": [{TOKEN: [1]}]},
            {"prefix": "x", "axes": [{"name": "a", "values": [{"slug": TOKEN}]}]},
            {"prefix": "x", "axes": [{"name": TOKEN, "values": [{"slug": "a"}]}]},
            {"prefix": "x", "axes": [{"name": "a", "values": [{"slug": "a", "set": {TOKEN: 1}}]}]},
            {"prefix": "x", "axes": [{"name": "a", "values": [{"slug": "a"}]}], "exclude": [{"a": TOKEN}]},
        ],
    )
    def test_a_token_in_the_wrong_place_is_never_printed(self, tmp_path, doc):
        r = run(str(write_matrix(tmp_path / "m.yaml", doc)))
        assert r.exit_code == 3 and self.TOKEN not in r.output and "[redacted]" in r.output, r.output

    def test_nor_in_a_repeated_key(self, tmp_path):
        f = tmp_path / "m.yaml"
        f.write_text(f"matrix:\n  prefix: x\n  {self.TOKEN}: 1\n  {self.TOKEN}: 2\n")
        r = run(str(f))
        assert r.exit_code == 3 and self.TOKEN not in r.output and "appears twice" in r.output


class TestWriteWholeOrNothing:
    def test_a_failure_half_way_leaves_nothing(self, tmp_path, project_copy, monkeypatch):
        project = load_project(project_copy)
        m = matrix.load(SHIPPED)
        combos = matrix.plan_all(m, project, str(SHIPPED))
        real, calls = matrix.stack_text, []

        def second_fails(*a):
            calls.append(1)
            if len(calls) == 2:
                raise OSError(28, "No space left on device")
            return real(*a)

        monkeypatch.setattr(matrix, "stack_text", second_fails)
        before = sorted(p.name for p in project.stacks_dir.iterdir())
        with pytest.raises(TpuStackError, match="No space left on device; nothing was written") as e:
            matrix.write(m, combos, project.stacks_dir, str(SHIPPED))
        assert e.value.exit_code == 1 and len(calls) == 2
        assert sorted(p.name for p in project.stacks_dir.iterdir()) == before  # no file, no temporary directory
        # and through the CLI, with these plans: an unexpected error at the 2nd file writes nothing either
        calls.clear()

        def second_breaks(*a):
            calls.append(1)
            if len(calls) == 2:
                raise ValueError("boom")
            return real(*a)

        monkeypatch.setattr(matrix, "plan_all", lambda *a: combos)
        monkeypatch.setattr(matrix, "stack_text", second_breaks)
        r = CliRunner().invoke(app, ["matrix", str(SHIPPED), "--write", "--project-dir", str(project_copy)])
        assert r.exit_code == 1 and len(calls) == 2, r.output
        assert sorted(p.name for p in project.stacks_dir.iterdir()) == before

    @pytest.mark.parametrize("target", ["file", "file/below", "dangling", "dangling/below", "x" * 300, "deep"])
    def test_odd_out_targets_are_plain_errors(self, tmp_path, target):
        (tmp_path / "file").write_text("mine\n")
        (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
        out = tmp_path / target
        if target == "deep":  # the directory fits the filesystem, the stack files below it would not
            left = 4096 - 30 - len(str(tmp_path))  # fits with the staging suffix (24), not with /Pulumi.one-a.yaml
            out = tmp_path.joinpath(*["d" * 200] * (left // 201), "d" * (left % 201 - 1))
            assert len(str(out)) == 4066
        f = write_matrix(tmp_path / "m.yaml", one_axis())
        before = sorted(str(p) for p in tmp_path.rglob("*"))
        r = run(str(f), "--write", "--out", str(out))
        assert r.exit_code == 3, r.output
        assert r.output.count("error: ") == 1 and "Fix:" in r.output
        assert sorted(str(p) for p in tmp_path.rglob("*")) == before
        assert not (tmp_path / "nowhere").exists()

    def test_out_without_write_is_a_usage_error(self, tmp_path):
        r = run(str(SHIPPED), "--out", str(tmp_path / "o"))
        assert r.exit_code == 2 and "add --write" in r.output and not (tmp_path / "o").exists()
