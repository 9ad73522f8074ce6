"""The served model (tpustack.config.served) against bad input: every unreadable config.json is one problem keyed
where the user names it, a credential pasted into model.id or model.config is never read, sent or printed back,
and stated figures that differ from the file are warned about, not silently used."""

from __future__ import annotations

import json

import pytest

from tpustack.config import load_config
from tpustack.core.errors import ConfigError, InputError, problem

from helpers.fake_hub import FakeHub
from helpers.project import as_engine_values, base

TOKEN = "hf_" + "abcdefghijklmnopqrstuvwxyzABCDEFGH"


def _load(model: dict, **over):
    cfg = base() | {"tpustack:model": model} | over
    return load_config(as_engine_values(cfg), {"tpustack:hfToken"}, "t")


def _problems(model: dict) -> list[str]:
    with pytest.raises(ConfigError) as e:
        _load(model)
    return [str(p) for p in e.value.problems]


class TestUnreadableFiles:
    @pytest.mark.parametrize(
        ("name", "content", "why"),
        [
            ("array.json", "[1, 2]", "not a JSON object"),
            ("broken.json", "{bad", "JSONDecodeError"),
            ("binary.json", b"\xff\xfe\x00", "UnicodeDecodeError"),
        ],
    )
    def test_one_problem_at_model_config(self, tmp_path, name, content, why):
        f = tmp_path / name
        f.write_bytes(content if isinstance(content, bytes) else content.encode())
        got = _problems({"id": "acme/x", "config": str(f)})
        assert len(got) == 1 and got[0].startswith("tpustack:model.config:") and why in got[0], got

    def test_a_dangling_link_and_a_folder_without_the_file(self, tmp_path):
        (tmp_path / "link.json").symlink_to(tmp_path / "gone.json")
        for ref in (tmp_path / "link.json", tmp_path):
            got = _problems({"id": "acme/x", "config": str(ref)})
            assert len(got) == 1 and "no such file" in got[0], got


@pytest.fixture
def hub(monkeypatch):
    pytest.importorskip("huggingface_hub")  # the hub extra (.ci/floors runs these in its hub venv)
    with FakeHub() as h:
        monkeypatch.setenv("HF_ENDPOINT", h.url)
        yield h


class TestCredentialsInTheWrongKey:
    @pytest.mark.parametrize("model", [{"id": f"{TOKEN}/x"}, {"id": "acme/x", "config": TOKEN}])
    def test_never_read_sent_or_printed(self, hub, model):
        got = _problems(model)
        assert len(got) == 1 and "holds a Hugging Face token" in got[0], got
        assert TOKEN not in " ".join(got)
        assert hub.requests == []  # not even asked for

    def test_messages_redact_what_they_quote(self):
        assert TOKEN not in str(problem("k", f"{TOKEN} is odd", f"remove {TOKEN}"))
        assert TOKEN not in str(InputError(f"--out {TOKEN}", fix=TOKEN))


class TestStatedFigures:
    def test_a_different_parameter_count_is_a_warning_and_wins(self):
        cfg = _load({"id": "meta-llama/Llama-3.1-8B-Instruct", "paramsB": 9.5})
        assert cfg.served.params == 9.5e9 and cfg.served.weight_bytes == 9.5e9 * 2
        assert any("paramsB: 9.5B overrides the 8.03B" in w for w in cfg.warnings)

    def test_the_same_count_to_the_hundredth_is_the_files_exact_one(self):
        cfg = _load({"id": "meta-llama/Llama-3.1-8B-Instruct", "paramsB": 8.03})
        assert cfg.served.params == 8_030_261_248 and not cfg.warnings

    def test_a_stated_dtype_requantizes_every_weight(self):
        served = _load({"id": "openai/gpt-oss-120b", "dtype": "fp8"}, **{"tpustack:accelerator": "v6e-8"}).served
        assert served.dtype == "fp8" and served.weight_bytes == served.facts.params * 1
        native = _load({"id": "openai/gpt-oss-120b"}, **{"tpustack:accelerator": "v6e-8"}).served
        assert native.dtype == "mxfp4" and native.weight_bytes == native.facts.weight_bytes

    def test_paramsb_alone_for_an_unknown_model_asks_for_the_context(self):
        got = _problems({"id": "acme/house-7b", "paramsB": 7})
        assert len(got) == 1 and got[0].startswith("tpustack:model:") and "model.contextLength" in got[0], got

    def test_a_local_file_is_read_and_its_source_shown(self, tmp_path):
        doc = {
            "model_type": "qwen2",
            "num_hidden_layers": 2,
            "hidden_size": 512,
            "intermediate_size": 1024,
            "num_attention_heads": 8,
            "num_key_value_heads": 2,
            "vocab_size": 1000,
            "max_position_embeddings": 8192,
            "torch_dtype": "bfloat16",
        }
        (tmp_path / "config.json").write_text(json.dumps(doc))
        served = _load({"id": "acme/tiny", "config": str(tmp_path), "gated": False}).served
        assert served.origin == "file" and served.source == str(tmp_path / "config.json")
        assert served.context == 8192 and not served.gated
