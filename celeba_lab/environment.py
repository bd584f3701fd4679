"""Notebook set-up: one call at the top of every chapter, locally, in CI and on Colab.

:func:`setup` finds out where it runs. On Colab it fetches real CelebA (through ``kagglehub``,
or a copy the reader put in Google Drive), switches to the ``colab`` profile (sized for one
free Colab GPU session) and says which GPU it got. Anywhere else it changes nothing: it reports the configured data (the synthetic
CelebA unless ``CELEBA_ROOT`` is set), the run profile and the Keras backend.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import config

#: Folders searched for a copy of CelebA the reader mounted from Google Drive on Colab.
DRIVE_CANDIDATES: tuple[str, ...] = (
    "/content/drive/MyDrive/celeba",
    "/content/drive/MyDrive/CelebA",
    "/content/drive/MyDrive/celeba-dataset",
)


@dataclass
class Environment:
    """What a chapter will run with; returned by :func:`setup`."""

    on_colab: bool
    backend: str
    accelerators: list[str] = field(default_factory=list)
    data_root: Path | None = None
    profile: config.Profile = field(default_factory=config.get_profile)
    cache: Path | None = None

    @property
    def synthetic(self) -> bool:
        """True when the chapters will run on the package's synthetic CelebA."""
        return self.data_root is None

    def describe(self) -> str:
        """A few human-readable lines: data, profile, backend, accelerators, cache."""
        data = ("synthetic CelebA written by the package "
                f"({self.profile.synthetic_images:,} images)" if self.synthetic
                else f"real CelebA at {self.data_root}")
        accel = ", ".join(self.accelerators) if self.accelerators else "none (CPU only)"
        return "\n".join([
            f"data:         {data}",
            f"profile:      {self.profile.name}",
            f"backend:      Keras on {self.backend}",
            f"accelerators: {accel}",
            f"cache:        {self.cache}",
        ])

    def __str__(self) -> str:
        return self.describe()


def on_colab() -> bool:
    """True inside a Google Colab runtime.

    Returns:
        Whether ``google.colab`` is loaded or ``COLAB_RELEASE_TAG`` is set.

    Example:
        >>> on_colab()
        False
    """
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def keras_backend() -> str:
    """The Keras backend that will be used (``KERAS_BACKEND``, default ``tensorflow``).

    Returns:
        ``"tensorflow"``, ``"jax"`` or ``"torch"``; asked of Keras when it is already imported.

    Example:
        >>> keras_backend() in ("tensorflow", "jax", "torch")
        True
    """
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def accelerators() -> list[str]:
    """Names of the GPUs (or TPUs) the active Keras backend can use; empty on a CPU machine.

    Returns:
        Device names, e.g. ``["/physical_device:GPU:0"]`` on TensorFlow.

    Example:
        >>> accelerators()  # on a laptop without a GPU
        []
    """
    backend = keras_backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return [d.name for d in tf.config.list_physical_devices() if d.device_type != "CPU"]
        if backend == "jax":
            import jax

            return [str(d) for d in jax.devices() if d.platform != "cpu"]
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []
    return []


def _colab_data_root() -> Path:
    for candidate in DRIVE_CANDIDATES:
        if Path(candidate).is_dir():
            return Path(candidate)
    from .download import download_celeba

    return download_celeba()


def setup(*, data_root: str | os.PathLike | None = None, profile: str | None = None,
          quiet: bool = False) -> Environment:
    """Prepare a chapter: pick the data, the run profile and report the machine.

    Args:
        data_root: A CelebA folder to use (any layout :func:`celeba_lab.load_celeba` reads).
            Default: ``$CELEBA_ROOT``; on Colab, a copy in Google Drive
            (:data:`DRIVE_CANDIDATES`) or a ``kagglehub`` download; elsewhere the synthetic set.
        profile: ``"quick"``, ``"colab"`` or ``"full"``. Default: ``$CELEBA_LAB_PROFILE``; on
            Colab ``"colab"`` (each chapter fits a free Colab GPU session), elsewhere
            :func:`celeba_lab.config.default_profile_name` (``"full"`` on real CelebA,
            ``"quick"`` on the synthetic set).
        quiet: Do not print the summary.

    Returns:
        The :class:`Environment` the chapter runs with.

    Example:
        >>> import celeba_lab as cl
        >>> env = cl.setup(quiet=True)
        >>> env.profile.name in ("quick", "colab", "full")
        True
    """
    # TensorFlow's C++ start-up lines are noise in a rendered page.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    colab = on_colab()
    if data_root is not None:
        config.set_data_root(data_root)
    elif colab and config.data_root() is None:
        config.set_data_root(_colab_data_root())
    if profile is not None:
        config.set_profile(profile)
    elif colab and not os.environ.get(config.PROFILE_ENV):
        config.set_profile("colab")
    env = Environment(
        on_colab=colab,
        backend=keras_backend(),
        accelerators=accelerators(),
        data_root=config.data_root(),
        profile=config.get_profile(),
        cache=config.cache_dir(),
    )
    if colab and not env.accelerators and not quiet:
        print("No GPU found: in Colab choose Runtime > Change runtime type > GPU, then rerun.")
    if not quiet:
        print(env.describe())
    return env


__all__ = [
    "Environment", "setup",
]
