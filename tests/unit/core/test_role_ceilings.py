"""Per-role ceilings for disaggregated serving (tpustack.core.ceilings.role_ceiling): prefill is compute-bound,
decode bandwidth-bound, and a unit that serves whole requests has no role ceiling."""

from __future__ import annotations

import pytest

from tpustack.core import catalog, ceilings

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.fixture(scope="module")
def c() -> ceilings.Ceilings:
    found, why = ceilings.for_names("v6e-4", LLAMA, "bfloat16")
    assert found is not None, why
    return found


def test_prefill_is_compute_bound(c):
    r = ceilings.role_ceiling(c, "prefill", 1024)
    assert r is not None and r["bound"] == "compute"
    shape = catalog.lookup("v6e-4")
    assert shape is not None
    # peak FLOP/s of the replica / (2 x active params): independent of HBM bandwidth
    assert r["prompt_tokens_per_s"] == pytest.approx(c.peak_flops / (2 * c.active_params))
    assert r["ttft_floor_ms"] == pytest.approx(c.ttft_floor_s(1024) * 1e3)
    assert r["prompt_tokens_per_s_at_hit_rate"]["0.9"] == pytest.approx(10 * r["prompt_tokens_per_s"])


def test_decode_is_bandwidth_bound(c):
    r = ceilings.role_ceiling(c, "decode", 1024, batch=64)
    assert r is not None and r["bound"] == "hbm-bandwidth"
    assert r["output_tokens_per_s"] == pytest.approx(c.decode_ceiling(1024, 64))
    # one step of 64 sequences reads the weights and their cache: bandwidth, not FLOPs, sets it
    step = c.decode_step_s(64, 1024)
    assert step == pytest.approx((c.weights_read(64) + 64 * c.kv_bytes_per_sequence(1024)) / c.hbm_bw)
    assert r["output_tokens_per_s"] < ceilings.role_ceiling(c, "prefill", 1024)["prompt_tokens_per_s"]


def test_serve_has_none(c):
    assert ceilings.role_ceiling(c, "serve", 1024) is None
