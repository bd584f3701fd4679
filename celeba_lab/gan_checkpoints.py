"""A GAN's checkpoints: written whole after every epoch, verified and restored on resume.

A checkpoint ``checkpoints/epoch_NNN`` holds both networks' weights, both optimizers' variables
and the random state, with the format and damage policy of every run (:mod:`celeba_lab.runs`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from keras import ops

from ._io import atomic_path, file_digest, write_json_atomic
from .gan import DCGAN
from .runs import RunFolder, RunFolderError

_FORMAT_VERSION = 1
# The files and folders train_gan writes at the top of a run folder (what resume=False deletes).
_RUN_ENTRIES = ("settings.json", "checkpoint.json", "checkpoints", "grids", "metadata.json",
                "generator.keras", "fixed_noise.npy", "fixed_conditions.npy")


class CheckpointError(RunFolderError):
    """A GAN run folder cannot be used: another process trains it, it holds another run or no
    run, its checkpoint cannot be loaded, or the disk filled up while one was written."""


def _folder(run_dir: str | os.PathLike, *, adopt: bool = False) -> RunFolder:
    return RunFolder(Path(run_dir), kind="GAN run", restart="train_gan(..., resume=False)",
                     entries=_RUN_ENTRIES, error=CheckpointError, adopt=adopt)


def _write_checkpoint(gan: DCGAN, folder: Path) -> dict:
    """Write the GAN's state into ``folder``; return the manifest's GAN entries."""
    gan.generator.save_weights(folder / "generator.weights.h5")
    gan.discriminator.save_weights(folder / "discriminator.weights.h5")
    np.savez(folder / "optimizers.npz", **_variables_dict("d", gan.d_optimizer.variables),
             **_variables_dict("g", gan.g_optimizer.variables))
    np.savez(folder / "random_state.npz", **_variables_dict("s", _random_states(gan)))
    return {"format": _FORMAT_VERSION,
            "optimizer_iterations": {"d": int(ops.convert_to_numpy(gan.d_optimizer.iterations)),
                                     "g": int(ops.convert_to_numpy(gan.g_optimizer.iterations))}}


def _random_states(gan: DCGAN) -> list:
    # Every keras.random.SeedGenerator the GAN owns (its noise_seeds, then D's dropout's), in a
    # stable order: their paths say "seed_generator" (Keras' name for the class), whatever the
    # attribute is called, and are stored by position, so older checkpoints restore unchanged.
    return [v for v in gan.non_trainable_variables if "seed_generator" in v.path]


def _variables_dict(prefix: str, variables) -> dict[str, np.ndarray]:
    return {f"{prefix}{i:04d}": ops.convert_to_numpy(v) for i, v in enumerate(variables)}


def _restore_checkpoint(gan: DCGAN, folder: Path) -> DCGAN:
    """``gan`` with the state in ``folder`` (any error raised here counts as damage)."""
    gan.generator.load_weights(folder / "generator.weights.h5")
    gan.discriminator.load_weights(folder / "discriminator.weights.h5")
    with np.load(folder / "optimizers.npz") as saved:
        _assign(gan.d_optimizer.variables, saved, "d")
        _assign(gan.g_optimizer.variables, saved, "g")
    with np.load(folder / "random_state.npz") as saved:
        _assign(_random_states(gan), saved, "s")
    return gan


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


__all__ = ["CheckpointError"]
