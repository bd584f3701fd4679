"""Pictures of GAN training: the monitor's grids, an animation of them, losses, samples, walks.

Each returns a :class:`matplotlib.figure.Figure`, but the GIF helpers (a path, a notebook image).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_epoch_grids", "animate_epoch_grids", "show_animation", "plot_gan_losses",
           "plot_samples", "plot_latent_walk", "plot_conditional_samples"]


def _grids(run_or_dir):
    # The monitor's faces without rebuilding the GAN: (epoch numbers, uint8 array).
    if hasattr(run_or_dir, "grids"):
        epochs, images = run_or_dir.grids()
    else:
        paths = sorted((Path(run_or_dir) / "grids").glob("epoch_*.npy"))
        epochs, images = [int(p.stem.split("_")[1]) for p in paths], [np.load(p) for p in paths]
    if len(epochs) == 0:
        raise ValueError("This run has no monitor grids (trained with monitor=False?).")
    return epochs, np.stack(images)


def _pick_epochs(epochs: Sequence[int], at_most: int) -> list[int]:
    if len(epochs) <= at_most:
        return list(range(len(epochs)))
    return sorted({int(round(i)) for i in np.linspace(0, len(epochs) - 1, at_most)})


def _hide_axes(ax) -> None:
    ax.set(xticks=[], yticks=[])
    ax.spines[:].set_visible(False)


def _face_row(axes, faces, label: str, **text) -> None:
    for ax, face in zip(axes, faces):
        ax.imshow(face)
        _hide_axes(ax)
    axes[0].set_ylabel(label, rotation=0, ha="right", va="center", **text)


def plot_epoch_grids(run, *, faces: int = 8, max_epochs: int = 8) -> Figure:
    """The same faces (fixed noise) after each epoch: one row per epoch, first to last.

    Args:
        run: A :class:`~celeba_lab.gan_training.GANRun` or its run folder.
        faces: Faces shown per epoch (the first ones of the monitor's grid).
        max_epochs: Rows at most; epochs are picked evenly, first and last always.

    Returns:
        The figure.

    Raises:
        ValueError: The run has no monitor grids.

    Example:
        >>> fig = plot_epoch_grids(cl.train_gan(data))   # trains for minutes: # doctest: +SKIP
    """
    from ..gan_images import image_grid

    epochs, images = _grids(run)
    rows = _pick_epochs(epochs, max_epochs)
    faces = min(faces, images.shape[1])
    fig, axes = plt.subplots(len(rows), 1, figsize=(faces * 0.9, len(rows) * 1.0 + 0.3),
                             squeeze=False)
    for ax, row in zip(axes[:, 0], rows):
        _face_row([ax], [image_grid(images[row, :faces], ncols=faces)], f"epoch {epochs[row]}")
    fig.suptitle("The same noise, epoch after epoch")
    fig.tight_layout()
    return fig


def animate_epoch_grids(run, path: str | os.PathLike | None = None, *,
                        duration_ms: int = 600, scale: int = 1) -> Path:
    """Write the monitor's grids as an animated GIF, one frame per epoch, labelled.

    Args:
        run: A :class:`~celeba_lab.gan_training.GANRun` or its run folder.
        path: Where to write (default ``<run folder>/grids/animation.gif``).
        duration_ms: Time per frame; the last frame is held three times as long.
        scale: Enlarge each frame by this integer factor.

    Returns:
        The path of the GIF.

    Raises:
        ValueError: The run has no monitor grids.

    Example:
        >>> show_animation(animate_epoch_grids(run))     # needs a trained run: # doctest: +SKIP
    """
    from PIL import Image, ImageDraw

    from .._io import atomic_path
    from ..gan_images import image_grid

    epochs, images = _grids(run)
    run_dir = Path(run.run_dir if hasattr(run, "run_dir") else run)
    path = Path(path) if path is not None else run_dir / "grids" / "animation.gif"
    frames = []
    for epoch, grid in zip(epochs, images):
        picture = image_grid(grid)
        canvas = np.full((picture.shape[0] + 16, picture.shape[1], 3), 255, dtype="uint8")
        canvas[16:] = picture
        frame = Image.fromarray(canvas)
        ImageDraw.Draw(frame).text((4, 2), f"epoch {epoch}", fill=(0, 0, 0))
        if scale > 1:
            frame = frame.resize((frame.width * scale, frame.height * scale), Image.NEAREST)
        frames.append(frame)
    durations = [duration_ms] * (len(frames) - 1) + [duration_ms * 3]
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                       duration=durations, loop=0)
    return path


def show_animation(path: str | os.PathLike):
    """The GIF at ``path`` as a notebook output, to display or to ``glue`` into a figure.

    Args:
        path: The GIF, e.g. from :func:`animate_epoch_grids`.

    Returns:
        An ``IPython.display.Image``.

    Example:
        >>> show_animation(animate_epoch_grids(run))     # needs a trained run: # doctest: +SKIP
    """
    from IPython.display import Image as IPImage

    return IPImage(data=Path(path).read_bytes(), format="gif")


def plot_gan_losses(history: Mapping[str, Sequence[float]] | object) -> Figure:
    """D's and G's losses (per step, faint; per-epoch means, bold) and D's accuracy per epoch.

    Args:
        history: ``GANRun.history`` or the run itself.

    Returns:
        The figure: the losses, and D's accuracy on real and on generated faces.

    Example:
        >>> history = {"d_loss": [1.4, 1.2, 1.3], "g_loss": [0.7, 0.9, 0.8],
        ...            "d_real_accuracy": [0.5, 0.7, 0.6], "d_fake_accuracy": [0.5, 0.8, 0.7]}
        >>> fig = plot_gan_losses(history)
    """
    history = getattr(history, "history", history)
    epochs = np.arange(1, len(history["d_loss"]) + 1)
    fig, (ax, acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    steps = len(history.get("step_d_loss", []))
    if steps and len(epochs):
        x = np.arange(1, steps + 1) / (steps / len(epochs))
        ax.plot(x, history["step_d_loss"], color="C0", alpha=0.25, lw=0.8)
        ax.plot(x, history["step_g_loss"], color="C1", alpha=0.25, lw=0.8)
    ax.plot(epochs, history["d_loss"], "o-", color="C0", label="discriminator")
    ax.plot(epochs, history["g_loss"], "o-", color="C1", label="generator")
    ax.axhline(np.log(2), color="grey", ls=":", lw=1, label="ln 2 (D guessing)")
    ax.set(xlabel="epoch", ylabel="binary cross-entropy", title="Losses")
    acc.plot(epochs, history["d_real_accuracy"], "o-", color="C2", label="real faces")
    acc.plot(epochs, history["d_fake_accuracy"], "o-", color="C3", label="generated faces")
    acc.axhline(0.5, color="grey", ls=":", lw=1)
    acc.set(xlabel="epoch", ylabel="accuracy", ylim=(-0.02, 1.02), title="Discriminator accuracy")
    for a in (ax, acc):
        a.legend()
        a.set_xticks(epochs if len(epochs) <= 15 else a.get_xticks())
    fig.tight_layout()
    return fig


def plot_samples(images: np.ndarray, *, ncols: int = 8, title: str | None = None,
                 labels: Sequence[str] | None = None) -> Figure:
    """A grid of faces (float in [0, 1] or uint8), optionally each with a label.

    Args:
        images: (n, h, w, 3) faces.
        ncols: Faces per row.
        title: Figure title.
        labels: One short label per face.

    Returns:
        The figure.

    Example:
        >>> fig = plot_samples(np.zeros((8, 64, 64, 3)), ncols=4)
    """
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 1.1, nrows * 1.1 + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        _hide_axes(ax)
        if i < n:
            ax.imshow(np.clip(images[i], 0, 255 if images.dtype == np.uint8 else 1))
            if labels is not None:
                ax.set_title(labels[i], fontsize=7)
        else:
            ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.3)
    return fig


def plot_latent_walk(generator, *, steps: int = 8, seed: int = 0, conditions=None) -> Figure:
    """Faces between two random noise vectors, along a straight line and along the sphere.

    Args:
        generator: A (conditional) generator.
        steps: Faces per walk, both ends included.
        seed: Seed of the two ends.
        conditions: For a conditional generator, the (k,) condition vector kept fixed.

    Returns:
        The figure (row 1: linear interpolation; row 2: spherical).

    Example:
        >>> fig = plot_latent_walk(run.generator, steps=8)  # needs a trained run: # doctest: +SKIP
    """
    from ..gan_images import latent_walk

    fig, axes = plt.subplots(2, steps, figsize=(steps * 1.1, 2.7), squeeze=False)
    for row, method in enumerate(("linear", "spherical")):
        faces = latent_walk(generator, steps, seed=seed, method=method, conditions=conditions)
        _face_row(axes[row], faces, method)
    fig.suptitle("A walk through latent space between two faces")
    fig.tight_layout(pad=0.3)
    return fig


def plot_conditional_samples(gan, combinations: Sequence[Mapping[str, int]], *,
                             per_row: int = 8, seed: int = 0) -> Figure:
    """One row of generated faces per requested attribute combination, the same noise in each.

    Args:
        gan: A conditional :class:`~celeba_lab.gan.DCGAN` or a GANRun holding one.
        combinations: E.g. ``[{"Male": 1, "Black_Hair": 1}, {"Blond_Hair": 1}]`` (others 0).
        per_row: Faces per combination.
        seed: Seed of the shared noise.

    Returns:
        The figure.

    Raises:
        ValueError: ``gan`` is not conditional.

    Example:
        >>> fig = plot_conditional_samples(run, [{"Male": 1}])  # needs a run: # doctest: +SKIP
    """
    gan = getattr(gan, "gan", gan)
    if not getattr(gan, "conditional", False):
        raise ValueError("plot_conditional_samples needs a conditional GAN.")
    fig, axes = plt.subplots(len(combinations), per_row,
                             figsize=(per_row * 1.0 + 1.8, len(combinations) * 1.05 + 0.3),
                             squeeze=False)
    for row, combination in enumerate(combinations):
        faces = gan.generate(per_row, seed=seed, conditions=dict(combination))
        label = "\n".join(f"{k}={v}" for k, v in combination.items() if v) or "none"
        _face_row(axes[row], faces, label, fontsize=8)
    fig.suptitle("Faces drawn with chosen attributes (same noise in every row)")
    fig.tight_layout(pad=0.3)
    return fig
