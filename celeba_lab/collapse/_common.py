"""Private helpers shared by the mode-collapse modules: cell labels, counts and levels."""

from __future__ import annotations

from typing import Sequence

import numpy as np


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
