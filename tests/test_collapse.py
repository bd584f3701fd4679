"""Mode-collapse measurements on constructed cases whose right answers are known."""

from __future__ import annotations

import socket
import urllib.request

import numpy as np
import pandas as pd
import pytest

from celeba_lab import collapse as cc
from celeba_lab.attributes import HAIR_COLOURS
from celeba_lab.synthetic import sample_attributes


# --------------------------------------------------------------------------------------------
# Helpers: a stand-in data set and tiny classifiers whose outputs are known
# --------------------------------------------------------------------------------------------

class _TableData:
    """The two members of CelebA that attribute_balanced_ids reads: attributes and split()."""

    def __init__(self, attributes: pd.DataFrame, partition: pd.Series):
        self.attributes = attributes
        self.partition = partition

    def split(self, name: str) -> pd.Index:
        return self.partition.index[self.partition == name]


@pytest.fixture(scope="module")
def table_data():
    attributes = sample_attributes(4000, seed=3)
    partition = pd.Series(np.where(np.arange(4000) < 3200, "train", "test"),
                          index=attributes.index)
    return _TableData(attributes, partition)


def _channel_classifier(channel: int, size=(8, 6), slope: float = 20.0):
    """A trained-looking Keras model: P(positive) = sigmoid(slope * (mean of channel - 0.5))."""
    import keras

    inputs = keras.Input((*size, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid")(pooled)
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((3, 1), "float32")
    kernel[channel] = slope
    model.layers[-1].set_weights([kernel, np.array([-slope / 2], "float32")])
    # One step at learning rate 0 marks the model as trained without changing its weights.
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="binary_crossentropy")
    model.fit(np.zeros((2, *size, 3), "float32"), np.zeros((2, 1)), verbose=0)
    return model


def _images_with_channel_means(means: np.ndarray, size=(8, 6)) -> np.ndarray:
    """Images whose per-channel means are ``means`` (N, 3)."""
    means = np.asarray(means, "float32")
    return np.broadcast_to(means[:, None, None, :], (len(means), *size, 3)).copy()


@pytest.fixture(scope="module")
def meter():
    # Male reads channel 0; the four hair colours read channels 0, 1, 2 and 0 with another slope.
    return cc.AttributeMeter({
        "Male": _channel_classifier(0),
        "Black_Hair": _channel_classifier(1),
        "Blond_Hair": _channel_classifier(2),
        "Brown_Hair": _channel_classifier(0, slope=4.0),
        "Gray_Hair": _channel_classifier(0, slope=1.0),
    })


def _hair_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(HAIR_COLOURS))


# --------------------------------------------------------------------------------------------
# Hair colour and cells
# --------------------------------------------------------------------------------------------

def test_hair_colour_of_annotations_handles_none_single_and_ties():
    frame = _hair_frame([[0, 0, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]])
    assert list(cc.hair_colour(frame)) == ["Other", "Blond_Hair", "Other", "Gray_Hair"]
    assert list(cc.hair_colour(frame, ties="first")) == [
        "Other", "Blond_Hair", "Black_Hair", "Gray_Hair"]
    assert list(cc.hair_colour(frame).cat.categories) == list(cc.HAIR_CATEGORIES)


def test_hair_colour_from_scores_takes_argmax_and_other_below_threshold():
    scores = _hair_frame([[0.9, 0.6, 0.1, 0.0],    # two above 0.5: the larger wins
                          [0.49, 0.3, 0.2, 0.1],   # none above 0.5: Other
                          [0.2, 0.1, 0.3, 0.55],   # only gray
                          [0.0, 0.51, 0.0, 0.0]])
    assert list(cc.hair_colour_from_scores(scores)) == [
        "Black_Hair", "Other", "Gray_Hair", "Blond_Hair"]
    labels = cc.predicted_labels(scores.assign(Male=[0.7, 0.2, 0.5, 0.49]))
    assert labels[list(HAIR_COLOURS)].sum(axis=1).tolist() == [1, 0, 1, 1]  # never a tie
    assert labels["Male"].tolist() == [1, 0, 1, 0]


def test_sex_hair_cells_label_every_face_with_one_of_ten_cells():
    attributes = sample_attributes(500, seed=1)
    cells = cc.sex_hair_cells(attributes)
    assert list(cells.cat.categories) == list(cc.SEX_HAIR_CELLS) and len(cc.SEX_HAIR_CELLS) == 10
    assert cells.notna().all()
    male = attributes["Male"] == 1
    assert cells[male].str.startswith("Male/").all()
    assert cells[~male].str.startswith("Female/").all()
    blond_only = (attributes["Blond_Hair"] == 1) & (attributes[list(HAIR_COLOURS)].sum(axis=1) == 1)
    assert cells[blond_only].str.endswith("/Blond_Hair").all()


def test_missing_hair_column_is_a_clear_error():
    with pytest.raises(cc.MissingClassifierError, match="Gray_Hair"):
        cc.sex_hair_cells(pd.DataFrame({"Male": [1], "Black_Hair": [0], "Blond_Hair": [1],
                                        "Brown_Hair": [0]}))


# --------------------------------------------------------------------------------------------
# Total variation and bootstrap
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


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(42)
    p, n, repeats = 0.3, 200, 100
    covered = 0
    for seed in range(repeats):
        sample = (rng.random(n) < p).astype(float)
        estimate = cc.bootstrap_ci(sample, np.mean, n_boot=400, level=0.95, seed=seed)
        covered += estimate.low <= p <= estimate.high
    # Expected ~94 (the percentile interval runs slightly short); with 100 repeats the binomial
    # spread is about 2.3, so 86 is more than 3 standard deviations below.
    assert 86 <= covered <= 100
    # A lower level gives a narrower interval around the same point estimate.
    sample = (rng.random(n) < p).astype(float)
    wide = cc.bootstrap_ci(sample, np.mean, level=0.95)
    narrow = cc.bootstrap_ci(sample, np.mean, level=0.5)
    assert wide.value == narrow.value == sample.mean()
    assert wide.low < narrow.low < narrow.high < wide.high


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        cc.bootstrap_ci([], np.mean)
    with pytest.raises(ValueError, match="level"):
        cc.bootstrap_ci([1.0, 2.0], np.mean, level=1.5)


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


# --------------------------------------------------------------------------------------------
# Diversity, nearest neighbours, memorisation
# --------------------------------------------------------------------------------------------

def test_identical_images_score_exactly_zero_diversity():
    image = np.random.default_rng(0).random((16, 16, 3)).astype("float32")
    same = np.repeat(image[None], 30, axis=0)
    assert cc.pixel_diversity(same) == 0.0
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


# --------------------------------------------------------------------------------------------
# Remedy 1: attribute-balanced ids
# --------------------------------------------------------------------------------------------

def test_attribute_balanced_ids_give_equal_cell_shares(table_data):
    ids = cc.attribute_balanced_ids(table_data, 3000, seed=0)
    assert len(ids) == 3000
    assert set(ids) <= set(table_data.split("train"))
    cells = cc.sex_hair_cells(table_data.attributes.loc[ids])
    counts = cells.value_counts()
    assert counts.max() - counts.min() <= 1 and len(counts) == 10
    before_after = cc.balance_table(table_data, ids)
    np.testing.assert_allclose(before_after["after"], 0.1, atol=0.001)
    assert before_after["before"].min() < 0.03  # the real set is far from balanced
    assert before_after["before"].sum() == pytest.approx(1)
    # Rare cells repeat their faces; common ones do not need to.
    rare = before_after["before"].idxmin()
    assert before_after.loc[rare, "repeats"] > 1
    assert before_after["repeats"].min() == pytest.approx(1.0)
    again = cc.attribute_balanced_ids(table_data, 3000, seed=0)
    assert list(ids) == list(again)


def test_attribute_balanced_ids_warns_about_empty_cells(table_data):
    attributes = table_data.attributes.copy()
    attributes.loc[attributes["Male"] == 1, "Gray_Hair"] = 0
    data = _TableData(attributes, table_data.partition)
    with pytest.warns(UserWarning, match="Male/Gray_Hair"):
        ids = cc.attribute_balanced_ids(data, 900)
    assert cc.sex_hair_cells(attributes.loc[ids]).value_counts().gt(0).sum() == 9
    with pytest.raises(ValueError, match="at least"):
        cc.attribute_balanced_ids(table_data, 5)


# --------------------------------------------------------------------------------------------
# The meter: classifiers on images
# --------------------------------------------------------------------------------------------

def test_meter_applies_the_hair_argmax_rule(meter):
    images = _images_with_channel_means([[0.9, 0.2, 0.2],    # Male; Brown (0.83) is the top
                                         [0.2, 0.9, 0.95],   # Female; Blond beats Black
                                         [0.3, 0.2, 0.2],    # Female; nothing above 0.5
                                         [0.1, 0.8, 0.1]])   # Female; Black
    probs = meter.probabilities(images)
    assert list(probs.columns) == ["Male", *HAIR_COLOURS]
    assert list(meter.cells(images)) == [
        "Male/Brown_Hair", "Female/Blond_Hair", "Female/Other", "Female/Black_Hair"]


def test_meter_names_a_missing_classifier(meter):
    images = _images_with_channel_means([[0.5, 0.5, 0.5]])
    with pytest.raises(cc.MissingClassifierError, match=r"Eyeglasses.*train_classifier"):
        meter.probabilities(images, ["Male", "Eyeglasses"])
    partial = cc.AttributeMeter({"Male": meter.classifiers["Male"]})
    with pytest.raises(cc.MissingClassifierError, match="Black_Hair"):
        partial.cells(images)


def test_meter_refuses_images_of_another_size_unless_asked_to_resize(meter):
    generated = _images_with_channel_means([[0.9, 0.1, 0.1], [0.1, 0.1, 0.1]], size=(16, 16))
    expected = r"16x16 \(the generator makes 16x16 faces\).*expects 8x6.*resize=True"
    with pytest.raises(cc.ImageSizeMismatchError, match=expected):
        meter.probabilities(generated)
    probs = meter.probabilities(generated, ["Male"], resize=True)
    assert probs["Male"].round(3).tolist() == pytest.approx([1.0, 0.0], abs=1e-3)


def test_simulate_generator_resolution_keeps_size_and_values_in_range():
    rng = np.random.default_rng(0)
    images = rng.random((3, 40, 30, 3)).astype("float32")
    blurred = cc.simulate_generator_resolution(images, 8)
    assert blurred.shape == images.shape and blurred.dtype == np.float32
    assert 0 <= blurred.min() and blurred.max() <= 1
    assert blurred.std() < images.std()  # detail is lost on the way down
    flat = np.full((1, 40, 30, 3), 0.25, "float32")
    np.testing.assert_allclose(cc.simulate_generator_resolution(flat, 8), flat, atol=1e-5)


def test_classifier_features_come_from_the_penultimate_layer():
    import keras

    inputs = keras.Input((8, 6, 3))
    hidden = keras.layers.Dense(5, name="hidden")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))
    images = np.random.default_rng(0).random((7, 8, 6, 3)).astype("float32")
    features = cc.classifier_features(model, images, batch_size=3)
    expected = keras.Model(inputs, hidden).predict(images, verbose=0)
    assert features.shape == (7, 5)
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(cc.ImageSizeMismatchError, match="expects 8x6"):
        cc.classifier_features(model, np.zeros((2, 64, 64, 3), "float32"))


# --------------------------------------------------------------------------------------------
# Inception: never the network unless allowed
# --------------------------------------------------------------------------------------------

@pytest.fixture
def no_network(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(urllib.request, "urlretrieve", refuse)
    return attempts


def test_inception_features_refuse_offline_without_touching_the_network(tmp_path, monkeypatch,
                                                                         no_network):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr(cc, "_inception_model", None)
    images = np.zeros((2, 64, 64, 3), "float32")
    with pytest.raises(cc.InceptionUnavailableError, match=r"not on this machine.*Colab"):
        cc.inception_features(images)
    assert no_network == []
    assert cc.inception_weights_path().parent == tmp_path / "keras-home" / "models"


def test_inception_features_refuse_a_corrupt_weights_file(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(cc, "_inception_model", None)
    path = cc.inception_weights_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a download")
    with pytest.raises(cc.InceptionUnavailableError, match="corrupt"):
        cc.inception_features(np.zeros((1, 64, 64, 3), "float32"))
    assert no_network == []


# --------------------------------------------------------------------------------------------
# Conditional agreement and the report table
# --------------------------------------------------------------------------------------------

def test_condition_agreement_per_attribute_with_chance_level():
    rng = np.random.default_rng(0)
    n = 2000
    requested = pd.DataFrame({"Male": rng.integers(0, 2, n)})
    colours = rng.integers(0, 4, n)
    for i, name in enumerate(HAIR_COLOURS):
        requested[name] = (colours == i).astype(int)
    obeying = pd.DataFrame({"Male": requested["Male"] * 0.8 + 0.1})
    for name in HAIR_COLOURS:
        obeying[name] = requested[name] * 0.7 + 0.1
    table = cc.condition_agreement(requested, obeying)
    assert list(table.index) == ["Male", "hair colour"]
    assert table["agreement"].tolist() == [1.0, 1.0]
    assert table.loc["Male", "chance"] == pytest.approx(0.5, abs=0.02)
    assert table.loc["hair colour", "chance"] == pytest.approx(0.25, abs=0.02)
    ignoring = pd.DataFrame(rng.random((n, 5)), columns=["Male", *HAIR_COLOURS])
    random_table = cc.condition_agreement(requested, ignoring)
    np.testing.assert_allclose(random_table["agreement"], random_table["chance"], atol=0.04)
    with pytest.raises(cc.MissingClassifierError, match="Smiling"):
        cc.condition_agreement(requested.assign(Smiling=1), obeying)


def test_collapse_report_ranks_a_collapsed_generator_behind_real_data():
    rng = np.random.default_rng(0)
    names = np.array(cc.SEX_HAIR_CELLS)
    p = rng.dirichlet(np.ones(10) * 3)
    centres = rng.normal(size=(10, 8)) * 3

    def source(n, cells_p, spread=1.0):
        codes = rng.choice(10, n, p=cells_p)
        return cc.SourceSample(pd.Series(names[codes]),
                               centres[codes] + rng.normal(0, spread, (n, 8)))

    reference = source(1500, p)
    collapsed_p = np.eye(10)[int(np.argmax(p))] * 0.9 + 0.01
    agreement = pd.DataFrame({"agreement": [0.9, 0.8], "chance": [0.5, 0.25], "n": [600, 600]})
    sources = {"real (held out)": source(600, p), "report GAN": source(600, collapsed_p, 0.3),
               "conditional": cc.SourceSample(**{**vars(source(600, p)), "agreement": agreement})}
    table = cc.collapse_report(reference, sources, n_boot=100, kid_subsets=10,
                               kid_subset_size=200)
    assert list(table.index) == list(sources)
    real, gan = table.loc["real (held out)"], table.loc["report GAN"]
    assert real["TV"] < 0.1 < gan["TV"]
    assert (table["TV low"] <= table["TV high"]).all()
    assert real["TV"] < 2 * real["TV noise floor"]
    assert gan["TV"] > 5 * gan["TV noise floor"]
    assert gan["TV low"] <= cc.total_variation(p, collapsed_p) + 0.05
    assert gan["diversity"] < real["diversity"]
    assert gan["FD (classifier)"] > 5 * real["FD (classifier)"]
    assert gan["KD (classifier)"] > real["KD (classifier)"]
    assert table["FID (Inception)"].isna().all()
    assert np.isnan(real["agreement"]) and table.loc["conditional", "agreement"] == \
        pytest.approx(0.85)
    text = cc.format_collapse_report(table)
    assert (text["FID (Inception)"] == cc.INCEPTION_NA).all()
    assert text.loc["report GAN", "TV (95% CI)"].startswith(f"{gan['TV']:.3f} [")


def test_attribute_share_table_intervals_contain_the_shares():
    labels = sample_attributes(800, seed=2)
    table = cc.attribute_share_table({"real": labels}, n_boot=200)
    assert set(table["attribute"]) == {"Male", "Eyeglasses", "Smiling", *cc.HAIR_CATEGORIES}
    assert ((table["low"] <= table["share"]) & (table["share"] <= table["high"])).all()
    male = table.set_index("attribute").loc["Male", "share"]
    assert male == pytest.approx(labels["Male"].mean())
    hair = table[table["attribute"].isin(cc.HAIR_CATEGORIES)]["share"]
    assert hair.sum() == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------

def test_figures_draw_what_they_are_given():
    from celeba_lab.plots import collapse as plots

    labels = sample_attributes(400, seed=4)
    shares_table = cc.attribute_share_table({"real": labels, "GAN": labels.iloc[:50]}, n_boot=50)
    fig = plots.plot_attribute_shares(shares_table, title="shares")
    assert len(fig.axes[0].patches) == 2 * 8  # two sources x (3 attributes + 5 hair colours)

    real = cc.cell_shares(cc.sex_hair_cells(labels))
    gan = pd.Series(np.eye(10)[1], index=cc.SEX_HAIR_CELLS)
    fig = plots.plot_cell_heatmaps(real, {"GAN": gan})
    assert [ax.get_title() for ax in fig.axes] == ["real", "GAN", "GAN − real"]
    # Five panels wrap into rows of three, so the figure fits the page's 7.5-inch text column.
    fig = plots.plot_cell_heatmaps(real, {f"GAN {i}": gan for i in range(4)}, difference=False)
    visible = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert visible == ["real", "GAN 0", "GAN 1", "GAN 2", "GAN 3"]
    assert fig.get_figwidth() <= 7.5

    fig = plots.plot_cell_confusion(cc.cell_confusion_matrix(
        cc.sex_hair_cells(labels), cc.sex_hair_cells(labels)))
    assert fig.axes[0].get_xlabel() == "predicted cell"

    rng = np.random.default_rng(0)
    generated, train = rng.random((5, 8, 8, 3)), rng.random((20, 8, 8, 3))
    idx, dist = cc.nearest_neighbours(generated, train, k=3)
    fig = plots.plot_nearest_neighbours(generated, train, idx, dist, rows=4)
    assert len(fig.axes) == 4 * 4
    with pytest.raises(ValueError, match="indices"):
        plots.plot_nearest_neighbours(generated, train, idx[:2], dist[:2])

    fig = plots.plot_remedy_samples({"real": train, "GAN": generated}, per_row=6)
    assert len(fig.axes) == 12 and fig.axes[6].get_ylabel() == "GAN"
    fig = plots.plot_condition_grid({"Male, Blond_Hair": generated}, per_row=4)
    assert fig.axes[0].get_ylabel() == "Male, Blond_Hair"


# --------------------------------------------------------------------------------------------
# The chapter's glue: feasible sizes, error rates, corrected shares, one-pass measurement
# --------------------------------------------------------------------------------------------

def _three_partition_data(n=3000, seed=5):
    attributes = sample_attributes(n, seed=seed)
    tenth = np.arange(n) * 10 // n  # 0..9: eight tenths train, one validation, one test
    partition = pd.Series(np.select([tenth < 8, tenth == 8], ["train", "validation"], "test"),
                          index=attributes.index)
    return _TableData(attributes, partition)


def test_feasible_sizes_cap_a_rare_attribute_at_what_each_partition_allows():
    from celeba_lab.data import NotEnoughImagesError, balanced_sample

    data = _three_partition_data()
    assert set(data.partition) == {"train", "validation", "test"}
    wanted = (2000, 300, 300)
    sizes = cc.feasible_sizes(data, "Gray_Hair", wanted)
    for name, size, want in zip(("train", "validation", "test"), sizes, wanted):
        labels = data.attributes.loc[data.split(name), "Gray_Hair"]
        assert size % 2 == 0 and size <= want
        assert size == min(want, 2 * min(labels.sum(), (1 - labels).sum()))
    assert sizes[0] < wanted[0]  # grey hair is rare: the profile's size cannot be filled
    assert cc.feasible_sizes(data, "Male", (100, 20, 20)) == (100, 20, 20)
    assert cc.feasible_sizes(data, "Male", (101, 21, 20)) == (100, 20, 20)
    no_grey = _TableData(data.attributes.assign(Gray_Hair=0), data.partition)
    with pytest.raises(NotEnoughImagesError, match="Gray_Hair.*impossible"):
        cc.feasible_sizes(no_grey, "Gray_Hair", wanted)


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


def test_measure_gives_the_probabilities_and_the_concatenated_features(meter):
    images = _images_with_channel_means(np.random.default_rng(2).random((9, 3)))
    measured = cc.AttributeMeter(meter.classifiers, batch_size=4).measure(images)
    pd.testing.assert_frame_equal(measured.probabilities, meter.probabilities(images),
                                  atol=1e-6, check_dtype=False)
    # Each tiny classifier's penultimate layer is its global average pool: the channel means.
    expected = np.concatenate([images.mean(axis=(1, 2))] * len(meter.attributes), axis=1)
    np.testing.assert_allclose(measured.features, expected, atol=1e-5)
    assert list(measured.cells()) == list(meter.cells(images))
    with pytest.raises(cc.MissingClassifierError, match="Smiling"):
        meter.measure(images, ["Smiling"])
    with pytest.raises(cc.ImageSizeMismatchError, match="resize=True"):
        meter.measure(_images_with_channel_means([[0.5, 0.5, 0.5]], size=(16, 16)))


def test_meter_resizes_and_measures_a_chunk_at_a_time(meter, monkeypatch):
    # 10,000 generated faces upsampled to 218 x 178 at once would take 4.7 GB of RAM: the meter
    # resizes a chunk at a time, and the results do not depend on the chunking.
    rng = np.random.default_rng(5)
    generated = rng.random((11, 16, 16, 3)).astype(np.float32)
    whole_measure = meter.measure(generated, resize=True)
    whole_probs = meter.probabilities(generated, resize=True)
    resized = []
    real_resize = cc.resize_faces
    monkeypatch.setattr(cc, "resize_faces", lambda x, size, **kw: (
        resized.append(len(x)), real_resize(x, size, **kw))[1])
    monkeypatch.setattr(cc, "_MEASURE_CHUNK", 4)
    chunked = meter.measure(generated, resize=True)
    assert resized == [4, 4, 3]           # once per chunk for all the meter's classifiers
    pd.testing.assert_frame_equal(chunked.probabilities, whole_measure.probabilities,
                                  atol=1e-6)
    np.testing.assert_allclose(chunked.features, whole_measure.features, atol=1e-6)
    assert chunked.features.dtype == np.float32
    pd.testing.assert_frame_equal(meter.probabilities(generated, resize=True), whole_probs,
                                  atol=1e-6)
    with pytest.raises(ValueError, match="No images"):
        meter.measure(generated[:0], resize=True)


def test_measure_real_faces_reads_in_chunks_at_the_generators_resolution(meter, monkeypatch):
    from celeba_lab import cache as data_module

    rng = np.random.default_rng(3)
    ids = pd.Index([f"{i:06d}.jpg" for i in range(1, 12)])
    pixels = {i: (rng.random((8, 6, 3)) * 255).astype(np.uint8) for i in ids}
    asked = []

    def fake_decoded_images(data, wanted, size=None, **kwargs):
        asked.append((list(wanted), size))
        return np.stack([pixels[i] for i in wanted])

    monkeypatch.setattr(data_module, "decoded_images", fake_decoded_images)
    measured = cc.measure_real_faces(meter, object(), ids[::-1], generator_size=4, chunk_size=4)
    assert asked == [(list(ids[::-1]), (8, 6))]  # one cache file, at the classifiers' size
    assert list(measured.probabilities.index) == list(ids[::-1])
    images = np.stack([pixels[i] for i in ids[::-1]]).astype(np.float32) / 255
    direct = meter.measure(cc.simulate_generator_resolution(images, 4))
    np.testing.assert_allclose(measured.probabilities.to_numpy(),
                               direct.probabilities.to_numpy(), atol=1e-5)
    np.testing.assert_allclose(measured.features, direct.features, atol=1e-5)


def test_collapse_report_measures_a_balanced_generator_against_its_own_target():
    rng = np.random.default_rng(4)
    names = np.array(cc.SEX_HAIR_CELLS)
    p = np.array([0.3, 0.2, 0.15, 0.01, 0.04, 0.12, 0.01, 0.08, 0.05, 0.04])
    reference = cc.SourceSample(pd.Series(names[rng.choice(10, 3000, p=p)]))
    uniform = pd.Series(names[rng.choice(10, 3000)])
    balanced = cc.SourceSample(pd.Series(names[rng.choice(10, 600)]), target=uniform,
                               target_name="balanced training set")
    table = cc.collapse_report(reference, {"as target": balanced,
                                           "against real": cc.SourceSample(balanced.cells)},
                               n_boot=100)
    assert table.loc["as target", "TV"] < 2 * table.loc["as target", "TV noise floor"]
    assert table.loc["against real", "TV"] > 0.2
    assert table.attrs["tv_against"] == {"as target": "balanced training set",
                                         "against real": "real data"}
    text = cc.format_collapse_report(table)
    assert text["TV against"].tolist() == ["balanced training set", "real data"]


def _poor_instrument_sources(seed: int = 0):
    """A reference, and a faithful and a collapsed source read through a poor instrument."""
    from celeba_lab import instrument as ins

    p = np.array([.12, .14, .13, .01, .18, .12, .01, .07, .03, .19])  # close to CelebA's
    poor = ins.simulated_confusion()      # ten-cell accuracy 0.484, as on real faces
    names = np.array(cc.SEX_HAIR_CELLS)
    rng = np.random.default_rng(seed)

    def measured(n, shares):
        true = pd.Series(names[rng.choice(10, n, p=shares)])
        return ins.simulate_measured_cells(true, poor, seed=int(rng.integers(2 ** 31)))

    reference = cc.SourceSample(pd.Series(names[rng.choice(10, 3000, p=p)]))
    collapse = ins.simulation_sources(p)["collapse"]   # blond or dark-haired women only
    return reference, measured(600, p), measured(300, collapse), poor


def test_collapse_report_uses_the_validated_estimator_when_the_test_faces_are_known():
    reference, faithful, collapsed, poor = _poor_instrument_sources()

    def report(faces):
        return cc.collapse_report(reference, {
            "faithful": cc.SourceSample(faithful, correction=poor, confusion_faces=faces),
            "collapsed": cc.SourceSample(collapsed, correction=poor, confusion_faces=faces)},
            n_boot=100, tv_method="basic")

    old, new = report(None), report(1000)
    # The failure, in the table: least squares reads the faithful source far away.
    assert "detected" not in old.columns
    # (its floor counts the sampling noise of the two samples, not the instrument's error)
    assert old.loc["faithful", "TV"] > 2 * old.loc["faithful", "TV noise floor"]
    # The table inherits the fix: within its floor, not told apart, interval down to 0.
    faithful_row, collapsed_row = new.loc["faithful"], new.loc["collapsed"]
    assert not faithful_row["detected"]
    assert faithful_row["TV"] <= faithful_row["TV noise floor"]
    assert faithful_row["TV low"] == 0
    assert collapsed_row["detected"] and collapsed_row["TV low"] > faithful_row["TV high"]
    assert (new["TV low"] <= new["TV"]).all() and (new["TV"] <= new["TV high"]).all()
    assert new.attrs["tv_estimator"] == {"faithful": "confidence belt",
                                         "collapsed": "confidence belt"}
    assert list(new.columns[:6]) == ["n", "TV", "TV low", "TV high", "TV noise floor",
                                     "detected"]
    # The same numbers as the estimator itself.
    from celeba_lab import instrument as ins
    direct = ins.estimate_tv(reference.cells, collapsed, poor, 1000, n_boot=100)
    assert collapsed_row["TV"] == direct.value and collapsed_row["TV noise floor"] == direct.floor


def test_collapse_report_mixes_the_estimators_and_formats_detection():
    reference, faithful, collapsed, poor = _poor_instrument_sources(seed=1)
    table = cc.collapse_report(reference, {
        "annotated": cc.SourceSample(reference.cells.sample(500, random_state=0)),
        "collapsed": cc.SourceSample(collapsed, correction=poor, confusion_faces=1000,
                                     extra={"NN ratio": 0.9})}, n_boot=100)
    assert table["detected"].dtype == "boolean"
    assert pd.isna(table.loc["annotated", "detected"]) and table.loc["collapsed", "detected"]
    assert table.attrs["tv_estimator"]["annotated"] == "observed shares"
    text = cc.format_collapse_report(table)
    assert text["detected"].tolist() == ["–", "yes"]
    assert list(text.columns[:4]) == ["n", "TV (95% CI)", "TV noise floor", "detected"]
    assert text.loc["collapsed", "NN ratio"] == "0.900"
    with pytest.raises(ValueError, match="confusion_faces but no correction"):
        cc.collapse_report(reference, {"x": cc.SourceSample(faithful, confusion_faces=1000)})


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
