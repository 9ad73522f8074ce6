"""What the dependency floors must keep working that the plan tests alone would not notice.

`make test-floors` (.ci/floors) runs this file in a venv with the oldest versions pyproject.toml allows
(.ci/lock/floors.txt). Found by bisecting PyPI releases: below typer 0.17.5 (with click >= 8.2) every
`SUBCOMMAND --help` crashed or required options were silently None; below kubernetes-validate 1.34.1 the
RAPID channel's manifests were validated against 1.33 schemas without a word.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tpustack.config import derived

COMMANDS = ["plan", "check", "stacks", "catalog", "reap", "diff", "heartbeat", "report"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tpustack.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_renders(command: str) -> None:
    result = cli(command, "--help")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--help" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_missing_required_option_is_a_usage_error() -> None:
    result = cli("plan")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Missing option '--stack'" in result.stdout + result.stderr


def test_schemas_exist_for_every_release_channel_minor() -> None:
    import kubernetes_validate.utils as kv

    have = {".".join(v.split(".")[:2]) for v in kv.all_versions()}
    missing = set(derived.CHANNEL_MINOR.values()) - have
    assert not missing, f"kubernetes-validate lacks schemas for {sorted(missing)}; it has {sorted(have)}"
