"""The pinned upstream artifacts the engine facts were read from, fetched for the tests and cached.

PyPI distributions (wheels and sdists) come from PyPI's JSON API, checked against the sha256 PyPI lists, and are
kept in .cache/artifacts/ (ignored). MaxText and JetStream at their pinned commits are not on PyPI, and CI reaches
only PyPI: their facts are recorded in tests/fixtures/artifacts/*.json by ``python tests/helpers/artifacts.py record
SRC_DIR...`` from a checkout of the pinned commit, and re-derived from that checkout whenever one is at hand
(TPUSTACK_SOURCES=dir holding JetStream-<commit>/ and maxtext-<commit>/).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
import tarfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # tests/helpers/ -> the checkout
CACHE = ROOT / ".cache" / "artifacts"
FIXTURES = ROOT / "tests" / "fixtures" / "artifacts"


def pypi_file(name: str, version: str, kind: str) -> Path:
    """The cached wheel ("bdist_wheel") or sdist of name==version, downloaded and sha256-checked if absent."""
    CACHE.mkdir(parents=True, exist_ok=True)
    index = f"https://pypi.org/pypi/{name}/json"
    with urllib.request.urlopen(index, timeout=60) as r:
        files = json.load(r)["releases"].get(version) or []
    candidates = [f for f in files if f["packagetype"] == kind]
    if not candidates:
        raise FileNotFoundError(f"PyPI has no {kind} of {name}=={version}")
    f = candidates[0]
    path = CACHE / f["filename"]
    if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != f["digests"]["sha256"]:
        tmp = path.with_suffix(".part")
        # a PyPI mirror may answer with URLs relative to the JSON document
        with urllib.request.urlopen(urllib.parse.urljoin(index, f["url"]), timeout=600) as r, open(tmp, "wb") as out:
            while chunk := r.read(1 << 20):
                out.write(chunk)
        if hashlib.sha256(tmp.read_bytes()).hexdigest() != f["digests"]["sha256"]:
            tmp.unlink()
            raise OSError(f"{f['filename']}: sha256 differs from PyPI's")
        tmp.rename(path)
    return path


class Archive:
    """Read files of a wheel (zip), an sdist (tar.gz) or a source directory by their path inside it."""

    def __init__(self, path: Path):
        self.path = path
        if path.is_dir():
            self.names = [str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()]
        elif path.suffix == ".whl":
            self._zip = zipfile.ZipFile(path)
            self.names = self._zip.namelist()
        else:
            self._tar = tarfile.open(path)  # noqa: SIM115 - kept open while the Archive is read
            # sdists nest everything under <name>-<version>/
            self._members = {m.name.split("/", 1)[1]: m for m in self._tar.getmembers() if "/" in m.name}
            self.names = list(self._members)

    def read(self, name: str) -> str:
        if self.path.is_dir():
            return (self.path / name).read_text()
        if hasattr(self, "_zip"):
            return self._zip.read(name).decode()
        f = self._tar.extractfile(self._members[name])
        assert f is not None
        return f.read().decode()


# ----- reading argparse / dataclass definitions ----------------------------------------------------------------------
def add_argument_flags(src: str) -> set[str]:
    """Every '--flag' literal passed to *.add_argument(...)."""
    out = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            out |= {a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("--")}
    return out


def argument_choices(src: str, flag: str) -> list[str]:
    for node in ast.walk(ast.parse(src)):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "add_argument"
            and any(isinstance(a, ast.Constant) and a.value == flag for a in node.args)
        ):
            for kw in node.keywords:
                if kw.arg == "choices" and isinstance(kw.value, (ast.List, ast.Tuple)):
                    return [e.value for e in kw.value.elts if isinstance(e, ast.Constant)]
    return []


def class_fields(src: str, *classes: str) -> set[str]:
    """Annotated field names of the named classes (dataclasses, pydantic models)."""
    out = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.ClassDef) and (not classes or node.name in classes):
            out |= {s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}
    return out


# ----- MaxText / JetStream facts (recorded from the pinned sources) -------------------------------------------------
def jetstream_facts(src: Path) -> dict:
    a = Archive(src)
    bench = a.read("benchmarks/benchmark_serving.py")
    proto = a.read("jetstream/core/proto/jetstream.proto")
    return {
        "bench_flags": sorted(add_argument_flags(bench)),
        "datasets": argument_choices(bench, "--dataset"),
        "warmup_modes": argument_choices(bench, "--warmup-mode"),
        "request_output_keys": sorted(
            {
                k.value
                for n in ast.walk(ast.parse(bench))
                if isinstance(n, ast.Dict)
                for k in n.keys
                if isinstance(k, ast.Constant)
                and k.value in ("prompt", "generated_text", "success", "latency_sec", "ttft_sec", "prompt_len")
            }
        ),
        "grpc_methods": sorted(w.split("(")[0] for w in proto.split("rpc ")[1:]),
        "has_benchmarks_package": "benchmarks/__init__.py" in a.names,
    }


def maxtext_facts(src: Path) -> dict:
    a = Archive(src)
    pyconfig = a.read("MaxText/pyconfig.py")
    base = a.read("MaxText/configs/base.yml")
    names: list[str] = []
    for node in ast.walk(ast.parse(pyconfig)):
        if isinstance(node, ast.FunctionDef) and node.name == "validate_model_name":
            for n in ast.walk(node):
                if isinstance(n, (ast.List, ast.Tuple, ast.Set)) and len(n.elts) > 5:
                    names = [e.value for e in n.elts if isinstance(e, ast.Constant)]
    keys = sorted(
        {
            line.split(":", 1)[0].strip()
            for line in base.splitlines()
            if line and not line.startswith((" ", "#", "-")) and ":" in line
        }
    )
    ckpt = a.read("MaxText/llama_or_mistral_ckpt.py")
    sizes: list[str] = []
    for node in ast.walk(ast.parse(ckpt)):
        if (
            isinstance(node, ast.Assign)
            and any(getattr(t, "id", "") == "MODEL_PARAMS_DICT" for t in node.targets)
            and isinstance(node.value, ast.Dict)
        ):
            sizes = [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
    return {
        "converter_flags": sorted(add_argument_flags(ckpt)),
        "converter_model_sizes": sorted(sizes),
        "model_names": sorted(names),
        "base_yml_keys": keys,
        "assets": sorted(n.split("/", 1)[1] for n in a.names if n.startswith("assets/") and n.count("/") == 1),
        "modules": sorted(
            n[:-3].replace("/", ".")
            for n in a.names
            if n.startswith("MaxText/") and n.count("/") == 1 and n.endswith(".py")
        ),
        "model_configs": sorted(
            n.rsplit("/", 1)[1][:-4] for n in a.names if n.startswith("MaxText/configs/models/") and n.endswith(".yml")
        ),
    }


def record(jetstream_src: Path, maxtext_src: Path, jetstream_ref: str, maxtext_ref: str) -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name, ref, facts in (
        ("jetstream", jetstream_ref, jetstream_facts(jetstream_src)),
        ("maxtext", maxtext_ref, maxtext_facts(maxtext_src)),
    ):
        doc = {
            "source": f"AI-Hypercomputer/{'JetStream' if name == 'jetstream' else 'maxtext'}@{ref}",
            "recorded_by": "python tests/helpers/artifacts.py record",
            **facts,
        }
        (FIXTURES / f"{name}-{ref[:7]}.json").write_text(json.dumps(doc, indent=1) + "\n")


def sources_dir() -> Path | None:
    d = os.environ.get("TPUSTACK_SOURCES")
    return Path(d) if d and Path(d).is_dir() else None


if __name__ == "__main__" and sys.argv[1:2] == ["record"]:
    js, mt, js_ref, mt_ref = sys.argv[2:6]
    record(Path(js), Path(mt), js_ref, mt_ref)
