"""Cross-checks of rendered objects against the infrastructure the stack declares: one function per check.

Accelerator requests vs chips per node, one TPU container per pod, tensor parallelism vs chips, node selectors
vs the pool's node labels, pinned images, referenced secrets, privilege, ports, drain, startup budget, LWS size,
ConfigMap size. Each yields ``Problem``s naming the config key (or template) and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from tpustack.config import derived
from tpustack.config.model import StackConfig
from tpustack.core import engines, names
from tpustack.core.catalog import TpuShape
from tpustack.core.errors import Problem, problem
from tpustack.core.k8s import accelerator_requests, containers, flag, obj_id, pod_specs, template_labels

from .rendered import Rendered

CONFIGMAP_MAX_BYTES = 1024 * 1024  # Kubernetes ConfigMap limit (kubernetes.io/docs/concepts/configuration/configmap)


def check_accelerator_requests(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """Accelerator requests = limits = the chips of one node (GKE gives a TPU pod its whole host)."""
    shape = cfg.shape
    want = names.TPU_RESOURCE if shape.kind == "tpu" else names.GPU_RESOURCE
    for obj in r.objects():
        for where, pod in pod_specs(obj):
            for c in containers(pod):
                for res, (req, lim) in accelerator_requests(c).items():
                    if res != want:
                        yield problem(
                            "tpustack:accelerator",
                            f"{where} container {c.get('name')} asks for {res}, but {shape.name} nodes offer {want}",
                            f"request {want} in {r.source(obj)}, or change the accelerator",
                        )
                    elif not (str(req) == str(lim) == str(shape.chips_per_host)):
                        yield problem(
                            "tpustack:accelerator",
                            f"{where} container {c.get('name')} requests {req} "
                            f"/ limits {lim} {res}, but a {shape.machine_type} node of {shape.name} has "
                            f"{shape.chips_per_host}",
                            f"set {res} requests = limits = "
                            f"{shape.chips_per_host} in {r.source(obj)} (a pod takes every chip of its node)",
                        )


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


def check_tensor_parallel(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """The engine shards over every chip of the replica: vLLM --tensor-parallel-size, MaxText ici_*."""
    if cfg.engine is None:
        return
    chips = cfg.shape.chips
    for obj in r.apps.get("serving", []):
        for where, pod in pod_specs(obj):
            for c in pod.get("containers") or []:
                args = [str(a) for a in c.get("args") or []]
                tp = flag(args, "--tensor-parallel-size")
                if tp is not None and int(tp) != chips:
                    yield problem(
                        "tpustack:engine.tensorParallel",
                        f"{where} runs vLLM with tensor parallel {tp}, "
                        f"but one {cfg.shape.name} replica has {chips} chips",
                        f"set engine.tensorParallel to {chips} or remove it",
                    )
                ici = {
                    a.split("=", 1)[0]: int(a.split("=", 1)[1])
                    for a in args
                    if a.startswith("ici_") and "=" in a and a.split("=", 1)[1].lstrip("-").isdigit()
                }
                if ici:
                    fixed = math.prod(v for v in ici.values() if v != -1)
                    fill = sum(1 for v in ici.values() if v == -1)
                    if (fill == 0 and fixed != chips) or (fill and chips % fixed) or fill > 1:
                        yield problem(
                            "tpustack:engine.tensorParallel",
                            f"{where} MaxText parallelism {ici} does not cover the {chips} chips of {cfg.shape.name}",
                            "make the product of ici_*_parallelism equal the chip count",
                        )
                    elif ici.get("ici_tensor_parallelism") not in (cfg.tensor_parallel, -1):
                        yield problem(
                            "tpustack:engine.tensorParallel",
                            f"{where} sets ici_tensor_parallelism="
                            f"{ici.get('ici_tensor_parallelism')}, config says {cfg.tensor_parallel}",
                            f"set engine.tensorParallel to {chips} or remove it",
                        )


def check_node_selectors(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """Every nodeSelector names a label the accelerator pool's nodes carry, with the same value (for a serving
    variant: the labels its ComputeClass gives the nodes it creates)."""
    labels = derived.accelerator_pool(cfg).node_labels
    if cfg.variant is not None:
        labels = {
            names.COMPUTE_CLASS_LABEL: names.compute_class(cfg.stack, cfg.variant),
            **derived.pool_labels(cfg.stack),
        }
    for obj in r.objects():
        for where, pod in pod_specs(obj):
            for k, v in (pod.get("nodeSelector") or {}).items():
                if labels.get(k) != v:
                    have = f"'{labels[k]}'" if k in labels else "no such label"
                    yield problem(
                        "tpustack:accelerator",
                        f"{where} selects nodes with {k}={v}, but the {cfg.shape.name} pool's nodes have {have}",
                        f"select {k}={labels[k]}"
                        if k in labels
                        else f"drop {k} from nodeSelector in {r.source(obj)}, or label "
                        "the pool in tpustack/config/derived.py",
                    )


def check_images_pinned(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    for obj in r.objects():
        for where, pod in pod_specs(obj):
            for c in containers(pod):
                image = str(c.get("image") or "")
                if not engines.is_pinned(image):
                    field_ = "tpustack:engine.image" if image == cfg.engine_image else r.source(obj)
                    yield problem(
                        field_,
                        f"{where} container {c.get('name')} image '{image}' is not pinned",
                        "use an explicit version tag or a digest (never latest)",
                    )


def check_secrets(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """Every secret a pod reads is one the stack creates, with that key."""
    for obj in r.objects():
        for where, pod in pod_specs(obj):
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
            for name, key in refs:
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


def check_ports(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """Service target ports and probe ports are ports the selected containers declare."""
    pods = [(obj, where, pod) for obj in r.objects() for where, pod in pod_specs(obj)]

    def declared(pod: dict) -> set:
        return {
            p.get(k)
            for c in pod.get("containers") or []
            for p in c.get("ports") or []
            for k in ("containerPort", "name")
        }

    for obj in r.objects():
        if obj.get("kind") != "Service":
            continue
        sel = (obj.get("spec") or {}).get("selector") or {}
        targets = [
            pod for o, _, pod in pods if sel and all(template_labels(o, pod).get(k) == v for k, v in sel.items())
        ]
        if not targets:
            yield problem(
                "tpustack:engine.port",
                f"{obj_id(obj)} selects {sel}, which no serving pod carries",
                f"make the Service selector match the pod labels in {r.source(obj)}",
            )
        for port in (obj.get("spec") or {}).get("ports") or []:
            tp = port.get("targetPort", port.get("port"))
            for pod in targets:
                if tp not in declared(pod):
                    yield problem(
                        "tpustack:engine.port",
                        f"{obj_id(obj)} sends port {port.get('port')} to {tp}, which the selected pods do not declare",
                        "keep engine.port, the container ports and the Service ports equal",
                    )
    for _obj, where, pod in pods:
        ports = declared(pod)
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


def check_startup_budget(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """The startup probe allows the weight load + XLA compile budget, and `pulumi up` waits at least as long."""
    if cfg.engine is None:
        return
    budget_s = derived.startup_minutes(cfg) * 60
    for obj in r.apps.get("serving", []):
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
                        f"{where} {c.get('name')} startup probe allows "
                        f"{allowed} s, less than the {budget_s} s budget for weights + XLA compile",
                        "raise engine.startupMinutes or the probe's failureThreshold",
                    )
                if timeout < allowed:
                    yield problem(
                        "tpustack:engine.startupMinutes",
                        f"{obj_id(obj)} lets `pulumi up` wait "
                        f"{timeout} s ({names.PULUMI_TIMEOUT}) but the pod may take {allowed} s to start",
                        f"set {names.PULUMI_TIMEOUT} above the startup probe's allowance",
                    )


def check_lws_size(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    for obj in r.objects():
        if obj.get("kind") == "LeaderWorkerSet":
            size = ((obj.get("spec") or {}).get("leaderWorkerTemplate") or {}).get("size")
            if size != cfg.shape.hosts:
                yield problem(
                    "tpustack:accelerator",
                    f"{obj_id(obj)} groups {size} pods, but {cfg.shape.name} has {cfg.shape.hosts} hosts",
                    f"set leaderWorkerTemplate.size to {cfg.shape.hosts}",
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


CROSS_CHECKS = [
    check_accelerator_requests,
    check_one_tpu_container,
    check_tensor_parallel,
    check_node_selectors,
    check_images_pinned,
    check_secrets,
    check_privilege,
    check_ports,
    check_drain,
    check_startup_budget,
    check_lws_size,
    check_configmap_size,
]


def cross_problems(cfg: StackConfig, rendered: Rendered) -> Iterator[Problem]:
    for check in CROSS_CHECKS:
        yield from check(cfg, rendered)


# ----- serving variants ---------------------------------------------------------------------------------------------
def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def variant_problems(cfg: StackConfig, r: Rendered) -> Iterator[Problem]:
    """A variants stack, as a whole: each variant's pods can land on what its ComputeClass provisions (the class
    exists, offers the variant's accelerator with as many chips per node as a pod asks for), and the InferencePool /
    Service select every variant's pods and nothing else."""
    from .context import expected_pool, pool_selector

    classes = {o["metadata"]["name"]: o for o in r.apps.get("capacity", []) if o.get("kind") == "ComputeClass"}
    selector = pool_selector(cfg)
    selected: set[str] = set()
    for v, vc in zip(cfg.variants or [], cfg.variant_configs(), strict=True):
        key = f"tpustack:variants[{cfg.variants.index(v) if cfg.variants else 0}]"
        shape = vc.shape
        want = names.compute_class(cfg.stack, v.name)
        cc = classes.get(want)
        if cc is None:
            yield problem(
                key, f"no ComputeClass {want} is rendered for variant {v.name}", "render capacity/computeclass"
            )
            continue
        workloads = [
            o
            for o in r.apps.get("serving", [])
            if o.get("kind") == "Deployment" and (template_labels(o, {}) or {}).get(names.LABEL_VARIANT) == v.name
        ]
        if len(workloads) != 1:
            yield problem(key, f"variant {v.name} has {len(workloads)} Deployments", "render one per variant")
            continue
        for where, pod in pod_specs(workloads[0]):
            if (pod.get("nodeSelector") or {}).get(names.COMPUTE_CLASS_LABEL) != want:
                yield problem(key, f"{where} does not select ComputeClass {want}", "select it in nodeSelector")
            asks = {res: req for c in containers(pod) for res, (req, _) in accelerator_requests(c).items()}
            for i, prio in enumerate(cc["spec"]["priorities"]):
                offer = prio.get("tpu") or prio.get("gpu") or {}
                res = names.TPU_RESOURCE if "tpu" in prio else names.GPU_RESOURCE
                if offer.get("type") != shape.gke_accelerator or str(asks.get(res)) != str(offer.get("count")):
                    yield problem(
                        f"{key}.capacity[{i}]",
                        f"{where} asks for {asks} but priority {i} of {want} provisions "
                        f"{offer.get('count')} x {offer.get('type')} per node",
                        "keep the ComputeClass and the variant's accelerator in step (capacity_context)",
                    )
                if isinstance(shape, TpuShape) and not ({"type", "count", "topology"} <= set(offer)):
                    yield problem(
                        f"{key}.capacity[{i}]", "a TPU priority needs type, count and topology (GKE)", "emit all three"
                    )
                if prio.get("spot") and (prio.get("reservations") or (prio.get("flexStart") or {}).get("enabled")):
                    yield problem(
                        f"{key}.capacity[{i}]",
                        "one priority mixes spot with a reservation or flex-start",
                        "give each capacity option its own priority",
                    )
            labels = template_labels(workloads[0], pod)
            if _selects(selector, labels):
                selected.add(v.name)
    missing = [v.name for v in cfg.variants or [] if v.name not in selected]
    if missing:
        yield problem(
            "tpustack:variants",
            f"the InferencePool / Service selector {selector} misses {missing}",
            "label every variant's pods with it",
        )
    for obj in r.objects():
        if obj.get("kind") in ("Deployment", "LeaderWorkerSet", "Job"):
            for where, pod in pod_specs(obj):
                labels = template_labels(obj, pod)
                if _selects(selector, labels) and labels.get(names.LABEL_VARIANT) is None:
                    yield problem(
                        r.source(obj),
                        f"{where} matches the InferencePool selector {selector} but is not a serving variant",
                        "do not give it the serving label",
                    )
    services = [o for o in r.apps.get("serving", []) if o.get("kind") == "Service"]
    for svc in services:
        if svc["spec"].get("selector") != selector:
            yield problem(
                r.source(svc),
                f"Service selects {svc['spec'].get('selector')}, not {selector}",
                "select the serving label",
            )
    if cfg.gateway is not None:
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
            if o.get("kind") == "Deployment":
                for where, pod in pod_specs(o):
                    have = {p.get("containerPort") for c in pod.get("containers", []) for p in c.get("ports", [])}
                    if not ports <= have:
                        yield problem(
                            "tpustack:engine.port",
                            f"{where} listens on {sorted(have)}, the pool targets {sorted(ports)}",
                            "serve every variant on engine.port",
                        )
