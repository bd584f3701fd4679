"""celeba_lab.collapse.report: the chapter's table and conditional agreement, on known sources."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from celeba_lab import collapse as cc
from celeba_lab.attributes import HAIR_COLOURS
from celeba_lab.synthetic import sample_attributes


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

    p = np.array([.12, .14, .13, .01, .18, .12, .01, .07, .03, .19])  # close to CelebA's
    poor = cc.simulated_confusion()      # ten-cell accuracy 0.484, as on real faces
    names = np.array(cc.SEX_HAIR_CELLS)
    rng = np.random.default_rng(seed)

    def measured(n, shares):
        true = pd.Series(names[rng.choice(10, n, p=shares)])
        return cc.simulate_measured_cells(true, poor, seed=int(rng.integers(2 ** 31)))

    reference = cc.SourceSample(pd.Series(names[rng.choice(10, 3000, p=p)]))
    collapse = cc.simulation_sources(p)["collapse"]   # blond or dark-haired women only
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
    direct = cc.estimate_tv(reference.cells, collapsed, poor, 1000, n_boot=100)
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
