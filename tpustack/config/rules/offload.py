"""Rules of KV cache offload (``tpustack:engine.vllm.kvOffloadGib``, tpustack.config.offload): the buffer fits the
node's memory beside the weights, and the connector can run where it is asked to."""

from __future__ import annotations

from collections.abc import Iterator

from tpustack.core.errors import Problem, problem
from tpustack.core.model_facts import AttentionKind

from ..model import StackConfig
from ..offload import unit_offload
from ..units import ServingUnit
from .disaggregation import VLLM_IMAGES

KEY = "tpustack:engine.vllm.kvOffloadGib"


def offload_runs_here(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    o = unit_offload(c, u)
    if o is None:
        return
    if c.disaggregation is not None:
        yield problem(
            KEY,
            f"{u.label}prefill/decode already gives vLLM its KV connector (--kv-transfer-config); the offload "
            "connector would need a second one",
            "remove kvOffloadGib from a P/D stack",
        )
    pinned = VLLM_IMAGES[o.kind]
    if u.image is not None and u.image != pinned:
        yield problem(
            u.keys.image,
            f"{u.label}{u.image}: KV offload is verified in {pinned} only (its flag and connector in vllm / "
            "tpu-inference 0.32.0); nothing says this image has it",
            f"use {pinned} (remove the image override), or remove kvOffloadGib",
        )
    if o.kind != "tpu":
        return
    if u.shape.multi_host:
        yield problem(
            KEY,
            f"{u.label}TPU_OFFLOAD_NUM_CPU_CHUNKS is one count for every host of a {u.shape.name} slice; "
            "tpustack sizes the buffer for one host only",
            "use a single-host slice for KV offload, or remove kvOffloadGib",
        )
    facts = c.served.facts if c.served else None
    if facts is not None and facts.attention.kind is AttentionKind.MLA:
        yield problem(
            KEY,
            f"{u.label}TPUOffloadConnector needs the NHD KV layout, which an MLA model ({facts.architecture}) does "
            "not use (tpu-inference 0.32.0 tpu_offload_connector.py)",
            "remove kvOffloadGib",
        )
    elif o.block_tokens is None:
        yield problem(
            KEY,
            f"{u.label}the TPU buffer is counted in KV blocks, whose size tpu-inference derives from maxModelLen "
            "and maxNumSeqs",
            "set tpustack:engine.vllm.maxNumSeqs (the engine's batch cap), so tpustack can size the blocks",
        )
    elif o.chunk_bytes is None:
        yield problem(
            KEY,
            f"{u.label}the KV bytes per token of {c.model.id if c.model else 'the model'} are unknown (no config.json)",
            "give the model's config (tpustack:model.config), or remove kvOffloadGib",
        )


def offload_fits_node_memory(c: StackConfig, u: ServingUnit) -> Iterator[Problem]:
    """The buffer and the weights (which pass through host memory while loading) within what pods may use."""
    o = unit_offload(c, u)
    if o is None:
        return
    machine = u.shape.machine_type
    if o.allocatable_gib is None:
        yield problem(
            KEY,
            f"{u.label}no published memory figure for {machine}: the buffer cannot be sized against it",
            "remove kvOffloadGib, or use a machine type tpustack knows (tpustack/core/catalog.py HOST_MEMORY_GIB)",
        )
        return
    weights = (c.served.weights_gib if c.served else 0.0) / u.shape.hosts
    room = o.allocatable_gib - weights
    if o.gib > room:
        yield problem(
            KEY,
            f"{u.label}{o.gib:g} GiB of KV offload + {weights:.1f} GiB of weights > {o.allocatable_gib:.1f} GiB "
            f"allocatable of {machine}'s {o.host_gib:g} GiB (GKE's node reservations)",
            f"at most {max(room, 0):.0f} GiB on {machine}",
        )


RULES = [offload_runs_here, offload_fits_node_memory]
