"""Typed stack config: the one gate between a stack file and any resource.

``stacks/Pulumi.<stack>.yaml`` holds keys under the ``tpustack:`` namespace; ``load_config`` turns them into a
frozen ``StackConfig`` or raises ``ConfigError`` listing every problem as ``key: reason. Fix: ...``. Nothing
in ``components/`` reads Pulumi config any other way, so nothing is declared from unvalidated input.

Cross-field rules (accelerator vs target, capacity matrix, model fit, tensor parallelism, secrets) live in
``StackConfig._cross_checks``; the capacity rules follow cluster-toolkit ``modules/compute/gke-node-pool``.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from . import catalog
from .catalog import Accelerator, GpuShape, TpuShape
from .errors import ConfigError, TpuStackError, problem

NAMESPACE = "tpustack"
DATA = Path(__file__).parent / "data"

# Pinned default images (never `latest`): the engine's own published images.
# vllm/vllm-tpu and vllm/vllm-openai are the images vLLM's docs deploy on TPU and GPU.
DEFAULT_IMAGES = {
    ("vllm", "tpu"): "docker.io/vllm/vllm-tpu:v0.11.1",
    ("vllm", "gpu"): "docker.io/vllm/vllm-openai:v0.11.1",
    # kubernetes-engine-samples ai-ml/llm-serving-tpus-jetstream
    ("jetstream-maxtext", "tpu"): "us-docker.pkg.dev/cloud-tpu-images/inference/maxengine-server:v0.2.2",
}

BYTES_PER_PARAM = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}

_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


class _Model(BaseModel):
    """Strict base: unknown keys are errors (typos never pass silently); camelCase keys as in Pulumi."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


class AcceleratorConfig(_Model):
    """What to run on: a catalog name, optionally with the topology / machine type spelled out."""

    type: str
    topology: str | None = None
    machine_type: str | None = None

    @field_validator("type")
    @classmethod
    def _known(cls, v: str) -> str:
        if catalog.lookup(v) is None:
            close = catalog.suggestions(v)
            hint = f"did you mean {', '.join(close)}?" if close else "see `tpustack catalog`"
            raise ValueError(
                f"unknown accelerator '{v}'. Fix: use a catalog name such as v6e-8, v5litepod-4, "
                f"v5p-16, tpu7x-8, l4-1, h100-8 ({hint})"
            )
        return v.strip().lower()


class CapacityConfig(_Model):
    """How the chips are obtained. Rules: cluster-toolkit gke-node-pool and the Cloud TPU docs."""

    type: Literal["on-demand", "spot", "reservation", "flex-start", "queued"] = "on-demand"
    # A reservation name, or projects/P/reservations/R for a shared reservation.
    reservation: str | None = None
    # Node auto-repair; None means "the right default for the capacity type" (off for flex-start).
    auto_repair: bool | None = None


class ModelConfig(_Model):
    id: str  # Hugging Face repo id (org/name) or gs://bucket/path
    params_b: float = Field(gt=0, le=2000)  # parameters, in billions
    dtype: Literal["float32", "bfloat16", "float16", "fp8", "int8", "int4"] = "bfloat16"
    # Whether downloading needs a Hugging Face token. Default: yes for Hugging Face ids (Llama, Gemma...).
    gated: bool | None = None
    # Weights x headroom must fit the replica's HBM: room for KV cache and activations.
    hbm_headroom: float = Field(default=1.2, ge=1.0, le=4.0)
    # MaxText checkpoint conversion needs the MaxText model name (e.g. llama3.1-8b).
    maxtext_name: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if v.startswith("gs://"):
            if len(v) <= 5:
                raise ValueError("empty gs:// path. Fix: gs://BUCKET/PATH/TO/WEIGHTS")
            return v
        if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", v):
            raise ValueError(
                f"'{v}' is neither a Hugging Face repo id (org/name) nor a gs:// path. "
                "Fix: e.g. meta-llama/Llama-3.1-8B-Instruct or gs://my-bucket/llama-3.1-8b"
            )
        return v

    @property
    def source(self) -> Literal["huggingface", "gcs"]:
        return "gcs" if self.id.startswith("gs://") else "huggingface"

    @property
    def needs_token(self) -> bool:
        if self.source == "gcs":
            return False
        return True if self.gated is None else self.gated

    @property
    def weights_gib(self) -> float:
        return self.params_b * 1e9 * BYTES_PER_PARAM[self.dtype] / catalog.GIB


class VllmConfig(_Model):
    """vLLM engine arguments (`vllm serve` flags of the same names)."""

    max_model_len: int = Field(default=4096, ge=128)
    max_num_seqs: int | None = Field(default=None, ge=1)
    max_num_batched_tokens: int | None = Field(default=None, ge=1)
    enable_prefix_caching: bool = True
    quantization: str | None = None
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    extra_args: list[str] = Field(default_factory=list)

    @field_validator("extra_args")
    @classmethod
    def _no_shadowing(cls, v: list[str]) -> list[str]:
        owned = {"--model", "--tensor-parallel-size", "--port", "--max-model-len", "--host"}
        bad = [a for a in v if a.split("=")[0] in owned]
        if bad:
            raise ValueError(
                f"{bad} set what tpustack already sets from config. Fix: use tpustack:model.id, "
                "tpustack:engine.tensorParallel and tpustack:engine.vllm.maxModelLen instead"
            )
        return v


class MaxTextConfig(_Model):
    """JetStream MaxText engine settings (MaxText `base.yml` keys of the same names)."""

    per_device_batch_size: int = Field(default=4, ge=1)
    max_prefill_predict_length: int = Field(default=1024, ge=16)
    max_target_length: int = Field(default=2048, ge=32)
    scan_layers: bool = False
    weight_dtype: Literal["bfloat16", "float32"] = "bfloat16"

    @model_validator(mode="after")
    def _lengths(self) -> MaxTextConfig:
        if self.max_target_length <= self.max_prefill_predict_length:
            raise ValueError(
                "maxTargetLength must exceed maxPrefillPredictLength (target = prefill + decode). "
                f"Fix: set maxTargetLength above {self.max_prefill_predict_length}"
            )
        return self


class EngineConfig(_Model):
    name: Literal["vllm", "jetstream-maxtext"]
    image: str | None = None  # default: a pinned image per engine and accelerator kind
    tensor_parallel: int | None = Field(default=None, ge=1)  # default: every chip of the replica
    replicas: int = Field(default=1, ge=1, le=64)
    port: int = Field(default=8000, ge=1024, le=65535)
    vllm: VllmConfig | None = None
    maxtext: MaxTextConfig | None = None
    # TPU containers run unprivileged on GKE >= 1.28; set true only for images that still need it.
    privileged: bool = False
    # Serving knobs (components/manifests.py): ClusterIP unless a public LoadBalancer is asked for; opt-in
    # HPA on the engine's queue metric (needs the Custom Metrics Stackdriver Adapter in the cluster); the
    # XLA compile cache in the results bucket (GCS FUSE) so restarts skip recompiles; seconds a pod keeps
    # serving in-flight requests after removal from the Service; startup budget (default: from weights).
    service_type: Literal["ClusterIP", "LoadBalancer"] = "ClusterIP"
    hpa_max_replicas: int | None = Field(default=None, ge=1, le=64)
    hpa_queue_target: float = Field(default=10, gt=0)
    compile_cache: bool = True
    drain_seconds: int = Field(default=30, ge=0, le=3600)
    startup_minutes: int | None = Field(default=None, ge=1, le=600)

    @field_validator("image")
    @classmethod
    def _pinned(cls, v: str | None) -> str | None:
        if v is None:
            return v
        tag = v.rsplit("/", 1)[-1]
        if "@sha256:" not in v and (":" not in tag or tag.endswith(":latest")):
            raise ValueError(
                f"image '{v}' is not pinned. Fix: use an explicit version tag or digest, "
                "e.g. docker.io/vllm/vllm-tpu:v0.11.1"
            )
        return v


class SloConfig(_Model):
    ttft_ms: float | None = Field(default=None, gt=0)
    tpot_ms: float | None = Field(default=None, gt=0)
    e2e_ms: float | None = Field(default=None, gt=0)


class BenchmarkConfig(_Model):
    """The load model of the serving benchmark; every field lands in the result metadata."""

    tool: Literal["vllm-bench", "jetstream-benchmark", "inference-perf"] | None = None
    dataset: Literal["random", "sharegpt", "sonnet"] = "random"
    input_len: int = Field(default=1024, ge=1)
    output_len: int = Field(default=128, ge=1)
    num_prompts: int = Field(default=500, ge=1)
    # Sweep: request rates (req/s; Poisson arrivals when burstiness is 1) or fixed concurrencies.
    request_rates: list[float] = Field(default_factory=lambda: [1.0, 2.0, 4.0, 8.0])
    max_concurrency: list[int] = Field(default_factory=list)
    burstiness: float = Field(default=1.0, gt=0)
    warmups: int = Field(default=10, ge=0)
    seed: int = 0
    temperature: float = Field(default=0.0, ge=0)
    ignore_eos: bool = True
    slo: SloConfig = Field(default_factory=SloConfig)

    @field_validator("request_rates")
    @classmethod
    def _rates(cls, v: list[float]) -> list[float]:
        if any(r <= 0 for r in v):
            raise ValueError("request rates must be > 0 req/s. Fix: e.g. [1, 2, 4, 8]")
        return v


class WorkloadConfig(_Model):
    """What a TPU VM (or a bare GKE pool) runs at start: a script from workloads/."""

    name: Literal["heartbeat"] = "heartbeat"
    dtype: Literal["float32", "bfloat16"] = "float32"
    iterations: int = Field(default=100, ge=1)
    shape: tuple[int, int, int] = (128, 4096, 16384)  # batch, hidden, intermediate (seed handbook part 1)


class LifecycleConfig(_Model):
    environment: Literal["experiment", "prod"] = "experiment"
    ttl_hours: float = Field(default=8, gt=0, le=24 * 31)
    keep: bool = False  # true: the reaper leaves this stack alone after its TTL
    deletion_protection: bool | None = None  # default: on for prod, off for experiments

    @property
    def protected(self) -> bool:
        if self.deletion_protection is None:
            return self.environment == "prod"
        return self.deletion_protection


class ResultsConfig(_Model):
    bucket: str | None = None  # default: <project>-tpustack-results
    # Experiments only look the bucket up (a `results` stack or a bucket you made); the results stack owns it.
    location: str | None = None  # default: the stack's region

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str | None) -> str | None:
        if v is not None and not _BUCKET_RE.fullmatch(v):
            raise ValueError(
                f"'{v}' is not a valid bucket name. Fix: 3-63 lowercase letters, digits, '-', '_' or '.'"
            )
        return v


class NetworkConfig(_Model):
    network: str = "default"
    subnetwork: str | None = None
    private_nodes: bool = False
    master_ipv4_cidr: str = "172.16.0.32/28"


class GkeConfig(_Model):
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    min_master_version: str | None = None
    system_machine_type: str = "e2-standard-4"
    system_node_count: int = Field(default=1, ge=1, le=10)
    # Autoscaling of the accelerator pool (single-host only); None: fixed size.
    autoscaling_max_nodes: int | None = Field(default=None, ge=1)


class PricesConfig(_Model):
    """Price overrides (USD/hour) for discounts or committed use; catalog prices otherwise."""

    tpu_chip_hour: dict[str, float] = Field(default_factory=dict)
    machine_hour: dict[str, float] = Field(default_factory=dict)
    discount: float = Field(default=0.0, ge=0, lt=1)


class StackConfig(_Model):
    project: str
    region: str
    zones: list[str] = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    # tpu-vm / gke: an experiment. results: the project's results bucket, in a stack experiments never destroy.
    target: Literal["tpu-vm", "gke", "results"]
    accelerator: AcceleratorConfig | None = None
    capacity: CapacityConfig = Field(default_factory=CapacityConfig)
    model: ModelConfig | None = None
    engine: EngineConfig | None = None
    workload: WorkloadConfig | None = None
    benchmark: BenchmarkConfig | None = None
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    results: ResultsConfig = Field(default_factory=ResultsConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    gke: GkeConfig = Field(default_factory=GkeConfig)
    prices: PricesConfig = Field(default_factory=PricesConfig)
    hf_token: SecretStr | None = None
    # Set by the loader, not by users: the stack name and warnings found while validating.
    stack: str = Field(default="dev", exclude=True)

    @field_validator("accelerator", mode="before")
    @classmethod
    def _accel_shorthand(cls, v: Any) -> Any:
        return {"type": v} if isinstance(v, str) else v

    @field_validator("project")
    @classmethod
    def _project(cls, v: str) -> str:
        if not _PROJECT_RE.fullmatch(v):
            raise ValueError(
                f"'{v}' is not a GCP project id (6-30 chars: lowercase letters, digits, hyphens; starts "
                "with a letter). Fix: `gcloud projects list` shows yours"
            )
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for k, val in v.items():
            if not _LABEL_KEY_RE.fullmatch(k) or not _LABEL_VALUE_RE.fullmatch(str(val)):
                raise ValueError(
                    f"label {k}={val} breaks GCP label rules. Fix: lowercase letters, digits, '_' and '-', "
                    "keys start with a letter, at most 63 characters"
                )
        return v

    # ----- derived facts, used by every component ----------------------------------------------------
    @cached_property
    def shape(self) -> Accelerator:
        if self.accelerator is None:
            raise TpuStackError(f"stack {self.stack} (target {self.target}) has no accelerator")
        shape = catalog.lookup(self.accelerator.type)
        assert shape is not None  # guaranteed by AcceleratorConfig._known
        return shape

    @property
    def is_experiment(self) -> bool:
        return self.target != "results"

    @property
    def zone(self) -> str:
        return self.zones[0]

    @property
    def tensor_parallel(self) -> int:
        if self.engine and self.engine.tensor_parallel:
            return self.engine.tensor_parallel
        return self.shape.chips

    @property
    def engine_image(self) -> str | None:
        if self.engine is None:
            return None
        return self.engine.image or DEFAULT_IMAGES[(self.engine.name, self.shape.kind)]

    @property
    def benchmark_tool(self) -> str | None:
        if self.benchmark is None or self.engine is None:
            return None
        if self.benchmark.tool:
            return self.benchmark.tool
        return "vllm-bench" if self.engine.name == "vllm" else "jetstream-benchmark"

    @property
    def results_bucket(self) -> str:
        return self.results.bucket or f"{self.project}-tpustack-results"

    @property
    def replicas(self) -> int:
        return self.engine.replicas if self.engine else 1

    @property
    def auto_repair(self) -> bool:
        if self.capacity.auto_repair is not None:
            return self.capacity.auto_repair
        return self.capacity.type != "flex-start"

    @cached_property
    def warnings(self) -> list[str]:
        out: list[str] = []
        if not self.is_experiment:
            return out
        table = yaml.safe_load((DATA / "zones.yaml").read_text())
        offered = table["zones"].get(self.shape.family, [])
        for z in self.zones:
            if z not in offered:
                out.append(
                    f"tpustack:zones: {self.shape.family} was not listed in {z} as of {table['as_of']} "
                    f"(listed: {', '.join(offered) or 'none'}); check `gcloud compute tpus accelerator-types "
                    f"list --zone={z}` before `pulumi up`"
                )
        if self.target == "tpu-vm" and self.capacity.type == "queued":
            out.append(
                "tpustack:capacity.type: pulumi-gcp's tpu.V2QueuedResource node spec has no metadata, "
                "service account or labels, so the startup workload cannot be attached to a queued TPU VM; "
                "run it by hand over ssh once the queued resource is ACTIVE"
            )
        return out

    # ----- cross-field rules --------------------------------------------------------------------------
    @model_validator(mode="after")
    def _cross_checks(self) -> StackConfig:
        problems = list(_cross_problems(self))
        if problems:
            raise ValueError("\n".join(problems))
        return self


def _cross_problems(c: StackConfig):
    if c.target == "results":
        extra = [k for k in ("accelerator", "model", "engine", "workload", "benchmark") if getattr(c, k)]
        for k in extra:
            yield problem(f"tpustack:{k}", "a results stack only owns the results bucket",
                          f"remove tpustack:{k}, or set tpustack:target to gke / tpu-vm for an experiment")
        return
    if c.accelerator is None:
        yield problem("tpustack:accelerator", f"a {c.target} stack needs an accelerator",
                      "set it to a catalog name, e.g. v6e-8, v5litepod-1 or h100-8 (`tpustack catalog`)")
        return
    a = c.accelerator
    shape = c.shape
    is_tpu = isinstance(shape, TpuShape)

    # -- accelerator: topology and machine type must agree with the catalog name
    if a.topology is not None:
        if not is_tpu:
            yield problem("tpustack:accelerator.topology", f"{shape.name} is a GPU machine and has no TPU "
                          "topology", "remove accelerator.topology")
        elif a.topology != shape.topology:
            other = catalog.tpu_shape(shape.family, a.topology)
            fix = (f"use accelerator.type {other.name} for topology {a.topology}" if other else
                   f"valid {shape.family} topologies: " + ", ".join(
                       shape.generation.single_host_topologies + shape.generation.multi_host_topologies))
            yield problem("tpustack:accelerator.topology",
                          f"{shape.name} is topology {shape.topology} ({shape.chips} chips), not {a.topology}",
                          fix)
    if a.machine_type is not None and a.machine_type != shape.machine_type:
        other = catalog.by_machine_type(a.machine_type)
        held = f"{a.machine_type} holds {other.chips_per_host} chips per host" if other else \
            f"{a.machine_type} is not a machine type tpustack knows"
        yield problem("tpustack:accelerator.machineType",
                      f"{held}, but {shape.name} needs {shape.machine_type} ({shape.chips_per_host} per host)",
                      f"remove machineType or set it to {shape.machine_type}")

    # -- zones belong to the region
    for z in c.zones:
        if not z.startswith(c.region + "-"):
            yield problem("tpustack:zones", f"zone {z} is not in region {c.region}",
                          f"use zones of {c.region} (e.g. {c.region}-a) or change tpustack:region")

    # -- target vs accelerator vs engine
    if c.target == "tpu-vm":
        if not is_tpu:
            yield problem("tpustack:target", f"tpu-vm creates a Cloud TPU VM, but {shape.name} is a GPU",
                          "set tpustack:target to gke for GPU accelerators")
        elif not shape.runtime_version:
            yield problem("tpustack:target", f"the Cloud TPU API does not offer {shape.family} as a TPU VM "
                          "(GKE only, cloud.google.com/tpu/docs/runtimes)", "set tpustack:target to gke")
        if c.engine is not None:
            yield problem("tpustack:engine", "serving engines run on GKE; a tpu-vm stack runs a workload "
                          "(tpustack:workload)", "remove tpustack:engine or set tpustack:target to gke")
        if len(c.zones) != 1:
            yield problem("tpustack:zones", "a TPU VM lives in exactly one zone",
                          f"list one zone, e.g. [{c.zones[0]}]")
    if c.engine is not None:
        if c.engine.name == "jetstream-maxtext":
            if not is_tpu:
                yield problem("tpustack:engine.name", f"JetStream MaxText runs on TPUs only, not {shape.name}",
                              "use engine vllm on GPUs, or a TPU accelerator")
            elif shape.multi_host:
                yield problem("tpustack:engine.name", f"JetStream MaxText serving here is single-host; "
                              f"{shape.name} spans {shape.hosts} hosts (multi-host JetStream needs Pathways)",
                              "pick a single-host shape (e.g. v5litepod-8, v6e-8) or engine vllm")
            if c.engine.vllm is not None:
                yield problem("tpustack:engine.vllm", "vLLM settings on a JetStream engine",
                              "move them to tpustack:engine.maxtext or set engine.name vllm")
            if c.model is not None and not c.model.maxtext_name:
                yield problem("tpustack:model.maxtextName", "JetStream MaxText needs the MaxText model name "
                              "for checkpoint conversion", "set it, e.g. llama3.1-8b or gemma-7b")
        if c.engine.name == "vllm" and c.engine.maxtext is not None:
            yield problem("tpustack:engine.maxtext", "MaxText settings on a vLLM engine",
                          "move them to tpustack:engine.vllm or set engine.name jetstream-maxtext")
        if c.model is None:
            yield problem("tpustack:model", "an engine needs a model to serve",
                          "set tpustack:model.id and tpustack:model.paramsB")
    if c.benchmark is not None and c.engine is None:
        yield problem("tpustack:benchmark", "a serving benchmark needs a serving engine",
                      "set tpustack:engine, or remove tpustack:benchmark")
    if c.benchmark is not None and c.engine is not None and c.benchmark.tool:
        compatible = {"vllm": {"vllm-bench", "inference-perf"},
                      # inference-perf's model servers: vllm, sglang, tgi (kubernetes-sigs/inference-perf
                      # docs/config.md, server.type): no JetStream.
                      "jetstream-maxtext": {"jetstream-benchmark"}}[c.engine.name]
        if c.benchmark.tool not in compatible:
            yield problem("tpustack:benchmark.tool", f"{c.benchmark.tool} cannot drive {c.engine.name}",
                          f"use one of {sorted(compatible)}")

    # -- tensor parallelism: the pod takes every chip of its host(s), so TP spans all of them
    if c.engine is not None and c.engine.tensor_parallel is not None and c.engine.tensor_parallel != shape.chips:
        yield problem("tpustack:engine.tensorParallel",
                      f"{c.engine.tensor_parallel} does not match the {shape.chips} chips of one {shape.name} "
                      "replica (each serving pod requests every chip of its node, GKE's rule for TPU slices)",
                      f"set tensorParallel to {shape.chips} or remove it, or pick the accelerator with "
                      f"{c.engine.tensor_parallel} chips")

    # -- capacity rule matrix (cluster-toolkit gke-node-pool, Cloud TPU docs)
    cap = c.capacity
    if cap.type == "reservation" and not cap.reservation:
        yield problem("tpustack:capacity.reservation", "capacity type reservation needs the reservation name",
                      "set capacity.reservation (a name, or projects/P/reservations/R when shared); "
                      "`gcloud compute reservations list` shows them")
    if cap.reservation and cap.type != "reservation":
        yield problem("tpustack:capacity.reservation",
                      f"{cap.type} capacity cannot consume a reservation (flex-start and queued provisioning "
                      "exclude reservations; spot and on-demand do not target one)",
                      "set capacity.type to reservation, or remove capacity.reservation")
    if cap.type == "flex-start" and cap.auto_repair:
        yield problem("tpustack:capacity.autoRepair", "flex-start nodes cannot be auto-repaired (GKE recreates "
                      "them outside the flex-start request)", "remove capacity.autoRepair or set it false")
    if cap.type == "flex-start" and c.target == "tpu-vm":
        yield problem("tpustack:capacity.type", "flex-start TPU VMs need a queued resource with a provisioning "
                      "model, and pulumi-gcp's tpu.V2QueuedResource has no such field",
                      "use target gke (flex-start node pool), or spot / on-demand / queued on tpu-vm")
    if c.gke.autoscaling_max_nodes is not None:
        if shape.multi_host:
            yield problem("tpustack:gke.autoscalingMaxNodes", f"{shape.name} is a multi-host slice; its pool is "
                          f"fixed at {shape.hosts} nodes (a partial slice cannot run)",
                          "remove gke.autoscalingMaxNodes; scale by adding replicas")
        elif c.gke.autoscaling_max_nodes < c.replicas * shape.hosts:
            yield problem("tpustack:gke.autoscalingMaxNodes",
                          f"{c.gke.autoscaling_max_nodes} nodes cannot hold {c.replicas} replicas",
                          f"set it to at least {c.replicas * shape.hosts}")
    if is_tpu and shape.multi_host and c.target == "gke" and len(c.zones) != 1:
        yield problem("tpustack:zones", f"{shape.name} is multi-host and uses COMPACT placement, which needs a "
                      "single zone", f"list one zone, e.g. [{c.zones[0]}]")
    if c.replicas > 1 and shape.multi_host:
        # A GKE multi-host TPU node pool holds exactly one slice (node count = hosts of the topology).
        yield problem("tpustack:engine.replicas", f"{shape.name} is a multi-host slice and a GKE TPU node pool "
                      "holds exactly one slice", "use replicas 1 here and a second stack for another slice")

    # -- model must fit the HBM of one serving replica
    if c.model is not None:
        need = c.model.weights_gib * c.model.hbm_headroom
        have = shape.total_hbm_gib
        if need > have:
            bigger = _smallest_fitting(shape, need)
            fix = (f"use {bigger} ({catalog.lookup(bigger).total_hbm_gib:.0f} GiB)" if bigger else
                   "use a larger accelerator family")
            yield problem("tpustack:model.paramsB",
                          f"{c.model.params_b}B params x {c.model.dtype} = {c.model.weights_gib:.1f} GiB of "
                          f"weights, x{c.model.hbm_headroom} headroom = {need:.1f} GiB > {have:.0f} GiB HBM of "
                          f"{shape.name}",
                          f"{fix}, quantize (model.dtype int8/fp8) or lower model.hbmHeadroom")

    # -- secrets: the token is a Pulumi secret, and gated models need it
    if c.model is not None and c.model.needs_token and c.hf_token is None:
        yield problem("tpustack:hfToken", f"{c.model.id} is downloaded from Hugging Face and marked gated, "
                      "but no token is set", "pulumi config set --secret tpustack:hfToken hf_... "
                      "(or set model.gated false for a public model)")


def _smallest_fitting(shape: Accelerator, need_gib: float) -> str | None:
    fits = [s for s in catalog.CATALOG.values()
            if s.family == shape.family and s.total_hbm_gib >= need_gib]
    fits.sort(key=lambda s: (s.chips, s.name))
    return fits[0].name if fits else None


# ----- loading ---------------------------------------------------------------------------------------
def _parse_value(v: Any) -> Any:
    """Pulumi hands structured config to programs as JSON strings."""
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def _loc(loc: tuple) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-"))]
    return f"{NAMESPACE}:" + ".".join(parts) if parts else NAMESPACE


def load_config(values: dict[str, Any], secret_keys: set[str] | frozenset = frozenset(),
                stack: str = "dev") -> StackConfig:
    """Validate a stack's Pulumi config (``{"tpustack:key": value}``) into a StackConfig.

    Raises ConfigError listing every problem; nothing else in tpustack reads config.
    """
    problems: list[str] = []
    data: dict[str, Any] = {}
    fields = {f.alias or n: n for n, f in StackConfig.model_fields.items() if n != "stack"}
    for key, raw in values.items():
        ns, _, name = key.partition(":")
        if ns != NAMESPACE:
            continue
        if name not in fields:
            close = __import__("difflib").get_close_matches(name, list(fields), n=3)
            problems.append(problem(key, "is not a tpustack setting",
                                    f"use one of {', '.join(close) if close else ', '.join(sorted(fields))}"))
            continue
        data[name] = _parse_value(raw)
    token_key = f"{NAMESPACE}:hfToken"
    if token_key in values and token_key not in secret_keys:
        problems.append(problem(token_key, "is stored as plain text in the stack file",
                                "pulumi config rm tpustack:hfToken && pulumi config set --secret "
                                "tpustack:hfToken hf_..."))
    gcp_project = values.get("gcp:project")
    if gcp_project and data.get("project") and gcp_project != data["project"]:
        problems.append(problem("gcp:project", f"'{gcp_project}' differs from tpustack:project "
                                f"'{data['project']}'", "make them equal or remove gcp:project"))
    if problems:
        raise ConfigError(problems, stack)
    try:
        cfg = StackConfig.model_validate({**data, "stack": stack})
    except ValidationError as e:
        raise ConfigError(_format_errors(e), stack) from None
    return cfg


def _format_errors(e: ValidationError) -> list[str]:
    out = []
    for err in e.errors(include_url=False):
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "value_error" and not err["loc"]:
            out.extend(msg.split("\n"))  # cross-field problems already name their key
            continue
        where = _loc(err["loc"])
        if err["type"] == "extra_forbidden":
            known = _known_keys(err["loc"][:-1])
            close = __import__("difflib").get_close_matches(str(err["loc"][-1]), known, n=3)
            msg = (f"is not a known setting. Fix: use one of {', '.join(close or known)} "
                   "(README 'Stack config' lists every key)")
        elif err["type"] == "missing":
            msg = "is required. Fix: add it to the stack file (see stacks/ for examples)"
        elif err["type"] == "literal_error":
            msg = f"{msg}. Fix: use one of the listed values" if "Fix:" not in msg else msg
        elif "Fix:" not in msg:
            bounds = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}
            ctx = err.get("ctx") or {}
            wanted = [f"{bounds[k]} {ctx[k]}" for k in bounds if k in ctx]
            fix = f"set a value {' and '.join(wanted)}" if wanted else f"give a value that satisfies: {msg}"
            msg = f"{msg} (got {err.get('input')!r}). Fix: {fix}"
        out.append(f"{where}: {msg}")
    return out


def _known_keys(loc: tuple) -> list[str]:
    """The camelCase keys valid at a config path (for 'did you mean' on typos in nested settings)."""
    model: Any = StackConfig
    for part in loc:
        if isinstance(part, int) or not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return []
        ann = field.annotation
        args = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        model = args[0] if args else ann
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(f.alias or n for n, f in model.model_fields.items())
    return []


def pulumi_config_values() -> tuple[dict[str, Any], set[str]]:
    """Every config value and secret key the Pulumi runtime holds (CLI run or mock engine)."""
    from pulumi.runtime import config as rc

    values = {**rc.get_config_env(), **rc.CONFIG.get()}
    secrets = set(rc.get_config_secret_keys_env()) | {k for k in values if rc.is_config_secret(k)}
    return values, secrets


def from_pulumi() -> StackConfig:
    import pulumi

    values, secrets = pulumi_config_values()
    return load_config(values, secrets, stack=pulumi.get_stack())
