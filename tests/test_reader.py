"""The attribute reader at the generator's size, and generator inversion."""

from __future__ import annotations

import numpy as np
import pytest

from celeba_lab import reader as R
from celeba_lab.gan import latent_noise, report_generator


def test_the_reader_reads_every_measured_attribute_and_refuses_other_sizes():
    model = R.attribute_reader(image_size=32)
    assert model.output_shape == (None, 7) and model.get_layer("features").units == 64
    with pytest.raises(ValueError, match="reads faces of shape"):
        R.read_faces(model, np.zeros((2, 64, 64, 3)))
    measured = R.read_faces(model, np.zeros((3, 32, 32, 3)))
    assert list(measured.probabilities.columns)[:3] == ["Male", "Eyeglasses", "Smiling"]
    assert measured.features.shape == (3, 64)


@pytest.mark.slow
def test_a_trained_reader_reads_sex_on_the_synthetic_faces(synthetic_data, tmp_cache):
    data = synthetic_data
    ids = data.split("train")
    reader = R.train_attribute_reader(data, ids, epochs=6)
    test = data.split("test")
    from celeba_lab.cache import decoded_images
    faces = np.asarray(decoded_images(data, test, size=32), "float32") / 255
    male = R.read_faces(reader, faces).probabilities["Male"].to_numpy() > 0.5
    truth = data.attributes.loc[test, "Male"].to_numpy() > 0
    assert (male == truth).mean() > 0.75


def test_inversion_finds_the_noise_of_faces_the_generator_drew():
    generator = report_generator(width=0.25, image_size=32, batch_norm=True)
    target = np.asarray(generator(latent_noise(8, seed=5), training=False))
    start = R.invert_generator(generator, target, steps=1, seed=1)
    found = R.invert_generator(generator, target, steps=150, seed=1)
    assert found.reconstructions.shape == target.shape and found.latents.shape == (8, 64)
    assert found.errors.mean() < 0.3 * start.errors.mean()
    with pytest.raises(ValueError, match="Resize them to the generator's size"):
        R.invert_generator(generator, np.zeros((2, 64, 64, 3)))
    with pytest.raises(ValueError, match="only for one"):
        R.invert_generator(generator, target, conditions=np.zeros((8, 7)))
