"""The recording mock monitor of component tests: every registration with its inputs, parent and options.

Pulumi's ``Mocks.new_resource`` sees only a resource's type, name and inputs; what a component promises about
its children lives as much in their options (``protect``, ``retain_on_delete``, ``delete_before_replace``,
``custom_timeouts``, the provider, ``depends_on``). ``RecordingMonitor`` reads those off each
``RegisterResourceRequest`` the way tpustack's plan engine does (tpustack/plan/engine.py), independently of it,
so a component test does not depend on the plan engine it is meant to complement.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

# "Now" for time resources under the mocks (2026-11-23T00:00:00Z), so expiries are deterministic.
EPOCH = 1_795_392_000
# Documentation address ranges only (RFC 5737): nothing a test prints can be mistaken for a real endpoint.
CLUSTER_ENDPOINT = "203.0.113.10"
TPU_VM_IP = "192.0.2.10"
ADDRESS_BASE = "203.0.113."
CLUSTER_CA_PEM = b"-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n"
MASTER_VERSION = "1.33.5-gke.1000000"

Computed = Callable[[str, Mapping[str, Any]], dict[str, Any]]


def _rfc3339(unix: int) -> str:
    return datetime.datetime.fromtimestamp(unix, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _service_account(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    project = inputs.get("project", "unit-project")
    email = f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"
    return {
        "email": email,
        "member": f"serviceAccount:{email}",
        "name": f"projects/{project}/serviceAccounts/{email}",
        "uniqueId": "100000000000000000001",
    }


def _bucket(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    bucket = inputs.get("name", name)
    return {"url": f"gs://{bucket}", "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}"}


def _cluster(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    auth = dict(inputs.get("masterAuth") or {})
    auth["clusterCaCertificate"] = base64.b64encode(CLUSTER_CA_PEM).decode()
    project = inputs.get("project", "unit-project")
    return {
        "endpoint": CLUSTER_ENDPOINT,
        "masterAuth": auth,
        "masterVersion": MASTER_VERSION,
        "selfLink": f"projects/{project}/locations/{inputs.get('location')}/clusters/{inputs.get('name', name)}",
    }


def _offset(name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    unix = EPOCH + 60 * int(inputs.get("offsetMinutes", 0))
    return {"unix": unix, "rfc3339": _rfc3339(unix), "baseRfc3339": _rfc3339(EPOCH)}


# What the provider fills in after create, by type token. A test can add or replace entries (ComponentMocks).
COMPUTED: dict[str, Computed] = {
    "gcp:serviceaccount/account:Account": _service_account,
    "gcp:storage/bucket:Bucket": _bucket,
    "gcp:container/cluster:Cluster": _cluster,
    "gcp:container/nodePool:NodePool": lambda n, i: {"version": MASTER_VERSION, "instanceGroupUrls": []},
    "gcp:tpu/v2Vm:V2Vm": lambda n, i: {"networkEndpoints": [{"ipAddress": TPU_VM_IP, "port": 8470}], "state": "READY"},
    "gcp:tpu/v2QueuedResource:V2QueuedResource": lambda n, i: {"state": "ACTIVE"},
    "gcp:compute/subnetwork:Subnetwork": lambda n, i: {
        "selfLink": f"projects/{i.get('project')}/regions/{i.get('region')}/subnetworks/{i.get('name', n)}"
    },
    "time:index/offset:Offset": _offset,
}


def _get_bucket(args: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": args["name"],
        "url": f"gs://{args['name']}",
        "location": "US-EAST5",
        "uniformBucketLevelAccesses": [True],
        "publicAccessPrevention": "enforced",
    }


# What data-source invokes return, by token.
PROJECT_NUMBER = "123456789012"


def _get_project(args: Mapping[str, Any]) -> dict[str, Any]:
    return {"projectId": args.get("projectId"), "number": PROJECT_NUMBER}


INVOKES: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "gcp:storage/getBucket:getBucket": _get_bucket,
    "gcp:organizations/getProject:getProject": _get_project,
}


class ComponentMocks(pulumi.runtime.Mocks):
    """Pulumi mocks that echo inputs and fill provider-computed outputs by type token.

    ``computed`` adds or overrides entries of ``COMPUTED`` for one test. Each ``gcp:compute/address:Address``
    gets the next address of 203.0.113.0/24 (from .20 on), so two regions' addresses differ.
    """

    def __init__(self, computed: Mapping[str, Computed] | None = None):
        self.computed: dict[str, Computed] = {**COMPUTED, **(computed or {})}
        self._addresses = itertools.count(20)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        fill = self.computed.get(args.typ)
        outputs = fill(args.name, inputs) if fill is not None else {}
        if args.typ == "gcp:compute/address:Address" and args.typ not in self.computed:
            outputs = {"address": f"{ADDRESS_BASE}{next(self._addresses)}"}
        return f"{args.name}-id", {**inputs, **outputs}

    def call(self, args: pulumi.runtime.MockCallArgs):
        answer = INVOKES.get(args.token)
        return answer(dict(args.args)) if answer is not None else {}


@dataclass(frozen=True, kw_only=True)
class Registered:
    """One resource as the engine received it: inputs (secrets unwrapped, see ``secret_paths``) and options."""

    urn: str
    type: str
    name: str
    custom: bool
    remote: bool  # a component its provider constructs (kubernetes:yaml/v2:ConfigGroup...)
    parent: str | None
    inputs: dict[str, Any]
    # Dotted paths of the inputs that arrived marked secret ("stringData.token").
    secret_paths: frozenset[str]
    provider: str | None  # "<provider urn>::<id>"
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    ignore_changes: tuple[str, ...]
    replace_on_changes: tuple[str, ...]
    # Every URN it waits for: explicit depends_on plus the resources its inputs come from.
    depends_on: frozenset[str]
    property_dependencies: Mapping[str, frozenset[str]] = field(default_factory=dict)
    custom_timeouts: Mapping[str, str] | None = None

    @property
    def provider_urn(self) -> str | None:
        return self.provider.rsplit("::", 1)[0] if self.provider else None

    def is_secret(self, path: str) -> bool:
        """Whether the input at a dotted path ("stringData.token") arrived secret, itself or inside a secret."""
        return any(path == p or path.startswith((f"{p}.", f"{p}[")) for p in self.secret_paths)

    def waits_for(self, other: Registered | str) -> bool:
        """Whether it waits directly for ``other`` (MockStack.waits_for also follows what it waits for)."""
        return (other if isinstance(other, str) else other.urn) in self.depends_on


@dataclass(frozen=True)
class Invoked:
    """One data-source call: its token and arguments."""

    token: str
    args: dict[str, Any]


def plain(value: Any, path: str = "", secrets: set[str] | None = None) -> Any:
    """A deserialized property as plain data: secrets unwrapped (their paths added to ``secrets``), assets by
    content, numbers that are whole as ints (the engine's protobuf Struct carries every number as a double)."""
    if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        if secrets is not None:
            secrets.add(path)
        return plain(value.get("value"), path, secrets)
    if isinstance(value, pulumi.StringAsset):
        return {"stringAsset": value.text}
    if isinstance(value, pulumi.FileAsset):
        return {"fileAsset": str(value.path)}
    if isinstance(value, dict):
        return {str(k): plain(v, f"{path}.{k}" if path else str(k), secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class RecordingMonitor(MockMonitor):
    """Pulumi's MockMonitor, recording each registration (``records``) and data-source call (``invokes``)."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.records: list[Registered] = []
        self.invokes: list[Invoked] = []
        self.outputs: dict[str, dict[str, Any]] = {}  # what each component registered (register_outputs), by URN
        self.thread_loops: list[asyncio.AbstractEventLoop] = []

    def _own_thread_loop(self) -> None:
        # MockMonitor runs on the executor's threads and gives each an event loop it never closes (their garbage
        # collection at exit prints "Exception ignored ..."); give the thread one that MockStack closes.
        try:
            asyncio.get_event_loop()
        except RuntimeError:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self.thread_loops.append(loop)

    def Invoke(self, request):
        self._own_thread_loop()
        self.invokes.append(Invoked(request.tok, plain(rpc.deserialize_properties(request.args))))
        return super().Invoke(request)

    def RegisterResourceOutputs(self, request):
        self._own_thread_loop()
        self.outputs[request.urn] = plain(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request):
        self._own_thread_loop()
        resp = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return resp
        secrets: set[str] = set()
        inputs = plain(rpc.deserialize_properties(request.object), "", secrets)
        ct = request.customTimeouts
        timeouts = None
        if ct and (ct.create or ct.update or ct.delete):
            timeouts = {k: v for k, v in (("create", ct.create), ("update", ct.update), ("delete", ct.delete)) if v}
        self.records.append(
            Registered(
                urn=resp.urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                remote=bool(request.remote),
                parent=request.parent or None,
                inputs=inputs,
                secret_paths=frozenset(secrets),
                provider=request.provider or None,
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                delete_before_replace=bool(request.deleteBeforeReplace),
                ignore_changes=tuple(request.ignoreChanges),
                replace_on_changes=tuple(request.replaceOnChanges),
                depends_on=frozenset(request.dependencies),
                property_dependencies={k: frozenset(v.urns) for k, v in request.propertyDependencies.items()},
                custom_timeouts=timeouts,
            )
        )
        return resp
