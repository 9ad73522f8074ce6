"""A model's config.json from the Hugging Face Hub, through the real client (huggingface_hub) against a local
server that answers as the Hub does: public, gated without and with a token, missing, no network, offline and the
cache, local files and their errors. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from tpustack.config import model_source
from tpustack.config.sections import ModelConfig

from helpers.fake_hub import COMMIT, FakeHub

# the hub extra; `make test` has it, the floors' plan venv does not (.ci/floors runs this file in its hub venv)
pytest.importorskip("huggingface_hub")

CONFIG = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64}


@pytest.fixture
def hub(monkeypatch, tmp_path):
    with FakeHub() as h:
        monkeypatch.setenv("HF_ENDPOINT", h.url)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no stored login of the machine's user
        yield h


def src(tmp_path, token=None, offline=False):
    return model_source.Sources(cache_dir=tmp_path / "cache", token=token, offline=offline)


class TestPublicModel:
    def test_read_through_the_client_and_cached(self, hub, tmp_path):
        hub.add("acme/small", {"config.json": CONFIG})
        got = model_source.read_hub("acme/small", src(tmp_path))
        assert got.problem is None and got.doc == CONFIG and got.origin == "hub" and got.gated is False
        assert got.source == f"{hub.url}/acme/small/blob/{COMMIT}/config.json"
        assert any(p.endswith("/acme/small/resolve/main/config.json") for _, p, _ in hub.requests)
        # laid out as the client lays out its cache, under tpustack's cache folder
        assert list((tmp_path / "cache" / "hub").glob("models--acme--small/snapshots/*/config.json"))
        # offline afterwards: the cached copy, no request
        before = len(hub.requests)
        again = model_source.read_hub("acme/small", src(tmp_path, offline=True))
        assert again.doc == CONFIG and again.origin == "cache" and len(hub.requests) == before

    def test_a_model_the_hub_does_not_have(self, hub, tmp_path):
        got = model_source.read_hub("acme/nothing", src(tmp_path))
        assert got.doc is None and got.problem is not None
        assert got.problem.key == "tpustack:model.id" and "has no model acme/nothing" in got.problem.reason


class TestGatedModel:
    def test_without_a_token_a_clear_error_and_the_fix(self, hub, tmp_path):
        hub.add("acme/gated", {"config.json": CONFIG}, gated=True, tokens=("hf_good",))
        got = model_source.read_hub("acme/gated", src(tmp_path))
        assert got.doc is None and got.gated is True
        assert "gated on the Hugging Face Hub" in got.problem.reason
        assert "HF_TOKEN" in got.problem.fix and "tpustack:hfToken" in got.problem.fix

    def test_with_a_token_the_facts_and_the_token_never_shows(self, hub, tmp_path):
        hub.add("acme/gated", {"config.json": CONFIG}, gated=True, tokens=("hf_good",))
        got = model_source.read_hub("acme/gated", src(tmp_path, token="hf_good"))
        assert got.problem is None and got.doc == CONFIG and got.gated is True
        assert ("GET", "/acme/gated/resolve/main/config.json", "hf_good") in hub.requests
        assert "hf_good" not in json.dumps(got.__dict__, default=str)

    def test_the_users_hf_token_when_the_stack_has_only_a_placeholder(self, hub, tmp_path, monkeypatch):
        hub.add("acme/gated", {"config.json": CONFIG}, gated=True, tokens=("hf_env",))
        monkeypatch.setenv("HF_TOKEN", "hf_env")
        s = model_source.sources("[secret:tpustack:hfToken]")
        assert s.token is None  # tpustack plan's placeholder is never sent
        got = model_source.read_hub("acme/gated", model_source.Sources(cache_dir=tmp_path / "c", token=s.token))
        assert got.doc == CONFIG

    def test_a_token_without_access(self, hub, tmp_path):
        hub.add("acme/gated", {"config.json": CONFIG}, gated=True, tokens=("hf_good",))
        got = model_source.read_hub("acme/gated", src(tmp_path, token="hf_other"))
        assert got.doc is None and "no token with access" in got.problem.reason
        assert "hf_other" not in got.problem.reason + got.problem.fix


class TestNoNetwork:
    def test_unreachable_hub_is_a_problem_for_a_model_only_the_hub_knows(self, tmp_path, monkeypatch):
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
        monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
        got = model_source.fetch(ModelConfig(id="acme/new"), src(tmp_path), False)
        assert got is not None and got.doc is None
        assert "could not be read from the Hugging Face Hub" in got.problem.reason
        assert "model.config" in got.problem.fix and "model.paramsB" in got.problem.fix

    def test_stated_figures_plan_without_the_network(self, hub, tmp_path):
        # paramsB and contextLength stated for a model outside the catalog: only the cache is read
        m = ModelConfig(id="acme/small", paramsB=1, contextLength=4096)
        assert model_source.fetch(m, src(tmp_path), False) is None
        assert hub.requests == []
        hub.add("acme/small", {"config.json": CONFIG})
        assert model_source.read_hub("acme/small", src(tmp_path)).doc == CONFIG  # now in the cache
        n = len(hub.requests)
        got = model_source.fetch(m, src(tmp_path), False)
        assert got is not None and got.doc == CONFIG and got.origin == "cache" and len(hub.requests) == n
        # model.config hub asks the Hub even so
        asked = ModelConfig(id="acme/small", paramsB=1, contextLength=4096, config="hub")
        assert model_source.fetch(asked, src(tmp_path), False).origin == "hub" and len(hub.requests) > n

    def test_asked_for_the_hub_a_catalog_model_falls_back_with_a_warning(self, tmp_path, monkeypatch):
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
        m = ModelConfig(id="meta-llama/Llama-3.1-8B-Instruct", config="hub")
        got = model_source.fetch(m, src(tmp_path), True)
        assert got is not None and got.doc is None and got.origin == "catalog" and got.problem is None
        assert got.warnings and "catalog copy of config.json is used" in got.warnings[0]

    def test_a_catalog_model_never_asks_the_hub(self, hub, tmp_path):
        assert model_source.fetch(ModelConfig(id="meta-llama/Llama-3.1-8B-Instruct"), src(tmp_path), True) is None
        assert hub.requests == []


class TestLocalFiles:
    def test_a_file_or_a_folder(self, tmp_path):
        (tmp_path / "m").mkdir()
        (tmp_path / "m" / "config.json").write_text(json.dumps(CONFIG))
        for ref in (str(tmp_path / "m"), str(tmp_path / "m" / "config.json")):
            got = model_source.read_local(ref)
            assert got.doc == CONFIG and got.origin == "file"

    @pytest.mark.parametrize(
        "content,why", [(None, "no such file"), ("{not json", "JSONDecodeError"), ("[1, 2]", "not a JSON object")]
    )
    def test_unreadable_files_name_the_key_and_the_fix(self, tmp_path, content, why):
        path = tmp_path / "config.json"
        if content is not None:
            path.write_text(content)
        got = model_source.read_local(str(path))
        assert got.doc is None and got.problem.key == "tpustack:model.config" and why in got.problem.reason
        assert "point model.config at the model's config.json" in got.problem.fix
