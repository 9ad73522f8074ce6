"""Rules about one capacity option of one unit (a plain stack's ``tpustack:capacity``, or each priority of a
variant's list). Sources: cluster-toolkit ``modules/compute/gke-node-pool`` (validations), the GKE docs (spot,
DWS flex-start, queued provisioning, reservations, ComputeClass priorities) and the Cloud TPU docs."""

from __future__ import annotations

from collections.abc import Iterator

from tpustack.core.capacity import CapacityType
from tpustack.core.errors import Problem, problem

from ..model import StackConfig
from ..units import CapacityOption, Provisioning, ServingUnit
from .stack import GKE_FOR_TPU_FLEX_START, needs_gke

# DWS flex-start VMs run at most 7 days (GKE docs, concepts/dws: "VMs up to 7 days").
FLEX_START_MAX_HOURS = 7 * 24


def _setting(cap: CapacityOption, name: str) -> str:
    """How a fix names a setting of this option (capacity.type, variants[0].capacity[1].type)."""
    return f"{cap.key.removeprefix('tpustack:')}.{name}"


def reservation_named(c: StackConfig, u: ServingUnit, cap: CapacityOption) -> Iterator[Problem]:
    if cap.type is CapacityType.RESERVATION and not cap.reservation:
        yield problem(
            f"{cap.key}.reservation",
            f"{u.label}capacity type reservation needs the reservation name",
            f"set {_setting(cap, 'reservation')} (a name, or projects/P/reservations/R when shared); "
            "`gcloud compute reservations list` shows them",
        )
    if cap.reservation and cap.type is not CapacityType.RESERVATION:
        yield problem(
            f"{cap.key}.reservation",
            f"{u.label}{cap.type} capacity cannot consume a reservation (flex-start and queued provisioning "
            "exclude reservations; spot and on-demand do not target one)",
            f"set {_setting(cap, 'type')} to reservation, or remove {_setting(cap, 'reservation')}",
        )


def calendar_reservation_has_a_window(c: StackConfig, u: ServingUnit, cap: CapacityOption) -> Iterator[Problem]:
    """Calendar reservations are reservations with an end."""
    if (cap.calendar or cap.ends is not None) and cap.type is not CapacityType.RESERVATION:
        yield problem(
            f"{cap.key}.calendar",
            f"{u.label}a calendar-mode reservation is consumed as a specific reservation",
            "set type reservation with its name, or remove calendar/ends",
        )
    if cap.calendar and cap.ends is None:
        yield problem(
            f"{cap.key}.ends",
            f"{u.label}a calendar-mode reservation ends, and its VMs are deleted then",
            "set ends to the reservation's end time (`gcloud compute future-reservations describe`)",
        )
    if cap.ends is not None and cap.ends.tzinfo is None:
        yield problem(
            f"{cap.key}.ends",
            f"{u.label}'{cap.ends.isoformat()}' has no time zone",
            "write it in UTC, e.g. 2026-12-01T00:00:00Z",
        )


def flex_start_outlives_ttl(c: StackConfig, u: ServingUnit, cap: CapacityOption) -> Iterator[Problem]:
    """Flex-start nodes live at most 7 days: an experiment that outlives its capacity loses its nodes mid-run."""
    if cap.type is CapacityType.FLEX_START and c.lifecycle.ttl_hours > FLEX_START_MAX_HOURS:
        yield problem(
            "tpustack:lifecycle.ttlHours",
            f"flex-start nodes run at most {FLEX_START_MAX_HOURS} h, the TTL is {c.lifecycle.ttl_hours:g} h",
            f"set ttlHours to {FLEX_START_MAX_HOURS} or less, or use another capacity type",
        )


def flex_start_without_auto_repair(c: StackConfig, u: ServingUnit, cap: CapacityOption) -> Iterator[Problem]:
    if not cap.auto_repair_set:
        return
    if cap.type is CapacityType.FLEX_START:
        yield problem(
            f"{cap.key}.autoRepair",
            f"{u.label}flex-start nodes cannot be auto-repaired (GKE recreates them outside the flex-start request)",
            f"remove {_setting(cap, 'autoRepair')} or set it false",
        )
    elif cap.type is CapacityType.QUEUED and c.target == "gke":
        yield problem(
            f"{cap.key}.autoRepair",
            f"{u.label}queued provisioning (flex-start with a queued request) nodes cannot be auto-repaired",
            f"remove {_setting(cap, 'autoRepair')} or set it false",
        )


def flex_start_on_gke_only(c: StackConfig, u: ServingUnit, cap: CapacityOption) -> Iterator[Problem]:
    if cap.type is CapacityType.FLEX_START and u.provisioning is Provisioning.TPU_VM:
        yield problem(
            f"{cap.key}.type",
            f"{u.label}flex-start TPU VMs need a queued resource with a provisioning "
            "model, and pulumi-gcp's tpu.V2QueuedResource has no such field",
            "use target gke (flex-start node pool), or spot / on-demand / queued on tpu-vm",
        )


def compute_class_priorities(c: StackConfig, u: ServingUnit, cap: CapacityOption) -> Iterator[Problem]:
    """What a ComputeClass priority can be (GKE CRD reference, computeclass)."""
    if u.provisioning is not Provisioning.COMPUTE_CLASS:
        return
    if cap.type is CapacityType.QUEUED:
        yield problem(
            cap.key,
            f"{u.label}queued provisioning is all-or-nothing batch capacity; a ComputeClass priority has no such "
            "option and serving should not wait in a queue",
            "use flex-start (a ComputeClass flexStart priority) instead",
        )
    if cap.type is CapacityType.FLEX_START and u.shape.kind == "tpu":
        yield from needs_gke(c, GKE_FOR_TPU_FLEX_START, "flex-start for TPUs in a ComputeClass")
