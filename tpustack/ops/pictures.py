"""Pictures of results: throughput against latency per run, the cost-latency frontier across runs, the roofline
view, and one self-contained HTML page holding the table, both pictures and the answer (report's best point or
recommend's pick). They draw the report's rows (tpustack.ops.report.Row).

* ``throughput_vs_latency.png`` (report only): output tokens/s against TTFT and TPOT per run, one colour per
  engine/accelerator, the best point under the SLO starred;

* ``frontier.png``: $ per 1M output tokens against TTFT and TPOT at the SLO's percentile, one colour and line
  per configuration, the SLO as dashed lines, the Pareto frontier of the usable points (kept up, no failure,
  under every ceiling) as a grey step line, the chosen point as a gold star and measurement errors as red
  crosses (never on the frontier);
* ``roofline.png``: per configuration, every measured point's output tokens/s per replica beside the ceiling
  of one replica (tpustack.core.ceilings), on a log scale, points above the ceiling in red;
* ``report.html``: no script, no stylesheet or font from elsewhere; the pictures are inlined as
  ``data:image/png;base64`` so the file opens offline and can be mailed or attached to a ticket.

Every string a picture draws that came from a result file (run ids, engines, accelerators, capacity types) is
text, never markup: ``_plt`` turns matplotlib's mathtext off (``text.parse_math``), so ``$\\frac{a}{b}$`` or an
unbalanced ``$`` is drawn as typed instead of parsed (or failing to parse), and ``label`` shows control characters
escaped (tpustack.core.display.printable) and cuts an absurdly long name.

CLI side only (matplotlib).
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from tpustack.core.display import printable

PICTURES = ("frontier.png", "roofline.png")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    # Text from result files is text: no mathtext, whatever dollar signs it holds.
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt


LABEL_MAX = 120  # characters of one label drawn (a run id of 4,000 characters would push the axes off the figure)


def label(v: object) -> str:
    """Any value as a label a picture draws: one line, control characters escaped, at most LABEL_MAX characters."""
    s = printable("-" if v is None else v, newlines=False)
    return s if len(s) <= LABEL_MAX else s[: LABEL_MAX - 3] + "..."


def throughput_vs_latency(
    table: list[dict], best_row: dict | None, path: Path, slo_lines: dict[str, tuple[str, float]], pct: str
) -> list[str]:
    """Output tok/s vs TTFT and TPOT, each at its SLO's percentile (``pct`` without one), one curve per run;
    returns the curve labels."""
    plt = _plt()

    def group(r: dict) -> tuple[str, str]:
        return (label(r["engine"] or r["tool"]), label(r["accelerator"] or "?"))

    groups = sorted({group(r) for r in table})
    colours = {g: plt.get_cmap("tab10")(i % 10) for i, g in enumerate(groups)}
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    labels = []
    at = {m: slo_lines.get(m, (pct, 0.0))[0] for m in ("ttft", "tpot")}
    for i, run in enumerate(sorted({str(r["run_id"]) for r in table})):
        pts = sorted(
            (r for r in table if str(r["run_id"]) == run),
            key=lambda r: r["request_rate"] or r["max_concurrency"] or 0,
        )
        g = group(pts[0])
        name = f"{label(run)} ({g[0]} / {g[1]})"
        if _run_curves(axes, pts, at, MARKERS[i % len(MARKERS)], colours[g], name):
            labels.append(name)
    for ax, metric in zip(axes, ("ttft", "tpot"), strict=False):
        key = f"{metric}_{at[metric]}_ms"
        if metric in slo_lines:
            limit = slo_lines[metric][1]
            ax.axhline(limit, color="grey", linestyle="--", linewidth=1, label=f"SLO {limit:g} ms")
        if best_row and best_row.get(key) is not None:
            ax.plot(
                [best_row["output_tokens_per_s"]],
                [best_row[key]],
                marker="*",
                markersize=18,
                color="gold",
                markeredgecolor="black",
                linestyle="none",
                label="best under SLO",
            )
        ax.set_xlabel("output tokens/s (all replicas)")
        ax.set_ylabel(f"{metric.upper()} {at[metric]} (ms)")
        ax.set_title(f"Throughput vs {metric.upper()} {at[metric]}")
        ax.grid(True, alpha=0.3)
    if not table:
        axes[0].text(0.5, 0.5, "no serving points in these results", ha="center", transform=axes[0].transAxes)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("tpustack serving benchmark: one curve per run, one colour per engine / accelerator")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return labels


MARKERS = "os^Dv<>pPX"


def _run_curves(axes, pts: list[dict], at: dict[str, str], marker: str, colour, name: str) -> bool:
    """One run's points on the TTFT and the TPOT axes (each at its percentile); whether anything was drawn."""
    drawn = False
    for ax, metric in zip(axes, ("ttft", "tpot"), strict=False):
        key = f"{metric}_{at[metric]}_ms"
        xy = [
            (r["output_tokens_per_s"], r[key])
            for r in pts
            if r[key] is not None and r["output_tokens_per_s"] is not None
        ]
        if xy:
            ax.plot(*zip(*xy, strict=False), marker=marker, color=colour, label=name)
            drawn = True
    return drawn


def config_label(r: dict) -> str:
    cap = r.get("capacity_type") or "?"
    return label(f"{r.get('engine') or r.get('tool')} / {r.get('accelerator') or '?'} / {cap}")


def _usable(r: dict) -> bool:
    return (
        r.get("kept_up") is not False
        and not r.get("failed")
        and not r.get("measurement_error")
        and r.get("usd_per_1m_output_tokens") is not None
    )


def _is(r: dict, chosen: dict | None) -> bool:
    if not chosen:
        return False
    return (r.get("run_id"), r.get("point")) == (chosen.get("run_id"), chosen.get("point"))


def _replicas(r: dict) -> int:
    n = r.get("replicas")
    return n if isinstance(n, int) and n > 0 else 1


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both cost and latency, by rising cost."""
    front: list[tuple[float, float]] = []
    for x, y in sorted(points):
        if not front or y < front[-1][1]:
            front.append((x, y))
    return front


def frontier(table: list[dict], path: Path, slo_lines: dict[str, tuple[str, float]], chosen: dict | None) -> None:
    plt = _plt()
    pct = next(iter(slo_lines.values()))[0] if slo_lines else "p99"
    labels = sorted({config_label(r) for r in table})
    colours = {g: plt.get_cmap("tab10")(i % 10) for i, g in enumerate(labels)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6))
    for ax, metric in zip(axes, ("ttft", "tpot"), strict=True):
        key = f"{metric}_{slo_lines.get(metric, (pct, 0))[0]}_ms"
        _frontier_axis(ax, table, key, labels, colours, slo_lines[metric][1] if metric in slo_lines else None, chosen)
        ax.set_xscale("log")
        ax.set_xlabel("$ per 1M output tokens (log)")
        ax.set_ylabel(f"{metric.upper()} {key.split('_')[1]} (ms)")
        ax.set_title(f"cost vs {metric.upper()}")
        ax.grid(True, which="both", alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("cost-latency frontier: one line per configuration (engine / accelerator / capacity)")
    fig.tight_layout(rect=(0, 0.06 + 0.035 * math.ceil(len(names) / 4), 1, 1))
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _frontier_axis(
    ax, table: list[dict], key: str, labels: list[str], colours: dict, slo: float | None, chosen: dict | None
) -> None:
    """One latency metric against cost: a line per configuration, measurement errors as red crosses, the Pareto
    frontier of the usable points, the SLO dashed, the chosen point starred (in that order: the legend's)."""
    for g in labels:
        pts = sorted(
            (r["usd_per_1m_output_tokens"], r[key])
            for r in table
            if config_label(r) == g and r.get(key) is not None and r.get("usd_per_1m_output_tokens") is not None
        )
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", color=colours[g], label=g, alpha=0.85)
    bad = [
        (r["usd_per_1m_output_tokens"], r[key])
        for r in table
        if r.get("measurement_error") and r.get(key) is not None and r.get("usd_per_1m_output_tokens")
    ]
    if bad:
        ax.plot(*zip(*bad, strict=True), "x", color="red", markersize=12, mew=3, label="above a ceiling")
    front = pareto([(r["usd_per_1m_output_tokens"], r[key]) for r in table if _usable(r) and r.get(key) is not None])
    if len(front) > 1:
        ax.step(*zip(*front, strict=True), where="post", color="grey", linewidth=2, alpha=0.5, label="frontier")
    if slo is not None:
        ax.axhline(slo, color="black", linestyle="--", linewidth=1, label="SLO")
    _star_chosen(ax, table, key, chosen)


def _star_chosen(ax, table: list[dict], key: str, chosen: dict | None) -> None:
    for r in table:
        if _is(r, chosen) and r.get(key) is not None:
            ax.plot(
                [r["usd_per_1m_output_tokens"]],
                [r[key]],
                marker="*",
                markersize=20,
                color="gold",
                markeredgecolor="black",
                linestyle="none",
                label="chosen",
            )


def roofline(table: list[dict], path: Path) -> None:
    plt = _plt()
    labels = sorted({config_label(r) for r in table if r.get("ceiling_output_tokens_per_s")})
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(labels) + 2), 4.6))
    if not labels:
        ax.text(0.5, 0.5, "no ceilings: the results name no catalog accelerator and model", ha="center")
        ax.set_axis_off()
    for i, g in enumerate(labels):
        rows = [r for r in table if config_label(r) == g and r.get("ceiling_output_tokens_per_s")]
        reps = [_replicas(r) for r in rows]
        ceiling = rows[0]["ceiling_output_tokens_per_s"] / reps[0]
        ax.bar(i, ceiling, width=0.6, color="lightsteelblue", edgecolor="steelblue")
        ax.text(i - 0.28, ceiling * 0.8, f"ceiling {ceiling:,.0f}", ha="left", va="top", fontsize=7)
        for r, n in zip(rows, reps, strict=True):
            y = (r.get("output_tokens_per_s") or 0) / n
            if y <= 0:
                continue
            frac = r.get("roofline_fraction")
            ax.plot(
                [i],
                [y],
                marker="x" if r.get("measurement_error") else "o",
                color="red" if r.get("measurement_error") else "black",
                markersize=10 if r.get("measurement_error") else 6,
            )
            if frac is not None:
                ax.text(i + 0.33, y, f"{frac:.0%}", fontsize=7, va="center")
    if labels:
        ax.set_yscale("log")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=7)
        ax.set_ylabel("output tokens/s per replica (log)")
        ax.set_title("measured (dots; red x: above the ceiling) vs the HBM-bandwidth ceiling (bars)")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _fmt(v, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return "-" if not math.isfinite(v) else f"{v:,.{digits}f}"
    return str(v)


TABLE = (
    ("run", "run_id", 0),
    ("configuration", None, 0),
    ("load req/s", "request_rate", 1),
    ("kept up", "kept_up", 0),
    ("failed", "failed", 0),
    ("req/s", "requests_per_s", 2),
    ("out tok/s", "output_tokens_per_s", 0),
    ("TTFT p99 ms", "ttft_p99_ms", 0),
    ("TPOT p99 ms", "tpot_p99_ms", 1),
    ("$/1M out", "usd_per_1m_output_tokens", 3),
    ("of roofline", "roofline_fraction", 0),
    ("meets SLO", "meets_slo", 0),
)


def html_page(
    table: list[dict], images: dict[str, bytes], headline: list[str], title: str, chosen: dict | None, notes: list[str]
) -> str:
    def e(v: object) -> str:
        return html.escape(printable(v))

    head = "".join(f"<th>{e(t)}</th>" for t, _, _ in TABLE) + "<th>flags</th>"
    body = []
    for r in table:
        cells = []
        for _, key, digits in TABLE:
            if key is None:
                v = config_label(r)
            elif key == "roofline_fraction":
                v = f"{r[key]:.1%}" if isinstance(r.get(key), (int, float)) else "-"
            else:
                v = _fmt(r.get(key), digits)
            cells.append(f"<td>{e(str(v))}</td>")
        flags = "; ".join(r.get("ceiling_violations") or [])
        cls = ' class="chosen"' if _is(r, chosen) else (' class="error"' if r.get("measurement_error") else "")
        flag = f"MEASUREMENT ERROR: {flags}" if flags else ""
        body.append(f"<tr{cls}>{''.join(cells)}<td>{e(flag)}</td></tr>")
    imgs = "".join(
        f'<figure><img id="{e(name.split(".")[0])}" alt="{e(name)}" '
        f'src="data:image/png;base64,{base64.b64encode(data).decode()}"><figcaption>{e(name)}</figcaption></figure>'
        for name, data in images.items()
    )
    answer = "".join(f"<li>{e(line)}</li>" for line in headline)
    extra = "".join(f"<li>{e(n)}</li>" for n in notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; font-size: 12px; }}
th, td {{ border: 1px solid #bbb; padding: 3px 6px; text-align: right; }}
th {{ background: #eef; }}
tr.chosen td {{ background: #ffe98a; font-weight: bold; }}
tr.error td {{ background: #fbb; }}
figure {{ display: inline-block; margin: 0.5em; }}
img {{ max-width: 100%; border: 1px solid #ccc; }}
#recommendation {{ background: #eefbe9; border: 1px solid #7b7; padding: 0.5em 1em; }}
</style></head>
<body>
<h1>{e(title)}</h1>
<section id="recommendation"><h2>Answer</h2><ul>{answer}</ul></section>
<section id="plots"><h2>Pictures</h2>{imgs}</section>
<section><h2>Points</h2><table id="points"><thead><tr>{head}</tr></thead>
<tbody>{"".join(body)}</tbody></table></section>
<section id="notes"><h2>Notes</h2><ul>{extra}</ul></section>
</body></html>
"""


def write_all(
    table: list[dict],
    into: Path,
    *,
    slo_lines: dict[str, tuple[str, float]],
    chosen: dict | None,
    headline: list[str],
    title: str,
    notes: list[str],
) -> dict[str, str]:
    """frontier.png, roofline.png and report.html into ``into`` (the staging directory of the caller's --out,
    tpustack.core.outputs); returns their file names by key."""
    frontier(table, into / "frontier.png", slo_lines, chosen)
    roofline(table, into / "roofline.png")
    images = {name: (into / name).read_bytes() for name in PICTURES}
    page = html_page(table, images, headline, title, chosen, notes)
    (into / "report.html").write_text(page, encoding="utf-8")
    return {"frontier": "frontier.png", "roofline": "roofline.png", "html": "report.html"}
