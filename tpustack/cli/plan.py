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
from tpustack.core import outputs
from tpustack.core.errors import EXIT_INVALID, EXIT_VIOLATIONS, InputError, TpuStackError, UsageError

from .output import fail, out, print_json, progress, say, warn

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
    if scaled := p.cost.get("autoscaling"):
        say(
            f"  autoscaling: ${scaled['min_hourly_usd']:.2f}-${scaled['max_hourly_usd']:.2f}/hour "
            f"(min-max replicas; {scaled['basis']})"
            + (f"; one experiment at most ${scaled['per_experiment_max_usd']:.2f}" if ttl_hours else "")
        )
    for item in p.cost["items"]:
        say(f"  ${item['hourly_usd']:>9.4f}/h  {item['urn'].rsplit('::', 1)[-1]}: {item['basis']}")
    if p.ceilings:
        say_ceilings(p.ceilings)
    say_cold_start(p.units)
    for w in p.warnings:
        say(f"warning: {w}")
    if p.outputs:
        say("outputs:")
        for k, v in sorted(p.outputs.items()):
            say(f"  {k}: {v}")


def _decode_cell(ce: dict) -> str:
    """Output tok/s ceiling of one replica: at the engine's batch cap where it sets one, else at the largest batch."""
    if ce.get("decode_tokens_per_s_at_batch"):
        return f"{ce['decode_tokens_per_s_at_batch']:,.0f} (batch {ce['batch']})"
    return f"{ce['decode_tokens_per_s_max']:,.0f}" if ce.get("decode_tokens_per_s_max") else "-"


def _model_line(c: dict) -> str:
    """What the ceilings were computed from: the model's facts and where they were read."""
    parts = [f"{c['params_b']:,.2f}B params"]
    if c.get("experts"):
        parts.append(
            f"{c['active_params_b']:,.2f}B active ({c['experts_per_token']} of {c['experts']} experts per token)"
        )
    kv = c.get("kv_bytes_per_token")
    parts.append(
        f"KV cache {kv:,.0f} B per token at {c['kv_bytes_per_value']:g} B per value"
        if kv is not None
        else "KV cache size unknown"
    )
    if c.get("speculative_tokens"):
        parts.append(f"speculative decoding: at most {c['speculative_tokens'] + 1} tokens per step")
    if c.get("facts_source"):
        parts.append(f"facts from {c['facts_source']}")
    return "; ".join(parts)


def say_ceilings(c: dict) -> None:
    """The physical ceilings of one replica: what no engine setting can beat on this hardware."""
    say(
        f"ceilings per replica ({c['accelerator']}, {c['chips_per_replica']} chips: {c['peak_tflops']:,.0f} TFLOP/s, "
        f"{c['hbm_gbps']:,.0f} GB/s, {c['hbm_gib']:,.0f} GiB HBM; {c['model']} {c['dtype']} "
        f"{c['weights_gib']:.1f} GiB):"
    )
    say("  model: " + _model_line(c))
    if not c["weights_fit"]:
        say("  the weights do not fit this replica's HBM")
        return
    ctx = c["context_tokens"]
    if c["max_batch"] is not None and ctx:
        say(f"  largest batch at {ctx} context tokens: {c['max_batch']:,} sequences (HBM capacity)")
    say(f"  decode: at most {c['decode_tokens_per_s_max']:,.0f} output tok/s (HBM bandwidth, largest batch)")
    if c.get("batch"):
        say(
            f"  decode at batch {c['batch']} (the engine's cap): at most {c['decode_tokens_per_s_at_batch']:,.0f} "
            f"tok/s, TPOT >= {c['tpot_floor_ms_at_batch']:.2f} ms"
        )
    say(
        f"  prefill: at most {c['prefill_tokens_per_s']:,.0f} tok/s (compute: 2 x {c['active_params_b']:,.2f}B active "
        f"params FLOPs per token at {c['precision']})"
    )
    ttft = f", TTFT >= {c['ttft_floor_ms']:.2f} ms for a {ctx}-token prompt" if c["ttft_floor_ms"] else ""
    say(f"  latency floors: TPOT >= {c['tpot_floor_ms']:.2f} ms (batch 1){ttft}")


def say_cold_start(units: list[dict]) -> None:
    """Each unit's cold-start estimate, phase by phase with its basis (README "Seeing cold start")."""
    for u in units:
        cs = u.get("cold_start")
        if not cs:
            continue
        where = f"{u['variant'] or u['accelerator']}@{u['region']}"
        left = f"; left out (no source): {', '.join(cs['left_out'])}" if cs["left_out"] else ""
        say(
            f"cold start ({where}, weights over {cs['weight_path']}, image "
            f"{'preloaded' if cs['image_preloaded'] else 'pulled'}): at least {cs['total_s']:,.1f} s{left}"
        )
        for ph in cs["phases"]:
            figure = f"{ph['seconds']:,.1f} s" if ph["seconds"] is not None else "?"
            say(f"  {ph['phase']:<15} {figure:>10}  {ph['basis']}")


def check_manifest_dir(directory: Path, stack: str) -> None:
    """One stack per directory, never over existing files: `kubectl apply -f DIR` must apply this stack only."""
    try:
        outputs.check_dir(directory, "--out", empty=True)
    except InputError as e:
        raise InputError(
            f"{e.reason} (manifests go into a new or empty directory, so `kubectl apply -f` applies this stack "
            "only and keeps no stale objects)",
            fix=f"{e.fix}, e.g. --out plan-{stack}",
        ) from None


def manifest_files(p) -> dict[str, dict]:
    """Where each Kubernetes object of a plan goes under ``--out``: one file per object, named so `kubectl apply -f
    DIR` applies them in a sane order; with several clusters (a multi-region stack), one subdirectory per cluster,
    named by its region, as each cluster gets its own `kubectl apply -f DIR/<region>`."""
    groups = p.manifests_by_cluster()
    if not groups and p.manifests:  # objects no cluster declares (never in tpustack's plans): flat, as before
        groups = {"": p.manifests}
    several = len(groups) > 1
    files: dict[str, dict] = {}
    for region, objs in groups.items():
        folder = f"{region or 'unassigned'}/" if several else ""
        for i, m in enumerate(objs):
            meta = m.get("metadata", {})
            files[f"{folder}{i:03d}-{m.get('kind', 'object').lower()}-{meta.get('name', 'unnamed')}.yaml"] = m
    return files


def write_manifests(p, directory: Path) -> list[Path]:
    """Every Kubernetes object as a file (``manifest_files``); the directory appears whole or not at all
    (tpustack.core.outputs)."""
    check_manifest_dir(directory, p.stack)
    files = manifest_files(p)
    with outputs.staged_dir(directory, "--out", empty=True) as tmp:
        for name, m in files.items():
            head = {k: m[k] for k in ("apiVersion", "kind", "metadata") if k in m}
            rest = {k: m[k] for k in sorted(m) if k not in head}
            (tmp / name).parent.mkdir(exist_ok=True)
            (tmp / name).write_text(yaml.safe_dump({**head, **rest}, sort_keys=False))
    return [directory / n for n in files]


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
                folders = sorted({f.parent.name for f in files if f.parent != out_dir})
                per = f" (one folder per cluster: {', '.join(folders)})" if folders else ""
                say(f"wrote {len(files)} manifests to {out_dir}{per}")
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
            print_json([v.__dict__ for v in violations])
        else:
            for v in violations:
                say(str(v))
            say(
                f"{stack}: {len(violations)} violation(s) over {len(p.resources)} resources and "
                f"{len(p.manifests)} Kubernetes objects"
            )
        if violations:
            raise typer.Exit(EXIT_VIOLATIONS)

    @app.command("matrix")
    def matrix_cmd(
        file: Path = typer.Argument(..., help="matrix file, e.g. stacks/sweep-llama8b.matrix.yaml"),
        write: bool = typer.Option(
            False, "--write", help="write Pulumi.<stack>.yaml for every combination (never over an existing file)"
        ),
        out_dir: Path | None = typer.Option(
            None, "--out", help="where --write puts the stack files (default: the project's stack directory)"
        ),
        names: bool = typer.Option(False, "--names", help="print only the valid stack names, one a line"),
        as_json: bool = typer.Option(False, "--json", help="print every combination and the sweep cost as JSON"),
        project_dir: Path | None = PROJECT_DIR,
    ) -> None:
        """Expand an experiment matrix into stacks, plan each, price the sweep, list invalid combinations."""
        from tpustack import plan as plan_mod
        from tpustack.plan import matrix

        project = project_or_fail(project_dir)
        plan_mod.quiet_pulumi_logs()
        source = str(file)
        try:
            if out_dir is not None and not write:
                raise UsageError("--out is where --write puts the stack files", fix="add --write, or drop --out")
            if write:  # an --out that cannot take files fails before minutes of planning
                outputs.check_dir(out_dir or project.stacks_dir, "--out", empty=False)
            m = matrix.load(file)
            with progress(f"planning every combination of {source}...", enabled=not (as_json or names)):
                combos = matrix.plan_all(m, project, source)
        except TpuStackError as e:
            fail(e)
        summary = matrix.summary(combos)
        bad = [c for c in combos if not c.ok and not c.excluded]
        written: list[Path] = []
        if write and not bad:
            try:
                written = matrix.write(m, combos, out_dir or project.stacks_dir, source)
            except TpuStackError as e:
                fail(e)
        if names:
            for c in combos:
                if c.ok:
                    say(c.name)
        elif as_json:
            doc = {"matrix": source, "combinations": matrix.to_json(combos), "sweep": summary}
            doc["written"] = [str(p) for p in written]
            print_json(doc)
        else:
            t = Table(title=f"{source}: {len(combos)} combinations")
            for col in ("stack", "$/hour", "TTL h", "$/experiment", "resources", "decode ceiling tok/s", "status"):
                t.add_column(col, overflow="fold")
            for c in combos:
                if c.plan is not None:
                    ce = c.plan.ceilings or {}
                    t.add_row(
                        escape(c.name),
                        f"{c.plan.cost['hourly_usd']:.2f}",
                        f"{c.plan.cost.get('ttl_hours') or '-'}",
                        f"{c.plan.cost.get('per_experiment_usd') or 0:.2f}",
                        str(len(c.plan.resources)),
                        _decode_cell(ce),
                        "ok",
                    )
                else:
                    t.add_row(escape(c.name), "-", "-", "-", "-", "-", "excluded" if c.excluded else "INVALID")
            out.print(t)
            say(
                f"sweep: {summary['stacks']} stacks; ${summary['hourly_usd_all_at_once']:.2f}/hour with all up "
                "at once; "
                f"${summary['per_sweep_usd']:.2f} for one experiment each (every stack for its TTL)"
            )
            chips = ", ".join(f"{n} {fam} chips" for fam, n in summary["chips_all_at_once"].items())
            say(f"quota to run all at once: {chips or '-'} (else run them in sequence: README 'Matrix')")
            for c in bad:
                for prob in c.problems:
                    warn(f"invalid: {c.name}: {prob}")
            for c in combos:
                if c.excluded:
                    say(f"excluded by the matrix file: {c.name}")
            for path in written:
                say(f"wrote {path}")
            if write and bad:
                warn("nothing written: fix or exclude the invalid combinations first")
        if bad:
            raise typer.Exit(EXIT_INVALID)

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
        """List every accelerator shape tpustack knows, then the generations announced but not orderable yet."""
        from tpustack.core.catalog import ANNOUNCED, CATALOG, Precision

        rows: list[dict[str, object]] = [
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
                "hbm_gbps_per_chip": s.hbm_gbps_per_chip,
                "peak_bf16_tflops_per_chip": s.peak_tflops_per_chip(Precision.BF16),
                "peak_fp8_tflops_per_chip": s.peak_tflops_per_chip(Precision.FP8),
            }
            for s in CATALOG.values()
        ]
        announced = [
            {"name": a.name, "announced": a.announced, "orderable": False, "source": a.source, "note": a.note}
            for a in ANNOUNCED.values()
        ]
        if as_json:
            # dense peak per chip of every precision, in TFLOP/s (TOP/s for integers); a missing key: no such rate
            for r, s in zip(rows, CATALOG.values(), strict=True):
                r["peak_tflops_per_chip"] = {str(p): v for p, v in s.peak_tflops.items()}
            doc = {"shapes": rows, "announced": announced}
            print_json(doc)
            return
        t = Table(*rows[0].keys())
        for r in rows:
            t.add_row(*(escape("-" if v is None else str(v)) for v in r.values()))
        out.print(t)
        a_table = Table("name", "announced", "note", "source", title="Announced, not orderable yet")
        for a in announced:
            a_table.add_row(*(escape(str(a[k])) for k in ("name", "announced", "note", "source")))
        out.print(a_table)

    @app.command("models")
    def models_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
        """List the models whose config.json tpustack ships (plans of them need no network), with the facts read
        from each: any other model is read from the Hugging Face Hub, a local file or gs:// (README "Any model")."""
        from tpustack.core import models

        rows = [_model_row(m) for m in models.MODELS]
        if as_json:
            print_json(rows)
            return
        t = Table(*(k for k in rows[0] if k not in ("source", "aliases")))
        for r in rows:
            t.add_row(*(escape("-" if v is None else str(v)) for k, v in r.items() if k not in ("source", "aliases")))
        out.print(t)


def _model_row(m) -> dict[str, object]:
    a = m.attention
    return {
        "id": m.ids[0],
        "architecture": m.architecture,
        "params_b": m.params_b,
        "active_params_b": round(m.active_params / 1e9, 2),
        "layers": m.layers,
        "layer_kinds": "+".join(f"{n} {k}" for k, n in m.layer_kinds.items()),
        "attention": f"{a.kind} {a.heads}/{a.kv_heads}" + (f" window {a.sliding_window}" if a.sliding_window else ""),
        "experts": f"{m.moe.experts_per_token} of {m.moe.experts}" if m.moe else None,
        "context": m.context_length,
        "weights": m.weights_dtype,
        "weights_gib": round(m.weight_bytes / 2**30, 1),
        "kv_bytes_per_token": int(m.kv_bytes_per_token()),
        "gated": m.gated,
        "aliases": list(m.ids[1:]),
        "source": m.source,
    }
