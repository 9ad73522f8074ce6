"""The `tpustack` command line: plan (and, in later parts, diff, heartbeat, report, reap, check).

Exit codes scripts can trust: 0 ok, 2 invalid config, 3 capacity, 4 benchmark, 1 anything else.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
import yaml
from rich.console import Console
from rich.tree import Tree

from .errors import TpuStackError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="LLM inference on Cloud TPUs and GPUs: plan, benchmark, report, tear down.")
err = Console(stderr=True)
out = Console()

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


def _fail(e: TpuStackError) -> None:
    err.print(f"[bold red]error:[/] {e}", markup=True, highlight=False)
    raise typer.Exit(e.exit_code)


def _summary(inputs: dict, keys: list[str]) -> str:
    parts = []
    for k in keys:
        v = inputs.get(k)
        if v in (None, "", [], {}):
            continue
        if k == "nodeConfig" or isinstance(v, dict):
            v = json.dumps(v, separators=(",", ":"), sort_keys=True)
        parts.append(f"{k}={v}")
    return " ".join(parts)


def _key_inputs(r) -> str:
    keys = KEY_INPUTS.get(r.type, [])
    text = _summary(r.inputs, keys)
    if r.type == "gcp:container/nodePool:NodePool":
        nc = r.inputs.get("nodeConfig") or {}
        text += " " + _summary(nc, ["machineType", "spot", "flexStart"])
    return text.strip()


def render_tree(p, console: Console, ttl_hours: float | None = None) -> None:
    root = Tree(f"[bold]pulumi:pulumi:Stack[/] {p.stack}")
    nodes = {}
    for r in p.resources:
        label = f"[cyan]{r.type}[/] [bold]{r.name}[/]"
        detail = _key_inputs(r)
        if detail:
            label += f"  [dim]{detail}[/]"
        parent = nodes.get(r.parent, root)
        nodes[r.urn] = parent.add(label)
    if p.manifests:
        k8s = root.add(f"[magenta]kubernetes manifests[/] ({len(p.manifests)})")
        for m in p.manifests:
            meta = m.get("metadata", {})
            where = f"{meta['namespace']}/" if meta.get("namespace") else ""
            k8s.add(f"{m.get('kind')} {where}{meta.get('name')}")
    console.print(root)
    console.print(f"[bold]{len(p.resources)}[/] resources to create, {len(p.manifests)} Kubernetes objects")
    console.print(f"cost: [bold]${p.cost['hourly_usd']:.2f}/hour[/]", end="")
    if ttl_hours:
        console.print(f"; one experiment (TTL {ttl_hours:g} h): [bold]${p.cost['hourly_usd'] * ttl_hours:.2f}[/]",
                      highlight=False)
    else:
        console.print()
    for item in p.cost["items"]:
        console.print(f"  ${item['hourly_usd']:>9.4f}/h  {item['urn'].rsplit('::', 1)[-1]}: {item['basis']}",
                      highlight=False)
    for w in p.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if p.outputs:
        console.print("outputs:")
        for k, v in sorted(p.outputs.items()):
            console.print(f"  {k}: {v}", highlight=False, markup=False)


def write_manifests(p, directory: Path) -> list[Path]:
    """One file per Kubernetes object, named so `kubectl apply -f DIR` applies them in a sane order."""
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


@app.command("plan")
def plan_cmd(
    stack: str = typer.Option(..., "--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml"),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON (the documented contract)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Write every Kubernetes manifest into DIR."),
) -> None:
    """Show what `pulumi up` would create for a stack: offline, under Pulumi's mock engine."""
    from . import plan as plan_mod

    try:
        if as_json:
            p = plan_mod.plan(stack)
        else:
            with err.status(f"planning {stack} under the mock engine..."):
                p = plan_mod.plan(stack)
    except TpuStackError as e:
        _fail(e)
    if out_dir is not None:
        files = write_manifests(p, out_dir)
        if not as_json:
            out.print(f"wrote {len(files)} manifests to {out_dir}")
    if as_json:
        sys.stdout.write(p.dumps() + "\n")
    else:
        from .config import load_config

        cfg = load_config(*plan_mod.read_stack_file(stack), stack)
        render_tree(p, out, cfg.lifecycle.ttl_hours if cfg.is_experiment else None)


@app.command("check")
def check_cmd(
    stack: str = typer.Option(..., "--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml"),
    as_json: bool = typer.Option(False, "--json", help="Print violations as JSON."),
) -> None:
    """Run the hardening checklist over a stack's plan; exit 1 with one line per violation."""
    from . import plan as plan_mod
    from .config import load_config
    from .policy import check_plan

    try:
        values, secrets = plan_mod.read_stack_file(stack)
        cfg = load_config(values, secrets, stack)
        p = plan_mod.plan(stack)
    except TpuStackError as e:
        _fail(e)
    violations = check_plan(p, cfg)
    if as_json:
        sys.stdout.write(json.dumps([v.__dict__ for v in violations], indent=2) + "\n")
    else:
        for v in violations:
            out.print(str(v), highlight=False, markup=False)
        out.print(f"{stack}: {len(violations)} violation(s) over {len(p.resources)} resources and "
                  f"{len(p.manifests)} Kubernetes objects", highlight=False)
    if violations:
        raise typer.Exit(1)


@app.command("stacks")
def stacks_cmd() -> None:
    """List the stacks in stacks/."""
    from .plan import stack_names

    for s in stack_names():
        out.print(s)


@app.command("catalog")
def catalog_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """List every accelerator shape tpustack knows."""
    from rich.table import Table

    from .catalog import CATALOG

    rows = [{"name": s.name, "kind": s.kind, "family": s.family, "topology": s.topology, "chips": s.chips,
             "hosts": s.hosts, "machine_type": s.machine_type, "gke_accelerator": s.gke_accelerator,
             "hbm_gib": s.total_hbm_gib} for s in CATALOG.values()]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    t = Table(*rows[0].keys())
    for r in rows:
        t.add_row(*(str(v) for v in r.values()))
    out.print(t)


# Commands owned by other modules register themselves here (one line each).
def _register_commands() -> None:
    from .cmd_lifecycle import register as _lifecycle; _lifecycle(app)
    from .cmd_bench import register as _bench; _bench(app)


_register_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
