"""Shared fixtures: a private cache per test, one small synthetic CelebA per session, and the
hand-made CelebA of the data-layer tests (tests/hand_celeba.py)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from celeba_lab import config
from hand_celeba import write_hand_celeba


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """Point the package's cache at a fresh temporary folder for one test."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(config.CACHE_ENV, str(cache))
    monkeypatch.delenv(config.ROOT_ENV, raising=False)
    monkeypatch.delenv(config.IMAGES_ENV, raising=False)
    monkeypatch.setattr(config, "_overrides", {})
    return config.cache_dir()


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """A 3,000-image synthetic CelebA in the original layout, written once per test session."""
    from celeba_lab.synthetic import write_synthetic_celeba

    root = tmp_path_factory.mktemp("celeba") / "celeba"
    return write_synthetic_celeba(root, n=3000, seed=0)


@pytest.fixture(scope="session")
def synthetic_data(synthetic_root):
    """The session's synthetic CelebA, loaded."""
    from celeba_lab.data import load_celeba

    return load_celeba(synthetic_root)


@pytest.fixture
def hand_root(tmp_path):
    """The hand-made CelebA (30 flat grey images in the original layout), in a fresh folder."""
    return write_hand_celeba(tmp_path / "celeba")


@pytest.fixture
def hand_data(hand_root, tmp_cache):
    """The hand-made CelebA, loaded, with a private cache."""
    from celeba_lab.data import load_celeba

    return load_celeba(hand_root)
