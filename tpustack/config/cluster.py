"""The GKE cluster's sections of a stack config: ``tpustack:network`` and ``tpustack:gke`` with its image preload
(``tpustack.config.model.StackConfig`` assembles them beside tpustack.config.sections)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from .sections import Section, invalid


class NetworkConfig(Section):
    network: str = "default"
    subnetwork: str | None = None
    private_nodes: bool = False
    master_ipv4_cidr: str = "172.16.0.32/28"


# A Compute Engine image: NAME (the stack's project), or projects/PROJECT/global/images/NAME.
_DISK_IMAGE_RE = re.compile(
    r"(projects/(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9])/global/images/)?(?P<name>[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"
)


class ImagePreloadConfig(Section):
    """Engine images preloaded on every accelerator node from a secondary boot disk (GKE docs, "Use secondary boot
    disks to preload data or container images", mode CONTAINER_IMAGE_CACHE), so a new node does not pull them. The
    disk image is built once per project from the container images (README, "Image preload": GKE's
    gke-disk-image-builder); node pools and ComputeClasses reference it (tpustack.config.derived.preload_disk)."""

    disk_image: str  # NAME in the stack's project, or projects/PROJECT/global/images/NAME
    # The container images on the disk; default: the engine image of every serving unit of the stack.
    images: list[str] | None = Field(default=None, min_length=1, max_length=16)

    @field_validator("disk_image")
    @classmethod
    def _disk_image(cls, v: str) -> str:
        if not _DISK_IMAGE_RE.fullmatch(v):
            raise invalid(
                f"'{v}' is not a Compute Engine image name",
                "NAME (1-63 lowercase letters, digits and '-', starting with a letter) or "
                "projects/PROJECT/global/images/NAME",
            )
        return v

    def project(self, default: str) -> str:
        m = _DISK_IMAGE_RE.fullmatch(self.disk_image)
        return (m.group("project") if m else None) or default

    @property
    def name(self) -> str:
        m = _DISK_IMAGE_RE.fullmatch(self.disk_image)
        return m.group("name") if m else self.disk_image


class GkeConfig(Section):
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    min_master_version: str | None = None
    system_machine_type: str = "e2-standard-4"
    system_node_count: int = Field(default=1, ge=1, le=10)
    # Autoscaling of the accelerator pool (single-host only); None: fixed size.
    autoscaling_max_nodes: int | None = Field(default=None, ge=1)
    # GKE image streaming (gcfsConfig) on the accelerator nodes; None: on when images are preloaded (the
    # secondary boot disk's image cache needs it), else off.
    image_streaming: bool | None = None
    image_preload: ImagePreloadConfig | None = None

    @property
    def streaming(self) -> bool:
        return self.image_streaming if self.image_streaming is not None else self.image_preload is not None
