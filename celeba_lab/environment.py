"""Notebook set-up: :func:`setup`, one call atop every chapter, locally, in CI and on Colab.

On Colab it mounts Google Drive and keeps the package's cache there (trained models outlive
the session; the decoded images stay on the machine's disk), fetches real CelebA, switches to
the ``colab`` profile and says which GPU it got and what it keeps where. Anywhere else it
changes nothing and reports the configured data, run profile and Keras backend.
"""

from __future__ import annotations

import os
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from . import config
from .attributes import IMAGE_SHAPE, N_IMAGES, PARTITION_SIZES

#: Folders searched for a copy of CelebA the reader mounted from Google Drive on Colab.
DRIVE_CANDIDATES: tuple[str, ...] = (
    "/content/drive/MyDrive/celeba",
    "/content/drive/MyDrive/CelebA",
    "/content/drive/MyDrive/celeba-dataset",
)

#: Where Colab mounts Google Drive; :func:`setup` keeps the cache in ``MyDrive/celeba-lab``.
DRIVE_MOUNT = "/content/drive"
DRIVE_CACHE = "MyDrive/celeba-lab"
#: The decoded images' folder on Colab: the machine's own disk, not Drive (they take several GB
#: of Drive's free 15 GB, and a memory-mapped file read through Drive is slow); a new session
#: decodes them again in minutes.
LOCAL_IMAGE_CACHE = "/content/celeba-lab-images"

# Bytes on disk of each finished run, measured on 2026-12-05 (Keras 3 on TensorFlow): a report
# classifier's model.keras 5.05 MB, an improved one's 2.99 MB; a run of the report's GAN 25.8 MB
# (generator.keras, one checkpoint with both optimizers) plus 0.56 MB of grids per epoch.
_RUN_BYTES = {"report classifier": 5.05e6, "improved classifier": 2.99e6, "gan": 25.8e6,
              "gan epoch": 0.56e6}
# The runs of the six chapters: 4 report classifiers (chapters 2, 3), 7 improved ones (3
# attributes, chapter 3; 4 hair colours, chapter 5) and 4 GANs (chapter 4; three remedies in 5).
_RUNS = {"report classifier": 4, "improved classifier": 7, "gan": 4}
_GAN_IMAGE_BYTES = 64 * 64 * 3     # one face of the report GAN's input, uint8


def storage_needed(profile: config.Profile) -> tuple[int, int]:
    """Disk space the six chapters need under ``profile``: run folders, decoded images.

    Upper bounds for real CelebA: the finished runs' measured sizes (plus one classifier
    checkpoint); 218 x 178 images for seven attributes' samples and the natural test split,
    and all of CelebA at 64 x 64 twice (the GAN's input and chapter 5's balanced set).

    Args:
        profile: The run profile (its sample sizes and GAN epochs).

    Returns:
        ``(run_bytes, image_bytes)``.

    Example:
        >>> runs, images = storage_needed(config.get_profile("colab"))
        >>> round(runs / 1e9, 2), round(images / 1e9, 1)
        (0.16, 12.2)
    """
    runs = (sum(_RUN_BYTES[kind] * n for kind, n in _RUNS.items())
            + _RUNS["gan"] * _RUN_BYTES["gan epoch"] * profile.gan_epochs
            + _RUN_BYTES["report classifier"])
    full_size = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
    classifier_images = 7 * sum(profile.classifier_sizes) + PARTITION_SIZES["test"]
    images = classifier_images * full_size + 2 * N_IMAGES * _GAN_IMAGE_BYTES
    return int(runs), int(images)


@dataclass
class Environment:
    """What a chapter will run with; returned by :func:`setup`.

    ``cache`` holds trained models and run folders, ``images`` the decoded-image caches;
    ``kept`` says, on Colab, what is kept where and how much space it needs.
    """

    on_colab: bool
    backend: str
    accelerators: list[str] = field(default_factory=list)
    data_root: Path | None = None
    profile: config.Profile = field(default_factory=config.get_profile)
    cache: Path | None = None
    images: Path | None = None
    kept: str = ""

    @property
    def synthetic(self) -> bool:
        """True when the chapters will run on the package's synthetic CelebA."""
        return self.data_root is None

    def describe(self) -> str:
        """A few human-readable lines: data, profile, backend, accelerators, cache (and, on
        Colab, what is kept where)."""
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
            *([f"images:       {self.images}"] if self.images not in (None, self.cache / "images")
              else []),
            *([textwrap.fill(self.kept, 92, initial_indent="kept:         ",
                             subsequent_indent=" " * 14)] if self.kept else []),
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


def _mount_drive() -> str | None:
    """Mount Google Drive at :data:`DRIVE_MOUNT` (Colab asks the reader); ``None`` when it is
    mounted, else why not."""
    if (Path(DRIVE_MOUNT) / "MyDrive").is_dir():
        return None
    try:
        from google.colab import drive

        drive.mount(DRIVE_MOUNT)
    except Exception as error:   # declined, timed out, or not Colab's own module
        return f"{type(error).__name__}: {error}".rstrip(": ")
    if not (Path(DRIVE_MOUNT) / "MyDrive").is_dir():
        return f"no MyDrive folder appeared under {DRIVE_MOUNT}"
    return None


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e9:.2f} GB"


def _keep_in_drive(drive: bool | None) -> str | None:
    """Point the cache into Google Drive, the decoded images onto the local disk; return
    why not (a sentence), or ``None`` when the cache is in Drive now."""
    if drive is False:
        return "setup(drive=False)"
    explicit = config._setting(config.CACHE_ENV)
    drive_cache = Path(DRIVE_MOUNT) / DRIVE_CACHE
    if explicit is not None and Path(explicit).expanduser() != drive_cache:
        # The reader's own choice wins; mount only what it needs (or what was asked for).
        if drive or Path(explicit).expanduser().is_relative_to(DRIVE_MOUNT):
            problem = _mount_drive()
            if problem:
                return f"Google Drive could not be mounted ({problem})"
        return f"{config.CACHE_ENV} is set to {explicit}"
    problem = _mount_drive()
    if problem:
        return f"Google Drive is not mounted ({problem})"
    config.set_cache_dir(drive_cache)
    if config._setting(config.IMAGES_ENV) is None:
        config.set_images_dir(LOCAL_IMAGE_CACHE)
    return None


def _kept_sentence(cache: Path, images: Path, profile: config.Profile) -> str:
    runs, pixels = storage_needed(profile)
    in_drive = cache.is_relative_to(DRIVE_MOUNT)
    where = (f"trained models and run folders in Google Drive (cache, about {_gb(runs)} for all "
             f"six chapters): a later chapter, or a rerun after a disconnect, loads or resumes "
             f"them" if in_drive else
             f"trained models and run folders in the cache (about {_gb(runs)} for all six "
             f"chapters), lost when this Colab session ends")
    local = (f"decoded images on this machine (images, up to {_gb(pixels)}), decoded again in a "
             f"new session" if not images.is_relative_to(DRIVE_MOUNT) else
             f"decoded images in Google Drive too (up to {_gb(pixels)})")
    return f"{where}; {local}."


def setup(*, data_root: str | os.PathLike | None = None, profile: str | None = None,
          drive: bool | None = None, quiet: bool = False) -> Environment:
    """Prepare a chapter: pick the data, the run profile, where results are kept, and report
    the machine.

    Args:
        data_root: A CelebA folder to use. Default: ``$CELEBA_ROOT``; on Colab, a copy in
            Google Drive (:data:`DRIVE_CANDIDATES`) or a ``kagglehub`` download; elsewhere the
            synthetic set.
        profile: ``"quick"``, ``"colab"`` or ``"full"``. Default: ``$CELEBA_LAB_PROFILE``; on
            Colab ``"colab"``, elsewhere :func:`celeba_lab.config.default_profile_name`.
        drive: On Colab, whether to keep the cache (trained models, run folders) in Google
            Drive, ``MyDrive/celeba-lab``, with the decoded images on the machine's own disk
            (:data:`LOCAL_IMAGE_CACHE`). Default ``None``: yes, unless ``CELEBA_LAB_CACHE`` is
            set (Drive is then mounted only if that folder is in it); if the reader declines
            the mount, everything stays on the machine. ``False``: do not mount.
        quiet: Do not print the summary.

    Returns:
        The :class:`Environment` the chapter runs with.

    Raises:
        ValueError: ``drive`` is not ``None``, ``True`` or ``False``, or is ``True`` outside
            Colab (only Colab has the Drive mount).

    Example:
        >>> import celeba_lab as cl
        >>> env = cl.setup(quiet=True)
        >>> env.profile.name in ("quick", "colab", "full")
        True
    """
    # TensorFlow's C++ start-up lines are noise in a rendered page.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    colab = on_colab()
    if drive is not None and not isinstance(drive, bool):
        raise ValueError(f"drive must be True, False or None (the default), got {drive!r}.")
    if drive and not colab:
        raise ValueError("drive=True keeps the cache in Google Drive, which only Colab mounts; "
                         "elsewhere set CELEBA_LAB_CACHE (or cl.set_cache_dir) to the folder "
                         "to keep it in, and leave drive unset.")
    not_in_drive = _keep_in_drive(drive) if colab else None
    if data_root is not None:
        config.set_data_root(data_root)
    elif colab and config.data_root() is None:
        config.set_data_root(_colab_data_root())
    if profile is not None:
        config.set_profile(profile)
    elif colab and not os.environ.get(config.PROFILE_ENV):
        config.set_profile("colab")
    cache, images = config.cache_dir(), config.images_dir()
    env = Environment(
        on_colab=colab,
        backend=keras_backend(),
        accelerators=accelerators(),
        data_root=config.data_root(),
        profile=config.get_profile(),
        cache=cache,
        images=images,
        kept=_kept_sentence(cache, images, config.get_profile()) if colab else "",
    )
    if colab and not env.accelerators and not quiet:
        print("No GPU found: in Colab choose Runtime > Change runtime type > GPU, then rerun.")
    if not_in_drive and not quiet:
        print(f"The cache is not in Google Drive: {not_in_drive}.")
    if not quiet:
        print(env.describe())
    return env


__all__ = [
    "Environment", "setup",
]
