"""Physical ceilings of LLM serving: the most one replica can do on its chips, from the catalog and the model.

A serving replica is bounded three ways (the bottleneck taxonomy of the source documents):

* **bandwidth** (decode): every decode step reads all the weights and the KV cache of every sequence in the
  batch from HBM, so one step takes at least ``(W + B x kv_per_token x context) / HBM bandwidth`` and emits
  at most B tokens;
* **compute** (prefill): every token a replica processes, prompt or output, costs at least ``2 x params``
  FLOPs (one multiply-add per weight), so prompt + output tokens/s <= peak FLOP/s / (2 x params);
* **capacity**: the weights and the KV cache of every sequence live in HBM, so the batch at a context length
  is at most ``(HBM - W) / (kv_per_token x context)``.

From these: decode output tokens/s at a batch, prefill tokens/s, the largest batch, and the lower bounds of
TPOT (one decode step) and TTFT (the prompt's FLOPs, and one read of the weights). Every term left out
(attention FLOPs, activations, the engine's reserved memory, communication between chips, scheduling) only
makes real serving slower, so each figure is a true ceiling: it may be loose, never low. A measured figure
beyond one is a measurement error, as the heartbeat treats a matmul above the roofline
(tpustack/workloads/roofline.py).

Assumptions, each stated where a result shows it: a replica uses all its chips (tensor parallel over the
shape); no speculative decoding (it emits several tokens per weight read); no KV shared between sequences
(prefix caching of a common prompt would let a batch hold less KV than the bound assumes). For 8-bit and
4-bit weights the compute peak is doubled: int8/fp8 matrix units run at twice the bf16 rate on every catalog
accelerator that has them (v5e 394 int8 TOPS, v6e 1,836, v5p 918, tpu7x 4,614 FP8; H100 1,979 FP8 and
L4 242 FP8 dense, A100 624 int8: the same sources as tpustack.core.catalog), so the ceiling stays a ceiling.

Stdlib only: the plan, the report and the recommender share it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import catalog, models
from .catalog import Accelerator
from .models import BYTES_PER_PARAM

# KV cache values are kept in bf16 unless an engine is told otherwise (vLLM --kv-cache-dtype auto follows
# the model's dtype, bf16 for the catalog's models; MaxText caches in bf16).
KV_BYTES_DEFAULT = 2.0


@dataclass(frozen=True)
class Ceilings:
    """The ceilings of one serving replica: a catalog shape running one model."""

    accelerator: str
    chips: int  # chips of one replica
    peak_flops: float  # FLOP/s of the replica at the weights' dtype (x2 for 8/4-bit weights)
    hbm_bw: float  # bytes/s of the replica
    hbm_bytes: float  # bytes of HBM of the replica
    params: float  # parameter count
    weight_bytes: float
    kv_bytes_per_token: float | None  # None: the model's layers/KV heads are unknown
    model: str
    dtype: str

    # ----- the three bounds ------------------------------------------------------------------------
    @property
    def fits(self) -> bool:
        return self.weight_bytes < self.hbm_bytes

    def max_batch(self, context: int) -> int | None:
        """Most sequences of ``context`` tokens whose KV fits next to the weights (None: KV size unknown)."""
        if self.kv_bytes_per_token is None:
            return None
        if not self.fits:
            return 0
        return int((self.hbm_bytes - self.weight_bytes) // (self.kv_bytes_per_token * max(context, 1)))

    def decode_step_s(self, batch: int, context: int) -> float:
        """Least time of one decode step: weights + the batch's KV read once, and 2 x params FLOPs per token."""
        kv = (self.kv_bytes_per_token or 0.0) * batch * context
        return max((self.weight_bytes + kv) / self.hbm_bw, 2 * self.params * batch / self.peak_flops)

    def decode_tokens_per_s(self, batch: int, context: int) -> float:
        return batch / self.decode_step_s(batch, context)

    @property
    def prefill_tokens_per_s(self) -> float:
        """Tokens/s the replica can process at all (prompt or output): peak FLOP/s / (2 x params)."""
        return self.peak_flops / (2 * self.params)

    def decode_ceiling(self, context: int | None) -> float:
        """Output tokens/s of the replica at the largest batch that fits (throughput grows with the batch).
        Without a context or a KV size, only the compute bound is known."""
        if context is None or self.kv_bytes_per_token is None:
            return self.prefill_tokens_per_s
        b = self.max_batch(context) or 0
        return self.decode_tokens_per_s(b, context) if b else 0.0

    def tpot_floor_s(self, batch: int = 1, context: int = 0) -> float:
        return self.decode_step_s(batch, context)

    def ttft_floor_s(self, input_len: int) -> float:
        """One prompt alone: its FLOPs, and at least one read of the weights (queueing only adds)."""
        return max(2 * self.params * input_len / self.peak_flops, self.weight_bytes / self.hbm_bw)

    # ----- what plan and report show --------------------------------------------------------------
    def summary(self, input_len: int | None, output_len: int | None, batch: int | None = None) -> dict:
        """The figures for a load (input/output lengths) and, when the engine caps it, a batch."""
        # Every decoding sequence holds at least its prompt's KV; the least context gives the highest ceiling,
        # and the one a measured point is checked against (check_point).
        ctx = input_len or None
        max_b = self.max_batch(ctx) if ctx else None
        out: dict = {
            "accelerator": self.accelerator,
            "model": self.model,
            "dtype": self.dtype,
            "chips_per_replica": self.chips,
            "peak_tflops": self.peak_flops / 1e12,
            "hbm_gbps": self.hbm_bw / 1e9,
            "hbm_gib": self.hbm_bytes / catalog.GIB,
            "weights_gib": self.weight_bytes / catalog.GIB,
            "kv_bytes_per_token": self.kv_bytes_per_token,
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
        if batch and ctx:
            b = min(batch, max_b) if max_b is not None else batch
            out["batch"] = b
            out["decode_tokens_per_s_at_batch"] = self.decode_tokens_per_s(b, ctx) if b else 0.0
            out["tpot_floor_ms_at_batch"] = self.tpot_floor_s(b, ctx) * 1e3 if b else None
        return out


BASIS = (
    "per replica, all chips used; decode: (weights + batch x KV x context) / HBM bandwidth per step; compute: "
    "2 x params FLOPs per token at the catalog's dense peak; capacity: (HBM - weights) / KV per sequence. "
    "Ceilings, never estimates of what an engine reaches"
)


def compute_peak_flops(shape: Accelerator, dtype: str) -> float:
    """FLOP/s of a shape for weights of a dtype: the dense bf16 peak, doubled for 8-bit and 4-bit weights."""
    factor = 2.0 if BYTES_PER_PARAM[dtype] <= 1 else 1.0
    return shape.chips * shape.peak_bf16_tflops_per_chip * 1e12 * factor


def for_shape(
    shape: Accelerator,
    params_b: float,
    dtype: str = "bfloat16",
    facts: models.ModelFacts | None = None,
    model: str = "",
    kv_bytes: float = KV_BYTES_DEFAULT,
) -> Ceilings:
    if dtype not in BYTES_PER_PARAM:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(BYTES_PER_PARAM)}")
    params = params_b * 1e9
    return Ceilings(
        accelerator=shape.name,
        chips=shape.chips,
        peak_flops=compute_peak_flops(shape, dtype),
        hbm_bw=shape.chips * shape.hbm_gbps_per_chip * 1e9,
        hbm_bytes=shape.total_hbm_gib * catalog.GIB,
        params=params,
        weight_bytes=params * BYTES_PER_PARAM[dtype],
        kv_bytes_per_token=facts.kv_bytes_per_token(kv_bytes) if facts else None,
        model=model or (facts.ids[0] if facts else ""),
        dtype=dtype,
    )


def for_names(accelerator: str, model_id: str, dtype: str | None = None) -> tuple[Ceilings | None, str]:
    """Ceilings for what a result's metadata names, or None and why there are none."""
    shape = catalog.lookup(accelerator) if isinstance(accelerator, str) else None
    if shape is None:
        return None, f"accelerator {accelerator!r} is not in the catalog"
    facts = models.lookup(model_id) if isinstance(model_id, str) else None
    if facts is None:
        return None, f"model {model_id!r} is not in the model catalog (no parameter count or KV size)"
    if dtype is not None and dtype not in BYTES_PER_PARAM:
        return None, f"model dtype {dtype!r} is unknown"
    return for_shape(shape, facts.params_b, dtype or "bfloat16", facts, model_id), ""


@dataclass(frozen=True)
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
) -> PointCheck:
    """Compare one measured point (all replicas) with the ceilings of one replica."""
    bad: list[str] = []
    reps = max(replicas, 1)
    ctx = input_len if input_len else None  # every decoding sequence holds at least its prompt's KV
    dec_ceiling = c.decode_ceiling(ctx)
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
                f"(2 x params FLOPs per token at {c.peak_flops / 1e12:,.0f} TFLOP/s)"
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
    return PointCheck(dec, comp, tuple(bad))
