"""Face-attribute classifiers: the report's CNN, an improved recipe, training that survives a
dead Colab session, and the metrics the report's table used.

The flow a chapter follows::

    data = cl.load_celeba()
    male = cl.train_classifier("Male", data)             # trains, or loads the finished run
    balanced = cl.evaluate_balanced_test(male, data)      # the report's 50/50 test sample
    natural = cl.evaluate_natural_test(male, data)        # the official, imbalanced test split

Everything here uses ``keras`` and ``keras.ops`` only, so it runs on the TensorFlow, JAX and
PyTorch backends.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import config
from ._checks import whole_number
from ._io import atomic_path, fit_verbosity, folder_lock, lock_owner, write_json_atomic
from .attributes import IMAGE_SHAPE, REPORT_ATTRIBUTES

__all__ = [
    "ClassifierError", "ClassifierBusyError", "ClassifierNotFoundError", "CorruptClassifierError", "NotTrainedError",
    "InputShapeError", "RECIPES", "REPORT_RESULTS", "REPORT_SETTINGS", "REPORT_METRICS",
    "TrainedClassifier", "ClassifierEvaluation", "seed_classifier", "improved_classifier",
    "build_classifier", "train_classifier", "load_classifier", "classifier_run_dir",
    "predict_scores", "call_in_batches", "classifier_embedding", "classification_metrics", "confusion_matrix",
    "majority_baseline", "evaluate_classifier", "evaluate_balanced_test",
    "evaluate_natural_test", "report_comparison", "count_parameters", "fit_resumable",
    "check_input_shape",
]

#: The source report's results on its balanced 1,000-image test samples (real CelebA).
#: Its precision, recall and F1 are averages over both classes weighted by support
#: (scikit-learn's ``average="weighted"``); on a 50/50 test set that equals the plain mean.
REPORT_RESULTS: dict[str, dict[str, float]] = {
    "Male": {"accuracy": 0.946, "precision": 0.946, "recall": 0.946, "f1": 0.945},
    "Eyeglasses": {"accuracy": 0.980, "precision": 0.980, "recall": 0.980, "f1": 0.980},
    "Smiling": {"accuracy": 0.883, "precision": 0.884, "recall": 0.883, "f1": 0.882},
}

#: How the report's numbers were obtained, for the column heading of comparison tables.
REPORT_SETTINGS: dict[str, Any] = {
    "data_source": "real CelebA", "sizes": (10_000, 2_000, 1_000), "epochs": 15,
    "batch_size": 50,
}

#: The four metrics of the report's table, in its order.
REPORT_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1")

# Bump when a recipe's architecture or training changes: cached runs of the old recipe are
# then not reused.
_RECIPE_VERSION = {"seed": 1, "improved": 2}

_MODEL_FILE = "model.keras"
_METADATA_FILE = "metadata.json"
_STATE_FILE = "state.json"


# --------------------------------------------------------------------------------------------
# Errors


class ClassifierError(Exception):
    """Base class of the errors raised by :mod:`celeba_lab.classifiers`."""


class ClassifierNotFoundError(ClassifierError, FileNotFoundError):
    """No finished classifier where one was expected (missing file, or a run that stopped)."""


class CorruptClassifierError(ClassifierError):
    """A saved classifier or its metadata cannot be read."""


class NotTrainedError(ClassifierError):
    """A model is used for predictions or evaluation before it was compiled and trained."""


class ClassifierBusyError(ClassifierError):
    """Another live process is training the same classifier run."""


class InputShapeError(ClassifierError, ValueError):
    """Images of one shape were given to a classifier built for another."""


# --------------------------------------------------------------------------------------------
# Models


def seed_classifier(input_shape: tuple[int, int, int] = IMAGE_SHAPE) -> "keras.Model":
    """The source report's CNN, layer for layer, compiled the way the report compiled it.

    Four blocks of a 2x2 convolution (ReLU) and a 2x2 max-pooling halve the image four times
    (218x178 to 13x11); three sigmoid dense layers of 64 units and a 2-way softmax read the
    flattened 9,152 features. 623,490 parameters at the default input shape. RMSprop, binary
    cross-entropy on one-hot labels, accuracy.

    Args:
        input_shape: (height, width, channels) of the images, pixels in [0, 1].

    Returns:
        A compiled ``keras.Sequential`` named ``"seed_classifier"``.

    Example:
        >>> model = seed_classifier()
        >>> model.count_params()
        623490
    """
    import keras
    from keras import layers

    blocks = []
    for i, filters in enumerate((32, 32, 64, 64), start=1):
        blocks += [
            layers.Conv2D(filters, kernel_size=2, strides=1, padding="same", activation="relu",
                          name=f"conv{i}"),
            layers.MaxPooling2D(pool_size=2, name=f"pool{i}"),
        ]
    model = keras.Sequential(
        [keras.Input(shape=tuple(input_shape), name="image"), *blocks,
         layers.Flatten(name="flatten"),
         layers.Dense(64, activation="sigmoid", name="dense1"),
         layers.Dense(64, activation="sigmoid", name="dense2"),
         layers.Dense(64, activation="sigmoid", name="dense3"),
         layers.Dense(2, activation="softmax", name="output")],
        name="seed_classifier",
    )
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

    * A centre square crop resized to ``working_size`` pixels: the face fills the frame and the
      network sees 4x fewer pixels than the report's, which pays for everything below.
    * Random horizontal flips and small shifts while training: a mirrored or slightly moved
      face has the same attributes, so the network sees more distinct faces.
    * 3x3 convolutions with batch normalisation (momentum 0.9, so its running statistics
      settle even in a run of a few dozen steps) and ReLU.
    * A global max pooling in place of the 9,152-feature flatten and its 585,792-weight dense
      layer: each attribute is a part that appears somewhere (teeth, frames, a beard), and the
      strongest response of a part detector says whether it does, where an average would
      dilute a small part into the background.
    * One sigmoid unit, the natural output for a yes/no attribute, with dropout before it.
    * Adam with a cosine-decaying learning rate (when ``decay_steps`` is given).

    Args:
        input_shape: (height, width, channels) of the images fed in, pixels in [0, 1].
        working_size: Side of the square the centre crop is resized to; default 96, or the
            image's shorter side when that is smaller (e.g. 64 for a GAN's 64 x 64 faces).
        filters: Filters of the convolution blocks, each followed by a 2x2 max-pooling.
        dropout: Dropout rate before the output unit.
        pooling: ``"max"`` or ``"avg"``: how the last feature maps are pooled over the image.
        learning_rate: Adam's initial learning rate.
        decay_steps: Training steps over which the learning rate decays (cosine) to 5 % of
            its start; ``None`` keeps it constant.

    Returns:
        A compiled ``keras.Sequential`` named ``"improved_classifier"`` whose output is the
        probability of the positive class, shape (batch, 1).

    Example:
        >>> model = improved_classifier(decay_steps=15 * 200)
        >>> model.output_shape
        (None, 1)
    """
    import keras
    from keras import layers

    working_size = working_size or min(96, *input_shape[:2])
    blocks = []
    for i, n in enumerate(filters, start=1):
        blocks += [
            layers.Conv2D(n, kernel_size=3, padding="same", use_bias=False, name=f"conv{i}"),
            layers.BatchNormalization(momentum=0.9, name=f"bn{i}"),
            layers.Activation("relu", name=f"relu{i}"),
            layers.MaxPooling2D(pool_size=2, name=f"pool{i}"),
        ]
    model = keras.Sequential(
        [keras.Input(shape=tuple(input_shape), name="image"),
         layers.Resizing(working_size, working_size, crop_to_aspect_ratio=True, antialias=True,
                         name="centre_crop"),
         layers.RandomFlip("horizontal", name="random_flip"),
         layers.RandomTranslation(0.05, 0.05, fill_mode="nearest", name="random_shift"),
         *blocks,
         (layers.GlobalMaxPooling2D(name="features") if pooling == "max"
          else layers.GlobalAveragePooling2D(name="features")),
         layers.Dropout(dropout, name="dropout"),
         layers.Dense(1, activation="sigmoid", name="output")],
        name="improved_classifier",
    )
    if decay_steps:
        learning_rate = keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps=int(decay_steps), alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


@dataclass(frozen=True)
class _Recipe:
    name: str
    one_hot: bool  # labels as one-hot pairs (2-way softmax) or single 0/1 targets
    build: Callable[..., Any]
    description: str


#: The training recipes :func:`train_classifier` knows, by name.
RECIPES: dict[str, _Recipe] = {
    "seed": _Recipe("seed", True, lambda shape, steps: seed_classifier(shape),
                    "the report's CNN: RMSprop, one-hot labels, 2-way softmax"),
    "improved": _Recipe("improved", False,
                        lambda shape, steps: improved_classifier(shape, decay_steps=steps),
                        "centre crop, augmentation, batch norm, Adam + cosine decay, sigmoid"),
}


def build_classifier(recipe: str = "seed", input_shape: tuple[int, int, int] = IMAGE_SHAPE,
                     *, decay_steps: int | None = None) -> "keras.Model":
    """Build and compile the model of a named recipe (``"seed"`` or ``"improved"``).

    Args:
        recipe: Name of the recipe, a key of :data:`RECIPES`: ``"seed"`` (the report's CNN,
            :func:`seed_classifier`) or ``"improved"`` (:func:`improved_classifier`).
        input_shape: (height, width, channels) of the images, pixels in [0, 1].
        decay_steps: Training steps over which the improved recipe's learning rate decays
            (cosine); ``None`` keeps it constant. The seed recipe ignores it.

    Returns:
        A compiled ``keras.Model``, untrained.

    Raises:
        ValueError: ``recipe`` is not one of :data:`RECIPES`.

    Example:
        >>> build_classifier("seed").name
        'seed_classifier'
        >>> build_classifier("improved", (64, 64, 3), decay_steps=1000).output_shape
        (None, 1)
    """
    return _recipe(recipe).build(tuple(input_shape), decay_steps)


def _recipe(name: str) -> _Recipe:
    if name not in RECIPES:
        raise ValueError(f"Unknown classifier recipe {name!r}; choose one of {sorted(RECIPES)}.")
    return RECIPES[name]


def count_parameters(model) -> int:
    """Number of trainable parameters of ``model`` (the report's 623,490 for the seed CNN).

    Args:
        model: A built Keras model.

    Returns:
        The total number of entries of its trainable weights.

    Example:
        >>> count_parameters(seed_classifier())
        623490
    """
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


# --------------------------------------------------------------------------------------------
# Training with checkpoints


@dataclass
class TrainedClassifier:
    """A trained classifier with what is needed to trust and reuse it.

    Attributes:
        model: The trained, compiled Keras model.
        history: Per-epoch values: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` and
            ``seconds`` (wall time of the epoch), one entry per epoch.
        metadata: Attribute, recipe, data fingerprint and source, settings, validation
            metrics, Keras backend, date (the content of ``metadata.json``).
        path: The run folder holding ``model.keras`` and ``metadata.json``.
        origin: ``"trained"``, ``"resumed"`` (continued an interrupted run) or ``"loaded"``
            (a finished run reused without training).
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
        """The recipe it was trained with (``"seed"`` or ``"improved"``)."""
        return self.metadata.get("recipe")

    @property
    def epochs(self) -> int:
        """Number of finished epochs."""
        return len(self.history.get("loss", []))

    def sample(self, data):
        """The balanced sample it was trained on, drawn again from ``data`` (deterministic)."""
        from .data import balanced_sample

        meta = self.metadata
        return balanced_sample(data, meta["attribute"], tuple(meta["sizes"]), meta["seed"])


def _digest(obj: Any, length: int = 10) -> str:
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _sample_digest(sample) -> str:
    parts = []
    for name in ("train", "validation", "test"):
        labels = sample.split(name)
        parts.append("\n".join(map(str, labels.index)) + "|" + "".join(map(str, labels.values)))
    return hashlib.sha256("#".join(parts).encode("utf-8")).hexdigest()[:16]


def classifier_run_dir(attribute: str, recipe: str, settings: Mapping[str, Any]) -> Path:
    """Run folder for a training run: ``runs_dir()/classifiers/{recipe}-{attribute}-{key}``.

    ``key`` hashes the data fingerprint and every setting, so a change of data, sample or
    recipe trains a new model while the same call finds the finished one.

    Args:
        attribute: The attribute the classifier predicts, e.g. ``"Male"``.
        recipe: The training recipe, ``"seed"`` or ``"improved"``.
        settings: Every setting of the run (JSON-serialisable; values that are not are hashed
            by their ``str``); equal settings give the same folder.

    Returns:
        The run folder's path (not created here).

    Example:
        >>> classifier_run_dir("Male", "seed", {"epochs": 15}).name   # doctest: +SKIP
        'seed-Male-0af8eb5b1a'
    """
    return config.runs_dir() / "classifiers" / f"{recipe}-{attribute}-{_digest(dict(settings))}"


def _epoch_checkpoint(run_dir: Path, history: dict, settings: dict, epochs: int):
    """A Keras callback: after each epoch, save the model and the history so far, atomically.

    A checkpoint is ``checkpoint-NNN.keras`` (model and optimizer state) plus ``state.json``
    naming it; the state is written after the model, and the previous checkpoint is deleted
    only then, so a process killed at any instant leaves a consistent pair behind.
    """
    import keras

    class EpochCheckpoint(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            for key, value in (logs or {}).items():
                history.setdefault(key, []).append(float(value))
            history.setdefault("seconds", []).append(time.perf_counter() - self.started)
            name = f"checkpoint-{epoch + 1:03d}.keras"
            with atomic_path(Path(run_dir) / name) as tmp:
                self.model.save(tmp)
            write_json_atomic(Path(run_dir) / _STATE_FILE, {
                "epoch": epoch + 1, "epochs": epochs, "checkpoint": name,
                "history": history, "settings": settings,
            })
            for old in Path(run_dir).glob("checkpoint-*.keras"):
                if old.name != name:
                    old.unlink(missing_ok=True)

    return EpochCheckpoint()


def _read_state(run_dir: Path, settings: dict) -> dict | None:
    """The last finished epoch of an interrupted run in ``run_dir``, or None to start afresh."""
    state_file = run_dir / _STATE_FILE
    if not state_file.exists():
        return None
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None  # a state we cannot read is no state: train from the start
    if state.get("settings") != json.loads(json.dumps(settings, default=str)):
        return None
    if not (run_dir / str(state.get("checkpoint"))).exists():
        return None
    return state


def _load_checkpoint(run_dir: Path, state: Mapping[str, Any]):
    """The checkpointed model ``state`` names, or None (with a warning) if it is damaged."""
    import keras

    path = run_dir / state["checkpoint"]
    try:
        return keras.saving.load_model(path)
    except Exception as error:  # zip, HDF5 or config errors: all mean the file is unusable
        warnings.warn(f"The checkpoint {path} is damaged ({type(error).__name__}); training "
                      f"this run again from epoch 1.", RuntimeWarning, stacklevel=3)
        return None


def _clear_run(run_dir: Path) -> None:
    for name in (_MODEL_FILE, _METADATA_FILE, _STATE_FILE):
        (run_dir / name).unlink(missing_ok=True)
    for old in run_dir.glob("checkpoint-*.keras"):
        old.unlink(missing_ok=True)


def _first_x(batches) -> np.ndarray:
    first = batches[0]
    return first[0] if isinstance(first, (tuple, list)) else first


def call_in_batches(model, data, batch_size: int = 50) -> np.ndarray:
    """``model``'s outputs for every image, by direct calls one batch at a time.

    ``model.predict`` builds and traces a prediction function for each model it is given (and
    again for a last, smaller batch): predicting with many models in a row, as the chapters
    do, makes TensorFlow warn about retracing. A direct call ``model(x, training=False)``
    traces nothing, prints nothing (no progress bar) and gives the same numbers.

    Args:
        model: A Keras model (or any callable taking ``training=``).
        data: An array (N, ...) or a ``keras.utils.PyDataset`` yielding ``x`` or ``(x, y)``.
        batch_size: Rows per call for an array.

    Returns:
        The outputs of all batches, concatenated along the first axis (a NumPy array).

    Example:
        >>> scores = call_in_batches(male.model, images)          # doctest: +SKIP
    """
    import keras

    if isinstance(data, keras.utils.PyDataset):
        batches = (_x_of(data[i]) for i in range(len(data)))
    else:
        batches = (data[i:i + batch_size] for i in range(0, len(data), batch_size))
    parts = [keras.ops.convert_to_numpy(model(x, training=False)) for x in batches]
    return np.concatenate(parts, axis=0)


def _x_of(item):
    return item[0] if isinstance(item, (tuple, list)) else item


def fit_resumable(
    model,
    train,
    validation,
    *,
    epochs: int,
    run_dir: str | Path,
    settings: Mapping[str, Any] | None = None,
    resume: bool = True,
    verbose: int | str = "auto",
    callbacks: Sequence[Any] = (),
) -> tuple[Any, dict[str, list[float]], int]:
    """Fit ``model`` for ``epochs``, checkpointing every epoch into ``run_dir`` and resuming.

    When ``run_dir`` holds a checkpoint of the same ``settings`` and ``resume`` is true, the
    checkpointed model (with its optimizer state) replaces ``model`` and training continues
    from the epoch after the last finished one, with the history so far.

    Args:
        model: A compiled Keras model, used when there is no checkpoint to resume from.
        train: Training batches, a ``keras.utils.PyDataset`` yielding ``(x, y)`` (such as
            :func:`~celeba_lab.data.classifier_batches`); one with an ``epoch`` attribute is
            set to the epoch training resumes at, so its shuffling continues as it would have.
        validation: Validation batches (or anything ``model.fit`` takes as
            ``validation_data``).
        epochs: Total number of epochs, including those already finished.
        run_dir: Folder for the checkpoints (``checkpoint-NNN.keras`` and ``state.json``);
            created if missing.
        settings: The run's settings, saved with each checkpoint; a checkpoint is resumed only
            when its settings equal these.
        resume: Continue from a matching checkpoint; ``False`` deletes what ``run_dir`` holds
            (model, metadata, state and checkpoints) and starts from scratch.
        verbose: Keras verbosity; ``"auto"``: a progress bar on a terminal, one line per
            epoch elsewhere.
        callbacks: Extra Keras callbacks, called after the checkpoint of each epoch.

    Returns:
        (model, history, first_epoch): the trained model (``model`` or the checkpointed one),
        the full history, and the 0-based epoch this call started at.

    Raises:
        InputShapeError: the training images do not have the shape the model was built for
            (raised by :func:`check_input_shape`).

    Example:
        >>> model, history, first = fit_resumable(
        ...     build_classifier("seed"), train, validation, epochs=15,
        ...     run_dir="runs/male", settings={"attribute": "Male"})   # doctest: +SKIP
    """
    import keras

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = dict(settings or {})
    state = _read_state(run_dir, settings) if resume else None
    history: dict[str, list[float]] = {}
    initial_epoch = 0
    checkpointed = _load_checkpoint(run_dir, state) if state is not None else None
    if checkpointed is None and state is not None:
        state = None
        _clear_run(run_dir)
    if state is not None:
        model = checkpointed
        history = {k: list(v) for k, v in state["history"].items()}
        initial_epoch = int(state["epoch"])
        if hasattr(train, "epoch"):
            # ImageBatches draws epoch k's order from (seed, k): continue with the order an
            # uninterrupted run would have used.
            train.epoch = initial_epoch
    elif not resume:
        _clear_run(run_dir)
    check_input_shape(model, np.shape(_first_x(train))[1:])
    checkpoint = _epoch_checkpoint(run_dir, history,
                                   json.loads(json.dumps(settings, default=str)), epochs)
    if initial_epoch < epochs:
        level, printers = fit_verbosity(verbose)
        model.fit(train, validation_data=validation, epochs=epochs, initial_epoch=initial_epoch,
                  callbacks=[checkpoint, *printers, *callbacks], verbose=level)
    return model, history, initial_epoch


def train_classifier(
    attribute: str,
    data=None,
    *,
    recipe: str = "seed",
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

    Draws ``balanced_sample(data, attribute, sizes, seed)``, trains ``recipe`` on its training
    part with validation on its validation part, and saves ``model.keras`` and
    ``metadata.json`` in the run folder. Every epoch is checkpointed: after an interruption
    the same call continues from the last finished epoch, and once the run is finished the
    same call loads it instead of training again.

    Args:
        attribute: One of CelebA's 40 attribute names, e.g. ``"Male"``.
        data: A :class:`~celeba_lab.data.CelebA`; ``None`` loads the configured one.
        recipe: ``"seed"`` (the report's model and training) or ``"improved"``.
        sample: A :class:`~celeba_lab.data.BalancedSample` to train on instead of drawing one.
        sizes: Balanced (train, validation, test) sizes; default: the run profile's.
        epochs: Epochs; default: the run profile's ``classifier_epochs`` for the report's
            recipe (the report: 15), ``improved_epochs`` for the improved one.
        batch_size: Batch size; default: the run profile's (the report: 50).
        seed: Seed of the sample, the shuffling and the initial weights.
        image_size: (height, width) the images are resized to (CelebA's own 218x178 by default).
        run_dir: Where checkpoints and the model go; default :func:`classifier_run_dir`.
        resume: Continue an interrupted run and reuse a finished one; ``False`` trains
            from scratch, replacing whatever ``run_dir`` holds.
        verbose: ``"auto"``: a progress bar on a terminal, one line per epoch elsewhere
            (notebooks, logs); 2: one line per epoch; 0: silent. Unless 0, the first line
            printed names the run profile in force
            (:func:`celeba_lab.config.training_announcement`).
        callbacks: Extra Keras callbacks, called after the checkpoint of each epoch.

    Returns:
        A :class:`TrainedClassifier`.

    Raises:
        celeba_lab.data.UnknownAttributeError: ``attribute`` is not a CelebA attribute.
        celeba_lab.data.NotEnoughImagesError: the data cannot fill the balanced sample.
        ValueError: unknown ``recipe``; ``epochs`` or ``batch_size`` not a whole number of at
            least 1; ``sample`` drawn for another attribute or from other data.
        ClassifierBusyError: another process is training the same run folder.

    Example:
        >>> male = train_classifier("Male")                      # doctest: +SKIP
        >>> male.metadata["validation"]["accuracy"]              # doctest: +SKIP
        0.93
    """
    from .data import balanced_sample, check_attribute, load_celeba

    attribute = check_attribute(attribute)
    spec = _recipe(recipe)
    profile = config.get_profile()
    # None means the profile's; anything else must be usable as it is (0 is not "default").
    default_epochs = profile.classifier_epochs if recipe == "seed" else profile.improved_epochs
    epochs = whole_number("epochs", default_epochs if epochs is None else epochs)
    batch_size = whole_number("batch_size",
                              profile.classifier_batch if batch_size is None else batch_size)
    image_size = _check_image_size(image_size)
    data = load_celeba() if data is None else data
    sizes = tuple(int(s) for s in (sizes or profile.classifier_sizes))
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
        "batch_size": batch_size, "seed": int(seed), "image_size": list(image_size),
        "sample": _sample_digest(sample),
    }
    run_dir = Path(run_dir) if run_dir is not None else classifier_run_dir(attribute, recipe,
                                                                          settings)
    finished = _finished_run(run_dir, settings) if resume else None
    if finished is not None:
        return finished
    with folder_lock(run_dir, "the classifier", error=ClassifierBusyError):
        return _train(data, sample, spec, settings, run_dir, resume=resume, verbose=verbose,
                      callbacks=callbacks)


def _finished_run(run_dir: Path, settings: dict) -> TrainedClassifier | None:
    """The finished run of these settings in ``run_dir``; None (warned) if it is damaged."""
    if not (run_dir / _METADATA_FILE).exists():
        return None
    try:
        finished = load_classifier(run_dir)
    except CorruptClassifierError as error:
        if lock_owner(run_dir) is not None:
            raise   # another process is writing this run: leave it alone
        warnings.warn(f"The finished run's {getattr(error, 'path', run_dir)} cannot be read "
                      f"({error.__cause__ or error}); training it again.", RuntimeWarning,
                      stacklevel=3)
        return None
    return finished if finished.metadata.get("settings") == json.loads(json.dumps(settings)) \
        else None


def _train(data, sample, spec: _Recipe, settings: dict, run_dir: Path, *, resume, verbose,
           callbacks) -> TrainedClassifier:
    from .batches import classifier_batches

    # Under the lock, a temporary file here is a killed process's half-written save.
    for temp in run_dir.glob(".*.tmp*"):
        temp.unlink(missing_ok=True)
    batch_size, seed = settings["batch_size"], settings["seed"]
    image_size, epochs, recipe = tuple(settings["image_size"]), settings["epochs"], spec.name
    train = classifier_batches(data, sample.train, batch_size=batch_size, shuffle=True,
                               seed=seed, one_hot=spec.one_hot, size=image_size)
    validation = classifier_batches(data, sample.validation, batch_size=batch_size,
                                    one_hot=spec.one_hot, size=image_size)
    if verbose != 0:
        print(config.training_announcement(
            f"{settings['attribute']} ({recipe} recipe), {epochs} epochs x {len(train)} steps of "
            f"{batch_size} images", data=_data_words(data), real=not data.synthetic))
    import keras

    keras.utils.set_random_seed(seed)
    model = build_classifier(recipe, (*image_size, 3), decay_steps=epochs * len(train))
    started = time.perf_counter()
    model, history, first_epoch = fit_resumable(
        model, train, validation, epochs=epochs, run_dir=run_dir, settings=settings,
        resume=resume, verbose=verbose, callbacks=callbacks)
    metadata = _metadata(data, settings, history, model, time.perf_counter() - started)
    with atomic_path(run_dir / _MODEL_FILE) as tmp:
        model.save(tmp)
    write_json_atomic(run_dir / _METADATA_FILE, metadata)
    for name in [_STATE_FILE, *(p.name for p in run_dir.glob("checkpoint-*.keras"))]:
        (run_dir / name).unlink(missing_ok=True)
    return TrainedClassifier(model, history, metadata, run_dir,
                             "resumed" if first_epoch else "trained")


def _check_image_size(image_size) -> tuple[int, int]:
    # Both recipes halve the image four times: below 16 pixels a side nothing is left.
    size = tuple(image_size)
    if len(size) != 2:
        raise ValueError(f"image_size must be (height, width), got {image_size!r}.")
    return tuple(whole_number(f"image_size's {side}", v, minimum=16)
                 for side, v in zip(("height", "width"), size))


def _check_sample(data, sample, attribute: str) -> None:
    """Refuse a sample of another attribute, or one whose labels are not ``data``'s."""
    from .data import sample_summary

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


def _metadata(data, settings: dict, history: dict, model, seconds: float) -> dict[str, Any]:
    import keras

    last = {k: v[-1] for k, v in history.items() if v}
    return {
        **{k: settings[k] for k in ("attribute", "recipe", "sizes", "epochs", "batch_size",
                                    "seed", "image_size")},
        "data_fingerprint": data.fingerprint,
        "synthetic": bool(data.synthetic),
        "data_source": "synthetic CelebA" if data.synthetic else "real CelebA",
        "settings": settings,
        "profile": config.get_profile().name,
        "parameters": count_parameters(model),
        "validation": {"loss": last.get("val_loss"), "accuracy": last.get("val_accuracy")},
        "history": history,
        "train_seconds_this_session": round(seconds, 2),
        "seconds_per_epoch": float(np.median(history["seconds"])) if history.get("seconds")
        else None,
        "keras_backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def load_classifier(path: str | Path) -> TrainedClassifier:
    """Load a finished classifier from its run folder (or its ``model.keras`` file).

    Args:
        path: A run folder written by :func:`train_classifier`, or the ``model.keras`` in it.

    Returns:
        A :class:`TrainedClassifier` with ``origin="loaded"``.

    Raises:
        ClassifierNotFoundError: nothing there, or a run that stopped before its last epoch
            (the message says at which epoch and how to resume).
        CorruptClassifierError: the model or its metadata cannot be read.

    Example:
        >>> male = load_classifier(train_classifier("Male").path)   # doctest: +SKIP
    """
    import keras

    path = Path(path)
    run_dir = path.parent if path.suffix == ".keras" else path
    model_file = path if path.suffix == ".keras" else run_dir / _MODEL_FILE
    if not model_file.exists():
        state_file = run_dir / _STATE_FILE
        if state_file.exists():
            try:
                state = json.loads(state_file.read_text())
                where = f"stopped after epoch {state['epoch']} of {state['epochs']}"
            except (OSError, ValueError, KeyError):
                where = "stopped before it finished"
            raise ClassifierNotFoundError(
                f"The training run in {run_dir} {where}: there is no finished model yet. "
                "Call train_classifier again with the same arguments to resume it.")
        raise ClassifierNotFoundError(
            f"No trained classifier at {model_file}. Train one with "
            "celeba_lab.train_classifier(attribute) (it saves model.keras and metadata.json "
            "in its run folder) and pass that folder.")
    try:
        model = keras.saving.load_model(model_file)
    except Exception as error:  # zip, HDF5 or config errors: all mean the file is unusable
        raise _corrupt(model_file, f"Cannot read the classifier {model_file} ("
                       f"{type(error).__name__}: {error}). Call train_classifier again with "
                       "the run's arguments to train again (it replaces the damaged run).") from error
    shape = tuple(getattr(model, "output_shape", ()) or ())
    if len(shape) != 2 or shape[-1] not in (1, 2):
        raise ClassifierError(
            f"{model_file} holds the model {model.name!r} with output shape {shape}, not an "
            "attribute classifier (one sigmoid or a 2-way softmax). A GAN's generator loads "
            "with celeba_lab.load_generator; a classifier's run folder comes from "
            "train_classifier(...).path.")
    metadata: dict[str, Any] = {}
    meta_file = run_dir / _METADATA_FILE
    if meta_file.exists():
        try:
            metadata = json.loads(meta_file.read_text())
        except ValueError as error:
            raise _corrupt(meta_file, f"Cannot read {meta_file} ({error}). Call "
                           "train_classifier again with the run's arguments to train again (it "
                           "replaces the damaged run).") from error
    history = {k: list(v) for k, v in metadata.get("history", {}).items()}
    return TrainedClassifier(model, history, metadata, run_dir, "loaded")


def _corrupt(path: Path, message: str) -> CorruptClassifierError:
    error = CorruptClassifierError(message)
    error.path = path
    return error


# --------------------------------------------------------------------------------------------
# Predictions


def _model_of(trained_or_model):
    return getattr(trained_or_model, "model", trained_or_model)


def _expected_shape(model) -> tuple:
    return tuple(model.input_shape[1:])


def check_input_shape(model, shape: Sequence[int]) -> None:
    """Raise :class:`InputShapeError` unless images of ``shape`` (H, W, C) fit ``model``.

    Args:
        model: A built Keras model (its ``input_shape`` is compared).
        shape: Shape of one image, (height, width, channels), without the batch axis.

    Raises:
        InputShapeError: ``shape`` has another number of axes or another size on an axis the
            model fixes; the message says how to resize the images or train for their size.

    Example:
        >>> check_input_shape(seed_classifier(), (218, 178, 3))      # fits: returns None
        >>> check_input_shape(seed_classifier(), (64, 64, 3))        # doctest: +SKIP
        Traceback (most recent call last):
        InputShapeError: This classifier expects images of shape (218, 178, 3) ...
    """
    expected = _expected_shape(model)
    shape = tuple(int(s) for s in shape)
    if len(shape) != len(expected) or any(e is not None and e != s
                                          for e, s in zip(expected, shape)):
        raise InputShapeError(
            f"This classifier expects images of shape {expected} (height, width, channels), "
            f"but was given images of shape {shape}. Resize them first (for CelebA images: "
            f"classifier_batches(data, labels, size={expected[:2]})), or train a classifier "
            f"for this size with train_classifier(..., image_size={shape[:2]}).")


def _require_trained(model) -> None:
    import keras

    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise NotTrainedError(
            f"The model {model.name!r} has not been compiled or trained, so its predictions "
            "mean nothing. Train it with celeba_lab.train_classifier(attribute) or load a "
            "trained one with celeba_lab.load_classifier(run_folder).")
    if int(keras.ops.convert_to_numpy(optimizer.iterations)) == 0:
        raise NotTrainedError(
            f"The model {model.name!r} has not been trained (its optimizer never took a step), "
            "so its predictions mean nothing. Train it with "
            "celeba_lab.train_classifier(attribute) or load a trained one with "
            "celeba_lab.load_classifier(run_folder).")


def _as_float_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype("float32") / 255.0
    return images.astype("float32", copy=False)


def predict_scores(trained_or_model, images_or_batches, *, batch_size: int = 50,
                   require_trained: bool = True) -> np.ndarray:
    """Probability of the positive class for each image.

    Works for the seed model's 2-way softmax (its second column) and for a one-unit sigmoid.

    Args:
        trained_or_model: A :class:`TrainedClassifier` or a Keras model.
        images_or_batches: An array (N, H, W, 3) of floats in [0, 1] or of uint8 (scaled to
            [0, 1] here), one image (H, W, 3), or a ``keras.utils.PyDataset`` (such as
            :func:`~celeba_lab.data.classifier_batches`) yielding ``x`` or ``(x, y)``, unshuffled.
        batch_size: Batch size for arrays.
        require_trained: Refuse a model that was never trained.

    Returns:
        float32 array (N,) of scores in [0, 1].

    Raises:
        InputShapeError: the images do not have the shape the model was built for.
        NotTrainedError: the model was never compiled or trained.

    Example:
        >>> scores = predict_scores(male, images)          # doctest: +SKIP
        >>> (scores >= 0.5).astype(int)                    # doctest: +SKIP
    """
    import keras

    model = _model_of(trained_or_model)
    if require_trained:
        _require_trained(model)
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


def classifier_embedding(trained_or_model) -> "keras.Model":
    """A model mapping images to the classifier's penultimate features.

    The features are the input of the output layer (dropout skipped): the seed model's 64
    sigmoid units of ``dense3``, the improved model's 128 globally pooled ``features``. Distances
    between faces in this space say how differently the classifier sees them.

    Args:
        trained_or_model: A :class:`TrainedClassifier` or a Keras model (built with
            :func:`seed_classifier` or :func:`improved_classifier`).

    Returns:
        A ``keras.Model`` sharing the classifier's layers and weights, from its input to the
        output of the last layer before the output layer (dropout skipped), named
        ``"{model name}_embedding"``.

    Example:
        >>> features = call_in_batches(classifier_embedding(male), images)   # doctest: +SKIP
    """
    import keras

    model = _model_of(trained_or_model)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.Dropout)]
    penultimate = layers[-2]
    return keras.Model(model.inputs[0], penultimate.output, name=f"{model.name}_embedding")


# --------------------------------------------------------------------------------------------
# Metrics


def confusion_matrix(y_true, y_pred) -> np.ndarray:
    """2x2 counts: rows the true class (0, 1), columns the predicted class (0, 1).

    Args:
        y_true: True labels, 0 or 1 (any array-like; flattened).
        y_pred: Predicted labels, 0 or 1, as many as ``y_true``.

    Returns:
        int64 array (2, 2): ``[[tn, fp], [fn, tp]]``.

    Raises:
        ValueError: ``y_true`` and ``y_pred`` differ in length, or a label is not 0 or 1.

    Example:
        >>> confusion_matrix([0, 1, 1, 0], [0, 1, 0, 0]).tolist()
        [[2, 0], [1, 1]]
    """
    y_true = _binary(y_true)
    y_pred = _binary(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}.")
    matrix = np.zeros((2, 2), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _binary(labels) -> np.ndarray:
    """0/1 labels as int, refusing anything else (0.7 is not truncated to 0)."""
    values = np.asarray(labels).ravel()
    bad = sorted(set(np.unique(values).tolist()) - {0, 1})
    if bad:
        raise ValueError(f"Labels must be 0 or 1; got also {bad[:5]}.")
    return values.astype(int)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def classification_metrics(y_true, y_pred) -> dict[str, float]:
    """Binary classification metrics from 0/1 labels and 0/1 predictions (pure numpy).

    ``precision``, ``recall`` and ``f1`` are averaged over both classes weighted by their
    support, as in the report's table (scikit-learn's ``average="weighted"``): weighted recall
    is then the accuracy. ``*_positive`` are the usual one-class values for the positive
    class. ``balanced_accuracy`` is the mean of the recalls of both classes, 0.5 for any
    constant answer; ``majority_baseline`` the accuracy of always answering the majority
    class. A ratio with a zero denominator counts as 0.

    Args:
        y_true: True labels, 0 or 1 (any array-like).
        y_pred: Predicted labels, 0 or 1, as many as ``y_true``.

    Returns:
        A dict of floats: accuracy, precision, recall, f1, precision_positive,
        recall_positive, f1_positive, specificity, balanced_accuracy, majority_baseline,
        positive_share, n.

    Raises:
        ValueError: as :func:`confusion_matrix`: lengths differ, or a label is not 0 or 1.

    Example:
        >>> metrics = classification_metrics([0, 1, 1, 0], [0, 1, 0, 0])
        >>> metrics["accuracy"], metrics["recall_positive"], metrics["specificity"]
        (0.75, 0.5, 1.0)
    """
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
    n = tn + fp + fn + tp
    per_class = {}
    for cls, (t, f_pos, f_neg) in {1: (tp, fp, fn), 0: (tn, fn, fp)}.items():
        precision = _ratio(t, t + f_pos)
        recall = _ratio(t, t + f_neg)
        per_class[cls] = (precision, recall, _ratio(2 * precision * recall, precision + recall),
                          t + f_neg)
    weighted = [sum(per_class[c][i] * per_class[c][3] for c in (0, 1)) / n if n else 0.0
                for i in range(3)]
    positives = tp + fn
    return {
        "accuracy": _ratio(tp + tn, n),
        "precision": float(weighted[0]),
        "recall": float(weighted[1]),
        "f1": float(weighted[2]),
        "precision_positive": per_class[1][0],
        "recall_positive": per_class[1][1],
        "f1_positive": per_class[1][2],
        "specificity": per_class[0][1],
        "balanced_accuracy": (per_class[1][1] + per_class[0][1]) / 2,
        "majority_baseline": _ratio(max(positives, n - positives), n),
        "positive_share": _ratio(positives, n),
        "n": float(n),
    }


def majority_baseline(labels) -> float:
    """Accuracy of always answering the more frequent class of ``labels`` (0/1).

    Args:
        labels: 0/1 labels (any array-like; flattened).

    Returns:
        The share of the more frequent class, between 0.5 and 1.

    Raises:
        ValueError: ``labels`` is empty.

    Example:
        >>> majority_baseline([1, 1, 0, 1])
        0.75
    """
    labels = np.asarray(labels).astype(int).ravel()
    if labels.size == 0:
        raise ValueError("No labels: the majority baseline of an empty set is undefined.")
    share = labels.mean()
    return float(max(share, 1 - share))


@dataclass
class ClassifierEvaluation:
    """A classifier's results on one labelled set of images.

    Attributes:
        attribute: The attribute predicted.
        split: What the images were, e.g. ``"balanced test sample"``.
        metrics: :func:`classification_metrics` of the thresholded scores.
        confusion: 2x2 counts, rows true class, columns predicted class.
        scores: Probability of the positive class per image (index: image ids).
        labels: True 0/1 labels (same index).
        threshold: Score above which an image is called positive.
        metadata: The classifier's metadata (recipe, data source, sizes, epochs).
    """

    attribute: str | None
    split: str
    metrics: dict[str, float]
    confusion: np.ndarray
    scores: pd.Series
    labels: pd.Series
    threshold: float = 0.5
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def predictions(self) -> pd.Series:
        """0/1 predictions (score >= threshold)."""
        return (self.scores >= self.threshold).astype(int)

    @property
    def n(self) -> int:
        """Number of images evaluated."""
        return int(len(self.labels))

    def summary(self, metrics: Sequence[str] = ("accuracy", "precision", "recall", "f1",
                                                  "balanced_accuracy", "majority_baseline")
                ) -> pd.Series:
        """Selected metrics as a Series named after the attribute."""
        return pd.Series({m: self.metrics[m] for m in metrics}, name=self.attribute)

    def confident_errors(self, n: int = 12) -> pd.DataFrame:
        """The ``n`` wrongly classified images the classifier was surest about.

        Returns:
            DataFrame indexed by image id with ``label``, ``score`` and ``confidence`` (the
            probability it gave to the wrong class), most confident first.
        """
        wrong = self.predictions != self.labels
        confidence = np.where(self.labels == 1, 1 - self.scores, self.scores)
        table = pd.DataFrame({"label": self.labels, "score": self.scores,
                              "confidence": confidence})[wrong]
        return table.sort_values("confidence", ascending=False).head(n)


def evaluate_classifier(
    trained_or_model,
    data,
    labels,
    *,
    attribute: str | None = None,
    split: str = "test",
    threshold: float = 0.5,
    batch_size: int = 50,
) -> ClassifierEvaluation:
    """Score labelled images and compute :func:`classification_metrics`.

    Args:
        trained_or_model: A :class:`TrainedClassifier` or a trained Keras model.
        data: A :class:`~celeba_lab.data.CelebA` (then ``labels`` is a 0/1 Series indexed by
            image id, e.g. ``data.labels("Male", data.split("test"))``), or an image array
            (N, H, W, 3) with ``labels`` an array of N 0/1 values.
        labels: The true labels.
        attribute: Name for the tables; default: the classifier's metadata, or the Series' name.
        split: What the images are, for tables and figures.
        threshold: Score from which an image counts as positive.
        batch_size: Images per prediction batch.

    Returns:
        A :class:`ClassifierEvaluation`.

    Raises:
        NotTrainedError: the model was never trained.
        InputShapeError: the images do not match the model's input.
        ValueError: an image array and ``labels`` differ in length, a label is not 0 or 1, or
            ``labels`` is a Series named after another attribute than the classifier's (and
            ``attribute`` is not given).

    Example:
        >>> test = data.labels("Male", data.split("test"))           # doctest: +SKIP
        >>> evaluation = evaluate_classifier(male, data, test)       # doctest: +SKIP
        >>> evaluation.metrics["balanced_accuracy"]                  # doctest: +SKIP
    """
    model = _model_of(trained_or_model)
    _require_trained(model)
    metadata = dict(getattr(trained_or_model, "metadata", {}) or {})
    attribute = attribute or _attribute_of(metadata, labels)
    if isinstance(data, np.ndarray):
        labels = pd.Series(_binary(labels), name=attribute)
        if len(labels) != len(data):
            raise ValueError(f"{len(data)} images but {len(labels)} labels.")
        scores = predict_scores(model, data, batch_size=batch_size, require_trained=False)
    else:
        from .batches import classifier_batches

        labels = pd.Series(labels)
        labels = pd.Series(_binary(labels), index=labels.index, name=labels.name)
        height, width = _expected_shape(model)[:2]
        batches = classifier_batches(data, labels, batch_size=batch_size, shuffle=False,
                                     size=(height, width))
        scores = predict_scores(model, batches, require_trained=False)
    scores = pd.Series(scores, index=labels.index, name="score")
    predictions = (scores >= threshold).astype(int)
    return ClassifierEvaluation(
        attribute=attribute, split=split,
        metrics=classification_metrics(labels.values, predictions.values),
        confusion=confusion_matrix(labels.values, predictions.values),
        scores=scores, labels=labels.rename("label"), threshold=threshold, metadata=metadata)


def _attribute_of(metadata: Mapping[str, Any], labels) -> str | None:
    """The classifier's attribute, refusing labels named after another one."""
    own, named = metadata.get("attribute"), getattr(labels, "name", None)
    if own and named and str(named) != own:
        raise ValueError(
            f"The labels are for {named!r} but the classifier predicts {own!r}. Pass its own "
            f"labels (data.labels({own!r}, ids)), or attribute={named!r} to evaluate it on "
            "these labels knowingly.")
    return own or named


def evaluate_balanced_test(trained: TrainedClassifier, data, *, sample=None,
                           batch_size: int = 50) -> ClassifierEvaluation:
    """Evaluate on the balanced (50/50) test sample, like the report's table.

    Args:
        trained: A classifier from :func:`train_classifier` or :func:`load_classifier`.
        data: The :class:`~celeba_lab.data.CelebA` it was trained on.
        sample: The balanced sample whose test part to use; default: the classifier's own
            (drawn again from its metadata). Pass another classifier's sample to compare two
            recipes on exactly the same images.
        batch_size: Images per prediction batch.

    Returns:
        A :class:`ClassifierEvaluation` with split ``"balanced test sample"``.

    Raises:
        NotTrainedError: the model was never trained.
        InputShapeError: the images do not match the model's input.

    Example:
        >>> male = train_classifier("Male", data)                    # doctest: +SKIP
        >>> evaluate_balanced_test(male, data).summary()             # doctest: +SKIP
    """
    sample = sample if sample is not None else trained.sample(data)
    return evaluate_classifier(trained, data, sample.test, attribute=sample.attribute,
                               split="balanced test sample", batch_size=batch_size)


def evaluate_natural_test(trained, data, attribute: str | None = None, *,
                          max_images: int | None = None, seed: int = 0,
                          batch_size: int = 50) -> ClassifierEvaluation:
    """Evaluate on the official test split as it is, with its natural class imbalance.

    There always answering the majority class already scores the share of that class
    (61.35 / 93.54 / 50.03 % for Male / Eyeglasses / Smiling on real CelebA), so look at
    ``metrics["balanced_accuracy"]`` beside the accuracy.

    Args:
        trained: A :class:`TrainedClassifier` (or a model, with ``attribute`` given).
        data: A :class:`~celeba_lab.data.CelebA`.
        attribute: Default: the classifier's.
        max_images: Evaluate on a random subset of this many test images; default: the run
            profile's ``natural_test_images`` (``None``: all of them).
        seed: Seed of that subset.
        batch_size: Images per prediction batch.

    Returns:
        A :class:`ClassifierEvaluation` with split ``"natural test split"``.

    Raises:
        ValueError: no ``attribute`` given and ``trained`` does not know its own.
        NotTrainedError: the model was never trained.
        InputShapeError: the images do not match the model's input.

    Example:
        >>> natural = evaluate_natural_test(male, data)                       # doctest: +SKIP
        >>> natural.metrics["accuracy"], natural.metrics["balanced_accuracy"]  # doctest: +SKIP
    """
    attribute = attribute or getattr(trained, "attribute", None)
    if attribute is None:
        raise ValueError("Say which attribute the model predicts: evaluate_natural_test("
                         "model, data, attribute='Male').")
    max_images = max_images or config.get_profile().natural_test_images
    ids = data.split("test")
    if max_images and len(ids) > max_images:
        rng = np.random.default_rng(seed)
        ids = ids[np.sort(rng.choice(len(ids), size=max_images, replace=False))]
    return evaluate_classifier(trained, data, data.labels(attribute, ids), attribute=attribute,
                               split="natural test split", batch_size=batch_size)


# --------------------------------------------------------------------------------------------
# Side by side with the report


def _sizes_text(sizes) -> str:
    return "/".join(f"{int(s):,}" for s in sizes)


def _column_label(name: str, metadata: Mapping[str, Any]) -> str:
    source = metadata.get("data_source", "?")
    sizes = _sizes_text(metadata["sizes"]) if metadata.get("sizes") else "?"
    return f"{name} ({source}; {sizes} images; {metadata.get('epochs', '?')} epochs)"


def report_comparison(
    evaluations: Mapping[str, Any],
    *,
    metrics: Sequence[str] = REPORT_METRICS,
) -> pd.DataFrame:
    """The report's table beside this build's, metric by metric, naming each data source.

    Args:
        evaluations: ``{attribute: ClassifierEvaluation}`` for one build, or
            ``{column name: {attribute: ClassifierEvaluation}}`` for several (e.g. the seed
            and the improved recipe). Evaluations on the balanced test samples compare with
            the report.
        metrics: Metrics to list (default: the report's four; precision, recall and F1
            weighted over both classes, as the report's).

    Returns:
        DataFrame indexed by (attribute, metric), one column for the report and one per build;
        each heading names the data source, sample sizes (train/validation/test) and epochs.

    Example:
        >>> report_comparison({a: evaluate_balanced_test(c, data)
        ...                    for a, c in classifiers.items()})     # doctest: +SKIP
        >>> report_comparison({"seed": seed_evals, "improved": improved_evals})  # doctest: +SKIP
    """
    first = next(iter(evaluations.values()), None)
    builds = ({"this build": evaluations} if isinstance(first, ClassifierEvaluation)
              else dict(evaluations))
    attributes = [a for a in REPORT_ATTRIBUTES if any(a in e for e in builds.values())]
    attributes += sorted({a for e in builds.values() for a in e} - set(attributes))
    index = pd.MultiIndex.from_product([attributes, list(metrics)],
                                       names=["attribute", "metric"])
    report_label = _column_label("report", REPORT_SETTINGS)
    table = pd.DataFrame(index=index)
    table[report_label] = [REPORT_RESULTS.get(a, {}).get(m, np.nan) for a, m in index]
    for name, by_attribute in builds.items():
        meta = next(iter(by_attribute.values())).metadata
        table[_column_label(name, meta)] = [
            by_attribute[a].metrics[m] if a in by_attribute else np.nan for a, m in index]
    return table
