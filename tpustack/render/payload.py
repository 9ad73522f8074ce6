"""Pod payloads: the one way tpustack ships its own code to a TPU VM or a pod.

A payload is the import closure of one entry module (``tpustack.workloads.heartbeat``,
``tpustack.workloads.serving_bench``): the entry, every ``tpustack`` module it imports (read statically from
the source), and the ``__init__.py`` of each package on the way, laid out as the package (``tpustack/core/
catalog.py``...). The same payload goes into a ConfigMap mounted under ``MOUNT_PATH`` (GKE Jobs) or into
bucket objects a TPU VM copies at boot; either way the pod runs ``python3 -m <entry>`` with the payload root
on PYTHONPATH and no image of ours. Workload code imports only the standard library and ``tpustack.core``
(tests/integration/test_architecture.py), so nothing else is needed there.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

# Where a Job mounts the payload; PYTHONPATH points here.
MOUNT_PATH = "/opt/tpustack/code"
CONFIGMAP_NAME = "tpustack-workloads"


@dataclass(frozen=True)
class PayloadFile:
    path: str  # inside the payload, e.g. tpustack/core/catalog.py
    source: Path

    @property
    def configmap_key(self) -> str:
        # ConfigMap keys allow [-._a-zA-Z0-9]; the volume's items restore the layout.
        return self.path.replace("/", "--")

    @property
    def slug(self) -> str:
        """A short stable name: tpustack/workloads/heartbeat.py -> workloads-heartbeat, tpustack/__init__.py
        -> init."""
        parts = self.path.removeprefix("tpustack/").removesuffix(".py").split("/")
        return "-".join("init" if p == "__init__" else p.replace("_", "-") for p in parts)


@dataclass(frozen=True)
class Payload:
    entry: str
    files: tuple[PayloadFile, ...]

    def revision(self) -> str:
        """Content hash of the code the pods run: stands in for a git revision, so two plans of the same code
        are identical whatever commit they are made from."""
        h = hashlib.sha256()
        for f in self.files:
            h.update(f.path.encode() + b"\0" + f.source.read_bytes() + b"\0")
        return "sha256:" + h.hexdigest()[:16]

    def configmap_data(self) -> dict[str, str]:
        return {f.configmap_key: f.source.read_text() for f in self.files}

    def mount_items(self) -> list[dict[str, str]]:
        return [{"key": f.configmap_key, "path": f.path} for f in self.files]


def _module_file(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ImportError(f"payload: cannot find module {module}")
    return Path(spec.origin)


def _imports(module: str, path: Path) -> set[str]:
    """tpustack modules a source file imports (absolute and relative), at any depth in the file."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
    out = set()
    for name in found:
        if name == "tpustack" or name.startswith("tpustack."):
            # "from tpustack.core import catalog" names a module; "from .errors import X" names an attribute.
            out.add(name if _is_module(name) else name.rpartition(".")[0])
    return out


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # the parent is a module, not a package: ``name`` is an attribute
        return False


def payload(entry: str) -> Payload:
    """The import closure of ``entry`` within tpustack, with the packages' ``__init__.py``."""
    seen: dict[str, Path] = {}
    todo = [entry]
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        path = _module_file(mod)
        seen[mod] = path
        parts = mod.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        todo.extend(_imports(mod, path) - set(seen))
    files = []
    for mod, path in seen.items():
        rel = "/".join(mod.split(".")) + ("/__init__.py" if path.name == "__init__.py" else ".py")
        files.append(PayloadFile(rel, path))
    return Payload(entry, tuple(sorted(files, key=lambda f: f.path)))
