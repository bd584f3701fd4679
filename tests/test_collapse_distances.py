"""celeba_lab.collapse.distances: divergence, diversity, memorisation and FID/KID on known cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from celeba_lab import collapse as cc
from celeba_lab.synthetic import sample_attributes


# --------------------------------------------------------------------------------------------
# Total variation
# --------------------------------------------------------------------------------------------

def test_total_variation_is_zero_for_identical_and_one_for_disjoint():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    assert cc.total_variation(p, p) == 0.0
    assert cc.total_variation([0.5, 0.5, 0, 0], [0, 0, 0.3, 0.7]) == 1.0
    assert cc.total_variation([2, 2], [1, 3]) == pytest.approx(0.25)  # counts are normalised


def test_real_against_itself_scores_near_zero_divergence():
    rng = np.random.default_rng(0)
    shares = cc.cell_shares(cc.sex_hair_cells(sample_attributes(5000, seed=0)))
    a = rng.choice(cc.SEX_HAIR_CELLS, 20_000, p=shares.to_numpy())
    b = rng.choice(cc.SEX_HAIR_CELLS, 20_000, p=shares.to_numpy())
    assert cc.total_variation(cc.cell_shares(a), cc.cell_shares(b)) < 0.03
    identical = cc.tv_with_ci(a, a, n_boot=200)
    assert identical.value == 0.0
    assert identical.high < 0.03  # sampling noise only
    floor = cc.tv_noise_floor(a, 20_000, n_sim=200)
    assert 0 < floor < 0.03
    assert identical.low < floor < identical.high  # the interval is at the noise scale


def test_basic_interval_corrects_the_upward_bias_of_the_distance():
    names = np.array(cc.SEX_HAIR_CELLS)
    rng = np.random.default_rng(7)
    p = rng.dirichlet(np.ones(10) * 3)
    q = p.copy()
    q[np.argmax(p)] -= 0.1
    q[np.argmin(p)] += 0.1
    truth = cc.total_variation(p, q)
    covered = {"percentile": 0, "basic": 0}
    for seed in range(20):
        a, b = names[rng.choice(10, 600, p=p)], names[rng.choice(10, 600, p=q)]
        assert cc.total_variation(cc.cell_shares(a), cc.cell_shares(b)) > truth - 0.05
        for method in covered:
            estimate = cc.tv_with_ci(a, b, n_boot=200, seed=seed, method=method)
            covered[method] += estimate.low <= truth <= estimate.high
    # The percentile interval sits above the truth (the plug-in distance is biased upwards);
    # the basic interval covers it most of the time, though below the nominal 95 %.
    assert covered["percentile"] <= 3
    assert covered["basic"] >= 10


def test_one_cell_generator_scores_the_maximum():
    real = pd.Series([0.05, 0.3, 0.2, 0.1, 0.05, 0.02, 0.08, 0.1, 0.06, 0.04],
                     index=cc.SEX_HAIR_CELLS)
    for i, cell in enumerate(cc.SEX_HAIR_CELLS):
        one_cell = pd.Series(np.eye(10)[i], index=cc.SEX_HAIR_CELLS)
        assert cc.total_variation(real, one_cell) == pytest.approx(1 - real[cell])
    # No distribution is farther from `real` than everything in its rarest cell.
    worst = 1 - real.min()
    rng = np.random.default_rng(1)
    others = rng.dirichlet(np.full(10, 0.3), size=2000)
    assert max(cc.total_variation(real.to_numpy(), q) for q in others) <= worst + 1e-12
    rarest = pd.Series(np.eye(10)[int(np.argmin(real))], index=cc.SEX_HAIR_CELLS)
    assert cc.total_variation(real, rarest) == pytest.approx(worst)


def test_tv_with_ci_on_a_one_cell_generator():
    real = ["Female/Blond_Hair"] * 300 + ["Male/Black_Hair"] * 700
    estimate = cc.tv_with_ci(real, ["Female/Blond_Hair"] * 500, n_boot=300)
    assert estimate.value == pytest.approx(0.7)
    assert estimate.low <= 0.7 <= estimate.high
    assert estimate.high - estimate.low < 0.1


# --------------------------------------------------------------------------------------------
# Diversity, nearest neighbours, memorisation
# --------------------------------------------------------------------------------------------

def test_identical_images_score_exactly_zero_diversity():
    image = np.random.default_rng(0).random((16, 16, 3)).astype("float32")
    same = np.repeat(image[None], 30, axis=0)
    assert cc.diversity_score(same.reshape(30, -1)) == 0.0
    assert cc.diversity_score(same.reshape(30, -1), metric="cosine") == 0.0
    assert cc.diversity_score(same.reshape(30, -1), max_pairs=50) == 0.0  # sampled pairs too


def test_diversity_known_values_and_collapse_ordering():
    assert cc.diversity_score(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])) == \
        pytest.approx((5 + 0 + 5) / 3)
    assert cc.diversity_score(np.array([[1.0, 0.0], [0.0, 2.0]]), metric="cosine") == 1.0
    rng = np.random.default_rng(1)
    varied = rng.normal(size=(400, 16))
    collapsed = rng.normal(size=(4, 16))[rng.integers(0, 4, 400)] + rng.normal(0, 0.05, (400, 16))
    assert cc.diversity_score(varied) > 1.2 * cc.diversity_score(collapsed)
    # Sampled pairs estimate the exact mean.
    exact = cc.diversity_score(varied)
    assert cc.diversity_score(varied, max_pairs=20_000) == pytest.approx(exact, rel=0.02)
    with pytest.raises(ValueError, match="two"):
        cc.diversity_score(varied[:1])


def test_nearest_neighbours_find_planted_copies():
    rng = np.random.default_rng(2)
    train = rng.normal(size=(700, 24))
    planted = rng.choice(700, 40, replace=False)
    query = np.concatenate([train[planted], rng.normal(size=(10, 24)) * 3 + 20])
    indices, distances = cc.nearest_neighbours(query, train, k=3, chunk_size=7)
    assert indices.shape == distances.shape == (50, 3)
    assert (indices[:40, 0] == planted).all()
    assert (distances[:40, 0] == 0.0).all()
    assert (distances[40:, 0] > 1.0).all()
    assert (np.diff(distances, axis=1) >= 0).all()
    # Brute force agrees.
    brute = np.linalg.norm(query[:, None] - train[None], axis=2)
    np.testing.assert_allclose(distances, np.sort(brute, axis=1)[:, :3], atol=1e-9)
    self_indices, _ = cc.nearest_neighbours(train, train, k=1, exclude_self=True)
    assert (self_indices[:, 0] != np.arange(700)).all()


def test_memorisation_ratio_separates_copying_from_fresh_samples():
    rng = np.random.default_rng(3)
    train = rng.normal(size=(1500, 8))
    copies = train[rng.choice(1500, 100)] + rng.normal(0, 1e-3, (100, 8))
    fresh = rng.normal(size=(100, 8))
    copying = cc.memorisation_ratio(copies, train, train_sample=500)
    novel = cc.memorisation_ratio(fresh, train, train_sample=500)
    assert copying.ratio < 0.05 and copying.copy_share == 1.0
    assert 0.7 < novel.ratio < 1.4 and novel.copy_share < 0.1
    assert len(novel.train_distance) == 500 and (novel.train_distance > 0).all()


# --------------------------------------------------------------------------------------------
# Frechet and kernel distances
# --------------------------------------------------------------------------------------------

def test_frechet_distance_of_identical_feature_sets_is_zero():
    x = np.random.default_rng(0).normal(size=(500, 16))
    assert cc.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_matches_the_closed_form():
    # Diagonal covariances: |mu_a - mu_b|^2 + sum (sqrt(sa) - sqrt(sb))^2.
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    sa, sb = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = 5.0 + ((np.sqrt(sa) - np.sqrt(sb)) ** 2).sum()
    assert cc.frechet_distance_from_moments(mu_a, np.diag(sa), mu_b, np.diag(sb)) == \
        pytest.approx(expected)
    # Non-commuting 2 x 2: tr sqrt(AB) = sqrt(tr(AB) + 2 sqrt(det(AB))).
    rng = np.random.default_rng(1)
    for _ in range(5):
        ga, gb = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
        a, b = ga @ ga.T + 0.1 * np.eye(2), gb @ gb.T + 0.1 * np.eye(2)
        root = np.sqrt(np.trace(a @ b) + 2 * np.sqrt(np.linalg.det(a @ b)))
        assert cc.frechet_distance_from_moments(np.zeros(2), a, np.zeros(2), b) == \
            pytest.approx(np.trace(a) + np.trace(b) - 2 * root)
    # From samples of two known Gaussians, close to the closed form.
    x = rng.normal(size=(40_000, 3)) * np.sqrt(sa) + mu_a
    y = rng.normal(size=(40_000, 3)) * np.sqrt(sb) + mu_b
    assert cc.frechet_distance(x, y) == pytest.approx(expected, rel=0.03)


def test_frechet_distance_is_stable_with_fewer_samples_than_dimensions():
    rng = np.random.default_rng(2)
    value = cc.frechet_distance(rng.normal(size=(20, 64)), rng.normal(size=(20, 64)))
    assert np.isfinite(value) and value > 0


def test_kernel_distance_is_near_zero_for_one_distribution_and_positive_when_shifted():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(1000, 16)), rng.normal(size=(1000, 16))
    same = cc.kernel_distance(a, b, subsets=20, subset_size=300)
    shifted = cc.kernel_distance(a, b + 0.5, subsets=20, subset_size=300)
    assert abs(same.mean) < 0.01
    assert shifted.mean > 0.1 and shifted.mean > 10 * same.std
    assert same.subsets == 20 and same.subset_size == 300


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_a_bootstrap_or_simulation_count_below_one_is_named(bad):
    real = ["Female/Blond_Hair"] * 50 + ["Male/Black_Hair"] * 50
    with pytest.raises(ValueError, match=r"n_boot must be a whole number of at least 1"):
        cc.tv_with_ci(real, real, n_boot=bad)
    with pytest.raises(ValueError, match=r"n_sim must be a whole number of at least 1"):
        cc.tv_noise_floor(real, 100, n_sim=bad)
