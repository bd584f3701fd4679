"""Measuring mode collapse: attribute shares, divergence, diversity, memorisation, FID/KID.

The source report saw its DCGAN make "almost only women with blond or dark hair" and could not
measure it. This module turns that impression into numbers, with the book's own attribute
classifiers as the measuring instrument:

1. **Who is generated.** :class:`AttributeMeter` runs the classifiers for Male, Eyeglasses,
   Smiling and the four hair colours on any faces (generated or real) and returns per-image
   probabilities; :func:`predicted_labels` turns them into 0/1 labels with the same columns as
   CelebA's annotations, so real and generated faces go through the same functions
   (:func:`hair_colour`, :func:`sex_hair_cells`, :func:`attribute_shares`).
2. **How far from the real data.** :func:`total_variation` between the distributions over the
   ten joint sex x hair-colour cells, with a bootstrap interval (:func:`tv_with_ci`).
   The classifiers make mistakes; :func:`correct_for_misclassification` removes their known
   error rates from the observed shares (the classic correction for a misclassifying
   instrument).
3. **How varied, and is it copying.** :func:`diversity_score` (mean pairwise distance: identical
   faces score exactly zero) and :func:`nearest_neighbours` / :func:`memorisation_ratio`.
4. **How good.** :func:`frechet_distance` (the FID formula) and :func:`kernel_distance` (KID)
   on features. Two feature spaces, never to be confused:

   * **classifier features** (:func:`classifier_features`): the penultimate layer of the book's
     own attribute classifier. Works offline, compares the book's models with each other, and
     with nothing else.
   * **Inception features** (:func:`inception_features`): Inception-v3 pooled features, the
     feature space of published FID/KID numbers. Needs the ImageNet weights (a download, done on
     Colab). Only these numbers can be set beside published ones.

Everything but the model calls is numpy/pandas; Keras is imported only where a model is run.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .attributes import HAIR_COLOURS
from ._io import file_digest

#: Hair-colour categories: the four CelebA hair attributes, then everything else.
HAIR_CATEGORIES: tuple[str, ...] = (*HAIR_COLOURS, "Other")

#: The two values of the ``Male`` attribute, as cell labels (0 first).
SEXES: tuple[str, ...] = ("Female", "Male")

#: The ten joint sex x hair-colour cells, e.g. ``"Female/Blond_Hair"``.
SEX_HAIR_CELLS: tuple[str, ...] = tuple(f"{s}/{h}" for s in SEXES for h in HAIR_CATEGORIES)

#: The attributes the mode-collapse chapter measures on every face.
MEASURED_ATTRIBUTES: tuple[str, ...] = ("Male", "Eyeglasses", "Smiling", *HAIR_COLOURS)

#: What the report table shows where Inception features could not be computed.
INCEPTION_NA = "n/a (needs Inception weights)"

_INCEPTION_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
_INCEPTION_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
                  + _INCEPTION_FILE)
_INCEPTION_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"
_INCEPTION_SIZE = (299, 299)


class MissingClassifierError(LookupError):
    """A measurement needs a classifier for an attribute that was not given."""


class ImageSizeMismatchError(ValueError):
    """Images are not the size a classifier (or feature extractor) expects."""


class InceptionUnavailableError(RuntimeError):
    """Inception-v3 ImageNet weights are not on this machine and downloading was not allowed."""


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a confidence interval.

    Attributes:
        value: The statistic on the full sample.
        low: Lower end of the interval.
        high: Upper end of the interval.
        level: Confidence level of the interval, e.g. 0.95.
    """

    value: float
    low: float
    high: float
    level: float = 0.95

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class KernelDistance:
    """KID: the mean and standard deviation of the unbiased MMD² over random subsets.

    Attributes:
        mean: Mean MMD² over subsets (the KID value).
        std: Standard deviation over subsets (spread of the estimate).
        subsets: Number of subsets.
        subset_size: Samples per side in each subset.
    """

    mean: float
    std: float
    subsets: int
    subset_size: int


@dataclass(frozen=True)
class Memorisation:
    """How close generated faces are to training faces, relative to real faces among themselves.

    Attributes:
        generated_distance: Per generated face, the distance to its nearest training face.
        train_distance: Per sampled training face, the distance to its nearest *other*
            training face.
        ratio: ``median(generated_distance) / median(train_distance)``. About 1: generated faces
            are as far from the training set as training faces are from each other; much below
            1: the generator reproduces training faces.
        copy_share: Share of generated faces closer to a training face than 99 % of training
            faces are to their nearest neighbour (the 1st percentile of ``train_distance``).
    """

    generated_distance: np.ndarray
    train_distance: np.ndarray
    ratio: float
    copy_share: float


@dataclass
class SourceSample:
    """What :func:`collapse_report` needs about one source of faces (real data, a GAN, ...).

    Attributes:
        cells: The sex x hair-colour cell of each face (from :func:`sex_hair_cells`).
        features: Classifier features of the faces (:func:`classifier_features`), or ``None``.
        inception: Inception features (:func:`inception_features`), or ``None`` when the weights
            are not available.
        agreement: For a conditional generator, :func:`condition_agreement`'s table.
        correction: Confusion matrix of the classifiers (:func:`cell_confusion_matrix`) to
            correct this source's cell shares with before the divergence (``None``: observed
            shares; leave it ``None`` for annotated real faces, whose cells are not predicted).
        extra: More numeric columns for this row (e.g. ``{"NN ratio": 0.9}``).
        target: Cells of the distribution this source was *trained to reproduce*, when that is
            not the reference: an attribute-balanced GAN aims at equal cells, not at the real
            shares, so its collapse is its distance from the balanced training set. ``None``:
            the reference.
        target_name: What ``target`` is, for the table's ``TV against`` column.
        confusion_faces: The test faces ``correction`` was measured on: their annotated cells,
            their number per true cell, or their total. With ``correction`` it switches
            :func:`collapse_report` to the validated estimator
            (:func:`celeba_lab.instrument.estimate_tv`), which also counts the confusion
            matrix's own sampling error; ``None``: the least-squares correction
            (:func:`tv_with_ci`), which reads a faithful source far from the data when the
            classifiers are poor.
    """

    cells: pd.Series
    features: np.ndarray | None = None
    inception: np.ndarray | None = None
    agreement: pd.DataFrame | None = None
    correction: pd.DataFrame | np.ndarray | None = None
    extra: dict[str, float] = field(default_factory=dict)
    target: pd.Series | None = None
    target_name: str = "training set"
    confusion_faces: pd.Series | Sequence[str] | np.ndarray | int | None = None


# --------------------------------------------------------------------------------------------
# Attribute labels: the same functions for annotated real faces and classified generated faces
# --------------------------------------------------------------------------------------------

def hair_colour(attributes: pd.DataFrame, *, ties: str = "other") -> pd.Series:
    """The hair colour of each face, from the four 0/1 hair attributes.

    CelebA annotates Black_Hair, Blond_Hair, Brown_Hair and Gray_Hair as independent yes/no
    attributes, so a face can have none of them (bald, red, hidden by a hat: ``"Other"``) or
    several (ambiguous). Ambiguous faces go to ``"Other"`` by default, so no colour gains faces
    by an arbitrary rule; ``ties="first"`` takes the first in :data:`HAIR_COLOURS` order instead.
    Classifier outputs turned into labels by :func:`predicted_labels` never tie.

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

    The rule: the colour with the highest probability, unless all four are below ``threshold``,
    which makes it ``"Other"`` (no classifier is confident the face has its colour). Four binary
    classifiers are not a calibrated four-way classifier, so the argmax is a decision rule, not a
    probability; the correction in :func:`correct_for_misclassification` uses this same rule on
    real faces, which is what makes the correction valid.

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

    Binary attributes are positive at ``probability >= threshold``. The four hair columns, when
    present, become one-hot by :func:`hair_colour_from_scores` (all zero for ``"Other"``), so a
    face has at most one predicted colour and every later function treats real and generated
    faces alike.

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
        attributes: Frame with ``Male`` and the four hair columns (0/1): ``CelebA.attributes``
            for real faces, :func:`predicted_labels` for classified ones.

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


def attribute_shares(labels: pd.DataFrame,
                     attributes: Sequence[str] = ("Male", "Eyeglasses", "Smiling")) -> pd.Series:
    """Share of faces with each binary attribute, and the share of each hair colour.

    Args:
        labels: 0/1 frame (annotations or :func:`predicted_labels`).
        attributes: Binary attributes to report; hair-colour shares are added when the four
            hair columns are present (they sum to 1 with ``Other``).

    Returns:
        Series of shares indexed by attribute names, then :data:`HAIR_CATEGORIES`.

    Example:
        >>> labels = pd.DataFrame({"Male": [1, 0, 0, 0], "Eyeglasses": [0, 0, 0, 1],
        ...                        "Smiling": [1, 1, 0, 0]})
        >>> attribute_shares(labels).tolist()
        [0.25, 0.25, 0.5]
    """
    _require_columns(labels, attributes, "attribute shares")
    shares = {name: float(labels[name].mean()) for name in attributes}
    if all(c in labels.columns for c in HAIR_COLOURS):
        colour = hair_colour(labels)
        for name in HAIR_CATEGORIES:
            shares[name] = float((colour == name).mean())
    return pd.Series(shares, name="share")


def attribute_share_table(sources: Mapping[str, pd.DataFrame], *,
                          attributes: Sequence[str] = ("Male", "Eyeglasses", "Smiling"),
                          n_boot: int = 1000, level: float = 0.95,
                          seed: int = 0) -> pd.DataFrame:
    """Attribute shares with bootstrap intervals for several sources, in long form for plotting.

    Args:
        sources: Source name (``"real"``, ``"report GAN"``, ...) -> 0/1 label frame.
        attributes: Binary attributes; hair colours are added as in :func:`attribute_shares`.
        n_boot: Bootstrap resamples.
        level: Confidence level.
        seed: Random seed.

    Returns:
        Frame with columns ``source, attribute, share, low, high``.

    Example:
        >>> table = attribute_share_table({"real": real, "GAN": gan})  # doctest: +SKIP
        >>> table.query("attribute == 'Male'")  # doctest: +SKIP
    """
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


# --------------------------------------------------------------------------------------------
# The instrument's training samples
# --------------------------------------------------------------------------------------------

def feasible_sizes(data, attribute: str, wanted: Sequence[int] | None = None
                   ) -> tuple[int, int, int]:
    """The largest balanced (train, validation, test) sizes, up to ``wanted``, the data allows.

    A balanced sample needs as many faces without the attribute as with it in each partition;
    a rare attribute (``Gray_Hair`` is on about 4 % of CelebA's faces) cannot fill the profile's
    sizes in every partition. Each size is capped at twice the smaller class of its partition
    (rounded down to an even number), so :func:`celeba_lab.data.balanced_sample` can always
    draw it.

    Args:
        data: A :class:`celeba_lab.data.CelebA`.
        attribute: The attribute to classify.
        wanted: Desired sizes (default: the run profile's ``classifier_sizes``).

    Returns:
        ``(train, validation, test)`` sizes, each ``<=`` the wanted one.

    Raises:
        celeba_lab.data.UnknownAttributeError: Not a CelebA attribute.
        celeba_lab.data.NotEnoughImagesError: A partition has no face with (or without) the
            attribute, so no classifier can be trained or validated on it.
        ValueError: ``wanted`` does not give three sizes.

    Example:
        >>> feasible_sizes(data, "Gray_Hair", (800, 100, 100))  # doctest: +SKIP
        (682, 90, 100)
    """
    from . import config
    from .attributes import PARTITIONS
    from .data import NotEnoughImagesError, check_attribute

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


# --------------------------------------------------------------------------------------------
# Remedy 1: attribute-balanced training ids
# --------------------------------------------------------------------------------------------

def attribute_balanced_ids(data, n: int, *, by: Sequence[str] = ("Male", "hair"), seed: int = 0,
                           split: str | None = "train") -> pd.Index:
    """Image ids in which every joint attribute cell is equally represented (remedy 1).

    The report proposed balancing the GAN's training data across attributes. This samples
    ``n`` ids so each non-empty cell of ``by`` (default: the ten sex x hair-colour cells) gets
    ``n / cells`` of them: without replacement where a cell has enough images, with replacement
    where it is small (rare cells such as ``Male/Blond_Hair`` then repeat their faces, which is
    the price of balance). Pass the ids to ``data.gan_batches(data, ids=...)``.

    Args:
        data: A :class:`celeba_lab.data.CelebA`.
        n: Number of ids to return.
        by: Attributes defining the cells (see :func:`joint_cells`).
        seed: Random seed.
        split: Partition to draw from, or ``None`` for all images.

    Returns:
        Shuffled index of image ids (ids may repeat).

    Raises:
        ValueError: ``n`` is smaller than the number of non-empty cells.

    Warns:
        UserWarning: Some cells have no image at all; they cannot be represented.

    Example:
        >>> ids = attribute_balanced_ids(data, 10_000)  # doctest: +SKIP
        >>> batches = gan_batches(data, ids=ids)  # doctest: +SKIP
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
        >>> ids = attribute_balanced_ids(data, 5_000)  # doctest: +SKIP
        >>> balance_table(data, ids)  # doctest: +SKIP
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


# --------------------------------------------------------------------------------------------
# The instrument: classifiers run on faces
# --------------------------------------------------------------------------------------------

class AttributeMeter:
    """Run the book's attribute classifiers on faces from any source.

    Args:
        classifiers: Attribute name -> trained classifier: a Keras model or the
            ``TrainedClassifier`` that :func:`celeba_lab.train_classifier` returns.
        batch_size: Images per prediction batch.
        scorer: ``scorer(model, images) -> P(positive)``; default
            :func:`celeba_lab.classifiers.predict_scores`.

    Example:
        >>> meter = AttributeMeter({a: train_classifier(a).model for a in MEASURED_ATTRIBUTES})
        ... # doctest: +SKIP
        >>> probs = meter.probabilities(generate_images(gen, 500, seed=0), resize=True)
        ... # doctest: +SKIP
        >>> cells = sex_hair_cells(predicted_labels(probs))  # doctest: +SKIP
    """

    def __init__(self, classifiers: Mapping[str, Any], *, batch_size: int = 64,
                 scorer: Callable[[Any, np.ndarray], np.ndarray] | None = None):
        if not classifiers:
            raise MissingClassifierError("AttributeMeter needs at least one classifier.")
        # A TrainedClassifier is unwrapped to its Keras model.
        self.classifiers = {name: getattr(c, "model", c) for name, c in classifiers.items()}
        self.batch_size = batch_size
        self._scorer = scorer

    @property
    def attributes(self) -> tuple[str, ...]:
        """The attributes this meter can measure."""
        return tuple(self.classifiers)

    def require(self, attributes: Iterable[str]) -> None:
        """Raise :class:`MissingClassifierError` unless every attribute has a classifier."""
        missing = [a for a in attributes if a not in self.classifiers]
        if missing:
            raise MissingClassifierError(
                f"No classifier for {missing}; the meter has {list(self.classifiers)}. Train one "
                f"per missing attribute with celeba_lab.train_classifier(name) (the hair colours "
                f"too: {list(HAIR_COLOURS)}) and pass it in the dict given to AttributeMeter.")

    def probabilities(self, images: np.ndarray, attributes: Iterable[str] | None = None, *,
                      resize: bool = False, generator_size: tuple[int, int] | None = None,
                      ) -> pd.DataFrame:
        """P(attribute) for each image and attribute.

        Args:
            images: float32 array (N, H, W, 3) in [0, 1], from any source.
            attributes: Which attributes (default: all the meter has).
            resize: Resize images to each classifier's input size. Upsampling a 64 x 64 face to
                the classifier's 218 x 178 blurs it and stretches it from square to the
                classifier's aspect ratio: the classifier then sees images unlike those it was
                trained on, and makes more mistakes. Measure those mistakes on real faces sent
                through the same path (:func:`simulate_generator_resolution`) and correct for
                them (:func:`correct_for_misclassification`).
            generator_size: Only used in the error message (the size the generator makes).

        Returns:
            Frame (N rows, one column per attribute) of probabilities.

        Raises:
            MissingClassifierError: An attribute has no classifier.
            ImageSizeMismatchError: The images are not the classifier's size and ``resize`` is
                False.
        """
        attributes = self.attributes if attributes is None else tuple(attributes)
        self.require(attributes)
        images = _as_images(images)
        columns: dict[str, list[np.ndarray]] = {name: [] for name in attributes}
        for name, model, batch in _per_classifier(self.classifiers, attributes, images,
                                                  resize, generator_size):
            columns[name].append(np.asarray(self._score(model, batch), dtype=float).reshape(-1))
        return pd.DataFrame({name: np.concatenate(parts) for name, parts in columns.items()},
                            index=pd.RangeIndex(len(images), name="image"))

    def measure(self, images: np.ndarray, attributes: Iterable[str] | None = None, *,
                resize: bool = False, generator_size: tuple[int, int] | None = None,
                ) -> "Measurement":
        """Probabilities *and* features of every classifier, in one pass over the images.

        Each classifier is run once, through a model with two outputs: its prediction and its
        penultimate features (:func:`celeba_lab.classifiers.classifier_embedding`). The
        features of all classifiers are concatenated in attribute order: the meter's
        *attribute feature space*, where faces that differ in sex, glasses, smile or hair colour
        are far apart. Diversity, nearest neighbours and the classifier Fréchet/kernel distances
        of the chapter are computed there. Images are resized once per input size, not once
        per classifier, 1,024 at a time, so that memory stays bounded however many faces are
        measured.

        Args:
            images: float32 array (N, H, W, 3) in [0, 1].
            attributes: Which attributes (default: all the meter has).
            resize: Resize images to the classifiers' input size (see :meth:`probabilities`).
            generator_size: Only used in the error message.

        Returns:
            A :class:`Measurement`.

        Raises:
            MissingClassifierError: An attribute has no classifier.
            ImageSizeMismatchError: Wrong image size and ``resize`` is False.
        """
        import keras

        from .classifiers import _require_trained, check_input_shape

        attributes = self.attributes if attributes is None else tuple(attributes)
        self.require(attributes)
        images = _as_images(images)
        scores: dict[str, list[np.ndarray]] = {name: [] for name in attributes}
        features: dict[str, list[np.ndarray]] = {name: [] for name in attributes}
        for name, model, batch in _per_classifier(self.classifiers, attributes, images,
                                                  resize, generator_size):
            # The checks predict_scores makes: a trained model, images of its shape.
            _require_trained(model)
            check_input_shape(model, batch.shape[1:])
            both = _scores_and_features(model)
            # Direct calls, batch by batch: no predict() function traced per call.
            parts = [[keras.ops.convert_to_numpy(t)
                      for t in both(batch[i:i + self.batch_size], training=False)]
                     for i in range(0, len(batch), self.batch_size)]
            out = np.concatenate([np.asarray(p[1]) for p in parts]).astype(float)
            scores[name].append(out[:, -1] if out.ndim == 2 else out.reshape(-1))
            features[name].append(np.concatenate([np.asarray(p[0]) for p in parts])
                                  .reshape(len(batch), -1).astype(np.float32))
        index = pd.RangeIndex(len(images), name="image")
        return Measurement(
            pd.DataFrame({name: np.concatenate(scores[name]) for name in attributes},
                         index=index),
            np.concatenate([np.concatenate(features[name]) for name in attributes], axis=1))

    def labels(self, images: np.ndarray, attributes: Iterable[str] | None = None, *,
               resize: bool = False, threshold: float = 0.5) -> pd.DataFrame:
        """0/1 labels for each image: :meth:`probabilities` then :func:`predicted_labels`."""
        return predicted_labels(self.probabilities(images, attributes, resize=resize),
                                threshold=threshold)

    def cells(self, images: np.ndarray, *, resize: bool = False) -> pd.Series:
        """The predicted sex x hair-colour cell of each image (needs Male and the hair colours).

        Raises:
            MissingClassifierError: Male or a hair-colour classifier is missing.
        """
        needed = ("Male", *HAIR_COLOURS)
        return sex_hair_cells(self.labels(images, needed, resize=resize))

    def _score(self, model, images: np.ndarray) -> np.ndarray:
        scorer = self._scorer
        if scorer is None:
            from .classifiers import predict_scores as scorer
        return _in_batches(lambda x: scorer(model, x), images, self.batch_size)


@dataclass
class Measurement:
    """What :meth:`AttributeMeter.measure` returns for a set of faces.

    Attributes:
        probabilities: P(attribute) per face, one column per attribute.
        features: float32 (N, d): the classifiers' penultimate features side by side.
    """

    probabilities: pd.DataFrame
    features: np.ndarray

    def labels(self, threshold: float = 0.5) -> pd.DataFrame:
        """0/1 labels (:func:`predicted_labels`)."""
        return predicted_labels(self.probabilities, threshold=threshold)

    def cells(self, threshold: float = 0.5) -> pd.Series:
        """The sex x hair-colour cell of each face (:func:`sex_hair_cells`)."""
        return sex_hair_cells(self.labels(threshold))


#: Faces a meter resizes and measures at a time. Upsampled to 218 x 178 as float32, 1,024
#: faces take 0.5 GB; the 10,000 of the full profile at once would take 4.7 GB of RAM.
_MEASURE_CHUNK = 1024


def _per_classifier(classifiers, attributes, images: np.ndarray, resize: bool,
                    generator_size):
    """``(name, model, images fitted to it)`` for each chunk of images and each classifier."""
    if len(images) == 0:
        raise ValueError("No images given.")
    for start in range(0, len(images), _MEASURE_CHUNK):
        fitted = _FittedImages(images[start:start + _MEASURE_CHUNK], resize, generator_size)
        for name in attributes:
            model = classifiers[name]
            yield name, model, fitted.for_model(model, f"the classifier for {name!r}")


class _FittedImages:
    # Images resized at most once per input size, however many classifiers share that size.
    def __init__(self, images: np.ndarray, resize: bool, generator_size):
        self.images, self.resize, self.generator_size = images, resize, generator_size
        self._by_size: dict = {}

    def for_model(self, model, what: str) -> np.ndarray:
        size = _model_size(model)
        if size not in self._by_size:
            self._by_size[size] = _fit_to_model(self.images, model, resize=self.resize,
                                                what=what, generator_size=self.generator_size)
        return self._by_size[size]


_two_output_models: dict[int, Any] = {}


def _scores_and_features(model):
    # A model with two outputs, [penultimate features, prediction], built once per classifier.
    key = id(model)
    cached = _two_output_models.get(key)
    if cached is None or cached[0] is not model:
        import keras

        from .classifiers import classifier_embedding

        embedding = classifier_embedding(model)
        both = keras.Model(model.inputs[0], [embedding.outputs[0], model.outputs[0]])
        cached = (model, both)
        _two_output_models[key] = cached
    return cached[1]


def measure_real_faces(meter: AttributeMeter, data, ids: Iterable[str], *,
                       generator_size: tuple[int, int] | int | None = 64,
                       chunk_size: int = 256) -> Measurement:
    """Measure real faces the way generated ones are measured, a chunk at a time.

    The faces are decoded at the classifiers' input size into the decoded-image cache (a
    second call is cheap); each chunk is read from it, sent down to the generator's resolution
    and back (:func:`simulate_generator_resolution`) and measured
    (:meth:`AttributeMeter.measure`), so
    the real faces reach the classifiers with the same blur and stretch as upsampled generated
    faces, and memory stays bounded for any number of faces.

    Args:
        meter: The classifiers.
        data: A :class:`celeba_lab.data.CelebA`.
        ids: Image ids to measure, in the order wanted.
        generator_size: The generator's output size; ``None`` measures the faces at full
            resolution.
        chunk_size: Faces decoded and measured at once.

    Returns:
        A :class:`Measurement` whose rows follow ``ids`` (its ``probabilities`` are indexed by
        image id).

    Raises:
        ValueError: ``ids`` is empty.
        MissingClassifierError: The meter lacks a classifier it is asked for.

    Example:
        >>> real = measure_real_faces(meter, data, data.split("test")[:500])  # doctest: +SKIP
    """
    from .cache import decoded_images

    ids = pd.Index(list(ids), name="image_id")
    if len(ids) == 0:
        raise ValueError("No image ids given.")
    sizes = {_model_size(m) for m in meter.classifiers.values()} - {None}
    size = next(iter(sizes)) if len(sizes) == 1 else None
    # One memory-mapped cache file for all the ids; chunks are read from it.
    decoded = decoded_images(data, ids, **({"size": size} if size else {}))
    parts = []
    for start in range(0, len(ids), chunk_size):
        images = np.asarray(decoded[start:start + chunk_size], dtype=np.float32) / 255.0
        if generator_size is not None:
            images = simulate_generator_resolution(images, generator_size)
        parts.append(meter.measure(images, resize=True))
    probabilities = pd.concat([p.probabilities for p in parts], ignore_index=True)
    probabilities.index = ids
    return Measurement(probabilities, np.concatenate([p.features for p in parts]))


def simulate_generator_resolution(images: np.ndarray,
                                  generator_size: tuple[int, int] | int = 64) -> np.ndarray:
    """Send real faces down to the generator's resolution and back to their own size.

    Real faces measured this way look to the classifier like upsampled generated faces do (same
    blur, same stretch), so the classifier's error rates estimated on them are the ones that
    apply to generated faces. Use it for the real faces of the confusion matrix whenever
    generated faces are classified with ``resize=True``.

    Args:
        images: float32 (N, H, W, 3) in [0, 1].
        generator_size: The generator's output size (``64`` or ``(64, 64)``).

    Returns:
        float32 (N, H, W, 3) in [0, 1].

    Example:
        >>> real = decoded_images(data, test_ids) / 255.0  # doctest: +SKIP
        >>> probs = meter.probabilities(simulate_generator_resolution(real, 64))  # doctest: +SKIP
    """
    images = _as_images(images)
    small = resize_faces(images, _pair(generator_size))
    return resize_faces(small, images.shape[1:3])


def resize_faces(images: np.ndarray, size: tuple[int, int] | int,
                  batch_size: int = 256) -> np.ndarray:
    """Bilinear resize of float images to ``size`` (height, width), clipped to [0, 1].

    Args:
        images: float (N, H, W, 3).
        size: Target (height, width), or one int for a square.
        batch_size: Images resized at once (bounds memory).

    Returns:
        float32 (N, height, width, 3).

    Example:
        >>> resize_faces(np.zeros((2, 64, 64, 3), "float32"), (218, 178)).shape  # doctest: +SKIP
        (2, 218, 178, 3)
    """
    import keras

    size = _pair(size)
    images = _as_images(images)
    if images.shape[1:3] == size:
        return images

    def one_batch(x):
        y = keras.ops.image.resize(x, size, interpolation="bilinear", antialias=True)
        return np.clip(keras.ops.convert_to_numpy(y), 0.0, 1.0).astype(np.float32)

    return _in_batches(one_batch, images, batch_size)


# --------------------------------------------------------------------------------------------
# Correcting for the instrument's errors
# --------------------------------------------------------------------------------------------

def cell_confusion_matrix(true_cells: pd.Series | Sequence[str],
                     predicted_cells: pd.Series | Sequence[str],
                     categories: Sequence[str] = SEX_HAIR_CELLS) -> pd.DataFrame:
    """Row-normalised confusion matrix: entry (i, j) = P(predicted = j | true = i).

    Args:
        true_cells: Annotated cell per face (:func:`sex_hair_cells` of CelebA's labels).
        predicted_cells: The classifiers' cell for the same faces, in the same order.
        categories: All cells.

    Returns:
        Square frame, rows true cells, columns predicted cells. A true cell with no face gets a
        row of NaN (its error rates are unknown).

    Raises:
        ValueError: The two label lists differ in length, or a label is not a category.

    Example:
        >>> m = cell_confusion_matrix(["a", "a", "b"], ["a", "b", "b"], categories=("a", "b"))
        >>> m.to_numpy().tolist()
        [[0.5, 0.5], [0.0, 1.0]]
    """
    true = _as_labels(true_cells, categories)
    predicted = _as_labels(predicted_cells, categories)
    if len(true) != len(predicted):
        raise ValueError(f"{len(true)} true labels but {len(predicted)} predicted labels.")
    k = len(categories)
    counts = np.zeros((k, k))
    np.add.at(counts, (true, predicted), 1)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = counts / totals
    return pd.DataFrame(rates, index=pd.Index(categories, name="true"),
                        columns=pd.Index(categories, name="predicted"))


def correct_for_misclassification(observed: pd.Series | np.ndarray,
                                  confusion: pd.DataFrame | np.ndarray) -> pd.Series | np.ndarray:
    """Estimate the true distribution over cells from the classifiers' observed distribution.

    A classifier that errs blurs the distribution it reports: if ``M[i, j]`` is the probability
    that a face of true cell ``i`` is classified as ``j``, the observed shares are
    ``q = Mᵀ p``. This solves for ``p``: the exact solution when ``Mᵀ`` is invertible and it
    lies on the probability simplex, otherwise the least-squares solution constrained to the
    simplex (non-negative, summing to 1), found by projected gradient descent. For two classes
    with sensitivity ``se`` and specificity ``sp`` this is the Rogan–Gladen estimator
    (:func:`rogan_gladen`) clipped to [0, 1].

    Which data ``M`` must come from: **real, annotated faces that none of the classifiers was
    trained on** (the test partition), classified exactly as the generated faces are, through
    the same resizing (:func:`simulate_generator_resolution` when generated faces are upsampled),
    with the same decision rules (:func:`predicted_labels`). Its rows are conditional on the true
    cell, so the sample need not have the generator's proportions, but every cell needs enough
    faces for its row to be reliable. The correction then assumes the classifiers err on
    generated faces as they do on real faces of the same cell: plausible for good samples,
    unverifiable for strange ones. Report corrected and observed numbers side by side.

    Args:
        observed: Observed shares ``q`` (summing to 1), a Series indexed by cell or an array.
        confusion: ``M`` (rows true, columns predicted; rows summing to 1), e.g. from
            :func:`cell_confusion_matrix`. Counts are accepted and row-normalised.

    Returns:
        Estimated true shares ``p``, same type and index as ``observed``.

    Raises:
        ValueError: Shapes disagree, or ``M`` has a row with no data (NaN or all zero).

    Example:
        >>> M = np.array([[0.9, 0.1], [0.2, 0.8]])
        >>> q = M.T @ np.array([0.3, 0.7])
        >>> np.round(correct_for_misclassification(q, M), 6)
        array([0.3, 0.7])
    """
    index = observed.index if isinstance(observed, pd.Series) else None
    q = np.asarray(observed, dtype=float)
    m = np.asarray(confusion, dtype=float)
    if m.shape != (q.size, q.size):
        raise ValueError(f"The confusion matrix is {m.shape} but there are {q.size} shares.")
    if np.isnan(m).any() or (m.sum(axis=1) <= 0).any():
        raise ValueError("The confusion matrix has a row with no faces (NaN or zero): estimate it "
                         "on held-out real faces that cover every cell.")
    m = m / m.sum(axis=1, keepdims=True)
    q = q / q.sum()
    p = _simplex_least_squares(m.T, q)
    return pd.Series(p, index=index, name="corrected") if index is not None else p


def rogan_gladen(observed_share: float, sensitivity: float, specificity: float) -> float:
    """Correct one binary share for a classifier's errors (Rogan and Gladen, 1978).

    ``p = (q + specificity - 1) / (sensitivity + specificity - 1)``, clipped to [0, 1], where
    ``q`` is the share the classifier calls positive. Sensitivity and specificity must be
    measured on held-out real annotated faces, as for :func:`correct_for_misclassification`.

    Args:
        observed_share: Share classified positive.
        sensitivity: P(predicted positive | truly positive).
        specificity: P(predicted negative | truly negative).

    Returns:
        The estimated true share.

    Raises:
        ValueError: ``sensitivity + specificity <= 1``: the classifier is no better than chance
            and nothing can be corrected.

    Example:
        >>> round(rogan_gladen(0.38, sensitivity=0.9, specificity=0.8), 6)
        0.257143
    """
    youden = sensitivity + specificity - 1
    if youden <= 0:
        raise ValueError(f"sensitivity + specificity = {sensitivity + specificity:.3f} <= 1: "
                         "the classifier is no better than chance; the share cannot be corrected.")
    return float(np.clip((observed_share + specificity - 1) / youden, 0.0, 1.0))


def _simplex_least_squares(a: np.ndarray, b: np.ndarray, iterations: int = 20_000,
                           tol: float = 1e-12) -> np.ndarray:
    # Exact solve first: for a well-estimated confusion matrix the answer usually is on the
    # simplex already, and then no iterative error is added.
    x, *_ = np.linalg.lstsq(a, b, rcond=None)
    if np.all(x >= -1e-12) and abs(x.sum() - 1) < 1e-9:
        x = np.clip(x, 0, None)
        return x / x.sum()
    # Otherwise an active-set solve, exact in a few steps even when `a` is ill-conditioned
    # (a bootstrap runs this a thousand times); projected gradient only as a fallback.
    exact = _simplex_active_set(a, b)
    if exact is not None:
        return exact
    # Accelerated projected gradient (FISTA) on 0.5 |a x - b|^2 over the simplex.
    step = 1.0 / max(np.linalg.norm(a, 2) ** 2, 1e-12)
    x = _project_to_simplex(x)
    y, t = x.copy(), 1.0
    for _ in range(iterations):
        x_new = _project_to_simplex(y - step * a.T @ (a @ y - b))
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        y = x_new + (t - 1) / t_new * (x_new - x)
        if np.abs(x_new - x).max() < tol:
            x = x_new
            break
        x, t = x_new, t_new
    return x


def _simplex_active_set(a: np.ndarray, b: np.ndarray, max_steps: int = 200,
                        tol: float = 1e-12) -> np.ndarray | None:
    # Lawson-Hanson's active-set method for non-negative least squares, with the equality
    # sum(x) = 1 added to every subproblem through its Lagrange multiplier. Returns None if it
    # does not settle (the caller then falls back to projected gradient).
    n = a.shape[1]
    gram, target = a.T @ a, a.T @ b

    def solve_on(support):
        k = int(support.sum())
        kkt = np.zeros((k + 1, k + 1))
        kkt[:k, :k] = gram[np.ix_(support, support)]
        kkt[:k, k] = kkt[k, :k] = 1.0
        solution = np.linalg.lstsq(kkt, np.append(target[support], 1.0), rcond=None)[0]
        z = np.zeros(n)
        z[support] = solution[:k]
        return z

    # Start at the best single cell (a vertex of the simplex: feasible).
    first = int(np.argmin(((a - b[:, None]) ** 2).sum(axis=0)))
    support = np.zeros(n, dtype=bool)
    support[first] = True
    x = np.zeros(n)
    x[first] = 1.0
    for _ in range(max_steps):
        gradient = gram @ x - target
        # On the support the gradient is constant (= -multiplier); a cell off the support
        # helps when its gradient is below that level.
        gain = gradient[support].mean() - gradient
        gain[support] = -np.inf
        if gain.max() <= tol * max(1.0, np.abs(target).max()):
            return x
        support[int(np.argmax(gain))] = True
        for _ in range(max_steps):
            z = solve_on(support)
            if np.all(z[support] > tol):
                break
            # Step from x towards z until a coordinate reaches zero, and drop it.
            blocking = support & (z <= tol)
            alpha = np.min(x[blocking] / np.maximum(x[blocking] - z[blocking], 1e-300))
            x = x + alpha * (z - x)
            support &= x > tol
            if not support.any():
                return None
        else:
            return None
        x = z
    return None


def _project_to_simplex(v: np.ndarray) -> np.ndarray:
    # Euclidean projection onto {x >= 0, sum x = 1} (Duchi et al., 2008).
    u = np.sort(v)[::-1]
    cumulative = np.cumsum(u) - 1
    rho = np.nonzero(u - cumulative / np.arange(1, len(v) + 1) > 0)[0][-1]
    theta = cumulative[rho] / (rho + 1)
    return np.maximum(v - theta, 0.0)


def classifier_error_rates(true_labels: pd.DataFrame, probabilities: pd.DataFrame, *,
                           threshold: float = 0.5) -> pd.DataFrame:
    """Each classifier's sensitivity and specificity on annotated faces, with its decision rule.

    Binary attributes are thresholded; the four hair colours are compared one colour against
    the rest after the meter's argmax rule (:func:`predicted_labels`) on the predicted side and
    :func:`hair_colour` on the annotated side, so a hair "error" is exactly what changes a
    face's cell. Measure this on held-out real faces sent through the generator's resolution
    (:func:`simulate_generator_resolution`): those are the error rates that apply to generated
    faces.

    Args:
        true_labels: Annotated 0/1 labels of the faces (e.g. ``data.attributes.loc[ids]``).
        probabilities: The classifiers' probabilities for the same faces, in the same order.
        threshold: Decision threshold.

    Returns:
        Frame indexed by attribute with ``sensitivity`` (P(predicted 1 | true 1)),
        ``specificity`` (P(predicted 0 | true 0)), ``balanced_accuracy``, ``positives`` and
        ``negatives`` (annotated counts; a rate over fewer than ~30 faces is rough).

    Raises:
        ValueError: Different numbers of rows.
        MissingClassifierError: An attribute of ``probabilities`` is not annotated.

    Example:
        >>> truth = pd.DataFrame({"Male": [1, 1, 0, 0]})
        >>> probs = pd.DataFrame({"Male": [0.9, 0.2, 0.1, 0.3]})
        >>> rates = classifier_error_rates(truth, probs)
        >>> rates.loc["Male", ["sensitivity", "specificity"]].tolist()
        [0.5, 1.0]
    """
    if len(true_labels) != len(probabilities):
        raise ValueError(f"{len(true_labels)} annotated faces but {len(probabilities)} "
                         "classified ones.")
    _require_columns(true_labels, probabilities.columns, "classifier error rates")
    predicted = predicted_labels(probabilities, threshold=threshold).reset_index(drop=True)
    truth = true_labels.loc[:, list(probabilities.columns)].reset_index(drop=True)
    if all(c in truth.columns for c in HAIR_COLOURS):
        colour = hair_colour(truth)
        for name in HAIR_COLOURS:
            truth[name] = (colour == name).astype(np.int8).to_numpy()
    rows = {}
    for name in probabilities.columns:
        want = truth[name].to_numpy() > 0.5
        got = predicted[name].to_numpy() > 0.5
        positives, negatives = int(want.sum()), int((~want).sum())
        sensitivity = float(got[want].mean()) if positives else np.nan
        specificity = float((~got[~want]).mean()) if negatives else np.nan
        rows[name] = [sensitivity, specificity, (sensitivity + specificity) / 2, positives,
                      negatives]
    return pd.DataFrame.from_dict(rows, orient="index", columns=[
        "sensitivity", "specificity", "balanced_accuracy", "positives", "negatives"])


def corrected_share_table(sources: Mapping[str, pd.DataFrame], error_rates: pd.DataFrame,
                          confusion: pd.DataFrame | None = None, *,
                          attributes: Sequence[str] = ("Male", "Eyeglasses", "Smiling"),
                          n_boot: int = 1000, level: float = 0.95,
                          seed: int = 0) -> pd.DataFrame:
    """Attribute shares of classified faces, corrected for the classifiers' errors, with intervals.

    Binary attributes are corrected one by one with :func:`rogan_gladen` and the classifier's
    sensitivity and specificity; the hair-colour shares come from the sex x hair-colour cell
    shares corrected with the cell ``confusion`` matrix (:func:`correct_for_misclassification`)
    and summed over sex. The interval is a percentile bootstrap over the faces that repeats the
    correction on each resample (the error rates themselves are taken as known).

    Args:
        sources: Source name -> 0/1 labels *predicted* by the classifiers
            (:func:`predicted_labels`). Annotated real faces need no correction: use
            :func:`attribute_share_table` for them.
        error_rates: From :func:`classifier_error_rates`.
        confusion: From :func:`cell_confusion_matrix`; without it hair shares are left out.
        attributes: Binary attributes to report.
        n_boot: Bootstrap resamples.
        level: Confidence level.
        seed: Random seed.

    Returns:
        Long frame ``source, attribute, share, low, high, observed`` (the same shape as
        :func:`attribute_share_table`, plus the uncorrected share).

        A binary attribute whose classifier is no better than chance (sensitivity +
        specificity <= 1) gets NaN for ``share``, ``low`` and ``high``: nothing can be
        corrected.

    Raises:
        MissingClassifierError: An attribute has no error rates or no labels.

    Example:
        >>> table = corrected_share_table({"GAN": gan_labels}, rates, confusion)  # doctest: +SKIP
    """
    _check_level(level)
    missing = [a for a in attributes if a not in error_rates.index]
    if missing:
        raise MissingClassifierError(f"No error rates for {missing}; measure them with "
                                     "classifier_error_rates on held-out real faces.")
    rows = []
    for source, labels in sources.items():
        _require_columns(labels, attributes, "corrected shares")
        rng = np.random.default_rng(seed)
        n = len(labels)
        draws = [rng.integers(0, n, n) for _ in range(n_boot)]
        for name in attributes:
            sens, spec = error_rates.loc[name, ["sensitivity", "specificity"]]
            values = labels[name].to_numpy(dtype=float) > 0.5
            if not sens + spec > 1:
                # A classifier no better than chance measures nothing: no corrected share.
                rows.append(_share_row(source, name, np.nan, np.full(n_boot, np.nan), level,
                                       values.mean()))
                continue
            point = rogan_gladen(values.mean(), sens, spec)
            boot = np.array([rogan_gladen(values[d].mean(), sens, spec) for d in draws])
            rows.append(_share_row(source, name, point, boot, level, values.mean()))
        if confusion is not None and all(c in labels.columns for c in ("Male", *HAIR_COLOURS)):
            codes = _as_labels(sex_hair_cells(labels), SEX_HAIR_CELLS)
            k = len(SEX_HAIR_CELLS)

            def hair_shares(sample):
                q = np.bincount(sample, minlength=k) / len(sample)
                p = np.asarray(correct_for_misclassification(q, confusion))
                return p.reshape(len(SEXES), len(HAIR_CATEGORIES)).sum(axis=0)

            point = hair_shares(codes)
            observed = np.bincount(codes, minlength=k).reshape(len(SEXES), -1).sum(0) / n
            boot = np.array([hair_shares(codes[d]) for d in draws])
            for j, name in enumerate(HAIR_CATEGORIES):
                rows.append(_share_row(source, name, point[j], boot[:, j], level, observed[j]))
    return pd.DataFrame(rows, columns=["source", "attribute", "share", "low", "high",
                                       "observed"])


def _share_row(source: str, name: str, point: float, boot: np.ndarray, level: float,
               observed: float) -> dict:
    low, high = ((np.nan, np.nan) if np.isnan(boot).any()
                 else np.quantile(boot, [(1 - level) / 2, (1 + level) / 2]))
    return {"source": source, "attribute": name, "share": float(point), "low": float(low),
            "high": float(high), "observed": float(observed)}


# --------------------------------------------------------------------------------------------
# Divergence and bootstrap
# --------------------------------------------------------------------------------------------

def total_variation(p: pd.Series | np.ndarray | Sequence[float],
                    q: pd.Series | np.ndarray | Sequence[float]) -> float:
    """Total variation distance between two distributions: ``0.5 * sum |p - q|``.

    It is the largest difference in probability the two distributions give to any set of
    cells: 0 for equal distributions, 1 for disjoint supports. A generator that puts everything
    in one cell ``c`` is at ``1 - p_real(c)`` from the real data; the largest possible value
    against a fixed ``p`` is ``1 - min(p)``.

    Both inputs are normalised to sum 1 (counts are accepted). Series are aligned on their
    index, missing cells counting as zero.

    Args:
        p: First distribution (shares or counts).
        q: Second distribution.

    Returns:
        The distance in [0, 1].

    Raises:
        ValueError: Negative entries, all-zero input, or arrays of different lengths.

    Example:
        >>> total_variation([0.5, 0.5, 0.0], [0.0, 0.5, 0.5])
        0.5
    """
    if isinstance(p, pd.Series) and isinstance(q, pd.Series):
        p, q = p.align(q, fill_value=0.0)
    p, q = _distribution(p), _distribution(q)
    if p.shape != q.shape:
        raise ValueError(f"Distributions over {p.size} and {q.size} cells cannot be compared.")
    return float(min(1.0, 0.5 * np.abs(p - q).sum()))


def bootstrap_ci(samples: np.ndarray | Sequence[Any], statistic: Callable[[np.ndarray], float],
                 n_boot: int = 1000, level: float = 0.95, seed: int = 0, *,
                 method: str = "percentile") -> Estimate:
    """Percentile bootstrap confidence interval for any statistic of one sample.

    Resamples the rows of ``samples`` with replacement ``n_boot`` times, computes the statistic
    on each resample, and takes the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles.
    ``method="basic"`` gives the basic (reflected) interval ``2θ̂ - q_high, 2θ̂ - q_low``
    instead, which corrects a statistic's bias to first order (see :func:`tv_with_ci`).

    Args:
        samples: The data, resampled along its first axis.
        statistic: Function of a resample returning a number (e.g. ``np.mean``).
        n_boot: Number of resamples.
        level: Confidence level in (0, 1).
        seed: Random seed.
        method: ``"percentile"`` or ``"basic"``.

    Returns:
        :class:`Estimate` with the statistic on the full sample and the interval.

    Raises:
        ValueError: Empty sample, ``level`` outside (0, 1), or an unknown ``method``.

    Example:
        >>> est = bootstrap_ci(np.arange(100.0), np.mean, n_boot=200)
        >>> est.low < 49.5 < est.high
        True
    """
    data = np.asarray(samples)
    if len(data) == 0:
        raise ValueError("Cannot bootstrap an empty sample.")
    _check_level(level)
    rng = np.random.default_rng(seed)
    n = len(data)
    values = np.array([statistic(data[rng.integers(0, n, n)]) for _ in range(n_boot)], float)
    value = float(statistic(data))
    low, high = _interval(values, value, level, method)
    return Estimate(value, low, high, level)


def _interval(values: np.ndarray, value: float, level: float, method: str) -> tuple[float, float]:
    tails = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    if method == "percentile":
        return float(tails[0]), float(tails[1])
    if method == "basic":
        # Reflect the resamples' spread around the estimate: if resamples sit above the
        # estimate by some bias, the truth is taken to sit below it by as much.
        return float(2 * value - tails[1]), float(2 * value - tails[0])
    raise ValueError(f"method must be 'percentile' or 'basic', got {method!r}")


def tv_with_ci(real_cells: pd.Series | Sequence[str], generated_cells: pd.Series | Sequence[str],
               categories: Sequence[str] = SEX_HAIR_CELLS, *, n_boot: int = 1000,
               level: float = 0.95, seed: int = 0,
               correction: pd.DataFrame | np.ndarray | None = None,
               method: str = "percentile") -> Estimate:
    """Total variation between real and generated cell distributions, with a bootstrap interval.

    Both samples are resampled independently (resampling ``n`` faces with replacement is a
    multinomial draw of cell counts with the observed shares, which is how it is computed).
    With ``correction`` (a confusion matrix for the *generated* side's classifier labels), each
    resampled generated distribution is corrected by :func:`correct_for_misclassification` before
    the distance, so the interval includes that step.

    **Read the interval with the noise floor.** The distance between two finite samples is
    biased upwards: two samples of the *same* distribution are at a positive distance (about
    ``sqrt(cells / n)`` in size, :func:`tv_noise_floor`), and resamples are farther apart still.
    The default percentile interval therefore describes the distance *measured at these sample
    sizes* (how much it would move with new samples), and can lie entirely above the true
    distance, even above the estimate itself. ``method="basic"`` reflects the resamples around
    the estimate, which removes the bias to first order: it covers the true distance far more
    often, but still less often than the nominal level when the distance is small compared with
    the noise. Either way, a source is only told apart from real data when its distance clearly
    exceeds the noise floor, which :func:`collapse_report` shows beside it.

    Args:
        real_cells: Cell of each real face (annotations).
        generated_cells: Cell of each generated face.
        categories: All cells.
        n_boot: Bootstrap resamples.
        level: Confidence level.
        seed: Random seed.
        correction: Optional confusion matrix applied to the generated shares.
        method: ``"percentile"`` or ``"basic"`` (bias-reflecting).

    Returns:
        :class:`Estimate` of the distance.

    Example:
        >>> real = ["Female/Blond_Hair"] * 50 + ["Male/Black_Hair"] * 50
        >>> tv_with_ci(real, ["Female/Blond_Hair"] * 100, n_boot=200).value
        0.5
    """
    _check_level(level)
    real = _cell_counts(real_cells, categories)
    generated = _cell_counts(generated_cells, categories)

    def distance(real_counts, generated_counts):
        q = generated_counts / generated_counts.sum()
        if correction is not None:
            q = correct_for_misclassification(q, correction)
        return total_variation(real_counts, q)

    rng = np.random.default_rng(seed)
    real_draws = rng.multinomial(int(real.sum()), real / real.sum(), size=n_boot)
    generated_draws = rng.multinomial(int(generated.sum()), generated / generated.sum(),
                                      size=n_boot)
    values = np.array([distance(r, g) for r, g in zip(real_draws, generated_draws)])
    value = distance(real, generated)
    low, high = _interval(values, value, level, method)
    return Estimate(value, min(max(low, 0.0), 1.0), min(max(high, 0.0), 1.0), level)


def tv_noise_floor(real_cells: pd.Series | Sequence[str], n_generated: int,
                   categories: Sequence[str] = SEX_HAIR_CELLS, *, n_sim: int = 1000,
                   seed: int = 0) -> float:
    """The distance sampling alone produces: mean TV between two samples of the real shares.

    Draws, ``n_sim`` times, a sample of ``len(real_cells)`` and one of ``n_generated`` faces from
    the real cell shares and averages their total variation. A generator that matched the real
    distribution perfectly would score about this much in :func:`tv_with_ci`.

    Args:
        real_cells: Cell of each real face.
        n_generated: Number of generated faces compared with them.
        categories: All cells.
        n_sim: Simulated pairs of samples.
        seed: Random seed.

    Returns:
        The mean distance between samples of one distribution.

    Example:
        >>> real = ["Female/Blond_Hair"] * 500 + ["Male/Black_Hair"] * 500
        >>> 0 < tv_noise_floor(real, 1000) < 0.05
        True
    """
    real = _cell_counts(real_cells, categories)
    shares = real / real.sum()
    rng = np.random.default_rng(seed)
    a = rng.multinomial(int(real.sum()), shares, size=n_sim)
    b = rng.multinomial(int(n_generated), shares, size=n_sim)
    return float(np.mean(0.5 * np.abs(a / a.sum(1, keepdims=True)
                                      - b / b.sum(1, keepdims=True)).sum(1)))


# --------------------------------------------------------------------------------------------
# Diversity and memorisation
# --------------------------------------------------------------------------------------------

def diversity_score(features: np.ndarray, *, metric: str = "euclidean", max_pairs: int = 200_000,
                    seed: int = 0) -> float:
    """Mean pairwise distance between the faces' feature vectors: how varied a sample is.

    Identical faces score exactly 0; a collapsed generator scores low compared with the same
    number of real faces. Distances are computed by direct differences (no cancellation), over
    all pairs when there are at most ``max_pairs``, otherwise over ``max_pairs`` random pairs of
    distinct faces (an unbiased estimate).

    Args:
        features: (N, ...) array; each row flattened to one vector.
        metric: ``"euclidean"`` or ``"cosine"`` (``1 - cos``, in [0, 2]; rows must be non-zero).
        max_pairs: Most pairs evaluated.
        seed: Random seed for pair sampling.

    Returns:
        The mean pairwise distance.

    Raises:
        ValueError: Fewer than two faces, unknown metric, or a zero vector with ``"cosine"``.

    Example:
        >>> diversity_score(np.ones((5, 3)))
        0.0
        >>> diversity_score(np.array([[0.0, 0.0], [3.0, 4.0]]))
        5.0
    """
    x = _as_matrix(features)
    if len(x) < 2:
        raise ValueError("Diversity needs at least two faces.")
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        if (norms == 0).any():
            raise ValueError("Cosine distance is undefined for an all-zero feature vector.")
        x = x / norms
    elif metric != "euclidean":
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    first, second = _pairs(len(x), max_pairs, seed)
    total = 0.0
    chunk = max(1, 4_000_000 // x.shape[1])
    for start in range(0, len(first), chunk):
        d = x[first[start:start + chunk]] - x[second[start:start + chunk]]
        squared = np.einsum("ij,ij->i", d, d)
        total += (squared / 2).sum() if metric == "cosine" else np.sqrt(squared).sum()
    return float(total / len(first))


def pixel_diversity(images: np.ndarray, *, max_pairs: int = 50_000, seed: int = 0) -> float:
    """Mean pairwise root-mean-square pixel difference: the classic, model-free diversity score.

    Pixel distance rewards any difference (a shifted background counts as much as another
    face), so prefer :func:`diversity_score` on classifier features; this one needs no model and
    is in [0, 1] for images in [0, 1].

    Args:
        images: (N, H, W, C) in [0, 1].
        max_pairs: Most pairs evaluated.
        seed: Random seed.

    Returns:
        The mean pairwise RMS distance; 0 for identical images.

    Example:
        >>> pixel_diversity(np.zeros((4, 8, 8, 3)))
        0.0
    """
    x = _as_matrix(images)
    return float(diversity_score(x, max_pairs=max_pairs, seed=seed) / np.sqrt(x.shape[1]))


def nearest_neighbours(query: np.ndarray, reference: np.ndarray, k: int = 1, *,
                       exclude_self: bool = False,
                       chunk_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest reference rows (Euclidean) of each query row, memory bounded.

    Candidates are found chunk by chunk with the expansion ``|a|² + |b|² - 2ab`` (fast), then
    the chosen distances are recomputed by direct differences, so an exact copy is at distance
    exactly 0.

    Args:
        query: (Nq, ...) features (e.g. of generated faces).
        reference: (Nr, ...) features (e.g. of training faces).
        k: Neighbours per query.
        exclude_self: ``query`` is ``reference``: skip each row's match with itself.
        chunk_size: Query rows per chunk (memory ~ ``chunk_size * Nr`` floats).

    Returns:
        ``(indices, distances)``, both (Nq, k), nearest first.

    Raises:
        ValueError: ``k`` larger than the available reference rows, or dimension mismatch.

    Example:
        >>> train = np.array([[0.0, 0.0], [10.0, 0.0]])
        >>> indices, distances = nearest_neighbours(np.array([[9.0, 0.0]]), train)
        >>> int(indices[0, 0]), float(distances[0, 0])
        (1, 1.0)
    """
    q, r = _as_matrix(query), _as_matrix(reference)
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"Query features have {q.shape[1]} dimensions, reference {r.shape[1]}.")
    available = len(r) - (1 if exclude_self else 0)
    if not 1 <= k <= available:
        raise ValueError(f"k={k} but only {available} reference rows are available.")
    if exclude_self and len(q) != len(r):
        raise ValueError("exclude_self needs the query and the reference to be the same rows.")
    r_norms = np.einsum("ij,ij->i", r, r)
    indices = np.empty((len(q), k), dtype=np.int64)
    distances = np.empty((len(q), k))
    for start in range(0, len(q), chunk_size):
        block = q[start:start + chunk_size]
        squared = r_norms[None, :] - 2 * block @ r.T + np.einsum("ij,ij->i", block, block)[:, None]
        if exclude_self:
            rows = np.arange(len(block))
            squared[rows, start + rows] = np.inf
        candidates = np.argpartition(squared, k - 1, axis=1)[:, :k]
        exact = np.linalg.norm(block[:, None, :] - r[candidates], axis=2)
        order = np.argsort(exact, axis=1, kind="stable")
        indices[start:start + len(block)] = np.take_along_axis(candidates, order, axis=1)
        distances[start:start + len(block)] = np.take_along_axis(exact, order, axis=1)
    return indices, distances


def memorisation_ratio(generated_features: np.ndarray, train_features: np.ndarray, *,
                       train_sample: int = 2000, seed: int = 0) -> Memorisation:
    """Is the generator copying? Nearest-training-face distances of generated vs training faces.

    For each generated face, its distance to the nearest training face; for a random sample of
    training faces, the distance to their nearest *other* training face (leave-one-out). A
    generator that copies has generated distances far below the training ones (ratio << 1);
    one that invents new faces has a ratio near 1 or above.

    Args:
        generated_features: (Ng, ...) features of generated faces.
        train_features: (Nt, ...) features of the generator's training faces.
        train_sample: Training faces used for the baseline distances.
        seed: Random seed for that sample.

    Returns:
        :class:`Memorisation`.

    Example:
        >>> train = np.random.default_rng(0).normal(size=(500, 8))
        >>> memorisation_ratio(train[:50], train).ratio  # copies of training faces
        0.0
    """
    train = _as_matrix(train_features)
    _, generated = nearest_neighbours(generated_features, train, 1)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(train), min(train_sample, len(train)), replace=False)
    _, baseline = _leave_one_out_nearest(train, chosen)
    generated, baseline = generated[:, 0], baseline
    floor = np.quantile(baseline, 0.01)
    return Memorisation(generated_distance=generated, train_distance=baseline,
                        ratio=float(np.median(generated) / np.median(baseline)),
                        copy_share=float((generated < floor).mean()))


def _leave_one_out_nearest(train: np.ndarray, chosen: np.ndarray):
    # Distances from the chosen training rows to every other training row.
    indices, distances = nearest_neighbours(train[chosen], train, 2)
    own = indices[:, 0] == chosen
    pick = np.where(own, 1, 0)
    rows = np.arange(len(chosen))
    return indices[rows, pick], distances[rows, pick]


# --------------------------------------------------------------------------------------------
# Sample quality: Frechet and kernel distances
# --------------------------------------------------------------------------------------------

def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets: the FID formula.

    ``|μa - μb|² + tr(Σa + Σb - 2 (Σa Σb)^½)``. On Inception-v3 features of 10,000+ images this
    is the FID of the literature; on :func:`classifier_features` it is the book's own
    "classifier Fréchet distance", comparable only between the book's models.

    Args:
        feats_a: (Na, d) features.
        feats_b: (Nb, d) features.

    Returns:
        The distance (>= 0).

    Raises:
        ValueError: Fewer than two rows on a side, or different dimensions.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(1000, 4))
        >>> frechet_distance(x, x) < 1e-9
        True
    """
    a, b = _as_matrix(feats_a), _as_matrix(feats_b)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("The Fréchet distance needs at least two feature vectors per side.")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"Features have {a.shape[1]} and {b.shape[1]} dimensions.")
    return frechet_distance_from_moments(a.mean(0), np.cov(a, rowvar=False),
                                         b.mean(0), np.cov(b, rowvar=False))


def frechet_distance_from_moments(mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray,
                                  cov_b: np.ndarray) -> float:
    """The Fréchet (2-Wasserstein) distance between N(μa, Σa) and N(μb, Σb).

    The trace of ``(Σa Σb)^½`` is computed without a general matrix square root (no scipy):
    ``Σa Σb`` has the same eigenvalues as the symmetric positive semi-definite
    ``S = Σa^½ Σb Σa^½``, so ``tr (Σa Σb)^½ = Σ sqrt(eig(S))``. ``Σa^½`` comes from a symmetric
    eigen-decomposition; tiny negative eigenvalues from rounding are clipped to zero. This is
    stable even for singular covariances (fewer samples than dimensions).

    Args:
        mu_a: Mean (d,).
        cov_a: Covariance (d, d).
        mu_b: Mean (d,).
        cov_b: Covariance (d, d).

    Returns:
        The distance (>= 0).

    Example:
        >>> frechet_distance_from_moments(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2))
        4.0
    """
    mu_a, mu_b = np.atleast_1d(mu_a).astype(float), np.atleast_1d(mu_b).astype(float)
    cov_a, cov_b = np.atleast_2d(cov_a).astype(float), np.atleast_2d(cov_b).astype(float)
    root_a = _psd_sqrt(cov_a)
    middle = root_a @ cov_b @ root_a
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_root = np.sqrt(np.clip(eigenvalues, 0, None)).sum()
    value = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    return float(max(value, 0.0))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def kernel_distance(feats_a: np.ndarray, feats_b: np.ndarray, *, subsets: int = 100,
                    subset_size: int = 1000, seed: int = 0) -> KernelDistance:
    """Kernel distance (KID): unbiased MMD² with the cubic polynomial kernel, over subsets.

    ``k(x, y) = (x·y / d + 1)³`` (Bińkowski et al., 2018). Each of ``subsets`` rounds draws
    ``m = min(subset_size, Na, Nb)`` rows from each side without replacement and computes the
    unbiased MMD² (which can be slightly negative when the distributions are equal); the result
    is the mean and standard deviation over rounds. Unlike FID it is unbiased, so it is the
    better choice for the small sample counts of the quick profile. Inception features give the
    published KID; classifier features give the book's own.

    Args:
        feats_a: (Na, d) features.
        feats_b: (Nb, d) features.
        subsets: Number of random subsets.
        subset_size: Rows per side in each subset.
        seed: Random seed.

    Returns:
        :class:`KernelDistance`.

    Raises:
        ValueError: Fewer than two rows on a side, or different dimensions.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> kid = kernel_distance(rng.normal(size=(500, 8)), rng.normal(1, 1, size=(500, 8)),
        ...                       subsets=10, subset_size=200)
        >>> kid.mean > 5 * kid.std
        True
    """
    a, b = _as_matrix(feats_a), _as_matrix(feats_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"Features have {a.shape[1]} and {b.shape[1]} dimensions.")
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("The kernel distance needs at least two feature vectors per side.")
    rng = np.random.default_rng(seed)
    d = a.shape[1]
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx, kyy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values.append(within - 2 * kxy.mean())
    values = np.asarray(values)
    return KernelDistance(float(values.mean()), float(values.std()), subsets, m)


# --------------------------------------------------------------------------------------------
# Feature extractors
# --------------------------------------------------------------------------------------------

def classifier_features(model, images: np.ndarray, *, resize: bool = False,
                        batch_size: int = 64) -> np.ndarray:
    """Features from the penultimate layer of one of the book's classifiers (works offline).

    These give the book's own "classifier FD/KD": a distance in the space where the classifier
    separates faces, trained on CelebA only. They compare the book's generators with each other
    and with real data; they do **not** compare with published FID/KID numbers.

    Args:
        model: A trained classifier (e.g. the Male classifier).
        images: float32 (N, H, W, 3) in [0, 1].
        resize: Resize to the classifier's input size (see :meth:`AttributeMeter.probabilities`
            for what that does to the faces).
        batch_size: Images per batch.

    Returns:
        float32 (N, features).

    Raises:
        ImageSizeMismatchError: Wrong image size and ``resize`` is False.

    Example:
        >>> feats = classifier_features(male_classifier, images, resize=True)  # doctest: +SKIP
        >>> feats.shape  # doctest: +SKIP
        (500, 64)
    """
    from .classifiers import call_in_batches, classifier_embedding

    model = getattr(model, "model", model)  # a TrainedClassifier or its Keras model
    images = _fit_to_model(_as_images(images), model, resize=resize, what="the classifier")
    embedding = classifier_embedding(model)
    return _in_batches(lambda x: call_in_batches(embedding, x, batch_size), images,
                       batch_size).reshape(len(images), -1).astype(np.float32)


def inception_weights_path() -> Path:
    """Where Keras keeps (or would download) the Inception-v3 no-top ImageNet weights.

    ``$KERAS_HOME/models/`` when ``KERAS_HOME`` is set, else ``~/.keras/models/`` (Keras's own
    rule, read at call time).

    Returns:
        The path of the weights file (which may not exist).

    Example:
        >>> inception_weights_path().name
        'inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5'
    """
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = Path.home()
        home = str(base / ".keras") if os.access(base, os.W_OK) else "/tmp/.keras"
    return Path(home).expanduser() / "models" / _INCEPTION_FILE


_inception_model = None


def inception_features(images: np.ndarray, *, allow_download: bool = False,
                       batch_size: int = 32) -> np.ndarray:
    """Inception-v3 pooled features (2,048 per image): the feature space of published FID/KID.

    The model is ``keras.applications.InceptionV3(include_top=False, pooling="avg")`` with
    ImageNet weights; images are resized to 299 x 299 (bilinear) and scaled to [-1, 1]. The
    weights are read from the Keras cache (:func:`inception_weights_path`); the network is used
    **only** when ``allow_download=True`` (the book passes it on Colab). Note that published FIDs
    use the original TF-slim Inception graph; Keras's weights give numbers close to, but not
    identical with, those of the reference implementations, and FID needs 10,000+ images per side
    to be comparable at all.

    Args:
        images: float (N, H, W, 3) in [0, 1].
        allow_download: Download the weights (about 84 MB) when they are not cached.
        batch_size: Images per batch.

    Returns:
        float32 (N, 2048).

    Raises:
        InceptionUnavailableError: The weights are not cached (or are corrupt) and downloading
            was not allowed.

    Example:
        >>> feats = inception_features(images, allow_download=True)  # on Colab  # doctest: +SKIP
        >>> feats.shape  # doctest: +SKIP
        (500, 2048)
    """
    model = _load_inception(allow_download)
    images = _as_images(images)

    from .classifiers import call_in_batches

    def one_batch(x):
        # A direct call: no predict() function traced (and retraced) per batch.
        return call_in_batches(model, resize_faces(x, _INCEPTION_SIZE) * 2 - 1, len(x))

    return _in_batches(one_batch, images, batch_size).astype(np.float32)


def _load_inception(allow_download: bool):
    global _inception_model
    if _inception_model is not None:
        return _inception_model
    path = inception_weights_path()
    if not path.exists() and not allow_download:
        raise InceptionUnavailableError(
            f"Inception-v3 ImageNet weights are not on this machine (looked for {path}) and "
            "downloading is off, so Inception FID/KID cannot be computed here. Run the chapter on "
            "Colab, where inception_features(images, allow_download=True) fetches them (84 MB), "
            "or copy the file there; meanwhile the classifier-feature distances work offline.")
    import keras

    if not path.exists():
        fetched = keras.utils.get_file(_INCEPTION_FILE, _INCEPTION_URL, file_hash=_INCEPTION_MD5,
                                       cache_subdir="models",
                                       cache_dir=str(path.parent.parent))
        path = Path(fetched)
    elif _md5(path) != _INCEPTION_MD5:
        raise InceptionUnavailableError(
            f"{path} is incomplete or corrupt (its MD5 is not {_INCEPTION_MD5}). Delete it and "
            "run inception_features(images, allow_download=True) on a machine with network "
            "(Colab).")
    model = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                           input_shape=(*_INCEPTION_SIZE, 3))
    model.load_weights(str(path))
    _inception_model = model
    return model


def _md5(path: Path) -> str:
    return file_digest(path, "md5")


# --------------------------------------------------------------------------------------------
# Conditional agreement and the chapter's table
# --------------------------------------------------------------------------------------------

def condition_agreement(requested: pd.DataFrame, predicted_probs: pd.DataFrame, *,
                        threshold: float = 0.5) -> pd.DataFrame:
    """How often a conditional generator's faces show the attributes they were asked for.

    For each binary attribute requested, the share of faces whose classified attribute equals
    the requested one. When the four hair colours are requested, one ``hair colour`` row
    compares the requested colour (``Other`` when none is set) with the classifiers' colour
    (:func:`hair_colour_from_scores`). The chance level is the agreement expected if the faces
    ignored the request: ``Σ_c P(requested = c) P(classified = c)`` from the two marginals
    (0.5 for a balanced binary request whatever the classifier says).

    Args:
        requested: The conditions given to the generator, one row per face, 0/1 columns
            (floats accepted, thresholded at 0.5).
        predicted_probs: Classifier probabilities for the same faces, in the same order
            (:meth:`AttributeMeter.probabilities`).
        threshold: Decision threshold on the probabilities.

    Returns:
        Frame indexed by attribute with columns ``agreement``, ``chance`` and ``n``.

    Raises:
        ValueError: Different numbers of rows.
        MissingClassifierError: A requested attribute has no probabilities.

    Example:
        >>> requested = pd.DataFrame({"Male": [1, 0, 1, 0]})
        >>> probs = pd.DataFrame({"Male": [0.9, 0.2, 0.4, 0.1]})
        >>> float(condition_agreement(requested, probs).loc["Male", "agreement"])
        0.75
    """
    if len(requested) != len(predicted_probs):
        raise ValueError(f"{len(requested)} requests but {len(predicted_probs)} classified faces.")
    hair = [c for c in requested.columns if c in HAIR_COLOURS]
    binary = [c for c in requested.columns if c not in HAIR_COLOURS]
    _require_columns(predicted_probs, binary + (list(HAIR_COLOURS) if hair else []),
                     "condition agreement")
    rows = {}
    for name in binary:
        want = requested[name].to_numpy(dtype=float) > 0.5
        got = predicted_probs[name].to_numpy(dtype=float) >= threshold
        rows[name] = _agreement_row(want.astype(int), got.astype(int))
    if hair:
        full = requested.reindex(columns=list(HAIR_COLOURS), fill_value=0)
        want = hair_colour(full.reset_index(drop=True), ties="first")
        got = hair_colour_from_scores(predicted_probs.reset_index(drop=True), threshold=threshold)
        rows["hair colour"] = _agreement_row(np.asarray(want.cat.codes),
                                             np.asarray(got.cat.codes))
    return pd.DataFrame.from_dict(rows, orient="index", columns=["agreement", "chance", "n"])


def _agreement_row(want: np.ndarray, got: np.ndarray) -> list[float]:
    classes = np.union1d(want, got)
    chance = sum((want == c).mean() * (got == c).mean() for c in classes)
    return [float((want == got).mean()), float(chance), int(len(want))]


def collapse_report(reference: SourceSample, sources: Mapping[str, SourceSample], *,
                    n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                    kid_subsets: int = 100, kid_subset_size: int = 1000,
                    tv_method: str = "percentile",
                    reference_name: str = "real data") -> pd.DataFrame:
    """The chapter's one table: every source of faces measured the same way against real data.

    Rows are sources (put a held-out *real* sample first: its distances to the reference are the
    noise floor that finite samples produce even with no collapse at all). Columns:

    * ``TV``, ``TV low``, ``TV high``: total variation between the source's and the reference's
      sex x hair-colour distributions, with the bootstrap interval (:func:`tv_with_ci`); for a
      source with a ``target`` (:class:`SourceSample`), against that target instead (the
      table's ``attrs["tv_against"]`` names, per row, what the TV was measured against).
    * ``TV noise floor``: the distance two samples of the reference (or target) distribution of
      these sizes have on average (:func:`tv_noise_floor`); only a TV well above it shows a
      difference.
    * ``detected`` (only when some source has ``correction`` and ``confusion_faces``): whether
      the source is told apart from the reference (its uncorrected TV above what a source
      drawn from the reference exceeds with probability ``(1 - level) / 2``, the estimate's
      ``detected``); missing (``<NA>``) for the other rows.
    * ``diversity``: mean pairwise Euclidean distance of classifier features.
    * ``FD (classifier)``, ``KD (classifier)``: Fréchet and kernel distances to the reference in
      the book's classifier feature space (offline; not comparable with published numbers).
    * ``FID (Inception)``, ``KID (Inception)``: the same in Inception-v3 space, NaN when either
      side has no Inception features (:func:`format_collapse_report` shows
      :data:`INCEPTION_NA`). Only these compare with published results.
    * ``agreement``: mean condition agreement of a conditional generator (NaN otherwise).

    A source with both ``correction`` and ``confusion_faces`` (:class:`SourceSample`) is
    measured with the validated estimator, :func:`celeba_lab.instrument.estimate_tv`
    (maximum likelihood through the confusion matrix, corrected by a confidence belt that also
    redraws the matrix's test faces): ``TV``, ``TV low``, ``TV high`` are its value and
    interval (``TV low`` is 0 when the source is not told apart from the reference), ``TV
    noise floor`` its ``floor`` (the mean uncorrected TV of a source drawn from the reference
    and read through the same instrument). Any other source keeps the least-squares
    correction and the bootstrap of :func:`tv_with_ci`, which with poor classifiers reads a
    faithful source far above its noise floor. ``attrs["tv_estimator"]`` names, per row, which
    of the two measured it.

    Args:
        reference: The real reference sample (cells, features, optional Inception features).
        sources: Row name -> :class:`SourceSample`, in display order.
        n_boot: Bootstrap resamples for the TV interval (least squares), or simulations per
            point of the confidence belt (:func:`celeba_lab.instrument.estimate_tv`).
        level: Confidence level.
        seed: Random seed.
        kid_subsets: KID subsets.
        kid_subset_size: KID subset size.
        tv_method: Bootstrap interval for the least-squares TV, ``"percentile"`` or
            ``"basic"`` (see :func:`tv_with_ci`); not used by sources measured with
            ``confusion_faces``.
        reference_name: What the reference is, for the ``TV against`` column.

    Returns:
        Numeric frame, one row per source (``detected`` is a nullable boolean column).

    Raises:
        ValueError: A source has ``confusion_faces`` but no ``correction`` (there is no
            confusion matrix to read its cells through), or
            :func:`celeba_lab.instrument.estimate_tv` refuses its inputs.

    Example:
        >>> table = collapse_report(SourceSample(real_cells, real_feats),  # doctest: +SKIP
        ...                         {"real (held out)": SourceSample(held_cells, held_feats),
        ...                          "report GAN": SourceSample(gan_cells, gan_feats)})
    """
    from . import instrument  # imports this module: import it only when the report runs

    rows = {}
    labels = {}
    estimators = {}
    for name, source in sources.items():
        target = reference.cells if source.target is None else source.target
        labels[name] = reference_name if source.target is None else source.target_name
        if source.confusion_faces is not None and source.correction is None:
            raise ValueError(f"Source {name!r} has confusion_faces but no correction: give "
                             "it the confusion matrix measured on those faces.")
        if source.confusion_faces is not None:
            estimate = instrument.estimate_tv(target, source.cells, source.correction,
                                              source.confusion_faces, n_boot=n_boot,
                                              level=level, seed=seed)
            tv_columns = {"TV": estimate.value, "TV low": estimate.low,
                          "TV high": estimate.high, "TV noise floor": estimate.floor,
                          "detected": estimate.detected}
            estimators[name] = "confidence belt"
        else:
            tv = tv_with_ci(target, source.cells, n_boot=n_boot, level=level, seed=seed,
                            correction=source.correction, method=tv_method)
            tv_columns = {"TV": tv.value, "TV low": tv.low, "TV high": tv.high,
                          "TV noise floor": tv_noise_floor(target, len(source.cells),
                                                           seed=seed)}
            estimators[name] = ("least squares" if source.correction is not None
                                else "observed shares")
        row = {"n": len(source.cells), **tv_columns,
               "diversity": np.nan, "FD (classifier)": np.nan, "KD (classifier)": np.nan,
               "FID (Inception)": np.nan, "KID (Inception)": np.nan, "agreement": np.nan}
        if source.features is not None:
            row["diversity"] = diversity_score(source.features, seed=seed)
            if reference.features is not None:
                row["FD (classifier)"] = frechet_distance(reference.features, source.features)
                row["KD (classifier)"] = kernel_distance(
                    reference.features, source.features, subsets=kid_subsets,
                    subset_size=kid_subset_size, seed=seed).mean
        if source.inception is not None and reference.inception is not None:
            row["FID (Inception)"] = frechet_distance(reference.inception, source.inception)
            row["KID (Inception)"] = kernel_distance(
                reference.inception, source.inception, subsets=kid_subsets,
                subset_size=kid_subset_size, seed=seed).mean
        if source.agreement is not None:
            row["agreement"] = float(source.agreement["agreement"].mean())
        row.update(source.extra)
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    if "detected" in table.columns:
        table["detected"] = table["detected"].astype("boolean")
        columns = [c for c in table.columns if c != "detected"]
        columns.insert(columns.index("TV noise floor") + 1, "detected")
        table = table[columns]
    table.index.name = "source"
    table.attrs["level"] = level
    table.attrs["tv_against"] = labels
    table.attrs["tv_estimator"] = estimators
    return table


def format_collapse_report(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """The report table as text for the book: TV with its interval, ``n/a`` where not measured.

    Args:
        table: Output of :func:`collapse_report`.
        digits: Decimals shown.

    Returns:
        Frame of strings; Inception columns read :data:`INCEPTION_NA` when missing, agreement
        reads ``–`` for unconditional sources, ``detected`` (when present) reads ``yes`` /
        ``no``, or ``–`` for a source measured without the confusion matrix's test faces.

    Example:
        >>> format_collapse_report(collapse_report(reference, sources))  # doctest: +SKIP
    """
    f = f"{{:.{digits}f}}"
    out = pd.DataFrame(index=table.index)
    out["n"] = table["n"].astype(int).astype(str)
    against = table.attrs.get("tv_against")
    if against and len(set(against.values())) > 1:
        out["TV against"] = [against.get(name, "") for name in table.index]
    out[f"TV ({table.attrs.get('level', 0.95):.0%} CI)"] = [
        f"{f.format(v)} [{f.format(lo)}, {f.format(hi)}]"
        for v, lo, hi in zip(table["TV"], table["TV low"], table["TV high"])]
    out["TV noise floor"] = [f.format(v) if np.isfinite(v) else "–"
                             for v in table["TV noise floor"]]
    if "detected" in table.columns:
        out["detected"] = ["–" if pd.isna(v) else ("yes" if v else "no")
                           for v in table["detected"]]
    for column in ("diversity", "FD (classifier)", "KD (classifier)"):
        out[column] = [f.format(v) if np.isfinite(v) else "–" for v in table[column]]
    for column in ("FID (Inception)", "KID (Inception)"):
        out[column] = [f.format(v) if np.isfinite(v) else INCEPTION_NA for v in table[column]]
    out["agreement"] = [f.format(v) if np.isfinite(v) else "–" for v in table["agreement"]]
    for column in table.columns.difference([*out.columns, "TV", "TV low", "TV high"]):
        out[column] = [f.format(v) if np.isfinite(v) else "–" for v in table[column]]
    return out


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

def _require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MissingClassifierError(
            f"{what} needs the columns {missing}, which are not in {list(frame.columns)}. For "
            f"classified faces, give AttributeMeter a classifier for each "
            f"(celeba_lab.train_classifier(name)).")


def _as_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"Expected images shaped (N, H, W, 3), got {images.shape}.")
    if images.dtype == np.uint8:
        raise ValueError("Expected float images in [0, 1], got uint8; divide by 255 first.")
    return images.astype(np.float32, copy=False)


def _model_size(model) -> tuple[int, int] | None:
    shape = getattr(model, "input_shape", None)
    if isinstance(shape, list):
        shape = shape[0]
    if shape is None or len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return int(shape[1]), int(shape[2])


def _fit_to_model(images: np.ndarray, model, *, resize: bool, what: str,
                  generator_size: tuple[int, int] | None = None) -> np.ndarray:
    expected = _model_size(model)
    actual = tuple(images.shape[1:3])
    if expected is None or actual == expected:
        return images
    if resize:
        return resize_faces(images, expected)
    made = generator_size or actual
    raise ImageSizeMismatchError(
        f"The images are {actual[0]}x{actual[1]} (the generator makes {made[0]}x{made[1]} faces) "
        f"but {what} expects {expected[0]}x{expected[1]}. Pass resize=True to upsample them "
        f"(bilinear: the faces get blurred and stretched to the classifier's shape, so its error "
        f"rates change; estimate them on real faces passed through "
        f"simulate_generator_resolution), or train the classifier at "
        f"{actual[0]}x{actual[1]}.")


def _in_batches(function: Callable[[np.ndarray], np.ndarray], data: np.ndarray,
                batch_size: int) -> np.ndarray:
    if len(data) == 0:
        raise ValueError("No images given.")
    parts = [np.asarray(function(data[i:i + batch_size])) for i in range(0, len(data), batch_size)]
    return np.concatenate(parts, axis=0)


def _pair(size: tuple[int, int] | int) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    return int(size[0]), int(size[1])


def _as_matrix(features: np.ndarray) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    return x.reshape(len(x), -1)


def _pairs(n: int, max_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if n * (n - 1) // 2 <= max_pairs:
        return np.triu_indices(n, k=1)
    rng = np.random.default_rng(seed)
    first = rng.integers(0, n, max_pairs)
    # The second index skips the first, so a face is never paired with itself.
    second = (first + rng.integers(1, n, max_pairs)) % n
    return first, second


def _distribution(values) -> np.ndarray:
    x = np.asarray(values, dtype=float).reshape(-1)
    if (x < 0).any() or not np.isfinite(x).all():
        raise ValueError("A distribution cannot have negative or non-finite entries.")
    if x.sum() <= 0:
        raise ValueError("A distribution needs a positive total.")
    return x / x.sum()


def _as_labels(cells, categories: Sequence[str]) -> np.ndarray:
    values = np.asarray(cells, dtype=object)
    lookup = {c: i for i, c in enumerate(categories)}
    unknown = sorted({str(v) for v in values if v not in lookup})
    if unknown:
        raise ValueError(f"Cells {unknown} are not among the categories {list(categories)}.")
    return np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))


def _cell_counts(cells, categories: Sequence[str]) -> np.ndarray:
    codes = _as_labels(cells, categories)
    if len(codes) == 0:
        raise ValueError("No faces given.")
    return np.bincount(codes, minlength=len(categories)).astype(float)


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}.")


__all__ = [
    "HAIR_CATEGORIES", "SEXES", "SEX_HAIR_CELLS", "MEASURED_ATTRIBUTES", "INCEPTION_NA",
    "MissingClassifierError", "ImageSizeMismatchError", "InceptionUnavailableError",
    "Estimate", "KernelDistance", "Memorisation", "SourceSample",
    "hair_colour", "hair_colour_from_scores", "predicted_labels", "joint_cells",
    "sex_hair_cells", "cell_shares", "cell_table", "attribute_shares", "attribute_share_table",
    "attribute_balanced_ids", "balance_table",
    "feasible_sizes", "AttributeMeter", "Measurement", "measure_real_faces",
    "simulate_generator_resolution",
    "resize_faces", "cell_confusion_matrix", "correct_for_misclassification", "rogan_gladen",
    "classifier_error_rates", "corrected_share_table",
    "total_variation", "bootstrap_ci", "tv_with_ci", "tv_noise_floor",
    "diversity_score", "pixel_diversity", "nearest_neighbours", "memorisation_ratio",
    "frechet_distance", "frechet_distance_from_moments", "kernel_distance",
    "classifier_features", "inception_features", "inception_weights_path",
    "condition_agreement", "collapse_report", "format_collapse_report",
]
