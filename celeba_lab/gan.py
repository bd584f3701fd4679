"""The report's DCGAN, its conditional and stabilised variants, and resumable training.

Three layers, from the inside out:

* **Networks** (:func:`seed_generator`, :func:`seed_discriminator`, their conditional and
  stabilised versions): plain functional Keras models. ``width`` scales every layer so tests and
  quick runs can use a small copy of the same architecture; ``width=1`` is the report's model,
  parameter for parameter.
* **The GAN** (:class:`DCGAN`): a ``keras.Model`` whose ``train_step`` alternates one
  discriminator update and one generator update, written once per Keras backend as the Keras 3
  guides "Customizing what happens in ``fit()``" show it (TensorFlow: ``GradientTape``; JAX:
  stateless calls and ``jax.value_and_grad``; PyTorch: ``.backward()``). Its random numbers come
  from a ``keras.random.SeedGenerator`` the model owns, so a run is reproducible and resumable.
* **Runs** (:func:`train_gan`): training on the 64 x 64 pipeline with a monitor that draws the
  same faces (fixed noise) after every epoch, a loss history, and an atomic checkpoint after every
  epoch (both networks, both optimizers, the random state) from which a killed run resumes.

Example:
    >>> import celeba_lab as cl
    >>> run = cl.train_gan()                      # doctest: +SKIP
    >>> faces = cl.generate_images(run.generator, 16)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import keras
import numpy as np
from keras import layers, ops

from . import config
from ._checks import whole_number
from ._io import atomic_path, file_digest, fit_verbosity, folder_lock, write_json_atomic

#: Size of the generator's input noise in the report.
LATENT_DIM = 64
#: Side of the generated (and discriminated) images, in pixels: the report's 64.
IMAGE_SIZE = 64
#: The image sides the networks can be built for (a 32 x 32 GAN learns in CPU minutes).
IMAGE_SIZES = (32, 64)
#: Attributes a conditional GAN is conditioned on by default: sex, the four hair colours,
#: eyeglasses and smile (the attributes the report's collapse and its classifiers concern).
DEFAULT_CONDITIONS: tuple[str, ...] = (
    "Male", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Eyeglasses", "Smiling",
)
#: The stabilisation techniques :func:`train_gan` can switch on (``stabilise=``).
STABILISERS: dict[str, str] = {
    "minibatch_std": "a minibatch-standard-deviation feature in the discriminator "
                     "(Karras et al. 2018): D sees how varied a batch is, so a generator "
                     "that draws the same few faces is easy to catch",
    "label_smoothing": "one-sided label smoothing (Salimans et al. 2016): D's targets for real "
                       "faces are 0.9 instead of 1, so D cannot become over-confident and "
                       "starve the generator of gradient",
    "ttur": "two time-scale update rule (Heusel et al. 2017): D learns 4x faster "
            "(Adam 4e-4 against 1e-4)",
}
#: What ``stabilise=True`` switches on: the technique that targets a lack of variety directly,
#: plus the cheap guard against an over-confident discriminator.
DEFAULT_STABILISERS: tuple[str, ...] = ("minibatch_std", "label_smoothing")
#: One-sided label smoothing used by the ``"label_smoothing"`` stabiliser.
LABEL_SMOOTHING = 0.1
#: The report's learning rate for both networks, and D's under the ``"ttur"`` stabiliser.
LEARNING_RATE = 1e-4
TTUR_D_LEARNING_RATE = 4e-4


@dataclass(frozen=True)
class GANRecipe:
    """Everything that sets one DCGAN apart from another before any data is seen.

    Attributes:
        name: ``"report"`` or ``"small"``.
        image_size: Side of the images, 64 or 32.
        width: Multiplier of every layer's size.
        batch_norm: Batch normalisation in the generator (the DCGAN paper's).
        learning_rate: Adam's learning rate for both networks.
        beta_1: Adam's first-moment decay.
        description: One line saying what it is.
    """

    name: str
    image_size: int
    width: float
    batch_norm: bool
    learning_rate: float
    beta_1: float
    description: str


#: The GANs :func:`train_gan` knows. ``"report"`` is the report's DCGAN exactly; ``"small"`` is
#: the same architecture changed in four ways so that faces appear within a few CPU minutes
#: (about 800 steps) instead of a GPU's hours.
GAN_RECIPES: dict[str, GANRecipe] = {
    "report": GANRecipe("report", 64, 1.0, False, LEARNING_RATE, 0.9,
                        "the report's DCGAN: 64 x 64, full width, no batch normalisation, "
                        "Adam 1e-4"),
    "small": GANRecipe("small", 32, 0.5, True, 2e-4, 0.5,
                       "32 x 32 images, half the filters, batch normalisation in the generator, "
                       "Adam 2e-4 with beta_1 0.5 (the DCGAN paper's)"),
}


def gan_recipe(name: str) -> GANRecipe:
    """The :class:`GANRecipe` called ``name`` (a key of :data:`GAN_RECIPES`).

    Args:
        name: ``"report"`` or ``"small"``.

    Returns:
        The recipe.

    Raises:
        ValueError: an unknown name.

    Example:
        >>> gan_recipe("small").image_size
        32
    """
    if name not in GAN_RECIPES:
        raise ValueError(f"Unknown GAN recipe {name!r}; choose one of {sorted(GAN_RECIPES)}.")
    return GAN_RECIPES[name]

_FORMAT_VERSION = 1
_CHECKPOINT_FILES = ("generator.weights.h5", "discriminator.weights.h5", "optimizers.npz",
                     "random_state.npz")


class CheckpointError(RuntimeError):
    """A run folder claims a checkpoint that is missing, corrupt, or from other settings."""


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------

def _units(n: int, width: float) -> int:
    return max(1, int(round(n * width)))


def _upsampling_stack(x, width: float, image_size: int = IMAGE_SIZE, batch_norm: bool = False):
    # The report's generator body: three stride-2 transposed convolutions, 8 -> 16 -> 32 -> 64
    # (a 32 x 32 generator keeps the last two). Batch normalisation, the DCGAN paper's, is off
    # in the report's networks.
    for filters in (64, 128, 256)[-_doublings(image_size, 8):]:
        x = layers.Conv2DTranspose(_units(filters, width), kernel_size=4, strides=2,
                                   padding="same")(x)
        if batch_norm:
            x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(negative_slope=0.2)(x)
    return layers.Conv2D(3, kernel_size=5, padding="same", activation="sigmoid")(x)


def _doublings(image_size: int, start: int) -> int:
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {image_size!r}.")
    return int(math.log2(image_size // start))


def seed_generator(latent_dim: int = LATENT_DIM, *, width: float = 1.0,
                   image_size: int = IMAGE_SIZE, batch_norm: bool = False) -> keras.Model:
    """The report's generator: noise of size ``latent_dim`` to a 64 x 64 RGB face in [0, 1].

    Dense(8*8*64) -> Reshape(8, 8, 64) -> 3 x [Conv2DTranspose(kernel 4, stride 2, "same") +
    LeakyReLU(0.2)] with 64, 128, 256 filters -> Conv2D(3, kernel 5, "same", sigmoid).

    Args:
        latent_dim: Size of the input noise (the report: 64).
        width: Multiplies every layer's size; 1 is the report's model (1,006,787 parameters).
        image_size: 64 (the report's) or 32 (the last two transposed convolutions only).
        batch_norm: Batch normalisation after the projection and each transposed convolution
            (the DCGAN paper's; the report has none).

    Returns:
        An unbuilt-optimizer functional model named ``"generator"``.

    Example:
        >>> seed_generator().count_params()
        1006787
    """
    noise = keras.Input(shape=(latent_dim,), name="noise")
    x = _project(noise, width, batch_norm)
    return keras.Model(noise, _upsampling_stack(x, width, image_size, batch_norm),
                       name="generator")


def _project(x, width: float, batch_norm: bool = False):
    channels = _units(64, width)
    x = layers.Dense(8 * 8 * channels)(x)
    x = layers.Reshape((8, 8, channels))(x)
    if batch_norm:
        x = layers.LeakyReLU(negative_slope=0.2)(layers.BatchNormalization()(x))
    return x


def _downsampling_stack(x, width: float, *, minibatch_std: bool = False,
                        image_size: int = IMAGE_SIZE):
    # The report's discriminator body: four stride-2 convolutions, 64 -> 32 -> 16 -> 8 -> 4
    # (a 32 x 32 discriminator keeps the first three).
    for filters in (64, 128, 128, 128)[:_doublings(image_size, 4)]:
        x = layers.Conv2D(_units(filters, width), kernel_size=4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(negative_slope=0.2)(x)
    if minibatch_std:
        x = MinibatchStdDev()(x)
    x = layers.Flatten()(x)
    return layers.Dropout(0.2)(x)


def _classifier_head(x, width: float):
    for _ in range(2):
        x = layers.Dense(_units(64, width), activation="relu")(x)
    return layers.Dense(1, activation="sigmoid")(x)


def seed_discriminator(*, width: float = 1.0, image_size: int = IMAGE_SIZE) -> keras.Model:
    """The report's discriminator: a 64 x 64 RGB image to the probability that it is real.

    4 x [Conv2D(kernel 4, stride 2, "same") + LeakyReLU(0.2)] with 64, 128, 128, 128 filters ->
    Flatten (4 x 4 x 128 = 2,048) -> Dropout(0.2) -> 2 x Dense(64, ReLU) -> Dense(1, sigmoid).

    Args:
        width: Multiplies every layer's size; 1 is the report's model (794,241 parameters).
        image_size: 64 (the report's) or 32 (the first three convolutions only).

    Returns:
        A functional model named ``"discriminator"``.

    Example:
        >>> seed_discriminator().count_params()
        794241
    """
    return _discriminator(width=width, minibatch_std=False, image_size=image_size)


def stabilised_discriminator(*, width: float = 1.0, image_size: int = IMAGE_SIZE) -> keras.Model:
    """The report's discriminator with a minibatch-standard-deviation feature before Flatten.

    Why this one: mode collapse is a lack of *variety*, and a discriminator that judges images
    one at a time cannot see variety. The :class:`MinibatchStdDev` layer (Karras et al. 2018,
    "Progressive growing of GANs") appends one channel holding the average spread of the batch's
    features, so a generator whose batch is all alike is told apart from real batches. It adds
    16 x 64 = 1,024 weights to the first dense layer and nothing else (795,265 parameters).

    Args:
        width: Multiplies every layer's size, as in :func:`seed_discriminator`.
        image_size: 64 or 32, as in :func:`seed_discriminator`.

    Returns:
        A functional model named ``"discriminator"``.

    Example:
        >>> stabilised_discriminator().count_params()
        795265
    """
    return _discriminator(width=width, minibatch_std=True, image_size=image_size)


def _discriminator(*, width: float, minibatch_std: bool, image_size: int = IMAGE_SIZE
                   ) -> keras.Model:
    image = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = _downsampling_stack(image, width, minibatch_std=minibatch_std, image_size=image_size)
    return keras.Model(image, _classifier_head(x, width), name="discriminator")


def conditional_generator(n_conditions: int, latent_dim: int = LATENT_DIM, *,
                          width: float = 1.0, image_size: int = IMAGE_SIZE,
                          batch_norm: bool = False) -> keras.Model:
    """The report's generator, told which attributes to draw.

    The 0/1 condition vector is concatenated to the noise before the first dense layer
    (Mirza & Osindero 2014); everything after it is the seed generator, so the only extra
    weights are ``n_conditions x 4,096`` in that layer.

    Args:
        n_conditions: Length of the condition vector (one entry per attribute).
        latent_dim: Size of the input noise.
        width: Multiplies every layer's size, as in :func:`seed_generator`.
        image_size: 64 or 32, as in :func:`seed_generator`.
        batch_norm: Batch normalisation, as in :func:`seed_generator`.

    Returns:
        A functional model with inputs ``[noise, conditions]``, named ``"generator"``.

    Raises:
        ValueError: ``n_conditions`` is below 1.

    Example:
        >>> conditional_generator(7).count_params() - seed_generator().count_params()
        28672
    """
    _check_n_conditions(n_conditions)
    noise = keras.Input(shape=(latent_dim,), name="noise")
    conditions = keras.Input(shape=(n_conditions,), name="conditions")
    x = _project(layers.Concatenate()([noise, conditions]), width, batch_norm)
    return keras.Model([noise, conditions], _upsampling_stack(x, width, image_size, batch_norm),
                       name="generator")


def conditional_discriminator(n_conditions: int, *, width: float = 1.0,
                              minibatch_std: bool = False,
                              image_size: int = IMAGE_SIZE) -> keras.Model:
    """The report's discriminator, judging whether an image is real *and* has the attributes.

    The condition vector enters twice: broadcast to ``n_conditions`` constant 64 x 64 channels
    beside the RGB ones (so the convolutions can check, say, hair colour where hair is), and
    concatenated to the flattened features before the dense layers (so the decision can weigh
    it directly). The layers in between are the seed discriminator's.

    Args:
        n_conditions: Length of the condition vector.
        width: Multiplies every layer's size, as in :func:`seed_discriminator`.
        minibatch_std: Add the :class:`MinibatchStdDev` feature (see
            :func:`stabilised_discriminator`).
        image_size: 64 or 32, as in :func:`seed_discriminator`.

    Returns:
        A functional model with inputs ``[image, conditions]``, named ``"discriminator"``.

    Raises:
        ValueError: ``n_conditions`` is below 1.

    Example:
        >>> d = conditional_discriminator(2, width=0.25)
        >>> [tuple(i.shape) for i in d.inputs]
        [(None, 64, 64, 3), (None, 2)]
    """
    _check_n_conditions(n_conditions)
    image = keras.Input(shape=(image_size, image_size, 3), name="image")
    conditions = keras.Input(shape=(n_conditions,), name="conditions")
    planes = layers.Reshape((1, 1, n_conditions))(conditions)
    planes = layers.UpSampling2D(size=image_size)(planes)
    x = layers.Concatenate()([image, planes])
    x = _downsampling_stack(x, width, minibatch_std=minibatch_std, image_size=image_size)
    x = layers.Concatenate()([x, conditions])
    return keras.Model([image, conditions], _classifier_head(x, width), name="discriminator")


def _check_n_conditions(n_conditions: int) -> None:
    if int(n_conditions) < 1:
        raise ValueError(f"A conditional GAN needs at least one condition, got {n_conditions}.")


@keras.saving.register_keras_serializable(package="celeba_lab")
class MinibatchStdDev(layers.Layer):
    """Append one channel: the batch's mean standard deviation of every feature.

    For features ``x`` of shape (batch, h, w, c) it computes the standard deviation of each
    feature across the batch, averages them to one number, and appends it as a constant
    (batch, h, w, 1) channel. Real batches are varied; a collapsed generator's are not.
    """

    def call(self, inputs):
        spread = ops.mean(ops.sqrt(ops.var(inputs, axis=0) + 1e-8))
        channel = ops.ones_like(inputs[..., :1]) * spread
        return ops.concatenate([inputs, channel], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


# --------------------------------------------------------------------------------------------
# The GAN model
# --------------------------------------------------------------------------------------------

class _OptimizerPair:
    """What ``fit()`` sees as ``model.optimizer``: the two optimizers as one list of variables.

    Keras' JAX trainer threads ``model.optimizer.variables`` through the stateless train step
    and writes them back at the end of each epoch; listing both optimizers' variables here is
    what lets a two-optimizer GAN train with ``fit()`` on JAX. ``build`` gives each optimizer
    its own network's weights.
    """

    def __init__(self, gan: "DCGAN"):
        self._gan = gan

    @property
    def built(self) -> bool:
        return self._gan.d_optimizer.built and self._gan.g_optimizer.built

    def build(self, variables=None) -> None:
        gan = self._gan
        if not gan.d_optimizer.built:
            gan.d_optimizer.build(gan.discriminator.trainable_variables)
        if not gan.g_optimizer.built:
            gan.g_optimizer.build(gan.generator.trainable_variables)

    @property
    def variables(self) -> list:
        return list(self._gan.d_optimizer.variables) + list(self._gan.g_optimizer.variables)

    def scale_loss(self, loss):
        return loss


@dataclass(frozen=True)
class _Layout:
    # Positions of each network's variables in the GAN's flat state lists (JAX train step).
    g_trainable: list[int]
    d_trainable: list[int]
    g_non_trainable: list[int]
    d_non_trainable: list[int]
    seed: int


class DCGAN(keras.Model):
    """A generator and a discriminator trained against each other with ``fit()``.

    Each ``train_step`` makes one discriminator update (real faces should score 1, generated
    ones 0) and then one generator update (its faces should score 1 through the *unchanged*
    discriminator). Losses are binary cross-entropy; the discriminator loss is the mean over the
    real and the generated half of the batch, like the Keras DCGAN example the report followed.

    A conditional GAN is the same class with conditional networks
    (:func:`conditional_generator`, :func:`conditional_discriminator`); it trains on
    ``(images, conditions)`` batches and both networks see the conditions.

    Args:
        generator: Maps noise (or ``[noise, conditions]``) to (64, 64, 3) images in [0, 1].
        discriminator: Maps an image (or ``[image, conditions]``) to a probability of "real".
        latent_dim: Noise size; default: read from the generator's input.
        label_smoothing: One-sided label smoothing: real targets are ``1 - label_smoothing``
            (fake ones stay 0). 0 (default) is the report's training; see :data:`STABILISERS`.
        seed: Seed of the model's own :class:`keras.random.SeedGenerator`, which draws every
            noise vector during training.
        condition_names: Names of the condition columns (conditional GANs), kept for
            :meth:`generate` with a mapping.

    Example:
        >>> gan = DCGAN(seed_generator(), seed_discriminator())
        >>> gan.compile()
        >>> gan.fit(batches, epochs=1)                # doctest: +SKIP
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model,
                 latent_dim: int | None = None, *, label_smoothing: float = 0.0, seed: int = 0,
                 condition_names: Sequence[str] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim or generator.inputs[0].shape[-1])
        self.n_conditions = int(generator.inputs[1].shape[-1]) if len(generator.inputs) > 1 else 0
        if len(discriminator.inputs) != len(generator.inputs):
            raise ValueError(
                "The generator and the discriminator disagree about conditions: the generator "
                f"takes {len(generator.inputs)} input(s), the discriminator "
                f"{len(discriminator.inputs)}. Build both with conditional_* or both with seed_*."
            )
        if not 0.0 <= label_smoothing < 0.5:
            raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}.")
        self.label_smoothing = float(label_smoothing)
        self.condition_names = tuple(condition_names) if condition_names else ()
        if self.condition_names and len(self.condition_names) != self.n_conditions:
            raise ValueError(f"{len(self.condition_names)} condition names for a generator "
                             f"that takes {self.n_conditions} conditions.")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.real_accuracy = keras.metrics.Mean(name="d_real_accuracy")
        self.fake_accuracy = keras.metrics.Mean(name="d_fake_accuracy")
        self.built = True

    @property
    def conditional(self) -> bool:
        """True when both networks take a condition vector."""
        return self.n_conditions > 0

    @property
    def metrics(self) -> list:
        # Listed here so that fit() resets them at the start of every epoch.
        return [self.d_loss_tracker, self.g_loss_tracker, self.real_accuracy, self.fake_accuracy]

    def compile(self, d_optimizer: keras.optimizers.Optimizer | None = None,
                g_optimizer: keras.optimizers.Optimizer | None = None,
                loss_fn: keras.losses.Loss | None = None, **kwargs) -> None:
        """Set the two optimizers and the loss; defaults are the report's.

        Args:
            d_optimizer: Discriminator optimizer (default Adam, learning rate 1e-4).
            g_optimizer: Generator optimizer (default Adam, learning rate 1e-4).
            loss_fn: Loss on probabilities (default binary cross-entropy).
            **kwargs: Passed to :meth:`keras.Model.compile` (e.g. ``jit_compile``).
        """
        super().compile(optimizer=None, **kwargs)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(LEARNING_RATE)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(LEARNING_RATE)
        self.loss_fn = loss_fn or keras.losses.BinaryCrossentropy()
        self.optimizer = _OptimizerPair(self)
        self._layout_cache = None

    def call(self, inputs, training=False):
        """Generate images from noise (or ``[noise, conditions]``)."""
        return self.generator(inputs, training=training)

    # The pieces every backend's train step shares -------------------------------------------

    def _unpack(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.conditional and y is None:
            raise ValueError("A conditional GAN trains on (images, conditions) batches; "
                             "got images only. Pass conditions= to gan_batches/train_gan.")
        return x, (y if self.conditional else None)

    def _noise(self, batch_size):
        return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)

    def _g_inputs(self, noise, conditions):
        return [noise, conditions] if self.conditional else noise

    def _d_inputs(self, images, conditions):
        return [images, conditions] if self.conditional else images

    def _discriminator_loss(self, real_pred, fake_pred):
        # Real faces should score 1 (or 1 - smoothing), generated ones 0.
        real_target = ops.full_like(real_pred, 1.0 - self.label_smoothing)
        fake_target = ops.zeros_like(fake_pred)
        return 0.5 * (self.loss_fn(real_target, real_pred) + self.loss_fn(fake_target, fake_pred))

    def _generator_loss(self, fake_pred):
        # The generator wins when the discriminator calls its faces real.
        return self.loss_fn(ops.ones_like(fake_pred), fake_pred)

    def _update_metrics(self, d_loss, g_loss, real_pred, fake_pred) -> dict:
        self.d_loss_tracker.update_state(ops.stop_gradient(d_loss))
        self.g_loss_tracker.update_state(ops.stop_gradient(g_loss))
        real_pred, fake_pred = ops.stop_gradient(real_pred), ops.stop_gradient(fake_pred)
        self.real_accuracy.update_state(ops.mean(ops.cast(real_pred > 0.5, "float32")))
        self.fake_accuracy.update_state(ops.mean(ops.cast(fake_pred < 0.5, "float32")))
        return {m.name: m.result() for m in self.metrics}

    # One train step per backend --------------------------------------------------------------

    def train_step(self, *args):
        """One discriminator update, then one generator update (dispatches on the backend)."""
        backend = keras.backend.backend()
        if backend == "jax":
            return self._train_step_jax(*args)
        if backend == "torch":
            return self._train_step_torch(*args)
        if backend == "tensorflow":
            return self._train_step_tensorflow(*args)
        raise NotImplementedError(f"No GAN train step for the {backend!r} Keras backend.")

    def _train_step_tensorflow(self, data):
        import tensorflow as tf

        real, conditions = self._unpack(data)
        batch_size = ops.shape(real)[0]

        # 1. The discriminator learns to tell real faces from the generator's current ones.
        fake = self.generator(self._g_inputs(self._noise(batch_size), conditions), training=True)
        with tf.GradientTape() as tape:
            real_pred = self.discriminator(self._d_inputs(real, conditions), training=True)
            fake_pred = self.discriminator(self._d_inputs(fake, conditions), training=True)
            d_loss = self._discriminator_loss(real_pred, fake_pred)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))

        # 2. The generator learns to make the discriminator answer "real"; only its weights move.
        noise = self._noise(batch_size)
        with tf.GradientTape() as tape:
            fake = self.generator(self._g_inputs(noise, conditions), training=True)
            g_loss = self._generator_loss(
                self.discriminator(self._d_inputs(fake, conditions), training=True))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))

        return self._update_metrics(d_loss, g_loss, real_pred, fake_pred)

    def _train_step_torch(self, data):
        import torch

        real, conditions = self._unpack(data)
        real = ops.convert_to_tensor(real)
        conditions = None if conditions is None else ops.convert_to_tensor(conditions)
        batch_size = real.shape[0]

        # 1. Discriminator step: the generated batch is a constant here (no generator graph).
        with torch.no_grad():
            fake = self.generator(self._g_inputs(self._noise(batch_size), conditions),
                                  training=True)
        self.zero_grad()
        real_pred = self.discriminator(self._d_inputs(real, conditions), training=True)
        fake_pred = self.discriminator(self._d_inputs(fake, conditions), training=True)
        d_loss = self._discriminator_loss(real_pred, fake_pred)
        d_loss.backward()
        grads = [v.value.grad for v in self.discriminator.trainable_weights]
        with torch.no_grad():
            self.d_optimizer.apply(grads, self.discriminator.trainable_weights)

        # 2. Generator step: gradients flow through D into G, but only G's weights are applied.
        self.zero_grad()
        fake = self.generator(self._g_inputs(self._noise(batch_size), conditions), training=True)
        g_loss = self._generator_loss(
            self.discriminator(self._d_inputs(fake, conditions), training=True))
        g_loss.backward()
        grads = [v.value.grad for v in self.generator.trainable_weights]
        with torch.no_grad():
            self.g_optimizer.apply(grads, self.generator.trainable_weights)
        self.zero_grad()

        return self._update_metrics(d_loss, g_loss, real_pred, fake_pred)

    def _train_step_jax(self, state, data):
        import jax

        trainable, non_trainable, optimizer_vars, metrics_vars = state
        real, conditions = self._unpack(data)
        batch_size = real.shape[0]
        at = self._layout()
        g_train = [trainable[i] for i in at.g_trainable]
        d_train = [trainable[i] for i in at.d_trainable]
        g_state = [non_trainable[i] for i in at.g_non_trainable]
        d_state = [non_trainable[i] for i in at.d_non_trainable]
        n_d_opt = len(self.d_optimizer.variables)
        d_opt, g_opt = optimizer_vars[:n_d_opt], optimizer_vars[n_d_opt:]

        # Noise comes from the model's seed generator, whose state is threaded through.
        with keras.StatelessScope(
                state_mapping=[(self.seed_generator.state, non_trainable[at.seed])]) as scope:
            d_noise, g_noise = self._noise(batch_size), self._noise(batch_size)
        seed_state = scope.get_current_value(self.seed_generator.state)

        # 1. Discriminator step: differentiate D's loss with respect to D's weights only.
        fake, g_state = self.generator.stateless_call(
            g_train, g_state, self._g_inputs(d_noise, conditions), training=True)

        def d_loss_fn(d_train, d_state):
            real_pred, d_state = self.discriminator.stateless_call(
                d_train, d_state, self._d_inputs(real, conditions), training=True)
            fake_pred, d_state = self.discriminator.stateless_call(
                d_train, d_state, self._d_inputs(fake, conditions), training=True)
            return self._discriminator_loss(real_pred, fake_pred), (real_pred, fake_pred, d_state)

        (d_loss, (real_pred, fake_pred, d_state)), grads = jax.value_and_grad(
            d_loss_fn, has_aux=True)(d_train, d_state)
        d_train, d_opt = self.d_optimizer.stateless_apply(d_opt, grads, d_train)

        # 2. Generator step: differentiate with respect to G's weights; D's are constants.
        def g_loss_fn(g_train, g_state, d_state):
            fake, g_state = self.generator.stateless_call(
                g_train, g_state, self._g_inputs(g_noise, conditions), training=True)
            fake_pred, d_state = self.discriminator.stateless_call(
                d_train, d_state, self._d_inputs(fake, conditions), training=True)
            return self._generator_loss(fake_pred), (g_state, d_state)

        (g_loss, (g_state, d_state)), grads = jax.value_and_grad(
            g_loss_fn, has_aux=True)(g_train, g_state, d_state)
        g_train, g_opt = self.g_optimizer.stateless_apply(g_opt, grads, g_train)

        # Metrics are updated statelessly too, as Keras' own JAX trainer does.
        with keras.StatelessScope(
                state_mapping=list(zip(self.metrics_variables, metrics_vars))) as scope:
            logs = self._update_metrics(d_loss, g_loss, real_pred, fake_pred)
        metrics_vars = [scope.get_current_value(v) for v in self.metrics_variables]

        trainable, non_trainable = list(trainable), list(non_trainable)
        for positions, values, target in ((at.g_trainable, g_train, trainable),
                                          (at.d_trainable, d_train, trainable),
                                          (at.g_non_trainable, g_state, non_trainable),
                                          (at.d_non_trainable, d_state, non_trainable)):
            for i, value in zip(positions, values):
                target[i] = value
        non_trainable[at.seed] = seed_state
        return logs, (trainable, non_trainable, list(d_opt) + list(g_opt), metrics_vars)

    def _layout(self) -> _Layout:
        if getattr(self, "_layout_cache", None) is None:
            def positions(everything, part):
                index = {id(v): i for i, v in enumerate(everything)}
                return [index[id(v)] for v in part]

            self._layout_cache = _Layout(
                g_trainable=positions(self.trainable_variables,
                                      self.generator.trainable_variables),
                d_trainable=positions(self.trainable_variables,
                                      self.discriminator.trainable_variables),
                g_non_trainable=positions(self.non_trainable_variables,
                                          self.generator.non_trainable_variables),
                d_non_trainable=positions(self.non_trainable_variables,
                                          self.discriminator.non_trainable_variables),
                seed=positions(self.non_trainable_variables, [self.seed_generator.state])[0],
            )
        return self._layout_cache

    # Using the trained model -----------------------------------------------------------------

    def generate(self, n: int, *, seed: int = 0, conditions=None,
                 batch_size: int = 256) -> np.ndarray:
        """``n`` generated faces as float32 (n, 64, 64, 3) in [0, 1]; see :func:`generate_images`.

        ``conditions`` may be a mapping ``{attribute: 0 or 1}`` over :attr:`condition_names`.
        """
        return generate_images(self.generator, n, seed=seed,
                               conditions=condition_matrix(conditions, self.condition_names, n)
                               if self.conditional else conditions,
                               batch_size=batch_size)


class ConditionalDCGAN(DCGAN):
    """A :class:`DCGAN` whose networks take a condition vector of 0/1 attributes.

    Trains on ``(images, conditions)`` batches (``gan_batches(..., conditions=...)``) and draws
    faces with chosen attributes: ``gan.generate(16, conditions={"Male": 1, "Blond_Hair": 1})``.

    Args:
        generator: From :func:`conditional_generator`.
        discriminator: From :func:`conditional_discriminator`.
        condition_names: The attribute of each condition column, in order.
        **kwargs: As for :class:`DCGAN`.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model,
                 latent_dim: int | None = None, *, condition_names: Sequence[str] | None = None,
                 **kwargs):
        super().__init__(generator, discriminator, latent_dim,
                         condition_names=condition_names, **kwargs)
        if not self.conditional:
            raise ValueError("ConditionalDCGAN needs networks from conditional_generator and "
                             "conditional_discriminator (they take [input, conditions]).")


# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------

def latent_noise(n: int, latent_dim: int = LATENT_DIM, seed: int = 0) -> np.ndarray:
    """Standard-normal noise (n, latent_dim) float32, the same for a seed on every backend.

    Args:
        n: Number of noise vectors.
        latent_dim: Their size.
        seed: Seed of numpy's generator (not Keras'), so that every backend draws the same.

    Returns:
        float32 array (n, latent_dim).

    Example:
        >>> latent_noise(2, 64, seed=0).shape
        (2, 64)
    """
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype("float32")


def condition_matrix(conditions, names: Sequence[str], n: int) -> np.ndarray:
    """Turn ``conditions`` into a float32 (n, k) matrix of 0/1 values.

    Args:
        conditions: A mapping ``{attribute: 0/1}`` (attributes left out are 0), a (k,) vector
            repeated for every row, or an (n, k) array / DataFrame.
        names: The condition attributes, in the generator's column order.
        n: Number of rows.

    Returns:
        The matrix.

    Raises:
        ValueError: Unknown attribute names, or a shape that does not fit.

    Example:
        >>> condition_matrix({"Blond_Hair": 1}, ["Male", "Blond_Hair"], 2)
        array([[0., 1.],
               [0., 1.]], dtype=float32)
    """
    k = len(names)
    if conditions is None:
        raise ValueError(f"This generator is conditional: pass conditions for {list(names)}.")
    if isinstance(conditions, Mapping):
        unknown = sorted(set(conditions) - set(names))
        if unknown:
            raise ValueError(f"Unknown condition(s) {unknown}; this generator knows {list(names)}.")
        row = np.array([float(conditions.get(name, 0)) for name in names], dtype="float32")
        return np.tile(row, (n, 1))
    matrix = np.asarray(conditions, dtype="float32")
    if matrix.ndim == 1:
        matrix = np.tile(matrix, (n, 1))
    if matrix.shape != (n, k):
        raise ValueError(f"Conditions of shape {matrix.shape}; expected ({n}, {k}) or ({k},).")
    return matrix


def generate_images(generator: keras.Model, n: int, seed: int = 0, conditions=None, *,
                    noise: np.ndarray | None = None, batch_size: int = 256) -> np.ndarray:
    """Draw ``n`` faces from ``generator``, in batches.

    Args:
        generator: A (conditional) generator.
        n: Number of faces.
        seed: Seed of the noise (:func:`latent_noise`): the same seed gives the same faces.
        conditions: For a conditional generator: an (n, k) array or a (k,) vector of 0/1
            (see :func:`condition_matrix`; mappings need names, use :meth:`DCGAN.generate`).
        noise: Use this (n, latent_dim) noise instead of drawing it.
        batch_size: Faces generated per call.

    Returns:
        float32 array (n, 64, 64, 3) in [0, 1].

    Raises:
        ValueError: A conditional generator without ``conditions``.

    Example:
        >>> faces = generate_images(seed_generator(width=0.125), 4)
        >>> faces.shape, faces.dtype.name
        ((4, 64, 64, 3), 'float32')
    """
    latent_dim = int(generator.inputs[0].shape[-1])
    conditional = len(generator.inputs) > 1
    if noise is None:
        noise = latent_noise(n, latent_dim, seed)
    noise = np.asarray(noise, dtype="float32")
    if conditional:
        k = int(generator.inputs[1].shape[-1])
        if conditions is None:
            raise ValueError(f"This generator is conditional ({k} conditions): pass conditions=.")
        conditions = np.asarray(conditions, dtype="float32")
        conditions = np.tile(conditions, (n, 1)) if conditions.ndim == 1 else conditions
    out = []
    for start in range(0, n, batch_size):
        z = noise[start:start + batch_size]
        inputs = [z, conditions[start:start + batch_size]] if conditional else z
        out.append(ops.convert_to_numpy(generator(inputs, training=False)))
    images = (np.concatenate(out) if out
              else np.zeros((0, *generator.output_shape[1:])))
    return np.clip(images, 0.0, 1.0).astype("float32")


def interpolate_latents(start: np.ndarray, end: np.ndarray, steps: int = 8,
                        method: str = "spherical") -> np.ndarray:
    """Points between two noise vectors: ``steps`` rows from ``start`` to ``end``.

    Why spherical: Gaussian noise in many dimensions lies near a sphere of radius
    ``sqrt(latent_dim)``; a straight line between two such points passes closer to the centre,
    where the generator saw little noise in training, so its middle faces look washed out.
    Spherical interpolation (slerp, White 2016) stays on the sphere.

    Args:
        start: The first vector, shape (latent_dim,).
        end: The last vector, shape (latent_dim,).
        steps: Number of points, ends included.
        method: ``"linear"`` or ``"spherical"``.

    Returns:
        float32 array (steps, latent_dim).

    Raises:
        ValueError: An unknown ``method``.

    Example:
        >>> a, b = latent_noise(2, 64)
        >>> interpolate_latents(a, b, 5, "spherical").shape
        (5, 64)
    """
    start, end = np.asarray(start, dtype="float64"), np.asarray(end, dtype="float64")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if method == "linear":
        return ((1 - t) * start + t * end).astype("float32")
    if method != "spherical":
        raise ValueError(f"method must be 'linear' or 'spherical', got {method!r}.")
    cos = np.dot(start, end) / (np.linalg.norm(start) * np.linalg.norm(end))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return ((1 - t) * start + t * end).astype("float32")
    return ((np.sin((1 - t) * omega) * start + np.sin(t * omega) * end)
            / np.sin(omega)).astype("float32")


def latent_walk(generator: keras.Model, steps: int = 8, seed: int = 0,
                method: str = "spherical", conditions=None) -> np.ndarray:
    """Faces along a path between two random noise vectors (drawn with ``seed``).

    Args:
        generator: A (conditional) generator.
        steps: Faces along the path, both ends included.
        seed: Seed of the two end points.
        method: ``"linear"`` or ``"spherical"`` (see :func:`interpolate_latents`).
        conditions: For a conditional generator, a (k,) vector kept fixed along the walk.

    Returns:
        float32 array (steps, 64, 64, 3).

    Example:
        >>> latent_walk(seed_generator(width=0.125), steps=4).shape
        (4, 64, 64, 3)
    """
    ends = latent_noise(2, int(generator.inputs[0].shape[-1]), seed)
    path = interpolate_latents(ends[0], ends[1], steps, method)
    return generate_images(generator, steps, noise=path, conditions=conditions)


def image_grid(images: np.ndarray, ncols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile images (n, h, w, 3) in [0, 1] or uint8 into one uint8 picture, white gaps between.

    Args:
        images: The images.
        ncols: Images per row (default: a square-ish grid).
        pad: Pixels between images.

    Returns:
        uint8 array (rows * (h + pad) + pad, ncols * (w + pad) + pad, 3).

    Example:
        >>> image_grid(np.zeros((6, 64, 64, 3)), ncols=3).shape
        (134, 200, 3)
    """
    images = _to_uint8(images)
    n, h, w, c = images.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), 255, dtype="uint8")
    for i, image in enumerate(images):
        r, col = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = image
    return grid


def _to_uint8(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return np.round(np.clip(images, 0.0, 1.0) * 255).astype("uint8")


# --------------------------------------------------------------------------------------------
# Training runs
# --------------------------------------------------------------------------------------------

@dataclass
class GANRun:
    """A trained (or resumed, or loaded) GAN and everything its run folder holds.

    Attributes:
        gan: The :class:`DCGAN` (compiled, with both optimizers' states).
        run_dir: The run folder (checkpoints, grids, ``generator.keras``, ``metadata.json``).
        history: Per epoch ``d_loss``, ``g_loss``, ``d_real_accuracy``, ``d_fake_accuracy``
            (means over the epoch's steps), and per step ``step_d_loss``, ``step_g_loss``.
        metadata: Settings, data fingerprint, backend, timings, epochs done, resumes.
    """

    gan: DCGAN
    run_dir: Path
    history: dict[str, list[float]]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def generator(self) -> keras.Model:
        """The trained generator."""
        return self.gan.generator

    @property
    def discriminator(self) -> keras.Model:
        """The trained discriminator."""
        return self.gan.discriminator

    @property
    def model(self) -> DCGAN:
        """The :class:`DCGAN` (same as :attr:`gan`)."""
        return self.gan

    @property
    def epochs_done(self) -> int:
        """Epochs trained so far."""
        return len(self.history.get("d_loss", []))

    @property
    def condition_names(self) -> tuple[str, ...]:
        """The attributes a conditional GAN is conditioned on (empty otherwise)."""
        return self.gan.condition_names

    def grid_paths(self) -> list[Path]:
        """The monitor's per-epoch PNG grids, first epoch first."""
        return sorted((self.run_dir / "grids").glob("epoch_*.png"))

    def grids(self) -> tuple[list[int], np.ndarray]:
        """The monitor's faces: (epoch numbers, uint8 array (epochs, n, 64, 64, 3))."""
        paths = sorted((self.run_dir / "grids").glob("epoch_*.npy"))
        epochs = [int(p.stem.split("_")[1]) for p in paths]
        images = np.stack([np.load(p) for p in paths]) if paths else np.zeros((0,), "uint8")
        return epochs, images

    def generate(self, n: int, *, seed: int = 0, conditions=None) -> np.ndarray:
        """``n`` faces from the trained generator; see :meth:`DCGAN.generate`."""
        return self.gan.generate(n, seed=seed, conditions=conditions)

    @property
    def recipe(self) -> GANRecipe:
        """The :class:`GANRecipe` this run was trained with."""
        return gan_recipe(self.metadata.get("settings", {}).get("recipe", "report"))

    @property
    def image_size(self) -> int:
        """Side of the faces the generator draws, in pixels."""
        return int(self.generator.output_shape[1])

    def untrained_generator(self) -> keras.Model:
        """The generator as it was before its first step: the same settings and seed, no
        training. The yardstick that tells a generator that learned from one that did not."""
        return _gan_from_settings(self.metadata["settings"]).generator

    def generate_untrained(self, n: int, *, seed: int = 0) -> np.ndarray:
        """``n`` faces of :meth:`untrained_generator` (all-zero conditions for a conditional
        GAN): the yardstick :func:`celeba_lab.check_generator` compares a trained run with."""
        generator = self.untrained_generator()
        conditions = (np.zeros((n, len(self.condition_names)), "float32")
                      if self.condition_names else None)
        return generate_images(generator, n, seed=seed, conditions=conditions)


def build_gan(*, conditions: Sequence[str] | int = (), latent_dim: int = LATENT_DIM,
              stabilise: bool | str | Iterable[str] = False, width: float | None = None,
              seed: int = 0, recipe: str = "report") -> DCGAN:
    """Build and compile a GAN: the report's, conditional, and/or stabilised.

    Args:
        conditions: Attribute names (or a count) to condition on; empty for the report's GAN.
        latent_dim: Noise size.
        stabilise: ``False`` (the report's GAN), ``True`` (:data:`DEFAULT_STABILISERS`), or
            names from :data:`STABILISERS`.
        width: Size multiplier of every layer; default: the recipe's (1 for the report's).
        seed: Seed of the weight initialisation and of the model's noise.
        recipe: A name from :data:`GAN_RECIPES`: image size, batch normalisation, Adam's
            settings (and default width).

    Returns:
        A compiled :class:`DCGAN` (:class:`ConditionalDCGAN` with conditions).

    Example:
        >>> gan = build_gan(conditions=["Male", "Blond_Hair"], stabilise=True, width=0.25)
        >>> gan.conditional, gan.label_smoothing
        (True, 0.1)
    """
    chosen = stabilisers(stabilise)
    spec = gan_recipe(recipe)
    width = spec.width if width is None else float(width)
    shape = {"width": width, "image_size": spec.image_size}
    names = [f"c{i}" for i in range(conditions)] if isinstance(conditions, int) else list(
        conditions)
    # Seeding Keras makes the initial weights a function of `seed`.
    keras.utils.set_random_seed(seed)
    minibatch_std = "minibatch_std" in chosen
    if names:
        generator = conditional_generator(len(names), latent_dim, batch_norm=spec.batch_norm,
                                          **shape)
        discriminator = conditional_discriminator(len(names), minibatch_std=minibatch_std,
                                                  **shape)
        gan = ConditionalDCGAN(generator, discriminator, latent_dim, condition_names=names,
                               seed=seed, label_smoothing=_smoothing(chosen))
    else:
        generator = seed_generator(latent_dim, batch_norm=spec.batch_norm, **shape)
        discriminator = (stabilised_discriminator(**shape) if minibatch_std
                         else seed_discriminator(**shape))
        gan = DCGAN(generator, discriminator, latent_dim, seed=seed,
                    label_smoothing=_smoothing(chosen))
    # The two time-scale rule makes D learn 4x faster than G.
    d_rate = spec.learning_rate * (TTUR_D_LEARNING_RATE / LEARNING_RATE if "ttur" in chosen
                                   else 1)
    gan.compile(d_optimizer=keras.optimizers.Adam(d_rate, beta_1=spec.beta_1),
                g_optimizer=keras.optimizers.Adam(spec.learning_rate, beta_1=spec.beta_1))
    gan.optimizer.build()
    return gan


def _smoothing(chosen: tuple[str, ...]) -> float:
    return LABEL_SMOOTHING if "label_smoothing" in chosen else 0.0


def stabilisers(stabilise: bool | str | Iterable[str] | None) -> tuple[str, ...]:
    """Normalise a ``stabilise=`` argument to a sorted tuple of names from :data:`STABILISERS`.

    Args:
        stabilise: ``False``/``None`` (none), ``True`` (:data:`DEFAULT_STABILISERS`), one name
            or several.

    Returns:
        The names, sorted, without repeats.

    Raises:
        ValueError: An unknown name.

    Example:
        >>> stabilisers(True)
        ('label_smoothing', 'minibatch_std')
    """
    if stabilise is None or stabilise is False:
        return ()
    if stabilise is True:
        return tuple(sorted(DEFAULT_STABILISERS))
    names = (stabilise,) if isinstance(stabilise, str) else tuple(stabilise)
    unknown = sorted(set(names) - set(STABILISERS))
    if unknown:
        raise ValueError(f"Unknown stabiliser(s) {unknown}; choose from {sorted(STABILISERS)} "
                         "or pass stabilise=True.")
    return tuple(sorted(set(names)))


class _ArrayBatches(keras.utils.PyDataset):
    """Batches of an in-memory image array (and conditions), in an order drawn from
    ``(seed, epoch)`` like :class:`~celeba_lab.data.ImageBatches`, so a resumed run sees the
    same batches as an uninterrupted one."""

    def __init__(self, images, conditions=None, *, batch_size=32, steps_per_epoch=None,
                 seed=0):
        super().__init__()
        self.images, self.conditions = images, conditions
        self.batch_size, self.seed = batch_size, seed
        full = len(images) // batch_size
        if full == 0:
            raise ValueError(f"{len(images)} images cannot fill one batch of {batch_size}.")
        self.steps = int(steps_per_epoch or full)
        self.epoch = 0

    def _order(self):
        n = self.steps * self.batch_size
        rng = np.random.default_rng([self.seed, self.epoch])
        reps = int(math.ceil(n / len(self.images)))
        return np.concatenate([rng.permutation(len(self.images)) for _ in range(reps)])[:n]

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        order = self._order()
        rows = np.sort(order[index * self.batch_size:(index + 1) * self.batch_size])
        x = self.images[rows]
        x = x.astype("float32") / 255.0 if x.dtype == np.uint8 else x.astype("float32")
        if self.conditions is None:
            return x
        return x, self.conditions[rows].astype("float32")

    def on_epoch_end(self):
        self.epoch += 1


@dataclass
class _Source:
    # What train_gan trains on, however it was given.
    fingerprint: str
    ids_digest: str
    n_images: int
    condition_names: list[str]
    make_batches: Any
    fixed_conditions: Any  # callable(n, seed) -> (n, k) array, or None
    description: str


def _digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else json.dumps(part, sort_keys=True,
                                                                  default=str).encode())
    return h.hexdigest()[:12]


def _source(data, ids, conditions, image_size: int = IMAGE_SIZE) -> _Source:
    if data is None:
        from .data import load_celeba

        data = load_celeba()
    if isinstance(data, np.ndarray):
        return _array_source(data, ids, conditions, image_size)
    return _celeba_source(data, ids, conditions, image_size)


def _array_source(images: np.ndarray, ids, conditions, image_size: int = IMAGE_SIZE) -> _Source:
    if images.ndim != 4 or images.shape[1:] != (image_size, image_size, 3):
        other = [r.name for r in GAN_RECIPES.values() if images.shape[1:] == (r.image_size,) * 2
                 + (3,)]
        raise ValueError(
            f"Training images must have shape (n, {image_size}, {image_size}, 3) for this "
            f"recipe; got {images.shape}."
            + (f" Pass recipe={other[0]!r} for these images." if other else ""))
    rows = np.arange(len(images)) if ids is None else np.asarray(ids)
    names: list[str] = []
    matrix = None
    if conditions is not None:
        if hasattr(conditions, "columns"):
            names, matrix = [str(c) for c in conditions.columns], np.asarray(conditions)
        else:
            matrix = np.asarray(conditions)
            names = [f"c{i}" for i in range(matrix.shape[1])]
        if len(matrix) != len(images):
            raise ValueError(f"{len(matrix)} condition rows for {len(images)} images.")
        matrix = matrix.astype("float32")[rows]
    picked = images[rows]
    fingerprint = _digest(images.shape, str(images.dtype), images[:: max(1, len(images) // 64)]
                          .tobytes())

    def make_batches(batch_size, steps_per_epoch, seed):
        return _ArrayBatches(picked, matrix, batch_size=batch_size,
                             steps_per_epoch=steps_per_epoch, seed=seed)

    def fixed_conditions(n, seed):
        return matrix[np.random.default_rng(seed).integers(0, len(matrix), n)]

    return _Source(fingerprint=fingerprint, ids_digest=_digest(rows.tobytes()),
                   n_images=len(rows), condition_names=names, make_batches=make_batches,
                   fixed_conditions=fixed_conditions if matrix is not None else None,
                   description=f"an array of {len(images):,} images")


def _celeba_source(data, ids, conditions, image_size: int = IMAGE_SIZE) -> _Source:
    import celeba_lab as data_module  # check_attribute (data), gan_batches (batches)

    ids = data.attributes.index if ids is None else ids
    ids = list(ids)
    table = None
    names: list[str] = []
    if conditions is not None:
        if hasattr(conditions, "columns"):
            table = conditions
        else:
            names = [data_module.check_attribute(name) for name in conditions]
            table = data.attributes[names]
        names = [str(c) for c in table.columns]
        table = table.astype("float32")

    def make_batches(batch_size, steps_per_epoch, seed):
        return data_module.gan_batches(data, ids, batch_size=batch_size, size=image_size,
                                       shuffle=True, seed=seed, conditions=table,
                                       steps_per_epoch=steps_per_epoch)

    def fixed_conditions(n, seed):
        picked = np.random.default_rng(seed).choice(ids, n)
        unique = table.loc[~table.index.duplicated()]
        return unique.loc[picked].to_numpy("float32")

    kind = "synthetic" if getattr(data, "synthetic", False) else "real"
    return _Source(fingerprint=str(data.fingerprint), ids_digest=_digest("\n".join(ids)),
                   n_images=len(ids), condition_names=names, make_batches=make_batches,
                   fixed_conditions=fixed_conditions if table is not None else None,
                   description=f"{len(ids):,} images of {kind} CelebA")


def default_run_dir(name: str, settings: Mapping[str, Any]) -> Path:
    """``runs_dir()/"gans"/f"{name}-{key}"``, the key hashing the data and the settings.

    Args:
        name: Readable first part of the folder name.
        settings: Everything that makes a run different (data fingerprint, ids, conditions,
            batch size, steps, sizes, stabilisers, seed).

    Returns:
        The folder (not created).

    Example:
        >>> default_run_dir("dcgan", {"seed": 0}).name        # doctest: +SKIP
        'dcgan-...'
    """
    return config.runs_dir() / "gans" / f"{name}-{_digest(dict(settings))}"


def train_gan(data=None, *, ids=None, conditions=None, epochs: int | None = None,
              batch_size: int | None = None, steps_per_epoch: int | None = None,
              latent_dim: int = LATENT_DIM, stabilise: bool | str | Iterable[str] = False,
              recipe: str | None = None, width: float | None = None, seed: int = 0,
              name: str | None = None,
              run_dir: str | os.PathLike | None = None, resume: bool = True,
              monitor: bool = True, grid_size: int = 36, verbose: str | int = "auto",
              callbacks: Sequence[keras.callbacks.Callback] = ()) -> GANRun:
    """Train a DCGAN (the report's by default) with a monitor and per-epoch checkpoints.

    The run folder keeps everything: the fixed noise the monitor draws from, a grid of faces
    after every epoch (``grids/epoch_001.png`` and ``.npy``), a checkpoint after every epoch
    (both networks, both optimizers, the random state, the history; written atomically), and at
    the end ``generator.keras`` with ``metadata.json``. Calling again with the same data and
    settings resumes an interrupted run from its last finished epoch, or loads a finished one
    without training.

    Args:
        data: A :class:`~celeba_lab.data.CelebA` (default: :func:`~celeba_lab.load_celeba`),
            or a uint8/float array (n, 64, 64, 3) of images.
        ids: Image ids to train on (may repeat, e.g. attribute-balanced resampling); default
            all images (the report used all 202,599). For an array: row numbers.
        conditions: Attribute names (e.g. :data:`DEFAULT_CONDITIONS`) or a 0/1 DataFrame
            indexed by image id: trains a conditional GAN. For an array data set: an (n, k)
            array or DataFrame aligned with the rows.
        epochs: Epochs (default: the profile's ``gan_epochs``).
        batch_size: Batch size (default: the profile's ``gan_batch``, the report's 32).
        steps_per_epoch: Batches per epoch (default: the profile's ``gan_steps_per_epoch``;
            ``None`` means one pass over ``ids``).
        latent_dim: Noise size (the report: 64).
        stabilise: ``False`` (the report's training), ``True``, or names from
            :data:`STABILISERS`.
        recipe: A name from :data:`GAN_RECIPES` (default: the profile's ``gan_recipe``):
            ``"report"`` is the report's DCGAN, ``"small"`` a 32 x 32 one that learns faces
            in CPU minutes.
        width: Size multiplier of every layer (default: the recipe's).
        seed: Seed of initial weights, training noise, data order and the monitor's noise.
        name: First part of the run folder's name (default ``"dcgan"`` or
            ``"conditional-dcgan"``).
        run_dir: Use this folder instead of :func:`default_run_dir`.
        resume: Continue (or load) what ``run_dir`` holds. ``False`` deletes the run's files
            (never files it did not write, and never a folder that is not a GAN run) and
            starts over.
        monitor: Save the per-epoch grids of faces from fixed noise.
        grid_size: Faces in each monitor grid.
        verbose: ``"auto"``: a progress bar on a terminal, one line per epoch in a notebook
            or a log; 2: one line per epoch; 0: silent. Unless 0, the first line printed
            names the run profile in force
            (:func:`celeba_lab.config.training_announcement`).
        callbacks: Extra Keras callbacks.

    Returns:
        The :class:`GANRun`.

    Raises:
        CheckpointError: The run folder holds a checkpoint that is missing, corrupt or from
            other settings (the message says which file and what to do); another process is
            training it; or ``resume=False`` would delete a folder that is not a GAN run.
        ValueError: ``epochs``, ``batch_size`` or ``steps_per_epoch`` is not a whole number
            of at least 1.

    Example:
        >>> run = train_gan(epochs=3)                 # doctest: +SKIP
        >>> run.history["g_loss"]                     # doctest: +SKIP
    """
    profile = config.get_profile()
    epochs = whole_number("epochs", profile.gan_epochs if epochs is None else epochs)
    batch_size = whole_number("batch_size", profile.gan_batch if batch_size is None
                              else batch_size)
    if steps_per_epoch is None:
        steps_per_epoch = profile.gan_steps_per_epoch
    if steps_per_epoch is not None:
        steps_per_epoch = whole_number("steps_per_epoch", steps_per_epoch)
    spec = gan_recipe(profile.gan_recipe if recipe is None else recipe)
    source = _source(data, ids, conditions, spec.image_size)
    settings = {
        "format": _FORMAT_VERSION,
        "data_fingerprint": source.fingerprint,
        "ids": source.ids_digest,
        "n_images": source.n_images,
        "conditions": source.condition_names,
        "batch_size": batch_size,
        "steps_per_epoch": steps_per_epoch,
        "latent_dim": int(latent_dim),
        "stabilise": list(stabilisers(stabilise)),
        "recipe": spec.name,
        "width": float(spec.width if width is None else width),
        "seed": int(seed),
        "grid_size": int(grid_size) if monitor else 0,
    }
    name = name or ("conditional-dcgan" if source.condition_names else "dcgan")
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(name, settings)
    _refuse_foreign_folder(run_dir, resume)
    run_dir.mkdir(parents=True, exist_ok=True)
    # The lock comes first: nothing in a folder another process trains into is touched.
    with folder_lock(run_dir, "the GAN run", error=CheckpointError):
        if not resume:
            _clear_gan_run(run_dir)
        _claim_run_dir(run_dir, settings)
        _remove_temporaries(run_dir)
        return _run(run_dir, name, settings, source, epochs=epochs, batch_size=batch_size,
                    steps_per_epoch=steps_per_epoch, seed=seed, monitor=monitor,
                    verbose=verbose, callbacks=callbacks)


def _run(run_dir, name, settings, source, *, epochs, **training) -> GANRun:
    gan = _gan_from_settings(settings)
    history: dict[str, list[float]] = {}
    start = 0
    manifest = _read_manifest(run_dir)
    if manifest is not None:
        _restore_checkpoint(gan, run_dir, manifest)
        history, start = manifest["history"], int(manifest["epoch"])
    fixed = _fixed_inputs(run_dir, settings, source) if training["monitor"] else None

    metadata = _read_json(run_dir / "metadata.json") or {
        "name": name, "settings": settings, "data": source.description, "sessions": [],
    }
    if start >= epochs and (run_dir / "generator.keras").exists():
        if start > epochs:
            print(f"{run_dir.name}: already trained for {start} epochs (asked for {epochs}); "
                  "loading it as it is.")
        problem = _generator_problem(run_dir / "generator.keras", metadata)
        if problem is None:
            return GANRun(gan, run_dir, history, metadata)
        print(f"{run_dir.name}: {problem}; writing it again from the last checkpoint.")

    if start < epochs:
        _train_session(gan, run_dir, source, metadata, history, start=start, epochs=epochs,
                       fixed=fixed, **training)
    metadata.update(epochs_done=len(history.get("d_loss", [])), backend=keras.backend.backend(),
                    keras_version=keras.__version__, latent_dim=gan.latent_dim,
                    conditions=list(gan.condition_names))
    _save_generator(gan, run_dir, metadata)
    return GANRun(gan, run_dir, history, metadata)


# What train_gan writes into a run folder (besides atomic_path's temporaries and the lock).
_RUN_ENTRIES = ("settings.json", "checkpoint.json", "checkpoints", "grids", "metadata.json",
                "generator.keras", "fixed_noise.npy", "fixed_conditions.npy")


def _refuse_foreign_folder(run_dir: Path, resume: bool) -> None:
    # resume=False deletes a run's files: only in a folder that is a run of this package.
    if resume or not run_dir.is_dir() or (run_dir / "settings.json").is_file():
        return
    foreign = sorted(p.name for p in run_dir.iterdir()
                     if p.name != "training.lock" and not _is_temporary(p))
    if foreign:
        raise CheckpointError(
            f"{run_dir} is not a GAN run of celeba_lab (it has no settings.json) but holds "
            f"{', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}: train_gan(..., "
            "resume=False) deletes only its own runs. Pass a new or empty run_dir.")


def _clear_gan_run(run_dir: Path) -> None:
    for name in _RUN_ENTRIES:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _generator_problem(path: Path, metadata: Mapping[str, Any]) -> str | None:
    """Why the saved generator cannot be used (checksum or loading), or None."""
    expected = metadata.get("generator_sha256")
    if expected is not None:
        return None if _sha256(path) == expected else (
            f"{path} is corrupt (its checksum does not match metadata.json)")
    try:
        keras.saving.load_model(path, compile=False)
    except Exception as error:  # zip, HDF5 or config errors: all mean the file is unusable
        return f"{path} cannot be read ({type(error).__name__})"
    return None


def _train_session(gan, run_dir, source, metadata, history, *, start, epochs, batch_size,
               steps_per_epoch, seed, monitor, fixed, verbose, callbacks) -> None:
    metadata["sessions"].append({"start_epoch": start, "epochs": epochs,
                                 "backend": keras.backend.backend()})
    # Recorded before training, so that a killed session still shows in the run's story.
    write_json_atomic(run_dir / "metadata.json", metadata)
    batches = source.make_batches(batch_size, steps_per_epoch, seed)
    if verbose != 0:
        recipe = metadata["settings"].get("recipe", "report")
        print(config.training_announcement(
            f"{run_dir.name.rsplit('-', 1)[0]} ({recipe} recipe), {epochs} epochs x "
            f"{len(batches):,} steps of {batch_size} images", data=source.description,
            real=source.description.endswith(" real CelebA")))
        if start:
            print(f"{run_dir.name}: resuming after epoch {start} of {epochs}.")
    # Batches are drawn from (seed, epoch): a resumed run continues with the same ones.
    batches.epoch = start
    history_cb = _History(history)
    own = [history_cb]
    if monitor:
        own.append(_Monitor(run_dir, *fixed))
    own.append(_Checkpointer(run_dir, history_cb))
    level, printers = fit_verbosity(verbose)
    began = time.perf_counter()
    gan.fit(batches, epochs=epochs, initial_epoch=start, verbose=level,
            callbacks=[*own, *printers, *callbacks])
    metadata["sessions"][-1]["seconds"] = round(time.perf_counter() - began, 2)
    metadata["sessions"][-1]["steps_per_epoch"] = len(batches)


def _gan_from_settings(settings: Mapping[str, Any]) -> DCGAN:
    return build_gan(conditions=settings["conditions"], latent_dim=settings["latent_dim"],
                     stabilise=settings["stabilise"], width=settings["width"],
                     seed=settings["seed"], recipe=settings.get("recipe", "report"))


def _claim_run_dir(run_dir: Path, settings: Mapping[str, Any]) -> None:
    # A run folder belongs to one set of settings; training other settings into it would mix
    # two runs' checkpoints.
    path = run_dir / "settings.json"
    existing = _read_json(path)
    if existing is None:
        if _read_manifest_text(run_dir) is not None:
            raise CheckpointError(_advice(run_dir, f"{path} is missing or unreadable, but the "
                                                   "folder holds a checkpoint"))
        write_json_atomic(path, dict(settings))
    elif existing != json.loads(json.dumps(dict(settings))):
        changed = sorted(k for k in set(existing) | set(settings)
                         if existing.get(k) != json.loads(json.dumps(settings.get(k))))
        raise CheckpointError(_advice(run_dir, f"it was trained with other settings "
                                               f"(differences: {', '.join(changed)})"))


def _remove_temporaries(run_dir: Path) -> None:
    # Half-written files of a killed process (atomic_path's ".name.XXXX.tmp..."): never trusted,
    # so safe to delete before this session writes its own.
    for path in run_dir.rglob(".*.tmp*"):
        if not _is_temporary(path):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _is_temporary(path: Path) -> bool:
    return path.name.startswith(".") and ".tmp" in path.name


def _advice(run_dir: Path, problem: str) -> str:
    return (f"Cannot resume the GAN run in {run_dir}: {problem}. Delete the run folder "
            f"(shutil.rmtree('{run_dir}')) or call train_gan(..., resume=False) to start this "
            "run over, or pass another run_dir.")


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _fixed_inputs(run_dir: Path, settings: Mapping[str, Any], source: _Source):
    # The monitor's noise is drawn once and saved with the run, so resumed epochs draw the
    # same faces as the first ones.
    noise_path = run_dir / "fixed_noise.npy"
    cond_path = run_dir / "fixed_conditions.npy"
    n = settings["grid_size"]
    if not noise_path.exists():
        noise = latent_noise(n, settings["latent_dim"], settings["seed"])
        with atomic_path(noise_path) as tmp:
            np.save(tmp, noise, allow_pickle=False)
    if settings["conditions"] and not cond_path.exists():
        with atomic_path(cond_path) as tmp:
            np.save(tmp, source.fixed_conditions(n, settings["seed"]), allow_pickle=False)
    noise = np.load(noise_path)
    conditions = np.load(cond_path) if settings["conditions"] else None
    return noise, conditions


class _History(keras.callbacks.Callback):
    """Per-epoch means and per-step values of the losses and accuracies."""

    EPOCH_KEYS = ("d_loss", "g_loss", "d_real_accuracy", "d_fake_accuracy")
    # Reading a step's losses waits for the GPU to finish that step. Async-safe, JAX and
    # PyTorch call this callback from other threads, so the next steps are queued meanwhile
    # (measured on an H100: see book/06_performance.md). Those calls may come in any order;
    # the epoch's end puts them in order.
    async_safe = True

    def __init__(self, history: dict[str, list[float]]):
        super().__init__()
        self.history = history
        for key in (*self.EPOCH_KEYS, "step_d_loss", "step_g_loss"):
            history.setdefault(key, [])
        self._step_means: list[tuple[int, float, float]] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._step_means = []

    def on_train_batch_end(self, batch, logs=None):
        self._step_means.append((batch, float(logs["d_loss"]), float(logs["g_loss"])))

    def on_epoch_end(self, epoch, logs=None):
        # Keras has waited for every step's call by now. fit() logs running means; step k's
        # own value is k * mean_k - (k - 1) * mean_(k-1).
        before = {"d_loss": 0.0, "g_loss": 0.0}
        for batch, *means in sorted(self._step_means):
            k = batch + 1
            for key, mean in zip(("d_loss", "g_loss"), means):
                self.history[f"step_{key}"].append(k * mean - (k - 1) * before[key])
                before[key] = mean
        self._step_means = []
        for key in self.EPOCH_KEYS:
            self.history[key].append(float(logs[key]))


class _Monitor(keras.callbacks.Callback):
    """After every epoch, draw faces from the fixed noise and save them as PNG and .npy."""

    def __init__(self, run_dir: Path, noise: np.ndarray, conditions: np.ndarray | None):
        super().__init__()
        self.dir = run_dir / "grids"
        self.noise, self.conditions = noise, conditions

    def on_epoch_end(self, epoch, logs=None):
        images = _to_uint8(generate_images(self.model.generator, len(self.noise),
                                           noise=self.noise, conditions=self.conditions))
        stem = self.dir / f"epoch_{epoch + 1:03d}"
        with atomic_path(stem.with_suffix(".npy")) as tmp:
            np.save(tmp, images, allow_pickle=False)
        from PIL import Image

        with atomic_path(stem.with_suffix(".png")) as tmp:
            Image.fromarray(image_grid(images)).save(tmp, format="PNG")


class _Checkpointer(keras.callbacks.Callback):
    """After every epoch, write a complete checkpoint folder, then point the manifest at it."""

    def __init__(self, run_dir: Path, history: _History):
        super().__init__()
        self.run_dir, self.history = run_dir, history

    def on_epoch_end(self, epoch, logs=None):
        save_checkpoint(self.model, self.run_dir, epoch + 1, self.history.history)


def save_checkpoint(gan: DCGAN, run_dir: str | os.PathLike, epoch: int,
                    history: Mapping[str, list[float]]) -> Path:
    """Write the checkpoint of ``epoch`` into ``run_dir`` without ever exposing a partial one.

    The files go into a new folder ``checkpoints/epoch_NNN`` (written under a temporary name
    and renamed when complete); then ``checkpoint.json`` (the manifest: epoch, folder, SHA-256
    of every file, history) is replaced atomically; only then are older folders removed. A
    process killed at any moment leaves the previous or the new checkpoint, both whole.

    Args:
        gan: The GAN to save (networks, optimizers, random state).
        run_dir: The run folder.
        epoch: Epochs finished (1 for the first).
        history: The loss history so far, stored in the manifest.

    Returns:
        The checkpoint folder.

    Example:
        >>> save_checkpoint(run.gan, run.run_dir, run.epochs_done, run.history)  # doctest: +SKIP
    """
    run_dir = Path(run_dir)
    folder = run_dir / "checkpoints" / f"epoch_{epoch:03d}"
    if folder.exists():
        shutil.rmtree(folder)
    with atomic_path(folder, directory=True) as tmp:
        gan.generator.save_weights(tmp / "generator.weights.h5")
        gan.discriminator.save_weights(tmp / "discriminator.weights.h5")
        np.savez(tmp / "optimizers.npz", **_variables_dict("d", gan.d_optimizer.variables),
                 **_variables_dict("g", gan.g_optimizer.variables))
        np.savez(tmp / "random_state.npz", **_variables_dict("s", _random_states(gan)))
    manifest = {
        "format": _FORMAT_VERSION,
        "epoch": int(epoch),
        "folder": folder.relative_to(run_dir).as_posix(),
        "files": {name: _sha256(folder / name) for name in _CHECKPOINT_FILES},
        "optimizer_iterations": {"d": int(ops.convert_to_numpy(gan.d_optimizer.iterations)),
                                 "g": int(ops.convert_to_numpy(gan.g_optimizer.iterations))},
        "history": {k: list(map(float, v)) for k, v in history.items()},
    }
    write_json_atomic(run_dir / "checkpoint.json", manifest)
    for old in (run_dir / "checkpoints").iterdir():
        if old.is_dir() and old.name != folder.name:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def _random_states(gan: DCGAN) -> list:
    # Every seed generator the GAN owns (its own, and D's dropout), in a stable order.
    return [v for v in gan.non_trainable_variables if "seed_generator" in v.path]


def _variables_dict(prefix: str, variables) -> dict[str, np.ndarray]:
    return {f"{prefix}{i:04d}": ops.convert_to_numpy(v) for i, v in enumerate(variables)}


def _sha256(path: Path) -> str:
    return file_digest(path, "sha256")


def _read_manifest_text(run_dir: Path) -> str | None:
    path = run_dir / "checkpoint.json"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _read_manifest(run_dir: Path) -> dict | None:
    text = _read_manifest_text(run_dir)
    if text is None:
        if (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").iterdir()):
            raise CheckpointError(_advice(run_dir, f"{run_dir / 'checkpoint.json'} is missing "
                                                   "but the checkpoints folder is not empty"))
        return None
    try:
        manifest = json.loads(text)
        int(manifest["epoch"]), manifest["folder"], manifest["files"], manifest["history"]
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(_advice(run_dir, f"{run_dir / 'checkpoint.json'} is corrupt "
                                               f"({type(error).__name__}: {error})")) from None
    return manifest


def _restore_checkpoint(gan: DCGAN, run_dir: Path, manifest: Mapping[str, Any]) -> None:
    folder = run_dir / manifest["folder"]
    for name, digest in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise CheckpointError(_advice(run_dir, f"the checkpoint of epoch "
                                                   f"{manifest['epoch']} lacks {path}"))
        if _sha256(path) != digest:
            raise CheckpointError(_advice(run_dir, f"{path} is corrupt (its checksum does not "
                                                   "match checkpoint.json)"))
    try:
        gan.generator.load_weights(folder / "generator.weights.h5")
        gan.discriminator.load_weights(folder / "discriminator.weights.h5")
        with np.load(folder / "optimizers.npz") as saved:
            _assign(gan.d_optimizer.variables, saved, "d")
            _assign(gan.g_optimizer.variables, saved, "g")
        with np.load(folder / "random_state.npz") as saved:
            _assign(_random_states(gan), saved, "s")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise CheckpointError(_advice(run_dir, f"the checkpoint in {folder} does not fit this "
                                               f"model ({type(error).__name__}: {error})")) from None


def _assign(variables, saved, prefix: str) -> None:
    keys = sorted(k for k in saved.files if k.startswith(prefix))
    if len(keys) != len(variables):
        raise ValueError(f"{len(keys)} saved '{prefix}' arrays for {len(variables)} variables")
    for variable, key in zip(variables, keys):
        value = saved[key]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{variable.path}: saved shape {value.shape}, "
                             f"model shape {tuple(variable.shape)}")
        variable.assign(value)


def _save_generator(gan: DCGAN, run_dir: Path, metadata: dict) -> None:
    with atomic_path(run_dir / "generator.keras") as tmp:
        gan.generator.save(tmp)
        metadata["generator_sha256"] = _sha256(tmp)
    write_json_atomic(run_dir / "metadata.json", metadata)


def load_gan_run(path: str | os.PathLike) -> GANRun:
    """Load a run folder written by :func:`train_gan`: the GAN at its last checkpoint.

    Args:
        path: The run folder.

    Returns:
        The :class:`GANRun` (both networks and optimizers restored).

    Raises:
        CheckpointError: No usable settings or checkpoint in ``path``.

    Example:
        >>> run = load_gan_run(train_gan().run_dir)           # doctest: +SKIP
    """
    run_dir = Path(path)
    settings = _read_json(run_dir / "settings.json")
    if settings is None:
        raise CheckpointError(f"{run_dir} is not a GAN run folder: {run_dir / 'settings.json'} "
                              "is missing or unreadable. Pass the folder train_gan returned "
                              "(run.run_dir).")
    manifest = _read_manifest(run_dir)
    if manifest is None:
        raise CheckpointError(f"{run_dir} holds no finished epoch yet (no checkpoint.json); "
                              "train it with train_gan(..., run_dir=...).")
    gan = _gan_from_settings(settings)
    _restore_checkpoint(gan, run_dir, manifest)
    metadata = _read_json(run_dir / "metadata.json") or {"settings": settings}
    return GANRun(gan, run_dir, manifest["history"], metadata)


def load_generator(path: str | os.PathLike) -> keras.Model:
    """Load a trained generator: a run folder (its ``generator.keras``) or a ``.keras`` file.

    Args:
        path: The run folder or the file.

    Returns:
        The generator (not compiled).

    Raises:
        FileNotFoundError: No saved generator there (with what to do).
        CheckpointError: The saved generator is corrupt (the same ``train_gan`` call writes it
            again from the run's last checkpoint).

    Example:
        >>> generator = load_generator(run.run_dir)           # doctest: +SKIP
    """
    path = Path(path)
    file = path / "generator.keras" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"No saved generator at {file}. Finish the run with "
                                "train_gan(...) first (it writes generator.keras at the end).")
    metadata = _read_json(file.parent / "metadata.json") or {}
    problem = _generator_problem(file, metadata)
    if problem is None:
        try:
            return keras.saving.load_model(file, compile=False)
        except Exception as error:  # checksum right but unreadable: another Keras, say
            problem = f"{file} cannot be read ({type(error).__name__}: {error})"
    raise CheckpointError(f"{problem}. Call train_gan(...) again with the run's arguments "
                          f"(run_dir='{file.parent}'): it writes generator.keras again from "
                          "the last checkpoint.")


__all__ = [
    "LATENT_DIM", "IMAGE_SIZE", "IMAGE_SIZES", "GANRecipe", "GAN_RECIPES", "gan_recipe",
    "DEFAULT_CONDITIONS", "STABILISERS", "DEFAULT_STABILISERS",
    "LABEL_SMOOTHING", "CheckpointError", "seed_generator", "seed_discriminator",
    "stabilised_discriminator", "conditional_generator", "conditional_discriminator",
    "MinibatchStdDev", "DCGAN", "ConditionalDCGAN", "build_gan", "stabilisers", "latent_noise",
    "condition_matrix", "generate_images", "interpolate_latents", "latent_walk", "image_grid",
    "GANRun", "train_gan", "default_run_dir", "save_checkpoint", "load_gan_run",
    "load_generator",
]
