"""celeba_lab.collapse.simulation: the harness that compares estimators on known distributions.

A deliberately weakened instrument (ten-cell accuracy 0.484, as measured on real CelebA)
reproduces the least-squares estimator's failure and shows the chosen estimator covers the truth.
"""

from __future__ import annotations

import numpy as np
import pytest

from celeba_lab import collapse as cc
from celeba_lab.collapse import simulation as sim


# Sex x hair-colour shares close to CelebA's (women first: black, blond, brown, grey, other).
P = np.array([.12, .14, .13, .01, .18, .12, .01, .07, .03, .19])


POOR = sim.simulated_confusion()  # ten-cell accuracy 0.484, as on real faces at 64 x 64


SIZES = {"unbiased": 1000, "skew": 683, "collapse": 248}


REPS = 60  # simulated sources per coverage check (200 in the module's table)


def _runs(source, estimator, reps, seed=0):
    q = sim.simulation_sources(P)[source]
    return sim.simulate_estimators(P, q, POOR, n_source=SIZES[source], reps=reps, n_boot=150,
                                   seed=seed, estimators=[estimator])


def test_simulated_confusion_is_as_poor_as_the_real_instrument():
    assert float((np.diag(POOR) * P).sum()) == pytest.approx(0.484, abs=1e-9)
    assert np.allclose(POOR.sum(axis=1), 1)


def test_old_least_squares_reads_a_faithful_source_far_above_the_noise():
    runs = _runs("unbiased", "least squares (old)", reps=30)
    floor = cc.tv_noise_floor(np.repeat(cc.SEX_HAIR_CELLS, np.round(P * 20_000).astype(int)),
                              1000)
    assert runs["TV"].mean() > 3 * floor          # the failure: mostly instrument error
    assert runs["covered"].mean() < 0.5            # and its interval misses the truth


@pytest.mark.slow
@pytest.mark.parametrize("source, tolerance, coverage",
                         [("unbiased", 0.15, 0.9), ("skew", 0.1, 0.85), ("collapse", 0.1, 0.85)])
def test_ml_estimator_tracks_truth_and_covers_it(source, tolerance, coverage):
    runs = _runs(source, "ML, confidence belt", reps=REPS, seed=1)
    assert abs(runs["TV"].mean() - runs["true TV"].iloc[0]) < tolerance
    # Nominal 95 %, a collapse onto 2 cells of 248 faces included.
    assert runs["covered"].mean() >= coverage


_P = np.full(10, 0.1)
_NAN = np.r_[np.nan, np.full(9, 0.1)]


@pytest.mark.parametrize("call, message", [
    (lambda: sim.simulation_sources(_P, keep_men=1.5),
     r"keep_men must be a share of the men, in \[0, 1\], got 1.5"),
    (lambda: sim.simulation_sources(_P, keep_men=np.nan), r"keep_men must be a share"),
    (lambda: sim.simulation_sources(_P, keep_men=-0.1), r"keep_men must be a share"),
    (lambda: sim.simulation_sources(_NAN), r"p holds NaN"),
    (lambda: sim.simulate_estimators(_NAN, _P, np.eye(10), n_source=100, reps=1, n_boot=5),
     r"p holds NaN"),
    (lambda: sim.simulate_estimators(_P, _NAN, np.eye(10), n_source=100, reps=1, n_boot=5),
     r"q holds NaN"),
    (lambda: sim.simulate_estimators(_P, _P, np.eye(10), n_source=100, reps=1, n_boot=0),
     r"n_boot must be a whole number of at least 1, got 0"),
    (lambda: sim.simulate_estimators(_P, _P, np.eye(10), n_source=100, reps=0, n_boot=5),
     r"reps must be a whole number of at least 1, got 0"),
    (lambda: sim.compare_estimators(_P, np.eye(10), reps=1, n_boot=-1),
     r"n_boot must be a whole number of at least 1, got -1"),
])
def test_bad_counts_nan_shares_and_keep_men_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
