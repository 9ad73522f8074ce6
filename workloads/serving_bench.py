"""Serving-benchmark runner: the entry point of the benchmark Job.

    python3 -m tpustack.workloads.serving_bench --spec /opt/tpustack/spec/spec.json

1. Waits for the server's health endpoint (bounded by spec.timeouts.ready_s).
2. Warm-up: the tool at the first sweep point with ``load.warmups`` requests; its results are discarded
   (the log is kept) so compilation and cache fills stay out of the measured points.
3. For each sweep point: runs the engine's own tool (vllm bench serve, JetStream benchmark_serving.py or
   inference-perf: one module each in tpustack.workloads.tools) with the fixed load model, scrapes the engine's
   /metrics meanwhile, normalizes the tool's files into one record (tpustack.core.contracts.Record), checks
   requested vs achieved rate, uploads.
4. Writes the run manifest last.

Everything lands under ``<results_uri>/<run_id>/`` (``run_id`` = UTC time + random suffix, new per run):
``run.json``, ``points/NNN.json`` (records), ``raw/NNN-*`` (the tool's own files, its log, the last
/metrics text). Uploads are write-once (workloads/gcs.py), so an earlier run is never overwritten.

The spec it reads is tpustack.core.contracts.BenchSpec (built by tpustack/render/bench.py), the manifest it writes
a RunManifest. Stdlib only (plus google-cloud-storage when the image has it), Python 3.10+: it runs inside the
engine's or the tool's image.
"""

from __future__ import annotations

import argparse
import contextlib
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

from tpustack.core import images, outputs
from tpustack.core.contracts import (
    RUN_SCHEMA,
    BenchSpec,
    ColdStart,
    Record,
    RunManifest,
    RunPoint,
    SpecGateway,
    SweepPoint,
)
from tpustack.core.errors import BenchmarkError, TpuStackError

from . import cachestats, cold_start, gcs, promscrape, records, tools
from .tools.inference_perf import config as inference_perf_config  # noqa: F401 (tests/integration/test_engine_facts.py)

# datetime.UTC is Python 3.11+, and pod code runs on 3.10 too (tpustack.core.enums)
UTC = dt.timezone.utc  # noqa: UP017


def new_run_id() -> str:
    return f"{dt.datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _now() -> str:
    return dt.datetime.now(UTC).isoformat(timespec="seconds")


class Sink:
    """Write-once destination: a gs:// prefix or a local directory (development, tests)."""

    def __init__(self, prefix: str):
        self.prefix = prefix.rstrip("/")
        self.written: list[str] = []

    def put(self, rel: str, data: bytes, content_type: str = "application/json") -> str:
        target = f"{self.prefix}/{rel}"
        if target.startswith("gs://"):
            gcs.write_new(target, data, content_type)
        else:  # the one write path: exclusive, never through a link, whole or not at all
            outputs.write_file(Path(target), data, "results_uri")
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
                f"server not ready: {url} did not answer 200 within {timeout_s:g} s (last: {last})",
                fix="check the engine pod's logs (model download, compilation, HBM fit) and the Service name/port "
                "in the spec",
            )
        time.sleep(max(0.0, min(interval_s, timeout_s - (time.monotonic() - start))))


SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def gateway_address(gw: SpecGateway, timeout_s: float, interval_s: float = 10.0, api: str | None = None) -> str:
    """The address GKE gave the stack's Gateway (status.addresses[0].value once it is Programmed), read from the
    Kubernetes API with the pod's service account (Role tpustack-gateway-reader). ``api`` overrides the in-cluster
    API URL (tests); BenchmarkError after timeout_s."""
    import ssl

    ns, name = gw["namespace"], gw["name"]
    if api is None:
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise BenchmarkError(
                "spec.server.gateway needs the Kubernetes API (KUBERNETES_SERVICE_HOST)",
                fix="run in the cluster, or set server.base_url and drop server.gateway",
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
                f"Gateway {ns}/{name} has no programmed address after {timeout_s:g} s (last: {last})",
                fix=f"`kubectl describe gateway -n {ns} {name}` (proxy-only subnet, GKE version, Gateway API enabled)",
            )
        time.sleep(max(0.0, min(interval_s, timeout_s - (time.monotonic() - start))))


# ----- one point ---------------------------------------------------------------------------------------------
def _dataset_path(spec: BenchSpec, workdir: Path) -> str | None:
    load = spec["load"]
    if load["dataset"] in ("random", images.SHARED_PREFIX_DATASET):  # generated by the tool: no file
        return None
    if load.get("dataset_path"):
        return load["dataset_path"]
    url = load.get("dataset_url")
    if not url:
        raise BenchmarkError(
            f"load.dataset {load['dataset']} needs a file and the spec has neither dataset_path nor dataset_url",
            fix="set load.dataset_path in the spec",
        )
    path = workdir / url.rsplit("/", 1)[-1]
    if not path.exists():
        with urllib.request.urlopen(url, timeout=600) as r, open(path, "wb") as f:
            shutil.copyfileobj(r, f)
    return str(path)


def spec_tool(spec: BenchSpec) -> tools.BenchTool:
    try:
        return tools.tool(spec["tool"])
    except tools.UnknownTool as e:
        raise BenchmarkError(f"spec.tool '{spec['tool']}' is unknown", fix=e.fix) from None


def invocation(
    spec: BenchSpec, point: SweepPoint, outdir: Path, num_prompts: int, dataset_path: str | None
) -> tuple[list[str], Path]:
    """(argv, cwd) of the tool for one point; files land in outdir."""
    outdir.mkdir(parents=True, exist_ok=True)
    tool = spec_tool(spec)
    return list(spec["tool_command"]) + tool.argv(spec, point, outdir, num_prompts, dataset_path), outdir


def _point_timeout(spec: BenchSpec, point: SweepPoint) -> float:
    base = spec["timeouts"]["point_min_s"]
    rate = point.get("request_rate")
    if rate:
        return base + 3 * spec["load"]["num_prompts"] / rate
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


Log = Callable[[str], None]


def _ready(spec: BenchSpec, manifest: RunManifest, sink: Sink, work: Path, log: Log) -> str | None:
    """Wait for the server (through the stack's Gateway, when it has one) and fetch the dataset; a failure is
    recorded in run.json before it is raised."""
    server, run_id = spec["server"], manifest["run_id"]
    try:
        gw = server.get("gateway")
        if gw:
            log(f"run {run_id}: waiting for Gateway {gw['namespace']}/{gw['name']}")
            addr = gateway_address(gw, spec["timeouts"]["ready_s"], api=gw.get("api"))
            # every tool and the health wait go through the gateway, as users do
            server["base_url"] = f"http://{addr}:{gw['port']}"
            manifest["gateway_address"] = addr
        log(f"run {run_id}: waiting for {server['base_url']}{server['health_path']}")
        manifest["ready_wait_s"] = wait_ready(server["base_url"] + server["health_path"], spec["timeouts"]["ready_s"])
        return _dataset_path(spec, work)
    except (BenchmarkError, OSError) as e:  # the failed run is recorded too
        manifest["finished_at"] = _now()
        manifest["status"] = f"failed: {e}"
        sink.put_json("run.json", manifest)
        raise e if isinstance(e, BenchmarkError) else BenchmarkError(f"dataset download failed: {e}") from e


def _warmup(spec: BenchSpec, manifest: RunManifest, sink: Sink, work: Path, dataset: str | None, log: Log) -> None:
    """The tool at the first point with load.warmups requests; only its log is kept."""
    load, wdir = spec["load"], work / "warmup"
    argv, cwd = invocation(spec, spec["sweep"][0], wdir, load["warmups"], dataset)
    log(f"warm-up: {load['warmups']} requests")
    rc = _run_tool(argv, cwd, _point_timeout(spec, spec["sweep"][0]), wdir / "tool.log")
    sink.put("raw/warmup-tool.log", (wdir / "tool.log").read_bytes(), "text/plain")
    manifest["warmup"] = {"requests": load["warmups"], "exit_code": rc}


def _cold_start(spec: BenchSpec, log: Log) -> ColdStart | None:
    """The serving pods' measured cold start, read once the server answered (events expire after an hour)."""
    pods = spec["server"].get("pods")
    if not pods:
        return None
    gateway = spec["server"].get("gateway")
    api = gateway.get("api") if gateway else None
    found = cold_start.read(pods["namespace"], pods["selector"], spec["metadata"].get("engine_image"), api=api)
    if pods.get("estimate"):
        found["estimate"] = pods["estimate"]
    log(f"cold start: {found.get('error') or str(len(found['pods'])) + ' pod(s) read'}")
    return found


def _point(
    spec: BenchSpec,
    i: int,
    point: SweepPoint,
    manifest: RunManifest,
    sink: Sink,
    work: Path,
    dataset: str | None,
    log: Log,
    cold: ColdStart | None = None,
) -> RunPoint:
    """One sweep point: the tool run while the server's metrics are scraped, its files uploaded, then its record
    (points/NNN.json) or, when it failed, the error in its entry."""
    load, pdir = spec["load"], work / f"point-{i:03d}"
    argv, cwd = invocation(spec, point, pdir, load["num_prompts"], dataset)
    tool = spec_tool(spec)
    entry: RunPoint = {"index": i, **point, "argv": argv, "started_at": _now()}
    log(f"point {i}: {point}")
    interval = spec.get("scrape_interval_s", 5)
    with contextlib.ExitStack() as scrapes:
        scraper = scrapes.enter_context(promscrape.Scraper(spec["server"].get("metrics_url"), interval))
        by_role = {
            # each role's headless Service: every pod of the role, summed
            role: scrapes.enter_context(promscrape.Scraper(url, interval, fan_out=True))
            for role, url in (spec["server"].get("role_metrics_urls") or {}).items()
        }
        rc = _run_tool(argv, cwd, _point_timeout(spec, point), pdir / "tool.log")
    entry["finished_at"], entry["exit_code"] = _now(), rc
    sink.put(f"raw/{i:03d}-tool.log", (pdir / "tool.log").read_bytes(), "text/plain")
    if scraper.last_text:
        sink.put(f"raw/{i:03d}-metrics.prom", scraper.last_text.encode(), "text/plain")
    try:
        if rc != 0:
            raise BenchmarkError(f"{spec['tool']} exited {rc} at point {i}", fix=f"see raw/{i:03d}-tool.log")
        tool.after_run(spec, pdir, _run_tool)
        record, raw = tool.read_point(spec, pdir, point)
    except BenchmarkError as e:
        entry["status"], entry["error"] = "failed", str(e)
        log(f"point {i} failed: {e}")
        return entry
    for f in raw:
        sink.put(f"raw/{i:03d}-{f.name}", f.read_bytes(), "application/json")
    if not tool.facts.sends_temperature:
        record["conversions"].append(
            f"load.temperature {load.get('temperature')} not sent: {spec['tool']} "
            "has no sampling flag; the server's default applies"
        )
    record["server_metrics"] = scraper.summary()
    if cold is not None:
        record["cold_start"] = cold
    _cache_figures(record, {r: s.summary() for r, s in by_role.items()} or {"serve": record["server_metrics"]})
    record["source_file"] = f"raw/{i:03d}-{raw[0].name}"
    records.finish(
        record,
        chips=spec.get("chips"),
        index=i,
        load=load,
        metadata={
            **spec["metadata"],
            "run_id": manifest["run_id"],
            "started_at": entry["started_at"],
            "finished_at": entry["finished_at"],
            "run_started_at": manifest["started_at"],
        },
    )
    entry["status"], entry["record"], entry["kept_up"] = "ok", f"points/{i:03d}.json", record["client"]["kept_up"]
    sink.put_json(f"points/{i:03d}.json", record)
    return entry


def _cache_figures(record: Record, summaries: dict[str, dict[str, Any]]) -> None:
    """Each role's prefix-cache hit rate and KV transfers over the point, from its engine's own counters."""
    for role, summary in summaries.items():
        metrics = summary.get("metrics") or {}
        pc, kv = cachestats.prefix_cache(metrics), cachestats.kv_transfer(metrics)
        if pc is not None:
            record.setdefault("prefix_cache", {})[role] = pc
        if kv is not None:
            record.setdefault("kv_transfer", {})[role] = kv


def run(
    spec: BenchSpec, *, run_id: str | None = None, workdir: Path | None = None, log: Log | None = None
) -> RunManifest:
    """Run the whole sweep; returns the run manifest (also uploaded as run.json)."""
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    run_id = run_id or new_run_id()
    sink = Sink(f"{spec['results_uri']}/{run_id}")
    if sink.occupied():
        raise gcs.ObjectExists(
            f"{sink.prefix} already holds results: run ids are never reused",
            fix="start the Job again (it makes a new run id) or pass another --run-id",
        )
    work = Path(workdir or tempfile.mkdtemp(prefix="tpustack-bench-"))
    load = spec["load"]
    manifest: RunManifest = {
        "schema": RUN_SCHEMA,
        "run_id": run_id,
        "stack": spec["stack"],
        "metadata": spec["metadata"],
        "load": load,
        "slo": spec.get("slo"),
        "tool": spec["tool"],
        "started_at": _now(),
        "points": [],
        "spec": spec,
        "uri": sink.prefix,
    }
    dataset = _ready(spec, manifest, sink, work, log)
    cold = _cold_start(spec, log)
    if load.get("warmups") and spec["sweep"]:
        _warmup(spec, manifest, sink, work, dataset, log)
    failures = 0
    for i, point in enumerate(spec["sweep"]):
        entry = _point(spec, i, point, manifest, sink, work, dataset, log, cold)
        failures += entry["status"] == "failed"
        manifest["points"].append(entry)
    manifest["finished_at"] = _now()
    manifest["status"] = "ok" if not failures else f"{failures} point(s) failed"
    sink.put_json("run.json", manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m tpustack.workloads.serving_bench", description=__doc__.split("\n")[0])
    p.add_argument("--spec", required=True, help="JSON spec written by tpustack/render/bench.py bench_spec()")
    p.add_argument("--run-id", default=None)
    args = p.parse_args(argv)
    try:
        spec = json.loads(Path(args.spec).read_text())
    except (OSError, ValueError) as e:
        unreadable = BenchmarkError(f"cannot read the spec {args.spec}: {e}", fix="mount the ConfigMap at that path")
        print(f"error: {unreadable}", file=sys.stderr)
        return unreadable.exit_code
    try:
        manifest = run(spec, run_id=args.run_id)
    except TpuStackError as e:  # a benchmark error (4), a reused run id (3), GCS or credentials (1): no traceback
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(json.dumps({k: manifest.get(k) for k in ("run_id", "uri", "status")}))
    return 0 if manifest.get("status") == "ok" else BenchmarkError.exit_code


if __name__ == "__main__":
    sys.exit(main())
