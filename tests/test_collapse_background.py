"""Background colour: cells read exactly from pixels, and their TV with floor and interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from celeba_lab.collapse import background as B


def _faces_on(colours, size=32, seed=0):
    """Faces as a grey oval on a background of each given RGB colour (0-1)."""
    rng = np.random.default_rng(seed)
    colours = np.asarray(colours, dtype=float)
    images = np.broadcast_to(colours[:, None, None, :], (len(colours), size, size, 3)).copy()
    yy, xx = np.mgrid[:size, :size]
    face = ((yy - size * 0.6) / (size * 0.4)) ** 2 + ((xx - size / 2) / (size * 0.3)) ** 2 < 1
    images[:, face] = 0.8
    return np.clip(images + rng.normal(0, 0.02, images.shape), 0, 1)


def test_each_background_is_read_into_its_cell_whatever_the_face():
    colours = [[0.9, 0.1, 0.1], [0.9, 0.85, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.8],
               [0.1, 0.2, 0.9], [0.8, 0.1, 0.8], [0.6, 0.6, 0.62], [0.05, 0.05, 0.1]]
    cells = B.background_cells(_faces_on(colours))
    assert cells.tolist() == ["red", "yellow", "green", "cyan", "blue", "magenta", "grey", "dark"]
    # uint8 images read the same.
    as_bytes = (_faces_on(colours) * 255).astype(np.uint8)
    assert B.background_cells(as_bytes).tolist() == cells.tolist()
    with pytest.raises(ValueError, match="sides of 6 pixels"):
        B.background_cells(np.zeros((2, 4, 4, 3)))


def test_a_faithful_source_reads_within_its_floor_and_a_green_collapse_is_detected():
    rng = np.random.default_rng(0)
    real = pd.Series(rng.choice(B.BACKGROUND_CELLS, 3000))
    faithful = pd.Series(rng.choice(B.BACKGROUND_CELLS, 300))
    held = B.background_tv(real, faithful, n_boot=200)
    assert not held.detected and held.low == 0.0 and held.value <= held.threshold
    green = pd.Series(["green"] * 240 + ["cyan"] * 60)
    collapsed = B.background_tv(real, green, n_boot=200)
    true_tv = 1 - 2 / len(B.BACKGROUND_CELLS)          # all mass on 2 of 8 equal cells
    assert collapsed.detected and collapsed.low <= true_tv <= collapsed.high
    with pytest.raises(ValueError, match="not among the categories"):
        B.background_tv(real, pd.Series(["purple"] * 10))
