"""Any model a user can name: a stack that names only a model id plans offline, with HBM fit, tensor parallelism
and the ceilings from the model's own config.json (stacks/models.matrix.yaml: MoE, MLA, sliding window, fp8 and
MXFP4 checkpoints, multi-host v5p); the checks its facts drive; and the Hugging Face Hub path through the whole
plan, with the real client against a Hub on 127.0.0.1 (tests/helpers/fake_hub.py)."""

from __future__ import annotations

import json

import pytest

from tpustack.config import load_config
from tpustack.core import catalog, models
from tpustack.core.errors import ConfigError
from tpustack.plan import matrix

from helpers.fake_hub import FakeHub
from helpers.project import PROJECT, as_engine_values, base, plan_config

MATRIX = PROJECT.stacks_dir / "models.matrix.yaml"

# model id -> (accelerator, devices vLLM shards over, KV bytes per token at bf16 from its config.json)
EXPECTED = {
    # 15 full-attention layers x 2 (K, V) x 2 KV heads x 256 x 2 B; 45 linear-attention layers hold a fixed state
    "Qwen/Qwen3.5-397B-A17B-FP8": ("tpu7x-8", 8, 15 * 2 * 2 * 256 * 2),
    # 10 global layers x 2 x 16 x 128 x 2 B (52 sliding layers stop at 1,024 tokens)
    "google/gemma-3-27b-it": ("v6e-4", 4, 10 * 2 * 16 * 128 * 2),
    # 18 full layers x 2 x 8 x 64 x 2 B (18 sliding layers stop at 128 tokens)
    "openai/gpt-oss-120b": ("h100-80gb-1", 1, 18 * 2 * 8 * 64 * 2),
    # 61 MLA layers x (512 latent + 64 rotary key) x 2 B
    "deepseek-ai/DeepSeek-V3": ("v5p-32", 16, 61 * (512 + 64) * 2),
    "Qwen/Qwen3-32B": ("v6e-8", 8, 64 * 2 * 8 * 128 * 2),
    "meta-llama/Llama-3.1-405B-Instruct": ("v5p-32", 16, 126 * 2 * 8 * 128 * 2),
}


@pytest.fixture(scope="module")
def combos():
    m = matrix.load(MATRIX)
    return matrix.plan_all(m, PROJECT, "stacks/models.matrix.yaml")


class TestNamedByIdOnly:
    def test_the_matrix_names_nothing_but_the_id(self):
        m = matrix.load(MATRIX)
        named = {v.set["tpustack:model"]["id"]: v.set["tpustack:model"] for a in m.axes for v in a.values}
        assert set(named) == set(EXPECTED)
        assert all(list(doc) == ["id"] for doc in named.values())

    def test_every_model_plans_offline_with_its_architecture(self, combos):
        # tests/conftest.py points the Hub at a port nothing listens on: the catalog's copies are all there is
        assert len(combos) == len(EXPECTED)
        for c in combos:
            assert c.ok, (c.name, [str(p) for p in c.problems])
            ce = c.plan.ceilings
            accel, _, kv = EXPECTED[ce["model"]]
            facts = models.lookup(ce["model"])
            assert ce["accelerator"] == accel and ce["facts_source"].startswith("catalog: ")
            assert ce["kv_bytes_per_token"] == kv, c.name  # the KV size is known, from the architecture
            assert ce["params_b"] == pytest.approx(facts.params / 1e9)
            assert ce["weights_fit"] and ce["max_batch"] > 0 and ce["decode_tokens_per_s_max"] > 0
            assert ce["dtype"] == facts.weights_dtype  # the checkpoint's own: fp8, mxfp4, bfloat16
            if facts.moe:
                assert ce["experts"] == facts.moe.experts and ce["active_params_b"] < ce["params_b"] / 10

    def test_tensor_parallel_counts_devices_and_moe_on_tpu_gets_expert_parallel(self, combos):
        for c in combos:
            model = c.plan.ceilings["model"]
            _, devices, _ = EXPECTED[model]
            args = [
                a
                for o in c.plan.manifests
                if o["kind"] in ("Deployment", "LeaderWorkerSet")
                for a in json.dumps(o).split('"')
                if a.startswith("--")
            ]
            assert f"--tensor-parallel-size={devices}" in args, (c.name, args)
            moe_on_tpu = models.lookup(model).moe is not None and catalog.lookup(EXPECTED[model][0]).kind == "tpu"
            assert ("--enable-expert-parallel" in args) == moe_on_tpu, c.name


def _load(cfg: dict):
    return load_config(as_engine_values(cfg), {"tpustack:hfToken"} if "tpustack:hfToken" in cfg else set(), "t")


def _problems(cfg: dict) -> list[str]:
    with pytest.raises(ConfigError) as e:
        _load(cfg)
    return [str(p) for p in e.value.problems]


class TestHbmFitNamesTheSmallestShape:
    # each model one shape too small; the fix names the smallest of the same family where weights x 1.2 and the
    # cache of one 8192-token sequence fit (DeepSeek-V3: 627 GiB x 1.2 + 0.54 GiB = 752.8 GiB <= 760 of v5p-16)
    @pytest.mark.parametrize(
        ("model", "small", "smallest"),
        [
            ("Qwen/Qwen3.5-397B-A17B-FP8", "tpu7x-2", "tpu7x-8"),
            ("google/gemma-3-27b-it", "v6e-1", "v6e-4"),
            ("openai/gpt-oss-120b", "l4-1", "l4-4"),
            ("deepseek-ai/DeepSeek-V3", "v5p-8", "v5p-16"),
            ("Qwen/Qwen3-32B", "v6e-1", "v6e-4"),
            ("meta-llama/Llama-3.1-405B-Instruct", "v5p-8", "v5p-32"),
        ],
    )
    def test_names_it(self, model, small, smallest):
        cfg = base() | {"tpustack:model": {"id": model}, "tpustack:accelerator": small}
        hits = [p for p in _problems(cfg) if p.startswith("tpustack:model.id:") and "HBM" in p]
        assert len(hits) == 1, _problems(cfg)
        assert f"use {smallest} (" in hits[0] and "KV cache" in hits[0]

    def test_the_cache_at_the_context_counts(self):
        # Llama-3.1-8B on v6e-1: 14.96 GiB x 1.2 = 17.95 GiB fits 32 GiB; at its full 131,072-token context one
        # sequence adds 131,072 x 131,072 B = 16 GiB of bf16 cache (33.95 GiB) and does not; fp8 cache: 8 GiB, fits
        cfg = base() | {"tpustack:model": {"id": "meta-llama/Llama-3.1-8B-Instruct"}, "tpustack:accelerator": "v6e-1"}
        _load(cfg)
        cfg["tpustack:engine"] = {"name": "vllm", "vllm": {"maxModelLen": 131072}}
        hit = next(p for p in _problems(cfg) if "HBM" in p)
        assert "one sequence of 131072 tokens of KV cache (16.00 GiB) = 33.9 GiB > 32 GiB HBM of v6e-1" in hit
        assert "use v6e-4 (" in hit
        cfg["tpustack:engine"]["vllm"]["kvCacheDtype"] = "fp8"
        _load(cfg)


LAYERS = {"model_type": "llama", "num_hidden_layers": 4, "hidden_size": 3072, "intermediate_size": 8192}


def _local_model(tmp_path, **over) -> str:
    doc = LAYERS | {"num_attention_heads": 48, "num_key_value_heads": 12, "vocab_size": 32000} | over
    doc |= {"max_position_embeddings": 8192, "torch_dtype": "bfloat16"}
    (tmp_path / "config.json").write_text(json.dumps(doc))
    return str(tmp_path)


class TestChecksFromFacts:
    def test_heads_that_do_not_split_over_the_devices(self, tmp_path):
        # Qwen2.5-7B: 28 attention heads; vLLM cannot split them over 8 chips (28 % 8 = 4)
        cfg = base() | {"tpustack:model": {"id": "Qwen/Qwen2.5-7B-Instruct"}}
        hit = [p for p in _problems(cfg) if "attention heads" in p]
        assert (
            hit and hit[0].startswith("tpustack:engine.tensorParallel:") and "(e.g. 1, 2, 4)" in hit[0]
        )  # 7 and 14 divide 28 heads, not 4 KV heads
        cfg["tpustack:accelerator"] = "v6e-4"  # 28 % 4 == 0
        _load(cfg)

    def test_kv_heads_neither_divided_nor_whole_replicas(self, tmp_path):
        # 48 heads split over 8, but 12 KV heads: 12 % 8 != 0 and 8 < 12 (a local config.json, model.config)
        cfg = base() | {"tpustack:model": {"id": "acme/odd-heads", "config": _local_model(tmp_path), "gated": False}}
        hit = [p for p in _problems(cfg) if "KV heads" in p]
        assert hit and "tensor parallel 8" in hit[0] and "use a tensor parallel size of" in hit[0]
        cfg["tpustack:accelerator"] = "v6e-4"  # 12 % 4 == 0
        assert _load(cfg).served.origin == "file"

    def test_expert_parallel_on_a_dense_model(self):
        cfg = base() | {"tpustack:engine": {"name": "vllm", "vllm": {"maxModelLen": 8192, "expertParallel": True}}}
        hit = [p for p in _problems(cfg) if p.startswith("tpustack:engine.vllm.expertParallel:")]
        assert hit and "dense model" in hit[0]

    def test_context_beyond_the_model(self):
        cfg = base() | {"tpustack:model": {"id": "google/gemma-3-27b-it"}, "tpustack:accelerator": "v6e-4"}
        cfg["tpustack:engine"] = {"name": "vllm", "vllm": {"maxModelLen": 262144}}
        hit = [p for p in _problems(cfg) if "maxModelLen" in p]
        assert hit and "131072" in hit[0] and "max_position_embeddings" in hit[0]

    def test_an_unreadable_architecture_names_what_is_missing_and_the_override(self, tmp_path):
        bad = {"model_type": "acme-net", "hidden_size": 1024}
        (tmp_path / "config.json").write_text(json.dumps(bad))
        cfg = base() | {"tpustack:model": {"id": "acme/net", "config": str(tmp_path), "gated": False}}
        hit = [p for p in _problems(cfg) if p.startswith("tpustack:model.id:")]
        assert hit and "acme-net" in hit[0] and "model.paramsB" in hit[0] and "model.contextLength" in hit[0]
        cfg["tpustack:model"] |= {"paramsB": 1.2, "contextLength": 8192}  # the overrides stand in for the file
        served = _load(cfg).served
        assert served.origin == "stated" and served.facts is None
        assert any("architecture is unknown" in w for w in _load(cfg).warnings)


SMALL = LAYERS | {
    "num_attention_heads": 24,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 16384,
    "torch_dtype": "bfloat16",
}


@pytest.fixture
def hub(monkeypatch):
    pytest.importorskip("huggingface_hub")  # the hub extra (.ci/floors runs these in its hub venv)
    with FakeHub() as h:
        monkeypatch.setenv("HF_ENDPOINT", h.url)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield h


class TestTheHubThroughThePlan:
    def test_a_public_model_only_the_hub_knows(self, hub):
        hub.add("acme/small-3b", {"config.json": SMALL})
        cfg = base() | {"tpustack:model": {"id": "acme/small-3b"}}
        cfg.pop("tpustack:hfToken")  # a public model needs no token: the Hub said it is not gated
        p = plan_config(cfg)
        assert p.ceilings["facts_source"].startswith("hub: ") and "acme/small-3b/blob/" in p.ceilings["facts_source"]
        assert p.ceilings["kv_bytes_per_token"] == 4 * 2 * 8 * 128 * 2  # 24 heads of 3072 / 24 = 128
        assert not any(r.type == "kubernetes:core/v1:Secret" and "hf-token" in r.name for r in p.resources)

    def test_gated_without_a_token_is_a_clear_error(self, hub):
        hub.add("acme/gated-3b", {"config.json": SMALL}, gated=True, tokens=("hf_granted",))
        cfg = base() | {"tpustack:model": {"id": "acme/gated-3b"}}
        got = _problems(cfg)
        hit = [p for p in got if p.startswith("tpustack:model.id:")]
        assert hit and "gated on the Hugging Face Hub" in hit[0] and "HF_TOKEN" in hit[0], got
        assert "[secret:" not in " ".join(got)

    def test_gated_with_a_token_gives_facts(self, hub, monkeypatch):
        hub.add("acme/gated-3b", {"config.json": SMALL}, gated=True, tokens=("hf_granted",))
        monkeypatch.setenv("HF_TOKEN", "hf_granted")  # `tpustack plan` sees only the stack's placeholder
        served = _load(base() | {"tpustack:model": {"id": "acme/gated-3b"}}).served
        assert served.origin == "hub" and served.gated and served.facts.context_length == 16384
        assert ("GET", "/acme/gated-3b/resolve/main/config.json", "hf_granted") in hub.requests

    def test_no_network_falls_back_to_the_catalog_with_a_warning(self):
        # model.config hub asks the Hub first even for a catalog model; nothing answers (tests/conftest.py)
        cfg = base() | {"tpustack:model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "config": "hub"}}
        p = plan_config(cfg)
        assert p.ceilings["facts_source"].startswith("catalog: ")
        assert any("catalog copy of config.json is used" in w for w in p.warnings)


class TestModelsCommand:
    def test_lists_every_shipped_config_with_its_facts(self):
        from typer.testing import CliRunner

        from tpustack.cli import app

        r = CliRunner().invoke(app, ["models", "--json"])
        assert r.exit_code == 0, r.output
        rows = {row["id"]: row for row in json.loads(r.output)}
        assert set(rows) == {m.ids[0] for m in models.MODELS}
        ds = rows["deepseek-ai/DeepSeek-V3"]
        assert ds["attention"] == "mla 128/1" and ds["experts"] == "8 of 256" and ds["weights"] == "fp8"
        assert ds["kv_bytes_per_token"] == 70_272 and "SOURCES.md" in ds["source"]
        text = CliRunner().invoke(app, ["models"]).output
        assert "openai/gpt-oss-120b" in text and "mxfp4" in text
