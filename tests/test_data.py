"""The data layer: loading every layout, the balanced sampler, the image cache, the batches,
and every error a reader can hit."""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from celeba_lab import config, data as D
from celeba_lab.attributes import ATTRIBUTES, PARTITIONS

# ---------------------------------------------------------------------------------------------
# Hand-made fixtures in the real text format
# ---------------------------------------------------------------------------------------------

N_HAND = 30
HAND_PARTITION = np.array([0] * 20 + [1] * 5 + [2] * 5)


def hand_labels(n: int = N_HAND, seed: int = 0) -> np.ndarray:
    """0/1 labels (n, 40); Male alternates so every partition has both classes."""
    labels = (np.random.default_rng(seed).random((n, 40)) < 0.4).astype(np.int8)
    labels[:, ATTRIBUTES.index("Male")] = np.arange(n) % 2
    return labels


def grey(i: int) -> int:
    """The flat grey level of hand-made image i: it lets a test recognise an image."""
    return 20 + 7 * i


def attr_txt(names, labels, crlf=False, count=None) -> bytes:
    nl = "\r\n" if crlf else "\n"
    lines = [str(len(names) if count is None else count), " ".join(ATTRIBUTES) + " "]
    lines += [name + " " + " ".join(f"{2 * v - 1:2d}" for v in row)
              for name, row in zip(names, labels)]
    return (nl.join(lines) + nl).encode()


def partition_txt(names, codes, crlf=False) -> bytes:
    nl = "\r\n" if crlf else "\n"
    return nl.join(f"{n} {c}" for n, c in zip(names, codes)).encode() + nl.encode()


def attr_csv(names, labels, crlf=False) -> bytes:
    nl = "\r\n" if crlf else "\n"
    lines = ["image_id," + ",".join(ATTRIBUTES)]
    lines += [name + "," + ",".join(str(2 * v - 1) for v in row) for name, row in zip(names, labels)]
    return (nl.join(lines) + nl).encode()


def partition_csv(names, codes, crlf=False) -> bytes:
    nl = "\r\n" if crlf else "\n"
    return (nl.join(["image_id,partition"] + [f"{n},{c}" for n, c in zip(names, codes)])
            + nl).encode()


def write_hand_celeba(root, layout="original", crlf=False, n=N_HAND, labels=None):
    """A tiny CelebA in the real on-disk format; image i is a flat 178x218 JPEG of grey(i)."""
    labels = hand_labels(n) if labels is None else labels
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    codes = HAND_PARTITION if n == N_HAND else np.minimum(np.arange(n) * 3 // n, 2)
    base = root / "celeba" if layout == "torchvision" else root
    images = base / "img_align_celeba"
    if layout == "kaggle":
        images = images / "img_align_celeba"
    images.mkdir(parents=True)
    for i, name in enumerate(names):
        Image.new("RGB", (178, 218), (grey(i),) * 3).save(images / name, quality=95)
    if layout == "kaggle":
        (base / "list_attr_celeba.csv").write_bytes(attr_csv(names, labels, crlf))
        (base / "list_eval_partition.csv").write_bytes(partition_csv(names, codes, crlf))
    else:
        (base / "list_attr_celeba.txt").write_bytes(attr_txt(names, labels, crlf))
        (base / "list_eval_partition.txt").write_bytes(partition_txt(names, codes, crlf))
    return root


@pytest.fixture
def hand_root(tmp_path):
    return write_hand_celeba(tmp_path / "celeba")


@pytest.fixture
def hand_data(hand_root, tmp_cache):
    return D.load_celeba(hand_root)


def frame_celeba(labels: np.ndarray, codes: np.ndarray) -> D.CelebA:
    """A CelebA built in memory (no files): enough for sampling tests."""
    index = pd.Index([f"{i + 1:06d}.jpg" for i in range(len(labels))], name="image_id")
    attributes = pd.DataFrame(labels.astype(np.int8), index=index, columns=list(ATTRIBUTES))
    partition = pd.Series(pd.Categorical.from_codes(codes, categories=list(PARTITIONS)),
                          index=index, name="partition")
    return D.CelebA(root=None, layout="original", image_dir=None, attributes=attributes,
                    partition=partition, fingerprint="test")


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["original", "kaggle", "torchvision"])
@pytest.mark.parametrize("crlf", [False, True])
def test_hand_made_layouts_load_exactly(tmp_path, layout, crlf):
    root = write_hand_celeba(tmp_path / "root", layout, crlf)
    data = D.load_celeba(root)
    assert data.layout == layout
    assert not data.synthetic
    assert list(data.attributes.columns) == list(ATTRIBUTES)
    assert data.attributes.index.name == "image_id"
    assert (data.attributes.dtypes == np.int8).all()
    np.testing.assert_array_equal(data.attributes.to_numpy(), hand_labels())
    assert list(data.partition) == [PARTITIONS[c] for c in HAND_PARTITION]
    assert data.path("000003.jpg").is_file()
    assert data.paths(["000001.jpg", "000002.jpg"])[1].name == "000002.jpg"
    assert len(data) == N_HAND
    assert list(data.split("validation")) == [f"{i:06d}.jpg" for i in range(21, 26)]


def test_fingerprint_identifies_the_annotations_not_the_layout(tmp_path):
    fingerprints = {D.load_celeba(write_hand_celeba(tmp_path / f"{lay}{crlf}", lay, crlf))
                    .fingerprint for lay in ("original", "kaggle") for crlf in (False, True)}
    assert len(fingerprints) == 1
    other = hand_labels()
    other[0, 0] ^= 1
    changed = D.load_celeba(write_hand_celeba(tmp_path / "changed", labels=other))
    assert changed.fingerprint not in fingerprints


@pytest.mark.parametrize("layout,crlf", [("original", True), ("kaggle", False),
                                         ("torchvision", False)])
def test_synthetic_writer_layouts_load(tmp_path, layout, crlf):
    from celeba_lab.synthetic import write_synthetic_celeba

    root = write_synthetic_celeba(tmp_path / layout, n=24, seed=3, layout=layout, crlf=crlf)
    data = D.load_celeba(root)
    reference = D.load_celeba(write_synthetic_celeba(tmp_path / "ref", n=24, seed=3))
    assert data.layout == layout and data.synthetic
    assert data.fingerprint == reference.fingerprint
    pd.testing.assert_frame_equal(data.attributes, reference.attributes)


def test_session_synthetic_set(synthetic_data):
    assert synthetic_data.synthetic and len(synthetic_data) == 3000
    assert set(synthetic_data.partition.unique()) == set(PARTITIONS)
    assert set(np.unique(synthetic_data.attributes.to_numpy())) == {0, 1}


def test_labels_and_split(hand_data):
    labels = hand_data.labels("Male", ["000004.jpg", "000001.jpg"])
    assert list(labels) == [1, 0] and list(labels.index) == ["000004.jpg", "000001.jpg"]
    assert len(hand_data.labels("Smiling")) == N_HAND
    with pytest.raises(KeyError, match="not in this data set"):
        hand_data.labels("Male", ["999999.jpg"])
    with pytest.raises(ValueError, match="train"):
        hand_data.split("val")


def test_root_none_uses_configured_root(hand_root, tmp_cache, monkeypatch):
    monkeypatch.setenv(config.ROOT_ENV, str(hand_root))
    assert D.load_celeba().root == hand_root


def test_root_none_falls_back_to_profile_synthetic_set(hand_root, tmp_cache, monkeypatch):
    import celeba_lab.synthetic as synthetic

    calls = []
    monkeypatch.setattr(synthetic, "ensure_synthetic_celeba",
                        lambda n, seed=0: calls.append(n) or hand_root)
    assert D.load_celeba().root == hand_root
    assert calls == [config.get_profile().synthetic_images]


def test_attribute_prevalence(hand_data):
    overall = D.attribute_prevalence(hand_data)
    assert overall["Male"] == pytest.approx(50.0)
    by_sex = D.attribute_prevalence(hand_data, by="Male")
    assert by_sex.loc["Male", "Male=1"] == 100 and by_sex.loc["Male", "Male=0"] == 0


# ---------------------------------------------------------------------------------------------
# Loading errors
# ---------------------------------------------------------------------------------------------


def test_missing_folder_says_how_to_get_celeba(tmp_path):
    with pytest.raises(D.DataNotFoundError, match="does not exist") as error:
        D.load_celeba(tmp_path / "nowhere")
    assert "download_celeba" in str(error.value) and "synthetic" in str(error.value)


def test_folder_without_images_lists_layouts_and_unzip_hint(tmp_path):
    (tmp_path / "img_align_celeba.zip").write_bytes(b"zip")
    with pytest.raises(D.DataNotFoundError) as error:
        D.load_celeba(tmp_path)
    message = str(error.value)
    assert all(layout in message for layout in ("original", "kaggle", "torchvision"))
    assert "unzip" in message


def test_the_image_folder_itself_is_read_with_a_note(synthetic_root, synthetic_data):
    images = synthetic_root / "img_align_celeba"
    with pytest.warns(UserWarning, match="image folder") as said:
        data = D.load_celeba(images)
    assert len(said) == 1 and str(synthetic_root) in str(said[0].message)
    assert data.root == synthetic_root and data.image_dir == images
    assert len(data) == 3000 and data.fingerprint == synthetic_data.fingerprint


@pytest.mark.parametrize("layout", ["kaggle", "torchvision"])
def test_the_image_folder_of_other_layouts_is_read_with_a_note(tmp_path, layout):
    root = write_hand_celeba(tmp_path / "celeba", layout=layout)
    expected = D.load_celeba(root)
    # torchvision's celeba/ folder is a CelebA folder in the original layout: the nearest.
    root, layout = (root / "celeba", "original") if layout == "torchvision" else (root, layout)
    with pytest.warns(UserWarning, match=f"pass {re.escape(str(root))}"):
        data = D.load_celeba(expected.image_dir)
    assert (data.root, data.layout, data.fingerprint) == (root, layout, expected.fingerprint)
    if layout == "kaggle":                       # Kaggle's outer img_align_celeba/ too
        with pytest.warns(UserWarning, match=f"pass {re.escape(str(root))}"):
            assert D.load_celeba(expected.image_dir.parent).root == root


def test_an_image_folder_without_annotations_beside_it_is_said(hand_root):
    images = hand_root / "img_align_celeba"
    (hand_root / "list_attr_celeba.txt").rename(hand_root.parent / "elsewhere.txt")
    with pytest.raises(D.DataNotFoundError) as error:
        D.load_celeba(images)
    message = str(error.value)
    assert "No CelebA images" not in message
    assert "holds .jpg images" in message and str(hand_root) in message
    assert "list_attr_celeba" in message


def test_an_image_folder_of_another_name_is_said(hand_root):
    images = (hand_root / "img_align_celeba").rename(hand_root / "faces")
    with pytest.raises(D.DataNotFoundError) as error:
        D.load_celeba(images)
    message = str(error.value)
    assert "holds .jpg images" in message and "img_align_celeba" in message
    assert f"pass {hand_root}" in message


@pytest.mark.parametrize("missing", ["list_attr_celeba.txt", "list_eval_partition.txt"])
def test_missing_annotation_file_is_named(hand_root, missing):
    (hand_root / missing).unlink()
    stem = missing.removesuffix(".txt")
    with pytest.raises(D.DataNotFoundError, match=f"{stem}.txt or {stem}.csv") as error:
        D.load_celeba(hand_root)
    assert "kaggle" in str(error.value)      # the layouts tried


def _rewrite_line(path, number, new_line):
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = new_line.encode()
    path.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize("line,problem", [
    ("000007.jpg -1  1", "found 3 fields"),
    ("000007.jpg " + " ".join(["1"] * 39) + " 2", "value '2'"),
    ("000007.jpg " + " ".join(["1"] * 39) + " x", "value 'x'"),
    ("000006.jpg " + " ".join(["1"] * 40), "listed twice"),
])
def test_malformed_attribute_line_names_file_and_line(hand_root, line, problem):
    path = hand_root / "list_attr_celeba.txt"
    _rewrite_line(path, 9, line)           # image 7 is on line 9 (after two header lines)
    with pytest.raises(D.AnnotationError) as error:
        D.load_celeba(hand_root)
    message = str(error.value)
    assert "list_attr_celeba.txt, line 9" in message and problem in message
    assert "1 or -1" in message


def test_malformed_csv_line(tmp_path):
    root = write_hand_celeba(tmp_path / "k", "kaggle", crlf=True)
    path = root / "list_eval_partition.csv"
    lines = path.read_bytes().split(b"\r\n")
    lines[4] = b"000004.jpg,7"
    path.write_bytes(b"\r\n".join(lines))
    with pytest.raises(D.AnnotationError, match=r"list_eval_partition.csv, line 5: .*0, 1 or 2"):
        D.load_celeba(root)


def test_bad_count_line(hand_root):
    _rewrite_line(hand_root / "list_attr_celeba.txt", 1, "many")
    with pytest.raises(D.AnnotationError, match="line 1: expected the number of images"):
        D.load_celeba(hand_root)


def test_count_line_disagreeing_with_rows(hand_root):
    names = [f"{i + 1:06d}.jpg" for i in range(N_HAND)]
    (hand_root / "list_attr_celeba.txt").write_bytes(
        attr_txt(names, hand_labels(), count=N_HAND + 5))
    with pytest.raises(D.AnnotationError, match="says 35 images but the file lists 30"):
        D.load_celeba(hand_root)


def test_wrong_attribute_names(hand_root):
    _rewrite_line(hand_root / "list_attr_celeba.txt", 2, " ".join(ATTRIBUTES[:-1]) + " Old")
    with pytest.raises(D.AnnotationError, match=r"line 2: .*unknown: \['Old'\]"):
        D.load_celeba(hand_root)


def test_partition_file_listing_other_images(hand_root):
    names = [f"{i + 1:06d}.jpg" for i in range(N_HAND - 1)] + ["999999.jpg"]
    (hand_root / "list_eval_partition.txt").write_bytes(partition_txt(names, HAND_PARTITION))
    with pytest.raises(D.AnnotationError, match="list different images.*000030.jpg"):
        D.load_celeba(hand_root)


def test_missing_images_are_counted_and_named(hand_root):
    for name in ("000002.jpg", "000011.jpg", "000030.jpg"):
        (hand_root / "img_align_celeba" / name).unlink()
    with pytest.raises(D.MissingImagesError,
                       match=r"3 of the 30 images .* 000002.jpg, 000011.jpg, 000030.jpg"):
        D.load_celeba(hand_root)


def test_unknown_attribute_suggests_closest():
    with pytest.raises(D.UnknownAttributeError, match="Did you mean 'Eyeglasses'") as error:
        D.check_attribute("Eyeglass")
    assert all(name in str(error.value) for name in ATTRIBUTES)
    with pytest.raises(D.UnknownAttributeError, match="'Smiling'"):
        D.check_attribute("smiling")
    assert D.check_attribute("Male") == "Male"


def test_unknown_attribute_everywhere(hand_data):
    with pytest.raises(D.UnknownAttributeError, match="Blond_Hair"):
        D.balanced_sample(hand_data, "Blonde_Hair", (2, 2, 2))
    with pytest.raises(D.UnknownAttributeError):
        hand_data.labels("Beard")


def test_errors_share_one_base_class():
    for error in (D.DataNotFoundError, D.AnnotationError, D.UnknownAttributeError,
                  D.MissingImagesError, D.CorruptImageError, D.NotEnoughImagesError,
                  D.CacheWriteError):
        assert issubclass(error, D.CelebAError)


# ---------------------------------------------------------------------------------------------
# Balanced samples
# ---------------------------------------------------------------------------------------------


@st.composite
def labelled_sets(draw):
    n = draw(st.integers(6, 120))
    labels = np.zeros((n, 40), dtype=np.int8)
    labels[:, 0] = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    codes = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=np.int8)
    return labels, codes


@settings(max_examples=60, deadline=None)
@given(labelled_sets(), st.integers(0, 2**32), st.data())
def test_balanced_sample_properties(labelled, seed, choose):
    labels, codes = labelled
    data = frame_celeba(labels, codes)
    attribute = ATTRIBUTES[0]
    largest = []
    for code in range(3):
        in_part = codes == code
        largest.append(2 * min(int((labels[in_part, 0] == 1).sum()),
                               int((labels[in_part, 0] == 0).sum())))
    sizes = tuple(2 * choose.draw(st.integers(0, m // 2)) for m in largest)
    sample = D.balanced_sample(data, attribute, sizes, seed=seed)
    again = D.balanced_sample(data, attribute, sizes, seed=seed)
    seen = set()
    for name, size in zip(PARTITIONS, sizes):
        split = sample.split(name)
        assert len(split) == size and int(split.sum()) == size // 2          # exact 50/50
        assert (data.partition.loc[split.index] == name).all()                # own partition
        assert split.index.is_unique and not (seen & set(split.index))       # disjoint
        seen |= set(split.index)
        pd.testing.assert_series_equal(split, data.labels(attribute, split.index),
                                       check_names=False)                     # true labels
        pd.testing.assert_series_equal(split, again.split(name))             # deterministic
        assert split.index.is_monotonic_increasing


@settings(max_examples=30, deadline=None)
@given(labelled_sets(), st.integers(0, 1000))
def test_balanced_sample_too_large_is_refused(labelled, seed):
    labels, codes = labelled
    data = frame_celeba(labels, codes)
    in_train = codes == 0
    positives = int((labels[in_train, 0] == 1).sum())
    negatives = int(in_train.sum()) - positives
    too_big = 2 * min(positives, negatives) + 2
    with pytest.raises(D.NotEnoughImagesError) as error:
        D.balanced_sample(data, ATTRIBUTES[0], (too_big, 0, 0), seed=seed)
    message = str(error.value)
    assert "train partition" in message
    assert f"largest possible is {2 * min(positives, negatives):,}" in message


def test_balanced_sample_on_synthetic_data(synthetic_data):
    sizes = (200, 20, 20)
    sample = D.balanced_sample(synthetic_data, "Eyeglasses", sizes, seed=5)
    assert sample.sizes == dict(zip(PARTITIONS, sizes))
    assert all(sample.split(s).mean() == 0.5 for s in PARTITIONS)
    other = D.balanced_sample(synthetic_data, "Eyeglasses", sizes, seed=6)
    assert not sample.train.index.equals(other.train.index)
    # Each split has its own random stream: a bigger train sample leaves the test sample alone.
    bigger = D.balanced_sample(synthetic_data, "Eyeglasses", (260, 20, 20), seed=5)
    pd.testing.assert_series_equal(bigger.test, sample.test)


def test_sample_summary_proves_balance_and_catches_a_bad_sample(hand_data):
    sample = D.balanced_sample(hand_data, "Male", (10, 4, 4), seed=2)
    summary = D.sample_summary(hand_data, sample)
    assert list(summary["images"]) == [10, 4, 4]
    assert (summary["percent_positive"] == 50).all() and summary["labels_match"].all()
    assert (summary["in_own_partition"] == summary["images"]).all()
    assert (summary["shared_with_other_splits"] == 0).all()
    # A hand-broken sample: a training image reused in the test split with a flipped label.
    leaked = sample.train.index[:1]
    bad_test = pd.concat([sample.test, pd.Series(1 - sample.train.iloc[:1].to_numpy(),
                                                 index=leaked)])
    bad = D.BalancedSample("Male", 2, sample.train, sample.validation, bad_test)
    summary = D.sample_summary(hand_data, bad)
    assert summary.loc["test", "shared_with_other_splits"] == 1
    assert summary.loc["test", "in_own_partition"] == 4
    assert not summary.loc["test", "labels_match"]


def test_not_enough_images_message(hand_data):
    # Validation holds images 21-25: Male = 1 for 22 and 24 only, so 4 is the largest sample.
    with pytest.raises(D.NotEnoughImagesError,
                       match=r"validation partition has only 2 positive .* largest possible is 4"):
        D.balanced_sample(hand_data, "Male", (2, 6, 2))


@pytest.mark.parametrize("sizes", [(3, 2, 2), (2, -2, 2), (2, 2)])
def test_bad_sizes(hand_data, sizes):
    with pytest.raises(ValueError):
        D.balanced_sample(hand_data, "Male", sizes)


# ---------------------------------------------------------------------------------------------
# The decoded-image cache
# ---------------------------------------------------------------------------------------------


def recognise(x: np.ndarray) -> np.ndarray:
    """Which hand-made image each float image in [0, 1] is (from its flat grey level)."""
    return np.rint((x.reshape(len(x), -1).mean(axis=1) * 255 - 20) / 7).astype(int)


def test_decoded_images_shape_order_and_read_only(hand_data):
    ids = list(hand_data.attributes.index[::-1][:10])
    images = D.decoded_images(hand_data, ids, size=64)
    assert images.shape == (10, 64, 64, 3) and images.dtype == np.uint8
    assert isinstance(images, np.memmap) and not images.flags.writeable
    assert list(recognise(images / 255.0)) == list(range(29, 19, -1))
    full = D.decoded_images(hand_data, ids[:2])
    assert full.shape == (2, 218, 178, 3)


def test_center_crop_cuts_top_and_bottom(tmp_path, tmp_cache):
    root = write_hand_celeba(tmp_path / "c", n=3)
    stripes = np.full((218, 178, 3), 128, np.uint8)
    stripes[:16] = (255, 0, 0)      # rows 0-15: whole JPEG blocks, so no colour bleeds
    stripes[-16:] = (0, 0, 255)
    Image.fromarray(stripes).save(root / "img_align_celeba" / "000001.jpg", quality=100,
                                  subsampling=0)
    data = D.load_celeba(root)
    squash = D.decoded_images(data, ["000001.jpg"], size=64, crop="squash")[0].astype(int)
    center = D.decoded_images(data, ["000001.jpg"], size=64, crop="center")[0].astype(int)
    assert squash[0, 32, 0] > 200 and squash[-1, 32, 2] > 200      # stripes kept
    assert np.abs(center - 128).max() < 12                          # stripes cut away
    with pytest.raises(ValueError, match="squash"):
        D.decoded_images(data, ["000001.jpg"], size=64, crop="zoom")


def test_cache_is_reused_without_decoding(hand_data, monkeypatch):
    ids = list(hand_data.attributes.index[:8])
    first = D.decoded_images(hand_data, ids, size=32)

    def refuse(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(D, "decode_image", refuse)
    again = D.decoded_images(hand_data, ids, size=32)
    assert again.filename == first.filename
    np.testing.assert_array_equal(again, first)
    files = list((config.cache_dir() / "images").iterdir())
    assert sorted(p.suffix for p in files) == [".crc", ".npy"]   # the cache and its checksums


def test_interrupted_write_leaves_nothing_trusted(hand_data, monkeypatch):
    ids = list(hand_data.attributes.index)
    real_decode = D.decode_image
    calls = []

    def dying(path, size, crop):
        calls.append(path)
        if len(calls) == 12:
            raise KeyboardInterrupt   # the reader stops the build half-way
        return real_decode(path, size, crop)

    monkeypatch.setattr(D, "_CHUNK_BYTES", 5 * 32 * 32 * 3)  # several chunks
    monkeypatch.setattr(D, "decode_image", dying)
    with pytest.raises(KeyboardInterrupt):
        D.decoded_images(hand_data, ids, size=32, workers=1)
    folder = config.cache_dir() / "images"
    assert list(folder.iterdir()) == []
    monkeypatch.setattr(D, "decode_image", real_decode)
    images = D.decoded_images(hand_data, ids, size=32)
    assert list(recognise(images / 255.0)) == list(range(N_HAND))


def test_temp_file_of_a_killed_process_is_ignored_then_cleaned(hand_data):
    ids = list(hand_data.attributes.index[:4])
    folder = config.cache_dir() / "images"
    folder.mkdir(parents=True, exist_ok=True)
    key = D._cache_key(hand_data, ids, (32, 32), "squash")
    final = f"{key}-4x32x32.npy"
    # What a process killed mid-write leaves: a half-written array under a temporary name.
    fresh = folder / f".{final}.abc123.tmp.npy"
    np.save(fresh, np.zeros((4, 32, 32, 3), np.uint8))
    stale = folder / f".{final}.old999.tmp.npy"
    np.save(stale, np.zeros((4, 32, 32, 3), np.uint8))
    old = time.time() - D._STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    images = D.decoded_images(hand_data, ids, size=32)
    assert list(recognise(images / 255.0)) == [0, 1, 2, 3]    # decoded, not the zeros
    assert fresh.exists() and not stale.exists()               # a live writer's file is kept


def test_corrupt_jpeg_is_named(hand_root, tmp_cache):
    bad = hand_root / "img_align_celeba" / "000005.jpg"
    bad.write_bytes(bad.read_bytes()[:200])   # truncated download
    data = D.load_celeba(hand_root)           # listing is fine; decoding is not
    with pytest.raises(D.CorruptImageError, match="000005.jpg"):
        D.decoded_images(data, data.attributes.index[:8], size=32)
    assert list((config.cache_dir() / "images").iterdir()) == []
    (hand_root / "img_align_celeba" / "000006.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(D.CorruptImageError, match="000006.jpg"):
        D.decode_image(hand_root / "img_align_celeba" / "000006.jpg")


def test_corrupt_image_in_a_later_block_stops_the_threads_and_is_named(hand_root, tmp_cache,
                                                                       monkeypatch):
    bad = hand_root / "img_align_celeba" / "000023.jpg"
    bad.write_bytes(bad.read_bytes()[:-300])   # header intact, scan data cut short
    monkeypatch.setattr(D, "_CHUNK_BYTES", 6 * 32 * 32 * 3)   # blocks of 3 images
    data = D.load_celeba(hand_root)
    with pytest.raises(D.CorruptImageError, match="000023.jpg"):
        D.decoded_images(data, data.attributes.index, size=32, workers=2)
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
    threads = np.array(D.decoded_images(synthetic_data, ids, size=64, workers=2))
    shutil.rmtree(config.cache_dir() / "images")
    pools = _spy_on_processes(monkeypatch)
    monkeypatch.setattr(D, "_PROCESSES_FROM", 100)
    monkeypatch.setattr(D, "_DECODE_RUN", 16)        # 19 tasks shared by the 3 processes
    processes = D.decoded_images(synthetic_data, ids, size=64, workers=3)
    assert len(pools) == 1 and len(pools[0].processes) == 3
    assert all(p.poll() == 0 for p in pools[0].processes)       # all exited cleanly
    np.testing.assert_array_equal(processes, threads)
    assert isinstance(processes, np.memmap) and not processes.flags.writeable


def test_processes_are_used_only_when_the_images_need_a_resize(synthetic_data, tmp_cache,
                                                               monkeypatch):
    ids = list(synthetic_data.attributes.index[:20])
    pools = _spy_on_processes(monkeypatch)
    monkeypatch.setattr(D, "_PROCESSES_FROM", 10)
    D.decoded_images(synthetic_data, ids, workers=2)           # CelebA's own 218 x 178
    assert pools == []
    D.decoded_images(synthetic_data, ids, size=(218, 178), crop="center", workers=2)
    D.decoded_images(synthetic_data, ids[:9], size=64, workers=2)   # too few to start them
    assert len(pools) == 1


def test_a_worker_process_error_names_the_file_and_leaves_no_cache(hand_root, tmp_cache,
                                                                   monkeypatch):
    images = hand_root / "img_align_celeba"
    bad = images / "000023.jpg"
    bad.write_bytes(bad.read_bytes()[:-300])   # header intact, scan data cut short
    pools = _spy_on_processes(monkeypatch)
    monkeypatch.setattr(D, "_PROCESSES_FROM", 4)
    monkeypatch.setattr(D, "_DECODE_RUN", 4)
    data = D.load_celeba(hand_root)
    with pytest.raises(D.CorruptImageError, match="000023.jpg"):
        D.decoded_images(data, data.attributes.index, size=32, workers=2)
    assert list((config.cache_dir() / "images").iterdir()) == []
    assert pools and all(p.poll() is not None for p in pools[0].processes)
    (images / "000007.jpg").unlink()
    with pytest.raises(D.MissingImagesError, match="000007.jpg"):
        D.decoded_images(data, data.attributes.index[:10], size=32, workers=2)


def test_workers_that_cannot_run_leave_the_work_to_threads(synthetic_data, tmp_cache,
                                                          monkeypatch, tmp_path):
    # A Python that cannot run the worker (here: one that exits at once) must not lose the
    # reader's run: a warning, and the threads decode everything.
    ids = list(synthetic_data.attributes.index[:40])
    expected = np.array(D.decoded_images(synthetic_data, ids, size=64, workers=1))
    shutil.rmtree(config.cache_dir() / "images")
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(broken))
    monkeypatch.setattr(D, "_PROCESSES_FROM", 10)
    with pytest.warns(RuntimeWarning, match=r"exit status 3.*threads instead"):
        images = D.decoded_images(synthetic_data, ids, size=64, workers=2)
    np.testing.assert_array_equal(images, expected)


def _cache_files(pattern: str = "*") -> list[str]:
    """Names in the image cache: "*.npy" the finished caches, ".*.tmp.npy" those being
    written, "*" everything."""
    folder = config.cache_dir() / "images"
    names = sorted(p.name for p in folder.glob(pattern)) if folder.is_dir() else []
    return names if pattern.startswith((".", "*.*")) or pattern == "*" else [
        n for n in names if not n.startswith(".")]


def test_first_epoch_fills_a_large_missing_cache_as_it_reads(synthetic_data, tmp_cache,
                                                             monkeypatch):
    # CelebA's own 218 x 178, many images, no cache: the batches' first epoch decodes each
    # image when first asked for (a few batches ahead), serves it and writes it to its row.
    monkeypatch.setattr(D, "_STREAM_FROM", 100)
    labels = synthetic_data.labels("Male", synthetic_data.attributes.index[:230])
    batches = D.classifier_batches(synthetic_data, labels, batch_size=20, shuffle=True, seed=3)
    assert batches._fill is not None
    assert _cache_files("*.npy") == []                       # nothing decoded yet
    for index in range(len(batches)):
        x, y = batches[index]
        expected = np.stack([D.decode_image(synthetic_data.path(i))
                             for i in batches.batch_ids(index)])
        np.testing.assert_array_equal(np.round(x * 255).astype(np.uint8), expected)
        np.testing.assert_array_equal(y[:, 1], labels[batches.batch_ids(index)].to_numpy())
    fill = batches._fill
    assert fill.complete and fill.remaining == 0
    fill.finished.join()                    # flushed and moved into place by its own thread
    assert len(_cache_files("*.npy")) == 1 and _cache_files(".*.tmp.npy") == []
    # The file is the cache decoded_images reads: same key, every row decoded.
    cached = D.decoded_images(synthetic_data, labels.index)
    assert str(cached.filename).endswith(_cache_files("*.npy")[0])
    ids = labels.index[::23]
    np.testing.assert_array_equal(cached[::23], np.stack([D.decode_image(
        synthetic_data.path(i)) for i in ids]))
    # Later epochs, and new batches over the same ids, read the finished cache.
    batches.on_epoch_end()
    x, _ = batches[0]
    np.testing.assert_array_equal(np.round(x * 255).astype(np.uint8), np.stack(
        [D.decode_image(synthetic_data.path(i)) for i in batches.batch_ids(0)]))
    assert D.classifier_batches(synthetic_data, labels, batch_size=20)._fill is None


def test_first_epoch_fill_is_used_only_where_it_helps(synthetic_data, tmp_cache, monkeypatch):
    monkeypatch.setattr(D, "_STREAM_FROM", 100)
    ids = synthetic_data.attributes.index[:150]
    labels = synthetic_data.labels("Male", ids)
    # A resize (the GAN's 64 x 64) is Pillow's work: decoded before, by processes or threads.
    assert D.gan_batches(synthetic_data, ids, size=64)._fill is None
    # Batches read by other processes cannot share the filling.
    assert D.classifier_batches(synthetic_data, labels, use_multiprocessing=True,
                                workers=2)._fill is None
    assert len(_cache_files("*.npy")) == 2
    # Too few images: decoded before the epoch, as always.
    assert D.classifier_batches(synthetic_data, labels[:99])._fill is None
    # Up to an eighth of the RAM the cache keeps the order of the ids, beyond it the order of
    # the first epoch (where scattered writes would wait for the disk).
    monkeypatch.setattr(D, "_ram_bytes", lambda: 8 * 218 * 178 * 3 * 120)
    within = D.classifier_batches(synthetic_data, labels[:120], shuffle=True)
    beyond = D.classifier_batches(synthetic_data, labels[:121], shuffle=True)
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


_DECODE_IMAGE = D.decode_image


def test_a_complete_fill_has_published_the_thread_that_saves_it(synthetic_data, tmp_cache,
                                                                 monkeypatch):
    # A reader checks ``complete`` without the lock; the moment it is True, the thread that
    # moves the cache into place must be there to join (even while that thread is starting:
    # a slow start once left ``finished`` None to a test under PyTorch).
    import threading
    import time

    monkeypatch.setattr(D, "_STREAM_FROM", 100)
    labels = synthetic_data.labels("Male", synthetic_data.attributes.index[:120])
    batches = D.classifier_batches(synthetic_data, labels, batch_size=20, seed=3)
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
    monkeypatch.setattr(D, "_STREAM_FROM", 100)
    monkeypatch.setattr(D, "_ram_bytes", lambda: 100 * 218 * 178 * 3)


def test_a_cache_beyond_the_ram_share_is_laid_out_in_the_first_epochs_order(
        synthetic_data, tmp_cache, monkeypatch):
    # A cache larger than an eighth of the RAM: the first epoch writes it from start to end,
    # each image at the place the epoch reaches it, and batches read it through their rows.
    _layout_from_100_images(monkeypatch)
    labels = synthetic_data.labels("Male", synthetic_data.attributes.index[:230])
    batches = D.classifier_batches(synthetic_data, labels, batch_size=20, shuffle=True, seed=3)
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
    monkeypatch.setattr(D, "decode_image", _no_decoding)
    for seed, shuffle in ((3, True), (8, True), (0, False)):
        again = D.classifier_batches(synthetic_data, labels, batch_size=20, shuffle=shuffle,
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
    batches = D.gan_batches(synthetic_data, ids, size=(218, 178), batch_size=19, seed=5)
    assert batches._fill is not None and batches.images.shape[0] == 150
    for index in range(len(batches)):
        np.testing.assert_array_equal(_served(batches, index),
                                      _decoded(synthetic_data, batches.batch_ids(index)))
    batches._fill.finished.join()
    monkeypatch.setattr(D, "decode_image", _no_decoding)
    again = D.gan_batches(synthetic_data, ids, size=(218, 178), batch_size=19, seed=1)
    assert again._fill is None
    np.testing.assert_array_equal(_served(again, 3),
                                  _decoded(synthetic_data, again.batch_ids(3)))


def test_an_order_file_whose_cache_is_gone_is_filled_again(synthetic_data, tmp_cache,
                                                           monkeypatch):
    _layout_from_100_images(monkeypatch)
    labels = synthetic_data.labels("Smiling", synthetic_data.attributes.index[:120])
    first = D.classifier_batches(synthetic_data, labels, batch_size=30, shuffle=True)
    for index in range(len(first)):
        first[index]
    first._fill.finished.join()
    folder = config.cache_dir() / "images"
    order_file = next(folder.glob("*.order.npy"))
    first._fill.path.unlink()                               # the cache, deleted by hand
    again = D.classifier_batches(synthetic_data, labels, batch_size=30, shuffle=True, seed=2)
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
    monkeypatch.setattr(D, "decode_image", _no_decoding)
    same = D.classifier_batches(synthetic_data, labels, batch_size=30, shuffle=True, seed=2)
    assert same._fill is None and np.array_equal(same.rows, again.rows)
    np.testing.assert_array_equal(np.load(next(folder.glob("*.order.npy"))),
                                  np.argsort(again.rows))
    monkeypatch.undo()
    # A damaged order file is not trusted: batches in another order decode again.
    _layout_from_100_images(monkeypatch)
    next(folder.glob("*.order.npy")).write_bytes(b"not an array")
    assert D.classifier_batches(synthetic_data, labels, batch_size=30,
                                shuffle=True)._fill is not None


def test_batches_read_by_several_threads_while_filling_get_the_right_images(
        synthetic_data, tmp_cache, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(D, "_STREAM_FROM", 100)
    labels = synthetic_data.labels("Smiling", synthetic_data.attributes.index[:300])
    batches = D.classifier_batches(synthetic_data, labels, batch_size=16, shuffle=True)
    with ThreadPoolExecutor(4) as pool:          # as Keras's workers=4 reads them
        got = list(pool.map(lambda i: batches[i][0], range(len(batches))))
    for index in (0, 7, len(batches) - 1):
        np.testing.assert_array_equal(np.round(got[index] * 255).astype(np.uint8), np.stack(
            [D.decode_image(synthetic_data.path(i)) for i in batches.batch_ids(index)]))
    batches._fill.finished.join()
    assert len(_cache_files("*.npy")) == 1


def test_an_interrupted_first_epoch_leaves_no_files(synthetic_data, tmp_cache, monkeypatch):
    import gc

    monkeypatch.setattr(D, "_STREAM_FROM", 100)
    labels = synthetic_data.labels("Male", synthetic_data.attributes.index[:200])
    batches = D.classifier_batches(synthetic_data, labels, batch_size=20, shuffle=True)
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
    monkeypatch.setattr(D, "_STREAM_FROM", 4)
    data = D.load_celeba(hand_root)
    size = D.decode_image(images / "000001.jpg").shape[:2]     # the files' own size
    labels = data.labels("Male")
    batches = D.classifier_batches(data, labels, batch_size=5, size=size)
    assert batches._fill is not None
    with pytest.raises(D.CorruptImageError, match="000023.jpg"):
        for index in range(len(batches)):
            batches[index]
    assert _cache_files() == []
    with pytest.raises(D.CorruptImageError, match="000023.jpg"):   # and it says so again
        batches[len(batches) - 1]


def _textured(seed: int, size=(218, 178)) -> Image.Image:
    """A smooth random picture: every resampling or decoding difference shows in its pixels."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size[::-1], Image.Resampling.BICUBIC)


def _pillow_reference(path, height: int, width: int, crop: str) -> np.ndarray:
    """What Pillow alone gives: open, draft (JPEG), convert to RGB, bilinear resize."""
    with Image.open(path) as image:
        full_w, full_h = image.size
        box_w, box_h = D._crop_box_size(full_w, full_h, width, height, crop)
        if image.format == "JPEG":
            image.draft("RGB", (-(-width * full_w // box_w), -(-height * full_h // box_h)))
        image = image.convert("RGB")
        box = D._crop_box(*image.size, width, height, crop)
        if box != (0, 0, *image.size) or image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR, box=box)
        return np.asarray(image)


@pytest.mark.parametrize("kind", ["celeba", "444", "progressive", "grey", "cmyk", "png", "odd",
                                  "celeba without simplejpeg"])
def test_decode_image_gives_pillows_pixels(tmp_path, kind, monkeypatch):
    if kind.endswith("without simplejpeg"):
        monkeypatch.setitem(sys.modules, "simplejpeg", None)   # `import simplejpeg` fails
        kind = kind.split()[0]
    picture = _textured(ord(kind[0]))
    saved = {"celeba": (picture, {"quality": 95}), "444": (picture, {"subsampling": 0}),
             "progressive": (picture, {"progressive": True}),
             "grey": (picture.convert("L"), {}), "cmyk": (picture.convert("CMYK"), {}),
             "png": (picture, {}), "odd": (_textured(5, (201, 163)), {})}
    image, options = saved[kind]
    path = tmp_path / ("face.png" if kind == "png" else "face.jpg")
    image.save(path, **options)
    for size in [(218, 178), (64, 64), (32, 32), (20, 24), (109, 89), (300, 240)]:
        for crop in ("squash", "center"):
            expected = _pillow_reference(path, *size, crop)
            np.testing.assert_array_equal(D.decode_image(path, size, crop), expected,
                                          err_msg=f"{kind} {size} {crop}")


def test_image_deleted_after_loading(hand_data):
    (hand_data.image_dir / "000003.jpg").unlink()
    with pytest.raises(D.MissingImagesError, match="000003.jpg"):
        D.decoded_images(hand_data, hand_data.attributes.index[:5], size=32)


def test_in_memory_baseline_matches_cache(hand_data):
    ids = list(hand_data.attributes.index[:5])
    in_ram = D.load_images_in_memory(hand_data, ids, size=32)
    assert in_ram.dtype == np.float32
    np.testing.assert_allclose(in_ram, D.decoded_images(hand_data, ids, size=32) / 255.0,
                               atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------


def test_classifier_batches_carry_each_image_label(hand_data):
    labels = hand_data.labels("Male")          # image i has Male = i % 2
    batches = D.classifier_batches(hand_data, labels, batch_size=8, shuffle=True, seed=1,
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
    batches = D.classifier_batches(hand_data, labels, batch_size=4, one_hot=False, size=32)
    x, y = batches[0]
    assert y.shape == (4,) and list(y) == [1, 0, 1, 0]
    assert list(recognise(x)) == [5, 6, 7, 8]
    same = D.classifier_batches(hand_data, labels, batch_size=4, one_hot=False, size=32,
                                seed=3)
    np.testing.assert_array_equal(same[1][0], batches[1][0])


def test_shuffle_is_deterministic_for_a_seed(hand_data):
    a = D.gan_batches(hand_data, batch_size=8, size=16, seed=4)
    b = D.gan_batches(hand_data, batch_size=8, size=16, seed=4)
    c = D.gan_batches(hand_data, batch_size=8, size=16, seed=5)
    assert list(recognise(a[0])) == list(recognise(b[0]))
    assert list(recognise(a[0])) != list(recognise(c[0]))


def test_gan_batches_shapes_repeats_and_conditions(hand_data):
    ids = ["000001.jpg", "000002.jpg", "000001.jpg", "000004.jpg"] * 3
    conditions = hand_data.attributes[["Male", "Smiling"]]
    batches = D.gan_batches(hand_data, ids, batch_size=5, conditions=conditions, seed=2)
    assert len(batches) == 3 and len(batches.images) == 3      # each distinct image decoded once
    for i in range(len(batches)):
        x, c = batches[i]
        assert x.shape[1:] == (64, 64, 3) and x.dtype == np.float32
        assert c.dtype == np.float32 and c.shape[1] == 2
        which = recognise(x)
        expected = conditions.iloc[which].to_numpy(dtype=np.float32)
        np.testing.assert_array_equal(c, expected)


def test_gan_batches_steps_per_epoch(hand_data):
    batches = D.gan_batches(hand_data, batch_size=4, size=16, steps_per_epoch=3, seed=0)
    assert len(batches) == 3
    first = np.concatenate([recognise(batches[i]) for i in range(3)])
    assert len(set(first)) == 12                    # no repeats within an epoch
    batches.on_epoch_end()
    second = np.concatenate([recognise(batches[i]) for i in range(3)])
    assert list(first) != list(second)               # a fresh subset
    ordered = D.gan_batches(hand_data, batch_size=4, size=16, steps_per_epoch=5, shuffle=False)
    ordered.on_epoch_end()
    assert list(recognise(ordered[0])) == [20, 21, 22, 23]   # continues where epoch 1 ended
    assert list(recognise(ordered[2])) == [28, 29, 0, 1]     # and wraps around


def test_batches_from_an_in_ram_array():
    images = np.arange(6, dtype=np.uint8)[:, None, None, None].repeat(2, 1).repeat(2, 2) \
        .repeat(3, 3) * 40
    batches = D.ImageBatches(images, np.arange(6), batch_size=4)
    x, y = batches[1]
    np.testing.assert_allclose(x[:, 0, 0, 0], np.array([4, 5]) * 40 / 255, rtol=1e-6)
    assert list(y) == [4, 5]
    with pytest.raises(ValueError, match="targets"):
        D.ImageBatches(images, np.arange(5))


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
            assert {when for when, _ in got} == {max(0, index - D._READ_AHEAD)}
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
    batches = D.ImageBatches(images, ids=[str(r) for r in range(n)], rows=rows, batch_size=4,
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
    batches = D.classifier_batches(synthetic_data, labels, batch_size=10, shuffle=True, seed=2)
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
    assert isinstance(D.ImageBatches(np.zeros((2, 2, 2, 3), np.uint8)), keras.utils.PyDataset)
    batches = D.gan_batches(hand_data, size=16, batch_size=7, shuffle=False)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D()])
    means = model.predict(batches, verbose=0)
    assert means.shape == (N_HAND, 3)
    assert list(np.rint((means[:, 0] * 255 - 20) / 7).astype(int)) == list(range(N_HAND))


def test_data_layer_does_not_import_tensorflow():
    import subprocess

    code = ("import sys, celeba_lab.data, celeba_lab.download, celeba_lab.plots.data; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_memory_traces(hand_data):
    batches = D.gan_batches(hand_data, size=16, batch_size=10)
    streaming = D.trace_streaming_memory(batches)
    assert list(streaming["images"]) == [0, 10, 20, 30] and (streaming["rss_mib"] > 0).all()
    loading = D.trace_in_memory_loading(hand_data, hand_data.attributes.index[:6], size=16,
                                        points=3)
    assert list(loading["images"]) == [0, 2, 4, 6]


# ---------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------


def test_download_without_kagglehub_says_what_to_install(monkeypatch):
    from celeba_lab.download import download_celeba

    monkeypatch.setitem(sys.modules, "kagglehub", None)   # makes `import kagglehub` fail
    with pytest.raises(ImportError, match=r"celeba-lab\[colab\]"):
        download_celeba()


def test_download_returns_kagglehub_folder(monkeypatch, tmp_path):
    import types

    from celeba_lab.download import KAGGLE_DATASET, download_celeba

    asked = []
    fake = types.SimpleNamespace(
        dataset_download=lambda handle: asked.append(handle) or str(tmp_path / "kh"))
    monkeypatch.setitem(sys.modules, "kagglehub", fake)
    (tmp_path / "kh").mkdir()
    assert download_celeba() == tmp_path / "kh" and asked == [KAGGLE_DATASET]
    linked = download_celeba(tmp_path / "data" / "celeba")
    assert linked.resolve() == (tmp_path / "kh").resolve()


def test_memory_plot_projects_an_array_filled_with_fewer_images_than_were_streamed():
    import matplotlib

    matplotlib.use("Agg")
    from celeba_lab.plots import plot_memory

    streaming = pd.DataFrame({"images": [0, 100_000, 200_000], "rss_mib": [500.0, 501.0, 501.0]})
    in_memory = pd.DataFrame({"images": [0, 10_000, 20_000], "rss_mib": [500.0, 550.0, 600.0]})
    lines = plot_memory(streaming, in_memory).axes[0].get_lines()
    projected = [line for line in lines if line.get_linestyle() == "--"]
    assert len(projected) == 1
    np.testing.assert_allclose(projected[0].get_xdata(), [20_000, 200_000])
    np.testing.assert_allclose(projected[0].get_ydata(), [100.0, 1_000.0])   # 5 KiB per image
    assert "200,000" in projected[0].get_label()
    # All the images in the array: nothing to project.
    whole = pd.DataFrame({"images": [0, 200_000], "rss_mib": [500.0, 1_500.0]})
    assert all(line.get_linestyle() != "--"
               for line in plot_memory(streaming, whole).axes[0].get_lines())


# ---------------------------------------------------------------------------------------------
# The cache follows the images' content, and damaged caches are rebuilt


def test_an_image_rewritten_in_place_is_decoded_again_and_its_old_cache_removed(hand_data):
    ids = list(hand_data.attributes.index[:6])
    assert list(recognise(D.decoded_images(hand_data, ids, size=32) / 255.0)) == list(range(6))
    first = _cache_files("*.npy")
    # An unrelated file beside the images changes nothing: the same cache is used.
    (hand_data.image_dir / "notes.txt").write_text("hello")
    D.decoded_images(hand_data, ids, size=32)
    assert _cache_files("*.npy") == first
    # Image 2 rewritten in place with image 9's pixels (its folder keeps its listing).
    target = hand_data.path(ids[2])
    target.write_bytes(hand_data.path(hand_data.attributes.index[9]).read_bytes())
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    again = D.decoded_images(hand_data, ids, size=32)
    assert list(recognise(again / 255.0)) == [0, 1, 9, 3, 4, 5]
    assert len(_cache_files("*.npy")) == 1 and _cache_files("*.npy") != first


@pytest.mark.parametrize("damage", ["flip bytes", "zero a row", "empty file",
                                    "lose the checksums"])
def test_a_damaged_cache_is_detected_said_and_rebuilt(hand_data, damage):
    ids = list(hand_data.attributes.index[:6])
    D.decoded_images(hand_data, ids, size=32)
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
    else:
        path.with_suffix(".crc").unlink()
    D._VERIFIED.clear()   # as in a new process
    with pytest.warns(RuntimeWarning, match=f"image cache .*{path.name} is damaged"):
        images = D.decoded_images(hand_data, ids, size=32)
    assert list(recognise(images / 255.0)) == list(range(6))
    D._VERIFIED.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        D.decoded_images(hand_data, ids, size=32)     # rebuilt whole: no second warning


def test_temp_files_of_dead_processes_are_removed_at_once(hand_data):
    ids = list(hand_data.attributes.index[:4])
    folder = config.cache_dir() / "images"
    folder.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    final = f"{D._cache_key(hand_data, ids, (32, 32), 'squash')}-4x32x32.npy"
    orphan = folder / f".{final}.{dead.pid}.k2j4x9ab.tmp.npy"       # its writer was killed
    alive = folder / f".{final}.{os.getppid()}.q8w7e6rt.tmp.npy"    # its writer still works
    for temp in (orphan, alive):
        np.save(temp, np.zeros((4, 32, 32, 3), np.uint8))
    D.decoded_images(hand_data, ids, size=32)
    assert not orphan.exists() and alive.exists()


# ---------------------------------------------------------------------------------------------
# A full disk
# ---------------------------------------------------------------------------------------------


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _assert_says_disk_full(error, n_bytes: int) -> None:
    """The error names the cache folder, the size needed and both ways out."""
    message = str(error)
    assert isinstance(error, D.CelebAError) and error.errno == errno.ENOSPC
    assert str(config.cache_dir() / "images") in message
    assert f"{n_bytes / 2**20:,.1f} MiB" in message
    assert "free" in message.lower() and config.CACHE_ENV in message


@pytest.mark.parametrize("quota", [False, True])
def test_a_full_disk_while_threads_fill_the_cache_is_one_clear_error(hand_data, monkeypatch,
                                                                     quota):
    ids = list(hand_data.attributes.index)
    monkeypatch.setattr(D, "_CHUNK_BYTES", 6 * 32 * 32 * 3)   # blocks of 3 images
    code = errno.EDQUOT if quota else errno.ENOSPC
    writes = []

    def filling_up(self, out, offset):
        writes.append(self.start)
        if len(writes) == 3:
            raise OSError(code, os.strerror(code))

    monkeypatch.setattr(D._DecodingBlock, "write_to", filling_up)
    with pytest.raises(D.CacheWriteError) as raised:
        D.decoded_images(hand_data, ids, size=32, workers=2)
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
    monkeypatch.setattr(D, "_PROCESSES_FROM", 10)
    monkeypatch.setattr(D, "_DECODE_RUN", 8)
    decoded_here = []
    real_decode = D.decode_image
    monkeypatch.setattr(D, "decode_image", lambda *a: decoded_here.append(a) or real_decode(*a))
    ids = list(synthetic_data.attributes.index[:40])
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # no "decoding with threads instead"
        with pytest.raises(D.CacheWriteError) as raised:
            D.decoded_images(synthetic_data, ids, size=64, workers=2)
    _assert_says_disk_full(raised.value, 40 * 64 * 64 * 3)
    assert len(pools) == 1 and all(p.poll() == 0 for p in pools[0].processes)
    assert decoded_here == []                    # not decoded a second time, with threads
    assert _cache_files() == []


def test_a_full_disk_in_the_first_epoch_is_one_clear_error(synthetic_data, tmp_cache,
                                                           monkeypatch):
    monkeypatch.setattr(D, "_STREAM_FROM", 100)
    labels = synthetic_data.labels("Male", synthetic_data.attributes.index[:200])
    batches = D.classifier_batches(synthetic_data, labels, batch_size=20)
    assert batches._fill is not None
    monkeypatch.setattr(os, "pwrite", _disk_full)
    with pytest.raises(D.CacheWriteError) as raised:
        batches[0]
    _assert_says_disk_full(raised.value, 200 * 218 * 178 * 3)
    assert _cache_files() == []
    with pytest.raises(D.CacheWriteError):       # and it says so again
        batches[1]


def test_correlation_heatmap_shows_the_strongest_pairs_readably(synthetic_data):
    import matplotlib

    matplotlib.use("Agg")
    from celeba_lab.attributes import ATTRIBUTES, REPORT_ATTRIBUTES
    from celeba_lab.plots import correlated_attributes, plot_attribute_correlation

    chosen = correlated_attributes(synthetic_data, n=10)
    assert chosen[:3] == list(REPORT_ATTRIBUTES) and len(set(chosen)) == 10
    corr = synthetic_data.attributes.astype(float).corr().abs().fillna(0)
    pairs = corr.where(~np.eye(len(corr), dtype=bool)).stack()
    first, second = pairs.idxmax()
    assert {first, second} <= set(chosen), "the strongest pair is shown"
    assert correlated_attributes(synthetic_data, n=2) == list(REPORT_ATTRIBUTES)
    fig = plot_attribute_correlation(synthetic_data, n=10)
    ax = fig.axes[0]
    assert fig.get_figwidth() <= 7.5 and len(ax.texts) == 10 * 9 // 2   # one value per pair
    assert all(t.get_fontsize() >= 8 for t in ax.texts + ax.get_xticklabels())
    assert "-0.00" not in [t.get_text() for t in ax.texts]
    every = plot_attribute_correlation(synthetic_data, ATTRIBUTES)
    assert len(every.axes[0].get_yticklabels()) == 40 and not every.axes[0].texts
