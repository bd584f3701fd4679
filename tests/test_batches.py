"""The batches (:mod:`celeba_lab.batches`): what they carry, their order, the first epoch that
fills a missing cache, read-ahead, Keras, and the memory traces."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from celeba_lab import batches as B, cache as C, config, data as D, images as I
from hand_celeba import N_HAND, _assert_says_disk_full, _cache_files, _disk_full, recognise


def test_first_epoch_fills_a_large_missing_cache_as_it_reads(synthetic_data, tmp_cache,
                                                             monkeypatch):
    # CelebA's own 218 x 178, many images, no cache: the batches' first epoch decodes each
    # image when first asked for (a few batches ahead), serves it and writes it to its row.
    monkeypatch.setattr(B, "_STREAM_FROM", 100)
    labels = synthetic_data.labels("Male", synthetic_data.attributes.index[:230])
    batches = B.classifier_batches(synthetic_data, labels, batch_size=20, shuffle=True, seed=3)
    assert batches._fill is not None
    assert _cache_files("*.npy") == []                       # nothing decoded yet
    for index in range(len(batches)):
        x, y = batches[index]
        expected = np.stack([I.decode_image(synthetic_data.path(i))
                             for i in batches.batch_ids(index)])
        np.testing.assert_array_equal(np.round(x * 255).astype(np.uint8), expected)
        np.testing.assert_array_equal(y[:, 1], labels[batches.batch_ids(index)].to_numpy())
    fill = batches._fill
    assert fill.complete and fill.remaining == 0
    fill.finished.join()                    # flushed and moved into place by its own thread
    assert len(_cache_files("*.npy")) == 1 and _cache_files(".*.tmp.npy") == []
    # The file is the cache decoded_images reads: same key, every row decoded.
    cached = C.decoded_images(synthetic_data, labels.index)
    assert str(cached.filename).endswith(_cache_files("*.npy")[0])
    ids = labels.index[::23]
    np.testing.assert_array_equal(cached[::23], np.stack([I.decode_image(
        synthetic_data.path(i)) for i in ids]))
    # Later epochs, and new batches over the same ids, read the finished cache.
    batches.on_epoch_end()
    x, _ = batches[0]
    np.testing.assert_array_equal(np.round(x * 255).astype(np.uint8), np.stack(
        [I.decode_image(synthetic_data.path(i)) for i in batches.batch_ids(0)]))
    assert B.classifier_batches(synthetic_data, labels, batch_size=20)._fill is None


def test_first_epoch_fill_is_used_only_where_it_helps(synthetic_data, tmp_cache, monkeypatch):
    monkeypatch.setattr(B, "_STREAM_FROM", 100)
    ids = synthetic_data.attributes.index[:150]
    labels = synthetic_data.labels("Male", ids)
    # A resize (the GAN's 64 x 64) is Pillow's work: decoded before, by processes or threads.
    assert B.gan_batches(synthetic_data, ids, size=64)._fill is None
    # Batches read by other processes cannot share the filling.
    assert B.classifier_batches(synthetic_data, labels, use_multiprocessing=True,
                                workers=2)._fill is None
    assert len(_cache_files("*.npy")) == 2
    # Too few images: decoded before the epoch, as always.
    assert B.classifier_batches(synthetic_data, labels[:99])._fill is None
    # Up to an eighth of the RAM the cache keeps the order of the ids, beyond it the order of
    # the first epoch (where scattered writes would wait for the disk).
    monkeypatch.setattr(B, "_ram_bytes", lambda: 8 * 218 * 178 * 3 * 120)
    within = B.classifier_batches(synthetic_data, labels[:120], shuffle=True)
    beyond = B.classifier_batches(synthetic_data, labels[:121], shuffle=True)
    assert within._fill is not None and beyond._fill is not None
    assert np.array_equal(within.rows, np.arange(120))
    assert np.array_equal(beyond.rows[beyond.order], np.arange(121))


def _served(batches, index: int) -> np.ndarray:
    x = batches[index][0] if isinstance(batches[index], tuple) else batches[index]
    return np.round(x * 255).astype(np.uint8)


def _decoded(data, ids) -> np.ndarray:
    """The images ``ids`` decoded one by one (by the real decoder, even when a test has
    replaced the package's)."""
    return np.stack([_DECODE_IMAGE(data.path(i)) for i in ids])


_DECODE_IMAGE = I.decode_image


def test_a_complete_fill_has_published_the_thread_that_saves_it(synthetic_data, tmp_cache,
                                                                 monkeypatch):
    # A reader checks ``complete`` without the lock; the moment it is True, the thread that
    # moves the cache into place must be there to join (even while that thread is starting:
    # a slow start once left ``finished`` None to a test under PyTorch).
    import threading
    import time

    monkeypatch.setattr(B, "_STREAM_FROM", 100)
    labels = synthetic_data.labels("Male", synthetic_data.attributes.index[:120])
    batches = B.classifier_batches(synthetic_data, labels, batch_size=20, seed=3)
    fill = batches._fill
    assert fill is not None
    start = threading.Thread.start

    def slow_start(thread):
        if thread.name == "celeba-cache-finish":
            time.sleep(0.5)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", slow_start)
    fill.decode_ahead(np.arange(len(labels)))
    seen_complete = False
    for _ in range(2000):
        if fill.complete:
            seen_complete = True
            assert fill.finished is not None
            break
        time.sleep(0.005)
    assert seen_complete
    fill.finished.join()
    assert len(_cache_files("*.npy")) == 1


def _layout_from_100_images(monkeypatch) -> None:
    # A machine with the RAM of 100 classifier images: a cache of 100 images or more is filled
    # by the first epoch and, beyond an eighth of that RAM, laid out in the epoch's order.
    monkeypatch.setattr(B, "_STREAM_FROM", 100)
    monkeypatch.setattr(B, "_ram_bytes", lambda: 100 * 218 * 178 * 3)


def test_a_cache_beyond_the_ram_share_is_laid_out_in_the_first_epochs_order(
        synthetic_data, tmp_cache, monkeypatch):
    # A cache larger than an eighth of the RAM: the first epoch writes it from start to end,
    # each image at the place the epoch reaches it, and batches read it through their rows.
    _layout_from_100_images(monkeypatch)
    labels = synthetic_data.labels("Male", synthetic_data.attributes.index[:230])
    batches = B.classifier_batches(synthetic_data, labels, batch_size=20, shuffle=True, seed=3)
    assert batches._fill is not None
    for index in range(len(batches)):
        np.testing.assert_array_equal(_served(batches, index),
                                      _decoded(synthetic_data, batches.batch_ids(index)))
        np.testing.assert_array_equal(batches[index][1][:, 1],
                                      labels[batches.batch_ids(index)].to_numpy())
    batches._fill.finished.join()
    assert _cache_files(".*.tmp*") == []
    caches = _cache_files("*.npy")
    assert len(caches) == 2 and sum(n.endswith(".order.npy") for n in caches) == 1
    # The file holds the images in the order the first epoch read them...
    first_epoch = labels.index[batches.order]
    pixels = np.load(config.cache_dir() / "images" / next(
        n for n in caches if not n.endswith(".order.npy")), mmap_mode="r")
    np.testing.assert_array_equal(pixels[:5], _decoded(synthetic_data, first_epoch[:5]))
    np.testing.assert_array_equal(pixels[-3:], _decoded(synthetic_data, first_epoch[-3:]))
    # ... and, through their rows, later epochs and new batches with any seed read it:
    # nothing is decoded again.
    batches.on_epoch_end()
    np.testing.assert_array_equal(_served(batches, 2),
                                  _decoded(synthetic_data, batches.batch_ids(2)))
    monkeypatch.setattr(C, "decode_image", _no_decoding)
    for seed, shuffle in ((3, True), (8, True), (0, False)):
        again = B.classifier_batches(synthetic_data, labels, batch_size=20, shuffle=shuffle,
                                     seed=seed)
        assert again._fill is None and again.images.filename == pixels.filename
        np.testing.assert_array_equal(_served(again, 4),
                                      _decoded(synthetic_data, again.batch_ids(4)))


def _no_decoding(*args, **kwargs):
    raise AssertionError("decoded again")


def test_a_gan_cache_in_the_first_epochs_order_serves_repeated_ids(
        synthetic_data, tmp_cache, monkeypatch):
    # Repeated ids (attribute-balanced resampling) share one row, wherever the layout puts it.
    _layout_from_100_images(monkeypatch)
    base = synthetic_data.attributes.index[:150]
    ids = base.append(base[:40])
    batches = B.gan_batches(synthetic_data, ids, size=(218, 178), batch_size=19, seed=5)
    assert batches._fill is not None and batches.images.shape[0] == 150
    for index in range(len(batches)):
        np.testing.assert_array_equal(_served(batches, index),
                                      _decoded(synthetic_data, batches.batch_ids(index)))
    batches._fill.finished.join()
    monkeypatch.setattr(C, "decode_image", _no_decoding)
    again = B.gan_batches(synthetic_data, ids, size=(218, 178), batch_size=19, seed=1)
    assert again._fill is None
    np.testing.assert_array_equal(_served(again, 3),
                                  _decoded(synthetic_data, again.batch_ids(3)))


def test_an_order_file_whose_cache_is_gone_is_filled_again(synthetic_data, tmp_cache,
                                                           monkeypatch):
    _layout_from_100_images(monkeypatch)
    labels = synthetic_data.labels("Smiling", synthetic_data.attributes.index[:120])
    first = B.classifier_batches(synthetic_data, labels, batch_size=30, shuffle=True)
    for index in range(len(first)):
        first[index]
    first._fill.finished.join()
    folder = config.cache_dir() / "images"
    order_file = next(folder.glob("*.order.npy"))
    first._fill.path.unlink()                               # the cache, deleted by hand
    again = B.classifier_batches(synthetic_data, labels, batch_size=30, shuffle=True, seed=2)
    assert again._fill is not None                          # decoded again, in its own order
    assert not order_file.exists() or not np.array_equal(np.load(order_file),
                                                         np.argsort(again.rows))
    for index in range(len(again)):
        np.testing.assert_array_equal(_served(again, index),
                                      _decoded(synthetic_data, again.batch_ids(index)))
    again._fill.finished.join()
    np.testing.assert_array_equal(np.load(next(folder.glob("*.order.npy"))),
                                  np.argsort(again.rows))
    # An order file lost after its cache was finished (a run killed between the two writes)
    # is written again from the cache: nothing is decoded.
    next(folder.glob("*.order.npy")).unlink()
    monkeypatch.setattr(C, "decode_image", _no_decoding)
    same = B.classifier_batches(synthetic_data, labels, batch_size=30, shuffle=True, seed=2)
    assert same._fill is None and np.array_equal(same.rows, again.rows)
    np.testing.assert_array_equal(np.load(next(folder.glob("*.order.npy"))),
                                  np.argsort(again.rows))
    monkeypatch.undo()
    # A damaged order file is not trusted: batches in another order decode again.
    _layout_from_100_images(monkeypatch)
    next(folder.glob("*.order.npy")).write_bytes(b"not an array")
    assert B.classifier_batches(synthetic_data, labels, batch_size=30,
                                shuffle=True)._fill is not None


def test_batches_read_by_several_threads_while_filling_get_the_right_images(
        synthetic_data, tmp_cache, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(B, "_STREAM_FROM", 100)
    labels = synthetic_data.labels("Smiling", synthetic_data.attributes.index[:300])
    batches = B.classifier_batches(synthetic_data, labels, batch_size=16, shuffle=True)
    with ThreadPoolExecutor(4) as pool:          # as Keras's workers=4 reads them
        got = list(pool.map(lambda i: batches[i][0], range(len(batches))))
    for index in (0, 7, len(batches) - 1):
        np.testing.assert_array_equal(np.round(got[index] * 255).astype(np.uint8), np.stack(
            [I.decode_image(synthetic_data.path(i)) for i in batches.batch_ids(index)]))
    batches._fill.finished.join()
    assert len(_cache_files("*.npy")) == 1


def test_an_interrupted_first_epoch_leaves_no_files(synthetic_data, tmp_cache, monkeypatch):
    import gc

    monkeypatch.setattr(B, "_STREAM_FROM", 100)
    labels = synthetic_data.labels("Male", synthetic_data.attributes.index[:200])
    batches = B.classifier_batches(synthetic_data, labels, batch_size=20, shuffle=True)
    batches[0], batches[1]
    assert _cache_files(".*.tmp.npy") != []        # being filled
    del batches
    # Deleted once the decoding already in flight (a few batches ahead) has ended.
    deadline = time.monotonic() + 30
    while _cache_files() and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.05)
    assert _cache_files() == []


def test_a_corrupt_image_in_the_first_epoch_names_the_file_and_leaves_no_cache(
        hand_root, tmp_cache, monkeypatch):
    images = hand_root / "img_align_celeba"
    bad = images / "000023.jpg"
    bad.write_bytes(bad.read_bytes()[:-300])   # header intact, scan data cut short
    monkeypatch.setattr(B, "_STREAM_FROM", 4)
    data = D.load_celeba(hand_root)
    size = I.decode_image(images / "000001.jpg").shape[:2]     # the files' own size
    labels = data.labels("Male")
    batches = B.classifier_batches(data, labels, batch_size=5, size=size)
    assert batches._fill is not None
    with pytest.raises(D.CorruptImageError, match="000023.jpg"):
        for index in range(len(batches)):
            batches[index]
    assert _cache_files() == []
    with pytest.raises(D.CorruptImageError, match="000023.jpg"):   # and it says so again
        batches[len(batches) - 1]


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------


def test_classifier_batches_carry_each_image_label(hand_data):
    labels = hand_data.labels("Male")          # image i has Male = i % 2
    batches = B.classifier_batches(hand_data, labels, batch_size=8, shuffle=True, seed=1,
                                   size=(48, 40))
    assert len(batches) == 4
    seen = []
    for epoch in range(2):
        order = []
        for i in range(len(batches)):
            x, y = batches[i]
            assert x.dtype == np.float32 and y.dtype == np.float32
            assert x.shape[1:] == (48, 40, 3) and y.shape[1:] == (2,)
            assert 0.0 <= x.min() and x.max() <= 1.0
            which = recognise(x)
            np.testing.assert_array_equal(y.argmax(axis=1), which % 2)   # label of that image
            assert list(batches.batch_ids(i)) == [f"{k + 1:06d}.jpg" for k in which]
            order.extend(which)
        assert sorted(order) == list(range(N_HAND))     # every image once per epoch
        seen.append(order)
        batches.on_epoch_end()
    assert seen[0] != seen[1]                             # reshuffled
    x, y = batches[len(batches) - 1]
    assert len(x) == N_HAND - 3 * 8                       # last, partial batch
    with pytest.raises(IndexError):
        batches[len(batches)]


def test_classifier_batches_plain_labels_and_fixed_order(hand_data):
    labels = hand_data.labels("Male", hand_data.attributes.index[5:15])
    batches = B.classifier_batches(hand_data, labels, batch_size=4, one_hot=False, size=32)
    x, y = batches[0]
    assert y.shape == (4,) and list(y) == [1, 0, 1, 0]
    assert list(recognise(x)) == [5, 6, 7, 8]
    same = B.classifier_batches(hand_data, labels, batch_size=4, one_hot=False, size=32,
                                seed=3)
    np.testing.assert_array_equal(same[1][0], batches[1][0])


def test_shuffle_is_deterministic_for_a_seed(hand_data):
    a = B.gan_batches(hand_data, batch_size=8, size=16, seed=4)
    b = B.gan_batches(hand_data, batch_size=8, size=16, seed=4)
    c = B.gan_batches(hand_data, batch_size=8, size=16, seed=5)
    assert list(recognise(a[0])) == list(recognise(b[0]))
    assert list(recognise(a[0])) != list(recognise(c[0]))


def test_gan_batches_shapes_repeats_and_conditions(hand_data):
    ids = ["000001.jpg", "000002.jpg", "000001.jpg", "000004.jpg"] * 3
    conditions = hand_data.attributes[["Male", "Smiling"]]
    batches = B.gan_batches(hand_data, ids, batch_size=5, conditions=conditions, seed=2)
    assert len(batches) == 3 and len(batches.images) == 3      # each distinct image decoded once
    for i in range(len(batches)):
        x, c = batches[i]
        assert x.shape[1:] == (64, 64, 3) and x.dtype == np.float32
        assert c.dtype == np.float32 and c.shape[1] == 2
        which = recognise(x)
        expected = conditions.iloc[which].to_numpy(dtype=np.float32)
        np.testing.assert_array_equal(c, expected)


def test_gan_batches_steps_per_epoch(hand_data):
    batches = B.gan_batches(hand_data, batch_size=4, size=16, steps_per_epoch=3, seed=0)
    assert len(batches) == 3
    first = np.concatenate([recognise(batches[i]) for i in range(3)])
    assert len(set(first)) == 12                    # no repeats within an epoch
    batches.on_epoch_end()
    second = np.concatenate([recognise(batches[i]) for i in range(3)])
    assert list(first) != list(second)               # a fresh subset
    ordered = B.gan_batches(hand_data, batch_size=4, size=16, steps_per_epoch=5, shuffle=False)
    ordered.on_epoch_end()
    assert list(recognise(ordered[0])) == [20, 21, 22, 23]   # continues where epoch 1 ended
    assert list(recognise(ordered[2])) == [28, 29, 0, 1]     # and wraps around


def test_batches_from_an_in_ram_array():
    images = np.arange(6, dtype=np.uint8)[:, None, None, None].repeat(2, 1).repeat(2, 2) \
        .repeat(3, 3) * 40
    batches = B.ImageBatches(images, np.arange(6), batch_size=4)
    x, y = batches[1]
    np.testing.assert_allclose(x[:, 0, 0, 0], np.array([4, 5]) * 40 / 255, rtol=1e-6)
    assert list(y) == [4, 5]
    with pytest.raises(ValueError, match="targets"):
        B.ImageBatches(images, np.arange(5))


def _announced_ahead(batches, monkeypatch) -> None:
    # Reads one epoch of batches, checking that each batch after the first was announced to
    # the OS (posix_fadvise WILLNEED) once, while batch index - _READ_AHEAD (or batch 0, for
    # the first _READ_AHEAD) was being read: before its own read; then ends the epoch.
    file = batches._file or (batches._fill.fd, batches._fill.offset)
    row_bytes = int(np.prod(batches.images.shape[1:]))
    announced: list[tuple[int, int]] = []
    reading = [-1]

    def advise(fd, where, length, advice):
        assert advice == os.POSIX_FADV_WILLNEED and length == row_bytes
        assert (where - file[1]) % row_bytes == 0
        announced.append((reading[0], (where - file[1]) // row_bytes))

    original = os.posix_fadvise
    monkeypatch.setattr(os, "posix_fadvise", advise)
    size = batches.batch_size
    for index in range(len(batches)):
        reading[0] = index
        batches[index]
    for index in range(len(batches)):
        want = set(batches.rows[batches.order[index * size:(index + 1) * size]].tolist())
        got = [(when, row) for when, row in announced if row in want]
        if index == 0:
            assert got == []
        else:
            assert sorted(row for _, row in got) == sorted(want)
            assert {when for when, _ in got} == {max(0, index - B._READ_AHEAD)}
    monkeypatch.setattr(os, "posix_fadvise", original)
    batches.on_epoch_end()


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise on this OS")
def test_later_epochs_announce_the_rows_of_batches_ahead(tmp_path, monkeypatch):
    # Reading a cache file, every batch is announced to the OS before it is read, so that the
    # rows not in its file cache come from the disk while earlier batches are read.
    n = 95
    pixels = np.random.default_rng(0).integers(0, 256, (n, 3, 2, 3), dtype=np.uint8)
    np.save(tmp_path / "cache.npy", pixels)
    images = np.load(tmp_path / "cache.npy", mmap_mode="r")
    rows = np.random.default_rng(1).permutation(n)       # samples in the file's layout
    batches = B.ImageBatches(images, ids=[str(r) for r in range(n)], rows=rows, batch_size=4,
                             shuffle=True, seed=5)
    for _ in range(2):
        _announced_ahead(batches, monkeypatch)
    batches.on_epoch_end()
    np.testing.assert_allclose(batches[3] * 255, pixels[rows[batches.order[12:16]]], atol=1e-3)


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise on this OS")
def test_the_batches_that_filled_a_cache_announce_their_later_epochs(
        synthetic_data, tmp_cache, monkeypatch):
    # model.fit keeps the batches that filled the cache in the first epoch: their later epochs
    # read it through the fill, and announce the batches ahead as well.
    _layout_from_100_images(monkeypatch)
    labels = synthetic_data.labels("Male", synthetic_data.attributes.index[:150])
    batches = B.classifier_batches(synthetic_data, labels, batch_size=10, shuffle=True, seed=2)
    assert batches._fill is not None
    for index in range(len(batches)):
        batches[index]
    batches.on_epoch_end()
    batches._fill.finished.join()
    _announced_ahead(batches, monkeypatch)
    np.testing.assert_array_equal(_served(batches, 4),
                                  _decoded(synthetic_data, batches.batch_ids(4)))


def test_keras_reads_batches_in_order(hand_data):
    keras = pytest.importorskip("keras")
    assert isinstance(B.ImageBatches(np.zeros((2, 2, 2, 3), np.uint8)), keras.utils.PyDataset)
    batches = B.gan_batches(hand_data, size=16, batch_size=7, shuffle=False)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D()])
    means = model.predict(batches, verbose=0)
    assert means.shape == (N_HAND, 3)
    assert list(np.rint((means[:, 0] * 255 - 20) / 7).astype(int)) == list(range(N_HAND))


def test_memory_traces(hand_data):
    batches = B.gan_batches(hand_data, size=16, batch_size=10)
    streaming = B.trace_streaming_memory(batches)
    assert list(streaming["images"]) == [0, 10, 20, 30] and (streaming["rss_mib"] > 0).all()
    loading = B.trace_in_memory_loading(hand_data, hand_data.attributes.index[:6], size=16,
                                        points=3)
    assert list(loading["images"]) == [0, 2, 4, 6]


def test_a_full_disk_in_the_first_epoch_is_one_clear_error(synthetic_data, tmp_cache,
                                                           monkeypatch):
    monkeypatch.setattr(B, "_STREAM_FROM", 100)
    labels = synthetic_data.labels("Male", synthetic_data.attributes.index[:200])
    batches = B.classifier_batches(synthetic_data, labels, batch_size=20)
    assert batches._fill is not None
    monkeypatch.setattr(os, "pwrite", _disk_full)
    with pytest.raises(D.CacheWriteError) as raised:
        batches[0]
    _assert_says_disk_full(raised.value, 200 * 218 * 178 * 3)
    assert _cache_files() == []
    with pytest.raises(D.CacheWriteError):       # and it says so again
        batches[1]
