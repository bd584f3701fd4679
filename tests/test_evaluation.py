"""Measuring a classifier: the metrics of the report's table against hand-computed values,
evaluations on arrays, the comparison with the report, and the figures drawn from them."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from celeba_lab import classifiers as C  # noqa: E402
from celeba_lab import evaluation as E  # noqa: E402
from celeba_lab.plots import classifiers as P  # noqa: E402
from classifier_helpers import (  # noqa: E402  (tests/ is on sys.path under pytest)
    _toy_images, trained_small)



# ------------------------------------------------------------------------------------------
# Metrics


def test_classification_metrics_against_hand_computed_values():
    # 6 positives, 4 negatives: TP 4, FN 2, TN 3, FP 1.
    y_true = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    y_pred = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    m = E.classification_metrics(y_true, y_pred)
    np.testing.assert_array_equal(E.confusion_matrix(y_true, y_pred), [[3, 1], [2, 4]])
    assert m["accuracy"] == pytest.approx(0.7)
    assert m["precision_positive"] == pytest.approx(4 / 5)
    assert m["recall_positive"] == pytest.approx(4 / 6)
    assert m["f1_positive"] == pytest.approx(2 * 0.8 * (2 / 3) / (0.8 + 2 / 3))
    assert m["specificity"] == pytest.approx(3 / 4)
    assert m["balanced_accuracy"] == pytest.approx((4 / 6 + 3 / 4) / 2)
    # Weighted over classes by support (6 and 4), as the report's table.
    precision_neg, recall_neg = 3 / 5, 3 / 4
    f1_neg = 2 * precision_neg * recall_neg / (precision_neg + recall_neg)
    assert m["precision"] == pytest.approx(0.6 * 0.8 + 0.4 * precision_neg)
    assert m["recall"] == pytest.approx(m["accuracy"])
    assert m["f1"] == pytest.approx(0.6 * m["f1_positive"] + 0.4 * f1_neg)
    assert m["majority_baseline"] == pytest.approx(0.6)
    assert m["positive_share"] == pytest.approx(0.6)


def test_constant_answers_score_the_majority_baseline_and_half_balanced_accuracy():
    y_true = np.array([0] * 9 + [1])
    m = E.classification_metrics(y_true, np.zeros(10, int))
    assert m["accuracy"] == pytest.approx(0.9) == pytest.approx(m["majority_baseline"])
    assert m["balanced_accuracy"] == pytest.approx(0.5)
    assert m["precision_positive"] == 0.0 and m["f1_positive"] == 0.0
    assert E.majority_baseline(y_true) == pytest.approx(0.9)


def test_metrics_refuse_labels_other_than_0_and_1():
    with pytest.raises(ValueError, match="0 or 1"):
        E.classification_metrics([1, -1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="3 labels"):
        E.confusion_matrix([1, 0, 1], [1, 0])


def test_labels_between_0_and_1_are_not_truncated(trained_small):
    x, _ = _toy_images(4)
    with pytest.raises(ValueError, match="0 or 1.*0.7"):
        E.evaluate_classifier(trained_small, x, [0.7, 0.7, 0.7, 0.7], attribute="Square")
    with pytest.raises(ValueError, match="0 or 1"):
        E.classification_metrics([0.7, 1], [0, 1])


# ------------------------------------------------------------------------------------------
# Evaluations


def test_evaluate_classifier_on_arrays_and_confident_errors(trained_small):
    x, y = _toy_images(20, seed=3)
    evaluation = E.evaluate_classifier(trained_small, x, y, attribute="Square")
    assert evaluation.n == 20 and evaluation.confusion.sum() == 20
    predictions = (C.predict_scores(trained_small, x) >= 0.5).astype(int)
    assert evaluation.metrics == E.classification_metrics(y, predictions)
    errors = evaluation.confident_errors(3)
    assert (errors["label"] != (errors["score"] >= 0.5)).all()
    assert list(errors["confidence"]) == sorted(errors["confidence"], reverse=True)


def test_evaluation_refuses_labels_of_another_attribute(trained_small):
    x, y = _toy_images(8)
    trained = C.TrainedClassifier(trained_small, {}, {"attribute": "Male"})
    with pytest.raises(ValueError, match="Smiling.*predicts 'Male'"):
        E.evaluate_classifier(trained, x, pd.Series(y, name="Smiling"))
    # Named on purpose, the evaluation carries the labels' name.
    named = E.evaluate_classifier(trained, x, pd.Series(y, name="Smiling"), attribute="Smiling")
    assert named.attribute == "Smiling"
    assert E.evaluate_classifier(trained, x, pd.Series(y, name="Male")).attribute == "Male"


def test_report_comparison_puts_the_report_beside_each_build():
    def fake(attribute, y_pred):
        y = np.array([0, 0, 1, 1])
        return E.ClassifierEvaluation(
            attribute, "balanced test sample", E.classification_metrics(y, y_pred),
            E.confusion_matrix(y, y_pred), pd.Series([0.0] * 4), pd.Series(y),
            metadata={"data_source": "synthetic CelebA", "sizes": [800, 100, 100],
                      "epochs": 4})

    ours = {a: fake(a, [0, 1, 1, 1]) for a in ("Male", "Eyeglasses", "Smiling")}
    best = {a: fake(a, [0, 0, 1, 1]) for a in ("Male", "Eyeglasses", "Smiling")}
    table = E.report_comparison({"report recipe": ours, "improved": best})
    assert list(table.index.get_level_values(0).unique()) == ["Male", "Eyeglasses", "Smiling"]
    report, ours_col, best_col = table.columns
    assert "real CelebA" in report and "10,000/2,000/1,000" in report and "15 epochs" in report
    assert ours_col.startswith("report recipe (synthetic CelebA; 800/100/100 images; 4 epochs")
    assert table.loc[("Smiling", "precision"), report] == 0.884
    assert table.loc[("Male", "accuracy"), ours_col] == 0.75
    assert table.loc[("Male", "f1"), best_col] == 1.0


# ------------------------------------------------------------------------------------------
# Plots


def test_plots_draw_curves_and_confusion_matrices(trained_small):
    history = {"loss": [0.7, 0.5, 0.4], "val_loss": [0.7, 0.6, 0.5],
               "accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.5, 0.6, 0.7]}
    fig = P.plot_learning_curves(history)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2
    assert list(fig.axes[0].lines[1].get_ydata()) == history["val_accuracy"]
    x, y = _toy_images(10)
    evaluation = E.evaluate_classifier(trained_small, x, y, attribute="Square")
    fig = P.plot_confusion_matrix(evaluation)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 4 and all("%" in t for t in texts)
    assert sum(int(t.split("\n")[0]) for t in texts) == 10
    fig = P.plot_confusion_matrices({"a": evaluation, "b": evaluation})
    assert len(fig.axes) == 2
    plt.close("all")


# ------------------------------------------------------------------------------------------
# Intervals


@pytest.mark.parametrize("accuracy, n, low, high", [
    (0.9, 100, 0.826, 0.945),     # about +/-6 points on 100 images
    (1.0, 100, 0.963, 1.0),       # every answer right: still an interval, not [1, 1]
    (0.0, 100, 0.0, 0.037),
    (0.883, 1000, 0.862, 0.901),  # the report's 1,000 images: about +/-2 points
])
def test_accuracy_interval_is_wilsons_and_narrows_with_more_images(accuracy, n, low, high):
    estimate = E.accuracy_interval(accuracy, n)
    assert (round(estimate.low, 3), round(estimate.high, 3)) == (low, high)
    assert estimate.value == accuracy and estimate.level == 0.95
    assert E.accuracy_interval(accuracy, n, level=0.5).high <= estimate.high


@pytest.mark.parametrize("kwargs, message", [
    ({"accuracy": 1.2, "n": 100}, "accuracy must lie in"),
    ({"accuracy": 0.9, "n": 0}, "n must be a whole number"),
    ({"accuracy": 0.9, "n": 2.5}, "n must be a whole number"),
    ({"accuracy": 0.9, "n": 100, "level": 95}, "level must lie between 0 and 1"),
])
def test_accuracy_interval_names_a_bad_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        E.accuracy_interval(**kwargs)


def test_report_comparison_with_intervals_gives_each_accuracy_its_own_images_interval():
    y = np.array([0, 1] * 50)
    evaluation = E.ClassifierEvaluation(
        "Male", "balanced test sample", E.classification_metrics(y, y), E.confusion_matrix(y, y),
        pd.Series(y * 1.0), pd.Series(y), metadata={"data_source": "synthetic CelebA",
                                                    "sizes": [800, 100, 100], "epochs": 4})
    table = E.report_comparison({"ours": {"Male": evaluation}}, intervals=True)
    report, ours = table.columns
    assert table.loc[("Male", "accuracy"), report] == "0.946 [0.930, 0.958]"   # 1,000 images
    assert table.loc[("Male", "accuracy"), ours] == "1.000 [0.963, 1.000]"     # 100 images
    assert table.loc[("Male", "precision"), ours] == "1.000"
