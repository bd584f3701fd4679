"""Correcting for the instrument's errors: confusion matrices and their inversion.

:func:`cell_confusion_matrix` measures how the classifiers misread faces;
:func:`correct_for_misclassification` (cells) and :func:`rogan_gladen` (one binary attribute)
remove those errors from observed shares, :func:`corrected_share_table` for every attribute.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .._checks import whole_number
from ..attributes import HAIR_COLOURS
from ._common import _as_labels, _check_level
from .cells import (HAIR_CATEGORIES, SEX_HAIR_CELLS, SEXES, MissingClassifierError,
                    _require_columns, hair_colour, predicted_labels, sex_hair_cells)


def cell_confusion_matrix(true_cells: pd.Series | Sequence[str],
                     predicted_cells: pd.Series | Sequence[str],
                     categories: Sequence[str] = SEX_HAIR_CELLS) -> pd.DataFrame:
    """Row-normalised confusion matrix: entry (i, j) = P(predicted = j | true = i).

    Args:
        true_cells: Annotated cell per face (:func:`sex_hair_cells` of CelebA's labels).
        predicted_cells: The classifiers' cell for the same faces, in the same order.
        categories: All cells.

    Returns:
        Square frame, rows true cells, columns predicted cells (NaN rows for empty true cells).

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

    With ``M[i, j]`` = P(classified ``j`` | true cell ``i``) the observed shares are
    ``q = Mᵀ p``; this solves for ``p``, exactly when the solution lies on the simplex,
    otherwise by least squares constrained to it. For two classes it is the Rogan–Gladen
    estimator (:func:`rogan_gladen`) clipped to [0, 1].

    ``M`` must come from **real annotated faces none of the classifiers was trained on**,
    classified exactly as the generated faces are (:func:`simulate_generator_resolution`,
    :func:`predicted_labels`), with enough faces in every cell. The correction assumes the
    classifiers err on generated faces as on real faces of the same cell (plausible for good
    samples, unverifiable for strange ones): report corrected and observed numbers together.

    Args:
        observed: Observed shares ``q`` (summing to 1), a Series indexed by cell or an array.
        confusion: ``M`` (rows true, columns predicted; rows summing to 1), e.g. from
            :func:`cell_confusion_matrix`. Counts are accepted and row-normalised.

    Returns:
        Estimated true shares ``p``, same type and index as ``observed``.

    Raises:
        ValueError: Shapes disagree, ``observed`` holds NaN, or ``M`` has a NaN or zero row.

    Example:
        >>> M = np.array([[0.9, 0.1], [0.2, 0.8]])
        >>> q = M.T @ np.array([0.3, 0.7])
        >>> np.round(correct_for_misclassification(q, M), 6)
        array([0.3, 0.7])
    """
    index = observed.index if isinstance(observed, pd.Series) else None
    q = np.asarray(observed, dtype=float)
    if not np.isfinite(q).all():
        raise ValueError("observed holds NaN or infinite shares; pass the observed share of "
                         "every cell (counts are accepted).")
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

    ``p = (q + specificity - 1) / (sensitivity + specificity - 1)``, clipped to [0, 1], with
    the rates measured as for :func:`correct_for_misclassification`.

    Args:
        observed_share: Share classified positive (``q``).
        sensitivity: P(predicted positive | truly positive).
        specificity: P(predicted negative | truly negative).

    Returns:
        The estimated true share.

    Raises:
        ValueError: ``observed_share`` not in [0, 1], or ``sensitivity + specificity <= 1``
            (the classifier is no better than chance: nothing can be corrected).

    Example:
        >>> round(rogan_gladen(0.38, sensitivity=0.9, specificity=0.8), 6)
        0.257143
    """
    if not 0 <= observed_share <= 1:
        raise ValueError(f"observed_share must be a share in [0, 1], got {observed_share!r}.")
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

    The hair colours are compared one against the rest after :func:`predicted_labels`'s argmax
    and :func:`hair_colour`, so a hair "error" is exactly what changes a face's cell. Measure
    on held-out real faces sent through :func:`simulate_generator_resolution`.

    Args:
        true_labels: Annotated 0/1 labels of the faces (e.g. ``data.attributes.loc[ids]``).
        probabilities: The classifiers' probabilities for the same faces, in the same order.
        threshold: Decision threshold.

    Returns:
        Frame indexed by attribute: ``sensitivity``, ``specificity``, ``balanced_accuracy``,
        ``positives`` and ``negatives`` (annotated counts; a rate over < ~30 faces is rough).

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

    Binary attributes are corrected with :func:`rogan_gladen`; hair colours by correcting the
    cell shares with ``confusion`` (:func:`correct_for_misclassification`), summed over sex.
    The percentile bootstrap over the faces repeats the correction (error rates taken as known).

    Args:
        sources: Source name -> 0/1 labels *predicted* by the classifiers (annotated real
            faces need no correction: :func:`attribute_share_table`).
        error_rates: From :func:`classifier_error_rates`.
        confusion: From :func:`cell_confusion_matrix`; without it hair shares are left out.
        attributes: Binary attributes to report.
        n_boot: Bootstrap resamples.
        level: Confidence level.
        seed: Random seed.

    Returns:
        Long frame ``source, attribute, share, low, high, observed`` (as
        :func:`attribute_share_table`, plus the uncorrected share); NaN ``share``, ``low`` and
        ``high`` where a classifier is no better than chance.

    Raises:
        MissingClassifierError: An attribute has no error rates or no labels.
        ValueError: ``n_boot`` is not a whole number of at least 1.

    Example:
        >>> truth = data.attributes.iloc[:1000]
        >>> probs = truth[list(cl.MEASURED_ATTRIBUTES)].astype(float)  # a perfect instrument
        >>> rates = classifier_error_rates(truth, probs)
        >>> confusion = cell_confusion_matrix(sex_hair_cells(truth),
        ...                                   sex_hair_cells(predicted_labels(probs)))
        >>> gan_labels = predicted_labels(probs.iloc[:300])
        >>> table = corrected_share_table({"GAN": gan_labels}, rates, confusion, n_boot=50)
        >>> list(table.columns)
        ['source', 'attribute', 'share', 'low', 'high', 'observed']
        >>> bool(np.allclose(table["share"], table["observed"]))  # nothing to correct
        True
    """
    n_boot = whole_number("n_boot", n_boot)
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
            if sens + spec > 1:
                point = rogan_gladen(values.mean(), sens, spec)
                boot = np.array([rogan_gladen(values[d].mean(), sens, spec) for d in draws])
            else:  # no better than chance (or unknown rates): nothing can be corrected
                point, boot = np.nan, np.full(n_boot, np.nan)
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


__all__ = [
    "cell_confusion_matrix", "correct_for_misclassification", "rogan_gladen",
    "classifier_error_rates", "corrected_share_table",
]
