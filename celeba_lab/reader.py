"""The attribute reader: one small network that reads seven attributes at the generator's size.

Classifiers trained on full-size photographs read enlarged 32 x 32 generated faces badly, so
chapter 5 reads them with a flat ``Sequential`` trained on real faces at the generator's size
(about a minute on a CPU), checked (:func:`~celeba_lab.learned.reading_check`) on generated
faces with known intended attributes from :func:`invert_generator`.

Example:
    >>> attribute_reader(image_size=32).count_params()
    173607
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import keras
import numpy as np
import pandas as pd
from keras import layers

from ._checks import whole_number
from .cache import decoded_images
from .collapse import MEASURED_ATTRIBUTES, Measurement

__all__ = ["attribute_reader", "train_attribute_reader", "read_faces", "Inversion",
           "invert_generator"]


def attribute_reader(*, image_size: int = 32,
                     attributes: Sequence[str] = MEASURED_ATTRIBUTES) -> keras.Model:
    """The reader's network: three convolution blocks, a 64-feature layer, one output each.

    Args:
        image_size: Side of the square faces it reads (the generator's).
        attributes: The attributes it reads, one sigmoid output each.

    Returns:
        An uncompiled ``keras.Sequential``.

    Example:
        >>> attribute_reader(image_size=32, attributes=("Male",)).output_shape
        (None, 1)
    """
    image_size = whole_number("image_size", image_size, minimum=8)
    return keras.Sequential([
        keras.Input(shape=(image_size, image_size, 3), name="face"),
        # Training only: blur and noise of the kind a generator adds, so that the reader
        # learns to read the face rather than the texture of its pixels.
        layers.RandomGaussianBlur(factor=1.0, kernel_size=5, sigma=1.0, value_range=(0, 1)),
        layers.GaussianNoise(0.05),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(96, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        # The attribute feature space: distances between faces are measured here.
        layers.Dense(64, activation="relu", name="features"),
        layers.Dropout(0.3),
        layers.Dense(len(attributes), activation="sigmoid", name="attributes"),
    ], name="attribute_reader")


def train_attribute_reader(data, ids: Sequence[str], *, image_size: int = 32,
                           attributes: Sequence[str] = MEASURED_ATTRIBUTES, epochs: int = 12,
                           batch_size: int = 64, seed: int = 0) -> keras.Model:
    """Train :func:`attribute_reader` on annotated real faces at ``image_size``.

    Args:
        data: A :class:`~celeba_lab.data.CelebA`.
        ids: The training faces' ids (their annotations are the targets).
        image_size: Side the faces are squashed to (the generator's).
        attributes: The attributes to read.
        epochs: Passes over ``ids``.
        batch_size: Faces per step.
        seed: Seed of the initial weights and the order of the faces.

    Returns:
        The trained model; ``model.attribute_names`` lists its outputs in order.

    Example:
        >>> reader = train_attribute_reader(data, data.split("train")[:64], epochs=1)
        >>> reader.attribute_names[:2]
        ('Male', 'Eyeglasses')
    """
    epochs = whole_number("epochs", epochs)
    batch_size = whole_number("batch_size", batch_size)
    keras.utils.set_random_seed(whole_number("seed", seed, minimum=0))
    ids = list(ids)
    faces = np.asarray(decoded_images(data, ids, size=image_size), dtype="float32") / 255.0
    targets = data.attributes.loc[ids, list(attributes)].to_numpy("float32")
    reader = attribute_reader(image_size=image_size, attributes=attributes)
    reader.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    reader.fit(faces, targets, batch_size=batch_size, epochs=epochs, verbose=0)
    reader.attribute_names = tuple(attributes)
    return reader


def read_faces(reader: keras.Model, faces: np.ndarray, *, batch_size: int = 256) -> Measurement:
    """The reader's probabilities and features for each face, in one pass.

    Args:
        reader: A trained :func:`attribute_reader` (from :func:`train_attribute_reader`).
        faces: float (n, s, s, 3) in [0, 1], at the reader's size.
        batch_size: Faces per forward pass.

    Returns:
        A :class:`~celeba_lab.collapse.Measurement`: probabilities, and the 64 ``features``.

    Raises:
        ValueError: faces of another size than the reader's.

    Example:
        >>> reader = train_attribute_reader(data, data.split("train")[:64], epochs=1)
        >>> read_faces(reader, np.zeros((3, 32, 32, 3))).features.shape
        (3, 64)
    """
    faces = np.asarray(faces, dtype="float32")
    if faces.shape[1:] != tuple(reader.input_shape[1:]):
        raise ValueError(f"The reader reads faces of shape {reader.input_shape[1:]}; got "
                         f"{faces.shape[1:]}. Resize them, or train a reader at that size.")
    both = keras.Model(reader.inputs[0], [reader.get_layer("features").output,
                                          reader.layers[-1].output])
    parts = [[keras.ops.convert_to_numpy(t) for t in both(faces[i:i + batch_size],
                                                          training=False)]
             for i in range(0, len(faces), batch_size)]
    features = np.concatenate([p[0] for p in parts]).astype("float32")
    scores = np.concatenate([p[1] for p in parts]).astype(float)
    names = getattr(reader, "attribute_names", MEASURED_ATTRIBUTES)
    return Measurement(pd.DataFrame(scores, columns=list(names),
                                    index=pd.RangeIndex(len(faces), name="image")), features)


@dataclass(frozen=True)
class Inversion:
    """Generated faces that reconstruct given faces (:func:`invert_generator`).

    Attributes:
        latents: float (n, latent_dim): the noise found for each face.
        reconstructions: float (n, s, s, 3): the generator's face from that noise.
        errors: Mean squared pixel error of each reconstruction.
    """

    latents: np.ndarray
    reconstructions: np.ndarray
    errors: np.ndarray


def invert_generator(generator: keras.Model, faces: np.ndarray, *, steps: int = 150,
                     learning_rate: float = 0.05, conditions: np.ndarray | None = None,
                     seed: int = 0) -> Inversion:
    """Find the noise from which a trained generator draws each face most closely.

    The generator is frozen; one noise vector per face (a Keras ``Embedding``) is fitted by Adam
    on the mean squared pixel error, all faces in one batch. A trait the generator cannot draw
    is wrong in its reconstruction too, and counts against the reader: the check is strict.

    Args:
        generator: A trained generator (noise, or ``[noise, conditions]``, to faces in [0, 1]).
        faces: float (n, s, s, 3) in [0, 1] at the generator's size.
        steps: Adam steps.
        learning_rate: Adam's learning rate.
        conditions: For a conditional generator, the (n, k) 0/1 conditions of the faces.
        seed: Seed of the starting noise.

    Returns:
        An :class:`Inversion`; the originals' annotations are its faces' intended attributes.

    Raises:
        ValueError: faces not at the generator's size, or conditions missing or not expected.

    Example:
        >>> from celeba_lab.gan import report_generator
        >>> g = report_generator(width=0.25, image_size=32)
        >>> inv = invert_generator(g, np.full((4, 32, 32, 3), 0.5), steps=5)
        >>> inv.reconstructions.shape, inv.latents.shape
        ((4, 32, 32, 3), (4, 64))
    """
    steps = whole_number("steps", steps)
    faces = np.asarray(faces, dtype="float32")
    conditional = isinstance(generator.input_shape, list)
    noise_shape = generator.input_shape[0] if conditional else generator.input_shape
    if faces.ndim != 4 or faces.shape[1:] != tuple(generator.output_shape[1:]):
        raise ValueError(f"The generator draws {generator.output_shape[1:]}; the faces to "
                         f"invert are {faces.shape[1:]}. Resize them to the generator's size.")
    if conditional != (conditions is not None):
        raise ValueError("Pass conditions for a conditional generator, and only for one.")
    n, latent_dim = len(faces), noise_shape[-1]
    generator.trainable = False
    index = keras.Input(shape=(), dtype="int32", name="face_index")
    latent = layers.Embedding(n, latent_dim, name="latents", embeddings_initializer=
                              keras.initializers.RandomNormal(seed=seed))(index)
    if conditional:
        condition = keras.Input(shape=(np.shape(conditions)[1],), name="conditions")
        search = keras.Model([index, condition], generator([latent, condition], training=False))
    else:
        search = keras.Model([index], generator(latent, training=False))
    search.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    x = [np.arange(n), np.asarray(conditions, "float32")] if conditional else np.arange(n)
    search.fit(x, faces, batch_size=n, epochs=steps, verbose=0, shuffle=False)
    latents = keras.ops.convert_to_numpy(search.get_layer("latents").embeddings)
    reconstructions = np.asarray(search.predict(x, batch_size=256, verbose=0), dtype="float32")
    errors = ((reconstructions - faces) ** 2).reshape(n, -1).mean(axis=1)
    return Inversion(np.asarray(latents, "float32"), reconstructions, errors)
