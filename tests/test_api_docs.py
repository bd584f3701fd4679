"""Every public function renders a complete entry in the API chapter.

The API reference is generated from docstrings, so this test is what keeps it complete: each
public function (and each public class) says what it takes, what it returns, what it raises
where it raises, and shows a short example.
"""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

MODULES = [
    "celeba_lab.config", "celeba_lab.environment", "celeba_lab.data", "celeba_lab.synthetic",
    "celeba_lab.download", "celeba_lab.classifiers", "celeba_lab.gan", "celeba_lab.gan_training",
    "celeba_lab.gan_backends", "celeba_lab.runs", "celeba_lab.collapse",
    "celeba_lab.learned", "celeba_lab.toy", "celeba_lab.plots.toy",
    "celeba_lab.instrument", "celeba_lab.narrative",
    "celeba_lab.plots.data", "celeba_lab.plots.classifiers", "celeba_lab.plots.gan",
    "celeba_lab.plots.collapse", "celeba_lab.plots.performance",
]


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
