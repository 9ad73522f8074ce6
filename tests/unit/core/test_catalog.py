"""Catalog facts: derived numbers agree, names follow the Cloud TPU naming rules, GKE values are right."""

import pytest

from tpustack.core import catalog
from tpustack.core.catalog import CATALOG, GpuShape, TpuShape

TPUS = [s for s in CATALOG.values() if isinstance(s, TpuShape)]


@pytest.mark.parametrize("shape", TPUS, ids=lambda s: s.name)
def test_hosts_times_chips_per_host_is_chips(shape):
    assert shape.hosts * shape.chips_per_host == shape.chips
    assert shape.chips == catalog.topology_chips(shape.topology)
    assert len(shape.topology.split("x")) == shape.generation.topology_dims


@pytest.mark.parametrize("shape", TPUS, ids=lambda s: s.name)
def test_machine_type_holds_chips_per_host(shape):
    kind, family, per_vm = catalog.machine_accelerators(shape.machine_type)
    assert (kind, family, per_vm) == ("tpu", shape.family, shape.chips_per_host)


@pytest.mark.parametrize(
    "name,chips,hosts,topology,machine,label",
    [
        ("v6e-1", 1, 1, "1x1", "ct6e-standard-1t", "tpu-v6e-slice"),
        ("v6e-8", 8, 1, "2x4", "ct6e-standard-8t", "tpu-v6e-slice"),
        ("v6e-16", 16, 4, "4x4", "ct6e-standard-4t", "tpu-v6e-slice"),
        ("v5litepod-4", 4, 1, "2x2", "ct5lp-hightpu-4t", "tpu-v5-lite-podslice"),
        ("v5litepod-16", 16, 4, "4x4", "ct5lp-hightpu-4t", "tpu-v5-lite-podslice"),
        # v5p and v4 names count TensorCores: v5p-8 is 4 chips, v5p-16 is 8 chips on 2 hosts.
        ("v5p-8", 4, 1, "2x2x1", "ct5p-hightpu-4t", "tpu-v5p-slice"),
        ("v5p-16", 8, 2, "2x2x2", "ct5p-hightpu-4t", "tpu-v5p-slice"),
        ("v4-8", 4, 1, "2x2x1", "ct4p-hightpu-4t", "tpu-v4-podslice"),
        ("tpu7x-8", 4, 1, "2x2x1", "tpu7x-standard-4t", "tpu7x"),
        ("tpu7x-16", 8, 2, "2x2x2", "tpu7x-standard-4t", "tpu7x"),
    ],
)
def test_known_shapes(name, chips, hosts, topology, machine, label):
    s = catalog.lookup(name)
    assert (s.chips, s.hosts, s.topology, s.machine_type, s.gke_accelerator) == (chips, hosts, topology, machine, label)


def test_runtime_versions():
    assert catalog.lookup("v6e-1").runtime_version == "v2-alpha-tpuv6e"
    assert catalog.lookup("v5litepod-1").runtime_version == "v2-alpha-tpuv5-lite"
    assert catalog.lookup("v5p-8").runtime_version == "v2-alpha-tpuv5"
    assert catalog.lookup("v4-8").runtime_version == "tpu-ubuntu2204-base"
    assert catalog.lookup("tpu7x-8").runtime_version == ""  # no Cloud TPU API for Ironwood


def test_per_chip_peaks_match_published_figures():
    # The seed's v6e heartbeat: 17.2 GFLOP/iteration needs >= 0.0187 ms at 918 TFLOP/s.
    v6e = catalog.lookup("v6e-1")
    flop = 2 * 128 * 4096 * 16384
    assert flop / (v6e.peak_bf16_tflops_per_chip * 1e12) * 1e3 == pytest.approx(0.0187, abs=5e-4)
    assert catalog.lookup("v5litepod-1").hbm_gib_per_chip == 16
    assert catalog.lookup("v5p-8").hbm_gbps_per_chip == 2765


def test_gpu_shapes():
    h = catalog.lookup("h100-8")
    assert isinstance(h, GpuShape)
    assert (h.chips, h.hosts, h.machine_type, h.gke_accelerator) == (8, 1, "a3-highgpu-8g", "nvidia-h100-80gb")
    assert catalog.lookup("l4-1").machine_type == "g2-standard-12"
    assert catalog.lookup("h200-8").total_hbm_gib == 8 * 141
    assert catalog.lookup("h200-1") is None  # A3 Ultra comes with 8 GPUs only


def test_unknown_names():
    assert catalog.lookup("v6e-3") is None
    assert "v6e-8" in catalog.suggestions("v6e-9")


def test_prices_cite_source_and_date():
    from tpustack.cost import price_table

    t = price_table()
    assert t["as_of"]
    for fam, row in t["tpu_chip_hour"].items():
        assert fam in catalog.TPU_GENERATIONS and row["source"] and row["on_demand"] > 0
    for s in CATALOG.values():
        if isinstance(s, GpuShape):
            # a price, or the stated reason there is none (B200/GB200/GB300 publish no list price: UNPRICED)
            priced = s.machine_type in t["machine_hour"]
            assert priced or t["unpriced_machines"].get(s.machine_type), f"no price for {s.machine_type}"
    for mt, why in t["unpriced_machines"].items():
        assert mt not in t["machine_hour"] and why, mt
