"""`tpustack heartbeat` and `tpustack report`: the benchmark commands (the work lives in tpustack.workloads
and tpustack.ops.report)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tpustack.core.errors import EXIT_BENCHMARK, EXIT_PARTIAL, TpuStackError
from tpustack.workloads.heartbeat import SEED_SHAPE_ARG

from .output import cell, fail, out, print_json, progress, require, say, warn


def _fmt(v, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def heartbeat_cmd(
    backend: str = typer.Option("auto", help="auto, cpu, cuda, xla (torch_xla) or jax"),
    dtype: str = typer.Option("float32", help="float32 or bfloat16"),
    shape: str = typer.Option(SEED_SHAPE_ARG, help="B,H,I: batch, hidden, intermediate"),
    iterations: int = typer.Option(100, help="matmuls per timed block"),
    accelerator: str = typer.Option("cpu", help="catalog name of this machine (v6e-1, h100-1) or cpu"),
    trials: int = typer.Option(3, help="timed blocks; the median is the result"),
    out_path: str | None = typer.Option(None, "--out", help="write the JSON result (path or gs://...)"),
    as_json: bool = typer.Option(False, "--json", help="print the JSON result"),
) -> None:
    """Time the seed handbook's matmul honestly and check it against the device roofline."""
    from tpustack.workloads import gcs, heartbeat

    try:
        dims = heartbeat.parse_shape(shape)
        if out_path:
            gcs.check_new(out_path)  # before measuring: a finished result is never lost to a bad --out
        with progress(f"heartbeat {shape} {dtype} x{iterations} ({trials} timed blocks)...", enabled=not as_json):
            doc = heartbeat.run(
                backend=backend, dtype=dtype, shape=dims, iterations=iterations, accelerator=accelerator, trials=trials
            )
        if out_path:
            doc["written_to"] = heartbeat.write_result(doc, out_path)
    except TpuStackError as e:
        fail(e)
    if as_json:
        print_json(doc)
    else:
        say(heartbeat.summary_line(doc))
        say(f"roofline: {doc['roofline']['source']}")
    if not doc["ok"]:
        raise typer.Exit(EXIT_BENCHMARK)


def report_cmd(
    sources: list[str] = typer.Argument(..., help="gs://BUCKET/STACK[/RUN_ID] prefixes or local directories"),
    out_dir: Path | None = typer.Option(
        None,
        "--out",
        help="write report.csv, report.json, the PNG plots and the self-contained report.html into DIR (reports "
        "are never replaced); without it nothing is written",
    ),
    slo_text: str | None = typer.Option(
        None,
        "--slo",
        help="latency SLO for the best point, as recommend takes it: METRIC[:PCT]<=MS, comma-separated; metrics "
        "ttft, tpot, e2e; PCT p50, p90 or p99 (default --slo-percentile), e.g. 'ttft:p99<=500ms,tpot:p99<=50ms'",
    ),
    slo_ttft_ms: float | None = typer.Option(None, help="TTFT SLO (ms) at --slo-percentile (same as --slo ttft<=MS)"),
    slo_tpot_ms: float | None = typer.Option(None, help="TPOT SLO (ms) at --slo-percentile (same as --slo tpot<=MS)"),
    slo_e2e_ms: float | None = typer.Option(None, help="end-to-end latency SLO (ms) (same as --slo e2e<=MS)"),
    slo_percentile: str = typer.Option("p99", help="percentile of the SLOs that name none: p50, p90 or p99"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Compare benchmark runs: table, CSV/JSON, throughput-latency plots, $/1M tokens, best point under SLO."""
    if out_dir is not None:
        require("matplotlib", "ops", "report")
    from tpustack.ops import compare, report
    from tpustack.ops import slo as slos

    try:
        slo = slos.merged(slo_text, {"ttft": slo_ttft_ms, "tpot": slo_tpot_ms, "e2e": slo_e2e_ms}, slo_percentile)
        doc = report.build(sources, out_dir, slo, slo_percentile)
    except TpuStackError as e:
        fail(e)
    if as_json:
        print_json(doc)
        _exit_if_skipped(doc, show=False)
        return
    if doc["points"]:
        out.print(_points_table(doc, slo))
        for r in doc["points"]:
            if r.get("measurement_error"):
                warn(
                    f"MEASUREMENT ERROR: run {r['run_id']} point {r['point']} is above a physical ceiling of "
                    f"{r['accelerator']}: {'; '.join(r['ceiling_violations'])}. It is never a result (not ranked)"
                )
    if doc["heartbeats"]:
        out.print(_heartbeats_table(doc))
    if doc["cold_start"]:
        out.print(_cold_start_table(doc))
    for line in compare.lines(doc.get("comparisons", [])):
        say(f"same load, one setup apart: {line}")
    b = doc["best"]
    if b:
        say(
            f"best point{' under the SLO' if slo else ''}: run {b['run_id']} point {b['point']} "
            f"({b['engine'] or b['tool']} on {b['accelerator'] or '?'}): "
            f"{_fmt(b['output_tokens_per_s'], 0)} out tok/s, "
            f"${_fmt(b['usd_per_1m_output_tokens'], 3)} per 1M output tokens"
        )
    elif doc["points"]:
        say("no point meets the SLO while keeping up without failures")
    for k, v in doc["files"].items():
        say(f"{k}: {v}")
    _exit_if_skipped(doc)


POINT_COLUMNS = (
    "run",
    "engine / accelerator",
    "tool",
    "load",
    "kept up",
    "fail",
    "req/s",
    "out tok/s",
    "/chip",
    "TTFT p50|p99 ms",
    "TPOT p50|p99 ms",
    "goodput req/s",
    "prefix hit",
    "$/1M out",
    "$/run",
    "of roofline",
    "SLO",
)


def _points_table(doc: dict, slo: object) -> Table:
    """The report's rows, the best in bold green, measurement errors in red."""
    t = Table(title=cell(f"serving benchmark points (SLO {slo})"))
    for c in POINT_COLUMNS:
        t.add_column(c, overflow="fold")
    for r in doc["points"]:
        load = f"c={r['max_concurrency']}" if r["max_concurrency"] else f"{_fmt(r['request_rate'])}/s"
        cells = [
            str(r["run_id"]),
            f"{r['engine'] or '-'} / {r['accelerator'] or '-'}",
            str(r["tool"]),
            load,
            _fmt(r["kept_up"]),
            _fmt(r["failed"]),
            _fmt(r["requests_per_s"], 2),
            _fmt(r["output_tokens_per_s"], 0),
            _fmt(r["output_tokens_per_s_per_chip"], 0),
            f"{_fmt(r['ttft_p50_ms'])} | {_fmt(r['ttft_p99_ms'])}",
            f"{_fmt(r['tpot_p50_ms'], 2)} | {_fmt(r['tpot_p99_ms'], 2)}",
            _fmt(r["goodput_rps"], 2),
            _hit_rate(r),
            _fmt(r["usd_per_1m_output_tokens"], 3),
            _fmt(r["usd_per_experiment"], 2),
            _roofline(r),
            _fmt(r["meets_slo"]),
        ]
        style = "bold green" if doc["best"] is r else ("red" if r.get("measurement_error") else None)
        t.add_row(*map(cell, cells), style=style)
    return t


def _cold_start_table(doc: dict) -> Table:
    """Measured cold start per run (slowest pod, s from pod creation) beside the plan's estimate."""
    from tpustack.ops import cold_start_report

    t = Table(title="cold start (slowest pod, s from pod creation; est.: the plan's, ?: no source)")
    for c in ("run", "stack", "accelerator", "pods", *cold_start_report.MEASURED):
        t.add_column(c)
    for r in cold_start_report.table_rows(doc["cold_start"]):
        t.add_row(*r)
    return t


def _heartbeats_table(doc: dict) -> Table:
    h = Table(title="heartbeats")
    for c in ("location", "backend", "dtype", "shape", "ms/iter", "TFLOP/s", "of roofline", "status"):
        h.add_column(c, overflow="fold")
    for r in doc["heartbeats"]:
        h.add_row(
            *map(
                cell,
                [
                    str(r["location"]),
                    str(r["backend"]),
                    str(r["dtype"]),
                    str(r["shape"]),
                    _fmt(r["ms_per_iteration"], 4),
                    _fmt(r["achieved_tflops"], 3),
                    f"{r['fraction_of_roofline']:.1%}" if r["fraction_of_roofline"] else "-",
                    "ok" if r["ok"] else f"MEASUREMENT ERROR: {r['error']}",
                ],
            )
        )
    return h


def _hit_rate(r: dict) -> str:
    """The engine's own prefix-cache hit rate (schema v2); '-' where not measured (caching off, older record)."""
    h = r.get("prefix_hit_rate")
    return f"{h:.0%}" if isinstance(h, (int, float)) else "-"


def _roofline(r: dict) -> str:
    if r.get("measurement_error"):
        return "ABOVE CEILING"
    f = r.get("roofline_fraction")
    return f"{f:.1%}" if isinstance(f, (int, float)) else "-"


def recommend_cmd(
    sources: list[str] = typer.Argument(..., help="gs://BUCKET/STACK[/RUN_ID] prefixes or local results directories"),
    slo: str = typer.Option(
        ...,
        "--slo",
        help="latency SLO: METRIC[:PCT]<=MS, comma-separated; metrics ttft, tpot, e2e; PCT p50, p90 or p99 "
        "(default p99), e.g. 'ttft:p99<=500ms,tpot:p99<=50ms'",
    ),
    rps: float = typer.Option(..., "--rps", help="demand: requests per second to serve"),
    input_len: int = typer.Option(..., "--input-len", help="demand: prompt tokens per request"),
    output_len: int = typer.Option(..., "--output-len", help="demand: output tokens per request"),
    model: str | None = typer.Option(None, "--model", help="model id (needed when the results hold several)"),
    out_dir: Path | None = typer.Option(
        None,
        "--out",
        help="write recommend.json, frontier.png, roofline.png and report.html into DIR (new or empty)",
    ),
    as_json: bool = typer.Option(False, "--json", help="print the answer as JSON"),
) -> None:
    """The cheapest measured configuration that serves a demand within an SLO, with the evidence."""
    if out_dir is not None:
        require("matplotlib", "ops", "recommend")
    from tpustack.ops import recommend

    try:
        parsed = recommend.parse_slo(slo)
        if out_dir is not None:
            recommend.check_out(out_dir)  # before reading anything
        doc = recommend.recommend(sources, parsed, recommend.Demand(rps, input_len, output_len), model=model)
        if out_dir is not None:
            recommend.write(doc, out_dir)
    except TpuStackError as e:
        fail(e)
    for sk in doc["skipped"]:
        warn(f"skipped {sk['location']}: {sk['reason']}")
    if as_json:
        print_json({k: v for k, v in doc.items() if k != "points"})
    else:
        for line in recommend.explain(doc):
            say(line)
        for k, v in (doc.get("files") or {}).items():
            say(f"{k}: {v}")
    if not doc["recommendation"]:
        raise typer.Exit(EXIT_NO_FIT)
    _exit_if_skipped(doc, show=False)


# recommend: no measured configuration fits (scripts tell it from a crash; the estimates are printed). It comes
# before EXIT_PARTIAL (README "Exit codes"): "no answer" says more than "an answer from part of the files"; the
# skipped files are named on stderr and in --json either way.
EXIT_NO_FIT = EXIT_BENCHMARK


def register(app: typer.Typer) -> None:
    app.command("heartbeat")(heartbeat_cmd)
    app.command("report")(report_cmd)
    app.command("recommend")(recommend_cmd)


def _exit_if_skipped(doc: dict, show: bool = True) -> None:
    """Results that could not be read are named, and the exit code says the report is partial."""
    skipped = doc.get("skipped") or []
    if not skipped:
        return
    if show:
        for sk in skipped:
            warn(f"skipped {sk['location']}: {sk['reason']}")
    warn(f"{len(skipped)} file(s) could not be used; the answer covers the rest (exit {EXIT_PARTIAL})")
    raise typer.Exit(EXIT_PARTIAL)
