"""Lifecycle: the experiment's expiry, fixed at its first `pulumi up`, as labels on billable resources.

The expiry is a `time.Offset` (pulumiverse-time) created once: later `up`s keep its value, so labels never
churn and two plans in a row are identical; changing `lifecycle.ttlHours` replaces it (a new expiry from
that moment). `tpustack reap` deletes what is past its `tpustack-expires` label unless `tpustack-keep` is
true. This component does not delete anything itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumiverse_time as time

from tpustack.core import names


@dataclass(frozen=True, kw_only=True)
class LifecycleArgs:
    ttl_minutes: int
    base_labels: dict[str, str]  # GCP labels of every billable resource, without the expiry


class Lifecycle(pulumi.ComponentResource):
    labels: pulumi.Output[dict[str, str]]
    expires_unix: pulumi.Output[str]

    def __init__(self, name: str, args: LifecycleArgs, opts: pulumi.ResourceOptions | None = None):
        if args.ttl_minutes < 1:
            raise ValueError(f"Lifecycle: a TTL of {args.ttl_minutes} minutes has expired before the stack exists")
        super().__init__("tpustack:lifecycle:Lifecycle", name, None, opts)
        self.expiry = time.Offset(
            f"{name}-expiry",
            offset_minutes=args.ttl_minutes,
            triggers={"ttlMinutes": str(args.ttl_minutes)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        base = dict(args.base_labels)
        self.expires_unix = self.expiry.unix.apply(lambda u: str(int(u)))
        self.labels = self.expires_unix.apply(lambda u: {**base, names.LABEL_EXPIRES: u})
        self.register_outputs({"expiresUnix": self.expires_unix, "expiresRfc3339": self.expiry.rfc3339})
