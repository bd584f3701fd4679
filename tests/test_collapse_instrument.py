"""celeba_lab.collapse.instrument: the validated estimator on distributions whose answers are known.

A deliberately weakened instrument (labels flipped at known rates, ten-cell accuracy 0.484 as
measured on real CelebA) reproduces the least-squares estimator's failure and proves the fix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from celeba_lab import collapse as cc
from celeba_lab.collapse import instrument as ins
from celeba_lab.collapse import simulation as sim


# Sex x hair-colour shares close to CelebA's (women first: black, blond, brown, grey, other).
P = np.array([.12, .14, .13, .01, .18, .12, .01, .07, .03, .19])


POOR = sim.simulated_confusion()  # ten-cell accuracy 0.484, as on real faces at 64 x 64


def test_ml_estimator_is_within_its_noise_floor_on_a_faithful_source():
    est = [ins.estimate_tv(P, np.random.default_rng(s).multinomial(1000, P @ POOR), POOR, 1000,
                           n_boot=200, seed=s) for s in range(15)]
    assert np.mean([e.value for e in est]) < np.mean([e.floor for e in est])
    assert np.mean([e.low == 0 for e in est]) >= 0.9   # not told apart from the data
    assert np.mean([e.detected for e in est]) <= 0.1


def test_belt_path_runs_from_the_data_through_the_sparse_fit_to_a_deeper_collapse():
    collapse = sim.simulation_sources(P)["collapse"]
    leaky = 0.6 * collapse + 0.4 * P    # a fit that leaked mass out of the 2 cells
    sparse = np.where(leaky < ins.SPARSITY, 0, leaky) / leaky[leaky >= ins.SPARSITY].sum()
    assert np.allclose(ins.belt_path(P, sparse, 0), P)
    assert np.allclose(ins.belt_path(P, sparse, 1), sparse)
    tvs = [float(ins._tv(P, ins.belt_path(P, sparse, t))) for t in (0, 0.5, 1, 2, 5, 60)]
    assert np.all(np.diff(tvs) > -1e-12)
    assert tvs[2] < ins._tv(P, collapse) <= tvs[-1] + 1e-9   # the truth lies on the path


def test_estimate_tv_methods():
    counts = np.random.default_rng(0).multinomial(248, sim.simulation_sources(P)["collapse"]
                                                  @ POOR)
    belt = ins.estimate_tv(P, counts, POOR, 1000, n_boot=100)
    old = ins.estimate_tv(P, counts, POOR, 1000, n_boot=100, method="sparse bootstrap")
    assert belt.plug_in == old.plug_in
    for est in (belt, old):
        assert 0 <= est.low <= est.value <= est.high <= 1 and est.detected
    with pytest.raises(ValueError, match="Unknown method"):
        ins.estimate_tv(P, counts, POOR, 1000, method="magic")
    with pytest.raises(ValueError, match="grid"):
        ins.estimate_tv(P, counts, POOR, 1000, grid=2)


def test_collapse_is_detected_and_faithful_source_is_not():
    rng = np.random.default_rng(3)
    collapse = sim.simulation_sources(P)["collapse"]
    faithful = ins.estimate_tv(P, rng.multinomial(683, P @ POOR), POOR, 1000, n_boot=200)
    collapsed = ins.estimate_tv(P, rng.multinomial(248, collapse @ POOR), POOR, 1000, n_boot=200)
    assert collapsed.value > faithful.value
    assert faithful.low == 0 and not faithful.detected
    assert collapsed.low > 0 and collapsed.detected


def test_ml_cell_shares_inverts_an_exact_measurement():
    q = sim.simulation_sources(P)["collapse"]
    assert np.allclose(ins.ml_cell_shares(q @ POOR.to_numpy() * 1e6, POOR.to_numpy())[0], q,
                       atol=2e-3)


# --------------------------------------------------------------------------------------------
# On the synthetic data set, with a weakened instrument
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def weakened(synthetic_data):
    data = synthetic_data
    test_ids, held_ids = data.split("test"), data.split("validation")
    true_test = cc.sex_hair_cells(data.attributes.loc[test_ids])
    confusion = cc.cell_confusion_matrix(true_test, sim.simulate_measured_cells(
        true_test, POOR, seed=1))
    # The synthetic test partition may miss a rare cell: borrow the true row there.
    confusion = confusion.fillna(POOR)
    held_true = cc.sex_hair_cells(data.attributes.loc[held_ids])
    measured = sim.simulate_measured_cells(held_true, POOR, seed=2)
    real_cells = cc.sex_hair_cells(data.attributes.loc[data.split("train")])
    faces = np.maximum(cc.cell_shares(true_test).to_numpy() * len(true_test), 1)
    return measured, data.attributes.loc[held_ids], real_cells, confusion, faces


def test_validation_sources_have_known_distributions(synthetic_data):
    held = synthetic_data.attributes.loc[synthetic_data.split("validation")]
    real = cc.sex_hair_cells(synthetic_data.attributes)
    sources = ins.validation_sources(held, real, seed=0)
    assert list(sources) == ["unbiased", "skew", "collapse"]
    cells = cc.sex_hair_cells(held)
    assert set(cells.loc[sources["collapse"].ids]) <= set(ins.COLLAPSE_CELLS)
    men = cells.str.startswith("Male")
    assert (men.loc[sources["skew"].ids].sum()
            == pytest.approx(0.25 * men.sum(), abs=1))
    assert sources["unbiased"].true_tv < sources["skew"].true_tv < sources["collapse"].true_tv


def test_validate_instrument_shows_old_bias_and_new_fix(weakened):
    measured, held, real_cells, confusion, faces = weakened
    table = ins.validate_instrument(measured, held, real_cells, confusion, faces, n_boot=200)
    assert list(table.index) == ["unbiased", "skew", "collapse"]
    unbiased = table.loc["unbiased"]
    assert unbiased["old TV"] > unbiased["true TV"] + 0.1   # the failure
    assert unbiased["TV"] <= unbiased["noise floor"] and not unbiased["detected"]
    assert table.loc["collapse", "detected"]
    assert abs(table.loc["collapse", "TV"] - table.loc["collapse", "true TV"]) < 0.2
    assert (table["low"] <= table["TV"]).all() and (table["TV"] <= table["high"]).all()


def test_validate_instrument_with_a_perfect_instrument_reads_the_truth(synthetic_data):
    held = synthetic_data.attributes.loc[synthetic_data.split("validation")]
    cells = cc.sex_hair_cells(held)
    real = cc.sex_hair_cells(synthetic_data.attributes)
    table = ins.validate_instrument(cells, held, real, np.eye(10), 1000, n_boot=100)
    assert np.allclose(table["old TV"], table["true TV"], atol=1e-9)
    assert np.allclose(table.loc[["skew", "collapse"], "TV"],
                       table.loc[["skew", "collapse"], "true TV"], atol=0.03)


# --------------------------------------------------------------------------------------------
# What the instrument can detect
# --------------------------------------------------------------------------------------------

def test_detectable_shift_falls_with_sample_size_and_accuracy():
    def shift(n, confusion):
        return ins.detectable_shift(P, confusion, 1000, n, n_sim=100, step=0.02)

    small, large = shift(250, POOR), shift(2000, POOR)
    better = shift(250, sim.simulated_confusion(0.97, 0.85))
    assert large < small and better < small
    assert 0 < large < 0.42


def test_detectable_shift_of_a_hair_colour():
    value = ins.detectable_shift(P, POOR, 1000, 1000, attribute="Blond_Hair", n_sim=100,
                                 step=0.02)
    assert np.isnan(value) or 0 < value <= 0.15


def test_shifted_shares_keep_proportions():
    q = ins.shifted_shares(P, "Male", 0.1)
    assert q.sum() == pytest.approx(1)
    assert q[5:].sum() == pytest.approx(P[5:].sum() - 0.1)
    assert np.allclose(q[5:] / q[5:].sum(), P[5:] / P[5:].sum())


# --------------------------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("confusion, message", [
    (np.eye(10)[:, :9], "square"),
    (np.eye(3), "not over the 10"),
    (np.full((10, 10), 0.2), "sum to 1"),
    (np.where(np.eye(10) > 0, np.nan, 0.0), "NaN"),
    (pd.DataFrame(np.eye(10), index=list("abcdefghij"), columns=list("abcdefghij")), "cells"),
])
def test_bad_confusion_matrices_are_refused(confusion, message):
    with pytest.raises(ValueError, match=message):
        ins.estimate_tv(P, P * 100, confusion, 1000, n_boot=10)


def test_unknown_cells_and_empty_rows_are_refused():
    with pytest.raises(ValueError, match="not among the categories"):
        ins.estimate_tv(P, ["Female/Pink_Hair"] * 5, POOR, 1000, n_boot=10)
    with pytest.raises(ValueError, match="No test faces"):
        ins.estimate_tv(P, P * 100, POOR, np.r_[0, np.ones(9)], n_boot=10)
    with pytest.raises(ValueError, match="Unknown attribute"):
        ins.shifted_shares(P, "Pink_Hair", 0.1)
    with pytest.raises(ValueError, match="Unknown estimators"):
        sim.simulate_estimators(P, P, POOR, n_source=10, reps=1, estimators=["magic"])


@pytest.mark.parametrize("call, message", [
    # Shares read as one face gave 0.000 [0.000, 0.000] for a true TV of 0.40.
    (lambda: ins.estimate_tv(P, P, POOR, 1000, n_boot=10), "source_cells sums to 1: shares, "
                                                              "not counts"),
    (lambda: ins.estimate_tv(P, P * 100, POOR, 0, n_boot=10),
     "confusion_faces must be a whole number of at least 1, got 0"),
    (lambda: ins.estimate_tv(P, P * 100, POOR, -100, n_boot=10),
     "confusion_faces must be a whole number of at least 1, got -100"),
    (lambda: ins.estimate_tv(P, P * 100, POOR, 0.4, n_boot=10),
     "confusion_faces must be a whole number of at least 1, got 0.4"),
    (lambda: ins.estimate_tv(P, P * 100, POOR, P, n_boot=10),
     "confusion_faces must be whole numbers of test faces per true cell"),
    (lambda: ins.estimate_tv(P, P * 100, POOR, 1000, n_boot=0),
     "n_boot must be a whole number of at least 1, got 0"),
    (lambda: ins.estimate_tv(np.r_[np.nan, P[1:]], P * 100, POOR, 1000, n_boot=10),
     "real_cells holds NaN"),
    (lambda: ins.detectable_shift(P, POOR, 1000, 1000, attribute="Blonde_Hair", n_sim=10),
     "Unknown attribute 'Blonde_Hair'.*Blond_Hair"),
    (lambda: ins.detectable_shift(P, POOR, 0.4, 1000, n_sim=10),
     "confusion_faces must be a whole number"),
    (lambda: ins.validation_sources(pd.Series(["Female/Blond_Hair", "Male/Black_Hair"] * 4, index=[f"{i}.jpg" for i in range(8)]), pd.Series(["Female/Blond_Hair", "Male/Black_Hair"] * 4, index=[f"{i}.jpg" for i in range(8)]), keep_men=1.5),
     r"keep_men must be a share of the men, in \[0, 1\], got 1.5"),
])
def test_shares_for_counts_bad_face_counts_and_unknown_attributes_are_refused(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_corrected_cell_shares_undo_a_known_confusion_and_stay_on_the_simplex():
    import pandas as pd

    from celeba_lab.collapse.instrument import corrected_cell_shares

    C = pd.DataFrame([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.0, 0.5, 0.5]],
                     index=list("abc"), columns=list("abc"))
    # True shares (0.3, 0.7, 0) are measured as 0.41 / 0.59 / 0.
    shares = corrected_cell_shares(["a"] * 41 + ["b"] * 59, C)
    assert shares.round(3).tolist() == [0.3, 0.7, 0.0]
    # Measured shares no true distribution produces: least squares would leave the simplex.
    odd = corrected_cell_shares(["c"] * 10 + ["a"] * 90, C)
    assert (odd >= 0).all() and abs(odd.sum() - 1) < 1e-9
