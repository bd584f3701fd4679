"""The instrument run on faces: attribute probabilities and feature vectors.

:class:`AttributeMeter` runs the book's attribute classifiers on any faces;
:func:`measure_real_faces` does it for CelebA ids at a generator's resolution. Two feature
spaces, never to be confused: :func:`classifier_features` (offline; compares the book's models
with each other only) and :func:`inception_features` (needs the ImageNet weights; the only
ones comparable with published FID/KID). Keras is imported only where a model is run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from .. import cache as image_cache
from .._io import file_digest
from ..attributes import HAIR_COLOURS
from .cells import MissingClassifierError, predicted_labels, sex_hair_cells


_INCEPTION_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
_INCEPTION_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
                  + _INCEPTION_FILE)
_INCEPTION_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"
_INCEPTION_SIZE = (299, 299)


class ImageSizeMismatchError(ValueError):
    """Images are not the size a classifier (or feature extractor) expects."""


class InceptionUnavailableError(RuntimeError):
    """Inception-v3 ImageNet weights are not on this machine and downloading was not allowed."""


class AttributeMeter:
    """Run the book's attribute classifiers on faces from any source.

    Args:
        classifiers: Attribute name -> trained classifier: a Keras model or the
            ``TrainedClassifier`` that :func:`celeba_lab.train_classifier` returns.
        batch_size: Images per prediction batch.
        scorer: ``scorer(model, images) -> P(positive)``; default
            :func:`celeba_lab.classifiers.predict_scores`.

    Example:
        Not run here: it needs seven trained classifiers and a trained generator.

        >>> meter = AttributeMeter({a: train_classifier(a).model for a in MEASURED_ATTRIBUTES})
        ... # doctest: +SKIP
        >>> probs = meter.probabilities(generate_images(gen, 500, seed=0), resize=True)
        ... # doctest: +SKIP
        >>> cells = sex_hair_cells(predicted_labels(probs))  # doctest: +SKIP
    """

    def __init__(self, classifiers: Mapping[str, Any], *, batch_size: int = 64,
                 scorer: Callable[[Any, np.ndarray], np.ndarray] | None = None):
        if not classifiers:
            raise MissingClassifierError("AttributeMeter needs at least one classifier.")
        self.classifiers = {name: getattr(c, "model", c) for name, c in classifiers.items()}
        self.batch_size = batch_size
        self._scorer = scorer

    @property
    def attributes(self) -> tuple[str, ...]:
        """The attributes this meter can measure."""
        return tuple(self.classifiers)

    def require(self, attributes: Iterable[str]) -> None:
        """Raise :class:`MissingClassifierError` unless every attribute has a classifier."""
        missing = [a for a in attributes if a not in self.classifiers]
        if missing:
            raise MissingClassifierError(
                f"No classifier for {missing}; the meter has {list(self.classifiers)}. Train one "
                f"per missing attribute with celeba_lab.train_classifier(name) (the hair colours "
                f"too: {list(HAIR_COLOURS)}) and pass it in the dict given to AttributeMeter.")

    def probabilities(self, images: np.ndarray, attributes: Iterable[str] | None = None, *,
                      resize: bool = False, generator_size: tuple[int, int] | None = None,
                      ) -> pd.DataFrame:
        """P(attribute) for each image and attribute.

        Args:
            images: float32 array (N, H, W, 3) in [0, 1], from any source.
            attributes: Which attributes (default: all the meter has).
            resize: Resize images to each classifier's input size. Upsampled faces are blurred
                and stretched, so the classifier errs more: measure that on real faces sent
                through :func:`simulate_generator_resolution`, and correct for it.
            generator_size: Only used in the error message (the size the generator makes).

        Returns:
            Frame (N rows, one column per attribute) of probabilities.

        Raises:
            MissingClassifierError: An attribute has no classifier.
            ImageSizeMismatchError: Wrong image size and ``resize`` is False.
        """
        attributes = self.attributes if attributes is None else tuple(attributes)
        self.require(attributes)
        images = _as_images(images)
        columns: dict[str, list[np.ndarray]] = {name: [] for name in attributes}
        for name, model, batch in _per_classifier(self.classifiers, attributes, images,
                                                  resize, generator_size):
            columns[name].append(np.asarray(self._score(model, batch), dtype=float).reshape(-1))
        return pd.DataFrame({name: np.concatenate(parts) for name, parts in columns.items()},
                            index=pd.RangeIndex(len(images), name="image"))

    def measure(self, images: np.ndarray, attributes: Iterable[str] | None = None, *,
                resize: bool = False, generator_size: tuple[int, int] | None = None,
                ) -> "Measurement":
        """Probabilities *and* features of every classifier, in one pass over the images.

        Each classifier runs once, giving its prediction and its penultimate features
        (:func:`celeba_lab.classifiers.classifier_embedding`); the features, side by side, are
        the *attribute feature space* of the chapter's diversity and distances. Images are
        resized once per input size, 1,024 at a time (memory stays bounded).

        Args:
            images: float32 array (N, H, W, 3) in [0, 1].
            attributes: Which attributes (default: all the meter has).
            resize: Resize images to the classifiers' input size (see :meth:`probabilities`).
            generator_size: Only used in the error message.

        Returns:
            A :class:`Measurement`.

        Raises:
            MissingClassifierError: An attribute has no classifier.
            ImageSizeMismatchError: Wrong image size and ``resize`` is False.
        """
        import keras

        from ..classifiers import check_input_shape, check_trained

        attributes = self.attributes if attributes is None else tuple(attributes)
        self.require(attributes)
        images = _as_images(images)
        scores: dict[str, list[np.ndarray]] = {name: [] for name in attributes}
        features: dict[str, list[np.ndarray]] = {name: [] for name in attributes}
        for name, model, batch in _per_classifier(self.classifiers, attributes, images,
                                                  resize, generator_size):
            # The checks predict_scores makes: a trained model, images of its shape.
            check_trained(model)
            check_input_shape(model, batch.shape[1:])
            both = _scores_and_features(model)
            # Direct calls, batch by batch: no predict() function traced per call.
            parts = [[keras.ops.convert_to_numpy(t)
                      for t in both(batch[i:i + self.batch_size], training=False)]
                     for i in range(0, len(batch), self.batch_size)]
            out = np.concatenate([np.asarray(p[1]) for p in parts]).astype(float)
            scores[name].append(out[:, -1] if out.ndim == 2 else out.reshape(-1))
            features[name].append(np.concatenate([np.asarray(p[0]) for p in parts])
                                  .reshape(len(batch), -1).astype(np.float32))
        index = pd.RangeIndex(len(images), name="image")
        return Measurement(
            pd.DataFrame({name: np.concatenate(scores[name]) for name in attributes},
                         index=index),
            np.concatenate([np.concatenate(features[name]) for name in attributes], axis=1))

    def labels(self, images: np.ndarray, attributes: Iterable[str] | None = None, *,
               resize: bool = False, threshold: float = 0.5) -> pd.DataFrame:
        """0/1 labels for each image: :meth:`probabilities` then :func:`predicted_labels`."""
        return predicted_labels(self.probabilities(images, attributes, resize=resize),
                                threshold=threshold)

    def cells(self, images: np.ndarray, *, resize: bool = False) -> pd.Series:
        """The predicted sex x hair-colour cell of each image (needs Male and the hair colours).

        Raises:
            MissingClassifierError: Male or a hair-colour classifier is missing.
        """
        needed = ("Male", *HAIR_COLOURS)
        return sex_hair_cells(self.labels(images, needed, resize=resize))

    def _score(self, model, images: np.ndarray) -> np.ndarray:
        scorer = self._scorer
        if scorer is None:
            from ..classifiers import predict_scores as scorer
        return _in_batches(lambda x: scorer(model, x), images, self.batch_size)


@dataclass
class Measurement:
    """What :meth:`AttributeMeter.measure` returns for a set of faces.

    Attributes:
        probabilities: P(attribute) per face, one column per attribute.
        features: float32 (N, d): the classifiers' penultimate features side by side.
    """

    probabilities: pd.DataFrame
    features: np.ndarray

    def labels(self, threshold: float = 0.5) -> pd.DataFrame:
        """0/1 labels (:func:`predicted_labels`)."""
        return predicted_labels(self.probabilities, threshold=threshold)

    def cells(self, threshold: float = 0.5) -> pd.Series:
        """The sex x hair-colour cell of each face (:func:`sex_hair_cells`)."""
        return sex_hair_cells(self.labels(threshold))


#: Faces a meter resizes and measures at a time. Upsampled to 218 x 178 as float32, 1,024
#: faces take 0.5 GB; the 10,000 of the full profile at once would take 4.7 GB of RAM.
_MEASURE_CHUNK = 1024


def _per_classifier(classifiers, attributes, images: np.ndarray, resize: bool,
                    generator_size):
    """``(name, model, images fitted to it)`` for each chunk of images and each classifier."""
    if len(images) == 0:
        raise ValueError("No images given.")
    for start in range(0, len(images), _MEASURE_CHUNK):
        fitted = _FittedImages(images[start:start + _MEASURE_CHUNK], resize, generator_size)
        for name in attributes:
            model = classifiers[name]
            yield name, model, fitted.for_model(model, f"the classifier for {name!r}")


class _FittedImages:
    # Images resized at most once per input size, however many classifiers share that size.
    def __init__(self, images: np.ndarray, resize: bool, generator_size):
        self.images, self.resize, self.generator_size = images, resize, generator_size
        self._by_size: dict = {}

    def for_model(self, model, what: str) -> np.ndarray:
        size = _model_size(model)
        if size not in self._by_size:
            self._by_size[size] = _fit_to_model(self.images, model, resize=self.resize,
                                                what=what, generator_size=self.generator_size)
        return self._by_size[size]


_two_output_models: dict[int, Any] = {}


def _scores_and_features(model):
    # A model with two outputs, [penultimate features, prediction], built once per classifier.
    key = id(model)
    cached = _two_output_models.get(key)
    if cached is None or cached[0] is not model:
        import keras

        from ..classifiers import classifier_embedding

        embedding = classifier_embedding(model)
        both = keras.Model(model.inputs[0], [embedding.outputs[0], model.outputs[0]])
        cached = (model, both)
        _two_output_models[key] = cached
    return cached[1]


def measure_real_faces(meter: AttributeMeter, data, ids: Iterable[str], *,
                       generator_size: tuple[int, int] | int | None = 64,
                       chunk_size: int = 256) -> Measurement:
    """Measure real faces the way generated ones are measured, a chunk at a time.

    The faces are decoded into the decoded-image cache (a second call is cheap), sent down to
    the generator's resolution and back (:func:`simulate_generator_resolution`), then measured
    (:meth:`AttributeMeter.measure`).

    Args:
        meter: The classifiers.
        data: A :class:`celeba_lab.data.CelebA`.
        ids: Image ids to measure, in the order wanted.
        generator_size: The generator's output size; ``None``: full resolution.
        chunk_size: Faces decoded and measured at once.

    Returns:
        A :class:`Measurement` in ``ids`` order (``probabilities`` indexed by image id).

    Raises:
        ValueError: ``ids`` is empty.
        MissingClassifierError: The meter lacks a classifier it is asked for.

    Example:
        >>> real = measure_real_faces(meter, data, data.split("test")[:500])
        ... # needs trained classifiers (an AttributeMeter)  # doctest: +SKIP
    """
    ids = pd.Index(list(ids), name="image_id")
    if len(ids) == 0:
        raise ValueError("No image ids given.")
    sizes = {_model_size(m) for m in meter.classifiers.values()} - {None}
    size = next(iter(sizes)) if len(sizes) == 1 else None
    # One memory-mapped cache file for all the ids; chunks are read from it.
    decoded = image_cache.decoded_images(data, ids, **({"size": size} if size else {}))
    parts = []
    for start in range(0, len(ids), chunk_size):
        images = np.asarray(decoded[start:start + chunk_size], dtype=np.float32) / 255.0
        if generator_size is not None:
            images = simulate_generator_resolution(images, generator_size)
        parts.append(meter.measure(images, resize=True))
    probabilities = pd.concat([p.probabilities for p in parts], ignore_index=True)
    probabilities.index = ids
    return Measurement(probabilities, np.concatenate([p.features for p in parts]))


def simulate_generator_resolution(images: np.ndarray,
                                  generator_size: tuple[int, int] | int = 64) -> np.ndarray:
    """Send real faces down to the generator's resolution and back to their own size.

    The classifier's error rates on real faces sent this way apply to upsampled generated
    faces: use it for the confusion matrix's real faces whenever generated faces are
    classified with ``resize=True``.

    Args:
        images: float32 (N, H, W, 3) in [0, 1].
        generator_size: The generator's output size (``64`` or ``(64, 64)``).

    Returns:
        float32 (N, H, W, 3) in [0, 1].

    Example:
        >>> real = cl.decoded_images(data, data.split("test")[:4]).astype("float32") / 255
        >>> simulate_generator_resolution(real, 64).shape
        (4, 218, 178, 3)
        >>> probs = meter.probabilities(simulate_generator_resolution(real, 64))
        ... # needs trained classifiers (an AttributeMeter)  # doctest: +SKIP
    """
    images = _as_images(images)
    small = resize_faces(images, _pair(generator_size))
    return resize_faces(small, images.shape[1:3])


def resize_faces(images: np.ndarray, size: tuple[int, int] | int,
                  batch_size: int = 256) -> np.ndarray:
    """Bilinear resize of float images to ``size`` (height, width), clipped to [0, 1].

    Args:
        images: float (N, H, W, 3).
        size: Target (height, width), or one int for a square.
        batch_size: Images resized at once (bounds memory).

    Returns:
        float32 (N, height, width, 3).

    Example:
        >>> resize_faces(np.zeros((2, 64, 64, 3), "float32"), (218, 178)).shape
        (2, 218, 178, 3)
    """
    import keras

    size = _pair(size)
    images = _as_images(images)
    if images.shape[1:3] == size:
        return images

    def one_batch(x):
        y = keras.ops.image.resize(x, size, interpolation="bilinear", antialias=True)
        return np.clip(keras.ops.convert_to_numpy(y), 0.0, 1.0).astype(np.float32)

    return _in_batches(one_batch, images, batch_size)


def classifier_features(model, images: np.ndarray, *, resize: bool = False,
                        batch_size: int = 64) -> np.ndarray:
    """Features from the penultimate layer of one of the book's classifiers (works offline).

    They give the book's own "classifier FD/KD", which compare the book's generators with each
    other and with real data, **not** with published FID/KID numbers.

    Args:
        model: A trained classifier (e.g. the Male classifier).
        images: float32 (N, H, W, 3) in [0, 1].
        resize: Resize to the classifier's input size (see :meth:`AttributeMeter.probabilities`).
        batch_size: Images per batch.

    Returns:
        float32 (N, features).

    Raises:
        ImageSizeMismatchError: Wrong image size and ``resize`` is False.

    Example:
        >>> feats = classifier_features(male_classifier, images, resize=True)
        ... # needs a trained classifier  # doctest: +SKIP
        >>> feats.shape  # doctest: +SKIP
        (500, 64)
    """
    from ..classifiers import call_in_batches, classifier_embedding

    model = getattr(model, "model", model)  # a TrainedClassifier or its Keras model
    images = _fit_to_model(_as_images(images), model, resize=resize, what="the classifier")
    embedding = classifier_embedding(model)
    return _in_batches(lambda x: call_in_batches(embedding, x, batch_size), images,
                       batch_size).reshape(len(images), -1).astype(np.float32)


def inception_weights_path() -> Path:
    """Where Keras keeps (or would download) the Inception-v3 no-top ImageNet weights.

    ``$KERAS_HOME/models/``, else ``~/.keras/models/`` (Keras's own rule, read at call time).

    Returns:
        The path of the weights file (which may not exist).

    Example:
        >>> inception_weights_path().name
        'inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5'
    """
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = Path.home()
        home = str(base / ".keras") if os.access(base, os.W_OK) else "/tmp/.keras"
    return Path(home).expanduser() / "models" / _INCEPTION_FILE


_inception_model = None


def inception_features(images: np.ndarray, *, allow_download: bool = False,
                       batch_size: int = 32) -> np.ndarray:
    """Inception-v3 pooled features (2,048 per image): the feature space of published FID/KID.

    ``keras.applications.InceptionV3(include_top=False, pooling="avg")`` with ImageNet weights
    from the Keras cache (:func:`inception_weights_path`), on images resized to 299 x 299 and
    scaled to [-1, 1]. Published FIDs use the TF-slim graph: Keras's weights come close but not
    identical, and FID needs 10,000+ images per side to be comparable at all.

    Args:
        images: float (N, H, W, 3) in [0, 1].
        allow_download: Download the weights (about 84 MB) when they are not cached.
        batch_size: Images per batch.

    Returns:
        float32 (N, 2048).

    Raises:
        InceptionUnavailableError: The weights are missing or corrupt and may not be downloaded.

    Example:
        >>> feats = inception_features(images, allow_download=True)
        ... # needs the Inception weights (an 84 MB download, done on Colab)  # doctest: +SKIP
        >>> feats.shape  # doctest: +SKIP
        (500, 2048)
    """
    model = _load_inception(allow_download)
    images = _as_images(images)

    from ..classifiers import call_in_batches

    def one_batch(x):
        # A direct call: no predict() function traced (and retraced) per batch.
        return call_in_batches(model, resize_faces(x, _INCEPTION_SIZE) * 2 - 1, len(x))

    return _in_batches(one_batch, images, batch_size).astype(np.float32)


def _load_inception(allow_download: bool):
    global _inception_model
    if _inception_model is not None:
        return _inception_model
    path = inception_weights_path()
    if not path.exists() and not allow_download:
        raise InceptionUnavailableError(
            f"Inception-v3 ImageNet weights are not on this machine (looked for {path}) and "
            "downloading is off, so Inception FID/KID cannot be computed here. Run the chapter on "
            "Colab, where inception_features(images, allow_download=True) fetches them (84 MB), "
            "or copy the file there; meanwhile the classifier-feature distances work offline.")
    import keras

    if not path.exists():
        fetched = keras.utils.get_file(_INCEPTION_FILE, _INCEPTION_URL, file_hash=_INCEPTION_MD5,
                                       cache_subdir="models",
                                       cache_dir=str(path.parent.parent))
        path = Path(fetched)
    elif file_digest(path, "md5") != _INCEPTION_MD5:
        raise InceptionUnavailableError(
            f"{path} is incomplete or corrupt (its MD5 is not {_INCEPTION_MD5}). Delete it and "
            "run inception_features(images, allow_download=True) on a machine with network "
            "(Colab).")
    model = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                           input_shape=(*_INCEPTION_SIZE, 3))
    model.load_weights(str(path))
    _inception_model = model
    return model


def _as_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"Expected images shaped (N, H, W, 3), got {images.shape}.")
    if images.dtype == np.uint8:
        raise ValueError("Expected float images in [0, 1], got uint8; divide by 255 first.")
    return images.astype(np.float32, copy=False)


def _model_size(model) -> tuple[int, int] | None:
    shape = getattr(model, "input_shape", None)
    if isinstance(shape, list):
        shape = shape[0]
    if shape is None or len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return int(shape[1]), int(shape[2])


def _fit_to_model(images: np.ndarray, model, *, resize: bool, what: str,
                  generator_size: tuple[int, int] | None = None) -> np.ndarray:
    expected = _model_size(model)
    actual = tuple(images.shape[1:3])
    if expected is None or actual == expected:
        return images
    if resize:
        return resize_faces(images, expected)
    made = generator_size or actual
    raise ImageSizeMismatchError(
        f"The images are {actual[0]}x{actual[1]} (the generator makes {made[0]}x{made[1]} faces) "
        f"but {what} expects {expected[0]}x{expected[1]}. Pass resize=True to upsample them "
        f"(bilinear: the faces get blurred and stretched to the classifier's shape, so its error "
        f"rates change; estimate them on real faces passed through "
        f"simulate_generator_resolution), or train the classifier at "
        f"{actual[0]}x{actual[1]}.")


def _in_batches(function: Callable[[np.ndarray], np.ndarray], data: np.ndarray,
                batch_size: int) -> np.ndarray:
    if len(data) == 0:
        raise ValueError("No images given.")
    parts = [np.asarray(function(data[i:i + batch_size])) for i in range(0, len(data), batch_size)]
    return np.concatenate(parts, axis=0)


def _pair(size: tuple[int, int] | int) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    return int(size[0]), int(size[1])


__all__ = [
    "ImageSizeMismatchError", "InceptionUnavailableError", "AttributeMeter", "Measurement",
    "measure_real_faces", "classifier_features", "inception_features",
]
