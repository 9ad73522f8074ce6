"""`plan --out` of a multi-region stack writes one folder per cluster (its region), so no two objects of different
clusters share a name in one directory; the shipped multi-region stack (README "Several regions") plans and writes
that way. A Pulumi.yaml whose stackConfigDir cannot be a folder of the project ends as a plain error (exit 3).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tpustack.cli.plan import manifest_files
from tpustack.config.project import ProjectError, load_project

from helpers.project import ROOT, STACKS, planned, run_cli

GEO = "gke-vllm-any-geo"


@pytest.fixture
def project(tmp_path) -> Path:
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy2(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    return tmp_path


def read_dir(d: Path) -> dict[str, dict]:
    return {str(f.relative_to(d)): yaml.safe_load(f.read_text()) for f in sorted(d.rglob("*.yaml"))}


class TestShippedMultiRegionStack:
    def test_is_shipped_and_listed(self, capsys):
        assert GEO in STACKS
        code, out, _ = run_cli(capsys, "stacks", "--project-dir", str(ROOT))
        assert code == 0 and GEO in out.split()

    def test_plans_a_cluster_per_region_and_one_geo_record(self):
        p = planned(GEO)
        clusters = sorted(r.inputs["location"] for r in p.by_type("gcp:container/cluster:Cluster"))
        assert clusters == ["europe-west4", "us-east5"]
        (record,) = p.by_type("gcp:dns/recordSet:RecordSet")
        assert record.inputs["name"] == "llm.example.com." and record.inputs["managedZone"] == "llm-zone"
        assert sorted(g["location"] for g in record.inputs["routingPolicy"]["geos"]) == ["europe-west4", "us-east5"]

    def test_the_readme_example_is_this_stack(self):
        readme = (ROOT / "README.md").read_text()
        assert f"stacks/Pulumi.{GEO}.yaml" in readme and f"`{GEO}`" in readme
        cfg = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{GEO}.yaml").read_text())["config"]
        assert cfg["tpustack:regions"][0]["region"] == "europe-west4"
        assert (
            cfg["tpustack:gateway"]["dnsZone"] == "llm-zone"
            and cfg["tpustack:gateway"]["dnsName"] == "llm.example.com."
        )


class TestPlanOutOneFolderPerCluster:
    def test_multi_region(self, capsys, tmp_path):
        out = tmp_path / "out"
        code, stdout, err = run_cli(capsys, "plan", "--stack", GEO, "--out", str(out), "--project-dir", str(ROOT))
        assert code == 0, err
        assert sorted(p.name for p in out.iterdir()) == ["europe-west4", "us-east5"]
        assert "one folder per cluster" in stdout
        files = read_dir(out)
        p = planned(GEO)
        assert len(files) == len(p.manifests)
        groups = p.manifests_by_cluster()
        assert set(groups) == {"europe-west4", "us-east5"}
        for region, objs in groups.items():
            mine = [o for name, o in files.items() if name.startswith(f"{region}/")]
            assert len(mine) == len(objs)
            # within one folder (one `kubectl apply -f`), no two objects are the same object
            ids = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in mine]
            assert len(set(ids)) == len(ids), region
        # the same-named objects of the two regions differ (that is why they cannot share a folder)
        gw = {n.split("/")[0]: o for n, o in files.items() if o["kind"] == "Gateway"}
        assert gw["europe-west4"]["spec"] != gw["us-east5"]["spec"]

    def test_into_an_existing_empty_directory(self, capsys, tmp_path):
        code, _, err = run_cli(capsys, "plan", "--stack", GEO, "--out", str(tmp_path), "--project-dir", str(ROOT))
        assert code == 0, err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["europe-west4", "us-east5"]
        assert len(read_dir(tmp_path)) == len(planned(GEO).manifests)

    @pytest.mark.parametrize("stack", ["gke-vllm-v6e", "gke-vllm-any"])
    def test_one_cluster_stays_flat(self, capsys, tmp_path, stack):
        out = tmp_path / "out"
        code, _, err = run_cli(capsys, "plan", "--stack", stack, "--out", str(out), "--project-dir", str(ROOT))
        assert code == 0, err
        assert all(f.is_file() for f in out.iterdir())
        assert len(list(out.iterdir())) == len(planned(stack).manifests)

    def test_every_shipped_stack_writes_each_object_once(self):
        for stack in STACKS:
            p = planned(stack)
            files = manifest_files(p)
            assert len(files) == len(p.manifests), stack


BAD_DIRS = {
    "absolute elsewhere": "/etc",
    "absolute file": "/etc/passwd",
    "up and out": "../..",
    "a file": "__main__.py",
    "too long a name": "a" * 300,
    "too long a path": "a/" * 2100,
    "a list": ["stacks"],
    "a number": 7,
    "a NUL": "st\x00acks",
}


class TestImpossibleStackConfigDir:
    @pytest.mark.parametrize("value", list(BAD_DIRS.values()), ids=list(BAD_DIRS))
    @pytest.mark.parametrize("command", [["stacks"], ["plan", "--stack", "dev"], ["check", "--stack", "dev"]])
    def test_plain_error_exit_3(self, capsys, project, monkeypatch, value, command):
        doc = yaml.safe_load((project / "Pulumi.yaml").read_text())
        doc["stackConfigDir"] = value
        (project / "Pulumi.yaml").write_text(yaml.safe_dump(doc))
        code, _, err = run_cli(capsys, *command, cwd=project, monkeypatch=monkeypatch)
        assert code == 3, (code, err)
        assert err.startswith("error:") and "Fix:" in err and "Traceback" not in err and "internal error" not in err
        assert "stackConfigDir" in err and len(err) < 1500, err

    def test_inside_the_project_is_fine(self, project):
        doc = yaml.safe_load((project / "Pulumi.yaml").read_text())
        for value, expected in (("stacks", project / "stacks"), ("./x/../stacks", project / "stacks"), (None, project)):
            doc["stackConfigDir"] = value
            (project / "Pulumi.yaml").write_text(yaml.safe_dump(doc))
            assert load_project(project).stacks_dir == expected.resolve()

    def test_a_linked_folder_inside_is_fine(self, project, tmp_path_factory):
        elsewhere = tmp_path_factory.mktemp("shared-stacks")
        (project / "linked").symlink_to(elsewhere, target_is_directory=True)
        doc = yaml.safe_load((project / "Pulumi.yaml").read_text())
        doc["stackConfigDir"] = "linked"
        (project / "Pulumi.yaml").write_text(yaml.safe_dump(doc))
        assert load_project(project).stacks_dir == elsewhere.resolve()

    def test_is_a_project_error(self, project):
        (project / "Pulumi.yaml").write_text("name: tpustack\nruntime: python\nstackConfigDir: /etc\n")
        with pytest.raises(ProjectError) as e:
            load_project(project)
        assert e.value.problems[0].key.endswith("Pulumi.yaml: stackConfigDir")
