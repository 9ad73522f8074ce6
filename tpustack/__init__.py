"""tpustack: LLM inference on Google Cloud TPUs and GPUs, as infrastructure as code.

Rooms (README "Architecture"): ``core`` (stdlib-only facts shared with pods), ``config`` (the typed stack
config, its rules and the serving units derived from it), ``components`` (Pulumi ComponentResources),
``render`` (Kubernetes manifests and pod payloads), ``cost``, ``program`` (the composition root), ``plan`` (the
mock engine and the plan contract), ``policy``, ``ops`` (diff, reap, report), ``cli``, ``workloads`` (code that
runs on TPU VMs and in pods).

Installed from a wheel, ``components/``, ``workloads/`` and ``manifests/`` of the repository live inside this
package. In a source checkout they sit beside it; a finder maps exactly those three to ``tpustack.components``,
``tpustack.workloads`` and ``tpustack.manifests`` of the same tree as this file (so a base revision planned by
``tpustack diff`` never mixes in the working tree's code), and nothing else of the checkout (``tests``,
``stacks``) becomes part of the package. Stdlib only: pods import this package.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__version__ = "0.2.0"

_HERE = Path(__file__).resolve().parent
_CHECKOUT = _HERE.parent
# The checkout's folders that install inside the package (pyproject.toml [tool.setuptools.package-dir]).
MAPPED = ("components", "workloads", "manifests")


class _CheckoutFinder(importlib.abc.MetaPathFinder):
    """Finds ``tpustack.<name>`` for the mapped folders of this checkout (their submodules are then found through
    the package's own ``__path__``)."""

    def __init__(self, checkout: Path):
        self.checkout = checkout

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        head, _, name = fullname.partition(".")
        if head != __name__ or name not in MAPPED:
            return None
        folder = self.checkout / name
        init = folder / "__init__.py"
        if not init.is_file():
            return None
        return importlib.util.spec_from_file_location(fullname, init, submodule_search_locations=[str(folder)])


def _in_checkout() -> bool:
    return (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "components" / "__init__.py").is_file()


if _in_checkout() and not any(isinstance(f, _CheckoutFinder) and f.checkout == _CHECKOUT for f in sys.meta_path):
    sys.meta_path.insert(0, _CheckoutFinder(_CHECKOUT))


def package_dir(name: str) -> Path:
    """The directory of a data folder of the package (``manifests``), in a wheel or in a checkout."""
    candidates = [_HERE / name] + ([_CHECKOUT / name] if name in MAPPED and _in_checkout() else [])
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"tpustack: no '{name}' folder in {[str(c) for c in candidates]}")
