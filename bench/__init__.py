"""Benchmarks: speed and memory of the package against the standard Keras ways.

Run them with ``make bench`` (``python -m bench``: N = 2,000 and 20,000 synthetic images,
about 18 minutes on this project's 2-core machine) or ``make bench-full`` (adds all 202,599 images). Every
benchmark prints its figures and the ratio to its named baseline, measured in the same run, and
writes them as JSON and CSV under ``bench/results/``, where the performance appendix
(``book/06_performance.md``) reads them. The results committed there are the reference
measurement (a quiet run on the 2-core machine); rerunning ``make bench`` replaces them.

Modules:

``bench.machine``
    What the numbers were measured on (CPU model, cores, RAM, GPU, library versions).
``bench.data_bench``
    Preparing the 64 x 64 GAN input and the 218 x 178 classifier input for N images: the
    package's on-disk cache and streamed batches, against ``keras.utils.image_dataset_from_directory``
    and against loading everything into one NumPy array as the source report did.
``bench.train_bench``
    Steps per second of the package's GAN and classifier training against plain Keras
    (the keras.io DCGAN example's ``train_step``, and ``model.fit``), plus mixed precision and XLA.
``bench.projection``
    The report's full recipe (30 GAN epochs over 202,599 images, 3 classifiers x 15 epochs)
    projected from measured steps per second.
``bench.report``
    What the performance appendix reads: results files, GPU results, tables, a small live run.
``bench.chapter_memory``
    Every chapter's notebook run on all 202,599 images with the full profile's sample sizes
    and short training (``make bench-chapters``): each chapter's peak memory against Colab's
    RAM, written to ``bench/results/chapter_memory.json``.
``bench.read_ahead``
    Later epochs of the full classifier input, whose 22 GiB cache the file cache cannot hold,
    with and without announcing the rows of the batches ahead to the OS, alternating in one
    process (``make bench-read-ahead``), written to ``bench/results/read_ahead.json``.
``bench.timing``, ``bench.memory``
    Steps per second from a ``fit()`` callback; peak memory sampled in a thread.
``bench/gpu_check.py``
    A self-contained script for a GPU machine with JAX or PyTorch and no TensorFlow; its
    results, committed under ``bench/gpu_results/``, are read by the appendix.
"""

from __future__ import annotations

from pathlib import Path

#: Where ``python -m bench`` writes its JSON and CSV files (git-ignored).
RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: Where the GPU check results committed to the repository live (read by the appendix).
GPU_RESULTS_DIR = Path(__file__).resolve().parent / "gpu_results"

__all__ = ["RESULTS_DIR", "GPU_RESULTS_DIR"]
