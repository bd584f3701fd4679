"""Figures of the mode-collapse chapter: who the generators make, how far from real, do they copy.

Each draws :mod:`celeba_lab.collapse`'s tables or arrays into a Figure not tied to pyplot.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..collapse import SEX_HAIR_CELLS, SEXES, cell_table
from ..collapse.background import BACKGROUND_CELLS

__all__ = ["plot_attribute_shares", "plot_cell_heatmaps", "plot_cell_confusion",
           "plot_nearest_neighbours", "plot_remedy_samples", "plot_condition_grid",
           "plot_instrument_validation", "plot_backgrounds", "plot_faces_by_cell",
           "plot_reading_check"]

#: The colour each background cell is drawn in.
_BACKGROUND_COLOURS = {"dark": "#262626", "grey": "#a6a6a6", "red": "#d62728",
                       "yellow": "#e8c52a", "green": "#2ca02c", "cyan": "#17becf",
                       "blue": "#2255d6", "magenta": "#c02cc0"}

_HAIR_LABELS = {"Black_Hair": "black", "Blond_Hair": "blond", "Brown_Hair": "brown",
                "Gray_Hair": "gray", "Other": "other"}


def plot_attribute_shares(table: pd.DataFrame, *, title: str | None = None,
                          figsize: tuple[float, float] = (9, 3.8)) -> Figure:
    """Grouped bars: the share of each attribute per source, with confidence intervals.

    Args:
        table: :func:`~celeba_lab.collapse.cells.attribute_share_table`'s long table.
        title: Figure title.
        figsize: Figure size in inches.

    Returns:
        The figure: one group of bars per attribute, one bar per source, with the intervals.

    Raises:
        ValueError: The table is empty or lacks ``source, attribute, share, low`` or ``high``.

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
    ax.set(ylabel="share of faces", ylim=(0, 1))
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
        real: Real faces' shares of the ten cells (:func:`~celeba_lab.collapse.cells.cell_shares`).
        generated: Shares of one generated source, or a mapping name -> shares for several.
        difference: Add per source a ``generated - real`` panel (red: too many, blue: too few).
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
    top = max(float(t.to_numpy().max()) for _, t, kind in panels if kind == "shares")
    for ax, (name, values, kind) in zip(grid, panels):
        values = values.rename(columns=_HAIR_LABELS)
        if kind == "shares":
            sns.heatmap(values, ax=ax, vmin=0, vmax=top, cmap="viridis", annot=True, fmt=".2f",
                        cbar=False, annot_kws={"fontsize": 9})
        else:
            bound = max(float(np.abs(values.to_numpy()).max()), 1e-9)
            sns.heatmap(values, ax=ax, vmin=-bound, vmax=bound, cmap="RdBu_r", annot=True,
                        fmt="+.2f", cbar=False, annot_kws={"fontsize": 9})
        ax.set_title(name, fontsize=10)
        ax.set(xlabel="hair colour", ylabel="")
        ax.tick_params(axis="y", rotation=0)
    return fig


def plot_cell_confusion(confusion: pd.DataFrame, *, title: str | None = None,
                        figsize: tuple[float, float] = (6.5, 5.5)) -> Figure:
    """The classifiers' confusion matrix over the joint cells, P(predicted | true).

    Args:
        confusion: From :func:`~celeba_lab.collapse.correction.cell_confusion_matrix`.
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
    ax.set(xlabel="predicted cell", ylabel="true cell (annotation)")
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
        indices: (Ng, k) indices of :func:`~celeba_lab.collapse.distances.nearest_neighbours`.
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
        images_by_condition: Request label (e.g. ``"Male, Blond_Hair"``) -> images drawn with it.
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
        for c, ax in enumerate(axes[r]):
            if c < len(images):
                _show(ax, images[c])
            else:
                ax.axis("off")
        axes[r, 0].axis("on")  # for its label; no ticks, no frame
        axes[r, 0].set(xticks=[], yticks=[])
        axes[r, 0].spines[:].set_visible(False)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    return fig


def _show(ax, image: np.ndarray, title: str | None = None) -> None:
    ax.imshow(np.clip(np.asarray(image, dtype=float), 0, 1))
    ax.set(xticks=[], yticks=[])
    if title:
        ax.set_title(title, fontsize=8)


def _short_cell(cell: str) -> str:
    sex, hair = str(cell).split("/")
    return f"{'F' if sex == SEXES[0] else 'M'} {_HAIR_LABELS.get(hair, hair)}"


def plot_instrument_validation(table: pd.DataFrame, *, title: str | None = None,
                               figsize: tuple[float, float] = (4.8, 4.2)) -> Figure:
    """True against estimated TV for the validation sources, with the old estimator beside.

    Args:
        table: :func:`~celeba_lab.collapse.instrument.validate_instrument`'s frame.
        title: Figure title.
        figsize: Figure size in inches.

    Returns:
        The figure: the diagonal (a perfect instrument), the estimates with their intervals,
        the old least-squares estimates as crosses, and the noise floors as ticks.

    Raises:
        ValueError: The table lacks a column (``true TV, TV, low, high, old TV``) or is empty.

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


def plot_backgrounds(sources: Mapping[str, tuple[np.ndarray, pd.Series]], *, per_row: int = 12,
                     image_size: float = 0.62) -> Figure:
    """Background cells per source: one bar of shares each, then faces to check them by eye.

    Args:
        sources: Name -> (faces (n, s, s, 3) in [0, 1], their
            :func:`celeba_lab.collapse.background_cells`).
        per_row: Faces shown per source, each over a strip of its cell's colour.
        image_size: Inches per face.

    Returns:
        The figure.

    Raises:
        ValueError: no sources.

    Example:
        >>> from celeba_lab.collapse.background import background_cells
        >>> faces = np.random.default_rng(0).random((12, 16, 16, 3))
        >>> fig = plot_backgrounds({"real": (faces, background_cells(faces))})
    """
    if not sources:
        raise ValueError("No sources to show: pass at least one (faces, cells) pair by name.")
    n = len(sources)
    fig = Figure(figsize=(max(7.5, image_size * per_row + 1.6), 0.55 * n + 0.6
                          + image_size * 1.25 * n), layout="constrained")
    grid = fig.add_gridspec(n + 1, per_row, height_ratios=[0.5 * n + 0.5] + [image_size * 1.2] * n)
    bars = fig.add_subplot(grid[0, :])
    names = list(sources)
    for row, name in enumerate(names):
        shares = pd.Series(np.asarray(sources[name][1], dtype=object)).value_counts(
            normalize=True).reindex(BACKGROUND_CELLS, fill_value=0.0)
        left = 0.0
        for cell, share in shares.items():
            if share > 0:
                bars.barh(row, share, left=left, color=_BACKGROUND_COLOURS[cell],
                          edgecolor="white", linewidth=0.5)
                if share >= 0.06:
                    bars.text(left + share / 2, row, f"{cell}\n{share:.0%}", ha="center",
                              va="center", fontsize=7,
                              color="black" if cell in ("yellow", "cyan", "grey") else "white")
            left += share
    bars.set_yticks(range(n), names)
    bars.invert_yaxis()
    bars.set(xlim=(0, 1), xlabel="share of faces in each background cell")
    bars.spines[["top", "right"]].set_visible(False)
    for row, (name, (faces, cells)) in enumerate(sources.items(), start=1):
        cells = np.asarray(cells, dtype=object)
        for c in range(per_row):
            ax = fig.add_subplot(grid[row, c])
            if c < len(faces):
                _show(ax, faces[c])
                ax.spines[:].set_edgecolor(_BACKGROUND_COLOURS[cells[c]])
                ax.spines[:].set_linewidth(3)
            else:
                ax.axis("off")
            if c == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    return fig


def plot_faces_by_cell(faces: np.ndarray, cells: pd.Series | Sequence[str], *,
                       per_row: int = 8, image_size: float = 0.8) -> Figure:
    """Faces grouped by the cell the reader put them in, one row per sex x hair-colour cell.

    Args:
        faces: (n, s, s, 3) faces in [0, 1].
        cells: Each face's cell, as read (:meth:`celeba_lab.collapse.Measurement.cells`).
        per_row: Faces per row at most.
        image_size: Inches per face.

    Returns:
        The figure; each row's label gives the cell and how many faces were read into it.

    Raises:
        ValueError: as many cells as faces are needed.

    Example:
        >>> faces = np.random.default_rng(0).random((4, 16, 16, 3))
        >>> fig = plot_faces_by_cell(faces, ["Female/Blond_Hair"] * 2 + ["Male/Other"] * 2)
    """
    cells = np.asarray(cells, dtype=object)
    if len(cells) != len(faces):
        raise ValueError(f"{len(faces)} faces but {len(cells)} cells.")
    groups = {f"{_short_cell(cell)} ({int((cells == cell).sum())})":
              np.asarray(faces)[cells == cell][:per_row] for cell in SEX_HAIR_CELLS}
    return _labelled_rows(groups, per_row, image_size)


def plot_reading_check(table: pd.DataFrame, *, bar: float, title: str | None = None,
                       figsize: tuple[float, float] = (6.4, 3.4)) -> Figure:
    """The reader's balanced accuracy per attribute on real and on generated faces.

    Args:
        table: :func:`celeba_lab.reading_check`'s table.
        bar: The balanced accuracy an attribute needs on generated faces (a dashed line).
        title: Figure title.
        figsize: Figure size in inches.

    Returns:
        The figure: dots for real faces, diamonds for generated ones, joined per attribute.

    Example:
        >>> t = pd.DataFrame({"balanced_accuracy (real)": [0.9, 0.8],
        ...                   "balanced_accuracy (generated)": [0.85, 0.6]},
        ...                  index=["Male", "Smiling"])
        >>> fig = plot_reading_check(t, bar=0.75)
    """
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(table))
    real = table["balanced_accuracy (real)"].to_numpy(float)
    generated = table["balanced_accuracy (generated)"].to_numpy(float)
    ax.hlines(y, np.minimum(real, generated), np.maximum(real, generated), color="0.7")
    ax.plot(real, y, "o", color="0.25", label="real faces")
    ax.plot(generated, y, "D", color="#c44e52", label="generated faces")
    ax.axvline(bar, color="0.4", linestyle="--", linewidth=1)
    ax.text(bar, len(table) - 0.4, f" bar {bar:.2f}", fontsize=8, color="0.3")
    ax.axvline(0.5, color="0.8", linewidth=1)
    ax.set_yticks(y, list(table.index))
    ax.invert_yaxis()
    ax.set(xlim=(0.45, 1.0), xlabel="balanced accuracy (0.5: chance)")
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
