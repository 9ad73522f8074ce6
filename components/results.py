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

import pulumi
import pulumi_gcp as gcp

from . import naming
from .config import StackConfig


class ResultsStore(pulumi.ComponentResource):
    name: pulumi.Output[str]
    url: pulumi.Output[str]
    bucket: gcp.storage.Bucket | None = None

    def __init__(self, name: str, config: StackConfig, *, depends_on: list[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("tpustack:results:ResultsStore", name, None, opts)
        bucket_name = config.results_bucket
        if config.target == "results":
            self.bucket = gcp.storage.Bucket(
                f"{name}-bucket",
                name=bucket_name,
                project=config.project,
                location=(config.results.location or config.region).upper(),
                uniform_bucket_level_access=True,
                public_access_prevention="enforced",
                versioning={"enabled": True},
                force_destroy=False,
                deletion_policy="ABANDON",
                labels=naming.stack_labels(config.stack, config.labels, keep=True),
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on, protect=True,
                                            retain_on_delete=True),
            )
            self.name, self.url = self.bucket.name, self.bucket.url
        else:
            found = gcp.storage.get_bucket_output(name=bucket_name,
                                                  opts=pulumi.InvokeOptions(parent=self))
            self.name = found.name
            self.url = found.name.apply(lambda n: f"gs://{n}")
        self.register_outputs({"name": self.name, "url": self.url})
