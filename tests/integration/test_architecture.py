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

from helpers.project import ROOT

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
        "huggingface_hub",  # the weights staging Job, in the engine's image (vLLM depends on it)
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
            ("docker.io/vllm/", "images.py"),  # engine images
            ("us-docker.pkg.dev/cloud-tpu-images", "images.py"),
            ("quay.io/inference-perf", "images.py"),
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


class TestClosedSetsAreCompared:
    """Engine, benchmark-tool and capacity-type names are compared only through their registries' enums: no
    comparison with, and no table keyed by, the bare strings (README "Architecture")."""

    def _values(self) -> set[str]:
        from tpustack.core.capacity import CapacityType
        from tpustack.core.engines import EngineName, ToolName

        return set(EngineName.values()) | set(ToolName.values()) | set(CapacityType.values())

    def _literals(self, node: ast.AST, values: set[str]) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in values:
            return [node.value]
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return [v for e in node.elts for v in self._literals(e, values)]
        return []

    def offenders(self, source: str, values: set[str]) -> list[str]:
        found = []
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Compare):
                for side in [node.left, *node.comparators]:
                    found += [f"line {node.lineno}: compares {v!r}" for v in self._literals(side, values)]
            elif isinstance(node, ast.Dict):
                keys = [v for k in node.keys if k is not None for v in self._literals(k, values)]
                if len(keys) >= 2 and len(keys) == len(node.keys):  # a table keyed by the closed set
                    found.append(f"line {node.lineno}: a dict keyed by {keys}")
            elif isinstance(node, ast.match_case) and isinstance(node.pattern, ast.MatchValue):
                found += [f"line {node.lineno}: matches {v!r}" for v in self._literals(node.pattern.value, values)]
        return found

    def test_no_bare_names_in_the_code(self):
        values = self._values()
        bad = {p.name: f for p, text in source_of_all_code().items() if (f := self.offenders(text, values))}
        assert bad == {}

    def test_the_check_sees_what_it_forbids(self):
        values = self._values()
        assert self.offenders('if e.name == "vllm": pass', values)
        assert self.offenders('ok = cap.type in ("spot", "flex-start")', values)
        assert self.offenders('PRICE = {"spot": 1, "on-demand": 2}', values)
        assert not self.offenders('args = ["--backend", "vllm"]; item["spot"] = True', values)


class TestModulesStaySmall:
    """No module above 500 lines: a module that grows past it has more than one responsibility."""

    @pytest.mark.parametrize("path", py_files(*CODE_DIRS), ids=lambda p: str(p.relative_to(ROOT)))
    def test_at_most_500_lines(self, path):
        assert len(path.read_text().splitlines()) <= 500


class TestThePackageIsOnlyThePackage:
    def test_the_checkout_is_not_part_of_the_package(self):
        import importlib

        for name in ("tpustack.tests", "tpustack.stacks", "tpustack.tpustack"):
            with pytest.raises(ModuleNotFoundError):
                importlib.import_module(name)
        import tpustack.components
        import tpustack.workloads

        assert Path(tpustack.components.__file__).parent == ROOT / "components"
        assert Path(tpustack.workloads.__file__).parent == ROOT / "workloads"


class TestNoAssertInPackageCode:
    """Invariants raise InternalError: ``python -O`` drops asserts."""

    def test_no_assert(self):
        bad = [
            f"{p.name}:{n.lineno}"
            for p, text in source_of_all_code().items()
            for n in ast.walk(ast.parse(text))
            if isinstance(n, ast.Assert)
        ]
        assert bad == []
