"""CelebA on disk → a table of attributes and balanced samples.

:func:`load_celeba` reads a CelebA folder in any of its three layouts (original, Kaggle,
torchvision) into a :class:`CelebA`; :func:`balanced_sample` draws the report's half-positive
samples per official partition. Nothing here imports Keras (decoding and batches live in
:mod:`celeba_lab.images`, :mod:`celeba_lab.cache` and :mod:`celeba_lab.batches`). The data errors
are public here; they are defined in :mod:`celeba_lab._errors` to avoid an import cycle.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from . import config, synthetic
from ._checks import whole_number
from ._errors import (AnnotationError, CacheWriteError, CelebAError, CorruptImageError,
                      DataNotFoundError, MissingImagesError, NotEnoughImagesError,
                      UnknownAttributeError)
from .attributes import ATTRIBUTES, PARTITIONS

__all__ = [
    "CelebA", "load_celeba", "LAYOUT_DESCRIPTIONS", "attribute_prevalence",
    "CELEBA_TEST_PREVALENCE", "BalancedSample", "balanced_sample", "sample_summary", "CelebAError",
    "DataNotFoundError", "AnnotationError", "UnknownAttributeError", "MissingImagesError",
    "CorruptImageError", "NotEnoughImagesError", "CacheWriteError",
]

# --- published facts used for comparison ----------------------------------------------------

#: Percent of positive labels per attribute in real CelebA, over the first 20,000 images of
#: ``list_attr_celeba.txt`` (the project's ``celeba-facts.md``, computed from the original
#: release of Liu et al., "Deep Learning Face Attributes in the Wild", ICCV 2015); the rates
#: :data:`celeba_lab.synthetic.PREVALENCE` gives as fractions, in file order.
CELEBA_PREVALENCE: dict[str, float] = {
    name: round(100 * share, 1) for name, share in synthetic.PREVALENCE.items()}

#: Percent positive among men and among women in real CelebA (first 20,000 images, same
#: source as :data:`CELEBA_PREVALENCE`): ``{attribute: (P(attr | male), P(attr | female))}``.
CELEBA_PREVALENCE_BY_SEX: dict[str, tuple[float, float]] = {
    name: (round(100 * male, 1), round(100 * female, 1))
    for name, (male, female) in synthetic.CONDITIONAL.items()}

#: Percent positive on real CelebA's official test split (same source). Always answering the
#: majority class there scores 61.35 % for Male, 93.54 % for Eyeglasses, 50.03 % for Smiling.
CELEBA_TEST_PREVALENCE: dict[str, float] = {"Male": 38.65, "Eyeglasses": 6.46, "Smiling": 50.03}

# --- attribute names -------------------------------------------------------------------------


def check_attribute(name: str) -> str:
    """Return ``name`` if it is one of CelebA's 40 attributes.

    Args:
        name: An attribute name, spelled as in ``list_attr_celeba.txt`` (e.g. ``"Eyeglasses"``).

    Returns:
        The same name.

    Raises:
        UnknownAttributeError: it is not (the message suggests the closest names, lists all 40).

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


# --- the data set ----------------------------------------------------------------------------

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


@dataclass(eq=False)
class CelebA:
    """CelebA as read from disk: attributes, partitions and image paths.

    Attributes:
        root: The folder given to :func:`load_celeba`.
        layout: ``"original"``, ``"kaggle"`` or ``"torchvision"``.
        image_dir: The folder holding ``000001.jpg`` ...
        attributes: One row per image (index ``image_id``: ``"000001.jpg"`` ...), in file
            order, and the 40 attribute columns as int8 0/1 (``list_attr_celeba`` stores 1/-1).
        partition: Each image's official partition, ``"train"``, ``"validation"`` or ``"test"``.
        fingerprint: A short hex digest of the annotations (it keys the decoded-image cache).
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

    The layout (:data:`LAYOUT_DESCRIPTIONS`) is detected; CRLF and LF line endings are both
    accepted. Given the image folder itself, the CelebA folder that holds it is read instead,
    said in one warning. Reading the full 202,599-row annotation files takes about a second.

    Args:
        root: The folder. Default: ``$CELEBA_ROOT`` (:func:`celeba_lab.config.data_root`), else
            the package's synthetic CelebA for the run profile (written on first use).

    Returns:
        The data set.

    Raises:
        DataNotFoundError: The folder, its images or an annotation file is missing (a folder
            of images alone is named, with the folder to pass instead), or it holds a
            half-written synthetic set.
        AnnotationError: An annotation file is malformed (file, line and what was expected).
        MissingImagesError: Images listed in the annotations are not in the image folder.

    Example:
        >>> data = load_celeba()        # needs $CELEBA_ROOT (real CelebA)  # doctest: +SKIP
        >>> data = load_celeba(data.root)          # a folder: here the examples' synthetic set
        >>> len(data), int(data.attributes.loc["000001.jpg", "Smiling"])
        (2000, 0)
    """
    if root is None:
        root = config.data_root()
    if root is None:
        root = synthetic.ensure_synthetic_celeba(config.get_profile().synthetic_images)
    root = _root_of_image_folder(Path(root).expanduser())
    incomplete = synthetic.incomplete_synthetic(root)
    if incomplete:
        raise DataNotFoundError(incomplete)
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
                   zip(_ANNOTATION_STEMS, (attr_file, part_file)) if found is None]
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
    # The synthetic writer leaves its marker file beside the annotations.
    return any((folder / synthetic.MARKER_FILE).is_file() for folder in {base, root})


# --- annotation files ------------------------------------------------------------------------
# The fast path reads the whole file with pandas' C parser (about a second for 202,599 rows);
# only when that fails or the values are wrong does a slow line-by-line scan run, to name the
# first bad line exactly.

_ATTR_EXPECTED = "an image name followed by 40 values, each 1 or -1"
_PART_EXPECTED = "an image name followed by a partition code 0, 1 or 2"


def _check_utf8(path: Path) -> None:
    """Refuse an annotation file that is not UTF-8 text (a UTF-16 copy, say), naming it."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        ok = b"\x00" not in head
    except UnicodeDecodeError:
        ok = False
    if not ok:
        utf16 = head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or b"\x00" in head
        raise AnnotationError(
            f"{path} is not UTF-8 text{' (it looks like UTF-16)' if utf16 else ''}: CelebA's "
            "annotation files are plain ASCII. Save it again as UTF-8 (for example "
            f"iconv -f UTF-16 -t UTF-8), or use the file as CelebA ships it.")


def _read_header_lines(path: Path, count: int) -> list[str]:
    with open(path, "r", encoding="utf-8-sig", newline=None) as f:
        return [f.readline().rstrip("\r\n") for _ in range(count)]


def _read_attributes(path: Path) -> pd.DataFrame:
    _check_utf8(path)
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
    _check_utf8(path)
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
    def bad_line(fallback: str) -> AnnotationError:
        return _locate_bad_line(path, len(names), header_lines, csv, allowed, expected, fallback)

    try:
        frame = pd.read_csv(
            path, sep="," if csv else r"\s+", skiprows=header_lines, header=None,
            names=["image_id", *names], index_col=0, engine="c", encoding="utf-8-sig",
            dtype={"image_id": str, **{n: value_dtype for n in names}},
        )
    except (ValueError, pd.errors.ParserError, OverflowError) as error:
        raise bad_line(str(error)) from None
    values = frame.to_numpy()
    # A lookup table over the 256 int8 values: np.isin takes 0.15 s on CelebA's attributes.
    valid = np.zeros(256, dtype=bool)
    valid[np.asarray(allowed, dtype=np.int8).view(np.uint8)] = True
    if values.size and not valid[values.astype(np.int8, copy=False).view(np.uint8)].all():
        raise bad_line("values outside " + str(allowed))
    index = frame.index
    if index.hasnans or index.duplicated().any():
        raise bad_line("duplicate or empty image names")
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
        by: An attribute to condition on (e.g. ``"Male"``).
        ids: Restrict to these images (default: all).

    Returns:
        A Series (attribute → percent) or, with ``by``, a DataFrame with columns
        ``f"{by}=1"`` and ``f"{by}=0"`` (percent among each group); rows in file order.

    Raises:
        UnknownAttributeError: ``by`` is not one of the 40 attributes.

    Example:
        >>> round(float(attribute_prevalence(data)["Eyeglasses"]), 2)
        6.85
        >>> attribute_prevalence(data, by="Male").loc["Bald"].round(1)
        Male=1    6.2
        Male=0    0.0
        Name: Bald, dtype: float64
    """
    table = data.attributes if ids is None else data.attributes.loc[pd.Index(ids)]
    if by is None:
        return (table.mean() * 100).rename("percent")
    mask = table[check_attribute(by)].to_numpy() == 1
    return pd.DataFrame({f"{by}=1": table[mask].mean() * 100,
                         f"{by}=0": table[~mask].mean() * 100})


# --- balanced samples ------------------------------------------------------------------------


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

    From each official partition it draws, without replacement, ``size / 2`` images with the
    attribute and ``size / 2`` without, so the splits are disjoint. Each split has its own
    random stream from ``(seed, attribute, partition)``: changing the train size does not
    change the test sample.

    Args:
        data: The data set from :func:`load_celeba`.
        attribute: One of the 40 attributes, e.g. ``"Eyeglasses"``.
        sizes: Train, validation and test sizes, each even (the report: 10,000 / 2,000 / 1,000).
        seed: Seed for the draw; the same seed gives the same sample.

    Returns:
        The three samples as 0/1 label Series indexed by image id, in file order.

    Raises:
        UnknownAttributeError: ``attribute`` is not one of the 40.
        ValueError: a size is odd or negative, or ``seed`` is negative.
        NotEnoughImagesError: a partition has fewer positives or negatives than half its size
            (the message gives the largest size possible).

    Example:
        >>> sample = balanced_sample(data, "Eyeglasses", (200, 20, 20))
        >>> sample.sizes, float(sample.train.mean())
        ({'train': 200, 'validation': 20, 'test': 20}, 0.5)
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
        ``percent_positive``, ``in_own_partition`` (images from that split's partition),
        ``labels_match`` (as the data set's) and ``shared_with_other_splits``.

    Example:
        >>> sample = balanced_sample(data, "Smiling", (800, 100, 100))
        >>> sample_summary(data, sample)["percent_positive"].tolist()
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
