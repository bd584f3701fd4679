"""The attribute classifiers: the report's architecture and the improved one, recipes (and the
report recipe's old name), training that learns, predictions, and clear errors."""

from __future__ import annotations

import keras
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from celeba_lab import classifier_runs as R  # noqa: E402
from celeba_lab import classifiers as C  # noqa: E402
from celeba_lab import evaluation as E  # noqa: E402
from celeba_lab.data import UnknownAttributeError  # noqa: E402
from celeba_lab.plots import classifiers as P  # noqa: E402
from classifier_helpers import (  # noqa: E402  (tests/ is on sys.path under pytest)
    SMALL, ArrayBatches, _one_hot, _toy_images, tiny_sets, trained_small)


# ------------------------------------------------------------------------------------------
# Architecture


def test_report_classifier_is_the_reports_cnn():
    model = C.report_classifier()
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
    table = P.architecture_table(C.report_classifier())
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
    with pytest.raises(ValueError, match="'improved', 'report'"):
        C.build_classifier("resnet")


# ------------------------------------------------------------------------------------------
# Training


@pytest.mark.parametrize("recipe", ["report", "improved"])
def test_training_steps_change_weights_and_lower_the_loss(recipe):
    keras.utils.set_random_seed(1)
    model = C.build_classifier(recipe, SMALL, decay_steps=30)
    x, y = _toy_images(16, seed=1)
    targets = _one_hot(y) if recipe == "report" else y.astype("float32")
    before_weights = [w.copy() for w in model.get_weights()]
    before = model.evaluate(x, targets, verbose=0, return_dict=True)["loss"]
    for _ in range(30):
        model.train_on_batch(x, targets)
    after = model.evaluate(x, targets, verbose=0, return_dict=True)["loss"]
    changed = [not np.array_equal(a, b) for a, b in zip(before_weights, model.get_weights())]
    assert sum(changed) >= len(model.trainable_weights)
    assert after < before - 0.05, (before, after)


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
    balanced = E.evaluate_balanced_test(trained, synthetic_data)
    natural = E.evaluate_natural_test(trained, synthetic_data)
    # Guessing scores 0.5 on both; 0.65 is three standard errors above it on 100 images.
    assert balanced.metrics["balanced_accuracy"] >= 0.65, balanced.metrics
    assert natural.metrics["balanced_accuracy"] >= 0.65, natural.metrics


@pytest.mark.slow
def test_training_in_a_notebook_prints_one_line_per_run_and_two_prints_every_epoch(
        tmp_cache, synthetic_data, capsys):
    # pytest's captured stdout is no terminal, as a notebook's: "auto" is one line per run.
    C.train_classifier("Male", synthetic_data, sizes=(40, 10, 10), epochs=2, batch_size=20)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("celeba-lab: profile quick (synthetic CelebA, the default for "
                               "it): Male (report recipe), 2 epochs x 2 steps of 20 images;")
    assert " -> 2 epochs in " in lines[0] and "val_accuracy" in lines[0]
    assert "epoch 1/2" not in lines[0] and "━" not in lines[0]
    # verbose=2 asks for every epoch: the announcement, then one line each.
    C.train_classifier("Male", synthetic_data, sizes=(40, 10, 10), epochs=2, batch_size=20,
                       seed=1, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3, lines
    assert [line.split(":")[0] for line in lines[1:]] == ["epoch 1/2", "epoch 2/2"]
    assert "val_accuracy" in lines[2] and " -> " not in "".join(lines)
    # A finished run is loaded, not trained: nothing to announce.
    again = C.train_classifier("Male", synthetic_data, sizes=(40, 10, 10), epochs=2,
                               batch_size=20)
    assert again.origin == "loaded" and capsys.readouterr().out == ""


# ------------------------------------------------------------------------------------------
# Predictions


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


# ------------------------------------------------------------------------------------------
# Clear errors


def test_unknown_attribute_is_named_with_the_closest_match(tmp_cache):
    with pytest.raises(UnknownAttributeError, match="Smiling"):
        C.train_classifier("Smilling")


def test_images_of_the_wrong_shape_say_what_was_expected(trained_small):
    wrong = np.zeros((2, 64, 64, 3), "float32")
    with pytest.raises(R.InputShapeError) as error:
        C.predict_scores(trained_small, wrong)
    assert "(40, 36, 3)" in str(error.value) and "(64, 64, 3)" in str(error.value)
    with pytest.raises(R.InputShapeError):
        E.evaluate_classifier(trained_small, wrong, [0, 1])


def test_evaluating_before_training_is_refused(tmp_path):
    x, y = _toy_images(4)
    with pytest.raises(R.NotTrainedError, match="not been trained"):
        E.evaluate_classifier(C.report_classifier(SMALL), x, y)
    uncompiled = keras.Sequential([keras.Input(SMALL), keras.layers.Flatten(),
                                   keras.layers.Dense(1, activation="sigmoid")])
    with pytest.raises(R.NotTrainedError, match="compiled"):
        C.predict_scores(uncompiled, x)
    with pytest.raises(R.ClassifierNotFoundError, match="train_classifier"):
        C.load_classifier(tmp_path / "nothing-here")


def test_evaluating_a_generator_says_it_is_no_classifier():
    from celeba_lab import gan as G

    generator = G.report_generator(width=0.125)
    with pytest.raises(R.ClassifierError, match=r"output shape \(None, 64, 64, 3\), not an "
                                                "attribute classifier.*load_classifier"):
        E.evaluate_classifier(generator, np.zeros((2, 64, 64, 3), "float32"), [0, 1])


# ------------------------------------------------------------------------------------------
# Wrong arguments are refused, not replaced


@pytest.mark.parametrize("argument, value, message", [
    ("epochs", 0, "epochs must be a whole number of at least 1, got 0"),
    ("epochs", -1, "epochs must be .* at least 1, got -1"),
    ("epochs", 1.7, "epochs must be a whole number .* got 1.7"),
    ("batch_size", 0, "batch_size must be .* at least 1, got 0"),
    ("epochs", float("nan"), "epochs must be a whole number of at least 1, got nan"),
])
def test_train_classifier_refuses_impossible_epochs_and_batch_sizes(tmp_cache, tiny_sets,
                                                                    argument, value, message):
    with pytest.raises(ValueError, match=message):
        C.train_classifier("Male", tiny_sets[0], sizes=(20, 4, 4), verbose=0,
                           **{"epochs": 1, argument: value})
    assert not (tmp_cache / "runs" / "classifiers").exists()  # nothing trained or saved


@pytest.mark.parametrize("arguments, message", [
    (dict(seed=1.5), "seed must be a whole number of at least 0, got 1.5"),
    (dict(seed="0"), "seed must be a whole number of at least 0, not '0'"),
    (dict(seed=-1), "seed must be a whole number of at least 0, got -1"),
    (dict(sizes=(40.5, 10, 10)), "train size must be a whole number .* got 40.5"),
])
def test_seeds_and_sizes_beside_a_sample_are_checked_not_rounded(tmp_cache, tiny_sets,
                                                                 arguments, message):
    from celeba_lab.data import balanced_sample

    sample = balanced_sample(tiny_sets[0], "Male", (20, 4, 4))
    with pytest.raises((ValueError, TypeError), match=message):
        C.train_classifier("Male", tiny_sets[0], sample=sample, epochs=1, verbose=0,
                           **arguments)
    assert not (tmp_cache / "runs" / "classifiers").exists()


def test_train_classifier_refuses_a_sample_of_other_data(tmp_cache, tiny_sets):
    from celeba_lab.data import balanced_sample

    data_a, data_b = tiny_sets
    sample_b = balanced_sample(data_b, "Male", (20, 4, 4))
    with pytest.raises(ValueError, match="sample.*not drawn from this data set.*balanced_sample"):
        C.train_classifier("Male", data_a, sample=sample_b, epochs=1, verbose=0)
    assert not (tmp_cache / "runs" / "classifiers").exists()


@pytest.mark.parametrize("arguments, message", [
    (dict(sizes=(100, 0, 0)), "at least 2 train and 2 validation images.*has 100 and 0"),
    (dict(image_size=(8, 8)), "image_size's height must be .* at least 16, got 8"),
    (dict(image_size=32), r"image_size must be \(height, width\), e.g. \(64, 64\), got 32"),
    (dict(sizes=(20, 4, -20)), "test size must be a whole number of at least 0, got -20"),
    (dict(seed="0"), "seed must be a whole number"),
    (dict(seed=None), "seed must be a whole number"),
    (dict(sizes=(20.5, 4, 4)), "train size must be a whole number .* got 20.5"),
    (dict(sizes=("20", "4", "4")), "train size must be a whole number .* not '20'"),
])
def test_impossible_samples_sizes_and_seeds_say_what_to_pass(tmp_cache, tiny_sets, arguments,
                                                             message):
    settings = {"sizes": (20, 4, 4), "epochs": 1, "verbose": 0, **arguments}
    with pytest.raises((ValueError, TypeError), match=message):
        C.train_classifier("Male", tiny_sets[0], **settings)
