"""Fixtures every test may take: a valid base config to mutate, and a real GCS server on 127.0.0.1. What tests
share beyond fixtures is the ``helpers`` package (tests/helpers)."""

from __future__ import annotations

import os
import tempfile

import pytest

from helpers.project import BUCKET, base

# No test reaches the Hugging Face Hub: a model outside the catalog is read from a fake Hub on 127.0.0.1
# (tests/helpers/fake_hub.py) or not at all (nothing listens on port 9: tpustack's reachability check fails at
# once and reads only the cache), and nobody's real cache, token or login changes a result. Set before any test
# runs, so subprocesses (the CLI, the program) inherit it. Not HF_HUB_OFFLINE: huggingface_hub reads that once,
# at import, and the fake-Hub tests would inherit it.
_HOME = tempfile.mkdtemp(prefix="tpustack-test-home-")
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"
os.environ["HF_HOME"] = os.path.join(_HOME, "hf")
os.environ["TPUSTACK_CACHE_DIR"] = os.path.join(_HOME, "cache")
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HF_HUB_OFFLINE", None)


@pytest.fixture(name="base")
def base_config() -> dict:
    return base()


@pytest.fixture(scope="session")
def emulator():
    """A real GCS server on 127.0.0.1 (gcp-storage-emulator) with one bucket."""
    import socket

    from gcp_storage_emulator.server import create_server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def gcs_env(emulator, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator)
    return emulator
