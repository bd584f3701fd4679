"""Later epochs of a cache bigger than the file cache, with and without read-ahead.

``python -m bench.read_ahead`` (``make bench-read-ahead``) streams the classifier input
(218 x 178) of all 202,599 synthetic images through :func:`celeba_lab.classifier_batches`, as
``model.fit`` does: one batches object, shuffled, the first epoch filling the cache. Every later
epoch reads the cache file in a new random order; the rows the operating system's file cache
does not hold come from the disk. The package announces the rows of the batches ahead to the OS
(``posix_fadvise(WILLNEED)``, ``celeba_lab.batches._READ_AHEAD`` batches ahead) so that the disk
fetches them while Python copies the rows at hand. The baseline is the same code with nothing
announced (``_READ_AHEAD = 0``). The epochs alternate between the two in one process, so both
see the same file-cache state and the same machine. The cache needs 22 GiB of free disk at full
size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench import RESULTS_DIR  # noqa: E402

#: Read-ahead of each later epoch, in order: the two alternate, each measured three times.
SCHEDULE = (8, 0, 8, 0, 0, 8)


def _epoch_seconds(batches) -> float:
    started = time.perf_counter()
    for index in range(len(batches)):
        batches[index]
    batches.on_epoch_end()
    return time.perf_counter() - started


def run_read_ahead(n: int = 202_599, *, schedule: tuple[int, ...] = SCHEDULE,
                   scratch: Path | None = None, log=print) -> dict[str, Any]:
    """Time the first epoch and then one epoch per entry of ``schedule`` (batches read ahead).

    Returns ``epochs`` (one dict per epoch: ``epoch``, ``read_ahead``, ``seconds``,
    ``images_per_s``), the median images per second with and without read-ahead, and their
    ratio. The synthetic set of ``n`` images is written into the package cache when missing; the
    image cache goes into ``scratch`` (default: inside the package cache), removed at the end.
    """
    import celeba_lab.batches as batches_module
    from celeba_lab import config
    from celeba_lab.data import load_celeba
    from celeba_lab.synthetic import ensure_synthetic_celeba

    root = ensure_synthetic_celeba(n)
    scratch = scratch or config.cache_dir() / "bench-scratch" / "read-ahead"
    shutil.rmtree(scratch, ignore_errors=True)
    # This process's own cache setting, if any, and the package's read-ahead, restored after.
    previous_cache = config._overrides.get(config.CACHE_ENV)
    previous_images = config._overrides.get(config.IMAGES_ENV)
    previous_ahead = batches_module._READ_AHEAD
    config.set_cache_dir(scratch)   # an empty cache: the first epoch decodes and writes it
    config.set_images_dir(scratch / "images")
    try:
        data = load_celeba(root)
        labels = data.labels("Male", data.attributes.index[:n])
        batches = batches_module.classifier_batches(data, labels, batch_size=50, shuffle=True)
        seconds = _epoch_seconds(batches)
        epochs = [{"epoch": 1, "read_ahead": None, "seconds": seconds,
                   "images_per_s": n / seconds}]
        log(f"epoch 1 (decodes and writes the cache): {n / seconds:>9,.0f} images/s")
        if batches._fill is not None:
            batches._fill.finished.join()   # the last writes; model.fit goes on with these batches
        for epoch, ahead in enumerate(schedule, start=2):
            batches_module._READ_AHEAD = ahead
            seconds = _epoch_seconds(batches)
            epochs.append({"epoch": epoch, "read_ahead": ahead, "seconds": seconds,
                           "images_per_s": n / seconds})
            log(f"epoch {epoch} ({ahead} batches read ahead): {n / seconds:>9,.0f} images/s")
    finally:
        batches_module._READ_AHEAD = previous_ahead
        config.set_cache_dir(previous_cache)
        config.set_images_dir(previous_images)
        shutil.rmtree(scratch, ignore_errors=True)
    with_ahead = statistics.median(e["images_per_s"] for e in epochs[1:] if e["read_ahead"])
    without = statistics.median(e["images_per_s"] for e in epochs[1:] if not e["read_ahead"])
    return {"n": n, "batch_size": 50, "size": [218, 178], "read_ahead": max(schedule),
            "epochs": epochs, "with_read_ahead_images_per_s": with_ahead,
            "without_read_ahead_images_per_s": without, "ratio": with_ahead / without}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.read_ahead",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=202_599,
                        help="synthetic images streamed (the effect needs a cache bigger than "
                             "the file cache: all 202,599 take 22 GiB)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "read_ahead.json",
                        help="where to write the results")
    args = parser.parse_args(argv)
    from bench.machine import describe_machine, machine_line
    from celeba_lab._io import write_json_atomic

    machine = describe_machine()
    print(f"machine: {machine_line(machine)}", flush=True)
    result = run_read_ahead(args.images, log=lambda line: print(line, flush=True))
    print(f"read-ahead / none: x{result['ratio']:.2f} "
          f"({result['with_read_ahead_images_per_s']:,.0f} vs "
          f"{result['without_read_ahead_images_per_s']:,.0f} images/s, medians)")
    write_json_atomic(args.out, {"machine": machine, **result})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
