"""The benchmark's shared-prefix workload (``tpustack:benchmark.prefix``): prompts that share a prefix, the load that
exercises an engine's prefix cache and a prefix-aware router.

``groups`` distinct prefixes of ``prefixLen`` tokens; every prompt is one group's prefix followed by
``benchmark.inputLen`` tokens of its own, and asks for ``benchmark.outputLen`` tokens; the ``numPrompts`` prompts
are split evenly over the groups. How each tool sends it (tpustack.workloads.tools):

* dataset ``shared-prefix``: vLLM 0.32.0 ``vllm bench serve --dataset-name prefix_repetition``
  (``--prefix-repetition-{prefix-len,suffix-len,num-prefixes,output-len}``, vllm/benchmarks/datasets/datasets.py);
  inference-perf 0.7.0 data type ``shared_prefix`` (``num_groups``, ``num_prompts_per_group``,
  ``system_prompt_len``, ``question_len``, ``output_len``, ``enable_multi_turn_chat``;
  inference_perf/config/datagen/config.py ``SharedPrefix``).
* dataset ``random`` with one group: vLLM's ``--random-prefix-len`` (one fixed prefix before every random prompt);
  inference-perf's random data has no prefix, so it sends ``shared_prefix`` with one group, the same workload.
* ``multiTurn``: inference-perf only: each group's prompts go as consecutive turns of one conversation, each turn's
  prompt the conversation so far (its ``enable_multi_turn_chat``).

Both tools draw the prefixes from the load's seed, so the warm-up and every sweep point send the same prefixes: a
point's hit rate is the cache's steady state, warmed by what ran before it (README "Benchmarks that exercise it").
The rules that tie it to the dataset and the tool are in tpustack.config.rules.workload.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from tpustack.core import images

SHARED_PREFIX = images.SHARED_PREFIX_DATASET  # the benchmark.dataset whose prompts come in prefix groups


class PrefixWorkload(BaseModel):
    """``tpustack:benchmark.prefix``: prompts in groups that share a prefix."""

    # sections.Section's strictness (sections.py imports this module, so it cannot be the base; a test checks they
    # are the same)
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)

    prefix_len: int = Field(ge=1, le=1_000_000)  # tokens every prompt of a group shares
    groups: int = Field(default=1, ge=1, le=100_000)  # distinct prefixes
    multi_turn: bool = False  # a group's prompts as turns of one conversation (inference-perf)

    def prompts_per_group(self, num_prompts: int) -> int:
        return num_prompts // self.groups
