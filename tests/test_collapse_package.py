"""celeba_lab.collapse: the package re-exports every public name of its modules, starts no Keras."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import celeba_lab as cl
from celeba_lab import collapse

SUBMODULES = ("background", "bootstrap", "cells", "correction", "distances", "features", "instrument",
              "report", "simulation")


@pytest.mark.parametrize("name", SUBMODULES)
def test_the_package_reexports_each_modules_public_names(name):
    module = importlib.import_module(f"celeba_lab.collapse.{name}")
    assert module.__all__
    for public in module.__all__:
        assert public in collapse.__all__
        assert getattr(collapse, public) is getattr(module, public)
        assert getattr(cl, public) is getattr(module, public)  # cl.<name> finds it


def test_the_package_exports_nothing_else():
    exported = {n for name in SUBMODULES
                for n in importlib.import_module(f"celeba_lab.collapse.{name}").__all__}
    assert sorted(exported) == sorted(collapse.__all__)
    assert len(collapse.__all__) == len(set(collapse.__all__))


def test_importing_the_package_does_not_start_keras():
    code = "import sys, celeba_lab.collapse; print('keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
