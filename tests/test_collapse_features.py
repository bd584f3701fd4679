"""celeba_lab.collapse.features: the meter and feature extractors, with tiny known classifiers."""

from __future__ import annotations

import socket
import urllib.request

import numpy as np
import pandas as pd
import pytest

from celeba_lab import collapse as cc
from celeba_lab.attributes import HAIR_COLOURS
from celeba_lab.collapse import features as features_module


# --------------------------------------------------------------------------------------------
# Helpers: tiny classifiers whose outputs are known
# --------------------------------------------------------------------------------------------

def _channel_classifier(channel: int, size=(8, 6), slope: float = 20.0):
    """A trained-looking Keras model: P(positive) = sigmoid(slope * (mean of channel - 0.5))."""
    import keras

    inputs = keras.Input((*size, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid")(pooled)
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((3, 1), "float32")
    kernel[channel] = slope
    model.layers[-1].set_weights([kernel, np.array([-slope / 2], "float32")])
    # One step at learning rate 0 marks the model as trained without changing its weights.
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="binary_crossentropy")
    model.fit(np.zeros((2, *size, 3), "float32"), np.zeros((2, 1)), verbose=0)
    return model


def _images_with_channel_means(means: np.ndarray, size=(8, 6)) -> np.ndarray:
    """Images whose per-channel means are ``means`` (N, 3)."""
    means = np.asarray(means, "float32")
    return np.broadcast_to(means[:, None, None, :], (len(means), *size, 3)).copy()


@pytest.fixture(scope="module")
def meter():
    # Male reads channel 0; the four hair colours read channels 0, 1, 2 and 0 with another slope.
    return cc.AttributeMeter({
        "Male": _channel_classifier(0),
        "Black_Hair": _channel_classifier(1),
        "Blond_Hair": _channel_classifier(2),
        "Brown_Hair": _channel_classifier(0, slope=4.0),
        "Gray_Hair": _channel_classifier(0, slope=1.0),
    })


# --------------------------------------------------------------------------------------------
# The meter: classifiers on images
# --------------------------------------------------------------------------------------------

def test_meter_applies_the_hair_argmax_rule(meter):
    images = _images_with_channel_means([[0.9, 0.2, 0.2],    # Male; Brown (0.83) is the top
                                         [0.2, 0.9, 0.95],   # Female; Blond beats Black
                                         [0.3, 0.2, 0.2],    # Female; nothing above 0.5
                                         [0.1, 0.8, 0.1]])   # Female; Black
    probs = meter.probabilities(images)
    assert list(probs.columns) == ["Male", *HAIR_COLOURS]
    assert list(meter.cells(images)) == [
        "Male/Brown_Hair", "Female/Blond_Hair", "Female/Other", "Female/Black_Hair"]


def test_meter_names_a_missing_classifier(meter):
    images = _images_with_channel_means([[0.5, 0.5, 0.5]])
    with pytest.raises(cc.MissingClassifierError, match=r"Eyeglasses.*train_classifier"):
        meter.probabilities(images, ["Male", "Eyeglasses"])
    partial = cc.AttributeMeter({"Male": meter.classifiers["Male"]})
    with pytest.raises(cc.MissingClassifierError, match="Black_Hair"):
        partial.cells(images)


def test_meter_refuses_images_of_another_size_unless_asked_to_resize(meter):
    generated = _images_with_channel_means([[0.9, 0.1, 0.1], [0.1, 0.1, 0.1]], size=(16, 16))
    expected = r"16x16 \(the generator makes 16x16 faces\).*expects 8x6.*resize=True"
    with pytest.raises(cc.ImageSizeMismatchError, match=expected):
        meter.probabilities(generated)
    probs = meter.probabilities(generated, ["Male"], resize=True)
    assert probs["Male"].round(3).tolist() == pytest.approx([1.0, 0.0], abs=1e-3)


def test_simulate_generator_resolution_keeps_size_and_values_in_range():
    rng = np.random.default_rng(0)
    images = rng.random((3, 40, 30, 3)).astype("float32")
    blurred = cc.simulate_generator_resolution(images, 8)
    assert blurred.shape == images.shape and blurred.dtype == np.float32
    assert 0 <= blurred.min() and blurred.max() <= 1
    assert blurred.std() < images.std()  # detail is lost on the way down
    flat = np.full((1, 40, 30, 3), 0.25, "float32")
    np.testing.assert_allclose(cc.simulate_generator_resolution(flat, 8), flat, atol=1e-5)


def test_classifier_features_come_from_the_penultimate_layer():
    import keras

    inputs = keras.Input((8, 6, 3))
    hidden = keras.layers.Dense(5, name="hidden")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))
    images = np.random.default_rng(0).random((7, 8, 6, 3)).astype("float32")
    features = cc.classifier_features(model, images, batch_size=3)
    expected = keras.Model(inputs, hidden).predict(images, verbose=0)
    assert features.shape == (7, 5)
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(cc.ImageSizeMismatchError, match="expects 8x6"):
        cc.classifier_features(model, np.zeros((2, 64, 64, 3), "float32"))


# --------------------------------------------------------------------------------------------
# Inception: never the network unless allowed
# --------------------------------------------------------------------------------------------

@pytest.fixture
def no_network(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(urllib.request, "urlretrieve", refuse)
    return attempts


def test_inception_features_refuse_offline_without_touching_the_network(tmp_path, monkeypatch,
                                                                         no_network):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr(features_module, "_inception_model", None)
    images = np.zeros((2, 64, 64, 3), "float32")
    with pytest.raises(cc.InceptionUnavailableError, match=r"not on this machine.*Colab"):
        cc.inception_features(images)
    assert no_network == []
    assert cc.inception_weights_path().parent == tmp_path / "keras-home" / "models"


def test_inception_features_refuse_a_corrupt_weights_file(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(features_module, "_inception_model", None)
    path = cc.inception_weights_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a download")
    with pytest.raises(cc.InceptionUnavailableError, match="corrupt"):
        cc.inception_features(np.zeros((1, 64, 64, 3), "float32"))
    assert no_network == []


def test_measure_gives_the_probabilities_and_the_concatenated_features(meter):
    images = _images_with_channel_means(np.random.default_rng(2).random((9, 3)))
    measured = cc.AttributeMeter(meter.classifiers, batch_size=4).measure(images)
    pd.testing.assert_frame_equal(measured.probabilities, meter.probabilities(images),
                                  atol=1e-6, check_dtype=False)
    # Each tiny classifier's penultimate layer is its global average pool: the channel means.
    expected = np.concatenate([images.mean(axis=(1, 2))] * len(meter.attributes), axis=1)
    np.testing.assert_allclose(measured.features, expected, atol=1e-5)
    assert list(measured.cells()) == list(meter.cells(images))
    with pytest.raises(cc.MissingClassifierError, match="Smiling"):
        meter.measure(images, ["Smiling"])
    with pytest.raises(cc.ImageSizeMismatchError, match="resize=True"):
        meter.measure(_images_with_channel_means([[0.5, 0.5, 0.5]], size=(16, 16)))


def test_meter_resizes_and_measures_a_chunk_at_a_time(meter, monkeypatch):
    # 10,000 generated faces upsampled to 218 x 178 at once would take 4.7 GB of RAM: the meter
    # resizes a chunk at a time, and the results do not depend on the chunking.
    rng = np.random.default_rng(5)
    generated = rng.random((11, 16, 16, 3)).astype(np.float32)
    whole_measure = meter.measure(generated, resize=True)
    whole_probs = meter.probabilities(generated, resize=True)
    resized = []
    real_resize = cc.resize_faces
    monkeypatch.setattr(features_module, "resize_faces", lambda x, size, **kw: (
        resized.append(len(x)), real_resize(x, size, **kw))[1])
    monkeypatch.setattr(features_module, "_MEASURE_CHUNK", 4)
    chunked = meter.measure(generated, resize=True)
    assert resized == [4, 4, 3]           # once per chunk for all the meter's classifiers
    pd.testing.assert_frame_equal(chunked.probabilities, whole_measure.probabilities,
                                  atol=1e-6)
    np.testing.assert_allclose(chunked.features, whole_measure.features, atol=1e-6)
    assert chunked.features.dtype == np.float32
    pd.testing.assert_frame_equal(meter.probabilities(generated, resize=True), whole_probs,
                                  atol=1e-6)
    with pytest.raises(ValueError, match="No images"):
        meter.measure(generated[:0], resize=True)


def test_measure_real_faces_reads_in_chunks_at_the_generators_resolution(meter, monkeypatch):
    from celeba_lab import cache as data_module

    rng = np.random.default_rng(3)
    ids = pd.Index([f"{i:06d}.jpg" for i in range(1, 12)])
    pixels = {i: (rng.random((8, 6, 3)) * 255).astype(np.uint8) for i in ids}
    asked = []

    def fake_decoded_images(data, wanted, size=None, **kwargs):
        asked.append((list(wanted), size))
        return np.stack([pixels[i] for i in wanted])

    monkeypatch.setattr(data_module, "decoded_images", fake_decoded_images)
    measured = cc.measure_real_faces(meter, object(), ids[::-1], generator_size=4, chunk_size=4)
    assert asked == [(list(ids[::-1]), (8, 6))]  # one cache file, at the classifiers' size
    assert list(measured.probabilities.index) == list(ids[::-1])
    images = np.stack([pixels[i] for i in ids[::-1]]).astype(np.float32) / 255
    direct = meter.measure(cc.simulate_generator_resolution(images, 4))
    np.testing.assert_allclose(measured.probabilities.to_numpy(),
                               direct.probabilities.to_numpy(), atol=1e-5)
    np.testing.assert_allclose(measured.features, direct.features, atol=1e-5)
