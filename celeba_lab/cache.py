"""The decoded-image cache: each list of images decoded once into a memory-mapped ``.npy`` file.

:func:`decoded_images` fills a cache file under :func:`~celeba_lab.config.images_dir` (in
threads, or in the worker processes of :mod:`celeba_lab._decoding`), renamed into place only
when complete, with a crc32 per row beside it. :class:`_CacheFill` is the variant the first
epoch of :mod:`celeba_lab.batches` fills as it reads. :func:`load_images_in_memory` is the
report's way, kept as a baseline. Nothing here imports Keras.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import sys
import tempfile
import threading
import time
import warnings
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

from . import config
from ._decoding import DecodingProcesses, WorkerStopped
from ._errors import CacheWriteError, CorruptImageError
from ._io import (DISK_FULL, atomic_path, disk_full_error, remove_temporaries,
                  write_bytes_atomic)
from .attributes import IMAGE_SHAPE
from .images import _check_crop, _needs_pillow, _size_hw, decode_image

if TYPE_CHECKING:      # annotations only: the cache reads a data set's paths, nothing more
    from .data import CelebA

__all__ = [
    "decoded_images", "load_images_in_memory",
]

#: Bumped whenever decoding changes, so that older caches are not reused.
CACHE_FORMAT_VERSION = 2
_CHUNK_BYTES = 64 * 2**20          # decoded pixels held in RAM at once while filling a cache
_STALE_TEMP_SECONDS = 6 * 3600     # temp files older than this are left by a killed process
_PROGRESS_FROM = 20_000            # report progress when decoding at least this many images
# Decode in worker processes from this many images (threads below: a process takes ~0.5 s to
# start, while two threads decode ~1,000 images in that time).
_PROCESSES_FROM = 4_096
_DECODE_RUN = 64                   # images one decoding thread takes at a time


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
    return config.images_dir()


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

    The first call decodes the images (at most about 64 MB of pixels in RAM) into a temporary
    ``.npy`` file under ``config.images_dir()``, renamed into place only when complete. Later
    calls, in any process, with the same data, ids, size and crop open that file
    memory-mapped: nothing is decoded again or loaded into RAM until it is read. A run killed
    while writing leaves only a temporary file, never read (and removed once stale).

    Args:
        data: The data set.
        ids: Image ids, in the order wanted (repeats allowed).
        size: ``(height, width)`` or one int for a square; default CelebA's 218 x 178.
        crop: ``"squash"`` (resize the whole image, as the report did) or ``"center"``.
        workers: Decoding threads (default: one per CPU, at most 8) or, for 4,096 images or
            more that need resizing, processes (default twice as many, at most 8: they are not
            held back by the GIL).
        progress: Print progress while decoding (default: for 20,000 images or more).

    Returns:
        A read-only memory-mapped uint8 array of shape ``(len(ids), height, width, 3)``.

    Raises:
        MissingImagesError, CorruptImageError: an image is missing or cannot be decoded.
        CacheWriteError: the cache's disk is full (the message says how much space it needs);
            the partial cache file is removed.

    Example:
        >>> x = decoded_images(data, data.split("test")[:100], size=64)
        >>> x.shape, x.dtype
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


@contextlib.contextmanager
def _saying_disk_full(folder: Path, needed: int):
    """Turn a full disk met in the block into one :class:`~celeba_lab.data.CacheWriteError`
    (its temporary files are removed by the block itself); any other error passes unchanged."""
    try:
        yield
    except CacheWriteError:
        raise
    except OSError as error:
        if error.errno not in DISK_FULL:
            raise
        raise disk_full_error(
            error, f"the image cache in {folder}", folder, needed,
            f"set {config.IMAGES_ENV} (or {config.CACHE_ENV}) to a folder on a larger disk "
            "(before the first call)", "The partial cache file was removed.") from error


def _cache_path(data: CelebA, ids: list[str], size: tuple[int, int], crop: str) -> Path:
    folder = _images_cache_dir()
    # A killed process leaves its temporary (.name.PID.XXXX.tmp.npy): a dead pid's goes at once,
    # one naming no pid once it is old.
    remove_temporaries(folder, ".*.tmp.npy", unnamed_after=_STALE_TEMP_SECONDS)
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
    except Exception as error:  # whatever numpy raises on a damaged header or body (a
        # tokenize.TokenError, say): a cache that cannot be opened is a damaged cache
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

    About 64 MB of pixels (one block being decoded, the one before being written), however
    many images are decoded. Decoding processes, where used, hold 64 images each.

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
    offset = np.lib.format.open_memmap(temp, mode="w+", dtype=np.uint8,
                                       shape=(n, height, width, 3)).offset   # then closed
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


def _fill_in_processes(temp: Path, offset: int, data: CelebA, ids: list[str],
                       size: tuple[int, int], crop: str, workers: int, progress: bool,
                       started: float) -> bool:
    """Fill the cache with ``workers`` decoding processes, each writing its rows into the file
    (see :mod:`celeba_lab._decoding`); ``False`` when no process could be started."""
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
    epoch, at 1.30 times (this project's 2-core machine). Once every row is written, a thread
    of its own flushes the file and moves it into place (with the ``.order.npy`` file of a
    cache laid out in the first epoch's order); until then no other call reads it. If the
    batches are dropped before that (an interrupted epoch), the temporary file is deleted.
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
        self.offset = np.lib.format.open_memmap(self.temp, mode="w+", dtype=np.uint8,
                                                shape=(n, *size, 3)).offset
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


def _write_layout(path: Path, order: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(order, dtype=np.int64))
    write_bytes_atomic(path, buffer.getvalue())


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


def load_images_in_memory(data: CelebA, ids: Iterable[str], *,
                          size: int | Sequence[int] = IMAGE_SHAPE[:2], crop: str = "squash",
                          progress: Callable[[int], object] | None = None) -> np.ndarray:
    """The report's way, kept as a baseline: decode every image into one float32 array in RAM.

    Needs ``len(ids) * height * width * 3 * 4`` bytes: 94 GB for all of CelebA at 218 x 178,
    which is why the report ran out of memory. Use :func:`decoded_images` and
    :class:`~celeba_lab.batches.ImageBatches` instead.

    Args:
        data: The data set.
        ids: The images, in order.
        size: ``(height, width)`` or one int for a square.
        crop: ``"squash"`` or ``"center"``.
        progress: Called with the number of images loaded after each one.

    Returns:
        A float32 array ``(len(ids), height, width, 3)`` in [0, 1].

    Example:
        >>> x = load_images_in_memory(data, data.split("test")[:100], size=64)
        >>> x.nbytes / 2**20
        4.6875
    """
    ids = list(ids)
    height, width = _size_hw(size)
    out = np.empty((len(ids), height, width, 3), dtype=np.float32)
    for row, path in enumerate(data.paths(ids)):
        out[row] = decode_image(path, (height, width), crop) / np.float32(255)
        if progress is not None:
            progress(row + 1)
    return out
