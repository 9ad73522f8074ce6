"""ResultsStore: the results bucket, which no experiment's `pulumi destroy` can delete.

Design: the bucket belongs to a separate, long-lived ``results`` stack (``tpustack:target: results``),
one per project. Experiment stacks only look it up by name (failing at preview, before creating anything,
if it does not exist) and grant their own service accounts object access on it, so destroying an
experiment removes those grants and never the bucket or its objects. A bucket made outside tpustack works
the same way (``results.bucket`` names it).

In the results stack the bucket has uniform bucket-level access, public access prevention enforced, object
versioning (an overwrite keeps the older generation), is ``protect``-ed (Pulumi refuses to delete it) and
``retain_on_delete`` with ``deletion_policy=ABANDON`` (after an explicit unprotect, destroy forgets it
without deleting data). Deliberately not done: lifecycle rules that expire results, and CMEK.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from .base import inherited_depends_on


@dataclass(frozen=True, kw_only=True)
class ResultsStoreArgs:
    bucket: str
    project: str
    # True in the results stack (creates and owns the bucket); False in experiments (look it up).
    own: bool
    location: str
    labels: dict[str, str]


class ResultsStore(pulumi.ComponentResource):
    name: pulumi.Output[str]
    url: pulumi.Output[str]
    owned: bool

    def __init__(self, name: str, args: ResultsStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tpustack:results:ResultsStore", name, None, opts)
        self.owned = args.own
        if args.own:
            bucket = gcp.storage.Bucket(
                f"{name}-bucket",
                name=args.bucket,
                project=args.project,
                location=args.location,
                uniform_bucket_level_access=True,
                public_access_prevention="enforced",
                versioning={"enabled": True},
                force_destroy=False,
                deletion_policy="ABANDON",
                labels=args.labels,
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=inherited_depends_on(opts), protect=True, retain_on_delete=True
                ),
            )
            self.name, self.url = bucket.name, bucket.url
        else:
            found = gcp.storage.get_bucket_output(name=args.bucket, opts=pulumi.InvokeOptions(parent=self))
            self.name = found.name
            self.url = found.name.apply(lambda n: f"gs://{n}")
        self.register_outputs({"name": self.name, "url": self.url})
