"""Fixtures every test may take: a valid base config to mutate, and a real GCS server on 127.0.0.1. What tests
share beyond fixtures is the ``helpers`` package (tests/helpers)."""

from __future__ import annotations

import pytest

from helpers.project import BUCKET, base


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
