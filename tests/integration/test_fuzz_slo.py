"""Property-based: `report --slo` and `recommend --slo` speak one syntax. For any text: the parser returns limits
that are positive, finite milliseconds at a recorded percentile, or raises the usage error (exit 2); both commands
give the same answer for the same text, with one plain error line, no traceback and no echo longer than the
input's excerpt."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tpustack.core.errors import EXIT_USAGE, UsageError
from tpustack.ops import slo

from helpers.project import FIXTURES

SWEEP = str(FIXTURES / "sweep")
DEMAND = ["--rps", "5", "--input-len", "1024", "--output-len", "128"]
runner = CliRunner()

pieces = st.sampled_from(
    [
        "ttft",
        "tpot",
        "e2e",
        "e2el",
        "itl",
        ":",
        "p50",
        "p99",
        "p95",
        "99",
        "<=",
        "<",
        "=",
        ">=",
        "0",
        "500",
        "-1",
        "1e400",
        "nan",
        "inf",
        "0.5",
        "ms",
        "s",
        ",",
        " ",
        "\x1b[31m",
        "$x$",
    ]
)
slo_texts = st.one_of(st.lists(pieces, min_size=1, max_size=8).map("".join), st.text(max_size=30))


@settings(max_examples=400, deadline=None)
@given(text=slo_texts)
def test_parser_returns_sane_limits_or_a_usage_error(text):
    try:
        parsed = slo.parse_slo(text)
    except UsageError as e:
        assert e.exit_code == EXIT_USAGE and e.fix
        return
    assert parsed.limits
    for metric, (pct, ms) in parsed.limits.items():
        assert metric in slo.METRICS and pct in slo.PERCENTILES
        assert math.isfinite(ms) and ms > 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=slo_texts.filter(lambda t: t and not t.startswith("-") and "\x00" not in t))
def test_report_and_recommend_agree(text):
    from tpustack.cli import app

    rep = runner.invoke(app, ["report", SWEEP, "--slo", text, "--json"])
    rec = runner.invoke(app, ["recommend", SWEEP, "--slo", text, *DEMAND, "--json"])
    for r in (rep, rec):
        assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
        assert "Traceback" not in r.output and "\x1b" not in r.output
    assert (rep.exit_code == EXIT_USAGE) == (rec.exit_code == EXIT_USAGE), (rep.output, rec.output)
    if rep.exit_code == EXIT_USAGE:
        assert rep.output.count("error:") == 1 and "Fix:" in rep.output
    else:
        assert rep.exit_code in (0, 6) and rec.exit_code in (0, 4, 6)
