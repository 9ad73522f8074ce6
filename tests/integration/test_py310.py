"""Pod code runs on Python 3.10: the TPU VM runtime's Ubuntu 22.04 (python3 = 3.10) and xla:r2.7.0_3.10_tpuvm run the
heartbeat; the benchmark images run the runner. Each real pod payload (tpustack.render.payload, exactly the files a
ConfigMap or the TPU VM's bucket objects carry) is copied into a temp dir and run there under Python 3.10:

* the heartbeat end to end on the CPU (JAX, from the 3.10 venv: no CPU torch wheel exists for 3.10 here), writing
  its JSON;
* the runner's --help, then a whole sweep (health wait, the tool's command line, its file normalized, records and
  run.json written) with a stand-in for `vllm bench serve` that writes a real result file, and the tools'
  normalizers over every fixture, whose records must equal those this Python makes;
* mypy at --python-version 3.10 over both payloads: typeshed knows which stdlib names are 3.11+ (datetime.UTC,
  enum.StrEnum, typing.Self...), which ruff's target-version does not check.

No Python 3.10 is a failure, not a skip: CI must prove this (its pyenv image has 3.10, like this one). The 3.10
venv (.ci/lock/pod-py310.txt) is built once in .cache/clients/py310 (tests/clients.py).
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tpustack.render import BENCH_ENTRY, HEARTBEAT_ENTRY, payload
from tpustack.workloads import results

from helpers import clients
from helpers.project import BASE, FIXTURES, ROOT, SECRETS, as_engine_values

FIX = FIXTURES / "results"
PINS = ROOT / ".ci" / "lock" / "pod-py310.txt"


def python310() -> str:
    """Python 3.10: on PATH, or pyenv's; the test fails (never skips) without one."""
    candidates = [shutil.which("python3.10"), *sorted(glob.glob(str(Path.home() / ".pyenv/versions/3.10*/bin/python")))]
    for c in candidates:
        if c and subprocess.run([c, "-c", "import sys; assert sys.version_info[:2] == (3, 10)"]).returncode == 0:
            return c
    pytest.fail(
        "no Python 3.10 interpreter (python3.10 on PATH or ~/.pyenv/versions/3.10*/bin/python): pod code must be "
        "proven on 3.10, the Python of the TPU VM runtime. Fix: `pyenv install 3.10` (CI's image has it)"
    )


@pytest.fixture(scope="module")
def py310() -> str:
    return python310()


@pytest.fixture(scope="module")
def venv310(py310) -> Path:
    """The Python of a 3.10 venv with JAX (CPU) and mypy, from .ci/lock/pod-py310.txt."""

    def install(pip: list) -> None:
        clients._run([*pip, "install", "-r", PINS])

    return clients._venv("py310", py310, clients._stamp(PINS.read_text()), install) / "bin" / "python"


def unpack(entry: str, root: Path) -> Path:
    """The entry's payload laid out as the package, as the pod sees it."""
    for f in payload(entry).files:
        (root / f.path).parent.mkdir(parents=True, exist_ok=True)
        (root / f.path).write_bytes(f.source.read_bytes())
    return root


def pod_env(code: Path) -> dict[str, str]:
    """PYTHONPATH = the payload only, as the Job and the TPU VM set it."""
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", ""), "PYTHONPATH": str(code)}


def run(argv: list, cwd: Path, code: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=pod_env(code), capture_output=True, text=True, timeout=timeout
    )


class TestHeartbeatOn310:
    def test_end_to_end_on_the_cpu_writes_its_result(self, venv310, tmp_path):
        code = unpack(HEARTBEAT_ENTRY, tmp_path / "code")
        out = tmp_path / "out" / "heartbeat.json"
        r = run(
            [venv310, "-m", "tpustack.workloads.heartbeat", "--backend", "jax", "--accelerator", "cpu"]
            + ["--shape", "16,64,128", "--iterations", "3", "--trials", "2", "--out", out],
            tmp_path,
            code,
        )
        assert r.returncode == 0, r.stderr[-3000:]
        doc = json.loads(out.read_text())
        assert doc["ok"] and doc["error"] is None and doc["backend"] == "jax", doc
        assert doc["versions"]["python"].startswith("3.10.") and doc["roofline"]["kind"] == "cpu"
        assert doc["started_at"].endswith("+00:00") and doc["finished_at"].endswith("+00:00")
        assert doc["result"]["ms_per_iteration"] > 0 and len(doc["timing"]["trials_ms_per_iteration"]) == 2
        assert not list(tmp_path.glob("heartbeat-*.json"))  # nothing had to be rescued


class _Health:
    """/health answering 200, as vLLM's does once the model is served."""

    def __enter__(self):
        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200 if self.path == "/health" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


# A stand-in for `vllm bench serve`, on 3.10 too: writes a real result file (the detailed fixture) where the runner's
# command line says.
FAKE_VLLM = (
    "import shutil, sys; a = sys.argv; "
    "shutil.copy(sys.argv[1], a[a.index('--result-dir') + 1] + '/' + a[a.index('--result-filename') + 1])"
)
VLLM_DETAILED = FIX / "vllm" / "vllm-2.0qps-Llama-3.1-8B-Instruct-20261123-101500.json"

# Every fixture normalized by the tools on 3.10, printed as one JSON document.
NORMALIZE_ALL = """
import json, sys
from pathlib import Path
from tpustack.workloads.tools import inference_perf, jetstream_benchmark, vllm_bench
from tpustack.workloads import records
fix = Path(sys.argv[1])
load = lambda p: json.loads((fix / p).read_text())
js = "jetstream/JetStream-2.0qps-Llama-3.1-8B-Instruct-20261123-101500.json"
slo = {"ttft_ms": 120, "tpot_ms": 21}
out = {
    "vllm": vllm_bench.normalize(load("vllm/vllm-2.0qps-Llama-3.1-8B-Instruct-20261123-101500.json"), slo=slo),
    "vllm-agg": vllm_bench.normalize(load("vllm/vllm-4.0qps-Llama-3.1-8B-Instruct-20261123-102000.json")),
    "js": jetstream_benchmark.normalize(load(js), load("jetstream/request-outputs.json"), slo=slo),
    "js-agg": jetstream_benchmark.normalize(load(js)),
    "ip": inference_perf.normalize(load("inference-perf/stage_1_lifecycle_metrics.json"), stage=1, slo=slo),
}
print(json.dumps(out))
"""


class TestRunnerOn310:
    def test_help(self, py310, tmp_path):
        code = unpack(BENCH_ENTRY, tmp_path / "code")
        r = run([py310, "-S", "-m", "tpustack.workloads.serving_bench", "--help"], tmp_path, code)
        assert r.returncode == 0, r.stderr
        assert "--spec" in r.stdout and "bench_spec" in r.stdout

    def test_a_sweep_and_the_normalizers(self, py310, tmp_path):
        """-S: no site-packages, only the payload and the standard library, as in a benchmark image."""
        from tpustack.config import load_config
        from tpustack.render import bench
        from tpustack.workloads.tools import inference_perf, jetstream_benchmark, vllm_bench

        code = unpack(BENCH_ENTRY, tmp_path / "code")
        c = dict(BASE, **{"tpustack:benchmark": {"requestRates": [2, 4], "numPrompts": 5, "warmups": 1}})
        with _Health() as health:
            spec = bench.bench_spec(
                load_config(as_engine_values(c), SECRETS, "py310"),
                base_url=health.url,
                metrics_url=None,
                results_uri=str(tmp_path / "results"),
                git_revision="r310",
            )
            spec["tool_command"] = [py310, "-c", FAKE_VLLM, str(VLLM_DETAILED)]
            (tmp_path / "spec.json").write_text(json.dumps(spec))
            r = run(
                [py310, "-S", "-m", "tpustack.workloads.serving_bench", "--spec", tmp_path / "spec.json"],
                tmp_path,
                code,
            )
        assert r.returncode == 0, r.stderr[-3000:]
        summary = json.loads(r.stdout)
        run_id, run_dir = summary["run_id"], tmp_path / "results" / summary["run_id"]
        assert summary["status"] == "ok" and re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", run_id), summary
        manifest = json.loads((run_dir / "run.json").read_text())
        assert manifest["warmup"]["exit_code"] == 0 and [p["status"] for p in manifest["points"]] == ["ok", "ok"]
        rec = results.checked(json.loads((run_dir / "points" / "001.json").read_text()))
        assert rec["metadata"]["run_id"] == run_id and rec["metadata"]["started_at"].endswith("+00:00")
        expected = vllm_bench.normalize(json.loads(VLLM_DETAILED.read_text()), slo=spec["slo"])
        assert rec["latency_ms"] == expected["latency_ms"] and rec["requests"] == expected["requests"]

        # the normalizers give, on 3.10, exactly the records this Python gives
        n = run([py310, "-S", "-c", NORMALIZE_ALL, FIX], tmp_path, code)
        assert n.returncode == 0, n.stderr[-3000:]
        slo = {"ttft_ms": 120, "tpot_ms": 21}
        load = lambda p: json.loads((FIX / p).read_text())  # noqa: E731
        js = "jetstream/JetStream-2.0qps-Llama-3.1-8B-Instruct-20261123-101500.json"
        ours = {
            "vllm": vllm_bench.normalize(load("vllm/vllm-2.0qps-Llama-3.1-8B-Instruct-20261123-101500.json"), slo=slo),
            "vllm-agg": vllm_bench.normalize(load("vllm/vllm-4.0qps-Llama-3.1-8B-Instruct-20261123-102000.json")),
            "js": jetstream_benchmark.normalize(load(js), load("jetstream/request-outputs.json"), slo=slo),
            "js-agg": jetstream_benchmark.normalize(load(js)),
            "ip": inference_perf.normalize(load("inference-perf/stage_1_lifecycle_metrics.json"), stage=1, slo=slo),
        }
        assert n.stdout.strip() == json.dumps(ours)


class TestPayloadsTypeCheckAt310:
    def test_mypy_python_3_10(self, venv310, tmp_path):
        code = tmp_path / "code"
        unpack(HEARTBEAT_ENTRY, code)
        unpack(BENCH_ENTRY, code)
        r = subprocess.run(
            [str(venv310), "-m", "mypy", "--python-version", "3.10", "--config-file", str(ROOT / "pyproject.toml")]
            + ["--ignore-missing-imports", "--no-incremental", "-p", "tpustack"],
            cwd=code,
            env={**pod_env(code), "MYPYPATH": str(code)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
