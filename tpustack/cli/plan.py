"""`tpustack plan | check | stacks | catalog`: the project's stacks, offline under the mock engine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
import yaml
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from tpustack.config.project import Project, find_project
from tpustack.core.errors import EXIT_VIOLATIONS, InputError, TpuStackError

from .output import fail, out, progress, say, warn

# Inputs worth showing in the tree, per type token (the rest is in --json).
KEY_INPUTS = {
    "gcp:tpu/v2Vm:V2Vm": ["acceleratorType", "runtimeVersion", "zone", "schedulingConfig"],
    "gcp:tpu/v2QueuedResource:V2QueuedResource": ["zone"],
    "gcp:container/cluster:Cluster": ["location", "releaseChannel", "deletionProtection"],
    "gcp:container/nodePool:NodePool": ["nodeCount", "initialNodeCount", "nodeLocations", "placementPolicy"],
    "gcp:projects/service:Service": ["service"],
    "gcp:serviceaccount/account:Account": ["accountId"],
    "gcp:projects/iAMMember:IAMMember": ["role", "member"],
    "gcp:storage/bucket:Bucket": ["name", "location"],
    "gcp:storage/bucketIAMMember:BucketIAMMember": ["bucket", "role"],
}

PROJECT_DIR = typer.Option(
    None,
    "--project-dir",
    help="The Pulumi project (default: the nearest directory "
    "upward from here holding Pulumi.yaml; env TPUSTACK_PROJECT_DIR).",
)
STACK = typer.Option(..., "--stack", "-s", help="Stack name: <stackConfigDir>/Pulumi.<stack>.yaml")


def project_or_fail(project_dir: Path | None) -> Project:
    try:
        return find_project(explicit=project_dir)
    except TpuStackError as e:
        fail(e)


def _summary(inputs: dict, keys: list[str]) -> str:
    parts = []
    for k in keys:
        v = inputs.get(k)
        if v in (None, "", [], {}):
            continue
        if isinstance(v, dict):
            v = json.dumps(v, separators=(",", ":"), sort_keys=True)
        parts.append(f"{k}={v}")
    return " ".join(parts)


def _key_inputs(r) -> str:
    text = _summary(r.inputs, KEY_INPUTS.get(r.type, []))
    if r.type == "gcp:container/nodePool:NodePool":
        text += " " + _summary(r.inputs.get("nodeConfig") or {}, ["machineType", "spot", "flexStart"])
    return text.strip()


def render_tree(p, ttl_hours: float | None = None) -> None:
    root = Tree(f"[bold]pulumi:pulumi:Stack[/] {escape(p.stack)}")
    nodes: dict[str | None, Tree] = {}
    for r in p.resources:
        label = f"[cyan]{escape(r.type)}[/] [bold]{escape(r.name)}[/]"
        detail = _key_inputs(r)
        if detail:
            label += f"  [dim]{escape(detail)}[/]"
        nodes[r.urn] = nodes.get(r.parent, root).add(label)
    if p.manifests:
        k8s = root.add(f"[magenta]kubernetes manifests[/] ({len(p.manifests)})")
        for m in p.manifests:
            meta = m.get("metadata", {})
            where = f"{meta['namespace']}/" if meta.get("namespace") else ""
            k8s.add(escape(f"{m.get('kind')} {where}{meta.get('name')}"))
    out.print(root)
    say(f"{len(p.resources)} resources to create, {len(p.manifests)} Kubernetes objects")
    line = f"cost: ${p.cost['hourly_usd']:.2f}/hour"
    if ttl_hours:
        line += f"; one experiment (TTL {ttl_hours:g} h): ${p.cost['hourly_usd'] * ttl_hours:.2f}"
    say(line)
    for item in p.cost["items"]:
        say(f"  ${item['hourly_usd']:>9.4f}/h  {item['urn'].rsplit('::', 1)[-1]}: {item['basis']}")
    for w in p.warnings:
        say(f"warning: {w}")
    if p.outputs:
        say("outputs:")
        for k, v in sorted(p.outputs.items()):
            say(f"  {k}: {v}")


def check_manifest_dir(directory: Path, stack: str) -> None:
    """One stack per directory, never over existing files: `kubectl apply -f DIR` must apply this stack only."""
    if directory.exists() and not directory.is_dir():
        raise InputError(f"--out {directory}: is a file. Fix: pass a new directory, e.g. --out plan-{stack}")
    if directory.is_dir() and any(directory.iterdir()):
        raise InputError(
            f"--out {directory}: is not empty; manifests are written into a new or empty directory "
            f"so `kubectl apply -f {directory}` never mixes stacks or keeps stale objects. Fix: "
            f"--out plan-{stack}-2, or empty it first"
        )


def write_manifests(p, directory: Path) -> list[Path]:
    """One file per Kubernetes object, named so `kubectl apply -f DIR` applies them in a sane order."""
    check_manifest_dir(directory, p.stack)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for i, m in enumerate(p.manifests):
        meta = m.get("metadata", {})
        name = f"{i:03d}-{m.get('kind', 'object').lower()}-{meta.get('name', 'unnamed')}.yaml"
        path = directory / name
        head = {k: m[k] for k in ("apiVersion", "kind", "metadata") if k in m}
        rest = {k: m[k] for k in sorted(m) if k not in head}
        path.write_text(yaml.safe_dump({**head, **rest}, sort_keys=False))
        written.append(path)
    return written


def register(app: typer.Typer) -> None:
    @app.command("plan")
    def plan_cmd(
        stack: str = STACK,
        as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON (the documented contract)."),
        out_dir: Path | None = typer.Option(None, "--out", help="Write every Kubernetes manifest into DIR."),
        project_dir: Path | None = PROJECT_DIR,
    ) -> None:
        """Show what `pulumi up` would create for a stack: offline, under Pulumi's mock engine."""
        from tpustack import plan as plan_mod
        from tpustack.config import load_config
        from tpustack.config.project import read_stack_file

        project = project_or_fail(project_dir)
        plan_mod.quiet_pulumi_logs()
        try:
            if out_dir is not None:
                check_manifest_dir(out_dir, stack)
            with progress(f"planning {stack} under the mock engine...", enabled=not as_json):
                p = plan_mod.plan(project, stack)
            cfg = load_config(*read_stack_file(project, stack), stack)
        except TpuStackError as e:
            fail(e)
        if out_dir is not None:
            try:
                files = write_manifests(p, out_dir)
            except TpuStackError as e:
                fail(e)
            if not as_json:
                say(f"wrote {len(files)} manifests to {out_dir}")
        if as_json:
            sys.stdout.write(p.dumps() + "\n")
        else:
            render_tree(p, cfg.lifecycle.ttl_hours if cfg.is_experiment else None)

    @app.command("check")
    def check_cmd(
        stack: str = STACK,
        as_json: bool = typer.Option(False, "--json", help="Print violations as JSON."),
        project_dir: Path | None = PROJECT_DIR,
    ) -> None:
        """Run the hardening checklist over a stack's plan; exit 7 with one line per violation."""
        from tpustack import plan as plan_mod
        from tpustack.config import load_config
        from tpustack.config.project import read_stack_file
        from tpustack.policy.checks import check_plan

        project = project_or_fail(project_dir)
        plan_mod.quiet_pulumi_logs()
        try:
            values, secrets = read_stack_file(project, stack)
            cfg = load_config(values, secrets, stack)
            with progress(f"planning {stack} under the mock engine...", enabled=not as_json):
                p = plan_mod.plan_values(project, stack, values, secrets)
        except TpuStackError as e:
            fail(e)
        violations = check_plan(p, cfg)
        if as_json:
            sys.stdout.write(json.dumps([v.__dict__ for v in violations], indent=2) + "\n")
        else:
            for v in violations:
                say(str(v))
            say(
                f"{stack}: {len(violations)} violation(s) over {len(p.resources)} resources and "
                f"{len(p.manifests)} Kubernetes objects"
            )
        if violations:
            raise typer.Exit(EXIT_VIOLATIONS)

    @app.command("stacks")
    def stacks_cmd(project_dir: Path | None = PROJECT_DIR) -> None:
        """List the project's stacks."""
        project = project_or_fail(project_dir)
        names = project.stack_names()
        if not names:
            warn(f"no Pulumi.<stack>.yaml in {project.stacks_dir}")
        for s in names:
            say(s)

    @app.command("catalog")
    def catalog_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
        """List every accelerator shape tpustack knows."""
        from tpustack.core.catalog import CATALOG

        rows = [
            {
                "name": s.name,
                "kind": s.kind,
                "family": s.family,
                "topology": s.topology,
                "chips": s.chips,
                "hosts": s.hosts,
                "machine_type": s.machine_type,
                "gke_accelerator": s.gke_accelerator,
                "hbm_gib": s.total_hbm_gib,
            }
            for s in CATALOG.values()
        ]
        if as_json:
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
            return
        t = Table(*rows[0].keys())
        for r in rows:
            t.add_row(*(escape(str(v)) for v in r.values()))
        out.print(t)
