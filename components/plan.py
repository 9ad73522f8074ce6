"""`tpustack plan`: run the real `__main__.py` under Pulumi's mock engine and record what it declares.

No credentials, no Pulumi CLI, no provider plugins, no network: the program registers its resources with a
recording mock monitor, which fills provider-computed outputs (emails, IPs, endpoints) by type token. The
result is a ``Plan``: resources with their inputs as the engine receives them, Kubernetes manifests, stack
outputs, cost and warnings. ``Plan.to_json()`` is the contract other tools and CI read.

Secret config values (``secure:`` in the stack file) never reach the program: each is replaced by
``SECRET_PLACEHOLDER`` before it runs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
STACKS_DIR = ROOT / "stacks"
PROGRAM = ROOT / "__main__.py"
PROJECT = "tpustack"
SECRET_PLACEHOLDER = "[secret:tpustack:{key}]"
# "Now" for a plan (2026-11-23T00:00:00Z): values a real `up` computes from the clock (the expiry) are
# shown relative to it, so two plans of the same stack are byte-identical.
PLAN_EPOCH = 1795392000


def manifests_of(resources: list["PlannedResource"]) -> list[dict]:
    """Every Kubernetes object the program hands to the Kubernetes provider, in declaration order.

    Read from what the engine receives: the ``objs`` of each ``kubernetes:yaml/v2:ConfigGroup`` and the
    inputs of each typed Kubernetes resource (``kubernetes:core/v1:Secret`` ...). Provider resources and
    Helm releases are not objects of their own and are left out.
    """
    objs: list[dict] = []
    for r in resources:
        if not r.type.startswith("kubernetes:"):
            continue
        if r.type == "kubernetes:yaml/v2:ConfigGroup":
            objs.extend(o for o in r.inputs.get("objs") or [] if isinstance(o, dict))
        elif r.custom and "apiVersion" in r.inputs and "kind" in r.inputs:
            objs.append(r.inputs)
    return objs


@dataclass
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    depends_on: list[str]
    custom: bool
    # Resource options the engine would act on (not part of the JSON contract): retainOnDelete, protect,
    # deleteBeforeReplace, customTimeouts, ignoreChanges, provider.
    options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent,
                "inputs": self.inputs, "depends_on": self.depends_on}


@dataclass
class Plan:
    stack: str
    resources: list[PlannedResource]
    manifests: list[dict]
    outputs: dict[str, Any]
    cost: dict[str, Any]
    warnings: list[str]

    def to_json(self) -> dict:
        return {"stack": self.stack, "resources": [r.to_json() for r in self.resources],
                "manifests": self.manifests, "outputs": self.outputs, "cost": self.cost,
                "warnings": self.warnings}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True, default=str)

    def by_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str) -> PlannedResource:
        found = self.by_type(type_token)
        if len(found) != 1:
            raise LookupError(f"expected one {type_token}, found {[r.urn for r in found]}")
        return found[0]


# ----- stack files ----------------------------------------------------------------------------------
def stack_names(stacks_dir: Path = STACKS_DIR) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))


def read_stack_file(stack: str, stacks_dir: Path = STACKS_DIR) -> tuple[dict[str, str], set[str]]:
    """Config of one stack as the engine hands it to a program: JSON strings for structured values,
    secrets replaced by placeholders."""
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise ConfigError([f"stack '{stack}': no file {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}. "
                           f"Fix: pick one of {', '.join(stack_names(stacks_dir)) or '(none)'}, or "
                           f"`pulumi stack init {stack}`"], stack)
    doc = yaml.safe_load(path.read_text()) or {}
    raw = doc.get("config") or {}
    values: dict[str, str] = {}
    secrets: set[str] = set()
    for key, value in raw.items():
        if ":" not in key:
            key = f"{PROJECT}:{key}"  # Pulumi's shorthand: bare keys belong to the project
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key] = SECRET_PLACEHOLDER.format(key=key.split(":", 1)[1])
            secrets.add(key)
        elif isinstance(value, str):
            values[key] = value
        else:
            values[key] = json.dumps(value)
    return values, secrets


# ----- mock engine ----------------------------------------------------------------------------------
def _computed_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """What the provider would fill in after create, by type token (documentation ranges only)."""
    project = inputs.get("project", "my-project")
    if typ == "gcp:serviceaccount/account:Account":
        email = f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"
        return {"email": email, "member": f"serviceAccount:{email}", "uniqueId": "100000000000000000001",
                "name": f"projects/{project}/serviceAccounts/{email}"}
    if typ == "gcp:storage/bucket:Bucket":
        return {"url": f"gs://{inputs.get('name', name)}", "selfLink": f"https://www.googleapis.com/storage/v1/b/"
                f"{inputs.get('name', name)}"}
    if typ == "gcp:container/cluster:Cluster":
        ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n").decode()
        return {"endpoint": "203.0.113.10", "masterAuth": {"clusterCaCertificate": ca},
                "masterVersion": "1.33.5-gke.1000000", "selfLink": f"projects/{project}/clusters/{name}"}
    if typ == "gcp:tpu/v2Vm:V2Vm":
        return {"networkEndpoints": [{"ipAddress": "192.0.2.10", "port": 8470}], "state": "READY"}
    if typ == "gcp:tpu/v2QueuedResource:V2QueuedResource":
        return {"state": "ACTIVE"}
    if typ == "gcp:container/nodePool:NodePool":
        return {"instanceGroupUrls": [], "version": "1.33.5-gke.1000000"}
    if typ == "time:index/offset:Offset":
        # Fixed at the first real `up`; a plan shows it relative to PLAN_EPOCH so plans stay identical.
        unix = PLAN_EPOCH + 60 * int(inputs.get("offsetMinutes", 0))
        return {"unix": unix, "rfc3339": _rfc3339(unix), "baseRfc3339": _rfc3339(PLAN_EPOCH)}
    return {}


def _rfc3339(unix: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(unix, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _invoke_result(token: str, args: dict[str, Any]) -> dict[str, Any]:
    """What data-source invokes return under the mock engine."""
    if token == "gcp:storage/getBucket:getBucket":
        return {"name": args["name"], "url": f"gs://{args['name']}", "location": "US-EAST5",
                "uniformBucketLevelAccesses": [True], "publicAccessPrevention": "enforced"}
    return {}


# How the engine marks a secret value inside a property map (pulumi.runtime.rpc._special_sig_key).
_SIG_KEY, _SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def _jsonable(v: Any) -> Any:
    import pulumi

    if isinstance(v, dict) and v.get(_SIG_KEY) == _SECRET_SIG:
        return _jsonable(v.get("value"))  # the plan shows the (placeholder) value where the secret goes
    if isinstance(v, pulumi.FileAsset):
        path = Path(v.path)
        full = path if path.is_absolute() else ROOT / path
        digest = __import__("hashlib").sha256(full.read_bytes()).hexdigest() if full.exists() else None
        return {"fileAsset": str(v.path), "sha256": digest}
    if isinstance(v, pulumi.StringAsset):
        return {"stringAsset": v.text}
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)  # the engine's protobuf Struct carries every number as a double
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def _make_monitor_classes():
    import pulumi
    from pulumi.runtime import rpc
    from pulumi.runtime.mocks import MockMonitor, Mocks

    class PlanMocks(Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            state = {**args.inputs, **_computed_outputs(args.typ, args.name, args.inputs)}
            return f"{args.name}-id", state

        def call(self, args: pulumi.runtime.MockCallArgs):
            return _invoke_result(args.token, dict(args.args))

    class RecordingMonitor(MockMonitor):
        def __init__(self, mocks):
            super().__init__(mocks)
            self.records: list[PlannedResource] = []
            self.stack_outputs: dict[str, Any] = {}

        def RegisterResource(self, request):
            resp = super().RegisterResource(request)
            if request.type == "pulumi:pulumi:Stack":
                return resp
            inputs = rpc.deserialize_properties(request.object)
            opts: dict[str, Any] = {"retainOnDelete": bool(getattr(request, "retainOnDelete", False)),
                                    "protect": bool(getattr(request, "protect", False)),
                                    "deleteBeforeReplace": bool(request.deleteBeforeReplace),
                                    "ignoreChanges": list(request.ignoreChanges),
                                    "provider": request.provider or None}
            ct = request.customTimeouts
            if ct and (ct.create or ct.update or ct.delete):
                opts["customTimeouts"] = {"create": ct.create, "update": ct.update, "delete": ct.delete}
            self.records.append(PlannedResource(
                urn=resp.urn, type=request.type, name=request.name, parent=request.parent or None,
                inputs=_jsonable(inputs), depends_on=sorted(set(request.dependencies)),
                custom=bool(request.custom), options=opts))
            return resp

    return PlanMocks, RecordingMonitor


def run_program(stack: str, values: dict[str, str], secrets: set[str], program: Path = PROGRAM):
    """Run the Pulumi program under the mock engine; return (monitor, stack outputs)."""
    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    PlanMocks, RecordingMonitor = _make_monitor_classes()
    # A fresh runtime for each plan (tests plan several stacks in one process).
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    settings.set_root_resource(None)
    pulumi.runtime.set_all_config(values, sorted(secrets))
    # One event loop per plan, installed before set_mocks registers the root stack on it.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    monitor = RecordingMonitor(PlanMocks())
    pulumi.runtime.set_mocks(PlanMocks(), project=PROJECT, stack=stack, preview=False, monitor=monitor)
    outputs: dict[str, Any] = {}

    async def _program():
        sys.path.insert(0, str(program.parent))
        try:
            runpy.run_path(str(program), run_name="__main__")
        finally:
            sys.path.remove(str(program.parent))
        root = settings.get_root_resource()
        for key, value in dict(root.outputs).items():
            out = pulumi.Output.from_input(value)
            resolved = await out.future()
            outputs[key] = "[secret]" if await out.is_secret() else _jsonable(resolved)

    try:
        _sync_await(run_pulumi_func(_program))
    except Exception as e:
        # What the program declared before it failed (a config error must leave this empty).
        e.declared = list(monitor.records)  # type: ignore[attr-defined]
        raise
    finally:
        settings.set_root_resource(None)
    return monitor, outputs


def plan(stack: str, stacks_dir: Path = STACKS_DIR, program: Path = PROGRAM) -> Plan:
    """Validate the stack's config, then run the program and collect the plan.

    Raises ConfigError (from the config gate, before the program declares anything).
    """
    values, secrets = read_stack_file(stack, stacks_dir)
    return plan_values(stack, values, secrets, program)


def plan_values(stack: str, values: dict[str, str], secrets: set[str], program: Path = PROGRAM) -> Plan:
    """Plan config values as the engine hands them over (``{"tpustack:key": str}``)."""
    from . import cost as cost_mod
    from .config import load_config

    cfg = load_config(values, secrets, stack)  # fail fast, before any runtime is set up
    monitor, outputs = run_program(stack, values, secrets, program)
    # Registration order depends on when inputs resolve (asynchronous); order parents first, then by URN,
    # so the same stack always gives the same bytes.
    resources = sorted(monitor.records, key=lambda r: (r.urn.split("::")[2].count("$"), r.urn))
    hourly = cost_mod.estimate(resources, cfg)
    return Plan(stack=stack, resources=resources, manifests=manifests_of(resources), outputs=outputs,
                cost=hourly, warnings=list(cfg.warnings))


def quiet_pulumi_logs() -> None:
    os.environ.setdefault("PULUMI_PYTHON_LOG_LEVEL", "ERROR")
