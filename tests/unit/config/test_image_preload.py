"""Image preload (issue 20, item 2): the engine images on a secondary boot disk, referenced by the accelerator node
pools (pulumi-gcp NodePool nodeConfig.secondaryBootDisks + gcfsConfig) and by every ComputeClass priority
(priorities[].storage.secondaryBootDisks, nodePoolConfig.imageStreaming), checked against pulumi-gcp's own input
types and the pinned ComputeClass schema; bad preload configs are refused with field and fix."""

from __future__ import annotations

import copy

import pulumi_gcp as gcp
import pytest

from tpustack.config import derived
from tpustack.config.cold_start import unit_estimate
from tpustack.config.rules import stack as stack_rules
from tpustack.render import schema

from helpers.project import BASE, by_type, edited, load, named, plan_config, planned, problems_of, rendered

POOL = "gcp:container/nodePool:NodePool"
DISK = "tpustack-vllm-tpu-v0-32-0"
VARIANTS = [
    {"name": "tpu", "accelerator": "v6e-4", "capacity": ["spot", "on-demand"], "replicas": 1},
    {"name": "gpu", "accelerator": "h100-1", "capacity": ["spot"], "replicas": 1},
]


def doc(**over) -> dict:
    return edited(BASE, **over)


def config(**over):
    return load(doc(**over))


def problems(**over) -> list[str]:
    return problems_of(doc(**over))


def accel_pool(p) -> dict:
    (pool,) = [r for r in by_type(p, POOL) if r.inputs.get("name") != "system"]
    return pool.inputs["nodeConfig"]


class TestNodePool:
    def test_pool_attaches_the_disk_as_image_cache_and_streams(self):
        node = accel_pool(plan_config(doc(gke={"imagePreload": {"diskImage": DISK}})))
        assert node["secondaryBootDisks"] == [
            {"diskImage": f"projects/my-tpu-project/global/images/{DISK}", "mode": "CONTAINER_IMAGE_CACHE"}
        ]
        assert node["gcfsConfig"] == {"enabled": True}

    def test_an_image_of_another_project_keeps_its_project(self):
        disk = "projects/images-prj/global/images/vllm-disk"
        node = accel_pool(plan_config(doc(gke={"imagePreload": {"diskImage": disk}})))
        assert node["secondaryBootDisks"][0]["diskImage"] == disk

    def test_without_preload_nothing_changes(self):
        node = accel_pool(plan_config(doc()))
        assert "secondaryBootDisks" not in node and "gcfsConfig" not in node

    def test_streaming_alone(self):
        node = accel_pool(plan_config(doc(gke={"imageStreaming": True})))
        assert node["gcfsConfig"] == {"enabled": True} and "secondaryBootDisks" not in node

    def test_the_fields_are_pulumi_gcps_own(self):
        # The mock engine passes any key through; the input types of the pinned pulumi-gcp name the real ones.
        node_keys = gcp.container.NodePoolNodeConfigArgsDict.__annotations__
        assert {"secondary_boot_disks", "gcfs_config"} <= set(node_keys)
        assert set(gcp.container.NodePoolNodeConfigSecondaryBootDiskArgsDict.__annotations__) == {"disk_image", "mode"}
        assert set(gcp.container.NodePoolNodeConfigGcfsConfigArgsDict.__annotations__) == {"enabled"}

    def test_the_shipped_autoscale_stack_preloads(self):
        node = accel_pool(planned("gke-vllm-v6e-autoscale"))
        assert node["secondaryBootDisks"][0]["mode"] == derived.PRELOAD_MODE
        assert node["gcfsConfig"] == {"enabled": True}


class TestComputeClass:
    def classes(self, r) -> list[dict]:
        return [o for o in r.objects() if o["kind"] == "ComputeClass"]

    def test_every_priority_carries_the_disk_and_the_schema_takes_it(self):
        ccs = self.classes(rendered("gke-vllm-any"))
        assert len(ccs) == 2
        for cc in ccs:
            assert cc["spec"]["nodePoolConfig"]["imageStreaming"] == {"enabled": True}
            for prio in cc["spec"]["priorities"]:
                assert prio["storage"]["secondaryBootDisks"] == [
                    {
                        "diskImageName": "tpustack-vllm-v0-32-0",
                        "project": "my-tpu-project",
                        "mode": "CONTAINER_IMAGE_CACHE",
                    }
                ]
            assert not list(schema.crd_errors(cc) or ["no schema"]), cc

    def test_the_schema_refuses_a_misspelt_disk_field(self):
        (cc, *_) = self.classes(rendered("gke-vllm-any"))
        bad = copy.deepcopy(cc)
        bad["spec"]["priorities"][0]["storage"]["secondaryBootDisks"][0]["diskImage"] = "x"
        assert list(schema.crd_errors(bad) or [])


class TestEstimate:
    def test_a_preloaded_image_pulls_nothing(self):
        cfg = config(gke={"imagePreload": {"diskImage": DISK}})
        est = unit_estimate(cfg, cfg.units[0])
        assert est is not None and est.image_preloaded
        assert [p.seconds for p in est.phases if p.name == "image_pulled"] == [0.0]

    def test_only_the_images_on_the_disk_are_preloaded(self):
        cfg = config(gke={"imagePreload": {"diskImage": DISK, "images": ["vllm/vllm-tpu:v0.32.0"]}})
        assert derived.image_preloaded(cfg, "docker.io/vllm/vllm-tpu:v0.32.0")
        assert not derived.image_preloaded(cfg, "docker.io/vllm/vllm-openai:v0.32.0")
        assert not derived.image_preloaded(cfg, "us-docker.pkg.dev/p/r/vllm/vllm-tpu:v0.32.0")

    def test_image_refs_resolve_as_containerd_does(self):
        assert derived.image_ref("busybox:1") == "docker.io/library/busybox:1"
        assert derived.image_ref("docker.io/vllm/vllm-tpu:v0.32.0") == "docker.io/vllm/vllm-tpu:v0.32.0"
        assert derived.image_ref("localhost:5000/x:1") == "localhost:5000/x:1"


class TestBadPreload:
    @pytest.mark.parametrize("bad", ["Bad_Name", "projects/x/images/y", "1disk", "a" * 64, ""])
    def test_disk_image_names(self, bad):
        named(problems(gke={"imagePreload": {"diskImage": bad}}), "tpustack:gke.imagePreload.diskImage", "Fix")

    def test_wrong_type(self):
        named(problems(gke={"imagePreload": "tpustack-disk"}), "tpustack:gke.imagePreload")

    def test_streaming_off_with_a_preload(self):
        lines = problems(gke={"imagePreload": {"diskImage": DISK}, "imageStreaming": False})
        named(lines, "tpustack:gke.imageStreaming", "image streaming")

    def test_a_disk_without_the_stacks_images(self):
        lines = problems(gke={"imagePreload": {"diskImage": DISK, "images": ["busybox:1"]}})
        named(lines, "tpustack:gke.imagePreload.images", "vllm/vllm-tpu:v0.32.0")

    def test_not_on_a_tpu_vm(self):
        lines = problems(target="tpu-vm", engine=None, benchmark=None, gke={"imagePreload": {"diskImage": DISK}})
        named(lines, "tpustack:gke.imagePreload", "tpu-vm")

    @pytest.mark.parametrize("channel", ["RAPID", "REGULAR", "STABLE"])
    def test_every_channel_runs_a_gke_that_preloads(self, channel):
        # GKE docs data-container-image-preloading: COS containerd from 1.30.1-gke.1329000
        assert stack_rules.gke_at_least(config(gke={"releaseChannel": channel}), stack_rules.GKE_FOR_IMAGE_PRELOAD)
