"""CelebA on disk → a table of attributes, balanced samples and batches that stream from disk.

Data flows one way through this module:

1. :func:`load_celeba` reads a CelebA folder in any of the three layouts readers really have
   (the original release, the Kaggle copy, torchvision's) into a :class:`CelebA`: a pandas
   table of the 40 attributes as 0/1, the official partition of every image, and its path.
2. :func:`balanced_sample` draws the source report's samples: per official partition, exactly
   half positive and half negative for one attribute.
3. :func:`decoded_images` decodes a list of images once into an on-disk ``.npy`` cache that is
   memory-mapped, and :class:`ImageBatches` streams float32 batches from it, so memory stays
   bounded however many images are used (the report ran out of RAM loading them into arrays).

Nothing here imports TensorFlow; Keras is imported only when :class:`ImageBatches` is first
used, so loading and sampling work on a machine with no deep-learning framework at all.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import hashlib
import io
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from . import config
from ._checks import whole_number
from ._io import atomic_path, process_alive, temp_file_owner, write_bytes_atomic
from .attributes import ATTRIBUTES, IMAGE_SHAPE, PARTITIONS

__all__ = [
    # the data set
    "CelebA", "load_celeba", "check_attribute", "LAYOUT_DESCRIPTIONS", "attribute_prevalence",
    "CELEBA_PREVALENCE", "CELEBA_PREVALENCE_BY_SEX", "CELEBA_TEST_PREVALENCE",
    # samples
    "BalancedSample", "balanced_sample", "sample_summary",
    # pipelines
    "decode_image", "decoded_images", "images_held_while_decoding", "ImageBatches",
    "classifier_batches", "gan_batches",
    "load_images_in_memory", "rss_mib", "trace_streaming_memory", "trace_in_memory_loading",
    # errors
    "CelebAError", "DataNotFoundError", "AnnotationError", "UnknownAttributeError",
    "MissingImagesError", "CorruptImageError", "NotEnoughImagesError", "CacheWriteError",
]

# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class CelebAError(Exception):
    """Base class of every data error in the package; each message says what to do next."""


class DataNotFoundError(CelebAError, FileNotFoundError):
    """The CelebA folder, its image folder or an annotation file does not exist."""


class AnnotationError(CelebAError, ValueError):
    """An annotation file is malformed (the message names the file and the line)."""


class UnknownAttributeError(CelebAError, ValueError):
    """An attribute name that is not one of CelebA's 40 (the message suggests the closest)."""


class MissingImagesError(CelebAError, FileNotFoundError):
    """Images listed in the annotations are not in the image folder."""


class CorruptImageError(CelebAError, ValueError):
    """An image file cannot be decoded."""


class NotEnoughImagesError(CelebAError, ValueError):
    """A partition has too few positives or negatives for the balanced sample asked."""


class CacheWriteError(CelebAError, OSError):
    """The disk holding the image cache is full (the message says how much space it needs)."""


# ---------------------------------------------------------------------------------------------
# Published facts used for comparison
# ---------------------------------------------------------------------------------------------

#: Percent of positive labels per attribute in real CelebA, over the first 20,000 images of
#: ``list_attr_celeba.txt`` (the project's ``celeba-facts.md``, computed from the original
#: release of Liu et al., "Deep Learning Face Attributes in the Wild", ICCV 2015).
CELEBA_PREVALENCE: dict[str, float] = {
    "No_Beard": 83.2, "Young": 78.0, "Attractive": 51.3, "Smiling": 47.9,
    "Mouth_Slightly_Open": 47.9, "Wearing_Lipstick": 47.1, "High_Cheekbones": 45.0,
    "Male": 42.2, "Heavy_Makeup": 38.5, "Wavy_Hair": 31.6, "Oval_Face": 27.9,
    "Pointy_Nose": 27.6, "Arched_Eyebrows": 26.4, "Black_Hair": 24.3, "Big_Lips": 23.9,
    "Big_Nose": 23.7, "Straight_Hair": 21.2, "Bags_Under_Eyes": 20.5, "Brown_Hair": 20.3,
    "Wearing_Earrings": 18.6, "Bangs": 15.1, "Blond_Hair": 14.9, "Bushy_Eyebrows": 14.4,
    "Wearing_Necklace": 12.2, "Narrow_Eyes": 11.6, "5_o_Clock_Shadow": 11.2,
    "Receding_Hairline": 7.8, "Wearing_Necktie": 7.4, "Eyeglasses": 6.5, "Rosy_Cheeks": 6.3,
    "Goatee": 6.2, "Sideburns": 5.8, "Chubby": 5.7, "Blurry": 5.2, "Wearing_Hat": 5.0,
    "Double_Chin": 4.6, "Pale_Skin": 4.3, "Gray_Hair": 4.2, "Mustache": 3.9, "Bald": 2.3,
}

#: Percent positive among men and among women in real CelebA (first 20,000 images, same
#: source as :data:`CELEBA_PREVALENCE`): ``{attribute: (P(attr | male), P(attr | female))}``.
CELEBA_PREVALENCE_BY_SEX: dict[str, tuple[float, float]] = {
    "Eyeglasses": (12.0, 2.4), "Smiling": (40.1, 53.7), "Blond_Hair": (2.2, 24.1),
    "Black_Hair": (29.7, 20.3), "Brown_Hair": (15.2, 24.0), "Gray_Hair": (8.6, 1.0),
    "Bald": (5.5, 0.0), "Wearing_Lipstick": (0.6, 81.0), "Heavy_Makeup": (0.3, 66.3),
    "No_Beard": (60.3, 99.9), "Mustache": (9.3, 0.0), "Goatee": (14.8, 0.0),
    "Wearing_Hat": (8.4, 2.5), "Young": (64.1, 88.1), "Bangs": (8.3, 20.1),
    "Wearing_Earrings": (1.5, 31.1),
}

#: Percent positive on real CelebA's official test split (same source): always answering the
#: majority class there scores 61.35 % for Male, 93.54 % for Eyeglasses, 50.03 % for Smiling.
CELEBA_TEST_PREVALENCE: dict[str, float] = {"Male": 38.65, "Eyeglasses": 6.46, "Smiling": 50.03}

# ---------------------------------------------------------------------------------------------
# Attribute names
# ---------------------------------------------------------------------------------------------


def check_attribute(name: str) -> str:
    """Return ``name`` if it is one of CelebA's 40 attributes.

    Args:
        name: An attribute name, spelled as in ``list_attr_celeba.txt`` (e.g. ``"Eyeglasses"``).

    Returns:
        The same name.

    Raises:
        UnknownAttributeError: ``name`` is not an attribute; the message suggests the closest
            names and lists all 40.

    Example:
        >>> check_attribute("Smiling")
        'Smiling'
    """
    if isinstance(name, str) and name in ATTRIBUTES:
        return name
    text = str(name)
    by_lower = {a.lower(): a for a in ATTRIBUTES}
    close = difflib.get_close_matches(text.lower(), list(by_lower), n=3, cutoff=0.5)
    suggestion = [by_lower[c] for c in close]
    hint = f" Did you mean {' or '.join(repr(s) for s in suggestion)}?" if suggestion else ""
    raise UnknownAttributeError(
        f"Unknown CelebA attribute {text!r}.{hint} "
        f"The 40 attributes are: {', '.join(ATTRIBUTES)}."
    )


# ---------------------------------------------------------------------------------------------
# The data set
# ---------------------------------------------------------------------------------------------

#: The folder layouts :func:`load_celeba` recognises, with where each keeps its files.
LAYOUT_DESCRIPTIONS: dict[str, str] = {
    "original": "ROOT/img_align_celeba/*.jpg, ROOT/list_attr_celeba.txt, "
                "ROOT/list_eval_partition.txt (the Google Drive release, unzipped)",
    "kaggle": "ROOT/img_align_celeba/img_align_celeba/*.jpg, ROOT/list_attr_celeba.csv, "
              "ROOT/list_eval_partition.csv (Kaggle's jessicali9530/celeba-dataset)",
    "torchvision": "ROOT/celeba/img_align_celeba/*.jpg, ROOT/celeba/list_attr_celeba.txt, "
                   "ROOT/celeba/list_eval_partition.txt (torchvision.datasets.CelebA's root)",
}

_HOW_TO_GET = (
    "To get CelebA: on Colab call celeba_lab.download_celeba() (Kaggle copy through kagglehub); "
    "or download the Kaggle copy 'jessicali9530/celeba-dataset' or the original Google Drive "
    "release (img_align_celeba.zip + list_attr_celeba.txt + list_eval_partition.txt) and unzip "
    "it. Or call load_celeba() with no root (and leave CELEBA_ROOT unset) to use the package's "
    "synthetic CelebA."
)

# Files the synthetic writer leaves beside the annotations; their presence marks a synthetic set.
# (celeba_lab.synthetic.MARKER_FILE; not imported here to keep loading light).
_SYNTHETIC_MARKERS = ("celeba_lab_synthetic.json",)


@dataclass(eq=False)
class CelebA:
    """CelebA as read from disk: attributes, partitions and image paths.

    Attributes:
        root: The folder given to :func:`load_celeba`.
        layout: ``"original"``, ``"kaggle"`` or ``"torchvision"``.
        image_dir: The folder holding ``000001.jpg`` ...
        attributes: One row per image (index ``image_id``: ``"000001.jpg"`` ...), in file
            order, and the 40 attribute columns as int8 0/1 (``list_attr_celeba`` stores 1/-1).
        partition: The official partition of each image: ``"train"``, ``"validation"`` or
            ``"test"`` (same index).
        fingerprint: A short hex digest of the annotations: it identifies the data set (and
            keys the decoded-image cache).
        synthetic: True for the package's synthetic CelebA.
        attributes_file: The attribute file that was read.
        partition_file: The partition file that was read.
    """

    root: Path
    layout: str
    image_dir: Path
    attributes: pd.DataFrame
    partition: pd.Series
    fingerprint: str
    synthetic: bool = False
    attributes_file: Path | None = None
    partition_file: Path | None = None

    def path(self, image_id: str) -> Path:
        """The path of one image, e.g. ``data.path("000001.jpg")``."""
        return self.image_dir / image_id

    def paths(self, ids: Iterable[str]) -> list[Path]:
        """The paths of several images, in the order of ``ids``."""
        return [self.image_dir / i for i in ids]

    def split(self, name: str) -> pd.Index:
        """The image ids of one official partition (``"train"``, ``"validation"``, ``"test"``).

        Raises:
            ValueError: ``name`` is not a partition.
        """
        if name not in PARTITIONS:
            raise ValueError(f"Unknown partition {name!r}; choose one of {list(PARTITIONS)}.")
        return self.partition.index[(self.partition == name).to_numpy()]

    def labels(self, attribute: str, ids: Iterable[str] | None = None) -> pd.Series:
        """The 0/1 labels of one attribute (for all images, or for ``ids`` in their order).

        Raises:
            UnknownAttributeError: ``attribute`` is not one of the 40.
            KeyError: some ``ids`` are not in the data set.
        """
        column = self.attributes[check_attribute(attribute)]
        if ids is None:
            return column
        ids = pd.Index(ids)
        unknown = ids[~ids.isin(column.index)]
        if len(unknown):
            raise KeyError(f"{len(unknown)} image ids are not in this data set, "
                           f"e.g. {list(unknown[:3])}")
        return column.loc[ids]

    def __len__(self) -> int:
        return len(self.attributes)

    def __repr__(self) -> str:
        kind = "synthetic CelebA" if self.synthetic else "CelebA"
        sizes = ", ".join(f"{p} {n:,}" for p, n in self.partition.value_counts(sort=False).items())
        return (f"<{kind}: {len(self):,} images ({sizes}), layout {self.layout!r}, "
                f"root {str(self.root)!r}>")


def load_celeba(root: str | os.PathLike | None = None) -> CelebA:
    """Read a CelebA folder: attributes, partitions and image paths.

    The layout is detected: the original release (``img_align_celeba/`` beside
    ``list_attr_celeba.txt`` and ``list_eval_partition.txt``), the Kaggle copy
    (``img_align_celeba/img_align_celeba/`` beside the ``.csv`` files) or torchvision's root
    (the same files under ``ROOT/celeba/``). CRLF and LF line endings are both accepted.
    Given the image folder itself (``.../img_align_celeba``), the CelebA folder that holds it
    and its annotation files is read instead, said in one warning.
    Reading the full 202,599-row annotation files takes about a second.

    Args:
        root: The folder. Default: ``$CELEBA_ROOT`` (:func:`celeba_lab.config.data_root`), or,
            when that is unset, the package's synthetic CelebA for the run profile (written into
            the cache the first time).

    Returns:
        The data set.

    Raises:
        DataNotFoundError: The folder, its images or an annotation file is missing (a folder
            of images alone is named as such, with the folder to pass instead).
        AnnotationError: An annotation file is malformed (file, line and what was expected).
        MissingImagesError: Images listed in the annotations are not in the image folder.

    Example:
        >>> data = load_celeba()                              # doctest: +SKIP
        >>> data.attributes.loc["000001.jpg", "Smiling"]      # doctest: +SKIP
        1
    """
    if root is None:
        root = config.data_root()
    if root is None:
        from .synthetic import ensure_synthetic_celeba

        root = ensure_synthetic_celeba(config.get_profile().synthetic_images)
    root = _root_of_image_folder(Path(root).expanduser())
    layout, base, image_dir, attr_file, part_file = _find_layout(root)
    attributes = _read_attributes(attr_file)
    partition = _read_partition(part_file)
    partition = _align_partition(attributes.index, partition, attr_file, part_file)
    _check_images_present(image_dir, attributes.index)
    return CelebA(
        root=root, layout=layout, image_dir=image_dir, attributes=attributes,
        partition=partition, fingerprint=_fingerprint(attributes, partition),
        synthetic=_is_synthetic(base, root), attributes_file=attr_file,
        partition_file=part_file,
    )


def _candidates(root: Path) -> list[tuple[str, Path, Path]]:
    """(layout, folder holding the annotation files, image folder) in the order tried."""
    return [
        ("kaggle", root, root / "img_align_celeba" / "img_align_celeba"),
        ("original", root, root / "img_align_celeba"),
        ("torchvision", root / "celeba", root / "celeba" / "img_align_celeba"),
    ]


def _find_layout(root: Path) -> tuple[str, Path, Path, Path, Path]:
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise DataNotFoundError(f"CelebA folder {str(root)!r} {what}. {_HOW_TO_GET}")
    tried = []
    for layout, base, image_dir in _candidates(root):
        if not image_dir.is_dir():
            tried.append(f"{layout}: no folder {image_dir}")
            continue
        attr_file = _annotation_file(base, "list_attr_celeba")
        part_file = _annotation_file(base, "list_eval_partition")
        missing = [f"{stem}.txt or {stem}.csv" for stem, found in
                   (("list_attr_celeba", attr_file), ("list_eval_partition", part_file))
                   if found is None]
        if missing:
            raise DataNotFoundError(
                f"Found the images of the {layout!r} layout in {image_dir}, but "
                f"{' and '.join(missing)} is missing from {base}. Copy the annotation file(s) "
                f"there (they come with every CelebA download). Layouts tried: "
                + "; ".join(tried + [layout]) + "."
            )
        return layout, base, image_dir, attr_file, part_file
    zipped = [p for p in (root / "img_align_celeba.zip", root / "celeba" / "img_align_celeba.zip")
              if p.is_file()]
    hint = (f" {zipped[0]} exists: unzip it in place "
            f"(python -m zipfile -e {zipped[0]} {zipped[0].parent})." if zipped else "")
    said = _image_folder_hint(root) or f"No CelebA images under {root}."
    raise DataNotFoundError(f"{said} Layouts tried: {'; '.join(tried)}.{hint} " + _HOW_TO_GET)


_ANNOTATION_STEMS = ("list_attr_celeba", "list_eval_partition")


def _complete(base: Path, image_dir: Path) -> bool:
    return image_dir.is_dir() and all(_annotation_file(base, s) for s in _ANNOTATION_STEMS)


def _root_of_image_folder(root: Path) -> Path:
    """``root``, or, when ``root`` is the image folder of exactly one CelebA folder (or, in
    Kaggle's layout, the folder around it), that CelebA folder (said in one warning)."""
    if not root.is_dir() or any(_complete(b, i) for _, b, i in _candidates(root)):
        return root
    folder = root.absolute()
    owners: dict[Path, Path] = {}        # annotation folder -> the nearest root using it
    for ancestor in list(folder.parents)[:2]:
        for _, base, image_dir in _candidates(ancestor):
            if folder in (image_dir, image_dir.parent) and _complete(base, image_dir):
                owners.setdefault(base, ancestor)
    if len(owners) != 1:
        return root                       # _find_layout says what is there
    (owner,) = owners.values()
    warnings.warn(f"{root} is CelebA's image folder; reading the CelebA folder {owner} that "
                  f"holds it and its annotation files. Next time pass {owner}.", UserWarning,
                  stacklevel=3)
    return owner


def _image_folder_hint(root: Path) -> str | None:
    """What to pass instead, when ``root`` holds images itself but no CelebA folder holds it."""
    example = next(root.glob("*.jpg"), None)
    if example is None:
        return None
    parent = root.absolute().parent
    found = (f"{root} holds .jpg images itself (e.g. {example.name}): it looks like CelebA's "
             f"image folder")
    missing = [f"{stem}.txt (or .csv)" for stem in _ANNOTATION_STEMS
               if _annotation_file(parent, stem) is None]
    if missing:
        return (f"{found}, but {parent} has no {' and '.join(missing)}. Put the annotation "
                f"files of your CelebA download in {parent}, then pass {parent}.")
    if root.name != "img_align_celeba":
        return (f"{found}, and {parent} holds the annotation files. Rename {root.name} to "
                f"img_align_celeba (or move the images into {parent / 'img_align_celeba'}), "
                f"then pass {parent}.")
    return None


def _annotation_file(base: Path, stem: str) -> Path | None:
    for suffix in (".txt", ".csv"):
        path = base / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def _is_synthetic(base: Path, root: Path) -> bool:
    return any((folder / marker).is_file()
               for folder in {base, root} for marker in _SYNTHETIC_MARKERS)


# --- annotation files ------------------------------------------------------------------------
# The fast path reads the whole file with pandas' C parser (about a second for 202,599 rows);
# only when that fails or the values are wrong does a slow line-by-line scan run, to name the
# first bad line exactly.

_ATTR_EXPECTED = "an image name followed by 40 values, each 1 or -1"
_PART_EXPECTED = "an image name followed by a partition code 0, 1 or 2"


def _read_header_lines(path: Path, count: int) -> list[str]:
    with open(path, "r", encoding="utf-8-sig", newline=None) as f:
        return [f.readline().rstrip("\r\n") for _ in range(count)]


def _read_attributes(path: Path) -> pd.DataFrame:
    csv = path.suffix == ".csv"
    if csv:
        (header,) = _read_header_lines(path, 1)
        names = [n.strip() for n in header.split(",")]
        if not names or names[0] != "image_id":
            raise AnnotationError(
                f"{path}, line 1: expected the header 'image_id,5_o_Clock_Shadow,...,Young', "
                f"found {header[:80]!r}."
            )
        names = names[1:]
        header_lines, expected_count = 1, None
    else:
        count_line, names_line = _read_header_lines(path, 2)
        try:
            expected_count = int(count_line.strip())
        except ValueError:
            raise AnnotationError(
                f"{path}, line 1: expected the number of images (e.g. '202599'), found "
                f"{count_line[:80]!r}. Is this list_attr_celeba.txt?"
            ) from None
        names = names_line.split()
        header_lines = 2
    if sorted(names) != sorted(ATTRIBUTES):
        unknown = [n for n in names if n not in ATTRIBUTES]
        absent = [a for a in ATTRIBUTES if a not in names]
        raise AnnotationError(
            f"{path}, line {header_lines}: expected the 40 CelebA attribute names, found "
            f"{len(names)} names (unknown: {unknown[:5]}, absent: {absent[:5]})."
        )
    frame = _parse_table(path, names, header_lines, csv, value_dtype="int8",
                         allowed=(-1, 1), expected=_ATTR_EXPECTED)
    if expected_count is not None and expected_count != len(frame):
        raise AnnotationError(
            f"{path}, line 1: says {expected_count:,} images but the file lists {len(frame):,}. "
            f"The file is truncated or was edited; download it again."
        )
    values = (frame.to_numpy() > 0).astype(np.int8)
    return pd.DataFrame(values, index=frame.index, columns=names)[list(ATTRIBUTES)]


def _read_partition(path: Path) -> pd.Series:
    csv = path.suffix == ".csv"
    header_lines = 0
    if csv:
        (header,) = _read_header_lines(path, 1)
        if [h.strip() for h in header.split(",")] != ["image_id", "partition"]:
            raise AnnotationError(
                f"{path}, line 1: expected the header 'image_id,partition', "
                f"found {header[:80]!r}."
            )
        header_lines = 1
    frame = _parse_table(path, ["partition"], header_lines, csv, value_dtype="int8",
                         allowed=(0, 1, 2), expected=_PART_EXPECTED)
    codes = frame["partition"].to_numpy()
    return pd.Series(pd.Categorical.from_codes(codes, categories=list(PARTITIONS)),
                     index=frame.index, name="partition")


def _parse_table(path: Path, names: list[str], header_lines: int, csv: bool, *,
                 value_dtype: str, allowed: tuple[int, ...], expected: str) -> pd.DataFrame:
    """Parse ``image_id value...`` rows; on any problem, name the first bad line."""
    try:
        frame = pd.read_csv(
            path, sep="," if csv else r"\s+", skiprows=header_lines, header=None,
            names=["image_id", *names], index_col=0, engine="c", encoding="utf-8-sig",
            dtype={"image_id": str, **{n: value_dtype for n in names}},
        )
    except (ValueError, pd.errors.ParserError, OverflowError) as error:
        raise _locate_bad_line(path, len(names), header_lines, csv, allowed, expected,
                               fallback=str(error)) from None
    values = frame.to_numpy()
    # A lookup table over the 256 int8 values: np.isin takes 0.15 s on CelebA's attributes.
    valid = np.zeros(256, dtype=bool)
    valid[np.asarray(allowed, dtype=np.int8).view(np.uint8)] = True
    if values.size and not valid[values.astype(np.int8, copy=False).view(np.uint8)].all():
        raise _locate_bad_line(path, len(names), header_lines, csv, allowed, expected,
                               fallback="values outside " + str(allowed))
    index = frame.index
    if index.hasnans or index.duplicated().any():
        raise _locate_bad_line(path, len(names), header_lines, csv, allowed, expected,
                               fallback="duplicate or empty image names")
    frame.index.name = "image_id"
    return frame


def _locate_bad_line(path: Path, n_values: int, header_lines: int, csv: bool,
                     allowed: tuple[int, ...], expected: str, fallback: str) -> AnnotationError:
    allowed_text = {str(a) for a in allowed}
    seen: dict[str, int] = {}
    with open(path, "r", encoding="utf-8-sig", newline=None) as f:
        for number, line in enumerate(f, start=1):
            if number <= header_lines:
                continue
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            fields = [x.strip() for x in text.split(",")] if csv else text.split()
            problem = None
            if len(fields) != n_values + 1:
                problem = f"found {len(fields)} fields instead of {n_values + 1}"
            elif not fields[0] or fields[0] in allowed_text:
                problem = f"the first field {fields[0]!r} is not an image name"
            elif any(v not in allowed_text for v in fields[1:]):
                bad = next(v for v in fields[1:] if v not in allowed_text)
                problem = f"found the value {bad!r}"
            elif fields[0] in seen:
                problem = f"{fields[0]} is listed twice (also on line {seen[fields[0]]})"
            if problem:
                return AnnotationError(
                    f"{path}, line {number}: expected {expected}; {problem}: {text[:100]!r}. "
                    f"The file is damaged; download it again."
                )
            seen[fields[0]] = number
    return AnnotationError(f"{path}: cannot be parsed ({fallback}); expected {expected} per line.")


def _align_partition(index: pd.Index, partition: pd.Series, attr_file: Path,
                     part_file: Path) -> pd.Series:
    if partition.index.equals(index):
        return partition
    missing = index[~index.isin(partition.index)]
    extra = partition.index[~partition.index.isin(index)]
    if len(missing) or len(extra):
        raise AnnotationError(
            f"{part_file} and {attr_file} list different images: {len(missing):,} images have "
            f"attributes but no partition (e.g. {list(missing[:3])}), {len(extra):,} have a "
            f"partition but no attributes (e.g. {list(extra[:3])}). Use the two files of the "
            f"same CelebA download."
        )
    return partition.reindex(index)


def _check_images_present(image_dir: Path, index: pd.Index) -> None:
    # One directory listing instead of 202,599 stat calls: about 0.1 s on the real data.
    present = set(os.listdir(image_dir))
    missing = [name for name in index.to_numpy(dtype=object) if name not in present]
    if missing:
        raise MissingImagesError(
            f"{len(missing):,} of the {len(index):,} images listed in the annotations are not in "
            f"{image_dir}, e.g. {', '.join(missing[:5])}. The download or unzip is incomplete: "
            f"unzip img_align_celeba.zip again (or re-run celeba_lab.download_celeba())."
        )


def _fingerprint(attributes: pd.DataFrame, partition: pd.Series) -> str:
    digest = hashlib.sha1()
    digest.update("\n".join(attributes.index.to_numpy(dtype=object)).encode())
    digest.update(np.ascontiguousarray(attributes.to_numpy()).tobytes())
    digest.update(np.asarray(partition.cat.codes, dtype=np.int8).tobytes())
    return digest.hexdigest()[:16]


def attribute_prevalence(data: CelebA, by: str | None = None,
                         ids: Iterable[str] | None = None) -> pd.Series | pd.DataFrame:
    """Percent of images with each attribute, overall or split by another attribute.

    Args:
        data: The data set.
        by: An attribute to condition on (e.g. ``"Male"``): the result then has two columns,
            percent positive among images with ``by`` = 1 and with ``by`` = 0.
        ids: Restrict to these images (default: all).

    Returns:
        A Series (attribute → percent) or, with ``by``, a DataFrame with columns
        ``f"{by}=1"`` and ``f"{by}=0"``; rows in file order.

    Raises:
        UnknownAttributeError: ``by`` is not one of the 40 attributes.

    Example:
        >>> attribute_prevalence(data)["Eyeglasses"]               # doctest: +SKIP
        6.5
        >>> attribute_prevalence(data, by="Male").loc["Bald"]      # doctest: +SKIP
        Male=1    5.5
        Male=0    0.0
    """
    table = data.attributes if ids is None else data.attributes.loc[pd.Index(ids)]
    if by is None:
        return (table.mean() * 100).rename("percent")
    mask = table[check_attribute(by)].to_numpy() == 1
    return pd.DataFrame({f"{by}=1": table[mask].mean() * 100,
                         f"{by}=0": table[~mask].mean() * 100})


# ---------------------------------------------------------------------------------------------
# Balanced samples
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BalancedSample:
    """The report's per-attribute samples: one per official partition, half positive.

    Attributes:
        attribute: The attribute the sample is balanced on.
        seed: The seed it was drawn with.
        train, validation, test: 0/1 labels indexed by ``image_id``, in file order; each drawn
            only from its own official partition, exactly half 1 and half 0.
    """

    attribute: str
    seed: int
    train: pd.Series
    validation: pd.Series
    test: pd.Series

    def split(self, name: str) -> pd.Series:
        """The labels of one split (``"train"``, ``"validation"`` or ``"test"``)."""
        if name not in PARTITIONS:
            raise ValueError(f"Unknown split {name!r}; choose one of {list(PARTITIONS)}.")
        return getattr(self, name)

    @property
    def sizes(self) -> dict[str, int]:
        """Images per split."""
        return {name: len(self.split(name)) for name in PARTITIONS}

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k} {v:,}" for k, v in self.sizes.items())
        return f"BalancedSample({self.attribute!r}, seed={self.seed}: {sizes})"


def balanced_sample(data: CelebA, attribute: str,
                    sizes: Sequence[int] = (10_000, 2_000, 1_000), seed: int = 0
                    ) -> BalancedSample:
    """Draw the report's balanced samples for one attribute.

    For each official partition (train, validation, test) it draws, without replacement and
    only from that partition, ``size / 2`` images with the attribute and ``size / 2`` without.
    Sizes must be even so that the balance is exact. The three splits are disjoint because the
    partitions are. Each split uses its own random stream derived from ``(seed, attribute,
    partition)``, so changing the train size does not change the test sample.

    Args:
        data: The data set from :func:`load_celeba`.
        attribute: One of the 40 attributes, e.g. ``"Eyeglasses"``.
        sizes: Images in the train, validation and test samples (the report: 10,000 / 2,000 /
            1,000). Each must be even (0 gives an empty split).
        seed: Seed for the draw; the same seed gives the same sample.

    Returns:
        The three samples as 0/1 label Series indexed by image id, in file order.

    Raises:
        UnknownAttributeError: ``attribute`` is not one of the 40.
        ValueError: a size is odd or negative, or ``seed`` is negative.
        NotEnoughImagesError: a partition has fewer positives or negatives than half its size;
            the message gives how many there are and the largest size possible.

    Example:
        >>> sample = balanced_sample(load_celeba(), "Eyeglasses", (800, 100, 100))  # doctest: +SKIP
        >>> sample.train.mean()                                                     # doctest: +SKIP
        0.5
    """
    check_attribute(attribute)
    sizes = tuple(sizes)
    if len(sizes) != len(PARTITIONS):
        raise ValueError(f"sizes must give (train, validation, test) sizes, got {sizes}.")
    sizes = tuple(whole_number(f"The {name} size", size, minimum=0)
                  for name, size in zip(PARTITIONS, sizes))
    for name, size in zip(PARTITIONS, sizes):
        if size % 2:
            raise ValueError(
                f"The {name} size must be even to be exactly 50 % positive, got {size}; use "
                f"{size - 1} or {size + 1}.")
    seed = whole_number("seed", seed, minimum=0)
    labels = data.attributes[attribute].to_numpy()
    codes = data.partition.cat.codes.to_numpy()
    splits = {}
    for code, (name, size) in enumerate(zip(PARTITIONS, sizes)):
        rows = _balanced_rows(labels, codes == code, size, name, attribute,
                              np.random.default_rng([seed, ATTRIBUTES.index(attribute), code]))
        splits[name] = pd.Series(labels[rows], index=data.attributes.index[rows],
                                 name=attribute).astype(np.int8)
    return BalancedSample(attribute=attribute, seed=seed, **splits)


def sample_summary(data: CelebA, sample: BalancedSample) -> pd.DataFrame:
    """Check a balanced sample against the data set: one row per split.

    Args:
        data: The data set the sample was drawn from.
        sample: The sample.

    Returns:
        A DataFrame indexed by split with columns ``images``, ``positive``, ``negative``,
        ``percent_positive``, ``in_own_partition`` (images drawn from that split's official
        partition), ``labels_match`` (labels equal to the data set's) and
        ``shared_with_other_splits`` (images that also appear in another split).

    Example:
        >>> sample = balanced_sample(data, "Smiling", (800, 100, 100))   # doctest: +SKIP
        >>> sample_summary(data, sample)["percent_positive"].tolist()    # doctest: +SKIP
        [50.0, 50.0, 50.0]
    """
    rows = {}
    for name in PARTITIONS:
        labels = sample.split(name)
        others = pd.Index([]).append([sample.split(o).index for o in PARTITIONS if o != name])
        truth = data.attributes[sample.attribute].reindex(labels.index)
        rows[name] = {
            "images": len(labels),
            "positive": int((labels == 1).sum()),
            "negative": int((labels == 0).sum()),
            "percent_positive": 100 * float(labels.mean()) if len(labels) else float("nan"),
            "in_own_partition": int((data.partition.reindex(labels.index) == name).sum()),
            "labels_match": bool((truth.to_numpy() == labels.to_numpy()).all()),
            "shared_with_other_splits": int(labels.index.isin(others).sum()),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("split")


def _balanced_rows(labels: np.ndarray, in_partition: np.ndarray, size: int, name: str,
                   attribute: str, rng: np.random.Generator) -> np.ndarray:
    positives = np.flatnonzero(in_partition & (labels == 1))
    negatives = np.flatnonzero(in_partition & (labels == 0))
    half = size // 2
    for kind, pool in (("positive", positives), ("negative", negatives)):
        if len(pool) < half:
            largest = 2 * min(len(positives), len(negatives))
            raise NotEnoughImagesError(
                f"The {name} partition has only {len(pool):,} {kind} images for {attribute} "
                f"({len(positives):,} positive, {len(negatives):,} negative); a balanced {name} "
                f"sample of {size:,} needs {half:,}. The largest possible is {largest:,}: "
                f"pass a smaller size (or use a larger data set)."
            )
    chosen = np.concatenate([rng.choice(positives, half, replace=False),
                             rng.choice(negatives, half, replace=False)])
    return np.sort(chosen)


# ---------------------------------------------------------------------------------------------
# The decoded-image cache
# ---------------------------------------------------------------------------------------------

#: Bumped whenever decoding changes, so that older caches are not reused.
CACHE_FORMAT_VERSION = 2
_CROPS = ("squash", "center")
_CHUNK_BYTES = 64 * 2**20          # decoded pixels held in RAM at once while filling a cache
_STALE_TEMP_SECONDS = 6 * 3600     # temp files older than this are left by a killed process
_PROGRESS_FROM = 20_000            # report progress when decoding at least this many images
# Decode in worker processes from this many images (threads below: a process takes ~0.5 s to
# start, while two threads decode ~1,000 images in that time).
_PROCESSES_FROM = 4_096
_DECODE_RUN = 64                   # images one decoding thread takes at a time
# A missing cache of this many images or more that need no resizing (CelebA's own 218 x 178) is
# filled by the batches' first epoch (see _CacheFill) instead of before it, when it takes at
# most this share of the machine's RAM, so that the OS file cache absorbs its writes in any order.
_STREAM_FROM = 4_096
_STREAM_RAM_SHARE = 1 / 8
_STREAM_AHEAD = 4                  # batches the first epoch decodes ahead of the one it serves
# Later epochs read a cache file row by row in a new random order. The rows of the batches this
# far ahead are announced to the OS (posix_fadvise WILLNEED), so that rows not in its file cache
# are fetched from the disk in parallel with the reads of this batch, instead of one at a time.
_READ_AHEAD = 8


def _size_hw(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    height, width = (int(s) for s in size)
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive (height, width), got {size}.")
    return height, width


def _check_crop(crop: str) -> str:
    if crop not in _CROPS:
        raise ValueError(f"Unknown crop {crop!r}; choose 'squash' (resize the whole "
                         f"178x218 image, as the report did) or 'center' (central crop).")
    return crop


def decode_image(path: str | os.PathLike, size: int | Sequence[int] = IMAGE_SHAPE[:2],
                 crop: str = "squash") -> np.ndarray:
    """Decode one image to a uint8 array of shape ``(height, width, 3)``.

    ``"squash"`` resizes the whole image to ``size`` (the report squashed 178x218 to 64x64);
    ``"center"`` first cuts the largest central box with the aspect of ``size`` (for a square
    size, the central 178x178 square of a CelebA image). JPEGs are decoded by libjpeg-turbo
    through ``simplejpeg``, which releases the GIL for the whole decode (threads then decode in
    parallel), and are first downscaled in the decoder by a power of two (DCT scaling, as
    ``PIL.Image.draft`` does) when the target is at most half the size; the result is then
    resized bilinearly by Pillow. Other formats are read by Pillow. Either way the pixels are
    those Pillow's ``open``, ``draft``, ``convert("RGB")`` and bilinear ``resize`` give.

    Args:
        path: The image file.
        size: ``(height, width)`` of the result, or one int for a square.
        crop: ``"squash"`` or ``"center"``.

    Returns:
        The pixels, uint8 ``(height, width, 3)``, RGB.

    Raises:
        MissingImagesError: the file does not exist.
        CorruptImageError: the file cannot be decoded.

    Example:
        >>> decode_image(data.path("000001.jpg"), 64, crop="center").shape   # doctest: +SKIP
        (64, 64, 3)
    """
    height, width = _size_hw(size)
    try:
        with open(path, "rb") as file:
            encoded = file.read()
    except FileNotFoundError:
        raise MissingImagesError(
            f"Image {path} does not exist (it was listed in the annotations). The image folder "
            f"changed after loading, or the download is incomplete."
        ) from None
    except OSError as error:
        raise CorruptImageError(
            f"Cannot read image {path}: {error}. Check that it is a readable file.") from None
    try:
        if encoded[:2] == b"\xff\xd8":
            return _decode_jpeg(encoded, height, width, crop)
        return _decode_with_pillow(encoded, height, width, crop)
    except (OSError, SyntaxError, ValueError, _pillow().DecompressionBombError) as error:
        raise CorruptImageError(
            f"Cannot decode image {path}: {error}. The file is damaged; replace it from a fresh "
            f"download of CelebA (or delete the data folder and download again)."
        ) from None


def _pillow():
    from PIL import Image

    return Image


def _draft_request(full_w: int, full_h: int, width: int, height: int,
                   crop: str) -> tuple[int, int]:
    """The size to ask ``PIL.Image.draft`` for: at least the target size after cropping."""
    box_w, box_h = _crop_box_size(full_w, full_h, width, height, crop)
    return math.ceil(width * full_w / box_w), math.ceil(height * full_h / box_h)


def _draft_scale(full_w: int, full_h: int, width: int, height: int, crop: str) -> int:
    """The reduction ``PIL.Image.draft`` makes for that request: 1, 2, 4 or 8."""
    want_w, want_h = _draft_request(full_w, full_h, width, height, crop)
    most = min(full_w // want_w, full_h // want_h)
    return next((scale for scale in (8, 4, 2) if most >= scale), 1)


_DECODER_COLOURS = ("YCbCr", "Gray")    # JPEG colour spaces libjpeg-turbo turns into RGB


def _decoder_alone(full: tuple[int, int], colorspace: str, size: tuple[int, int],
                   crop: str) -> bool:
    """Whether libjpeg-turbo alone gives the pixels: no Pillow resize or conversion after it."""
    return colorspace in _DECODER_COLOURS and crop == "squash" and full == size


def _decode_jpeg(encoded: bytes, height: int, width: int, crop: str) -> np.ndarray:
    try:
        import simplejpeg
    except ImportError:   # an environment without it: Pillow gives the same pixels, slower
        return _decode_with_pillow(encoded, height, width, crop)
    full_h, full_w, colorspace, _ = simplejpeg.decode_jpeg_header(encoded)
    if colorspace not in _DECODER_COLOURS:      # CMYK, YCCK: Pillow converts those to RGB
        return _decode_with_pillow(encoded, height, width, crop)
    if _decoder_alone((full_h, full_w), colorspace, (height, width), crop):
        return simplejpeg.decode_jpeg(encoded, colorspace="RGB")   # no resizing: done
    scale = _draft_scale(full_w, full_h, width, height, crop)
    cur_w, cur_h = -(-full_w // scale), -(-full_h // scale)
    pixels = simplejpeg.decode_jpeg(encoded, colorspace="RGB", min_height=cur_h,
                                    min_width=cur_w)
    if pixels.shape[:2] != (cur_h, cur_w):       # a reduction Pillow would not have made
        return _decode_with_pillow(encoded, height, width, crop)
    return _resize(_pillow().fromarray(pixels), height, width, crop)


def _decode_with_pillow(encoded: bytes, height: int, width: int, crop: str) -> np.ndarray:
    Image = _pillow()
    with Image.open(io.BytesIO(encoded)) as image:
        full_w, full_h = image.size
        if image.format == "JPEG":
            image.draft("RGB", _draft_request(full_w, full_h, width, height, crop))
        if image.mode != "RGB":
            image = image.convert("RGB")
        return _resize(image, height, width, crop)


def _resize(image, height: int, width: int, crop: str) -> np.ndarray:
    cur_w, cur_h = image.size
    box = _crop_box(cur_w, cur_h, width, height, crop)
    if box != (0, 0, cur_w, cur_h) or (cur_w, cur_h) != (width, height):
        image = image.resize((width, height), _pillow().Resampling.BILINEAR, box=box)
    return np.asarray(image, dtype=np.uint8)


def _crop_box_size(w: int, h: int, tw: int, th: int, crop: str) -> tuple[float, float]:
    if crop == "squash":
        return w, h
    if w * th > h * tw:                     # too wide for the target aspect: cut the sides
        return h * tw / th, h
    return w, w * th / tw


def _crop_box(w: int, h: int, tw: int, th: int, crop: str) -> tuple[float, float, float, float]:
    box_w, box_h = _crop_box_size(w, h, tw, th, crop)
    left, top = (w - box_w) / 2, (h - box_h) / 2
    return (left, top, left + box_w, top + box_h)


def _cache_key(data: CelebA, ids: Sequence[str], size: tuple[int, int], crop: str) -> str:
    """``"{what}-{content}"``: what the cache holds (data set, ids, size, crop), then a digest
    of the files it decodes (each one's size and modification time), so that an image
    rewritten in place gets a new cache while files added beside the images change nothing."""
    digest = hashlib.sha1()
    meta = [CACHE_FORMAT_VERSION, data.fingerprint, str(data.image_dir.resolve()), list(size),
            crop, len(ids)]
    digest.update(json.dumps(meta).encode())
    digest.update("\n".join(ids).encode())
    return f"{digest.hexdigest()[:24]}-{_files_digest(data, ids)}"


def _files_digest(data: CelebA, ids: Sequence[str]) -> str:
    digest = hashlib.sha1()
    for image_id in dict.fromkeys(ids):
        try:
            stat = os.stat(data.image_dir / image_id)
            digest.update(f"{image_id} {stat.st_size} {stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{image_id} missing\n".encode())
    return digest.hexdigest()[:8]


def _images_cache_dir() -> Path:
    path = config.cache_dir() / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _remove_stale_temp_files(folder: Path) -> None:
    # atomic_path names temp files ".<name>.<pid>.<random>.tmp.npy"; a killed process leaves
    # one. That of a dead process goes at once; one without a pid once it is old.
    now = time.time()
    for temp in folder.glob(".*.tmp.npy"):
        try:
            owner = temp_file_owner(temp)
            if (owner is not None and owner != os.getpid() and not process_alive(owner)) \
                    or (owner is None and now - temp.stat().st_mtime > _STALE_TEMP_SECONDS):
                temp.unlink()
        except OSError:
            pass


def _remove_superseded(path: Path) -> None:
    """Remove the caches of the same images, size and crop made from older files."""
    what, content, shape = path.name.split("-", 2)
    for old in path.parent.glob(f"{what}-*-{shape.split('.')[0]}.*"):
        if not old.name.startswith(f"{what}-{content}-"):
            old.unlink(missing_ok=True)


def _checksum_path(path: Path) -> Path:
    return path.with_suffix(".crc")


def _row_checksums(images: np.ndarray) -> np.ndarray:
    return np.fromiter((zlib.crc32(images[i]) for i in range(len(images))), np.uint32,
                       len(images))


def _write_checksums(written: Path, path: Path) -> None:
    """Store the crc32 of each row of the finished cache ``written`` (to be renamed to
    ``path``) beside ``path``; it is verified once per process when the cache is opened."""
    images = np.load(written, mmap_mode="r")
    write_bytes_atomic(_checksum_path(path), _row_checksums(images).tobytes())
    stat = written.stat()
    _VERIFIED.add((str(path), stat.st_size, stat.st_mtime_ns))


#: Caches whose rows this process verified: (path, size, modification time).
_VERIFIED: set[tuple[str, int, int]] = set()


def _intact(path: Path, images: np.ndarray) -> bool:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED:
        return True
    try:
        expected = np.fromfile(_checksum_path(path), dtype=np.uint32)
    except (OSError, ValueError):
        return False
    if expected.shape != (len(images),) or not np.array_equal(expected, _row_checksums(images)):
        return False
    _VERIFIED.add(key)
    return True


def decoded_images(data: CelebA, ids: Iterable[str], *,
                   size: int | Sequence[int] = IMAGE_SHAPE[:2], crop: str = "squash",
                   workers: int | None = None, progress: bool | None = None) -> np.ndarray:
    """The images ``ids`` decoded to uint8, from a cache on disk (decoded once, then reused).

    The first call decodes the images in parallel threads, a chunk at a time (at most about
    64 MB of pixels in RAM), or, for 4,096 images or more that need resizing, in worker
    processes that write their rows themselves, into a temporary ``.npy`` file under
    ``cache_dir()/images``, and renames it into place only when complete. Later calls, in any
    process or chapter, with the same data, ids, size and crop open that file memory-mapped:
    nothing is decoded again and nothing is loaded into RAM until it is read. A run killed
    while writing leaves only a temporary file, which is never read (and is removed once
    stale).

    Args:
        data: The data set.
        ids: Image ids, in the order wanted (repeats allowed).
        size: ``(height, width)`` or one int for a square; default CelebA's 218 x 178.
        crop: ``"squash"`` (resize the whole image, as the report did) or ``"center"``.
        workers: Decoding threads or processes. Default: as many threads as CPUs (at most
            8); for 4,096 images or more that need resizing, twice as many processes (at most
            8), which decode in parallel where threads wait for each other (the GIL).
        progress: Print progress while decoding (default: for 20,000 images or more).

    Returns:
        A read-only memory-mapped uint8 array of shape ``(len(ids), height, width, 3)``.

    Raises:
        MissingImagesError: an image file does not exist.
        CorruptImageError: an image cannot be decoded (the message names the file).
        CacheWriteError: the cache's disk is full (the message says how much space it needs);
            the partial cache file is removed.

    Example:
        >>> x = decoded_images(data, data.split("test")[:100], size=64)   # doctest: +SKIP
        >>> x.shape, x.dtype                                               # doctest: +SKIP
        ((100, 64, 64, 3), dtype('uint8'))
    """
    ids = [str(i) for i in ids]
    height, width = _size_hw(size)
    _check_crop(crop)
    if not ids:
        return np.empty((0, height, width, 3), dtype=np.uint8)
    path = _cache_path(data, ids, (height, width), crop)
    if path.is_file():
        cached = _open_cache(path, (len(ids), height, width, 3))
        if cached is not None:
            return cached
    if progress is None:
        progress = len(ids) >= _PROGRESS_FROM
    with _saying_disk_full(path.parent, len(ids) * height * width * 3), \
            atomic_path(path) as temp:
        _fill_cache(temp, data, ids, (height, width), crop, workers, progress)
        _write_checksums(temp, path)
    return _open_cache(path, (len(ids), height, width, 3))


#: What a write meets on a full disk, or over the user's disk quota.
_DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


@contextlib.contextmanager
def _saying_disk_full(folder: Path, needed: int):
    """Turn a full disk met in the block into one :class:`CacheWriteError` (its temporary
    files are removed by the block itself); any other error passes unchanged."""
    try:
        yield
    except CacheWriteError:
        raise
    except OSError as error:
        if error.errno not in _DISK_FULL:
            raise
        raise _disk_full_error(folder, needed, error) from error


def _disk_full_error(folder: Path, needed: int, error: OSError) -> CacheWriteError:
    try:
        free = f"{_mib(shutil.disk_usage(folder).free)} is free there"
    except OSError:
        free = "the free space there is unknown"
    said = CacheWriteError(
        f"{error.strerror or error} while writing the image cache in {folder}: it needs about "
        f"{_mib(needed)} and {free}. Free some space on that disk, or set {config.CACHE_ENV} "
        f"to a folder on a larger disk (before the first call), then run this again. The "
        f"partial cache file was removed.")
    said.errno = error.errno      # (no strerror: str() stays the message)
    return said


def _mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:,.1f} MiB"


def _cache_path(data: CelebA, ids: list[str], size: tuple[int, int], crop: str) -> Path:
    folder = _images_cache_dir()
    _remove_stale_temp_files(folder)
    key = _cache_key(data, ids, size, crop)
    path = folder / f"{key}-{len(ids)}x{size[0]}x{size[1]}.npy"
    _remove_superseded(path)
    return path


def _open_cache(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cache at ``path`` if whole; else None (damaged: removed, said in one warning)."""
    try:
        images = np.load(path, mmap_mode="r")
        problem = (None if images.shape == shape and images.dtype == np.uint8
                   else f"holds {images.dtype} {images.shape}, not uint8 {shape}")
        if problem is None and not _intact(path, images):
            problem = "does not match its checksums"
    except (OSError, ValueError, EOFError) as error:
        images, problem = None, f"cannot be read ({type(error).__name__}: {error})"
    if problem is not None:
        if path.is_file():
            warnings.warn(f"The image cache {path} is damaged ({problem}); decoding its "
                          "images again.", RuntimeWarning, stacklevel=3)
        path.unlink(missing_ok=True)
        _checksum_path(path).unlink(missing_ok=True)
        return None
    return images


def images_held_while_decoding(size: int | Sequence[int]) -> int:
    """The most decoded images :func:`decoded_images` holds in RAM while it fills a cache.

    However many images are decoded, the cache writer holds at most this many (about 64 MB of
    pixels: one block being decoded, the one before being written to disk), so its memory does
    not grow with the data. Decoding processes, where used, hold fewer: 64 images each.

    Args:
        size: ``(height, width)`` of the decoded images, or one int for a square.

    Returns:
        The number of images.

    Example:
        >>> images_held_while_decoding(64), images_held_while_decoding((218, 178))
        (5461, 576)
    """
    height, width = _size_hw(size)
    return max(2, _CHUNK_BYTES // (height * width * 3))


def _fill_cache(temp: Path, data: CelebA, ids: list[str], size: tuple[int, int], crop: str,
                workers: int | None, progress: bool) -> None:
    height, width = size
    n = len(ids)
    header = np.lib.format.open_memmap(temp, mode="w+", dtype=np.uint8,
                                       shape=(n, height, width, 3))
    offset = header.offset
    del header
    started = time.perf_counter()
    cpus = os.cpu_count() or 1
    # Pillow's resize holds the GIL for much of each image: processes then decode ~1.5x as fast
    # as threads, and more of them than CPUs keep the disk busy while others decode. Without
    # a resize (CelebA's own 218 x 178) the decoder runs without the GIL and threads, which
    # also overlap the writing, are as fast.
    processes = workers or min(8, 2 * cpus)
    if (processes > 1 and n >= _PROCESSES_FROM and _needs_pillow(data.path(ids[0]), size, crop)
            and _fill_in_processes(temp, offset, data, ids, size, crop, processes, progress,
                                   started)):
        return
    workers = workers or min(8, cpus)
    # Two blocks are in RAM at once: one being decoded while the one before is written.
    chunk = max(1, images_held_while_decoding((height, width)) // 2)
    # Writes go through the file, not the memory map, so decoded pixels leave this process's
    # memory as soon as they are written.
    with open(temp, "r+b") as out, ThreadPoolExecutor(max_workers=workers) as pool:
        previous = None
        try:
            for start in range(0, n, chunk):
                decoding = _DecodingBlock(pool, workers, data.paths(ids[start:start + chunk]),
                                          start, size, crop)
                if previous is not None:
                    previous.write_to(out, offset)
                    _report(progress, previous.end, n, size, started)
                previous = decoding
            if previous is not None:
                previous.write_to(out, offset)
                _report(progress, n, n, size, started)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _needs_pillow(path: Path, size: tuple[int, int], crop: str) -> bool:
    """Whether decoding images like ``path`` to ``size`` takes Pillow's work (with the GIL)."""
    try:
        with open(path, "rb") as file:
            head = file.read(1 << 16)
        import simplejpeg

        full_h, full_w, colorspace, _ = simplejpeg.decode_jpeg_header(head)
    except (OSError, ValueError, ImportError):
        return True        # not a JPEG simplejpeg reads: Pillow does all the work
    return not _decoder_alone((full_h, full_w), colorspace, size, crop)


def _fill_in_processes(temp: Path, offset: int, data: CelebA, ids: list[str],
                       size: tuple[int, int], crop: str, workers: int, progress: bool,
                       started: float) -> bool:
    """Fill the cache with ``workers`` decoding processes, each writing its rows into the file
    (see :mod:`celeba_lab._decoding`); ``False`` when no process could be started."""
    from ._decoding import DecodingProcesses, WorkerStopped

    n = len(ids)
    try:
        pool = DecodingProcesses(temp, offset, size, crop, workers)
    except OSError:        # no interpreter to start (an embedded Python): threads do it
        return False
    done = 0

    def count(rows: int) -> None:
        nonlocal done
        done += rows
        if done == n or done % (16 * _DECODE_RUN) == 0:
            _report(progress, done, n, size, started)

    # Paths are made a task at a time (see _DecodingBlock).
    tasks = ((first, lambda first=first: [str(p) for p in data.paths(
        ids[first:first + _DECODE_RUN])]) for first in range(0, n, _DECODE_RUN))
    try:
        with pool:
            pool.run(tasks, count)
    except WorkerStopped as error:
        # Threads decode everything again: slower, but the reader's run goes on.
        warnings.warn(f"{error} Decoding with threads instead.", RuntimeWarning, stacklevel=4)
        return False
    return True


def _report(progress: bool, done: int, n: int, size: tuple[int, int], started: float) -> None:
    if progress:
        rate = done / max(time.perf_counter() - started, 1e-9)
        print(f"\rdecoding {size[0]}x{size[1]} images: {done:,}/{n:,} ({rate:,.0f} images/s)",
              end="" if done < n else "\n", file=sys.stderr, flush=True)


class _DecodingBlock:
    """Images ``start, start + 1, ...`` of a cache, from ``paths``, being decoded into one new
    array, each thread filling a run of rows. (Paths are made a block at a time: a
    ``pathlib.Path`` per image of all CelebA would take 60 MB.)

    A task per run, not per image: a future per image costs about as much as decoding a
    small JPEG. The decoder releases the GIL, so the threads decode in parallel while the
    caller writes the previous block to disk.
    """

    def __init__(self, pool: ThreadPoolExecutor, workers: int, paths: list[Path], start: int,
                 size: tuple[int, int], crop: str) -> None:
        self.block = np.empty((len(paths), *size, 3), dtype=np.uint8)
        self.start = start
        run = max(1, min(_DECODE_RUN, math.ceil(len(paths) / workers)))

        def decode_rows(first: int) -> None:
            for row in range(first, min(first + run, len(paths))):
                self.block[row] = decode_image(paths[row], size, crop)

        self.futures = [pool.submit(decode_rows, first) for first in range(0, len(paths), run)]

    @property
    def end(self) -> int:
        return self.start + len(self.block)

    def write_to(self, out, offset: int) -> None:
        """Wait for the decoding (re-raising the first error, in row order), then write."""
        for future in self.futures:
            future.result()
        out.seek(offset + self.start * self.block[0].nbytes)
        out.write(self.block.data)


class _CacheFill:
    """A cache file that the first epoch of its batches fills: each image is decoded when a
    batch first asks for it (a few batches ahead, in threads), written to its row, and served.

    Filling the whole cache before the first epoch, then reading it back, makes the epoch wait
    for the decoding, then for the writes to reach the disk: for 20,000 images at 218 x 178 it
    ran at 0.81 times the speed of Keras's ``image_dataset_from_directory``; filled by the
    epoch, at 1.30 times (this project's 2-core machine). Once every row is written, the file is
    flushed and moved into place by a thread of its own, as :func:`decoded_images` would have
    left it (and, for a cache laid out in the first epoch's order, the ``.order.npy`` file
    that finds it is written); until then it is a temporary file that no other call reads. If
    the batches are dropped before that (an interrupted epoch), the temporary file is deleted.
    """

    def __init__(self, path: Path, data: CelebA, ids: list[str], size: tuple[int, int],
                 crop: str, workers: int | None = None,
                 layout: tuple[Path, np.ndarray] | None = None) -> None:
        self.path, self.size, self.crop = path, size, crop
        #: Where to record, once the file is in place, the order its rows hold another list's
        #: ids in (see :func:`_images_for_batches`), and that order.
        self.layout = layout
        self.image_dir, self.ids = data.image_dir, ids
        n = len(ids)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp.npy",
                                    dir=path.parent)
        os.close(fd)
        self.temp = Path(name)
        header = np.lib.format.open_memmap(self.temp, mode="w+", dtype=np.uint8,
                                           shape=(n, *size, 3))
        self.offset = header.offset
        del header
        #: The file's pixels, memory-mapped: rows not yet decoded read as zeros.
        self.images = np.load(self.temp, mmap_mode="r")
        self.fd = os.open(self.temp, os.O_RDWR)
        self.row_bytes = size[0] * size[1] * 3
        self.written = np.zeros(n, dtype=bool)
        self.remaining = n
        self.pending: dict[int, Future] = {}     # row -> the decoding job that covers it
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self.finished: threading.Thread | None = None
        # Twice the cores: a thread whose write waits for the disk leaves a core to the others.
        self.pool = ThreadPoolExecutor(max_workers=workers or min(8, 2 * (os.cpu_count() or 1)))

    @property
    def complete(self) -> bool:
        return self.remaining == 0

    def decode_ahead(self, rows: np.ndarray) -> None:
        """Start decoding the rows not yet written nor being decoded (one job)."""
        with self.lock:
            if self.error is not None or self.remaining == 0:
                return
            todo = [int(r) for r in dict.fromkeys(rows.tolist())
                    if not self.written[r] and r not in self.pending]
            if todo:
                job = self.pool.submit(self._decode, todo)
                for row in todo:
                    self.pending[row] = job

    def read(self, rows: np.ndarray, rows_ahead: np.ndarray | None = None) -> np.ndarray:
        """``images[rows]``, decoding (and writing) the rows that are not in the file yet;
        ``rows_ahead`` as for :func:`_read_rows`."""
        if self.error is not None:
            raise self.error
        if self.remaining:
            self.decode_ahead(rows)
            with self.lock:
                jobs = {id(j): j for r in rows.tolist() if (j := self.pending.get(r))}
            for job in jobs.values():
                # An interrupt while waiting propagates; only the job's own error is kept.
                error = job.exception()
                if error is not None:
                    self._fail(error)
                    raise error
        # Just written, the rows are in the OS file cache: reading them back costs a copy.
        return _read_rows(self.images, rows, (self.fd, self.offset), rows_ahead)

    def _decode(self, rows: list[int]) -> None:
        with _saying_disk_full(self.path.parent, len(self.ids) * self.row_bytes):
            for row in rows:
                pixels = decode_image(self.image_dir / self.ids[row], self.size, self.crop)
                os.pwrite(self.fd, pixels.data, self.offset + row * self.row_bytes)
        with self.lock:
            remaining = self.remaining
            for row in rows:
                if not self.written[row]:
                    self.written[row] = True
                    remaining -= 1
                self.pending.pop(row, None)
            if remaining == 0 and self.finished is None:
                # Not a daemon: the interpreter waits for it, so the cache is not lost at exit.
                # Started, then published, and only then is the fill complete: a reader that
                # sees ``remaining == 0`` (read without the lock) finds a thread it may join.
                finished = threading.Thread(target=self._move_into_place,
                                            name="celeba-cache-finish")
                finished.start()
                self.finished = finished
            self.remaining = remaining

    def _move_into_place(self) -> None:
        try:
            os.fsync(self.fd)
            _write_checksums(self.temp, self.path)
            os.replace(self.temp, self.path)
            if self.layout is not None:
                _write_layout(*self.layout)
        except OSError as error:       # the disk filled up, say: the next run decodes again
            warnings.warn(f"Could not save the image cache {self.path}: {error}", RuntimeWarning)
            self.temp.unlink(missing_ok=True)

    def _fail(self, error: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = error
                self.temp.unlink(missing_ok=True)

    def __del__(self) -> None:
        # No decoding job is running: each holds a reference to this object. (This may run
        # in a pool thread, which cannot wait for itself.)
        pool = getattr(self, "pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if getattr(self, "fd", None) is not None:
            if self.finished is not None:
                if self.finished is not threading.current_thread():
                    self.finished.join()
            elif self.error is None:
                self.temp.unlink(missing_ok=True)     # an epoch left unfinished
            os.close(self.fd)
            self.fd = None


def _ram_bytes() -> int:
    import psutil

    return psutil.virtual_memory().total


def _images_for_batches(data: CelebA, ids: Iterable[str], size: int | Sequence[int],
                        crop: str, kwargs: dict, first_rows: np.ndarray | None = None
                        ) -> tuple[np.ndarray, _CacheFill | None, np.ndarray | None]:
    """The cache of ``ids`` for batches: ``(images, fill, row_of)``.

    ``images`` is a complete cache, or (see :class:`_CacheFill`) one that the batches' first
    epoch fills: when it is missing, holds many images that need no resizing, and only this
    process reads the batches. ``row_of[i]`` is the row of ``images`` holding ``ids[i]``
    (``None``: row ``i``). ``first_rows`` lists the positions in ``ids`` in the order the
    first epoch reads them.

    Filled in the order of ``ids``, the first epoch writes its rows where its shuffled order
    puts them. While the OS file cache holds the writes, that costs nothing; beyond, the disk
    takes them in that scattered order: for all of CelebA at 218 x 178 (22 GB) that epoch then
    ran at 0.68 times Keras's speed here. So a cache over an eighth of the RAM is laid out in
    the first epoch's order instead (the cache of the ids in that order, found again through
    a small ``.order.npy`` file beside it), and the first epoch writes it from start to end:
    1.04 times Keras's speed for all of CelebA (0.74 when filled in order before the epoch).
    """
    ids = [str(i) for i in ids]
    hw = _size_hw(size)
    _check_crop(crop)
    if (len(ids) < _STREAM_FROM or kwargs.get("use_multiprocessing")
            or _needs_pillow(data.path(ids[0]), hw, crop)):
        return decoded_images(data, ids, size=size, crop=crop), None, None
    shape = (len(ids), *hw, 3)
    path = _cache_path(data, ids, hw, crop)
    cached = _open_cache(path, shape) if path.is_file() else None
    if cached is not None:
        return cached, None, None
    layout = path.with_name(path.name[:-len(".npy")] + ".order.npy")
    found = _cache_in_layout(data, ids, hw, crop, layout)
    if found is not None:
        return found
    order = _visit_order(len(ids), first_rows)
    if order is None or len(ids) * hw[0] * hw[1] * 3 <= _STREAM_RAM_SHARE * _ram_bytes():
        fill = _CacheFill(path, data, ids, hw, crop)
        return fill.images, fill, None
    ordered = [ids[i] for i in order]
    in_order = _cache_path(data, ordered, hw, crop)
    cached = _open_cache(in_order, shape) if in_order.is_file() else None
    if cached is not None:      # its order file was lost (a run killed between the two)
        _write_layout(layout, order)
        return cached, None, _inverse(order)
    fill = _CacheFill(in_order, data, ordered, hw, crop, layout=(layout, order))
    return fill.images, fill, _inverse(order)


def _write_layout(path: Path, order: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(order, dtype=np.int64))
    write_bytes_atomic(path, buffer.getvalue())


def _visit_order(n: int, first_rows: np.ndarray | None) -> np.ndarray | None:
    """Positions ``0..n-1`` in the order ``first_rows`` first reaches them, the rest after;
    ``None`` when that is ``0..n-1`` itself."""
    if first_rows is None:
        return None
    first_rows = np.asarray(first_rows, dtype=np.int64)
    _, first_seen = np.unique(first_rows, return_index=True)
    visited = first_rows[np.sort(first_seen)]
    order = np.concatenate([visited, np.setdiff1d(np.arange(n), visited)])
    return None if np.array_equal(order, np.arange(n)) else order


def _inverse(order: np.ndarray) -> np.ndarray:
    row_of = np.empty(len(order), dtype=np.int64)
    row_of[order] = np.arange(len(order))
    return row_of


def _cache_in_layout(data: CelebA, ids: list[str], size: tuple[int, int], crop: str,
                     layout: Path) -> tuple[np.ndarray, None, np.ndarray] | None:
    """The cache of ``ids`` laid out in the order a ``layout`` file records, if complete."""
    if not layout.is_file():
        return None
    try:
        order = np.load(layout)
        valid = (order.shape == (len(ids),) and order.dtype.kind == "i"
                 and np.array_equal(np.sort(order), np.arange(len(ids))))
    except (OSError, ValueError):
        valid = False
    path = _cache_path(data, [ids[i] for i in order], size, crop) if valid else None
    cached = _open_cache(path, (len(ids), *size, 3)) if valid and path.is_file() else None
    if cached is None:
        layout.unlink(missing_ok=True)      # its cache is gone or was never finished
        return None
    return cached, None, _inverse(order)


def load_images_in_memory(data: CelebA, ids: Iterable[str], *,
                          size: int | Sequence[int] = IMAGE_SHAPE[:2], crop: str = "squash"
                          ) -> np.ndarray:
    """The report's way, kept as a baseline: decode every image into one float32 array in RAM.

    Needs ``len(ids) * height * width * 3 * 4`` bytes: 94 GB for all of CelebA at 218 x 178,
    which is why the report ran out of memory. Use :func:`decoded_images` and
    :class:`ImageBatches` instead; this exists for the memory comparison and benchmarks.

    Args:
        data: The data set.
        ids: The images, in order.
        size: ``(height, width)`` or one int for a square.
        crop: ``"squash"`` or ``"center"``.

    Returns:
        A float32 array ``(len(ids), height, width, 3)`` in [0, 1].

    Example:
        >>> x = load_images_in_memory(data, data.split("test")[:100], size=64)   # doctest: +SKIP
        >>> x.nbytes / 2**20                                                    # doctest: +SKIP
        4.6875
    """
    ids = list(ids)
    height, width = _size_hw(size)
    out = np.empty((len(ids), height, width, 3), dtype=np.float32)
    for row, path in enumerate(data.paths(ids)):
        out[row] = decode_image(path, (height, width), crop) / np.float32(255)
    return out


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------


def _read_rows(images: np.ndarray, rows: np.ndarray,
               file: tuple[str | int, int] | None,
               rows_ahead: np.ndarray | None = None) -> np.ndarray:
    """``images[rows]`` as a new uint8 array.

    For a cache file (its name, or a descriptor open on it, and the offset of its pixels), the
    rows are read with positioned reads rather than through the memory map: the pages then stay
    in the OS file cache instead of counting as this process's memory, so a long epoch does not
    look like a leak to Colab's RAM meter. ``rows_ahead``, the rows of batches to come, are
    first announced to the OS, which fetches them while these rows are read.
    """
    if file is None:
        return np.asarray(images[rows])
    out = np.empty((len(rows), *images.shape[1:]), dtype=images.dtype)
    row_bytes = int(np.prod(images.shape[1:])) * images.dtype.itemsize
    name, offset = file
    own = not isinstance(name, int)
    fd = os.open(name, os.O_RDONLY) if own else name
    try:
        if rows_ahead is not None and hasattr(os, "posix_fadvise"):
            for row in rows_ahead:
                os.posix_fadvise(fd, offset + int(row) * row_bytes, row_bytes,
                                 os.POSIX_FADV_WILLNEED)
        for j, row in enumerate(rows):
            view = memoryview(out[j]).cast("B")
            got = os.preadv(fd, [view], offset + int(row) * row_bytes)
            if got != row_bytes:
                raise CorruptImageError(f"Image cache {name if own else images.filename} is "
                                        f"truncated; delete it to rebuild.")
    finally:
        if own:
            os.close(fd)
    return out


def _cache_file_of(images: np.ndarray) -> tuple[str, int] | None:
    import mmap

    if (hasattr(os, "preadv") and isinstance(images, np.memmap)
            and isinstance(images.base, mmap.mmap) and images.filename
            and images.flags.c_contiguous):
        return str(images.filename), int(images.offset)
    return None


def _pydataset_base() -> type:
    try:
        import keras

        return keras.utils.PyDataset
    except ImportError:        # no Keras backend installed: plain Python batches still work
        return object


class _StreamedBatches:
    """Batches of float32 images in [0, 1] streamed from a (memory-mapped) uint8 array.

    A :class:`keras.utils.PyDataset`: pass it to ``model.fit``/``predict`` or iterate it.
    Sample ``j`` is image ``images[rows[j]]`` with target ``targets[j]`` and id ``ids[j]``;
    batch ``i`` holds samples ``order[i * batch_size:(i + 1) * batch_size]``, where
    ``order`` is ``0..N-1`` or, with ``shuffle=True``, a fresh permutation each epoch drawn
    from ``(seed, epoch)``. With ``steps_per_epoch``, an epoch is that many full batches:
    a fresh random subset when shuffling, else the next consecutive slice (wrapping around).

    Attributes:
        images: The uint8 (or float) image array, usually from :func:`decoded_images`. While
            the first epoch is still filling the cache (see :func:`classifier_batches`), rows
            it has not reached read as zeros: read batches, not this array.
        targets: Per-sample targets (float32) or ``None``.
        ids: The image id of each sample.
        rows: The row of ``images`` holding each sample.
        batch_size: Samples per batch.
        epoch: Epochs completed (advanced by ``on_epoch_end``).

    Example:
        >>> batches = ImageBatches(x_uint8, targets=y, batch_size=32)   # doctest: +SKIP
        >>> x, y = batches[0]                                           # doctest: +SKIP
    """

    def __init__(self, images: np.ndarray, targets: np.ndarray | None = None, *,
                 ids: Sequence[str] | None = None, rows: np.ndarray | None = None,
                 batch_size: int = 32, shuffle: bool = False, seed: int = 0,
                 steps_per_epoch: int | None = None, **kwargs):
        super().__init__(**kwargs)   # keras.utils.PyDataset: workers, use_multiprocessing
        self.images = images
        self.rows = (np.arange(len(images)) if rows is None
                     else np.asarray(rows, dtype=np.int64))
        n = len(self.rows)
        if n and (self.rows.min() < 0 or self.rows.max() >= len(images)):
            raise ValueError("rows must index images.")
        self.targets = None if targets is None else np.asarray(targets, dtype=np.float32)
        if self.targets is not None and len(self.targets) != n:
            raise ValueError(f"{len(self.targets)} targets for {n} samples.")
        self.ids = pd.Index(ids if ids is not None else [str(r) for r in self.rows],
                            name="image_id")
        if len(self.ids) != n:
            raise ValueError(f"{len(self.ids)} ids for {n} samples.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        if steps_per_epoch is not None and steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be positive, got {steps_per_epoch}.")
        if n == 0:
            raise ValueError("No images to batch.")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.steps_per_epoch = steps_per_epoch
        self.epoch = 0
        self._file = _cache_file_of(images)
        self._fill: _CacheFill | None = None      # set when the first epoch fills the cache
        self._order_epoch = -1
        self._order = np.arange(n)

    def __len__(self) -> int:
        if self.steps_per_epoch is not None:
            return int(self.steps_per_epoch)
        return math.ceil(len(self.rows) / self.batch_size)

    @property
    def order(self) -> np.ndarray:
        """Sample positions in this epoch's order (length: batches x batch size, at most)."""
        if self._order_epoch != self.epoch:
            self._order = self._epoch_order(self.epoch)
            self._order_epoch = self.epoch
        return self._order

    def _epoch_order(self, epoch: int) -> np.ndarray:
        return _epoch_order(len(self.rows), epoch, shuffle=self.shuffle, seed=self.seed,
                            batch_size=self.batch_size, steps_per_epoch=self.steps_per_epoch)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        picked = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        if self._fill is not None:
            self._decode_ahead(index)
            pixels = self._fill.read(self.rows[picked],
                                     self._rows_ahead(index) if self._fill.complete else None)
        else:
            pixels = _read_rows(self.images, self.rows[picked], self._file,
                                self._rows_ahead(index) if self._file else None)
        x = np.divide(pixels, np.float32(255), dtype=np.float32) \
            if pixels.dtype == np.uint8 else pixels.astype(np.float32)
        if self.targets is None:
            return x
        return x, self.targets[picked]

    def _rows_ahead(self, index: int) -> np.ndarray:
        # The rows of batch index + _READ_AHEAD; the first batch of an epoch announces all the
        # batches up to it. Together they keep _READ_AHEAD batches announced ahead of the reads
        # (none when it is 0).
        first = index + 1 if index == 0 else index + _READ_AHEAD
        last = min(index + _READ_AHEAD, len(self) - 1)
        if _READ_AHEAD < 1 or first > last:
            return np.empty(0, dtype=np.int64)
        size = self.batch_size
        return self.rows[self.order[first * size:(last + 1) * size]]

    def _decode_ahead(self, index: int) -> None:
        # While the cache is being filled, the next batches decode while this one is used.
        if self._fill.complete:
            return
        size = self.batch_size
        for ahead in range(index + 1, min(index + 1 + _STREAM_AHEAD, len(self))):
            self._fill.decode_ahead(self.rows[self.order[ahead * size:(ahead + 1) * size]])

    def batch_ids(self, index: int) -> pd.Index:
        """The image ids in batch ``index`` of the current epoch, in batch order."""
        picked = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.ids[picked]

    def on_epoch_end(self) -> None:
        """Advance to the next epoch (a new order when shuffling)."""
        self.epoch += 1

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.images.shape[1:])
        return (f"<ImageBatches: {len(self.rows):,} samples of {shape}, {len(self)} "
                f"batches of {self.batch_size}, shuffle={self.shuffle}>")


def _epoch_order(n: int, epoch: int, *, shuffle: bool, seed: int, batch_size: int,
                 steps_per_epoch: int | None) -> np.ndarray:
    """The sample positions of ``epoch``, in the order :class:`ImageBatches` serves them."""
    if steps_per_epoch is None:
        if not shuffle:
            return np.arange(n)
        return np.random.default_rng([seed, epoch]).permutation(n)
    needed = steps_per_epoch * batch_size
    if shuffle:
        rng = np.random.default_rng([seed, epoch])
        parts = [rng.permutation(n) for _ in range(math.ceil(needed / n))]
        return np.concatenate(parts)[:needed]
    return (epoch * needed + np.arange(needed)) % n


def _make_image_batches() -> type:
    base = _pydataset_base()
    bases = (_StreamedBatches,) if base is object else (_StreamedBatches, base)
    return type("ImageBatches", bases, {"__doc__": _StreamedBatches.__doc__,
                                        "__module__": __name__, "__qualname__": "ImageBatches"})


def __getattr__(name: str):
    # ImageBatches subclasses keras.utils.PyDataset; importing Keras is slow and needs a
    # backend, so the class is built the first time it is asked for.
    if name == "ImageBatches":
        cls = _make_image_batches()
        globals()["ImageBatches"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"ImageBatches"})


def classifier_batches(data: CelebA, labels: pd.Series, *, batch_size: int = 50,
                       shuffle: bool = False, seed: int = 0, one_hot: bool = True,
                       size: int | Sequence[int] = IMAGE_SHAPE[:2], crop: str = "squash",
                       **kwargs) -> "ImageBatches":
    """Batches ``(x, y)`` for an attribute classifier, e.g. from a :class:`BalancedSample` split.

    Args:
        data: The data set.
        labels: 0/1 labels indexed by image id (e.g. ``sample.train``).
        batch_size: Images per batch (the report: 50).
        shuffle: Reshuffle every epoch (use for training).
        seed: Seed of the shuffling.
        one_hot: ``y`` as one-hot float32 ``(B, 2)`` (the report's softmax), else float32
            ``(B,)`` of 0/1.
        size: Image ``(height, width)``; default the full 218 x 178.
        crop: ``"squash"`` or ``"center"`` (see :func:`decode_image`).
        **kwargs: Passed to :class:`ImageBatches` (e.g. ``workers``).

    Returns:
        The batches; images come from the :func:`decoded_images` cache. When that cache does
        not exist yet and holds 4,096 images or more at their own size (CelebA's 218 x 178),
        the first epoch fills it: each image is decoded the first time a batch asks for it.
        A cache larger than an eighth of the RAM is then laid out in the first epoch's
        order, so that the epoch writes it from start to end; batches with any seed find it
        again.

    Raises:
        ValueError: a label is not 0 or 1.
        MissingImagesError, CorruptImageError: an image cannot be read.

    Example:
        >>> sample = balanced_sample(data, "Eyeglasses")                      # doctest: +SKIP
        >>> x, y = classifier_batches(data, sample.train, shuffle=True)[0]     # doctest: +SKIP
        >>> x.shape, y.shape                                                   # doctest: +SKIP
        ((50, 218, 178, 3), (50, 2))
    """
    values = np.asarray(labels.to_numpy())
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"labels must be 0/1, found values {sorted(set(values.tolist()))[:5]}.")
    first = _epoch_order(len(labels), 0, shuffle=shuffle, seed=seed, batch_size=batch_size,
                         steps_per_epoch=kwargs.get("steps_per_epoch"))
    images, fill, rows = _images_for_batches(data, labels.index, size, crop, kwargs, first)
    y = np.eye(2, dtype=np.float32)[values.astype(np.int64)] if one_hot \
        else values.astype(np.float32)
    batches = _image_batches()(images, y, ids=labels.index, rows=rows, batch_size=batch_size,
                               shuffle=shuffle, seed=seed, **kwargs)
    batches._fill = fill
    return batches


def gan_batches(data: CelebA, ids: Iterable[str] | None = None, *, batch_size: int = 32,
                size: int | Sequence[int] = 64, crop: str = "squash", shuffle: bool = True,
                seed: int = 0, conditions: pd.DataFrame | None = None,
                steps_per_epoch: int | None = None, **kwargs) -> "ImageBatches":
    """Batches of 64 x 64 faces for a GAN: ``x``, or ``(x, c)`` with conditions.

    Args:
        data: The data set.
        ids: The images (default: all, as the report used). May repeat (attribute-balanced
            resampling); each distinct image is decoded and cached once.
        batch_size: Images per batch (the report: 32).
        size: Image size, default 64 (the report squashed 178 x 218 to 64 x 64).
        crop: ``"squash"`` (the report) or ``"center"`` (central 178 x 178 square).
        shuffle: Reshuffle every epoch.
        seed: Seed of the shuffling.
        conditions: Per-image condition columns (e.g. ``data.attributes[["Male",
            "Blond_Hair"]]``), indexed by image id; batches are then ``(x, c)`` with ``c``
            float32 ``(B, k)``.
        steps_per_epoch: Batches per epoch (a fresh random subset each epoch); default one pass.
        **kwargs: Passed to :class:`ImageBatches`.

    Returns:
        The batches, from the :func:`decoded_images` cache (filled by the first epoch in the
        case :func:`classifier_batches` describes: images at their own size).

    Raises:
        KeyError: some ``ids`` are not in the data set.
        ValueError: ``conditions`` does not cover every id.
        MissingImagesError, CorruptImageError: an image cannot be read.

    Example:
        >>> batches = gan_batches(data, batch_size=32)     # doctest: +SKIP
        >>> batches[0].shape                                # doctest: +SKIP
        (32, 64, 64, 3)
    """
    ids = data.attributes.index if ids is None else pd.Index(ids)
    distinct = pd.Index(pd.unique(np.asarray(ids, dtype=object)))
    rows = distinct.get_indexer(ids)
    unknown = ids[~ids.isin(data.attributes.index)]
    if len(unknown):
        raise KeyError(f"{len(unknown)} ids are not in the data set, e.g. {list(unknown[:3])}")
    first = rows[_epoch_order(len(ids), 0, shuffle=shuffle, seed=seed, batch_size=batch_size,
                              steps_per_epoch=steps_per_epoch)]
    images, fill, row_of = _images_for_batches(data, distinct, size, crop, kwargs, first)
    if row_of is not None:
        rows = row_of[rows]
    targets = None if conditions is None else _condition_rows(conditions, ids)
    batches = _image_batches()(images, targets, ids=ids, rows=rows, batch_size=batch_size,
                               shuffle=shuffle, seed=seed, steps_per_epoch=steps_per_epoch,
                               **kwargs)
    batches._fill = fill
    return batches


def _condition_rows(conditions: pd.DataFrame, ids: pd.Index) -> np.ndarray:
    if len(conditions) == len(ids) and conditions.index.equals(ids):
        table = conditions
    elif conditions.index.is_unique and ids.isin(conditions.index).all():
        table = conditions.loc[ids]
    else:
        raise ValueError("conditions must be indexed by image id and cover every id "
                         "(e.g. data.attributes[['Male', 'Blond_Hair']]).")
    return table.to_numpy(dtype=np.float32)


def _image_batches() -> type:
    return sys.modules[__name__].ImageBatches


# ---------------------------------------------------------------------------------------------
# Memory measurements (for the data chapter and the benchmarks)
# ---------------------------------------------------------------------------------------------


def rss_mib() -> float:
    """This process's resident memory (RSS) in MiB, as Colab's RAM meter counts it.

    Returns:
        Resident set size in MiB.

    Example:
        >>> rss_mib() > 0
        True
    """
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def trace_streaming_memory(batches: Sequence, *, epochs: int = 1) -> pd.DataFrame:
    """Resident memory after each batch while iterating ``batches`` (as ``fit`` would).

    Args:
        batches: An :class:`ImageBatches` (or any sequence of batches ``x`` or ``(x, y)``).
        epochs: Passes over the batches.

    Returns:
        A DataFrame with columns ``images`` (images delivered so far) and ``rss_mib``.

    Example:
        >>> trace = trace_streaming_memory(gan_batches(data))   # doctest: +SKIP
        >>> trace["rss_mib"].max() - trace["rss_mib"].min()     # doctest: +SKIP
        0.4
    """
    images, rows = 0, [(0, rss_mib())]
    for _ in range(epochs):
        for index in range(len(batches)):
            batch = batches[index]
            x = batch[0] if isinstance(batch, tuple) else batch
            images += len(x)
            del batch, x
            rows.append((images, rss_mib()))
        if hasattr(batches, "on_epoch_end"):
            batches.on_epoch_end()
    return pd.DataFrame(rows, columns=["images", "rss_mib"])


def trace_in_memory_loading(data: CelebA, ids: Iterable[str], *,
                            size: int | Sequence[int] = IMAGE_SHAPE[:2], crop: str = "squash",
                            points: int = 50) -> pd.DataFrame:
    """Resident memory while loading images into one float32 array, the report's way.

    The array is preallocated (the kindest version of the in-RAM approach) and freed at the
    end.

    Args:
        data: The data set.
        ids: The images to load.
        size: ``(height, width)`` or one int for a square.
        crop: ``"squash"`` or ``"center"``.
        points: About how many measurements to take.

    Returns:
        A DataFrame with the columns of :func:`trace_streaming_memory`.

    Example:
        >>> trace = trace_in_memory_loading(data, data.attributes.index, size=64)  # doctest: +SKIP
        >>> trace["images"].iloc[-1] == len(data)                                 # doctest: +SKIP
        True
    """
    ids = list(ids)
    height, width = _size_hw(size)
    out = np.empty((len(ids), height, width, 3), dtype=np.float32)
    every = max(1, len(ids) // points)
    rows = [(0, rss_mib())]
    for row, path in enumerate(data.paths(ids)):
        out[row] = decode_image(path, (height, width), crop) / np.float32(255)
        if (row + 1) % every == 0 or row + 1 == len(ids):
            rows.append((row + 1, rss_mib()))
    del out
    return pd.DataFrame(rows, columns=["images", "rss_mib"])
