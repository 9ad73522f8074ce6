"""KV cache offload (engine.vllm.kvOffloadGib, tpustack.core.offload) against the pinned engines: vLLM 0.32.0's
native offloading flag on GPU, tpu-inference 0.32.0's TPUOffloadConnector and its chunk count on TPU (the block
size computed by tpu-inference's own functions, run from the wheel), and the node-memory rules."""

from __future__ import annotations

import ast
import json
import math

import pytest

from tpustack import render
from tpustack.core import images, offload

from helpers import artifacts
from helpers.project import BASE, ROOT, edited, load, named, problems_of, vllm_pods


@pytest.fixture(scope="module")
def vllm_wheel() -> artifacts.Archive:
    return artifacts.Archive(artifacts.pypi_file("vllm-tpu", images.VLLM_VERSION, "bdist_wheel"))


@pytest.fixture(scope="module")
def tpu_inference() -> artifacts.Archive:
    return artifacts.Archive(artifacts.pypi_file("tpu-inference", images.VLLM_VERSION, "bdist_wheel"))


KEY = "tpustack:engine.vllm.kvOffloadGib"


def doc(accelerator="v6e-8", **vllm) -> dict:
    return edited(BASE, accelerator=accelerator, engine={"name": "vllm", "vllm": vllm})


def stack(accelerator="v6e-8", **vllm):
    return load(doc(accelerator, **vllm))


def server(cfg) -> tuple[dict, dict]:
    (pod,) = vllm_pods(render.render(cfg).objects())
    return next(c for c in pod["containers"] if c["name"] == "vllm"), pod


def refused(cfg_kwargs: dict, *words: str) -> None:
    named(problems_of(doc(**cfg_kwargs)), KEY, *words)


def pd_doc() -> dict:
    """The shipped TPU P/D stack as an in-memory config."""
    import yaml

    d = yaml.safe_load((ROOT / "stacks" / "Pulumi.gke-vllm-v6e-pd.yaml").read_text())["config"]
    d["tpustack:hfToken"] = "[secret:tpustack:hfToken]"
    return d


# ----- the engines ----------------------------------------------------------------------------------------------
class TestPinnedEngines:
    def test_vllm_sizes_native_offload_in_gib_over_all_ranks(self, vllm_wheel):
        cache = vllm_wheel.read("vllm/config/cache.py")
        assert "kv_offloading_size: float | None = None" in cache
        assert "Size of the KV cache offloading buffer in GiB" in cache and "summed across all TP ranks" in cache
        assert '"cpu_bytes_to_use"' in vllm_wheel.read("vllm/config/vllm.py")
        assert offload.VLLM_OFFLOAD_FLAG in images.VLLM_GPU.flags  # test_engine_facts checks it in EngineArgs
        # the CUDA buffer lives in /dev/shm and vLLM refuses to start without room there
        region = vllm_wheel.read("vllm/v1/kv_offload/cpu/shared_offload_region.py")
        assert (
            'self.mmap_path = f"/dev/shm/vllm_offload_{engine_id}.mmap"' in region and "check_shm_free_space(" in region
        )
        shm = vllm_wheel.read("vllm/distributed/device_communicators/shm_broadcast.py")
        assert 'f"Insufficient space in {shm_path} for {allocation_name}: "' in shm

    def test_the_tpu_connector_and_its_sizing_exist(self, tpu_inference):
        conn = tpu_inference.read("tpu_inference/offload/tpu_offload_connector.py")
        assert f"class {offload.TPU_OFFLOAD_CONNECTOR['kv_connector']}(" in conn
        assert (
            offload.TPU_OFFLOAD_CONNECTOR["kv_connector_module_path"] == "tpu_inference.offload.tpu_offload_connector"
        )
        assert f'"{offload.TPU_OFFLOAD_CHUNKS_ENV}"' in tpu_inference.read("tpu_inference/envs.py")
        assert offload.TPU_OFFLOAD_CHUNKS_ENV in images.VLLM_TPU.env
        # the worker reserves the HBM staging buffer only for exactly this name and module path
        worker = tpu_inference.read("tpu_inference/worker/tpu_worker.py")
        assert '"TPUOffloadConnector"' in worker and '"tpu_inference.offload.tpu_offload_connector"' in worker

    @pytest.mark.parametrize("seqs", [16, 64, 128, 256, 512, 1024])
    @pytest.mark.parametrize("model_len", [512, 1000, 2048, 4096, 8192, 8193, 32768, 131072])
    def test_block_size_is_tpu_inferences_own(self, tpu_inference, model_len, seqs):
        """tpu-inference's get_page_size and get_min_page_size, taken from the wheel and run, agree with
        offload.tpu_block_tokens (the platform applies the larger: platforms/tpu_platform.py)."""
        src = tpu_inference.read("tpu_inference/layers/vllm/backends/flash_attn.py")
        platform = tpu_inference.read("tpu_inference/platforms/tpu_platform.py")
        assert "if min_page_size > cache_config.block_size:" in platform
        funcs = {
            n.name: n
            for n in ast.walk(ast.parse(src))
            if isinstance(n, ast.FunctionDef) and n.name in ("get_page_size", "get_min_page_size")
        }
        assert set(funcs) == {"get_page_size", "get_min_page_size"}
        ns: dict = {
            "cdiv": lambda a, b: -(-a // b),
            "next_power_of_2": lambda n: 1 if n < 1 else 1 << (n - 1).bit_length(),
        }
        for f in funcs.values():
            f.decorator_list = []
            exec(compile(ast.Module(body=[f], type_ignores=[]), "flash_attn.py", "exec"), ns)

        class Cfg:
            class model_config:
                max_model_len = model_len

            class scheduler_config:
                max_num_seqs = seqs

        theirs = max(ns["get_page_size"](Cfg), ns["get_min_page_size"](Cfg))
        assert offload.tpu_block_tokens(model_len, seqs) == theirs


class TestNodeMemory:
    def test_allocatable_is_gkes_reservation(self):
        # GKE "Plan for node sizes": 150 GiB -> 9.8577 GiB reserved with the 100 MiB eviction threshold
        assert offload.gke_allocatable_gib(150) == pytest.approx(150 - 9.8577, abs=1e-3)
        assert offload.gke_allocatable_gib(4) == pytest.approx(3 - 100 / 1024)

    def test_every_pool_machine_of_the_catalog_offloads_or_is_refused_by_name(self):
        from tpustack.core import catalog

        known = [s.machine_type for s in catalog.CATALOG.values() if s.machine_type in catalog.HOST_MEMORY_GIB]
        assert "ct6e-standard-8t" in known and "a3-highgpu-1g" in known


# ----- rendered -------------------------------------------------------------------------------------------------
class TestRendered:
    def test_gpu_gets_vllms_flag_and_a_dev_shm_that_holds_it(self):
        c, pod = server(stack("h100-1", kvOffloadGib=64))
        assert "--kv-offloading-size=64" in c["args"] and not any("kv-transfer-config" in a for a in c["args"])
        (shm,) = [v for v in pod["volumes"] if v["name"] == "dshm"]
        assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "65Gi"}
        assert {"name": "dshm", "mountPath": "/dev/shm"} in c["volumeMounts"]

    def test_tpu_gets_the_connector_and_its_chunks(self):
        c, _ = server(stack("v6e-8", maxModelLen=8192, maxNumSeqs=256, kvOffloadGib=256))
        (cfg_arg,) = [a for a in c["args"] if a.startswith("--kv-transfer-config=")]
        assert json.loads(cfg_arg.split("=", 1)[1]) == offload.TPU_OFFLOAD_CONNECTOR
        env = {e["name"]: e.get("value") for e in c["env"]}
        # Llama-3.1-8B: 32 layers x 8 KV heads x 128 x 2 (K, V) x 2 B = 131072 B per token; block 256 at 8192/256
        block = offload.tpu_block_tokens(8192, 256)
        assert block == 256
        assert env[offload.TPU_OFFLOAD_CHUNKS_ENV] == str(math.floor(256 * 2**30 / (131072 * block)))
        assert "--kv-offloading-size" not in " ".join(c["args"])

    def test_without_offload_nothing_changes(self):
        c, pod = server(stack("h100-1"))
        assert not any("offload" in a for a in c["args"])
        (shm,) = [v for v in pod["volumes"] if v["name"] == "dshm"]
        assert "sizeLimit" not in shm["emptyDir"]


class TestRefused:
    def test_more_than_the_node_holds(self):
        refused({"accelerator": "h100-1", "kvOffloadGib": 400}, "a3-highgpu-1g", "allocatable")

    def test_a_tpu_without_max_num_seqs(self):
        refused({"kvOffloadGib": 64}, "maxNumSeqs")

    def test_a_multi_host_tpu_slice(self):
        lines = problems_of(
            edited(
                BASE,
                accelerator="v6e-16",
                model={"id": "meta-llama/Llama-3.1-70B-Instruct", "paramsB": 70.6},
                engine={"name": "vllm", "vllm": {"maxNumSeqs": 64, "kvOffloadGib": 64}},
            )
        )
        assert any(ln.startswith(f"{KEY}:") and "one host" in ln for ln in lines)

    def test_a_machine_without_a_memory_figure(self):
        refused({"accelerator": "l4-1", "kvOffloadGib": 8}, "no published memory figure")

    def test_a_negative_or_absurd_size(self):
        for bad in (-1, 0, 10**9, "lots"):
            assert any("kvOffloadGib" in ln for ln in problems_of(doc(kvOffloadGib=bad))), bad


def test_an_mla_model_on_tpu_is_refused():
    lines = problems_of(
        edited(
            BASE,
            accelerator="tpu7x-8",
            model={"id": "deepseek-ai/DeepSeek-V3"},
            engine={"name": "vllm", "vllm": {"maxNumSeqs": 64, "kvOffloadGib": 64}},
        )
    )
    assert any(ln.startswith(f"{KEY}:") and "MLA" in ln for ln in lines), lines


def test_a_pd_stack_is_refused():
    d = pd_doc()
    d["tpustack:engine"]["vllm"].update({"maxNumSeqs": 64, "kvOffloadGib": 32})
    lines = problems_of(d, "pd")
    hits = [ln for ln in lines if ln.startswith(f"{KEY}:")]
    assert hits and "--kv-transfer-config" in hits[0], lines


def test_a_pd_role_on_an_image_without_the_verified_connector_is_refused():
    d = pd_doc()
    d["tpustack:disaggregation"]["prefill"]["image"] = "docker.io/vllm/vllm-tpu:v0.9.2"
    lines = problems_of(d, "pd")
    hits = [ln for ln in lines if ln.startswith("tpustack:disaggregation.prefill.image:")]
    assert hits and "TPUConnector" in hits[0] and images.VLLM_TPU.image in hits[0] and "Fix:" in hits[0], lines
    # the pinned image itself passes
    d["tpustack:disaggregation"]["prefill"]["image"] = images.VLLM_TPU.image
    render.render(load(d, "pd"))


def test_offload_on_an_unverified_image_is_refused():
    lines = problems_of(
        edited(
            BASE,
            accelerator="h100-1",
            engine={"name": "vllm", "image": "docker.io/vllm/vllm-openai:v0.9.0", "vllm": {"kvOffloadGib": 8}},
        )
    )
    assert any(ln.startswith("tpustack:engine.image:") and "KV offload" in ln for ln in lines), lines
