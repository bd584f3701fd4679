"""The simulation harness that chose the instrument's estimator (:func:`compare_estimators`).

Given true cell distributions, a confusion matrix and sample sizes, measured labels and the
confusion matrix's own test faces are drawn, and the candidate estimators (:data:`ESTIMATORS`)
are scored on bias and interval coverage; the results are in
:mod:`celeba_lab.collapse.instrument`.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .._checks import whole_number
from ._common import _cell_counts
from .cells import SEX_HAIR_CELLS
from .instrument import (COLLAPSE_CELLS, _check_keep_men, _finite, _old_tv, _resample_confusion,
                         _shares, _tv, check_confusion, estimate_tv, ml_cell_shares)


def simulated_confusion(sex_accuracy: float = 0.88, hair_accuracy: float = 0.55
                        ) -> pd.DataFrame:
    """A confusion matrix over the ten cells as poor as the one measured on real CelebA.

    Sex and hair colour are misread independently, a hair colour as a neighbouring one (black
    and brown, blond and brown, grey and other...). The defaults give a ten-cell accuracy of
    0.484, the real instrument's.

    Args:
        sex_accuracy: P(sex read right).
        hair_accuracy: P(hair colour read right).

    Returns:
        Row-normalised frame over :data:`SEX_HAIR_CELLS` (rows true, columns measured).

    Raises:
        ValueError: An accuracy outside (0, 1].

    Example:
        >>> c = simulated_confusion()
        >>> round(float(np.diag(c).mean()), 3)
        0.484
    """
    if not (0 < sex_accuracy <= 1 and 0 < hair_accuracy <= 1):
        raise ValueError("Accuracies must lie in (0, 1].")
    # Where a misread hair colour goes: black, blond, brown, grey, other.
    neighbours = np.array([[0, 0, 3, 0, 2], [0, 0, 3, 1, 1], [3, 2, 0, 0, 2],
                           [0, 2, 0, 0, 3], [2, 1, 2, 1, 0]], float)
    hair = (neighbours / neighbours.sum(1, keepdims=True) * (1 - hair_accuracy)
            + np.eye(5) * hair_accuracy)
    sex = np.array([[sex_accuracy, 1 - sex_accuracy], [1 - sex_accuracy, sex_accuracy]])
    return _frame(np.kron(sex, hair))


def simulate_measured_cells(true_cells: pd.Series | Sequence[str],
                            confusion: pd.DataFrame | np.ndarray, *, seed: int = 0) -> pd.Series:
    """What an instrument with this confusion matrix would read: each cell redrawn from its row.

    A weakened instrument for tests and validation: labels flipped at known rates.

    Args:
        true_cells: Annotated cell per face.
        confusion: Row-normalised matrix over :data:`SEX_HAIR_CELLS` (rows true cells).
        seed: Random seed.

    Returns:
        Categorical series of measured cells, same index as ``true_cells`` when it is a Series.

    Example:
        >>> measured = simulate_measured_cells(["Male/Gray_Hair"] * 3, np.eye(10))
        >>> list(measured)
        ['Male/Gray_Hair', 'Male/Gray_Hair', 'Male/Gray_Hair']
    """
    matrix = check_confusion(confusion)
    codes = np.asarray(pd.Categorical(np.asarray(true_cells, dtype=object),
                                      categories=SEX_HAIR_CELLS).codes)
    if (codes < 0).any():
        _cell_counts(true_cells, SEX_HAIR_CELLS)  # raises with the unknown labels
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(matrix, axis=1)[codes]
    drawn = (rng.random(len(codes))[:, None] > cumulative).sum(axis=1).clip(0, 9)
    index = true_cells.index if isinstance(true_cells, pd.Series) else None
    return pd.Series(pd.Categorical.from_codes(drawn, categories=SEX_HAIR_CELLS), index=index,
                     name="cell")


def _frame(matrix: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(matrix, index=pd.Index(SEX_HAIR_CELLS, name="true"),
                        columns=pd.Index(SEX_HAIR_CELLS, name="predicted"))


def _basic(value: float, boot: np.ndarray, level: float) -> tuple[float, float, float]:
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return value, max(0.0, 2 * value - hi), min(1.0, 2 * value - lo)


def _least_squares(rng, p, source, held, matrix, faces, n_boot, level):
    n = int(source.sum())
    boot = [_old_tv(p, b, matrix) for b in rng.multinomial(n, source / n, size=n_boot)]
    return _basic(_old_tv(p, source, matrix), np.array(boot), level)


def _measured_vs_held_out(rng, p, source, held, matrix, faces, n_boot, level):
    n, m = int(source.sum()), int(held.sum())
    boot = _tv(rng.multinomial(n, source / n, size=n_boot) / n,
               rng.multinomial(m, held / m, size=n_boot) / m)
    return _basic(float(_tv(source / n, held / m)), boot, level)


def _ml_vs_held_out(rng, p, source, held, matrix, faces, n_boot, level):
    n, m = int(source.sum()), int(held.sum())
    boot_c = _resample_confusion(rng, matrix, faces, n_boot)
    boot = _tv(ml_cell_shares(rng.multinomial(n, source / n, size=n_boot), boot_c),
               ml_cell_shares(rng.multinomial(m, held / m, size=n_boot), boot_c))
    value = float(_tv(ml_cell_shares(source, matrix)[0], ml_cell_shares(held, matrix)[0]))
    low_high = _basic(value, boot, level)
    return max(0.0, 2 * value - boot.mean()), low_high[1], low_high[2]


def _estimate_tv(method: str) -> Callable:
    def estimator(rng, p, source, held, matrix, faces, n_boot, level):
        est = estimate_tv(p, source, matrix, faces, n_boot=n_boot, level=level,
                          seed=int(rng.integers(2 ** 31)), method=method)
        return est.value, est.low, est.high
    return estimator


#: The candidate estimators :func:`simulate_estimators` compares, by name. Each takes
#: ``(rng, p, source_counts, held_out_counts, confusion, faces_per_cell, n_boot, level)`` and
#: returns ``(value, low, high)``.
ESTIMATORS: dict[str, Callable] = {
    "least squares (old)": _least_squares,
    "measured vs held out": _measured_vs_held_out,
    "ML vs held out": _ml_vs_held_out,
    "ML, sparse bootstrap": _estimate_tv("sparse bootstrap"),
    "ML, confidence belt": _estimate_tv("belt"),
}


def simulation_sources(p: np.ndarray | Sequence[float], *, keep_men: float = 0.25,
                       collapse_cells: Sequence[str] = COLLAPSE_CELLS) -> dict[str, np.ndarray]:
    """The three validation distributions built from the data's shares ``p``.

    Args:
        p: The data's shares over :data:`SEX_HAIR_CELLS`.
        keep_men: Share of the men kept in the ``"skew"`` source.
        collapse_cells: The cells the ``"collapse"`` source keeps.

    Returns:
        ``{"unbiased": p, "skew": ..., "collapse": ...}``, each summing to 1.

    Raises:
        ValueError: ``p`` holds NaN, or ``keep_men`` is not in [0, 1].

    Example:
        >>> s = simulation_sources(np.full(10, 0.1))
        >>> round(float(s["skew"][5:].sum()), 3), float(s["collapse"][0])
        (0.2, 0.5)
    """
    _check_keep_men(keep_men)
    p = _shares(_finite(np.asarray(p, dtype=float), "p"))
    male = np.array([c.startswith("Male/") for c in SEX_HAIR_CELLS])
    skew = np.where(male, p * keep_men, p)
    collapse = np.where(np.isin(SEX_HAIR_CELLS, list(collapse_cells)), p, 0.0)
    return {"unbiased": p, "skew": skew / skew.sum(), "collapse": collapse / collapse.sum()}


def simulate_estimators(p: np.ndarray, q: np.ndarray, confusion: pd.DataFrame | np.ndarray, *,
                        n_source: int, n_held_out: int = 1000, n_confusion: int = 1000,
                        reps: int = 200, n_boot: int = 200, level: float = 0.95, seed: int = 0,
                        estimators: Sequence[str] | None = None) -> pd.DataFrame:
    """Run candidate estimators on simulated measurements of a source with known shares.

    Each repetition draws the confusion matrix's test faces, the source's measured cells and
    held-out real faces, all measured through ``confusion``.

    Args:
        p: The data's true shares (its annotations: known exactly).
        q: The source's true shares.
        confusion: The instrument's true confusion matrix.
        n_source: Faces of the source.
        n_held_out: Held-out real faces measured like the source.
        n_confusion: Test faces (of ``p``) the confusion matrix is estimated on.
        reps: Repetitions.
        n_boot: Bootstrap resamples per estimate.
        level: Confidence level.
        seed: Random seed.
        estimators: Names in :data:`ESTIMATORS` (default: all).

    Returns:
        One row per estimator and repetition: ``estimator, true TV, TV, low, high, covered``.

    Raises:
        ValueError: An unknown estimator, ``reps`` or ``n_boot`` below 1, or NaN in ``p`` or ``q``.

    Example:
        >>> p = np.full(10, 0.1)
        >>> runs = simulate_estimators(p, p, np.eye(10), n_source=500, reps=2, n_boot=20,
        ...                            estimators=["measured vs held out"])
        >>> len(runs)
        2
    """
    reps, n_boot = whole_number("reps", reps), whole_number("n_boot", n_boot)
    matrix = check_confusion(confusion)
    p, q = (_shares(_finite(np.asarray(x, float), name)) for x, name in ((p, "p"), (q, "q")))
    names = list(ESTIMATORS) if estimators is None else list(estimators)
    unknown = [n for n in names if n not in ESTIMATORS]
    if unknown:
        raise ValueError(f"Unknown estimators {unknown}; choose from {list(ESTIMATORS)}.")
    rng, truth, rows = np.random.default_rng(seed), float(_tv(p, q)), []
    for _ in range(reps):
        faces = np.maximum(rng.multinomial(n_confusion, p), 1)
        estimated = np.array([rng.multinomial(n, row) / n for n, row in zip(faces, matrix)])
        source = rng.multinomial(n_source, q @ matrix).astype(float)
        held = rng.multinomial(n_held_out, p @ matrix).astype(float)
        for name in names:
            value, low, high = ESTIMATORS[name](rng, p, source, held, estimated, faces,
                                                n_boot, level)
            rows.append((name, truth, value, low, high, low <= truth <= high))
    return pd.DataFrame(rows, columns=["estimator", "true TV", "TV", "low", "high", "covered"])


def compare_estimators(p: np.ndarray, confusion: pd.DataFrame | np.ndarray, *,
                       sizes: Mapping[str, int] | None = None, reps: int = 200,
                       n_boot: int = 200, seed: int = 0, **options) -> pd.DataFrame:
    """Bias and coverage of every candidate estimator on the three validation sources.

    Args:
        p: The data's shares.
        confusion: The instrument's confusion matrix.
        sizes: Faces per source (default 1,000 / 683 / 248, the issue's).
        reps: Repetitions per source.
        n_boot: Bootstrap resamples per estimate.
        seed: Random seed.
        **options: More arguments of :func:`simulate_estimators`.

    Returns:
        Rows ``(estimator, source)``; columns ``n, true TV, mean TV, bias, sd, coverage, width``.

    Example:
        >>> table = compare_estimators(np.full(10, 0.1), np.eye(10), reps=2, n_boot=20,
        ...                            estimators=["measured vs held out"])
        >>> table.shape
        (3, 7)
    """
    sizes = dict(sizes or {"unbiased": 1000, "skew": 683, "collapse": 248})
    parts = []
    for source, q in simulation_sources(p).items():
        runs = simulate_estimators(p, q, confusion, n_source=sizes[source], reps=reps,
                                   n_boot=n_boot, seed=seed, **options)
        summary = runs.groupby("estimator", sort=False).agg(
            **{"true TV": ("true TV", "first"), "mean TV": ("TV", "mean"), "sd": ("TV", "std"),
               "coverage": ("covered", "mean")})
        summary["width"] = (runs["high"] - runs["low"]).groupby(runs["estimator"],
                                                                sort=False).mean()
        summary["bias"] = summary["mean TV"] - summary["true TV"]
        summary.insert(0, "n", sizes[source])
        parts.append(summary.assign(source=source).set_index("source", append=True))
    columns = ["n", "true TV", "mean TV", "bias", "sd", "coverage", "width"]
    return pd.concat(parts)[columns]


__all__ = [
    "compare_estimators",
]
