"""The stack config: pydantic model (``model``), cross-field rules (``rules``), loading (``load``), the project
and its stack files (``project``), and infrastructure shapes derived from a config (``derived``)."""

from .load import from_pulumi, load_config
from .model import StackConfig

__all__ = ["StackConfig", "from_pulumi", "load_config"]
