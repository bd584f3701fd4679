"""How far from the real data, how varied, and is it copying: divergences and distances.

Total variation between cell distributions (:func:`total_variation`, :func:`tv_with_ci`),
diversity and memorisation (:func:`diversity_score`, :func:`memorisation_ratio`) and sample
quality (:func:`frechet_distance`, :func:`kernel_distance`). All numpy: the features come from
:mod:`celeba_lab.collapse.features`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from .._checks import whole_number
from ._common import _cell_counts, _check_level
from .bootstrap import Estimate, _interval
from .cells import SEX_HAIR_CELLS
from .correction import correct_for_misclassification


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
        train_distance: Per sampled training face, the distance to its nearest *other* one.
        ratio: ``median(generated_distance) / median(train_distance)``: about 1 for new faces,
            much below 1 when the generator reproduces training faces.
        copy_share: Share of generated faces closer to a training face than 99 % of training
            faces are to their nearest neighbour (the 1st percentile of ``train_distance``).
    """

    generated_distance: np.ndarray
    train_distance: np.ndarray
    ratio: float
    copy_share: float


def total_variation(p: pd.Series | np.ndarray | Sequence[float],
                    q: pd.Series | np.ndarray | Sequence[float]) -> float:
    """Total variation distance between two distributions: ``0.5 * sum |p - q|``.

    The largest difference in probability the two give to any set of cells: 0 for equal
    distributions, 1 for disjoint supports; a generator with everything in cell ``c`` is at
    ``1 - p(c)``. Series are aligned on their index (missing cells count as zero).

    Args:
        p: First distribution (shares, or counts: both are normalised to sum 1).
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


def tv_with_ci(real_cells: pd.Series | Sequence[str], generated_cells: pd.Series | Sequence[str],
               categories: Sequence[str] = SEX_HAIR_CELLS, *, n_boot: int = 1000,
               level: float = 0.95, seed: int = 0,
               correction: pd.DataFrame | np.ndarray | None = None,
               method: str = "percentile") -> Estimate:
    """Total variation between real and generated cell distributions, with a bootstrap interval.

    Both samples are resampled independently; with ``correction`` each generated resample is
    corrected before the distance. **Read the interval with the noise floor**
    (:func:`tv_noise_floor`, about ``sqrt(cells / n)``): a source is told apart only well above
    it. Resamples are farther apart still, so the percentile interval can lie entirely above
    the true distance, even above the estimate. ``method="basic"`` removes the bias to first
    order: it covers far more often, but still less than the nominal level when the distance is
    small compared with the noise.

    Args:
        real_cells: Cell of each real face (annotations).
        generated_cells: Cell of each generated face.
        categories: All cells.
        n_boot: Bootstrap resamples.
        level: Confidence level.
        seed: Random seed.
        correction: Confusion matrix of the *generated* side's classifier labels, applied with
            :func:`correct_for_misclassification`.
        method: ``"percentile"`` or ``"basic"`` (bias-reflecting).

    Returns:
        :class:`Estimate` of the distance.

    Example:
        >>> real = ["Female/Blond_Hair"] * 50 + ["Male/Black_Hair"] * 50
        >>> tv_with_ci(real, ["Female/Blond_Hair"] * 100, n_boot=200).value
        0.5
    """
    n_boot = whole_number("n_boot", n_boot)
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

    Averages the TV of ``n_sim`` pairs of samples (``len(real_cells)`` and ``n_generated``
    faces) of the real cell shares: what a perfect generator scores in :func:`tv_with_ci`.

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
    n_sim = whole_number("n_sim", n_sim)
    real = _cell_counts(real_cells, categories)
    shares = real / real.sum()
    rng = np.random.default_rng(seed)
    a = rng.multinomial(int(real.sum()), shares, size=n_sim)
    b = rng.multinomial(int(n_generated), shares, size=n_sim)
    return float(np.mean(0.5 * np.abs(a / a.sum(1, keepdims=True)
                                      - b / b.sum(1, keepdims=True)).sum(1)))


def diversity_score(features: np.ndarray, *, metric: str = "euclidean", max_pairs: int = 200_000,
                    seed: int = 0) -> float:
    """Mean pairwise distance between the faces' feature vectors: how varied a sample is.

    Identical faces score exactly 0 (direct differences, no cancellation); a collapsed
    generator scores low beside as many real faces. Beyond ``max_pairs`` pairs, random pairs
    of distinct faces give an unbiased estimate.

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


def nearest_neighbours(query: np.ndarray, reference: np.ndarray, k: int = 1, *,
                       exclude_self: bool = False,
                       chunk_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest reference rows (Euclidean) of each query row, memory bounded.

    Candidates come from the fast expansion ``|a|² + |b|² - 2ab``; their distances are
    recomputed directly, so an exact copy is at distance exactly 0.

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

    Compares each generated face's distance to its nearest training face with a training
    sample's distances to their nearest *other* training face (see :class:`Memorisation`).

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
    generated = generated[:, 0]
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


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets: the FID formula.

    ``|μa - μb|² + tr(Σa + Σb - 2 (Σa Σb)^½)``: on Inception-v3 features of 10,000+ images the
    FID of the literature; on :func:`classifier_features` the book's own, comparable only
    between the book's models.

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

    No general matrix square root (no scipy): ``Σa Σb`` has the eigenvalues of the symmetric
    ``S = Σa^½ Σb Σa^½``, so ``tr (Σa Σb)^½ = Σ sqrt(eig(S))``, with rounding's tiny negative
    eigenvalues clipped; stable even for singular covariances (fewer samples than dimensions).

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

    ``k(x, y) = (x·y / d + 1)³`` (Bińkowski et al., 2018), on ``min(subset_size, Na, Nb)`` rows
    per side drawn without replacement (slightly negative when the distributions are equal).
    Unlike FID it is unbiased: the better choice for the quick profile's small samples.

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


__all__ = [
    "KernelDistance", "Memorisation", "total_variation", "tv_with_ci", "tv_noise_floor",
    "diversity_score", "nearest_neighbours", "memorisation_ratio", "frechet_distance",
    "kernel_distance",
]
