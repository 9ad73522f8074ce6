"""Physical ceilings of LLM serving: the most one replica can do on its chips, from the catalog and the model's own
architecture (tpustack.core.models: read from its config.json).

A serving replica is bounded three ways (the bottleneck taxonomy of the source documents):

* **bandwidth** (decode): every decode step reads, once, the weights the batch's tokens use and the KV cache of every
  sequence, so a step takes at least ``(weights read + batch x KV per sequence) / HBM bandwidth``. The weights read
  are every dense weight (the input embedding table only as the rows the batch looks up: none counted) and, for a
  mixture-of-experts model, the routed experts the batch touches: with E experts of which each token picks k, a
  batch of B tokens touches E x (1 - (1 - k/E)^B) of them per MoE layer in expectation (tokens routed uniformly
  and independently; never more than E);
* **compute** (prefill): every token a replica processes costs at least 2 multiply-adds per *active* parameter
  (a MoE token uses the dense weights, the shared experts and k routed experts; the input embedding is a lookup,
  not a matmul), at the chip's dense peak of the precision the weights' dtype runs at (catalog,
  tpustack.core.precision: fp8 on v6e and v5p runs at the bf16 rate, int8 at twice it; tpu7x, H100 and B200 run
  fp8 at twice bf16, B200 fp4 at twice fp8);
* **capacity**: the weights and every sequence's cache live in HBM, so the batch at a context is at most
  ``(HBM - weights) / cache per sequence``. The cache per sequence follows the attention: GQA layers 2 x KV heads x
  head size per token, MLA layers one latent and its rotary key per token, sliding-window layers at most their
  window, linear-attention layers a fixed state; at the KV cache's own dtype (``kvCacheDtype``), apart from the
  weights'.

**Speculative decoding** (n-gram, EAGLE, MTP drafts): one target step verifies k drafted tokens per sequence and
emits at most k + 1, so decode tokens/s is at most (k + 1) x the bound of one step and TPOT at least 1 / (k + 1) of
a step (the draft's own cost only lowers it further).

From these: decode output tokens/s at a batch, prefill tokens/s, the largest batch, and the lower bounds of TPOT
(one decode step) and TTFT (the prompt's FLOPs, and one read of what it touches). Every term left out (attention
FLOPs, activations, the engine's reserved memory, communication between chips, scheduling, drafting) only makes
real serving slower, so each figure is a true ceiling: it may be loose, never low. A measured figure beyond one is
a measurement error, as the heartbeat treats a matmul above the roofline (tpustack/workloads/roofline.py).

Stdlib only: the plan, the report and the recommender share it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import catalog, models
from .catalog import Accelerator
from .models import BYTES_PER_PARAM, ModelFacts
from .precision import Precision

# The KV cache in bf16 unless the engine is told otherwise (vLLM --kv-cache-dtype auto follows the model's float
# dtype, bf16 for every catalog model; MaxText caches in bf16).
KV_BYTES_DEFAULT = 2.0
# Bytes per cached value by vLLM's --kv-cache-dtype (vllm/config/cache.py CacheDType at 0.32.0): auto follows the
# model's activation dtype (bf16 for every catalog model), the fp8 kinds take one byte.
KV_BYTES = {"auto": 2.0, "bfloat16": 2.0, "float16": 2.0, "fp8": 1.0, "fp8_e4m3": 1.0, "fp8_e5m2": 1.0}

# The precision a weights' dtype multiplies in, and how wide it is (a chip without that rate gets the highest rate
# of a precision at least as wide, so the ceiling never drops below what some kernel could reach).
_PRECISION = {
    "float32": Precision.BF16,  # MXUs and tensor cores multiply fp32 as bf16 passes at best
    "bfloat16": Precision.BF16,
    "float16": Precision.BF16,
    "fp8": Precision.FP8,
    "int8": Precision.INT8,
    "fp4": Precision.FP4,
    "mxfp4": Precision.FP4,
    "int4": Precision.INT4,
}
_BITS = {Precision.BF16: 16, Precision.FP8: 8, Precision.INT8: 8, Precision.FP4: 4, Precision.INT4: 4}
_INTEGER = (Precision.INT8, Precision.INT4)
_FLOAT_BYTES = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0}


def peak_tflops_per_chip(shape: Accelerator, dtype: str) -> tuple[float, Precision]:
    """The dense peak one chip multiplies weights of ``dtype`` at, and the precision it counts. A chip without that
    precision's rate runs the weights through the fastest precision of the same kind (float or integer) at least
    as wide, else of either kind: fp4 on v6e at its fp8 (= bf16) rate, int4 on v6e at its int8 rate, mxfp4 on H100
    at fp8, int8 on tpu7x (no published int8 rate) at fp8 - so a ceiling is never below what a kernel can reach."""
    want = _PRECISION[dtype]
    own = shape.peak_tflops_per_chip(want)
    if own is not None:
        return own, want
    kind = want in _INTEGER
    wider = [(rate, p) for p in Precision if _BITS[p] >= _BITS[want] and (rate := shape.peak_tflops_per_chip(p))]
    same = [(rate, p) for rate, p in wider if (p in _INTEGER) == kind]
    return max(same or wider)  # bf16 is always there


def expected_experts(experts: int, per_token: int, tokens: int) -> float:
    """Distinct routed experts ``tokens`` tokens touch in one MoE layer, in expectation, each picking ``per_token``
    of ``experts`` uniformly and independently: E x (1 - (1 - k/E)^B), never more than E."""
    if tokens <= 0:
        return 0.0
    return min(float(experts), experts * (1 - (1 - per_token / experts) ** tokens))


@dataclass(frozen=True, kw_only=True)
class Ceilings:
    """The ceilings of one serving replica: ``chips`` chips of one catalog accelerator running one model."""

    accelerator: str
    chips: int
    peak_flops: float  # FLOP/s of the replica at the precision the weights run at
    precision: str
    hbm_bw: float  # bytes/s of the replica
    hbm_bytes: float  # bytes of HBM of the replica
    model: str
    dtype: str  # the weights as served
    params: float  # parameters stored
    active_params: float  # parameters one token multiplies (no input embedding)
    weight_bytes: float  # bytes of the weights as served
    dense_bytes: float  # bytes every decode step reads whatever the batch (all but the embedding table and experts)
    expert_bytes: float  # bytes of one routed expert in one MoE layer (0: dense model)
    experts: int
    experts_per_token: int
    moe_layers: int
    facts: ModelFacts | None  # None: only the parameter count is known (no KV size)
    kv_bytes: float  # bytes per cached value
    speculative_tokens: int  # drafted tokens a step verifies (0: none)

    # ----- the three bounds ------------------------------------------------------------------------
    @property
    def kv_bytes_per_token(self) -> float | None:
        """Bytes one more token adds to a sequence's cache (full-attention layers; None: architecture unknown)."""
        return self.facts.kv_bytes_per_token(self.kv_bytes) if self.facts else None

    def kv_bytes_per_sequence(self, context: int) -> float | None:
        return self.facts.kv_bytes_per_sequence(max(context, 0), self.kv_bytes) if self.facts else None

    @property
    def fits(self) -> bool:
        return self.weight_bytes < self.hbm_bytes

    def max_batch(self, context: int) -> int | None:
        """Most sequences of ``context`` tokens whose cache fits next to the weights (None: cache size unknown)."""
        per = self.kv_bytes_per_sequence(max(context, 1))
        if per is None:
            return None
        if not self.fits:
            return 0
        return int((self.hbm_bytes - self.weight_bytes) // per)

    def weights_read(self, tokens: int) -> float:
        """Bytes of weights one forward pass over ``tokens`` tokens reads at least: the dense weights and the routed
        experts those tokens touch in expectation."""
        touched = expected_experts(self.experts, self.experts_per_token, tokens) if self.experts else 0.0
        return self.dense_bytes + self.moe_layers * touched * self.expert_bytes

    @property
    def tokens_per_step(self) -> int:
        return 1 + self.speculative_tokens

    def decode_step_s(self, batch: int, context: int) -> float:
        """Least time of one decode step of ``batch`` sequences: what it reads once, or the FLOPs of every position
        it verifies (k + 1 per sequence with speculative decoding), whichever is slower."""
        kv = (self.kv_bytes_per_sequence(context) or 0.0) * batch
        read = (self.weights_read(batch) + kv) / self.hbm_bw
        flops = 2 * self.active_params * batch * self.tokens_per_step / self.peak_flops
        return max(read, flops)

    def decode_tokens_per_s(self, batch: int, context: int) -> float:
        return batch * self.tokens_per_step / self.decode_step_s(batch, context)

    @property
    def prefill_tokens_per_s(self) -> float:
        """Tokens/s the replica can process at all (prompt or output): peak FLOP/s / (2 x active params)."""
        return self.peak_flops / (2 * self.active_params)

    def decode_ceiling(self, context: int | None, batch: int | None = None) -> float:
        """Output tokens/s of the replica at the largest batch that fits, or at ``batch`` if that is smaller
        (throughput grows with the batch). Without a context or a cache size, only the compute bound is known."""
        if context is None or self.kv_bytes_per_token is None:
            return self.prefill_tokens_per_s
        b = self.max_batch(context) or 0
        if batch is not None and batch > 0:
            b = min(b, batch)
        return self.decode_tokens_per_s(b, context) if b else 0.0

    def tpot_floor_s(self, batch: int = 1, context: int = 0) -> float:
        return self.decode_step_s(batch, context) / self.tokens_per_step

    def ttft_floor_s(self, input_len: int) -> float:
        """One prompt alone: its FLOPs, and at least one read of the weights its tokens touch."""
        flops = 2 * self.active_params * input_len / self.peak_flops
        return max(flops, self.weights_read(input_len) / self.hbm_bw)

    # ----- what plan and report show --------------------------------------------------------------
    def summary(self, input_len: int | None, output_len: int | None, batch: int | None = None) -> dict:
        """The figures for a load (input/output lengths) and, when the engine caps it, a batch."""
        # Every decoding sequence holds at least its prompt's cache; the least context gives the highest ceiling,
        # and the one a measured point is checked against (check_point).
        ctx = input_len or None
        max_b = self.max_batch(ctx) if ctx else None
        out: dict = {
            "accelerator": self.accelerator,
            "model": self.model,
            "dtype": self.dtype,
            "precision": self.precision,
            "chips_per_replica": self.chips,
            "peak_tflops": self.peak_flops / 1e12,
            "hbm_gbps": self.hbm_bw / 1e9,
            "hbm_gib": self.hbm_bytes / catalog.GIB,
            "params_b": self.params / 1e9,
            "active_params_b": self.active_params / 1e9,
            "weights_gib": self.weight_bytes / catalog.GIB,
            "kv_bytes_per_token": self.kv_bytes_per_token,
            "kv_bytes_per_value": self.kv_bytes,
            "speculative_tokens": self.speculative_tokens,
            "weights_fit": self.fits,
            "context_tokens": ctx,
            "max_batch": max_b,
            "prefill_tokens_per_s": self.prefill_tokens_per_s,
            "decode_tokens_per_s_max": self.decode_ceiling(ctx) if self.fits else 0.0,
            "output_len": output_len,
            "tpot_floor_ms": self.tpot_floor_s(1, input_len or 0) * 1e3,
            "ttft_floor_ms": self.ttft_floor_s(input_len) * 1e3 if input_len else None,
            "basis": BASIS,
        }
        if self.experts:
            out["experts"], out["experts_per_token"] = self.experts, self.experts_per_token
            out["experts_touched_at_max_batch"] = expected_experts(self.experts, self.experts_per_token, max_b or 1)
        if batch and ctx:
            b = min(batch, max_b) if max_b is not None else batch
            out["batch"] = b
            out["decode_tokens_per_s_at_batch"] = self.decode_tokens_per_s(b, ctx) if b else 0.0
            out["tpot_floor_ms_at_batch"] = self.tpot_floor_s(b, ctx) * 1e3 if b else None
        return out


BASIS = (
    "per replica, all chips used; decode: (weights the batch touches + batch x cache per sequence) / HBM bandwidth "
    "per step, x (k + 1) tokens with k drafted tokens; compute: 2 x active params FLOPs per token at the chip's dense "
    "peak for the weights' precision; capacity: (HBM - weights) / cache per sequence. Ceilings, never estimates of "
    "what an engine reaches"
)


def _weights(facts: ModelFacts | None, params: float, dtype: str) -> tuple[float, float, float]:
    """(stored bytes, bytes read every step, bytes of one routed expert in one layer) of the weights as served."""
    native = facts is not None and dtype == facts.weights_dtype and params == facts.params
    if facts is None:
        total = params * BYTES_PER_PARAM[dtype]
        return total, total, 0.0
    if native:
        total = float(facts.weight_bytes)
        float_bytes = _FLOAT_BYTES.get(facts.weights_dtype, 2.0)  # quantized checkpoints keep embeddings in bf16
        expert = float(facts.expert_bytes) if facts.moe else 0.0
    else:  # re-quantized by the stack's model.dtype (or a stated parameter count): every weight at that dtype
        per = BYTES_PER_PARAM[dtype]
        total, float_bytes = params * per, per
        expert = facts.moe.expert_params * per if facts.moe else 0.0
    table = 0.0 if facts.tied_embeddings else facts.embedding_params * float_bytes
    routed = facts.moe.layers * facts.moe.experts * expert if facts.moe else 0.0
    return total, max(total - table - routed, 0.0), expert


def for_shape(
    shape: Accelerator,
    params_b: float | None = None,
    dtype: str | None = None,
    facts: ModelFacts | None = None,
    model: str = "",
    kv_bytes: float = KV_BYTES_DEFAULT,
    *,
    chips: int | None = None,
    speculative_tokens: int = 0,
) -> Ceilings:
    """The ceilings of one replica of ``shape`` (or of ``chips`` of its chips) serving a model: from its facts, or
    only from a parameter count. ``dtype``: the weights as served (default: the checkpoint's)."""
    dtype = dtype or (facts.weights_dtype if facts else "bfloat16")
    if dtype not in BYTES_PER_PARAM:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(BYTES_PER_PARAM)}")
    params = float(facts.params) if facts is not None else 0.0
    if params_b is not None and (facts is None or round(params_b, 2) != facts.params_b):
        params = params_b * 1e9  # a stated count (model.paramsB) other than the file's
    if params <= 0:
        raise ValueError("a model without a parameter count has no ceilings")
    n = chips or shape.chips
    peak, precision = peak_tflops_per_chip(shape, dtype)
    total, dense, expert = _weights(facts, params, dtype)
    active = float(params)
    if facts is not None:
        unused = facts.params - facts.active_params
        table = 0 if facts.tied_embeddings else facts.embedding_params
        active = max(params - unused - table, 1.0)
    moe = facts.moe if facts else None
    return Ceilings(
        accelerator=shape.name if n == shape.chips else f"{n} x {shape.family}",
        chips=n,
        peak_flops=n * peak * 1e12,
        precision=str(precision),
        hbm_bw=n * shape.hbm_gbps_per_chip * 1e9,
        hbm_bytes=n * shape.hbm_gib_per_chip * catalog.GIB,
        model=model or (facts.ids[0] if facts else ""),
        dtype=dtype,
        params=params,
        active_params=active,
        weight_bytes=total,
        dense_bytes=dense,
        expert_bytes=expert,
        experts=moe.experts if moe else 0,
        experts_per_token=moe.experts_per_token if moe else 0,
        moe_layers=moe.layers if moe else 0,
        facts=facts,
        kv_bytes=kv_bytes,
        speculative_tokens=speculative_tokens,
    )


def for_names(
    accelerator: str,
    model_id: str,
    dtype: str | None = None,
    *,
    kv_cache_dtype: str | None = None,
    speculative_tokens: int = 0,
    chips: int | None = None,
) -> tuple[Ceilings | None, str]:
    """Ceilings for what a result's metadata names, or None and why there are none. ``chips``: a replica on fewer
    chips than the named machine holds (a GPU pod asking for some of its node's GPUs)."""
    shape = catalog.lookup(accelerator) if isinstance(accelerator, str) else None
    if shape is None:
        return None, f"accelerator {accelerator!r} is not in the catalog"
    facts = models.lookup(model_id) if isinstance(model_id, str) else None
    if facts is None:
        return None, f"model {model_id!r} is not in the model catalog (no parameter count or KV size)"
    if dtype is not None and dtype not in BYTES_PER_PARAM:
        return None, f"model dtype {dtype!r} is unknown"
    if kv_cache_dtype is not None and kv_cache_dtype not in KV_BYTES:
        return None, f"KV cache dtype {kv_cache_dtype!r} is unknown"
    if chips is not None and not 0 < chips <= shape.chips:
        return None, f"{chips} chips per replica do not fit one {shape.name} ({shape.chips} chips)"
    kv = KV_BYTES[kv_cache_dtype] if kv_cache_dtype else KV_BYTES_DEFAULT
    c = for_shape(shape, None, dtype, facts, model_id, kv, chips=chips, speculative_tokens=speculative_tokens)
    return c, ""


# ----- per role (disaggregated prefill/decode) -------------------------------------------------------------------
ROLE_BOUNDS = {"prefill": "compute", "decode": "hbm-bandwidth"}


def role_ceiling(c: Ceilings, role: str, input_len: int | None, batch: int | None = None) -> dict | None:
    """The ceiling of one replica in a disaggregated role (None for a unit that serves whole requests):

    * prefill is compute-bound: prompt tokens/s at the chip's peak (2 x active params FLOPs per token), and a
      prompt's least TTFT; tokens found in the prefix cache are not computed, so at hit rate h the replica can take
      up to 1 / (1 - h) times as many prompt tokens (``prompt_tokens_per_s_at_hit_rate`` gives it per h);
    * decode is HBM-bandwidth-bound: output tokens/s at the largest batch whose cache fits (at most ``batch``),
      each step reading the weights it touches and every sequence's cache, and the least TPOT of one sequence.
    """
    if role not in ROLE_BOUNDS:
        return None
    out: dict = {"role": role, "bound": ROLE_BOUNDS[role]}
    if role == "prefill":
        out["prompt_tokens_per_s"] = c.prefill_tokens_per_s
        out["ttft_floor_ms"] = c.ttft_floor_s(input_len) * 1e3 if input_len else None
        out["prompt_tokens_per_s_at_hit_rate"] = {f"{h:g}": c.prefill_tokens_per_s / (1 - h) for h in (0.0, 0.5, 0.9)}
    else:
        ctx = input_len or None
        out["output_tokens_per_s"] = c.decode_ceiling(ctx, batch) if c.fits else 0.0
        out["max_batch"] = c.max_batch(ctx) if ctx else None
        out["tpot_floor_ms"] = c.tpot_floor_s(1, input_len or 0) * 1e3
    out["basis"] = BASIS
    return out


@dataclass(frozen=True, kw_only=True)
class PointCheck:
    """A measured point beside its ceilings: the fraction of each, and every ceiling it beats."""

    decode_fraction: float | None  # output tokens/s per replica / decode ceiling
    compute_fraction: float | None  # (input + output) tokens/s per replica / compute ceiling
    violations: tuple[str, ...]

    @property
    def roofline_fraction(self) -> float | None:
        """The binding fraction: how close the point came to whichever ceiling is nearest."""
        fs = [f for f in (self.decode_fraction, self.compute_fraction) if f is not None]
        return max(fs) if fs else None


def check_point(
    c: Ceilings,
    *,
    replicas: int,
    output_tokens_per_s: float | None,
    total_tokens_per_s: float | None,
    ttft_p50_ms: float | None,
    tpot_p50_ms: float | None,
    input_len: int | None,
    output_len: int | None,
    max_concurrency: int | None = None,
) -> PointCheck:
    """Compare one measured point (all replicas) with the ceilings of one replica. ``max_concurrency``: the most
    requests the client kept in flight, so no replica's batch was larger."""
    bad: list[str] = []
    reps = max(replicas, 1)
    ctx = input_len if input_len else None  # every decoding sequence holds at least its prompt's cache
    dec_ceiling = c.decode_ceiling(ctx, max_concurrency)
    if output_len and output_len > 1:
        # the first output token of a request comes from the prefill, not a decode step
        dec_ceiling *= output_len / (output_len - 1)
    dec = comp = None
    if output_tokens_per_s is not None:
        per = output_tokens_per_s / reps
        dec = per / dec_ceiling if dec_ceiling else math.inf
        if per > dec_ceiling:
            bad.append(
                f"output {per:,.0f} tok/s per replica > decode ceiling {dec_ceiling:,.0f} tok/s "
                f"(HBM bandwidth of {c.accelerator} at context {ctx or 0})"
            )
    if total_tokens_per_s is not None:
        per = total_tokens_per_s / reps
        comp = per / c.prefill_tokens_per_s
        if per > c.prefill_tokens_per_s:
            bad.append(
                f"prompt+output {per:,.0f} tok/s per replica > compute ceiling {c.prefill_tokens_per_s:,.0f} tok/s "
                f"(2 x active params FLOPs per token at {c.peak_flops / 1e12:,.0f} TFLOP/s {c.precision})"
            )
    tpot_floor = c.tpot_floor_s(1, ctx or 0) * 1e3
    if tpot_p50_ms is not None and tpot_p50_ms < tpot_floor:
        bad.append(
            f"TPOT p50 {tpot_p50_ms:.3g} ms < floor {tpot_floor:.3g} ms (one read of the weights and the prompt's KV)"
        )
    if input_len and ttft_p50_ms is not None:
        ttft_floor = c.ttft_floor_s(input_len) * 1e3
        if ttft_p50_ms < ttft_floor:
            bad.append(f"TTFT p50 {ttft_p50_ms:.3g} ms < floor {ttft_floor:.3g} ms for {input_len} prompt tokens")
    return PointCheck(decode_fraction=dec, compute_fraction=comp, violations=tuple(bad))
