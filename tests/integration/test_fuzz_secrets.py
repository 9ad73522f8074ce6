"""Property-based tests of the README's promises for bad input that carries a credential: whatever stack name or
stack-file value a token is pasted into, `tpustack plan` exits 3 with plain `error: ... Fix: ...` lines, no
traceback, at least one problem for every key that holds one (each problem once), and the token appears nowhere in
its output, stdout or stderr, text or --json."""

from __future__ import annotations

import copy
import json
import shutil
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tpustack.config import load_config
from tpustack.config.project import read_stack_file
from tpustack.core.errors import ConfigError

from helpers.project import PROJECT, ROOT, STACKS, run_cli

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
ALNUM = string.ascii_letters + string.digits

# Tokens in the formats tpustack.core.secrets knows, with a body hypothesis chooses: what must never be printed.
tokens = st.one_of(
    st.builds(lambda b: "hf_" + b, st.text(ALNUM, min_size=34, max_size=34)),
    st.builds(lambda b: "ghp_" + b, st.text(ALNUM, min_size=36, max_size=36)),
    st.builds(lambda b: "AIza" + b, st.text(ALNUM + "_-", min_size=35, max_size=35)),
    st.builds(lambda b: "ya29." + b, st.text(ALNUM + "_-", min_size=40, max_size=40)),
)
around = st.text(string.ascii_letters + string.digits + "-_./:=@ ", max_size=6)


@st.composite
def carried(draw) -> tuple[object, str]:
    """A value that carries a token somewhere (a string with text around it, a list item, a mapping's key or
    value), and the token."""
    tok = draw(tokens)
    text = draw(around) + tok + draw(around)
    shape = draw(st.sampled_from(["str", "list", "key", "value", "flag"]))
    value = {
        "str": text,
        "list": [draw(st.integers(0, 9)), text],
        "key": {text: draw(st.integers(0, 9))},
        "value": {"x": text},
        "flag": [f"--hf-token={text}"],
    }[shape]
    return value, tok


def leaked(tok: str, *texts: str) -> bool:
    body = tok[5:]  # past any prefix: a part of the token this long identifies it
    return any(body[i : i + 12] in t for t in texts for i in range(0, len(body) - 12, 6))


def base_values() -> dict:
    values, _ = read_stack_file(PROJECT, "gke-vllm-any")
    out = {}
    for k, v in values.items():
        out[k] = json.loads(v) if k != "tpustack:hfToken" and v[:1] in "[{" else v
    out["tpustack:hfToken"] = {"secure": "v1:placeholder"}
    return out


BASE = base_values()
KEYS = sorted(k for k in BASE if k != "tpustack:hfToken")


def paths(doc: dict, top: str) -> list[list]:
    """Every path below ``doc[top]`` to a node (dict keys, list indices)."""
    out: list[list] = [[top]]

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                out.append([*path, k])
                walk(v, [*path, k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                out.append([*path, i])
                walk(v, [*path, i])

    walk(doc[top], [top])
    return out


def put(doc: dict, path: list, value) -> None:
    node = doc
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-secrets")
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy2(ROOT / name, root / name)
    (root / "stacks").mkdir()
    return root


class TestTokensInStackFileValues:
    @FUZZ
    @given(
        data=st.data(),
        tops=st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True),
        as_json=st.booleans(),
    )
    def test_plan(self, capsys, monkeypatch, project, data, tops, as_json):
        doc, toks = copy.deepcopy(BASE), []
        for top in tops:
            path = data.draw(st.sampled_from(paths(BASE, top)))
            value, tok = data.draw(carried())
            put(doc, path, value)
            toks.append(tok)
        (project / "stacks" / "Pulumi.f.yaml").write_text(yaml.safe_dump({"config": doc}))
        argv = ["plan", "--stack", "f", *(["--json"] if as_json else [])]
        code, out, err = run_cli(capsys, *argv, cwd=project, monkeypatch=monkeypatch)
        assert code == 3, (code, err)
        assert "Traceback" not in err and err.startswith("error:") and "Fix:" in err, err
        assert not any(leaked(t, out, err) for t in toks), err
        lines = [ln.strip() for ln in err.splitlines()[1:]]
        assert len(lines) == len(set(lines)), err  # each problem once
        for top in tops:  # every bad key is named
            assert any(ln.startswith(top) for ln in lines), (top, err)

    @FUZZ
    @given(data=st.data(), top=st.sampled_from(KEYS))
    def test_load_config(self, data, top):
        doc = copy.deepcopy(BASE)
        doc["tpustack:hfToken"] = "[secret:tpustack:hfToken]"
        path = data.draw(st.sampled_from(paths(BASE, top)))
        value, tok = data.draw(carried())
        put(doc, path, value)
        values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in doc.items()}
        with pytest.raises(ConfigError) as e:
            load_config(values, {"tpustack:hfToken"}, "f")
        texts = [str(e.value), *e.value.lines(), *(p.key for p in e.value.problems)]
        assert not leaked(tok, *texts), texts
        assert any(p.key.startswith(top) for p in e.value.problems), (top, texts)


class TestTokensInStackNames:
    @FUZZ
    @given(before=around, tok=tokens, after=around, as_json=st.booleans())
    def test_plan(self, capsys, monkeypatch, before, tok, after, as_json):
        name = before + tok + after
        argv = ["plan", "--stack", name, *(["--json"] if as_json else [])]
        code, out, err = run_cli(capsys, *argv, "--project-dir", str(ROOT), monkeypatch=monkeypatch)
        assert code == 3, (code, err)
        assert "Traceback" not in err and err.startswith("error:") and "Fix:" in err, err
        assert not leaked(tok, out, err), err

    @FUZZ
    @given(name=st.text(max_size=300))
    def test_any_name(self, capsys, monkeypatch, name):
        if name in STACKS or name.startswith("-"):
            return
        code, _, err = run_cli(capsys, "plan", "--stack", name, "--project-dir", str(ROOT), monkeypatch=monkeypatch)
        assert code == 3 and "Traceback" not in err and "internal error" not in err and "Fix:" in err, err
        assert len(err) < 3000
