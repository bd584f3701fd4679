"""The teaching part of the data layer (:mod:`celeba_lab.data`): loading every layout, the
balanced sampler and every loading error a reader can hit; the data plots and the download."""

from __future__ import annotations

import re
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from celeba_lab import config, data as D
from celeba_lab.attributes import ATTRIBUTES, PARTITIONS
from hand_celeba import (HAND_PARTITION, N_HAND, attr_txt, hand_labels, partition_txt,
                         write_hand_celeba)


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


@pytest.mark.parametrize("name", ["list_attr_celeba.txt", "list_eval_partition.txt"])
def test_a_utf16_annotation_file_is_named_with_what_to_do(hand_root, name):
    path = hand_root / name
    path.write_bytes(path.read_text().encode("utf-16"))
    with pytest.raises(D.AnnotationError, match=f"{name} is not UTF-8 text .it looks like "
                                                "UTF-16.*UTF-8"):
        D.load_celeba(hand_root)


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


def test_data_layer_does_not_import_tensorflow():
    import subprocess

    # The data layer (attributes, config, synthetic, data, images, cache) and the modules that
    # use only it; celeba_lab.batches is the one data module that imports Keras.
    code = ("import sys, celeba_lab.attributes, celeba_lab.config, celeba_lab.synthetic, "
            "celeba_lab.data, celeba_lab.images, celeba_lab.cache, celeba_lab.download, "
            "celeba_lab.plots.data; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


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
