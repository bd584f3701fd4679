"""The namespace the package's docstring examples run in (``make unit`` runs them as doctests).

Every example may use ``cl`` (the package), ``np``, ``pd`` and ``data``: a 2,000-image
synthetic CelebA, written once per session, with the package's cache in a temporary folder so
that no example writes into a reader's cache. An example that cannot run here in seconds
(it needs real CelebA, a GPU, a download or a long training) says why in a comment, next to
its ``# doctest: +SKIP``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

DOCTEST_IMAGES = 2000


@pytest.fixture(scope="session")
def _doctest_data(tmp_path_factory):
    from celeba_lab.data import load_celeba
    from celeba_lab.synthetic import write_synthetic_celeba

    root = tmp_path_factory.mktemp("doctest-celeba") / "celeba"
    return load_celeba(write_synthetic_celeba(root, n=DOCTEST_IMAGES, seed=0))


@pytest.fixture(autouse=True)
def _doctest_namespace(request, doctest_namespace, tmp_path, monkeypatch):
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    import numpy as np
    import pandas as pd

    import celeba_lab as cl
    from celeba_lab import config

    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(config.ROOT_ENV, raising=False)
    monkeypatch.setattr(config, "_overrides", {})
    monkeypatch.chdir(tmp_path)
    doctest_namespace.update(cl=cl, np=np, pd=pd, data=request.getfixturevalue("_doctest_data"))
    yield
