"""Mode collapse you can watch: a GAN on eight Gaussians in a ring, in seconds on a CPU.

The GAN is the book's own :class:`~celeba_lab.gan.DCGAN` with two small dense networks; the
remedy is *packing* (PacGAN, Lin et al. 2018): the discriminator judges ``pack`` samples at
once. Each point goes into a cell (its mode, or off the ring), measured as chapter 5 does faces.

Example:
    >>> ring_of_gaussians(1000, seed=0).shape
    (1000, 2)
    >>> mode_cells(ring_centres()).tolist()[:2]
    ['mode 0', 'mode 1']
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from keras import layers, ops

from ._checks import positive_number, whole_number
from .collapse import total_variation, tv_noise_floor
from .gan import DCGAN

#: Number of Gaussians on the ring, its radius and each Gaussian's standard deviation.
MODES, RADIUS, STD = 8, 2.0, 0.02
#: A point belongs to a mode when it lies within this distance of the mode's centre (9 standard
#: deviations: every real point does; a point between two modes does not).
MODE_REACH = 9 * STD
#: Size of the generator's noise.
TOY_LATENT_DIM = 16
#: The cell of a point that is on no mode.
OFF_RING = "off the ring"

__all__ = [
    "MODES", "ring_of_gaussians", "mode_cells", "ToyRun", "train_toy_gan", "toy_collapse_table",
]


def ring_centres(modes: int = MODES, radius: float = RADIUS) -> np.ndarray:
    """The centres of the ring's Gaussians, (modes, 2), mode 0 on the positive x axis.

    Args:
        modes: Number of Gaussians.
        radius: Radius of the ring.

    Example:
        >>> ring_centres(4).round(3).tolist()
        [[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [-0.0, -2.0]]
    """
    angles = 2 * np.pi * np.arange(modes) / modes
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def ring_of_gaussians(n: int, *, modes: int = MODES, std: float = STD,
                      seed: int = 0) -> np.ndarray:
    """``n`` points of the real distribution: a mode drawn uniformly, plus Gaussian noise.

    Args:
        n: Number of points.
        modes: Number of Gaussians on the ring.
        std: Standard deviation of each Gaussian.
        seed: Random seed.

    Returns:
        float32 array (n, 2).

    Example:
        >>> ring_of_gaussians(3, seed=1).dtype
        dtype('float32')
    """
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, modes, int(n))
    points = ring_centres(modes)[chosen] + std * rng.normal(size=(int(n), 2))
    return points.astype("float32")


def mode_cells(points: np.ndarray, *, modes: int = MODES) -> pd.Series:
    """The cell of each point: ``"mode k"`` for the nearest mode within reach, else off the ring.

    Args:
        points: (n, 2) points.
        modes: Number of Gaussians on the ring.

    Returns:
        The cell names, one per point.

    Raises:
        ValueError: ``points`` is not (n, 2), or holds NaN or infinite coordinates (a diverged
            generator's, not a collapse).

    Example:
        >>> mode_cells(np.array([[2.0, 0.05], [0.0, 0.0]])).tolist()
        ['mode 0', 'off the ring']
    """
    points = np.asarray(points, dtype="float64")
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be an (n, 2) array, got shape {points.shape}.")
    if not np.isfinite(points).all():
        raise ValueError(f"points holds {int((~np.isfinite(points)).any(axis=1).sum())} "
                         "points with NaN or infinite coordinates: the generator diverged "
                         "(train again with a smaller learning_rate); they are in no cell.")
    distance = np.linalg.norm(points[:, None, :] - ring_centres(modes)[None], axis=2)
    nearest = distance.argmin(axis=1)
    names = np.array(toy_cells(modes))
    return pd.Series(names[np.where(distance.min(axis=1) <= MODE_REACH, nearest, modes)])


def toy_cells(modes: int = MODES) -> list[str]:
    """Every cell a point can fall in: the modes, then off the ring.

    Args:
        modes: Number of Gaussians on the ring.

    Example:
        >>> toy_cells(2)
        ['mode 0', 'mode 1', 'off the ring']
    """
    return [f"mode {k}" for k in range(modes)] + [OFF_RING]


# The two networks: as flat as the report's, read top to bottom. -------------------------------

def toy_generator(latent_dim: int = TOY_LATENT_DIM) -> keras.Sequential:
    """Noise -> a point in the plane: two dense layers of 128 ReLU units, then (x, y).

    Args:
        latent_dim: Size of the noise.

    Example:
        >>> toy_generator().output_shape
        (None, 2)
    """
    return keras.Sequential([
        keras.Input(shape=(latent_dim,), name="noise"),
        layers.Dense(128, activation="relu"),
        layers.Dense(128, activation="relu"),
        layers.Dense(2, name="point"),
    ], name="toy_generator")


class Pack(layers.Layer):
    """Put ``pack`` consecutive samples side by side: (batch, 2) -> (batch / pack, 2 * pack)."""

    def __init__(self, pack: int, **kwargs):
        super().__init__(**kwargs)
        self.pack = int(pack)

    def call(self, inputs):
        return ops.reshape(inputs, (-1, inputs.shape[-1] * self.pack))

    def compute_output_shape(self, input_shape):
        return (None, input_shape[-1] * self.pack)

    def get_config(self):
        return {**super().get_config(), "pack": self.pack}


def toy_discriminator(*, pack: int = 1) -> keras.Sequential:
    """A point (or ``pack`` points at once) -> the probability that it is real.

    Args:
        pack: Samples judged together (1: the plain GAN; 4: PacGAN4); divides the batch size.

    Raises:
        ValueError: ``pack`` below 1.

    Example:
        >>> toy_discriminator(pack=4).output_shape
        (None, 1)
    """
    if int(pack) < 1:
        raise ValueError(f"pack must be 1 or more, got {pack}.")
    return keras.Sequential([
        keras.Input(shape=(2,), name="point"),
        *([Pack(pack)] if pack > 1 else []),
        layers.Dense(128, activation="relu"),
        layers.Dense(128, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ], name="toy_discriminator")


# Training with snapshots ----------------------------------------------------------------------

@dataclass
class ToyRun:
    """A toy GAN's training: the generated points after every snapshot interval.

    Attributes:
        pack: Samples the discriminator judged at once.
        steps: Training steps at each snapshot.
        points: float32 (snapshots, n_points, 2), the same noise at every snapshot.
        real: Real points, as many as each snapshot holds.
        seed: Random seed of the run.
    """

    pack: int
    steps: list[int]
    points: np.ndarray
    real: np.ndarray
    seed: int


def train_toy_gan(*, pack: int = 1, steps: int = 5000, snapshots: int = 10,
                  batch_size: int = 256, learning_rate: float = 1e-3, n_points: int = 2000,
                  seed: int = 0) -> ToyRun:
    """Train a toy GAN on the ring and keep the generated points after every interval.

    Both networks use Adam with ``beta_1 = 0.5`` (the DCGAN paper's). Reproducible from ``seed``.

    Args:
        pack: Samples the discriminator judges at once (1: the plain GAN).
        steps: Training steps in all.
        snapshots: How many times (evenly spaced) the generator draws ``n_points`` points.
        batch_size: Real (and generated) points per step; a multiple of ``pack``.
        learning_rate: Adam's learning rate for both networks.
        n_points: Points drawn from the same noise at each snapshot.
        seed: Seed of the weights, the noise and the real points.

    Returns:
        A :class:`ToyRun`.

    Raises:
        ValueError: ``steps`` not a positive multiple of ``snapshots``, ``batch_size`` not one
            of ``pack``; a count not a whole number of at least 1 (``seed``: 0); a
            ``learning_rate`` not a finite number above 0.

    Example:
        >>> train_toy_gan(steps=20, snapshots=2).points.shape
        (2, 2000, 2)
    """
    pack, steps, snapshots = (whole_number(name, value) for name, value in
                              (("pack", pack), ("steps", steps), ("snapshots", snapshots)))
    batch_size, n_points = whole_number("batch_size", batch_size), whole_number("n_points",
                                                                                n_points)
    learning_rate = positive_number("learning_rate", learning_rate)
    seed = whole_number("seed", seed, minimum=0)
    if snapshots < 1 or steps < snapshots or steps % snapshots:
        raise ValueError(f"steps ({steps}) must be a positive multiple of snapshots "
                         f"({snapshots}).")
    if batch_size % pack:
        raise ValueError(f"batch_size ({batch_size}) must be a multiple of pack ({pack}).")
    keras.utils.set_random_seed(seed)
    gan = DCGAN(toy_generator(), toy_discriminator(pack=pack), seed=seed)
    gan.compile(d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5))
    interval = steps // snapshots
    real = ring_of_gaussians(steps * batch_size, seed=seed)
    noise = np.random.default_rng(seed + 1).normal(size=(n_points, TOY_LATENT_DIM))
    points, at = [], []
    for k in range(snapshots):
        chunk = real[k * interval * batch_size:(k + 1) * interval * batch_size]
        gan.fit(chunk, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        points.append(np.asarray(gan.generator(noise.astype("float32")), dtype="float32"))
        at.append((k + 1) * interval)
    return ToyRun(pack, at, np.stack(points), ring_of_gaussians(n_points, seed=seed + 2), seed)


def toy_collapse_table(run: ToyRun) -> pd.DataFrame:
    """Each snapshot measured like a face generator: modes covered, on-ring share, TV, floor.

    A mode counts as covered when it holds at least a quarter of its fair share. The total
    variation compares the generated cell shares with the real points'; the noise floor is
    what two real samples of these sizes show by chance (:func:`~celeba_lab.tv_noise_floor`).

    Args:
        run: A :class:`ToyRun`.

    Returns:
        One row per snapshot, indexed by step.

    Example:
        >>> table = toy_collapse_table(train_toy_gan(steps=20, snapshots=2))
        >>> list(table.columns)
        ['modes covered', 'on a mode', 'TV', 'noise floor']
    """
    cells = toy_cells()
    real = mode_cells(run.real)
    floor = tv_noise_floor(real, run.points.shape[1], cells, n_sim=200)
    real_shares = real.value_counts(normalize=True).reindex(cells, fill_value=0.0)
    rows = []
    for step, points in zip(run.steps, run.points):
        shares = mode_cells(points).value_counts(normalize=True).reindex(cells, fill_value=0.0)
        rows.append({"step": step,
                     "modes covered": int((shares[:-1] >= 0.25 / MODES).sum()),
                     "on a mode": float(1 - shares[OFF_RING]),
                     "TV": total_variation(real_shares, shares), "noise floor": floor})
    return pd.DataFrame(rows).set_index("step")
