"""The typed stack config: pydantic models of everything under ``tpustack:`` in a stack file.

Field-level rules live on the fields (types, ranges, formats); rules that relate several fields live in
``tpustack.config.rules``; ``tpustack.config.load`` reads a stack file or the Pulumi runtime and runs both,
so a ``StackConfig`` that reaches a component is fully validated. Derived values that several rooms read
(tensor parallelism, the engine image, the results bucket) are properties here; infrastructure shapes derived
from the config (pools, cluster version) are in ``tpustack.config.derived``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel

from tpustack.core import catalog, engines, models, names
from tpustack.core.catalog import Accelerator
from tpustack.core.errors import TpuStackError

NAMESPACE = "tpustack"
ZONES_FILE = Path(__file__).parent / "zones.yaml"

BYTES_PER_PARAM = models.BYTES_PER_PARAM  # one place: tpustack.core.models

_PROJECT_RE = re.compile(f"^{names.PROJECT_ID_PATTERN}$")
_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


class _Model(BaseModel):
    """Strict base: unknown keys are errors (typos never pass silently); camelCase keys as in Pulumi."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


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
    # A calendar-mode (future) reservation: capacity for a fixed window, consumed like any specific reservation,
    # whose VMs are deleted when the window ends (GKE docs, tpu-calendar-mode; Cloud TPU calendar-mode-reservation).
    calendar: bool = False
    ends: datetime | None = None  # the window's end, e.g. 2026-12-01T00:00:00Z


class ModelConfig(_Model):
    """The model to serve. For a model of tpustack's catalog (tpustack.core.models) paramsB, contextLength,
    gated and maxtextName come from the catalog and, when given, are checked against it; any other model states
    paramsB and contextLength itself."""

    id: str  # Hugging Face repo id (org/name) or gs://bucket/path
    params_b: float | None = Field(default=None, gt=0, le=2000)  # parameters, in billions
    context_length: int | None = Field(default=None, ge=128)  # the model's max_position_embeddings
    dtype: Literal["float32", "bfloat16", "float16", "fp8", "int8", "int4"] = "bfloat16"
    # Whether downloading needs a Hugging Face token. Default: the catalog's; yes for other Hugging Face ids.
    gated: bool | None = None
    # Weights x headroom must fit the replica's HBM: room for KV cache and activations.
    hbm_headroom: float = Field(default=1.2, ge=1.0, le=4.0)
    # MaxText checkpoint conversion needs the MaxText model name (e.g. llama3.1-8b).
    maxtext_name: str | None = None

    @model_validator(mode="after")
    def _known_or_stated(self) -> ModelConfig:
        known = models.lookup(self.id)
        if known is not None:
            if self.params_b is not None and abs(self.params_b - known.params_b) > 0.05 * known.params_b:
                raise ValueError(
                    f"paramsB {self.params_b:g} does not match {self.id}'s {known.params_b:g}B "
                    f"({known.source}). Fix: remove model.paramsB (the catalog has it) or correct it"
                )
            if self.context_length is not None and self.context_length > known.context_length:
                raise ValueError(
                    f"contextLength {self.context_length} exceeds {self.id}'s {known.context_length} "
                    f"({known.source}). Fix: remove model.contextLength"
                )
            return self
        missing = [k for k, v in (("paramsB", self.params_b), ("contextLength", self.context_length)) if v is None]
        if missing:
            raise ValueError(
                f"{self.id} is not in tpustack's model catalog, so its {' and '.join(missing)} must "
                f"be stated. Fix: set model.{' and model.'.join(missing)} (from the model's config.json: "
                "parameter count, max_position_embeddings), or use a catalog model "
                f"({', '.join(m.ids[0] for m in models.MODELS)})"
            )
        return self

    @property
    def facts(self) -> models.ModelFacts | None:
        return models.lookup(self.id)

    @property
    def params(self) -> float:
        """Parameters in billions: the stated value, else the catalog's."""
        if self.params_b is not None:
            return self.params_b
        known = self.facts
        if known is None:  # _known_or_stated requires one of the two
            raise TpuStackError(f"model {self.id}: no parameter count")
        return known.params_b

    @property
    def context(self) -> int:
        if self.context_length is not None:
            return self.context_length
        known = self.facts
        if known is None:
            raise TpuStackError(f"model {self.id}: no context length")
        return known.context_length

    @property
    def maxtext(self) -> str | None:
        """The MaxText model name: the stated one, else the catalog's."""
        if self.maxtext_name:
            return self.maxtext_name
        known = self.facts
        return known.maxtext_name if known else None

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
        if self.gated is not None:
            return self.gated
        known = self.facts
        return known.gated if known else True

    @property
    def weights_gib(self) -> float:
        return self.params * 1e9 * BYTES_PER_PARAM[self.dtype] / catalog.GIB


class VllmConfig(_Model):
    """vLLM engine arguments (`vllm serve` flags of the same names)."""

    max_model_len: int = Field(default=4096, ge=128)
    max_num_seqs: int | None = Field(default=None, ge=1)
    max_num_batched_tokens: int | None = Field(default=None, ge=1)
    enable_prefix_caching: bool = True
    quantization: str | None = None
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    # None: vLLM decides (0.32.0 turns it on unless something is incompatible, vllm/config/vllm.py).
    async_scheduling: bool | None = None
    extra_args: list[str] = Field(default_factory=list)

    @field_validator("extra_args")
    @classmethod
    def _no_shadowing(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a.split("=")[0] in engines.VLLM_OWNED_FLAGS]
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
    # Serving knobs (tpustack/render): ClusterIP unless a public LoadBalancer is asked for; opt-in
    # HPA on the engine's queue metric (needs the Custom Metrics Stackdriver Adapter in the cluster); the
    # XLA compile cache in the results bucket (GCS FUSE) so restarts skip recompiles; seconds a pod keeps
    # serving in-flight requests after removal from the Service; startup budget (default: from weights).
    service_type: Literal["ClusterIP", "LoadBalancer"] = "ClusterIP"
    hpa_max_replicas: int | None = Field(default=None, ge=1, le=64)
    hpa_queue_target: float = Field(default=10.0, gt=0)
    compile_cache: bool = True
    drain_seconds: int = Field(default=30, ge=0, le=3600)
    startup_minutes: int | None = Field(default=None, ge=1, le=600)

    @field_validator("image")
    @classmethod
    def _pinned(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not engines.is_pinned(v):
            raise ValueError(
                f"image '{v}' is not pinned. Fix: use an explicit version tag or digest, "
                f"e.g. {engines.DEFAULT_IMAGES[('vllm', 'tpu')]}"
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
    ttl_hours: float = Field(default=8.0, gt=0, le=24 * 31)
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
            raise ValueError(f"'{v}' is not a valid bucket name. Fix: 3-63 lowercase letters, digits, '-', '_' or '.'")
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


class VariantConfig(_Model):
    """One way to serve the stack's model: an accelerator and the capacity to try for it, in order. GKE turns the
    list into a custom ComputeClass whose priorities it tries in that order (tpustack.render: serving variants)."""

    name: str  # part of Kubernetes and GCP names: tps-<stack>-<name>, vllm-<name>
    accelerator: AcceleratorConfig
    capacity: list[CapacityConfig] = Field(min_length=1, max_length=8)
    replicas: int = Field(default=1, ge=0, le=64)
    tensor_parallel: int | None = Field(default=None, ge=1)
    image: str | None = None  # default: the engine's pinned image for this accelerator kind

    @field_validator("accelerator", mode="before")
    @classmethod
    def _accel_shorthand(cls, v: Any) -> Any:
        return {"type": v} if isinstance(v, str) else v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z]([a-z0-9-]{0,14}[a-z0-9])?", v):
            raise ValueError(
                f"variant name '{v}' becomes part of Kubernetes and GCP names. Fix: 1-16 lowercase letters, digits "
                "and '-', starting with a letter, e.g. tpu or h100"
            )
        return v

    @field_validator("capacity", mode="before")
    @classmethod
    def _capacity_shorthand(cls, v: Any) -> Any:
        items = v if isinstance(v, list) else [v]
        return [{"type": c} if isinstance(c, str) else c for c in items]

    @field_validator("image")
    @classmethod
    def _pinned(cls, v: str | None) -> str | None:
        if v is not None and not engines.is_pinned(v):
            raise ValueError(f"image '{v}' is not pinned. Fix: use an explicit version tag or digest")
        return v


class RegionConfig(_Model):
    region: str
    zones: list[str] = Field(min_length=1)


class GatewayConfig(_Model):
    """GKE Inference Gateway in front of every variant (one InferencePool over all of them, its endpoint picker,
    a Gateway and an HTTPRoute), per region; optional Cloud DNS geolocation routing across regions."""

    # GKE's regional Gateway classes, the ones the Inference Gateway guides use (external, or internal to the VPC)
    class_name: Literal["gke-l7-regional-external-managed", "gke-l7-rilb"] = "gke-l7-regional-external-managed"
    port: int = Field(default=80, ge=1, le=65535)
    # A regional Envoy load balancer needs the VPC's one proxy-only subnet per region: create it here, or say the
    # VPC has one already (creating a second fails).
    proxy_subnet_cidr: str | None = "10.129.0.0/23"
    # InferenceObjective priority of the stack's traffic (Inference Extension v1alpha2).
    priority: int = Field(default=0, ge=-1000, le=1000)
    # Several regions: a Cloud DNS managed zone and the record name that answers with the nearest region's gateway.
    dns_zone: str | None = None
    dns_name: str | None = None


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
    # Serve one model on whichever accelerator has capacity: variants (each its own Deployment and ComputeClass)
    # behind GKE Inference Gateway, optionally in several regions (a cluster each).
    variants: list[VariantConfig] | None = Field(default=None, min_length=1, max_length=8)
    gateway: GatewayConfig | None = None
    regions: list[RegionConfig] | None = Field(default=None, min_length=1, max_length=8)
    hf_token: SecretStr | None = None
    # Set by the loader, not by users: the stack name and warnings found while validating.
    stack: str = Field(default="dev", exclude=True)
    # Set by variant_configs(): which serving variant (and region) this copy of the stack describes.
    variant: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _primary_variant(self) -> StackConfig:
        """A variants stack describes its accelerator per variant; the first variant is the stack's primary one
        (cost basis, `plan` outputs), so every single-accelerator path still has one. (Set once, while validating:
        the model is frozen afterwards.)"""
        if self.variants and self.accelerator is None:
            self.__dict__["accelerator"] = self.variants[0].accelerator
            self.__dict__["capacity"] = self.variants[0].capacity[0]
        return self

    def variant_configs(self) -> list[StackConfig]:
        """One StackConfig per serving variant: the stack with that variant's accelerator, first capacity
        priority, replicas, tensor parallelism and image; ``variant`` names it. [] for a single-accelerator stack."""
        out = []
        for v in self.variants or []:
            engine = None
            if self.engine is not None:
                engine = self.engine.model_copy(
                    update={"replicas": v.replicas, "tensor_parallel": v.tensor_parallel, "image": v.image}
                )
            c = self.model_copy(
                update={"accelerator": v.accelerator, "capacity": v.capacity[0], "engine": engine, "variant": v.name}
            )
            for cached in ("shape", "warnings"):
                c.__dict__.pop(cached, None)
            out.append(c)
        return out

    def region_configs(self) -> list[StackConfig]:
        """The stack once per region it serves in: its own region first, then tpustack:regions."""
        out = [self]
        for r in self.regions or []:
            # the copy describes one region; the list of others belongs to the stack
            c = self.model_copy(update={"region": r.region, "zones": list(r.zones), "regions": None})
            for cached in ("shape", "warnings"):
                c.__dict__.pop(cached, None)
            out.append(c)
        return out

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
        if shape is None:  # AcceleratorConfig._known rejects unknown names; only a bypassed model gets here
            raise TpuStackError(f"stack {self.stack}: unknown accelerator {self.accelerator.type}")
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
        if self.engine.image:
            return self.engine.image
        if self.engine.name == "jetstream-maxtext":
            return engines.jetstream_image(self.project, self.region)  # self-built (README "JetStream image")
        return engines.DEFAULT_IMAGES.get((self.engine.name, self.shape.kind))

    @property
    def benchmark_tool(self) -> str | None:
        if self.benchmark is None or self.engine is None:
            return None
        if self.benchmark.tool:
            return self.benchmark.tool
        return engines.DEFAULT_TOOL[self.engine.name]

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
        # Flex-start and queued provisioning (flex-start + a queued request) nodes are never auto-repaired.
        return self.capacity.type not in ("flex-start", "queued")

    @cached_property
    def warnings(self) -> list[str]:
        out: list[str] = []
        if not self.is_experiment:
            return out
        table = yaml.safe_load(ZONES_FILE.read_text())
        offered = table["zones"].get(self.shape.family, [])
        for z in self.zones:
            if z not in offered:
                out.append(
                    f"tpustack:zones: {self.shape.family} was not listed in {z} as of {table['as_of']} "
                    f"(listed: {', '.join(offered) or 'none'}); check `gcloud compute tpus accelerator-types "
                    f"list --zone={z}` before `pulumi up`"
                )
        image = self.engine_image
        if image and engines.facts_for(image) is None:
            out.append(
                f"tpustack:engine.image: {image} has no entry in tpustack.core.engines, so the flags, paths and "
                'endpoints tpustack renders for it are unchecked; add an entry (README "Engine versions") or use '
                "a pinned image"
            )
        caps = [c for v in self.variants or [] for c in v.capacity] or [self.capacity]
        for cap in caps:
            if cap.ends is not None and cap.ends.tzinfo is not None:
                from datetime import timedelta

                expiry = datetime.now(UTC) + timedelta(hours=self.lifecycle.ttl_hours)
                if expiry > cap.ends:
                    out.append(
                        f"tpustack:capacity.ends: started now, the experiment's TTL ends {expiry:%Y-%m-%d %H:%M} UTC, "
                        f"after the calendar reservation {cap.reservation} ends ({cap.ends:%Y-%m-%d %H:%M} UTC); its "
                        "nodes are deleted then"
                    )
        if self.target == "tpu-vm" and self.capacity.type == "queued":
            out.append(
                "tpustack:capacity.type: pulumi-gcp's tpu.V2QueuedResource node spec has no metadata, "
                "service account or labels, so the startup workload cannot be attached to a queued TPU VM; "
                "run it by hand over ssh once the queued resource is ACTIVE"
            )
        return out
