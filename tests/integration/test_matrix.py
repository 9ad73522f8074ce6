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
