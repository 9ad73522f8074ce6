"""A loopback OpenAI-compatible completions server with realistic token pacing, for the real benchmark clients.

``with OpenAIServer() as srv:`` serves on 127.0.0.1 until the block ends:
  POST /v1/completions  streams Server-Sent Events as vLLM does: one ``data: {...}`` event per token (the first
                        after ``ttft_s``, then one every ``tpot_s``), an optional usage event when the request
                        asks for it (``stream_options.include_usage``), then ``data: [DONE]``. With
                        ``ignore_eos`` false the output stops early at a length drawn per prompt, like a model
                        reaching its end-of-sequence token; with it true the output is ``max_tokens`` long.
  GET /health, /v1/models, /metrics (a few vllm: series)
Every request's own timing (server side) is kept in ``srv.requests`` to check what the clients report.
Stdlib only; HTTP/1.1 with chunked transfer, as the engines answer.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
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


class OpenAIServer:
    def __init__(
        self, ttft_s: float = 0.100, tpot_s: float = 0.020, model: str = "fake-model", min_fraction: float = 0.3
    ):
        self.ttft_s, self.tpot_s, self.model, self.min_fraction = ttft_s, tpot_s, model, min_fraction
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
                    n = len(srv.requests)
                    text = (
                        f"# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 0\n"
                        f"# TYPE vllm:generation_tokens_total counter\nvllm:generation_tokens_total "
                        f"{sum(r.output_tokens for r in srv.requests)}\n"
                        f"# TYPE vllm:request_success_total counter\nvllm:request_success_total {n}\n"
                    ).encode()
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
