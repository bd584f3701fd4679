"""Benchmark 3: how long the source report's full recipe takes, projected from measured rates.

The report's recipe, counted in training steps:

* GAN: 30 epochs over all 202,599 images in batches of 32, so ``ceil(202,599 / 32) = 6,332``
  steps per epoch and 189,960 steps in all (the report: six hours on a paid Colab GPU);
* classifiers: three attributes x 15 epochs x 200 steps of 50 images (10,000 training images).

A projection multiplies a step count by a measured time per step. It leaves out what happens
between steps (the per-epoch image grid, checkpoints, validation), which the benchmarks
measure at well under a second per epoch, and the one-off decoding of the images into the
package's cache, which :func:`project_recipe` adds when a data throughput is given.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from celeba_lab.attributes import N_IMAGES

__all__ = ["GAN_EPOCHS", "GAN_BATCH", "GAN_STEPS_PER_EPOCH", "GAN_STEPS", "CLASSIFIER_STEPS",
           "project_recipe", "project_from_epochs", "format_duration"]

GAN_EPOCHS = 30
GAN_BATCH = 32
GAN_STEPS_PER_EPOCH = math.ceil(N_IMAGES / GAN_BATCH)          # 6,332
GAN_STEPS = GAN_EPOCHS * GAN_STEPS_PER_EPOCH                     # 189,960
CLASSIFIER_ATTRIBUTES = 3
CLASSIFIER_EPOCHS = 15
CLASSIFIER_STEPS_PER_EPOCH = 10_000 // 50                        # 200
CLASSIFIER_STEPS = CLASSIFIER_ATTRIBUTES * CLASSIFIER_EPOCHS * CLASSIFIER_STEPS_PER_EPOCH

#: The report's GAN training time (30 epochs on a paid Colab GPU, 2022).
REPORT_GAN_SECONDS = 6 * 3600
#: The goal of the performance work: the report's GAN in at most 15 minutes on one modern GPU.
GOAL_GAN_SECONDS = 15 * 60


def project_recipe(gan_steps_per_s: float | None, classifier_steps_per_s: float | None = None,
                   *, gan_decode_images_per_s: float | None = None,
                   label: str = "") -> dict[str, Any]:
    """Seconds for the report's full recipe at the given rates.

    Args:
        gan_steps_per_s: Measured GAN training steps per second (batches of 32).
        classifier_steps_per_s: Measured classifier steps per second (batches of 50).
        gan_decode_images_per_s: Measured images per second for decoding JPEGs into the
            package's 64 x 64 cache (done once, before the first epoch).
        label: What was measured (machine, backend, variant), kept in the result.

    Returns:
        ``gan_s``, ``gan_decode_s``, ``classifiers_s``, ``gan_vs_report`` (the report's six
        hours divided by the projected GAN time) and ``meets_goal`` (GAN within 15 minutes).
    """
    out: dict[str, Any] = {"label": label, "gan_steps": GAN_STEPS,
                           "classifier_steps": CLASSIFIER_STEPS}
    if gan_steps_per_s:
        gan_s = GAN_STEPS / gan_steps_per_s
        out.update(gan_steps_per_s=gan_steps_per_s, gan_s=gan_s,
                   gan_vs_report=REPORT_GAN_SECONDS / gan_s,
                   meets_goal=bool(gan_s <= GOAL_GAN_SECONDS))
    if gan_decode_images_per_s:
        out["gan_decode_s"] = N_IMAGES / gan_decode_images_per_s
    if classifier_steps_per_s:
        out.update(classifier_steps_per_s=classifier_steps_per_s,
                   classifiers_s=CLASSIFIER_STEPS / classifier_steps_per_s)
    return out


def project_from_epochs(epoch_seconds: Sequence[float], epoch_steps: int) -> float:
    """Seconds for the report's 30 GAN epochs, from whole epochs timed in one run.

    The last epoch gives the steady time per step; the first epoch's extra time (tracing and
    compiling) is added once.

    Args:
        epoch_seconds: Wall-clock seconds of each epoch timed, in order (at least one).
        epoch_steps: Steps in each of those epochs.

    Returns:
        The projected seconds.

    Example:
        >>> round(project_from_epochs([38.8, 20.1], 6332))
        622
    """
    first, last = epoch_seconds[0], epoch_seconds[-1]
    return GAN_STEPS * last / epoch_steps + max(0.0, first - last)


def format_duration(seconds: float | None) -> str:
    """``"3 min 20 s"``, ``"5.2 h"``, ``"2.1 days"``: a duration a reader can picture."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
