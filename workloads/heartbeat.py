"""Heartbeat: the seed handbook's part-1 matmul, timed honestly on torch CPU/CUDA/XLA or JAX.

Workload (one iteration): ``y[B,I] = x[B,H] @ w[H,I]``, then ``x <- y[:, :H]`` (columns repeated when
I < H). That is the handbook's matmul (batch 128, hidden 4096, intermediate 16384 by default):
2*B*H*I FLOPs = 17.18 GFLOP per iteration, and at least (B*H + H*I + B*I) * itemsize bytes of memory
traffic (x and w read, y written). Feeding y back as the next x makes every iteration depend on the one
before, so no compiler can hoist, merge (CSE) or drop iterations, and the last output is read back
(checksum) so nothing is dead. w ~ N(0, 1/H) keeps the values' scale stable over the chain.

Timing: one warm-up block of the same N iterations (compilation, caches, allocator), then ``trials`` timed
blocks; each block ends with a device-completion barrier (``torch.cuda.synchronize``,
``torch_xla.sync(wait=True)`` / ``xm.wait_device_ops``, ``jax.block_until_ready``). The median block is the
result; every block is checked against the device roofline (workloads/roofline.py) and a block faster
than physically possible makes the run a measurement error (exit code 4, ``error`` in the JSON), never a
result.

The seed's naive loop (``seed_naive_ms``) is the handbook's version: the same x and w every iteration,
``y = x @ w`` overwritten, wall clock around the loop, no warm-up and no barrier. On CPU, eager PyTorch is
synchronous so that loop is honest and our figure should match it; on XLA it times dispatch and the lazy
graph keeps one matmul, which is how the handbook got 0.0056 ms.

torch / torch_xla / jax are imported lazily: a TPU VM has only the one its startup script installed.
Usage: python3 -m tpustack.workloads.heartbeat --backend auto --dtype float32 --shape 128,4096,16384 \
    --iterations 100 --accelerator v6e-1 --out gs://BUCKET/STACK/RUN_ID/heartbeat.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import os
import platform
import socket
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tpustack.core.errors import BenchmarkError, InputError, TpuStackError, UsageError

from . import gcs, roofline

SCHEMA = "tpustack.heartbeat/v1"
BACKENDS = ("auto", "cpu", "cuda", "xla", "jax")
DTYPES = {"float32": 4, "bfloat16": 2}
SEED_SHAPE = (128, 4096, 16384)  # batch, hidden, intermediate: the handbook's part-1 matmul
SEED_SHAPE_ARG = ",".join(map(str, SEED_SHAPE))  # as --shape spells it
# datetime.UTC is Python 3.11+; the heartbeat runs on the TPU VM runtime's Python 3.10 (Ubuntu 22.04) and in
# xla:r2.7.0_3.10_tpuvm.
UTC = dt.timezone.utc  # noqa: UP017
# The handbook's published TPU figure for SEED_SHAPE in fp32 on v6e, ms per iteration (MISSION.md).
SEED_HANDBOOK_TPU_MS = 0.0056


@dataclass(frozen=True)
class Work:
    batch: int
    hidden: int
    intermediate: int
    dtype: str

    @property
    def flops(self) -> float:
        return 2.0 * self.batch * self.hidden * self.intermediate

    @property
    def bytes_moved(self) -> float:
        b, h, i = self.batch, self.hidden, self.intermediate
        return float(DTYPES[self.dtype] * (b * h + h * i + b * i))

    def to_dict(self) -> dict:
        return {
            "name": "matmul-heartbeat",
            "definition": "y[B,I] = x[B,H] @ w[H,I]; next x = y[:, :H] (columns tiled when I < H)",
            "batch": self.batch,
            "hidden": self.hidden,
            "intermediate": self.intermediate,
            "dtype": self.dtype,
            "flops_per_iteration": self.flops,
            "bytes_per_iteration": self.bytes_moved,
        }


def parse_shape(text: str) -> tuple[int, int, int]:
    parts = text.replace("x", ",").split(",")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) < 1:
        raise UsageError(
            f"--shape '{text}': expected three positive integers B,H,I (batch, hidden, intermediate)",
            fix=f"e.g. --shape {SEED_SHAPE_ARG}",
        )
    return dims[0], dims[1], dims[2]


# ----- backends ----------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Runner:
    """A device-resident workload: ``block(n)`` runs n iterations and returns once the device is done."""

    backend: str
    device: str
    versions: dict[str, str]
    notes: list[str]
    block: Callable[[int], Any]
    checksum: Callable[[Any], float]
    platform_kind: str  # cpu | gpu | tpu: what actually ran the work


# What each backend imports (checked before anything is allocated or timed).
BACKEND_PACKAGES = {"cpu": "torch", "cuda": "torch", "xla": "torch_xla", "jax": "jax"}
# The working set lives on the device (and the host, for CPU runs) as x, w, y plus one temporary of y.
RESIDENT_TENSORS = 4


def check_fits(work: Work, accelerator: str, platform_kind: str) -> None:
    """Refuse a shape that cannot fit before allocating it (a MemoryError or an OOM kill loses the run)."""
    b, h, i = work.batch, work.hidden, work.intermediate
    need = DTYPES[work.dtype] * (b * h + h * i + 2 * b * i)
    have = roofline.device_memory(accelerator, platform_kind)
    if have.bytes is not None and need > have.bytes * 0.9:
        raise InputError(
            f"--shape {b},{h},{i} {work.dtype} needs about {need / 2**30:.1f} GiB ({RESIDENT_TENSORS} tensors) but "
            f"only {have.bytes / 2**30:.1f} GiB {have.where} is there",
            fix=f"a smaller --shape, e.g. the seed's {SEED_SHAPE_ARG}",
        )


def resolve_backend(backend: str, accelerator_kind: str) -> str:
    if backend != "auto":
        return backend
    has = importlib.util.find_spec
    if accelerator_kind == "tpu":
        return "xla" if has("torch_xla") else "jax"
    if accelerator_kind == "gpu":
        if has("torch"):
            import torch

            if torch.cuda.is_available():
                return "cuda"
        return "jax"
    return "cpu" if has("torch") else "jax"


def _torch_runner(backend: str, work: Work, seed: int) -> Runner:
    import torch

    notes: list[str] = []
    versions: dict[str, str] = {"torch": str(torch.__version__)}
    if backend == "xla":
        import torch_xla
        import torch_xla.core.xla_model as xm

        versions["torch_xla"] = getattr(torch_xla, "__version__", "?")
        dev = torch_xla.device() if hasattr(torch_xla, "device") else xm.xla_device()

        def barrier(_):
            try:
                torch_xla.sync(wait=True)  # cut the lazy graph, execute it, wait for the device
            except (AttributeError, TypeError):  # older torch_xla
                xm.mark_step()
                xm.wait_device_ops()

        kind = "tpu"
        device = f"xla:{xm.xla_device_hw(dev) if hasattr(xm, 'xla_device_hw') else 'TPU'}"
        notes.append("XLA traces each block of N iterations into one graph; the warm-up block compiles it")
    elif backend == "cuda":
        if not torch.cuda.is_available():
            raise BenchmarkError(
                "--backend cuda: torch sees no CUDA device", fix="run on a GPU node, or use --backend cpu / auto"
            )
        dev = torch.device("cuda")

        def barrier(_):
            torch.cuda.synchronize()

        kind, device = "gpu", torch.cuda.get_device_name(0)
        versions["cuda"] = str(torch.version.cuda)
    else:
        dev = torch.device("cpu")

        def barrier(_):
            return None  # eager CPU ops complete before they return

        kind = "cpu"
        device = f"cpu ({torch.get_num_threads()} threads)"
    notes.append(f"torch float32 matmul precision: {torch.get_float32_matmul_precision()}")
    tdtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[work.dtype]
    gen = torch.Generator().manual_seed(seed)
    b, h, i = work.batch, work.hidden, work.intermediate
    x0 = torch.randn(b, h, generator=gen).to(dev, tdtype)
    w = (torch.randn(h, i, generator=gen) / math.sqrt(h)).to(dev, tdtype)
    reps = math.ceil(h / i)

    def block(n: int):
        x = x0
        y = None
        for _ in range(n):
            y = x @ w
            x = y[:, :h] if reps == 1 else y.repeat(1, reps)[:, :h]
        barrier(y)
        return y

    def checksum(y) -> float:
        return float(y.float().sum().item())

    return Runner(
        backend=backend,
        device=device,
        versions=versions,
        notes=notes,
        block=block,
        checksum=checksum,
        platform_kind=kind,
    )


def _jax_runner(work: Work, seed: int) -> Runner:
    import functools

    import jax
    import jax.numpy as jnp

    jdtype = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[work.dtype]
    b, h, i = work.batch, work.hidden, work.intermediate
    reps = math.ceil(h / i)
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    x0 = jax.random.normal(k1, (b, h), jnp.float32).astype(jdtype)
    w = (jax.random.normal(k2, (h, i), jnp.float32) / math.sqrt(h)).astype(jdtype)

    @functools.partial(jax.jit, static_argnums=2)
    def run(x, w, n):
        def body(_, carry):
            x, _y = carry
            y = x @ w
            nx = y[:, :h] if reps == 1 else jnp.tile(y, (1, reps))[:, :h]
            return nx, y

        _, y = jax.lax.fori_loop(0, n, body, (x, jnp.zeros((b, i), jdtype)))
        return y

    def block(n: int):
        return jax.block_until_ready(run(x0, w, n))

    platform_name = jax.default_backend()
    kind = {"tpu": "tpu", "gpu": "gpu", "cuda": "gpu", "rocm": "gpu"}.get(platform_name, "cpu")
    precision = getattr(jax.config, "jax_default_matmul_precision", None)
    notes = [
        "jax.lax.fori_loop over N iterations inside one jit; the warm-up block compiles it",
        f"jax default matmul precision: {precision or 'DEFAULT (bf16 passes for float32 on TPU)'}",
    ]
    return Runner(
        backend="jax",
        device=f"jax:{jax.devices()[0].device_kind}",
        versions={"jax": jax.__version__},
        notes=notes,
        block=block,
        checksum=lambda y: float(jnp.sum(y.astype(jnp.float32))),
        platform_kind=kind,
    )


def make_runner(backend: str, work: Work, seed: int) -> Runner:
    """The backend's runner; a clear error (never an ImportError) when its package is not installed."""
    package = BACKEND_PACKAGES[backend]
    if importlib.util.find_spec(package) is None:
        install = {
            "torch": "pip install torch",
            "torch_xla": "pip install torch torch_xla[tpu] (on a TPU VM)",
            "jax": "pip install jax (jax[tpu] on a TPU VM)",
        }[package]
        raise TpuStackError(
            f"--backend {backend} needs {package}, which this Python does not have",
            fix=f"{install}, or pick another --backend",
        )
    if backend == "jax":
        return _jax_runner(work, seed)
    return _torch_runner(backend, work, seed)


# ----- the measurement ---------------------------------------------------------------------------------
def evaluate(work: Work, trial_ms: list[float], roof: roofline.Roofline) -> dict[str, Any]:
    """Check every trial against the roofline (BenchmarkError on any impossible one); the median is the
    result."""
    for ms in trial_ms:
        roofline.check(ms, work.flops, work.bytes_moved, roof)
    median = statistics.median(trial_ms)
    v = roofline.verdict(median, work.flops, work.bytes_moved, roof)
    return {
        "ms_per_iteration": median,
        "achieved_tflops": v.achieved_tflops,
        "achieved_gbps": v.achieved_gbps,
        "fraction_of_roofline": v.fraction_of_roofline,
        "floor_ms": v.floor_ms,
        "memory_floor_enforced": v.memory_floor_enforced,
    }


def _now() -> str:
    return dt.datetime.now(UTC).isoformat(timespec="seconds")


def run(
    *,
    backend: str = "auto",
    dtype: str = "float32",
    shape: tuple[int, int, int] = SEED_SHAPE,
    iterations: int = 100,
    accelerator: str = "cpu",
    trials: int = 3,
    warmup_blocks: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the heartbeat; returns the result document. Raises BenchmarkError for bad input; an impossible
    timing is returned as a document with ok=false and ``error`` set (callers exit non-zero)."""
    if backend not in BACKENDS:
        raise UsageError(f"--backend {backend}: unknown", fix=f"one of {', '.join(BACKENDS)}")
    if dtype not in DTYPES:
        raise UsageError(f"--dtype {dtype}: unknown", fix=f"one of {', '.join(DTYPES)}")
    if iterations < 1 or trials < 1 or warmup_blocks < 0:
        raise UsageError(
            "--iterations and --trials must be >= 1 and --warmup-blocks >= 0", fix="e.g. --iterations 100 --trials 3"
        )
    work = Work(*shape, dtype)
    acc_kind = "cpu" if accelerator.strip().lower() == "cpu" else roofline.accelerator_roofline(accelerator).kind
    chosen = resolve_backend(backend, acc_kind)
    check_fits(work, accelerator, "cpu" if chosen == "cpu" else acc_kind)
    started = _now()
    try:
        runner = make_runner(chosen, work, seed)
    except MemoryError:
        raise InputError(
            f"--shape {','.join(map(str, shape))}: out of memory while allocating", fix="a smaller --shape"
        ) from None
    if backend == "auto" and acc_kind != "cpu" and runner.platform_kind == "cpu":
        raise BenchmarkError(
            f"--accelerator {accelerator} is a {acc_kind.upper()}, but {chosen} sees none and would time the host CPU",
            fix="run where the device is visible (TPU VM runtime, GPU node with drivers), or pass --backend cpu "
            "--accelerator cpu to time the CPU",
        )
    roof = roofline.for_platform(accelerator, runner.platform_kind, dtype)
    for _ in range(warmup_blocks):
        runner.block(iterations)
    trial_ms = []
    out = None
    for _ in range(trials):
        t0 = time.perf_counter()
        out = runner.block(iterations)  # returns after the device-completion barrier
        trial_ms.append((time.perf_counter() - t0) / iterations * 1e3)
    total = runner.checksum(out)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "ok": True,
        "error": None,
        "workload": {
            **work.to_dict(),
            "iterations": iterations,
            "warmup_blocks": warmup_blocks,
            "trials": trials,
            "seed": seed,
        },
        "backend": chosen,
        "requested_backend": backend,
        "device": runner.device,
        "accelerator": accelerator,
        "versions": {**runner.versions, "python": platform.python_version()},
        "timing": {
            "method": "perf_counter around each block of N iterations ending in a device-completion "
            "barrier; warm-up blocks excluded; result = median block",
            "trials_ms_per_iteration": trial_ms,
            "best_ms_per_iteration": min(trial_ms),
        },
        "notes": runner.notes,
        "roofline": roof.to_dict(),
        "checksum": total,
        "host": socket.gethostname(),
        "started_at": started,
        "finished_at": _now(),
    }
    try:
        if not math.isfinite(total):
            raise BenchmarkError(
                f"checksum of the last output is {total}: the values diverged, so the timing cannot be trusted",
                fix="report this shape/dtype as a bug",
            )
        doc["result"] = evaluate(work, trial_ms, roof)
    except BenchmarkError as e:
        doc.update(ok=False, error=str(e), result=None)
    return doc


def seed_naive_ms(shape: tuple[int, int, int] = SEED_SHAPE, iterations: int = 100, dtype: str = "float32") -> float:
    """The handbook's CPU heartbeat as it describes it: same x and w, output overwritten, wall clock around
    the loop, no warm-up. Honest on CPU only (eager ops are synchronous); kept for comparison."""
    import torch

    b, h, i = shape
    t = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    x = torch.randn(b, h, dtype=t)
    w = torch.randn(h, i, dtype=t)
    start = time.time()
    for _ in range(iterations):
        y = torch.matmul(x, w)
    elapsed = time.time() - start
    del y
    return elapsed / iterations * 1e3


# ----- CLI ---------------------------------------------------------------------------------------------
def write_result(doc: dict[str, Any], out: str) -> str:
    """Write the result write-once; if that fails after the measurement, keep it in a local file and say where."""
    data = (json.dumps(doc, indent=2) + "\n").encode()
    try:
        return gcs.write_once(out, data)
    except (TpuStackError, OSError) as e:
        rescue = f"heartbeat-{dt.datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}.json"
        try:
            with open(rescue, "xb") as f:
                f.write(data)
            kept = f"the result is kept in {os.path.abspath(rescue)}"
        except OSError:
            kept = "the result is printed on stdout only"
        raise TpuStackError(
            f"writing {out} failed ({e}); {kept}", fix="copy it where it belongs (gcloud storage cp FILE gs://...)"
        ) from None


def summary_line(doc: dict[str, Any]) -> str:
    w = doc["workload"]
    head = (
        f"heartbeat {w['batch']}x{w['hidden']}x{w['intermediate']} {w['dtype']} x{w['iterations']} "
        f"on {doc['backend']} ({doc['device']})"
    )
    if not doc["ok"]:
        return f"{head}: MEASUREMENT ERROR: {doc['error']}"
    r = doc["result"]
    return (
        f"{head}: {r['ms_per_iteration']:.4f} ms/iter, {r['achieved_tflops']:.3f} TFLOP/s, "
        f"{r['achieved_gbps']:.1f} GB/s, {r['fraction_of_roofline']:.1%} of the {doc['roofline']['device']} "
        f"roofline"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m tpustack.workloads.heartbeat", description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=BACKENDS, default="auto")
    p.add_argument("--dtype", choices=tuple(DTYPES), default="float32")
    p.add_argument("--shape", default=SEED_SHAPE_ARG, help="B,H,I (batch, hidden, intermediate)")
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--accelerator", default="cpu", help="catalog name of the machine (v6e-1, h100-1) or cpu")
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--warmup-blocks", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="local path or gs://BUCKET/PATH for the JSON result")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.out:
            gcs.check_new(args.out)
        doc = run(
            backend=args.backend,
            dtype=args.dtype,
            shape=parse_shape(args.shape),
            iterations=args.iterations,
            accelerator=args.accelerator,
            trials=args.trials,
            warmup_blocks=args.warmup_blocks,
            seed=args.seed,
        )
    except TpuStackError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(json.dumps(doc, indent=2))
    if args.out:
        try:
            doc["written_to"] = write_result(doc, args.out)
        except TpuStackError as e:
            print(f"error: {e}", file=sys.stderr)
            return e.exit_code
    print(summary_line(doc), file=sys.stderr)
    return 0 if doc["ok"] else BenchmarkError.exit_code


if __name__ == "__main__":
    sys.exit(main())
