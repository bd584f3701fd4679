"""Peak memory of every chapter on the full data set: does each fit Colab's 12 GB of RAM?

``python -m bench.chapter_memory`` executes each chapter's notebook in a fresh kernel, the way
a reader's Colab session runs it, with

* all 202,599 images of a CelebA (``--root``; default: ``$CELEBA_ROOT``, else the package's
  synthetic CelebA at full size, written once into the cache),
* the full profile's sample sizes and faces per source (10,000 / 2,000 / 1,000 images per
  attribute, 10,000 generated faces per GAN), and
* short training (``--changes``, default: one classifier epoch, one GAN epoch of 10 steps),
  since what a chapter holds does not grow with its steps and the report's whole recipe takes
  days on a CPU.

It follows the kernel and its worker processes every 50 ms and records, per chapter: the
kernel's peak resident memory (the kernel's own high-water mark, exact), the peak anonymous
memory of the kernel and its workers (arrays and framework buffers, which no file backs and
the system cannot drop), and the peak resident memory of all of them (which also counts pages
of memory-mapped caches that the system drops when it needs room). Results go to
``bench/results/chapter_memory.json``, which the performance appendix reads.

Examples::

    python -m bench.chapter_memory                       # every chapter, ~1 h on 2 cores
    python -m bench.chapter_memory --chapters 02 05      # some chapters
    python -m bench.chapter_memory --root /data/celeba   # real CelebA
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench import RESULTS_DIR
from bench.memory import _status as _status_mib

BOOK = Path(__file__).resolve().parents[1] / "book"
FULL_SIZE = 202_599
#: Short training on the full profile's data and sample sizes.
DEFAULT_CHANGES = "classifier_epochs=1,improved_epochs=1,gan_epochs=1,gan_steps_per_epoch=10"
#: What Colab's free tier gives a notebook.
COLAB_RAM_GIB = 12.7


def chapter_notebooks(chapters: list[str] | None = None) -> list[Path]:
    """The book's executable chapters (``book/NN_*.ipynb``), or those whose number is given."""
    found = sorted(p for p in BOOK.glob("[0-9][0-9]_*.ipynb"))
    if chapters:
        found = [p for p in found if p.name[:2] in {c.zfill(2) for c in chapters}]
        if not found:
            raise SystemExit(f"No chapter numbered {', '.join(chapters)} in {BOOK}.")
    return found


class KernelMemory:
    """Sample a kernel process and its children every ``interval`` seconds; keep the peaks."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid, self.interval = pid, interval
        self.peak = {"kernel_rss": 0.0, "anon": 0.0, "rss": 0.0, "workers_rss": 0.0}
        #: The cell running now, and the one that was running at the peak of anonymous memory.
        self.cell: int | None = None
        self.peak_anon_cell: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        import psutil

        own = _status_mib(self.pid)
        if not own:
            return
        anon, rss = own.get("RssAnon", own["VmRSS"]), own["VmRSS"]
        workers = 0.0
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            values = _status_mib(child.pid)
            if values:
                anon += values.get("RssAnon", values["VmRSS"])
                workers += values["VmRSS"]
        now = {"kernel_rss": max(own["VmRSS"], own.get("VmHWM", 0.0)), "anon": anon,
               "rss": rss + workers, "workers_rss": workers}
        if anon > self.peak["anon"]:
            self.peak_anon_cell = self.cell
        for key, value in now.items():
            self.peak[key] = max(self.peak[key], value)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.interval)

    def __enter__(self) -> "KernelMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def run_chapter(path: Path, *, timeout: float | None = None) -> dict[str, Any]:
    """Execute one chapter's notebook in a fresh kernel; its time, peak memory and outcome.

    The kernel inherits this process's environment (``CELEBA_ROOT``, ``CELEBA_LAB_PROFILE``,
    ``CELEBA_LAB_CACHE``...). A failing cell ends the chapter: the row says which cell and why.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    row: dict[str, Any] = {"chapter": path.stem, "ok": True, "error": None}
    started = time.perf_counter()
    with client.setup_kernel():
        with KernelMemory(client.km.provisioner.process.pid) as memory:
            for index, cell in enumerate(nb.cells):
                memory.cell = index
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as error:
                    row.update(ok=False, error=f"cell {index}: {str(error).strip()[-600:]}")
                    break
                memory.sample()   # a cell's last moments, before the next one frees them
    row["seconds"] = round(time.perf_counter() - started, 1)
    row.update({f"peak_{key}_mib": round(value, 1) for key, value in memory.peak.items()})
    # Where to look first when a chapter holds too much: the cell at the peak, its first line.
    peak_cell = memory.peak_anon_cell
    row["peak_anon_cell"] = peak_cell
    row["peak_anon_code"] = (None if peak_cell is None else
                             next((line for line in nb.cells[peak_cell].source.splitlines()
                                   if line.strip() and not line.startswith(("#", ":"))), ""))
    return row


def _full_synthetic_root(n: int) -> Path:
    from celeba_lab.synthetic import ensure_synthetic_celeba

    return ensure_synthetic_celeba(n)


def run(chapters: list[Path], *, root: Path, profile: str, cache: Path,
        out: Path | None = None, log=print) -> dict[str, Any]:
    """Run ``chapters`` one after another in one cache, as a reader would; the results,
    written to ``out`` after every chapter (a run stopped midway keeps the chapters done)."""
    from bench.machine import describe_machine
    from celeba_lab import config
    from celeba_lab._io import write_json_atomic

    os.environ.update({config.ROOT_ENV: str(root), config.PROFILE_ENV: profile,
                       config.CACHE_ENV: str(cache)})
    os.environ.pop(config.IMAGES_ENV, None)   # the chapters' images in that cache too
    result = {"machine": describe_machine(), "root": str(root), "profile": profile,
              "images": _image_count(root), "colab_ram_gib": COLAB_RAM_GIB, "rows": []}
    rows = result["rows"]
    for path in chapters:
        log(f"-- {path.stem}: running")
        row = run_chapter(path)
        rows.append(row)
        if out is not None:
            write_json_atomic(out, result)
        log(f"   {row['seconds']:.0f} s, kernel peak RSS {row['peak_kernel_rss_mib']:,.0f} MiB, "
            f"anonymous (kernel + workers) {row['peak_anon_mib']:,.0f} MiB, resident (all) "
            f"{row['peak_rss_mib']:,.0f} MiB; peak in cell {row['peak_anon_cell']}: "
            f"{row['peak_anon_code']}" + ("" if row["ok"] else f"; FAILED: {row['error']}"))
    return result


def _image_count(root: Path) -> int:
    from celeba_lab import load_celeba

    return len(load_celeba(root))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.chapter_memory",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--chapters", nargs="+", default=None,
                        help="chapter numbers to run (default: all)")
    parser.add_argument("--root", type=Path, default=None,
                        help=f"a CelebA folder (default: $CELEBA_ROOT, else the synthetic CelebA "
                             f"of {FULL_SIZE:,} images, written into the cache when missing)")
    parser.add_argument("--changes", default=DEFAULT_CHANGES,
                        help=f"profile fields changed from the full profile (default: "
                             f"{DEFAULT_CHANGES}); '' for the whole recipe")
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache for the chapters' decoded images and models (default: a "
                             "folder chapter-memory in the package's cache)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "chapter_memory.json",
                        help="where to write the results")
    return parser


def main(argv: list[str] | None = None) -> int:
    from celeba_lab import config

    args = _parser().parse_args(argv)
    root = (args.root or config.data_root() or _full_synthetic_root(FULL_SIZE)).resolve()
    profile = "full" + (f":{args.changes}" if args.changes else "")
    config.get_profile(profile)      # an unreadable change fails here, not in every chapter
    cache = args.cache or config.cache_dir() / "chapter-memory"
    print(f"== peak memory of each chapter: {root}, profile {profile}, cache {cache}")
    result = run(chapter_notebooks(args.chapters), root=root, profile=profile, cache=cache,
                 out=args.out)
    print(f"wrote {args.out}")
    return 0 if all(r["ok"] for r in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
