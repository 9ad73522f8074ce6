"""Pulumi policy pack: tpustack's hardening checklist over a real `pulumi preview` / `pulumi up`.

The checks live in tpustack/policy/checks.py (shared with `tpustack check` and the tests); this file only
adapts the policy engine's resources to them. Mandatory: a violation blocks the update.
"""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack, StackValidationPolicy

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the directory holding the tpustack package

from tpustack.policy.checks import Intent, adapt_policy_resources, check


def validate(args, report_violation):
    resources, manifests = adapt_policy_resources(args.resources)
    # Deletion protection depends on the stack's config, which a policy pack does not see: skipped here.
    experiment = not any(r.type == "gcp:storage/bucket:Bucket" and r.options.get("protect") for r in resources)
    for v in check(resources, manifests, Intent(experiment=experiment)):
        report_violation(str(v), v.urn if v.urn.startswith("urn:") else None)


PolicyPack(
    name="tpustack-hardening",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        StackValidationPolicy(
            name="tpustack-security-defaults",
            description="Custom node SA with the CIS role, Workload Identity, GKE_METADATA, shielded nodes, "
            "bucket UBLA + PAP, APIs kept on destroy, explicit TPU VM SA, TTL labels, no primitive "
            "roles, unprivileged pinned TPU containers, token only via secretKeyRef.",
            validate=validate,
        )
    ],
)
