"""Prefill/decode pods: what a disaggregated unit's pod adds to a serving pod (tpustack:disaggregation), and the
cross-checks of the rendered P/D objects.

Every role pod gets ``--kv-transfer-config`` (the role's kv_role on the stack's connector), the connector's port
variables and the ``llm-d.ai/role`` label the picker's prefill/decode filters read. A decode pod also carries the
routing sidecar (llm-d-router v0.10.0 cmd/pd-sidecar) on the serving port, vLLM moving behind it to
``engine_port``. The sidecar is a regular container, not a native sidecar: the pod is ready only when both are.

Why one Deployment per role, not LWS 0.10.0's DisaggregatedSet: every DisaggregatedSet role is a
LeaderWorkerSetTemplateSpec (api/disaggregatedset/v1), its webhook and RBAC are off in the pinned chart
(charts/lws/values.yaml ``enableDisaggregatedSet: false``), and tpustack installs LWS only for multi-host slices;
single-host roles are plain Deployments on their own ComputeClass, checked by the same code as serving variants.
Multi-host roles are rejected (tpustack/config/rules/disaggregation.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from tpustack.config.model import StackConfig
from tpustack.config.units import Role, ServingUnit
from tpustack.core import disagg
from tpustack.core.errors import Problem, problem
from tpustack.core.k8s import pod_specs, template_labels
from tpustack.core.router import ROLE_LABEL

from .gateway import pool_selector
from .rendered import Rendered

SIDECAR_NAME = "routing-proxy"


@dataclass(frozen=True, kw_only=True)
class Sidecar:
    name: str
    image: str
    port: int
    args: list[str]
    health_path: str


@dataclass(frozen=True, kw_only=True)
class PdPod:
    role: str
    labels: dict[str, str]
    kv_transfer_config: str  # the --kv-transfer-config JSON
    env: dict[str, str]
    pod_ip_env: str | None  # a variable set to the pod's IP (NIXL side-channel host)
    engine_port: int  # where vLLM listens on this pod
    connector_ports: list[dict[str, object]]
    sidecar: Sidecar | None


def kv_transfer_config(cfg: StackConfig, unit: ServingUnit) -> dict[str, object]:
    d = cfg.disaggregation
    if d is None:
        return {}
    record = disagg.CONNECTORS[d.connector_name(unit.shape.kind)]
    out: dict[str, object] = {
        "kv_connector": record.name,
        "kv_role": record.producer_role if unit.role is Role.PREFILL else record.consumer_role,
    }
    if record.module_path:
        out["kv_connector_module_path"] = record.module_path
    return out


def pd_pod(cfg: StackConfig, unit: ServingUnit) -> PdPod | None:
    """What a prefill or decode unit's pod adds; None for a unit that serves whole requests."""
    d, engine = cfg.disaggregation, cfg.engine
    if d is None or engine is None or unit.role is Role.SERVE:
        return None
    kind = unit.shape.kind
    env = d.ports(kind)
    sidecar = None
    if unit.role is Role.DECODE:
        sidecar = Sidecar(
            name=SIDECAR_NAME,
            image=disagg.SIDECAR_IMAGE,
            port=engine.port,
            args=[
                f"--port={engine.port}",
                f"--model-server-port={d.engine_port}",
                f"--kv-connector={disagg.SIDECAR_KV_CONNECTOR}",
                # plain HTTP: the gateway reaches the pool over HTTP (the sidecar defaults to TLS)
                "--secure-proxy=false",
            ],
            health_path=disagg.SIDECAR_HEALTH_PATH,
        )
    return PdPod(
        role=unit.role.value,
        labels={ROLE_LABEL: unit.role.value},
        kv_transfer_config=json.dumps(kv_transfer_config(cfg, unit), separators=(",", ":")),
        env=env,
        pod_ip_env=disagg.NIXL_SIDE_CHANNEL_HOST_ENV if kind == "gpu" else None,
        engine_port=d.engine_port if sidecar else engine.port,
        connector_ports=[
            {"name": ("kv-side" if "SIDE" in k else "kv-transfer"), "containerPort": int(v)} for k, v in env.items()
        ],
        sidecar=sidecar,
    )


# ----- cross-checks -------------------------------------------------------------------------------------------
def _kv_arg(c: dict) -> dict | None:
    for a in c.get("args") or []:
        if isinstance(a, str) and a.startswith("--kv-transfer-config="):
            try:
                v = json.loads(a.split("=", 1)[1])
            except ValueError:
                return {}
            return v if isinstance(v, dict) else {}
    return None


def _role_pods(r: Rendered, unit: ServingUnit) -> Iterator[tuple[str, dict, dict]]:
    for o in r.apps.get("serving", []):
        if o.get("kind") != "Deployment" or r.owners.get(id(o), ("",))[0] != unit.keys.unit:
            continue
        for where, pod in pod_specs(o):
            yield where, o, pod


def _pod_problems(cfg: StackConfig, unit: ServingUnit, where: str, labels: dict, pod: dict) -> Iterator[Problem]:
    key = unit.keys.unit
    if labels.get(ROLE_LABEL) != unit.role.value:
        yield problem(
            key,
            f"{where} is labelled {ROLE_LABEL}={labels.get(ROLE_LABEL)}, not {unit.role.value}",
            "label every role's pods with its role (the picker's prefill/decode filters read it)",
        )
    want = kv_transfer_config(cfg, unit)
    cs = {c.get("name"): c for c in pod.get("containers") or []}
    got = [_kv_arg(c) for c in cs.values() if _kv_arg(c) is not None]
    if got != [want]:
        yield problem(
            key,
            f"{where} runs --kv-transfer-config {got}, a {unit.role.value} pod needs {want}",
            "render the role's kv_role on its connector (tpustack.render.disagg.kv_transfer_config)",
        )
    sidecar = cs.get(SIDECAR_NAME)
    if unit.role is Role.DECODE:
        yield from _sidecar_problems(cfg, unit, where, cs, sidecar)
    elif sidecar is not None:
        yield problem(key, f"{where} carries the routing sidecar", "only decode pods front their server with it")


def _flag(args: list, name: str) -> str | None:
    vals = [a.split("=", 1)[1] for a in args if isinstance(a, str) and a.startswith(f"--{name}=")]
    return vals[-1] if vals else None


def _sidecar_problems(
    cfg: StackConfig, unit: ServingUnit, where: str, cs: dict[str, dict], sidecar: dict | None
) -> Iterator[Problem]:
    key, d, engine = unit.keys.unit, cfg.disaggregation, cfg.engine
    if d is None or engine is None:
        return
    if sidecar is None:
        yield problem(key, f"{where} has no routing sidecar", "decode pods carry llm-d-router's pd-sidecar")
        return
    target = _flag(sidecar.get("args") or [], "model-server-port")
    server_ports = {
        str(p.get("containerPort")) for n, c in cs.items() if n != SIDECAR_NAME for p in c.get("ports") or []
    }
    served = {f for n, c in cs.items() if n != SIDECAR_NAME if (f := _flag(c.get("args") or [], "port")) is not None}
    if target is None or target not in server_ports or served != {target}:
        yield problem(
            "tpustack:disaggregation.enginePort",
            f"{where}: the sidecar forwards to port {target}, the decode server listens on {sorted(served)}",
            "keep the sidecar's --model-server-port and vLLM's --port both at disaggregation.enginePort",
        )
    if _flag(sidecar.get("args") or [], "port") != str(engine.port):
        yield problem(
            "tpustack:engine.port",
            f"{where}: the sidecar does not listen on engine.port {engine.port}",
            "the pool targets engine.port: the sidecar listens there",
        )


def check_pd_pods(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """Each role's pods: role label, kv-transfer-config role, and on decode the sidecar in front of vLLM."""
    if cfg.disaggregation is None:
        return
    for unit in r.units:
        pods = list(_role_pods(r, unit))
        if not pods:
            yield problem(
                unit.keys.unit,
                f"no Deployment is rendered for the {unit.role.value} role",
                "render one Deployment per role",
            )
        for where, o, pod in pods:
            yield from _pod_problems(cfg, unit, where, template_labels(o, pod), pod)


def check_pool_spans_roles(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """The InferencePool (and the Service) select both roles' pods: the picker chooses a prefill and a decode
    endpoint from one pool."""
    if cfg.disaggregation is None or cfg.engine is None:
        return
    selector = pool_selector(cfg)
    roles = set()
    for o in r.apps.get("serving", []):
        if o.get("kind") != "Deployment":
            continue
        for _where, pod in pod_specs(o):
            labels = template_labels(o, pod)
            if all(labels.get(k) == v for k, v in selector.items()):
                roles.add(labels.get(ROLE_LABEL))
    missing = {Role.PREFILL.value, Role.DECODE.value} - roles
    if missing:
        yield problem(
            "tpustack:disaggregation",
            f"the pool selector {selector} misses the {sorted(missing)} pods",
            "give both roles' pods the serving label the pool selects",
        )
