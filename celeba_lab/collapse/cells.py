"""Who is generated: attribute labels, joint sex x hair-colour cells and their shares.

The same functions serve annotated real faces and classified generated faces (labels with
CelebA's columns, :func:`predicted_labels`). Also here: the classifiers' feasible training
sizes (:func:`feasible_sizes`) and the first remedy's ids (:func:`attribute_balanced_ids`).
"""

from __future__ import annotations

import warnings
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import config
from .._checks import whole_number
from ..attributes import HAIR_COLOURS, PARTITIONS
from ..data import NotEnoughImagesError, check_attribute
from ._common import _cell_counts
from .bootstrap import bootstrap_ci


#: Hair-colour categories, the four CelebA hair attributes then everything else.
HAIR_CATEGORIES: tuple[str, ...] = (*HAIR_COLOURS, "Other")
#: The two values of the ``Male`` attribute, as cell labels (0 first).
SEXES: tuple[str, ...] = ("Female", "Male")
#: The ten joint sex x hair-colour cells, e.g. ``"Female/Blond_Hair"``.
SEX_HAIR_CELLS: tuple[str, ...] = tuple(f"{s}/{h}" for s in SEXES for h in HAIR_CATEGORIES)
#: The attributes the mode-collapse chapter measures on every face.
MEASURED_ATTRIBUTES: tuple[str, ...] = ("Male", "Eyeglasses", "Smiling", *HAIR_COLOURS)


class MissingClassifierError(LookupError):
    """A measurement needs a classifier for an attribute that was not given."""


def hair_colour(attributes: pd.DataFrame, *, ties: str = "other") -> pd.Series:
    """The hair colour of each face, from the four 0/1 hair attributes.

    CelebA's four hair attributes are independent yes/no labels: a face with none (bald, red,
    hidden by a hat) is ``"Other"``, and so is a face with several unless ``ties="first"``
    (the first in :data:`HAIR_COLOURS` order). Labels from :func:`predicted_labels` never tie.

    Args:
        attributes: Frame with the four hair columns (0/1), e.g. ``CelebA.attributes``.
        ties: ``"other"`` or ``"first"``: what to do with a face that has several colours.

    Returns:
        Categorical series (categories :data:`HAIR_CATEGORIES`) with the frame's index.

    Raises:
        MissingClassifierError: A hair column is missing.
        ValueError: ``ties`` is not ``"other"`` or ``"first"``.

    Example:
        >>> frame = pd.DataFrame({"Black_Hair": [1, 0, 1], "Blond_Hair": [0, 0, 1],
        ...                       "Brown_Hair": [0, 0, 0], "Gray_Hair": [0, 0, 0]})
        >>> list(hair_colour(frame))
        ['Black_Hair', 'Other', 'Other']
    """
    if ties not in ("other", "first"):
        raise ValueError(f"ties must be 'other' or 'first', got {ties!r}")
    _require_columns(attributes, HAIR_COLOURS, "hair colour")
    flags = attributes.loc[:, list(HAIR_COLOURS)].to_numpy() > 0.5
    count = flags.sum(axis=1)
    first = np.argmax(flags, axis=1)
    names = np.array(HAIR_CATEGORIES, dtype=object)
    colour = np.where(count == 0, "Other", names[first])
    if ties == "other":
        colour = np.where(count > 1, "Other", colour)
    return pd.Series(pd.Categorical(colour, categories=HAIR_CATEGORIES), index=attributes.index,
                     name="hair")


def hair_colour_from_scores(scores: pd.DataFrame, *, threshold: float = 0.5) -> pd.Series:
    """The hair colour of each face from the four hair classifiers' probabilities.

    The most probable colour, or ``"Other"`` when all four are below ``threshold``. The argmax
    of four binary classifiers is a decision rule, not a probability; the correction
    (:func:`correct_for_misclassification`) is valid because it uses the same rule on real faces.

    Args:
        scores: Frame with the four :data:`HAIR_COLOURS` columns of probabilities in [0, 1].
        threshold: Below this for all four colours, the face is ``"Other"``.

    Returns:
        Categorical series over :data:`HAIR_CATEGORIES`.

    Example:
        >>> s = pd.DataFrame({"Black_Hair": [.9, .2], "Blond_Hair": [.6, .1],
        ...                   "Brown_Hair": [.1, .4], "Gray_Hair": [0., .3]})
        >>> list(hair_colour_from_scores(s))
        ['Black_Hair', 'Other']
    """
    _require_columns(scores, HAIR_COLOURS, "hair colour")
    values = scores.loc[:, list(HAIR_COLOURS)].to_numpy(dtype=float)
    best = np.argmax(values, axis=1)
    names = np.array(HAIR_CATEGORIES, dtype=object)
    colour = np.where(values.max(axis=1) < threshold, "Other", names[best])
    return pd.Series(pd.Categorical(colour, categories=HAIR_CATEGORIES), index=scores.index,
                     name="hair")


def predicted_labels(probabilities: pd.DataFrame, *, threshold: float = 0.5) -> pd.DataFrame:
    """Turn classifier probabilities into 0/1 labels shaped like CelebA's annotations.

    Binary attributes are positive at ``probability >= threshold``; the four hair columns, when
    present, become one-hot by :func:`hair_colour_from_scores` (all zero for ``"Other"``).

    Args:
        probabilities: Frame of P(attribute) per face, one column per attribute.
        threshold: Decision threshold.

    Returns:
        Frame of int8 0/1 with the same index and columns.

    Example:
        >>> probs = pd.DataFrame({"Male": [0.8, 0.3], "Black_Hair": [0.9, 0.1],
        ...                       "Blond_Hair": [0.7, 0.2], "Brown_Hair": [0.1, 0.3],
        ...                       "Gray_Hair": [0.0, 0.1]})
        >>> predicted_labels(probs).to_numpy().tolist()
        [[1, 1, 0, 0, 0], [0, 0, 0, 0, 0]]
    """
    labels = (probabilities.to_numpy(dtype=float) >= threshold).astype(np.int8)
    labels = pd.DataFrame(labels, index=probabilities.index, columns=probabilities.columns)
    if all(c in probabilities.columns for c in HAIR_COLOURS):
        colour = hair_colour_from_scores(probabilities, threshold=threshold)
        for name in HAIR_COLOURS:
            labels[name] = (colour == name).astype(np.int8).to_numpy()
    return labels


def joint_cells(attributes: pd.DataFrame, by: Sequence[str] = ("Male", "hair")) -> pd.Series:
    """The joint cell of each face over several attributes, e.g. ``"Male/Black_Hair"``.

    Args:
        attributes: Frame of 0/1 attributes (annotations or :func:`predicted_labels`).
        by: Attribute names; ``"hair"`` stands for the hair colour (:func:`hair_colour`).
            ``Male`` gives ``Female``/``Male``; another attribute ``X`` gives ``no X``/``X``.

    Returns:
        Categorical series whose categories are all combinations, in order (empty cells kept).

    Raises:
        MissingClassifierError: A needed column is missing.

    Example:
        >>> frame = pd.DataFrame({"Male": [1, 0], "Smiling": [0, 1]})
        >>> list(joint_cells(frame, ("Male", "Smiling")))
        ['Male/no Smiling', 'Female/Smiling']
    """
    parts: list[pd.Categorical] = []
    for name in by:
        if name == "hair":
            parts.append(hair_colour(attributes).array)
            continue
        _require_columns(attributes, (name,), name)
        values = attributes[name].to_numpy() > 0.5
        levels = SEXES if name == "Male" else (f"no {name}", name)
        parts.append(pd.Categorical(np.where(values, levels[1], levels[0]), categories=levels))
    categories = [""]
    labels = np.full(len(attributes), "", dtype=object)
    for i, part in enumerate(parts):
        sep = "/" if i else ""
        categories = [f"{c}{sep}{level}" for c in categories for level in part.categories]
        labels = labels + sep + np.asarray(part, dtype=object)
    return pd.Series(pd.Categorical(labels, categories=categories), index=attributes.index,
                     name="/".join(by))


def sex_hair_cells(attributes: pd.DataFrame) -> pd.Series:
    """The sex x hair-colour cell of each face: one of the ten :data:`SEX_HAIR_CELLS`.

    Args:
        attributes: Frame with ``Male`` and the four hair columns (0/1), annotated or predicted.

    Returns:
        Categorical series over :data:`SEX_HAIR_CELLS`.

    Example:
        >>> frame = pd.DataFrame({"Male": [0, 1], "Black_Hair": [0, 1], "Blond_Hair": [1, 0],
        ...                       "Brown_Hair": [0, 0], "Gray_Hair": [0, 0]})
        >>> list(sex_hair_cells(frame))
        ['Female/Blond_Hair', 'Male/Black_Hair']
    """
    return joint_cells(attributes, ("Male", "hair")).rename("cell")


def cell_shares(cells: pd.Series | Sequence[str],
                categories: Sequence[str] = SEX_HAIR_CELLS) -> pd.Series:
    """The share of faces in each cell, every category listed (zero for empty ones).

    Args:
        cells: Cell label per face.
        categories: All possible cells, in display order.

    Returns:
        Series indexed by ``categories`` summing to 1.

    Raises:
        ValueError: No faces, or a label outside ``categories``.

    Example:
        >>> cell_shares(["a", "a", "b", "a"], categories=("a", "b", "c")).tolist()
        [0.75, 0.25, 0.0]
    """
    counts = _cell_counts(cells, categories)
    return pd.Series(counts / counts.sum(), index=list(categories), name="share")


def cell_table(shares: pd.Series) -> pd.DataFrame:
    """Reshape shares over :data:`SEX_HAIR_CELLS` into a 2 x 5 table (sex x hair colour).

    Args:
        shares: Series indexed by cells such as ``"Male/Black_Hair"`` (e.g. :func:`cell_shares`).

    Returns:
        Frame with rows :data:`SEXES` and columns :data:`HAIR_CATEGORIES` (missing cells 0).

    Example:
        >>> float(cell_table(pd.Series({"Male/Gray_Hair": 1.0})).loc["Male", "Gray_Hair"])
        1.0
    """
    table = pd.DataFrame(0.0, index=list(SEXES), columns=list(HAIR_CATEGORIES))
    for cell, value in shares.items():
        sex, hair = str(cell).split("/")
        table.loc[sex, hair] = value
    return table


def attribute_share_table(sources: Mapping[str, pd.DataFrame], *,
                          attributes: Sequence[str] = ("Male", "Eyeglasses", "Smiling"),
                          n_boot: int = 1000, level: float = 0.95,
                          seed: int = 0) -> pd.DataFrame:
    """Attribute shares with bootstrap intervals for several sources, in long form for plotting.

    Args:
        sources: Source name (``"real"``, ``"report GAN"``, ...) -> 0/1 label frame.
        attributes: Binary attributes; with the four hair columns, the hair colours too.
        n_boot: Bootstrap resamples.
        level: Confidence level.
        seed: Random seed.

    Returns:
        Frame with columns ``source, attribute, share, low, high``.

    Example:
        >>> real, gan = data.attributes, data.attributes.iloc[:200]
        >>> table = attribute_share_table({"real": real, "GAN": gan}, n_boot=50)
        >>> list(table.columns)
        ['source', 'attribute', 'share', 'low', 'high']
        >>> table.groupby("source").size().to_dict()  # 3 attributes and 5 hair colours each
        {'GAN': 8, 'real': 8}
        >>> row = table.query("source == 'real' and attribute == 'Male'").iloc[0]
        >>> bool(row["low"] <= row["share"] <= row["high"])
        True
    """
    n_boot = whole_number("n_boot", n_boot)
    rows = []
    for source, labels in sources.items():
        indicators = _share_indicators(labels, attributes)
        for name, column in indicators.items():
            estimate = bootstrap_ci(column.to_numpy(dtype=float), np.mean, n_boot=n_boot,
                                    level=level, seed=seed)
            rows.append({"source": source, "attribute": name, "share": estimate.value,
                         "low": estimate.low, "high": estimate.high})
    return pd.DataFrame(rows, columns=["source", "attribute", "share", "low", "high"])


def _share_indicators(labels: pd.DataFrame, attributes: Sequence[str]) -> dict[str, pd.Series]:
    _require_columns(labels, attributes, "attribute shares")
    indicators = {name: labels[name] > 0.5 for name in attributes}
    if all(c in labels.columns for c in HAIR_COLOURS):
        colour = hair_colour(labels)
        indicators.update({name: colour == name for name in HAIR_CATEGORIES})
    return indicators


def feasible_sizes(data, attribute: str, wanted: Sequence[int] | None = None
                   ) -> tuple[int, int, int]:
    """The largest balanced (train, validation, test) sizes, up to ``wanted``, the data allows.

    Each size is capped at twice the smaller class of its partition (rounded down to even), so
    :func:`celeba_lab.data.balanced_sample` can draw it even for a rare attribute (``Gray_Hair``).

    Args:
        data: A :class:`celeba_lab.data.CelebA`.
        attribute: The attribute to classify.
        wanted: Desired sizes (default: the run profile's ``classifier_sizes``).

    Returns:
        ``(train, validation, test)`` sizes, each ``<=`` the wanted one.

    Raises:
        celeba_lab.data.UnknownAttributeError: Not a CelebA attribute.
        celeba_lab.data.NotEnoughImagesError: A partition has no face with (or without) it.
        ValueError: ``wanted`` does not give three sizes.

    Example:
        >>> feasible_sizes(data, "Gray_Hair", (800, 100, 100))  # 2,000 synthetic faces
        (148, 20, 24)
    """
    attribute = check_attribute(attribute)
    wanted = tuple(int(s) for s in (wanted or config.get_profile().classifier_sizes))
    if len(wanted) != len(PARTITIONS):
        raise ValueError(f"wanted must give (train, validation, test) sizes, got {wanted}.")
    labels = data.attributes[attribute]
    sizes = []
    for name, size in zip(PARTITIONS, wanted):
        in_split = labels.loc[data.split(name)]
        positives = int((in_split == 1).sum())
        largest = 2 * min(positives, len(in_split) - positives)
        if largest == 0 and size > 0:
            raise NotEnoughImagesError(
                f"The {name} partition has {positives:,} faces with {attribute} and "
                f"{len(in_split) - positives:,} without: a balanced {name} sample is impossible. "
                "Use a larger data set (a larger synthetic set, or real CelebA).")
        sizes.append(min(size - size % 2, largest))
    return tuple(sizes)


def attribute_balanced_ids(data, n: int, *, by: Sequence[str] = ("Male", "hair"), seed: int = 0,
                           split: str | None = "train") -> pd.Index:
    """Image ids in which every joint attribute cell is equally represented (remedy 1).

    Each non-empty cell of ``by`` gets ``n / cells`` ids, drawn with replacement only where it
    is small (rare cells such as ``Male/Blond_Hair`` repeat their faces: the price of
    balance). Pass the ids to ``data.gan_batches(data, ids=...)``.

    Args:
        data: A :class:`celeba_lab.data.CelebA`.
        n: Number of ids to return.
        by: Attributes defining the cells (see :func:`joint_cells`; default sex x hair colour).
        seed: Random seed.
        split: Partition to draw from, or ``None`` for all images.

    Returns:
        Shuffled index of image ids (ids may repeat).

    Raises:
        ValueError: ``n`` is smaller than the number of non-empty cells.

    Warns:
        UserWarning: Some cells have no image at all; they cannot be represented.

    Example:
        >>> ids = attribute_balanced_ids(data, 1_000)
        >>> len(ids)
        1000
        >>> cell_shares(sex_hair_cells(data.attributes.loc[ids])).round(3).unique().tolist()
        [0.1]
    """
    ids = data.attributes.index if split is None else data.split(split)
    cells = joint_cells(data.attributes.loc[ids], by)
    groups = {c: ids[(cells == c).to_numpy()] for c in cells.cat.categories}
    empty = [c for c, g in groups.items() if len(g) == 0]
    if empty:
        warnings.warn(f"No {split or 'all'} image falls in the cells {empty}; the balanced ids "
                      f"cover only the other {len(groups) - len(empty)} cells.", stacklevel=2)
    groups = {c: g for c, g in groups.items() if len(g)}
    if n < len(groups):
        raise ValueError(f"n={n} is smaller than the {len(groups)} cells to balance; ask for at "
                         f"least {len(groups)} ids.")
    rng = np.random.default_rng(seed)
    quotas = np.full(len(groups), n // len(groups))
    quotas[rng.choice(len(groups), n % len(groups), replace=False)] += 1
    chosen = [rng.choice(np.asarray(g), q, replace=len(g) < q)
              for g, q in zip(groups.values(), quotas)]
    picked = np.concatenate(chosen)
    rng.shuffle(picked)
    return pd.Index(picked, name="image_id")


def balance_table(data, ids: Iterable[str], *, by: Sequence[str] = ("Male", "hair"),
                  split: str | None = "train") -> pd.DataFrame:
    """Cell shares of a split before and after balancing, for the chapter's table.

    Args:
        data: A :class:`celeba_lab.data.CelebA`.
        ids: Balanced ids from :func:`attribute_balanced_ids` (repeats count).
        by: The cells' attributes.
        split: The partition the ids were drawn from (``None``: all images).

    Returns:
        Frame indexed by cell with columns ``before``, ``after`` and ``repeats`` (how many
        times each distinct id of that cell is used on average after balancing).

    Example:
        >>> table = balance_table(data, attribute_balanced_ids(data, 500))
        >>> list(table.columns)
        ['before', 'after', 'repeats']
        >>> table["after"].round(3).unique().tolist()
        [0.1]
    """
    pool = data.attributes.index if split is None else data.split(split)
    before = joint_cells(data.attributes.loc[pool], by)
    after = joint_cells(data.attributes.loc[pd.Index(ids)], by)
    categories = list(before.cat.categories)
    distinct = after.groupby(level=0, observed=True).first()
    repeats = after.value_counts().reindex(categories) / \
        distinct.value_counts().reindex(categories).replace(0, np.nan)
    return pd.DataFrame({"before": cell_shares(before, categories).to_numpy(),
                         "after": cell_shares(after, categories).to_numpy(),
                         "repeats": repeats.to_numpy()}, index=pd.Index(categories, name="cell"))


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MissingClassifierError(
            f"{what} needs the columns {missing}, which are not in {list(frame.columns)}. For "
            f"classified faces, give AttributeMeter a classifier for each "
            f"(celeba_lab.train_classifier(name)).")


__all__ = [
    "HAIR_CATEGORIES", "SEX_HAIR_CELLS", "MEASURED_ATTRIBUTES", "MissingClassifierError",
    "predicted_labels", "sex_hair_cells", "cell_shares",
    "attribute_share_table", "attribute_balanced_ids", "balance_table", "feasible_sizes",
]
