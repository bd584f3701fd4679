"""Figures (and the architecture table) of the classifier chapters: faces, curves, confusion."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["architecture_table", "plot_labelled_faces", "plot_learning_curves",
           "plot_confusion_matrix", "plot_confusion_matrices", "plot_confident_errors",
           "plot_recipe_comparison"]


def _load_face(data, image_id: str) -> np.ndarray:
    from PIL import Image

    with Image.open(data.path(image_id)) as image:
        return np.asarray(image.convert("RGB"))


def architecture_table(trained_or_model) -> pd.DataFrame:
    """One row per layer: name, kind, output shape, parameters and activation.

    Args:
        trained_or_model: A Keras model or a :class:`~celeba_lab.classifiers.TrainedClassifier`.

    Returns:
        DataFrame indexed by layer name, with a last row ``total``.

    Example:
        >>> from celeba_lab.classifiers import report_classifier
        >>> int(architecture_table(report_classifier()).loc["total", "parameters"])
        623490
    """
    model = getattr(trained_or_model, "model", trained_or_model)
    rows = []
    for layer in model.layers:
        activation = getattr(layer, "activation", None)
        rows.append({"layer": layer.name, "kind": type(layer).__name__,
                     "output shape": " x ".join(str(s) for s in layer.output.shape[1:]),
                     "parameters": int(layer.count_params()),
                     "activation": getattr(activation, "__name__", "") if activation else ""})
    table = pd.DataFrame(rows).set_index("layer")
    table.loc["total"] = ["", "", int(table["parameters"].sum()), ""]
    table["parameters"] = table["parameters"].astype(int)
    return table


def plot_labelled_faces(data, labels: pd.Series, *, n: int = 8, attribute: str | None = None,
                        seed: int = 0) -> plt.Figure:
    """Faces of a labelled sample, half positive and half negative, titled with their label.

    Args:
        data: A :class:`~celeba_lab.data.CelebA`.
        labels: 0/1 labels indexed by image id (e.g. ``sample.train``).
        n: Number of faces (an even number works best).
        attribute: Name for the titles; default: ``labels.name``.
        seed: Which faces are drawn.

    Returns:
        A figure of up to ``n`` faces, eight per row, the positives first.

    Example:
        >>> sample = cl.balanced_sample(data, "Male", (300, 50, 50))
        >>> fig = plot_labelled_faces(data, sample.train, n=8)
    """
    attribute = attribute or labels.name or "attribute"
    rng = np.random.default_rng(seed)
    chosen = []
    for value, count in ((1, (n + 1) // 2), (0, n // 2)):
        ids = labels.index[labels.values == value]
        chosen += list(rng.choice(ids, size=min(count, len(ids)), replace=False))
    cols = min(len(chosen), 8) or 1
    rows = int(np.ceil(len(chosen) / cols)) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image_id in zip(axes.flat, chosen):
        ax.imshow(_load_face(data, image_id))
        positive = labels[image_id] == 1
        ax.set_title(f"{attribute}: {'yes' if positive else 'no'}", fontsize=9,
                     color="tab:blue" if positive else "tab:gray")
    fig.tight_layout()
    return fig


def plot_learning_curves(trained_or_history, *, title: str | None = None) -> plt.Figure:
    """Accuracy and loss per epoch, training vs validation, side by side.

    Args:
        trained_or_history: A :class:`~celeba_lab.classifiers.TrainedClassifier` or a history
            dict (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``).
        title: Figure title; default: the classifier's attribute and recipe when known.

    Returns:
        A figure with two panels, accuracy and loss against the epoch.

    Example:
        >>> fig = plot_learning_curves(cl.train_classifier("Male"))  # trains: # doctest: +SKIP
        >>> fig = plot_learning_curves({"loss": [0.7, 0.5], "accuracy": [0.6, 0.8]})
    """
    history = dict(getattr(trained_or_history, "history", trained_or_history))
    meta = getattr(trained_or_history, "metadata", {}) or {}
    if title is None and meta:
        title = f"{meta.get('attribute', '')} ({meta.get('recipe', '')} recipe)"
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, metric in zip(axes, ("accuracy", "loss")):
        for key, label, style in ((metric, "training", "-o"),
                                  (f"val_{metric}", "validation", "-s")):
            values = history.get(key, [])
            if values:
                ax.plot(np.arange(1, len(values) + 1), values, style, label=label, markersize=4)
        ax.set(xlabel="epoch", ylabel=metric)
        ax.grid(alpha=0.3)
        ax.legend()
        epochs = len(history.get(metric, []))
        if epochs:
            ax.set_xticks(np.arange(1, epochs + 1, max(1, epochs // 8)))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _draw_confusion(ax, evaluation, *, title: str | None = None, cbar: bool = False) -> None:
    import seaborn as sns

    counts = np.asarray(evaluation.confusion)
    shares = counts / max(counts.sum(), 1)
    annotations = np.array([[f"{c:,}\n({s:.1%})" for c, s in zip(row_c, row_s)]
                            for row_c, row_s in zip(counts, shares)])
    attribute = evaluation.attribute or "attribute"
    names = [f"not {attribute}", attribute]
    sns.heatmap(counts, annot=annotations, fmt="", cmap="Blues", cbar=cbar, ax=ax,
                xticklabels=names, yticklabels=names, square=True, linewidths=0.5,
                annot_kws={"fontsize": 10})
    ax.set(xlabel="predicted", ylabel="true")
    ax.set_title(title if title is not None else
                 f"{attribute}: {evaluation.split} (n = {evaluation.n:,})", fontsize=10)


def plot_confusion_matrix(evaluation, *, title: str | None = None) -> plt.Figure:
    """Confusion-matrix heatmap of one evaluation: counts and shares of all images.

    Args:
        evaluation: A :class:`~celeba_lab.evaluation.ClassifierEvaluation`.
        title: Default: attribute, split and number of images.

    Returns:
        A figure of the 2x2 heatmap, rows the true class, columns the predicted one.

    Example:
        >>> evaluation = cl.evaluate_balanced_test(male, data)  # a trained model: # doctest: +SKIP
        >>> fig = plot_confusion_matrix(evaluation)              # as above: # doctest: +SKIP
    """
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    _draw_confusion(ax, evaluation, title=title)
    fig.tight_layout()
    return fig


def plot_confusion_matrices(evaluations: Mapping[str, Any] | Sequence[Any], *,
                            title: str | None = None) -> plt.Figure:
    """Confusion matrices side by side, e.g. one per attribute.

    Args:
        evaluations: ``{panel title: evaluation}``, or a list of evaluations (titled by attribute).
        title: Figure title.

    Returns:
        A figure with one heatmap per evaluation, each titled with its accuracy.

    Example:
        >>> fig = plot_confusion_matrices(
        ...     {a: evaluate_balanced_test(c, data) for a, c in classifiers.items()},
        ...     title="Balanced test samples")    # needs trained models: # doctest: +SKIP
    """
    items = (list(evaluations.items()) if isinstance(evaluations, Mapping)
             else [(e.attribute, e) for e in evaluations])
    fig, axes = plt.subplots(1, len(items), figsize=(4.0 * len(items), 3.9), squeeze=False)
    for ax, (name, evaluation) in zip(axes.flat, items):
        _draw_confusion(ax, evaluation,
                        title=f"{name}: accuracy {evaluation.metrics['accuracy']:.3f}")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confident_errors(evaluation, data, *, n: int = 8, cols: int = 8) -> plt.Figure:
    """The wrongly classified faces the classifier was most confident about, with scores.

    Args:
        evaluation: A :class:`~celeba_lab.evaluation.ClassifierEvaluation` on CelebA images.
        data: The :class:`~celeba_lab.data.CelebA` the images come from.
        n: Number of faces.
        cols: Faces per row.

    Returns:
        A figure of the faces, titled with true label and score (or saying there is no error).

    Example:
        >>> evaluation = cl.evaluate_balanced_test(male, data)  # a trained model: # doctest: +SKIP
        >>> fig = plot_confident_errors(evaluation, data)        # as above: # doctest: +SKIP
    """
    errors = evaluation.confident_errors(n)
    attribute = evaluation.attribute or "attribute"
    if errors.empty:
        fig, ax = plt.subplots(figsize=(5, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, f"No errors: every {evaluation.split} image is classified correctly.",
                ha="center", va="center")
        return fig
    cols = min(cols, len(errors))
    rows = int(np.ceil(len(errors) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 2.45 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (image_id, row) in zip(axes.flat, errors.iterrows()):
        ax.imshow(_load_face(data, image_id))
        truth = "yes" if row["label"] == 1 else "no"
        ax.set_title(f"true: {truth}\nP({attribute}) = {row['score']:.2f}", fontsize=8.5,
                     color="tab:red")
    fig.suptitle(f"Most confident mistakes, {attribute} ({evaluation.split})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_recipe_comparison(table: pd.DataFrame, *, metric: str = "balanced_accuracy",
                           baseline: pd.Series | None = None) -> plt.Figure:
    """Grouped bars of one metric per attribute for several models (columns of ``table``).

    Args:
        table: DataFrame indexed by attribute, one column per model, values of ``metric``.
        metric: Name for the axis label.
        baseline: Per-attribute value drawn as a dashed mark (e.g. majority baseline or chance).

    Returns:
        A bar chart, one group per attribute, each bar labelled with its value.

    Example:
        >>> import pandas as pd
        >>> table = pd.DataFrame({"report": [0.93, 0.97], "improved": [0.95, 0.98]},
        ...                      index=["Male", "Eyeglasses"])
        >>> fig = plot_recipe_comparison(table, metric="accuracy")
    """
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    x = np.arange(len(table.index))
    width = 0.8 / max(len(table.columns), 1)
    for i, column in enumerate(table.columns):
        bars = ax.bar(x + (i - (len(table.columns) - 1) / 2) * width, table[column], width,
                      label=column)
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
    if baseline is not None:
        for xi, attribute in zip(x, table.index):
            ax.hlines(baseline[attribute], xi - 0.45, xi + 0.45, colors="black",
                      linestyles="dashed", label="baseline" if xi == 0 else None)
    ax.set_xticks(x, table.index)
    ax.set(ylabel=metric.replace("_", " "), ylim=(0, 1.08))
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
