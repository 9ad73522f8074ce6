"""The one interface of a benchmark tool, and the facts about a tool that the config rules read.

Modelled on kubernetes-sigs/inference-perf ``inference_perf/client/modelserver/`` (``base.py``: one abstract client,
then one module per model server). Here a tool is one module of ``tpustack.workloads.tools`` with one ``BenchTool``
subclass that owns:

* its facts (``ToolFacts``): the engines it can drive, the datasets it can feed, what load shapes it can send, its
  command and image, each read from ``tpustack.core.engines`` (which cites the tool's source and version);
* its command line (and config file) for one sweep point of the spec (``argv``), and any post-step on its files
  (``after_run``);
* how its own result files become the one record (``normalize`` for a file found on its own, ``read_point`` for
  the files it wrote for one point), with its own definitions of TPOT and throughput converted to tpustack's
  (tpustack.workloads.records) and every conversion said in the record.

Adding a tool = one module with a subclass + one line in the registry (``tpustack.workloads.tools.TOOLS``).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from tpustack.core.contracts import BenchSpec, Record, SweepPoint
from tpustack.core.engines import EngineName, ToolName

from .. import records

# The runner's way to run a command for a tool's post-step: (argv, cwd, timeout_s, log file) -> exit code.
RunCommand = Callable[[list[str], Path, float, Path], int]


@dataclass(frozen=True, kw_only=True)
class ToolFacts:
    """What a tool can do and where it lives: the config rules check a stack's benchmark against these."""

    name: ToolName
    engines: tuple[EngineName, ...]  # engines whose API it can drive
    datasets: tuple[str, ...]  # benchmark.dataset values it can feed (tpustack's names)
    concurrency_limit: bool  # can run a point at a fixed concurrency (benchmark.maxConcurrency)
    burstiness: bool  # can send arrivals other than Poisson (benchmark.burstiness != 1)
    ignores_eos_on_random: bool  # runs every request to output_len on the random dataset, whatever ignoreEos says
    sends_temperature: bool  # passes load.temperature to the server (otherwise its default sampling applies)
    command: tuple[str, ...]  # the tool's command inside its image
    image: str | None  # its own image; None: it runs in the engine's image
    version: str  # the pinned release (or commit) its facts and file formats were read from


class PointResult(NamedTuple):
    """A point's files normalized: the record and the tool's own files to keep beside it (``raw/``)."""

    record: Record
    raw: list[Path]


class BenchTool(ABC):
    """One benchmark client behind the runner's and the readers' one interface."""

    facts: ClassVar[ToolFacts]
    # True when the tool's files are recognized by keys another tool's file could also hold (vLLM's flat
    # request_throughput/completed): such tools are tried last when a file's tool is detected.
    generic_signature: ClassVar[bool] = False

    @property
    def name(self) -> ToolName:
        return self.facts.name

    # ----- running ---------------------------------------------------------------------------------------------
    @abstractmethod
    def argv(
        self, spec: BenchSpec, point: SweepPoint, outdir: Path, num_prompts: int, dataset_path: str | None
    ) -> list[str]:
        """The arguments after ``spec.tool_command`` for one point; the tool's files land in ``outdir`` (which
        exists; a tool configured by a file writes it there)."""

    def after_run(self, spec: BenchSpec, outdir: Path, run: RunCommand) -> None:
        """A step on the point's files after the tool exited 0, before they are normalized. Default: none."""
        return None

    # ----- reading ---------------------------------------------------------------------------------------------
    @abstractmethod
    def recognizes(self, doc: Mapping[str, Any]) -> bool:
        """Whether a JSON object is one of this tool's result files."""

    def stage_of_file(self, filename: str) -> int | None:
        """For a file of this tool found on its own (a report over raw files): the stage it holds, or None when it
        is not read on its own (it repeats or accompanies another). Default: every file, stage 0."""
        return 0

    @abstractmethod
    def normalize(
        self,
        doc: dict[str, Any],
        *,
        source_file: str,
        stage: int,
        slo: Mapping[str, object] | None,
        tolerance: float,
    ) -> Record:
        """One of the tool's result files, on its own -> one record; BenchmarkError (naming the file and the fix)
        when it is not what the tool writes. ``stage``: the stage of a multi-stage file (inference-perf);
        tools with one point per file ignore it."""

    @abstractmethod
    def read_point(self, spec: BenchSpec, outdir: Path, point: SweepPoint) -> PointResult:
        """The files the tool wrote for one point of the run -> its record and the files to keep."""


# ----- helpers the tools share ---------------------------------------------------------------------------------
def tolerance(spec: BenchSpec) -> float:
    """The share of the requested rate a client must send to count as having kept up."""
    return spec.get("kept_up_tolerance", records.KEPT_UP_TOLERANCE)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
