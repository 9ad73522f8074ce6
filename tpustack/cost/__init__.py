"""Cost: list prices (``prices.yaml``, dated, with sources), the hourly cost of a plan per billable resource,
and the hourly cost of an accelerator configuration (the report's $/1M tokens)."""

from .estimate import estimate
from .prices import accelerator_hourly, machine_price, price_table, tpu_chip_price

__all__ = ["accelerator_hourly", "estimate", "machine_price", "price_table", "tpu_chip_price"]
