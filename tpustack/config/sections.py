"""The sections of a stack config: one pydantic model per key under ``tpustack:`` (accelerator, capacity, model,
engine, benchmark, ...). ``tpustack.config.model.StackConfig`` assembles them.

Field-level rules live on the fields (types, ranges, formats). A validator that refuses a value raises
``invalid(reason, fix)``: the reason and the fix travel as data to the loader, which turns each into a
``Problem(key, reason, fix)``. Closed sets (engines, benchmark tools, capacity types) are the enums of their
registries (tpustack.core.engines, tpustack.core.capacity), never retyped here.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from tpustack.core import catalog, engines, images, names
from tpustack.core.capacity import CapacityType
from tpustack.core.engines import EngineName, ToolName
from tpustack.core.errors import InternalError, quote
from tpustack.workloads.heartbeat import SEED_SHAPE

from .base import INVALID as INVALID  # re-exported: the loader's and callers' import place
from .base import Section as Section
from .base import invalid as invalid
from .hyperdisk import HyperdiskMlConfig
from .speculative import SpeculativeConfig as SpeculativeConfig
from .workload import PrefixWorkload

_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


def accelerator_shorthand(v: Any) -> Any:
    """``accelerator: v6e-8`` is ``accelerator: {type: v6e-8}``."""
    return {"type": v} if isinstance(v, str) else v


def pinned_image(v: str | None) -> str | None:
    if v is not None and not images.is_pinned(v):
        raise invalid(
            f"image '{v}' is not pinned",
            f"use an explicit version tag or digest, e.g. {images.VLLM_TPU.image}",
        )
    return v


class AcceleratorConfig(Section):
    """What to run on: a catalog name, optionally with the topology / machine type spelled out."""

    type: str
    topology: str | None = None
    machine_type: str | None = None

    @field_validator("type")
    @classmethod
    def _known(cls, v: str) -> str:
        if catalog.lookup(v) is None:
            raise invalid(
                f"unknown accelerator '{v}'",
                f"use a catalog name such as v6e-8, v5litepod-4, v5p-16, tpu7x-8, h100-8, b200-8 "
                f"({catalog.unknown_accelerator_hint(v)})",
            )
        return v.strip().lower()

    @property
    def shape(self) -> catalog.Accelerator:
        shape = catalog.lookup(self.type)
        if shape is None:  # _known refused it
            raise InternalError(f"accelerator {self.type!r} passed validation but is not in the catalog")
        return shape


class CapacityConfig(Section):
    """How the chips are obtained. Rules: cluster-toolkit gke-node-pool and the Cloud TPU docs."""

    type: CapacityType = CapacityType.ON_DEMAND
    # A reservation name, or projects/P/reservations/R for a shared reservation.
    reservation: str | None = None
    # Node auto-repair; None means "the right default for the capacity type" (off for flex-start).
    auto_repair: bool | None = None
    # A calendar-mode (future) reservation: capacity for a fixed window, consumed like any specific reservation,
    # whose VMs are deleted when the window ends (GKE docs, tpu-calendar-mode; Cloud TPU calendar-mode-reservation).
    calendar: bool = False
    ends: datetime | None = None  # the window's end, e.g. 2026-12-01T00:00:00Z


def capacity_shorthand(v: Any) -> Any:
    """``capacity: [spot, on-demand]`` is a list of ``{type: ...}``."""
    items = v if isinstance(v, list) else [v]
    return [{"type": c} if isinstance(c, str) else c for c in items]


class ModelConfig(Section):
    """The model to serve. Its facts (parameters, layers, attention, experts, context, the checkpoint's dtype) come
    from its own config.json (tpustack.config.served: tpustack's catalog, the cache, the Hugging Face Hub, or
    ``config``); ``paramsB``, ``contextLength`` and ``dtype`` override what the file says, and stand in for it when
    the file cannot be read."""

    id: str  # Hugging Face repo id (org/name) or gs://bucket/path
    params_b: float | None = Field(default=None, gt=0, le=5000)  # parameters, in billions
    context_length: int | None = Field(default=None, ge=128)  # the model's max_position_embeddings
    # The weights as served. Default: the checkpoint's own (its config.json quantization_config, else torch_dtype).
    dtype: Literal["float32", "bfloat16", "float16", "fp8", "int8", "int4", "fp4", "mxfp4"] | None = None
    # Whether downloading needs a Hugging Face token. Default: what the Hub says (the catalog's offline); yes for
    # other Hugging Face ids.
    gated: bool | None = None
    # Weights x headroom, plus the cache of one sequence at the engine's context, must fit the replica's HBM: room
    # for activations and the engine's own buffers.
    hbm_headroom: float = Field(default=1.2, ge=1.0, le=4.0)
    # MaxText checkpoint conversion needs the MaxText model name (e.g. llama3.1-8b).
    maxtext_name: str | None = None
    # Where the model's config.json comes from (tpustack.config.model_source): default tpustack's catalog, then the
    # cache, then the Hugging Face Hub; "hub" asks the Hub first; or a local path / gs:// URI of the file (or its
    # folder).
    config: str | None = None
    # How vLLM reads a gs:// model (tpustack.core.weights); default per serving unit (config.derived.weight_path).
    weights: Literal["gcs-fuse", "runai-streamer", "hyperdisk-ml"] | None = None
    # The Hyperdisk ML volume's throughput and size (model.weights hyperdisk-ml; tpustack.config.hyperdisk).
    hyperdisk_ml: HyperdiskMlConfig | None = None
    # gs://BUCKET/PATH: a Job copies a Hub model's weights there once, for servers to read (workloads.stage_weights).
    stage: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if v.startswith("gs://"):
            if len(v) <= 5:
                raise invalid("empty gs:// path", "gs://BUCKET/PATH/TO/WEIGHTS")
            return v
        if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", v):
            raise invalid(
                f"'{v}' is neither a Hugging Face repo id (org/name) nor a gs:// path",
                "e.g. meta-llama/Llama-3.1-8B-Instruct or gs://my-bucket/llama-3.1-8b",
            )
        return v

    @field_validator("stage")
    @classmethod
    def _stage(cls, v: str | None) -> str | None:
        if v is None:
            return v
        bucket, _, path = v.removeprefix("gs://").partition("/")
        ok = (
            v.startswith("gs://")
            and _BUCKET_RE.fullmatch(bucket)
            and re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_./-]*", path)
        )
        if not ok or not path.strip("/"):
            raise invalid(
                f"'{v}' is not gs://BUCKET/PATH (a path of letters, digits, '_', '.', '/' and '-')",
                "e.g. gs://my-models/meta-llama/Llama-3.1-8B-Instruct",
            )
        return v.rstrip("/")

    @property
    def weights_uri(self) -> str | None:
        """Where servers read the weights in GCS: the gs:// model itself, or where it is staged; None: the Hub."""
        return self.id if self.source == "gcs" else self.stage

    @property
    def source(self) -> Literal["huggingface", "gcs"]:
        return "gcs" if self.id.startswith("gs://") else "huggingface"

    @property
    def stated(self) -> bool:
        """Whether the stack states the two figures tpustack cannot plan without."""
        return self.params_b is not None and self.context_length is not None


class VllmConfig(Section):
    """vLLM engine arguments (`vllm serve` flags of the same names)."""

    max_model_len: int = Field(default=engines.VLLM_MAX_MODEL_LEN, ge=128)
    max_num_seqs: int | None = Field(default=None, ge=1)
    max_num_batched_tokens: int | None = Field(default=None, ge=1)
    enable_prefix_caching: bool = True
    quantization: str | None = None
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    # None: vLLM decides (0.32.0 turns it on unless something is incompatible, vllm/config/vllm.py).
    async_scheduling: bool | None = None
    # --kv-cache-dtype (vllm/config/cache.py CacheDType at 0.32.0): how the KV cache is stored, apart from the weights
    kv_cache_dtype: Literal["auto", "bfloat16", "float16", "fp8", "fp8_e4m3", "fp8_e5m2"] | None = None
    # --enable-expert-parallel for mixture-of-experts models; None: on for MoE on TPU, as tpu-recipes serve them
    expert_parallel: bool | None = None
    speculative: SpeculativeConfig | None = None
    # KV cache offload to the node's memory, GiB per replica (tpustack.core.offload): vLLM's native offloading on
    # GPU (--kv-offloading-size), tpu-inference's TPUOffloadConnector on TPU.
    kv_offload_gib: float | None = Field(default=None, gt=0, le=8192)
    extra_args: list[str] = Field(default_factory=list)

    # The setting that bounds a sequence (prompt + output), and its key under tpustack:engine.vllm.
    CONTEXT_KEY: ClassVar[str] = "maxModelLen"

    @property
    def context_tokens(self) -> int:
        return self.max_model_len

    def batch_cap(self, chips: int) -> int | None:
        """The most sequences one replica decodes at once, when the settings cap it."""
        return self.max_num_seqs

    @field_validator("extra_args")
    @classmethod
    def _no_shadowing(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a.split("=")[0] in engines.VLLM_OWNED_FLAGS]
        if bad:
            raise invalid(
                f"{bad} set what tpustack already sets from config",
                "use tpustack:model.id, tpustack:engine.tensorParallel and tpustack:engine.vllm.maxModelLen instead",
            )
        return v


class MaxTextConfig(Section):
    """JetStream MaxText engine settings (MaxText `base.yml` keys of the same names)."""

    per_device_batch_size: int = Field(default=4, ge=1)
    max_prefill_predict_length: int = Field(default=1024, ge=16)
    max_target_length: int = Field(default=engines.MAXTEXT_MAX_TARGET_LENGTH, ge=32)
    scan_layers: bool = False
    weight_dtype: Literal["bfloat16", "float32"] = "bfloat16"

    CONTEXT_KEY: ClassVar[str] = "maxTargetLength"

    @property
    def context_tokens(self) -> int:
        return self.max_target_length

    def batch_cap(self, chips: int) -> int | None:
        return self.per_device_batch_size * chips

    @model_validator(mode="after")
    def _lengths(self) -> MaxTextConfig:
        if self.max_target_length <= self.max_prefill_predict_length:
            raise invalid(
                "maxTargetLength must exceed maxPrefillPredictLength (target = prefill + decode)",
                f"set maxTargetLength above {self.max_prefill_predict_length}",
            )
        return self


EngineSettings = VllmConfig | MaxTextConfig


class EngineConfig(Section):
    name: EngineName
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
        return pinned_image(v)

    @property
    def record(self) -> engines.Engine:
        """The engine's registry record (tpustack.core.engines.ENGINES)."""
        return engines.ENGINES[self.name]

    @property
    def settings(self) -> EngineSettings:
        """The engine's own settings as the stack states them (defaults where it states none)."""
        if self.name is EngineName.VLLM:
            return self.vllm or VllmConfig()
        return self.maxtext or MaxTextConfig()


class SloConfig(Section):
    ttft_ms: float | None = Field(default=None, gt=0)
    tpot_ms: float | None = Field(default=None, gt=0)
    # to_camel would make it e2EMs; the key is written e2eMs (README "Stack config")
    e2e_ms: float | None = Field(default=None, gt=0, alias="e2eMs")


class BenchmarkConfig(Section):
    """The load model of the serving benchmark; every field lands in the result metadata."""

    tool: ToolName | None = None
    dataset: Literal["random", "sharegpt", "sonnet", "shared-prefix"] = "random"
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
    prefix: PrefixWorkload | None = None  # shared-prefix prompts (tpustack.config.workload)

    @field_validator("request_rates")
    @classmethod
    def _rates(cls, v: list[float]) -> list[float]:
        if any(r <= 0 for r in v):
            raise invalid("request rates must be > 0 req/s", "e.g. [1, 2, 4, 8]")
        return v


class WorkloadConfig(Section):
    """What a TPU VM (or a bare GKE pool) runs at start: a script from workloads/."""

    name: Literal["heartbeat"] = "heartbeat"
    dtype: Literal["float32", "bfloat16"] = "float32"
    iterations: int = Field(default=100, ge=1)
    shape: tuple[int, int, int] = SEED_SHAPE  # batch, hidden, intermediate (seed handbook part 1)


class LifecycleConfig(Section):
    environment: Literal["experiment", "prod"] = "experiment"
    ttl_hours: float = Field(default=8.0, gt=0, le=24 * 31)
    keep: bool = False  # true: the reaper leaves this stack alone after its TTL
    deletion_protection: bool | None = None  # default: on for prod, off for experiments

    @field_validator("ttl_hours")
    @classmethod
    def _at_least_a_minute(cls, v: float) -> float:
        # The expiry is kept in whole minutes (tpustack.components.lifecycle): less than one is already past, and
        # the reaper would delete the stack at its next run.
        if round(v * 60) < 1:
            raise invalid(f"a TTL of {v:g} h is under a minute", "set ttlHours to at least 0.0167 (1 minute)")
        return v

    @property
    def protected(self) -> bool:
        if self.deletion_protection is None:
            return self.environment == "prod"
        return self.deletion_protection


class ResultsConfig(Section):
    bucket: str | None = None  # default: <project>-tpustack-results
    # Experiments only look the bucket up (a `results` stack or a bucket you made); the results stack owns it.
    location: str | None = None  # default: the stack's region

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str | None) -> str | None:
        if v is not None and not _BUCKET_RE.fullmatch(v):
            raise invalid(f"'{v}' is not a valid bucket name", "3-63 lowercase letters, digits, '-', '_' or '.'")
        return v


class VariantConfig(Section):
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
    def _accel(cls, v: Any) -> Any:
        return accelerator_shorthand(v)

    @field_validator("capacity", mode="before")
    @classmethod
    def _capacity(cls, v: Any) -> Any:
        return capacity_shorthand(v)

    @field_validator("image")
    @classmethod
    def _pinned(cls, v: str | None) -> str | None:
        return pinned_image(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z]([a-z0-9-]{0,14}[a-z0-9])?", v):
            raise invalid(
                f"variant name '{v}' becomes part of Kubernetes and GCP names",
                "1-16 lowercase letters, digits and '-', starting with a letter, e.g. tpu or h100",
            )
        return v


class RegionConfig(Section):
    region: str
    zones: list[str] = Field(min_length=1)


class GatewayConfig(Section):
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

    @field_validator("dns_zone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None and not names.DNS_ZONE_RE.fullmatch(v):
            raise invalid(
                f"{quote(v)} is not a Cloud DNS managed zone name",
                "the zone's name as `gcloud dns managed-zones list` shows it: 1-63 lowercase letters, digits and "
                "'-', starting with a letter and ending with a letter or digit, e.g. llm-zone",
            )
        return v

    @field_validator("dns_name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None:
            wrong = names.dns_name_problem(v)
            if wrong:
                raise invalid(
                    f"{quote(v)} is not a DNS name ({wrong})",
                    "a fully qualified name of the managed zone's domain (RFC 1123: labels of 1-63 letters, digits "
                    "and '-', not starting or ending with '-', at most 253 characters), ending in '.', "
                    "e.g. llm.example.com.",
                )
        return v


class PricesConfig(Section):
    """Price overrides (USD/hour) for discounts or committed use; catalog prices otherwise."""

    tpu_chip_hour: dict[str, float] = Field(default_factory=dict)
    machine_hour: dict[str, float] = Field(default_factory=dict)
    discount: float = Field(default=0.0, ge=0, lt=1)


def check_labels(v: dict[str, str]) -> dict[str, str]:
    bad = [f"{quote(k)}: {quote(val)}" for k, val in v.items() if not _label_ok(k, val)]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise invalid(
            f"label{'s' if len(bad) > 1 else ''} {shown} break{'' if len(bad) > 1 else 's'} GCP label rules",
            "lowercase letters, digits, '_' and '-', keys start with a letter, at most 63 characters",
        )
    return v


def _label_ok(k: str, val: str) -> bool:
    return bool(_LABEL_KEY_RE.fullmatch(k) and _LABEL_VALUE_RE.fullmatch(str(val)))
