"""Published, measured results against tpustack's ceilings (tests/fixtures/published/results.json; its README lists
the sources and what was left out, and why). Every record must be expressible (catalog accelerator and model, its
dtypes and chips), none may beat its ceiling, no ceiling may be more than 20x above its published figure (unless the
record says why the roofline cannot be approached there), and the report shows each at its fraction of the ceiling.
`python tests/bench_published.py` prints the table."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from tpustack.cli import app
from tpustack.core import catalog, ceilings, models
from tpustack.ops import report

from helpers import published

DATA = published.load()
RECORDS = DATA["records"]
IDS = [e["id"] for e in RECORDS]
ROWS = {r["run_id"]: r for r in report.rows(published.collection(), {})}


def _digits(v: float) -> set[str]:
    """The ways a source may print a figure: 25870, 25,870, 25870.0, 25.9K..."""
    whole = int(v) if float(v).is_integer() else None
    out = {f"{v:g}", f"{v:,}", str(v)}
    if whole is not None:
        out |= {str(whole), f"{whole:,}"}
    return out


class TestTheSet:
    def test_a_real_set(self):
        kinds = {catalog.lookup(e["accelerator"]).kind for e in RECORDS}
        moe = [e for e in RECORDS if models.lookup(e["model"]).moe]
        assert len(RECORDS) >= 12 and kinds == {"tpu", "gpu"}
        assert len(moe) >= 4 and len(RECORDS) - len(moe) >= 4
        assert any(e["speculative_tokens"] for e in RECORDS)
        assert any(e.get("model_dtype") == "fp8" for e in RECORDS)
        assert len(DATA["excluded"]) >= 3 and all(x["why"] and x["what"] for x in DATA["excluded"])

    @pytest.mark.parametrize("e", RECORDS, ids=IDS)
    def test_sourced_and_quoted(self, e):
        src = e["source"]
        assert src.get("url") or (
            src.get("repo") and src.get("path") and re.fullmatch(r"[0-9a-f]{7,40}", src["commit"])
        )
        # the figure the record carries (or the one its arithmetic starts from) is in the quoted lines
        figure = e["measured"].get("as_printed", e["measured"]["output_tokens_per_s"])
        assert any(d in e["quote"] for d in _digits(figure)), (figure, e["quote"])
        if e["measured"].get("as_printed") is not None:
            assert e["arithmetic"], "a derived figure shows its arithmetic"


@pytest.mark.parametrize("e", RECORDS, ids=IDS)
class TestEveryRecord:
    def test_expressible(self, e):
        c, why = ceilings.for_names(
            e["accelerator"],
            e["model"],
            e.get("model_dtype"),
            kv_cache_dtype=e.get("kv_cache_dtype") if e.get("kv_cache_dtype") != "auto" else None,
            speculative_tokens=e["speculative_tokens"],
            chips=e["chips_per_replica"],
        )
        assert c is not None, why
        assert c.kv_bytes_per_token, "the KV size is known from the model's config"

    def test_never_beats_its_ceiling(self, e):
        row = ROWS[e["id"]]
        assert row["ceiling_violations"] == [] and row["measurement_error"] is False, row["ceiling_violations"]
        assert 0 < row["roofline_fraction"] <= 1

    def test_ceiling_within_20x(self, e):
        row = ROWS[e["id"]]
        if e.get("far_from_roofline"):
            assert row["roofline_fraction"] < 0.05, "an exception that no longer needs to be one"
            return
        assert row["roofline_fraction"] >= 0.05, (row["roofline_fraction"], row["ceiling_output_tokens_per_s"])


def test_at_most_one_exception_to_the_20x_bound():
    far = [e for e in RECORDS if e.get("far_from_roofline")]
    assert len(far) <= 1 and all(len(e["far_from_roofline"]) > 80 for e in far)


def test_the_report_shows_each_at_its_fraction(tmp_path):
    """The records measured by `vllm bench serve` go through `tpustack report` from disk, as a user's runs do."""
    vllm = [e for e in RECORDS if e["tool"] == "vllm-bench"]
    assert len(vllm) >= 2
    root = published.write_run_dirs(tmp_path / "runs", vllm)
    r = CliRunner().invoke(app, ["report", str(root), "--json"])
    assert r.exit_code == 0, r.output
    points = {p["run_id"]: p for p in json.loads(r.stdout)["points"]}
    assert len(points) == len(vllm)
    for e in vllm:
        p = next(v for k, v in points.items() if k.endswith(e["id"]))
        assert p["roofline_fraction"] == pytest.approx(ROWS[e["id"]]["roofline_fraction"])
        assert not p["measurement_error"]
    text = CliRunner().invoke(app, ["report", str(root)])
    assert text.exit_code == 0 and "MEASUREMENT ERROR" not in text.output
    for e in vllm:  # the table's roofline column
        assert f"{ROWS[e['id']]['roofline_fraction']:.1%}" in text.output
