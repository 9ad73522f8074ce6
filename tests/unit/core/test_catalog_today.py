"""Today's accelerators in the catalog: per-precision peaks, B200 / GB200 / GB300, every H200 and tpu7x machine,
lookup by every name and alias, announced generations that cannot be ordered, and `tpustack catalog` listing them.
The figures are the sources' (tpustack/core/catalog.py, tpustack/core/gpus.py cite each one)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml
from typer.testing import CliRunner

from tpustack.cli import app
from tpustack.core import catalog, gpus
from tpustack.core.catalog import CATALOG, Precision
from tpustack.core.precision import peak_table

P = Precision


class TestPeaksPerPrecisionAreThePublishedOnes:
    @pytest.mark.parametrize(
        "shape,precision,tflops",
        [
            ("v4-8", P.BF16, 275),
            ("v4-8", P.INT8, 275),  # "275 teraflops (bf16 or int8)"
            ("v5litepod-1", P.BF16, 197),
            ("v5litepod-1", P.INT8, 393),
            ("v5p-8", P.BF16, 459),
            ("v5p-8", P.FP8, 459),
            ("v5p-8", P.INT8, 918),
            ("v6e-1", P.BF16, 918),
            ("v6e-1", P.FP8, 918),
            ("v6e-1", P.INT8, 1836),
            ("tpu7x-8", P.BF16, 2307),
            ("tpu7x-8", P.FP8, 4614),
            ("tpu7x-2", P.FP8, 4614),
            ("h100-8", P.BF16, 989),
            ("h100-8", P.FP8, 1979),
            ("h200-8", P.BF16, 989),
            ("h200-8", P.FP8, 1979),
            ("a100-40gb-1", P.BF16, 312),
            ("a100-80gb-8", P.INT8, 624),
            ("l4-1", P.FP8, 250.68),  # 125.34 computed from the boost clock, above NVIDIA's 121 (242 sparse)
            ("b200-8", P.BF16, 2500),
            ("b200-8", P.FP8, 5000),
            ("b200-8", P.FP4, 10000),
            ("gb200-4", P.BF16, 2500),
            ("gb200-4", P.FP8, 5000),
            ("gb200-4", P.FP4, 10000),
            ("gb300-4", P.FP4, 15000),
        ],
    )
    def test_dense_peak(self, shape, precision, tflops):
        assert catalog.lookup(shape).peak_tflops_per_chip(precision) == tflops
        assert catalog.lookup(shape).peak_tflops_per_chip(str(precision)) == tflops  # the plain string works too

    def test_fp8_runs_at_the_bf16_rate_on_v6e_and_v5p(self):
        for name in ("v6e-8", "v5p-8"):
            s = catalog.lookup(name)
            assert s.peak_tflops_per_chip(P.FP8) == s.peak_tflops_per_chip(P.BF16), name

    def test_int8_doubles_bf16_on_v6e_and_v5e(self):
        v6e, v5e = catalog.lookup("v6e-1"), catalog.lookup("v5litepod-1")
        assert v6e.peak_tflops_per_chip(P.INT8) == 2 * 918  # 1,836
        # v5e: 393 TOPs published against 2 x 197 = 394 (the page rounds each figure on its own)
        assert v5e.peak_tflops_per_chip(P.INT8) == pytest.approx(2 * v5e.peak_bf16_tflops_per_chip, abs=1)

    def test_fp8_doubles_bf16_on_tpu7x_h100_and_b200(self):
        for name in ("tpu7x-8", "h100-8", "b200-8", "gb200-4"):
            s = catalog.lookup(name)
            assert s.peak_tflops_per_chip(P.FP8) == pytest.approx(2 * s.peak_tflops_per_chip(P.BF16), rel=1e-3), name

    def test_fp4_doubles_fp8_on_b200(self):
        for name in ("b200-8", "gb200-4"):
            s = catalog.lookup(name)
            assert s.peak_tflops_per_chip(P.FP4) == 2 * s.peak_tflops_per_chip(P.FP8)  # 10,000 = 2 x 5,000

    @pytest.mark.parametrize(
        "shape,precision",
        [
            ("v6e-8", P.FP4),
            ("v5litepod-4", P.FP8),  # no fp8 rate published for v5e
            ("tpu7x-8", P.INT8),  # not published
            ("a100-40gb-8", P.FP8),  # Ampere has no fp8
            ("h100-8", P.FP4),  # Hopper has no fp4
            ("gb300-4", P.INT8),  # one third-party figure in an odd unit: unknown, not guessed
        ],
    )
    def test_a_rate_the_chip_lacks_is_none(self, shape, precision):
        assert catalog.lookup(shape).peak_tflops_per_chip(precision) is None
        assert precision not in catalog.lookup(shape).peak_tflops

    def test_an_unknown_precision_is_an_error_not_none(self):
        with pytest.raises(ValueError):
            catalog.lookup("v6e-8").peak_tflops_per_chip("fp6")

    @pytest.mark.parametrize("shape", list(CATALOG.values()), ids=lambda s: s.name)
    def test_every_shape_has_a_bf16_peak_and_only_positive_rates(self, shape):
        assert shape.peak_tflops_per_chip(P.BF16) == shape.peak_bf16_tflops_per_chip > 0
        assert next(iter(shape.peak_tflops)) is P.BF16
        assert all(isinstance(p, Precision) and v > 0 for p, v in shape.peak_tflops.items())

    def test_peak_tables_are_read_only(self):
        with pytest.raises(TypeError):
            catalog.lookup("v6e-8").peak_tflops[P.FP4] = 1.0  # type: ignore[index]

    def test_a_rate_must_be_positive(self):
        with pytest.raises(ValueError, match="positive"):
            peak_table(100, {P.FP8: 0})

    def test_precision_is_a_closed_set_of_strings(self):
        assert Precision.values() == ("bf16", "fp8", "int8", "fp4", "int4")
        assert json.dumps({str(P.FP8): 1}) == '{"fp8": 1}' and f"{P.INT4}" == "int4"


class TestTodaysMachinesHaveTheirFacts:
    @pytest.mark.parametrize(
        "name,chips,hosts,topology,machine,label,hbm_gib_per_chip,gbps",
        [
            ("tpu7x-2", 1, 1, "1x1x1", "tpu7x-standard-1t", "tpu7x", 192, 7380),
            ("tpu7x-8", 4, 1, "2x2x1", "tpu7x-standard-4t", "tpu7x", 192, 7380),
            ("b200-8", 8, 1, None, "a4-highgpu-8g", "nvidia-b200", 180, 8000),
            ("gb200-4", 4, 1, None, "a4x-highgpu-4g", "nvidia-gb200", 186, 8000),
            ("gb200-4-nolssd", 4, 1, None, "a4x-highgpu-4g-nolssd", "nvidia-gb200", 186, 8000),
            ("gb300-4", 4, 1, None, "a4x-maxgpu-4g-metal", "nvidia-gb300", 279, 8000),
            ("h200-141gb-8", 8, 1, None, "a3-ultragpu-8g", "nvidia-h200-141gb", 141, 4800),
            ("h200-141gb-8-nolssd", 8, 1, None, "a3-ultragpu-8g-nolssd", "nvidia-h200-141gb", 141, 4800),
        ],
    )
    def test_shape(self, name, chips, hosts, topology, machine, label, hbm_gib_per_chip, gbps):
        s = CATALOG[name]
        facts = (s.chips, s.hosts, s.topology, s.machine_type, s.gke_accelerator)
        assert facts == (chips, hosts, topology, machine, label)
        memory = (s.hbm_gib_per_chip, s.hbm_gbps_per_chip, s.total_hbm_gib)
        assert memory == (hbm_gib_per_chip, gbps, chips * hbm_gib_per_chip)

    def test_tpu7x_names_count_tensorcores_on_every_gke_machine_type(self):
        # tpu7x-standard-1t: one chip, two TensorCores, so the slice is tpu7x-2 (MaxText, xpk name it so)
        one = catalog.tpu_shape("tpu7x", "1x1x1")
        assert one is not None and one.name == "tpu7x-2" and not one.multi_host
        machines = {s.machine_type for s in CATALOG.values() if s.family == "tpu7x"}
        assert machines == {"tpu7x-standard-1t", "tpu7x-standard-4t"}
        assert catalog.by_machine_type("tpu7x-standard-1t") is CATALOG["tpu7x-2"]

    def test_the_measured_tpu7x_bandwidth_sits_below_the_peak(self):
        # tpu-recipes' HBM copy microbenchmark: 6,420.96 GB/s per chip (2 x 3,210.48 per core) on tpu7x-2x2x1
        assert 6420.96 / CATALOG["tpu7x-8"].hbm_gbps_per_chip == pytest.approx(0.87, abs=0.01)

    @pytest.mark.parametrize(
        "machine,expected",
        [
            ("a4-highgpu-8g", ("gpu", "b200", 8)),
            ("a4x-highgpu-4g", ("gpu", "gb200", 4)),
            ("a4x-highgpu-4g-nolssd", ("gpu", "gb200", 4)),
            ("a4x-maxgpu-4g-metal", ("gpu", "gb300", 4)),
            ("a3-ultragpu-8g-nolssd", ("gpu", "h200-141gb", 8)),
            ("tpu7x-standard-1t", ("tpu", "tpu7x", 1)),
        ],
    )
    def test_machine_types_resolve_to_their_accelerators(self, machine, expected):
        assert catalog.machine_accelerators(machine) == expected
        assert catalog.by_machine_type(machine).machine_type == machine

    def test_every_gpu_machine_type_is_one_shape(self):
        machines = [s.machine_type for s in CATALOG.values() if s.kind == "gpu"]
        assert len(machines) == len(set(machines))


class TestLookupByEveryNameAndAlias:
    @pytest.mark.parametrize("name", list(CATALOG), ids=str)
    def test_every_catalog_name(self, name):
        assert catalog.lookup(name) is CATALOG[name]
        assert catalog.lookup(f"  {name.upper()} ") is CATALOG[name]

    @pytest.mark.parametrize(
        "alias,name",
        [
            ("b200-180gb-8", "b200-8"),
            ("gb200-186gb-4", "gb200-4"),
            ("gb200-186gb-4-nolssd", "gb200-4-nolssd"),
            ("h200-8", "h200-141gb-8"),
            ("h200-8-nolssd", "h200-141gb-8-nolssd"),
            ("h100-8", "h100-80gb-8"),
            ("a100-1", "a100-40gb-1"),
        ],
    )
    def test_aliases(self, alias, name):
        assert catalog.lookup(alias) == CATALOG[name]

    def test_every_alias_reaches_every_machine_of_its_model(self):
        for alias, gpu in gpus.GPU_ALIASES.items():
            for count, variant in gpu.machines():
                typed = f"{alias}-{count}" + (f"-{variant}" if variant else "")
                shape = catalog.lookup(typed)
                assert shape == CATALOG[shape.name] and shape.family == gpu.name, typed

    @pytest.mark.parametrize(
        "name", ["b200-4", "gb200-8", "h200-1-nolssd", "h100-8-nolssd", "b200-8-nolssd", "gb300-8", "b200", "-8"]
    )
    def test_machines_google_does_not_sell_are_unknown(self, name):
        assert catalog.lookup(name) is None


class TestAnnouncedGenerationsAreNotOrderable:
    @pytest.mark.parametrize("name", ["tpu8t", "tpu8i", "tpu8t-16", "TPU-8i-4", "tpu8i-8"])
    def test_lookup_never_returns_them(self, name):
        assert catalog.lookup(name) is None
        assert catalog.announced(name) is not None

    def test_records_say_what_and_when_and_nothing_else(self):
        assert set(catalog.ANNOUNCED) == {"tpu8t", "tpu8i"}
        for a in catalog.ANNOUNCED.values():
            assert dt.date.fromisoformat(a.announced) == dt.date(2026, 4, 22)
            assert a.source and a.note and a.name not in CATALOG
            assert set(vars(a)) == {"name", "announced", "source", "note"}  # no peak, HBM or machine type guessed

    def test_the_hint_says_not_orderable_yet(self):
        hint = catalog.unknown_accelerator_hint("tpu8i-4")
        assert "2026-04-22" in hint and "cannot be ordered" in hint and "tpustack catalog" in hint
        assert catalog.unknown_accelerator_hint("v6e-9").startswith("did you mean v6e-8")
        assert catalog.announced("v6e-8") is None and catalog.announced("tpu7x-8") is None

    def test_a_stack_naming_one_gets_the_unknown_accelerator_error(self):
        from pydantic import ValidationError

        from tpustack.config.sections import AcceleratorConfig

        with pytest.raises(ValidationError, match="unknown accelerator 'tpu8i-4'"):
            AcceleratorConfig(type="tpu8i-4")


class TestUnpricedIsShownNeverGuessed:
    @pytest.mark.parametrize("name", ["b200-8", "gb200-4", "gb200-4-nolssd", "gb300-4", "h200-141gb-8-nolssd"])
    def test_no_list_price(self, name):
        from tpustack.cost.prices import accelerator_hourly

        price, why = accelerator_hourly(CATALOG[name], "on-demand")
        assert price is None and CATALOG[name].machine_type in why

    def test_b200_zones_are_dated_and_the_others_warn(self):
        from tpustack.config.model import ZONES_FILE

        table = yaml.safe_load(ZONES_FILE.read_text())
        assert "us-central1-b" in table["zones"]["b200"] and table["as_of"]
        assert set(table["zones"]) <= {s.family for s in CATALOG.values()}


class TestCatalogCommandListsThem:
    def test_text(self):
        r = CliRunner().invoke(app, ["catalog"])
        assert r.exit_code == 0, r.output
        for name in ("b200-8", "gb200-4", "tpu7x-2", "a4-highgpu-8g", "a4x-highgpu-4g", "nvidia-gb200"):
            assert name in r.output, name
        assert "peak_fp8_tflops_per_chip" in r.output and "hbm_gbps_per_chip" in r.output
        assert "Announced, not orderable yet" in r.output
        assert r.output.index("tpu8t") > r.output.index("gb200-4")  # after the orderable shapes

    def test_json(self):
        r = CliRunner().invoke(app, ["catalog", "--json"])
        assert r.exit_code == 0, r.output
        doc = json.loads(r.output)
        rows = {row["name"]: row for row in doc["shapes"]}
        assert list(rows) == list(CATALOG)
        old = {"name", "kind", "family", "topology", "chips", "hosts", "machine_type", "gke_accelerator", "hbm_gib"}
        for row in rows.values():
            assert old <= set(row), row["name"]
        b200 = rows["b200-8"]
        machine = (b200["machine_type"], b200["gke_accelerator"], b200["chips"], b200["hbm_gib"])
        assert machine == ("a4-highgpu-8g", "nvidia-b200", 8, 1440)
        per_chip = (b200["peak_bf16_tflops_per_chip"], b200["peak_fp8_tflops_per_chip"], b200["hbm_gbps_per_chip"])
        assert per_chip == (2500, 5000, 8000)
        assert b200["peak_tflops_per_chip"] == {"bf16": 2500, "fp8": 5000, "fp4": 10000, "int8": 5000}
        assert rows["gb200-4"]["machine_type"] == "a4x-highgpu-4g"
        assert rows["v4-8"]["peak_fp8_tflops_per_chip"] is None  # no such rate: null, never 0
        assert rows["tpu7x-2"]["topology"] == "1x1x1"
        assert [a["name"] for a in doc["announced"]] == ["tpu8t", "tpu8i"]
        assert all(a["orderable"] is False for a in doc["announced"])
