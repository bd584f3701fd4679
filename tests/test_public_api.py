"""The public API is one explicit table, and the package keeps the shape the issue set.

``celeba_lab/__init__.py`` maps every public name to the module that defines it (``_API``), and
repeats the table as ``TYPE_CHECKING`` imports so that editors and static tools follow
``cl.train_gan`` to its definition. These tests keep the table, the imports and the modules'
``__all__`` in agreement, and hold the line on module size and import cycles.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import celeba_lab as cl

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "celeba_lab"
sys.path.insert(0, str(ROOT / "scripts"))
import module_report  # noqa: E402


def test_every_public_name_resolves_to_its_module():
    assert cl._API, "the table is empty"
    for name, module_name in cl._API.items():
        module = importlib.import_module(f"celeba_lab.{module_name}")
        assert getattr(cl, name) is getattr(module, name), name


def test_the_table_is_the_union_of_the_modules_all():
    for module_name in sorted(set(cl._API.values())):
        module = importlib.import_module(f"celeba_lab.{module_name}")
        listed = {n for n, m in cl._API.items() if m == module_name}
        assert set(module.__all__) == listed, module_name
    assert sorted(cl.__all__) == sorted(cl._API)


def test_a_name_outside_the_table_is_not_public():
    with pytest.raises(AttributeError, match="no attribute"):
        getattr(cl, "_read_attributes")
    with pytest.raises(AttributeError, match="no attribute"):
        getattr(cl, "no_such_function")


def test_static_tools_see_the_same_table():
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    blocks = [node for node in tree.body if isinstance(node, ast.If)
              and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"]
    assert len(blocks) == 1
    imported = {}
    for node in blocks[0].body:
        assert isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names:
            imported[alias.name] = node.module
    assert imported == cl._API


def test_dir_lists_the_public_names():
    names = dir(cl)
    assert "train_gan" in names and "load_celeba" in names and "plots" in names


def test_importing_the_package_starts_no_keras():
    code = ("import sys, celeba_lab as cl; cl.load_celeba; cl.balanced_sample; "
            "print('keras' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_no_module_is_over_800_lines_and_no_import_cycle():
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_report.module_name(f, PACKAGE): f for f in files}
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        imports = module_report.package_imports(tree, name, path.name == "__init__.py",
                                                set(modules))
        graph[name] = {m for m, _ in imports if m != name}
        assert len(path.read_text().splitlines()) <= 800, name
    assert module_report.cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import x\n")
    (package / "b.py").write_text("def x():\n    from pkg import a\n")
    (package / "c.py").write_text("from . import a\n")
    assert module_report.main([str(package)]) == 1
    files = sorted(package.rglob("*.py"))
    modules = {module_report.module_name(f, package): f for f in files}
    graph = {name: {m for m, _ in module_report.package_imports(
        ast.parse(path.read_text()), name, path.name == "__init__.py", set(modules))} - {name}
        for name, path in modules.items()}
    assert module_report.cycles(graph) == [["pkg.a", "pkg.b"]]
