"""What selects what across a region's serving units: each unit's pods can land on what its ComputeClass
provisions, and the Service and the InferencePool select every unit's pods and nothing else; the HTTPRoute sends
to the pool on the port every unit serves. One function per check, each yielding ``Problem``s."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from tpustack.config.model import StackConfig
from tpustack.config.units import ServingUnit
from tpustack.core import names
from tpustack.core.catalog import TpuShape
from tpustack.core.errors import Problem, problem
from tpustack.core.k8s import accelerator_requests, containers, pod_specs, template_labels

from .gateway import expected_pool, pool_selector
from .rendered import Rendered


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def grouped(r: Rendered) -> bool:
    """The region's units are a group of variants behind one Service (and a gateway's pool)."""
    return any(u.variant is not None for u in r.units)


def _unit_workloads(r: Rendered, u: ServingUnit) -> list[dict]:
    return [
        o
        for o in r.apps.get("serving", [])
        if o.get("kind") == "Deployment" and (template_labels(o, {}) or {}).get(names.LABEL_VARIANT) == u.variant
    ]


def _priority_problems(u: ServingUnit, cc: dict, where: str, pod: dict) -> Iterator[Problem]:
    """Each priority of the unit's ComputeClass provisions what the unit's pods ask for, and only one option."""
    asks = {res: req for c in containers(pod) for res, (req, _) in accelerator_requests(c).items()}
    for i, prio in enumerate(cc["spec"]["priorities"]):
        key = u.capacity[i].key if i < len(u.capacity) else f"{u.keys.capacity}[{i}]"
        offer = prio.get("tpu") or prio.get("gpu") or {}
        res = names.TPU_RESOURCE if "tpu" in prio else names.GPU_RESOURCE
        if offer.get("type") != u.shape.gke_accelerator or str(asks.get(res)) != str(offer.get("count")):
            yield problem(
                key,
                f"{where} asks for {asks} but priority {i} of {cc['metadata']['name']} provisions "
                f"{offer.get('count')} x {offer.get('type')} per node",
                "keep the ComputeClass and the variant's accelerator in step (capacity_context)",
            )
        if isinstance(u.shape, TpuShape) and not ({"type", "count", "topology"} <= set(offer)):
            yield problem(key, "a TPU priority needs type, count and topology (GKE)", "emit all three")
        if prio.get("spot") and (prio.get("reservations") or (prio.get("flexStart") or {}).get("enabled")):
            yield problem(
                key,
                "one priority mixes spot with a reservation or flex-start",
                "give each capacity option its own priority",
            )


def check_compute_classes(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """Every unit GKE provisions from a class has its ComputeClass, one workload, and pods that select the class
    and ask for what each priority provisions."""
    classes = {o["metadata"]["name"]: o for o in r.apps.get("capacity", []) if o.get("kind") == "ComputeClass"}
    for u in r.units:
        if u.compute_class is None:
            continue
        key = u.keys.unit
        cc = classes.get(u.compute_class)
        if cc is None:
            yield problem(
                key,
                f"no ComputeClass {u.compute_class} is rendered for variant {u.variant}",
                "render capacity/computeclass",
            )
            continue
        workloads = _unit_workloads(r, u)
        if len(workloads) != 1:
            yield problem(key, f"variant {u.variant} has {len(workloads)} Deployments", "render one per variant")
            continue
        for where, pod in pod_specs(workloads[0]):
            if (pod.get("nodeSelector") or {}).get(names.COMPUTE_CLASS_LABEL) != u.compute_class:
                yield problem(
                    key, f"{where} does not select ComputeClass {u.compute_class}", "select it in nodeSelector"
                )
            yield from _priority_problems(u, cc, where, pod)


def check_pool_selects_every_unit(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    selector = pool_selector(cfg)
    missing = []
    for u in r.units:
        pods = [(w, pod) for w in _unit_workloads(r, u) for _, pod in pod_specs(w)]
        if not any(_selects(selector, template_labels(w, pod)) for w, pod in pods):
            missing.append(u.variant)
    if missing:
        yield problem(
            "tpustack:variants",
            f"the InferencePool / Service selector {selector} misses {missing}",
            "label every variant's pods with it",
        )


def check_pool_selects_nothing_else(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    selector = pool_selector(cfg)
    for obj in r.objects():
        if obj.get("kind") not in ("Deployment", "LeaderWorkerSet", "Job"):
            continue
        for where, pod in pod_specs(obj):
            labels = template_labels(obj, pod)
            if _selects(selector, labels) and labels.get(names.LABEL_VARIANT) is None:
                yield problem(
                    r.source(obj),
                    f"{where} matches the InferencePool selector {selector} but is not a serving variant",
                    "do not give it the serving label",
                )


def _headless(svc: dict) -> bool:
    return svc.get("kind") == "Service" and svc["spec"].get("clusterIP") == "None"


def check_services_select_the_pool(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    selector = pool_selector(cfg)
    for svc in r.apps.get("serving", []):
        if svc.get("kind") == "Service" and not _headless(svc) and svc["spec"].get("selector") != selector:
            yield problem(
                r.source(svc),
                f"Service selects {svc['spec'].get('selector')}, not {selector}",
                "select the serving label",
            )


def check_role_metrics_services(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """A headless Service (a P/D role's metrics, manifests/serving/role-metrics-service.yaml.j2) selects the pods of
    exactly one workload, on a port its engine container listens on."""
    workloads = [o for o in r.apps.get("serving", []) if o.get("kind") in ("Deployment", "LeaderWorkerSet")]
    for svc in filter(_headless, r.apps.get("serving", [])):
        selector = svc["spec"].get("selector") or {}
        hits = [(o, pod) for o in workloads for _, pod in pod_specs(o) if _selects(selector, template_labels(o, pod))]
        if len({id(o) for o, _ in hits}) != 1:
            yield problem(
                r.source(svc),
                f"headless Service {svc['metadata']['name']} selects {len(hits)} workloads' pods, not one role's",
                "select the role's own pods (its app label)",
            )
            continue
        listening = {p.get("containerPort") for _, pod in hits for c in containers(pod) for p in c.get("ports", [])}
        for port in svc["spec"].get("ports", []):
            if port.get("targetPort") not in listening:
                yield problem(
                    r.source(svc),
                    f"headless Service {svc['metadata']['name']} targets port {port.get('targetPort')}; the role's "
                    f"pods listen on {sorted(p for p in listening if p)}",
                    "target the engine's port",
                )


def check_route_reaches_the_pool(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    if cfg.gateway is None:
        return
    pool = expected_pool(cfg)
    routes = [o for o in r.apps.get("gateway", []) if o.get("kind") == "HTTPRoute"]
    backends = [b for rt in routes for rule in rt["spec"]["rules"] for b in rule.get("backendRefs", [])]
    if [b.get("name") for b in backends] != [pool["metadata"]["name"]]:
        yield problem(
            "tpustack:gateway",
            f"the HTTPRoute sends to {backends}, not the pool {pool['metadata']['name']}",
            "route to the InferencePool",
        )
    ports = {p["number"] for p in pool["spec"]["targetPorts"]}
    for o in r.apps.get("serving", []):
        if o.get("kind") != "Deployment":
            continue
        for where, pod in pod_specs(o):
            have = {p.get("containerPort") for c in pod.get("containers", []) for p in c.get("ports", [])}
            if not ports <= have:
                yield problem(
                    "tpustack:engine.port",
                    f"{where} listens on {sorted(have)}, the pool targets {sorted(ports)}",
                    "serve every variant on engine.port",
                )


SELECTION_CHECKS: list[Callable[[StackConfig, Rendered], Iterator[Problem]]] = [
    check_compute_classes,
    check_pool_selects_every_unit,
    check_pool_selects_nothing_else,
    check_services_select_the_pool,
    check_role_metrics_services,
    check_route_reaches_the_pool,
]


def selection_problems(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """The checks of a region whose units are a group of variants (one Service and pool over all of them)."""
    if not grouped(r):
        return
    for check in SELECTION_CHECKS:
        yield from check(cfg, r)
