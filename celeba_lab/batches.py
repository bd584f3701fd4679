"""Batches streamed from the decoded-image cache: :class:`ImageBatches` (a Keras ``PyDataset``),
:func:`classifier_batches` and :func:`gan_batches`; plus the data chapter's memory measurements.

The one module of the data layer that imports Keras (at its top: importing it starts Keras's
backend).
"""

from __future__ import annotations

import math
import mmap
import os
from pathlib import Path
from typing import Iterable, Sequence

import keras
import numpy as np
import pandas as pd
import psutil

from .attributes import IMAGE_SHAPE
from .cache import (_cache_path, _CacheFill, _open_cache, _read_rows, _write_layout,
                    decoded_images, load_images_in_memory)
from .data import CelebA
from .images import _check_crop, _needs_pillow, _size_hw

__all__ = [
    "ImageBatches", "classifier_batches", "gan_batches", "trace_streaming_memory",
    "trace_in_memory_loading",
]

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


def _ram_bytes() -> int:
    return psutil.virtual_memory().total


def _images_for_batches(data: CelebA, ids: Iterable[str], size: int | Sequence[int],
                        crop: str, kwargs: dict, first_rows: np.ndarray | None = None
                        ) -> tuple[np.ndarray, _CacheFill | None, np.ndarray | None]:
    """The cache of ``ids`` for batches: ``(images, fill, row_of)``.

    ``images`` is a complete cache, or one the first epoch fills (:class:`_CacheFill`: a
    missing cache of many images that need no resizing, read by this process alone).
    ``row_of[i]`` is the row holding ``ids[i]`` (``None``: row ``i``). ``first_rows`` lists
    the positions in ``ids`` in the order the first epoch reads them.

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
    except Exception:  # any failure to read the layout (a damaged header): no layout
        valid = False
    path = _cache_path(data, [ids[i] for i in order], size, crop) if valid else None
    cached = _open_cache(path, (len(ids), *size, 3)) if valid and path.is_file() else None
    if cached is None:
        layout.unlink(missing_ok=True)      # its cache is gone or was never finished
        return None
    return cached, None, _inverse(order)


def _cache_file_of(images: np.ndarray) -> tuple[str, int] | None:
    if (hasattr(os, "preadv") and isinstance(images, np.memmap)
            and isinstance(images.base, mmap.mmap) and images.filename
            and images.flags.c_contiguous):
        return str(images.filename), int(images.offset)
    return None


class ImageBatches(keras.utils.PyDataset):
    """Batches of float32 images in [0, 1] streamed from a (memory-mapped) uint8 array.

    A :class:`keras.utils.PyDataset`: pass it to ``model.fit``/``predict`` or iterate it.
    Sample ``j`` is image ``images[rows[j]]`` with target ``targets[j]`` (float32, or no
    targets) and id ``ids[j]``; batch ``i`` holds samples ``order[i * batch_size:(i + 1) *
    batch_size]``, where ``order`` is ``0..N-1`` or, with ``shuffle=True``, a fresh permutation
    each epoch drawn from ``(seed, epoch)``. With ``steps_per_epoch``, an epoch is that many
    full batches: a fresh random subset when shuffling, else the next consecutive slice.

    Attributes:
        images: The uint8 (or float) image array, usually from
            :func:`~celeba_lab.cache.decoded_images`. While the first epoch fills the cache,
            rows it has not reached read as zeros: read batches, not this array.
        epoch: Epochs completed (advanced by ``on_epoch_end``); also ``targets``, ``ids``,
            ``rows`` and ``batch_size``, as above.

    Example:
        >>> x_uint8, y = np.zeros((100, 8, 8, 3), np.uint8), np.arange(100) % 2
        >>> batches = ImageBatches(x_uint8, targets=y, batch_size=32)
        >>> x, y = batches[0]
        >>> len(batches), x.shape, x.dtype, y[:4]
        (4, (32, 8, 8, 3), dtype('float32'), array([0., 1., 0., 1.], dtype=float32))
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

    def __len__(self) -> int:
        if self.steps_per_epoch is not None:
            return int(self.steps_per_epoch)
        return math.ceil(len(self.rows) / self.batch_size)

    @property
    def order(self) -> np.ndarray:
        """Sample positions in this epoch's order (length: batches x batch size, at most)."""
        if self._order_epoch != self.epoch:
            self._order = _epoch_order(len(self.rows), self.epoch, shuffle=self.shuffle,
                                       seed=self.seed, batch_size=self.batch_size,
                                       steps_per_epoch=self.steps_per_epoch)
            self._order_epoch = self.epoch
        return self._order

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
        # The rows of batch index + _READ_AHEAD (the first batch of an epoch: of all batches up
        # to it), so that _READ_AHEAD batches stay announced ahead of the reads (none if 0).
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


def classifier_batches(data: CelebA, labels: pd.Series, *, batch_size: int = 50,
                       shuffle: bool = False, seed: int = 0, one_hot: bool = True,
                       size: int | Sequence[int] = IMAGE_SHAPE[:2], crop: str = "squash",
                       **kwargs) -> ImageBatches:
    """Batches ``(x, y)`` for an attribute classifier, e.g. from a
    :class:`~celeba_lab.data.BalancedSample` split.

    Args:
        data: The data set.
        labels: 0/1 labels indexed by image id (e.g. ``sample.train``).
        batch_size: Images per batch (the report: 50).
        shuffle: Reshuffle every epoch (use for training).
        seed: Seed of the shuffling.
        one_hot: ``y`` as one-hot float32 ``(B, 2)`` (the report's softmax), else ``(B,)``.
        size: Image ``(height, width)``; default the full 218 x 178.
        crop: ``"squash"`` or ``"center"`` (see :func:`~celeba_lab.images.decode_image`).
        **kwargs: Passed to :class:`ImageBatches` (e.g. ``workers``).

    Returns:
        The batches, from the :func:`~celeba_lab.cache.decoded_images` cache. A missing cache
        of 4,096 images or more at their own size (218 x 178) is filled by the first epoch, as
        batches ask for the images; one larger than an eighth of the RAM is laid out in that
        epoch's order, so that it is written from start to end (batches with any seed find it).

    Raises:
        ValueError: a label is not 0 or 1.
        MissingImagesError, CorruptImageError: an image cannot be read.

    Example:
        >>> sample = cl.balanced_sample(data, "Eyeglasses", (200, 20, 20))
        >>> x, y = classifier_batches(data, sample.train, shuffle=True)[0]
        >>> x.shape, y.shape
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
    batches = ImageBatches(images, y, ids=labels.index, rows=rows, batch_size=batch_size,
                           shuffle=shuffle, seed=seed, **kwargs)
    batches._fill = fill
    return batches


def gan_batches(data: CelebA, ids: Iterable[str] | None = None, *, batch_size: int = 32,
                size: int | Sequence[int] = 64, crop: str = "squash", shuffle: bool = True,
                seed: int = 0, conditions: pd.DataFrame | None = None,
                steps_per_epoch: int | None = None, **kwargs) -> ImageBatches:
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
        conditions: Per-image condition columns indexed by image id (e.g.
            ``data.attributes[["Male", "Blond_Hair"]]``); ``c`` is then float32 ``(B, k)``.
        steps_per_epoch: Batches per epoch (a fresh random subset each epoch); default one pass.
        **kwargs: Passed to :class:`ImageBatches`.

    Returns:
        The batches, from the :func:`~celeba_lab.cache.decoded_images` cache (filled by the
        first epoch as :func:`classifier_batches` says).

    Raises:
        KeyError: some ``ids`` are not in the data set.
        ValueError: ``conditions`` does not cover every id.
        MissingImagesError, CorruptImageError: an image cannot be read.

    Example:
        >>> batches = gan_batches(data, data.split("test"), batch_size=32)
        >>> len(batches), batches[0].shape
        (7, (32, 64, 64, 3))
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
    batches = ImageBatches(images, targets, ids=ids, rows=rows, batch_size=batch_size,
                           shuffle=shuffle, seed=seed, steps_per_epoch=steps_per_epoch, **kwargs)
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


# --- memory measurements (for the data chapter and the benchmarks) ---------------------------


def rss_mib() -> float:
    """This process's resident memory (RSS) in MiB, as Colab's RAM meter counts it.

    Returns:
        The RSS in MiB.

    Example:
        >>> rss_mib() > 0
        True
    """
    return psutil.Process().memory_info().rss / 2**20


def trace_streaming_memory(batches: Sequence, *, epochs: int = 1) -> pd.DataFrame:
    """Resident memory after each batch while iterating ``batches`` (as ``fit`` would).

    Args:
        batches: An :class:`ImageBatches` (or any sequence of batches ``x`` or ``(x, y)``).
        epochs: Passes over the batches.

    Returns:
        A DataFrame with columns ``images`` (delivered so far) and ``rss_mib``.

    Example:
        >>> trace = trace_streaming_memory(gan_batches(data, data.split("test")))
        >>> len(trace), int(trace["images"].iloc[-1]), trace.columns.tolist()
        (8, 197, ['images', 'rss_mib'])
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

    The array is preallocated (the kindest version of the in-RAM approach), then freed.

    Args:
        data: The data set.
        ids: The images to load.
        size: ``(height, width)`` or one int for a square.
        crop: ``"squash"`` or ``"center"``.
        points: About how many measurements to take.

    Returns:
        A DataFrame with the columns of :func:`trace_streaming_memory`.

    Example:
        >>> trace = trace_in_memory_loading(data, data.split("test"), size=64)
        >>> int(trace["images"].iloc[-1]) == len(data.split("test"))
        True
    """
    ids = list(ids)
    every = max(1, len(ids) // points)
    rows = [(0, rss_mib())]

    def measure(loaded: int) -> None:
        if loaded % every == 0 or loaded == len(ids):
            rows.append((loaded, rss_mib()))

    load_images_in_memory(data, ids, size=size, crop=crop, progress=measure)  # then freed
    return pd.DataFrame(rows, columns=["images", "rss_mib"])
