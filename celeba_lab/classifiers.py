"""Face-attribute classifiers: the report's CNN, an improved recipe, training and predictions.

Measuring a classifier is in :mod:`celeba_lab.evaluation`, its run folders in
:mod:`celeba_lab.classifier_runs`. Only ``keras`` and ``keras.ops`` are used: any Keras backend.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import keras
import numpy as np
from keras import layers

from . import config
from ._checks import whole_number
from ._io import format_run_line, one_line_per_run
from .attributes import IMAGE_SHAPE
from .classifier_runs import (
    NotTrainedError, _expected_shape, _finished_run, _first_x, _folder, _read_run,
    _require_classifier_output, _run_metadata, _sample_digest, _save_finished, _x_of,
    check_input_shape, check_same_run, classifier_run_dir, fit_resumable)
from .batches import classifier_batches
from .data import balanced_sample, check_attribute, load_celeba, sample_summary

__all__ = [
    "TrainedClassifier", "report_classifier", "improved_classifier", "count_parameters",
    "train_classifier", "predict_scores",
]


# The networks -------------------------------------------------------------------------------

def report_classifier(input_shape: tuple[int, int, int] = IMAGE_SHAPE
                      ) -> "keras.Model":
    """The source report's CNN, layer for layer, compiled as the report did.

    Four blocks of a 2x2 convolution (ReLU) and a 2x2 max-pooling, then three sigmoid dense
    layers of 64 units and a 2-way softmax. RMSprop, binary cross-entropy on one-hot labels.

    Args:
        input_shape: (height, width, channels) of the images, pixels in [0, 1].

    Returns:
        A compiled ``keras.Sequential`` named ``"report_classifier"``.

    Example:
        >>> report_classifier().count_params()
        623490
    """
    model = keras.Sequential([
        keras.Input(shape=tuple(input_shape), name="image"),  # 218 x 178 x 3
        layers.Conv2D(32, 2, padding="same", activation="relu", name="conv1"),
        layers.MaxPooling2D(pool_size=2, name="pool1"),       # 109 x 89 x 32
        layers.Conv2D(32, 2, padding="same", activation="relu", name="conv2"),
        layers.MaxPooling2D(pool_size=2, name="pool2"),       # 54 x 44 x 32
        layers.Conv2D(64, 2, padding="same", activation="relu", name="conv3"),
        layers.MaxPooling2D(pool_size=2, name="pool3"),       # 27 x 22 x 64
        layers.Conv2D(64, 2, padding="same", activation="relu", name="conv4"),
        layers.MaxPooling2D(pool_size=2, name="pool4"),       # 13 x 11 x 64
        layers.Flatten(name="flatten"),                       # 9,152 numbers
        # 9,152 x 64 weights + 64 biases = 585,792: 94 % of the parameters.
        layers.Dense(64, activation="sigmoid", name="dense1"),
        layers.Dense(64, activation="sigmoid", name="dense2"),
        layers.Dense(64, activation="sigmoid", name="dense3"),
        layers.Dense(2, activation="softmax", name="output"),   # (no, yes)
    ], name="report_classifier")
    model.compile(
        optimizer=keras.optimizers.RMSprop(),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model


def improved_classifier(
    input_shape: tuple[int, int, int] = IMAGE_SHAPE,
    *,
    working_size: int | None = None,
    filters: Sequence[int] = (32, 64, 128, 128),
    dropout: float = 0.3,
    pooling: str = "max",
    learning_rate: float = 1e-3,
    decay_steps: int | None = None,
) -> "keras.Model":
    """A better recipe on the same images: crop, shrink, normalise, augment, one sigmoid.

    * A centre square crop resized to ``working_size``: 4x fewer pixels than the report's.
    * Random horizontal flips and small shifts while training (same attributes, more faces).
    * 3x3 convolutions, ReLU and batch normalisation (momentum 0.9: it settles in a few steps).
    * A global max pooling in place of the 585,792-weight dense layer: a part detector's
      strongest response (teeth, frames, a beard) says if the part appears; an average dilutes it.
    * One sigmoid unit with dropout before it; Adam, with cosine decay if ``decay_steps``.

    Args:
        input_shape: (height, width, channels) of the images, pixels in [0, 1].
        working_size: Side of the resized crop; default 96, or the image's shorter side if less.
        filters: Filters of the convolution blocks, each followed by a 2x2 max-pooling.
        dropout: Dropout rate before the output unit.
        pooling: ``"max"`` or ``"avg"``: how the last feature maps are pooled.
        learning_rate: Adam's initial learning rate.
        decay_steps: Steps of the rate's cosine decay to 5 % of its start; ``None``: constant.

    Returns:
        A compiled ``keras.Sequential`` named ``"improved_classifier"``: P(positive), (batch, 1).

    Example:
        >>> model = improved_classifier(decay_steps=15 * 200)
        >>> model.output_shape, count_parameters(model)
        ((None, 1), 241313)
    """
    working_size = working_size or min(96, *input_shape[:2])
    # One block per entry of `filters`: each pooling halves the image
    # (96 -> 48 -> 24 -> 12 -> 6).
    conv_blocks = []
    for i, n in enumerate(filters, start=1):
        conv_blocks += [
            layers.Conv2D(n, kernel_size=3, padding="same", use_bias=False,
                          name=f"conv{i}"),
            layers.BatchNormalization(momentum=0.9, name=f"bn{i}"),
            layers.Activation("relu", name=f"relu{i}"),
            layers.MaxPooling2D(pool_size=2, name=f"pool{i}"),
        ]
    if pooling == "max":  # one number per channel: 128 features
        features = layers.GlobalMaxPooling2D(name="features")
    else:
        features = layers.GlobalAveragePooling2D(name="features")
    model = keras.Sequential([
        keras.Input(shape=tuple(input_shape), name="image"),
        # The centre square, resized to 96 x 96 x 3.
        layers.Resizing(working_size, working_size, crop_to_aspect_ratio=True,
                        antialias=True, name="centre_crop"),
        # Augmentation, active in training only.
        layers.RandomFlip("horizontal", name="random_flip"),
        layers.RandomTranslation(0.05, 0.05, fill_mode="nearest",
                                 name="random_shift"),
        *conv_blocks,                                          # 6 x 6 x 128
        features,
        layers.Dropout(dropout, name="dropout"),
        layers.Dense(1, activation="sigmoid", name="output"),  # P(yes)
    ], name="improved_classifier")
    if decay_steps:
        learning_rate = keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps=int(decay_steps), alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


def count_parameters(model) -> int:
    """Number of trainable parameters of ``model`` (the report's 623,490 for its CNN).

    Args:
        model: A built Keras model.

    Returns:
        The number of entries of its trainable weights.

    Example:
        >>> count_parameters(report_classifier())
        623490
    """
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


# Recipes: a network and how it is trained ---------------------------------------------------

@dataclass(frozen=True)
class _Recipe:
    name: str
    one_hot: bool  # labels as one-hot pairs (2-way softmax) or single 0/1 targets
    build: Callable[..., Any]
    description: str


#: The training recipes :func:`train_classifier` knows, by name.
RECIPES: dict[str, _Recipe] = {
    "report": _Recipe("report", True, lambda shape, steps: report_classifier(shape),
                      "the report's CNN: RMSprop, one-hot labels, 2-way softmax"),
    "improved": _Recipe("improved", False,
                        lambda shape, steps: improved_classifier(shape, decay_steps=steps),
                        "centre crop, augmentation, batch norm, Adam + cosine decay, sigmoid"),
}

# Bump when a recipe's architecture or training changes: cached runs of the old are not reused.
_RECIPE_VERSION = {"report": 1, "improved": 2}


def _recipe(name: str) -> _Recipe:
    if name not in RECIPES:
        raise ValueError(f"Unknown classifier recipe {name!r}; choose one of {sorted(RECIPES)}.")
    return RECIPES[name]


def build_classifier(recipe: str = "report", input_shape: tuple[int, int, int] = IMAGE_SHAPE,
                     *, decay_steps: int | None = None) -> "keras.Model":
    """Build and compile the model of a named recipe (``"report"`` or ``"improved"``).

    Args:
        recipe: A key of :data:`RECIPES` (:func:`report_classifier`, :func:`improved_classifier`).
        input_shape: (height, width, channels) of the images, pixels in [0, 1].
        decay_steps: As in :func:`improved_classifier`; the report's recipe ignores it.

    Returns:
        A compiled ``keras.Model``, untrained.

    Raises:
        ValueError: ``recipe`` is not one of :data:`RECIPES`.

    Example:
        >>> build_classifier("report").name
        'report_classifier'
        >>> build_classifier("improved", (64, 64, 3), decay_steps=1000).output_shape
        (None, 1)
    """
    return _recipe(recipe).build(tuple(input_shape), decay_steps)


# Training -----------------------------------------------------------------------------------

@dataclass
class TrainedClassifier:
    """A trained classifier with what is needed to trust and reuse it.

    Attributes:
        model: The trained, compiled Keras model.
        history: Per epoch: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``seconds``.
        metadata: The content of ``metadata.json``: attribute, recipe, data, settings, metrics.
        path: The run folder holding ``model.keras`` and ``metadata.json``.
        origin: ``"trained"``, ``"resumed"`` (an interrupted run) or ``"loaded"`` (reused).
    """
    model: Any
    history: dict[str, list[float]]
    metadata: dict[str, Any]
    path: Path | None = None
    origin: str = "trained"

    @property
    def attribute(self) -> str | None:
        """The attribute the classifier predicts."""
        return self.metadata.get("attribute")

    @property
    def recipe(self) -> str | None:
        """The recipe it was trained with (``"report"`` or ``"improved"``)."""
        return self.metadata.get("recipe")

    @property
    def epochs(self) -> int:
        """Number of finished epochs."""
        return len(self.history.get("loss", []))

    def sample(self, data):
        """The balanced sample it was trained on, drawn again from ``data`` (deterministic)."""
        meta = self.metadata
        return balanced_sample(data, meta["attribute"], tuple(meta["sizes"]), meta["seed"])


def train_classifier(
    attribute: str,
    data=None,
    *,
    recipe: str = "report",
    sample=None,
    sizes: tuple[int, int, int] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    image_size: tuple[int, int] = IMAGE_SHAPE[:2],
    run_dir: str | Path | None = None,
    resume: bool = True,
    verbose: int | str = "auto",
    callbacks: Sequence[Any] = (),
) -> TrainedClassifier:
    """Train a classifier for one attribute on a balanced sample, or reuse the finished run.

    Trains ``recipe`` on ``balanced_sample(data, attribute, sizes, seed)`` (validating on its
    validation part) and saves ``model.keras`` and ``metadata.json`` in the run folder, with a
    checkpoint every epoch: the same call continues an interrupted run and loads a finished one.

    Args:
        attribute: One of CelebA's 40 attribute names, e.g. ``"Male"``.
        data: A :class:`~celeba_lab.data.CelebA`; ``None`` loads the configured one.
        recipe: ``"report"`` (the report's model and training) or ``"improved"``.
        sample: A :class:`~celeba_lab.data.BalancedSample` to train on instead of drawing one.
        sizes: Balanced (train, validation, test) sizes; default: the run profile's.
        epochs: Default: the run profile's ``classifier_epochs`` (the report: 15), or its
            ``improved_epochs`` for the improved recipe.
        batch_size: Default: the run profile's (the report: 50).
        seed: Seed of the sample, the shuffling and the initial weights.
        image_size: (height, width) the images are resized to (CelebA's own 218x178 by default).
        run_dir: Default :func:`classifier_run_dir`. A new or empty folder, or a classifier
            run's (marker ``celeba-lab-run.json``); any other is refused, whatever ``resume``.
        resume: Continue an interrupted run and reuse a finished one (a damaged one is warned
            about and trained again); ``False`` trains from scratch, replacing the run's files.
        verbose: ``"auto"``: a progress bar on a terminal, one line for the whole run
            elsewhere (what trains, how long it took, the last epoch's metrics); 2: one line
            per epoch; 0: silent. Unless 0, the first line names the run profile in force.
        callbacks: Extra Keras callbacks, called after the checkpoint of each epoch.

    Returns:
        A :class:`TrainedClassifier`.

    Raises:
        celeba_lab.data.UnknownAttributeError: ``attribute`` is not a CelebA attribute.
        celeba_lab.data.NotEnoughImagesError: the data cannot fill the balanced sample.
        ValueError: unknown ``recipe``; ``epochs`` or ``batch_size`` not a whole number of at
            least 1; ``sample`` drawn for another attribute or from other data.
        ClassifierBusyError: another process is training the same run folder.
        ClassifierError: ``run_dir`` is not a classifier's run folder, or (with ``resume``)
            holds a run of other settings, finished or not; the disk filled up while a
            checkpoint was written (the run resumes from the last complete one).

    Example:
        >>> male = train_classifier("Male", data, sizes=(20, 4, 4), epochs=1,
        ...                         image_size=(32, 32), verbose=0)     # seconds, 32 x 32
        >>> male.origin, male.epochs, male.metadata["recipe"]
        ('trained', 1, 'report')
        >>> train_classifier("Male", data, sizes=(20, 4, 4), epochs=1, image_size=(32, 32),
        ...                  verbose=0).origin                          # the finished run
        'loaded'
        >>> male = train_classifier("Male")    # trains for minutes  # doctest: +SKIP
    """
    attribute = check_attribute(attribute)
    spec = _recipe(recipe)
    profile = config.get_profile()
    # None means the profile's; 0 is not "default".
    default_epochs = profile.classifier_epochs if recipe == "report" else profile.improved_epochs
    epochs = whole_number("epochs", default_epochs if epochs is None else epochs)
    batch_size = whole_number("batch_size",
                              profile.classifier_batch if batch_size is None else batch_size)
    image_size = _check_image_size(image_size)
    seed = whole_number("seed", seed, minimum=0)
    sizes = profile.classifier_sizes if sizes is None else tuple(sizes)
    if len(sizes) != 3:
        raise ValueError(f"sizes must give (train, validation, test) sizes, got {sizes!r}.")
    sizes = tuple(whole_number(f"The {name} size", size, minimum=0)
                  for name, size in zip(("train", "validation", "test"), sizes))
    data = load_celeba() if data is None else data
    if sample is None:
        sample = balanced_sample(data, attribute, sizes, seed)
    else:
        _check_sample(data, sample, attribute)
    sizes = tuple(len(sample.split(name)) for name in ("train", "validation", "test"))
    if min(sizes[:2]) < 2:
        raise ValueError(f"Training needs at least 2 train and 2 validation images (one of each "
                         f"class); the sample has {sizes[0]} and {sizes[1]}. Pass sizes such "
                         "as (1000, 100, 100).")

    settings = {
        "attribute": attribute, "recipe": recipe, "recipe_version": _RECIPE_VERSION[recipe],
        "data_fingerprint": data.fingerprint, "sizes": list(sizes), "epochs": epochs,
        "batch_size": batch_size, "seed": seed, "image_size": list(image_size),
        "sample": _sample_digest(sample),
    }
    default_dir = run_dir is None
    run_dir = classifier_run_dir(attribute, recipe, settings) if default_dir else Path(run_dir)
    folder = _folder(run_dir, adopt=default_dir)
    folder.refuse_foreign()  # a folder of the user's is never written into
    finished = _finished_run(run_dir, settings, load_classifier) if resume else None
    if finished is not None:
        return finished
    if resume:
        check_same_run(folder, settings)  # nor a run of other settings replaced
    with folder.claim(None, resume=resume):  # marker, lock, clear, remove temporaries
        return _train(data, sample, spec, settings, run_dir, resume=resume, verbose=verbose,
                      callbacks=callbacks)


def _train(data, sample, spec: _Recipe, settings: dict, run_dir: Path, *, resume, verbose,
           callbacks) -> TrainedClassifier:

    batch_size, seed = settings["batch_size"], settings["seed"]
    image_size, epochs, recipe = tuple(settings["image_size"]), settings["epochs"], spec.name
    train = classifier_batches(data, sample.train, batch_size=batch_size, shuffle=True,
                               seed=seed, one_hot=spec.one_hot, size=image_size)
    validation = classifier_batches(data, sample.validation, batch_size=batch_size,
                                    one_hot=spec.one_hot, size=image_size)
    one_line = one_line_per_run(verbose)
    if verbose != 0:  # in a notebook, completed by format_run_line: one line per run
        print(config.training_announcement(
            f"{settings['attribute']} ({recipe} recipe), {epochs} epochs x {len(train)} steps of "
            f"{batch_size} images", data=_data_words(data), real=not data.synthetic),
            end="" if one_line else "\n", flush=True)
    keras.utils.set_random_seed(seed)
    model = build_classifier(recipe, (*image_size, 3), decay_steps=epochs * len(train))
    started = time.perf_counter()
    model, history, first_epoch = fit_resumable(
        model, train, validation, epochs=epochs, run_dir=run_dir, settings=settings,
        resume=resume, verbose=verbose, callbacks=callbacks)
    seconds = time.perf_counter() - started
    if one_line:
        print(format_run_line(seconds, history, start=first_epoch), flush=True)
    metadata = _run_metadata(data, settings, history, model, seconds, count_parameters(model))
    _save_finished(run_dir, model, metadata)
    return TrainedClassifier(model, history, metadata, run_dir,
                             "resumed" if first_epoch else "trained")


def _check_image_size(image_size) -> tuple[int, int]:
    # Both recipes halve the image four times: below 16 pixels a side nothing is left.
    size = (tuple(image_size) if isinstance(image_size, (Sequence, np.ndarray))
            and not isinstance(image_size, str) else ())
    if len(size) != 2:
        raise ValueError(f"image_size must be (height, width), e.g. (64, 64), got {image_size!r}.")
    return tuple(whole_number(f"image_size's {side}", v, minimum=16)
                 for side, v in zip(("height", "width"), size))


def _check_sample(data, sample, attribute: str) -> None:
    """Refuse a sample of another attribute, or one whose labels are not ``data``'s."""
    if getattr(sample, "attribute", attribute) != attribute:
        raise ValueError(f"The sample was drawn for {sample.attribute!r}, not {attribute!r}.")
    summary = sample_summary(data, sample)
    wrong = summary[~summary["labels_match"]
                    | (summary["in_own_partition"] != summary["images"])].index.tolist()
    if wrong:
        raise ValueError(
            f"The sample was not drawn from this data set: its {', '.join(wrong)} labels or "
            f"images do not match data's (see sample_summary(data, sample)). Draw it from the "
            f"data you train on: balanced_sample(data, {attribute!r}, sizes, seed).")


def _data_words(data) -> str:
    return "synthetic CelebA" if data.synthetic else "real CelebA"


def load_classifier(path: str | Path) -> TrainedClassifier:
    """Load a finished classifier from its run folder (or its ``model.keras`` file).

    Args:
        path: A run folder written by :func:`train_classifier`, or the ``model.keras`` in it.

    Returns:
        A :class:`TrainedClassifier` with ``origin="loaded"``.

    Raises:
        ClassifierNotFoundError: nothing there, or an unfinished run (the message says how
            far it got and how to resume).
        CorruptClassifierError: the model or its metadata cannot be read.

    Example:
        >>> male = load_classifier(train_classifier("Male", data, sizes=(20, 4, 4), epochs=1,
        ...                                         image_size=(32, 32), verbose=0).path)
        >>> male.origin, male.attribute, male.model.input_shape
        ('loaded', 'Male', (None, 32, 32, 3))
    """
    model, metadata, run_dir = _read_run(path)
    history = {k: list(v) for k, v in metadata.get("history", {}).items()}
    return TrainedClassifier(model, history, metadata, run_dir, "loaded")


# Predictions --------------------------------------------------------------------------------

def model_of(trained_or_model):
    """The Keras model of a :class:`TrainedClassifier` (a model passes through)."""
    return getattr(trained_or_model, "model", trained_or_model)


def check_trained(model) -> None:
    """Raise :class:`NotTrainedError` for a model never compiled or never trained."""
    _require_classifier_output(model, f"The model {model.name!r}",
                               "A GAN's generator draws images, it does not score attributes. "
                               "Pass a classifier from celeba_lab.train_classifier(attribute) "
                               "or celeba_lab.load_classifier(run_folder).")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        problem = "has not been compiled or trained"
    elif int(keras.ops.convert_to_numpy(optimizer.iterations)) == 0:
        problem = "has not been trained (its optimizer never took a step)"
    else:
        return
    raise NotTrainedError(
        f"The model {model.name!r} {problem}, so its predictions mean nothing. Train it with "
        "celeba_lab.train_classifier(attribute) or load a trained one with "
        "celeba_lab.load_classifier(run_folder).")


def _as_float_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype("float32") / 255.0
    return images.astype("float32", copy=False)


def predict_scores(trained_or_model, images_or_batches, *, batch_size: int = 50,
                   require_trained: bool = True) -> np.ndarray:
    """Probability of the positive class for each image (a 2-way softmax's second column, or
    a one-unit sigmoid).

    Args:
        trained_or_model: A :class:`TrainedClassifier` or a Keras model.
        images_or_batches: An array (N, H, W, 3) of floats in [0, 1] or of uint8, one image
            (H, W, 3), or an unshuffled ``keras.utils.PyDataset`` yielding ``x`` or ``(x, y)``.
        batch_size: Batch size for arrays.
        require_trained: Refuse a model that was never trained.

    Returns:
        float32 array (N,) of scores in [0, 1].

    Raises:
        InputShapeError: the images do not have the shape the model was built for.
        NotTrainedError: the model was never compiled or trained.

    Example:
        >>> model = report_classifier((32, 32, 3))        # untrained: scores near 0.5
        >>> scores = predict_scores(model, np.zeros((3, 32, 32, 3)), require_trained=False)
        >>> scores.shape, bool(((scores >= 0) & (scores <= 1)).all())
        ((3,), True)
    """
    model = model_of(trained_or_model)
    if require_trained:
        check_trained(model)
    if isinstance(images_or_batches, keras.utils.PyDataset):
        if len(images_or_batches) == 0:
            return np.zeros(0, dtype="float32")
        check_input_shape(model, np.shape(_first_x(images_or_batches))[1:])
        out = call_in_batches(model, images_or_batches)
    else:
        images = _as_float_images(images_or_batches)
        if images.ndim == len(_expected_shape(model)):
            images = images[None]
        check_input_shape(model, images.shape[1:])
        if len(images) == 0:
            return np.zeros(0, dtype="float32")
        out = call_in_batches(model, images, batch_size)
    out = np.asarray(out, dtype="float32")
    return out[:, -1] if out.ndim == 2 else out.reshape(-1)


def call_in_batches(model, data, batch_size: int = 50) -> np.ndarray:
    """``model``'s outputs for every image, by direct calls one batch at a time.

    ``model.predict`` traces a function for each model (and a last, smaller batch): many models
    in a row make TensorFlow warn. A direct call gives the same numbers, with no trace or bar.

    Args:
        model: A Keras model (or any callable taking ``training=``).
        data: An array (N, ...) or a ``keras.utils.PyDataset`` yielding ``x`` or ``(x, y)``.
        batch_size: Rows per call for an array.

    Returns:
        The outputs of all batches, concatenated along the first axis.

    Example:
        >>> model = report_classifier((32, 32, 3))
        >>> call_in_batches(model, np.zeros((5, 32, 32, 3), "float32"), batch_size=2).shape
        (5, 2)
    """
    if isinstance(data, keras.utils.PyDataset):
        batches = (_x_of(data[i]) for i in range(len(data)))
    else:
        batches = (data[i:i + batch_size] for i in range(0, len(data), batch_size))
    parts = [keras.ops.convert_to_numpy(model(x, training=False)) for x in batches]
    return np.concatenate(parts, axis=0)


def classifier_embedding(trained_or_model) -> "keras.Model":
    """A model mapping images to the classifier's penultimate features.

    Its features feed the output layer (dropout skipped): the report's model's 64 ``dense3``
    units, the improved one's 128 ``features``; their distances say how differently it sees faces.

    Args:
        trained_or_model: A :class:`TrainedClassifier` or a Keras model of either recipe.

    Returns:
        A ``keras.Model`` sharing the classifier's layers and weights, named
        ``"{model name}_embedding"``.

    Example:
        >>> classifier_embedding(report_classifier()).output_shape
        (None, 64)
        >>> classifier_embedding(improved_classifier()).output_shape
        (None, 128)
    """
    model = model_of(trained_or_model)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.Dropout)]
    penultimate = layers[-2]
    return keras.Model(model.inputs[0], penultimate.output, name=f"{model.name}_embedding")
