"""The pinned llm-d-router release: where GKE Inference Gateway's endpoint picker lives since the Gateway API
Inference Extension v1.6.0 removed it (and its ``inferencepool`` chart) from that project.

llm-d/llm-d-router v0.10.0 (tag commit 71f4f0999f95b96c49a9d0c4afbd18dfdb943c26, 2026-08-17) ships the endpoint
picker (EPP, ``cmd/epp``), the prefill/decode routing sidecar (``cmd/pd-sidecar``) and the charts
``config/charts/llm-d-router-gateway`` / ``routerlib``. Images are published under ``ghcr.io/llm-d`` (Makefile
``IMAGE_REGISTRY``). Stdlib only: pods import tpustack.core.
"""

from __future__ import annotations

ROUTER_REPO = "llm-d/llm-d-router"
ROUTER_VERSION = "0.10.0"
ROUTER_COMMIT = "71f4f0999f95b96c49a9d0c4afbd18dfdb943c26"
ROUTER_REGISTRY = "ghcr.io/llm-d"  # Makefile IMAGE_REGISTRY at v0.10.0

# The pod label the picker's prefill/decode filters read (pkg/epp/framework/plugins/scheduling/filter/bylabel at
# v0.10.0): prefill-filter keeps `prefill` (and combined roles), decode-filter keeps `decode` and unlabelled pods.
ROLE_LABEL = "llm-d.ai/role"
