"""The engine's own view of prefix caching and KV transfer over one sweep point, from its Prometheus counters.

The runner scrapes each role's /metrics before the point's first request and after its last
(tpustack.workloads.promscrape); a counter's increase over the point is the difference. Metric names are vLLM
0.32.0's (prometheus_client appends ``_total`` to a counter's name, ``_sum``/``_count`` to a histogram's):

* ``vllm:prefix_cache_queries`` / ``vllm:prefix_cache_hits`` (vllm/v1/metrics/loggers.py): prompt tokens looked up
  in the local prefix cache, and of them those found cached (whole blocks; a prompt's last token is always
  recomputed, vllm/v1/core/kv_cache_manager.py get_computed_blocks). hit rate = delta hits / delta queries.
* ``vllm:external_prefix_cache_queries`` / ``_hits``: the same for KV-connector lookups (cross-instance: the KV a
  decode server receives from a prefill server with P/D, or an offload tier).
* NIXL connector (vllm/distributed/kv_transfer/kv_connector/v1/nixl/stats.py): ``vllm:nixl_xfer_time_seconds``
  and ``vllm:nixl_bytes_transferred`` histograms, ``vllm:nixl_num_failed_transfers`` counter.

With prefix caching off the engine records no query (kv_cache_manager: no stats unless caching is on), so the hit
rate is None: not measured, never 0 by assumption. Stdlib only (runs in the benchmark pod).
"""

from __future__ import annotations

from typing import Any

from tpustack.core.contracts import KvTransfer, PrefixCache

QUERIES = "vllm:prefix_cache_queries_total"
HITS = "vllm:prefix_cache_hits_total"
EXTERNAL_QUERIES = "vllm:external_prefix_cache_queries_total"
EXTERNAL_HITS = "vllm:external_prefix_cache_hits_total"
NIXL_XFER_TIME = "vllm:nixl_xfer_time_seconds"
NIXL_BYTES = "vllm:nixl_bytes_transferred"
NIXL_FAILED = "vllm:nixl_num_failed_transfers_total"
# every name this module reads (tests check each against the pinned vLLM)
METRIC_FAMILIES = (
    "vllm:prefix_cache_queries",
    "vllm:prefix_cache_hits",
    "vllm:external_prefix_cache_queries",
    "vllm:external_prefix_cache_hits",
    NIXL_XFER_TIME,
    NIXL_BYTES,
    "vllm:nixl_num_failed_transfers",
)
BASIS = "engine /metrics before and after the point: delta vllm:prefix_cache_hits / delta vllm:prefix_cache_queries"
KV_BASIS = "engine /metrics before and after the point: NIXL connector histograms and counters"


def _increase(metrics: dict[str, Any], name: str) -> float | None:
    m = metrics.get(name)
    v = m.get("increase") if isinstance(m, dict) else None
    return float(v) if isinstance(v, (int, float)) else None


def _rate(hits: float | None, queries: float | None) -> float | None:
    if hits is None or not queries or queries <= 0:
        return None
    return min(max(hits / queries, 0.0), 1.0)


def prefix_cache(metrics: dict[str, Any]) -> PrefixCache | None:
    """A role's prefix-cache figures from promscrape.summarize output; None when the engine exports no counter."""
    q, h = _increase(metrics, QUERIES), _increase(metrics, HITS)
    if q is None and h is None:
        return None
    out: PrefixCache = {"queries": q, "hits": h, "hit_rate": _rate(h, q), "basis": BASIS}
    eq, eh = _increase(metrics, EXTERNAL_QUERIES), _increase(metrics, EXTERNAL_HITS)
    if eq is not None or eh is not None:
        out["external_queries"], out["external_hits"], out["external_hit_rate"] = eq, eh, _rate(eh, eq)
    return out


def kv_transfer(metrics: dict[str, Any]) -> KvTransfer | None:
    """A role's KV transfers from the NIXL connector's metrics; None when the engine exports none."""
    count = _increase(metrics, f"{NIXL_XFER_TIME}_count")
    total_s = _increase(metrics, f"{NIXL_XFER_TIME}_sum")
    nbytes = _increase(metrics, f"{NIXL_BYTES}_sum")
    failed = _increase(metrics, NIXL_FAILED)
    if count is None and nbytes is None and failed is None:
        return None
    return {
        "transfers": count,
        "bytes": nbytes,
        "mean_transfer_s": total_s / count if total_s is not None and count else None,
        "failed_transfers": failed,
        "basis": KV_BASIS,
    }
