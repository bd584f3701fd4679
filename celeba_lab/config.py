"""Where data and caches live, and which run profile the book uses.

Four settings, each an environment variable so that a notebook, a shell and CI agree:

``CELEBA_ROOT``
    A folder holding real CelebA in any layout :func:`celeba_lab.load_celeba` reads. When
    unset, the package uses its synthetic CelebA (written once into the cache).
``CELEBA_LAB_CACHE``
    Where decoded-image caches, the synthetic data set and trained models are kept
    (default ``~/.cache/celeba-lab``).
``CELEBA_LAB_IMAGE_CACHE``
    Where the decoded-image caches alone are kept (default ``$CELEBA_LAB_CACHE/images``).
``CELEBA_LAB_PROFILE``
    ``quick`` (small samples and few epochs: every chapter runs on a laptop CPU in minutes),
    ``colab`` (each chapter fits one free Colab T4 session) or ``full`` (the source report's
    recipe). Unset: ``quick`` on the synthetic CelebA, ``full`` on real CelebA (every training
    call names the profile in its first line). Changed fields may follow, e.g.
    ``full:classifier_epochs=1,gan_epochs=1,gan_steps_per_epoch=10`` (full data and sample
    sizes with short training: does the machine hold them?).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, replace
from pathlib import Path

ROOT_ENV = "CELEBA_ROOT"
CACHE_ENV = "CELEBA_LAB_CACHE"
IMAGES_ENV = "CELEBA_LAB_IMAGE_CACHE"
PROFILE_ENV = "CELEBA_LAB_PROFILE"

#: The public repository of the book and package; launch buttons and Colab setup cells use it.
REPOSITORY_URL = "https://github.com/celeba-lab/celeba-lab"


@dataclass(frozen=True)
class Profile:
    """How much work a chapter does: sample sizes, epochs and steps.

    Attributes:
        name: ``"quick"``, ``"colab"`` or ``"full"`` (with any changed fields).
        synthetic_images: Images in the synthetic CelebA used when no real data is configured.
        classifier_sizes: Balanced sample sizes (train, validation, test) per attribute.
        classifier_epochs: Epochs for each attribute classifier.
        classifier_batch: Batch size for the classifiers (the report: 50).
        improved_epochs: Epochs for the improved recipe's classifiers (it has no plateau to
            leave, so the quick profile gives it fewer than the report's network).
        gan_recipe: The GAN :func:`celeba_lab.train_gan` trains by default: ``"report"`` (the
            report's DCGAN) or ``"small"`` (32 x 32, learns faces in CPU minutes); see
            :data:`celeba_lab.gan.GAN_RECIPES`.
        gan_epochs: Epochs of GAN training.
        gan_batch: GAN batch size (the report: 32).
        gan_steps_per_epoch: Batches per GAN epoch; ``None`` means one pass over all images.
        gan_remedies: The remedies for mode collapse that chapter 5 trains, joined by ``+``
            among ``balanced`` (attribute-balanced sampling), ``conditional`` and
            ``stabilised``; each trains a GAN as long as chapter 4's.
        collapse_samples: Generated and real faces compared in the mode-collapse chapter.
        natural_test_images: Images of the natural (imbalanced) official test split used for
            evaluation; ``None`` means all of it.
    """

    name: str
    synthetic_images: int
    classifier_sizes: tuple[int, int, int]
    classifier_epochs: int
    classifier_batch: int
    improved_epochs: int
    gan_recipe: str
    gan_epochs: int
    gan_batch: int
    gan_steps_per_epoch: int | None
    gan_remedies: str
    collapse_samples: int
    natural_test_images: int | None


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        synthetic_images=10_000,
        # The report's network sits on a plateau before it learns, longest for the smallest
        # cue (measured on the synthetic faces, batches of 50: Male leaves it after ~100 steps,
        # Eyeglasses ~220-360, Smiling ~350, reaching 0.91 validation accuracy at 400; the exit
        # moves from run to run): 600 steps on a tenth of the report's sample.
        classifier_sizes=(1_000, 100, 100),
        classifier_epochs=30,
        classifier_batch=50,
        improved_epochs=5,
        # The report's GAN needs a GPU's hours (one step ~1 TFLOP, 4.7 s here): the quick
        # profile trains the "small" recipe. After 800 steps it drew blurry blobs (classifier
        # Fréchet distance to real faces 6-9x the real-versus-real distance); after 2,500
        # (about 7 min on a 2-core CPU) recognisable faces on varied backgrounds.
        gan_recipe="small",
        gan_epochs=10,
        gan_batch=32,
        gan_steps_per_epoch=250,
        # Each remedy costs as much as chapter 4's GAN: a CPU build trains one.
        gan_remedies="stabilised",
        # 300 faces per source: enough to tell a gross collapse from the data (chapter 5
        # computes the smallest shift it detects); each costs a pass of seven classifiers.
        collapse_samples=300,
        natural_test_images=None,
    ),
    # A middle way for one free Colab T4 session per chapter: the report's networks and batch
    # sizes on real CelebA, with fewer images and steps. Its costs are projected, not measured
    # (no T4 was at hand): a T4 at ~4 GAN steps/s and ~2.2 classifier steps/s in float32, the
    # H100 rates of bench/gpu_results (183 and ~100 steps/s) over 45; the book's reproduce
    # appendix gives the arithmetic and the per-chapter totals.
    "colab": Profile(
        name="colab",
        synthetic_images=50_000,
        # 640 steps per classifier (80 an epoch): about 5 min each, projected.
        classifier_sizes=(4_000, 1_000, 1_000),
        classifier_epochs=8,
        classifier_batch=50,
        improved_epochs=8,
        gan_recipe="report",
        # 5,000 GAN steps (160,000 faces, 0.8 of a pass over CelebA): about 21 min, projected;
        # the report's 30 epochs are 189,960 steps.
        gan_epochs=5,
        gan_batch=32,
        gan_steps_per_epoch=1_000,
        gan_remedies="balanced+conditional+stabilised",
        collapse_samples=2_000,
        natural_test_images=None,
    ),
    "full": Profile(
        name="full",
        synthetic_images=50_000,
        classifier_sizes=(10_000, 2_000, 1_000),
        classifier_epochs=15,
        classifier_batch=50,
        improved_epochs=15,
        gan_recipe="report",
        gan_epochs=30,
        gan_batch=32,
        gan_steps_per_epoch=None,
        gan_remedies="balanced+conditional+stabilised",
        collapse_samples=10_000,
        natural_test_images=None,
    ),
}

#: The remedies chapter 5 can train (``Profile.gan_remedies`` joins some with ``+``).
GAN_REMEDIES: tuple[str, ...] = ("balanced", "conditional", "stabilised")

_overrides: dict[str, str | None] = {}


def _setting(env: str) -> str | None:
    if env in _overrides:
        return _overrides[env]
    value = os.environ.get(env)
    return value if value else None


def default_profile_name() -> str:
    """The profile used when none is set: ``"full"`` on real CelebA, ``"quick"`` otherwise.

    Returns:
        ``"full"`` when :func:`data_root` names a folder (``CELEBA_ROOT``), else ``"quick"``.

    Example:
        >>> set_data_root(None); default_profile_name()
        'quick'
    """
    return "full" if data_root() is not None else "quick"


def get_profile(name: str | None = None, **changes) -> Profile:
    """Return the run profile ``name``.

    Args:
        name: ``"quick"``, ``"colab"`` or ``"full"``, optionally with changed fields after a colon
            (``"full:classifier_epochs=1"``). Default: ``$CELEBA_LAB_PROFILE``, else
            :func:`default_profile_name`.
        **changes: Fields to replace in the returned copy.

    Returns:
        The :class:`Profile`.

    Raises:
        ValueError: ``name`` is not a known profile, or names a field or value it cannot have.

    Example:
        >>> get_profile("quick", gan_epochs=5).gan_epochs
        5
    """
    spec = name or _setting(PROFILE_ENV) or default_profile_name()
    base, _, changed = spec.partition(":")
    if base not in PROFILES:
        raise ValueError(
            f"Unknown profile {base!r}; choose one of {sorted(PROFILES)} "
            f"(set {PROFILE_ENV} or call celeba_lab.set_profile)."
        )
    profile = PROFILES[base]
    if changed:
        # The name keeps the changes, so that nothing trained under it passes for the profile.
        profile = replace(profile, name=spec, **_parse_changes(changed, spec))
    profile = replace(profile, **changes) if changes else profile
    if changed or changes:
        _check_profile(profile, spec)
    return profile


# The smallest value of each field that can work (None allowed where the type says so).
_MINIMUM = {"synthetic_images": 3, "classifier_epochs": 1, "classifier_batch": 1,
            "improved_epochs": 1, "gan_epochs": 1, "gan_batch": 1, "gan_steps_per_epoch": 1,
            "collapse_samples": 1, "natural_test_images": 1}


def _check_profile(profile: Profile, spec: str) -> None:
    """Refuse values that would fail later or silently (a negative epoch count, odd sizes)."""
    from ._checks import whole_number

    where = f" in the profile {spec!r}"
    for name, minimum in _MINIMUM.items():
        value = getattr(profile, name)
        if value is not None or "None" not in Profile.__dataclass_fields__[name].type:
            whole_number(name, value, minimum=minimum, where=where)
    sizes = profile.classifier_sizes
    if len(sizes) != 3 or any(isinstance(s, bool) or int(s) != s or s < 2 or s % 2
                              for s in sizes):
        raise ValueError(
            f"classifier_sizes{where} must be three even numbers of at least 2 (train, "
            f"validation, test; each half positive), got {'/'.join(map(str, sizes))}.")
    unknown = set(profile.gan_remedies.split("+")) - set(GAN_REMEDIES)
    if unknown or not profile.gan_remedies:
        raise ValueError(f"gan_remedies{where} must join remedies among {list(GAN_REMEDIES)} "
                         f"with '+', got {profile.gan_remedies!r}.")
    if profile.gan_recipe not in ("report", "small"):
        raise ValueError(f"gan_recipe{where} must be 'report' or 'small', got "
                         f"{profile.gan_recipe!r}.")


def _parse_changes(text: str, spec: str) -> dict[str, object]:
    """``"gan_epochs=1,classifier_sizes=100/10/10"`` -> the changed :class:`Profile` fields."""
    fields = {f.name: f.type for f in dataclasses.fields(Profile) if f.name != "name"}
    changes: dict[str, object] = {}
    for item in text.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if key not in fields or not sep:
            raise ValueError(
                f"Cannot read {item!r} in the profile {spec!r}: write field=value pairs "
                f"separated by commas, with fields among {sorted(fields)}.")
        if key in changes:
            raise ValueError(f"{key} is given twice in the profile {spec!r}; give each field "
                             "once (which value was meant cannot be told).")
        try:
            if "tuple" in fields[key]:
                changes[key] = tuple(int(v) for v in value.split("/"))
                if len(changes[key]) != 3:
                    raise ValueError
            elif value.lower() == "none" and "None" in fields[key]:
                changes[key] = None
            elif fields[key] == "str":
                changes[key] = value
            else:
                changes[key] = int(value)
        except ValueError:
            raise ValueError(
                f"Cannot read {item!r} in the profile {spec!r}: {key} takes "
                + ("sizes such as 10000/2000/1000" if "tuple" in fields[key] else
                   "a whole number" + (" or none" if "None" in fields[key] else ""))
                + ".") from None
    return changes


def set_profile(name: str) -> Profile:
    """Select the run profile for this process (overrides ``$CELEBA_LAB_PROFILE``).

    Args:
        name: A profile, as :func:`get_profile` takes it.

    Returns:
        The selected :class:`Profile`.

    Example:
        >>> set_profile("quick").classifier_batch
        50
    """
    profile = get_profile(name)
    _overrides[PROFILE_ENV] = name
    return profile


#: What each profile means, said after the work of a training call.
_PROFILE_HINTS = {
    "quick": "sized for a CPU (a tenth of the report's sample, a small GAN); "
             "CELEBA_LAB_PROFILE=colab or full trains the report's recipe at scale",
    "colab": "shortened for one free Colab session; "
             "CELEBA_LAB_PROFILE=full is the report's recipe",
    "full": "the report's recipe",
}


def profile_is_set() -> bool:
    """Whether a profile was chosen (``$CELEBA_LAB_PROFILE`` or :func:`set_profile`).

    Returns:
        ``False`` when :func:`get_profile` falls back to :func:`default_profile_name`.

    Example:
        >>> isinstance(profile_is_set(), bool)
        True
    """
    return _setting(PROFILE_ENV) is not None


def training_announcement(work: str, *, data: str, real: bool) -> str:
    """The one line a training call prints first: the profile in force and what it means.

    Args:
        work: What this call trains, e.g. ``"Male, 5 epochs x 20 steps of 50 images"``.
        data: What it trains on, e.g. ``"synthetic CelebA"``.
        real: Whether that is real CelebA (the quick profile then warns).

    Returns:
        One line, starting with ``celeba-lab: profile``.

    Example:
        >>> set_data_root(None); set_profile("quick").name
        'quick'
        >>> training_announcement("Male, 1 epoch", data="synthetic CelebA", real=False)[:33]
        'celeba-lab: profile quick (synthe'
    """
    profile = get_profile()
    chosen = "" if profile_is_set() else ", the default for it"
    hint = _PROFILE_HINTS.get(profile.name.partition(":")[0], "changed fields")
    if profile.name.startswith("quick") and real:
        hint = "WARNING: real data on the quick profile only checks the machinery; " + hint
    return f"celeba-lab: profile {profile.name} ({data}{chosen}): {work}; {hint}"


def data_root() -> Path | None:
    """The configured real-CelebA folder, or ``None`` when the synthetic set is to be used.

    Returns:
        ``$CELEBA_ROOT`` (or the folder given to :func:`set_data_root`) as a path, or ``None``.

    Example:
        >>> set_data_root(None); data_root() is None
        True
    """
    value = _setting(ROOT_ENV)
    return Path(value).expanduser() if value else None


def set_data_root(path: str | os.PathLike | None) -> None:
    """Point the package at a CelebA folder for this process (``None``: back to synthetic).

    Args:
        path: A folder :func:`celeba_lab.load_celeba` reads, or ``None``.

    Example:
        >>> set_data_root("/data/celeba")
    """
    _overrides[ROOT_ENV] = None if path is None else str(Path(path).expanduser())


def cache_dir() -> Path:
    """The cache folder (created when missing): decoded images, synthetic data, trained models.

    Returns:
        ``$CELEBA_LAB_CACHE``, or ``~/.cache/celeba-lab`` when it is unset.

    Example:
        >>> cache_dir().is_dir()
        True
    """
    value = _setting(CACHE_ENV)
    path = Path(value).expanduser() if value else Path.home() / ".cache" / "celeba-lab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def set_cache_dir(path: str | os.PathLike | None) -> Path:
    """Use another cache folder for this process (``None``: back to the environment/default).

    Args:
        path: The folder to use (created when missing), or ``None``.

    Returns:
        The cache folder now in use.

    Example:
        >>> set_cache_dir("/tmp/celeba-lab-cache").name
        'celeba-lab-cache'
    """
    if path is None:
        _overrides.pop(CACHE_ENV, None)
    else:
        _overrides[CACHE_ENV] = str(Path(path).expanduser())
    return cache_dir()


def images_dir() -> Path:
    """Where decoded-image caches are kept (created when missing).

    Returns:
        ``$CELEBA_LAB_IMAGE_CACHE`` (or the folder given to :func:`set_images_dir`), else
        ``cache_dir() / "images"``.

    Example:
        >>> set_images_dir(None).name
        'images'
    """
    value = _setting(IMAGES_ENV)
    path = Path(value).expanduser() if value else cache_dir() / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


def set_images_dir(path: str | os.PathLike | None) -> Path:
    """Keep decoded-image caches in another folder for this process (``None``: as configured).

    Args:
        path: The folder to use (created when missing), or ``None``.

    Returns:
        The decoded-image folder now in use.

    Example:
        >>> set_images_dir("/tmp/celeba-lab-images").name
        'celeba-lab-images'
        >>> set_images_dir(None).name
        'images'
    """
    if path is None:
        _overrides.pop(IMAGES_ENV, None)
    else:
        _overrides[IMAGES_ENV] = str(Path(path).expanduser())
    return images_dir()


def runs_dir() -> Path:
    """Where trained models, checkpoints and their metadata are saved (inside the cache).

    Returns:
        ``cache_dir() / "runs"``, created when missing.

    Example:
        >>> runs_dir().name
        'runs'
    """
    path = cache_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


__all__ = [
    "Profile", "PROFILES", "REPOSITORY_URL", "get_profile", "set_profile", "data_root",
    "set_data_root", "cache_dir", "set_cache_dir", "runs_dir",
]
