"""Lifecycle: the experiment's expiry, fixed at its first `pulumi up`, as labels on billable resources.

The expiry is a `time.Offset` (pulumiverse-time) created once: later `up`s keep its value, so labels never
churn and two plans in a row are identical; changing `lifecycle.ttlHours` replaces it (a new expiry from
that moment). `tpustack reap` deletes what is past its `tpustack-expires` label unless `tpustack-keep` is
true. This component does not delete anything itself.
"""

from __future__ import annotations

import pulumi
import pulumiverse_time as time

from . import k8s_keys, naming
from .config import StackConfig


class Lifecycle(pulumi.ComponentResource):
    labels: pulumi.Output[dict]
    expires_unix: pulumi.Output[str]

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tpustack:lifecycle:Lifecycle", name, None, opts)
        ttl_minutes = int(round(config.lifecycle.ttl_hours * 60))
        self.expiry = time.Offset(
            f"{name}-expiry",
            offset_minutes=ttl_minutes,
            triggers={"ttlMinutes": str(ttl_minutes)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        base = naming.stack_labels(config.stack, config.labels, config.lifecycle.keep)
        self.expires_unix = self.expiry.unix.apply(lambda u: str(int(u)))
        self.labels = self.expires_unix.apply(lambda u: {**base, k8s_keys.LABEL_EXPIRES: u})
        self.register_outputs({"expiresUnix": self.expires_unix, "expiresRfc3339": self.expiry.rfc3339})
