"""Figures of the 2-D toy GAN: its points over training, and its distance from the data.

Example:
    >>> from celeba_lab.toy import train_toy_gan, toy_collapse_table
    >>> run = train_toy_gan(steps=20, snapshots=2)
    >>> fig = plot_toy_snapshots({"plain": run})
    >>> fig = plot_toy_distance({"plain": toy_collapse_table(run)})
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

if TYPE_CHECKING:  # celeba_lab.toy needs Keras; importing cl.plots must not start it
    from ..toy import ToyRun

__all__ = ["plot_toy_snapshots", "plot_toy_distance"]


def plot_toy_snapshots(runs: Mapping[str, "ToyRun"], *, columns: Sequence[int] | None = None,
                       size: float = 2.1) -> Figure:
    """One row per run, one column per snapshot: generated points over the eight modes.

    Args:
        runs: Named :class:`~celeba_lab.toy.ToyRun` objects (rows, in order).
        columns: Snapshot indices to show (default: up to five, evenly spaced, the last too).
        size: Side of each panel in inches.

    Returns:
        The figure: each panel titled with its step and the modes its points cover (a quarter
        of a mode's fair share at least), each mode labelled with its count (red: not covered).

    Example:
        >>> from celeba_lab.toy import train_toy_gan
        >>> fig = plot_toy_snapshots({"plain": train_toy_gan(steps=20, snapshots=2)})
    """
    from matplotlib.patches import Circle

    from ..toy import MODE_REACH, mode_cells, ring_centres

    if columns is None:
        steps = len(next(iter(runs.values())).steps)
        columns = np.unique(np.linspace(0, steps - 1, min(5, steps)).round().astype(int)).tolist()
    fig = Figure(figsize=(size * len(columns) + 1.2, size * len(runs) + 0.5))
    axes = np.asarray(fig.subplots(len(runs), len(columns), squeeze=False))
    centres = ring_centres()
    for row, (name, run) in zip(axes, runs.items()):
        for ax, k in zip(row, columns):
            points = run.points[k]
            counts = mode_cells(points).value_counts()
            per_mode = [int(counts.get(f"mode {i}", 0)) for i in range(len(centres))]
            # Covered: a quarter of its fair share of the points (toy_collapse_table's rule).
            enough = 0.25 / len(centres) * len(points)
            modes = sum(n >= enough for n in per_mode)
            ax.scatter(*run.real[:500].T, s=2, c="0.75", label="real points")
            ax.scatter(*points[:1000].T, s=2, c="C3", alpha=0.5, label="generated points")
            for i, c in enumerate(centres):
                ax.add_patch(Circle(c, MODE_REACH, fill=False, lw=0.6, color="0.4"))
                covered = per_mode[i] >= enough
                ax.text(*(1.42 * c), f"{per_mode[i]}", ha="center", va="center", fontsize=7,
                        color="0.1" if covered else "C3",
                        fontweight="normal" if covered else "bold")
            ax.set(xlim=(-3.3, 3.3), ylim=(-3.3, 3.3), xticks=[], yticks=[], aspect="equal")
            # No thousands separator in a title this small: "5,000" reads as "5.000".
            step = f"{run.steps[k]:,}" if run.steps[k] >= 10_000 else str(run.steps[k])
            ax.set_title(f"step {step}: {modes} of {len(centres)} modes", fontsize=10)
        row[0].set_ylabel(name, fontsize=10)
    # Below the panels, where it covers no mode.
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=9,
               markerscale=4, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_toy_distance(tables: Mapping[str, pd.DataFrame], *,
                      figsize: tuple[float, float] = (9, 3.2)) -> Figure:
    """Modes covered (left) and total variation with its noise floor (right), over training.

    Args:
        tables: Named tables from :func:`~celeba_lab.toy.toy_collapse_table`.
        figsize: Figure size in inches.

    Returns:
        The figure.

    Example:
        >>> from celeba_lab.toy import train_toy_gan, toy_collapse_table
        >>> table = toy_collapse_table(train_toy_gan(steps=20, snapshots=2))
        >>> fig = plot_toy_distance({"plain": table})
    """
    fig = Figure(figsize=figsize)
    left, right = fig.subplots(1, 2)
    for i, (name, table) in enumerate(tables.items()):
        left.plot(table.index, table["modes covered"], "-o", ms=3, color=f"C{i}", label=name)
        right.plot(table.index, table["TV"], "-o", ms=3, color=f"C{i}", label=name)
    floor = float(next(iter(tables.values()))["noise floor"].iloc[0])
    right.axhline(floor, ls="--", color="0.4", label="noise floor")
    left.set(xlabel="training step", ylabel="modes covered", ylim=(-0.3, 8.5),
             yticks=range(0, 9, 2))
    right.set(xlabel="training step", ylabel="total variation from the data", ylim=(0, 1))
    for ax in (left, right):
        ax.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig
