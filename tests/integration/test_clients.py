"""The real benchmark clients, run by the runner with the command lines the Job renders, against a loopback
OpenAI-compatible server with realistic pacing (first token ~100 ms, then ~20 ms per token, output lengths that
stop early like end-of-sequence): their own figures must come out of the normalizers unchanged, and our TPOT
definition, (E2E - TTFT) / (n - 1), must agree with what each tool's per-request data gives and with the server's
own clock.

Heavy: the clients live in their own venvs under .cache/clients (tests/clients.py; vllm 0.32.0 --no-deps with the
CPU torch, inference-perf 0.7.0 on Python 3.12). Marked `clients`; `make test-clients` runs them (CI does).
JetStream's benchmark_serving at the pinned commit is not on PyPI, which is all CI reaches: its test runs where
TPUSTACK_SOURCES names a checkout (and says so when it skips); CI normalizes its recorded real outputs
(tests/unit/workloads/test_results.py::TestJetStreamRealOutputs).
"""

from __future__ import annotations

import copy
import json
import shutil
import statistics
from pathlib import Path

import pytest

from tpustack.config import load_config
from tpustack.core import images
from tpustack.render import bench as bench_spec
from workloads import serving_bench

from helpers import clients
from helpers.loopback import OpenAIServer
from helpers.project import BASE, SECRETS, TESTS, as_engine_values

pytestmark = pytest.mark.clients
MODEL = BASE["tpustack:model"]["id"]


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory) -> Path:
    """An offline Hugging Face cache holding the loopback tokenizer under the stack's model id."""
    home = tmp_path_factory.mktemp("hf")
    snap = home / "hub" / f"models--{MODEL.replace('/', '--')}" / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    for f in clients.tokenizer().iterdir():
        shutil.copy2(f, snap / f.name)
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("0" * 40)
    return home


def run_tool(
    tmp_path: Path, monkeypatch, hf_home: Path, benchmark: dict, command: list[str], server: OpenAIServer | None = None
):
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    c = copy.deepcopy(BASE)
    c["tpustack:benchmark"] = benchmark
    cfg = load_config(as_engine_values(c), SECRETS, "clients")
    with server or OpenAIServer(model=MODEL) as srv:
        spec = bench_spec.bench_spec(
            cfg, base_url=srv.url, metrics_url=f"{srv.url}/metrics", results_uri=str(tmp_path), git_revision="t"
        )
        spec["tool_command"] = command  # the rendered invocation, from the test venv instead of the image
        manifest = serving_bench.run(spec, run_id="r1", log=lambda s: None)
        served = list(srv.requests)
    assert manifest["status"] == "ok", json.dumps(manifest, indent=1)[:3000]
    run = tmp_path / "r1"
    record = json.loads((run / "points" / "000.json").read_text())
    return record, run / "raw", served


def close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    return a is not None and b is not None and abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


def server_tpot_ms(served) -> float:
    return 1000 * statistics.mean(r.tpot for r in served if r.tpot is not None)


def test_vllm_bench_serve(tmp_path, monkeypatch, hf_home):
    benchmark = {
        "dataset": "random",
        "ignoreEos": True,  # vllm bench always ignores EOS on random (rule eos_setting_is_what_the_tool_does)
        "requestRates": [4],
        "numPrompts": 24,
        "warmups": 0,
        "inputLen": 32,
        "outputLen": 24,
        "slo": {"ttftMs": 300, "tpotMs": 30},
    }
    rec, raw, served = run_tool(tmp_path, monkeypatch, hf_home, benchmark, [str(clients.vllm()), "bench", "serve"])
    own = json.loads((raw / "000-vllm.json").read_text())
    lat = rec["latency_ms"]
    for ours, theirs in (("ttft", "ttft"), ("tpot", "tpot"), ("itl", "itl"), ("e2e", "e2el")):
        for stat, key in (("mean", "mean"), ("p50", "median"), ("p90", "p90"), ("p99", "p99")):
            assert close(lat[ours][stat], own[f"{key}_{theirs}_ms"], 1e-6), (ours, stat, lat[ours], own)
    assert close(rec["throughput"]["output_tokens_per_s"], own["output_throughput"])
    assert rec["requests"]["completed"] == own["completed"] == 24
    # our TPOT from the tool's own per-request arrays, and from the server's clock
    tpots = [
        1000 * (e - t) / (n - 1)
        for e, t, n in zip(own["latencies"], own["ttfts"], own["output_lens"], strict=True)
        if n > 1
    ]
    assert close(lat["tpot"]["mean"], statistics.mean(tpots), 0.01)
    assert close(lat["tpot"]["mean"], server_tpot_ms(served), 0.05)
    # achieved rate from the send times vLLM 0.32 writes (start_times)
    assert rec["client"]["achieved_rate"] is not None and rec["client"]["kept_up"] is True


def test_inference_perf(tmp_path, monkeypatch, hf_home):
    benchmark = {
        "tool": "inference-perf",
        "dataset": "random",
        "ignoreEos": False,  # real end-of-sequence stops: output lengths vary
        "requestRates": [4],
        "numPrompts": 20,
        "warmups": 0,
        "inputLen": 32,
        "outputLen": 24,
        "slo": {"ttftMs": 300, "tpotMs": 30},
    }
    rec, raw, served = run_tool(tmp_path, monkeypatch, hf_home, benchmark, [str(clients.inference_perf())])
    stage = json.loads((raw / "000-stage_0_lifecycle_metrics.json").read_text())
    rows = json.loads((raw / "000-per_request_lifecycle_metrics.json").read_text())
    # exactly the prompts asked for (stage sizing), all answered
    assert stage["load_summary"]["count"] == 20 == len(served) == rec["requests"]["completed"]
    assert len({r.output_tokens for r in served}) > 1, "the server should stop requests at different lengths"
    own = stage["successes"]["latency"]
    for ours, theirs in (("ttft", "time_to_first_token"), ("e2e", "request_latency")):
        for stat, key in (("mean", "mean"), ("p50", "median"), ("p90", "p90"), ("p99", "p99")):
            # the normalizer recomputes these per request from per_request_lifecycle_metrics.json
            assert close(rec["latency_ms"][ours][stat], 1000 * own[theirs][key], 0.01), (ours, stat)
    tpots = []
    for row in rows:
        m = row["info"]["response_metrics"]
        n = m["server_usage"]["completion_tokens"]
        times = m.get("output_token_times") or m.get("chunk_times")
        if n > 1:
            tpots.append(1000 * ((row["end_time"] - row["start_time"]) - (times[0] - row["start_time"])) / (n - 1))
    assert close(rec["latency_ms"]["tpot"]["mean"], statistics.mean(tpots), 0.01)
    assert close(rec["latency_ms"]["tpot"]["mean"], server_tpot_ms(served), 0.05)
    # inference-perf 0.7.0's own TPOT agrees too (0.2.0 reported about half)
    assert close(rec["latency_ms"]["tpot"]["mean"], 1000 * own["time_per_output_token"]["mean"], 0.02)


# ----- shared-prefix workloads (benchmark.prefix): the engine's own hit rate in the record ----------------------------
PREFIX_LOAD = {
    "dataset": "shared-prefix",
    "ignoreEos": True,
    "requestRates": [8],
    "numPrompts": 24,
    "warmups": 0,
    "inputLen": 16,  # each prompt's own question, after its group's prefix
    "outputLen": 8,
    "prefix": {"prefixLen": 64, "groups": 4},
}


def prefix_checks(rec: dict, srv: OpenAIServer, served: list) -> float:
    """The record's hit rate is the loopback cache's own, over exactly the point's requests."""
    assert len(served) == 24 == rec["requests"]["completed"]
    pc = rec["prefix_cache"]["serve"]
    assert pc["queries"] == srv.cache.queries and pc["hits"] == srv.cache.hits, (pc, srv.cache.queries)
    assert close(pc["hit_rate"], srv.cache.hits / srv.cache.queries)
    assert rec["load"]["prefix"] == {"groups": 4, "prefix_len": 64, "prompts_per_group": 6, "multi_turn": False}
    return pc["hit_rate"]


def test_vllm_bench_serve_shared_prefix(tmp_path, monkeypatch, hf_home):
    srv = OpenAIServer(model=MODEL, ttft_s=0.02, tpot_s=0.005)
    cmd = [str(clients.vllm()), "bench", "serve"]
    rec, raw, served = run_tool(tmp_path, monkeypatch, hf_home, PREFIX_LOAD, cmd, srv)
    rate = prefix_checks(rec, srv, served)
    # 4 prefixes of 64 tokens (4 blocks), 6 prompts each of 64 + 16 tokens: the first of a group misses, the other 5
    # hit the 4 prefix blocks (their own 16 tokens are random); within a token of the block boundary either way
    assert 0.6 <= rate <= (20 * 64 + 4 * 0) / (24 * 80) + 0.05, rate
    assert "--prefix-repetition-num-prefixes" in json.dumps(json.loads((tmp_path / "r1" / "run.json").read_text()))


def test_vllm_bench_serve_random_prefix_without_caching(tmp_path, monkeypatch, hf_home):
    """One --random-prefix-len prefix for all; with prefix caching off the engine counts nothing: no rate."""
    srv = OpenAIServer(model=MODEL, ttft_s=0.02, tpot_s=0.005, prefix_caching=False)
    load = {**PREFIX_LOAD, "dataset": "random", "prefix": {"prefixLen": 64}}
    rec, _, served = run_tool(tmp_path, monkeypatch, hf_home, load, [str(clients.vllm()), "bench", "serve"], srv)
    assert len(served) == 24 and rec["prefix_cache"]["serve"]["hit_rate"] is None
    assert rec["prefix_cache"]["serve"]["queries"] == 0


def test_inference_perf_shared_prefix(tmp_path, monkeypatch, hf_home):
    srv = OpenAIServer(model=MODEL, ttft_s=0.02, tpot_s=0.005)
    load = {**PREFIX_LOAD, "tool": "inference-perf"}
    rec, raw, served = run_tool(tmp_path, monkeypatch, hf_home, load, [str(clients.inference_perf())], srv)
    rate = prefix_checks(rec, srv, served)
    assert 0.6 <= rate <= 20 * 64 / (24 * 80) + 0.05, rate
    # inference-perf's own dump of the config it ran: its shared_prefix data, as tpustack wrote it
    assert any("type: shared_prefix" in p.read_text() for p in raw.glob("*.yaml")), sorted(raw.iterdir())


def test_the_loopback_metrics_are_prometheus_clients_format():
    """prometheus_client's own parser (in the vllm client's venv) reads the loopback's /metrics as vLLM's."""
    import subprocess
    import urllib.request

    with OpenAIServer(model=MODEL) as srv:
        srv.cache.admit(["w1"] * 40)
        with urllib.request.urlopen(f"{srv.url}/metrics") as r:
            text = r.read().decode()
    code = (
        "import sys; from prometheus_client.parser import text_string_to_metric_families as p; "
        "print(sorted((f.name, f.type, s.name, s.value) for f in p(sys.stdin.read()) for s in f.samples))"
    )
    out = subprocess.run(
        [str(clients.vllm().parent / "python"), "-c", code], input=text, capture_output=True, text=True, check=True
    ).stdout
    assert "('vllm:prefix_cache_queries', 'counter', 'vllm:prefix_cache_queries_total', 40.0)" in out, out
    assert "('vllm:prefix_cache_hits', 'counter', 'vllm:prefix_cache_hits_total', 0.0)" in out, out


def test_jetstream_benchmark_serving(tmp_path, monkeypatch):
    """JetStream's client at the pinned commit, from a checkout (it is not on PyPI; CI normalizes its recorded
    outputs instead, tests/unit/workloads/test_results.py::TestJetStreamRealOutputs), against a gRPC stub from its
    own protos."""
    import os
    import socket
    import subprocess
    import time

    src = os.environ.get("TPUSTACK_SOURCES")
    checkout = Path(src or "") / f"JetStream-{images.JETSTREAM_REF}"
    if not src or not checkout.is_dir():
        pytest.skip(f"needs TPUSTACK_SOURCES with JetStream-{images.JETSTREAM_REF}/ (not on PyPI)")
    python = clients.jetstream()
    shim = TESTS / "helpers" / "jetstream_shim"
    monkeypatch.setenv("PYTHONPATH", f"{shim}{os.pathsep}{checkout}")
    tok = tmp_path / "bytes.tiktoken"  # byte-level ranks, in the format of MaxText's tokenizer_llama3.tiktoken
    tok.write_text(clients.TIKTOKEN_BYTES)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    served_log = tmp_path / "served.jsonl"
    stub = subprocess.Popen(
        [python, str(TESTS / "helpers" / "jetstream_stub.py"), str(port), str(served_log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert stub.stdout is not None and stub.stdout.readline().strip() == "ready"
        c = copy.deepcopy(BASE)
        c["tpustack:accelerator"] = "v5litepod-8"
        c["tpustack:model"] = {"id": "meta-llama/Llama-3.1-8B-Instruct", "maxtextName": "llama3.1-8b"}
        c["tpustack:engine"] = {"name": "jetstream-maxtext"}
        c["tpustack:benchmark"] = {
            "dataset": "random",
            "requestRates": [4],
            "numPrompts": 16,
            "warmups": 0,
            "inputLen": 64,
            "outputLen": 24,
            "slo": {"ttftMs": 300, "tpotMs": 30},
        }
        cfg = load_config(as_engine_values(c), SECRETS, "clients")
        spec = bench_spec.bench_spec(
            cfg,
            base_url="http://unused",
            metrics_url=None,
            results_uri=str(tmp_path / "res"),
            git_revision="t",
        )
        # the rendered invocation, from the test venv; the tokenizer file stands in for /deps/assets/...
        assert spec["tool_command"] == list(images.JETSTREAM_ENGINE.bench_command)
        assert spec["model"]["client_model"] == "llama-3"
        spec["tool_command"] = [str(python), *spec["tool_command"][1:]]
        spec["model"]["tokenizer_path"] = str(tok)
        spec["server"]["grpc_target"] = f"127.0.0.1:{port}"
        with _Health() as health:  # jetstream-http's /healthcheck, which the runner waits for
            spec["server"]["base_url"] = health.url
            t0 = time.time()
            manifest = serving_bench.run(spec, run_id="r1", log=lambda s: None)
            assert time.time() - t0 < 300
    finally:
        stub.kill()
    assert manifest["status"] == "ok", json.dumps(manifest, indent=1)[:3000]
    run = tmp_path / "res" / "r1"
    rec = json.loads((run / "points" / "000.json").read_text())
    own = json.loads(next((run / "raw").glob("000-JetStream-*.json")).read_text())["metrics"]
    served = [json.loads(line) for line in served_log.read_text().splitlines()]
    assert len(served) == 16 and len({s["out"] for s in served}) > 1
    # JetStream's own aggregates come through
    assert close(rec["latency_ms"]["ttft"]["mean"], own["mean_ttft_ms"], 1e-6)
    assert close(rec["throughput"]["output_tokens_per_s"], own["output_throughput"])
    # re-encoded counts are the true ones: what the server received and streamed
    counts = json.loads(next((run / "raw").glob("000-request-tokens.json")).read_text())
    assert sorted(c["output_tokens"] for c in counts) == sorted(s["out"] for s in served)
    assert sorted(c["prompt_tokens"] for c in counts) == sorted(s["in"] for s in served)
    assert sum(c["output_tokens"] for c in counts) == own["total_output_tokens"]
    # our TPOT is the server's pace; JetStream's (latency / n) is not, and its "input tokens" were characters
    server_tpot = 1000 * statistics.mean((s["last"] - s["first"]) / (s["out"] - 1) for s in served)
    assert close(rec["latency_ms"]["tpot"]["mean"], server_tpot, 0.05)
    assert own["mean_TPOT_ms"] > 1.05 * rec["latency_ms"]["tpot"]["mean"]
    # input throughput from the tokens the server received (here a byte tokenizer makes characters = tokens; with
    # MaxText's Llama 3 tiktoken, 1024-character prompts are ~620 tokens, which JetStream reports as 1024)
    assert close(rec["throughput"]["input_tokens_per_s"], sum(s["in"] for s in served) / own["duration"])


class _Health:
    """An HTTP server answering 200 to every GET (jetstream-http's /healthcheck when the engine is live)."""

    def __enter__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
