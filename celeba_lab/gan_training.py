"""Training the DCGAN: resumable runs with a monitor and checkpoints, loading and recording them.

The run folder's promises are :class:`celeba_lab.runs.RunFolder`'s; this module adds what a GAN
run holds (fixed-noise grids per epoch, the history, both networks and optimizers).

Example:
    >>> run = train_gan(data, recipe="small", epochs=1, steps_per_epoch=2, verbose=0)
    >>> run.epochs_done, run.generate(2).shape
    (1, (2, 32, 32, 3))
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import keras
import numpy as np

from . import config
from .batches import ImageBatches, gan_batches
from .data import check_attribute, load_celeba
from ._checks import positive_number, whole_number
from ._io import (atomic_path, file_digest, fit_verbosity, format_run_line, one_line_per_run,
                  write_json_atomic)
from .gan import (DEFAULT_STABILISERS, GAN_RECIPES, IMAGE_SIZE, LABEL_SMOOTHING, LATENT_DIM,
                  LEARNING_RATE, STABILISERS, TTUR_D_LEARNING_RATE, ConditionalDCGAN, DCGAN,
                  GANRecipe, conditional_discriminator, conditional_generator, gan_recipe,
                  generate_images, latent_noise, report_discriminator, report_generator,
                  stabilised_discriminator)
from .gan_checkpoints import (_FORMAT_VERSION, CheckpointError, _folder, _restore_checkpoint,
                              _save_generator, _write_checkpoint)
from .gan_images import to_uint8, image_grid
from .runs import Checkpoint, RunFolder, RunFolderError, differing_keys, fingerprint, read_json

# Building and training ---------------------------------------------------------------------

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
    latent_dim = whole_number("latent_dim", latent_dim)
    seed = whole_number("seed", seed, minimum=0)
    chosen = stabilisers(stabilise)
    spec = gan_recipe(recipe)
    width = spec.width if width is None else positive_number("width", width)
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
        generator = report_generator(latent_dim, batch_norm=spec.batch_norm, **shape)
        discriminator = (stabilised_discriminator(**shape) if minibatch_std
                         else report_discriminator(**shape))
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


def _source(data, ids, conditions, image_size: int = IMAGE_SIZE) -> _Source:
    if data is None:
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
    digest = fingerprint(images.shape, str(images.dtype), images[:: max(1, len(images) // 64)]
                          .tobytes())

    def make_batches(batch_size, steps_per_epoch, seed):
        # An epoch is full batches only: steps_per_epoch of them, or as many as the images fill.
        if len(rows) < batch_size:
            raise ValueError(f"{len(rows)} images cannot fill one batch of {batch_size}.")
        return ImageBatches(images, matrix, rows=rows, batch_size=batch_size, shuffle=True,
                            seed=seed, steps_per_epoch=steps_per_epoch or len(rows) // batch_size)

    def fixed_conditions(n, seed):
        return matrix[np.random.default_rng(seed).integers(0, len(matrix), n)]

    return _Source(fingerprint=digest, ids_digest=fingerprint(rows.tobytes()),
                   n_images=len(rows), condition_names=names, make_batches=make_batches,
                   fixed_conditions=fixed_conditions if matrix is not None else None,
                   description=f"an array of {len(images):,} images")


def _celeba_source(data, ids, conditions, image_size: int = IMAGE_SIZE) -> _Source:
    ids = data.attributes.index if ids is None else ids
    ids = list(ids)
    table = None
    names: list[str] = []
    if conditions is not None:
        if hasattr(conditions, "columns"):
            table = conditions
        else:
            names = [check_attribute(name) for name in conditions]
            table = data.attributes[names]
        names = [str(c) for c in table.columns]
        table = table.astype("float32")

    def make_batches(batch_size, steps_per_epoch, seed):
        return gan_batches(data, ids, batch_size=batch_size, size=image_size,
                                       shuffle=True, seed=seed, conditions=table,
                                       steps_per_epoch=steps_per_epoch)

    def fixed_conditions(n, seed):
        picked = np.random.default_rng(seed).choice(ids, n)
        unique = table.loc[~table.index.duplicated()]
        return unique.loc[picked].to_numpy("float32")

    kind = "synthetic" if getattr(data, "synthetic", False) else "real"
    return _Source(fingerprint=str(data.fingerprint), ids_digest=fingerprint("\n".join(ids)),
                   n_images=len(ids), condition_names=names, make_batches=make_batches,
                   fixed_conditions=fixed_conditions if table is not None else None,
                   description=f"{len(ids):,} images of {kind} CelebA")


def default_run_dir(name: str, settings: Mapping[str, Any]) -> Path:
    """The folder (not created) ``runs_dir()/"gans"/f"{name}-{key}"``; ``key`` hashes
    ``settings``, everything that makes a run different (data, ids, sizes, seed, ...).

    Example:
        >>> default_run_dir("dcgan", {"seed": 0}).name
        'dcgan-de7d7744ccd7'
    """
    return config.runs_dir() / "gans" / f"{name}-{fingerprint(dict(settings))}"


def train_gan(data=None, *, ids=None, conditions=None, epochs: int | None = None,
              batch_size: int | None = None, steps_per_epoch: int | None = None,
              latent_dim: int = LATENT_DIM, stabilise: bool | str | Iterable[str] = False,
              recipe: str | None = None, width: float | None = None, seed: int = 0,
              name: str | None = None,
              run_dir: str | os.PathLike | None = None, resume: bool = True,
              monitor: bool = True, grid_size: int = 36, verbose: str | int = "auto",
              callbacks: Sequence[keras.callbacks.Callback] = (),
              recorded: str | os.PathLike | None = None) -> GANRun:
    """Train a DCGAN (the report's by default) with a monitor and per-epoch checkpoints.

    The run folder keeps the monitor's fixed noise and its grid of faces after every epoch
    (``grids/epoch_001.png``, ``.npy``), an atomic checkpoint after every epoch, and at the end
    ``generator.keras`` with ``metadata.json``. The same call again resumes an interrupted run
    from its last finished epoch, or loads a finished one.

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
        run_dir: Use this folder instead of :func:`default_run_dir`: a new or empty folder,
            or one a GAN run of this package wrote (its marker ``celeba-lab-run.json``); any
            other is refused, whatever ``resume`` says.
        resume: Continue (or load) what ``run_dir`` holds (a damaged checkpoint is named in a
            warning and the run trained again). ``False`` deletes the run's files (never files
            it did not write) and starts over.
        monitor: Save the per-epoch grids of faces from fixed noise.
        grid_size: Faces in each monitor grid.
        verbose: ``"auto"``: a progress bar on a terminal, one line per run in a notebook or
            a log (what trains, its time and last losses; the first names the profile in
            force); 2: one line per epoch; 0: silent.
        callbacks: Extra Keras callbacks.
        recorded: A folder written by :func:`record_gan_run`: loaded instead of training when
            it was trained with exactly this call's data, settings and epochs (its label is in
            ``metadata["recorded"]``); otherwise a line says why and the GAN trains.

    Returns:
        The :class:`GANRun`.

    Raises:
        CheckpointError: The run folder holds a run of other settings, another process trains
            it, ``run_dir`` is no GAN run folder (no marker), or the disk filled up while
            checkpointing (the last complete checkpoint is kept). A damaged checkpoint is no
            error: a ``RuntimeWarning`` names it and the run trains again from epoch 1.
        ValueError: ``epochs``, ``batch_size``, ``steps_per_epoch``, ``latent_dim`` or
            ``grid_size`` is not a whole number of at least 1, ``seed`` one of at least 0;
            ``width`` is not a finite number above 0; ``ids`` is empty.
        FileNotFoundError: ``recorded`` holds no ``recording.json``.

    Example:
        >>> run = train_gan(data, recipe="small", width=0.25, epochs=1, steps_per_epoch=2,
        ...                 verbose=0)
        >>> len(run.history["g_loss"]), len(run.history["step_g_loss"])
        (1, 2)
        >>> run = train_gan(epochs=30)  # the report: hours on real CelebA  # doctest: +SKIP
    """
    profile = config.get_profile()
    epochs = whole_number("epochs", profile.gan_epochs if epochs is None else epochs)
    batch_size = whole_number("batch_size", profile.gan_batch if batch_size is None
                              else batch_size)
    if steps_per_epoch is None:
        steps_per_epoch = profile.gan_steps_per_epoch
    if steps_per_epoch is not None:
        steps_per_epoch = whole_number("steps_per_epoch", steps_per_epoch)
    # Checked before anything is written: a bad value never leaves a folder behind.
    latent_dim = whole_number("latent_dim", latent_dim)
    width = None if width is None else positive_number("width", width)
    seed = whole_number("seed", seed, minimum=0)
    grid_size = whole_number("grid_size", grid_size) if monitor else grid_size
    if ids is not None:
        ids = ids if isinstance(ids, np.ndarray) else list(ids)
        if len(ids) == 0:
            raise ValueError("ids is empty: pass the image ids to train on (for an array, "
                             "row numbers), or None for all images.")
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
    if recorded is not None:
        run = _load_recording(Path(recorded), settings, epochs, verbose)
        if run is not None:
            return run
    name = name or ("conditional-dcgan" if source.condition_names else "dcgan")
    default_dir = run_dir is None
    run_dir = default_run_dir(name, settings) if default_dir else Path(run_dir)
    # Refused if it is not a GAN run (no marker); locked, checked against the settings,
    # cleaned of a killed session's temporaries; with resume=False emptied of this run's files.
    with _folder(run_dir, adopt=default_dir).claim(settings, resume=resume):
        return _run(run_dir, name, settings, source, epochs=epochs, batch_size=batch_size,
                    steps_per_epoch=steps_per_epoch, seed=seed, monitor=monitor,
                    verbose=verbose, callbacks=callbacks)


def _run(run_dir, name, settings, source, *, epochs, **training) -> GANRun:
    # A damaged checkpoint is warned about; the run trains again from a freshly built GAN.
    resumed = _folder(run_dir).resume(
        lambda folder: _restore_checkpoint(_gan_from_settings(settings), folder))
    manifest, gan = resumed or ({"history": {}, "epoch": 0}, _gan_from_settings(settings))
    history, start = manifest["history"], manifest["epoch"]
    fixed = _fixed_inputs(run_dir, settings, source) if training["monitor"] else None

    metadata = read_json(run_dir / "metadata.json") or {
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


def _generator_problem(path: Path, metadata: Mapping[str, Any]) -> str | None:
    """Why the saved generator cannot be used (checksum or loading), or None."""
    expected = metadata.get("generator_sha256")
    if expected is not None:
        return None if file_digest(path, "sha256") == expected else (
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
    one_line = one_line_per_run(verbose)
    if verbose != 0:  # in a notebook, completed by format_run_line: one line per run
        recipe = metadata["settings"].get("recipe", "report")
        print(config.training_announcement(
            f"{run_dir.name.rsplit('-', 1)[0]} ({recipe} recipe), {epochs} epochs x "
            f"{len(batches):,} steps of {batch_size} images", data=source.description,
            real=source.description.endswith(" real CelebA")),
            end="" if one_line else "\n", flush=True)
        if start and not one_line:
            print(f"{run_dir.name}: resuming after epoch {start} of {epochs}.")
    # Batches are drawn from (seed, epoch): a resumed run continues with the same ones.
    batches.epoch = start
    history_cb = _History(history)
    own = [history_cb]
    if monitor:
        own.append(_Monitor(run_dir, *fixed))
    own.append(Checkpoint(_folder(run_dir), _write_checkpoint, history))
    level, printers = fit_verbosity(verbose)
    began = time.perf_counter()
    gan.fit(batches, epochs=epochs, initial_epoch=start, verbose=level,
            callbacks=[*own, *printers, *callbacks])
    seconds = time.perf_counter() - began
    if one_line:
        print(format_run_line(seconds, history, start=start), flush=True)
    metadata["sessions"][-1]["seconds"] = round(seconds, 2)
    metadata["sessions"][-1]["steps_per_epoch"] = len(batches)


def _gan_from_settings(settings: Mapping[str, Any]) -> DCGAN:
    return build_gan(conditions=settings["conditions"], latent_dim=settings["latent_dim"],
                     stabilise=settings["stabilise"], width=settings["width"],
                     seed=settings["seed"], recipe=settings.get("recipe", "report"))


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
        images = to_uint8(generate_images(self.model.generator, len(self.noise),
                                           noise=self.noise, conditions=self.conditions))
        stem = self.dir / f"epoch_{epoch + 1:03d}"
        with atomic_path(stem.with_suffix(".npy")) as tmp:
            np.save(tmp, images, allow_pickle=False)
        from PIL import Image

        with atomic_path(stem.with_suffix(".png")) as tmp:
            Image.fromarray(image_grid(images)).save(tmp, format="PNG")


# Recorded runs: a long run trained once, committed, and loaded by the chapters --------------

_RECORDING = "recording.json"
_NETWORKS = ("generator", "discriminator")


def record_gan_run(run: GANRun, folder: str | os.PathLike, **label: Any) -> Path:
    """Write a finished run's two networks and history to ``folder``, small enough to commit.

    ``train_gan(..., recorded=folder)`` then loads it instead of training, when its call has
    the same data, settings and epochs. The optimizers' states and the grids are left out.

    Args:
        run: The finished :class:`GANRun`.
        folder: A new or empty folder, or one this function wrote (replaced).
        **label: What a reader needs to weigh the result, e.g. ``machine``, ``code_version``
            and ``profile``; the date, the data and the training time are added.

    Returns:
        The path of ``recording.json``.

    Raises:
        FileExistsError: ``folder`` holds files but no ``recording.json``.

    Example:
        >>> run = train_gan(data, recipe="small", width=0.125, epochs=1, steps_per_epoch=1,
        ...                 verbose=0)
        >>> path = record_gan_run(run, run.run_dir / "recorded", machine="doctest")
        >>> again = train_gan(data, recipe="small", width=0.125, epochs=1, steps_per_epoch=1,
        ...                   recorded=path.parent, verbose=0)
        >>> again.metadata["recorded"]["machine"]
        'doctest'
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()) and not (folder / _RECORDING).exists():
        raise FileExistsError(f"{folder} holds files that record_gan_run did not write; "
                              "pass a new or empty folder.")
    seconds = sum(s.get("seconds", 0.0) for s in run.metadata.get("sessions", []))
    recorded = {"date": time.strftime("%Y-%m-%d"), "data": run.metadata.get("data"),
                "seconds": round(seconds, 1), "backend": keras.backend.backend(),
                "keras_version": keras.__version__, **label}
    with atomic_path(folder, directory=True) as tmp:  # all files or none
        for network in _NETWORKS:
            getattr(run, network).save_weights(tmp / f"{network}.weights.h5")
        # The checkpoints' manifest: each file's SHA-256, then the recording's entries.
        RunFolder(tmp, manifest=_RECORDING).commit(
            tmp, [f"{network}.weights.h5" for network in _NETWORKS],
            settings=run.metadata["settings"], epochs=run.epochs_done, history=run.history,
            recorded=recorded)
    return folder / _RECORDING


def _load_recording(folder: Path, settings: Mapping[str, Any], epochs: int,
                    verbose: str | int) -> GANRun | None:
    """The recorded run in ``folder`` if it is this call's, else None (and a line says why)."""
    recorded = RunFolder(folder, kind="recorded run", manifest=_RECORDING)
    recording = read_json(folder / _RECORDING)
    if recording is None:
        raise FileNotFoundError(f"No readable {_RECORDING} in {folder}: pass a folder written "
                                "by record_gan_run (make record-gans), or recorded=None.")
    differ = differing_keys(recording["settings"], settings)
    if recording["epochs"] != epochs:
        differ.append("epochs")
    why = f"its {', '.join(differ)} differ from this call's" if differ else None
    if why is None:
        try:
            recorded.verify(recording)
        except RunFolderError as damage:
            why = str(damage)
    if why:
        print(f"The run recorded in {folder} does not apply ({why}); training instead.")
        return None
    gan = _gan_from_settings(recording["settings"])
    for network in _NETWORKS:
        getattr(gan, network).load_weights(folder / f"{network}.weights.h5")
    label = recording["recorded"]
    if verbose != 0:
        print(f"{folder.name}: loaded as recorded on {label['date']} ({epochs} epochs, "
              f"{label['seconds'] / 60:.1f} min of training there); nothing trains now.")
    metadata = {"settings": recording["settings"], "data": label["data"], "recorded": label}
    return GANRun(gan, folder, recording["history"], metadata)


def load_gan_run(path: str | os.PathLike) -> GANRun:
    """Load a run folder written by :func:`train_gan`: the GAN at its last checkpoint.

    Args:
        path: The run folder.

    Returns:
        The :class:`GANRun` (both networks and optimizers restored).

    Raises:
        CheckpointError: No usable settings or checkpoint in ``path`` (a damaged checkpoint is
            named; the ``train_gan`` call of the run trains it again).

    Example:
        >>> run = train_gan(data, recipe="small", width=0.125, epochs=1, steps_per_epoch=1,
        ...                 verbose=0)
        >>> load_gan_run(run.run_dir).history == run.history
        True
    """
    run_dir = Path(path)
    settings = read_json(run_dir / "settings.json")
    if settings is None:
        raise CheckpointError(f"{run_dir} is not a GAN run folder: {run_dir / 'settings.json'} "
                              "is missing or unreadable. Pass the folder train_gan returned "
                              "(run.run_dir).")
    resumed = _folder(run_dir).resume(
        lambda folder: _restore_checkpoint(_gan_from_settings(settings), folder), strict=True)
    if resumed is None:
        raise CheckpointError(f"{run_dir} holds no finished epoch yet (no checkpoint.json); "
                              "train it with train_gan(..., run_dir=...).")
    manifest, gan = resumed
    metadata = read_json(run_dir / "metadata.json") or {"settings": settings}
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
        ValueError: The file holds another model (a classifier's ``model.keras``, say).

    Example:
        >>> run = train_gan(data, recipe="small", width=0.125, epochs=1, steps_per_epoch=1,
        ...                 verbose=0)
        >>> load_generator(run.run_dir).output_shape
        (None, 32, 32, 3)
    """
    path = Path(path)
    file = path / "generator.keras" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"No saved generator at {file}. Finish the run with "
                                "train_gan(...) first (it writes generator.keras at the end).")
    metadata = read_json(file.parent / "metadata.json") or {}
    problem = _generator_problem(file, metadata)
    if problem is None:
        try:
            model = keras.saving.load_model(file, compile=False)
        except Exception as error:  # checksum right but unreadable: another Keras, say
            problem = f"{file} cannot be read ({type(error).__name__}: {error})"
        else:
            shape = tuple(getattr(model, "output_shape", ()) or ())
            if len(shape) != 4 or shape[-1] != 3:
                raise ValueError(
                    f"{file} holds the model {model.name!r} with output shape {shape}, not a "
                    "generator (images: (None, height, width, 3)). An attribute classifier "
                    "loads with celeba_lab.load_classifier; a GAN's run folder comes from "
                    "train_gan(...).run_dir.")
            return model
    raise CheckpointError(f"{problem}. Call train_gan(...) again with the run's arguments "
                          f"(run_dir='{file.parent}'): it writes generator.keras again from "
                          "the last checkpoint.")


__all__ = [
    "GANRun", "build_gan", "record_gan_run", "stabilisers", "train_gan",
]
