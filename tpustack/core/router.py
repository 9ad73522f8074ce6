"""The pinned llm-d-router release: where GKE Inference Gateway's endpoint picker lives since the Gateway API
Inference Extension v1.6.0 removed it (and its ``inferencepool`` chart) from that project.

llm-d/llm-d-router v0.10.0 (tag commit 71f4f0999f95b96c49a9d0c4afbd18dfdb943c26, 2026-08-17) ships the endpoint
picker (EPP, ``cmd/epp``), the prefill/decode routing sidecar (``cmd/pd-sidecar``) and the charts
``config/charts/llm-d-router-gateway`` / ``routerlib``. Images are published under ``ghcr.io/llm-d`` (Makefile
``IMAGE_REGISTRY``). Stdlib only: pods import tpustack.core.
"""

from __future__ import annotations

from dataclasses import dataclass

ROUTER_REPO = "llm-d/llm-d-router"
ROUTER_VERSION = "0.10.0"
ROUTER_COMMIT = "71f4f0999f95b96c49a9d0c4afbd18dfdb943c26"
ROUTER_REGISTRY = "ghcr.io/llm-d"  # Makefile IMAGE_REGISTRY at v0.10.0

# The pod label the picker's prefill/decode filters read (pkg/epp/framework/plugins/scheduling/filter/bylabel at
# v0.10.0): prefill-filter keeps `prefill` (and combined roles), decode-filter keeps `decode` and unlabelled pods.
ROLE_LABEL = "llm-d.ai/role"

# ----- the gateway chart (config/charts/llm-d-router-gateway, with its routerlib dependency aliased `router`) -------
# hack/push-chart.sh at v0.10.0: the release pushes `helm package --version ${EXTRA_TAG}` (the tag, v0.10.0) to
# oci://${IMAGE_REGISTRY}/charts, and pins router.epp.image to ${IMAGE_REGISTRY}/llm-d-router-endpoint-picker:${tag}
# (IfNotPresent) in the packaged values. .github/ISSUE_TEMPLATE/new-release.md names the same chart and image.
ROUTER_CHART = f"oci://{ROUTER_REGISTRY}/charts/llm-d-router-gateway"
ROUTER_CHART_VERSION = f"v{ROUTER_VERSION}"
EPP_IMAGE_REPOSITORY = "llm-d-router-endpoint-picker"
EPP_IMAGE_TAG = f"v{ROUTER_VERSION}"
# routerlib templates/_helpers.tpl: the picker's Deployment/Service is "<release>-epp"; templates/_inferencepool.yaml:
# endpointPickerRef.port = router.epp.extProcPort (9002), failureMode = router.inferencePool.failureMode (FailOpen).
EPP_SUFFIX = "-epp"
EPP_PORT = 9002
EPP_FAILURE_MODE = "FailOpen"
# The InferencePool stays the Inference Extension's (inference.networking.k8s.io/v1; GKE installs its CRD). The
# InferenceObjective moved to llm-d.ai/v1alpha2 (apix/v1alpha2, config/crd/bases/llm-d.ai_inferenceobjectives.yaml);
# the picker still reads the legacy inference.networking.x-k8s.io group but logs it as deprecated and ignores it when
# both CRDs are installed (pkg/epp/server/controller_config.go).
POOL_API = "inference.networking.k8s.io/v1"
OBJECTIVE_API = "llm-d.ai/v1alpha2"
OBJECTIVE_CRD = f"https://raw.githubusercontent.com/{ROUTER_REPO}/v{ROUTER_VERSION}/config/crd/bases/llm-d.ai_inferenceobjectives.yaml"

# ----- the picker's configuration (EndpointPickerConfig) ---------------------------------------------------------
# apix/config/v1alpha1 (+groupName=llm-d.ai); the chart writes router.epp.pluginsCustomConfig into the picker's
# ConfigMap and passes --config-file /config/<router.epp.pluginsConfigFile> (routerlib templates/_config.yaml,
# _deployment.yaml).
PICKER_CONFIG_API = "llm-d.ai/v1alpha1"
PICKER_CONFIG_KIND = "EndpointPickerConfig"
PICKER_CONFIG_FILE = "tpustack-plugins.yaml"
# The chart's own default-plugins.yaml weights (routerlib templates/_config.yaml at v0.10.0).
CHART_SCORER_WEIGHTS = {"queue-scorer": 2.0, "kv-cache-utilization-scorer": 2.0, "prefix-cache-scorer": 3.0}
# Plugin type names (cmd/epp/runner/runner.go registerInTreePlugins; tests/fixtures/router/ lists every one
# registered at the pinned commit with its file).
QUEUE_SCORER = "queue-scorer"
KV_UTILIZATION_SCORER = "kv-cache-utilization-scorer"
PREFIX_SCORER = "prefix-cache-scorer"
APPROX_PREFIX_PRODUCER = "approx-prefix-cache-producer"
PRECISE_PREFIX_PRODUCER = "precise-prefix-cache-producer"
TOKEN_PRODUCER = "token-producer"
ENDPOINT_NOTIFICATION_SOURCE = "endpoint-notification-source"
PREFILL_FILTER = "prefill-filter"
DECODE_FILTER = "decode-filter"
DISAGG_PROFILE_HANDLER = "disagg-profile-handler"
MAX_SCORE_PICKER = "max-score-picker"
# The scorers a stack may weigh (tpustack:gateway.routing.scorers).
SCORERS = (QUEUE_SCORER, KV_UTILIZATION_SCORER, PREFIX_SCORER)
# approx-prefix-cache-producer defaults (dataproducer/approximateprefix/types.go, plugin.go defaultConfig); block
# sizes under 64 tokens are clamped up at request time (minBlockSizeTokens, issue #1158).
APPROX_MIN_BLOCK_SIZE_TOKENS = 64
# precise-prefix-cache-producer: the picker subscribes to each pod's ZMQ KV-event publisher on this port
# (pkg/kvevents/pool.go DefaultPodReconcilerConfig SocketPort 5557, TopicFilter "kv@"; topics are
# "kv@<pod-id>@<model>", pkg/kvevents/engineadapter/common.go parseTopic).
KV_EVENTS_PORT = 5557
KV_EVENTS_TOPIC_PREFIX = "kv@"
# The tokenizer sidecar the chart runs beside the picker (router.tokenizer.*): `vllm launch render <model>` on
# loopback port 8000 (routerlib values.yaml); token-producer reaches it through parameters.vllm.url.
TOKENIZER_URL = "http://localhost:8000"


# ----- prefill/decode routing (tpustack:disaggregation wires it) -----------------------------------------------------
# scheduling/profilehandler/disagg at v0.10.0: disagg-profile-handler runs the decode profile, then the
# prefill profile when its prefill decider approves; always-disagg-pd-decider always does, prefix-based-pd-decider
# when the uncached part of the prompt is at least nonCachedTokens (0 disables it).
# Keyed by the word a stack types (tpustack:disaggregation.decider).
PD_DECIDERS = {"always": "always-disagg-pd-decider", "prefix-based": "prefix-based-pd-decider"}
PREFILL_PROFILE = "prefill"
DECODE_PROFILE = "decode"


@dataclass(frozen=True)
class PdRouting:
    """How the picker splits a request over prefill and decode pods: its decider ("always", or
    "prefix-based" with the uncached-token threshold that triggers the split)."""

    decider: str
    non_cached_tokens: int

    def __post_init__(self) -> None:
        if self.decider not in PD_DECIDERS:
            raise ValueError(f"PdRouting.decider {self.decider!r}: one of {', '.join(PD_DECIDERS)}")
        if self.non_cached_tokens < 0:
            raise ValueError("PdRouting.non_cached_tokens must be >= 0 (0 disables the prefix-based decider)")

    @property
    def decider_type(self) -> str:
        return PD_DECIDERS[self.decider]


# Engines whose pods publish KV-cache events the precise index reads: vLLM (vllm/config/kv_events.py and
# vllm/distributed/kv_events.py at 0.32.0, `--kv-events-config`; the TPU build keeps vLLM's block pool, whose
# events tpu-inference 0.32.0 tpu_inference/core/hybrid_coordinator.py forwards: enable_kv_cache_events,
# kv_event_queue). JetStream publishes none.
KV_EVENTS_ENGINES = frozenset({"vllm"})
# The flag (vllm/engine/arg_utils.py at 0.32.0; tests/unit/render/test_picker_config.py finds it in the vllm-tpu
# wheel). Kept here, not in tpustack.core.images, so the pod code every stack ships stays unchanged.
VLLM_KV_EVENTS_FLAG = "--kv-events-config"
