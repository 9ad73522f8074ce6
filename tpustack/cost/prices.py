"""The price table (``prices.yaml``: list prices with their source and date) and lookups into it.

Stack overrides (``tpustack:prices``: contract prices, committed use, a discount) take precedence; a price that
is not published is reported as missing with the reason, never guessed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tpustack.config.sections import PricesConfig
from tpustack.core.capacity import CapacityType
from tpustack.core.catalog import Accelerator

PRICES_FILE = Path(__file__).parent / "prices.yaml"
# Capacity type -> price column. A reservation is paid at the on-demand rate (or the committed rate the stack's
# price overrides give); a queued TPU VM at on-demand (a GKE queued-provisioning pool is a flex-start pool, priced
# from its flexStart input).
CAPACITY_PRICE_MODEL = {
    CapacityType.ON_DEMAND: "on_demand",
    CapacityType.SPOT: "spot",
    CapacityType.FLEX_START: "flex_start",
    CapacityType.RESERVATION: "on_demand",
    CapacityType.QUEUED: "on_demand",
}


@lru_cache(maxsize=1)
def price_table() -> dict[str, Any]:
    return yaml.safe_load(PRICES_FILE.read_text())


def tpu_chip_price(family: str, model: str, overrides: PricesConfig | None = None) -> tuple[float | None, str]:
    """USD per chip-hour for a TPU family under a pricing model (on_demand, spot, flex_start)."""
    if overrides and family in overrides.tpu_chip_hour:
        return overrides.tpu_chip_hour[family], "stack price override"
    row = price_table()["tpu_chip_hour"].get(family)
    if row is None:
        return None, f"no public list price for {family}; set tpustack:prices.tpuChipHour.{family}"
    if model in row:
        return row[model], f"{model.replace('_', '-')} list price {price_table()['as_of']}"
    return row["on_demand"], (
        f"no {model.replace('_', '-')} price listed; on-demand list price {price_table()['as_of']} (an upper bound)"
    )


def machine_price(machine_type: str, model: str, overrides: PricesConfig | None = None) -> tuple[float | None, str]:
    """USD per hour for a machine type (GPU VMs, system nodes) under a pricing model."""
    if overrides and machine_type in overrides.machine_hour:
        return overrides.machine_hour[machine_type], "stack price override"
    row = price_table()["machine_hour"].get(machine_type)
    if row is None:
        return None, f"no price for {machine_type}; set tpustack:prices.machineHour"
    if model in row:
        return row[model], f"{model.replace('_', '-')} list price {price_table()['as_of']}"
    return row["on_demand"], f"on-demand list price {price_table()['as_of']} (no {model} price listed)"


def accelerator_hourly(
    shape: Accelerator, capacity_type: CapacityType | str, replicas: int = 1, overrides: PricesConfig | None = None
) -> tuple[float | None, str]:
    """USD/hour of ``replicas`` replicas of an accelerator shape at a capacity type's list price (an unknown type,
    as an untrusted result file may name, at on-demand)."""
    known = capacity_type in CapacityType.values()
    model = CAPACITY_PRICE_MODEL[CapacityType(capacity_type)] if known else "on_demand"
    if shape.kind == "tpu":
        price, why = tpu_chip_price(shape.family, model, overrides)
        if price is None:
            return None, why
        chips = shape.chips * replicas
        return price * chips, f"{chips} chips x ${price}/chip-h ({why})"
    price, why = machine_price(shape.machine_type, model, overrides)
    if price is None:
        return None, why
    return price * replicas, f"{replicas} x {shape.machine_type} x ${price}/h ({why})"
