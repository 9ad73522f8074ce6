"""Rules of ``tpustack:disaggregation`` (prefill/decode roles), all before any resource: the roles serve one model
the same way (model, dtype, KV cache dtype, KV layout), over a connector the pinned engine has for their
accelerator, with tensor-parallel sizes that connector can hand KV across, on ports that do not clash.
Connector facts: tpustack.core.disagg (each with its pinned source)."""

from __future__ import annotations

from collections.abc import Iterator

from tpustack.core import disagg, engines, router
from tpustack.core.engines import EngineName
from tpustack.core.errors import Problem, problem

from ..model import StackConfig
from ..routing import PrefixCache
from ..units import Role, ServingUnit

KEY = "tpustack:disaggregation"
# EngineConfig / stack fields each role states for itself: set beside tpustack:disaggregation they would be ignored.
PER_ROLE_ENGINE_FIELDS = ("replicas", "tensor_parallel", "image")


def _roles(c: StackConfig) -> tuple[ServingUnit, ServingUnit] | None:
    """The primary region's prefill and decode units (every region repeats them)."""
    own = [u for u in c.units if u.region.primary and u.role is not Role.SERVE]
    pre = [u for u in own if u.role is Role.PREFILL]
    dec = [u for u in own if u.role is Role.DECODE]
    return (pre[0], dec[0]) if pre and dec else None


def disaggregation_form(c: StackConfig) -> Iterator[Problem]:
    """P/D is a GKE serving form of its own: an engine behind Inference Gateway (the picker picks both pods), and
    neither tpustack:accelerator nor tpustack:variants beside it."""
    if c.disaggregation is None:
        return
    if c.target != "gke" or c.engine is None:
        yield problem(
            KEY,
            "prefill and decode roles are Deployments on GKE, so they need target gke and an engine",
            "set tpustack:target gke and tpustack:engine, or remove tpustack:disaggregation",
        )
    if c.gateway is None:
        yield problem(
            KEY,
            "the endpoint picker chooses each request's prefill and decode pods and tells the decode "
            "pod's sidecar which prefill pod to call (x-prefiller-host-port); without it nothing does",
            "set tpustack:gateway (GKE Inference Gateway)",
        )
    for other in ("accelerator", "variants"):
        if getattr(c, other) is not None:
            yield problem(
                f"tpustack:{other}",
                f"is unused in a stack with {KEY}: each role states its accelerator",
                f"remove tpustack:{other} (set {KEY}.prefill/decode.accelerator)",
            )
    if c.engine is not None:
        for name in PER_ROLE_ENGINE_FIELDS:
            if name in c.engine.model_fields_set:
                key = type(c.engine).model_fields[name].alias or name
                yield problem(
                    f"tpustack:engine.{key}",
                    f"is set per role in a stack with {KEY}, so it would be ignored",
                    f"set {key} under {KEY}.prefill and {KEY}.decode and remove tpustack:engine.{key}",
                )


def engine_has_connector(c: StackConfig) -> Iterator[Problem]:
    if c.disaggregation is None or c.engine is None or c.engine.name is EngineName.VLLM:
        return
    yield problem(
        "tpustack:engine.name",
        f"{c.engine.name} has no KV connector, so it cannot hand a prefill's KV cache to a decode server "
        "(JetStream was archived upstream in 2026-02 and is not extended here)",
        f"use engine vllm (vLLM {disagg.NIXL_CONNECTOR.source.split()[1]} on GPU, tpu-inference on TPU), "
        f"or remove {KEY}",
    )


def roles_share_kv_layout(c: StackConfig) -> Iterator[Problem]:
    """One model, one dtype (stack-wide by construction), the same KV cache dtype and accelerator kind: the decode
    pod reads the prefill pod's KV blocks as its own."""
    roles = _roles(c)
    if c.disaggregation is None or roles is None:
        return
    pre, dec = roles
    if pre.shape.kind != dec.shape.kind:
        yield problem(
            f"{KEY}.decode.accelerator",
            f"prefill runs on {pre.shape.kind} ({pre.shape.name}) and decode on {dec.shape.kind} "
            f"({dec.shape.name}): their KV caches have different layouts and no pinned connector joins them",
            "put both roles on TPUs or both on GPUs",
        )
    pk = getattr(pre.settings, "kv_cache_dtype", None) or "auto"
    dk = getattr(dec.settings, "kv_cache_dtype", None) or "auto"
    if pk != dk:
        yield problem(
            f"{KEY}.decode.kvCacheDtype",
            f"prefill stores its KV cache as {pk}, decode as {dk}; the connector copies blocks as they are",
            "give both roles the same kvCacheDtype (or set it once in tpustack:engine.vllm.kvCacheDtype)",
        )


def connector_fits_accelerator(c: StackConfig) -> Iterator[Problem]:
    d, roles = c.disaggregation, _roles(c)
    if d is None or roles is None:
        return
    kind = roles[0].shape.kind
    record = disagg.CONNECTORS.get(d.connector_name(kind))
    if record is None or record.kind != kind:
        fits = sorted(n for n, r in disagg.CONNECTORS.items() if r.kind == kind)
        yield problem(
            f"{KEY}.connector",
            f"{d.connector} does not run on {kind} ({record.source if record else 'no pinned connector'})",
            f"use auto or one of {', '.join(fits)}",
        )
        return
    served = c.served
    facts = served.facts if served else None
    hybrid = facts is not None and sum(1 for n in facts.layer_kinds.values() if n) > 1
    if record.name == disagg.TPU_CONNECTOR.name and hybrid and facts is not None:
        kinds = ", ".join(f"{k}" for k, n in facts.layer_kinds.items() if n)
        yield problem(
            f"{KEY}.connector",
            f"{c.model.id if c.model else 'the model'} mixes layer kinds ({kinds}); TPUConnector hands over "
            "one KV cache group only",
            f"use connector {disagg.TPU_CONNECTOR_HMA.name} (tpu_inference/distributed/tpu_connector_hma.py)",
        )
    if kind != "tpu" and d.kv_port is not None:
        yield problem(
            f"{KEY}.kvPort",
            f"{record.name} has no separate transfer port (TPU_KV_TRANSFER_PORT is TPU's)",
            "remove kvPort; sideChannelPort sets VLLM_NIXL_SIDE_CHANNEL_PORT",
        )


def tensor_parallel_pair_supported(c: StackConfig) -> Iterator[Problem]:
    d, roles = c.disaggregation, _roles(c)
    if d is None or roles is None:
        return
    pre, dec = roles
    record = disagg.CONNECTORS.get(d.connector_name(pre.shape.kind))
    if record is None:
        return
    a, b = pre.tensor_parallel, dec.tensor_parallel
    if record.tp == "equal" and a != b:
        yield problem(
            f"{KEY}.decode.tensorParallel",
            f"{record.name} pulls KV with the decode pod's own shape and sharding, so prefill TP {a} and "
            f"decode TP {b} must be equal ({record.source})",
            f"give both roles tensorParallel {a} (or shapes with the same chips)",
        )
    elif record.tp == "divisible" and max(a, b) % min(a, b):
        yield problem(
            f"{KEY}.decode.tensorParallel",
            f"{record.name} maps heads between TP sizes by their integer ratio; prefill TP {a} and decode "
            f"TP {b} have none ({record.source})",
            "use tensor-parallel sizes where one divides the other (e.g. 2 and 4)",
        )


def ports_do_not_clash(c: StackConfig) -> Iterator[Problem]:
    """Every pod's ports are distinct: the serving port (the sidecar's on decode), vLLM behind the sidecar (also
    its metrics, /metrics on the server port), the connector's transfer and side-channel ports, and with the
    precise prefix index vLLM's KV-event publisher."""
    d, roles = c.disaggregation, _roles(c)
    if d is None or roles is None or c.engine is None:
        return
    ports: dict[str, int] = {"tpustack:engine.port": c.engine.port}
    if c.gateway is not None and c.gateway.routing.prefix_cache is PrefixCache.PRECISE:
        # vLLM's ZMQ KV-event publisher the picker's precise index dials (--kv-events-config); listed before the
        # keys the stack can move, so a clash names one of those.
        ports["the KV-event publisher (tpustack:gateway.routing.prefixCache: precise)"] = router.KV_EVENTS_PORT
    ports[f"{KEY}.enginePort"] = d.engine_port
    for env, value in d.ports(roles[0].shape.kind).items():
        key = f"{KEY}.kvPort" if env == "TPU_KV_TRANSFER_PORT" else f"{KEY}.sideChannelPort"
        ports[key] = int(value)
    seen: dict[int, str] = {}
    for key, port in ports.items():
        if port in seen:
            yield problem(
                key,
                f"port {port} is also {seen[port]}'s, and one pod listens on both",
                "give the sidecar, vLLM, the KV transfer and the side channel each their own port",
            )
        seen.setdefault(port, key)


def pd_needs_the_prefix_cache(c: StackConfig) -> Iterator[Problem]:
    """llm-d-router v0.10.0 profilehandler/disagg/README.md: "When using P/D disaggregation, a PrefixCachePlugin must
    be configured in the prefill and decode scheduling profiles"; and prefix-based-pd-decider subtracts the decode
    pod's cached prefix read from the prefix-cache producer's PrefixCacheMatchInfo (prefix_based_pd_decider.go:
    "unable to read prefix cache state" -> no split). With tpustack:gateway.routing.prefixCache off neither exists."""
    if c.disaggregation is None or c.gateway is None:
        return
    if c.gateway.routing.prefix_cache is PrefixCache.OFF:
        yield problem(
            "tpustack:gateway.routing.prefixCache",
            "off, and the picker's P/D profiles need its prefix-cache scorer (llm-d-router v0.10.0 disagg README); "
            f"{KEY}.decider {c.disaggregation.decider} would also never see a cached prefix",
            "set tpustack:gateway.routing.prefixCache to approximate (the default) or precise for a P/D stack",
        )


# The pinned vLLM image per accelerator kind: the one whose KV connectors tpustack checked (tpustack.core.disagg).
VLLM_IMAGES = engines.ENGINES[EngineName.VLLM].images


def roles_run_a_verified_image(c: StackConfig) -> Iterator[Problem]:
    """The connector is verified in the pinned engine images only (tpustack.core.disagg sources): another image, an
    older vLLM say, may lack it or take other arguments, and would fail only once both roles are up."""
    d, roles = c.disaggregation, _roles(c)
    if d is None or roles is None:
        return
    for u in roles:
        pinned = VLLM_IMAGES[u.shape.kind]
        if u.image is not None and u.image != pinned:
            record = disagg.CONNECTORS.get(d.connector_name(u.shape.kind))
            yield problem(
                u.keys.image,
                f"{u.label}{u.image}: {record.name if record else 'the KV connector'} is verified in {pinned} only "
                f"({record.source if record else 'tpustack.core.disagg'}); nothing says this image has it",
                f"use {pinned} (remove the image override), or add the image's facts with their source "
                '(README "Engine versions")',
            )


RULES = [
    disaggregation_form,
    engine_has_connector,
    roles_share_kv_layout,
    connector_fits_accelerator,
    tensor_parallel_pair_supported,
    ports_do_not_clash,
    pd_needs_the_prefix_cache,
    roles_run_a_verified_image,
]
