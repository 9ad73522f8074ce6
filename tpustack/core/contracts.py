"""The documents that cross the pod boundary, as types: the benchmark spec, the result record and the run manifest.

* ``BenchSpec`` (``SPEC_SCHEMA``): written by ``tpustack.render.bench.bench_spec`` into the benchmark Job's ConfigMap,
  read by the runner (``tpustack.workloads.serving_bench``) and the benchmark tools (``tpustack.workloads.tools``).
* ``Record`` (``RECORD_SCHEMA``): one sweep point, made by a tool's normalizer and finished by the runner
  (``points/NNN.json``), read by ``tpustack report`` and ``tpustack recommend``.
* ``RunManifest`` (``RUN_SCHEMA``): the run's ``run.json``, written last by the runner, read by the report.

Writer and reader import the same type, so mypy checks every key on both sides. These are plain ``TypedDict``s: the
JSON is the dicts as they are, byte for byte what earlier versions wrote. Keys a reader cannot count on (a record of
an earlier version, a record normalized from a tool's own file without the run's metadata) sit in a ``total=False``
base; the keys a ``Record`` requires are exactly what ``tpustack.workloads.results.record_problems``, the gate for
files read from disks and buckets, checks (``required``). Stdlib only, Python 3.10: pods import this module.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

SPEC_SCHEMA = "tpustack.bench-spec/v1"
# v2 (issue 19): a record may carry ``prefix_cache`` and ``kv_transfer`` (per role, from the engine's own counters)
# and its load a ``prefix`` workload; a v1 record has none of them and reads as before.
RECORD_SCHEMA = "tpustack.serving-point/v2"
RECORD_SCHEMAS = ("tpustack.serving-point/v1", RECORD_SCHEMA)  # what readers accept
RUN_SCHEMA = "tpustack.serving-run/v1"


def required(td: type) -> tuple[str, ...]:
    """A TypedDict's required keys in declaration order (``__required_keys__`` is a frozenset)."""
    keys: frozenset[str] = getattr(td, "__required_keys__")  # noqa: B009 (mypy: type has no such attribute)
    return tuple(k for k in td.__annotations__ if k in keys)


# ----- the benchmark spec (render/bench.py -> ConfigMap -> serving_bench) ------------------------------------------
class _GatewayExtras(TypedDict, total=False):
    api: str  # the Kubernetes API URL; the runner's default is the in-cluster one (tests point it elsewhere)


class SpecGateway(_GatewayExtras):
    """The stack's GKE Gateway: the runner reads its address from the Kubernetes API and benchmarks through it."""

    namespace: str
    name: str
    port: int


class _PodsExtras(TypedDict, total=False):
    estimate: dict[str, Any]  # the plan's cold-start estimate of one replica (tpustack.core.cold_start.Estimate)


class SpecPods(_PodsExtras):
    """The serving pods, for their measured cold start (tpustack.workloads.cold_start; Role tpustack-pod-reader)."""

    namespace: str
    selector: dict[str, str]  # the Service's selector: every serving pod of the region


class _ServerExtras(TypedDict, total=False):
    pods: SpecPods
    # role -> /metrics URL of that role's headless Service (prefill/decode with P/D), whose every pod the runner
    # reads and sums (tpustack.workloads.promscrape fan_out); absent: metrics_url is role "serve"
    role_metrics_urls: dict[str, str]


class SpecServer(_ServerExtras):
    base_url: str
    health_path: str
    metrics_url: str | None
    grpc_target: str  # host:port of JetStream's gRPC server
    gateway: SpecGateway | None


class ClientTokenizer(TypedDict, total=False):
    """JetStream's client only: its --model (which selects its tokenizer class) and the tokenizer asset in the image."""

    client_model: str
    tokenizer_path: str


class SpecModel(ClientTokenizer):
    id: str
    dtype: str
    params_b: float


class SpecPrefix(TypedDict):
    """A shared-prefix workload (benchmark.prefix, tpustack.config.workload): ``groups`` distinct prefixes of
    ``prefix_len`` tokens, each followed by ``prompts_per_group`` different questions of the load's input_len."""

    groups: int
    prefix_len: int
    prompts_per_group: int
    multi_turn: bool  # each group's prompts as consecutive turns of one conversation (inference-perf only)


class _LoadExtras(TypedDict, total=False):
    dataset_path: str  # a dataset file already in the pod (else dataset_url is fetched)
    prefix: SpecPrefix  # a shared-prefix workload (dataset shared-prefix, or random with one shared prefix)


class SpecLoad(_LoadExtras):
    """The load model: every point of the sweep runs it at its own rate or concurrency."""

    arrival: str
    dataset: str
    dataset_url: str | None
    input_len: int
    output_len: int
    num_prompts: int
    burstiness: float
    warmups: int
    seed: int
    temperature: float
    ignore_eos: bool


class SweepPoint(TypedDict):
    """One point: a request rate (req/s) or a concurrency, the other None."""

    request_rate: float | None
    max_concurrency: int | None


class SpecSlo(TypedDict, total=False):
    ttft_ms: float
    tpot_ms: float
    e2e_ms: float


class SpecTimeouts(TypedDict):
    ready_s: float
    point_min_s: float


class SpecVariant(TypedDict):
    name: str
    accelerator: str
    capacity: list[str]
    replicas: int


class SpecMetadata(TypedDict):
    """What every record of the run carries about its configuration (the report prices and groups by it)."""

    stack: str
    project: str
    region: str
    zone: str
    engine: str
    engine_image: str
    engine_args: dict[str, Any]
    tool: str
    tool_image: str | None  # None: the tool runs in its own image
    accelerator: str
    accelerator_kind: str
    family: str
    topology: str | None
    machine_type: str
    hosts: int
    chips_per_replica: int
    replicas: int
    chips: int
    capacity_type: str
    variants: list[SpecVariant] | None
    model: str
    model_dtype: str
    kv_cache_dtype: str  # vLLM --kv-cache-dtype (auto: the model's float dtype)
    speculative_tokens: int  # drafted tokens one step verifies (0: no speculative decoding)
    dataset: str
    git_revision: str


class BenchSpec(TypedDict):
    """Everything the benchmark Job needs (``SPEC_SCHEMA``)."""

    schema: str
    stack: str
    results_uri: str
    tool: str  # a ToolName value
    tool_command: list[str]
    server: SpecServer
    model: SpecModel
    load: SpecLoad
    sweep: list[SweepPoint]
    slo: SpecSlo
    kept_up_tolerance: float
    timeouts: SpecTimeouts
    scrape_interval_s: float
    chips: int
    metadata: SpecMetadata


# ----- the result record (normalizers + runner -> points/NNN.json -> report, recommend) ----------------------------
Metric = Literal["ttft", "tpot", "itl", "e2e"]  # the keys of Latency
Pct = Literal["p50", "p90", "p99"]  # the percentile keys of Stats


class Stats(TypedDict):
    """A distribution in ms; None where the tool's data cannot give it (left empty, never guessed)."""

    mean: float | None
    p50: float | None
    p90: float | None
    p99: float | None


class Latency(TypedDict):
    ttft: Stats
    tpot: Stats
    itl: Stats
    e2e: Stats


class RecordPoint(TypedDict):
    index: int
    request_rate: float | None
    max_concurrency: int | None


class Requests(TypedDict):
    completed: int | None
    failed: int | None


class Throughput(TypedDict):
    requests_per_s: float | None
    input_tokens_per_s: float | None
    output_tokens_per_s: float | None
    total_tokens_per_s: float | None
    output_tokens_per_s_per_chip: float | None
    total_tokens_per_s_per_chip: float | None


class _ClientExtras(TypedDict, total=False):
    requested_rate: float | None
    achieved_rate_basis: str | None  # how the achieved rate was measured (a lower bound is not proof of falling behind)
    schedule_delay_p99_ms: float | None


class Client(_ClientExtras):
    """Whether the client kept up with the requested arrival rate."""

    achieved_rate: float | None
    kept_up: bool | None  # None: not proven either way


class _GoodputExtras(TypedDict, total=False):
    slo_ms: dict[str, float]
    good_requests: int | None
    fraction: float | None
    basis: str | None


class Goodput(_GoodputExtras):
    requests_per_s: float | None


class RecordLoad(TypedDict, total=False):
    """The point's load: what the tool's own file says (keys differ per tool), then the spec's load model."""

    request_rate: float | None
    max_concurrency: int | None
    concurrency: int | None
    burstiness: float | None
    num_prompts: int | None
    count: int | None
    send_duration_s: float | None
    model_id: str | None
    tokenizer_id: str | None
    backend: str | None
    date: str | None
    arrival: str
    dataset: str
    dataset_url: str | None
    dataset_path: str
    input_len: int
    output_len: int
    warmups: int
    seed: int
    temperature: float
    ignore_eos: bool
    prefix: SpecPrefix


class RecordMetadata(TypedDict, total=False):
    """``SpecMetadata`` and the run's times. Every key optional: a record normalized from a tool's own file has only
    ``run_id``; a record of an earlier version lacks the keys added since."""

    stack: str
    project: str
    region: str
    zone: str
    engine: str
    engine_image: str
    engine_args: dict[str, Any]
    tool: str
    tool_image: str | None
    accelerator: str
    accelerator_kind: str
    family: str
    topology: str | None
    machine_type: str
    hosts: int
    chips_per_replica: int
    replicas: int
    chips: int
    capacity_type: str
    variants: list[SpecVariant] | None
    model: str
    model_dtype: str
    kv_cache_dtype: str
    speculative_tokens: int
    dataset: str
    git_revision: str
    run_id: str
    started_at: str
    finished_at: str
    run_started_at: str


class _PhaseExtras(TypedDict, total=False):
    detail: str  # what the source said beyond the time (the image size pulled, the engine's own duration)


class PhaseTime(_PhaseExtras):
    """When one cold-start phase ended, in seconds from the pod's creation (None: not seen), and from what."""

    s: float | None
    source: str  # e.g. "event Pulled", "condition PodScheduled", "log: Loading weights took"


class ColdStartPhases(TypedDict, total=False):
    """The phases tpustack.core.cold_start.PHASES names, each where it was seen."""

    scheduled: PhaseTime
    image_pulled: PhaseTime
    started: PhaseTime
    weights_loaded: PhaseTime
    compiled: PhaseTime
    ready: PhaseTime


class PodColdStart(TypedDict):
    pod: str
    created_at: str  # the pod's metadata.creationTimestamp, the zero of every phase
    phases: ColdStartPhases


class _ColdStartExtras(TypedDict, total=False):
    error: str  # why the phases could not be read (the run goes on without them)
    estimate: dict[str, Any]  # the plan's estimate the spec carried (tpustack.core.cold_start.Estimate.to_json)


class ColdStart(_ColdStartExtras):
    """Measured cold start of the serving pods (tpustack.workloads.cold_start), read once the server answered."""

    pods: list[PodColdStart]


class _PrefixCacheExtras(TypedDict, total=False):
    # KV connector (cross-instance: P/D, offload) lookups: vllm:external_prefix_cache_{queries,hits}
    external_queries: float | None
    external_hits: float | None
    external_hit_rate: float | None


class PrefixCache(_PrefixCacheExtras):
    """One role's prefix cache over the point, from the engine's own counters scraped before and after it
    (vLLM 0.32.0 vllm/v1/metrics/loggers.py: vllm:prefix_cache_queries / vllm:prefix_cache_hits, in tokens).
    hit_rate = delta hits / delta queries; None when nothing was queried (caching off, or no counters)."""

    queries: float | None  # prompt tokens looked up
    hits: float | None  # of them, found cached
    hit_rate: float | None
    basis: str


class KvTransfer(TypedDict, total=False):
    """One role's KV-cache transfers over the point (P/D), from the NIXL connector's own metrics (vLLM 0.32.0
    vllm/distributed/kv_transfer/kv_connector/v1/nixl/stats.py); absent when the engine exports none."""

    transfers: float | None  # vllm:nixl_xfer_time_seconds_count increase
    bytes: float | None  # vllm:nixl_bytes_transferred_sum increase
    mean_transfer_s: float | None  # increase of _sum / increase of _count of vllm:nixl_xfer_time_seconds
    failed_transfers: float | None  # vllm:nixl_num_failed_transfers_total increase
    basis: str


class _RecordExtras(TypedDict, total=False):
    source_file: str
    load: RecordLoad
    duration_s: float | None
    tpot_definition: str
    conversions: list[str]  # every place a tool's own definition was converted, or a figure left empty
    server_metrics: dict[str, Any]  # the engine's /metrics during the point (workloads/promscrape.py)
    metadata: RecordMetadata
    cold_start: ColdStart  # the serving pods' measured phases (same for every point of the run)
    prefix_cache: dict[str, PrefixCache]  # by unit role (serve; prefill/decode with P/D): schema v2
    kv_transfer: dict[str, KvTransfer]  # by unit role, where the engine exports KV-transfer metrics: schema v2


class Record(_RecordExtras):
    """One sweep point (``RECORD_SCHEMA``), whatever tool measured it."""

    schema: str
    tool: str  # a ToolName value
    point: RecordPoint
    requests: Requests
    throughput: Throughput
    latency_ms: Latency
    client: Client
    goodput: Goodput


# ----- the run manifest (runner -> run.json -> report) ---------------------------------------------------------------
class RunPoint(TypedDict, total=False):
    """One sweep point as the runner ran it: its command line, times, exit code, and its record or error."""

    index: int
    request_rate: float | None
    max_concurrency: int | None
    argv: list[str]
    started_at: str
    finished_at: str
    exit_code: int
    status: str  # ok | failed
    error: str
    record: str  # points/NNN.json
    kept_up: bool | None


class Warmup(TypedDict):
    requests: int
    exit_code: int


class _RunExtras(TypedDict, total=False):
    gateway_address: str
    ready_wait_s: float
    warmup: Warmup
    finished_at: str
    status: str  # ok | "N point(s) failed" | "failed: <why>"


class RunManifest(_RunExtras):
    """``run.json`` (``RUN_SCHEMA``): written last, also when the run failed before its first point."""

    schema: str
    run_id: str
    stack: str
    metadata: SpecMetadata
    load: SpecLoad
    slo: SpecSlo | None
    tool: str
    started_at: str
    points: list[RunPoint]
    spec: BenchSpec
    uri: str
