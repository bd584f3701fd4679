"""The check that comes before any verdict: has a generator learned anything?"""

from __future__ import annotations

import numpy as np
import pytest

from celeba_lab import learned as L


def _faces(n=64, seed=0):
    rng = np.random.default_rng(seed)
    colours = rng.random((n, 1, 1, 3))
    return np.clip(colours + rng.normal(0, 0.05, (n, 8, 8, 3)), 0, 1)


def _features(images):
    # Mean colour and spread of each image: a cheap, meaningful feature space for tests.
    x = np.asarray(images).reshape(len(images), -1, 3)
    return np.concatenate([x.mean(1), x.std(1)], axis=1)


def test_an_untrained_generator_is_refused_a_verdict():
    real = _faces(seed=1)
    grey = np.full_like(real, 0.5) + np.random.default_rng(2).normal(0, 0.005, real.shape)
    check = L.check_generator("grey", grey, grey, real, _features)
    assert not check.learned and check.spread_ratio < 0.1
    assert "has not learned" in check.reason() and "barely vary" in check.reason()
    with pytest.raises(L.NotLearnedError, match="No verdict.*Grey has not learned"):
        L.require_learned({"grey": check})


def test_a_generator_that_learned_passes_and_one_that_only_varies_does_not():
    real, untrained = _faces(seed=1), np.full((64, 8, 8, 3), 0.5)
    good = L.check_generator("good", _faces(seed=3), untrained, real, _features)
    assert good.learned and good.distance_ratio < 0.1
    L.require_learned(good)  # no error
    # Noise varies as much as faces but is no closer to them than the untrained network.
    noise = np.random.default_rng(4).random((64, 8, 8, 3))
    noisy = L.check_generator("noise", noise, untrained, real, _features)
    assert noisy.spread_ratio > L.MIN_SPREAD_RATIO and not noisy.learned
    assert "distance from real faces" in noisy.reason()
    table = L.learning_table({"good": good, "noise": noisy})
    assert table["learned"].tolist() == [True, False]


def test_faces_of_different_sizes_cannot_be_compared():
    with pytest.raises(ValueError, match="one image size"):
        L.check_generator("g", _faces(), _faces(), np.zeros((4, 16, 16, 3)), _features)
    with pytest.raises(ValueError, match="at least 2 images"):
        L.pixel_spread(np.zeros((1, 4, 4, 3)))
