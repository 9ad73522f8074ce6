"""A loopback OpenAI-compatible completions server with realistic token pacing, for the real benchmark clients.

``with OpenAIServer() as srv:`` serves on 127.0.0.1 until the block ends:
  POST /v1/completions  streams Server-Sent Events as vLLM does: one ``data: {...}`` event per token (the first
                        after ``ttft_s``, then one every ``tpot_s``), an optional usage event when the request
                        asks for it (``stream_options.include_usage``), then ``data: [DONE]``. With
                        ``ignore_eos`` false the output stops early at a length drawn per prompt, like a model
                        reaching its end-of-sequence token; with it true the output is ``max_tokens`` long.
  GET /health, /v1/models, /metrics (vLLM 0.32.0's series in prometheus_client's text format: prefix-cache
                        queries/hits, prompt/generation tokens, successes)
A real prefix cache (``PrefixCache``): prompts are tokenized as the clients' word-level tokenizer does (whitespace),
cut into blocks of 16 tokens, each block hashed with its parent's hash as vLLM does (vllm/v1/core/kv_cache_utils.py);
a request hits the longest run of cached blocks from its start, at most its length - 1 (a prompt's last token is
always recomputed, kv_cache_manager.py get_computed_blocks), then its blocks are cached (LRU). So a hit rate the
record computes from /metrics is what this cache really did.
Every request's own timing (server side) is kept in ``srv.requests`` to check what the clients report.
Stdlib only; HTTP/1.1 with chunked transfer, as the engines answer.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS = [f"w{i}" for i in range(2000)]


@dataclass
class ServedRequest:
    prompt_chars: int
    max_tokens: int
    output_tokens: int
    start: float
    token_times: list[float] = field(default_factory=list)

    @property
    def ttft(self) -> float:
        return self.token_times[0] - self.start

    @property
    def tpot(self) -> float | None:
        n = len(self.token_times)
        return (self.token_times[-1] - self.token_times[0]) / (n - 1) if n > 1 else None


class PrefixCache:
    """Block-hash prefix caching, as vLLM's KV cache manager counts it (queries and hits in tokens)."""

    def __init__(self, block_size: int = 16, capacity_blocks: int = 100_000, enabled: bool = True):
        self.block_size, self.capacity, self.enabled = block_size, capacity_blocks, enabled
        self.blocks: OrderedDict[str, None] = OrderedDict()
        self.queries = self.hits = 0

    def hashes(self, tokens: list[str]) -> list[str]:
        out, parent = [], ""
        for i in range(0, len(tokens) - len(tokens) % self.block_size, self.block_size):
            parent = hashlib.sha256(
                (parent + "\x00" + "\x01".join(tokens[i : i + self.block_size])).encode()
            ).hexdigest()
            out.append(parent)
        return out

    def admit(self, tokens: list[str]) -> int:
        """One prompt: its cached tokens (counted), then its blocks cached. Off: nothing counted (as vLLM)."""
        if not self.enabled or not tokens:
            return 0
        hashes, hit = self.hashes(tokens), 0
        for i, h in enumerate(hashes):
            if (i + 1) * self.block_size > len(tokens) - 1 or h not in self.blocks:
                break
            hit = (i + 1) * self.block_size
        for h in hashes:
            self.blocks[h] = None
            self.blocks.move_to_end(h)
        while len(self.blocks) > self.capacity:
            self.blocks.popitem(last=False)
        self.queries += len(tokens)
        self.hits += hit
        return hit


def counter(name: str, help_text: str, value: float, model: str) -> str:
    """One counter as prometheus_client 0.x writes it for vLLM (name_total, labels engine and model_name)."""
    return (
        f"# HELP {name}_total {help_text}\n# TYPE {name}_total counter\n"
        f'{name}_total{{engine="0",model_name="{model}"}} {float(value)!r}\n'
    )


class OpenAIServer:
    def __init__(
        self,
        ttft_s: float = 0.100,
        tpot_s: float = 0.020,
        model: str = "fake-model",
        min_fraction: float = 0.3,
        prefix_caching: bool = True,
    ):
        self.ttft_s, self.tpot_s, self.model, self.min_fraction = ttft_s, tpot_s, model, min_fraction
        self.cache = PrefixCache(enabled=prefix_caching)
        self.prompt_tokens = 0
        self.requests: list[ServedRequest] = []
        self.lock = threading.Lock()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._json(200, {})
                elif self.path == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": srv.model, "object": "model"}]})
                elif self.path == "/metrics":
                    text = srv.metrics().encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; version=0.0.4")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                else:
                    self._json(404, {"error": "not found"})

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def do_POST(self) -> None:
                start = time.perf_counter()
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path != "/v1/completions":
                    self._json(404, {"error": f"no route {self.path}"})
                    return
                prompt = body.get("prompt") or ""
                if isinstance(prompt, list):
                    prompt = " ".join(map(str, prompt))
                max_tokens = int(body.get("max_tokens") or 16)
                with srv.lock:
                    srv.prompt_tokens += len(str(prompt).split())
                    srv.cache.admit(str(prompt).split())
                n = srv.output_length(str(prompt), max_tokens, bool(body.get("ignore_eos")))
                rec = ServedRequest(len(str(prompt)), max_tokens, n, start)
                if not body.get("stream"):
                    time.sleep(srv.ttft_s + srv.tpot_s * (n - 1))
                    self._json(
                        200,
                        {
                            "choices": [
                                {
                                    "text": " ".join(WORDS[i % 2000] for i in range(n)),
                                    "index": 0,
                                    "finish_reason": "length",
                                }
                            ],
                            "usage": {"prompt_tokens": len(str(prompt).split()), "completion_tokens": n},
                        },
                    )
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(n):
                    due = start + srv.ttft_s + i * srv.tpot_s  # an absolute schedule: no drift
                    time.sleep(max(0.0, due - time.perf_counter()))
                    finish = ("length" if body.get("ignore_eos") or n == max_tokens else "stop") if i == n - 1 else None
                    event = {
                        "id": "cmpl-1",
                        "object": "text_completion",
                        "model": srv.model,
                        "choices": [{"index": 0, "text": f" {WORDS[i % 2000]}", "finish_reason": finish}],
                    }
                    rec.token_times.append(time.perf_counter())
                    self._chunk(f"data: {json.dumps(event)}\n\n".encode())
                if (body.get("stream_options") or {}).get("include_usage"):
                    usage = {
                        "prompt_tokens": len(str(prompt).split()),
                        "completion_tokens": n,
                        "total_tokens": len(str(prompt).split()) + n,
                    }
                    self._chunk(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
                self._chunk(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
                with srv.lock:
                    srv.requests.append(rec)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def metrics(self) -> str:
        """vLLM 0.32.0's names (vllm/v1/metrics/loggers.py) and help texts, in prometheus_client's format."""
        with self.lock:
            done = list(self.requests)
            queries, hits, prompt = self.cache.queries, self.cache.hits, self.prompt_tokens
        m = self.model
        return (
            "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
            f'# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{{engine="0",model_name="{m}"}} 0.0\n'
            + counter(
                "vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.", queries, m
            )
            + counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.", hits, m)
            + counter("vllm:prompt_tokens", "Number of prefill tokens processed.", prompt, m)
            + counter(
                "vllm:generation_tokens",
                "Number of generation tokens processed.",
                sum(r.output_tokens for r in done),
                m,
            )
            + counter("vllm:request_success", "Count of successfully processed requests.", len(done), m)
        )

    def output_length(self, prompt: str, max_tokens: int, ignore_eos: bool) -> int:
        """Full length when EOS is ignored; otherwise a stop between min_fraction and 100% of max_tokens,
        drawn from the prompt so that lengths vary across requests like real end-of-sequence stops."""
        if ignore_eos or max_tokens <= 1:
            return max(1, max_tokens)
        h = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        low = max(2, int(max_tokens * self.min_fraction))
        return low + int(h * (max_tokens - low + 1)) if max_tokens > low else max_tokens

    def __enter__(self) -> OpenAIServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
