"""Serving-benchmark runner: the entry point of the benchmark Job.

    python3 -m tpustack.workloads.serving_bench --spec /opt/tpustack/spec/spec.json

1. Waits for the server's health endpoint (bounded by spec.timeouts.ready_s).
2. Warm-up: the tool at the first sweep point with ``load.warmups`` requests; its results are discarded
   (the log is kept) so compilation and cache fills stay out of the measured points.
3. For each sweep point: runs the engine's own tool (vllm bench serve, JetStream benchmark_serving.py or
   inference-perf) with the fixed load model, scrapes the engine's /metrics meanwhile, normalizes the
   tool's file into one record (workloads/results.py), checks requested vs achieved rate, uploads.
4. Writes the run manifest last.

Everything lands under ``<results_uri>/<run_id>/`` (``run_id`` = UTC time + random suffix, new per run):
``run.json``, ``points/NNN.json`` (records), ``raw/NNN-*`` (the tool's own files, its log, the last
/metrics text). Uploads are write-once (workloads/gcs.py), so an earlier run is never overwritten.

Stdlib only (plus google-cloud-storage when the image has it): it runs inside the engine's image.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tpustack.core.errors import BenchmarkError

from . import gcs, promscrape, results

PERCENTILES_ARG = ",".join(str(p) for p in results.PERCENTILES)


def new_run_id() -> str:
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Sink:
    """Write-once destination: a gs:// prefix or a local directory (development, tests)."""

    def __init__(self, prefix: str):
        self.prefix = prefix.rstrip("/")
        self.written: list[str] = []

    def put(self, rel: str, data: bytes, content_type: str = "application/json") -> str:
        target = f"{self.prefix}/{rel}"
        if target.startswith("gs://"):
            gcs.write_new(target, data, content_type)
        else:
            path = Path(target)
            if path.exists():
                raise gcs.ObjectExists(f"{path} already exists: results are write-once. Fix: use a new run id")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self.written.append(target)
        return target

    def put_json(self, rel: str, doc: Any) -> str:
        return self.put(rel, (json.dumps(doc, indent=2, default=str) + "\n").encode())

    def occupied(self) -> bool:
        if self.prefix.startswith("gs://"):
            return bool(gcs.list_uris(self.prefix + "/"))
        return Path(self.prefix).exists() and any(Path(self.prefix).iterdir())


def wait_ready(url: str, timeout_s: float, interval_s: float = 5.0) -> float:
    """Seconds until ``url`` answered 200; BenchmarkError after timeout_s."""
    start = time.monotonic()
    last = "no answer"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=min(10.0, interval_s * 2)) as r:
                if r.status == 200:
                    return time.monotonic() - start
                last = f"HTTP {r.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except (urllib.error.URLError, OSError) as e:
            last = str(e)
        if time.monotonic() - start >= timeout_s:
            raise BenchmarkError(
                f"server not ready: {url} did not answer 200 within {timeout_s:g} s (last: "
                f"{last}). Fix: check the engine pod's logs (model download, compilation, "
                "HBM fit) and the Service name/port in the spec"
            )
        time.sleep(max(0.0, min(interval_s, timeout_s - (time.monotonic() - start))))


SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def gateway_address(gw: dict, timeout_s: float, interval_s: float = 10.0, api: str | None = None) -> str:
    """The address GKE gave the stack's Gateway (status.addresses[0].value once it is Programmed), read from the
    Kubernetes API with the pod's service account (Role tpustack-gateway-reader). ``api`` overrides the in-cluster
    API URL (tests); BenchmarkError after timeout_s."""
    import ssl

    ns, name = gw["namespace"], gw["name"]
    if api is None:
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise BenchmarkError(
                "spec.server.gateway needs the Kubernetes API (KUBERNETES_SERVICE_HOST). Fix: run in "
                "the cluster, or set server.base_url and drop server.gateway"
            )
        api = f"https://{host}:{port}"
    url = f"{api}/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/gateways/{name}"
    headers = {}
    token = SA_DIR / "token"
    if token.exists():
        headers["Authorization"] = f"Bearer {token.read_text().strip()}"
    context = ssl.create_default_context(cafile=str(SA_DIR / "ca.crt")) if (SA_DIR / "ca.crt").exists() else None
    start, last = time.monotonic(), "no answer"
    while True:
        try:
            req = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(req, timeout=10, context=context) as r:
                status = json.load(r).get("status") or {}
            programmed = any(
                c.get("type") == "Programmed" and c.get("status") == "True" for c in status.get("conditions") or []
            )
            addrs = [a.get("value") for a in status.get("addresses") or [] if a.get("value")]
            if programmed and addrs:
                return addrs[0]
            last = f"Programmed={programmed}, addresses={addrs}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except (urllib.error.URLError, OSError, ValueError) as e:
            last = str(e)
        if time.monotonic() - start >= timeout_s:
            raise BenchmarkError(
                f"Gateway {ns}/{name} has no programmed address after {timeout_s:g} s (last: {last}). Fix: "
                f"`kubectl describe gateway -n {ns} {name}` (proxy-only subnet, GKE version, Gateway API enabled)"
            )
        time.sleep(max(0.0, min(interval_s, timeout_s - (time.monotonic() - start))))


# ----- tool invocations ---------------------------------------------------------------------------------
def _dataset_path(spec: dict, workdir: Path) -> str | None:
    load = spec["load"]
    if load["dataset"] == "random":
        return None
    if load.get("dataset_path"):
        return load["dataset_path"]
    url = load.get("dataset_url")
    if not url:
        raise BenchmarkError(
            f"load.dataset {load['dataset']} needs a file and the spec has neither "
            "dataset_path nor dataset_url. Fix: set load.dataset_path in the spec"
        )
    path = workdir / url.rsplit("/", 1)[-1]
    if not path.exists():
        with urllib.request.urlopen(url, timeout=600) as r, open(path, "wb") as f:
            shutil.copyfileobj(r, f)
    return str(path)


def vllm_args(
    spec: dict, point: dict, outdir: Path, name: str, num_prompts: int, dataset_path: str | None
) -> list[str]:
    """`vllm bench serve` flags (vllm/benchmarks/serve.py add_cli_args, datasets.py add_dataset_parser)."""
    load, model = spec["load"], spec["model"]
    a = [
        "--backend",
        "vllm",
        "--base-url",
        spec["server"]["base_url"],
        "--endpoint",
        "/v1/completions",
        "--model",
        model["id"],
        "--num-prompts",
        str(num_prompts),
        "--seed",
        str(load["seed"]),
        "--temperature",
        str(load["temperature"]),
        "--percentile-metrics",
        "ttft,tpot,itl,e2el",
        "--metric-percentiles",
        PERCENTILES_ARG,
        "--save-result",
        "--save-detailed",
        "--result-dir",
        str(outdir),
        "--result-filename",
        name,
        "--disable-tqdm",
        "--dataset-name",
        load["dataset"],
    ]
    if load["dataset"] == "random":
        a += ["--random-input-len", str(load["input_len"]), "--random-output-len", str(load["output_len"])]
    elif load["dataset"] == "sharegpt":
        a += ["--dataset-path", dataset_path or "", "--sharegpt-output-len", str(load["output_len"])]
    elif load["dataset"] == "sonnet":
        a += [
            "--dataset-path",
            dataset_path or "",
            "--sonnet-input-len",
            str(load["input_len"]),
            "--sonnet-output-len",
            str(load["output_len"]),
        ]
    if load["ignore_eos"]:
        a.append("--ignore-eos")
    if point.get("max_concurrency"):
        a += ["--max-concurrency", str(point["max_concurrency"]), "--request-rate", "inf"]
    else:
        a += ["--request-rate", str(point["request_rate"]), "--burstiness", str(load["burstiness"])]
    slo = spec.get("slo") or {}
    goodput = [
        f"{k}:{slo[f'{k2}_ms']:g}"
        for k, k2 in (("ttft", "ttft"), ("tpot", "tpot"), ("e2el", "e2e"))
        if slo.get(f"{k2}_ms")
    ]
    if goodput:
        a += ["--goodput", *goodput]
    return a


def jetstream_args(spec: dict, point: dict, outdir: Path, num_prompts: int, dataset_path: str | None) -> list[str]:
    """JetStream benchmarks/benchmark_serving.py flags (parse_args at 29329e8; tpustack.core.engines)."""
    load, model = spec["load"], spec["model"]
    host, _, port = spec["server"]["grpc_target"].rpartition(":")
    a = [
        "--server",
        host,
        "--port",
        port,
        # --model "llama-3" selects JetStream's tiktoken tokenizer for the file given as --tokenizer
        "--model",
        model.get("client_model", model["id"]),
        "--tokenizer",
        model.get("tokenizer_path", model["id"]),
        "--num-prompts",
        str(num_prompts),
        "--request-rate",
        str(point["request_rate"]),
        "--seed",
        str(load["seed"]),
        "--max-output-length",
        str(load["output_len"]),
        "--save-result",
        "--save-request-outputs",
        "--request-outputs-file-path",
        str(outdir / JETSTREAM_REQUEST_OUTPUTS),
        "--warmup-mode",
        "none",
        "--disable-tqdm",
    ]
    if load["dataset"] == "random":
        # JetStream's synthetic prompts: prefix_cache_test with no common prefix. Its lengths are characters, so
        # the runner counts the real tokens afterwards (count_jetstream_tokens).
        a += [
            "--dataset",
            "prefix_cache_test",
            "--max-input-length",
            str(load["input_len"]),
            "--prefix-cache-test-common-len",
            "0",
        ]
    else:
        a += [
            "--dataset",
            "sharegpt",
            "--dataset-path",
            dataset_path or "",
            "--max-input-length",
            str(load["input_len"]),
            "--max-target-length",
            str(load["input_len"] + load["output_len"]),
        ]
    return a


JETSTREAM_REQUEST_OUTPUTS = "request-outputs.json"
JETSTREAM_TOKENS = "request-tokens.json"
# Runs with the tool's own Python (the image's), which has JetStream and its tokenizers: encodes every prompt and
# generated text with the very tokenizer the client used (benchmarks.benchmark_serving.get_tokenizer), because
# benchmark_serving records characters as prompt lengths for prefix_cache_test and no output lengths at all.
_COUNT_TOKENS = """
import json, sys
from benchmarks.benchmark_serving import get_tokenizer
model, tokenizer, src, dst = sys.argv[1:5]
tok = get_tokenizer(model, tokenizer, False)
out = [{"prompt_tokens": len(tok.encode(o["prompt"])), "output_tokens": len(tok.encode(o["generated_text"]))}
       for o in json.load(open(src))]
json.dump(out, open(dst, "w"))
"""


def count_jetstream_tokens(spec: dict, outdir: Path, python: str, log: Path) -> Path | None:
    """request-tokens.json beside request-outputs.json (same order), or None when it could not be made."""
    src, dst = outdir / JETSTREAM_REQUEST_OUTPUTS, outdir / JETSTREAM_TOKENS
    if not src.exists():
        return None
    model = spec["model"]
    argv = [
        python,
        "-c",
        _COUNT_TOKENS,
        model.get("client_model", model["id"]),
        model.get("tokenizer_path", model["id"]),
        str(src),
        str(dst),
    ]
    rc = _run_tool(argv, outdir, spec["timeouts"]["point_min_s"], log)
    return dst if rc == 0 and dst.exists() else None


# inference-perf workers: its default is the machine's CPU count, in a pod the node's; the Job asks for 2 CPUs.
INFERENCE_PERF_WORKERS = 2


def poisson_stage(num_prompts: int, rate: float) -> dict[str, float | int]:
    """A stage that sends exactly ``num_prompts`` at about ``rate``: inference-perf 0.7.0 sends int(rate x
    duration) requests (loadgen/load_generator.py run_stage) with an integer duration, so the rate is nudged
    to (N + 0.5) / duration, which truncates to N for every N and duration (rate N / duration can fall one short
    through float rounding)."""
    duration = max(1, round(num_prompts / rate))
    return {"rate": (num_prompts + 0.5) / duration, "duration": duration}


def inference_perf_config(spec: dict, point: dict, outdir: Path, num_prompts: int, dataset_path: str | None) -> dict:
    """An inference-perf 0.7.0 config (inference_perf/config/*, extra="forbid"), one stage per sweep point."""
    load, slo = spec["load"], spec.get("slo") or {}

    def fixed(n: int) -> dict:
        return {"type": "fixed", "min": n, "max": n, "mean": n, "std_dev": 0, "total_count": num_prompts}

    data = (
        {
            "type": "random",
            "input_distribution": fixed(load["input_len"]),
            "output_distribution": fixed(load["output_len"]),
        }
        if load["dataset"] == "random"
        else {"type": "shareGPT", "path": dataset_path}
    )
    ld: dict[str, Any]
    if point.get("max_concurrency"):
        ld = {
            "type": "concurrent",
            "stages": [{"concurrency_level": point["max_concurrency"], "num_requests": num_prompts}],
        }
    else:
        ld = {"type": "poisson", "stages": [poisson_stage(num_prompts, point["request_rate"])]}
    ld["base_seed"] = load["seed"]
    ld["num_workers"] = INFERENCE_PERF_WORKERS
    constraints = {
        k: slo[f"{ours}_ms"] / 1e3
        for k, ours in (("ttft", "ttft"), ("tpot", "tpot"), ("request_latency", "e2e"))
        if slo.get(f"{ours}_ms")
    }
    report: dict[str, Any] = {
        "request_lifecycle": {
            "summary": True,
            "per_stage": True,
            # per request: send times (the achieved rate) and each request's own TTFT/E2E/tokens
            "per_request": True,
            "per_request_fields": {
                "request": False,
                "response": False,
                "response_chunks": False,
                "info": True,
                "computed_metrics": True,
            },
            "percentiles": list(results.PERCENTILES),
        }
    }
    if constraints:
        report["goodput"] = {"constraints": constraints}
    return {
        "api": {"type": "completion", "streaming": True},
        "data": data,
        "load": ld,
        "server": {
            "type": "vllm",
            "model_name": spec["model"]["id"],
            "base_url": spec["server"]["base_url"],
            "ignore_eos": load["ignore_eos"],
        },
        "tokenizer": {"pretrained_model_name_or_path": spec["model"]["id"]},
        "report": report,
        "storage": {"local_storage": {"path": str(outdir)}},
    }


def invocation(
    spec: dict, point: dict, outdir: Path, num_prompts: int, dataset_path: str | None
) -> tuple[list[str], Path]:
    """(argv, cwd) of the tool for one point; files land in outdir."""
    tool, cmd = spec["tool"], list(spec["tool_command"])
    outdir.mkdir(parents=True, exist_ok=True)
    if tool == "vllm-bench":
        return cmd + vllm_args(spec, point, outdir, "vllm.json", num_prompts, dataset_path), outdir
    if tool == "jetstream-benchmark":
        return cmd + jetstream_args(spec, point, outdir, num_prompts, dataset_path), outdir
    if tool == "inference-perf":
        cfg = outdir / "config.yml"  # JSON is YAML: inference-perf reads it with its YAML loader
        cfg.write_text(json.dumps(inference_perf_config(spec, point, outdir, num_prompts, dataset_path), indent=2))
        return cmd + ["--config_file", str(cfg)], outdir
    raise BenchmarkError(f"spec.tool '{tool}' is unknown. Fix: one of {', '.join(results.TOOLS)}")


def normalize_point(spec: dict, outdir: Path, point: dict | None = None) -> tuple[dict, list[Path]]:
    """The tool's files in outdir -> (record, raw files to keep)."""
    tool, slo = spec["tool"], spec.get("slo")
    tol = spec.get("kept_up_tolerance", results.KEPT_UP_TOLERANCE)
    point = point or {}
    if tool == "vllm-bench":
        f = outdir / "vllm.json"
        if not f.exists():
            raise BenchmarkError(f"vllm bench serve wrote no {f.name}. Fix: see the tool log beside it")
        return results.normalize_vllm(json.loads(f.read_text()), source_file=f.name, slo=slo, tolerance=tol), [f]
    if tool == "jetstream-benchmark":
        found = sorted(outdir.glob("JetStream-*.json"))
        if not found:
            raise BenchmarkError("benchmark_serving.py wrote no JetStream-*.json. Fix: see the tool log")
        outputs, counted = outdir / JETSTREAM_REQUEST_OUTPUTS, outdir / JETSTREAM_TOKENS
        per_req = json.loads(outputs.read_text()) if outputs.exists() else None
        tokens = json.loads(counted.read_text()) if counted.exists() else None
        rec = results.normalize_jetstream(
            json.loads(found[-1].read_text()),
            per_req,
            source_file=found[-1].name,
            slo=slo,
            tolerance=tol,
            token_counts=tokens,
        )
        return rec, [found[-1]] + [f for f in (outputs, counted) if f.exists()]
    stages = sorted(outdir.rglob("stage_*_lifecycle_metrics.json"))
    if not stages:
        raise BenchmarkError("inference-perf wrote no stage_*_lifecycle_metrics.json. Fix: see the tool log")
    per_request = sorted(outdir.rglob("per_request_lifecycle_metrics.json"))
    rec = results.normalize_inference_perf(
        json.loads(stages[0].read_text()),
        source_file=stages[0].name,
        slo=slo,
        tolerance=tol,
        per_request=json.loads(per_request[0].read_text()) if per_request else None,
        requested_rate=point.get("request_rate"),
    )
    return rec, sorted(outdir.rglob("*.json")) + sorted(outdir.rglob("*.yaml"))


def _point_timeout(spec: dict, point: dict) -> float:
    base = spec["timeouts"]["point_min_s"]
    if point.get("request_rate"):
        return base + 3 * spec["load"]["num_prompts"] / point["request_rate"]
    return base * 4


def _run_tool(argv: list[str], cwd: Path, timeout: float, log: Path) -> int:
    with open(log, "wb") as out:
        try:
            return subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            out.write(f"\ntpustack: killed after {timeout:.0f} s\n".encode())
            return 124
        except FileNotFoundError as e:
            out.write(f"\ntpustack: {e}\n".encode())
            return 127


def run(
    spec: dict,
    *,
    run_id: str | None = None,
    workdir: Path | None = None,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
) -> dict:
    """Run the whole sweep; returns the run manifest (also uploaded as run.json)."""
    run_id = run_id or new_run_id()
    sink = Sink(f"{spec['results_uri']}/{run_id}")
    if sink.occupied():
        raise gcs.ObjectExists(
            f"{sink.prefix} already holds results: run ids are never reused. Fix: start "
            "the Job again (it makes a new run id) or pass another --run-id"
        )
    work = Path(workdir or tempfile.mkdtemp(prefix="tpustack-bench-"))
    started = _now()
    server = spec["server"]
    load = spec["load"]
    manifest: dict[str, Any] = {
        "schema": results.RUN_SCHEMA,
        "run_id": run_id,
        "stack": spec["stack"],
        "metadata": spec["metadata"],
        "load": load,
        "slo": spec.get("slo"),
        "tool": spec["tool"],
        "started_at": started,
        "points": [],
        "spec": spec,
        "uri": sink.prefix,
    }
    try:
        if server.get("gateway"):
            gw = server["gateway"]
            log(f"run {run_id}: waiting for Gateway {gw['namespace']}/{gw['name']}")
            addr = gateway_address(gw, spec["timeouts"]["ready_s"], api=gw.get("api"))
            # every tool and the health wait go through the gateway, as users do
            server["base_url"] = f"http://{addr}:{gw['port']}"
            manifest["gateway_address"] = addr
        log(f"run {run_id}: waiting for {server['base_url']}{server['health_path']}")
        manifest["ready_wait_s"] = wait_ready(server["base_url"] + server["health_path"], spec["timeouts"]["ready_s"])
        dataset = _dataset_path(spec, work)
    except (BenchmarkError, OSError) as e:  # the failed run is recorded too
        manifest.update(finished_at=_now(), status=f"failed: {e}")
        sink.put_json("run.json", manifest)
        raise e if isinstance(e, BenchmarkError) else BenchmarkError(f"dataset download failed: {e}") from e
    if load.get("warmups") and spec["sweep"]:
        wdir = work / "warmup"
        argv, cwd = invocation(spec, spec["sweep"][0], wdir, load["warmups"], dataset)
        log(f"warm-up: {load['warmups']} requests")
        rc = _run_tool(argv, cwd, _point_timeout(spec, spec["sweep"][0]), wdir / "tool.log")
        sink.put("raw/warmup-tool.log", (wdir / "tool.log").read_bytes(), "text/plain")
        manifest["warmup"] = {"requests": load["warmups"], "exit_code": rc}
    failures = 0
    for i, point in enumerate(spec["sweep"]):
        pdir = work / f"point-{i:03d}"
        argv, cwd = invocation(spec, point, pdir, load["num_prompts"], dataset)
        entry: dict[str, Any] = {"index": i, **point, "argv": argv, "started_at": _now()}
        log(f"point {i}: {point}")
        with promscrape.Scraper(server.get("metrics_url"), spec.get("scrape_interval_s", 5)) as scraper:
            rc = _run_tool(argv, cwd, _point_timeout(spec, point), pdir / "tool.log")
        entry.update(finished_at=_now(), exit_code=rc)
        sink.put(f"raw/{i:03d}-tool.log", (pdir / "tool.log").read_bytes(), "text/plain")
        if scraper.last_text:
            sink.put(f"raw/{i:03d}-metrics.prom", scraper.last_text.encode(), "text/plain")
        try:
            if rc != 0:
                raise BenchmarkError(f"{spec['tool']} exited {rc} at point {i}. Fix: see raw/{i:03d}-tool.log")
            if spec["tool"] == "jetstream-benchmark":
                count_jetstream_tokens(spec, pdir, spec["tool_command"][0], pdir / "tokens.log")
            record, raw = normalize_point(spec, pdir, point)
        except BenchmarkError as e:
            failures += 1
            entry.update(status="failed", error=str(e))
            manifest["points"].append(entry)
            log(f"point {i} failed: {e}")
            continue
        for f in raw:
            sink.put(f"raw/{i:03d}-{f.name}", f.read_bytes(), "application/json")
        if spec["tool"] != "vllm-bench":
            # Neither JetStream's benchmark_serving.py nor inference-perf sends a temperature: the server's
            # default sampling applies, whatever load.temperature says.
            record["conversions"].append(
                f"load.temperature {load.get('temperature')} not sent: {spec['tool']} "
                "has no sampling flag; the server's default applies"
            )
        record["server_metrics"] = scraper.summary()
        record["source_file"] = f"raw/{i:03d}-{raw[0].name}"
        results.finish(
            record,
            chips=spec.get("chips"),
            index=i,
            load=load,
            metadata={
                **spec["metadata"],
                "run_id": run_id,
                "started_at": entry["started_at"],
                "finished_at": entry["finished_at"],
                "run_started_at": started,
            },
        )
        entry.update(status="ok", record=f"points/{i:03d}.json", kept_up=record["client"]["kept_up"])
        sink.put_json(f"points/{i:03d}.json", record)
        manifest["points"].append(entry)
    manifest.update(finished_at=_now(), status="ok" if not failures else f"{failures} point(s) failed")
    sink.put_json("run.json", manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m tpustack.workloads.serving_bench", description=__doc__.split("\n")[0])
    p.add_argument("--spec", required=True, help="JSON spec written by workloads/spec.py bench_spec()")
    p.add_argument("--run-id", default=None)
    args = p.parse_args(argv)
    try:
        spec = json.loads(Path(args.spec).read_text())
    except (OSError, ValueError) as e:
        print(f"error: cannot read the spec {args.spec}: {e}. Fix: mount the ConfigMap at that path", file=sys.stderr)
        return BenchmarkError.exit_code
    try:
        manifest = run(spec, run_id=args.run_id)
    except BenchmarkError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(json.dumps({k: manifest[k] for k in ("run_id", "uri", "status")}))
    return 0 if manifest["status"] == "ok" else BenchmarkError.exit_code


if __name__ == "__main__":
    sys.exit(main())
