"""The mock engine: runs a Pulumi program with ``pulumi.runtime.set_mocks`` and records what it declares.

The one module that touches Pulumi's runtime internals (``pulumi.runtime.settings``, ``stack``, ``rpc``,
``sync_await``), pinned to the pulumi version range in pyproject.toml; tests/integration/test_plan.py exercises it. No
credentials, no Pulumi CLI, no provider plugins, no network: a recording mock monitor fills provider-computed
outputs (emails, IPs, endpoints) by type token.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import runpy
import sys
from pathlib import Path
from typing import Any

from .model import PlannedResource

# "Now" for a plan (2026-11-23T00:00:00Z): values a real `up` computes from the clock (the expiry) are shown
# relative to it, so two plans of the same stack are byte-identical.
PLAN_EPOCH = 1795392000


def _rfc3339(unix: int) -> str:
    return datetime.datetime.fromtimestamp(unix, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def computed_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """What the provider would fill in after create, by type token (documentation address ranges only)."""
    project = inputs.get("project", "my-project")
    if typ == "gcp:serviceaccount/account:Account":
        email = f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"
        return {
            "email": email,
            "member": f"serviceAccount:{email}",
            "uniqueId": "100000000000000000001",
            "name": f"projects/{project}/serviceAccounts/{email}",
        }
    if typ == "gcp:storage/bucket:Bucket":
        return {
            "url": f"gs://{inputs.get('name', name)}",
            "selfLink": f"https://www.googleapis.com/storage/v1/b/{inputs.get('name', name)}",
        }
    if typ == "gcp:container/cluster:Cluster":
        ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n").decode()
        return {
            "endpoint": "203.0.113.10",
            "masterAuth": {"clusterCaCertificate": ca},
            "masterVersion": "1.33.5-gke.1000000",
            "selfLink": f"projects/{project}/clusters/{name}",
        }
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


def invoke_result(token: str, args: dict[str, Any]) -> dict[str, Any]:
    """What data-source invokes return under the mock engine."""
    if token == "gcp:storage/getBucket:getBucket":
        return {
            "name": args["name"],
            "url": f"gs://{args['name']}",
            "location": "US-EAST5",
            "uniformBucketLevelAccesses": [True],
            "publicAccessPrevention": "enforced",
        }
    if token == "gcp:organizations/getProject:getProject":
        # the project's number is known only to GCP: the plan shows where `pulumi up` puts it
        project = args.get("projectId", "")
        return {"projectId": project, "number": f"<number of project {project}>"}
    return {}


# How the engine marks a secret value inside a property map (pulumi.runtime.rpc._special_sig_key).
_SIG_KEY, _SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def jsonable(v: Any, root: Path | None = None) -> Any:
    """A registered input as plain JSON: secrets unwrapped (their values are placeholders), assets by content."""
    import pulumi

    if isinstance(v, dict) and v.get(_SIG_KEY) == _SECRET_SIG:
        return jsonable(v.get("value"), root)  # the plan shows the (placeholder) value where the secret goes
    if isinstance(v, pulumi.FileAsset):
        path = Path(v.path)
        full = path if path.is_absolute() or root is None else root / path
        digest = hashlib.sha256(full.read_bytes()).hexdigest() if full.exists() else None
        return {"fileAsset": str(v.path), "sha256": digest}
    if isinstance(v, pulumi.StringAsset):
        return {"stringAsset": v.text}
    if isinstance(v, dict):
        return {str(k): jsonable(x, root) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x, root) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)  # the engine's protobuf Struct carries every number as a double
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def _make_monitor_classes(root: Path | None):
    import pulumi
    from pulumi.runtime import rpc
    from pulumi.runtime.mocks import MockMonitor, Mocks

    class PlanMocks(Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            state = {**args.inputs, **computed_outputs(args.typ, args.name, args.inputs)}
            return f"{args.name}-id", state

        def call(self, args: pulumi.runtime.MockCallArgs):
            return invoke_result(args.token, dict(args.args))

    class RecordingMonitor(MockMonitor):
        def __init__(self, mocks):
            super().__init__(mocks)
            self.records: list[PlannedResource] = []
            self.thread_loops: list[asyncio.AbstractEventLoop] = []

        def RegisterResource(self, request):
            # pulumi's MockMonitor gives each registering thread an event loop it never closes (their
            # garbage collection at exit prints "Exception ignored ... Invalid file descriptor"); give the
            # thread one we close after the run.
            try:
                asyncio.get_event_loop()
            except RuntimeError:
                thread_loop = asyncio.new_event_loop()
                asyncio.set_event_loop(thread_loop)
                self.thread_loops.append(thread_loop)
            resp = super().RegisterResource(request)
            if request.type == "pulumi:pulumi:Stack":
                return resp
            inputs = rpc.deserialize_properties(request.object)
            opts: dict[str, Any] = {
                "retainOnDelete": bool(getattr(request, "retainOnDelete", False)),
                "protect": bool(getattr(request, "protect", False)),
                "deleteBeforeReplace": bool(request.deleteBeforeReplace),
                "ignoreChanges": list(request.ignoreChanges),
                "provider": request.provider or None,
            }
            ct = request.customTimeouts
            if ct and (ct.create or ct.update or ct.delete):
                opts["customTimeouts"] = {"create": ct.create, "update": ct.update, "delete": ct.delete}
            self.records.append(
                PlannedResource(
                    urn=resp.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent or None,
                    inputs=jsonable(inputs, root),
                    depends_on=sorted(set(request.dependencies)),
                    custom=bool(request.custom),
                    options=opts,
                )
            )
            return resp

    return PlanMocks, RecordingMonitor


def run_program(
    program: Path, project: str, stack: str, values: dict[str, str], secrets: set[str]
) -> tuple[list[PlannedResource], dict[str, Any]]:
    """Run a Pulumi program file under the mock engine; return (declared resources, stack outputs).

    Whatever the program raises propagates, with ``declared``: what it declared before it failed (a config
    error must leave that empty).
    """
    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    PlanMocks, RecordingMonitor = _make_monitor_classes(program.parent)
    # A fresh runtime for each plan (tests plan several stacks in one process).
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    settings.set_root_resource(None)  # type: ignore[arg-type]  # clears the previous plan's stack
    pulumi.runtime.set_all_config(values, sorted(secrets))
    # One event loop per plan, installed before set_mocks registers the root stack on it.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    monitor = RecordingMonitor(PlanMocks())
    pulumi.runtime.set_mocks(PlanMocks(), project=project, stack=stack, preview=False, monitor=monitor)
    outputs: dict[str, Any] = {}

    async def _program():
        sys.path.insert(0, str(program.parent))
        try:
            runpy.run_path(str(program), run_name="__main__")
        finally:
            sys.path.remove(str(program.parent))
        root: Any = settings.get_root_resource()  # the pulumi:pulumi:Stack, which holds the exports
        for key, value in dict(root.outputs).items():
            out = pulumi.Output.from_input(value)
            resolved = await out.future()
            outputs[key] = "[secret]" if await out.is_secret() else jsonable(resolved)

    try:
        _sync_await(run_pulumi_func(_program))
    except Exception as e:
        e.declared = list(monitor.records)  # type: ignore[attr-defined]
        raise
    finally:
        settings.set_root_resource(None)  # type: ignore[arg-type]
        asyncio.set_event_loop(None)
        loop.close()
        for thread_loop in monitor.thread_loops:
            thread_loop.close()
    return monitor.records, outputs
