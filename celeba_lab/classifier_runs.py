"""The attribute classifiers' run folders: resumable training, finished-run detection, errors.

The engine under :func:`celeba_lab.train_classifier`. A run folder (a
:class:`celeba_lab.runs.RunFolder`) holds a checkpoint per epoch, then ``model.keras`` and
``metadata.json``: a process killed at any instant leaves a folder the same call resumes or loads.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import keras
import numpy as np

from . import config
from ._io import atomic_path, fit_verbosity, lock_owner, remove_path
from .runs import CHECKPOINTS, LOCK, MANIFEST, Checkpoint, RunFolder, fingerprint, read_json

__all__ = [
    "ClassifierError", "ClassifierBusyError", "ClassifierNotFoundError", "CorruptClassifierError",
    "NotTrainedError", "InputShapeError",
]

_MODEL_FILE = "model.keras"
_METADATA_FILE = "metadata.json"
_KEY_LENGTH = 10  # hex digits of the folder names' key: finished runs keep their folder
_RETRAIN = ("Call train_classifier again with the run's arguments to train again (it replaces "
            "the damaged run).")


# Errors -------------------------------------------------------------------------------------

class ClassifierError(Exception):
    """Base class of the errors raised by the attribute classifiers and their runs."""


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


def _corrupt(path: Path, message: str) -> CorruptClassifierError:
    error = CorruptClassifierError(message)
    error.path = path
    return error


# Run folders: name, lock --------------------------------------------------------------------

def _folder(run_dir: str | Path, *, adopt: bool = False) -> RunFolder:
    """The classifier's run folder (``adopt``: a default one, see :class:`RunFolder`)."""
    return RunFolder(Path(run_dir), kind="classifier",
                     restart="train_classifier(..., resume=False)",
                     entries=(_MODEL_FILE, _METADATA_FILE, MANIFEST, CHECKPOINTS),
                     error=ClassifierError, markers=(MANIFEST, _METADATA_FILE),
                     lock_error=ClassifierBusyError, adopt=adopt)


def _run_settings(run_dir: Path) -> dict | None:
    """The settings of the run in ``run_dir``, finished or interrupted; None when there is
    none readable (a damaged run is trained again)."""
    for name in (_METADATA_FILE, MANIFEST):
        record = read_json(run_dir / name)
        if isinstance(record, dict) and isinstance(record.get("settings"), dict):
            return record["settings"]
    return None


def check_same_run(folder: RunFolder, settings: Mapping[str, Any]) -> None:
    """Refuse a run folder that holds (finished or not) a run of other ``settings``.

    Raises:
        ClassifierError: Other settings (the message lists them and says how to start over).
    """
    folder.refuse_other_settings(_run_settings(folder.path), settings)


def _sample_digest(sample) -> str:
    """Fingerprint of a balanced sample's image ids and labels (one of the run's settings)."""
    parts = []
    for name in ("train", "validation", "test"):
        labels = sample.split(name)
        parts.append("\n".join(map(str, labels.index)) + "|" + "".join(map(str, labels.values)))
    return fingerprint("#".join(parts).encode("utf-8"), length=16)  # bytes: hashed as they are


def classifier_run_dir(attribute: str, recipe: str, settings: Mapping[str, Any]) -> Path:
    """Run folder for a training run: ``runs_dir()/classifiers/{recipe}-{attribute}-{key}``.

    Args:
        attribute: The attribute the classifier predicts, e.g. ``"Male"``.
        recipe: The training recipe, ``"report"`` or ``"improved"``.
        settings: Every setting of the run, data fingerprint included (non-JSON values as
            ``str``): ``key`` hashes them, so any change gives a new folder.

    Returns:
        The run folder's path (not created here).

    Example:
        >>> classifier_run_dir("Male", "report", {"epochs": 15}).name
        'report-Male-0af8eb5b1a'
    """
    key = fingerprint(dict(settings), length=_KEY_LENGTH)
    return config.runs_dir() / "classifiers" / f"{recipe}-{attribute}-{key}"


# Checkpoints --------------------------------------------------------------------------------

def _save_model(model, folder: Path) -> None:
    """A checkpoint's content: the model with its optimizer state."""
    model.save(folder / _MODEL_FILE)


def _stopped_at(run_dir: Path) -> str | None:
    """How far an unfinished run got (from its ``checkpoint.json``), or None when there is none."""
    state_file = run_dir / MANIFEST
    if not state_file.exists():
        return None
    try:
        state = read_json(state_file)
        return f"stopped after epoch {state['epoch']} of {state['epochs']}"
    except (TypeError, KeyError):
        return "stopped before it finished"


def _x_of(item):
    """The images of a batch that is ``x`` or ``(x, y)``."""
    return item[0] if isinstance(item, (tuple, list)) else item


def _first_x(batches) -> np.ndarray:
    return _x_of(batches[0])


# Resumable training -------------------------------------------------------------------------

def _expected_shape(model) -> tuple:
    return tuple(model.input_shape[1:])


def check_input_shape(model, shape: Sequence[int]) -> None:
    """Raise :class:`InputShapeError` unless images of ``shape`` (H, W, C) fit ``model``.

    Args:
        model: A built Keras model.
        shape: Shape of one image, without the batch axis.

    Raises:
        InputShapeError: ``shape`` has other axes or sizes than the model's; the message says
            how to resize the images or train for their size.

    Example:
        >>> check_input_shape(cl.report_classifier(), (218, 178, 3))   # fits: returns None
        >>> check_input_shape(cl.report_classifier(), (64, 64, 3))
        Traceback (most recent call last):
        celeba_lab.classifier_runs.InputShapeError: This classifier expects ... (218, 178, 3) ...
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

    With ``resume`` and a checkpoint of these ``settings`` in ``run_dir``, the checkpointed model
    (optimizer state included) replaces ``model`` and training continues where it stopped.

    Args:
        model: A compiled Keras model, used when there is no checkpoint to resume from.
        train: Training batches yielding ``(x, y)``; one with an ``epoch`` attribute is set to
            the epoch training resumes at, so its shuffling continues as it would have.
        validation: Anything ``model.fit`` takes as ``validation_data``.
        epochs: Total number of epochs, including those already finished.
        run_dir: Folder for the checkpoints; created if missing, not locked here.
        settings: The run's settings, saved with each checkpoint; other settings are refused.
        resume: Continue from a matching checkpoint (a damaged one is warned about and
            training starts from scratch); ``False`` deletes the run's files and starts over.
        verbose: ``"auto"``: a progress bar on a terminal, nothing elsewhere; 2: a line an epoch.
        callbacks: Extra Keras callbacks, called after the checkpoint of each epoch.

    Returns:
        (model, history, first_epoch): the trained model (``model`` or the checkpointed one),
        the full history, and the 0-based epoch this call started at.

    Raises:
        InputShapeError: the training images do not fit the model.
        ClassifierError: ``run_dir`` is not a classifier's run folder, or (with ``resume``)
            holds a run of other settings; the disk is full while a checkpoint is written.

    Example:
        >>> sample = cl.balanced_sample(data, "Male", (20, 4, 4))
        >>> train, validation = (cl.classifier_batches(data, labels, batch_size=10, one_hot=True,
        ...                                            size=(32, 32))
        ...                      for labels in (sample.train, sample.validation))
        >>> for epochs in (1, 2):           # the second call resumes the first, one epoch more
        ...     model, history, first = fit_resumable(
        ...         cl.report_classifier((32, 32, 3)), train, validation, epochs=epochs,
        ...         run_dir="run", settings={"attribute": "Male"}, verbose=0)
        ...     print(first, len(history["loss"]))
        0 1
        1 2
    """
    folder = _folder(run_dir)
    folder.refuse_foreign()
    folder.path.mkdir(parents=True, exist_ok=True)
    folder.mark()
    settings = json.loads(json.dumps(dict(settings or {}), default=str))
    resumed = None
    if resume:
        check_same_run(folder, settings)
        resumed = folder.resume(lambda path: keras.saving.load_model(path / _MODEL_FILE))
    else:
        folder.clear()
    history: dict[str, list[float]] = {}
    initial_epoch = 0
    if resumed is not None:  # else a damaged checkpoint was warned about: from epoch 1
        manifest, model = resumed
        history, initial_epoch = manifest["history"], manifest["epoch"]
        if hasattr(train, "epoch"):
            # ImageBatches draws epoch k's order from (seed, k): continue with the order an
            # uninterrupted run would have used.
            train.epoch = initial_epoch
    check_input_shape(model, np.shape(_first_x(train))[1:])
    checkpoint = Checkpoint(folder, _save_model, history, record=True, epochs=epochs,
                            settings=settings)
    if initial_epoch < epochs:
        level, printers = fit_verbosity(verbose)
        model.fit(train, validation_data=validation, epochs=epochs, initial_epoch=initial_epoch,
                  callbacks=[checkpoint, *printers, *callbacks], verbose=level)
    return model, history, initial_epoch


# The finished run: model.keras and metadata.json --------------------------------------------

def _run_metadata(data, settings: dict, history: dict, model, seconds: float,
                  parameters: int) -> dict[str, Any]:
    """The content of a finished run's ``metadata.json``."""
    last = {k: v[-1] for k, v in history.items() if v}
    return {
        **{k: settings[k] for k in ("attribute", "recipe", "sizes", "epochs", "batch_size",
                                    "seed", "image_size")},
        "data_fingerprint": data.fingerprint,
        "synthetic": bool(data.synthetic),
        "data_source": "synthetic CelebA" if data.synthetic else "real CelebA",
        "settings": settings,
        "profile": config.get_profile().name,
        "parameters": int(parameters),
        "validation": {"loss": last.get("val_loss"), "accuracy": last.get("val_accuracy")},
        "history": history,
        "train_seconds_this_session": round(seconds, 2),
        "seconds_per_epoch": float(np.median(history["seconds"])) if history.get("seconds")
        else None,
        "keras_backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _save_finished(run_dir: Path, model, metadata: Mapping[str, Any]) -> None:
    """Save ``model.keras``, then ``metadata.json`` with its SHA-256, then delete the
    checkpoints."""
    folder = dataclasses.replace(_folder(run_dir), manifest=_METADATA_FILE)
    with atomic_path(folder.path / _MODEL_FILE) as tmp:
        model.save(tmp)
    folder.commit(folder.path, [_MODEL_FILE], **metadata)  # deletes checkpoints/*
    for name in (MANIFEST, CHECKPOINTS):
        remove_path(folder.path / name)


def _read_run(path: str | Path) -> tuple[Any, dict[str, Any], Path]:
    """(model, metadata, run folder) of the finished run at ``path``; raises the errors
    :func:`celeba_lab.load_classifier` documents."""
    path = Path(path)
    run_dir = path.parent if path.suffix == ".keras" else path
    model_file = path if path.suffix == ".keras" else run_dir / _MODEL_FILE
    if not model_file.exists():
        where = _stopped_at(run_dir)
        if where is not None:
            raise ClassifierNotFoundError(
                f"The training run in {run_dir} {where}: there is no finished model yet. "
                "Call train_classifier again with the same arguments to resume it.")
        raise ClassifierNotFoundError(
            f"No trained classifier at {model_file}. Train one with "
            "celeba_lab.train_classifier(attribute) (it saves model.keras and metadata.json "
            "in its run folder) and pass that folder.")
    metadata: dict[str, Any] = {}
    meta_file = run_dir / _METADATA_FILE
    if meta_file.exists():
        try:
            metadata = json.loads(meta_file.read_text())
        except ValueError as error:
            raise _corrupt(meta_file, f"Cannot read {meta_file} ({error}). {_RETRAIN}") from error
    if model_file.name == _MODEL_FILE and isinstance(metadata.get("files"), dict):
        try:  # runs saved before checksums were kept have none
            _folder(run_dir).verify(metadata, source=_METADATA_FILE)
        except ClassifierError:
            raise _corrupt(model_file, f"Cannot read the classifier {model_file} (its checksum "
                           f"does not match {meta_file}). {_RETRAIN}") \
                from ValueError(f"its checksum does not match {_METADATA_FILE}")
    try:
        model = keras.saving.load_model(model_file)
    except Exception as error:  # zip, HDF5 or config errors: all mean the file is unusable
        raise _corrupt(model_file, f"Cannot read the classifier {model_file} ("
                       f"{type(error).__name__}: {error}). {_RETRAIN}") from error
    _require_classifier_output(model, f"{model_file} holds the model {model.name!r}, which",
                               "A GAN's generator loads with celeba_lab.load_generator; a "
                               "classifier's run folder comes from train_classifier(...).path.")
    return model, metadata, run_dir


def _require_classifier_output(model, what: str, advice: str) -> None:
    """Raise :class:`ClassifierError` unless ``model`` ends in one sigmoid or a 2-way softmax."""
    shape = tuple(getattr(model, "output_shape", ()) or ())
    if len(shape) != 2 or shape[-1] not in (1, 2):
        raise ClassifierError(f"{what} has output shape {shape}, not an attribute classifier's "
                              f"(one sigmoid or a 2-way softmax). {advice}")


def _finished_run(run_dir: Path, settings: dict, load: Callable[[Path], Any]):
    """The finished run of these settings in ``run_dir`` (read by ``load``, e.g.
    :func:`celeba_lab.load_classifier`); None if there is none, or (warned) if it is damaged."""
    if not (run_dir / _METADATA_FILE).exists():
        return None
    try:
        finished = load(run_dir)
    except CorruptClassifierError as error:
        if lock_owner(run_dir, LOCK) is not None:
            raise   # another process is writing this run: leave it alone
        warnings.warn(f"The finished run's {getattr(error, 'path', run_dir)} cannot be read "
                      f"({error.__cause__ or error}); training it again.", RuntimeWarning,
                      stacklevel=3)
        return None
    return finished if finished.metadata.get("settings") == json.loads(json.dumps(settings)) \
        else None
