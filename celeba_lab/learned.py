"""Has a generator learned anything? The checks that come before any verdict about it.

An untrained generator shows every symptom of mode collapse, none of them meaningful.
:class:`GeneratorCheck` asks whether its faces vary, came closer to real faces than its
untrained self and are close enough to measure; :func:`reading_check`, whether the reader reads
generated faces; :func:`verdict_gate` allows a verdict only where both hold.

Example:
    >>> check = GeneratorCheck("toy", pixel_spread=0.2, real_spread=0.25, distance=1.0,
    ...                        untrained_distance=9.0)
    >>> check.learned
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .collapse import classifier_error_rates, frechet_distance

#: A generator varies when its pixel spread reaches this share of the real faces'.
MIN_SPREAD_RATIO = 0.25
#: A generator learned when training cut its feature distance from real faces to at most
#: this share of the untrained network's (the quick profile's four GANs: 0.28-0.42 here).
MAX_DISTANCE_RATIO = 0.6
#: Faces worth measuring: at most this many times the distance between two sets of real faces.
MAX_REAL_RATIO = 4.0
#: The reader reads an attribute on generated faces at this balanced accuracy or more.
READABLE_BAR = 0.75

__all__ = ["GeneratorCheck", "check_generator", "learning_table", "MAX_REAL_RATIO",
           "READABLE_BAR", "reading_check", "VerdictGate", "verdict_gate"]


@dataclass(frozen=True)
class GeneratorCheck:
    """What a generator's faces look like next to real faces and next to its untrained self.

    Attributes:
        name: The generator's name in tables and messages.
        pixel_spread: Mean per-pixel standard deviation of its faces.
        real_spread: The same for the real faces it is compared with.
        distance: Fréchet distance between its faces and the real ones (classifier features).
        untrained_distance: The same for the untrained network (same settings and seed).
        real_distance: The same between two disjoint, equal-sized real sets (NaN: not measured).
    """

    name: str
    pixel_spread: float
    real_spread: float
    distance: float
    untrained_distance: float
    real_distance: float = float("nan")

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
    def real_ratio(self) -> float:
        """Its feature distance over the distance between two sets of real faces."""
        return self.distance / self.real_distance if self.real_distance > 0 else float("nan")

    @property
    def learned(self) -> bool:
        """It varies, training brought it clearly closer to real faces, and (where measured)
        it is within :data:`MAX_REAL_RATIO` times the real-versus-real distance."""
        close = np.isnan(self.real_distance) or self.real_ratio <= MAX_REAL_RATIO
        return bool(self.spread_ratio >= MIN_SPREAD_RATIO
                    and self.distance_ratio <= MAX_DISTANCE_RATIO and close)

    def reason(self) -> str:
        """One sentence: why it counts as learned, or what is missing."""
        if self.learned:
            close = ("" if np.isnan(self.real_distance) else
                     f"; that distance is {self.real_ratio:.1f} times the distance between two "
                     f"sets of real faces (at most {MAX_REAL_RATIO:.0f} passes)")
            text = (f"{self.name} has learned: its faces vary ({self.spread_ratio:.0%} of the "
                    f"real faces' pixel spread) and training cut their distance from real faces "
                    f"to {self.distance_ratio:.0%} of the untrained network's{close}.")
            return text[:1].upper() + text[1:]
        missing = []
        if not self.spread_ratio >= MIN_SPREAD_RATIO:
            missing.append(f"its faces barely vary ({self.spread_ratio:.0%} of the real "
                           f"faces' pixel spread, under {MIN_SPREAD_RATIO:.0%})")
        if not self.distance_ratio <= MAX_DISTANCE_RATIO:
            missing.append(f"training left its distance from real faces at "
                           f"{self.distance_ratio:.0%} of the untrained network's (learning "
                           f"means under {MAX_DISTANCE_RATIO:.0%})")
        if not (np.isnan(self.real_distance) or self.real_ratio <= MAX_REAL_RATIO):
            missing.append(f"its distance from real faces is {self.real_ratio:.1f} times the "
                           f"distance between two sets of real faces (faces worth measuring: "
                           f"at most {MAX_REAL_RATIO:.0f})")
        text = f"{self.name} has not learned: " + "; ".join(missing) + "."
        return text[:1].upper() + text[1:]


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
                    features: Callable[[np.ndarray], np.ndarray],
                    other_real: np.ndarray | None = None) -> GeneratorCheck:
    """Measure a generator's faces against real faces and against its untrained network's.

    Args:
        name: How to call the generator.
        generated: Its faces, float (n, h, w, 3) in [0, 1].
        untrained: Faces from the same noise by the untrained network (same shape).
        real: Real faces at the same size.
        features: Images -> feature vectors, e.g. ``lambda x: cl.classifier_features(model,
            x, resize=True)``.
        other_real: Real faces disjoint from ``real``, as many as ``generated``; see real_distance.

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
    shapes = {np.shape(a)[1:] for a in (generated, untrained, real, other_real) if a is not None}
    if len(shapes) != 1:
        raise ValueError(f"Generated, untrained and real faces must share one image size; got "
                         f"{sorted(shapes)}.")
    real_features = features(real)
    return GeneratorCheck(
        name=name, pixel_spread=pixel_spread(generated), real_spread=pixel_spread(real),
        distance=frechet_distance(features(generated), real_features),
        untrained_distance=frechet_distance(features(untrained), real_features),
        real_distance=(float("nan") if other_real is None else
                       frechet_distance(features(other_real), real_features)))


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
             "distance ratio": c.distance_ratio, "real vs real": c.real_distance,
             "x real vs real": c.real_ratio, "learned": c.learned}
            for name, c in checks.items()]
    return pd.DataFrame(rows).set_index("generator")


def reading_check(true_labels: pd.DataFrame, real: pd.DataFrame, generated: pd.DataFrame, *,
                  bar: float = READABLE_BAR, threshold: float = 0.5) -> pd.DataFrame:
    """Does the reader read generated faces as it reads real ones? Its error rates on both.

    Args:
        true_labels: Annotated 0/1 labels of the faces.
        real: The reader's probabilities for the real faces (one column per attribute).
        generated: Its probabilities for generated faces meant to show the same faces, in the
            same order (e.g. reconstructions from :func:`celeba_lab.invert_generator`).
        bar: Balanced accuracy an attribute needs on generated faces to be read at all.
        threshold: Decision threshold.

    Returns:
        One row per attribute: sensitivity, specificity and balanced accuracy on real and on
        generated faces; ``difference`` (generated minus real balanced accuracy); ``differs``
        (more than 1.96 standard errors apart); ``readable`` (reaches ``bar`` on generated
        faces); ``use``: ``"generated"`` where they differ, else ``"real"``.

    Raises:
        ValueError: ``real`` and ``generated`` differ in shape or columns, or ``bar`` is
            outside (0.5, 1).

    Example:
        >>> truth = pd.DataFrame({"Male": [1, 0] * 50})
        >>> sharp = pd.DataFrame({"Male": [0.9, 0.1] * 50})
        >>> blind = pd.DataFrame({"Male": [0.6] * 100})
        >>> row = reading_check(truth, sharp, blind).loc["Male"]
        >>> bool(row["readable"]), bool(row["differs"]), row["use"]
        (False, True, 'generated')
    """
    if real.shape != generated.shape or list(real.columns) != list(generated.columns):
        raise ValueError(f"real and generated readings must cover the same faces and "
                         f"attributes; got {real.shape} {list(real.columns)} and "
                         f"{generated.shape} {list(generated.columns)}.")
    if not 0.5 < bar < 1:
        raise ValueError(f"bar must be a balanced accuracy in (0.5, 1), got {bar!r}.")
    rates = {kind: classifier_error_rates(true_labels, probabilities, threshold=threshold)
             for kind, probabilities in (("real", real), ("generated", generated))}
    table = pd.concat({kind: r[["sensitivity", "specificity", "balanced_accuracy"]]
                       for kind, r in rates.items()}, axis=1)
    table.columns = [f"{what} ({kind})" for kind, what in table.columns]
    pos, neg = rates["real"]["positives"], rates["real"]["negatives"]

    def variance(r):  # of a balanced accuracy: half the mean of two proportions
        return (r["sensitivity"] * (1 - r["sensitivity"]) / pos.clip(lower=1)
                + r["specificity"] * (1 - r["specificity"]) / neg.clip(lower=1)) / 4

    difference = (rates["generated"]["balanced_accuracy"] - rates["real"]["balanced_accuracy"])
    spread = np.sqrt(variance(rates["real"]) + variance(rates["generated"])).clip(lower=1e-3)
    table["difference"] = difference
    table["differs"] = (difference.abs() > 1.96 * spread).to_numpy()
    table["readable"] = (rates["generated"]["balanced_accuracy"] >= bar).to_numpy()
    table["use"] = np.where(table["differs"], "generated", "real")
    table.index.name = "attribute"
    return table


@dataclass(frozen=True)
class VerdictGate:
    """Whether a verdict about one generator may be drawn, and if not, which check failed.

    Attributes:
        generator: The generator's name.
        learned: It passed its learning check (:class:`GeneratorCheck`).
        unreadable: Attributes the verdict needs that :func:`reading_check` found unreadable.
        learning_reason: The learning check's own sentence.
    """

    generator: str
    learned: bool
    unreadable: tuple[str, ...]
    learning_reason: str = ""

    @property
    def open(self) -> bool:
        """Both checks hold: the verdict may be drawn."""
        return self.learned and not self.unreadable

    def reason(self) -> str:
        """Why no verdict is drawn (empty when it may be)."""
        parts = []
        if not self.learned:
            parts.append(f"{self.generator} failed its learning check")
        if self.unreadable:
            names = ", ".join(f"`{a}`" for a in self.unreadable)
            parts.append(f"the reader cannot read {names} on generated faces (balanced "
                         f"accuracy under {READABLE_BAR:.2f})")
        return ("No verdict on " + self.generator + ": " + "; ".join(parts) + ".") if parts else ""


def verdict_gate(check: GeneratorCheck, reading: pd.DataFrame,
                 attributes: Sequence[str]) -> VerdictGate:
    """The gate a verdict passes: a generator that learned, read by a reader that reads it.

    Args:
        check: The generator's :class:`GeneratorCheck`.
        reading: :func:`reading_check`'s table.
        attributes: The attributes the verdict rests on (for the sex x hair-colour cells:
            ``Male`` and the four hair colours).

    Returns:
        A :class:`VerdictGate`.

    Raises:
        KeyError: an attribute the reading check did not cover.

    Example:
        >>> reading = pd.DataFrame({"readable": [True, False]}, index=["Male", "Smiling"])
        >>> g = verdict_gate(GeneratorCheck("g", 0.2, 0.25, 1.0, 9.0), reading, ["Smiling"])
        >>> g.open, g.unreadable
        (False, ('Smiling',))
    """
    missing = [a for a in attributes if a not in reading.index]
    if missing:
        raise KeyError(f"The reading check has no row for {missing}; check those attributes "
                       "on generated faces first.")
    unreadable = tuple(a for a in attributes if not bool(reading.loc[a, "readable"]))
    return VerdictGate(check.name, check.learned, unreadable, check.reason())
