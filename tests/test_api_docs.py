"""Every public function renders a complete entry in the API appendix, on the right page.

The API reference is generated from docstrings, so this test is what keeps it complete: each
public function (and each public class) says what it takes, what it returns, what it raises
where it raises, and shows a short example. The appendix is three pages: ``book/api.md`` (by
task: one example and a table per task, the names the chapters and the README use),
``book/api_reference.md`` (their full entries) and ``book/api_internals.md`` (the engine
modules, and every other public name); every module and name is on exactly one, and the
task page's examples run.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

def _package_modules() -> list[str]:
    """Every module of the package but ``__main__`` and the private ones (``_io``, ...)."""
    import pkgutil

    import celeba_lab

    names = [info.name for info in pkgutil.walk_packages(celeba_lab.__path__, "celeba_lab.")]
    return [n for n in names
            if not any(part.startswith("_") for part in n.split(".")[1:])]


MODULES = _package_modules()


def _public_callables():
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                if getattr(obj, "__module__", module_name) == module_name:
                    yield pytest.param(obj, id=f"{module_name}.{name}")


def _documented_parameters(func) -> list[str]:
    params = inspect.signature(func).parameters.values()
    return [p.name for p in params
            if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


@pytest.mark.parametrize("obj", list(_public_callables()))
def test_public_api_is_documented(obj):
    doc = inspect.getdoc(obj) or ""
    assert doc.strip(), f"{obj.__qualname__} has no docstring"
    if inspect.isclass(obj):
        return  # classes: a docstring; their methods are documented where they are public
    params = _documented_parameters(obj)
    if params:
        assert "Args:" in doc, f"{obj.__qualname__}: no 'Args:' section"
        for name in params:
            assert re.search(rf"^\s+{name}\b", doc, re.M), (
                f"{obj.__qualname__}: parameter {name!r} is not described under Args")
    ret = inspect.signature(obj).return_annotation
    if ret not in (inspect.Signature.empty, None, "None"):
        assert "Returns:" in doc or "Yields:" in doc, f"{obj.__qualname__}: no 'Returns:'"
    source = inspect.getsource(obj)
    if re.search(r"^\s+raise \w", source, re.M):
        assert "Raises:" in doc, f"{obj.__qualname__} raises but has no 'Raises:' section"
    assert "Example" in doc, f"{obj.__qualname__}: no 'Example:' section"


# The API appendix is three pages: api.md (by task: an example and a table per task),
# api_reference.md (the full entries of those names, same groups) and api_internals.md (the
# engine modules whole, and every other public name, module by module).
BOOK = Path(__file__).resolve().parent.parent / "book"
ENTRY = re.compile(r"^\.\. auto(?:function|class|data):: celeba_lab\.([\w.]+)\.(\w+)$", re.M)
AUTOMODULE = re.compile(r"^\.\. automodule:: celeba_lab\.([\w.]+)\n((?:   :.*\n)*)", re.M)


def _automodules(text: str) -> dict[str, tuple[set[str] | None, set[str]]]:
    """module -> (members named, or None for all of ``__all__``; members excluded)."""
    found = {}
    for module, options in AUTOMODULE.findall(text):
        opts = dict(re.findall(r"^   :([\w-]+):(.*)$", options, re.M))
        if "members" not in opts:
            found[module] = (set(), set())
            continue
        named = {n.strip() for n in opts["members"].split(",") if n.strip()} or None
        found[module] = (named, {n.strip() for n in opts.get("exclude-members", "").split(",")
                                 if n.strip()})
    return found


def _documented() -> list[tuple[str, str]]:
    """Every (module, name) the reference and internals pages render, with repeats."""
    entries = ENTRY.findall((BOOK / "api_reference.md").read_text())
    for page in ("api_reference.md", "api_internals.md"):
        for module, (named, excluded) in _automodules((BOOK / page).read_text()).items():
            names = named if named is not None else \
                set(getattr(importlib.import_module(f"celeba_lab.{module}"), "__all__", ()))
            entries += [(module, n) for n in sorted(names - excluded)]
    return entries


def test_every_module_and_public_name_is_documented_once():
    entries = _documented()
    assert len(entries) == len(set(entries)), "a name is documented twice"
    pages = "".join((BOOK / p).read_text() for p in ("api_reference.md", "api_internals.md"))
    for module_name in MODULES + ["celeba_lab._io"]:
        module = importlib.import_module(module_name)
        short = module_name.removeprefix("celeba_lab.")
        for name in getattr(module, "__all__", ()):
            if hasattr(module, "__path__"):    # a package: its names under their submodules
                assert any(n == name for _, n in entries), f"{short}.{name} is on no API page"
            else:
                assert (short, name) in entries, f"{short}.{name} is on no API page"
        if not hasattr(module, "__path__"):
            assert re.search(rf"^\.\. auto\w+:: celeba_lab\.{re.escape(short)}\b", pages, re.M), \
                f"{short} is on no API page"


def test_the_task_page_lists_its_reference_page_and_what_the_book_uses():
    import celeba_lab as cl

    task = (BOOK / "api.md").read_text()
    listed = set(re.findall(r"^   ~celeba_lab\.([\w.]+)\.(\w+)$", task, re.M))
    reference = set(ENTRY.findall((BOOK / "api_reference.md").read_text()))
    for module, (named, excluded) in _automodules((BOOK / "api_reference.md").read_text()).items():
        reference |= {(module, n) for n in importlib.import_module(f"celeba_lab.{module}").__all__}
    assert listed == reference
    used = set()
    for page in [*BOOK.glob("*.md"), BOOK.parent / "README.md"]:
        if not page.name.startswith("api"):
            used |= set(re.findall(r"\bcl\.(?:plots\.)?([A-Za-z_]\w*)", page.read_text()))
    # The sentences the book writes about its own results (narrative) are internals.
    missing = {n for n in used if n in cl._API and cl._API[n] != "narrative"
               and (cl._API[n], n) not in listed}
    assert not missing, f"used by the book or the README, not on the task page: {missing}"


def _task_examples() -> list[str]:
    text = (BOOK / "api.md").read_text()
    return re.findall(r"^## .*?\n.*?```python\n(.*?)```", text, re.S | re.M)


def test_every_task_has_one_example():
    headings = re.findall(r"^## ", (BOOK / "api.md").read_text(), re.M)
    assert len(_task_examples()) == len(headings) == 5


@pytest.mark.slow
def test_the_task_examples_run(tmp_cache, synthetic_root, monkeypatch, capsys):
    # load_celeba() reads $CELEBA_ROOT: the session's 3,000-image synthetic set stands in.
    monkeypatch.setenv("CELEBA_ROOT", str(synthetic_root))
    namespace: dict = {}
    for example in _task_examples():
        exec(compile(example, str(BOOK / "api.md"), "exec"), namespace)
    assert namespace["pixels"].shape == (20, 32, 32, 3)
    assert 0 <= namespace["result"].metrics["balanced_accuracy"] <= 1
    assert namespace["faces"].shape == (200, 32, 32, 3)
    assert set(namespace["shares"]["source"]) == {"real", "generated"}
    assert namespace["figure"].axes
    assert namespace["male"].path.is_relative_to(tmp_cache)
