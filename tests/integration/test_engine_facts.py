"""Image facts (tpustack.core.images) against the pinned artifacts themselves, and the rendered stacks against
the facts. Runs in CI: PyPI artifacts are downloaded once (tests/artifacts.py, sha256-checked, cached in
.cache/artifacts); MaxText and JetStream at their pinned commits are not on PyPI, so their facts come from
tests/fixtures/artifacts/ (recorded from those commits) and are re-derived from a checkout when one is at hand.

Moving an engine to a newer image: change its facts entry; these tests fail until every flag, path, endpoint and
env name the stacks use is found in the new artifact (README "Engine versions").
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tpustack import render
from tpustack.core import autoscaling, engines, images
from tpustack.core import k8s as objects
from tpustack.workloads import tools
from workloads import serving_bench

from helpers import artifacts
from helpers.project import GKE_STACKS, PROJECT, STACKS, rendered

JETSTREAM = json.loads((artifacts.FIXTURES / f"jetstream-{images.JETSTREAM_REF[:7]}.json").read_text())
MAXTEXT = json.loads((artifacts.FIXTURES / f"maxtext-{images.MAXTEXT_REF[:7]}.json").read_text())


@pytest.fixture(scope="module")
def vllm_tpu_wheel() -> artifacts.Archive:
    return artifacts.Archive(artifacts.pypi_file("vllm-tpu", images.VLLM_VERSION, "bdist_wheel"))


@pytest.fixture(scope="module")
def vllm_tpu_sdist() -> artifacts.Archive:
    return artifacts.Archive(artifacts.pypi_file("vllm-tpu", images.VLLM_VERSION, "sdist"))


@pytest.fixture(scope="module")
def tpu_inference_wheel() -> artifacts.Archive:
    return artifacts.Archive(artifacts.pypi_file("tpu-inference", images.VLLM_VERSION, "bdist_wheel"))


@pytest.fixture(scope="module")
def inference_perf_wheel() -> artifacts.Archive:
    return artifacts.Archive(artifacts.pypi_file("inference-perf", images.INFERENCE_PERF_VERSION, "bdist_wheel"))


def _flag_field(flag: str) -> str:
    return flag.removeprefix("--").removeprefix("no-").replace("-", "_")


# ----- vLLM ---------------------------------------------------------------------------------------------------------
class TestVllm:
    def test_the_pins_are_what_the_facts_name(self):
        assert images.VLLM_TPU.built_from[0] == f"vllm-tpu=={images.VLLM_VERSION}"
        assert images.VLLM_TPU.image.endswith(f":v{images.VLLM_VERSION}")
        assert images.VLLM_GPU.image.endswith(f":v{images.VLLM_VERSION}")

    def test_server_flags_exist(self, vllm_tpu_wheel):
        # EngineArgs/FrontendArgs fields become --kebab-case flags (and --no-X for booleans)
        fields = artifacts.class_fields(vllm_tpu_wheel.read("vllm/engine/arg_utils.py"), "EngineArgs")
        cli = (
            vllm_tpu_wheel.read("vllm/entrypoints/openai/cli_args.py")
            if ("vllm/entrypoints/openai/cli_args.py" in vllm_tpu_wheel.names)
            else ""
        )
        for name in vllm_tpu_wheel.names:
            if name.endswith("cli_args.py") and name.startswith("vllm/entrypoints/"):
                cli += vllm_tpu_wheel.read(name)
        fields |= artifacts.class_fields(cli) | {_flag_field(f) for f in artifacts.add_argument_flags(cli)}
        missing = sorted(f for f in images.VLLM_TPU.flags if _flag_field(f) not in fields)
        assert not missing, f"vllm {images.VLLM_VERSION} has no {missing}"

    def test_benchmark_flags_and_datasets_exist(self, vllm_tpu_wheel):
        serve = vllm_tpu_wheel.read("vllm/benchmarks/serve.py")
        datasets = vllm_tpu_wheel.read("vllm/benchmarks/datasets/datasets.py")
        flags = artifacts.add_argument_flags(serve) | artifacts.add_argument_flags(datasets)
        assert images.VLLM_TPU.bench_flags <= flags, sorted(images.VLLM_TPU.bench_flags - flags)
        choices = artifacts.argument_choices(datasets, "--dataset-name")
        assert set(images.VLLM_TPU.datasets) <= set(choices), choices
        assert "sonnet" not in choices  # removed: stacks must not offer it
        # the per-request arrays the normalizer derives achieved rate from
        for key in ("start_times", "latencies", "ttfts", "itls"):
            assert f'"{key}"' in serve, key

    def test_the_shared_prefix_workload_is_the_pinned_tools(self, vllm_tpu_wheel):
        """benchmark.prefix: dataset shared-prefix is vLLM's prefix_repetition (its four --prefix-repetition-* flags
        are in bench_flags, checked above), random's prefix is --random-prefix-len; prefix_repetition does not
        force ignore_eos as random does (serve.py)."""
        datasets = vllm_tpu_wheel.read("vllm/benchmarks/datasets/datasets.py")
        assert images.VLLM_PREFIX_DATASET in artifacts.argument_choices(datasets, "--dataset-name")
        flags = artifacts.add_argument_flags(datasets)
        for f in ("suffix-len", "prefix-len", "num-prefixes", "output-len"):
            assert f"--prefix-repetition-{f}" in flags and f"--prefix-repetition-{f}" in images.VLLM_TPU.bench_flags
        assert "--random-prefix-len" in flags
        assert "prompts_per_prefix = num_requests // num_prefixes" in datasets  # rule prompts_split_into_groups
        serve = vllm_tpu_wheel.read("vllm/benchmarks/serve.py")
        assert 'args.dataset_name in ("random", "random-mm")' in serve
        assert images.SHARED_PREFIX_DATASET in tools.tool("vllm-bench").facts.datasets

    def test_the_cache_and_kv_transfer_metrics_exist(self, vllm_tpu_wheel):
        """The counters a record's prefix_cache and kv_transfer come from (tpustack.workloads.cachestats)."""
        from workloads import cachestats

        src = "".join(
            vllm_tpu_wheel.read(n)
            for n in vllm_tpu_wheel.names
            if n.endswith(".py") and (n.startswith("vllm/v1/metrics/") or "kv_connector/v1/nixl/" in n)
        )
        missing = [m for m in cachestats.METRIC_FAMILIES if f'name="{m}"' not in src]
        assert not missing, missing
        # counters: prometheus_client exposes them with _total, which is what cachestats reads
        assert cachestats.QUERIES == "vllm:prefix_cache_queries_total"
        # hits are whole cached blocks of the prompt, the last token always recomputed (the loopback does the same)
        manager = vllm_tpu_wheel.read("vllm/v1/core/kv_cache_manager.py")
        assert "max_cache_hit_length = request.num_tokens - 1" in manager
        assert "num_tokens=request.num_tokens" in manager

    def test_random_ignores_eos_in_this_version(self, vllm_tpu_wheel):
        """benchmark.ignoreEos=false is refused for vllm-bench on random (rule eos_setting_is_what_the_tool_does)."""
        serve = vllm_tpu_wheel.read("vllm/benchmarks/serve.py")
        assert tools.tool("vllm-bench").facts.ignores_eos_on_random
        assert "ignore_eos = True" in serve.replace("args.ignore_eos = True", "ignore_eos = True")

    def test_the_kv_cache_dtypes_and_speculative_methods_tpustack_renders_exist(self, vllm_tpu_wheel):
        """engine.vllm.kvCacheDtype and engine.vllm.speculative.method are values of the pinned vLLM's own literals
        (vllm/config/cache.py CacheDType, vllm/config/speculative.py SpeculativeMethod with its member literals)."""
        import typing

        from tpustack.config.sections import SpeculativeConfig, VllmConfig

        def literal(source: str, name: str) -> set[str]:
            tree = ast.parse(source)
            values: set[str] = set()
            for node in tree.body:
                if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets):
                    for c in ast.walk(node.value):
                        if isinstance(c, ast.Constant) and isinstance(c.value, str):
                            values.add(c.value)
                        elif isinstance(c, ast.Name) and c.id != "Literal":
                            values |= literal(source, c.id)
            return values

        cache = literal(vllm_tpu_wheel.read("vllm/config/cache.py"), "CacheDType")
        ours = set(typing.get_args(typing.get_args(VllmConfig.model_fields["kv_cache_dtype"].annotation)[0]))
        assert ours and ours <= cache, ours - cache
        methods = literal(vllm_tpu_wheel.read("vllm/config/speculative.py"), "SpeculativeMethod")
        ours = set(typing.get_args(SpeculativeConfig.model_fields["method"].annotation))
        assert ours and ours <= methods, ours - methods

    def test_the_checks_tpustack_runs_for_vllm_are_the_pinned_vllms(self, vllm_tpu_wheel):
        """The config rules that stop a stack vLLM would refuse (tpustack/config/rules/units.py) cite these places;
        each still says what the rule assumes."""
        model = vllm_tpu_wheel.read("vllm/config/model.py")
        assert "if total_num_attention_heads % tensor_parallel_size != 0:" in model  # tensor_parallel_fits_heads
        assert "when expert parallelism is enabled." in model  # expert_parallel_needs_experts
        linear = vllm_tpu_wheel.read("vllm/model_executor/layers/linear.py")
        # KV heads: replicated a whole number of times, or divided evenly
        assert "self.num_kv_head_replicas = divide(tp_size, self.total_num_kv_heads)" in linear
        assert "self.num_kv_heads = divide(self.total_num_kv_heads, tp_size)" in linear
        planning = vllm_tpu_wheel.read("vllm/v1/core/kv_cache_planning.py")
        assert "To serve at least one request with the model's max seq len" in planning  # model_fits_hbm

    def test_endpoints_exist(self, vllm_tpu_wheel):
        sources = "".join(
            vllm_tpu_wheel.read(n)
            for n in vllm_tpu_wheel.names
            if n.startswith("vllm/entrypoints/") and n.endswith(".py")
        )
        for path in images.VLLM_TPU.endpoints.values():
            assert f'"{path}"' in sources, path

    def test_env_names_exist(self, vllm_tpu_wheel, tpu_inference_wheel):
        assert '"VLLM_XLA_CACHE_PATH"' in vllm_tpu_wheel.read("vllm/envs.py")
        tpu_envs = tpu_inference_wheel.read("tpu_inference/envs.py")
        for k, v in engines.TPU_MULTIHOST_ENV.items():
            assert f'"{k}"' in tpu_envs and f'"{v}"' in "".join(
                tpu_inference_wheel.read(n) for n in tpu_inference_wheel.names if n.endswith(".py")
            )

    def test_the_metrics_the_gateway_endpoint_picker_reads_exist(self, vllm_tpu_wheel):
        """Inference Gateway balances vLLM pods on these gauges; the TPU build must export them as the GPU one."""
        src = "".join(
            vllm_tpu_wheel.read(n)
            for n in vllm_tpu_wheel.names
            if n.startswith("vllm/v1/metrics/") and n.endswith(".py")
        )
        missing = [m for m in engines.GAIE_VLLM_METRICS if f'"{m}"' not in src]
        assert not missing, missing

    def test_the_gauges_autoscaling_scales_on_exist(self, vllm_tpu_wheel):
        """tpustack:autoscaling engine metrics (tpustack.core.autoscaling): registered gauges of the pinned vLLM."""
        src = vllm_tpu_wheel.read("vllm/v1/metrics/loggers.py")
        for fact in autoscaling.METRICS.values():
            if fact.source == "engine":
                assert f'name="{fact.prometheus}"' in src, fact.prometheus

    def test_multi_host_bootstrap_script_exists(self, vllm_tpu_sdist):
        rel = engines.VLLM_RAY_BOOTSTRAP.removeprefix("/workspace/vllm/")
        assert rel in vllm_tpu_sdist.names, rel
        script = vllm_tpu_sdist.read(rel)
        assert "leader" in script and "worker" in script and "--ray_cluster_size" in script


# ----- inference-perf -----------------------------------------------------------------------------------------------
class TestInferencePerf:
    def test_cli_and_config_fields(self, inference_perf_wheel, tmp_path):
        names = inference_perf_wheel.names
        src = "".join(
            inference_perf_wheel.read(n) for n in names if n.startswith("inference_perf/") and n.endswith(".py")
        )
        assert '"--config_file"' in src
        fields = artifacts.class_fields(
            "".join(
                inference_perf_wheel.read(n)
                for n in names
                if n.startswith("inference_perf/config") and n.endswith(".py")
            )
        )
        spec = {
            "server": {"base_url": "http://h:8000"},
            "model": {"id": "m"},
            "load": {
                "dataset": "random",
                "input_len": 8,
                "output_len": 8,
                "num_prompts": 10,
                "seed": 0,
                "ignore_eos": True,
                "temperature": 0.0,
                "burstiness": 1.0,
            },
            "slo": {"ttft_ms": 500, "tpot_ms": 40},
        }
        cfg = serving_bench.inference_perf_config(spec, {"request_rate": 2.0}, tmp_path, 10, None)

        def keys(d, prefix=""):
            for k, v in d.items():
                yield k
                if isinstance(v, dict):
                    yield from keys(v)
                elif isinstance(v, list):
                    for x in v:
                        if isinstance(x, dict):
                            yield from keys(x)

        missing = sorted({k for k in keys(cfg) if k not in fields and not k.isdigit()} - {"ttft", "tpot"})
        assert not missing, f"inference-perf {images.INFERENCE_PERF_VERSION} config has no {missing}"
        # the shared-prefix workload (benchmark.prefix): its SharedPrefix model and its data type
        spec["load"]["prefix"] = {"groups": 2, "prefix_len": 16, "prompts_per_group": 5, "multi_turn": True}
        cfg = serving_bench.inference_perf_config(spec, {"request_rate": 2.0}, tmp_path, 10, None)
        config_src = inference_perf_wheel.read("inference_perf/config/datagen/config.py")
        prefix_fields = artifacts.class_fields(config_src, "SharedPrefix")
        assert set(cfg["data"]["shared_prefix"]) <= prefix_fields, set(cfg["data"]["shared_prefix"]) - prefix_fields
        assert f'SharedPrefix = "{cfg["data"]["type"]}"' in config_src


# ----- JetStream / MaxText ------------------------------------------------------------------------------------------
class TestJetStreamMaxText:
    def test_recorded_facts_match_a_checkout_when_present(self):
        src = artifacts.sources_dir()
        if src is None:
            pytest.skip("no TPUSTACK_SOURCES checkout of the pinned MaxText/JetStream; recorded facts are used")
        assert artifacts.jetstream_facts(src / f"JetStream-{images.JETSTREAM_REF}") == {
            k: v for k, v in JETSTREAM.items() if k not in ("source", "recorded_by")
        }
        assert artifacts.maxtext_facts(src / f"maxtext-{images.MAXTEXT_REF}") == {
            k: v for k, v in MAXTEXT.items() if k not in ("source", "recorded_by")
        }

    def test_recorded_facts_are_of_the_pinned_commits(self):
        assert JETSTREAM["source"].endswith(images.JETSTREAM_REF)
        assert MAXTEXT["source"].endswith(images.MAXTEXT_REF)
        assert (
            images.JETSTREAM_REF in Path(images.JETSTREAM_DOCKERFILE).read_text()
            if Path(images.JETSTREAM_DOCKERFILE).exists()
            else True
        )

    def test_server_facts(self):
        f = images.JETSTREAM_ENGINE
        assert f.model_names <= set(MAXTEXT["model_names"])
        assert f.flags <= set(MAXTEXT["base_yml_keys"]), sorted(f.flags - set(MAXTEXT["base_yml_keys"]))
        assert {t.removeprefix("assets/") for t in f.tokenizers.values()} <= set(MAXTEXT["assets"])
        assert f.command[2] in MAXTEXT["modules"] and f.command[3].removeprefix("MaxText/configs/") == "base.yml"
        for m in ("MaxText.llama_or_mistral_ckpt", "MaxText.generate_param_only_checkpoint"):
            assert m in MAXTEXT["modules"]
        assert "--huggingface-checkpoint" in MAXTEXT["converter_flags"]
        # every family tpustack converts from Hugging Face has its sizes in the converter's table
        for name in f.model_names:
            family = name.rsplit("-", 1)[0]
            if images.MAXTEXT_FAMILIES.get(family, ("", False))[1]:
                assert name in MAXTEXT["converter_model_sizes"], name
        for key in ("force_unroll", "opt_type", "base_output_directory", "run_name", "load_parameters_path"):
            assert key in MAXTEXT["base_yml_keys"]

    def test_benchmark_facts(self):
        f = images.JETSTREAM_ENGINE
        assert f.bench_flags <= set(JETSTREAM["bench_flags"]), sorted(f.bench_flags - set(JETSTREAM["bench_flags"]))
        assert set(f.datasets) <= set(JETSTREAM["datasets"])
        assert "none" in JETSTREAM["warmup_modes"] and JETSTREAM["has_benchmarks_package"]
        assert {"prompt", "generated_text", "latency_sec", "ttft_sec", "success"} <= set(
            JETSTREAM["request_output_keys"]
        )
        assert "HealthCheck" in JETSTREAM["grpc_methods"]

    def test_the_pypi_release_lacks_what_the_stack_needs(self):
        """Why the client is not google-jetstream from PyPI: its newest release (0.2.2) lacks these flags."""
        wheel = artifacts.Archive(artifacts.pypi_file("google-jetstream", "0.2.2", "bdist_wheel"))
        flags = artifacts.add_argument_flags(wheel.read("benchmarks/benchmark_serving.py"))
        assert {"--warmup-mode", "--max-input-length", "--prefix-cache-test-common-len"} - flags


# ----- the rendered stacks use only what the facts list -------------------------------------------------------------
def _containers(obj: dict) -> list[dict]:
    return [c for _, pod in objects.pod_specs(obj) for c in objects.containers(pod)]


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_every_image_has_facts_and_every_flag_is_in_them(stack):
    r = rendered(stack)
    for obj in r.objects():
        for c in _containers(obj):
            facts = images.facts_for(c["image"])
            assert facts is not None, f"{stack}: {c['image']} has no entry in tpustack.core.images"
            args = [a for a in c.get("args", []) if isinstance(a, str)]
            if facts is images.JETSTREAM_ENGINE and c["name"] == "maxengine-server":
                keys = {a.split("=", 1)[0] for a in args}
                assert keys <= facts.flags, sorted(keys - facts.flags)
            elif facts.role == "engine" and facts.command[:1] == ("vllm",) and c["name"] != "stage":
                # (the staging Job runs tpustack's pod code in the engine's image: its flags are its own)
                used = {a.split("=", 1)[0] for a in args if a.startswith("--")}
                assert used <= facts.flags, sorted(used - facts.flags)
            # env the image reads, probe paths it serves, ports it listens on: all from its facts
            env = {e["name"] for e in c.get("env", [])}
            # (the server containers; Jobs and the initContainer set variables of tpustack's own scripts)
            if c["name"] in ("vllm", "vllm-leader", "vllm-worker", "maxengine-server", "jetstream-http"):
                assert env <= facts.env, f"{stack} {c['name']}: {sorted(env - facts.env)} not in the facts"
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                get = (c.get(probe) or {}).get("httpGet")
                if get and c["name"] != "maxengine-server":  # its probes ask jetstream-http, in the same pod
                    assert get["path"] in facts.endpoints.values(), (stack, c["name"], get["path"])
                    assert get["port"] in facts.ports.values(), (stack, c["name"], get["port"])
            if c["name"] == "maxengine-server":
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    get = c[probe]["httpGet"]
                    assert get["path"] == images.JETSTREAM_HTTP.endpoints["health"]
                    assert get["port"] == images.JETSTREAM_HTTP.ports["http"]
            for port in c.get("ports", []):
                if facts.role in ("engine", "frontend"):
                    assert port["containerPort"] in facts.ports.values(), (stack, c["name"], port)


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_the_benchmark_command_uses_only_known_flags(stack, tmp_path):
    r = rendered(stack)
    specs = [
        json.loads(v)
        for o in r.objects()
        if o["kind"] == "ConfigMap"
        for k, v in o.get("data", {}).items()
        if k.endswith(".json") and '"tool_command"' in v
    ]
    if not specs:
        pytest.skip(f"{stack} has no benchmark")
    spec = specs[0]
    argv, _ = serving_bench.invocation(spec, spec["sweep"][0], tmp_path, 10, "/tmp/data.json")
    tool = spec["tool"]
    facts = {"vllm-bench": images.VLLM_TPU, "jetstream-benchmark": images.JETSTREAM_ENGINE}.get(tool)
    if facts is None:
        assert argv[-2] == "--config_file" and "--config_file" in images.INFERENCE_PERF.flags
        return
    n = len(facts.bench_command)
    assert argv[:n] == list(facts.bench_command)
    used = {a for a in argv[n:] if a.startswith("--")}
    assert used <= facts.bench_flags, sorted(used - facts.bench_flags)
    if tool == "jetstream-benchmark":
        assert argv[argv.index("--tokenizer") + 1].removeprefix("/deps/assets/") in MAXTEXT["assets"]
        assert argv[argv.index("--dataset") + 1] in JETSTREAM["datasets"]


def test_every_shipped_stack_is_covered():
    assert set(GKE_STACKS) <= set(STACKS) and PROJECT is not None and render is not None
