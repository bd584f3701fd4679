"""Benchmark 1: preparing CelebA's images for training, three ways, time and peak memory.

For N synthetic images (in CelebA's exact file format) and each of the two inputs the book
trains on (the GAN's 64 x 64 batches of 32, the classifier's 218 x 178 batches of 50), three
ways of producing float32 batches in [0, 1] are timed over two epochs:

``package``
    :func:`celeba_lab.gan_batches` / :func:`celeba_lab.classifier_batches`: the first epoch
    decodes every JPEG once into an on-disk uint8 cache, then streams batches from it; the
    second epoch only streams.
``keras``
    ``keras.utils.image_dataset_from_directory(folder, labels=None, ...)`` followed by
    ``.map(lambda x: x / 255.0)``, as the keras.io DCGAN example prepares CelebA. It decodes
    every JPEG again in every epoch.
``numpy``
    The source report's way: decode every image with PIL into a list, then one float32 array
    (``np.array(images, dtype="float32") / 255``); epochs then slice that array. Its memory is
    ``N x H x W x 3 x 4`` bytes plus the list, so large N are skipped (and the memory they
    would need is recorded) rather than run the machine out of RAM.

Each (N, input, way) runs in a fresh Python process, so peak memory is its own and nothing is
cached across ways. The "cold" first epoch starts with the JPEG files evicted from the OS page
cache (``posix_fadvise(DONTNEED)``) and an empty package cache; the "warm" second epoch follows
it in the same process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

__all__ = ["TARGETS", "VARIANTS", "run_data_benchmark", "data_ratios", "numpy_bytes_needed"]

#: The two inputs the book prepares: image size (height, width) and batch size.
TARGETS: dict[str, dict[str, Any]] = {
    "gan": {"size": (64, 64), "batch": 32},
    "classifier": {"size": (218, 178), "batch": 50},
}

#: The ways compared, package first; the ratios are package / baseline.
VARIANTS: tuple[str, ...] = ("package", "keras", "numpy")


def numpy_bytes_needed(n: int, target: str) -> int:
    """Bytes the report's in-RAM way needs at its peak: the uint8 list plus the float32 array."""
    height, width = TARGETS[target]["size"]
    return n * height * width * 3 * (1 + 4)


# --------------------------------------------------------------------------- child process


def _evict_from_page_cache(paths: Iterable[Path]) -> None:
    """Ask the kernel to drop these files from its page cache, so the next read is cold."""
    if not hasattr(os, "posix_fadvise"):
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _image_files(root: Path, n: int) -> list[Path]:
    from celeba_lab.data import load_celeba

    data = load_celeba(root)
    return data.paths(data.attributes.index[:n])


def _epochs_package(root: Path, target: str, n: int, work: Path):
    """Yield after each epoch: the package's cached, streamed batches."""
    from celeba_lab import config
    from celeba_lab.batches import classifier_batches, gan_batches
    from celeba_lab.data import load_celeba

    config.set_cache_dir(work)  # an empty cache: the first epoch decodes everything
    config.set_images_dir(work / "images")  # (even where CELEBA_LAB_IMAGE_CACHE is set)
    spec = TARGETS[target]
    data = load_celeba(root)
    ids = data.attributes.index[:n]
    if target == "gan":
        batches = gan_batches(data, ids, batch_size=spec["batch"], size=spec["size"],
                              shuffle=True)
    else:
        batches = classifier_batches(data, data.labels("Male", ids), batch_size=spec["batch"],
                                     size=spec["size"], shuffle=True)
    while True:
        for index in range(len(batches)):
            batches[index]
        batches.on_epoch_end()
        yield


def _image_folder(root: Path, n: int, work: Path) -> Path:
    """A folder holding exactly the first ``n`` images (hard links), for the folder-based way."""
    from celeba_lab.data import load_celeba

    data = load_celeba(root)
    if n >= len(data):
        return data.image_dir
    folder = work / "images"
    if folder.is_dir():  # made before the clock started
        return folder
    folder.mkdir(parents=True)
    for path in data.paths(data.attributes.index[:n]):
        try:
            os.link(path, folder / path.name)
        except OSError:  # another file system, or no hard links: a symbolic link reads the same
            os.symlink(path, folder / path.name)
    return folder


def _epochs_keras(root: Path, target: str, n: int, work: Path):
    """Yield after each epoch: keras.utils.image_dataset_from_directory, as keras.io does."""
    import keras

    spec = TARGETS[target]
    image_dir = _image_folder(root, n, work)
    dataset = keras.utils.image_dataset_from_directory(
        image_dir, labels=None, image_size=spec["size"], batch_size=spec["batch"],
        shuffle=True, seed=0, verbose=False)
    dataset = dataset.map(lambda x: x / 255.0)
    while True:
        for _ in dataset:
            pass
        yield


def _epochs_numpy(root: Path, target: str, n: int, work: Path):
    """Yield after each epoch: every image decoded into one float32 array, the report's way."""
    import numpy as np
    from PIL import Image

    spec = TARGETS[target]
    height, width = spec["size"]
    images = []
    for path in _image_files(root, n):
        with Image.open(path) as image:
            images.append(np.asarray(image.convert("RGB").resize((width, height))))
    x = np.array(images, dtype=np.float32)
    del images
    x /= 255
    rng = np.random.default_rng(0)
    batch = spec["batch"]
    while True:  # every epoch slices shuffled batches out of the array, as model.fit does
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            x[order[start:start + batch]]
        yield


_EPOCHS = {"package": _epochs_package, "keras": _epochs_keras, "numpy": _epochs_numpy}


def _child(variant: str, target: str, root: Path, n: int, work: Path,
           epochs: int) -> dict[str, Any]:
    from bench.memory import PeakMemory

    # Import what the way needs before measuring: the floor then holds the framework.
    import keras  # noqa: F401  (ImageBatches is a keras PyDataset; the report trained with Keras)

    import celeba_lab.batches  # noqa: F401

    files = _image_files(root, n)
    n = len(files)
    if variant == "keras":
        _image_folder(root, n, work)  # linking the files is set-up, not the way's cost
    _evict_from_page_cache(files)
    result: dict[str, Any] = {"variant": variant, "target": target, "n": n}
    with PeakMemory() as memory:
        result["floor_rss_mib"] = memory.floor["rss"]
        result["floor_anon_mib"] = memory.floor["anon"]
        epochs_iter = _EPOCHS[variant](root, target, n, work)
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            next(epochs_iter)
            seconds = time.perf_counter() - start
            result[f"epoch{epoch}_s"] = seconds
            result[f"epoch{epoch}_images_per_s"] = n / seconds
    result["peak_rss_mib"] = memory.peak["rss"]
    result["peak_anon_mib"] = memory.peak["anon"]
    result["delta_rss_mib"] = memory.peak["rss"] - memory.floor["rss"]
    result["delta_anon_mib"] = memory.peak["anon"] - memory.floor["anon"]
    import resource

    result["ru_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cache_bytes = sum(p.stat().st_size for p in work.rglob("*.npy")) if work.exists() else 0
    result["disk_cache_mib"] = cache_bytes / 2**20
    return result


# --------------------------------------------------------------------------- parent process


def _run_child(variant: str, target: str, root: Path, n: int, scratch: Path, epochs: int,
               timeout: float) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"{variant}-{target}-", dir=scratch))
    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=os.pathsep.join(
        p for p in (str(repo), os.environ.get("PYTHONPATH")) if p))
    command = [sys.executable, "-m", "bench.data_bench", "--child", variant, target,
               str(root), str(n), str(work), str(epochs)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=repo,
                              timeout=timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"data benchmark {variant}/{target} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _limit_bytes(max_baseline_gib: float | None) -> float:
    import psutil

    if max_baseline_gib is not None:
        return max_baseline_gib * 2**30
    # Leave room for everything else on the machine (other processes, the page cache).
    return 0.4 * psutil.virtual_memory().available


def run_data_benchmark(sizes: Iterable[int], *, targets: Iterable[str] = tuple(TARGETS),
                       variants: Iterable[str] = VARIANTS, epochs: int = 2,
                       max_baseline_gib: float | None = None, seed: int = 0,
                       source_n: int | None = None,
                       scratch: Path | None = None, timeout: float = 3600,
                       log=print) -> list[dict[str, Any]]:
    """Time and measure every (N, input, way); write nothing, return one row per run.

    Args:
        sizes: Numbers of images, e.g. ``(2000, 20000)``: the first N of one synthetic set.
        source_n: Size of that set (default: the largest N). It is written once into the
            package cache (``ensure_synthetic_celeba``) and reused by later runs.
        targets: ``"gan"`` and/or ``"classifier"``.
        variants: Ways to compare (:data:`VARIANTS`).
        epochs: Epochs per run (the first is cold, the rest warm).
        max_baseline_gib: Skip the in-RAM way when it would need more than this; default 40 %
            of the memory available when the benchmark starts.
        seed: Seed of the synthetic sets.
        scratch: Folder for the package's temporary image caches (default: inside the cache).
        timeout: Seconds allowed for one run.
        log: Where progress lines go.

    Returns:
        Rows with ``n``, ``target``, ``variant``, ``epochN_s``, ``epochN_images_per_s``,
        ``floor_*``/``peak_*``/``delta_*`` memory in MiB, or ``skipped`` with a ``reason``.
    """
    import celeba_lab.config as config
    from celeba_lab.synthetic import ensure_synthetic_celeba

    scratch = Path(scratch or config.cache_dir() / "bench-scratch")
    scratch.mkdir(parents=True, exist_ok=True)
    limit = _limit_bytes(max_baseline_gib)
    sizes = sorted(int(n) for n in sizes)
    source_n = max(source_n or 0, sizes[-1])
    started = time.perf_counter()
    root = ensure_synthetic_celeba(source_n, seed)
    log(f"synthetic CelebA of {source_n:,} images ready in "
        f"{time.perf_counter() - started:.0f} s ({root}); smaller N use its first images")
    rows = []
    for n in sizes:
        for target in targets:
            for variant in variants:
                if variant == "numpy" and numpy_bytes_needed(n, target) > limit:
                    need = numpy_bytes_needed(n, target) / 2**30
                    row = {"n": n, "target": target, "variant": variant, "skipped": True,
                           "needed_gib": need,
                           "reason": f"needs about {need:.1f} GiB of RAM (limit "
                                     f"{limit / 2**30:.1f} GiB)"}
                    log(f"  N={n:>7,} {target:<10} {variant:<8} skipped: {row['reason']}")
                else:
                    row = _run_child(variant, target, root, n, scratch, epochs, timeout)
                    row["skipped"] = False
                    log(f"  N={n:>7,} {target:<10} {variant:<8} "
                        + "  ".join(f"epoch {e}: {row[f'epoch{e}_images_per_s']:>8,.0f} img/s"
                                    for e in range(1, epochs + 1))
                        + f"  peak +{row['delta_rss_mib']:,.0f} MiB RSS "
                          f"(+{row['delta_anon_mib']:,.0f} MiB anonymous)")
                rows.append(row)
    return rows


def data_ratios(rows: list[dict[str, Any]], epochs: int = 2) -> list[dict[str, Any]]:
    """Package / baseline ratios per (N, input, baseline): throughput and memory added.

    A throughput ratio above 1 means the package is faster; a memory ratio below 1 means it
    needs less memory than the baseline.
    """
    by_key = {(r["n"], r["target"], r["variant"]): r for r in rows}
    out = []
    for (n, target, variant), package in by_key.items():
        if variant != "package" or package.get("skipped"):
            continue
        for baseline in VARIANTS[1:]:
            other = by_key.get((n, target, baseline))
            if other is None or other.get("skipped"):
                continue
            row = {"n": n, "target": target, "baseline": baseline}
            for e in range(1, epochs + 1):
                key = f"epoch{e}_images_per_s"
                if key in package and key in other:
                    row[f"throughput_ratio_epoch{e}"] = package[key] / other[key]
            row["memory_ratio"] = (max(package["delta_rss_mib"], 1.0)
                                   / max(other["delta_rss_mib"], 1.0))
            out.append(row)
    return out


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=6,
                        metavar=("VARIANT", "TARGET", "ROOT", "N", "WORK", "EPOCHS"),
                        help="(internal) run one measurement and print it as JSON")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    args = parser.parse_args(argv)
    if args.child:
        variant, target, root, n, work, epochs = args.child
        result = _child(variant, target, Path(root), int(n), Path(work), int(epochs))
        print(json.dumps(result))
        return 0
    run_data_benchmark(args.sizes)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
