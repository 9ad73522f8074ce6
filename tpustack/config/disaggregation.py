"""``tpustack:disaggregation``: prefill/decode disaggregated serving (llm-d P/D behind GKE Inference Gateway).

Two roles, each its own serving unit (tpustack.config.units: one unit per (region, role)), Deployment and
ComputeClass: prefill pods compute the prompt's KV cache and hand it to decode pods over the engine's KV connector
(TPUConnector on TPU, NixlConnector on GPU; tpustack.core.disagg). The endpoint picker decides per request whether
to disaggregate (``decider``) and sends it to a decode pod whose routing sidecar calls the chosen prefill pod first.
The rules are in tpustack/config/rules/disaggregation.py.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from tpustack.core import disagg, router

from .sections import (
    AcceleratorConfig,
    CapacityConfig,
    Section,
    accelerator_shorthand,
    capacity_shorthand,
    pinned_image,
)

Connector = Literal["auto", "TPUConnector", "TPUConnectorHMA", "NixlConnector"]
Decider = Literal["always", "prefix-based"]
KvCacheDtype = Literal["auto", "bfloat16", "float16", "fp8", "fp8_e4m3", "fp8_e5m2"]


class PdRoleConfig(Section):
    """One role: where its pods run and how many (the same fields as a serving variant)."""

    accelerator: AcceleratorConfig
    capacity: list[CapacityConfig] = Field(min_length=1, max_length=8)
    replicas: int = Field(default=1, ge=1, le=64)
    tensor_parallel: int | None = Field(default=None, ge=1)  # default: every chip of the replica
    image: str | None = None  # default: the engine's pinned image for this accelerator kind
    kv_cache_dtype: KvCacheDtype | None = None  # default: tpustack:engine.vllm.kvCacheDtype

    @field_validator("accelerator", mode="before")
    @classmethod
    def _accel(cls, v: Any) -> Any:
        return accelerator_shorthand(v)

    @field_validator("capacity", mode="before")
    @classmethod
    def _caps(cls, v: Any) -> Any:
        return capacity_shorthand(v)

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        return pinned_image(v)


class DisaggregationConfig(Section):
    prefill: PdRoleConfig
    decode: PdRoleConfig
    # auto: the pinned engine's connector for the roles' accelerator kind (TPUConnector / NixlConnector)
    connector: Connector = "auto"
    # always: every request is prefilled remotely; prefix-based: only when at least nonCachedTokens of the prompt
    # miss the decode pod's prefix cache (llm-d-router v0.10.0 prefix-based-pd-decider)
    decider: Decider = "prefix-based"
    non_cached_tokens: int = Field(default=512, ge=1)
    # Ports of the KV hand-off on every pod (connector env); default: the pinned connector's default
    kv_port: int | None = Field(default=None, ge=1024, le=65535)  # TPU_KV_TRANSFER_PORT (TPU only)
    side_channel_port: int | None = Field(default=None, ge=1024, le=65535)  # TPU/VLLM_NIXL side channel
    engine_port: int = Field(default=disagg.SIDECAR_ENGINE_PORT, ge=1024, le=65535)  # vLLM behind the sidecar

    def connector_name(self, kind: str) -> str:
        return disagg.DEFAULT_CONNECTOR.get(kind, "") if self.connector == "auto" else self.connector

    def ports(self, kind: str) -> dict[str, str]:
        """The connector's port variables as the pods get them (name -> value)."""
        record = disagg.CONNECTORS.get(self.connector_name(kind))
        if record is None:
            return {}
        out = dict(record.env)
        for env in out:
            if env.endswith("SIDE_CHANNEL_PORT") and self.side_channel_port is not None:
                out[env] = str(self.side_channel_port)
            elif env == "TPU_KV_TRANSFER_PORT" and self.kv_port is not None:
                out[env] = str(self.kv_port)
        return out


def pd_routing(cfg: Any) -> router.PdRouting | None:
    """The picker's P/D routing (decider, nonCachedTokens) of a disaggregated stack; None when the stack does not
    disaggregate. ``decider`` is the stack's word (``always`` | ``prefix-based``); tpustack.core.router.PD_DECIDERS
    maps it to the plugin type."""
    d: DisaggregationConfig | None = getattr(cfg, "disaggregation", None)
    if d is None:
        return None
    return router.PdRouting(decider=d.decider, non_cached_tokens=d.non_cached_tokens)
