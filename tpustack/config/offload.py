"""``tpustack:engine.vllm.kvOffloadGib`` per serving unit: what the server is given (tpustack.core.offload) and the
figures its rules check, derived once."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tpustack.core import catalog, offload
from tpustack.core.engines import EngineName

from .sections import VllmConfig

if TYPE_CHECKING:
    from .model import StackConfig
    from .units import ServingUnit


@dataclass(frozen=True, kw_only=True)
class Offload:
    gib: float  # host memory asked for, per replica
    kind: str  # tpu | gpu
    host_gib: float | None  # the node's memory (None: no figure for its machine type)
    allocatable_gib: float | None  # what pods may use of it (GKE's reservations)
    flags: tuple[str, ...]  # vllm serve flags
    env: dict[str, str]
    shm_gib: int | None  # /dev/shm the buffer needs (GPU)
    block_tokens: int | None = None  # TPU: tpu-inference's KV block
    chunk_bytes: float | None = None  # TPU: one block of every layer, unpadded


def unit_offload(cfg: StackConfig, unit: ServingUnit) -> Offload | None:
    """The unit's KV offload, or None when it asks for none (or serves no vLLM)."""
    s = unit.settings if isinstance(unit.settings, VllmConfig) else None
    if s is None or s.kv_offload_gib is None or unit.engine is None or unit.engine.name is not EngineName.VLLM:
        return None
    host = catalog.HOST_MEMORY_GIB.get(unit.shape.machine_type)
    allocatable = offload.gke_allocatable_gib(host) if host is not None else None
    if unit.shape.kind == "gpu":
        return Offload(
            gib=s.kv_offload_gib,
            host_gib=host,
            allocatable_gib=allocatable,
            kind="gpu",
            flags=(f"{offload.VLLM_OFFLOAD_FLAG}={s.kv_offload_gib:g}",),
            env={},
            shm_gib=math.ceil(s.kv_offload_gib) + 1,
        )
    block = offload.tpu_block_tokens(s.max_model_len, s.max_num_seqs) if s.max_num_seqs else None
    per_block = cfg.served.kv_bytes_per_sequence(block) if cfg.served and block else None
    env = {}
    if block and per_block:
        env[offload.TPU_OFFLOAD_CHUNKS_ENV] = str(offload.tpu_chunks(s.kv_offload_gib, per_block))
    return Offload(
        gib=s.kv_offload_gib,
        host_gib=host,
        allocatable_gib=allocatable,
        kind="tpu",
        flags=("--kv-transfer-config=" + json.dumps(offload.TPU_OFFLOAD_CONNECTOR, separators=(",", ":")),),
        env=env,
        shm_gib=None,
        block_tokens=block,
        chunk_bytes=per_block,
    )
