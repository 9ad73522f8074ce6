"""Cross-checks of rendered objects against the infrastructure the stack declares: one function per check.

Unit checks look at the objects rendered for one serving unit (its workload and Jobs) against that unit's
accelerator: requests vs chips per node, tensor parallelism vs chips, node selectors vs the labels its nodes
carry, startup budget, LWS size. Region checks look at every object of a region: one TPU container per pod,
pinned images, referenced secrets, privilege, ports, drain, ConfigMap size. What selects what across units
(ComputeClasses, the Service, the InferencePool, the HTTPRoute) is in ``tpustack.render.selection``. Each check
yields ``Problem``s naming the config key (or template) and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from tpustack.config import derived
from tpustack.config.model import StackConfig
from tpustack.config.units import ServingUnit
from tpustack.core import catalog, images, names
from tpustack.core.errors import Problem, problem
from tpustack.core.k8s import accelerator_requests, containers, flag, obj_id, pod_specs, template_labels

from . import disagg, volumes
from .rendered import Rendered

CONFIGMAP_MAX_BYTES = 1024 * 1024  # Kubernetes ConfigMap limit (kubernetes.io/docs/concepts/configuration/configmap)

UnitCheck = Callable[[StackConfig, ServingUnit, Rendered], Iterator[Problem]]
RegionCheck = Callable[[StackConfig, Rendered], Iterator[Problem]]


# ----- one unit's objects against its accelerator ------------------------------------------------------------
def check_accelerator_requests(cfg: StackConfig, u: ServingUnit, r: Rendered) -> Iterator[Problem]:
    """Accelerator requests = limits = the chips of one node (GKE gives a TPU pod its whole host)."""
    shape = u.shape
    want = names.TPU_RESOURCE if shape.kind == "tpu" else names.GPU_RESOURCE
    for obj in r.of_unit(u):
        for where, pod in pod_specs(obj):
            for c in containers(pod):
                for res, (req, lim) in accelerator_requests(c).items():
                    if res != want:
                        yield problem(
                            u.keys.accelerator,
                            f"{u.label}{where} container {c.get('name')} asks for {res}, but {shape.name} nodes "
                            f"offer {want}",
                            f"request {want} in {r.source(obj)}, or change the accelerator",
                        )
                    elif not (str(req) == str(lim) == str(shape.chips_per_host)):
                        yield problem(
                            u.keys.accelerator,
                            f"{u.label}{where} container {c.get('name')} requests {req} "
                            f"/ limits {lim} {res}, but a {shape.machine_type} node of {shape.name} has "
                            f"{shape.chips_per_host}",
                            f"set {res} requests = limits = "
                            f"{shape.chips_per_host} in {r.source(obj)} (a pod takes every chip of its node)",
                        )


def _ici(args: list[str]) -> dict[str, int]:
    return {
        a.split("=", 1)[0]: int(a.split("=", 1)[1])
        for a in args
        if a.startswith("ici_") and "=" in a and a.split("=", 1)[1].lstrip("-").isdigit()
    }


def _parallelism_problems(u: ServingUnit, where: str, args: list[str]) -> Iterator[Problem]:
    """vLLM --tensor-parallel-size, MaxText ici_*_parallelism of one container against the unit's chips."""
    devices = u.shape.devices
    has = catalog.devices_in_words(u.shape)
    tp = flag(args, "--tensor-parallel-size")
    if tp is not None and int(tp) != devices:
        yield problem(
            u.keys.tensor_parallel,
            f"{u.label}{where} runs vLLM with tensor parallel {tp}, but one {u.shape.name} replica has {has}",
            f"set {u.keys.tensor_parallel.removeprefix('tpustack:')} to {devices} or remove it",
        )
    ici = _ici(args)
    if not ici:
        return
    fixed = math.prod(v for v in ici.values() if v != -1)
    fill = sum(1 for v in ici.values() if v == -1)
    if (fill == 0 and fixed != devices) or (fill and devices % fixed) or fill > 1:
        yield problem(
            u.keys.tensor_parallel,
            f"{u.label}{where} MaxText parallelism {ici} does not cover the {has} of {u.shape.name}",
            "make the product of ici_*_parallelism equal the device count (JAX devices: chips, 2 per tpu7x chip)",
        )
    elif ici.get("ici_tensor_parallelism") not in (u.tensor_parallel, -1):
        yield problem(
            u.keys.tensor_parallel,
            f"{u.label}{where} sets ici_tensor_parallelism={ici.get('ici_tensor_parallelism')}, config says "
            f"{u.tensor_parallel}",
            f"set {u.keys.tensor_parallel.removeprefix('tpustack:')} to {devices} or remove it",
        )


def check_tensor_parallel(cfg: StackConfig, u: ServingUnit, r: Rendered) -> Iterator[Problem]:
    """The engine shards over every chip of the replica: vLLM --tensor-parallel-size, MaxText ici_*."""
    if u.engine is None:
        return
    for obj in r.of_unit(u, app="serving"):
        for where, pod in pod_specs(obj):
            for c in pod.get("containers") or []:
                yield from _parallelism_problems(u, where, [str(a) for a in c.get("args") or []])


def node_labels(cfg: StackConfig, u: ServingUnit) -> dict[str, str]:
    """The labels the unit's nodes carry: its declared pool's, or those its ComputeClass gives the nodes it
    creates."""
    if u.compute_class is not None:
        return {names.COMPUTE_CLASS_LABEL: u.compute_class, **derived.pool_labels(cfg.stack)}
    return derived.accelerator_pool(cfg, u).node_labels


def check_node_selectors(cfg: StackConfig, u: ServingUnit, r: Rendered) -> Iterator[Problem]:
    """Every nodeSelector names a label the unit's nodes carry, with the same value."""
    labels = node_labels(cfg, u)
    for obj in r.of_unit(u):
        for where, pod in pod_specs(obj):
            for k, v in (pod.get("nodeSelector") or {}).items():
                if labels.get(k) == v:
                    continue
                have = f"'{labels[k]}'" if k in labels else "no such label"
                yield problem(
                    u.keys.accelerator,
                    f"{u.label}{where} selects nodes with {k}={v}, but the {u.shape.name} pool's nodes have {have}",
                    f"select {k}={labels[k]}"
                    if k in labels
                    else f"drop {k} from nodeSelector in {r.source(obj)}, or label the pool in "
                    "tpustack/config/derived.py",
                )


def check_startup_budget(cfg: StackConfig, u: ServingUnit, r: Rendered) -> Iterator[Problem]:
    """The startup probe allows the weight load + XLA compile budget, and `pulumi up` waits at least as long."""
    if u.engine is None:
        return
    budget_s = derived.startup_minutes(cfg) * 60
    for obj in r.of_unit(u, app="serving"):
        timeout = int(((obj.get("metadata") or {}).get("annotations") or {}).get(names.PULUMI_TIMEOUT, 0) or 0)
        for where, pod in pod_specs(obj):
            for c in pod.get("containers") or []:
                sp = c.get("startupProbe")
                if not sp:
                    continue
                allowed = sp.get("periodSeconds", 10) * sp.get("failureThreshold", 3) + sp.get("initialDelaySeconds", 0)
                if allowed < budget_s:
                    yield problem(
                        "tpustack:engine.startupMinutes",
                        f"{u.label}{where} {c.get('name')} startup probe allows "
                        f"{allowed} s, less than the {budget_s} s budget for weights + XLA compile",
                        "raise engine.startupMinutes or the probe's failureThreshold",
                    )
                if timeout < allowed:
                    yield problem(
                        "tpustack:engine.startupMinutes",
                        f"{u.label}{obj_id(obj)} lets `pulumi up` wait "
                        f"{timeout} s ({names.PULUMI_TIMEOUT}) but the pod may take {allowed} s to start",
                        f"set {names.PULUMI_TIMEOUT} above the startup probe's allowance",
                    )


def check_lws_size(cfg: StackConfig, u: ServingUnit, r: Rendered) -> Iterator[Problem]:
    for obj in r.of_unit(u):
        if obj.get("kind") == "LeaderWorkerSet":
            size = ((obj.get("spec") or {}).get("leaderWorkerTemplate") or {}).get("size")
            if size != u.shape.hosts:
                yield problem(
                    u.keys.accelerator,
                    f"{u.label}{obj_id(obj)} groups {size} pods, but {u.shape.name} has {u.shape.hosts} hosts",
                    f"set leaderWorkerTemplate.size to {u.shape.hosts}",
                )


# ----- every object of a region --------------------------------------------------------------------------------
def check_one_tpu_container(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    for obj in r.objects():
        for where, pod in pod_specs(obj):
            holders = [c.get("name") for c in containers(pod) if names.TPU_RESOURCE in accelerator_requests(c)]
            if len(holders) > 1:
                yield problem(
                    r.source(obj),
                    f"{where} has {len(holders)} containers requesting TPUs "
                    f"({', '.join(map(str, holders))}); the TPU runtime opens the chips from one process",
                    "request google.com/tpu in one container only",
                )


def check_images_pinned(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    engine_images = {u.image: u.keys.image for u in cfg.units if u.image}
    for obj in r.objects():
        for where, pod in pod_specs(obj):
            for c in containers(pod):
                image = str(c.get("image") or "")
                if not images.is_pinned(image):
                    yield problem(
                        engine_images.get(image, r.source(obj)),
                        f"{where} container {c.get('name')} image '{image}' is not pinned",
                        "use an explicit version tag or a digest (never latest)",
                    )


def _secret_refs(pod: dict) -> list[tuple[str, str | None]]:
    refs: list[tuple[str, str | None]] = []
    for c in containers(pod):
        for env in c.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                refs.append((ref.get("name"), ref.get("key")))
    for v in pod.get("volumes") or []:
        sec = v.get("secret")
        if sec:
            keys = [i.get("key") for i in sec.get("items") or []] or [None]
            refs.extend((sec.get("secretName"), k) for k in keys)
    return refs


def check_secrets(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """Every secret a pod reads is one the stack creates, with that key."""
    for obj in r.objects():
        for where, pod in pod_specs(obj):
            for name, key in _secret_refs(pod):
                if name not in r.secrets or (key is not None and key not in r.secrets[name]):
                    yield problem(
                        "tpustack:hfToken",
                        f"{where} reads secret {name} key {key}, which this stack does not create",
                        "pulumi config set --secret tpustack:hfToken hf_... (the "
                        f"stack then creates Secret {names.HF_SECRET} with key {names.HF_SECRET_KEY})",
                    )


def check_privilege(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    allowed = bool(cfg.engine and cfg.engine.privileged)
    for obj in r.objects():
        for where, pod in pod_specs(obj):
            for c in containers(pod):
                if (c.get("securityContext") or {}).get("privileged") and not allowed:
                    yield problem(
                        "tpustack:engine.privileged",
                        f"{where} container {c.get('name')} is privileged",
                        "TPU containers need no privilege on GKE >= 1.28: drop it from "
                        f"{r.source(obj)}, or set engine.privileged true for an image that needs it",
                    )


def _declared_ports(pod: dict) -> set:
    return {
        p.get(k) for c in pod.get("containers") or [] for p in c.get("ports") or [] for k in ("containerPort", "name")
    }


def _service_problems(svc: dict, pods: list[tuple[dict, str, dict]], r: Rendered) -> Iterator[Problem]:
    sel = (svc.get("spec") or {}).get("selector") or {}
    targets = [pod for o, _, pod in pods if sel and all(template_labels(o, pod).get(k) == v for k, v in sel.items())]
    if not targets:
        yield problem(
            "tpustack:engine.port",
            f"{obj_id(svc)} selects {sel}, which no serving pod carries",
            f"make the Service selector match the pod labels in {r.source(svc)}",
        )
    for port in (svc.get("spec") or {}).get("ports") or []:
        tp = port.get("targetPort", port.get("port"))
        for pod in targets:
            if tp not in _declared_ports(pod):
                yield problem(
                    "tpustack:engine.port",
                    f"{obj_id(svc)} sends port {port.get('port')} to {tp}, which the selected pods do not declare",
                    "keep engine.port, the container ports and the Service ports equal",
                )


def check_ports(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """Service target ports and probe ports are ports the selected containers declare."""
    pods = [(obj, where, pod) for obj in r.objects() for where, pod in pod_specs(obj)]
    for obj in r.objects():
        if obj.get("kind") == "Service":
            yield from _service_problems(obj, pods, r)
    for _obj, where, pod in pods:
        ports = _declared_ports(pod)
        for c in pod.get("containers") or []:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                p = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
                if p is not None and p not in ports:
                    yield problem(
                        "tpustack:engine.port",
                        f"{where} {c.get('name')} {probe} checks port {p}, which no container of the pod serves",
                        "probe the server's own port",
                    )


def check_drain(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """Grace period longer than the preStop drain, or the kubelet kills the engine mid-drain."""
    for obj in r.objects():
        for where, pod in pod_specs(obj):
            grace = pod.get("terminationGracePeriodSeconds", 30)
            for c in pod.get("containers") or []:
                cmd = (((c.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command") or []
                if len(cmd) == 2 and cmd[0] == "sleep" and str(cmd[1]).isdigit() and int(cmd[1]) >= grace:
                    yield problem(
                        "tpustack:engine.drainSeconds",
                        f"{where} drains {cmd[1]} s but its grace period is {grace} s",
                        f"keep terminationGracePeriodSeconds above the drain "
                        f"(tpustack sets drain + 60), or lower engine.drainSeconds below {grace}",
                    )


def check_configmap_size(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    for obj in r.objects():
        if obj.get("kind") == "ConfigMap":
            size = sum(len(k) + len(str(v).encode()) for k, v in (obj.get("data") or {}).items())
            if size > CONFIGMAP_MAX_BYTES:
                yield problem(
                    r.source(obj),
                    f"{obj_id(obj)} holds {size} bytes, over the 1 MiB ConfigMap limit",
                    "keep the pod payload (tpustack.render.payload) to the modules the pods import",
                )


UNIT_CHECKS: list[UnitCheck] = [
    check_accelerator_requests,
    check_tensor_parallel,
    check_node_selectors,
    check_startup_budget,
    check_lws_size,
]
REGION_CHECKS: list[RegionCheck] = [
    check_one_tpu_container,
    check_images_pinned,
    check_secrets,
    check_privilege,
    check_ports,
    check_drain,
    check_configmap_size,
    disagg.check_pd_pods,
    disagg.check_pool_spans_roles,
    *volumes.CHECKS,
]


def cross_problems(cfg: StackConfig, rendered: Rendered) -> Iterator[Problem]:
    """Every cross-check of a region's objects: per unit, then over the region."""
    for unit in rendered.units:
        for ucheck in UNIT_CHECKS:
            yield from ucheck(cfg, unit, rendered)
    for rcheck in REGION_CHECKS:
        yield from rcheck(cfg, rendered)
