"""celeba_lab.collapse.cells: labels, joint cells and shares on cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from celeba_lab import collapse as cc
from celeba_lab.attributes import HAIR_COLOURS
from celeba_lab.synthetic import sample_attributes


# --------------------------------------------------------------------------------------------
# Helpers: a stand-in data set
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
# The chapter's glue: feasible sizes
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


@pytest.mark.parametrize("n_boot", [0, -2, 1.5])
def test_attribute_share_table_names_a_bad_bootstrap_count(n_boot):
    labels = sample_attributes(50, seed=0)
    with pytest.raises(ValueError, match=r"n_boot must be a whole number of at least 1"):
        cc.attribute_share_table({"real": labels}, n_boot=n_boot)
