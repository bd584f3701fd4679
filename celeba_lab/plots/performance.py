"""Figures of the performance appendix: data throughput, memory, training speed, projections.

Each draws benchmark rows (``bench/results/*.json``) into a Figure already closed in pyplot.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

__all__ = ["plot_data_throughput", "plot_data_memory", "plot_training_speed",
           "plot_recipe_projection", "plot_chapter_memory"]

#: How each way of preparing images is named in the figures.
WAY_LABELS: dict[str, str] = {"package": "celeba_lab: disk cache, streamed",
                              "keras": "Keras image_dataset_from_directory",
                              "numpy": "the report: one array in RAM"}

_TARGET_LABELS = {"gan": "GAN input, 64 x 64", "classifier": "classifier input, 218 x 178"}
_COLOURS = dict(zip(WAY_LABELS, sns.color_palette("deep")))


def _done(fig: Figure, **layout) -> Figure:
    fig.tight_layout(**layout)
    plt.close(fig)  # the caller displays it; pyplot must not show it a second time
    return fig


def _measured(rows: Sequence[Mapping[str, Any]], target: str) -> list[Mapping[str, Any]]:
    return [r for r in rows if r["target"] == target and not r.get("skipped")]


def _targets(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return [t for t in _TARGET_LABELS if any(r["target"] == t for r in rows)]


def plot_data_throughput(rows: Sequence[Mapping[str, Any]], target: str | None = None) -> Figure:
    """Images per second of each way, first (cold) and second (warm) epoch, for every N.

    Args:
        rows: The data benchmark's rows (``data.json``: ``n``, ``target``, ``variant``,
            ``epoch1_images_per_s``, ``epoch2_images_per_s``; skipped runs are left out).
        target: ``"gan"`` or ``"classifier"``; default: one row of panels per input measured.

    Returns:
        Panels for the cold and the warm epoch, grouped bars per N, on a log scale; a way not
        run at some N is marked "not run"; one legend under the panels.

    Raises:
        ValueError: No measured row (for ``target``).

    Example:
        >>> import json
        >>> rows = json.load(open("bench/results/data.json"))  # repository file: # doctest: +SKIP
        >>> fig = plot_data_throughput(rows, target="gan")    # as above: # doctest: +SKIP
    """
    targets = [target] if target else [t for t in _targets(rows) if _measured(rows, t)]
    if not targets or not all(_measured(rows, t) for t in targets):
        raise ValueError(f"No measured data-benchmark rows for {target or 'any input'!r}.")
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(len(targets), 2, figsize=(7.5, 0.6 + 2.9 * len(targets)),
                                 sharey="row", squeeze=False)
        ways = [w for w in WAY_LABELS if any(r["variant"] == w for r in rows
                                                 if r["target"] in targets)]
        for row_axes, name in zip(axes, targets):
            measured = _measured(rows, name)
            sizes = sorted({r["n"] for r in rows if r["target"] == name})
            width = 0.8 / len(ways)
            for ax, epoch, title in zip(row_axes, (1, 2), ("first epoch (cold)",
                                                           "second epoch (warm)")):
                for i, way in enumerate(ways):
                    x = np.arange(len(sizes)) + (i - (len(ways) - 1) / 2) * width
                    values = [next((r[f"epoch{epoch}_images_per_s"] for r in measured
                                    if r["n"] == n and r["variant"] == way), np.nan)
                              for n in sizes]
                    ax.bar(x, values, width, label=WAY_LABELS[way], color=_COLOURS[way])
                    for xi, value in zip(x, values):
                        if np.isnan(value):  # a way that was not run at this N says so
                            ax.text(xi, 0.03, "not run", rotation=90, ha="center", va="bottom",
                                    fontsize=8, color="0.35", transform=ax.get_xaxis_transform())
                ax.set_xticks(np.arange(len(sizes)), [f"{n:,}" for n in sizes])
                ax.tick_params(labelsize=9)
                ax.set_yscale("log")
                ax.set_title(f"{_TARGET_LABELS[name]}\n{title}", fontsize=10)
            row_axes[0].set_ylabel("images per second", fontsize=9)
        for ax in axes[-1]:
            ax.set_xlabel("images N", fontsize=9)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=1, fontsize=9, frameon=False)
        legend_inches = 0.1 + 0.2 * len(ways)
    return _done(fig, rect=(0, legend_inches / fig.get_figheight(), 1, 1))


def plot_data_memory(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Peak memory each way adds as N grows, one panel per input.

    Args:
        rows: Data-benchmark rows (``delta_rss_mib``: peak RSS added; skipped: ``needed_gib``).

    Returns:
        A log-log figure of memory added (MiB) against N: measured points filled, skipped
        runs hollow at the memory they would need (computed, not measured).

    Raises:
        ValueError: No row for any known input (``"gan"`` or ``"classifier"``).

    Example:
        >>> fig = plot_data_memory([
        ...     {"target": "gan", "variant": "package", "n": 1000, "delta_rss_mib": 40.0},
        ...     {"target": "gan", "variant": "numpy", "n": 1000, "delta_rss_mib": 50.0},
        ...     {"target": "gan", "variant": "numpy", "n": 200000, "skipped": True,
        ...      "needed_gib": 9.2}])
    """
    targets = _targets(rows)
    if not targets:
        raise ValueError("No data-benchmark rows to draw.")
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, len(targets), figsize=(5 * len(targets), 3.8), squeeze=False)
        for ax, target in zip(axes[0], targets):
            for way in WAY_LABELS:
                mine = sorted((r for r in rows if r["target"] == target and r["variant"] == way),
                              key=lambda r: r["n"])
                done = [r for r in mine if not r.get("skipped")]
                if done:
                    ax.plot([r["n"] for r in done], [max(r["delta_rss_mib"], 1) for r in done],
                            "o-", color=_COLOURS[way], label=WAY_LABELS[way])
                skipped = [r for r in mine if r.get("skipped") and "needed_gib" in r]
                if skipped:
                    ax.plot([r["n"] for r in skipped], [r["needed_gib"] * 1024 for r in skipped],
                            "o", mfc="none", color=_COLOURS[way], ls="none",
                            label=f"{WAY_LABELS[way]}: would need (computed, not run)")
            ax.set(xscale="log", yscale="log", xlabel="images N (log scale)",
                   title=_TARGET_LABELS[target])
        axes[0][0].set_ylabel("peak memory added (MiB, log scale)")
        axes[0][-1].legend(fontsize=7, loc="upper left")
    return _done(fig)


def plot_training_speed(ratios: Sequence[Mapping[str, Any]]) -> Figure:
    """Training steps per second of each variant beside its baseline, one panel per model.

    Args:
        ratios: The training benchmark's ratio rows (``model``, ``variant``, ``baseline``,
            ``steps_per_s``, ``baseline_steps_per_s``, ``ratio``).

    Returns:
        Horizontal bars (the baseline grey), each labelled with its ratio to the baseline.

    Raises:
        ValueError: No row for a known model (``"gan"`` or ``"classifier"``).

    Example:
        >>> fig = plot_training_speed([
        ...     {"model": "gan", "variant": "mixed precision", "baseline": "float32",
        ...      "steps_per_s": 30.0, "baseline_steps_per_s": 20.0, "ratio": 1.5}])
    """
    models = [m for m in ("gan", "classifier") if any(r["model"] == m for r in ratios)]
    if not models:
        raise ValueError("No training-benchmark rows to draw.")
    titles = {"gan": "the report's DCGAN, batches of 32",
              "classifier": "the report's classifier, batches of 50"}
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(len(models), 1, figsize=(9, 1.2 + 0.55 * len(ratios)),
                                 squeeze=False)
        for ax, model in zip(axes[:, 0], models):
            mine = [r for r in ratios if r["model"] == model]
            labels = [mine[0]["baseline"] + " (baseline)"] + [r["variant"] for r in mine]
            values = [mine[0]["baseline_steps_per_s"]] + [r["steps_per_s"] for r in mine]
            notes = ["1.00"] + [f"{r['ratio']:.2f}" for r in mine]
            colours = ["0.6"] + [sns.color_palette("deep")[0]] * len(mine)
            y = np.arange(len(labels))[::-1]
            ax.barh(y, values, color=colours)
            for yi, value, note in zip(y, values, notes):
                ax.text(value, yi, f"  x{note}", va="center", fontsize=8)
            ax.set_yticks(y, labels, fontsize=8)
            ax.set(xlim=(0, max(values) * 1.25), xlabel="training steps per second")
            ax.set_title(titles[model], fontsize=10)
    return _done(fig)


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def plot_recipe_projection(rows: Sequence[Mapping[str, Any]], *, goal_s: float = 15 * 60
                           ) -> Figure:
    """The report's 30-epoch GAN: its six hours beside the projections from measured rates.

    Args:
        rows: ``label``, ``gan_s`` (seconds) and ``kind`` (``"report"``, ``"cpu"``, ``"gpu"``).
        goal_s: The goal, drawn as a vertical line (default 15 minutes).

    Returns:
        Horizontal bars on a log scale of hours.

    Raises:
        ValueError: No row with a finite ``gan_s``.

    Example:
        >>> fig = plot_recipe_projection([
        ...     {"label": "the report (Colab GPU)", "gan_s": 6 * 3600, "kind": "report"},
        ...     {"label": "this build, GPU", "gan_s": 12 * 60, "kind": "gpu"}])
    """
    rows = [r for r in rows if r.get("gan_s") and math.isfinite(r["gan_s"])]
    if not rows:
        raise ValueError("No projections to draw.")
    palette = {"report": "0.5", "cpu": sns.color_palette("deep")[1],
               "gpu": sns.color_palette("deep")[2]}
    with sns.axes_style("whitegrid"):
        # Sized to be shown at the text column's width with labels of 10 points: pass the
        # rows a reader can compare (bench.report.fastest_projections), not every variant.
        fig, ax = plt.subplots(figsize=(8, 1.6 + 0.5 * len(rows)))
        y = np.arange(len(rows))[::-1]
        hours = [r["gan_s"] / 3600 for r in rows]
        ax.barh(y, hours, color=[palette.get(r.get("kind"), "0.3") for r in rows])
        ax.set_yticks(y, [r["label"] for r in rows], fontsize=10)
        ax.set(xscale="log", ylim=(-0.7, y.max() + 1.2),
               xlabel="hours for 30 epochs over 202,599 images (log scale)")
        ax.axvline(goal_s / 3600, color="k", ls="--", lw=1)
        ax.text(goal_s / 3600, y.max() + 0.6, f" goal: {goal_s / 60:.0f} min", fontsize=8,
                va="bottom")
        for yi, h in zip(y, hours):
            ax.text(h, yi, f" {_duration(h * 3600)}", va="center", fontsize=7)
        ax.set_xlim(right=max(hours) * 8)
    return _done(fig)


def plot_chapter_memory(rows: Sequence[Mapping[str, Any]], *, limit_gib: float = 12.7) -> Figure:
    """Each chapter's peak memory on the full data set, against a RAM limit.

    Args:
        rows: ``bench/results/chapter_memory.json``'s rows (``chapter``, ``peak_anon_mib``,
            ``peak_rss_mib``, ``ok``).
        limit_gib: The RAM to draw as the limit (Colab's free tier: 12.7 GiB).

    Returns:
        A horizontal bar chart in GiB, one row per chapter with two bars: anonymous memory
        (arrays and buffers, which the system cannot drop) and resident memory (which also
        counts memory-mapped cache pages, dropped when short); a chapter that failed, or was
        stopped before its end (``stopped_early``), is marked.

    Raises:
        ValueError: No rows.

    Example:
        >>> fig = plot_chapter_memory([{"chapter": "01_data", "peak_anon_mib": 900.0,
        ...                             "peak_rss_mib": 1400.0, "ok": True}])
    """
    if not rows:
        raise ValueError("No chapter-memory rows to draw.")
    names = [r["chapter"].replace("_", " ") + ("" if r.get("ok", True) else
             " (stopped early)" if r.get("stopped_early") else " (failed)") for r in rows]
    y = np.arange(len(rows))
    palette = sns.color_palette("deep")
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(7, 0.55 * len(rows) + 1.4))
        for offset, key, label, colour in (
                (-0.2, "peak_anon_mib", "anonymous (arrays, buffers)", palette[0]),
                (0.2, "peak_rss_mib", "resident, with mapped caches", palette[7])):
            values = [r[key] / 1024 for r in rows]
            ax.barh(y + offset, values, height=0.4, color=colour, label=label)
            for yi, value in zip(y + offset, values):
                ax.text(value + limit_gib * 0.01, yi, f"{value:.1f}", va="center", fontsize=8)
        ax.axvline(limit_gib, color="#c44e52", ls="--", lw=1.5)
        ax.text(limit_gib, -0.75, f"Colab's RAM, {limit_gib:g} GiB ", color="#c44e52",
                fontsize=8, va="center", ha="right")
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set(xlim=(0, limit_gib * 1.12), ylim=(len(rows) - 0.4, -1.1),
               xlabel="peak memory (GiB)")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
                  frameon=False)
    return _done(fig)
