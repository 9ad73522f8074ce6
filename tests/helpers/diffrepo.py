"""Temporary git repositories holding a copy of the program, for `tpustack diff` end to end, and synthetic plan
documents to diff."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .project import ROOT

POOL = "urn:pulumi:s::tpustack::tpustack:gke:NodePools$gcp:container/nodePool:NodePool::pools-tpu"

SA = "urn:pulumi:s::tpustack::tpustack:identity:Identity$gcp:serviceaccount/account:Account::identity-node"

SECRET = "urn:pulumi:s::tpustack::tpustack:serving:Serving$kubernetes:core/v1:Secret::hf-token"

GROUP = "urn:pulumi:s::tpustack::tpustack:serving:Serving$kubernetes:yaml/v2:ConfigGroup::serving"


def deployment(args: list[str], replicas: int = 1) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "vllm", "namespace": "tpustack"},
        "spec": {
            "replicas": replicas,
            "template": {
                "spec": {
                    "nodeSelector": {"cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice"},
                    "containers": [
                        {
                            "name": "vllm",
                            "image": "vllm/vllm-tpu:v0.11.1",
                            "args": args,
                            "env": [{"name": "HF_HOME", "value": "/data"}],
                        },
                        {"name": "sidecar", "image": "busybox"},
                    ],
                }
            },
        },
    }


def plan_doc(
    machine_type: str = "ct6e-standard-8t", args: list[str] | None = None, with_sa: bool = True, cost: float = 11.46
) -> dict:
    args = (
        args
        if args is not None
        else ["--model=meta-llama/Llama-3.1-8B-Instruct", "--max-model-len=4096", "--tensor-parallel-size", "8"]
    )
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hf-token", "namespace": "tpustack"},
        "stringData": {"token": "[secret:tpustack:hfToken]"},
    }
    resources = [
        {
            "urn": POOL,
            "type": "gcp:container/nodePool:NodePool",
            "name": "pools-tpu",
            "parent": None,
            "depends_on": [],
            "inputs": {
                "nodeCount": 2,
                "nodeConfig": {"machineType": machine_type, "spot": True, "resourceLabels": {"tpustack-stack": "s"}},
            },
        },
        {
            "urn": SECRET,
            "type": "kubernetes:core/v1:Secret",
            "name": "hf-token",
            "parent": None,
            "depends_on": [],
            "inputs": secret,
        },
        {
            "urn": GROUP,
            "type": "kubernetes:yaml/v2:ConfigGroup",
            "name": "serving",
            "parent": None,
            "depends_on": [],
            "inputs": {"objs": [deployment(args)]},
        },
    ]
    if with_sa:
        resources.append(
            {
                "urn": SA,
                "type": "gcp:serviceaccount/account:Account",
                "name": "identity-node",
                "parent": None,
                "depends_on": [],
                "inputs": {"accountId": "tps-s-node"},
            }
        )
    return {
        "stack": "s",
        "resources": resources,
        "manifests": [secret, deployment(args)],
        "outputs": {"clusterName": "tps-s"},
        "cost": {"hourly_usd": cost, "items": []},
        "warnings": [],
    }


COPY = ["__main__.py", "Pulumi.yaml", "pyproject.toml", "tpustack", "components", "stacks", "manifests", "workloads"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def commit(repo: Path, message: str) -> None:
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-am", message)


def copy_program(dst: Path, stacks: tuple[str, ...]) -> None:
    """The program, its code and the named stack files of this checkout, into ``dst``."""
    for name in COPY:
        src = ROOT / name
        if name == "stacks":
            (dst / name).mkdir()
            for stack in stacks:
                shutil.copy2(src / f"Pulumi.{stack}.yaml", dst / name)
        elif src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dst / name)


def run_diff(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`tpustack diff ARGS` as a user runs it in ``repo`` (its own code first on the path)."""
    return subprocess.run(
        [sys.executable, "-m", "tpustack.cli", "diff", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(repo), **(env or {})},
    )
