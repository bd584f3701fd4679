"""Background colour: a collapse that pixels measure exactly, before any classifier reads a face.

The colour of the image's top corners is read from the pixels, with no instrument error: the
cleanest first measure of a generator's coverage, over eight colour cells, with the same TV,
noise floor and interval as the sex x hair-colour cells (:func:`background_tv`).

Example:
    >>> red, grey = np.zeros((1, 32, 32, 3)), np.full((1, 32, 32, 3), 0.5)
    >>> red[..., 0] = 0.9
    >>> background_cells(np.concatenate([red, grey])).tolist()
    ['red', 'grey']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .instrument import TVEstimate, estimate_tv

#: The eight background cells: too dark to have a colour, too grey to have one, six hues.
BACKGROUND_CELLS: tuple[str, ...] = ("dark", "grey", "red", "yellow", "green", "cyan", "blue",
                                     "magenta")
#: Below this brightness (HSV value, 0-1) a background is "dark".
DARK_VALUE = 0.2
#: Below this saturation (HSV, 0-1) a background is "grey" (white and black included).
GREY_SATURATION = 0.2
#: Side of each top corner, as a share of the image side.
CORNER_SHARE = 1 / 6

__all__ = ["BACKGROUND_CELLS", "background_colours", "background_cells", "background_tv"]


def background_colours(images: np.ndarray) -> np.ndarray:
    """The mean RGB colour of each image's two top corners (the background), in [0, 1].

    Args:
        images: (n, h, w, 3) images, uint8 or float in [0, 1].

    Returns:
        float (n, 3) colours in [0, 1].

    Raises:
        ValueError: not (n, h, w, 3), or a side under 6 pixels.

    Example:
        >>> background_colours(np.full((2, 12, 12, 3), 255, np.uint8)).tolist()
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or min(images.shape[1:3]) < 6:
        raise ValueError(f"background_colours needs (n, h, w, 3) images with sides of 6 pixels "
                         f"or more; got shape {images.shape}.")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    h, w = images.shape[1:3]
    ch, cw = max(1, round(h * CORNER_SHARE)), max(1, round(w * CORNER_SHARE))
    corners = np.concatenate([images[:, :ch, :cw], images[:, :ch, w - cw:]], axis=2)
    return corners.reshape(len(images), -1, 3).astype(np.float64).mean(axis=1) / scale


def background_cells(images: np.ndarray) -> pd.Series:
    """Each image's background cell, read from its pixels (:data:`BACKGROUND_CELLS`).

    The corners' mean colour (:func:`background_colours`) is "dark" below :data:`DARK_VALUE`
    brightness, "grey" below :data:`GREY_SATURATION` saturation, else the nearest of six hues.

    Args:
        images: (n, h, w, 3) images, uint8 or float in [0, 1].

    Returns:
        A categorical Series of cell names, one per image.

    Example:
        >>> cyan = np.zeros((1, 12, 12, 3)); cyan[..., 1:] = 0.8
        >>> background_cells(cyan).tolist()
        ['cyan']
    """
    rgb = np.clip(background_colours(images), 0, 1)
    value, low = rgb.max(axis=1), rgb.min(axis=1)
    chroma = value - low
    saturation = np.where(value > 0, chroma / np.maximum(value, 1e-12), 0.0)
    r, g, b = rgb.T
    safe = np.maximum(chroma, 1e-12)
    hue = np.select([value == r, value == g], [((g - b) / safe) % 6, (b - r) / safe + 2],
                    (r - g) / safe + 4)          # in sixths of the colour circle, 0-6
    names = np.array(BACKGROUND_CELLS[2:], dtype=object)[np.round(hue).astype(int) % 6]
    names = np.where(saturation < GREY_SATURATION, "grey", names)
    names = np.where(value < DARK_VALUE, "dark", names)
    return pd.Series(pd.Categorical(names, categories=BACKGROUND_CELLS), name="background")


def background_tv(real: pd.Series, generated: pd.Series, *, n_boot: int = 500,
                  level: float = 0.95, seed: int = 0) -> TVEstimate:
    """Total variation between two sets of background cells, with noise floor and interval.

    :func:`estimate_tv` with an identity confusion matrix: the interval and the noise floor
    come from sampling alone.

    Args:
        real: Background cells of real faces (:func:`background_cells`).
        generated: Background cells of the generated faces.
        n_boot: Simulations per point of the belt.
        level: Confidence level.
        seed: Random seed.

    Returns:
        A :class:`~celeba_lab.collapse.TVEstimate`.

    Raises:
        ValueError: a cell name outside :data:`BACKGROUND_CELLS`, or an empty set.

    Example:
        >>> real = pd.Series(list(BACKGROUND_CELLS) * 50)
        >>> background_tv(real, pd.Series(["green"] * 400), n_boot=100).detected
        True
    """
    k = len(BACKGROUND_CELLS)
    return estimate_tv(np.asarray(real, dtype=object), np.asarray(generated, dtype=object),
                       np.eye(k), np.full(k, 10 ** 6), n_boot=n_boot, level=level, seed=seed,
                       cells=BACKGROUND_CELLS)
