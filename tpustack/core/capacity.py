"""How accelerators are obtained: the closed set of capacity types and what each one implies.

Sources: GKE docs (spot VMs, DWS flex-start ``concepts/dws``, queued provisioning ``how-to/provisioningrequest``,
consuming reservations), cluster-toolkit ``modules/compute/gke-node-pool`` (which options exclude which), Cloud
TPU docs (queued resources). Stdlib only.
"""

from __future__ import annotations

from .enums import StrEnum


class CapacityType(StrEnum):
    """``tpustack:capacity.type`` and each serving variant's capacity priority."""

    ON_DEMAND = "on-demand"
    SPOT = "spot"
    RESERVATION = "reservation"
    FLEX_START = "flex-start"
    QUEUED = "queued"

    @property
    def flex_start(self) -> bool:
        """DWS flex-start capacity: flex-start itself, and queued provisioning, which GKE runs as flex-start with
        a queued request (--flex-start --enable-queued-provisioning, GKE provisioningrequest docs)."""
        return self in (CapacityType.FLEX_START, CapacityType.QUEUED)

    @property
    def auto_repair_default(self) -> bool:
        """Flex-start and queued-provisioning nodes are never auto-repaired (GKE recreates repaired nodes outside
        the flex-start request); every other pool repairs its nodes."""
        return not self.flex_start
