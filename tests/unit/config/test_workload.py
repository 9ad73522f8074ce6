"""The benchmark's shared-prefix workload (tpustack:benchmark.prefix): its config, its rules, and what each tool is
told to send (the flags and keys themselves are checked against the pinned tools in
tests/integration/test_engine_facts.py)."""

from __future__ import annotations

import copy
import json

import pytest

from tpustack.config import load_config
from tpustack.config.sections import Section
from tpustack.config.workload import PrefixWorkload
from tpustack.core.errors import ConfigError
from tpustack.render import bench
from workloads import serving_bench

from helpers.project import BASE, SECRETS, as_engine_values

SHARED = {
    "dataset": "shared-prefix",
    "prefix": {"prefixLen": 256, "groups": 4},
    "numPrompts": 32,
    "warmups": 4,
    "inputLen": 64,
    "outputLen": 16,
    "requestRates": [2],
}


def config(benchmark: dict):
    c = copy.deepcopy(BASE)
    c["tpustack:benchmark"] = benchmark
    return load_config(as_engine_values(c), SECRETS, "prefix")


def spec(benchmark: dict) -> dict:
    return dict(
        bench.bench_spec(config(benchmark), base_url="http://h", metrics_url=None, results_uri="/r", git_revision="t")
    )


def problems(benchmark: dict) -> list:
    with pytest.raises(ConfigError) as e:
        config(benchmark)
    return e.value.problems


def test_it_is_as_strict_as_every_section():
    assert PrefixWorkload.model_config == Section.model_config
    with pytest.raises(ConfigError, match="prefixLenn"):
        config({**SHARED, "prefix": {"prefixLenn": 3}})


def test_the_spec_carries_the_groups():
    load = spec(SHARED)["load"]
    assert load["prefix"] == {"groups": 4, "prefix_len": 256, "prompts_per_group": 8, "multi_turn": False}
    assert "prefix" not in spec({"requestRates": [1]})["load"]  # a plain benchmark's spec is as before


def test_vllm_bench_sends_prefix_repetition(tmp_path):
    s = spec(SHARED)
    argv, _ = serving_bench.invocation(s, s["sweep"][0], tmp_path, 32, None)
    flags = dict(zip(argv, argv[1:], strict=False))
    assert flags["--dataset-name"] == "prefix_repetition"
    assert flags["--prefix-repetition-prefix-len"] == "256" and flags["--prefix-repetition-suffix-len"] == "64"
    assert flags["--prefix-repetition-num-prefixes"] == "4" and flags["--prefix-repetition-output-len"] == "16"
    assert "--random-input-len" not in argv


def test_vllm_bench_random_takes_one_prefix(tmp_path):
    s = spec({**SHARED, "dataset": "random", "prefix": {"prefixLen": 128}})
    argv, _ = serving_bench.invocation(s, s["sweep"][0], tmp_path, 32, None)
    flags = dict(zip(argv, argv[1:], strict=False))
    assert flags["--dataset-name"] == "random" and flags["--random-prefix-len"] == "128"
    assert flags["--random-input-len"] == "64"


@pytest.mark.parametrize("dataset,groups", [("shared-prefix", 4), ("random", 1)])
def test_inference_perf_sends_shared_prefix(tmp_path, dataset, groups):
    b = {**SHARED, "tool": "inference-perf", "dataset": dataset, "prefix": {"prefixLen": 256, "groups": groups}}
    if dataset == "shared-prefix":
        b["prefix"]["multiTurn"] = True
    s = spec(b)
    serving_bench.invocation(s, s["sweep"][0], tmp_path, 32, None)
    data = json.loads((tmp_path / "config.yml").read_text())["data"]
    assert data == {
        "type": "shared_prefix",
        "shared_prefix": {
            "num_groups": groups,
            "num_prompts_per_group": 32 // groups,
            "system_prompt_len": 256,
            "question_len": 64,
            "output_len": 16,
            "seed": 0,
            "enable_multi_turn_chat": dataset == "shared-prefix",
        },
    }


@pytest.mark.parametrize(
    "benchmark,key,fix",
    [
        ({**SHARED, "prefix": None}, "tpustack:benchmark.dataset", "prefixLen"),
        ({**SHARED, "dataset": "sharegpt"}, "tpustack:benchmark.prefix", "shared-prefix"),
        ({**SHARED, "dataset": "random"}, "tpustack:benchmark.prefix.groups", "groups to 1"),
        ({**SHARED, "numPrompts": 30}, "tpustack:benchmark.numPrompts", "multiple of 4"),
        ({**SHARED, "warmups": 2}, "tpustack:benchmark.warmups", "at least 4"),
        (
            {**SHARED, "prefix": {"prefixLen": 8, "groups": 4, "multiTurn": True}},
            "tpustack:benchmark.prefix.multiTurn",
            "inference-perf",
        ),
        ({**SHARED, "prefix": {"prefixLen": 10**6, "groups": 4}}, "tpustack:benchmark.prefix.prefixLen", "shorten"),
    ],
)
def test_each_mistake_is_one_problem(benchmark, key, fix):
    if benchmark.get("prefix") is None:
        benchmark = {k: v for k, v in benchmark.items() if k != "prefix"}
    found = problems(benchmark)
    assert [p.key for p in found] == [key], found
    assert fix in found[0].fix


def test_multi_turn_with_inference_perf_is_fine():
    cfg = config({**SHARED, "tool": "inference-perf", "prefix": {"prefixLen": 8, "groups": 4, "multiTurn": True}})
    assert cfg.benchmark is not None and cfg.benchmark.prefix is not None and cfg.benchmark.prefix.multi_turn
