"""Result files are untrusted input, and `report` and `recommend` speak one interface (issue 21).

Each class has its test: a file with fields of the wrong type or absurd values is skipped with its reason (exit 6,
never a traceback); `recommend` exits 6 after skipping files as `report` does (4, no fit, comes first); `--json` is
strict JSON; control characters from a file never reach the terminal; an SLO of 0 is a usage error naming the
option; `report --slo` takes recommend's syntax and `report --out` writes the HTML page for any results.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tpustack.cli import app
from tpustack.core import display
from tpustack.core.errors import EXIT_BENCHMARK, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE
from tpustack.ops import report
from tpustack.workloads import heartbeat, results

from helpers.project import FIXTURES

RUN = FIXTURES / "sweep" / "sweep-v6e-4-spot"
DEMAND = ["--rps", "5", "--input-len", "1024", "--output-len", "128"]
ESC = "\x1b[31mRED\x1b]0;pwned\x07\x9b2J"


def strict(text: str) -> object:
    def refuse(c: str) -> None:
        raise AssertionError(f"not JSON: {c}")

    return json.loads(text, parse_constant=refuse)


def runs_with(tmp_path: Path, path: str, value: object, *, raw: str | None = None) -> Path:
    """The sweep fixture's v6e-4 run with point 1's field at ``path`` set to ``value`` (``raw``: JSON text for it)."""
    root = tmp_path / "runs"
    shutil.copytree(RUN, root / RUN.name)
    p = root / RUN.name / "points" / "001.json"
    doc = json.loads(p.read_text())
    node = doc
    *parents, last = path.split(".")
    for k in parents:
        node = node[k]
    node[last] = "@@VALUE@@" if raw is not None else value
    text = json.dumps(doc)
    p.write_text(text.replace('"@@VALUE@@"', raw) if raw is not None else text)
    return root


def invoke(*args: str):
    res = CliRunner().invoke(app, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    return res


BAD = {
    "a list where a string belongs": ("metadata.accelerator", ["v6e-4"], None),
    "an object for the engine": ("metadata.engine", {"name": "vllm"}, None),
    "10**400 replicas": ("metadata.replicas", None, "1" + "0" * 400),
    "5e-324 req/s": ("throughput.requests_per_s", 5e-324, None),
    "5e-324 output tok/s": ("throughput.output_tokens_per_s", 5e-324, None),
    "a negative latency": ("latency_ms.ttft.p99", -1.0, None),
    "Infinity as a latency": ("latency_ms.tpot.p99", None, "Infinity"),
    "NaN as a rate": ("point.request_rate", None, "NaN"),
    "1e308 tok/s": ("throughput.output_tokens_per_s", 1e308, None),
    "10**30 prompt tokens": ("load.input_len", 10**30, None),
    "a string as kept_up": ("client.kept_up", "yes", None),
    "a list of numbers as conversions": ("conversions", [1, 2], None),
    "a 1 MB model name": ("metadata.model", "m" * 1_000_000, None),
}


class TestAbsurdFieldsAreSkippedWithTheReason:
    @pytest.mark.parametrize("case", BAD, ids=list(BAD))
    def test_report_and_recommend_skip_the_file(self, tmp_path, case):
        path, value, raw = BAD[case]
        root = runs_with(tmp_path, path, value, raw=raw)
        for args in (
            ["report", str(root)],
            ["report", str(root), "--json"],
            ["report", str(root), "--out", str(tmp_path / "rep")],
            ["recommend", str(root), "--slo", "ttft<=5000", *DEMAND, "--json"],
            ["recommend", str(root), "--slo", "ttft<=5000", *DEMAND, "--out", str(tmp_path / "rec")],
        ):
            res = invoke(*args)
            assert res.exit_code == EXIT_PARTIAL, (args, res.output)
            assert "001.json" in res.output and path.split(".")[-1] in res.output, res.output
            assert len(res.output) < 20_000  # a huge value is named, not echoed
            if "--json" in args:
                strict(res.stdout)
            shutil.rmtree(tmp_path / "rep", ignore_errors=True)
            shutil.rmtree(tmp_path / "rec", ignore_errors=True)

    def test_the_gate_names_type_and_range(self):
        rec = json.loads((RUN / "points" / "001.json").read_text())
        for path, value, raw in BAD.values():
            bad = copy.deepcopy(rec)
            node = bad
            *parents, last = path.split(".")
            for k in parents:
                node = node[k]
            node[last] = json.loads(raw) if raw is not None else value
            assert results.record_problems(bad), path
        assert results.record_problems(rec) == []

    def test_a_run_manifest_with_wrong_types_is_skipped(self, tmp_path):
        root = runs_with(tmp_path, "metadata.stack", "sweep-v6e-4")
        manifest = root / RUN.name / "run.json"
        doc = json.loads(manifest.read_text())
        doc["status"] = ["ok"]
        manifest.write_text(json.dumps(doc))
        res = invoke("recommend", str(root), "--slo", "ttft<=5000", *DEMAND)
        assert res.exit_code == EXIT_PARTIAL and "run.json" in res.output and "status" in res.output

    def test_a_heartbeat_without_dtype_is_skipped(self, tmp_path):
        hb = heartbeat.run(backend="cpu", shape=(8, 16, 32), iterations=2, trials=1)
        del hb["workload"]["dtype"]
        (tmp_path / "h").mkdir()
        (tmp_path / "h" / "heartbeat.json").write_text(json.dumps(hb))
        shutil.copytree(RUN, tmp_path / RUN.name)
        res = invoke("report", str(tmp_path))
        assert res.exit_code == EXIT_PARTIAL and "dtype" in res.output


MATH = ["$\\frac{a}{b}$", "$\\foo{$", "a $ b", "$$", "\\$x$", "$^$"]


class TestPicturesDrawTextAsTyped:
    @pytest.mark.parametrize("text", MATH)
    def test_mathtext_in_every_drawn_name(self, tmp_path, text):
        root = runs_with(tmp_path, "metadata.run_id", text)
        for p in (root / RUN.name / "points").glob("*.json"):
            doc = json.loads(p.read_text())
            doc["metadata"].update(run_id=text, engine=f"vllm{text}", capacity_type=text)
            p.write_text(json.dumps(doc))
        res = invoke("report", str(root), "--out", str(tmp_path / "rep"), "--slo", "ttft<=500")
        assert res.exit_code == EXIT_OK, res.output
        assert (tmp_path / "rep" / "report.html").stat().st_size > 1000
        res = invoke("recommend", str(root), "--slo", "ttft<=5000", *DEMAND, "--out", str(tmp_path / "rec"))
        assert res.exit_code in (EXIT_OK, EXIT_BENCHMARK), res.output
        assert (tmp_path / "rec" / "frontier.png").exists()


class TestRecommendExitsLikeReport:
    def test_skipped_files_exit_6_after_the_answer(self, tmp_path):
        root = runs_with(tmp_path, "metadata.accelerator", ["v6e-4"])
        res = invoke("recommend", str(root), "--slo", "ttft:p99<=5000ms", *DEMAND)
        assert res.exit_code == EXIT_PARTIAL, res.output
        assert "recommended:" in res.output and "skipped" in res.output
        rep = invoke("report", str(root))
        assert rep.exit_code == res.exit_code

    def test_no_fit_comes_before_partial(self, tmp_path):
        """README "Exit codes": nothing meets the SLO (4) is said before files were skipped (6)."""
        root = runs_with(tmp_path, "metadata.accelerator", ["v6e-4"])
        res = invoke("recommend", str(root), "--slo", "ttft<=1", *DEMAND, "--json")
        assert res.exit_code == EXIT_BENCHMARK, res.output
        assert strict(res.stdout)["skipped"]


class TestStrictJson:
    def test_non_finite_figures_print_as_null(self, tmp_path, monkeypatch):
        """Whatever a document holds (a derived figure that overflowed), --json prints JSON, through one step."""
        shutil.copytree(RUN, tmp_path / RUN.name)
        real = report.build

        def overflowing(*a, **kw):
            doc = real(*a, **kw)
            doc["points"][0]["usd_per_1m_output_tokens"] = float("inf")
            doc["points"][1]["roofline_fraction"] = float("nan")
            return doc

        monkeypatch.setattr(report, "build", overflowing)
        res = invoke("report", str(tmp_path), "--json")
        assert res.exit_code == EXIT_OK, res.output
        assert strict(res.stdout)["points"][0]["usd_per_1m_output_tokens"] is None

    def test_files_are_strict_json(self, tmp_path):
        root = runs_with(tmp_path, "throughput.output_tokens_per_s", results.TINY)  # the smallest allowed figure
        res = invoke("report", str(root), "--json", "--out", str(tmp_path / "rep"))
        assert res.exit_code == EXIT_OK, res.output
        strict(res.stdout)
        strict((tmp_path / "rep" / "report.json").read_text())

    def test_json_text_maps_non_finite_to_null(self):
        assert strict(display.json_text({"a": float("inf"), "b": [float("nan"), 1.5], "c": (1,)})) == {
            "a": None,
            "b": [None, 1.5],
            "c": [1],
        }


class TestNoControlCharacterReachesTheTerminal:
    def test_escape_sequences_are_shown_escaped(self, tmp_path):
        root = runs_with(tmp_path, "metadata.run_id", ESC)
        for p in (root / RUN.name / "points").glob("*.json"):
            doc = json.loads(p.read_text())
            doc["metadata"].update(run_id=ESC, engine=ESC, model=ESC + "m")
            p.write_text(json.dumps(doc))
        bad = root / f"x{ESC}" / "points"
        bad.mkdir(parents=True)
        (bad / "000.json").write_text(json.dumps({"schema": "tpustack.serving-point/v1", "tool": ESC}))
        for args in (
            ["report", str(root)],
            ["report", str(root), "--json"],
            ["recommend", str(root), "--slo", "ttft<=5000", *DEMAND, "--model", ESC + "m"],
            ["recommend", str(root), "--slo", "ttft<=5000", *DEMAND, "--json", "--model", ESC + "m"],
        ):
            res = invoke(*args)
            assert res.exit_code == EXIT_PARTIAL, (args, res.output)
            for c in "\x1b\x07\x9b":
                assert c not in res.output, (args, c)
            assert "\\x1b[31mRED" in res.output or "\\u001b[31mRED" in res.output

    def test_printable(self):
        assert display.printable("a\x1b[0mb\tc\nd\u202e") == "a\\x1b[0mb\tc\nd\\u202e"
        assert display.printable("a\nb\tc", newlines=False) == "a\\nb\\tc"


class TestSloOptions:
    @pytest.mark.parametrize("opt", ["--slo-ttft-ms", "--slo-tpot-ms", "--slo-e2e-ms"])
    @pytest.mark.parametrize("value", ["0", "-5", "nan", "inf"])
    def test_zero_or_negative_is_a_usage_error_naming_the_option(self, tmp_path, opt, value):
        shutil.copytree(RUN, tmp_path / RUN.name)
        res = invoke("report", str(tmp_path), opt, value)
        assert res.exit_code == EXIT_USAGE, res.output
        assert opt in res.output

    def test_report_takes_recommends_syntax(self, tmp_path):
        shutil.copytree(RUN, tmp_path / RUN.name)
        new = invoke("report", str(tmp_path), "--json", "--slo", "ttft:p99<=500ms,tpot:p99<=50ms")
        old = invoke("report", str(tmp_path), "--json", "--slo-ttft-ms", "500", "--slo-tpot-ms", "50")
        assert new.exit_code == old.exit_code == EXIT_OK
        assert strict(new.stdout) == strict(old.stdout)
        assert strict(new.stdout)["best"]["point"] == 1
        mixed = strict(invoke("report", str(tmp_path), "--json", "--slo", "ttft:p50<=300,tpot:p90<=0.045s").stdout)
        assert mixed["slo"] == {"ttft": {"percentile": "p50", "ms": 300.0}, "tpot": {"percentile": "p90", "ms": 45.0}}
        for bad in ("ttft<=0", "ttft:p95<=5", "rps<=4", ""):
            assert invoke("report", str(tmp_path), "--slo", bad).exit_code == EXIT_USAGE
        both = invoke("report", str(tmp_path), "--slo", "ttft<=5", "--slo-ttft-ms", "5")
        assert both.exit_code == EXIT_USAGE and "--slo-ttft-ms" in both.output


class TestReportHtmlForAnyResults:
    def html(self, out: Path) -> str:
        page = (out / "report.html").read_text()
        assert "data:image/png;base64," in page and "<script" not in page
        return page

    def test_a_single_point(self, tmp_path):
        (tmp_path / "r" / "points").mkdir(parents=True)
        shutil.copy(RUN / "points" / "001.json", tmp_path / "r" / "points" / "001.json")
        res = invoke("report", str(tmp_path / "r"), "--out", str(tmp_path / "o"), "--slo", "ttft<=500")
        assert res.exit_code == EXIT_OK, res.output
        assert "sweep-v6e-4-spot" in self.html(tmp_path / "o")
        assert set(report.REPORT_FILES) <= {p.name for p in (tmp_path / "o").iterdir()}

    def test_no_rankable_point(self, tmp_path):
        shutil.copytree(RUN, tmp_path / RUN.name)
        res = invoke("report", str(tmp_path), "--out", str(tmp_path / "o"), "--slo", "ttft<=1")
        assert res.exit_code == EXIT_OK, res.output
        assert "no point meets the SLO" in self.html(tmp_path / "o")

    def test_only_a_heartbeat(self, tmp_path):
        hb = heartbeat.run(backend="cpu", shape=(8, 16, 32), iterations=2, trials=1)
        (tmp_path / "h").mkdir()
        (tmp_path / "h" / "heartbeat.json").write_text(json.dumps(hb))
        res = invoke("report", str(tmp_path / "h"), "--out", str(tmp_path / "o"))
        assert res.exit_code == EXIT_OK, res.output
        self.html(tmp_path / "o")


IP020 = FIXTURES / "inference-perf-0.2.0"


class TestOtherToolVersionsNeverGiveWrongFigures:
    """A file of a tool version tpustack does not pin normalizes correctly from its per-request data, or is refused
    with the version named (tests/fixtures/inference-perf-0.2.0/README.md)."""

    def test_inference_perf_020_from_its_per_request_data(self):
        from tpustack.workloads.tools import inference_perf

        stage = json.loads((IP020 / "stage_0_lifecycle_metrics.json").read_text())
        rows = json.loads((IP020 / inference_perf.PER_REQUEST_FILE).read_text())
        assert stage["successes"]["latency"]["time_per_output_token"]["median"] * 1e3 < 11  # its own: half
        rec = inference_perf.normalize(stage, per_request=rows)
        assert rec["latency_ms"]["tpot"]["p50"] == pytest.approx(20.0, rel=0.02)
        assert rec["latency_ms"]["ttft"]["p50"] == pytest.approx(100.0, rel=0.01)
        assert rec["latency_ms"]["itl"]["p50"] is None  # its pooled line gaps are not token gaps
        assert any("before 0.5.0" in c for c in rec["conversions"])
        assert results.record_problems(rec) == []

    def test_inference_perf_020_without_per_request_data_is_refused_naming_the_version(self, tmp_path):
        shutil.copy(IP020 / "stage_0_lifecycle_metrics.json", tmp_path)
        with pytest.raises(results.ResultFormatError, match=r"before 0\.5\.0 \(tpustack pins 0\.7\.0\)"):
            results.normalize(
                json.loads((tmp_path / "stage_0_lifecycle_metrics.json").read_text()), source_file="stage_0.json"
            )
        shutil.copytree(RUN, tmp_path / RUN.name)
        res = invoke("report", str(tmp_path))
        assert res.exit_code == EXIT_PARTIAL and "0.5.0" in res.output and "0.7.0" in res.output

    JS_OLDER = FIXTURES / "jetstream-92fa048"

    def js_older(self):
        doc = json.loads(next(self.JS_OLDER.glob("JetStream-*.json")).read_text())
        outs = json.loads((self.JS_OLDER / "request-outputs.json").read_text())
        return doc, outs, json.loads((self.JS_OLDER / "request-tokens.json").read_text())

    def test_jetstream_before_c134433_from_its_request_outputs(self):
        from tpustack.workloads import records
        from tpustack.workloads.tools import jetstream_benchmark

        doc, outs, counts = self.js_older()
        m = doc["metrics"]
        assert "mean_tpot_ms" in m and "mean_TPOT_ms" not in m
        rec = jetstream_benchmark.normalize(doc, outs, token_counts=counts)
        e2e = [1e3 * o["latency"] for o in outs]
        lat = rec["latency_ms"]
        for k, p in (("p50", 50), ("p90", 90), ("p99", 99)):
            assert lat["e2e"][k] == pytest.approx(records.percentile(e2e, p), rel=1e-9)
        assert lat["e2e"]["mean"] == pytest.approx(sum(e2e) / len(e2e), rel=1e-9)
        assert lat["ttft"]["p50"] == pytest.approx(m["median_ttft_ms"]) and lat["ttft"]["p99"] == m["p99_ttft_ms"]
        # output lengths differ (4 to 128 tokens) and no per-request TTFT: no TPOT rather than a wrong one
        assert lat["tpot"] == records.empty_stats()
        assert rec["requests"] == {"completed": len(outs), "failed": 0}
        assert any("before c134433" in c for c in rec["conversions"])
        assert results.record_problems(rec) == []
        # one output length for all: the mean is exact, (mean E2E - mean TTFT) / (n - 1)
        fixed = [dict(o, latency=o["latency"] - (len(o["generated_text"].split()) - 8) * 0.020) for o in outs]
        one = jetstream_benchmark.normalize(doc, fixed, token_counts=[dict(c, output_tokens=8) for c in counts])
        expect = sum(1e3 * o["latency"] for o in fixed) / len(fixed) - m["mean_ttft_ms"]
        assert one["latency_ms"]["tpot"]["mean"] == pytest.approx(expect / 7, rel=1e-9)
        assert one["latency_ms"]["tpot"]["mean"] == pytest.approx(20.0, rel=1e-9)
        assert one["latency_ms"]["tpot"]["p50"] is None

    def test_jetstream_before_c134433_without_request_outputs_is_refused_naming_the_version(self, tmp_path):
        doc, _, _ = self.js_older()
        with pytest.raises(results.ResultFormatError, match=r"before c134433 \(2025-01-06\) \(tpustack pins 29329e8\)"):
            results.normalize(doc, source_file="JetStream-old.json")
        src = next(self.JS_OLDER.glob("JetStream-*.json"))
        shutil.copy(src, tmp_path)
        shutil.copytree(RUN, tmp_path / RUN.name)
        res = invoke("report", str(tmp_path))
        assert res.exit_code == EXIT_PARTIAL and "c134433" in res.output and "29329e8" in res.output, res.output
