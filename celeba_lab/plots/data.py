"""Figures of the data chapter: faces, attribute statistics, partitions, samples, memory.

Each returns a :class:`matplotlib.figure.Figure` already closed in pyplot (shown once).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ..attributes import ATTRIBUTES, PARTITION_SIZES, PARTITIONS, REPORT_ATTRIBUTES
from ..data import (CELEBA_PREVALENCE, CELEBA_PREVALENCE_BY_SEX, BalancedSample, CelebA,
                    attribute_prevalence, check_attribute)

__all__ = ["plot_face_grid", "plot_prevalence", "plot_attribute_correlation",
           "correlated_attributes", "plot_prevalence_by", "plot_partition_sizes",
           "plot_balanced_sample", "plot_memory"]

#: Attributes named under each face in :func:`plot_face_grid` when present.
GRID_ATTRIBUTES: tuple[str, ...] = ("Male", "Smiling", "Eyeglasses", "Black_Hair", "Blond_Hair",
                                    "Brown_Hair", "Gray_Hair", "Bald", "Wearing_Hat",
                                    "Wearing_Lipstick", "Mustache", "Goatee", "Pale_Skin")

_POSITIVE, _NEGATIVE = sns.color_palette("deep")[0], sns.color_palette("deep")[1]


def _done(fig: Figure) -> Figure:
    fig.tight_layout()
    plt.close(fig)   # the caller displays it; pyplot must not show it a second time
    return fig


def _source(data: CelebA) -> str:
    return "synthetic CelebA" if data.synthetic else "CelebA"


def plot_face_grid(data: CelebA, ids: Iterable[str] | None = None, *,
                   attributes: Sequence[str] = GRID_ATTRIBUTES, n: int = 12, ncols: int = 6,
                   seed: int = 0) -> Figure:
    """Faces with the attributes they carry written underneath.

    Args:
        data: The data set.
        ids: The images to show (default: ``n`` drawn at random with ``seed``).
        attributes: Positive attributes to name under each face (``Male``: "male"/"female").
        n: Number of faces when ``ids`` is not given.
        ncols: Faces per row.
        seed: Seed of the random choice.

    Returns:
        The figure.

    Raises:
        UnknownAttributeError: an attribute name is not one of the 40.

    Example:
        >>> fig = plot_face_grid(data, n=12)
        >>> fig.savefig("figure.png")
    """
    from PIL import Image

    attributes = [check_attribute(a) for a in attributes]
    if ids is None:
        drawn = np.random.default_rng(seed).choice(len(data), min(n, len(data)), replace=False)
        ids = data.attributes.index[np.sort(drawn)]
    ids = list(ids)
    nrows = int(np.ceil(len(ids) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.9 * ncols, 3.2 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image_id in zip(axes.flat, ids):
        with Image.open(data.path(image_id)) as image:
            ax.imshow(np.asarray(image.convert("RGB")))
        row = data.attributes.loc[image_id]
        words = [("male" if row["Male"] else "female")] if "Male" in attributes else []
        words += [a.replace("_", " ").lower() for a in attributes if a != "Male" and row[a]]
        ax.set_title(f"{image_id}\n" + _wrap(words), fontsize=7.5)
    fig.suptitle(f"{len(ids)} faces of {_source(data)} and their attributes", fontsize=11)
    return _done(fig)


def _wrap(words: list[str], width: int = 24) -> str:
    lines, line = [], ""
    for word in words or ["(none of these)"]:
        candidate = f"{line}, {word}" if line else word
        if len(candidate) > width and line:
            lines.append(line + ",")
            line = word
        else:
            line = candidate
    lines.append(line)
    return "\n".join(lines[:3])


def plot_prevalence(data: CelebA, *, published: bool = True) -> Figure:
    """Percent of images with each of the 40 attributes, beside real CelebA's published rates.

    Args:
        data: The data set.
        published: Also draw :data:`celeba_lab.data.CELEBA_PREVALENCE` (real CelebA).

    Returns:
        The figure (attributes sorted by published prevalence).

    Example:
        >>> fig = plot_prevalence(data)
        >>> fig.savefig("figure.png")
    """
    ours = attribute_prevalence(data)
    order = sorted(ATTRIBUTES, key=lambda a: -CELEBA_PREVALENCE[a])
    rows = [(a, ours[a], _source(data)) for a in order]
    if published:
        rows += [(a, CELEBA_PREVALENCE[a], "real CelebA (published)") for a in order]
    table = pd.DataFrame(rows, columns=["attribute", "percent positive", "data"])
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(7.5, 10))
        sns.barplot(table, y="attribute", x="percent positive", hue="data", order=order, ax=ax,
                    palette="deep")
        ax.set(xlim=(0, 100), ylabel="", title="How common each attribute is")
        ax.legend(title=None, loc="lower right")
    return _done(fig)


def correlated_attributes(data: CelebA, n: int = 14,
                          include: Sequence[str] = REPORT_ATTRIBUTES) -> list[str]:
    """The attributes that take part in the strongest correlations, for a readable heatmap.

    Args:
        data: The data set.
        n: How many attributes to return (at most 40).
        include: Attributes always returned (default: the report's three), first.

    Returns:
        ``include``, then the attributes of the pairs with the largest absolute correlation
        (phi coefficient), strongest pair first, until there are ``n``.

    Raises:
        UnknownAttributeError: an attribute name is not one of the 40.

    Example:
        >>> correlated_attributes(data, n=8)
        ['Male', 'Eyeglasses', 'Smiling', 'Wearing_Lipstick', 'Heavy_Makeup', ...]
    """
    chosen = list(dict.fromkeys(check_attribute(a) for a in include))
    corr = data.attributes[list(ATTRIBUTES)].astype(np.float32).corr().fillna(0.0).abs()
    pairs = corr.where(np.triu(np.ones(corr.shape, dtype=bool), k=1)).stack()
    for first, second in pairs.sort_values(ascending=False, kind="stable").index:
        for name in (first, second):
            if len(chosen) < n and name not in chosen:
                chosen.append(name)
        if len(chosen) >= n:
            break
    return chosen[:max(n, len(include))]


def _seriation(corr: pd.DataFrame) -> list[str]:
    """Order along the leading eigenvector of the correlations: related attributes side by side."""
    values, vectors = np.linalg.eigh(corr.to_numpy())
    lead = vectors[:, np.argmax(values)]
    lead = lead if lead[0] >= 0 else -lead
    return [corr.columns[i] for i in np.argsort(-lead, kind="stable")]


def plot_attribute_correlation(data: CelebA, attributes: Sequence[str] | None = None, *,
                               n: int = 14, include: Sequence[str] = REPORT_ATTRIBUTES,
                               annotate: bool | None = None) -> Figure:
    """Correlation (phi coefficient) between pairs of attributes, as a heatmap, each pair once.

    Args:
        data: The data set.
        attributes: The attributes to show, in this order (``cl.ATTRIBUTES``: all 40); default:
            :func:`correlated_attributes` ``(data, n, include)``, related ones side by side.
        n: Number of attributes when ``attributes`` is not given.
        include: Attributes always shown when ``attributes`` is not given.
        annotate: Write each value in its cell (default: when at most 20 attributes).

    Returns:
        The figure.

    Raises:
        UnknownAttributeError: an attribute name is not one of the 40.

    Example:
        >>> fig = plot_attribute_correlation(data, n=12)
        >>> fig.savefig("figure.png")
    """
    reorder = attributes is None
    columns = (correlated_attributes(data, n, include) if reorder
               else [check_attribute(a) for a in attributes])
    # A constant column has no correlation; show 0 rather than a blank.
    corr = data.attributes[columns].astype(np.float32).corr().fillna(0.0)
    if reorder:
        order = _seriation(corr)
        corr = corr.loc[order, order]
    annotate = len(columns) <= 20 if annotate is None else annotate
    labels = [c.replace("_", " ") for c in corr.columns]
    # Each pair once: the upper triangle and the diagonal (always 1) would only repeat it.
    upper = np.triu(np.ones(corr.shape, dtype=bool))
    side = min(7.5, 1.6 + 0.42 * len(columns))
    fig, ax = plt.subplots(figsize=(side, side * 0.86))
    sns.heatmap(corr, mask=upper, cmap="vlag", vmin=-1, vmax=1, center=0, square=True, ax=ax,
                xticklabels=labels, yticklabels=labels, fmt="",
                annot=corr.map(lambda v: f"{round(v, 2) + 0.0:.2f}") if annotate else False,
                annot_kws={"fontsize": 8}, linewidths=0.5, linecolor="white",
                cbar_kws={"shrink": 0.6, "label": "correlation"})
    # The first row and the last column hold no pair: drop them.
    ax.set_ylim(len(columns), 1)
    ax.set_xlim(0, len(columns) - 1)
    ax.tick_params(labelsize=9 if len(columns) <= 20 else 7, length=0)
    ax.set_title(f"Correlation between attributes ({_source(data)})", fontsize=11)
    return _done(fig)


def plot_prevalence_by(data: CelebA, by: str = "Male", attributes: Sequence[str] | None = None,
                       *, published: bool = True) -> Figure:
    """Percent with each attribute among men and among women (or any ``by`` attribute).

    Args:
        data: The data set.
        by: The attribute to condition on (default ``Male``).
        attributes: Attributes to show (default: those of
            :data:`celeba_lab.data.CELEBA_PREVALENCE_BY_SEX`).
        published: With ``by="Male"``, mark real CelebA's published rates as black ticks.

    Returns:
        The figure.

    Raises:
        UnknownAttributeError: an attribute name is not one of the 40.

    Example:
        >>> fig = plot_prevalence_by(data, "Male")
        >>> fig.savefig("figure.png")
    """
    check_attribute(by)
    names = list(CELEBA_PREVALENCE_BY_SEX) if attributes is None else [
        check_attribute(a) for a in attributes]
    table = attribute_prevalence(data, by=by).loc[names]
    labels = {f"{by}=1": "male" if by == "Male" else f"{by}",
              f"{by}=0": "female" if by == "Male" else f"not {by}"}
    long = table.rename(columns=labels).reset_index(names="attribute").melt(
        id_vars="attribute", var_name="group", value_name="percent positive")
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(9, 4.8))
        sns.barplot(long, x="attribute", y="percent positive", hue="group", ax=ax,
                    palette="deep", hue_order=list(labels.values()))
        if published and by == "Male":
            ref = np.array([CELEBA_PREVALENCE_BY_SEX.get(a, (np.nan, np.nan)) for a in names])
            for offset, column in ((-0.2, 0), (0.2, 1)):
                ax.scatter(np.arange(len(names)) + offset, ref[:, column], marker="_", s=160,
                           color="black", zorder=3,
                           label="real CelebA (published)" if column == 0 else None)
        ax.set(ylim=(0, 100), xlabel="")
        ax.tick_params(axis="x", labelrotation=60, labelsize=8)
        ax.legend(title=None, fontsize=8)
        ax.set_title(f"Attributes among {labels[f'{by}=1']} and {labels[f'{by}=0']} images "
                     f"({_source(data)})")
    return _done(fig)


def plot_partition_sizes(data: CelebA) -> Figure:
    """Images per official partition, with their share beside real CelebA's.

    Args:
        data: The data set.

    Returns:
        The figure.

    Example:
        >>> fig = plot_partition_sizes(data)
        >>> fig.savefig("figure.png")
    """
    counts = data.partition.value_counts(sort=False).reindex(list(PARTITIONS), fill_value=0)
    real = pd.Series(PARTITION_SIZES)
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(6, 3.6))
        sns.barplot(x=list(PARTITIONS), y=counts.to_numpy(), ax=ax, color=_POSITIVE)
        for i, name in enumerate(PARTITIONS):
            ax.annotate(f"{counts[name]:,}\n{100 * counts[name] / counts.sum():.1f} % "
                        f"(real: {100 * real[name] / real.sum():.1f} %)",
                        (i, counts[name]), ha="center", va="bottom", fontsize=8)
        ax.set(ylim=(0, counts.max() * 1.3), ylabel="images",
               title=f"Official partitions of {_source(data)}")
    return _done(fig)


def plot_balanced_sample(sample: BalancedSample) -> Figure:
    """Positive and negative images in each split of a balanced sample.

    Args:
        sample: From :func:`celeba_lab.data.balanced_sample`.

    Returns:
        The figure: one pair of bars per split, each annotated with its count.

    Example:
        >>> fig = plot_balanced_sample(cl.balanced_sample(data, "Male", (300, 50, 50)))
        >>> fig.savefig("figure.png")
    """
    rows = []
    for split in PARTITIONS:
        labels = sample.split(split)
        rows += [(split, f"{sample.attribute} = 1", int((labels == 1).sum())),
                 (split, f"{sample.attribute} = 0", int((labels == 0).sum()))]
    table = pd.DataFrame(rows, columns=["split", "label", "images"])
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(6, 3.6))
        sns.barplot(table, x="split", y="images", hue="label", ax=ax,
                    palette=[_POSITIVE, _NEGATIVE])
        for container in ax.containers:
            ax.bar_label(container, fmt="{:,.0f}", fontsize=8)
        ax.set_ylim(0, table["images"].max() * 1.2)
        ax.legend(title=None, fontsize=8)
        ax.set_title(f"Balanced sample for {sample.attribute} (seed {sample.seed})")
    return _done(fig)


def plot_memory(streaming: pd.DataFrame, in_memory: pd.DataFrame, *,
                labels: tuple[str, str] = ("streamed batches (ImageBatches)",
                                           "all images in one float32 array")) -> Figure:
    """Resident memory as images are used: streamed from the cache vs held in RAM.

    Args:
        streaming: From :func:`celeba_lab.data.trace_streaming_memory`.
        in_memory: From :func:`celeba_lab.data.trace_in_memory_loading`.
        labels: Legend entries of the two traces.

    Returns:
        The figure: growth over each trace's first measurement (MiB); where the array held
        fewer images than were streamed, a dashed line projects its growth per image.

    Example:
        >>> fig = plot_memory(streaming, in_memory)  # chapter 6's two traces: # doctest: +SKIP
    """
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(7, 3.8))
        for trace, label, colour in ((streaming, labels[0], _POSITIVE),
                                     (in_memory, labels[1], _NEGATIVE)):
            growth = trace["rss_mib"] - trace["rss_mib"].iloc[0]
            ax.plot(trace["images"], growth, label=label, color=colour, lw=2)
        loaded, streamed = int(in_memory["images"].iloc[-1]), int(streaming["images"].iloc[-1])
        if 0 < loaded < streamed:
            per_image = (in_memory["rss_mib"].max() - in_memory["rss_mib"].iloc[0]) / loaded
            ax.plot([loaded, streamed], [per_image * loaded, per_image * streamed],
                    color=_NEGATIVE, lw=2, ls="--",
                    label=f"the same array for all {streamed:,} images (projected)")
        ax.set(xlabel="images used", ylabel="memory growth (MiB, RSS)",
               title="Memory while using the images")
        ax.legend(fontsize=8)
    return _done(fig)
