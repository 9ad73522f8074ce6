"""Reading config.json: every shipped file reads, the catalog is what the rest of tpustack looks up, and a file
tpustack cannot read is one UnknownArchitecture naming what is missing and the stack keys that override it (any
JSON object, fuzzed: a ModelFacts or that error, never another exception)."""

from __future__ import annotations

import copy
import glob
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tpustack.core import models
from tpustack.core.errors import InputError
from tpustack.core.models import UnknownArchitecture

ROOT = Path(__file__).resolve().parents[3]
FOLDER = ROOT / "tpustack" / "core" / "model_configs"
FILES = sorted(FOLDER.glob("*.json"))
LLAMA = json.loads((FOLDER / "meta-llama__Llama-3.1-8B-Instruct.json").read_text())


def parse(doc: Any, **kw: Any) -> models.ModelFacts:
    return models.parse_config(doc, ids=["org/name"], source="test", gated=False, **kw)


class TestTheCatalogShipsAndLoads:
    def test_every_file_is_in_the_catalog_and_in_sources(self):
        sources = (FOLDER / "SOURCES.md").read_text()
        shipped = {m.source.split("model_configs/")[1].split(";")[0] for m in models.MODELS}
        assert shipped == {p.name for p in FILES}
        assert all(f"| {p.name} |" in sources for p in FILES)

    def test_files_are_small_and_named_org__name(self):
        for p in FILES:
            assert p.stat().st_size < 8_000, p.name
            assert "__" in p.stem
        first_ids = {m.ids[0].replace("/", "__") for m in models.MODELS}
        assert first_ids == {p.stem for p in FILES}

    def test_package_data_ships_the_folder(self):
        data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
        assert data["tpustack.core"] == ["model_configs/*.json", "model_configs/SOURCES.md"]

    def test_lookup_is_case_insensitive_and_ids_are_unique(self):
        ids = [i.lower() for m in models.MODELS for i in m.ids]
        assert len(ids) == len(set(ids))
        assert models.lookup("  META-LLAMA/llama-3.1-8b-instruct ") is models.lookup("meta-llama/Llama-3.1-8B")
        assert models.lookup("acme/unknown") is None

    def test_the_issue_list_and_the_old_catalog_are_there(self):
        for model_id, gated, maxtext in [
            ("Qwen/Qwen3.5-397B-A17B-FP8", False, None),
            ("google/gemma-3-27b-it", True, "gemma3-27b"),
            ("openai/gpt-oss-120b", False, "gpt-oss-120b"),
            ("deepseek-ai/DeepSeek-V3", False, "deepseek3-671b"),
            ("Qwen/Qwen3-32B", False, "qwen3-32b"),
            ("meta-llama/Llama-3.1-405B-Instruct", True, "llama3.1-405b"),
            ("meta-llama/Meta-Llama-3.1-8B-Instruct", True, "llama3.1-8b"),
            ("meta-llama/Meta-Llama-3.1-70B-Instruct", True, "llama3.1-70b"),
            ("meta-llama/Meta-Llama-3-8B", True, "llama3-8b"),
            ("meta-llama/Llama-2-7b-chat-hf", True, "llama2-7b"),
            ("Qwen/Qwen2.5-7B-Instruct", False, None),
            ("mistralai/Mistral-7B-Instruct-v0.3", True, None),
        ]:
            f = models.lookup(model_id)
            assert f is not None and (f.gated, f.maxtext_name) == (gated, maxtext), model_id

    def test_reads_on_python_3_10(self):
        """Pods import tpustack.core on Python 3.10 (tests/integration/test_py310.py says why); no 3.10 is a failure."""
        found = [shutil.which("python3.10"), *sorted(glob.glob(str(Path.home() / ".pyenv/versions/3.10*/bin/python")))]
        code = "import tpustack.core.models as m; print(len(m.MODELS), m.lookup('openai/gpt-oss-120b').weights_dtype)"
        for py in filter(None, found):
            if subprocess.run([py, "-c", "import sys; assert sys.version_info[:2] == (3, 10)"]).returncode:
                continue
            out = subprocess.run(
                [py, "-c", code], capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)}
            )
            assert out.stdout.split() == [str(len(models.MODELS)), "mxfp4"], out.stderr[-2000:]
            return
        pytest.fail("no Python 3.10 interpreter (python3.10 on PATH or ~/.pyenv/versions/3.10*/bin/python)")

    def test_importing_reads_no_file(self):
        code = "import sys; import tpustack.core.models as m; print('tpustack.core.models' in sys.modules, m._loaded)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
        assert out.stdout.split() == ["True", "None"]


def without(doc: dict[str, Any], *keys: str) -> dict[str, Any]:
    d = copy.deepcopy(doc)
    for k in keys:
        d.pop(k)
    return d


class TestWhatCannotBeReadIsNamed:
    def test_unknown_model_type(self):
        with pytest.raises(UnknownArchitecture) as e:
            parse({"model_type": "rwkv", "architectures": ["RwkvForCausalLM"]})
        err = e.value
        assert isinstance(err, InputError) and err.model_type == "rwkv"
        assert "'rwkv'" in err.reason and "RwkvForCausalLM" in err.reason
        assert "tpustack:model.paramsB" in str(err.fix) and "tpustack:model.contextLength" in str(err.fix)
        assert "llama" in str(err.fix)  # it lists the families it reads
        assert err.overrides == ("model.paramsB", "model.contextLength")

    def test_no_model_type(self):
        with pytest.raises(UnknownArchitecture) as e:
            parse({"hidden_size": 4096})
        assert e.value.missing == ("model_type",)

    def test_missing_keys_are_all_named(self):
        with pytest.raises(UnknownArchitecture) as e:
            parse(without(LLAMA, "num_hidden_layers", "max_position_embeddings"))
        assert e.value.missing == ("num_hidden_layers", "max_position_embeddings")
        assert "lacks num_hidden_layers, max_position_embeddings" in e.value.reason

    def test_missing_key_inside_text_config(self):
        doc = json.loads((FOLDER / "google__gemma-3-27b-it.json").read_text())
        del doc["text_config"]["hidden_size"]
        with pytest.raises(UnknownArchitecture) as e:
            parse(doc)
        assert e.value.missing == ("text_config.hidden_size",)

    def test_missing_moe_key(self):
        doc = json.loads((FOLDER / "deepseek-ai__DeepSeek-V3.json").read_text())
        with pytest.raises(UnknownArchitecture) as e:
            parse(without(doc, "n_routed_experts"))
        assert e.value.missing == ("n_routed_experts",)

    @pytest.mark.parametrize(
        "key,value,says",
        [
            ("num_hidden_layers", -2, "outside"),
            ("num_hidden_layers", 0, "outside"),
            ("hidden_size", "4096", "not a whole number"),
            ("hidden_size", 4096.0, "not a whole number"),
            ("num_attention_heads", True, "not a whole number"),
            ("vocab_size", 10**30, "outside"),
            ("num_key_value_heads", 5, "does not divide num_attention_heads"),
            ("tie_word_embeddings", "no", "not true or false"),
            ("torch_dtype", "float8", "tpustack knows"),
        ],
    )
    def test_wrong_types_and_absurd_values(self, key, value, says):
        with pytest.raises(UnknownArchitecture) as e:
            parse({**LLAMA, key: value})
        assert key in e.value.reason and says in e.value.reason

    def test_heads_that_do_not_divide_hidden_without_a_head_dim(self):
        with pytest.raises(UnknownArchitecture) as e:
            parse({**LLAMA, "num_attention_heads": 24, "num_key_value_heads": 8})  # 4096 / 24 is not whole
        assert "does not divide hidden_size" in e.value.reason
        f = parse({**LLAMA, "num_attention_heads": 24, "num_key_value_heads": 8, "head_dim": 128})
        assert f.attention.head_dim == 128  # a stated head_dim needs no division

    def test_layer_types_must_match_the_layers(self):
        with pytest.raises(UnknownArchitecture, match="one per layer"):
            parse({**LLAMA, "layer_types": ["full_attention"]})
        with pytest.raises(UnknownArchitecture, match="'cross_attention'"):
            parse({**LLAMA, "layer_types": ["cross_attention"] * 32})

    def test_unknown_quantization(self):
        with pytest.raises(UnknownArchitecture) as e:
            parse({**LLAMA, "quantization_config": {"quant_method": "hqq"}})
        assert "quant_method is 'hqq'" in e.value.reason and "tpustack:model.dtype" in str(e.value.fix)

    def test_not_an_object(self):
        with pytest.raises(UnknownArchitecture, match="not a JSON object"):
            parse([1, 2, 3])  # type: ignore[arg-type]


class TestFamiliesReadTheirKeys:
    def test_missing_head_dim_and_kv_heads_take_the_family_defaults(self):
        f = parse(without(LLAMA, "num_key_value_heads"))  # Llama: MHA without num_key_value_heads
        assert (f.attention.kv_heads, f.attention.head_dim) == (32, 128)
        with pytest.raises(UnknownArchitecture) as e:  # Qwen2 has no such default: it must be stated
            parse(without(json.loads((FOLDER / "Qwen__Qwen2.5-7B-Instruct.json").read_text()), "num_key_value_heads"))
        assert e.value.missing == ("num_key_value_heads",)

    def test_a_mistral_window_makes_every_layer_slide(self):
        doc = json.loads((FOLDER / "mistralai__Mistral-7B-Instruct-v0.3.json").read_text())
        f = parse({**doc, "sliding_window": 4096})
        assert f.layer_kinds == {models.LayerKind.SLIDING: 32} and f.attention.sliding_window == 4096
        assert f.kv_bytes_per_sequence(10_000, 2.0) == 32 * 2 * 8 * 128 * 2 * 4096

    def test_qwen3_moe_sparse_step_and_dense_layers(self):
        doc = json.loads((FOLDER / "Qwen__Qwen3-30B-A3B-Base.json").read_text())
        f = parse({**doc, "decoder_sparse_step": 2, "mlp_only_layers": [1]})  # layers 1,3,5..: MoE except 1
        assert f.moe is not None and f.moe.layers == 23
        dense = parse({**doc, "mlp_only_layers": list(range(48))})
        assert dense.moe is None and dense.params == dense.active_params

    def test_gemma_3_pattern_without_layer_types(self):
        doc = json.loads((FOLDER / "google__gemma-3-27b-it.json").read_text())
        text = {k: v for k, v in doc["text_config"].items() if k not in ("layer_types", "_sliding_window_pattern")}
        f = parse({**doc, "text_config": {**text, "sliding_window_pattern": 6}})
        assert f.layer_kinds == {models.LayerKind.SLIDING: 52, models.LayerKind.FULL: 10}

    def test_qwen3_5_full_attention_interval_without_layer_types(self):
        doc = json.loads((FOLDER / "Qwen__Qwen3.5-397B-A17B.json").read_text())
        text = {k: v for k, v in doc["text_config"].items() if k != "layer_types"}
        f = parse({**doc, "text_config": text})
        assert f.layer_kinds == {models.LayerKind.LINEAR: 45, models.LayerKind.FULL: 15}
        assert f.params == models.lookup("Qwen/Qwen3.5-397B-A17B").params  # type: ignore[union-attr]

    def test_deepseek_without_q_lora(self):
        doc = json.loads((FOLDER / "deepseek-ai__DeepSeek-V3.json").read_text())
        f = parse({**doc, "q_lora_rank": None})
        full = parse(doc)
        # q straight from 7168 to 128 x 192 instead of through rank 1536 (and its norm), in all 61 layers
        assert f.params - full.params == 61 * (7168 * 128 * 192 - 7168 * 1536 - 1536 * 128 * 192 - 1536)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True), st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


def _keys() -> list[str]:
    keys: set[str] = set()
    for p in FILES:
        doc = json.loads(p.read_text())
        keys |= set(doc) | set(doc.get("text_config", {}))
    return sorted(keys)


DOCS = [json.loads(p.read_text()) for p in FILES]


def survives(doc: Any) -> None:
    try:
        f = parse(doc)
    except UnknownArchitecture as e:
        assert e.reason and e.fix
        return
    assert f.params > 0 and sum(f.layer_kinds.values()) == f.layers
    assert f.kv_bytes_per_sequence(4096, 2.0) >= 0


class TestAnyJsonGivesFactsOrTheOneError:
    @FUZZ
    @given(json_values)
    def test_any_value(self, doc):
        survives(doc)

    @FUZZ
    @given(st.sampled_from(DOCS), st.sampled_from(_keys()), json_values, st.booleans())
    def test_a_real_file_with_one_key_changed(self, doc, key, value, in_text):
        doc = copy.deepcopy(doc)
        target = doc["text_config"] if in_text and isinstance(doc.get("text_config"), dict) else doc
        target[key] = value
        survives(doc)

    @FUZZ
    @given(st.sampled_from(DOCS), st.sampled_from(_keys()), st.integers(-(2**33), 2**33))
    def test_a_real_file_with_one_number_changed(self, doc, key, value):
        doc = copy.deepcopy(doc)
        target = doc.get("text_config") if isinstance(doc.get("text_config"), dict) else doc
        target[key] = value
        survives(doc)
