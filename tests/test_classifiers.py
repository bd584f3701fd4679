"""The attribute classifiers: the report's architecture, training that learns and resumes,
saving and loading, the metrics of the report's table, and clear errors."""

from __future__ import annotations

import json
import os

import keras
import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from celeba_lab import classifiers as C  # noqa: E402
from celeba_lab.data import UnknownAttributeError  # noqa: E402
from celeba_lab.plots import classifiers as P  # noqa: E402

SMALL = (40, 36, 3)  # the seed architecture at a small input size, for fast unit tests


class ArrayBatches(keras.utils.PyDataset):
    """Fixed (x, y) batches from arrays: a stand-in for the data layer's ImageBatches."""

    def __init__(self, x, y, batch_size=8):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]


def _toy_images(n, shape=SMALL, seed=0):
    """Images whose label is whether a bright square sits in the top-left corner."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.4, size=(n, *shape)).astype("float32")
    y = np.arange(n) % 2
    x[y == 1, : shape[0] // 2, : shape[1] // 2] += 0.6
    return x, y


def _one_hot(y):
    return np.eye(2, dtype="float32")[y]


@pytest.fixture(scope="module")
def trained_small():
    """A seed-architecture model on small images after a few training steps."""
    keras.utils.set_random_seed(0)
    model = C.seed_classifier(SMALL)
    x, y = _toy_images(32)
    model.fit(x, _one_hot(y), batch_size=16, epochs=2, verbose=0)
    return model


# ------------------------------------------------------------------------------------------
# Architecture


def test_seed_classifier_is_the_reports_cnn():
    model = C.seed_classifier()
    assert model.count_params() == 623_490
    assert C.count_parameters(model) == 623_490
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["conv1"] == (218, 178, 32)
    assert shapes["pool1"] == (109, 89, 32)
    assert shapes["pool4"] == (13, 11, 64)
    assert shapes["flatten"] == (9152,)
    assert [shapes[f"dense{i}"] for i in (1, 2, 3)] == [(64,)] * 3
    assert shapes["output"] == (2,)
    kernels = [layer.kernel_size for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert kernels == [(2, 2)] * 4
    assert model.get_layer("dense1").activation.__name__ == "sigmoid"
    assert model.get_layer("output").activation.__name__ == "softmax"
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert isinstance(model.loss, keras.losses.BinaryCrossentropy)


def test_architecture_table_lists_every_layer_and_the_total():
    table = P.architecture_table(C.seed_classifier())
    assert table.loc["total", "parameters"] == 623_490
    assert table.loc["flatten", "output shape"] == "9152"
    assert table.loc["dense1", "parameters"] == 9152 * 64 + 64
    assert table.loc["pool4", "output shape"] == "13 x 11 x 64"


def test_improved_classifier_has_one_sigmoid_output_and_accepts_other_sizes():
    model = C.improved_classifier(decay_steps=100)
    assert model.output_shape == (None, 1)
    assert model.get_layer("output").activation.__name__ == "sigmoid"
    assert C.count_parameters(model) < 623_490
    small = C.improved_classifier((64, 64, 3))
    x = np.random.default_rng(0).uniform(size=(2, 64, 64, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(small(x, training=False))
    assert out.shape == (2, 1) and np.all((out > 0) & (out < 1))


def test_unknown_recipe_is_refused():
    with pytest.raises(ValueError, match="seed"):
        C.build_classifier("resnet")


# ------------------------------------------------------------------------------------------
# Training


@pytest.mark.parametrize("recipe", ["seed", "improved"])
def test_training_steps_change_weights_and_lower_the_loss(recipe):
    keras.utils.set_random_seed(1)
    model = C.build_classifier(recipe, SMALL, decay_steps=30)
    x, y = _toy_images(16, seed=1)
    targets = _one_hot(y) if recipe == "seed" else y.astype("float32")
    before_weights = [w.copy() for w in model.get_weights()]
    before = model.evaluate(x, targets, verbose=0, return_dict=True)["loss"]
    for _ in range(30):
        model.train_on_batch(x, targets)
    after = model.evaluate(x, targets, verbose=0, return_dict=True)["loss"]
    changed = [not np.array_equal(a, b) for a, b in zip(before_weights, model.get_weights())]
    assert sum(changed) >= len(model.trainable_weights)
    assert after < before - 0.05, (before, after)


def test_interrupted_fit_resumes_from_the_next_epoch(tmp_path):
    x, y = _toy_images(32)
    train, validation = ArrayBatches(x, _one_hot(y)), ArrayBatches(x[:16], _one_hot(y[:16]))
    settings = {"what": "toy"}

    class Stop(Exception):
        pass

    class StopAfterSecondEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise Stop

    keras.utils.set_random_seed(0)
    with pytest.raises(Stop):
        C.fit_resumable(C.seed_classifier(SMALL), train, validation, epochs=4, run_dir=tmp_path,
                        settings=settings, verbose=0, callbacks=[StopAfterSecondEpoch()])
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]["loss"]) == 2
    assert [p.name for p in tmp_path.glob("checkpoint-*.keras")] == ["checkpoint-002.keras"]
    saved = keras.saving.load_model(tmp_path / "checkpoint-002.keras")

    started = []

    class RecordEpochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            started.append(epoch)

    model, history, first = C.fit_resumable(
        C.seed_classifier(SMALL), train, validation, epochs=4, run_dir=tmp_path,
        settings=settings, verbose=0, callbacks=[RecordEpochs()])
    assert first == 2 and started == [2, 3]  # 0-based: epochs 3 and 4
    assert len(history["loss"]) == len(history["val_accuracy"]) == 4
    assert history["loss"][:2] == state["history"]["loss"]
    # The resumed model started from the checkpoint, optimizer state included.
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 4 * len(train)
    assert int(keras.ops.convert_to_numpy(saved.optimizer.iterations)) == 2 * len(train)


def test_fit_with_other_settings_does_not_resume_a_foreign_checkpoint(tmp_path):
    x, y = _toy_images(16)
    train = ArrayBatches(x, _one_hot(y))
    C.fit_resumable(C.seed_classifier(SMALL), train, train, epochs=1, run_dir=tmp_path,
                    settings={"a": 1}, verbose=0)
    _, history, first = C.fit_resumable(C.seed_classifier(SMALL), train, train, epochs=1,
                                        run_dir=tmp_path, settings={"a": 2}, verbose=0)
    assert first == 0 and len(history["loss"]) == 1


# ------------------------------------------------------------------------------------------
# Predictions and metrics


def test_predict_scores_is_the_positive_probability_for_both_heads(trained_small):
    x, _ = _toy_images(6)
    softmax = keras.ops.convert_to_numpy(trained_small(x, training=False))
    scores = C.predict_scores(trained_small, x)
    np.testing.assert_allclose(scores, softmax[:, 1], rtol=1e-5, atol=1e-6)
    # uint8 images are scaled to [0, 1]; one image works too
    as_uint8 = np.round(x * 255).astype(np.uint8)
    np.testing.assert_allclose(C.predict_scores(trained_small, as_uint8), scores, atol=0.02)
    assert C.predict_scores(trained_small, x[0]).shape == (1,)
    # a PyDataset yielding (x, y)
    batches = ArrayBatches(x, _one_hot(np.zeros(6, int)), batch_size=4)
    np.testing.assert_allclose(C.predict_scores(trained_small, batches), scores, rtol=1e-5,
                               atol=1e-6)

    sigmoid = C.improved_classifier(SMALL)
    sigmoid.train_on_batch(x, np.ones(6, "float32"))
    out = keras.ops.convert_to_numpy(sigmoid(x, training=False))[:, 0]
    np.testing.assert_allclose(C.predict_scores(sigmoid, x), out, rtol=1e-5, atol=1e-6)


def test_embedding_is_the_penultimate_layer(trained_small):
    x, _ = _toy_images(4)
    features = keras.ops.convert_to_numpy(C.classifier_embedding(trained_small)(x))
    assert features.shape == (4, 64)
    improved = C.improved_classifier(SMALL, filters=(8, 16))
    assert C.classifier_embedding(improved).output_shape == (None, 16)


def test_classification_metrics_against_hand_computed_values():
    # 6 positives, 4 negatives: TP 4, FN 2, TN 3, FP 1.
    y_true = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    y_pred = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    m = C.classification_metrics(y_true, y_pred)
    np.testing.assert_array_equal(C.confusion_matrix(y_true, y_pred), [[3, 1], [2, 4]])
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
    m = C.classification_metrics(y_true, np.zeros(10, int))
    assert m["accuracy"] == pytest.approx(0.9) == pytest.approx(m["majority_baseline"])
    assert m["balanced_accuracy"] == pytest.approx(0.5)
    assert m["precision_positive"] == 0.0 and m["f1_positive"] == 0.0
    assert C.majority_baseline(y_true) == pytest.approx(0.9)


def test_metrics_refuse_labels_other_than_0_and_1():
    with pytest.raises(ValueError, match="0 or 1"):
        C.classification_metrics([1, -1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="3 labels"):
        C.confusion_matrix([1, 0, 1], [1, 0])


def test_evaluate_classifier_on_arrays_and_confident_errors(trained_small):
    x, y = _toy_images(20, seed=3)
    evaluation = C.evaluate_classifier(trained_small, x, y, attribute="Square")
    assert evaluation.n == 20 and evaluation.confusion.sum() == 20
    predictions = (C.predict_scores(trained_small, x) >= 0.5).astype(int)
    assert evaluation.metrics == C.classification_metrics(y, predictions)
    errors = evaluation.confident_errors(3)
    assert (errors["label"] != (errors["score"] >= 0.5)).all()
    assert list(errors["confidence"]) == sorted(errors["confidence"], reverse=True)


def test_report_comparison_puts_the_report_beside_each_build():
    def fake(attribute, y_pred):
        y = np.array([0, 0, 1, 1])
        return C.ClassifierEvaluation(
            attribute, "balanced test sample", C.classification_metrics(y, y_pred),
            C.confusion_matrix(y, y_pred), pd.Series([0.0] * 4), pd.Series(y),
            metadata={"data_source": "synthetic CelebA", "sizes": [800, 100, 100],
                      "epochs": 4})

    seed = {a: fake(a, [0, 1, 1, 1]) for a in ("Male", "Eyeglasses", "Smiling")}
    best = {a: fake(a, [0, 0, 1, 1]) for a in ("Male", "Eyeglasses", "Smiling")}
    table = C.report_comparison({"seed": seed, "improved": best})
    assert list(table.index.get_level_values(0).unique()) == ["Male", "Eyeglasses", "Smiling"]
    report, seed_col, best_col = table.columns
    assert "real CelebA" in report and "10,000/2,000/1,000" in report and "15 epochs" in report
    assert seed_col.startswith("seed (synthetic CelebA; 800/100/100 images; 4 epochs")
    assert table.loc[("Smiling", "precision"), report] == 0.884
    assert table.loc[("Male", "accuracy"), seed_col] == 0.75
    assert table.loc[("Male", "f1"), best_col] == 1.0


# ------------------------------------------------------------------------------------------
# Clear errors


def test_unknown_attribute_is_named_with_the_closest_match(tmp_cache):
    with pytest.raises(UnknownAttributeError, match="Smiling"):
        C.train_classifier("Smilling")


def test_images_of_the_wrong_shape_say_what_was_expected(trained_small):
    wrong = np.zeros((2, 64, 64, 3), "float32")
    with pytest.raises(C.InputShapeError) as error:
        C.predict_scores(trained_small, wrong)
    assert "(40, 36, 3)" in str(error.value) and "(64, 64, 3)" in str(error.value)
    with pytest.raises(C.InputShapeError):
        C.evaluate_classifier(trained_small, wrong, [0, 1])


def test_evaluating_before_training_is_refused(tmp_path):
    x, y = _toy_images(4)
    with pytest.raises(C.NotTrainedError, match="not been trained"):
        C.evaluate_classifier(C.seed_classifier(SMALL), x, y)
    uncompiled = keras.Sequential([keras.Input(SMALL), keras.layers.Flatten(),
                                   keras.layers.Dense(1, activation="sigmoid")])
    with pytest.raises(C.NotTrainedError, match="compiled"):
        C.predict_scores(uncompiled, x)
    with pytest.raises(C.ClassifierNotFoundError, match="train_classifier"):
        C.load_classifier(tmp_path / "nothing-here")


def test_a_run_that_stopped_is_not_loaded_as_finished(tmp_path):
    (tmp_path / "state.json").write_text(json.dumps({"epoch": 2, "epochs": 15}))
    with pytest.raises(C.ClassifierNotFoundError, match="epoch 2 of 15"):
        C.load_classifier(tmp_path)


def test_a_corrupt_model_file_is_reported(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"not a zip file")
    with pytest.raises(C.CorruptClassifierError, match="train again"):
        C.load_classifier(tmp_path)


# ------------------------------------------------------------------------------------------
# Plots


def test_plots_draw_curves_and_confusion_matrices(trained_small):
    history = {"loss": [0.7, 0.5, 0.4], "val_loss": [0.7, 0.6, 0.5],
               "accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.5, 0.6, 0.7]}
    fig = P.plot_learning_curves(history)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2
    assert list(fig.axes[0].lines[1].get_ydata()) == history["val_accuracy"]
    x, y = _toy_images(10)
    evaluation = C.evaluate_classifier(trained_small, x, y, attribute="Square")
    fig = P.plot_confusion_matrix(evaluation)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 4 and all("%" in t for t in texts)
    assert sum(int(t.split("\n")[0]) for t in texts) == 10
    fig = P.plot_confusion_matrices({"a": evaluation, "b": evaluation})
    assert len(fig.axes) == 2
    plt.close("all")


# ------------------------------------------------------------------------------------------
# On the synthetic CelebA (the data layer and the synthetic writer)


@pytest.mark.slow
def test_train_save_load_and_reuse(tmp_cache, synthetic_data):
    trained = C.train_classifier("Male", synthetic_data, sizes=(100, 20, 20), epochs=1,
                                 verbose=0)
    assert trained.origin == "trained" and trained.epochs == 1
    files = sorted(p.name for p in trained.path.iterdir())
    assert files == ["metadata.json", "model.keras"]  # checkpoints cleaned up
    meta = json.loads((trained.path / "metadata.json").read_text())
    assert meta["attribute"] == "Male" and meta["recipe"] == "seed"
    assert meta["data_fingerprint"] == synthetic_data.fingerprint and meta["synthetic"] is True
    assert meta["sizes"] == [100, 20, 20] and meta["epochs"] == 1
    assert meta["keras_backend"] == keras.backend.backend()
    assert 0 <= meta["validation"]["accuracy"] <= 1
    assert str(trained.path).startswith(str(tmp_cache))

    loaded = C.load_classifier(trained.path)
    x = np.random.default_rng(0).uniform(size=(3, 218, 178, 3)).astype("float32")
    np.testing.assert_allclose(C.predict_scores(loaded, x), C.predict_scores(trained, x),
                               rtol=1e-6, atol=1e-7)
    assert loaded.history == trained.history

    again = C.train_classifier("Male", synthetic_data, sizes=(100, 20, 20), epochs=1,
                               verbose=0)
    assert again.origin == "loaded" and again.path == trained.path
    other = C.train_classifier("Male", synthetic_data, sizes=(100, 20, 20), epochs=1, seed=1,
                               verbose=0)
    assert other.path != trained.path


@pytest.mark.slow
def test_interrupted_training_resumes_from_the_right_epoch(tmp_cache, synthetic_data):
    class Stop(Exception):
        pass

    class StopAfterSecondEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise Stop

    settings = dict(sizes=(60, 20, 20), epochs=3, verbose=0)
    with pytest.raises(Stop):
        C.train_classifier("Eyeglasses", synthetic_data, callbacks=[StopAfterSecondEpoch()],
                           **settings)
    run = next((tmp_cache / "runs" / "classifiers").iterdir())
    with pytest.raises(C.ClassifierNotFoundError, match="epoch 2 of 3"):
        C.load_classifier(run)
    partial = json.loads((run / "state.json").read_text())["history"]

    started = []

    class RecordEpochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            started.append(epoch)

    trained = C.train_classifier("Eyeglasses", synthetic_data, callbacks=[RecordEpochs()],
                                 **settings)
    assert trained.origin == "resumed" and trained.path == run
    assert started == [2]
    assert trained.epochs == 3 and trained.history["loss"][:2] == partial["loss"]


@pytest.mark.slow
@pytest.mark.parametrize("attribute", ["Male", "Eyeglasses", "Smiling"])
def test_a_short_training_run_beats_chance(tmp_cache, synthetic_data, attribute):
    # Eyeglasses is rare (6.5 %): the 3,000-image set holds about 150 training positives.
    # The report's network needs ~100 steps to leave its first plateau; the improved recipe
    # gets past chance in fewer, but not in a handful: 12 epochs of 280 (84 steps) for
    # Eyeglasses, 8 epochs of 600 (96 steps) for the others.
    sizes, epochs = ((280, 36, 32), 12) if attribute == "Eyeglasses" else ((600, 40, 100), 8)
    trained = C.train_classifier(attribute, synthetic_data, recipe="improved", sizes=sizes,
                                 epochs=epochs, verbose=0)
    balanced = C.evaluate_balanced_test(trained, synthetic_data)
    natural = C.evaluate_natural_test(trained, synthetic_data)
    # Guessing scores 0.5 on both; 0.65 is three standard errors above it on 100 images.
    assert balanced.metrics["balanced_accuracy"] >= 0.65, balanced.metrics
    assert natural.metrics["balanced_accuracy"] >= 0.65, natural.metrics


# ------------------------------------------------------------------------------------------
# Wrong arguments are refused, not replaced


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    """Two 200-image synthetic sets of different seeds: cheap data for argument checks."""
    from celeba_lab.data import load_celeba
    from celeba_lab.synthetic import write_synthetic_celeba

    root = tmp_path_factory.mktemp("tiny")
    return tuple(load_celeba(write_synthetic_celeba(root / f"s{seed}", n=200, seed=seed,
                                                    workers=1)) for seed in (0, 1))


@pytest.mark.parametrize("argument, value, message", [
    ("epochs", 0, "epochs must be a whole number of at least 1, got 0"),
    ("epochs", -1, "epochs must be .* at least 1, got -1"),
    ("epochs", 1.7, "epochs must be a whole number .* got 1.7"),
    ("batch_size", 0, "batch_size must be .* at least 1, got 0"),
])
def test_train_classifier_refuses_impossible_epochs_and_batch_sizes(tmp_cache, tiny_sets,
                                                                    argument, value, message):
    with pytest.raises(ValueError, match=message):
        C.train_classifier("Male", tiny_sets[0], sizes=(20, 4, 4), verbose=0,
                           **{"epochs": 1, argument: value})
    assert not (tmp_cache / "runs" / "classifiers").exists()  # nothing trained or saved


def test_train_classifier_refuses_a_sample_of_other_data(tmp_cache, tiny_sets):
    from celeba_lab.data import balanced_sample

    data_a, data_b = tiny_sets
    sample_b = balanced_sample(data_b, "Male", (20, 4, 4))
    with pytest.raises(ValueError, match="sample.*not drawn from this data set.*balanced_sample"):
        C.train_classifier("Male", data_a, sample=sample_b, epochs=1, verbose=0)
    assert not (tmp_cache / "runs" / "classifiers").exists()


def test_evaluation_refuses_labels_of_another_attribute(trained_small):
    x, y = _toy_images(8)
    trained = C.TrainedClassifier(trained_small, {}, {"attribute": "Male"})
    with pytest.raises(ValueError, match="Smiling.*predicts 'Male'"):
        C.evaluate_classifier(trained, x, pd.Series(y, name="Smiling"))
    # Named on purpose, the evaluation carries the labels' name.
    named = C.evaluate_classifier(trained, x, pd.Series(y, name="Smiling"), attribute="Smiling")
    assert named.attribute == "Smiling"
    assert C.evaluate_classifier(trained, x, pd.Series(y, name="Male")).attribute == "Male"


def test_labels_between_0_and_1_are_not_truncated(trained_small):
    x, _ = _toy_images(4)
    with pytest.raises(ValueError, match="0 or 1.*0.7"):
        C.evaluate_classifier(trained_small, x, [0.7, 0.7, 0.7, 0.7], attribute="Square")
    with pytest.raises(ValueError, match="0 or 1"):
        C.classification_metrics([0.7, 1], [0, 1])


# ------------------------------------------------------------------------------------------
# Damaged checkpoints and concurrent runs

TINY = dict(sizes=(20, 4, 4), image_size=(32, 32), batch_size=10, verbose=0)


class _Stop(Exception):
    pass


class _StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise _Stop


def test_a_truncated_checkpoint_is_reported_and_trained_again(tmp_cache, tiny_sets, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(_Stop):
        C.train_classifier("Male", tiny_sets[0], epochs=2, run_dir=run_dir,
                           callbacks=[_StopAfterFirstEpoch()], **TINY)
    checkpoint = run_dir / "checkpoint-001.keras"
    checkpoint.write_bytes(checkpoint.read_bytes()[:300])
    (run_dir / ".model.keras.4242.abcd1234.tmp.keras").write_bytes(b"PK")  # a killed save
    with pytest.warns(RuntimeWarning, match="checkpoint-001.keras.*damaged.*epoch 1"):
        trained = C.train_classifier("Male", tiny_sets[0], epochs=2, run_dir=run_dir, **TINY)
    assert trained.origin == "trained" and trained.epochs == 2
    assert sorted(p.name for p in run_dir.iterdir()) == ["metadata.json", "model.keras"]


def test_a_corrupt_finished_model_is_reported_and_trained_again(tmp_cache, tiny_sets, tmp_path):
    run_dir = tmp_path / "run"
    C.train_classifier("Male", tiny_sets[0], epochs=1, run_dir=run_dir, **TINY)
    (run_dir / "model.keras").write_bytes(b"")
    with pytest.warns(RuntimeWarning, match="model.keras.*cannot be read.*training it again"):
        trained = C.train_classifier("Male", tiny_sets[0], epochs=1, run_dir=run_dir, **TINY)
    assert trained.origin == "trained"
    assert C.load_classifier(run_dir).epochs == 1


def test_a_run_another_process_trains_is_refused_and_left_alone(tmp_cache, tiny_sets, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(_Stop):
        C.train_classifier("Male", tiny_sets[0], epochs=2, run_dir=run_dir,
                           callbacks=[_StopAfterFirstEpoch()], **TINY)
    (run_dir / "training.lock").write_text(str(os.getppid()))  # a live process
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    for resume in (True, False):
        with pytest.raises(C.ClassifierError, match="Another process"):
            C.train_classifier("Male", tiny_sets[0], epochs=2, run_dir=run_dir, resume=resume,
                               **TINY)
        assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


@pytest.mark.parametrize("arguments, message", [
    (dict(sizes=(100, 0, 0)), "at least 2 train and 2 validation images.*has 100 and 0"),
    (dict(image_size=(8, 8)), "image_size's height must be .* at least 16, got 8"),
    (dict(sizes=(20, 4, -20)), "test size must be a whole number of at least 0, got -20"),
    (dict(seed="0"), "seed must be a whole number"),
    (dict(seed=None), "seed must be a whole number"),
])
def test_impossible_samples_sizes_and_seeds_say_what_to_pass(tmp_cache, tiny_sets, arguments,
                                                             message):
    settings = {"sizes": (20, 4, 4), "epochs": 1, "verbose": 0, **arguments}
    with pytest.raises((ValueError, TypeError), match=message):
        C.train_classifier("Male", tiny_sets[0], **settings)


def test_a_generator_loaded_as_a_classifier_is_named(tmp_path):
    from celeba_lab import gan as G

    G.report_generator(width=0.125).save(tmp_path / "model.keras")
    with pytest.raises(C.ClassifierError, match="not an attribute classifier.*load_generator"):
        C.load_classifier(tmp_path)


# What a page shows: one line per epoch, no progress bars, no retracing warnings


def test_predictions_of_many_models_print_nothing_and_trace_nothing(capfd):
    # Six new models in a row, each with a smaller last batch: model.predict would trace a
    # prediction function per model and TensorFlow would warn about retracing.
    x, _ = _toy_images(13)
    for i in range(6):
        model = C.improved_classifier(SMALL, filters=(4, 8))
        scores = C.predict_scores(model, x[: 7 + i], batch_size=4, require_trained=False)
        assert scores.shape == (7 + i,)
    batches = ArrayBatches(x, _one_hot(np.zeros(13, int)), batch_size=5)
    assert C.predict_scores(model, batches, require_trained=False).shape == (13,)
    out, err = capfd.readouterr()
    assert out == "" and "━" not in err and "retracing" not in err and "step" not in err


@pytest.mark.slow
def test_training_announces_the_profile_then_prints_one_line_per_epoch(tmp_cache,
                                                                       synthetic_data, capsys):
    C.train_classifier("Male", synthetic_data, sizes=(40, 10, 10), epochs=2, batch_size=20)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("celeba-lab: profile quick (synthetic CelebA, the default for "
                               "it): Male (seed recipe), 2 epochs x 2 steps of 20 images;")
    assert [line.split(":")[0] for line in lines[1:]] == ["epoch 1/2", "epoch 2/2"]
    assert "val_accuracy" in lines[2] and "━" not in "".join(lines)
    # A finished run is loaded, not trained: nothing to announce.
    again = C.train_classifier("Male", synthetic_data, sizes=(40, 10, 10), epochs=2,
                               batch_size=20)
    assert again.origin == "loaded" and capsys.readouterr().out == ""
