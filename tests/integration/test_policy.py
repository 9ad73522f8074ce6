"""`tpustack check`: the hardening checklist passes on every shipped stack and fires on weakened ones."""

from __future__ import annotations

import copy
import subprocess
import sys
from types import SimpleNamespace

import pytest

from tpustack.policy.checks import Intent, adapt_policy_resources, check, check_plan

from helpers.project import PROJECT, STACKS, cfg_of, planned


def rules(violations) -> set[str]:
    return {v.rule for v in violations}


def weakened(stack: str, mutate) -> list:
    resources = copy.deepcopy(planned(stack).resources)
    mutate(resources)
    return resources


def first(resources, typ, pred=lambda r: True):
    return next(r for r in resources if r.type == typ and pred(r))


POOL = "gcp:container/nodePool:NodePool"
CLUSTER = "gcp:container/cluster:Cluster"


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_passes(stack):
    assert check_plan(planned(stack), cfg_of(stack)) == []


WEAKENINGS = {
    "no-primitive-roles": lambda rs: first(rs, "gcp:projects/iAMMember:IAMMember").inputs.update(role="roles/editor"),
    "custom-node-sa": lambda rs: first(rs, POOL).inputs["nodeConfig"].pop("serviceAccount"),
    "gke-metadata": lambda rs: (
        first(rs, POOL).inputs["nodeConfig"].update(workloadMetadataConfig={"mode": "GCE_METADATA"})
    ),
    "workload-identity": lambda rs: first(rs, CLUSTER).inputs.pop("workloadIdentityConfig"),
    "shielded-nodes": lambda rs: (
        first(rs, POOL).inputs["nodeConfig"]["shieldedInstanceConfig"].update(enableSecureBoot=False)
    ),
    "apis-stay-enabled": lambda rs: first(rs, "gcp:projects/service:Service").inputs.update(disableOnDestroy=True),
    "deletion-protection": lambda rs: first(rs, CLUSTER).inputs.update(deletionProtection=True),
    "ttl-labels": lambda rs: first(rs, POOL).inputs["nodeConfig"]["resourceLabels"].pop("tpustack-expires"),
}


@pytest.mark.parametrize("rule", list(WEAKENINGS))
def test_weakened_gke_stack_fails_with_the_rule(rule):
    resources = weakened("gke-vllm-v6e", WEAKENINGS[rule])
    violations = check(resources, [], Intent(deletion_protection=False))
    assert rule in rules(violations), violations
    assert all(str(v).count(":") >= 2 for v in violations)  # rule: resource: message


def test_weakened_tpu_vm_and_buckets():
    rs = weakened("dev", lambda rs: first(rs, "gcp:tpu/v2Vm:V2Vm").inputs.pop("serviceAccount"))
    assert "tpu-vm-sa" in rules(check(rs, [], Intent()))
    rs = weakened(
        "results",
        lambda rs: first(rs, "gcp:storage/bucket:Bucket").inputs.update(
            publicAccessPrevention="inherited", uniformBucketLevelAccess=False
        ),
    )
    assert {"bucket-pap", "bucket-ubla"} <= rules(check(rs, [], Intent(experiment=False)))
    rs = weakened("results", lambda rs: first(rs, "gcp:storage/bucket:Bucket").options.update(protect=False))
    assert "results-survive-destroy" in rules(check(rs, [], Intent(experiment=False)))
    # a bucket declared by an experiment would go with its destroy
    rs = copy.deepcopy(planned("dev").resources) + copy.deepcopy(
        [r for r in planned("results").resources if r.type == "gcp:storage/bucket:Bucket"]
    )
    assert "results-survive-destroy" in rules(check(rs, [], Intent(experiment=True)))


def test_weakened_manifests():
    pod = {
        "containers": [
            {
                "name": "vllm",
                "image": "vllm/vllm-tpu:latest",
                "securityContext": {"privileged": True},
                "env": [{"name": "HF_TOKEN", "value": "hf_abc"}],
                "resources": {"limits": {"google.com/tpu": 8}},
            }
        ]
    }
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x", "namespace": "tpustack"},
        "spec": {"template": {"spec": pod}},
    }
    assert rules(check([], [deploy], Intent())) == {"unprivileged-tpu", "pinned-images", "token-in-secret"}
    assert "unprivileged-tpu" not in rules(check([], [deploy], Intent(privileged_tpu=True)))


def test_policy_pack_adapter_sees_what_the_engine_sends():
    """The pack's adapter turns policy-engine resources into the same findings as the plan."""
    p = planned("gke-vllm-v6e")
    fake = [
        SimpleNamespace(
            urn=r.urn,
            resource_type=r.type,
            props=copy.deepcopy(r.inputs),
            opts=SimpleNamespace(protect=r.options.get("protect", False)),
        )
        for r in p.resources
    ]
    resources, manifests = adapt_policy_resources(fake)
    assert check(resources, manifests, Intent()) == []
    first(resources, POOL).inputs["nodeConfig"]["workloadMetadataConfig"]["mode"] = "GCE_METADATA"
    assert "gke-metadata" in rules(check(resources, manifests, Intent()))


def test_cli_check_exit_codes():
    r = subprocess.run(
        [sys.executable, "-m", "tpustack.cli", "check", "--stack", "dev"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT.root,
    )
    assert r.returncode == 0 and "0 violation(s)" in r.stdout


def test_a_prod_cluster_without_deletion_protection_is_a_violation_not_a_config_error():
    """The README's destroy path turns protection off on purpose, so the config loads; `check` flags it."""
    resources = weakened("gke-vllm-v6e", lambda rs: first(rs, CLUSTER).inputs.update(deletionProtection=False))
    assert "prod-deletion-protection" in rules(check(resources, [], Intent(deletion_protection=False, prod=True)))
    assert "prod-deletion-protection" not in rules(check(resources, [], Intent(deletion_protection=False)))
    protected = weakened("gke-vllm-v6e", lambda rs: first(rs, CLUSTER).inputs.update(deletionProtection=True))
    assert "prod-deletion-protection" not in rules(check(protected, [], Intent(deletion_protection=True, prod=True)))


def test_a_compute_class_is_hardened_like_a_declared_pool():
    """Auto-created pools take their settings from the class: the custom node SA, and no scale-up elsewhere."""
    manifests = copy.deepcopy(planned("gke-vllm-any").manifests)
    classes = [m for m in manifests if m["kind"] == "ComputeClass"]
    assert classes and not rules(check([], classes, Intent(deletion_protection=False)))
    classes[0]["spec"]["nodePoolConfig"].pop("serviceAccount")
    classes[1]["spec"]["whenUnsatisfiable"] = "ScaleUpAnyway"
    assert {"custom-node-sa", "compute-class-scale-up"} <= rules(check([], classes, Intent(deletion_protection=False)))
