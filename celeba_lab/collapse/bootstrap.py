"""The bootstrap interval every mode-collapse measure reports: :func:`bootstrap_ci`.

It sits below :mod:`celeba_lab.collapse.cells` and :mod:`celeba_lab.collapse.distances`, which
both use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .._checks import whole_number
from ._common import _check_level


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


def bootstrap_ci(samples: np.ndarray | Sequence[Any], statistic: Callable[[np.ndarray], float],
                 n_boot: int = 1000, level: float = 0.95, seed: int = 0, *,
                 method: str = "percentile") -> Estimate:
    """Percentile bootstrap confidence interval for any statistic of one sample.

    The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the statistic over ``n_boot``
    resamples of the rows; ``method="basic"`` reflects them, ``2θ̂ - q_high, 2θ̂ - q_low``,
    which corrects a statistic's bias to first order (see :func:`tv_with_ci`).

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
        ValueError: Empty sample, ``n_boot`` not a whole number of at least 1, ``level``
            outside (0, 1), or an unknown ``method``.

    Example:
        >>> est = bootstrap_ci(np.arange(100.0), np.mean, n_boot=200)
        >>> est.low < 49.5 < est.high
        True
    """
    n_boot = whole_number("n_boot", n_boot)
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


__all__ = [
    "Estimate", "bootstrap_ci",
]
