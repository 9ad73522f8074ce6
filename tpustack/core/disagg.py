"""Prefill/decode disaggregation facts: the KV connectors of the pinned engines and the llm-d routing sidecar.

Every fact is read from a pinned artifact (tests/fixtures/disaggregation/README.md lists them):
  tpu-inference 0.32.0 wheel   tpu_inference/platforms/tpu_platform.py (allowed kv_connector names on TPU),
                               tpu_inference/distributed/tpu_connector.py (kv_producer binds the side channel and
                               the JAX transfer server; the consumer pulls with its own KV shape and sharding),
                               tpu_inference/distributed/utils.py (TPU_KV_TRANSFER_PORT=9100,
                               TPU_SIDE_CHANNEL_PORT=9600), tpu_connector_hma.py (TPUConnectorHMA, hybrid models)
  vllm 0.32.0 wheel            distributed/kv_transfer/kv_connector/factory.py (NixlConnector registered),
                               config/kv_transfer.py (kv_role kv_producer | kv_consumer | kv_both), envs.py
                               (VLLM_NIXL_SIDE_CHANNEL_HOST default localhost, VLLM_NIXL_SIDE_CHANNEL_PORT 5600),
                               nixl/tp_mapping.py (heterogeneous TP: tp_size // remote_tp_size, so one TP must
                               divide the other)
  llm-d/llm-d-router v0.10.0   pkg/sidecar/proxy/options.go (flags --port default 8000, --model-server-port
                               default 8200, --kv-connector nixlv2|shared-storage|sglang|mooncake|offloading,
                               --secure-proxy default true), proxy.go (GET /health answered by the sidecar, "/" and
                               so /metrics proxied to the model server), .github/workflows/ci-release.yaml (image
                               <registry>/llm-d-router-disagg-sidecar:<tag>)
Stdlib only: pods import tpustack.core.
"""

from __future__ import annotations

from dataclasses import dataclass

from .router import PD_DECIDERS, ROUTER_REGISTRY, ROUTER_VERSION


@dataclass(frozen=True, kw_only=True)
class KvConnector:
    name: str  # kv_connector in --kv-transfer-config
    kind: str  # accelerator kind it runs on: tpu | gpu
    module_path: str | None  # kv_connector_module_path (None: registered with vLLM's KVConnectorFactory)
    producer_role: str  # kv_role of the prefill pods
    consumer_role: str  # kv_role of the decode pods
    env: dict[str, str]  # port variables -> the pinned default
    tp: str  # which prefill/decode tensor-parallel pairs the pinned connector handles: "equal" | "divisible"
    source: str


TPU_CONNECTOR = KvConnector(
    name="TPUConnector",
    kind="tpu",
    module_path="tpu_inference.distributed.tpu_connector",
    producer_role="kv_producer",
    consumer_role="kv_consumer",
    env={"TPU_KV_TRANSFER_PORT": "9100", "TPU_SIDE_CHANNEL_PORT": "9600"},
    # The consumer pulls arrays shaped and sharded as its own KV cache (_get_kv_spec); nothing in 0.32.0 reshards
    # across tensor-parallel sizes, so both roles must use the same one.
    tp="equal",
    source="tpu-inference 0.32.0 tpu_inference/distributed/{tpu_connector,utils}.py",
)
TPU_CONNECTOR_HMA = KvConnector(
    name="TPUConnectorHMA",
    kind="tpu",
    module_path="tpu_inference.distributed.tpu_connector_hma",
    producer_role="kv_producer",
    consumer_role="kv_consumer",
    env=dict(TPU_CONNECTOR.env),
    tp="equal",
    source="tpu-inference 0.32.0 tpu_inference/distributed/tpu_connector_hma.py (subclasses TPUConnector)",
)
NIXL_CONNECTOR = KvConnector(
    name="NixlConnector",
    kind="gpu",
    module_path=None,
    producer_role="kv_both",
    consumer_role="kv_both",
    env={"VLLM_NIXL_SIDE_CHANNEL_PORT": "5600"},
    tp="divisible",
    source="vllm 0.32.0 envs.py, distributed/kv_transfer/kv_connector/{factory.py,v1/nixl/tp_mapping.py}",
)
CONNECTORS = {c.name: c for c in (TPU_CONNECTOR, TPU_CONNECTOR_HMA, NIXL_CONNECTOR)}
DEFAULT_CONNECTOR = {"tpu": TPU_CONNECTOR.name, "gpu": NIXL_CONNECTOR.name}
# The side-channel host the NIXL handshake binds (vllm envs.py; default "localhost" is unreachable from the peer):
# the pod's own IP from the downward API.
NIXL_SIDE_CHANNEL_HOST_ENV = "VLLM_NIXL_SIDE_CHANNEL_HOST"

# The routing sidecar (llm-d-router v0.10.0 cmd/pd-sidecar) in front of each decode server.
SIDECAR_IMAGE = f"{ROUTER_REGISTRY}/llm-d-router-disagg-sidecar:v{ROUTER_VERSION}"
SIDECAR_ENGINE_PORT = 8200  # --model-server-port default: where vLLM listens behind the sidecar
# The sidecar's P->D protocol: prefill with max_tokens 1, then decode with the prefill response's kv_transfer_params
# (connector_nixlv2.go). TPUConnector's producer returns its pull address (uuid, remote_host, remote_port,
# remote_block_ids) in the same kv_transfer_params, so nixlv2 is the protocol for both connectors.
SIDECAR_KV_CONNECTOR = "nixlv2"
SIDECAR_HEALTH_PATH = "/health"

# The picker's P/D deciders (llm-d-router v0.10.0 pkg/epp/framework/plugins/scheduling/profilehandler/disagg):
# what a stack types -> the plugin type.
DECIDERS = PD_DECIDERS
