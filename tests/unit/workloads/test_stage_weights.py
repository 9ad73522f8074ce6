"""The weights staging Job's pod code (tpustack.workloads.stage_weights) against a real GCS server on 127.0.0.1
(gcp-storage-emulator) through the real google-cloud-storage client, and through the stdlib JSON API: it uploads
once, resumes, never overwrites, and writes its marker last."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from tpustack.core.errors import InputError
from workloads import gcs, stage_weights

from helpers.project import BUCKET

REPO = "acme/tiny-llm"


class FakeHub:
    """A stand-in for the Hub with the interface of stage_weights.Hub; it serves FILES plus what a server never
    needs (Meta's original/ checkpoint, a README), and counts downloads."""

    def __init__(self, files: dict[str, bytes]):
        self.data = {**files, "original/consolidated.00.pth": b"pth", "README.md": b"# readme"}
        self.fetched: list[str] = []

    def files(self, repo: str, revision: str) -> list[str]:
        return list(self.data)

    def fetch(self, repo: str, revision: str, name: str, local_dir: Path) -> Path:
        self.fetched.append(name)
        p = local_dir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(self.data[name])
        return p


FILES = {
    "config.json": b'{"model_type": "llama"}',
    "model-00001-of-00002.safetensors": b"\x00" * 4096,
    "model-00002-of-00002.safetensors": b"\x01" * 1024,
    "tokenizer.json": b"{}",
}


def dest(name: str) -> str:
    return f"gs://{BUCKET}/models/{name}"


@pytest.fixture(params=["client", "stdlib"])
def gcs_any(request, gcs_env, monkeypatch):
    if request.param == "stdlib":
        monkeypatch.setenv("TPUSTACK_GCS_STDLIB", "1")
    return request.param


class TestStage:
    def test_uploads_every_file_then_the_marker(self, gcs_any, tmp_path):
        d = dest(f"first-{gcs_any}")
        doc = stage_weights.stage(REPO, "main", d, tmp_path, hub=FakeHub(FILES))
        assert not doc["already_staged"]
        names = {u.removeprefix(d + "/") for u in gcs.list_uris(d + "/")}
        assert names == {*FILES, stage_weights.MARKER}  # not original/ nor the README
        assert not any(p.is_file() for p in tmp_path.rglob("*"))  # each local copy deleted once uploaded
        for name, data in FILES.items():
            assert gcs.read(f"{d}/{name}") == data
        marker = json.loads(gcs.read(f"{d}/{stage_weights.MARKER}"))
        assert marker["repo"] == REPO and marker["bytes"] == sum(map(len, FILES.values()))
        assert {f["name"] for f in marker["files"]} == set(FILES)

    def test_a_second_run_finds_the_marker_and_downloads_nothing(self, gcs_any, tmp_path):
        d = dest(f"again-{gcs_any}")
        stage_weights.stage(REPO, "main", d, tmp_path / "a", hub=FakeHub(FILES))
        hub = FakeHub(FILES)
        doc = stage_weights.stage(REPO, "main", d, tmp_path / "b", hub=hub)
        assert doc["already_staged"] and hub.fetched == []

    def test_another_models_marker_is_refused_and_kept(self, gcs_env, tmp_path, capsys, monkeypatch):
        d = dest("taken")
        stage_weights.stage("other/model", "main", d, tmp_path / "a", hub=FakeHub(FILES))
        before = gcs.read(f"{d}/{stage_weights.MARKER}")
        code = stage_weights.main(["--repo", REPO, "--dest", d, "--local-dir", str(tmp_path / "b")])
        err = capsys.readouterr().err
        assert code == 3 and "other/model" in err and "Fix:" in err and "Traceback" not in err
        assert gcs.read(f"{d}/{stage_weights.MARKER}") == before

    def test_a_failed_run_resumes_keeping_what_was_uploaded(self, gcs_env, tmp_path):
        d = dest("resume")
        gcs.upload_new(f"{d}/config.json", self._file(tmp_path, FILES["config.json"]))
        doc = stage_weights.stage(REPO, "main", d, tmp_path / "dl", hub=FakeHub(FILES))
        assert len(doc["files"]) == len(FILES)
        assert gcs.exists(f"{d}/{stage_weights.MARKER}")

    def test_an_object_of_another_size_is_refused_and_not_overwritten(self, gcs_env, tmp_path):
        d = dest("clash")
        gcs.upload_new(f"{d}/tokenizer.json", self._file(tmp_path, b"someone else's tokenizer"))
        with pytest.raises(InputError, match="tokenizer.json exists"):
            stage_weights.stage(REPO, "main", d, tmp_path / "dl", hub=FakeHub(FILES))
        assert gcs.read(f"{d}/tokenizer.json") == b"someone else's tokenizer"
        assert not gcs.exists(f"{d}/{stage_weights.MARKER}")  # no marker: no server reads a half-staged model

    def test_a_repo_without_safetensors_is_refused(self, gcs_env, tmp_path):
        with pytest.raises(InputError, match="safetensors"):
            stage_weights.stage(REPO, "main", dest("pth"), tmp_path, hub=FakeHub({"model.bin": b"x"}))
        assert not gcs.exists(f"{dest('pth')}/{stage_weights.MARKER}")

    @staticmethod
    def _file(tmp_path: Path, data: bytes) -> Path:
        p = tmp_path / "one"
        p.write_bytes(data)
        return p


class TestCommandLine:
    def test_not_a_gs_destination_is_exit_3(self, capsys, tmp_path):
        assert stage_weights.main(["--repo", REPO, "--dest", "s3://b/p", "--local-dir", str(tmp_path)]) == 3
        assert "gs://" in capsys.readouterr().err

    def test_a_hub_failure_is_one_line_exit_1(self, gcs_env, capsys, tmp_path, monkeypatch):
        import huggingface_hub

        def gated(*a, **kw):
            raise PermissionError("401 Client Error: access to model acme/tiny-llm is restricted")

        monkeypatch.setattr(huggingface_hub, "list_repo_files", gated)
        code = stage_weights.main(["--repo", REPO, "--dest", dest("gated"), "--local-dir", str(tmp_path)])
        err = capsys.readouterr().err
        assert code == 1 and "restricted" in err and "hfToken" in err and "Traceback" not in err

    def test_the_hub_calls_match_huggingface_hubs_signatures(self):
        import huggingface_hub

        listing = list(inspect.signature(huggingface_hub.list_repo_files).parameters)
        assert listing[0] == "repo_id" and "revision" in listing
        download = list(inspect.signature(huggingface_hub.hf_hub_download).parameters)
        assert download[:2] == ["repo_id", "filename"] and {"revision", "local_dir"} <= set(download)
        # hf_hub_download(..., local_dir=D) puts the file at D/<filename> and returns that path
        assert "local_dir" in inspect.getsource(huggingface_hub.hf_hub_download)

    def test_the_real_hub_client_lists_and_fetches_through_huggingface_hub(self, tmp_path, monkeypatch):
        import huggingface_hub

        seen = []

        def download(repo_id, filename, *, revision, local_dir):
            seen.append((repo_id, filename, revision))
            p = Path(local_dir) / filename
            p.write_bytes(b"w")
            return str(p)

        monkeypatch.setattr(huggingface_hub, "list_repo_files", lambda repo_id, revision: ["a.safetensors"])
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
        hub = stage_weights.Hub()
        assert hub.files(REPO, "main") == ["a.safetensors"]
        assert hub.fetch(REPO, "main", "a.safetensors", tmp_path) == tmp_path / "a.safetensors"
        assert seen == [(REPO, "a.safetensors", "main")]


class TestRace:
    """Two clusters of a multi-region stack stage the same model at once: the loser of each create keeps the
    winner's object when it is the same file, and both Jobs succeed."""

    def test_a_racing_upload_of_the_same_file_is_kept(self, gcs_env, tmp_path, monkeypatch):
        d = dest("race")
        real = gcs.upload_new

        def racing(uri, path):
            real(uri, path)  # the other Job's upload lands between our size check and our create
            real(uri, path)

        monkeypatch.setattr(gcs, "upload_new", racing)
        doc = stage_weights.stage(REPO, "main", d, tmp_path, hub=FakeHub(FILES))
        assert len(doc["files"]) == len(FILES) and gcs.exists(f"{d}/{stage_weights.MARKER}")

    def test_a_racing_marker_of_the_same_model_is_kept(self, gcs_env, tmp_path, monkeypatch):
        d = dest("race-marker")
        real = gcs.write_new

        def racing(uri, data, content_type="application/octet-stream"):
            if uri.endswith(stage_weights.MARKER):
                real(uri, data, content_type)
            return real(uri, data, content_type)

        monkeypatch.setattr(gcs, "write_new", racing)
        doc = stage_weights.stage(REPO, "main", d, tmp_path, hub=FakeHub(FILES))
        assert not doc["already_staged"]


def test_a_scratch_that_cannot_be_written_is_exit_1_without_a_traceback(gcs_env, tmp_path, capsys, monkeypatch):
    class FullDisk(FakeHub):
        def fetch(self, repo, revision, name, local_dir):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(stage_weights, "Hub", lambda: FullDisk(FILES))
    code = stage_weights.main(["--repo", REPO, "--dest", dest("full"), "--local-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "No space left on device" in err and "Fix:" in err and "Traceback" not in err
    assert not gcs.exists(f"{dest('full')}/{stage_weights.MARKER}")
