"""How a vLLM pod gets its weights (tpustack.core.weights, the path chosen by tpustack.config.derived.weight_path):
a Hugging Face id is downloaded into a scratch dir (--download-dir); a gs:// model (or one staged there by the
staging Job, model.stage) is mounted through GCS FUSE,
tuned for loading, or streamed by vLLM itself (--load-format runai_streamer, the URI as the model)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tpustack.config import derived
from tpustack.config.model import StackConfig
from tpustack.config.units import ServingUnit
from tpustack.core import names, weights
from tpustack.core.engines import EngineName

WEIGHTS_PATH = "/data"  # --download-dir, as the GKE vLLM TPU sample
MODEL_MOUNT_PATH = "/models"


@dataclass(frozen=True, kw_only=True)
class GcsMount:
    bucket: str
    path: str  # where the pod sees it
    mount_options: str
    attributes: dict[str, str] = field(default_factory=dict)  # CSI volumeAttributes beside bucketName, mountOptions


@dataclass(frozen=True, kw_only=True)
class ScratchDir:
    path: str
    size: str


@dataclass(frozen=True, kw_only=True)
class Weights:
    mount: GcsMount | None  # the model bucket over GCS FUSE
    download: ScratchDir | None  # where vLLM downloads a Hub model
    model_arg: str  # vllm serve MODEL
    served_name: str | None  # --served-model-name: a gs:// model is served under its last path element
    load_format: str | None  # --load-format


def vllm_weights(cfg: StackConfig, unit: ServingUnit) -> Weights:
    model = cfg.model
    if model is None or unit.engine is None or unit.engine.name is not EngineName.VLLM:
        return Weights(
            mount=None, download=None, model_arg=model.id if model else "", served_name=None, load_format=None
        )
    path = derived.weight_path(cfg, unit)
    if path == weights.HUB:
        gib = cfg.served.weights_gib if cfg.served else 0.0
        scratch = ScratchDir(path=WEIGHTS_PATH, size=f"{math.ceil(gib * 1.1) + 1}Gi")
        return Weights(mount=None, download=scratch, model_arg=model.id, served_name=None, load_format=None)
    uri = model.weights_uri or model.id
    bucket, prefix = names.gcs_split(uri)
    # a staged Hub model keeps its id as the served name (clients and the gateway ask for it by that name)
    served = model.id if model.stage else (prefix.rstrip("/").rsplit("/", 1)[-1] or bucket)
    if path == weights.RUNAI_STREAMER:
        return Weights(
            mount=None, download=None, model_arg=uri, served_name=served, load_format=weights.RUNAI_LOAD_FORMAT
        )
    prefetch = derived.gke_at_least(cfg, weights.GKE_FOR_METADATA_PREFETCH)
    mount = GcsMount(
        bucket=bucket,
        path=MODEL_MOUNT_PATH,
        mount_options=weights.mount_options(prefix),
        attributes=weights.volume_attributes(prefetch),
    )
    return Weights(mount=mount, download=None, model_arg=MODEL_MOUNT_PATH, served_name=served, load_format=None)
