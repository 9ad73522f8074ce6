"""KV cache offload to the node's memory (``tpustack:engine.vllm.kvOffloadGib``): how each pinned engine turns it
on, and how much memory a node has for it. Stdlib only: facts, no config. Checked against the vllm-tpu and
tpu-inference 0.32.0 wheels by tests/integration/test_engine_facts.py.

- GPU: vLLM's native offloading, ``--kv-offloading-size`` in GiB, the total over the replica's tensor-parallel
  ranks (vllm/config/cache.py kv_offloading_size; vllm/config/vllm.py turns it into OffloadingConnector with
  cpu_bytes_to_use). On CUDA its buffer is one file in /dev/shm, and vLLM refuses to start when /dev/shm has less
  room (vllm/v1/kv_offload/cpu/shared_offload_region.py; shm_broadcast.py check_shm_free_space), so the pod's
  memory-backed /dev/shm is sized for it. OffloadingConnector runs on CUDA, ROCm and XPU only
  (docs/features/kv_offloading_usage.md), hence the TPU path below.
- TPU: tpu-inference's TPUOffloadConnector, selected by ``--kv-transfer-config`` with its module path (the worker
  reserves its HBM staging buffer only when both strings match: tpu_inference/worker/tpu_worker.py) and sized by
  ``TPU_OFFLOAD_NUM_CPU_CHUNKS`` (tpu_inference/envs.py, default 1024), one chunk being one KV block of every
  layer. The block size is tpu-inference's own choice (tpu_inference/layers/vllm/backends/flash_attn.py
  get_page_size and get_min_page_size, applied by platforms/tpu_platform.py when the user sets none):
  ``tpu_block_tokens`` repeats it, so the chunk count is the GiB asked for over one chunk's bytes (the TPU pads
  heads, so the real buffer can be larger: the plan says so).
"""

from __future__ import annotations

import math

GIB = 1 << 30

VLLM_OFFLOAD_FLAG = "--kv-offloading-size"
TPU_OFFLOAD_CONNECTOR = {
    "kv_connector": "TPUOffloadConnector",
    "kv_connector_module_path": "tpu_inference.offload.tpu_offload_connector",
    "kv_role": "kv_both",
}
TPU_OFFLOAD_CHUNKS_ENV = "TPU_OFFLOAD_NUM_CPU_CHUNKS"


def gke_allocatable_gib(capacity_gib: float) -> float:
    """What pods may use of a GKE node's memory (GKE docs, "Plan for node sizes", memory reservations): capacity
    less 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next 112 and 2% of the rest, and
    the kubelet's 100 MiB eviction threshold."""
    tiers = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (math.inf, 0.02))
    left, reserved = capacity_gib, 0.0
    for size, share in tiers:
        part = min(left, size)
        reserved += part * share
        left -= part
        if left <= 0:
            break
    return capacity_gib - reserved - 100 / 1024


def tpu_block_tokens(max_model_len: int, max_num_seqs: int) -> int:
    """tpu-inference 0.32.0's KV block (page) size in tokens when the user sets none: 16 above 8192 tokens of
    context, else the context's next power of two over 16, within [16, 256]; raised to the smallest page that
    keeps every sequence's page table in SMEM (get_min_page_size)."""
    if max_model_len > 8192:
        page = 16
    else:
        page = min(max(_next_pow2(max_model_len) // 16, 16), 256)
    per_req = 1024 * 1024 // 2 // max_num_seqs // 4
    least = 1 << (math.ceil(max_model_len / per_req) - 1).bit_length()
    return max(page, least)


def tpu_chunks(gib: float, chunk_bytes: float) -> int:
    """TPU_OFFLOAD_NUM_CPU_CHUNKS for ``gib`` of host memory: one chunk is one KV block of every layer."""
    return max(1, int(gib * GIB // chunk_bytes))


def _next_pow2(n: int) -> int:
    return 1 << (max(n, 1) - 1).bit_length()
