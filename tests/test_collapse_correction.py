"""celeba_lab.collapse.correction: undoing known classifier errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from celeba_lab import collapse as cc
from celeba_lab.attributes import HAIR_COLOURS


# --------------------------------------------------------------------------------------------
# Correcting for the classifiers' errors
# --------------------------------------------------------------------------------------------

def _noisy_confusion(k: int, accuracy: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    off = rng.dirichlet(np.ones(k - 1), size=k) * (1 - accuracy)
    m = np.zeros((k, k))
    for i in range(k):
        m[i, np.arange(k) != i] = off[i]
        m[i, i] = accuracy
    return m


def test_correction_recovers_a_known_distribution():
    m = _noisy_confusion(10, accuracy=0.75, seed=0)
    p = np.random.default_rng(1).dirichlet(np.ones(10))
    q = m.T @ p
    assert cc.total_variation(p, q) > 0.05  # the errors really distort the shares
    np.testing.assert_allclose(cc.correct_for_misclassification(q, m), p, atol=1e-10)
    # With a Series in, a Series with the same index comes out.
    corrected = cc.correct_for_misclassification(pd.Series(q, index=cc.SEX_HAIR_CELLS), m * 40)
    assert list(corrected.index) == list(cc.SEX_HAIR_CELLS)
    np.testing.assert_allclose(corrected.to_numpy(), p, atol=1e-10)


def test_correction_of_a_one_cell_generator_with_zero_shares():
    m = _noisy_confusion(4, accuracy=0.9, seed=2)
    p = np.array([0.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(cc.correct_for_misclassification(m.T @ p, m), p, atol=1e-9)


def test_correction_stays_on_the_simplex_when_the_exact_solution_does_not():
    m = np.array([[0.8, 0.2], [0.3, 0.7]])
    q = np.array([0.9, 0.1])  # more class-0 predictions than even p = (1, 0) explains
    p = cc.correct_for_misclassification(q, m)
    assert np.all(p >= 0) and p.sum() == pytest.approx(1)
    np.testing.assert_allclose(p, [1.0, 0.0], atol=1e-6)
    # Rogan-Gladen, the binary case: sensitivity P(pred 1 | 1) = 0.7, specificity 0.8.
    assert cc.rogan_gladen(q[1], sensitivity=0.7, specificity=0.8) == 0.0
    p_true = 0.35
    q1 = p_true * 0.7 + (1 - p_true) * 0.2
    assert cc.rogan_gladen(q1, 0.7, 0.8) == pytest.approx(p_true)
    assert cc.correct_for_misclassification(np.array([1 - q1, q1]), m)[1] == pytest.approx(p_true)


def test_correction_refuses_useless_instruments():
    with pytest.raises(ValueError, match="no better than chance"):
        cc.rogan_gladen(0.5, sensitivity=0.5, specificity=0.4)
    with pytest.raises(ValueError, match="no faces"):
        cc.correct_for_misclassification([0.5, 0.5], np.array([[1.0, 0.0], [np.nan, np.nan]]))
    with pytest.raises(ValueError, match="shares"):
        cc.correct_for_misclassification([0.5, 0.5], np.eye(3))


def test_cell_confusion_matrix_estimates_known_error_rates():
    m = _noisy_confusion(10, accuracy=0.8, seed=3)
    rng = np.random.default_rng(4)
    true = rng.integers(0, 10, 40_000)
    predicted = np.array([rng.choice(10, p=m[t]) for t in true])
    names = np.array(cc.SEX_HAIR_CELLS)
    estimate = cc.cell_confusion_matrix(names[true], names[predicted])
    np.testing.assert_allclose(estimate.to_numpy(), m, atol=0.03)
    np.testing.assert_allclose(estimate.sum(axis=1), 1.0)


def test_corrected_tv_removes_the_instrument_bias():
    m = _noisy_confusion(10, accuracy=0.7, seed=5)
    names = np.array(cc.SEX_HAIR_CELLS)
    rng = np.random.default_rng(6)
    p = rng.dirichlet(np.ones(10) * 2)
    real = names[rng.choice(10, 20_000, p=p)]
    # The same faces, but seen through the misclassifying instrument.
    seen = names[rng.choice(10, 20_000, p=m.T @ p)]
    raw = cc.tv_with_ci(real, seen, n_boot=100)
    corrected = cc.tv_with_ci(real, seen, n_boot=100, correction=m)
    assert raw.value > 0.1
    assert corrected.value < 0.04


def test_classifier_error_rates_use_the_meters_decision_rules():
    truth = pd.DataFrame({"Male": [1, 1, 1, 1, 0, 0, 0, 0],
                          "Black_Hair": [1, 1, 0, 0, 0, 0, 1, 1],
                          "Blond_Hair": [0, 0, 1, 1, 0, 0, 1, 0],
                          "Brown_Hair": [0] * 8, "Gray_Hair": [0] * 8})
    probs = pd.DataFrame({"Male": [0.9, 0.8, 0.7, 0.2, 0.1, 0.3, 0.6, 0.2],
                          # Face 6 is annotated black *and* blond: an ambiguous, "Other" face.
                          "Black_Hair": [0.9, 0.2, 0.6, 0.1, 0.1, 0.1, 0.1, 0.9],
                          "Blond_Hair": [0.1, 0.7, 0.9, 0.8, 0.1, 0.1, 0.1, 0.2],
                          "Brown_Hair": [0.0] * 8, "Gray_Hair": [0.0] * 8})
    rates = cc.classifier_error_rates(truth, probs)
    assert rates.loc["Male", "sensitivity"] == 0.75 and rates.loc["Male", "specificity"] == 0.75
    # Black: truly black faces 0, 1, 7 -> predicted black 0 and 7 (face 1 goes blond).
    assert rates.loc["Black_Hair", "positives"] == 3
    assert rates.loc["Black_Hair", "sensitivity"] == pytest.approx(2 / 3)
    # Face 2 has Black 0.6 but Blond 0.9: the argmax makes it blond, not a false black.
    assert rates.loc["Black_Hair", "specificity"] == 1.0
    assert rates.loc["Blond_Hair", "positives"] == 2
    assert np.isnan(rates.loc["Gray_Hair", "sensitivity"])
    with pytest.raises(ValueError, match="annotated"):
        cc.classifier_error_rates(truth.iloc[:3], probs)


def test_corrected_shares_recover_the_true_share_of_a_known_noisy_instrument():
    rng = np.random.default_rng(0)
    n, true_share, sens, spec = 4000, 0.1, 0.85, 0.9
    truth = rng.random(n) < true_share
    flagged = np.where(truth, rng.random(n) < sens, rng.random(n) > spec)
    labels = pd.DataFrame({"Male": flagged.astype(int)})
    rates = pd.DataFrame({"sensitivity": [sens], "specificity": [spec]}, index=["Male"])
    table = cc.corrected_share_table({"noisy": labels}, rates, attributes=("Male",), n_boot=300)
    row = table.iloc[0]
    assert abs(row["observed"] - true_share) > 0.05  # the raw share is visibly biased
    assert row["low"] <= truth.mean() <= row["high"]
    assert row["share"] == pytest.approx(truth.mean(), abs=0.03)
    useless = rates.assign(sensitivity=0.1)
    nan_row = cc.corrected_share_table({"noisy": labels}, useless, attributes=("Male",),
                                       n_boot=10).iloc[0]
    assert np.isnan(nan_row["share"]) and nan_row["observed"] == pytest.approx(flagged.mean())
    with pytest.raises(cc.MissingClassifierError, match="Smiling"):
        cc.corrected_share_table({"noisy": labels}, rates, attributes=("Smiling",))


def test_corrected_hair_shares_undo_a_known_cell_confusion():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(10) * 2)
    m = np.full((10, 10), 0.02) + np.eye(10) * 0.8
    m /= m.sum(1, keepdims=True)
    true_codes = rng.choice(10, 20_000, p=p)
    seen = np.array([rng.choice(10, p=m[c]) for c in true_codes])
    cells = np.array(cc.SEX_HAIR_CELLS)[seen]
    labels = pd.DataFrame({"Male": [c.startswith("Male") for c in cells]}).astype(int)
    for name in HAIR_COLOURS:
        labels[name] = [int(c.endswith(name)) for c in cells]
    confusion = pd.DataFrame(m, index=cc.SEX_HAIR_CELLS, columns=cc.SEX_HAIR_CELLS)
    rates = pd.DataFrame({"sensitivity": [1.0], "specificity": [1.0]}, index=["Male"])
    table = cc.corrected_share_table({"g": labels}, rates, confusion, attributes=("Male",),
                                     n_boot=50).set_index("attribute")
    true_hair = p.reshape(2, 5).sum(0)
    np.testing.assert_allclose(table.loc[list(cc.HAIR_CATEGORIES), "share"], true_hair,
                               atol=0.02)
    assert table.loc[list(cc.HAIR_CATEGORIES), "share"].sum() == pytest.approx(1)


def test_correction_with_an_ill_conditioned_instrument_reaches_the_simplex_optimum():
    # Weak classifiers give confusion rows that look alike; the bootstrap then asks for many
    # corrections whose exact solution leaves the simplex. The answer must satisfy the
    # optimality conditions of least squares on the simplex (KKT), every time.
    rng = np.random.default_rng(7)
    for _ in range(25):
        m = rng.dirichlet(np.ones(10) * 0.5, size=10) + np.eye(10) * 0.05
        m /= m.sum(1, keepdims=True)
        q = rng.dirichlet(np.ones(10) * 0.3)
        p = cc.correct_for_misclassification(q, m)
        assert p.min() >= 0 and p.sum() == pytest.approx(1)
        gradient = m @ (m.T @ p - q)
        on = p > 1e-9
        level = gradient[on].mean()
        np.testing.assert_allclose(gradient[on], level, atol=1e-8)  # equal on the support
        assert (gradient[~on] >= level - 1e-8).all()                # no cell off it helps


@pytest.mark.parametrize("call, message", [
    (lambda labels, rates: cc.corrected_share_table({"GAN": labels}, rates, n_boot=0),
     r"n_boot must be a whole number of at least 1, got 0"),
    (lambda labels, rates: cc.corrected_share_table({"GAN": labels}, rates, n_boot=2.5),
     r"n_boot must be a whole number of at least 1, got 2.5"),
    (lambda labels, rates: cc.correct_for_misclassification(np.array([np.nan, 0.5]), np.eye(2)),
     r"observed holds NaN"),
    (lambda labels, rates: cc.rogan_gladen(np.nan, 0.9, 0.9), r"observed_share must be a share"),
    (lambda labels, rates: cc.rogan_gladen(1.5, 0.9, 0.9), r"observed_share must be a share"),
])
def test_bad_counts_and_nan_shares_are_named(call, message):
    from celeba_lab.synthetic import sample_attributes

    truth = sample_attributes(200, seed=0)
    probs = truth[["Male", "Eyeglasses", "Smiling"]].astype(float)
    rates = cc.classifier_error_rates(truth, probs)
    with pytest.raises(ValueError, match=message):
        call(cc.predicted_labels(probs), rates)
