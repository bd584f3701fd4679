"""The decoded-image cache (:mod:`celeba_lab.cache`): its files, reuse, checksums, decoding in
threads and in worker processes, interrupted and killed writers, a full disk."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from celeba_lab import cache as C, config, data as D, images as I
from hand_celeba import N_HAND, _assert_says_disk_full, _cache_files, recognise


def test_decoded_images_shape_order_and_read_only(hand_data):
    ids = list(hand_data.attributes.index[::-1][:10])
    images = C.decoded_images(hand_data, ids, size=64)
    assert images.shape == (10, 64, 64, 3) and images.dtype == np.uint8
    assert isinstance(images, np.memmap) and not images.flags.writeable
    assert list(recognise(images / 255.0)) == list(range(29, 19, -1))
    full = C.decoded_images(hand_data, ids[:2])
    assert full.shape == (2, 218, 178, 3)


def test_cache_is_reused_without_decoding(hand_data, monkeypatch):
    ids = list(hand_data.attributes.index[:8])
    first = C.decoded_images(hand_data, ids, size=32)

    def refuse(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(C, "decode_image", refuse)
    again = C.decoded_images(hand_data, ids, size=32)
    assert again.filename == first.filename
    np.testing.assert_array_equal(again, first)
    files = list((config.cache_dir() / "images").iterdir())
    assert sorted(p.suffix for p in files) == [".crc", ".npy"]   # the cache and its checksums


def test_interrupted_write_leaves_nothing_trusted(hand_data, monkeypatch):
    ids = list(hand_data.attributes.index)
    real_decode = I.decode_image
    calls = []

    def dying(path, size, crop):
        calls.append(path)
        if len(calls) == 12:
            raise KeyboardInterrupt   # the reader stops the build half-way
        return real_decode(path, size, crop)

    monkeypatch.setattr(C, "_CHUNK_BYTES", 5 * 32 * 32 * 3)  # several chunks
    monkeypatch.setattr(C, "decode_image", dying)
    with pytest.raises(KeyboardInterrupt):
        C.decoded_images(hand_data, ids, size=32, workers=1)
    folder = config.cache_dir() / "images"
    assert list(folder.iterdir()) == []
    monkeypatch.setattr(C, "decode_image", real_decode)
    images = C.decoded_images(hand_data, ids, size=32)
    assert list(recognise(images / 255.0)) == list(range(N_HAND))


def test_temp_file_of_a_killed_process_is_ignored_then_cleaned(hand_data):
    ids = list(hand_data.attributes.index[:4])
    folder = config.cache_dir() / "images"
    folder.mkdir(parents=True, exist_ok=True)
    key = C._cache_key(hand_data, ids, (32, 32), "squash")
    final = f"{key}-4x32x32.npy"
    # What a process killed mid-write leaves: a half-written array under a temporary name.
    fresh = folder / f".{final}.abc123.tmp.npy"
    np.save(fresh, np.zeros((4, 32, 32, 3), np.uint8))
    stale = folder / f".{final}.old999.tmp.npy"
    np.save(stale, np.zeros((4, 32, 32, 3), np.uint8))
    old = time.time() - C._STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    images = C.decoded_images(hand_data, ids, size=32)
    assert list(recognise(images / 255.0)) == [0, 1, 2, 3]    # decoded, not the zeros
    assert fresh.exists() and not stale.exists()               # a live writer's file is kept


def test_corrupt_image_in_a_later_block_stops_the_threads_and_is_named(hand_root, tmp_cache,
                                                                       monkeypatch):
    bad = hand_root / "img_align_celeba" / "000023.jpg"
    bad.write_bytes(bad.read_bytes()[:-300])   # header intact, scan data cut short
    monkeypatch.setattr(C, "_CHUNK_BYTES", 6 * 32 * 32 * 3)   # blocks of 3 images
    data = D.load_celeba(hand_root)
    with pytest.raises(D.CorruptImageError, match="000023.jpg"):
        C.decoded_images(data, data.attributes.index, size=32, workers=2)
    assert list((config.cache_dir() / "images").iterdir()) == []


def _spy_on_processes(monkeypatch) -> list:
    """Record every pool of decoding processes made (to check they ran, and stopped)."""
    from celeba_lab import _decoding

    pools = []
    real = _decoding.DecodingProcesses.__init__

    def recording(self, *args, **kwargs):
        real(self, *args, **kwargs)
        pools.append(self)

    monkeypatch.setattr(_decoding.DecodingProcesses, "__init__", recording)
    return pools


def test_cache_filled_by_processes_has_the_threads_pixels(synthetic_data, tmp_cache,
                                                         monkeypatch):
    ids = list(synthetic_data.attributes.index[:300])
    threads = np.array(C.decoded_images(synthetic_data, ids, size=64, workers=2))
    shutil.rmtree(config.cache_dir() / "images")
    pools = _spy_on_processes(monkeypatch)
    monkeypatch.setattr(C, "_PROCESSES_FROM", 100)
    monkeypatch.setattr(C, "_DECODE_RUN", 16)        # 19 tasks shared by the 3 processes
    processes = C.decoded_images(synthetic_data, ids, size=64, workers=3)
    assert len(pools) == 1 and len(pools[0].processes) == 3
    assert all(p.poll() == 0 for p in pools[0].processes)       # all exited cleanly
    np.testing.assert_array_equal(processes, threads)
    assert isinstance(processes, np.memmap) and not processes.flags.writeable


def test_processes_are_used_only_when_the_images_need_a_resize(synthetic_data, tmp_cache,
                                                               monkeypatch):
    ids = list(synthetic_data.attributes.index[:20])
    pools = _spy_on_processes(monkeypatch)
    monkeypatch.setattr(C, "_PROCESSES_FROM", 10)
    C.decoded_images(synthetic_data, ids, workers=2)           # CelebA's own 218 x 178
    assert pools == []
    C.decoded_images(synthetic_data, ids, size=(218, 178), crop="center", workers=2)
    C.decoded_images(synthetic_data, ids[:9], size=64, workers=2)   # too few to start them
    assert len(pools) == 1


def test_a_worker_process_error_names_the_file_and_leaves_no_cache(hand_root, tmp_cache,
                                                                   monkeypatch):
    images = hand_root / "img_align_celeba"
    bad = images / "000023.jpg"
    bad.write_bytes(bad.read_bytes()[:-300])   # header intact, scan data cut short
    pools = _spy_on_processes(monkeypatch)
    monkeypatch.setattr(C, "_PROCESSES_FROM", 4)
    monkeypatch.setattr(C, "_DECODE_RUN", 4)
    data = D.load_celeba(hand_root)
    with pytest.raises(D.CorruptImageError, match="000023.jpg"):
        C.decoded_images(data, data.attributes.index, size=32, workers=2)
    assert list((config.cache_dir() / "images").iterdir()) == []
    assert pools and all(p.poll() is not None for p in pools[0].processes)
    (images / "000007.jpg").unlink()
    with pytest.raises(D.MissingImagesError, match="000007.jpg"):
        C.decoded_images(data, data.attributes.index[:10], size=32, workers=2)


def test_workers_that_cannot_run_leave_the_work_to_threads(synthetic_data, tmp_cache,
                                                          monkeypatch, tmp_path):
    # A Python that cannot run the worker (here: one that exits at once) must not lose the
    # reader's run: a warning, and the threads decode everything.
    ids = list(synthetic_data.attributes.index[:40])
    expected = np.array(C.decoded_images(synthetic_data, ids, size=64, workers=1))
    shutil.rmtree(config.cache_dir() / "images")
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(broken))
    monkeypatch.setattr(C, "_PROCESSES_FROM", 10)
    with pytest.warns(RuntimeWarning, match=r"exit status 3.*threads instead"):
        images = C.decoded_images(synthetic_data, ids, size=64, workers=2)
    np.testing.assert_array_equal(images, expected)


def test_in_memory_baseline_matches_cache(hand_data):
    ids = list(hand_data.attributes.index[:5])
    in_ram = C.load_images_in_memory(hand_data, ids, size=32)
    assert in_ram.dtype == np.float32
    np.testing.assert_allclose(in_ram, C.decoded_images(hand_data, ids, size=32) / 255.0,
                               atol=1e-6)


# ---------------------------------------------------------------------------------------------
# The cache follows the images' content, and damaged caches are rebuilt


def test_an_image_rewritten_in_place_is_decoded_again_and_its_old_cache_removed(hand_data):
    ids = list(hand_data.attributes.index[:6])
    assert list(recognise(C.decoded_images(hand_data, ids, size=32) / 255.0)) == list(range(6))
    first = _cache_files("*.npy")
    # An unrelated file beside the images changes nothing: the same cache is used.
    (hand_data.image_dir / "notes.txt").write_text("hello")
    C.decoded_images(hand_data, ids, size=32)
    assert _cache_files("*.npy") == first
    # Image 2 rewritten in place with image 9's pixels (its folder keeps its listing).
    target = hand_data.path(ids[2])
    target.write_bytes(hand_data.path(hand_data.attributes.index[9]).read_bytes())
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    again = C.decoded_images(hand_data, ids, size=32)
    assert list(recognise(again / 255.0)) == [0, 1, 9, 3, 4, 5]
    assert len(_cache_files("*.npy")) == 1 and _cache_files("*.npy") != first


@pytest.mark.parametrize("damage", ["flip bytes", "zero a row", "empty file",
                                    "lose the checksums", "overwrite the header"])
def test_a_damaged_cache_is_detected_said_and_rebuilt(hand_data, damage):
    ids = list(hand_data.attributes.index[:6])
    C.decoded_images(hand_data, ids, size=32)
    path = config.cache_dir() / "images" / _cache_files("*.npy")[0]
    if damage == "flip bytes":
        with open(path, "r+b") as f:
            f.seek(path.stat().st_size - 3 * 32 * 32 * 3 + 100)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0xFF]))
    elif damage == "zero a row":
        with open(path, "r+b") as f:
            f.seek(path.stat().st_size - 32 * 32 * 3)
            f.write(bytes(32 * 32 * 3))
    elif damage == "empty file":
        path.write_bytes(b"")
    elif damage == "overwrite the header":   # numpy raises tokenize.TokenError on it
        with open(path, "r+b") as f:
            f.seek(20)
            f.write(b"((((")
    else:
        path.with_suffix(".crc").unlink()
    C._VERIFIED.clear()   # as in a new process
    with pytest.warns(RuntimeWarning, match=f"image cache .*{path.name} is damaged"):
        images = C.decoded_images(hand_data, ids, size=32)
    assert list(recognise(images / 255.0)) == list(range(6))
    C._VERIFIED.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        C.decoded_images(hand_data, ids, size=32)     # rebuilt whole: no second warning


def test_temp_files_of_dead_processes_are_removed_at_once(hand_data):
    ids = list(hand_data.attributes.index[:4])
    folder = config.cache_dir() / "images"
    folder.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    final = f"{C._cache_key(hand_data, ids, (32, 32), 'squash')}-4x32x32.npy"
    orphan = folder / f".{final}.{dead.pid}.k2j4x9ab.tmp.npy"       # its writer was killed
    alive = folder / f".{final}.{os.getppid()}.q8w7e6rt.tmp.npy"    # its writer still works
    for temp in (orphan, alive):
        np.save(temp, np.zeros((4, 32, 32, 3), np.uint8))
    C.decoded_images(hand_data, ids, size=32)
    assert not orphan.exists() and alive.exists()


@pytest.mark.parametrize("quota", [False, True])
def test_a_full_disk_while_threads_fill_the_cache_is_one_clear_error(hand_data, monkeypatch,
                                                                     quota):
    ids = list(hand_data.attributes.index)
    monkeypatch.setattr(C, "_CHUNK_BYTES", 6 * 32 * 32 * 3)   # blocks of 3 images
    code = errno.EDQUOT if quota else errno.ENOSPC
    writes = []

    def filling_up(self, out, offset):
        writes.append(self.start)
        if len(writes) == 3:
            raise OSError(code, os.strerror(code))

    monkeypatch.setattr(C._DecodingBlock, "write_to", filling_up)
    with pytest.raises(D.CacheWriteError) as raised:
        C.decoded_images(hand_data, ids, size=32, workers=2)
    assert raised.value.errno == code and os.strerror(code) in str(raised.value)
    if not quota:
        _assert_says_disk_full(raised.value, N_HAND * 32 * 32 * 3)
    assert _cache_files() == []                  # the partial temporary file is gone


_FULL_DISK_IN_WORKERS = '''
import builtins, errno, os

_open = builtins.open


class _Full:
    """The cache file, on a disk that is full: every write fails."""

    def __init__(self, file):
        self.file = file

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def seek(self, *args):
        return self.file.seek(*args)

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _open_on_a_full_disk(file, mode="r", *args, **kwargs):
    opened = _open(file, mode, *args, **kwargs)
    return _Full(opened) if mode == "r+b" and str(file).endswith(".tmp.npy") else opened


builtins.open = _open_on_a_full_disk
'''


def test_a_full_disk_in_the_decoding_processes_is_one_clear_error_without_threads(
        synthetic_data, tmp_cache, monkeypatch, tmp_path):
    # The decoding processes (separate programs) meet the full disk; a sitecustomize module,
    # found through PYTHONPATH, makes their writes to the cache file fail as a full disk does.
    site = tmp_path / "full-disk"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_FULL_DISK_IN_WORKERS)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]))
    pools = _spy_on_processes(monkeypatch)
    monkeypatch.setattr(C, "_PROCESSES_FROM", 10)
    monkeypatch.setattr(C, "_DECODE_RUN", 8)
    decoded_here = []
    real_decode = I.decode_image
    monkeypatch.setattr(C, "decode_image", lambda *a: decoded_here.append(a) or real_decode(*a))
    ids = list(synthetic_data.attributes.index[:40])
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # no "decoding with threads instead"
        with pytest.raises(D.CacheWriteError) as raised:
            C.decoded_images(synthetic_data, ids, size=64, workers=2)
    _assert_says_disk_full(raised.value, 40 * 64 * 64 * 3)
    assert len(pools) == 1 and all(p.poll() == 0 for p in pools[0].processes)
    assert decoded_here == []                    # not decoded a second time, with threads
    assert _cache_files() == []
