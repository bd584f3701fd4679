"""The report's DCGAN: its two networks, their conditional and stabilised variants, and the
``keras.Model`` that trains them against each other. Read it top to bottom.

``width`` scales every layer (``width=1`` is the report's) for small copies in quick runs.
JAX and PyTorch steps: :mod:`celeba_lab.gan_backends`; runs: :mod:`celeba_lab.gan_training`.

Example:
    >>> gan = DCGAN(report_generator(width=0.125), report_discriminator(width=0.125))
    >>> gan.compile()
    >>> generate_images(gan.generator, 2).shape
    (2, 64, 64, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import keras
import numpy as np
from keras import layers, ops

from . import gan_backends

#: Size of the generator's input noise in the report.
LATENT_DIM = 64
#: Side of the generated (and discriminated) images, in pixels: the report's 64.
IMAGE_SIZE = 64
#: The image sides the networks can be built for (a 32 x 32 GAN learns in CPU minutes).
IMAGE_SIZES = (32, 64)
#: Attributes a conditional GAN is conditioned on by default: those the report concerns.
DEFAULT_CONDITIONS: tuple[str, ...] = (
    "Male", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Eyeglasses", "Smiling",
)
#: The stabilisation techniques :func:`~celeba_lab.train_gan` can switch on (``stabilise=``).
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
#: What ``stabilise=True`` switches on: the remedy for a lack of variety, and a cheap guard.
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


#: The GANs :func:`~celeba_lab.train_gan` knows: ``"report"`` is the report's DCGAN exactly;
#: ``"small"`` changes four things so that faces appear in CPU minutes (about 2,500 steps).
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
        ValueError: an unknown ``name``.

    Example:
        >>> gan_recipe("small").image_size
        32
    """
    if name not in GAN_RECIPES:
        raise ValueError(f"Unknown GAN recipe {name!r}; choose one of {sorted(GAN_RECIPES)}.")
    return GAN_RECIPES[name]


# The networks -------------------------------------------------------------------------------

def report_generator(latent_dim: int = LATENT_DIM, *, width: float = 1.0,
                     image_size: int = IMAGE_SIZE, batch_norm: bool = False) -> keras.Model:
    """The report's generator: noise of size ``latent_dim`` to a 64 x 64 RGB face in [0, 1].

    Args:
        latent_dim: Size of the input noise (the report: 64).
        width: Multiplies every layer's size; 1 is the report's model (1,006,787 parameters).
        image_size: 64 (the report's) or 32 (without the first transposed convolution).
        batch_norm: Batch normalisation after the projection and each transposed convolution
            (the DCGAN paper's; the report has none).

    Returns:
        A ``keras.Sequential`` model named ``"generator"``.

    Example:
        >>> report_generator().count_params()
        1006787
        >>> report_generator(width=0.5, image_size=32, batch_norm=True).count_params()
        307651
    """
    _check_image_size(image_size)
    c = _channels(width)

    def norm():  # batch normalisation where the recipe asks for it
        return [layers.BatchNormalization()] if batch_norm else []

    def leaky_relu():
        return layers.LeakyReLU(negative_slope=0.2)

    return keras.Sequential([
        keras.Input(shape=(latent_dim,), name="noise"),
        # Project the noise to an 8 x 8 map of 64 channels.
        layers.Dense(8 * 8 * c(64)),
        layers.Reshape((8, 8, c(64))),
        *([*norm(), leaky_relu()] if batch_norm else []),
        # Double the side with stride-2 transposed convolutions:
        # 8 -> 16 -> 32 -> 64 (a 32 x 32 generator has the last two only).
        *([layers.Conv2DTranspose(c(64), kernel_size=4, strides=2,
                                  padding="same"),
           *norm(),
           leaky_relu()] if image_size == 64 else []),
        layers.Conv2DTranspose(c(128), kernel_size=4, strides=2, padding="same"),
        *norm(),
        leaky_relu(),
        layers.Conv2DTranspose(c(256), kernel_size=4, strides=2, padding="same"),
        *norm(),
        leaky_relu(),
        # Three colour channels in [0, 1].
        layers.Conv2D(3, kernel_size=5, padding="same", activation="sigmoid"),
    ], name="generator")


def report_discriminator(*, width: float = 1.0, image_size: int = IMAGE_SIZE,
                         minibatch_std: bool = False) -> keras.Model:
    """The report's discriminator: a 64 x 64 RGB image to the probability that it is real.

    Args:
        width: Multiplies every layer's size; 1 is the report's model (794,241 parameters).
        image_size: 64 (the report's) or 32 (without the last convolution).
        minibatch_std: Add :class:`MinibatchStdDev` before ``Flatten`` (the report has none).

    Returns:
        A ``keras.Sequential`` model named ``"discriminator"``.

    Example:
        >>> report_discriminator().count_params()
        794241
        >>> report_discriminator(width=0.5, image_size=32).count_params()
        133889
    """
    _check_image_size(image_size)
    c = _channels(width)
    return keras.Sequential([
        keras.Input(shape=(image_size, image_size, 3), name="image"),
        # Halve the side with stride-2 convolutions: 64 -> 32 -> 16 -> 8,
        layers.Conv2D(c(64), kernel_size=4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(c(128), kernel_size=4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(c(128), kernel_size=4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        # -> 4 (64 x 64 images only: a 32 x 32 image is at 4 x 4 already).
        *([layers.Conv2D(c(128), kernel_size=4, strides=2, padding="same"),
           layers.LeakyReLU(negative_slope=0.2)] if image_size == 64 else []),
        *([MinibatchStdDev()] if minibatch_std else []),
        # 4 x 4 x 128 = 2,048 features, then a small classifier.
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(c(64), activation="relu"),
        layers.Dense(c(64), activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ], name="discriminator")


def _channels(width: float):
    # `width` scales every layer: c(64) is 64 channels at width 1, 8 at width 0.125.
    return lambda n: max(1, int(round(n * width)))


def _check_image_size(image_size: int) -> None:
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {image_size!r}.")


def stabilised_discriminator(*, width: float = 1.0, image_size: int = IMAGE_SIZE) -> keras.Model:
    """The report's discriminator with a minibatch-standard-deviation feature before Flatten.

    Mode collapse is a lack of *variety*, which a discriminator judging images one at a time
    cannot see. :class:`MinibatchStdDev` (Karras et al. 2018) appends the average spread of the
    batch's features, so a batch all alike is told apart from real ones: 1,024 weights more.

    Args:
        width: As in :func:`report_discriminator`.
        image_size: As in :func:`report_discriminator`.

    Returns:
        A ``keras.Sequential`` model named ``"discriminator"``.

    Example:
        >>> stabilised_discriminator().count_params()
        795265
    """
    return report_discriminator(width=width, image_size=image_size, minibatch_std=True)


def conditional_generator(n_conditions: int, latent_dim: int = LATENT_DIM, *,
                          width: float = 1.0, image_size: int = IMAGE_SIZE,
                          batch_norm: bool = False) -> keras.Model:
    """The report's generator, told which attributes to draw.

    The 0/1 condition vector joins the noise before the first dense layer (Mirza & Osindero
    2014): ``n_conditions x 4,096`` weights more; the rest is the report's generator.

    Args:
        n_conditions: Length of the condition vector (one entry per attribute).
        latent_dim: Size of the input noise.
        width: As in :func:`report_generator`.
        image_size: As in :func:`report_generator`.
        batch_norm: As in :func:`report_generator`.

    Returns:
        A functional model with inputs ``[noise, conditions]``, named ``"generator"``.

    Raises:
        ValueError: ``n_conditions`` is below 1.

    Example:
        >>> conditional_generator(7).count_params() - report_generator().count_params()
        28672
    """
    _check_n_conditions(n_conditions)
    noise = keras.Input(shape=(latent_dim,), name="noise")
    conditions = keras.Input(shape=(n_conditions,), name="conditions")
    x = layers.Concatenate()([noise, conditions])
    # The report's generator, its first layer taking latent_dim + n_conditions numbers.
    for layer in report_generator(latent_dim + n_conditions, width=width,
                                  image_size=image_size, batch_norm=batch_norm).layers:
        x = layer(x)
    return keras.Model([noise, conditions], x, name="generator")


def conditional_discriminator(n_conditions: int, *, width: float = 1.0,
                              minibatch_std: bool = False,
                              image_size: int = IMAGE_SIZE) -> keras.Model:
    """The report's discriminator, judging whether an image is real *and* has the attributes.

    The conditions enter as constant channels beside the RGB ones (so convolutions can check
    hair colour where hair is) and beside the flattened features; in between, the report's.

    Args:
        n_conditions: Length of the condition vector.
        width: As in :func:`report_discriminator`.
        minibatch_std: As in :func:`report_discriminator`.
        image_size: As in :func:`report_discriminator`.

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
    _check_image_size(image_size)
    c = _channels(width)
    image = keras.Input(shape=(image_size, image_size, 3), name="image")
    conditions = keras.Input(shape=(n_conditions,), name="conditions")
    planes = layers.Reshape((1, 1, n_conditions))(conditions)
    planes = layers.UpSampling2D(size=image_size)(planes)
    x = layers.Concatenate()([image, planes])
    # The report discriminator's convolutions (the first three only at 32 x 32).
    for filters in (64, 128, 128, 128)[:4 if image_size == 64 else 3]:
        x = layers.Conv2D(c(filters), kernel_size=4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(negative_slope=0.2)(x)
    if minibatch_std:
        x = MinibatchStdDev()(x)
    x = layers.Dropout(0.2)(layers.Flatten()(x))
    x = layers.Concatenate()([x, conditions])
    x = layers.Dense(c(64), activation="relu")(x)
    x = layers.Dense(c(64), activation="relu")(x)
    return keras.Model([image, conditions], layers.Dense(1, activation="sigmoid")(x),
                       name="discriminator")


def _check_n_conditions(n_conditions: int) -> None:
    if int(n_conditions) < 1:
        raise ValueError(f"A conditional GAN needs at least one condition, got {n_conditions}.")


@keras.saving.register_keras_serializable(package="celeba_lab")
class MinibatchStdDev(layers.Layer):
    """Append one constant channel: the mean over features of their standard deviation across
    the batch. Real batches are varied; a collapsed generator's are not."""

    def call(self, inputs):
        spread = ops.mean(ops.sqrt(ops.var(inputs, axis=0) + 1e-8))
        channel = ops.ones_like(inputs[..., :1]) * spread
        return ops.concatenate([inputs, channel], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


# The GAN ------------------------------------------------------------------------------------

class DCGAN(keras.Model):
    """A generator and a discriminator trained against each other with ``fit()``.

    Each ``train_step`` makes one discriminator update (real faces should score 1, generated
    ones 0), then one generator update (its faces should score 1 through the *updated* D),
    with binary cross-entropy as in the Keras DCGAN example the report followed. Conditional
    networks train on ``(images, conditions)`` batches.

    Args:
        generator: Maps noise (or ``[noise, conditions]``) to (64, 64, 3) images in [0, 1].
        discriminator: Maps an image (or ``[image, conditions]``) to a probability of "real".
        latent_dim: Noise size; default: read from the generator's input.
        label_smoothing: Real targets are ``1 - label_smoothing`` (fakes' stay 0); the report: 0.
        seed: Seed of :attr:`noise_seeds`, which draws every noise vector in training.
        condition_names: Names of the condition columns, for :meth:`generate` with a mapping.

    Example:
        >>> gan = DCGAN(report_generator(width=0.125), report_discriminator(width=0.125))
        >>> gan.compile()
        >>> faces = np.random.default_rng(0).random((16, 64, 64, 3), "float32")
        >>> sorted(gan.fit(faces, batch_size=8, epochs=1, verbose=0).history)
        ['d_fake_accuracy', 'd_loss', 'd_real_accuracy', 'g_loss']
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model,
                 latent_dim: int | None = None, *, label_smoothing: float = 0.0, seed: int = 0,
                 condition_names: Sequence[str] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim = int(latent_dim or generator.inputs[0].shape[-1])
        self.n_conditions = int(generator.inputs[1].shape[-1]) if len(generator.inputs) > 1 else 0
        if len(discriminator.inputs) != len(generator.inputs):
            raise ValueError(
                "The generator and the discriminator disagree about conditions: the generator "
                f"takes {len(generator.inputs)} input(s), the discriminator "
                f"{len(discriminator.inputs)}. Build both with conditional_* or both with "
                "report_*.")
        if not 0.0 <= label_smoothing < 0.5:
            raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}.")
        self.label_smoothing = float(label_smoothing)
        self.condition_names = tuple(condition_names) if condition_names else ()
        if self.condition_names and len(self.condition_names) != self.n_conditions:
            raise ValueError(f"{len(self.condition_names)} condition names for a generator "
                             f"that takes {self.n_conditions} conditions.")
        # Every noise vector of training is drawn from this: a run is reproducible, and its
        # state is saved with each checkpoint, so a resumed run draws what it would have drawn.
        self.noise_seeds = keras.random.SeedGenerator(seed)
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
        """Set the two optimizers and the loss; defaults are the report's (Adam 1e-4).

        Args:
            d_optimizer: Discriminator optimizer.
            g_optimizer: Generator optimizer.
            loss_fn: Loss on probabilities (default binary cross-entropy).
            **kwargs: Passed to :meth:`keras.Model.compile` (e.g. ``jit_compile``).
        """
        super().compile(optimizer=None, **kwargs)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(LEARNING_RATE)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(LEARNING_RATE)
        self.loss_fn = loss_fn or keras.losses.BinaryCrossentropy()
        # fit() sees both optimizers as one (what Keras' JAX trainer needs).
        self.optimizer = gan_backends.OptimizerPair(self)

    def call(self, inputs, training=False):
        """Generate images from noise (or ``[noise, conditions]``)."""
        return self.generator(inputs, training=training)

    def train_step(self, *args):
        """One discriminator update, then one generator update, on one batch (TensorFlow; the
        other backends': :func:`celeba_lab.gan_backends.train_step`)."""
        if keras.backend.backend() != "tensorflow":
            return gan_backends.train_step(self, *args)
        import tensorflow as tf

        real, conditions = self._unpack(*args)
        batch_size = ops.shape(real)[0]
        d, g = self.discriminator, self.generator

        def with_conditions(x):  # a conditional GAN's networks also see them
            return [x, conditions] if self.conditional else x

        def noise():
            return keras.random.normal((batch_size, self.latent_dim),
                                       seed=self.noise_seeds)

        # 1. The current generator draws a batch of fakes.
        fake = g(with_conditions(noise()), training=True)

        # 2. Discriminator: real faces should score 1, the fakes 0.
        #    Only D's weights move.
        with tf.GradientTape() as tape:
            real_pred = d(with_conditions(real), training=True)
            fake_pred = d(with_conditions(fake), training=True)
            d_loss = self._discriminator_loss(real_pred, fake_pred)
        grads = tape.gradient(d_loss, d.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, d.trainable_weights))

        # 3. Generator: on fresh noise, it should make the updated D answer
        #    "real". The gradient flows through D into G; only G's weights move.
        with tf.GradientTape() as tape:
            fake = g(with_conditions(noise()), training=True)
            g_loss = self._generator_loss(
                d(with_conditions(fake), training=True))
        grads = tape.gradient(g_loss, g.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, g.trainable_weights))

        # 4. Metrics: means over the epoch so far (fit() resets them each epoch).
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.real_accuracy.update_state(
            ops.mean(ops.cast(real_pred > 0.5, "float32")))  # D right on real
        self.fake_accuracy.update_state(
            ops.mean(ops.cast(fake_pred < 0.5, "float32")))  # D right on fakes
        return {m.name: m.result() for m in self.metrics}

    def _discriminator_loss(self, real_pred, fake_pred):
        # Real faces should score 1 (or 1 - smoothing), generated ones 0.
        real_target = ops.full_like(real_pred, 1.0 - self.label_smoothing)
        fake_target = ops.zeros_like(fake_pred)
        return 0.5 * (self.loss_fn(real_target, real_pred)
                      + self.loss_fn(fake_target, fake_pred))

    def _generator_loss(self, fake_pred):
        # The generator wins when the discriminator calls its faces real.
        return self.loss_fn(ops.ones_like(fake_pred), fake_pred)

    def _unpack(self, data):
        # A batch is images, or (images, conditions) for a conditional GAN.
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.conditional and y is None:
            raise ValueError("A conditional GAN trains on (images, conditions) batches; "
                             "got images only. Pass conditions= to gan_batches/train_gan.")
        return x, (y if self.conditional else None)

    def generate(self, n: int, *, seed: int = 0, conditions=None,
                 batch_size: int = 256) -> np.ndarray:
        """``n`` faces as :func:`generate_images` draws them; ``conditions`` may also be a
        mapping ``{attribute: 0 or 1}`` over :attr:`condition_names`."""
        return generate_images(self.generator, n, seed=seed,
                               conditions=condition_matrix(conditions, self.condition_names, n)
                               if self.conditional else conditions,
                               batch_size=batch_size)


class ConditionalDCGAN(DCGAN):
    """A :class:`DCGAN` whose networks take a condition vector of 0/1 attributes.

    Draws faces with chosen attributes: ``gan.generate(16, conditions={"Male": 1})``.

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


# Sampling -----------------------------------------------------------------------------------

def latent_noise(n: int, latent_dim: int = LATENT_DIM, seed: int = 0) -> np.ndarray:
    """Standard-normal noise (n, latent_dim) float32, the same for a seed on every backend.

    Args:
        n: Number of noise vectors.
        latent_dim: Their size.
        seed: Seed of NumPy's generator (not Keras', so every backend draws the same).

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

    Raises:
        ValueError: No conditions, unknown attribute names, or a shape that does not fit.

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
            (a mapping: :meth:`DCGAN.generate`).
        noise: Use this (n, latent_dim) noise instead of drawing it.
        batch_size: Faces generated per call.

    Returns:
        float32 array (n, 64, 64, 3) in [0, 1].

    Raises:
        ValueError: A conditional generator without ``conditions``.

    Example:
        >>> faces = generate_images(report_generator(width=0.125), 4)
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
    images = np.concatenate(out) if out else np.zeros((0, *generator.output_shape[1:]))
    return np.clip(images, 0.0, 1.0).astype("float32")


__all__ = [
    "GANRecipe", "gan_recipe", "DEFAULT_CONDITIONS", "STABILISERS", "DEFAULT_STABILISERS",
    "report_generator", "report_discriminator", "conditional_generator", "MinibatchStdDev",
    "DCGAN", "ConditionalDCGAN", "latent_noise", "generate_images",
]
