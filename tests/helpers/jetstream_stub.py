"""A loopback JetStream Orchestrator (gRPC) from JetStream's own generated stubs, paced like a real server: the first
token after ``TTFT_MS``, then one token every ``TPOT_MS``, stopping early like end-of-sequence (between 30 % and 100 %
of max_tokens). Token ids are byte ranks 65-90 ('A'-'Z'), so a byte-level tokenizer re-encodes them one for one.

Run with the JetStream client's venv and PYTHONPATH=<JetStream checkout>:  python jetstream_stub.py PORT LOG
Each served request is appended to LOG as JSON: prompt tokens, output tokens, first and last token times.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time

import grpc
from jetstream.core.proto import jetstream_pb2, jetstream_pb2_grpc

TTFT_MS, TPOT_MS = 100.0, 20.0


class Orchestrator(jetstream_pb2_grpc.OrchestratorServicer):
    def __init__(self, log: str):
        self.log = log
        self.rng = random.Random(0)

    async def Decode(self, request, context):
        start = time.monotonic()
        n_in = len(request.token_content.token_ids)
        n_out = max(2, int(request.max_tokens * self.rng.uniform(0.3, 1.0)))
        times = []
        await asyncio.sleep(TTFT_MS / 1000)
        for i in range(n_out):
            if i:
                await asyncio.sleep(TPOT_MS / 1000)
            times.append(time.monotonic())
            sample = jetstream_pb2.DecodeResponse.StreamContent.Sample(token_ids=[self.rng.randint(65, 90)])
            yield jetstream_pb2.DecodeResponse(
                stream_content=jetstream_pb2.DecodeResponse.StreamContent(samples=[sample])
            )
        with open(self.log, "a") as f:
            f.write(json.dumps({"in": n_in, "out": n_out, "start": start, "first": times[0], "last": times[-1]}) + "\n")

    async def HealthCheck(self, request, context):
        return jetstream_pb2.HealthCheckResponse(is_live=True)


async def main(port: int, log: str) -> None:
    server = grpc.aio.server()
    jetstream_pb2_grpc.add_OrchestratorServicer_to_server(Orchestrator(log), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
