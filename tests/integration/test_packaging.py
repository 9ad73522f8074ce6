"""The installed tpustack is one package that plans the project the user stands in.

A wheel built from the repository is installed into a fresh virtualenv (its dependencies pinned by
.ci/lock/plan.txt; the venv is cached under .cache/ between runs and only the wheel is reinstalled) and run from
the checkout's directory and from a bare project (Pulumi.yaml, __main__.py, stacks/ and nothing else): both
plan, byte for byte as the editable install does.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers.project import ROOT, planned

CACHE = ROOT / ".cache" / "wheel-venv"


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, ROOT])
    assert r.returncode == 0, r.stderr
    (whl,) = out.glob("tpustack-*.whl")
    return whl


@pytest.fixture(scope="module")
def fresh_venv(wheel) -> Path:
    """A venv that has never seen the checkout: the plan dependencies from the lock file, then the wheel."""
    key = hashlib.sha256((ROOT / ".ci/lock/plan.txt").read_bytes()).hexdigest()[:12]
    stamp = CACHE / f".deps-{key}"
    python = CACHE / "bin" / "python"
    if not stamp.exists():
        shutil.rmtree(CACHE, ignore_errors=True)
        assert _run([sys.executable, "-m", "venv", CACHE]).returncode == 0
        r = _run(
            [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", ROOT / ".ci/lock/plan.txt"]
        )
        assert r.returncode == 0, r.stderr[-3000:]
        stamp.touch()
    r = _run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "--force-reinstall", wheel]
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return CACHE


class TestWheelLayout:
    def test_one_import_name_with_components_workloads_and_templates_inside(self, wheel):
        names = zipfile.ZipFile(wheel).namelist()
        tops = {n.split("/", 1)[0] for n in names if not n.startswith("tpustack-")}
        assert tops == {"tpustack"}, tops
        for must in (
            "tpustack/components/gke.py",
            "tpustack/workloads/heartbeat.py",
            "tpustack/core/catalog.py",
            "tpustack/manifests/vllm/deployment.yaml.j2",
            "tpustack/manifests/tpu-vm/startup.sh.j2",
            "tpustack/manifests/jetstream-maxtext/deployment.yaml.j2",
            "tpustack/cost/prices.yaml",
            "tpustack/config/zones.yaml",
            "tpustack/policy/pack/PulumiPolicy.yaml",
        ):
            assert must in names, must
        templates = {p.relative_to(ROOT).as_posix() for p in (ROOT / "manifests").rglob("*.j2")}
        assert {f"tpustack/{t}" for t in templates} <= set(names)


class TestInstalledCliPlansTheProjectItStandsIn:
    def test_from_the_checkout(self, fresh_venv):
        where = _run([fresh_venv / "bin" / "python", "-P", "-c", "import tpustack; print(tpustack.__file__)"], cwd=ROOT)
        assert str(fresh_venv) in where.stdout, "the wheel, not the checkout, must be imported"
        r = _run([fresh_venv / "bin" / "tpustack", "stacks"], cwd=ROOT / "stacks")  # a subdirectory: found upward
        assert r.returncode == 0 and "gke-vllm-v6e" in r.stdout.split(), r.stderr
        r = _run([fresh_venv / "bin" / "tpustack", "plan", "--stack", "dev", "--json"], cwd=ROOT)
        assert r.returncode == 0, r.stderr[-3000:]
        assert json.loads(r.stdout) == json.loads(planned("dev").dumps())

    def test_from_a_bare_project(self, fresh_venv, tmp_path):
        for name in ("Pulumi.yaml", "__main__.py"):
            shutil.copy2(ROOT / name, tmp_path / name)
        shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
        r = _run([fresh_venv / "bin" / "tpustack", "plan", "--stack", "gke-vllm-v6e", "--json"], cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        assert json.loads(r.stdout) == json.loads(planned("gke-vllm-v6e").dumps())
        elsewhere = _run([fresh_venv / "bin" / "tpustack", "plan", "--stack", "dev"], cwd=tmp_path.parent)
        assert elsewhere.returncode == 3 and "Pulumi.yaml" in elsewhere.stderr
        explicit = _run([fresh_venv / "bin" / "tpustack", "stacks", "--project-dir", tmp_path], cwd="/")
        assert explicit.returncode == 0 and "dev" in explicit.stdout.split()


class TestLockFiles:
    """`pip install -c LOCK -e '.[extras]'` must resolve on a fresh clone: CI once failed because pip-compile wrote
    `tpustack @ file:///...` (the test extra names tpustack[ops]) into a lock file, which clashes with `-e .`."""

    @pytest.mark.parametrize("lock", sorted((ROOT / ".ci" / "lock").glob("*.txt")), ids=lambda p: p.name)
    def test_a_lock_never_constrains_tpustack_itself(self, lock: Path) -> None:
        pinned = [line for line in lock.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
        assert not [line for line in pinned if line.split("@")[0].split("==")[0].strip().lower() == "tpustack"]
        assert not [line for line in pinned if "file://" in line], "a lock names a local path"
