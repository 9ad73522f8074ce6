"""Autoscaling facts: the serving metrics an HPA may scale on, and the pinned Custom Metrics Stackdriver Adapter
that serves them to the HPA (GKE docs, "Configure autoscaling for LLM workloads": Google Cloud Managed Service
for Prometheus exports the metrics to Cloud Monitoring; the adapter answers the custom/external metrics APIs).

Every metric name is from the pinned source (tests/fixtures/autoscaling/metrics.json records where;
tests/unit/config/test_autoscaling.py reads it):
- engine gauges: vLLM 0.32.0 ``vllm/v1/metrics/loggers.py`` (vllm-tpu==0.32.0 sdist; the GPU image is the same
  vLLM version): ``vllm:num_requests_waiting``, ``vllm:num_requests_running``, ``vllm:kv_cache_usage_perc``;
- endpoint picker gauges (label ``name`` = the InferencePool): ``pkg/epp/metrics/metrics.go`` of
  gateway-api-inference-extension v1.5.0 (the picker of its former inferencepool chart) and of
  llm-d-router v0.10.0 (where the picker moved; there the ``inference_pool_*`` names are deprecated in favour of
  ``llm_d_epp_*`` but still exported), so the names hold for both.
Stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import images
from .enums import StrEnum


class ScaleMetric(StrEnum):
    """What ``tpustack:autoscaling.metric`` names."""

    QUEUE = "queue"
    KV_CACHE = "kv-cache"
    RUNNING = "running"
    GATEWAY_QUEUE = "gateway-queue"
    GATEWAY_KV_CACHE = "gateway-kv-cache"


@dataclass(frozen=True, kw_only=True)
class MetricFact:
    prometheus: str  # the Prometheus metric name as the pinned source registers it (a gauge)
    source: str  # "engine" (PodMonitoring of the serving pods) or "gateway" (the endpoint picker's PodMonitoring)
    default_target: float
    meaning: str

    @property
    def adapter_name(self) -> str:
        """The name the adapter serves it under (Managed Prometheus metrics: prometheus.googleapis.com|NAME|KIND)."""
        return f"prometheus.googleapis.com|{self.prometheus}|gauge"


# Targets: kubernetes-engine-samples ai-ml/vllm-tpu/vllm-hpa.yaml scales on num_requests_waiting with 10 per pod
# (tpustack's old hpaQueueTarget default); the KV-cache gauges are fractions (1 = 100 %).
METRICS: dict[ScaleMetric, MetricFact] = {
    ScaleMetric.QUEUE: MetricFact(
        prometheus="vllm:num_requests_waiting", source="engine", default_target=10.0, meaning="requests waiting"
    ),
    ScaleMetric.RUNNING: MetricFact(
        prometheus="vllm:num_requests_running", source="engine", default_target=64.0, meaning="requests running"
    ),
    ScaleMetric.KV_CACHE: MetricFact(
        prometheus="vllm:kv_cache_usage_perc", source="engine", default_target=0.8, meaning="KV-cache use (0-1)"
    ),
    ScaleMetric.GATEWAY_QUEUE: MetricFact(
        prometheus="inference_pool_average_queue_size",
        source="gateway",
        default_target=10.0,
        meaning="the pool's average queue per pod",
    ),
    ScaleMetric.GATEWAY_KV_CACHE: MetricFact(
        prometheus="inference_pool_average_kv_cache_utilization",
        source="gateway",
        default_target=0.8,
        meaning="the pool's average KV-cache use (0-1)",
    ),
}
# The picker gauges carry the InferencePool's name in this label (metrics.go: poolLabels = []string{"name"}).
POOL_LABEL = "name"

# ----- Custom Metrics Stackdriver Adapter ------------------------------------------------------------------------
# GoogleCloudPlatform/k8s-stackdriver custom-metrics-stackdriver-adapter/deploy/production/
# adapter_new_resource_model.yaml at commit 673c7dd872a7d8b7c1a26c2af7cca7c33549efa0 (2026-08-18, "update
# custom-metrics-stackdriver-adapter image to v0.16.9-gke.0"): the manifest GKE's autoscaling docs apply.
# manifests/autoscaling/adapter.yaml.j2 renders its objects; the one change is the Workload Identity annotation
# on its KSA (the adapter reads Cloud Monitoring as a GSA with roles/monitoring.viewer).
ADAPTER_REPO = "GoogleCloudPlatform/k8s-stackdriver"
ADAPTER_COMMIT = "673c7dd872a7d8b7c1a26c2af7cca7c33549efa0"
ADAPTER_IMAGE = images.METRICS_ADAPTER.image
ADAPTER_NAMESPACE = "custom-metrics"
ADAPTER_KSA = "custom-metrics-stackdriver-adapter"
ADAPTER_ROLE = "roles/monitoring.viewer"
