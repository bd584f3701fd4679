"""The synthetic CelebA: CelebA's exact file formats, its rates, determinism and visible faces."""

from __future__ import annotations

import errno
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import celeba_lab.synthetic as synthetic
from celeba_lab.data import load_celeba
from celeba_lab.attributes import ATTRIBUTES, N_IMAGES, PARTITION_SIZES
from celeba_lab.synthetic import (
    CONDITIONAL, GENERATOR_VERSION, MARKER_FILE, P_MALE, PREVALENCE, attribute_probabilities,
    draw_face, ensure_synthetic_celeba, partition_sizes, sample_attributes, synthetic_info,
    synthetic_prevalence_table, write_synthetic_celeba,
)

ROW = re.compile(r"^\d{6}\.jpg( (?: 1|-1)){40}$")
PARTITION_ROW = re.compile(r"^\d{6}\.jpg [012]$")
IDENTITY_ROW = re.compile(r"^\d{6}\.jpg [1-9]\d*$")
N = 240


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """A small set in the original layout with LF line endings."""
    return write_synthetic_celeba(tmp_path_factory.mktemp("original") / "set", n=N, seed=0)


def _lines(path) -> list[str]:
    return path.read_bytes().decode("ascii").split("\n")[:-1]


# --------------------------------------------------------------------------- byte format


def test_attribute_file_has_celebas_exact_layout(original):
    raw = (original / "list_attr_celeba.txt").read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n")
    lines = _lines(original / "list_attr_celeba.txt")
    assert lines[0] == str(N)
    assert lines[1] == " ".join(ATTRIBUTES) + " "
    assert len(lines) == N + 2
    for number, line in enumerate(lines[2:], start=1):
        assert ROW.match(line), line
        name, *values = line.split()
        assert name == f"{number:06d}.jpg"
        # The documented layout: the file name, then each value as " {v:2d}".
        assert line == name + "".join(f" {int(v):2d}" for v in values)


def test_documented_example_row_parses_like_a_written_row():
    example = ("000001.jpg -1  1  1 -1 -1 -1 -1 -1 -1 -1 -1  1 -1 -1 -1 -1 -1 -1  1  1 -1  1 -1 "
               "-1  1 -1 -1  1 -1 -1 -1  1  1 -1  1 -1  1 -1 -1  1")
    assert ROW.match(example)
    labels = np.array([[int(v) > 0 for v in example.split()[1:]]])
    assert synthetic._attribute_lines(["000001.jpg"], labels)[2] == example


def test_written_labels_are_the_sampled_labels(original):
    rows = [line.split() for line in _lines(original / "list_attr_celeba.txt")[2:]]
    written = np.array([[int(v) for v in row[1:]] for row in rows])
    expected = sample_attributes(N, seed=0)
    assert [row[0] for row in rows] == list(expected.index)
    np.testing.assert_array_equal(written, np.where(expected.to_numpy() == 1, 1, -1))


def test_partition_file_follows_file_order_in_celebas_proportions(original):
    lines = _lines(original / "list_eval_partition.txt")
    assert all(PARTITION_ROW.match(line) for line in lines)
    assert [line.split()[0] for line in lines] == [f"{i:06d}.jpg" for i in range(1, N + 1)]
    codes = [int(line.split()[1]) for line in lines]
    assert codes == sorted(codes)  # train, then validation, then test
    assert tuple(codes.count(c) for c in range(3)) == partition_sizes(N)


def test_identities_never_cross_partitions_and_keep_one_sex(original):
    lines = _lines(original / "identity_CelebA.txt")
    assert len(lines) == N and all(IDENTITY_ROW.match(line) for line in lines)
    identity = np.array([int(line.split()[1]) for line in lines])
    partition_lines = _lines(original / "list_eval_partition.txt")
    partition = np.array([int(line.split()[1]) for line in partition_lines])
    male = sample_attributes(N, seed=0)["Male"].to_numpy()
    for person in np.unique(identity):
        members = identity == person
        assert len(set(partition[members])) == 1
        assert len(set(male[members])) == 1
    assert len(np.unique(identity)) < N  # people have several images


@pytest.mark.parametrize("n", [3, 5, 100, 2000, 10_000, N_IMAGES])
def test_partition_sizes_match_celeba(n):
    sizes = partition_sizes(n)
    assert sum(sizes) == n and min(sizes) >= 1
    for size, name in zip(sizes[1:], ("validation", "test")):
        assert abs(size - n * PARTITION_SIZES[name] / N_IMAGES) <= 1
    if n == N_IMAGES:
        assert sizes == tuple(PARTITION_SIZES.values())


def test_crlf_writes_windows_line_endings_everywhere(tmp_path):
    root = write_synthetic_celeba(tmp_path / "crlf", n=5, seed=0, crlf=True)
    for name in ("list_attr_celeba.txt", "list_eval_partition.txt", "identity_CelebA.txt"):
        raw = (root / name).read_bytes()
        assert raw.endswith(b"\r\n")
        assert raw.count(b"\n") == raw.count(b"\r\n") > 0
    lf = write_synthetic_celeba(tmp_path / "lf", n=5, seed=0)
    assert (root / "list_attr_celeba.txt").read_bytes().replace(b"\r\n", b"\n") == \
        (lf / "list_attr_celeba.txt").read_bytes()


def test_kaggle_layout(tmp_path):
    root = write_synthetic_celeba(tmp_path / "kaggle", n=12, seed=0, layout="kaggle")
    assert root == tmp_path / "kaggle"
    images = sorted(p.name for p in (root / "img_align_celeba" / "img_align_celeba").iterdir())
    assert images == [f"{i:06d}.jpg" for i in range(1, 13)]
    assert not list((root / "img_align_celeba").glob("*.jpg"))
    attr = _lines(root / "list_attr_celeba.csv")
    assert attr[0] == "image_id," + ",".join(ATTRIBUTES)
    assert all(re.fullmatch(r"\d{6}\.jpg(,(?:1|-1)){40}", line) for line in attr[1:])
    expected = sample_attributes(12, seed=0).to_numpy()
    written = np.array([[int(v) for v in line.split(",")[1:]] for line in attr[1:]])
    np.testing.assert_array_equal(written, np.where(expected == 1, 1, -1))
    partition = _lines(root / "list_eval_partition.csv")
    assert partition[0] == "image_id,partition"
    assert all(re.fullmatch(r"\d{6}\.jpg,[012]", line) for line in partition[1:])
    assert not (root / "list_attr_celeba.txt").exists()


def test_torchvision_layout_returns_the_parent(tmp_path):
    root = write_synthetic_celeba(tmp_path / "tv", n=4, seed=0, layout="torchvision")
    assert root == tmp_path / "tv"
    data = root / "celeba"
    for name in ("list_attr_celeba.txt", "list_eval_partition.txt", "identity_CelebA.txt"):
        assert (data / name).is_file()
    assert len(list((data / "img_align_celeba").glob("*.jpg"))) == 4
    assert synthetic_info(root)["layout"] == "torchvision"


def test_marker_records_how_the_set_was_made(original, tmp_path):
    info = synthetic_info(original)
    assert info == {"generator": "celeba_lab.synthetic", "version": GENERATOR_VERSION, "n": N,
                    "seed": 0, "layout": "original", "crlf": False}
    assert (original / MARKER_FILE).is_file()
    assert synthetic_info(tmp_path) is None


# --------------------------------------------------------------------------- images


def test_images_are_celeba_sized_rgb_jpegs_in_order(original):
    names = sorted(p.name for p in (original / "img_align_celeba").iterdir())
    assert names == [f"{i:06d}.jpg" for i in range(1, N + 1)]
    for name in names[:: N // 12]:
        with Image.open(original / "img_align_celeba" / name) as image:
            assert image.format == "JPEG"
            assert image.mode == "RGB"
            assert image.size == (178, 218)


# --------------------------------------------------------------------------- rates


def _standard_error(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-4) / n)


def test_prevalence_table_agrees_with_celeba():
    table = synthetic_prevalence_table()
    assert list(table.index) == list(ATTRIBUTES)
    # The conditional rates of the facts sheet imply overall rates within half a point of the
    # real ones: the constants are consistent with each other.
    assert (table["synthetic"] - table["celeba"]).abs().max() < 0.005
    assert table.loc["Wearing_Lipstick", "female"] == 0.81
    assert table.loc["Mustache", "female"] == 0.0


def test_prevalences_match_targets_within_four_standard_errors():
    n = 20_000
    labels = sample_attributes(n, seed=1)
    male = labels["Male"] == 1
    for name in ATTRIBUTES:
        target = P_MALE * attribute_probabilities(name)[0] + \
            (1 - P_MALE) * attribute_probabilities(name)[1]
        rate = labels[name].mean()
        assert abs(rate - target) < 4 * _standard_error(target, n), (name, rate, target)
    for name, (p_male, p_female) in CONDITIONAL.items():
        for group, target in ((male, p_male), (~male, p_female)):
            rate = labels.loc[group, name].mean()
            assert abs(rate - target) < 4 * _standard_error(target, int(group.sum())), name
    assert abs(labels["Wearing_Lipstick"].mean() - PREVALENCE["Wearing_Lipstick"]) < 0.015


def test_logical_constraints_hold():
    labels = sample_attributes(20_000, seed=2).astype(bool)
    women = ~labels["Male"]
    for name in ("Mustache", "Goatee", "Bald", "5_o_Clock_Shadow", "Sideburns", "Wearing_Necktie"):
        assert not labels.loc[women, name].any(), name
    hair = labels[["Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"]].sum(axis=1)
    assert hair.max() == 1
    bald = labels["Bald"]
    assert bald.any() and (hair[bald] == 0).all()
    for name in ("Bangs", "Straight_Hair", "Wavy_Hair", "Wearing_Hat", "Receding_Hairline"):
        assert not labels.loc[bald, name].any(), name
    assert not (labels["Straight_Hair"] & labels["Wavy_Hair"]).any()
    assert not (labels["No_Beard"] & (labels["Goatee"] | labels["Mustache"])).any()
    assert not (labels["Gray_Hair"] & labels["Young"]).any()
    assert labels.loc[women, "Wearing_Lipstick"].mean() > 0.75
    assert labels.loc[~women, "Wearing_Lipstick"].mean() < 0.02


# --------------------------------------------------------------------------- determinism


def _tree(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_whatever_the_workers(tmp_path):
    one = _tree(write_synthetic_celeba(tmp_path / "a", n=120, seed=5, workers=1))
    two = _tree(write_synthetic_celeba(tmp_path / "b", n=120, seed=5, workers=2))
    assert len(one) == 120 + 4
    assert one == two


@pytest.mark.parametrize("seed, message", [
    (1.5, "seed must be a whole number of at least 0, got 1.5"),
    ("0", "seed must be a whole number of at least 0, not '0'"),
    (-1, "seed must be a whole number of at least 0, got -1"),
])
def test_a_bad_seed_is_refused_before_anything_is_written(tmp_path, seed, message):
    with pytest.raises((ValueError, TypeError), match=message):
        write_synthetic_celeba(tmp_path / "set", n=5, seed=seed)
    assert not (tmp_path / "set").exists()   # nothing left to block the next, valid call
    assert (write_synthetic_celeba(tmp_path / "set", n=5, seed=0) / "list_attr_celeba.txt"
            ).is_file()


def test_different_seeds_differ(tmp_path):
    a = _tree(write_synthetic_celeba(tmp_path / "a", n=20, seed=0))
    b = _tree(write_synthetic_celeba(tmp_path / "b", n=20, seed=1))
    assert a["list_attr_celeba.txt"] != b["list_attr_celeba.txt"]
    images = [name for name in a if name.endswith(".jpg")]
    assert all(a[name] != b[name] for name in images)


# --------------------------------------------------------------------------- visible attributes


def _gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), float)


def _random_faces(seed: int, count: int, **fixed) -> list[dict]:
    """Attribute rows from the sampler (so the rest of each face varies), with ``fixed`` set."""
    rows = sample_attributes(count, seed=seed).to_dict("records")
    for row in rows:
        if "Black_Hair" in fixed or "Blond_Hair" in fixed:
            row.update({"Black_Hair": 0, "Blond_Hair": 0, "Brown_Hair": 0, "Gray_Hair": 0,
                        "Bald": 0, "Wearing_Hat": 0, "Blurry": 0})
        row.update(fixed)
    return rows


def test_blond_hair_is_brighter_than_black_hair_where_the_hair_is():
    def hair_brightness(rows, seed):
        # The band above the forehead, where hair is whatever the pose.
        return np.array([_gray(draw_face(r, seed=seed + i))[22:40, 64:114].mean()
                         for i, r in enumerate(rows)])

    blond = hair_brightness(_random_faces(10, 24, Blond_Hair=1), 0)
    black = hair_brightness(_random_faces(11, 24, Black_Hair=1), 100)
    threshold = (np.median(blond) + np.median(black)) / 2
    accuracy = ((blond > threshold).sum() + (black <= threshold).sum()) / 48
    assert blond.mean() - black.mean() > 60
    assert accuracy >= 0.9


@pytest.mark.parametrize("attribute, box", [
    ("Eyeglasses", (95, 128, 0, 178)),     # rows, columns: the eye line sits at 111 of 218
    ("Smiling", (138, 172, 55, 123)),      # the mouth
    ("Wearing_Hat", (0, 70, 0, 178)),      # the top of the head
])
def test_an_attribute_changes_its_own_part_of_the_face(attribute, box):
    """Switching the attribute on, all else equal, changes its box much more than the rest."""
    inside, outside = [], []
    for i, row in enumerate(_random_faces(20, 12, **{attribute: 0, "Blurry": 0})):
        off = _gray(draw_face(row, seed=i))
        on = _gray(draw_face({**row, attribute: 1}, seed=i))
        change = np.abs(on - off)
        mask = np.zeros(change.shape, bool)
        mask[box[0]:box[1], box[2]:box[3]] = True
        inside.append(change[mask].mean())
        outside.append(change[~mask].mean())
    assert np.mean(inside) > 5 * np.mean(outside)
    assert min(inside) > 2


def test_eyeglasses_darken_the_eye_band_across_faces():
    def eye_band(rows, seed):
        return np.array([_gray(draw_face(r, seed=seed + i))[100:122, 40:138].min(axis=0).mean()
                         for i, r in enumerate(rows)])

    glasses = eye_band(_random_faces(30, 30, Eyeglasses=1, Blurry=0), 0)
    bare = eye_band(_random_faces(31, 30, Eyeglasses=0, Blurry=0), 500)
    assert glasses.mean() < bare.mean() - 15


def test_pale_skin_is_brighter_and_male_faces_have_shorter_hair():
    pale = [_gray(draw_face(r, seed=i))[120:150, 70:108].mean()
            for i, r in enumerate(_random_faces(40, 20, Pale_Skin=1, Blurry=0))]
    other = [_gray(draw_face(r, seed=i))[120:150, 70:108].mean()
             for i, r in enumerate(_random_faces(40, 20, Pale_Skin=0, Blurry=0))]
    assert np.mean(pale) > np.mean(other) + 25
    # Long hair frames most women's faces down to the shoulders: the image changes beside the
    # jaw (both sides), where a man shows background.
    changed = []
    for i, row in enumerate(_random_faces(41, 16, Bald=0, Wearing_Hat=0)):
        woman = np.asarray(draw_face({**row, "Male": 0, "Mustache": 0, "Goatee": 0}, seed=i))
        man = np.asarray(draw_face({**row, "Male": 1}, seed=i))
        change = np.abs(woman.astype(float) - man).max(axis=2)
        changed.append((change[140:190, 22:40].mean() + change[140:190, 138:156].mean()) / 2)
    assert np.median(changed) > 25


def test_draw_face_is_deterministic_and_rejects_unknown_names():
    a = np.asarray(draw_face({"Male": 1, "Smiling": 1}, seed=3))
    b = np.asarray(draw_face({"Male": 1, "Smiling": 1}, seed=3))
    c = np.asarray(draw_face({"Male": 1, "Smiling": 1}, seed=4))
    assert a.shape == (218, 178, 3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(KeyError, match="Smiles"):
        draw_face({"Smiles": 1})


# --------------------------------------------------------------------------- the cache


def test_ensure_writes_once(tmp_cache):
    root = ensure_synthetic_celeba(6, seed=2)
    assert root == tmp_cache / "synthetic-6-2"
    assert synthetic_info(root)["n"] == 6
    attr = root / "list_attr_celeba.txt"
    before = attr.stat().st_mtime_ns
    assert ensure_synthetic_celeba(6, seed=2) == root
    assert attr.stat().st_mtime_ns == before
    assert not [p for p in tmp_cache.iterdir() if p.name.startswith(".")]


def test_ensure_ignores_an_interrupted_write(tmp_cache, monkeypatch):
    calls = []

    def crash(root, **kwargs):
        calls.append(root)
        (root / "img_align_celeba").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "write_synthetic_celeba", crash)
    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic_celeba(5, seed=0)
    assert calls and not (tmp_cache / "synthetic-5-0").exists()
    monkeypatch.undo()
    # A temporary folder left by a killed process, and a final folder without a marker.
    (tmp_cache / ".synthetic-5-0.abc.tmp" / "img_align_celeba").mkdir(parents=True)
    (tmp_cache / "synthetic-5-0" / "img_align_celeba").mkdir(parents=True)
    root = ensure_synthetic_celeba(5, seed=0)
    assert synthetic_info(root)["n"] == 5
    assert len(list((root / "img_align_celeba").glob("*.jpg"))) == 5


def test_ensure_rewrites_a_set_of_another_generator_version(tmp_cache):
    root = ensure_synthetic_celeba(4)
    marker = root / MARKER_FILE
    marker.write_text(marker.read_text().replace(f'"version": {GENERATOR_VERSION}',
                                                 '"version": -1'))
    ensure_synthetic_celeba(4)
    assert synthetic_info(root)["version"] == GENERATOR_VERSION


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("n", [0, 2, -5])
def test_too_few_images_is_a_clear_error(tmp_path, n):
    with pytest.raises(ValueError, match="at least 3"):
        write_synthetic_celeba(tmp_path / "x", n=n)
    with pytest.raises(ValueError, match="at least 3"):
        partition_sizes(n)
    assert not (tmp_path / "x").exists()


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="original, kaggle, torchvision"):
        write_synthetic_celeba(tmp_path / "x", n=5, layout="zip")
    with pytest.raises(TypeError, match="integer"):
        write_synthetic_celeba(tmp_path / "x", n=5.0)
    with pytest.raises(ValueError, match="6 digits"):
        write_synthetic_celeba(tmp_path / "x", n=1_000_000)


@pytest.mark.parametrize("layout", ["original", "kaggle", "torchvision"])
def test_a_file_in_the_way_is_named_and_left_alone(tmp_path, layout):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    for root in (target, target / "celeba"):
        with pytest.raises(NotADirectoryError, match=f"{re.escape(str(target))} is a file"):
            write_synthetic_celeba(root, n=3, layout=layout)
    assert target.read_text() == "mine"


def test_refuses_to_write_over_celeba_files(tmp_path):
    root = write_synthetic_celeba(tmp_path / "set", n=3, seed=0)
    before = _tree(root)
    with pytest.raises(FileExistsError, match="empty or new folder"):
        write_synthetic_celeba(root, n=4, seed=1)
    assert _tree(root) == before
    # Another layout's files count too.
    (tmp_path / "kaggle").mkdir()
    (tmp_path / "kaggle" / "list_attr_celeba.csv").write_text("image_id\n")
    with pytest.raises(FileExistsError, match="list_attr_celeba.csv"):
        write_synthetic_celeba(tmp_path / "kaggle", n=3, layout="kaggle")
    # An unrelated non-empty folder is fine.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hello")
    write_synthetic_celeba(tmp_path / "other", n=3)
    assert (tmp_path / "other" / "notes.txt").read_text() == "hello"


def test_public_names():
    from celeba_lab import faces

    for name in ("write_synthetic_celeba", "ensure_synthetic_celeba",
                 "synthetic_prevalence_table", "sample_attributes"):
        assert name in synthetic.__all__
        assert getattr(synthetic, name).__doc__
    assert os.path.basename(synthetic.__file__) == "synthetic.py"
    # The drawing has its own module; the sampling and writing module uses it.
    assert "draw_face" in faces.__all__ and faces.draw_face.__doc__
    assert synthetic.draw_face is faces.draw_face


UNGUARDED_SCRIPT = """
from celeba_lab.synthetic import write_synthetic_celeba
root = write_synthetic_celeba({root!r}, n=120, seed=0, workers=2)
print("written", len(list((root / "img_align_celeba").iterdir())))
"""


def test_a_script_without_a_main_guard_writes_with_worker_processes(tmp_path):
    # The README's example saved as a script and run with `python ex.py`: no
    # `if __name__ == "__main__":` guard, and worker processes all the same.
    script = tmp_path / "ex.py"
    script.write_text(UNGUARDED_SCRIPT.format(root=str(tmp_path / "out")))
    here = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=here)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "written 120" in done.stdout
    direct = write_synthetic_celeba(tmp_path / "direct", n=120, seed=0, workers=1)
    for name in ("000001.jpg", "000120.jpg"):
        assert ((tmp_path / "out" / "img_align_celeba" / name).read_bytes()
                == (direct / "img_align_celeba" / name).read_bytes())


def test_ensure_removes_the_temporary_folder_of_a_killed_writer(tmp_cache):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_cache / f".synthetic-5-0.{dead.pid}.k2j4x9ab.tmp"      # its writer was killed
    busy = tmp_cache / f".synthetic-5-0.{os.getppid()}.q8w7e6rt.tmp"  # its writer still works
    for folder in (left, busy):
        (folder / "img_align_celeba").mkdir(parents=True)
    ensure_synthetic_celeba(5, seed=0)
    assert not left.exists() and busy.exists()


# --------------------------------------------------------------------------- a full disk, a kill

from hand_celeba import fill_disk_after, write_killed_half_way  # noqa: E402  (tests/ on sys.path)


@pytest.mark.parametrize("suffix, files", [(".jpg", 3), (".txt", 1)])
@pytest.mark.parametrize("layout", ["original", "torchvision"])
@pytest.mark.parametrize("existing", [False, True])
def test_a_full_disk_is_one_clear_error_and_leaves_nothing_half_written(
        tmp_path, monkeypatch, suffix, files, layout, existing):
    root = tmp_path / "new" / "set"
    if existing:
        root.mkdir(parents=True)
        (root / "notes.txt").write_text("mine")
    fill_disk_after(monkeypatch, files, suffix)
    with pytest.raises(OSError) as raised:
        write_synthetic_celeba(root, n=8, seed=0, layout=layout)
    message = str(raised.value)
    assert raised.value.errno == errno.ENOSPC and "Traceback" not in message
    assert str(root) in message and "MiB" in message, message
    assert "Free some space" in message and "removed" in message, message
    if existing:                                    # only what this call made was removed
        assert [p.name for p in root.iterdir()] == ["notes.txt"]
    else:
        assert not (tmp_path / "new").exists()
    monkeypatch.undo()
    write_synthetic_celeba(root, n=8, seed=0, layout=layout)   # nothing in the way


def test_a_full_disk_in_a_drawing_process_keeps_its_error_number(monkeypatch):
    import io
    import json

    from celeba_lab import _drawing, faces
    from celeba_lab._decoding import _error

    def full(task):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(faces, "render_chunk", full)
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps([0, [0, ["0" * 40], "x"]]) + "\n"))
    monkeypatch.setattr("sys.stdout", io.StringIO())
    _drawing._serve()
    reply = json.loads(sys.stdout.getvalue())
    assert _error(reply).errno == errno.ENOSPC


@pytest.mark.parametrize("files", [0, 2])
def test_a_set_killed_half_way_is_said_to_be_incomplete(tmp_path, files):
    root = tmp_path / "set"
    write_killed_half_way(root, n=5, files=files)
    assert synthetic_info(root) is None            # not trusted as a set
    with pytest.raises(FileNotFoundError, match=r"incomplete synthetic CelebA.*Delete"):
        load_celeba(root)
    with pytest.raises(FileExistsError, match=r"incomplete synthetic CelebA.*[Dd]elete"):
        write_synthetic_celeba(root, n=5)


def test_ensure_rewrites_a_set_killed_half_way_in_its_cache(tmp_cache):
    target = tmp_cache / "synthetic-5-0"
    write_killed_half_way(target, n=5, files=2)
    root = ensure_synthetic_celeba(5, seed=0)
    assert root == target and synthetic_info(root)["n"] == 5
    assert (root / "identity_CelebA.txt").is_file() and len(load_celeba(root)) == 5
