"""A local engine for the serving benchmark's tests: health and Prometheus metrics on 127.0.0.1 (the stand-in for
`vllm bench serve` that goes with it is tests/fixtures/results/fake_vllm_bench.py)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

METRICS = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{model_name="m"}} {running}
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{{model_name="m"}} {tokens}
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{{le="1.0",model_name="m"}} {count}
vllm:e2e_request_latency_seconds_sum{{model_name="m"}} {lat_sum}
vllm:e2e_request_latency_seconds_count{{model_name="m"}} {count}
# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{{engine="0",model_name="m"}} {queries}
# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{{engine="0",model_name="m"}} {hits}
process_cpu_seconds_total 12.5
"""


class Engine:
    """`with Engine() as e:` serves /health and /metrics at e.url until the block ends."""

    def __init__(self) -> None:
        self.scrapes = 0
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/health":
                    body, status = b"", 200
                elif self.path == "/metrics":
                    engine.scrapes += 1
                    n = engine.scrapes
                    body = METRICS.format(
                        running=n % 4, tokens=100 * n, count=2 * n, lat_sum=0.6 * n, queries=64.0 * n, hits=48.0 * n
                    ).encode()
                    status = 200
                else:
                    body, status = b"not found", 404
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Engine:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
