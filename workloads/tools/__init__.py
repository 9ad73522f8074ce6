"""The benchmark tools tpustack runs, one module each behind one interface (``base.BenchTool``), and their registry.

``TOOLS`` maps every ``ToolName`` to its tool, in the enum's order; ``tool(name)`` looks one up. The config rules
read each tool's ``facts`` (engines it drives, datasets, load shapes, command, image); the runner renders its
command line and normalizes its files through it; the report detects and normalizes a tool's own files through it.
Adding a tool = a module here with a ``BenchTool`` subclass + its line below (and its ``ToolName``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tpustack.core.engines import EngineName, ToolName
from tpustack.core.errors import BenchmarkError

from .base import BenchTool, PointResult, ToolFacts
from .inference_perf import InferencePerf
from .jetstream_benchmark import JetStreamBenchmark
from .vllm_bench import VllmBench

__all__ = ["TOOLS", "BenchTool", "PointResult", "ToolFacts", "UnknownTool", "detect", "tool", "tools_for"]

TOOLS: Mapping[ToolName, BenchTool] = {
    ToolName.VLLM_BENCH: VllmBench(),
    ToolName.JETSTREAM_BENCHMARK: JetStreamBenchmark(),
    ToolName.INFERENCE_PERF: InferencePerf(),
}


class UnknownTool(BenchmarkError):
    """A tool name no module implements."""


def tool(name: str) -> BenchTool:
    """The tool of a name (a ToolName or the string a spec or a record spells); UnknownTool names the known ones."""
    try:
        return TOOLS[ToolName(name)]
    except (ValueError, KeyError):
        raise UnknownTool(f"'{name}' is not a benchmark tool", fix=f"one of {', '.join(TOOLS)}") from None


def tools_for(engine: EngineName | str) -> tuple[BenchTool, ...]:
    """The tools that can drive an engine's API, in registry order."""
    return tuple(t for t in TOOLS.values() if engine in t.facts.engines)


def detect(doc: Any) -> BenchTool | None:
    """The tool whose result file a JSON document is, or None. Tools recognized by generic keys go last."""
    if not isinstance(doc, dict):
        return None
    for t in sorted(TOOLS.values(), key=lambda t: t.generic_signature):
        if t.recognizes(doc):
            return t
    return None
