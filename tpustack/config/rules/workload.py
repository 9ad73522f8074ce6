"""Rules about the benchmark's shared-prefix workload (tpustack:benchmark.prefix, tpustack.config.workload): that it
goes with a dataset that can carry it, splits evenly into its groups, and asks of the tool only what the tool does."""

from __future__ import annotations

from collections.abc import Iterator

from tpustack.core import images
from tpustack.core.engines import ToolName
from tpustack.core.errors import Problem, problem

from ..model import StackConfig
from ..workload import SHARED_PREFIX

KEY = "tpustack:benchmark.prefix"


def prefix_goes_with_its_dataset(c: StackConfig) -> Iterator[Problem]:
    """shared-prefix needs its groups; random takes one prefix (vLLM's --random-prefix-len); sharegpt's prompts are
    its own."""
    b = c.benchmark
    if b is None:
        return
    if b.dataset == SHARED_PREFIX and b.prefix is None:
        yield problem(
            "tpustack:benchmark.dataset",
            "dataset shared-prefix needs the prefix its prompts share",
            f"set {KEY}: {{prefixLen: 1024, groups: 8}}",
        )
    elif b.prefix is not None and b.dataset not in (SHARED_PREFIX, "random"):
        yield problem(
            KEY,
            f"dataset {b.dataset} sends its own prompts, not a shared prefix",
            "remove it, or use dataset shared-prefix",
        )
    elif b.prefix is not None and b.dataset == "random" and b.prefix.groups != 1:
        yield problem(
            f"{KEY}.groups",
            "dataset random puts one prefix before every prompt (vllm bench serve --random-prefix-len), "
            f"not {b.prefix.groups}",
            "set groups to 1, or use dataset shared-prefix for several prefixes",
        )


def prompts_split_into_groups(c: StackConfig) -> Iterator[Problem]:
    """vllm bench serve sends num_prompts // num_prefixes per prefix (datasets.py PrefixRepetitionRandomDataset) and
    refuses fewer prompts than prefixes; inference-perf cycles through groups x prompts per group."""
    b = c.benchmark
    if b is None or b.prefix is None or b.prefix.groups == 1:
        return
    g = b.prefix.groups
    if b.num_prompts % g:
        yield problem(
            "tpustack:benchmark.numPrompts",
            f"{b.num_prompts} prompts do not split evenly into {g} prefix groups (the tool would send fewer)",
            f"use a multiple of {g}, e.g. {max(g, b.num_prompts - b.num_prompts % g)}",
        )
    if b.warmups and b.warmups < g:
        yield problem(
            "tpustack:benchmark.warmups",
            f"{b.warmups} warm-up requests are fewer than the {g} prefix groups (vllm bench serve refuses them)",
            f"set warmups to 0 or at least {g}",
        )


def multi_turn_is_inference_perf(c: StackConfig) -> Iterator[Problem]:
    """Only inference-perf's shared_prefix data sends a group's prompts as one conversation (enable_multi_turn_chat);
    vllm bench serve's prefix_repetition has no turns."""
    b, tool = c.benchmark, c.benchmark_tool
    if b is None or b.prefix is None or not b.prefix.multi_turn or tool is None:
        return
    if tool is not ToolName.INFERENCE_PERF:
        yield problem(
            f"{KEY}.multiTurn",
            f"{tool} has no multi-turn shared-prefix workload (only inference-perf {images.INFERENCE_PERF_VERSION})",
            "set tpustack:benchmark.tool: inference-perf, or multiTurn false",
        )


def prefix_fits_context(c: StackConfig) -> Iterator[Problem]:
    """A prompt is its prefix plus inputLen tokens, then outputLen: all of it must fit the engine's context."""
    b = c.benchmark
    if b is None or b.prefix is None or c.engine is None:
        return
    limit = c.engine.settings.context_tokens
    total = b.prefix.prefix_len + b.input_len + b.output_len
    if total > limit:
        yield problem(
            f"{KEY}.prefixLen",
            f"prefix {b.prefix.prefix_len} + input {b.input_len} + output {b.output_len} = {total} tokens exceed the "
            f"engine's context of {limit}",
            "shorten the prefix or the lengths, or raise the engine's context",
        )


RULES = [prefix_goes_with_its_dataset, prompts_split_into_groups, multi_turn_is_inference_perf, prefix_fits_context]
