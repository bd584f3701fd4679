"""A GAN's checkpoints: written whole after every epoch, verified and restored on resume.

A checkpoint is a folder ``checkpoints/epoch_NNN`` holding both networks' weights, both
optimizers' variables and the random state, and a manifest ``checkpoint.json`` naming it with the
SHA-256 of every file (:meth:`celeba_lab.runs.RunFolder.commit`). A run killed at any moment
leaves the previous checkpoint or the new one, both whole; a flipped byte is detected
(:meth:`~celeba_lab.runs.RunFolder.verify`) and the message says how to start over.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path
from typing import Any, Mapping

import keras
import numpy as np
from keras import ops

from ._io import atomic_path, file_digest, write_json_atomic
from .gan import DCGAN
from .runs import RunFolder, RunFolderError

_FORMAT_VERSION = 1
_CHECKPOINT_FILES = ("generator.weights.h5", "discriminator.weights.h5", "optimizers.npz",
                     "random_state.npz")
# The files and folders train_gan writes at the top of a run folder (what resume=False deletes).
_RUN_ENTRIES = ("settings.json", "checkpoint.json", "checkpoints", "grids", "metadata.json",
                "generator.keras", "fixed_noise.npy", "fixed_conditions.npy")


class CheckpointError(RunFolderError):
    """A run folder claims a checkpoint that is missing, corrupt, or from other settings."""


def _folder(run_dir: str | os.PathLike, *, adopt: bool = False) -> RunFolder:
    # adopt: a default run folder, where a run written before markers is recognised.
    return RunFolder(Path(run_dir), kind="GAN run", restart="train_gan(..., resume=False)",
                     entries=_RUN_ENTRIES, error=CheckpointError, adopt=adopt)


class _Checkpointer(keras.callbacks.Callback):
    """After every epoch, write a complete checkpoint folder, then point the manifest at it."""

    def __init__(self, run_dir: Path, history: keras.callbacks.Callback):
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
        >>> run = cl.train_gan(data, recipe="small", width=0.125, epochs=1, steps_per_epoch=1,
        ...                 verbose=0)
        >>> save_checkpoint(run.gan, run.run_dir, run.epochs_done, run.history).name
        'epoch_001'
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
    _folder(run_dir).commit(
        folder, _CHECKPOINT_FILES, format=_FORMAT_VERSION, epoch=int(epoch),
        optimizer_iterations={"d": int(ops.convert_to_numpy(gan.d_optimizer.iterations)),
                              "g": int(ops.convert_to_numpy(gan.g_optimizer.iterations))},
        history={k: list(map(float, v)) for k, v in history.items()})
    return folder


def _random_states(gan: DCGAN) -> list:
    # Every keras.random.SeedGenerator the GAN owns (its noise_seeds, then D's dropout's), in a
    # stable order. Their variables' paths say "seed_generator" (Keras' own name for the
    # class), whatever the attribute holding them is called; random_state.npz stores them as
    # s0000, s0001, ... by position, so checkpoints written when the attribute was called
    # `seed_generator` restore unchanged.
    return [v for v in gan.non_trainable_variables if "seed_generator" in v.path]


def _variables_dict(prefix: str, variables) -> dict[str, np.ndarray]:
    return {f"{prefix}{i:04d}": ops.convert_to_numpy(v) for i, v in enumerate(variables)}


def _read_manifest(run_dir: Path) -> dict | None:
    folder = _folder(run_dir)
    manifest = folder.read_manifest(required=("epoch", "folder", "files", "history"))
    if manifest is not None and not isinstance(manifest["epoch"], int):
        raise CheckpointError(folder.advice(f"{run_dir / 'checkpoint.json'} is corrupt (epoch "
                                            f"{manifest['epoch']!r} is not a whole number)"))
    return manifest


def _restore_checkpoint(gan: DCGAN, run_dir: Path, manifest: Mapping[str, Any]) -> None:
    folder = _folder(run_dir).verify(manifest)  # every file there, byte for byte
    try:
        gan.generator.load_weights(folder / "generator.weights.h5")
        gan.discriminator.load_weights(folder / "discriminator.weights.h5")
        with np.load(folder / "optimizers.npz") as saved:
            _assign(gan.d_optimizer.variables, saved, "d")
            _assign(gan.g_optimizer.variables, saved, "g")
        with np.load(folder / "random_state.npz") as saved:
            _assign(_random_states(gan), saved, "s")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise CheckpointError(_folder(run_dir).advice(
            f"the checkpoint in {folder} does not fit this model "
            f"({type(error).__name__}: {error})")) from None


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
        metadata["generator_sha256"] = file_digest(tmp, "sha256")
    write_json_atomic(run_dir / "metadata.json", metadata)


__all__ = [
    "CheckpointError", "save_checkpoint",
]
