"""Rules about what the stack serves and how it is benchmarked: engine, model and benchmark settings. They hold
for the stack as a whole (every unit runs the same engine, model and load), so each problem is reported once.
Engine facts come from the registry (tpustack.core.engines), tool facts from the benchmark-tool registry."""

from __future__ import annotations

from collections.abc import Iterator

from tpustack.core import engines, images, names
from tpustack.core.engines import EngineName
from tpustack.core.errors import Problem, problem
from tpustack.workloads import tools

from .. import derived
from ..model import StackConfig


def tpu_vm_runs_workloads_not_engines(c: StackConfig) -> Iterator[Problem]:
    if c.target == "tpu-vm" and c.engine is not None:
        yield problem(
            "tpustack:engine",
            "serving engines run on GKE; a tpu-vm stack runs a workload (tpustack:workload)",
            "remove tpustack:engine or set tpustack:target to gke",
        )


def engine_settings_match_engine(c: StackConfig) -> Iterator[Problem]:
    e = c.engine
    if e is None:
        return
    if e.name is EngineName.JETSTREAM_MAXTEXT and e.vllm is not None:
        yield problem(
            "tpustack:engine.vllm",
            "vLLM settings on a JetStream engine",
            "move them to tpustack:engine.maxtext or set engine.name vllm",
        )
    if e.name is EngineName.VLLM and e.maxtext is not None:
        yield problem(
            "tpustack:engine.maxtext",
            "MaxText settings on a vLLM engine",
            "move them to tpustack:engine.vllm or set engine.name jetstream-maxtext",
        )


def engine_has_model(c: StackConfig) -> Iterator[Problem]:
    if c.engine is not None and c.model is None:
        yield problem(
            "tpustack:model", "an engine needs a model to serve", "set tpustack:model.id and tpustack:model.paramsB"
        )


def jetstream_http_port(c: StackConfig) -> Iterator[Problem]:
    e = c.engine
    if e is not None and e.name is EngineName.JETSTREAM_MAXTEXT and e.port != engines.JETSTREAM_HTTP_PORT:
        yield problem(
            "tpustack:engine.port",
            f"jetstream-http listens on {engines.JETSTREAM_HTTP_PORT} (its image's command), not {e.port}",
            f"set engine.port {engines.JETSTREAM_HTTP_PORT} or remove it",
        )


def model_facts_known(c: StackConfig) -> Iterator[Problem]:
    """The model's config.json was read and understood, or the stack states what tpustack cannot plan without
    (tpustack.config.served)."""
    if c.served is not None and c.served.problem is not None and not c.served.withheld:
        yield c.served.problem


def _maxtext_model(c: StackConfig) -> str | None:
    """The MaxText model name of a JetStream stack (None for other engines or when none is known)."""
    if c.engine is None or c.engine.name is not EngineName.JETSTREAM_MAXTEXT or c.served is None:
        return None
    return c.served.maxtext


def maxtext_needs_model_name(c: StackConfig) -> Iterator[Problem]:
    e, m = c.engine, c.served
    if e is not None and e.name is EngineName.JETSTREAM_MAXTEXT and m is not None and not m.maxtext:
        yield problem(
            "tpustack:model.maxtextName",
            "JetStream MaxText needs the MaxText model name for checkpoint conversion",
            "set it, e.g. llama3.1-8b or gemma-7b",
        )


def maxtext_model_is_convertible(c: StackConfig) -> Iterator[Problem]:
    """The model name exists in the pinned MaxText, and a Hugging Face model is one its converter takes."""
    name = _maxtext_model(c)
    if name is None or c.model is None:
        return
    facts = images.JETSTREAM_ENGINE
    if name not in facts.model_names:
        yield problem(
            "tpustack:model.maxtextName",
            f"MaxText at {images.MAXTEXT_REF[:8]} (tpu-recipes-v0.1.4) has no model '{name}' "
            "(MaxText/pyconfig.py validate_model_name)",
            f"use one of {', '.join(sorted(facts.model_names))}",
        )
        return
    family = derived.maxtext_family(c) or ""
    known = images.MAXTEXT_FAMILIES.get(family)
    if known is None:
        yield problem(
            "tpustack:model.maxtextName",
            f"tpustack knows no tokenizer for MaxText family '{family}'",
            f"use one of {', '.join(k + '-<size>' for k in images.MAXTEXT_FAMILIES)}",
        )
    elif c.model.source == "huggingface" and not known[1]:
        yield problem(
            "tpustack:model.id",
            f"MaxText converts {family} checkpoints with a separate converter, not llama_or_mistral_ckpt from "
            "Hugging Face safetensors",
            "convert it yourself and set model.id to the gs:// path of the unscanned MaxText checkpoint "
            "(.../checkpoints/0/items)",
        )


def context_fits_model(c: StackConfig) -> Iterator[Problem]:
    """The engine's context must not exceed the model's (vLLM refuses to start; MaxText extrapolates)."""
    if c.engine is None or c.served is None or not c.served.known:
        return
    limit = c.served.context
    settings = c.engine.settings
    asked = settings.context_tokens
    if asked > limit:
        yield problem(
            f"tpustack:engine.{c.engine.record.settings_key}.{settings.CONTEXT_KEY}",
            f"{asked} tokens exceed {c.served.id}'s context of {limit} ("
            + (
                "tpustack:model.contextLength"
                if c.model and c.model.context_length
                else "its config.json max_position_embeddings"
            )
            + ")",
            f"set it to {limit} or less",
        )


def weights_outside_the_results_bucket(c: StackConfig) -> Iterator[Problem]:
    """Reading weights from the results bucket would need read access to all of it: every stack's results."""
    uri = c.model.weights_uri if c.model else None
    if c.model is None or uri is None:
        return
    bucket = names.gcs_split(uri)[0]
    if bucket == c.results_bucket:
        key = "tpustack:model.stage" if c.model.stage else "tpustack:model.id"
        yield problem(
            key,
            f"{uri} is in the results bucket, which every experiment of the project shares; reading the "
            "weights there would need read access to every stack's results",
            f"keep the weights in a bucket of their own (e.g. gs://WEIGHTS-BUCKET/{names.gcs_split(uri)[1]})",
        )


def weight_path_fits_model(c: StackConfig) -> Iterator[Problem]:
    """model.weights chooses how vLLM reads a gs:// model (tpustack.core.weights): nothing to choose for a Hugging
    Face id (downloaded from the Hub) or for JetStream (MaxText loads its own checkpoint from gs://)."""
    m = c.model
    if m is None or m.weights is None:
        return
    if m.weights_uri is None:
        yield problem(
            "tpustack:model.weights",
            f"{m.weights} reads weights from gs://; {m.id} is a Hugging Face id, downloaded from the Hub",
            "stage them in a bucket (model.stage gs://BUCKET/PATH), or remove model.weights",
        )
    else:
        yield from _vllm_only(
            c,
            "tpustack:model.weights",
            "loads its MaxText checkpoint from gs:// itself; model.weights chooses how vLLM reads a gs:// model",
        )


def stage_fits_model(c: StackConfig) -> Iterator[Problem]:
    """model.stage copies a Hub model's weights into GCS for vLLM (tpustack.workloads.stage_weights)."""
    m = c.model
    if m is None or m.stage is None:
        return
    if m.source == "gcs":
        yield problem(
            "tpustack:model.stage",
            f"{m.id} is already in GCS; staging copies a Hugging Face model there",
            "remove model.stage",
        )
    else:
        yield from _vllm_only(
            c, "tpustack:model.stage", "converts the Hugging Face checkpoint into its own MaxText checkpoint in GCS"
        )


def _vllm_only(c: StackConfig, key: str, why: str) -> Iterator[Problem]:
    """A model setting only vLLM reads, on a stack serving another engine: ``why`` says what that engine does."""
    if c.engine is not None and c.engine.name is not EngineName.VLLM:
        yield problem(
            key,
            f"{c.engine.name.value} {why}",
            f"remove {key.removeprefix('tpustack:')} (or serve the model with engine.name vllm)",
        )


def gated_model_has_token(c: StackConfig) -> Iterator[Problem]:
    if c.served is not None and c.served.gated and c.hf_token is None:
        yield problem(
            "tpustack:hfToken",
            f"{c.served.id} is downloaded from Hugging Face and marked gated, but no token is set",
            "pulumi config set --secret tpustack:hfToken hf_... (or set model.gated false for a public model)",
        )


# ----- benchmark --------------------------------------------------------------------------------------------------
def benchmark_needs_engine(c: StackConfig) -> Iterator[Problem]:
    if c.benchmark is not None and c.engine is None:
        yield problem(
            "tpustack:benchmark",
            "a serving benchmark needs a serving engine",
            "set tpustack:engine, or remove tpustack:benchmark",
        )


def benchmark_tool_drives_engine(c: StackConfig) -> Iterator[Problem]:
    if c.benchmark is None or c.engine is None:
        return
    tool, engine = c.benchmark_tool, c.engine.name
    drivers = [str(t.name) for t in tools.tools_for(engine)]
    if tool not in drivers:
        yield problem(
            "tpustack:benchmark.tool",
            f"{tool} cannot drive {engine}'s API",
            f"use one of {', '.join(drivers)} for {engine}",
        )


def benchmark_load_fits_tool(c: StackConfig) -> Iterator[Problem]:
    b, tool = c.benchmark, c.benchmark_tool
    if b is None or c.engine is None or tool is None:
        return
    facts = tools.tool(tool).facts
    if b.dataset not in facts.datasets:
        yield problem(
            "tpustack:benchmark.dataset",
            f"{tool} has no '{b.dataset}' dataset",
            f"use one of {', '.join(facts.datasets)}",
        )
    if b.max_concurrency and not facts.concurrency_limit:
        yield problem(
            "tpustack:benchmark.maxConcurrency",
            f"{tool} has no concurrency limit flag",
            "sweep requestRates instead, or use another engine",
        )
    if b.burstiness != 1.0 and not b.max_concurrency and not facts.burstiness:
        gamma = [str(t.name) for t in tools.TOOLS.values() if t.facts.burstiness]
        yield problem(
            "tpustack:benchmark.burstiness",
            f"{tool} only sends Poisson arrivals (burstiness 1)",
            f"set burstiness to 1, or use {' or '.join(gamma)} for gamma arrivals",
        )


def eos_setting_is_what_the_tool_does(c: StackConfig) -> Iterator[Problem]:
    b, tool = c.benchmark, c.benchmark_tool
    if b is None or c.engine is None or tool is None or b.ignore_eos or b.dataset != "random":
        return
    facts = tools.tool(tool).facts
    if facts.ignores_eos_on_random:
        yield problem(
            "tpustack:benchmark.ignoreEos",
            f"{tool} {facts.version} always ignores end-of-sequence on the random dataset "
            "(vllm/benchmarks/serve.py), so false would be recorded but not done",
            "set ignoreEos true, or use dataset sharegpt for natural stop lengths",
        )
