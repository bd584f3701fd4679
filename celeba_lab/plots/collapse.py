"""Figures of the mode-collapse chapter: who the generators make, how far from real, do they copy.

Every function takes the tables and arrays that :mod:`celeba_lab.collapse` computes and returns
a :class:`matplotlib.figure.Figure` (not tied to pyplot's global state), which a chapter shows,
saves, or glues into its text with a caption and alt text.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..collapse import SEXES, cell_table

__all__ = [
    "plot_attribute_shares", "plot_cell_heatmaps", "plot_cell_confusion", "plot_nearest_neighbours",
    "plot_remedy_samples", "plot_condition_grid", "plot_instrument_validation",
]

_HAIR_LABELS = {"Black_Hair": "black", "Blond_Hair": "blond", "Brown_Hair": "brown",
                "Gray_Hair": "gray", "Other": "other"}


def plot_attribute_shares(table: pd.DataFrame, *, title: str | None = None,
                          figsize: tuple[float, float] = (9, 3.8)) -> Figure:
    """Grouped bars: the share of each attribute per source, with confidence intervals.

    Args:
        table: Long table with columns ``source, attribute, share, low, high``
            (:func:`~celeba_lab.collapse.cells.attribute_share_table`).
        title: Figure title.
        figsize: Figure size in inches.

    Returns:
        The figure: one group of bars per attribute, one bar per source, error bars the
        intervals.

    Raises:
        ValueError: The table lacks a required column or is empty.

    Example:
        >>> real, other = data.attributes.iloc[:1000], data.attributes.iloc[1000:]
        >>> table = cl.attribute_share_table({"real": real, "other": other}, n_boot=50)
        >>> fig = plot_attribute_shares(table)
    """
    missing = {"source", "attribute", "share", "low", "high"} - set(table.columns)
    if missing or table.empty:
        raise ValueError(f"plot_attribute_shares needs a non-empty table with columns "
                         f"source, attribute, share, low, high (missing: {sorted(missing)}); "
                         "build it with attribute_share_table.")
    sources = list(dict.fromkeys(table["source"]))
    attributes = list(dict.fromkeys(table["attribute"]))
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(sources)
    x = np.arange(len(attributes))
    for i, source in enumerate(sources):
        rows = table[table["source"] == source].set_index("attribute").reindex(attributes)
        share = rows["share"].to_numpy(float)
        errors = np.vstack([share - rows["low"].to_numpy(float),
                            rows["high"].to_numpy(float) - share])
        ax.bar(x + (i - (len(sources) - 1) / 2) * width, share, width, yerr=errors, capsize=2,
               label=source, color=f"C{i}")
    ax.set_xticks(x, [_HAIR_LABELS.get(a, a).replace("_", " ") for a in attributes],
                  rotation=30, ha="right")
    ax.set_ylabel("share of faces")
    ax.set_ylim(0, 1)
    # Beside the axes: inside, the legend would hide the bars of the first attributes.
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title)
    return fig


def plot_cell_heatmaps(real: pd.Series, generated: pd.Series | Mapping[str, pd.Series], *,
                       difference: bool = True, real_label: str = "real",
                       figsize: tuple[float, float] | None = None) -> Figure:
    """Sex x hair-colour shares as heatmaps: real beside each generated source (and differences).

    Args:
        real: Shares over the ten cells of real faces
            (:func:`~celeba_lab.collapse.cells.cell_shares`).
        generated: Shares of one generated source, or a mapping name -> shares for several.
        difference: Add, per source, a panel of ``generated - real`` (red: too many, blue: too
            few).
        real_label: Title of the real panel.
        figsize: Figure size; by default it grows with the number of panels.

    Returns:
        The figure.

    Example:
        >>> real = cl.cell_shares(cl.sex_hair_cells(data.attributes.iloc[:1000]))
        >>> other = cl.cell_shares(cl.sex_hair_cells(data.attributes.iloc[1000:]))
        >>> fig = plot_cell_heatmaps(real, {"other faces": other})
    """
    import seaborn as sns

    if isinstance(generated, pd.Series):
        generated = {"generated": generated}
    panels = [(real_label, cell_table(real), "shares")]
    for name, shares in generated.items():
        panels.append((name, cell_table(shares), "shares"))
        if difference:
            panels.append((f"{name} − {real_label}", cell_table(shares) - cell_table(real),
                           "difference"))
    # At most three panels a row, each ~2.5 in wide: the figure then fits the page's text column
    # (about 7.5 in) without shrinking, so its 9-point numbers stay readable.
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=figsize or (2.5 * ncols, 2.3 * nrows), layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in grid[len(panels):]:
        ax.set_visible(False)
    axes = grid[:len(panels)]
    top = max(float(t.to_numpy().max()) for _, t, kind in panels if kind == "shares")
    for ax, (name, values, kind) in zip(axes, panels):
        values = values.rename(columns=_HAIR_LABELS)
        if kind == "shares":
            sns.heatmap(values, ax=ax, vmin=0, vmax=top, cmap="viridis", annot=True, fmt=".2f",
                        cbar=False, annot_kws={"fontsize": 9})
        else:
            bound = max(float(np.abs(values.to_numpy()).max()), 1e-9)
            sns.heatmap(values, ax=ax, vmin=-bound, vmax=bound, cmap="RdBu_r", annot=True,
                        fmt="+.2f", cbar=False, annot_kws={"fontsize": 9})
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("hair colour")
        ax.set_ylabel("")
        ax.tick_params(axis="y", rotation=0)
    return fig


def plot_cell_confusion(confusion: pd.DataFrame, *, title: str | None = None,
                        figsize: tuple[float, float] = (6.5, 5.5)) -> Figure:
    """The classifiers' confusion matrix over the joint cells, P(predicted | true).

    Args:
        confusion: Row-normalised matrix
            (:func:`~celeba_lab.collapse.correction.cell_confusion_matrix`).
        title: Figure title.
        figsize: Figure size in inches.

    Returns:
        The figure (rows true cells, columns predicted cells).

    Example:
        >>> cells = cl.sex_hair_cells(data.attributes)
        >>> fig = plot_cell_confusion(cl.cell_confusion_matrix(cells, cells))
    """
    import seaborn as sns

    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    labels = [_short_cell(c) for c in confusion.columns]
    sns.heatmap(confusion.to_numpy(float), ax=ax, vmin=0, vmax=1, cmap="Blues", annot=True,
                fmt=".2f", annot_kws={"fontsize": 7}, xticklabels=labels,
                yticklabels=[_short_cell(c) for c in confusion.index],
                cbar_kws={"label": "P(predicted | true)"})
    ax.set_xlabel("predicted cell")
    ax.set_ylabel("true cell (annotation)")
    if title:
        ax.set_title(title)
    return fig


def plot_nearest_neighbours(generated: np.ndarray, train: np.ndarray, indices: np.ndarray,
                            distances: np.ndarray, *, rows: int = 6,
                            image_size: float = 1.3) -> Figure:
    """Generated faces (first column) beside their nearest training faces, with distances.

    Args:
        generated: Generated images (Ng, H, W, 3) in [0, 1].
        train: Training images (Nt, H', W', 3) in [0, 1], indexed by ``indices``.
        indices: (Ng, k) neighbour indices
            (:func:`~celeba_lab.collapse.distances.nearest_neighbours`).
        distances: (Ng, k) neighbour distances.
        rows: How many generated faces to show (the first ``rows``).
        image_size: Inches per image.

    Returns:
        The figure.

    Raises:
        ValueError: ``indices`` and ``distances`` do not match the generated images.

    Example:
        >>> faces = np.random.default_rng(0).random((20, 16, 16, 3))
        >>> idx, dist = cl.nearest_neighbours(faces[:3].reshape(3, -1), faces.reshape(20, -1), k=4)
        >>> fig = plot_nearest_neighbours(faces[:3], faces, idx, dist)
    """
    indices, distances = np.atleast_2d(indices), np.atleast_2d(distances)
    if indices.shape != distances.shape or len(indices) != len(generated):
        raise ValueError(f"indices {indices.shape} and distances {distances.shape} must both be "
                         f"(number of generated images = {len(generated)}, k).")
    rows = min(rows, len(generated))
    k = indices.shape[1]
    fig = Figure(figsize=(image_size * (k + 1), image_size * rows * 1.1), layout="constrained")
    axes = fig.subplots(rows, k + 1, squeeze=False)
    for r in range(rows):
        _show(axes[r, 0], generated[r], "generated" if r == 0 else None)
        for c in range(k):
            _show(axes[r, c + 1], train[indices[r, c]], f"d = {distances[r, c]:.2f}")
    fig.suptitle("generated face | nearest training faces")
    return fig


def plot_remedy_samples(samples: Mapping[str, np.ndarray], *, per_row: int = 8,
                        image_size: float = 1.1) -> Figure:
    """One row of samples per source (real data, report GAN, each remedy), labelled.

    Args:
        samples: Source name -> images (N, H, W, 3) in [0, 1]; the first ``per_row`` are shown.
        per_row: Images per row.
        image_size: Inches per image.

    Returns:
        The figure.

    Example:
        >>> faces = np.random.default_rng(0).random((16, 16, 16, 3))
        >>> fig = plot_remedy_samples({"real": faces[:8], "GAN": faces[8:]})
    """
    return _labelled_rows(samples, per_row, image_size)


def plot_condition_grid(images_by_condition: Mapping[str, np.ndarray], *, per_row: int = 6,
                        image_size: float = 1.1) -> Figure:
    """A conditional generator's faces, one row per requested attribute combination.

    Args:
        images_by_condition: Label of the request (e.g. ``"Male, Blond_Hair, Smiling"``) ->
            images generated with it.
        per_row: Images per row.
        image_size: Inches per image.

    Returns:
        The figure.

    Example:
        >>> faces = np.random.default_rng(0).random((8, 16, 16, 3))
        >>> fig = plot_condition_grid({"Female, Black_Hair": faces[:4],
        ...                            "Male, Blond_Hair": faces[4:]})
    """
    return _labelled_rows(images_by_condition, per_row, image_size)


def _labelled_rows(groups: Mapping[str, np.ndarray], per_row: int, image_size: float) -> Figure:
    if not groups:
        raise ValueError("No images to show: pass at least one named group of images.")
    fig = Figure(figsize=(image_size * per_row + 1.6, image_size * len(groups)),
                 layout="constrained")
    axes = fig.subplots(len(groups), per_row, squeeze=False)
    for r, (name, images) in enumerate(groups.items()):
        for c in range(per_row):
            ax = axes[r, c]
            if c < len(images):
                _show(ax, images[c])
            else:
                ax.axis("off")
        axes[r, 0].axis("on")
        axes[r, 0].set_xticks([])
        axes[r, 0].set_yticks([])
        for spine in axes[r, 0].spines.values():
            spine.set_visible(False)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    return fig


def _show(ax, image: np.ndarray, title: str | None = None) -> None:
    ax.imshow(np.clip(np.asarray(image, dtype=float), 0, 1))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def _short_cell(cell: str) -> str:
    sex, hair = str(cell).split("/")
    return f"{'F' if sex == SEXES[0] else 'M'} {_HAIR_LABELS.get(hair, hair)}"



def plot_instrument_validation(table: pd.DataFrame, *, title: str | None = None,
                               figsize: tuple[float, float] = (4.8, 4.2)) -> Figure:
    """True against estimated TV for the validation sources, with the old estimator beside.

    Args:
        table: :func:`~celeba_lab.collapse.instrument.validate_instrument`'s frame (columns
            ``true TV, TV, low, high, old TV``, indexed by source).
        title: Figure title.
        figsize: Figure size in inches.

    Returns:
        The figure: the diagonal (a perfect instrument), the estimates with their intervals,
        the old least-squares estimates as crosses, and the noise floors as ticks.

    Raises:
        ValueError: The table lacks a required column or is empty.

    Example:
        >>> table = pd.DataFrame({"true TV": [0.0, 0.3], "TV": [0.05, 0.28], "low": [0.0, 0.2],
        ...                       "high": [0.1, 0.35], "old TV": [0.4, 0.4]},
        ...                      index=["unbiased", "skew"])
        >>> len(plot_instrument_validation(table).axes)
        1
    """
    missing = {"true TV", "TV", "low", "high", "old TV"} - set(table.columns)
    if missing or table.empty:
        raise ValueError(f"plot_instrument_validation needs validate_instrument's table "
                         f"(missing columns: {sorted(missing)}).")
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, label="perfect instrument")
    x = table["true TV"].to_numpy()
    ax.errorbar(x, table["TV"], yerr=[table["TV"] - table["low"], table["high"] - table["TV"]],
                fmt="o", capsize=4, label="estimate (interval)")
    ax.plot(x, table["old TV"], "x", color="C3", ms=8, label="old least squares")
    if "noise floor" in table:
        ax.plot(x, table["noise floor"], "_", color="0.3", ms=14, label="noise floor")
    for name, xi, yi in zip(table.index, x, table["TV"]):
        ax.annotate(str(name), (xi, yi), textcoords="offset points", xytext=(6, -10), fontsize=8)
    ax.set(xlim=(-0.02, 1), ylim=(-0.02, 1), xlabel="true TV (annotations)",
           ylabel="TV measured by the instrument", title=title)
    ax.legend(loc="upper left", fontsize=8)
    return fig
