"""The public API is written in one place, and the package keeps the shape the issue set.

A public name is one entry in its module's ``__all__``; ``celeba_lab/__init__.py`` reads those
lists into ``_API`` (name -> module) without importing the modules, and star-imports the same
modules under ``TYPE_CHECKING`` so that editors and static tools follow ``cl.train_gan`` to its
definition. These tests keep the three in agreement, and hold the line on module size and
import cycles.
"""

from __future__ import annotations

import ast
import importlib
import re
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
    # Internal: used by the package and its tests, by no chapter, the README or the API page.
    from celeba_lab import gan_training

    assert "load_generator" not in cl._API and callable(gan_training.load_generator)
    with pytest.raises(AttributeError, match="no attribute"):
        getattr(cl, "load_generator")


def _literal_all(module_name: str) -> list[str]:
    """A module's __all__ as static tools read it: a literal list in its source."""
    tree = ast.parse((PACKAGE.joinpath(*module_name.split(".")).with_suffix(".py")).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
                "__all__"]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{module_name} has no literal __all__")


def test_static_tools_see_the_same_table():
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    blocks = [node for node in tree.body if isinstance(node, ast.If)
              and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"]
    assert len(blocks) == 1
    imported = {}
    for node in blocks[0].body:
        assert isinstance(node, ast.ImportFrom) and node.level == 1
        assert [alias.name for alias in node.names] == ["*"], node.module
        for name in _literal_all(node.module):
            imported[name] = node.module
    assert imported == cl._API
    assert tuple(n.module for n in blocks[0].body) == cl._PUBLIC_MODULES


def test_a_public_name_is_one_entry_in_its_modules_all(tmp_path, monkeypatch):
    # No name is public twice (the table would keep one module's silently).
    assert sum(len(_literal_all(m)) for m in cl._PUBLIC_MODULES) == len(cl._API)
    (tmp_path / "shapes.py").write_text(
        '"""Shapes."""\n\n__all__ = [\n    "circle", "square",\n]\n\n\ndef circle():\n'
        '    """__all__ = ["not", "this"]"""\n')
    (tmp_path / "loose.py").write_text("def anything():\n    pass\n")
    monkeypatch.setattr(cl, "_HERE", tmp_path)
    assert cl._listed("shapes") == ["circle", "square"]
    with pytest.raises(ImportError, match="celeba_lab.loose has no literal __all__"):
        cl._listed("loose")


def _underscore_imports() -> dict[tuple[str, str], set[str]]:
    """(module, underscore name) -> the package modules that import it (private modules aside)."""
    files = sorted(PACKAGE.rglob("*.py"))
    found: dict[tuple[str, str], set[str]] = {}
    for path in files:
        current = module_report.module_name(path, PACKAGE)
        for node in ast.walk(ast.parse(path.read_text())):  # function-local imports too
            if not isinstance(node, ast.ImportFrom):
                continue
            source = module_report._resolve(node, current, path.name == "__init__.py")
            if not source.startswith("celeba_lab") or source.split(".")[-1].startswith("_"):
                continue
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.setdefault((source.removeprefix("celeba_lab."), alias.name),
                                     set()).add(current.removeprefix("celeba_lab."))
    return found


def test_underscore_names_cross_modules_only_where_contributing_lists_them():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    table = text.split("<!-- underscore seams -->")[1].split("<!-- end of underscore seams -->")[0]
    listed = {}  # module -> (its names, the modules importing them)
    for row in table.strip().splitlines()[2:]:
        module, names, into = (cell.strip() for cell in row.strip("|").split("|"))
        listed[module.strip("`")] = (set(re.findall(r"`(\w+)`", names)),
                                     set(re.findall(r"`([\w.]+)`", into)))
    found: dict[str, tuple[set, set]] = {}
    for (module, name), into in _underscore_imports().items():
        names, importers = found.setdefault(module, (set(), set()))
        names.add(name)
        importers.update(into)
    assert found == listed


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
