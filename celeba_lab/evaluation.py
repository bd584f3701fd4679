"""Measuring a classifier: the metrics of the report's table and the two test sets.

The report's accuracy, precision, recall and F1 (:func:`classification_metrics`) on the
balanced test sample (:func:`evaluate_balanced_test`) or CelebA's imbalanced test split
(:func:`evaluate_natural_test`), beside the report's (:func:`report_comparison`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import config
from ._checks import whole_number
from .attributes import REPORT_ATTRIBUTES
from .classifier_runs import _expected_shape
from .classifiers import TrainedClassifier, check_trained, model_of, predict_scores
from .batches import classifier_batches
from .collapse.bootstrap import Estimate

__all__ = [
    "REPORT_RESULTS", "REPORT_SETTINGS", "REPORT_METRICS", "ClassifierEvaluation",
    "classification_metrics", "majority_baseline", "evaluate_classifier", "evaluate_balanced_test",
    "evaluate_natural_test", "report_comparison", "accuracy_interval",
]

#: The source report's results on its balanced 1,000-image test samples (real CelebA);
#: precision, recall and F1 weighted by support (on a 50/50 test set, the plain mean).
REPORT_RESULTS: dict[str, dict[str, float]] = {
    "Male": {"accuracy": 0.946, "precision": 0.946, "recall": 0.946, "f1": 0.945},
    "Eyeglasses": {"accuracy": 0.980, "precision": 0.980, "recall": 0.980, "f1": 0.980},
    "Smiling": {"accuracy": 0.883, "precision": 0.884, "recall": 0.883, "f1": 0.882},
}

#: How the report's numbers were obtained, for the column heading of comparison tables.
REPORT_SETTINGS: dict[str, Any] = {
    "data_source": "real CelebA", "sizes": (10_000, 2_000, 1_000), "epochs": 15,
    "batch_size": 50,
}

#: The four metrics of the report's table, in its order.
REPORT_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1")


# Metrics ------------------------------------------------------------------------------------

def confusion_matrix(y_true, y_pred) -> np.ndarray:
    """2x2 counts: rows the true class (0, 1), columns the predicted class (0, 1).

    Args:
        y_true: True 0/1 labels (any array-like; flattened).
        y_pred: Predicted 0/1 labels, as many as ``y_true``.

    Returns:
        int64 array (2, 2): ``[[tn, fp], [fn, tp]]``.

    Raises:
        ValueError: ``y_true`` and ``y_pred`` differ in length, or a label is not 0 or 1.

    Example:
        >>> confusion_matrix([0, 1, 1, 0], [0, 1, 0, 0]).tolist()
        [[2, 0], [1, 1]]
    """
    y_true, y_pred = _binary(y_true), _binary(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}.")
    matrix = np.zeros((2, 2), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _binary(labels) -> np.ndarray:
    """0/1 labels as int, refusing anything else (0.7 is not truncated to 0)."""
    values = np.asarray(labels).ravel()
    bad = sorted(set(np.unique(values).tolist()) - {0, 1})
    if bad:
        raise ValueError(f"Labels must be 0 or 1; got also {bad[:5]}.")
    return values.astype(int)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def classification_metrics(y_true, y_pred) -> dict[str, float]:
    """Binary classification metrics from 0/1 labels and 0/1 predictions.

    ``precision``, ``recall`` and ``f1`` are averaged over both classes
    weighted by their support, as in the report's table (scikit-learn's
    ``average="weighted"``). ``*_positive`` are the positive class's own.
    ``balanced_accuracy`` is the mean of both classes' recalls, 0.5 for any
    constant answer. A ratio with a zero denominator counts as 0.

    Args:
        y_true: True 0/1 labels (any array-like).
        y_pred: Predicted 0/1 labels, as many as ``y_true``.

    Returns:
        A dict of floats: accuracy, precision, recall, f1,
        precision_positive, recall_positive, f1_positive, specificity,
        balanced_accuracy, majority_baseline, positive_share, n.

    Raises:
        ValueError: lengths differ, or a label is not 0 or 1.

    Example:
        >>> m = classification_metrics([0, 1, 1, 0], [0, 1, 0, 0])
        >>> m["accuracy"], m["recall_positive"], m["specificity"]
        (0.75, 0.5, 1.0)
    """
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
    n = tn + fp + fn + tp
    per_class = {}
    for cls, (t, f_pos, f_neg) in {1: (tp, fp, fn), 0: (tn, fn, fp)}.items():
        precision = _ratio(t, t + f_pos)
        recall = _ratio(t, t + f_neg)
        f1 = _ratio(2 * precision * recall, precision + recall)
        per_class[cls] = (precision, recall, f1, t + f_neg)  # ..., support
    weighted = [sum(per_class[c][i] * per_class[c][3] for c in (0, 1)) / n
                if n else 0.0 for i in range(3)]
    positives = tp + fn
    return {
        "accuracy": _ratio(tp + tn, n),
        "precision": float(weighted[0]),
        "recall": float(weighted[1]),
        "f1": float(weighted[2]),
        "precision_positive": per_class[1][0],
        "recall_positive": per_class[1][1],
        "f1_positive": per_class[1][2],
        "specificity": per_class[0][1],
        "balanced_accuracy": (per_class[1][1] + per_class[0][1]) / 2,
        "majority_baseline": _ratio(max(positives, n - positives), n),
        "positive_share": _ratio(positives, n),
        "n": float(n),
    }


def accuracy_interval(accuracy: float, n: int, *, level: float = 0.95) -> Estimate:
    """The Wilson score interval of an accuracy measured on ``n`` images.

    Near 0.9 on 100 images the 95 % interval spans about +/-6 points. Unlike a bootstrap of
    the images, Wilson's interval stays honest at an accuracy of 0 or 1.

    Args:
        accuracy: The share of correct answers, in [0, 1].
        n: The number of images it was measured on.
        level: Confidence level in (0, 1).

    Returns:
        A :class:`celeba_lab.collapse.bootstrap.Estimate`; ``str()`` prints
        ``0.900 [0.826, 0.945]``.

    Raises:
        ValueError: ``accuracy`` outside [0, 1], ``n`` not a whole number of at least 1, or
            ``level`` outside (0, 1).

    Example:
        >>> print(accuracy_interval(0.9, 100))
        0.900 [0.826, 0.945]
        >>> round(accuracy_interval(1.0, 100).low, 3)
        0.963
    """
    from statistics import NormalDist

    n = whole_number("n", n)
    if not 0 <= float(accuracy) <= 1:
        raise ValueError(f"accuracy must lie in [0, 1], got {accuracy}.")
    if not 0 < level < 1:
        raise ValueError(f"level must lie between 0 and 1 (e.g. 0.95), got {level}.")
    p, z = float(accuracy), NormalDist().inv_cdf((1 + level) / 2)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Estimate(p, max(0.0, float(centre - half)), min(1.0, float(centre + half)), level)


def majority_baseline(labels) -> float:
    """Accuracy of always answering the more frequent class of ``labels`` (0/1).

    Args:
        labels: 0/1 labels (any array-like).

    Returns:
        The share of the more frequent class, between 0.5 and 1.

    Raises:
        ValueError: ``labels`` is empty.

    Example:
        >>> majority_baseline([1, 1, 0, 1])
        0.75
    """
    labels = np.asarray(labels).astype(int).ravel()
    if labels.size == 0:
        raise ValueError("No labels: the majority baseline of an empty set is undefined.")
    share = labels.mean()
    return float(max(share, 1 - share))


@dataclass
class ClassifierEvaluation:
    """A classifier's results on one labelled set of images.

    Attributes:
        attribute: The attribute predicted.
        split: What the images were, e.g. ``"balanced test sample"``.
        metrics: :func:`classification_metrics` of the thresholded scores.
        confusion: :func:`confusion_matrix` of the thresholded scores.
        scores: Probability of the positive class per image (index: image ids).
        labels: True 0/1 labels (same index).
        threshold: Score from which an image is called positive.
        metadata: The classifier's metadata (recipe, data source, sizes, epochs).
    """

    attribute: str | None
    split: str
    metrics: dict[str, float]
    confusion: np.ndarray
    scores: pd.Series
    labels: pd.Series
    threshold: float = 0.5
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def predictions(self) -> pd.Series:
        """0/1 predictions (score >= threshold)."""
        return (self.scores >= self.threshold).astype(int)

    @property
    def n(self) -> int:
        """Number of images evaluated."""
        return int(len(self.labels))

    def summary(self, metrics: Sequence[str] = ("accuracy", "precision", "recall", "f1",
                                                  "balanced_accuracy", "majority_baseline")
                ) -> pd.Series:
        """Selected metrics as a Series named after the attribute."""
        return pd.Series({m: self.metrics[m] for m in metrics}, name=self.attribute)

    def confident_errors(self, n: int = 12) -> pd.DataFrame:
        """The ``n`` wrongly classified images the classifier was surest about.

        Returns:
            DataFrame indexed by image id with ``label``, ``score`` and ``confidence`` (the
            probability it gave to the wrong class), most confident first.
        """
        wrong = self.predictions != self.labels
        confidence = np.where(self.labels == 1, 1 - self.scores, self.scores)
        table = pd.DataFrame({"label": self.labels, "score": self.scores,
                              "confidence": confidence})[wrong]
        return table.sort_values("confidence", ascending=False).head(n)


def evaluate_classifier(
    trained_or_model,
    data,
    labels,
    *,
    attribute: str | None = None,
    split: str = "test",
    threshold: float = 0.5,
    batch_size: int = 50,
) -> ClassifierEvaluation:
    """Score labelled images and compute :func:`classification_metrics`.

    Args:
        trained_or_model: A :class:`~celeba_lab.classifiers.TrainedClassifier` or a Keras model.
        data: A :class:`~celeba_lab.data.CelebA`, or an image array (N, H, W, 3).
        labels: The true 0/1 labels: for a CelebA, a Series indexed by image id (e.g.
            ``data.labels("Male", data.split("test"))``); for an array, N values.
        attribute: Name for the tables; default: the classifier's metadata, or the Series' name.
        split: What the images are, for tables and figures.
        threshold: Score from which an image counts as positive.
        batch_size: Images per prediction batch.

    Returns:
        A :class:`ClassifierEvaluation`.

    Raises:
        NotTrainedError: the model was never trained.
        InputShapeError: the images do not match the model's input.
        ValueError: images and ``labels`` differ in length, a label is not 0 or 1, or
            ``labels`` is named after another attribute (and ``attribute`` is not given).

    Example:
        >>> male = cl.train_classifier("Male", data, sizes=(20, 4, 4), epochs=1,
        ...                            image_size=(32, 32), verbose=0)   # seconds, 32 x 32
        >>> test = data.labels("Male", data.split("test")[:40])
        >>> evaluation = evaluate_classifier(male, data, test)
        >>> (evaluation.attribute, evaluation.n, int(evaluation.confusion.sum()),
        ...  0 <= evaluation.metrics["balanced_accuracy"] <= 1)
        ('Male', 40, 40, True)
    """
    model = model_of(trained_or_model)
    check_trained(model)
    metadata = dict(getattr(trained_or_model, "metadata", {}) or {})
    attribute = attribute or _attribute_of(metadata, labels)
    if isinstance(data, np.ndarray):
        labels = pd.Series(_binary(labels), name=attribute)
        if len(labels) != len(data):
            raise ValueError(f"{len(data)} images but {len(labels)} labels.")
        scores = predict_scores(model, data, batch_size=batch_size, require_trained=False)
    else:
        labels = pd.Series(labels)
        labels = pd.Series(_binary(labels), index=labels.index, name=labels.name)
        height, width = _expected_shape(model)[:2]
        batches = classifier_batches(data, labels, batch_size=batch_size, shuffle=False,
                                     size=(height, width))
        scores = predict_scores(model, batches, require_trained=False)
    scores = pd.Series(scores, index=labels.index, name="score")
    predictions = (scores >= threshold).astype(int)
    return ClassifierEvaluation(
        attribute=attribute, split=split,
        metrics=classification_metrics(labels.values, predictions.values),
        confusion=confusion_matrix(labels.values, predictions.values),
        scores=scores, labels=labels.rename("label"), threshold=threshold, metadata=metadata)


def _attribute_of(metadata: Mapping[str, Any], labels) -> str | None:
    """The classifier's attribute, refusing labels named after another one."""
    own, named = metadata.get("attribute"), getattr(labels, "name", None)
    if own and named and str(named) != own:
        raise ValueError(
            f"The labels are for {named!r} but the classifier predicts {own!r}. Pass its own "
            f"labels (data.labels({own!r}, ids)), or attribute={named!r} to evaluate it on "
            "these labels knowingly.")
    return own or named


def evaluate_balanced_test(trained: TrainedClassifier, data, *, sample=None,
                           batch_size: int = 50) -> ClassifierEvaluation:
    """Evaluate on the balanced (50/50) test sample, like the report's table.

    Args:
        trained: A :class:`~celeba_lab.classifiers.TrainedClassifier`.
        data: The :class:`~celeba_lab.data.CelebA` it was trained on.
        sample: The balanced sample whose test part to use; default: the classifier's own.
            Pass another classifier's to compare two recipes on the same images.
        batch_size: Images per prediction batch.

    Returns:
        A :class:`ClassifierEvaluation` with split ``"balanced test sample"``.

    Raises:
        NotTrainedError: the model was never trained.
        InputShapeError: the images do not match the model's input.

    Example:
        >>> male = cl.train_classifier("Male", data, sizes=(20, 4, 4), epochs=1,
        ...                            image_size=(32, 32), verbose=0)   # seconds, 32 x 32
        >>> balanced = evaluate_balanced_test(male, data)
        >>> balanced.split, balanced.n, balanced.metrics["majority_baseline"]
        ('balanced test sample', 4, 0.5)
    """
    sample = sample if sample is not None else trained.sample(data)
    return evaluate_classifier(trained, data, sample.test, attribute=sample.attribute,
                               split="balanced test sample", batch_size=batch_size)


def evaluate_natural_test(trained, data, attribute: str | None = None, *,
                          max_images: int | None = None, seed: int = 0,
                          batch_size: int = 50) -> ClassifierEvaluation:
    """Evaluate on the official test split as it is, with its natural class imbalance.

    Always answering the majority class already scores its share (61.35 / 93.54 / 50.03 % for
    Male / Eyeglasses / Smiling on real CelebA): read ``metrics["balanced_accuracy"]`` too.

    Args:
        trained: A :class:`~celeba_lab.classifiers.TrainedClassifier`, or a model with
            ``attribute`` given.
        data: A :class:`~celeba_lab.data.CelebA`.
        attribute: Default: the classifier's.
        max_images: Size of a random subset of the test images; default: the run profile's
            ``natural_test_images`` (``None``: all of them).
        seed: Seed of that subset.
        batch_size: Images per prediction batch.

    Returns:
        A :class:`ClassifierEvaluation` with split ``"natural test split"``.

    Raises:
        ValueError: no ``attribute`` given and ``trained`` does not know its own.
        NotTrainedError: the model was never trained.
        InputShapeError: the images do not match the model's input.

    Example:
        >>> male = cl.train_classifier("Male", data, sizes=(20, 4, 4), epochs=1,
        ...                            image_size=(32, 32), verbose=0)   # seconds, 32 x 32
        >>> natural = evaluate_natural_test(male, data, max_images=100)
        >>> natural.split, natural.n, natural.metrics["majority_baseline"] > 0.5  # not 50/50
        ('natural test split', 100, True)
    """
    attribute = attribute or getattr(trained, "attribute", None)
    if attribute is None:
        raise ValueError("Say which attribute the model predicts: evaluate_natural_test("
                         "model, data, attribute='Male').")
    max_images = max_images or config.get_profile().natural_test_images
    ids = data.split("test")
    if max_images and len(ids) > max_images:
        rng = np.random.default_rng(seed)
        ids = ids[np.sort(rng.choice(len(ids), size=max_images, replace=False))]
    return evaluate_classifier(trained, data, data.labels(attribute, ids), attribute=attribute,
                               split="natural test split", batch_size=batch_size)


# Side by side with the report ---------------------------------------------------------------

def _column_label(name: str, metadata: Mapping[str, Any]) -> str:
    source = metadata.get("data_source", "?")
    sizes = "/".join(f"{int(s):,}" for s in metadata["sizes"]) if metadata.get("sizes") else "?"
    return f"{name} ({source}; {sizes} images; {metadata.get('epochs', '?')} epochs)"


def report_comparison(
    evaluations: Mapping[str, Any],
    *,
    metrics: Sequence[str] = REPORT_METRICS,
    intervals: bool = False,
) -> pd.DataFrame:
    """The report's table beside this build's, metric by metric, naming each data source.

    Args:
        evaluations: ``{attribute: ClassifierEvaluation}`` (on the balanced test samples) for
            one build, or ``{column name: {attribute: ClassifierEvaluation}}`` for several.
        metrics: Metrics to list (default: the report's four).
        intervals: Give every accuracy its 95 % interval (:func:`accuracy_interval` over the
            report's 1,000 test images, each build's own) and every number as text.

    Returns:
        DataFrame indexed by (attribute, metric), one column for the report and one per build,
        each heading naming the data source, sample sizes and epochs.

    Example:
        >>> balanced = {a: evaluate_balanced_test(cl.train_classifier(
        ...     a, data, sizes=(20, 4, 4), epochs=1, image_size=(32, 32), verbose=0), data)
        ...     for a in ("Male", "Smiling")}                           # seconds, 32 x 32
        >>> table = report_comparison(balanced)
        >>> list(table.columns)
        ['report (real CelebA; 10,000/2,000/1,000 images; 15 epochs)',
         'this build (synthetic CelebA; 20/4/4 images; 1 epochs)']
        >>> float(table.loc[("Smiling", "precision")].iloc[0])
        0.884
        >>> report_comparison(balanced, intervals=True).loc[("Smiling", "accuracy")].iloc[0]
        '0.883 [0.862, 0.901]'
    """
    first = next(iter(evaluations.values()), None)
    builds = ({"this build": evaluations} if isinstance(first, ClassifierEvaluation)
              else dict(evaluations))
    attributes = [a for a in REPORT_ATTRIBUTES if any(a in e for e in builds.values())]
    attributes += sorted({a for e in builds.values() for a in e} - set(attributes))
    index = pd.MultiIndex.from_product([attributes, list(metrics)],
                                       names=["attribute", "metric"])
    report_label = _column_label("report", REPORT_SETTINGS)
    table = pd.DataFrame(index=index)
    table[report_label] = [REPORT_RESULTS.get(a, {}).get(m, np.nan) for a, m in index]
    for name, by_attribute in builds.items():
        meta = next(iter(by_attribute.values())).metadata
        table[_column_label(name, meta)] = [
            by_attribute[a].metrics[m] if a in by_attribute else np.nan for a, m in index]
    if intervals:
        sizes = [int(REPORT_SETTINGS["sizes"][2])] + [
            {a: e.n for a, e in by_attribute.items()} for by_attribute in builds.values()]

        def text(value, metric, n):
            if pd.isna(value):
                return "n/a"
            if metric == "accuracy" and n:
                return str(accuracy_interval(value, n))
            return f"{value:.3f}"

        table = pd.DataFrame({column: [
            text(value, metric, n if isinstance(n, int) else n.get(attribute))
            for (attribute, metric), value in table[column].items()]
            for column, n in zip(table.columns, sizes)}, index=table.index)
    return table
