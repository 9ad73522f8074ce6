"""Rules about the stack as a whole: its target, its regions, its secrets, serving variants as a list, the
Inference Gateway, and the GKE versions what it asks for needs. Each takes the config and yields Problems."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from tpustack.core import router
from tpustack.core.errors import Problem, problem
from tpustack.core.secrets import secret_in

from .. import derived
from ..derived import gke_at_least
from ..model import NAMESPACE, StackConfig


# ----- target ----------------------------------------------------------------------------------------------------
def results_stack_owns_only_the_bucket(c: StackConfig) -> Iterator[Problem]:
    if c.target != "results":
        return
    for k in ("accelerator", "model", "engine", "workload", "benchmark"):
        if getattr(c, k):
            yield problem(
                f"tpustack:{k}",
                "a results stack only owns the results bucket",
                f"remove tpustack:{k}, or set tpustack:target to gke / tpu-vm for an experiment",
            )


def experiment_has_accelerator(c: StackConfig) -> Iterator[Problem]:
    if c.is_experiment and not c.units:
        yield problem(
            "tpustack:accelerator",
            f"a {c.target} stack needs an accelerator",
            "set it to a catalog name, e.g. v6e-8, v5litepod-1 or h100-8 (`tpustack catalog`)",
        )


def zones_in_region(c: StackConfig) -> Iterator[Problem]:
    for r in c.serving_regions:
        for z in r.zones:
            if not z.startswith(r.name + "-"):
                yield problem(
                    r.zones_key,
                    f"zone {z} is not in region {r.name}",
                    f"use zones of {r.name} (e.g. {r.name}-a)" + (" or change tpustack:region" if r.primary else ""),
                )


def regions_listed_once(c: StackConfig) -> Iterator[Problem]:
    seen = {c.region}
    for i, r in enumerate(c.regions or []):
        if r.region in seen:
            yield problem(
                f"tpustack:regions[{i}].region",
                f"{r.region} is listed twice (tpustack:region counts)",
                "list each extra region once",
            )
        seen.add(r.region)


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield f"{path}.{k}", str(k)  # a key is a value too: label keys land on every resource
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def credentials_only_in_secret_fields(c: StackConfig) -> Iterator[Problem]:
    """A token in extraArgs, a label or any other plain field would land in Deployment args, ConfigMaps and the
    plan; tokens enter only through tpustack:hfToken (a Pulumi secret -> Kubernetes Secret -> secretKeyRef)."""
    yield from credentials_in(c.model_dump(by_alias=True, mode="json", exclude={"hf_token", "stack"}))


def credentials_in(values: dict[str, Any]) -> Iterator[Problem]:
    """A problem for every credential in ``values`` (``{key: value}`` under tpustack:, as the stack file or the
    validated config has them). The loader runs it on the raw values too, so a token is reported in the same run
    as a type error elsewhere that stops validation."""
    for path, value in _strings(values, NAMESPACE):
        what = secret_in(value)
        if what:
            yield problem(
                path.replace(f"{NAMESPACE}.", f"{NAMESPACE}:", 1),
                f"holds {what}; credentials in plain config end up in manifests, plans and logs",
                "remove it; give the Hugging Face token with `pulumi config set --secret tpustack:hfToken "
                "hf_...` (the engine reads it from a Kubernetes Secret)",
            )


# ----- GKE versions (GKE docs): ComputeClass node-pool auto-creation without node auto-provisioning
# (concepts/node-auto-provisioning), flex-start for TPUs (concepts/dws), the GKE-managed InferencePool v1 CRD
# (how-to/deploy-gke-inference-gateway, "prepare environment").
GKE_FOR_VARIANTS = "1.33.3-gke.1136000"
GKE_FOR_TPU_FLEX_START = "1.33.0-gke.1712000"
GKE_FOR_GATEWAY = "1.34.0-gke.1626000"


def needs_gke(cfg: StackConfig, needed: str, what: str) -> Iterator[Problem]:
    if not gke_at_least(cfg, needed):
        yield problem(
            "tpustack:gke.minMasterVersion",
            f"{what} needs GKE {needed} or later; release channel {cfg.gke.release_channel} "
            f"({derived.CHANNEL_MINOR[cfg.gke.release_channel]}) with minMasterVersion "
            f"{cfg.gke.min_master_version or 'unset'} does not guarantee it",
            f"set tpustack:gke.minMasterVersion {needed} (or later) on the RAPID channel",
        )


def tpu_containers_unprivileged(c: StackConfig) -> Iterator[Problem]:
    tpu = any(u.shape.kind == "tpu" for u in c.units)
    if c.target != "gke" or not tpu or (c.engine is not None and c.engine.privileged):
        return
    minor = derived.cluster_minor(c)
    if derived.minor_tuple(minor) < derived.UNPRIVILEGED_TPU_MINOR:
        yield problem(
            "tpustack:gke.minMasterVersion",
            f"GKE {minor} runs TPU containers only in privileged mode (unprivileged from 1.28)",
            "set gke.minMasterVersion to 1.28 or newer, or set tpustack:engine.privileged true",
        )


# ----- serving variants, the Inference Gateway ------------------------------------------------------------------------
def variants_serve_on_gke(c: StackConfig) -> Iterator[Problem]:
    if not c.variants:
        return
    if c.target != "gke" or c.engine is None:
        yield problem(
            "tpustack:variants",
            "serving variants are Deployments on GKE, so they need target gke and an engine",
            "set tpustack:target gke and tpustack:engine, or remove tpustack:variants",
        )
        return
    names_seen: set[str] = set()
    for i, v in enumerate(c.variants):
        if v.name in names_seen:
            yield problem(
                f"tpustack:variants[{i}].name", f"'{v.name}' names two variants", "give every variant its own name"
            )
        names_seen.add(v.name)
    yield from needs_gke(c, GKE_FOR_VARIANTS, "ComputeClass node-pool auto-creation (serving variants)")


# EngineConfig fields each variant states for itself (VariantConfig): in a variants stack the engine's are unused.
PER_VARIANT_ENGINE_FIELDS = ("replicas", "tensor_parallel", "image")


def variants_state_their_own_replicas(c: StackConfig) -> Iterator[Problem]:
    """In a variants stack each variant has its own replicas, tensor parallelism and image; the same keys under
    tpustack:engine would be ignored without a word (a stack once asked for 4 replicas and got 1 per variant)."""
    if not c.variants or c.engine is None:
        return
    for name in PER_VARIANT_ENGINE_FIELDS:
        if name in c.engine.model_fields_set:
            key = type(c.engine).model_fields[name].alias or name
            yield problem(
                f"tpustack:engine.{key}",
                f"is set per variant in a stack with tpustack:variants, so tpustack:engine.{key} would be ignored",
                f"set {key} in each variant that needs it (tpustack:variants[].{key}) and remove tpustack:engine.{key}",
            )


def variants_serve_something(c: StackConfig) -> Iterator[Problem]:
    """Variants at replicas 0 scale to nothing; a benchmark then measures a service with no server behind it."""
    if not c.variants or c.benchmark is None or any(v.replicas > 0 for v in c.variants):
        return
    yield problem(
        "tpustack:variants",
        f"every variant has replicas 0 ({', '.join(v.name for v in c.variants)}), so nothing serves and the "
        "benchmark would run against no server",
        "give at least one variant replicas of 1 or more (tpustack:variants[].replicas), or remove tpustack:benchmark",
    )


def gateway_fronts_variants(c: StackConfig) -> Iterator[Problem]:
    g = c.gateway
    if g is None:
        if c.regions:
            yield problem(
                "tpustack:regions", "several regions are joined by Inference Gateways", "set tpustack:gateway too"
            )
        return
    if c.target != "gke" or c.engine is None:
        yield problem(
            "tpustack:gateway",
            "Inference Gateway fronts a serving engine on GKE",
            "set tpustack:target gke and tpustack:engine, or remove tpustack:gateway",
        )
        return
    if c.engine.record.gaie_server_type is None:
        yield problem(
            "tpustack:gateway",
            f"the Inference Gateway endpoint picker (llm-d-router v{router.ROUTER_VERSION}) reads the metrics of "
            f"vLLM, SGLang and TensorRT-LLM servers; {c.engine.name} is not one of them",
            "use engine vllm, or remove tpustack:gateway and use the engine's Service",
        )
    if not c.variants and c.disaggregation is None:
        yield problem(
            "tpustack:gateway",
            "the Inference Gateway's pool selects serving variants",
            "describe the accelerator as tpustack:variants (one entry is fine) instead of "
            "tpustack:accelerator/capacity",
        )
    if c.engine.service_type == "LoadBalancer":
        yield problem(
            "tpustack:engine.serviceType",
            "the Gateway is the way in; a LoadBalancer Service beside it bypasses the endpoint picker",
            "remove serviceType (ClusterIP)",
        )
    yield from _gateway_network(c)
    yield from needs_gke(c, GKE_FOR_GATEWAY, "GKE Inference Gateway (GKE-managed InferencePool CRD)")


def _gateway_network(c: StackConfig) -> Iterator[Problem]:
    g = c.gateway
    if g is None:
        return
    if g.proxy_subnet_cidr is not None:
        try:
            net = ipaddress.ip_network(g.proxy_subnet_cidr)
            ok = net.prefixlen <= 26
        except ValueError:
            ok = False
        if not ok:
            yield problem(
                "tpustack:gateway.proxySubnetCidr",
                f"'{g.proxy_subnet_cidr}' is not an IPv4 range of /26 or larger",
                "use e.g. 10.129.0.0/23, or null if the VPC has a proxy-only subnet in this region",
            )
    if bool(g.dns_zone) != bool(g.dns_name):
        yield problem(
            "tpustack:gateway.dnsZone",
            "geolocation DNS needs both the managed zone and the name",
            "set both dnsZone and dnsName (ending in '.'), or neither",
        )
    if g.dns_name and not g.dns_name.endswith("."):
        yield problem(
            "tpustack:gateway.dnsName",
            f"'{g.dns_name}' is not a fully qualified DNS name",
            f"end it with a dot: {g.dns_name}.",
        )
    if g.dns_zone and g.class_name != "gke-l7-regional-external-managed":
        yield problem(
            "tpustack:gateway.dnsZone",
            "public DNS answers with public addresses; an internal gateway (gke-l7-rilb) has none",
            "use className gke-l7-regional-external-managed, or drop dnsZone/dnsName",
        )


# ----- image preload ---------------------------------------------------------------------------------------------
# GKE docs "Use secondary boot disks to preload data or container images" (kubernetes-engine/docs/how-to/
# data-container-image-preloading), Requirements: Container-Optimized OS with containerd from 1.30.1-gke.1329000
# (the node image GKE uses for TPU and GPU pools), and image streaming configured for the preloaded images. Every
# release channel tpustack knows runs a newer minor (tests/unit/config/test_image_preload.py), so no stack can ask
# for an older cluster.
GKE_FOR_IMAGE_PRELOAD = "1.30.1-gke.1329000"


def image_preload_fits_stack(c: StackConfig) -> Iterator[Problem]:
    pre = c.gke.image_preload
    if pre is None:
        return
    if c.target != "gke":
        yield problem(
            "tpustack:gke.imagePreload",
            f"a secondary boot disk preloads GKE nodes; a {c.target} stack has none",
            "remove tpustack:gke.imagePreload, or set tpustack:target gke",
        )
        return
    if c.gke.image_streaming is False:
        yield problem(
            "tpustack:gke.imageStreaming",
            "GKE reads preloaded container images from a secondary boot disk only with image streaming on",
            "remove tpustack:gke.imageStreaming (on by default with imagePreload), or set it to true",
        )
    running = sorted({u.image for u in c.units if u.image})
    if pre.images is not None and running and not any(derived.image_preloaded(c, i) for i in running):
        yield problem(
            "tpustack:gke.imagePreload.images",
            f"the disk holds none of the images the stack runs ({', '.join(running)}): every node would still "
            "pull its image",
            f"list the images built into the disk, e.g. [{running[0]}], or remove images (default: the stack's)",
        )
