"""A synthetic CelebA: drawn cartoon faces in CelebA's exact on-disk format.

Every chapter runs by default on a copy written by :func:`write_synthetic_celeba` (real CelebA
cannot be downloaded everywhere, and the book's build machines have no network). Its files are
byte-for-byte in CelebA's formats and layouts; its 40 attributes follow CelebA's prevalences and
strongest correlations with ``Male`` (:data:`PREVALENCE`, :data:`CONDITIONAL`); the faces are
drawn by :mod:`celeba_lab.faces`. Each image has its own random stream, seeded by ``(seed,
index)``, so a set is byte-identical for a seed whatever the number of worker processes.
"""

from __future__ import annotations

import errno
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from celeba_lab.config import CACHE_ENV, cache_dir
from celeba_lab._checks import whole_number
from celeba_lab._io import (DISK_FULL, atomic_path, disk_full_error, remove_path,
                            remove_temporaries, write_bytes_atomic)
from celeba_lab.attributes import ATTRIBUTES, N_IMAGES, PARTITION_SIZES
from celeba_lab.faces import HAIR_CHOICES, render_chunk, draw_face

if TYPE_CHECKING:  # pandas is imported only by the functions that return tables
    import pandas as pd

#: Bump when the drawing or the sampling changes: cached synthetic sets of another version are
#: rewritten by :func:`ensure_synthetic_celeba`.
GENERATOR_VERSION = 1

#: The layouts :func:`write_synthetic_celeba` writes (the ones real copies come in).
LAYOUTS: tuple[str, ...] = ("original", "kaggle", "torchvision")

#: Written beside the annotation files: says the set is synthetic and how it was made. It is
#: written first with ``"state": "writing"`` and rewritten without it once the set is complete,
#: so a set whose writer was killed half-way is known as such.
MARKER_FILE = "celeba_lab_synthetic.json"

#: Share of ``Male`` images in CelebA's first 20,000 images (the sample the conditional rates
#: below come from; over the whole data set it is 41.68 %).
P_MALE = 0.422

#: Fraction of images showing each attribute in real CelebA (first 20,000 images), from the
#: project's facts sheet. These are the prevalences the synthetic set reproduces.
PREVALENCE: dict[str, float] = {
    "5_o_Clock_Shadow": 0.112, "Arched_Eyebrows": 0.264, "Attractive": 0.513,
    "Bags_Under_Eyes": 0.205, "Bald": 0.023, "Bangs": 0.151, "Big_Lips": 0.239,
    "Big_Nose": 0.237, "Black_Hair": 0.243, "Blond_Hair": 0.149, "Blurry": 0.052,
    "Brown_Hair": 0.203, "Bushy_Eyebrows": 0.144, "Chubby": 0.057, "Double_Chin": 0.046,
    "Eyeglasses": 0.065, "Goatee": 0.062, "Gray_Hair": 0.042, "Heavy_Makeup": 0.385,
    "High_Cheekbones": 0.450, "Male": P_MALE, "Mouth_Slightly_Open": 0.479, "Mustache": 0.039,
    "Narrow_Eyes": 0.116, "No_Beard": 0.832, "Oval_Face": 0.279, "Pale_Skin": 0.043,
    "Pointy_Nose": 0.276, "Receding_Hairline": 0.078, "Rosy_Cheeks": 0.063, "Sideburns": 0.058,
    "Smiling": 0.479, "Straight_Hair": 0.212, "Wavy_Hair": 0.316, "Wearing_Earrings": 0.186,
    "Wearing_Hat": 0.050, "Wearing_Lipstick": 0.471, "Wearing_Necklace": 0.122,
    "Wearing_Necktie": 0.074, "Young": 0.780,
}

#: CelebA's strong correlations with sex (first 20,000 images, from the facts sheet):
#: ``{attribute: (P(attribute | male), P(attribute | female))}``.
CONDITIONAL: dict[str, tuple[float, float]] = {
    "Eyeglasses": (0.120, 0.024), "Smiling": (0.401, 0.537), "Blond_Hair": (0.022, 0.241),
    "Black_Hair": (0.297, 0.203), "Brown_Hair": (0.152, 0.240), "Gray_Hair": (0.086, 0.010),
    "Bald": (0.055, 0.0), "Wearing_Lipstick": (0.006, 0.810), "Heavy_Makeup": (0.003, 0.663),
    "No_Beard": (0.603, 0.999), "Mustache": (0.093, 0.0), "Goatee": (0.148, 0.0),
    "Wearing_Hat": (0.084, 0.025), "Young": (0.641, 0.881), "Bangs": (0.083, 0.201),
    "Wearing_Earrings": (0.015, 0.311),
}

#: Attributes CelebA's annotators give (practically) only to men; the synthetic set gives them
#: only to men, at ``PREVALENCE / P_MALE`` so that their overall prevalence stays CelebA's.
MALE_ONLY: tuple[str, ...] = ("5_o_Clock_Shadow", "Sideburns", "Wearing_Necktie")


_ATTRIBUTE_FILES = ("list_attr_celeba.txt", "list_attr_celeba.csv")

#: Every file a set may have beside its image folder.
_SET_FILES = (*_ATTRIBUTE_FILES, "list_eval_partition.txt", "list_eval_partition.csv",
              "identity_CelebA.txt", MARKER_FILE)

#: Disk space per image (a JPEG of about 9 KB in 4 KiB blocks, and its annotation lines): what
#: a full disk is told a set needs.
_BYTES_PER_IMAGE = 11_500


# --------------------------------------------------------------------------- sampling


def attribute_probabilities(name: str) -> tuple[float, float]:
    """Target ``(P(name | male), P(name | female))`` of one attribute in the synthetic set.

    From :data:`CONDITIONAL`; :data:`MALE_ONLY` attributes get ``PREVALENCE / P_MALE`` for men
    and 0 for women; any other attribute its overall prevalence for both sexes.

    Args:
        name: One of the 40 attribute names.

    Returns:
        The two probabilities.

    Raises:
        KeyError: ``name`` is not a CelebA attribute.

    Example:
        >>> attribute_probabilities("Wearing_Lipstick")
        (0.006, 0.81)
    """
    if name == "Male":
        return (1.0, 0.0)
    if name in CONDITIONAL:
        return CONDITIONAL[name]
    if name in MALE_ONLY:
        return (PREVALENCE[name] / P_MALE, 0.0)
    return (PREVALENCE[name], PREVALENCE[name])


def synthetic_prevalence_table() -> "pd.DataFrame":
    """The synthetic set's target rates beside real CelebA's, one row per attribute.

    Returns:
        A DataFrame indexed by attribute (file order) with columns ``celeba`` (real prevalence),
        ``synthetic`` (``P_MALE * male + (1 - P_MALE) * female``), ``male`` and ``female``.

    Example:
        >>> table = synthetic_prevalence_table()
        >>> round(float(table.loc["Eyeglasses", "synthetic"]), 3)
        0.065
    """
    import pandas as pd

    rows = []
    for name in ATTRIBUTES:
        male, female = attribute_probabilities(name)
        rows.append({"attribute": name, "celeba": PREVALENCE[name],
                     "synthetic": P_MALE * male + (1 - P_MALE) * female,
                     "male": male, "female": female})
    return pd.DataFrame(rows).set_index("attribute")


def _sample_attribute_array(n: int, rng: np.random.Generator) -> np.ndarray:
    """Sample ``n`` rows of the 40 attributes as a boolean array (columns in file order).

    Male first; then every attribute conditional on Male. Logical constraints (bald heads have
    no hair colour, texture, bangs or hat; women no facial hair; grey hair is never young) are
    enforced by sampling the constrained attribute only where it is allowed, with its rate
    divided by the allowed share, so that every rate stays the target.
    """
    male = rng.random(n) < P_MALE
    out = {"Male": male}

    def rate(name: str) -> np.ndarray:
        p_male, p_female = attribute_probabilities(name)
        return np.where(male, p_male, p_female)

    def sample(name: str, allowed: np.ndarray | None = None, allowed_rate=None) -> np.ndarray:
        p = rate(name)
        if allowed is None:
            return rng.random(n) < p
        p = np.divide(p, allowed_rate, out=np.zeros(n), where=allowed_rate > 0)
        return (rng.random(n) < p) & allowed

    def choose(names: tuple[str, ...], allowed: np.ndarray, allowed_rate: np.ndarray) -> None:
        # One of ``names`` or none of them, each at its target rate.
        cumulative = np.cumsum([rate(name) / allowed_rate for name in names], axis=0)
        u = rng.random(n)
        previous = np.zeros(n)
        for name, upper in zip(names, cumulative):
            out[name] = allowed & (u >= previous) & (u < upper)
            previous = upper

    out["Bald"] = sample("Bald")
    has_hair, hair_rate = ~out["Bald"], 1 - rate("Bald")
    choose(HAIR_CHOICES, has_hair, hair_rate)
    choose(("Straight_Hair", "Wavy_Hair"), has_hair, hair_rate)
    for name in ("Bangs", "Receding_Hairline", "Wearing_Hat"):
        out[name] = sample(name, has_hair, hair_rate)
    out["No_Beard"] = sample("No_Beard")
    beard, beard_rate = ~out["No_Beard"], 1 - rate("No_Beard")
    for name in ("Goatee", "Mustache"):
        out[name] = sample(name, beard, beard_rate)
    out["Young"] = sample("Young", ~out["Gray_Hair"], 1 - rate("Gray_Hair"))
    for name in ATTRIBUTES:
        if name not in out:
            out[name] = sample(name)
    return np.stack([out[name] for name in ATTRIBUTES], axis=1)


def sample_attributes(n: int, seed: int = 0) -> "pd.DataFrame":
    """The attribute table of the synthetic set of ``n`` images and ``seed``, without images.

    Args:
        n: Number of images.
        seed: The set's seed (the same as :func:`write_synthetic_celeba`'s).

    Returns:
        The labels written for that set: indexed by ``image_id`` (``"000001.jpg"``...), the 40
        attribute columns as int8 0/1.

    Example:
        >>> sample_attributes(5, seed=0).shape
        (5, 40)
    """
    import pandas as pd

    labels = _sample_attribute_array(n, _rng(seed, 0)).astype(np.int8)
    index = pd.Index(_image_names(n), name="image_id")
    return pd.DataFrame(labels, index=index, columns=list(ATTRIBUTES))


def partition_sizes(n: int) -> tuple[int, int, int]:
    """Images in train, validation and test for a set of ``n``: CelebA's proportions, none empty.

    Args:
        n: Number of images (at least 3).

    Returns:
        ``(train, validation, test)``, summing to ``n``.

    Raises:
        ValueError: ``n`` is smaller than 3.

    Example:
        >>> partition_sizes(2000)
        (1607, 196, 197)
    """
    _check_count(n)
    validation = max(1, round(n * PARTITION_SIZES["validation"] / N_IMAGES))
    test = max(1, round(n * PARTITION_SIZES["test"] / N_IMAGES))
    return n - validation - test, validation, test


def _partition_codes(n: int) -> np.ndarray:
    # Partitions follow file order, as in CelebA: train first, then validation, then test.
    return np.repeat(np.arange(3), partition_sizes(n))


def _identities(male: np.ndarray, partitions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Identity numbers: groups of 1-30 images of one sex, never crossing a partition."""
    n = len(male)
    groups = np.empty(n, dtype=np.int64)
    next_group = 0
    for code in range(3):
        for sex in (False, True):
            members = rng.permutation(np.flatnonzero((partitions == code) & (male == sex)))
            start = 0
            while start < len(members):
                size = int(rng.integers(1, 31))
                groups[members[start:start + size]] = next_group
                next_group += 1
                start += size
    # CelebA's identity numbers carry no order; neither do these.
    return rng.permutation(next_group)[groups] + 1


# --------------------------------------------------------------------------- writing


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *stream])


def _image_names(n: int) -> list[str]:
    return [f"{i:06d}.jpg" for i in range(1, n + 1)]


def _check_count(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an integer number of images, not {n!r}")
    if n < 3:
        raise ValueError(f"n={n} is too few images: a synthetic CelebA needs at least 3, one for "
                         "each partition (train, validation, test).")
    if n > 999_999:
        raise ValueError(f"n={n} is too many: CelebA's file names have 6 digits (at most 999999).")


def _render_images(labels: np.ndarray, seed: int, folder: Path, workers: int | None) -> None:
    n = len(labels)
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if n >= 400 else 1
    chunk = max(50, math.ceil(n / (workers * 4)))
    tasks = [(seed, start, labels[start:start + chunk], str(folder))
             for start in range(0, n, chunk)]
    if workers <= 1:
        for task in tasks:
            render_chunk(task)
        return
    # Worker programs (python -m celeba_lab._drawing), not multiprocessing children: they
    # never import the caller's __main__, so an unguarded script works like a notebook.
    from ._drawing import DrawingProcesses

    def payload(task):
        seed_, _, rows, folder_ = task
        return lambda: [seed_, ["".join("1" if v else "0" for v in row) for row in rows],
                        folder_]

    with DrawingProcesses(workers) as processes:
        processes.run(((task[1], payload(task)) for task in tasks), lambda n: None)


def _write_text(path: Path, lines: list[str], crlf: bool) -> None:
    newline = "\r\n" if crlf else "\n"
    path.write_bytes((newline.join(lines) + newline).encode("ascii"))


def _attribute_lines(names: list[str], labels: np.ndarray) -> list[str]:
    # CelebA's format: the count, the names with a trailing space, then " 1"/"-1" in width 2.
    values = np.where(labels, " 1", "-1")
    rows = [name + " " + " ".join(row) for name, row in zip(names, values)]
    return [str(len(names)), " ".join(ATTRIBUTES) + " ", *rows]


def _csv_lines(names: list[str], labels: np.ndarray) -> list[str]:
    values = np.where(labels, "1", "-1")
    return [",".join(("image_id", *ATTRIBUTES)), *(",".join((name, *row))
                                                    for name, row in zip(names, values))]


def _refuse_existing(folder: Path) -> None:
    incomplete = incomplete_synthetic(folder)
    if incomplete:
        raise FileExistsError(f"{incomplete} (Nothing was overwritten.)")
    taken = [p.name for p in (folder / "img_align_celeba", folder / "celeba",
                              *(folder / f for f in _ATTRIBUTE_FILES)) if p.exists()]
    if taken:
        raise FileExistsError(
            f"{folder} already holds CelebA files ({', '.join(taken)}); write the synthetic set "
            "into an empty or new folder instead (nothing was overwritten).")


def _make_image_folder(root: Path, image_dir: Path) -> None:
    """Create ``image_dir`` (in ``root``); a file in the way, or a folder that cannot be
    written to, is said in one sentence naming it, before anything is written."""
    existing = next(p for p in (image_dir, *image_dir.parents) if p.exists())
    if not existing.is_dir():
        raise NotADirectoryError(
            f"Cannot write a synthetic set into {root}: {existing} is a file, not a folder. "
            "Pass a new or empty folder instead (the file was left as it is).")
    try:
        image_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        refused = PermissionError(
            f"Cannot write a synthetic set into {root}: {existing} cannot be written to "
            f"({error.strerror}). Pass a folder you can write to (nothing was written).")
        refused.errno = error.errno
        raise refused from error


def write_synthetic_celeba(root: str | os.PathLike, n: int = 2000, seed: int = 0,
                           layout: str = "original", crlf: bool = False, *,
                           workers: int | None = None) -> Path:
    """Write a synthetic CelebA of ``n`` drawn faces in one of the layouts real copies come in.

    The layouts are those of :data:`celeba_lab.data.LAYOUT_DESCRIPTIONS` (the original one
    also has ``identity_CelebA.txt``). A marker file (:data:`MARKER_FILE`) beside the
    annotations records ``n``, ``seed`` and the generator version. The result depends only on
    ``n`` and ``seed``. When writing fails (a full disk, an interrupt) what this call had
    written is removed; a process killed half-way leaves a set that
    :func:`celeba_lab.load_celeba` calls incomplete.

    Args:
        root: Folder to write into (empty or new; created when missing).
        n: Number of images, 3 to 999,999 (split 80.3 / 9.8 / 9.9 % like CelebA's partitions).
        seed: Seed: the same seed gives byte-identical files.
        layout: ``"original"``, ``"kaggle"`` or ``"torchvision"``.
        crlf: Write the annotation files with Windows line endings (copies exist with both).
        workers: Processes drawing images; ``None`` picks one per core for large sets.

    Returns:
        The folder to pass to :func:`celeba_lab.load_celeba`: ``root`` in every layout.

    Raises:
        ValueError: ``n`` is below 3 or above 999,999, ``seed`` is not a whole number of at
            least 0 (checked before anything is written), or ``layout`` is unknown.
        FileExistsError: ``root`` already holds CelebA files.
        NotADirectoryError: ``root`` (or a folder above it) is a file.
        PermissionError: ``root`` is in a folder that cannot be written to.
        CacheWriteError: The disk filled up (the message says how much space the set needs);
            what this call had written was removed.

    Example:
        >>> root = write_synthetic_celeba("celeba-synth", n=30, seed=0)
        >>> sorted(p.name for p in root.iterdir())
        ['celeba_lab_synthetic.json', 'identity_CelebA.txt', 'img_align_celeba', ...]
    """
    _check_count(n)
    seed = whole_number("seed", seed, minimum=0)  # before anything is written
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}.")
    root = Path(root).expanduser()
    data = root / "celeba" if layout == "torchvision" else root
    _refuse_existing(root)
    image_dir = data / "img_align_celeba"
    if layout == "kaggle":
        image_dir = image_dir / "img_align_celeba"
    created = _to_create(data, image_dir)
    _make_image_folder(root, image_dir)
    marker = {"generator": "celeba_lab.synthetic", "version": GENERATOR_VERSION, "n": n,
              "seed": seed, "layout": layout, "crlf": crlf}
    try:
        _write_marker(data, {**marker, "state": "writing"})    # until the set is complete
        _write_files(data, image_dir, n, seed, layout, crlf, workers)
        _write_marker(data, marker)
    except BaseException as error:
        for path in created:                 # what this call made, and nothing else
            remove_path(path)
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            raise disk_full_error(
                error, f"a synthetic CelebA of {n:,} images into {root}", root,
                n * _BYTES_PER_IMAGE, "write the set into a folder on a larger disk (for the "
                f"package's own set, set {CACHE_ENV} to one)",
                "What this call had written was removed.") from error
        raise
    return root


def _to_create(data: Path, image_dir: Path) -> list[Path]:
    """What writing a set creates: the highest missing folder on the way to its images
    (everything below it is new), and the files beside the annotations not there yet."""
    top = [p for p in (image_dir, *image_dir.parents) if not p.exists()][-1]
    return [top, *(data / name for name in _SET_FILES
                   if not (data / name).exists() and top not in (data / name).parents)]


def _write_marker(data: Path, marker: dict) -> None:
    text = json.dumps(marker, indent=2, sort_keys=True) + "\n"
    write_bytes_atomic(data / MARKER_FILE, text.encode("ascii"))


def _write_files(data: Path, image_dir: Path, n: int, seed: int, layout: str, crlf: bool,
                 workers: int | None) -> None:
    labels = _sample_attribute_array(n, _rng(seed, 0))
    partitions = _partition_codes(n)
    names = _image_names(n)
    _render_images(labels, seed, image_dir, workers)
    if layout == "kaggle":
        _write_text(data / "list_attr_celeba.csv", _csv_lines(names, labels), crlf)
        _write_text(data / "list_eval_partition.csv",
                    ["image_id,partition", *(f"{f},{p}" for f, p in zip(names, partitions))],
                    crlf)
    else:
        identities = _identities(labels[:, ATTRIBUTES.index("Male")], partitions, _rng(seed, 2))
        _write_text(data / "list_attr_celeba.txt", _attribute_lines(names, labels), crlf)
        _write_text(data / "list_eval_partition.txt",
                    [f"{f} {p}" for f, p in zip(names, partitions)], crlf)
        _write_text(data / "identity_CelebA.txt",
                    [f"{f} {i}" for f, i in zip(names, identities)], crlf)


def synthetic_info(root: str | os.PathLike) -> dict | None:
    """How a synthetic set was made (its marker file), or ``None`` for any other folder and
    for a set whose writing was stopped half-way (:func:`incomplete_synthetic`).

    Args:
        root: A CelebA root as :func:`celeba_lab.load_celeba` takes it (the ``celeba/`` folder
            of torchvision's layout is looked into too).

    Returns:
        ``{"generator", "version", "n", "seed", "layout", "crlf"}`` or ``None``.

    Example:
        >>> synthetic_info("/nonexistent") is None
        True
    """
    info = _read_marker(root)
    return None if info is None or "state" in info else info


def incomplete_synthetic(root: str | os.PathLike) -> str | None:
    """What to say of ``root`` when it holds a synthetic set whose writer was stopped half-way
    (its marker still says ``"state": "writing"``); ``None`` for any other folder.

    Example:
        >>> incomplete_synthetic("/nonexistent") is None
        True
    """
    info = _read_marker(root)
    if info is None or info.get("state") != "writing":
        return None
    layout = info.get("layout", "original")
    again = f"python -m celeba_lab synth {root} --n {info.get('n')} --seed {info.get('seed')}" \
        + ("" if layout == "original" else f" --layout {layout}")
    return (f"{root} holds an incomplete synthetic CelebA written by celeba_lab: the process "
            f"writing it was stopped half-way (its {MARKER_FILE} still says \"writing\"), so "
            f"it lacks images or annotation files. Delete the folder and write it again "
            f"({again}); the set load_celeba() uses by default is rewritten by itself.")


def _read_marker(root: str | os.PathLike) -> dict | None:
    root = Path(root).expanduser()
    for folder in (root, root / "celeba"):
        marker = folder / MARKER_FILE
        if marker.is_file():
            try:
                info = json.loads(marker.read_text())
            except (OSError, ValueError):
                return None
            return info if isinstance(info, dict) and \
                info.get("generator") == "celeba_lab.synthetic" else None
    return None


def ensure_synthetic_celeba(n: int, seed: int = 0) -> Path:
    """The cached synthetic CelebA of ``n`` images and ``seed``, written on first use.

    The set lives in ``cache_dir()/"synthetic-{n}-{seed}"``, renamed into place only when
    complete; one made by another generator version, or left half-written, is rewritten.

    Args:
        n: Number of images (at least 3).
        seed: The set's seed.

    Returns:
        The set's root folder (original layout).

    Raises:
        ValueError: ``n`` is below 3 or above 999,999.

    Example:
        >>> root = ensure_synthetic_celeba(30)
        >>> root.name
        'synthetic-30-0'
    """
    _check_count(n)
    seed = whole_number("seed", seed, minimum=0)
    target = cache_dir() / f"synthetic-{n}-{seed}"
    info = synthetic_info(target)
    if info and info.get("version") == GENERATOR_VERSION and info.get("n") == n \
            and info.get("seed") == seed:
        return target
    # A writer killed earlier left its temporary folder (and no worker: they exit with it).
    remove_temporaries(cache_dir(), f".{target.name}.*.tmp")
    with atomic_path(target, directory=True) as tmp:
        write_synthetic_celeba(tmp, n=n, seed=seed)
    return target


__all__ = [
    "write_synthetic_celeba", "ensure_synthetic_celeba", "sample_attributes",
    "synthetic_prevalence_table", "PREVALENCE", "CONDITIONAL",
]
