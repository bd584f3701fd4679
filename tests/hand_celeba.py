"""The hand-made CelebA of the data-layer tests: a tiny set in the real on-disk format, whose
image i is a flat grey JPEG that a test can recognise; and the helpers of the full-disk and
killed-writer tests.

Imported by tests/test_data.py, test_images.py, test_cache.py, test_batches.py, test_synthetic.py
and test_cli.py (its folder and data set are the fixtures ``hand_root`` and ``hand_data`` of
tests/conftest.py)."""

from __future__ import annotations

import errno
import os

import numpy as np
from PIL import Image

from celeba_lab import config, data as D
from celeba_lab.attributes import ATTRIBUTES


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


# ---------------------------------------------------------------------------------------------
# The decoded-image cache
# ---------------------------------------------------------------------------------------------


def recognise(x: np.ndarray) -> np.ndarray:
    """Which hand-made image each float image in [0, 1] is (from its flat grey level)."""
    return np.rint((x.reshape(len(x), -1).mean(axis=1) * 255 - 20) / 7).astype(int)


def _cache_files(pattern: str = "*") -> list[str]:
    """Names in the image cache: "*.npy" the finished caches, ".*.tmp.npy" those being
    written, "*" everything."""
    folder = config.cache_dir() / "images"
    names = sorted(p.name for p in folder.glob(pattern)) if folder.is_dir() else []
    return names if pattern.startswith((".", "*.*")) or pattern == "*" else [
        n for n in names if not n.startswith(".")]


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


def fill_disk_after(monkeypatch, files: int, suffix: str = ".jpg") -> None:
    """Make the disk fill up after ``files`` files ending in ``suffix``: the next one is left
    empty and its write fails with ENOSPC, as on a real full disk."""
    from pathlib import Path

    real, written = Path.write_bytes, []

    def write_bytes(self, data):
        if self.suffix == suffix:
            if len(written) >= files:
                real(self, b"")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
            written.append(self)
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


# ---------------------------------------------------------------------------------------------
# A synthetic set whose writer was killed
# ---------------------------------------------------------------------------------------------

_KILLED = """
import os, signal
import celeba_lab.synthetic as synthetic

written, write_text = [], synthetic._write_text

def killed_after_some(*args, **kwargs):   # the process is killed, nothing cleans up after it
    if len(written) == {files}:
        os.kill(os.getpid(), signal.SIGKILL)
    written.append(args[0])
    write_text(*args, **kwargs)

synthetic._write_text = killed_after_some
synthetic.write_synthetic_celeba({root!r}, n={n}, seed=0)
"""


def write_killed_half_way(root, n: int = 5, files: int = 0) -> None:
    """Write a synthetic set in a process killed (SIGKILL) after its images and ``files`` of
    its annotation files (0: none, 2: the attribute and partition files)."""
    import subprocess
    import sys
    from pathlib import Path

    here = str(Path(__file__).resolve().parent.parent)
    done = subprocess.run([sys.executable, "-c", _KILLED.format(root=str(root), n=n,
                                                                  files=files)],
                          env=dict(os.environ, PYTHONPATH=here), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == -9, done.stderr[-2000:]
    assert len(list(Path(root).glob("img_align_celeba/*.jpg"))) == n
