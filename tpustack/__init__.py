"""tpustack: LLM inference on Google Cloud TPUs and GPUs, as infrastructure as code.

Rooms (README "Architecture"): ``core`` (stdlib-only facts shared with pods), ``config`` (the typed stack
config and its rules), ``components`` (Pulumi ComponentResources), ``render`` (Kubernetes manifests and pod
payloads), ``cost``, ``plan`` (the mock engine and the plan contract), ``policy``, ``ops`` (diff, reap,
report), ``cli``, ``workloads`` (code that runs on TPU VMs and in pods).

Installed from a wheel, ``components/``, ``workloads/`` and ``manifests/`` of the repository live inside this
package. In a source checkout they sit beside it; the checkout's root is added to this package's search
path, so ``tpustack.components`` is always the components of the same tree as this file (a base revision
planned by ``tpustack diff`` never mixes in the working tree's code). Stdlib only: pods import this package.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.2.0"

_HERE = Path(__file__).resolve().parent
_CHECKOUT = _HERE.parent
if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "components" / "__init__.py").is_file():
    __path__.append(str(_CHECKOUT))


def package_dir(name: str) -> Path:
    """The directory of a data folder of the package (``manifests``), in a wheel or in a checkout."""
    for entry in __path__:
        candidate = Path(entry) / name
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"tpustack: no '{name}' folder in {list(__path__)}")
