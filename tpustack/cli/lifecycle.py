"""CLI commands `tpustack reap` (the TTL reaper) and `tpustack diff` (a change's effect on stacks).

Exit codes: 0 ok; 1 when any listing or delete failed, credentials are missing or an option is out of range
(reap), or a side could not be planned (diff); 2 for usage errors. Both print JSON with ``--json`` for
scripts and scheduled jobs.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import typer
from rich.markup import escape

from tpustack.core.errors import TpuStackError
from tpustack.ops.reap_rules import Action, Report, Verdict

from .output import err, fail, out, print_json, progress, require
from .plan import PROJECT_DIR, project_or_fail

VERDICT_STYLE = {
    Verdict.EXPIRED: "bold red",
    Verdict.ALIVE: "green",
    Verdict.KEPT: "cyan",
    Verdict.COVERED: "dim",
    Verdict.DELETING: "dim",
    Verdict.NO_EXPIRY: "yellow",
    Verdict.BAD_LABEL: "yellow",
}
# Verdicts whose reason is printed even without --verbose: they ask for a decision.
EXPLAINED = (Verdict.EXPIRED, Verdict.BAD_LABEL, Verdict.NO_EXPIRY)


def _print_reap(report: Report, wide: bool) -> None:
    # Plain lines, never wrapped or cut: the usual reader is a scheduled job's log.
    for f in report.findings:
        expires = (
            dt.datetime.fromtimestamp(f.expires, dt.UTC).strftime("%Y-%m-%dT%H:%MZ") if f.expires is not None else "-"
        )
        style = VERDICT_STYLE.get(f.verdict, "")
        verdict = f"[{style}]{f.verdict:<9}[/]" if style else f"{f.verdict:<9}"
        out.print(
            f"{verdict}  {(f.action or '-'):<14}  {f.kind:<15}  {escape(f.short)}  "
            f"stack={escape(f.stack or '-')} expires={expires}",
            highlight=False,
            soft_wrap=True,
        )
        if f.verdict in EXPLAINED or wide:
            out.print(f"    {f.reason}", highlight=False, markup=False, soft_wrap=True)
        if f.detail:
            out.print(f"    {f.detail}", highlight=False, markup=False, soft_wrap=True)
    for e in report.errors:
        err.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
    n = len(report.expired())
    when = dt.datetime.fromtimestamp(report.now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not report.delete:
        out.print(
            f"{len(report.findings)} tpustack resource(s) in {report.project} at {when}; {n} expired. "
            f"Dry run: nothing deleted" + (" (pass --yes to delete them)" if n else ""),
            highlight=False,
            soft_wrap=True,
        )
    else:
        failed = sum(f.action == Action.FAILED for f in report.findings)
        out.print(
            f"{n} expired resource(s) in {report.project}: {n - failed} delete(s) sent, {failed} failed. "
            f"Run `pulumi refresh` in the affected stacks so their state matches.",
            highlight=False,
            soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    @app.command("reap")
    def reap_cmd(
        project: str = typer.Option(..., "--project", "-p", help="GCP project id to sweep."),
        location: list[str] | None = typer.Option(
            None,
            "--location",
            "-l",
            help="Zone or region (repeatable). Default: every TPU zone and every GKE location of the project.",
        ),
        yes: bool = typer.Option(False, "--yes", help="Delete what is expired. Without it: a dry run."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        now: int | None = typer.Option(None, "--now", help="Judge expiry at this unix time (default: now)."),
        max_age: float | None = typer.Option(
            None,
            "--max-age",
            help="Hours after creation at which a tpustack resource without an expiry "
            "label (e.g. a queued resource) counts as expired.",
        ),
        wait: float = typer.Option(
            0.0, "--wait", help="Seconds to wait for the delete operations to finish (0: send the deletes and return)."
        ),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Explain every verdict."),
    ) -> None:
        """Find tpustack's TPU VMs, queued resources, GKE clusters and node pools past their expiry label;
        delete them with --yes. Exit 1 if any listing or delete failed (for scheduled jobs)."""
        require("google.cloud.tpu_v2", "ops", "reap")
        require("google.cloud.container_v1", "ops", "reap")
        from tpustack.ops import reap as reap_mod

        try:
            tpu, gke = reap_mod.make_clients()
            reaper = reap_mod.Reaper(project, tpu, gke, locations=location, now=now, max_age_hours=max_age)
            with progress(f"{'reaping' if yes else 'surveying'} {project}...", enabled=not as_json):
                report = reaper.run(delete=yes, wait_s=wait)
        except TpuStackError as e:
            fail(e)
        if as_json:
            print_json(report.to_json(), sort_keys=True)
        else:
            _print_reap(report, verbose)
        if report.failed:
            raise typer.Exit(report.exit_code)

    @app.command("diff")
    def diff_cmd(
        stack: list[str] | None = typer.Option(
            None, "--stack", "-s", help="Stack name (repeatable). Default: every stack at REF or in the working tree."
        ),
        base: str = typer.Option(..., "--base", help="Git revision to compare against, e.g. origin/main."),
        markdown: bool = typer.Option(False, "--markdown", help="Markdown, for a pull-request comment."),
        as_json: bool = typer.Option(False, "--json", help="Print the diffs as JSON."),
        matrix: bool = typer.Option(
            False,
            "--matrix",
            help="Also diff every stack the matrix files (stacks/*.matrix.yaml) expand to, each side expanded by "
            "its own `tpustack matrix`.",
        ),
        project_dir: Path | None = PROJECT_DIR,
    ) -> None:
        """Plan stacks at --base and in the working tree, and show what is added, removed or changed:
        resource inputs and Kubernetes object fields."""
        from tpustack.ops import diff as diff_mod

        project = project_or_fail(project_dir)
        try:
            with progress(f"planning at {base} and in the working tree...", enabled=not (as_json or markdown)):
                diffs = diff_mod.diff_stacks(project.root, base, stack or None, matrix=matrix)
        except TpuStackError as e:
            fail(e)
        if as_json:
            print_json([d.to_json() for d in diffs], sort_keys=True)
        elif markdown:
            sys.stdout.write(diff_mod.markdown_report(diffs))
        else:
            sys.stdout.write("\n".join(d.to_text() for d in diffs))
