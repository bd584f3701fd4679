"""The chapter's table: every source of faces measured the same way, side by side.

:func:`collapse_report` measures each :class:`SourceSample` against the reference and
:func:`format_collapse_report` rounds it for the page; :func:`condition_agreement` checks that
a conditional generator makes the attributes it was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..attributes import HAIR_COLOURS
from .cells import _require_columns, hair_colour, hair_colour_from_scores
from .distances import (diversity_score, frechet_distance, kernel_distance, tv_noise_floor,
                        tv_with_ci)
from .instrument import estimate_tv


#: What the report table shows where Inception features could not be computed.
INCEPTION_NA = "n/a (needs Inception weights)"


@dataclass
class SourceSample:
    """What :func:`collapse_report` needs about one source of faces (real data, a GAN, ...).

    Attributes:
        cells: The sex x hair-colour cell of each face (from :func:`sex_hair_cells`).
        features: Classifier features of the faces (:func:`classifier_features`), or ``None``.
        inception: Inception features (:func:`inception_features`), or ``None``.
        agreement: :func:`condition_agreement`'s table, for a conditional generator.
        correction: The classifiers' confusion matrix (:func:`cell_confusion_matrix`) to correct
            this source's cell shares with (``None``: observed shares, as for annotated faces).
        extra: More numeric columns for this row (e.g. ``{"NN ratio": 0.9}``).
        target: Cells of the distribution this source was *trained to reproduce*, when not the
            reference (an attribute-balanced GAN aims at equal cells). ``None``: the reference.
        target_name: What ``target`` is, for the table's ``TV against`` column.
        confusion_faces: The test faces ``correction`` was measured on (annotated cells,
            number per true cell, or total). With ``correction`` it switches
            :func:`collapse_report` to the validated estimator
            (:func:`celeba_lab.collapse.instrument.estimate_tv`); ``None``: the least-squares
            correction (:func:`tv_with_ci`), which reads a faithful source far from the data
            when the classifiers are poor.
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


def condition_agreement(requested: pd.DataFrame, predicted_probs: pd.DataFrame, *,
                        threshold: float = 0.5) -> pd.DataFrame:
    """How often a conditional generator's faces show the attributes they were asked for.

    One row per binary attribute requested, and a ``hair colour`` row for requested hair
    colours (``Other`` when none is set). Chance is the agreement if the faces ignored the
    request, ``Σ_c P(requested = c) P(classified = c)`` (0.5 for a balanced binary request).

    Args:
        requested: The conditions given to the generator, one row per face, 0/1 columns
            (floats thresholded at 0.5).
        predicted_probs: Classifier probabilities for the same faces, in the same order.
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

    Rows are sources (put a held-out *real* sample first: its row is sampling noise). Columns:

    * ``TV``, ``TV low``, ``TV high``: total variation between the source's and the reference's
      (or the source's ``target``'s) sex x hair-colour distributions, with its interval.
    * ``TV noise floor``: the TV a source drawn from the reference (or target) reads on
      average; only a TV well above it shows a difference.
    * ``detected`` (only when some source has ``correction`` and ``confusion_faces``): the
      estimate's ``detected``; ``<NA>`` for the other rows.
    * ``diversity``: mean pairwise Euclidean distance of classifier features.
    * ``FD (classifier)``, ``KD (classifier)``: Fréchet and kernel distances to the reference in
      the book's classifier feature space (not comparable with published numbers).
    * ``FID (Inception)``, ``KID (Inception)``: the same in Inception-v3 space (NaN without
      Inception features on both sides); only these compare with published results.
    * ``agreement``: mean condition agreement of a conditional generator (NaN otherwise).

    A source with ``correction`` and ``confusion_faces`` is measured with
    :func:`celeba_lab.collapse.instrument.estimate_tv` (its value, interval and ``floor``); any
    other with :func:`tv_with_ci` and :func:`tv_noise_floor`. ``attrs["tv_against"]`` and
    ``attrs["tv_estimator"]`` name, per row, what the TV was measured against and how.

    Args:
        reference: The real reference sample (cells, features, optional Inception features).
        sources: Row name -> :class:`SourceSample`, in display order.
        n_boot: Bootstrap resamples (:func:`tv_with_ci`) or simulations per point of the
            confidence belt (:func:`celeba_lab.collapse.instrument.estimate_tv`).
        level: Confidence level.
        seed: Random seed.
        kid_subsets: KID subsets.
        kid_subset_size: KID subset size.
        tv_method: :func:`tv_with_ci`'s interval, ``"percentile"`` or ``"basic"``.
        reference_name: What the reference is, for the ``TV against`` column.

    Returns:
        Numeric frame, one row per source (``detected`` is a nullable boolean column).

    Raises:
        ValueError: A source has ``confusion_faces`` but no ``correction``, or
            :func:`celeba_lab.collapse.instrument.estimate_tv` refuses its inputs.

    Example:
        >>> cells = cl.sex_hair_cells(data.attributes)
        >>> collapsed = cells[cells == "Female/Blond_Hair"]  # blond women only
        >>> table = collapse_report(SourceSample(cells.iloc[:1000]),
        ...                         {"real (held out)": SourceSample(cells.iloc[1000:]),
        ...                          "collapsed": SourceSample(collapsed)}, n_boot=100)
        >>> bool(table.loc["collapsed", "TV"] > table.loc["real (held out)", "TV"])
        True
    """
    rows, labels, estimators = {}, {}, {}
    for name, source in sources.items():
        target = reference.cells if source.target is None else source.target
        labels[name] = reference_name if source.target is None else source.target_name
        if source.confusion_faces is not None and source.correction is None:
            raise ValueError(f"Source {name!r} has confusion_faces but no correction: give "
                             "it the confusion matrix measured on those faces.")
        if source.confusion_faces is not None:
            estimate = estimate_tv(target, source.cells, source.correction,
                                   source.confusion_faces, n_boot=n_boot, level=level, seed=seed)
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
        Frame of strings: ``–`` where a value is missing, :data:`INCEPTION_NA` in the Inception
        columns; ``detected`` (when present) reads ``yes`` / ``no``.

    Example:
        >>> cells = cl.sex_hair_cells(data.attributes)
        >>> table = collapse_report(SourceSample(cells.iloc[:1000]),
        ...                         {"real (held out)": SourceSample(cells.iloc[1000:])}, n_boot=50)
        >>> text = format_collapse_report(table)
        >>> list(text.columns[:3])
        ['n', 'TV (95% CI)', 'TV noise floor']
        >>> text.loc["real (held out)", "FID (Inception)"] == INCEPTION_NA
        True
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


__all__ = [
    "SourceSample", "condition_agreement", "collapse_report", "format_collapse_report",
]
