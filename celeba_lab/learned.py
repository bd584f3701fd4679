"""Has a generator learned anything? The check that comes before any verdict about it.

A generator that has not left its starting point draws the same flat picture for every noise
vector. Measured like a trained one, it "covers one mode", "has no variety" and "sits far from
the data": every symptom of mode collapse, and none of them means anything. So before a page
calls a generator collapsed (or a remedy better), it asks two questions, each against the same
real faces:

* **Does it vary?** The pixel spread (each pixel's standard deviation across faces, averaged)
  of its faces, against the real faces' spread. An untrained generator's is near zero.
* **Did training bring it closer to real faces?** The Fréchet distance between its faces and
  real ones in a classifier's feature space, against the same distance for the *same network
  before its first step* (same settings and seed). Learning means a clear fall.

Example:
    >>> check = GeneratorCheck("toy", pixel_spread=0.2, real_spread=0.25, distance=1.0,
    ...                        untrained_distance=9.0)
    >>> check.learned
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from .collapse import frechet_distance

#: A generator varies when its pixel spread reaches this share of the real faces'.
MIN_SPREAD_RATIO = 0.25
#: A generator learned when training cut its feature distance from real faces to at most
#: this share of the untrained network's (the quick profile's four GANs: 0.28-0.42 here).
MAX_DISTANCE_RATIO = 0.6

__all__ = [
    "GeneratorCheck", "NotLearnedError", "check_generator", "require_learned", "learning_table",
]


class NotLearnedError(RuntimeError):
    """A verdict (collapse, a remedy's effect) was asked about a generator that has not learned."""


@dataclass(frozen=True)
class GeneratorCheck:
    """What a generator's faces look like next to real faces and next to its untrained self.

    Attributes:
        name: The generator's name in tables and messages.
        pixel_spread: Mean per-pixel standard deviation of its faces.
        real_spread: The same for the real faces it is compared with.
        distance: Fréchet distance between its faces and the real ones (classifier features).
        untrained_distance: The same for the untrained network (same settings and seed).
    """

    name: str
    pixel_spread: float
    real_spread: float
    distance: float
    untrained_distance: float

    @property
    def spread_ratio(self) -> float:
        """Its pixel spread as a share of the real faces'."""
        return self.pixel_spread / self.real_spread if self.real_spread > 0 else float("nan")

    @property
    def distance_ratio(self) -> float:
        """Its feature distance as a share of the untrained network's."""
        return (self.distance / self.untrained_distance if self.untrained_distance > 0
                else float("nan"))

    @property
    def learned(self) -> bool:
        """It varies, and training brought it clearly closer to real faces."""
        return bool(self.spread_ratio >= MIN_SPREAD_RATIO
                    and self.distance_ratio <= MAX_DISTANCE_RATIO)

    def reason(self) -> str:
        """One sentence: why it counts as learned, or what is missing."""
        text = self._reason()
        return text[:1].upper() + text[1:]

    def _reason(self) -> str:
        if self.learned:
            return (f"{self.name} has learned: its faces vary ({self.spread_ratio:.0%} of the "
                    f"real faces' pixel spread) and training cut their distance from real faces "
                    f"to {self.distance_ratio:.0%} of the untrained network's.")
        missing = []
        if not self.spread_ratio >= MIN_SPREAD_RATIO:
            missing.append(f"its faces barely vary ({self.spread_ratio:.0%} of the real "
                           f"faces' pixel spread, under {MIN_SPREAD_RATIO:.0%})")
        if not self.distance_ratio <= MAX_DISTANCE_RATIO:
            missing.append(f"training left its distance from real faces at "
                           f"{self.distance_ratio:.0%} of the untrained network's (learning "
                           f"means under {MAX_DISTANCE_RATIO:.0%})")
        return f"{self.name} has not learned: " + "; ".join(missing) + "."


def pixel_spread(images: np.ndarray) -> float:
    """Mean over pixels of each pixel's standard deviation across the images (0: all alike).

    Args:
        images: (n, h, w, c) images, n >= 2.

    Returns:
        The mean standard deviation.

    Raises:
        ValueError: fewer than 2 images, or not 4-dimensional.

    Example:
        >>> pixel_spread(np.zeros((4, 2, 2, 3)))
        0.0
    """
    images = np.asarray(images, dtype="float64")
    if images.ndim != 4 or len(images) < 2:
        raise ValueError(f"pixel_spread needs at least 2 images (n, h, w, c); got {images.shape}.")
    return float(images.std(axis=0).mean())


def check_generator(name: str, generated: np.ndarray, untrained: np.ndarray, real: np.ndarray,
                    features: Callable[[np.ndarray], np.ndarray]) -> GeneratorCheck:
    """Measure a generator's faces against real faces and against its untrained network's.

    Args:
        name: How to call the generator.
        generated: Its faces, float (n, h, w, 3) in [0, 1].
        untrained: Faces from the same noise by the untrained network (same shape).
        real: Real faces at the same size.
        features: Images -> feature vectors, e.g. ``lambda x: cl.classifier_features(model,
            x, resize=True)``.

    Returns:
        A :class:`GeneratorCheck`.

    Raises:
        ValueError: the three sets of faces differ in image size.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> real = rng.random((64, 8, 8, 3))
        >>> grey = np.full_like(real, 0.5) + rng.normal(0, 0.01, real.shape)
        >>> flat = lambda x: x.reshape(len(x), -1)[:, :6]
        >>> check_generator("grey", grey, grey, real, flat).learned
        False
    """
    shapes = {np.shape(a)[1:] for a in (generated, untrained, real)}
    if len(shapes) != 1:
        raise ValueError(f"Generated, untrained and real faces must share one image size; got "
                         f"{sorted(shapes)}.")
    real_features = features(real)
    return GeneratorCheck(
        name=name, pixel_spread=pixel_spread(generated), real_spread=pixel_spread(real),
        distance=frechet_distance(features(generated), real_features),
        untrained_distance=frechet_distance(features(untrained), real_features))


def require_learned(checks: Mapping[str, GeneratorCheck] | GeneratorCheck) -> None:
    """Refuse a verdict about generators that have not learned.

    Args:
        checks: One :class:`GeneratorCheck` or several by name.

    Raises:
        NotLearnedError: one or more checks failed; the message gives each one's reason.

    Example:
        >>> require_learned(GeneratorCheck("g", 0.2, 0.25, 1.0, 9.0))
    """
    if isinstance(checks, GeneratorCheck):
        checks = {checks.name: checks}
    failed = [c.reason() for c in checks.values() if not c.learned]
    if failed:
        raise NotLearnedError(
            "No verdict on a generator that has not learned: " + " ".join(failed)
            + " Train it longer (more epochs or steps) before reading its numbers as collapse.")


def learning_table(checks: Mapping[str, GeneratorCheck]) -> pd.DataFrame:
    """The checks as a table: spreads, distances, their ratios, and whether each learned.

    Args:
        checks: :class:`GeneratorCheck` objects by name.

    Returns:
        A DataFrame, one row per generator.

    Example:
        >>> learning_table({"g": GeneratorCheck("g", 0.2, 0.25, 1.0, 9.0)})["learned"].item()
        True
    """
    rows = [{"generator": name, "pixel spread": c.pixel_spread,
             "real pixel spread": c.real_spread, "spread ratio": c.spread_ratio,
             "distance to real": c.distance, "untrained distance": c.untrained_distance,
             "distance ratio": c.distance_ratio, "learned": c.learned}
            for name, c in checks.items()]
    return pd.DataFrame(rows).set_index("generator")
