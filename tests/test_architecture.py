"""The house rules of README "Architecture", checked on the source: one place per fact, components that take
their own Args, pod code that needs only the standard library, one Jinja environment, templates in manifests/.
(The import layering itself is import-linter's contract in pyproject.toml, run by `make lint`.)"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from pathlib import Path

import pulumi
import pytest

import tpustack

from conftest import ROOT

CODE_DIRS = [ROOT / "tpustack", ROOT / "components", ROOT / "workloads"]


def py_files(*dirs: Path) -> list[Path]:
    return sorted(p for d in dirs for p in d.rglob("*.py") if "__pycache__" not in p.parts)


def source_of_all_code() -> dict[Path, str]:
    return {p: p.read_text() for p in py_files(*CODE_DIRS)}


class TestComponentsAreComponents:
    def components(self):
        import importlib

        found = []
        for path in py_files(ROOT / "components"):
            mod = importlib.import_module(f"tpustack.components.{path.stem}")
            for _, cls in inspect.getmembers(mod, inspect.isclass):
                if (
                    issubclass(cls, pulumi.ComponentResource)
                    and cls.__module__ == mod.__name__
                    and not cls.__name__.startswith("_")
                ):
                    found.append(cls)
        return found

    def test_every_component_takes_name_args_opts(self):
        comps = self.components()
        assert len(comps) >= 8, [c.__name__ for c in comps]
        for cls in comps:
            params = list(inspect.signature(cls.__init__).parameters)
            assert params == ["self", "name", "args", "opts"], (cls.__name__, params)

    def test_components_never_read_the_stack_config(self):
        for path in py_files(ROOT / "components"):
            text = path.read_text()
            assert "StackConfig" not in text and "from_pulumi" not in text, path.name

    def test_type_tokens_name_area_and_kind(self):
        tokens = re.findall(r'"(tpustack:[^"]+)"', "\n".join(p.read_text() for p in py_files(ROOT / "components")))
        assert tokens and all(re.fullmatch(r"tpustack:[a-z]+:[A-Z][A-Za-z]+", t) for t in tokens), tokens


class TestPodCodeIsStdlibOnly:
    OPTIONAL = {
        "torch",
        "torch_xla",
        "jax",
        "google",
        "requests",
    }  # imported inside functions, where the machine has them

    @pytest.mark.parametrize("path", py_files(ROOT / "workloads", ROOT / "tpustack" / "core"), ids=lambda p: p.name)
    def test_imports(self, path):
        tree = ast.parse(path.read_text())
        top_level = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module or ""]
            else:
                continue
            for m in mods:
                root = m.split(".")[0]
                ours = m.startswith(("tpustack.core", "tpustack.workloads")) or m == "tpustack"
                lazy_optional = id(node) not in top_level and root in self.OPTIONAL
                assert root in sys.stdlib_module_names or ours or lazy_optional, f"{path.name} imports {m}"


class TestOnePlacePerFact:
    def test_one_jinja_environment(self):
        holders = [p.name for p, text in source_of_all_code().items() if "jinja2.Environment(" in text]
        assert holders == ["env.py"], holders

    def test_templates_live_in_manifests(self):
        elsewhere = [p for d in CODE_DIRS for p in d.rglob("*.j2")]
        assert elsewhere == []
        assert (tpustack.package_dir("manifests") / "tpu-vm" / "startup.sh.j2").is_file()

    @pytest.mark.parametrize(
        "fact,home",
        [
            ("docker.io/vllm/", "engines.py"),  # engine images
            ("us-docker.pkg.dev/cloud-tpu-images", "engines.py"),
            ("quay.io/inference-perf", "engines.py"),
            ("peak_bf16_tflops=918", "catalog.py"),  # per-chip figures
            ("hbm_gbps=1638", "catalog.py"),
            ("ct6e-standard-", "catalog.py"),  # machine types
            ("CHANNEL_MINOR = ", "derived.py"),
        ],
    )
    def test_fact_is_written_once(self, fact, home):
        holders = [p.name for p, text in source_of_all_code().items() if fact in text]
        assert holders == [home], (fact, holders)

    def test_prices_only_in_the_price_table(self):
        for p, text in source_of_all_code().items():
            assert not re.search(r"(on_demand|spot|flex_start)['\"]?\s*[:=]\s*\d+\.\d+", text), p.name

    def test_label_sanitizing_in_one_module(self):
        holders = [
            p.name for p, text in source_of_all_code().items() if "[^a-z0-9_-]" in text or "[^A-Za-z0-9._-]" in text
        ]
        assert holders == ["names.py"], holders
