"""The DCGAN of :mod:`celeba_lab.gan`: the report's networks (flat, with the report's parameter
counts), their conditional and stabilised variants, the train step, and sampling.

Small copies of the networks (``width``) keep these fast; the architecture tests use width 1.
Run under each Keras backend (``KERAS_BACKEND=tensorflow|jax|torch``): the train step is
written once per backend (TensorFlow in gan.py, JAX and PyTorch in gan_backends.py), and every
test below exercises the active one. Training runs are tested in test_gan_training.py.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from celeba_lab import gan as G
from celeba_lab import gan_training as T

WIDTH = 0.125  # 8-32 filters instead of 64-256: the same graph, ~50x cheaper


def blob_images(n: int = 96, seed: int = 0) -> np.ndarray:
    """uint8 (n, 64, 64, 3): smooth coloured blobs on a grey background, a face-like toy set."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:64]
    images = np.full((n, 64, 64, 3), 128, dtype=np.float32)
    for i in range(n):
        cy, cx, r = rng.uniform(20, 44), rng.uniform(20, 44), rng.uniform(8, 18)
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2) < r ** 2
        images[i][mask] = rng.uniform(0, 255, 3)
    return images.astype(np.uint8)


def weights(model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v).copy() for v in model.trainable_weights]


def changed(before, after) -> bool:
    return any(not np.array_equal(a, b) for a, b in zip(before, after))


def iterations(optimizer) -> int:
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


# ---------------------------------------------------------------------------------------------
# The networks
# ---------------------------------------------------------------------------------------------

def test_report_networks_have_the_reports_parameter_counts():
    generator, discriminator = G.report_generator(), G.report_discriminator()
    assert generator.count_params() == 1_006_787
    assert discriminator.count_params() == 794_241
    assert generator.output_shape == (None, 64, 64, 3)
    assert discriminator.output_shape == (None, 1)
    # The report's layer sequence: 3 transposed convolutions, 4 convolutions, Flatten of 2,048.
    kinds = [type(layer).__name__ for layer in generator.layers]
    assert kinds.count("Conv2DTranspose") == 3 and kinds.count("LeakyReLU") == 3
    flatten = next(layer for layer in discriminator.layers if type(layer).__name__ == "Flatten")
    assert flatten.output.shape[-1] == 2048


def test_variants_differ_from_the_report_only_where_documented():
    k = 7
    assert G.stabilised_discriminator().count_params() == 794_241 + 16 * 64
    assert G.conditional_generator(k).count_params() == 1_006_787 + k * 8 * 8 * 64
    # k extra input channels in the first convolution, k extra inputs to the first dense layer.
    assert G.conditional_discriminator(k).count_params() == 794_241 + k * (4 * 4 * 64 + 64)


def test_width_scales_the_networks_down():
    small = G.report_generator(width=WIDTH)
    assert small.count_params() < G.report_generator().count_params() / 20
    assert small.output_shape == (None, 64, 64, 3)


def test_generator_and_discriminator_must_agree_about_conditions():
    with pytest.raises(ValueError, match="disagree about conditions"):
        G.DCGAN(G.conditional_generator(2, width=WIDTH), G.report_discriminator(width=WIDTH))
    with pytest.raises(ValueError, match="conditional_generator"):
        G.ConditionalDCGAN(G.report_generator(width=WIDTH), G.report_discriminator(width=WIDTH))


def test_the_report_networks_are_flat_sequential_models_read_top_to_bottom():
    generator, discriminator = G.report_generator(), G.report_discriminator()
    assert isinstance(generator, keras.Sequential) and isinstance(discriminator, keras.Sequential)
    assert [type(layer).__name__ for layer in discriminator.layers] == [
        "Conv2D", "LeakyReLU", "Conv2D", "LeakyReLU", "Conv2D", "LeakyReLU", "Conv2D",
        "LeakyReLU", "Flatten", "Dropout", "Dense", "Dense", "Dense"]
    assert [type(layer).__name__ for layer in generator.layers] == [
        "Dense", "Reshape", "Conv2DTranspose", "LeakyReLU", "Conv2DTranspose", "LeakyReLU",
        "Conv2DTranspose", "LeakyReLU", "Conv2D"]


def test_every_recipe_keeps_its_parameter_counts():
    counts = {}
    for name, recipe in G.GAN_RECIPES.items():
        gan = T.build_gan(recipe=name)
        counts[name] = (gan.generator.count_params(), gan.discriminator.count_params())
    assert counts == {"report": (1_006_787, 794_241), "small": (307_651, 133_889)}
    assert G.report_generator(width=0.5, image_size=32, batch_norm=True).count_params() == 307_651
    assert G.report_discriminator(width=0.5, image_size=32).count_params() == 133_889


def one_step(gan: G.DCGAN, x, c=None) -> dict:
    history = gan.fit(x, c, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
    return {k: v[-1] for k, v in history.history.items()}


def test_compile_defaults_are_the_reports():
    gan = T.build_gan(width=WIDTH)
    for optimizer in (gan.d_optimizer, gan.g_optimizer):
        assert type(optimizer).__name__ == "Adam"
        assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(1e-4)
    assert isinstance(gan.loss_fn, keras.losses.BinaryCrossentropy)
    assert gan.label_smoothing == 0.0


def test_one_step_updates_each_network_once_and_losses_are_finite():
    gan = T.build_gan(width=WIDTH)
    g0, d0 = weights(gan.generator), weights(gan.discriminator)
    logs = one_step(gan, blob_images(16).astype("float32") / 255)
    assert changed(g0, weights(gan.generator)) and changed(d0, weights(gan.discriminator))
    assert iterations(gan.d_optimizer) == 1 and iterations(gan.g_optimizer) == 1
    assert set(logs) == {"d_loss", "g_loss", "d_real_accuracy", "d_fake_accuracy"}
    assert all(np.isfinite(v) for v in logs.values())
    # Near the start both losses sit near ln 2 and ln 2 (D is guessing).
    assert 0.3 < logs["d_loss"] < 1.5 and 0.3 < logs["g_loss"] < 1.5


def test_generator_step_leaves_the_discriminator_untouched():
    # With D's learning rate at 0, anything that moved D would be the generator's step.
    gan = T.build_gan(width=WIDTH)
    gan.compile(d_optimizer=keras.optimizers.Adam(0.0), g_optimizer=keras.optimizers.Adam(1e-3))
    gan.optimizer.build()
    g0, d0 = weights(gan.generator), weights(gan.discriminator)
    one_step(gan, blob_images(16).astype("float32") / 255)
    assert not changed(d0, weights(gan.discriminator))
    assert changed(g0, weights(gan.generator))


def test_discriminator_step_leaves_the_generator_untouched():
    gan = T.build_gan(width=WIDTH)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(0.0))
    gan.optimizer.build()
    g0, d0 = weights(gan.generator), weights(gan.discriminator)
    one_step(gan, blob_images(16).astype("float32") / 255)
    assert not changed(g0, weights(gan.generator))
    assert changed(d0, weights(gan.discriminator))


@pytest.mark.slow  # JAX on the 2-core machine: up to 4.5 min for these 64 steps (XLA on CPU)
def test_discriminator_learns_to_separate_real_from_generated():
    # 64 steps with a fast D against a frozen G: its loss must fall well below chance (ln 2).
    # (32 steps left it at 0.598 under JAX 0.10, a hair above the bar.)
    gan = T.build_gan(width=0.25)
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-3), g_optimizer=keras.optimizers.Adam(0.0))
    x = blob_images(64).astype("float32") / 255
    logs = gan.fit(x, batch_size=16, epochs=16, verbose=0).history
    assert logs["d_loss"][-1] < np.log(2) - 0.1
    assert (logs["d_real_accuracy"][-1] + logs["d_fake_accuracy"][-1]) / 2 > 0.6


def test_conditional_gan_trains_on_images_and_conditions():
    gan = T.build_gan(width=WIDTH, conditions=["Male", "Smiling"])
    x = blob_images(16).astype("float32") / 255
    c = np.random.default_rng(0).integers(0, 2, (16, 2)).astype("float32")
    g0, d0 = weights(gan.generator), weights(gan.discriminator)
    logs = one_step(gan, x, c)
    assert all(np.isfinite(v) for v in logs.values())
    assert changed(g0, weights(gan.generator)) and changed(d0, weights(gan.discriminator))
    with pytest.raises(ValueError, match="conditions"):
        one_step(gan, x)


def test_the_noise_comes_from_the_models_own_noise_seeds():
    gan = T.build_gan(width=WIDTH, seed=3)
    assert isinstance(gan.noise_seeds, keras.random.SeedGenerator)
    assert not hasattr(gan, "seed_generator")  # "seed" names random seeds only
    before = keras.ops.convert_to_numpy(gan.noise_seeds.state).copy()
    one_step(gan, blob_images(16).astype("float32") / 255)
    # Two draws a step (the discriminator's fakes, the generator's): the state moved on.
    assert not np.array_equal(before, keras.ops.convert_to_numpy(gan.noise_seeds.state))


# ---------------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------------

def test_generated_images_are_64x64_rgb_in_the_unit_interval():
    images = G.generate_images(G.report_generator(width=WIDTH), 5, seed=3, batch_size=2)
    assert images.shape == (5, 64, 64, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert images.std() > 0  # not a constant picture


def test_same_seed_same_faces_other_seed_other_faces():
    generator = G.report_generator(width=WIDTH)
    a, b = G.generate_images(generator, 4, seed=1), G.generate_images(generator, 4, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, G.generate_images(generator, 4, seed=2))


def test_conditions_from_a_mapping():
    names = ["Male", "Blond_Hair", "Smiling"]
    matrix = G.condition_matrix({"Blond_Hair": 1}, names, 3)
    np.testing.assert_array_equal(matrix, np.tile([0, 1, 0], (3, 1)))
    with pytest.raises(ValueError, match="Unknown condition"):
        G.condition_matrix({"Blond": 1}, names, 3)
    with pytest.raises(ValueError, match="expected"):
        G.condition_matrix(np.zeros((2, 3)), names, 3)
    gan = T.build_gan(width=WIDTH, conditions=names)
    assert gan.generate(2, conditions={"Male": 1}).shape == (2, 64, 64, 3)
    with pytest.raises(ValueError, match="conditional"):
        G.generate_images(gan.generator, 2)


# ---------------------------------------------------------------------------------------------
# Stabilisation
# ---------------------------------------------------------------------------------------------

def test_label_smoothing_moves_the_real_target_to_0_9():
    plain = T.build_gan(width=WIDTH)
    smooth = T.build_gan(width=WIDTH, stabilise="label_smoothing")
    assert smooth.label_smoothing == pytest.approx(0.1)
    fake = keras.ops.convert_to_tensor(np.full((8, 1), 0.01, "float32"))

    def d_loss(gan, p_real):
        real = keras.ops.convert_to_tensor(np.full((8, 1), p_real, "float32"))
        return float(keras.ops.convert_to_numpy(gan._discriminator_loss(real, fake)))

    # Without smoothing the most confident "real" is best; with it, 0.9 beats 0.999.
    assert d_loss(plain, 0.999) < d_loss(plain, 0.9)
    assert d_loss(smooth, 0.9) < d_loss(smooth, 0.999)
    # The generator's target is untouched: it still aims at 1.
    assert float(keras.ops.convert_to_numpy(smooth._generator_loss(fake))) == pytest.approx(
        float(keras.ops.convert_to_numpy(plain._generator_loss(fake))))


def test_minibatch_std_feature_is_zero_for_identical_images_and_the_spread_otherwise():
    layer = G.MinibatchStdDev()
    same = np.ones((4, 2, 2, 3), "float32")
    out = keras.ops.convert_to_numpy(layer(same))
    assert out.shape == (4, 2, 2, 4)
    np.testing.assert_allclose(out[..., 3], 1e-4, atol=1e-6)
    varied = np.random.default_rng(0).normal(size=(6, 2, 2, 3)).astype("float32")
    expected = np.sqrt(varied.var(axis=0) + 1e-8).mean()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(varied))[..., 3], expected,
                               rtol=1e-5)


def test_stabilise_true_builds_the_minibatch_std_discriminator_with_smoothing():
    gan = T.build_gan(width=WIDTH, stabilise=True)
    assert any(isinstance(layer, G.MinibatchStdDev) for layer in gan.discriminator.layers)
    assert gan.label_smoothing == pytest.approx(G.LABEL_SMOOTHING)
    ttur = T.build_gan(width=WIDTH, stabilise="ttur")
    rate = float(keras.ops.convert_to_numpy(ttur.d_optimizer.learning_rate))
    assert rate == pytest.approx(4 * float(keras.ops.convert_to_numpy(
        ttur.g_optimizer.learning_rate)))
    one_step(gan, blob_images(16).astype("float32") / 255)


CONDITIONAL_EPOCHS = 7  # of ~35 batches: ~250 steps


def hair_brightness(images: np.ndarray) -> np.ndarray:
    """Mean brightness of the crown of the head, where the synthetic faces' hair is."""
    images = images.astype("float32") / (255.0 if images.dtype == np.uint8 else 1.0)
    return images[:, 3:12, 22:42].mean(axis=(1, 2, 3))


@pytest.mark.slow
def test_conditional_generator_draws_the_hair_colour_it_is_asked_for(synthetic_data):
    from celeba_lab.cache import decoded_images

    table = synthetic_data.attributes
    blond = table.index[(table.Blond_Hair == 1) & (table.Wearing_Hat == 0)]
    black = table.index[(table.Black_Hair == 1) & (table.Wearing_Hat == 0)]
    ids = list(blond) + list(black)
    images = decoded_images(synthetic_data, ids, size=(64, 64))
    conditions = table.loc[ids, ["Blond_Hair", "Black_Hair"]].to_numpy("float32")
    # The statistic separates the real classes (so it can judge the generated faces).
    real_blond, real_black = hair_brightness(images[:len(blond)]), hair_brightness(
        images[len(blond):])
    threshold = (np.median(real_blond) + np.median(real_black)) / 2
    assert np.mean(real_blond > threshold) > 0.85 and np.mean(real_black < threshold) > 0.85

    # A small conditional GAN, trained briefly with the usual fast DCGAN optimizer settings.
    gan = T.build_gan(width=0.25, conditions=["Blond_Hair", "Black_Hair"])
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5))
    gan.fit(images.astype("float32") / 255, conditions, batch_size=32,
            epochs=CONDITIONAL_EPOCHS, verbose=0)
    as_blond = hair_brightness(gan.generate(100, seed=1, conditions={"Blond_Hair": 1}))
    as_black = hair_brightness(gan.generate(100, seed=1, conditions={"Black_Hair": 1}))
    agreement = (np.mean(as_blond > threshold) + np.mean(as_black < threshold)) / 2
    assert agreement > 0.8, f"agreement {agreement:.2f} (chance: 0.5)"


# ---------------------------------------------------------------------------------------------
# The small recipe: a GAN that learns faces in CPU minutes
# ---------------------------------------------------------------------------------------------

def test_small_recipe_differs_from_the_report_in_exactly_the_four_stated_ways():
    report, small = T.build_gan(), T.build_gan(recipe="small")
    assert report.generator.output_shape == (None, 64, 64, 3)
    assert small.generator.output_shape == (None, 32, 32, 3)
    assert small.discriminator.input_shape == (None, 32, 32, 3)
    norms = [layer for layer in small.generator.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 3  # after the projection and each of the two transposed convolutions
    assert not any(isinstance(layer, keras.layers.BatchNormalization)
                   for layer in report.generator.layers + report.discriminator.layers)
    assert float(small.g_optimizer.learning_rate) == pytest.approx(2e-4)
    assert float(small.g_optimizer.beta_1) == pytest.approx(0.5)
    assert float(report.g_optimizer.learning_rate) == pytest.approx(1e-4)
    # Half the filters: the last transposed convolution has 128 of the report's 256.
    convs = [l for l in small.generator.layers if isinstance(l, keras.layers.Conv2DTranspose)]
    assert [c.filters for c in convs] == [64, 128]
    # The discriminator still ends on 4 x 4 feature maps.
    flat = [l for l in small.discriminator.layers if isinstance(l, keras.layers.Flatten)][0]
    assert flat.output.shape[-1] == 4 * 4 * 64


def test_the_two_time_scale_rule_keeps_its_ratio_under_every_recipe():
    for recipe in G.GAN_RECIPES:
        gan = T.build_gan(recipe=recipe, stabilise="ttur", width=WIDTH)
        ratio = float(gan.d_optimizer.learning_rate) / float(gan.g_optimizer.learning_rate)
        assert ratio == pytest.approx(4.0)


def test_unknown_recipes_and_sizes_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="report.*small"):
        T.build_gan(recipe="tiny")
    with pytest.raises(ValueError, match=r"image_size must be one of \(32, 64\)"):
        G.report_generator(image_size=48)
    with pytest.raises(ValueError, match="recipe='report'"):
        T.train_gan(blob_images(16), recipe="small", epochs=1, steps_per_epoch=1, verbose=0)


