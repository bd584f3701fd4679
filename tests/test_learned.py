"""The check that comes before any verdict: has a generator learned anything?"""

from __future__ import annotations

import numpy as np
import pandas as pd
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


def test_a_generator_that_learned_passes_and_one_that_only_varies_does_not():
    real, untrained = _faces(seed=1), np.full((64, 8, 8, 3), 0.5)
    good = L.check_generator("good", _faces(seed=3), untrained, real, _features)
    assert good.learned and good.distance_ratio < 0.1
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


def test_a_generator_far_beyond_the_real_versus_real_distance_is_not_worth_measuring():
    real, other, untrained = _faces(seed=1), _faces(seed=5), np.zeros((64, 8, 8, 3))
    close = L.check_generator("close", _faces(seed=3), untrained, real, _features, other)
    assert close.learned and close.real_ratio <= L.MAX_REAL_RATIO
    assert "times the distance between two sets of real faces" in close.reason()
    # Faces that learned something (far closer than the untrained network) but all too bright.
    dark = np.clip(_faces(seed=3) + 0.2, 0, 1)
    far = L.check_generator("dark", dark, untrained, real, _features, other)
    assert far.distance_ratio <= L.MAX_DISTANCE_RATIO and far.spread_ratio >= L.MIN_SPREAD_RATIO
    assert far.real_ratio > L.MAX_REAL_RATIO and not far.learned
    assert "worth measuring" in far.reason()
    # Without a second real set the comparison is skipped, not failed.
    assert np.isnan(L.check_generator("d", dark, untrained, real, _features).real_ratio)


def _readings(n=400, seed=0):
    rng = np.random.default_rng(seed)
    truth = pd.DataFrame({"Male": rng.integers(0, 2, n), "Smiling": rng.integers(0, 2, n)})
    # A sharp reader: probabilities on the right side of 0.5 about 95 % of the time.
    sharp = truth.astype(float) * 0.8 + 0.1 + rng.normal(0, 0.2, truth.shape)
    return truth, sharp.clip(0, 1)


def test_an_instrument_blind_to_an_attribute_yields_no_verdict_on_it():
    truth, real = _readings()
    generated = real.copy()
    generated["Smiling"] = np.random.default_rng(9).random(len(truth))   # blind to smiles
    table = L.reading_check(truth, real, generated)
    assert table.loc["Male", "readable"] and not table.loc["Smiling", "readable"]
    learned = L.GeneratorCheck("g", 0.2, 0.25, 1.0, 9.0)
    assert L.verdict_gate(learned, table, ["Male"]).open
    gate = L.verdict_gate(learned, table, ["Male", "Smiling"])
    assert not gate.open and gate.unreadable == ("Smiling",)
    assert "cannot read `Smiling` on generated faces" in gate.reason()
    unlearned = L.verdict_gate(L.GeneratorCheck("u", 0.0, 0.25, 9.0, 9.0), table, ["Male"])
    assert not unlearned.open and "failed its learning check" in unlearned.reason()


def test_readings_shifted_on_generated_faces_are_caught_and_their_rates_used():
    truth, real = _readings()
    # The reader calls a generated face "male" far less readily: a known shift of -0.3.
    generated = real.copy()
    generated["Male"] = (real["Male"] - 0.3).clip(0, 1)
    table = L.reading_check(truth, real, generated)
    assert table.loc["Male", "differs"] and table.loc["Male", "use"] == "generated"
    assert table.loc["Male", "sensitivity (generated)"] < table.loc["Male",
                                                                    "sensitivity (real)"] - 0.3
    assert not table.loc["Smiling", "differs"] and table.loc["Smiling", "use"] == "real"
    with pytest.raises(ValueError, match="same faces and attributes"):
        L.reading_check(truth, real, generated[["Male"]])
    with pytest.raises(KeyError, match="no row for"):
        L.verdict_gate(L.GeneratorCheck("g", 0.2, 0.25, 1.0, 9.0), table, ["Eyeglasses"])
