"""What a generator draws: walks between noise vectors, and faces tiled into one picture.

A walk shows whether a generator learned a smooth space of faces or a few memorised ones.

Example:
    >>> walk = latent_walk(cl.report_generator(width=0.125), steps=4)
    >>> image_grid(walk, ncols=4).shape
    (68, 266, 3)
"""

from __future__ import annotations

import math

import keras
import numpy as np

from .gan import generate_images, latent_noise


def interpolate_latents(start: np.ndarray, end: np.ndarray, steps: int = 8,
                        method: str = "spherical") -> np.ndarray:
    """Points between two noise vectors: ``steps`` rows from ``start`` to ``end``.

    Gaussian noise in many dimensions lies near a sphere of radius ``sqrt(latent_dim)``; a
    straight line between two such points passes nearer the centre, where the generator saw
    little noise, so its middle faces look washed out. Slerp (White 2016) stays on the sphere.

    Args:
        start: The first vector, shape (latent_dim,).
        end: The last vector, same shape.
        steps: Number of points, ends included.
        method: ``"linear"`` or ``"spherical"``.

    Returns:
        float32 array (steps, latent_dim).

    Raises:
        ValueError: An unknown ``method``.

    Example:
        >>> a, b = latent_noise(2, 64)
        >>> interpolate_latents(a, b, 5, "spherical").shape
        (5, 64)
    """
    start, end = np.asarray(start, dtype="float64"), np.asarray(end, dtype="float64")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if method == "linear":
        return ((1 - t) * start + t * end).astype("float32")
    if method != "spherical":
        raise ValueError(f"method must be 'linear' or 'spherical', got {method!r}.")
    cos = np.dot(start, end) / (np.linalg.norm(start) * np.linalg.norm(end))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return ((1 - t) * start + t * end).astype("float32")
    return ((np.sin((1 - t) * omega) * start + np.sin(t * omega) * end)
            / np.sin(omega)).astype("float32")


def latent_walk(generator: keras.Model, steps: int = 8, seed: int = 0,
                method: str = "spherical", conditions=None) -> np.ndarray:
    """Faces along a path between two random noise vectors (drawn with ``seed``).

    Args:
        generator: A (conditional) generator.
        steps: Faces along the path, both ends included.
        seed: Seed of the two end points.
        method: ``"linear"`` or ``"spherical"`` (see :func:`interpolate_latents`).
        conditions: For a conditional generator, a (k,) vector kept fixed along the walk.

    Returns:
        float32 array (steps, size, size, 3), the generator's image size.

    Example:
        >>> latent_walk(cl.report_generator(width=0.125), steps=4).shape
        (4, 64, 64, 3)
    """
    ends = latent_noise(2, int(generator.inputs[0].shape[-1]), seed)
    path = interpolate_latents(ends[0], ends[1], steps, method)
    return generate_images(generator, steps, noise=path, conditions=conditions)


def image_grid(images: np.ndarray, ncols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile images (n, h, w, 3) in [0, 1] or uint8 into one uint8 picture, white gaps between.

    Args:
        images: The images.
        ncols: Images per row (default: a square-ish grid).
        pad: Pixels between images.

    Returns:
        uint8 array (rows * (h + pad) + pad, ncols * (w + pad) + pad, 3).

    Example:
        >>> image_grid(np.zeros((6, 64, 64, 3)), ncols=3).shape
        (134, 200, 3)
    """
    images = to_uint8(images)
    n, h, w, c = images.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), 255, dtype="uint8")
    for i, image in enumerate(images):
        r, col = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = image
    return grid


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in [0, 1] (or already uint8) as uint8 pixels, rounded."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return np.round(np.clip(images, 0.0, 1.0) * 255).astype("uint8")


__all__ = ["latent_walk", "image_grid"]
