"""The weight paths of a gs:// model (tpustack.core.weights) against the pinned artifacts: every gcsfuse mount option,
CSI volume attribute and pod annotation the rendered stacks use is one the driver and gcsfuse define
(tests/fixtures/gcsfuse/facts.json, recorded from gcs-fuse-csi-driver and gcsfuse at the commits it names), and the
Run:ai streamer path is what vllm 0.32.0, tpu-inference 0.32.0 and vLLM's image build provide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tpustack import render
from tpustack.config import derived
from tpustack.core import images, weights

from helpers import artifacts
from helpers.project import BASE, GKE_STACKS, edited, load, rendered, vllm_pods

FACTS = json.loads((Path(__file__).parents[1] / "fixtures" / "gcsfuse" / "facts.json").read_text())
BY_PATH = {p["config-path"]: p for p in FACTS["params"] if p.get("config-path")}
BY_FLAG = {p["flag-name"]: p for p in FACTS["params"]}
GCS_MODEL = {"id": "gs://weights-bucket/llama-3.1-8b", "paramsB": 8.03, "contextLength": 131072}


def driver_option(opt: str) -> tuple[dict | None, str]:
    """(gcsfuse param, value) of one mountOptions entry, split as the CSI driver does (pkg/sidecar_mounter/
    sidecar_mounter_config.go): without '=' and with ':' a config-file key split at its last ':', else a CLI flag."""
    if "=" not in opt and ":" in opt:
        key, _, value = opt.rpartition(":")
        return BY_PATH.get(key.replace(":", ".")), value
    flag, _, value = opt.partition("=")
    return BY_FLAG.get(flag), value or "true"


def value_fits(param: dict, value: str) -> bool:
    if param["type"] == "int":
        return value.lstrip("-").isdigit()
    if param["type"] == "bool":
        return value in ("true", "false")
    return bool(value)


def gcsfuse_volumes(objs: list[dict]) -> list[dict]:
    out = []
    for o in objs:
        spec = o.get("spec", {})
        pods = [spec.get("template", {}).get("spec", {})]
        lws = spec.get("leaderWorkerTemplate", {})
        pods += [lws.get(k, {}).get("spec", {}) for k in ("leaderTemplate", "workerTemplate")]
        for pod in pods:
            out += [v for v in pod.get("volumes", []) if v.get("csi", {}).get("driver") == "gcsfuse.csi.storage.gke.io"]
    return out


def stack(**over):
    return load(edited(BASE, **{"model": GCS_MODEL, "hfToken": None, **over}))


# ----- GCS FUSE -----------------------------------------------------------------------------------------------------
class TestGcsFuse:
    @pytest.mark.parametrize("opt", weights.mount_options("llama").split(","))
    def test_every_mount_option_is_a_gcsfuse_option_of_its_type(self, opt):
        param, value = driver_option(opt)
        assert param is not None, f"gcsfuse has no option {opt!r}"
        assert value_fits(param, value), (opt, param["type"])
        assert not param.get("deprecated") and not param.get("hide-flag"), param

    def test_a_misspelt_or_mistyped_option_is_caught(self):
        assert driver_option("file-cache:enable-paralel-downloads:true")[0] is None
        assert driver_option("implicit-dir")[0] is None
        param, value = driver_option("file-cache:download-chunk-size-mb:ten")
        assert param is not None and not value_fits(param, value)

    def test_the_options_contain_no_comma_and_scope_to_the_prefix(self):
        opts = weights.mount_options("llama/8b").split(",")
        assert "only-dir=llama/8b" in opts and len(opts) == len(weights.MODEL_MOUNT_OPTIONS) + 1

    def test_rendered_volumes_use_only_the_drivers_attributes(self):
        known = set(FACTS["volume_attributes"]) | set(FACTS["webhook_volume_attributes"])
        cfg = stack(gke={"releaseChannel": "RAPID"})
        vols = gcsfuse_volumes(render.render(cfg).objects())
        model = [v for v in vols if v["name"] == "model"]
        assert model and all(v["csi"]["readOnly"] is True for v in model)
        for v in vols:
            attrs = v["csi"]["volumeAttributes"]
            assert set(attrs) <= known, set(attrs) - known
            for opt in attrs["mountOptions"].split(","):
                assert driver_option(opt)[0] is not None, opt
        assert weights.METADATA_PREFETCH_ATTRIBUTE in FACTS["webhook_volume_attributes"]
        assert model[0]["csi"]["volumeAttributes"][weights.METADATA_PREFETCH_ATTRIBUTE] == "true"

    def test_shipped_stacks_use_only_the_webhooks_annotations_and_attributes(self):
        known = set(FACTS["volume_attributes"]) | set(FACTS["webhook_volume_attributes"])
        for name in GKE_STACKS:
            objs = rendered(name).objects()
            for v in gcsfuse_volumes(objs):
                assert set(v["csi"]["volumeAttributes"]) <= known, (name, v)
            for o in objs:
                tmpl = o.get("spec", {}).get("template", {}).get("metadata", {})
                ann = {k for k in tmpl.get("annotations", {}) if k.startswith("gke-gcsfuse/")}
                assert ann <= set(FACTS["pod_annotations"]), (name, ann - set(FACTS["pod_annotations"]))

    @pytest.mark.parametrize("channel", sorted(derived.CHANNEL_MINOR))
    def test_every_channel_has_parallel_downloads(self, channel):
        cfg = stack(gke={"releaseChannel": channel})
        assert derived.gke_at_least(cfg, weights.GKE_FOR_PARALLEL_DOWNLOADS)

    def test_prefetch_only_where_the_cluster_is_sure_to_have_it(self):
        # STABLE runs 1.32: not sure to be 1.32.1-gke.1357001 unless minMasterVersion says so
        assert not derived.gke_at_least(stack(gke={"releaseChannel": "STABLE"}), weights.GKE_FOR_METADATA_PREFETCH)
        pinned = stack(gke={"releaseChannel": "STABLE", "minMasterVersion": "1.32.2-gke.1000000"})
        assert derived.gke_at_least(pinned, weights.GKE_FOR_METADATA_PREFETCH)


# ----- Run:ai model streamer ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vllm_wheel() -> artifacts.Archive:
    return artifacts.Archive(artifacts.pypi_file("vllm-tpu", images.VLLM_VERSION, "bdist_wheel"))


@pytest.fixture(scope="module")
def vllm_sdist() -> artifacts.Archive:
    return artifacts.Archive(artifacts.pypi_file("vllm-tpu", images.VLLM_VERSION, "sdist"))


@pytest.fixture(scope="module")
def tpu_inference() -> artifacts.Archive:
    return artifacts.Archive(artifacts.pypi_file("tpu-inference", images.VLLM_VERSION, "bdist_wheel"))


class TestRunaiStreamer:
    def test_the_load_format_streams_gs_uris(self, vllm_wheel):
        loaders = vllm_wheel.read("vllm/model_executor/model_loader/__init__.py")
        assert f'"{weights.RUNAI_LOAD_FORMAT}": RunaiModelStreamerLoader' in loaders
        assert '"gs://"' in vllm_wheel.read("vllm/transformers_utils/runai_utils.py")
        assert "--load-format" in images.VLLM_TPU.flags  # so test_engine_facts checks the flag in EngineArgs

    def test_the_tpu_build_registers_its_loader_and_carries_the_gcs_streamer(self, tpu_inference):
        loader = tpu_inference.read("tpu_inference/models/vllm/vllm_model_loader.py")
        assert f'@register_model_loader("{weights.RUNAI_LOAD_FORMAT}")' in loader
        meta = next(n for n in tpu_inference.names if n.endswith(".dist-info/METADATA"))
        requires = [ln for ln in tpu_inference.read(meta).splitlines() if ln.startswith("Requires-Dist: runai-model")]
        assert requires and "gcs" in requires[0] and "extra ==" not in requires[0], requires

    def test_the_gpu_image_installs_the_gcs_streamer(self, vllm_sdist):
        dockerfile = vllm_sdist.read("docker/Dockerfile")
        assert '"runai-model-streamer[s3,gcs,azure]' in dockerfile

    def test_the_engine_images_carry_what_the_staging_job_imports(self, vllm_wheel, tpu_inference):
        """The stage-weights Job runs tpustack's pod code in the engine image and imports huggingface_hub (a vllm
        dependency) and google-cloud-storage (tpu-inference's; on GPU through runai-model-streamer[gcs], installed
        by vLLM's Dockerfile, checked above)."""

        def requires(archive: artifacts.Archive) -> list[str]:
            meta = next(n for n in archive.names if n.endswith(".dist-info/METADATA"))
            return [
                ln.split()[1].lower().replace("_", "-")
                for ln in archive.read(meta).splitlines()
                if ln.startswith("Requires-Dist: ")
            ]

        assert any(r.startswith("huggingface-hub") for r in requires(vllm_wheel))
        assert any(r.startswith("google-cloud-storage") for r in requires(tpu_inference))

    def test_a_streamed_server_reads_gs_and_mounts_nothing(self):
        cfg = stack(accelerator="h100-1")
        assert derived.weight_path(cfg, cfg.units[0]) == weights.RUNAI_STREAMER
        objs = render.render(cfg).objects()
        (pod,) = vllm_pods(objs)
        (server,) = [c for c in pod["containers"] if c["name"] == "vllm"]
        assert GCS_MODEL["id"] in server["args"] and f"--load-format={weights.RUNAI_LOAD_FORMAT}" in server["args"]
        assert not [v for v in gcsfuse_volumes(objs) if v["name"] == "model"]
