"""One mistake, one error: every config rule that looks at a serving unit runs on a plain stack's unit, on a
serving variant and on the same variant served in an extra region, and the same mistake gives exactly one
problem of the same shape each time: the key where that unit states the fact, the same reason (after the unit's
label) and the same fix (up to the setting's path).

The three bases are valid stacks; each case makes one mistake in the unit's own settings.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable

import pytest

from tpustack.config import load_config
from tpustack.core.errors import ConfigError, Problem

from helpers.project import BASE, SECRETS

Mutation = Callable[[dict, dict], None]  # (stack doc, the unit's own settings) -> None


def plain_doc() -> dict:
    doc = copy.deepcopy(BASE)
    doc["tpustack:capacity"] = {"type": "spot"}
    return doc


def variant_doc() -> dict:
    doc = copy.deepcopy(BASE)
    del doc["tpustack:accelerator"], doc["tpustack:capacity"]
    doc["tpustack:variants"] = [{"name": "tpu", "accelerator": "v6e-8", "capacity": [{"type": "spot"}]}]
    doc["tpustack:gke"] = {"releaseChannel": "RAPID", "minMasterVersion": "1.34.1-gke.1127000"}
    return doc


def region_doc() -> dict:
    doc = variant_doc()
    doc["tpustack:gateway"] = {}
    doc["tpustack:regions"] = [{"region": "us-central1", "zones": ["us-central1-b"]}]
    return doc


BASES = {"plain": plain_doc, "variant": variant_doc, "region": region_doc}
# Where each base states a unit's facts, as keys and as the short paths fixes use.
UNIT = {
    "plain": {"capacity": "tpustack:capacity", "accelerator": "tpustack:accelerator", "unit": ""},
    "variant": {"capacity": "tpustack:variants[0].capacity[0]", "accelerator": "tpustack:variants[0].accelerator"},
    "region": {"capacity": "tpustack:variants[0].capacity[0]", "accelerator": "tpustack:variants[0].accelerator"},
}
# How a problem names the unit: nothing for a plain stack's, its variant (and accelerator) otherwise.
LABEL = {"plain": re.compile(r"^"), "variant": re.compile(r"^variant tpu \([a-z0-9-]+\): ")}
LABEL["region"] = LABEL["variant"]


# ----- how each base states a unit's settings ----------------------------------------------------------------------
def set_capacity(base: str, doc: dict, cap: dict) -> None:
    if base == "plain":
        doc["tpustack:capacity"] = cap
    else:
        doc["tpustack:variants"][0]["capacity"] = [cap]


def set_accelerator(base: str, doc: dict, accel) -> None:
    if base == "plain":
        doc["tpustack:accelerator"] = accel
    else:
        doc["tpustack:variants"][0]["accelerator"] = accel


def set_unit(base: str, doc: dict, field: str, value) -> None:
    """A unit-level engine setting: tpustack:engine.<field> on a plain stack, variants[0].<field> on a variant."""
    if base == "plain":
        doc["tpustack:engine"] = {**doc["tpustack:engine"], field: value}
    else:
        doc["tpustack:variants"][0][field] = value


def load_problems(doc: dict) -> list[Problem]:
    with pytest.raises(ConfigError) as e:
        load_config(doc, SECRETS, "t")
    return e.value.problems


# (id, mutation(base, doc), key suffix after the unit's key, applicable bases)
CASES: list[tuple[str, Callable[[str, dict], None], str, str, tuple[str, ...]]] = [
    (
        "reservation-without-name",
        lambda b, d: set_capacity(b, d, {"type": "reservation"}),
        "capacity",
        ".reservation",
        ("plain", "variant", "region"),
    ),
    (
        "reservation-on-spot",
        lambda b, d: set_capacity(b, d, {"type": "spot", "reservation": "r1"}),
        "capacity",
        ".reservation",
        ("plain", "variant", "region"),
    ),
    (
        "flex-start-with-auto-repair",
        lambda b, d: set_capacity(b, d, {"type": "flex-start", "autoRepair": True}),
        "capacity",
        ".autoRepair",
        ("plain", "variant", "region"),
    ),
    (
        "calendar-without-reservation",
        lambda b, d: set_capacity(b, d, {"type": "spot", "calendar": True, "ends": "2027-01-01T00:00:00Z"}),
        "capacity",
        ".calendar",
        ("plain", "variant", "region"),
    ),
    (
        "calendar-without-end",
        lambda b, d: set_capacity(b, d, {"type": "reservation", "reservation": "cal", "calendar": True}),
        "capacity",
        ".ends",
        ("plain", "variant", "region"),
    ),
    (
        "end-without-time-zone",
        lambda b, d: set_capacity(b, d, {"type": "reservation", "reservation": "cal", "ends": "2027-01-01T00:00:00"}),
        "capacity",
        ".ends",
        ("plain", "variant", "region"),
    ),
    (
        "topology-of-another-shape",
        lambda b, d: set_accelerator(b, d, {"type": "v6e-8", "topology": "4x4"}),
        "accelerator",
        ".topology",
        ("plain", "variant", "region"),
    ),
    (
        "machine-type-of-another-shape",
        lambda b, d: set_accelerator(b, d, {"type": "v6e-8", "machineType": "ct6e-standard-4t"}),
        "accelerator",
        ".machineType",
        ("plain", "variant", "region"),
    ),
    (
        "tensor-parallel-not-all-chips",
        lambda b, d: set_unit(b, d, "tensorParallel", 4),
        "unit",
        ".tensorParallel",
        ("plain", "variant", "region"),
    ),
    (
        "model-does-not-fit",
        lambda b, d: (
            set_accelerator(b, d, "v6e-1")
            or d.__setitem__("tpustack:model", {"id": "meta-llama/Llama-3.1-70B-Instruct"})
        ),
        "fixed",
        "tpustack:model.id",  # the model as named (no paramsB stated): its facts come from its config.json
        ("plain", "variant", "region"),
    ),
    (
        "jetstream-on-a-gpu",
        lambda b, d: (
            set_accelerator(b, d, "h100-8"),
            d.__setitem__("tpustack:engine", {"name": "jetstream-maxtext"}),
            d.__setitem__("tpustack:benchmark", {"tool": "jetstream-benchmark", "dataset": "sharegpt"}),
            d.__setitem__("tpustack:model", {"id": "meta-llama/Llama-3.1-8B-Instruct"}),
            d.pop("tpustack:gateway", None),
            d.pop("tpustack:regions", None),
        ),
        "fixed",
        "tpustack:engine.name",
        ("plain", "variant"),
    ),
    (
        "autoscaling-below-replicas",
        lambda b, d: (
            set_unit(b, d, "replicas", 3),
            d.__setitem__("tpustack:gke", {**d.get("tpustack:gke", {}), "autoscalingMaxNodes": 2}),
        ),
        "fixed",
        "tpustack:gke.autoscalingMaxNodes",
        ("plain", "variant", "region"),
    ),
]


def _short(key: str) -> str:
    return key.removeprefix("tpustack:")


def run_case(base: str, mutate: Callable[[str, dict], None]) -> Problem:
    doc = BASES[base]()
    mutate(base, doc)
    found = load_problems(doc)
    assert len(found) == 1, f"{base}: one mistake gave {len(found)} problems: {[str(p) for p in found]}"
    return found[0]


def expected_key(base: str, where: str, suffix: str) -> str:
    if where == "fixed":
        return suffix
    if where == "unit":
        return ("tpustack:engine" if base == "plain" else "tpustack:variants[0]") + suffix
    return UNIT[base][where] + suffix


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
class TestOneMistakeOneError:
    def test_same_problem_on_every_unit(self, case):
        _, mutate, where, suffix, bases = case
        shapes = {}
        for base in bases:
            p = run_case(base, mutate)
            assert p.key == expected_key(base, where, suffix), (base, str(p))
            label = LABEL[base].match(p.reason)
            assert label is not None, (base, p.reason)
            own = expected_key(base, where, "") if where != "fixed" else ""
            # the fix may name the setting by its path; the same path in every base reads the same
            fix = p.fix.replace(_short(own), "<unit>") if own else p.fix
            shapes[base] = (p.reason[label.end() :], fix)
        assert len(set(shapes.values())) == 1, shapes


class TestUnitOnlyRules:
    """Rules that exist for one kind of unit only: still one problem, keyed where that unit states it."""

    def test_a_capacity_option_listed_twice(self):
        for base in ("variant", "region"):
            doc = BASES[base]()
            doc["tpustack:variants"][0]["capacity"] = ["spot", "spot"]
            (p,) = load_problems(doc)
            assert p.key == "tpustack:variants[0].capacity[1]" and "spot is listed twice" in p.reason

    def test_queued_is_no_computeclass_priority(self):
        for base in ("variant", "region"):
            doc = BASES[base]()
            doc["tpustack:variants"][0]["capacity"] = ["queued"]
            (p,) = load_problems(doc)
            assert p.key == "tpustack:variants[0].capacity[0]" and "flex-start" in p.fix

    def test_a_zone_outside_its_region(self):
        doc = plain_doc()
        doc["tpustack:zones"] = ["us-west4-a"]
        (p,) = load_problems(doc)
        doc = region_doc()
        doc["tpustack:regions"][0]["zones"] = ["us-east5-a"]
        (q,) = load_problems(doc)
        assert (p.key, q.key) == ("tpustack:zones", "tpustack:regions[0].zones")
        assert (
            p.reason == "zone us-west4-a is not in region us-east5"
            and q.reason == "zone us-east5-a is not in region us-central1"
        )
        assert (
            p.fix.startswith("use zones of us-east5 (e.g. us-east5-a)")
            and q.fix == "use zones of us-central1 (e.g. us-central1-a)"
        )

    def test_a_multi_host_slice_as_a_variant(self):
        doc = variant_doc()
        doc["tpustack:variants"][0]["accelerator"] = "v6e-16"
        doc["tpustack:model"] = {"id": "meta-llama/Llama-3.1-70B-Instruct"}
        doc["tpustack:zones"] = ["us-east5-a"]
        (p,) = load_problems(doc)
        assert p.key == "tpustack:variants[0].accelerator" and "variants are single-host" in p.reason
