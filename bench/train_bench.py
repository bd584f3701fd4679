"""Benchmark 2: steps per second of the package's training against plain Keras.

GAN (the report's generator and discriminator, batches of 32 from the package's 64 x 64
pipeline, the same batches for every variant):

``package: train_gan``
    :func:`celeba_lab.train_gan`, as a chapter calls it: the package's ``DCGAN.train_step``,
    its loss history, monitor and per-epoch checkpoints.
``keras.io example train_step``
    The baseline: the keras.io DCGAN example's ``train_step`` (``bench.keras_dcgan``) around
    the same two networks, trained with ``fit()``.
``package: DCGAN.fit`` (+ mixed precision, + XLA)
    :func:`celeba_lab.build_gan` and ``fit()``: the reference for the GPU options, each
    measured with exactly one change.

Classifier (the report's CNN, 218 x 178 batches of 50, one balanced sample for all):

``package: train_classifier``
    :func:`celeba_lab.train_classifier` on the package's streamed batches.
``plain model.fit``
    The baseline: ``report_classifier()`` and ``model.fit(x, y, batch_size=50)`` on the same
    images held in one float32 array.
``package: train_classifier`` + mixed precision, ``fit`` on the package's batches + XLA.

Each variant trains ``warmup + steps`` steps; the first ``warmup`` (tracing, compiling) are not
timed. Package and baseline runs alternate ``repeats`` times and the ratio uses the median
step time of each, which a short burst of other load on the machine moves least.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from bench.timing import step_timer, summarise_steps

__all__ = ["run_training_benchmark", "training_ratios", "mixed_policy_name",
           "GAN_BASELINE", "GAN_PACKAGE", "CLASSIFIER_BASELINE", "CLASSIFIER_PACKAGE"]

GAN_PACKAGE = "package: train_gan"
GAN_BASELINE = "keras.io example train_step"
GAN_FIT = "package: DCGAN.fit"
CLASSIFIER_PACKAGE = "package: train_classifier"
CLASSIFIER_BASELINE = "plain model.fit"
CLASSIFIER_FIT = "plain model.fit on package batches"


def mixed_policy_name(on_gpu: bool) -> str:
    """``mixed_float16`` on a GPU, ``mixed_bfloat16`` on a CPU (which has no fast float16)."""
    return "mixed_float16" if on_gpu else "mixed_bfloat16"


@contextlib.contextmanager
def _policy(name: str):
    import keras

    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _measure(label: str, model: str, train: Callable[[Any], None], *, warmup: int,
             batch: int, log, budget_s: float | None = None, **extra) -> dict[str, Any]:
    """Run ``train(callback)`` once and summarise its timed steps as one row."""
    timer = step_timer(warmup, budget_s=budget_s)
    started = time.perf_counter()
    train(timer)
    wall = time.perf_counter() - started
    row = {"model": model, "variant": label, "batch": batch, "warmup": warmup,
           "precision": "float32", "jit_compile": "auto", **extra, **timer.summary(),
           "wall_s": wall, "durations": timer.durations, "stopped_early": timer.stopped_early}
    log(f"  {model:<10} {label:<38} {row['steps_per_s']:7.3f} steps/s "
        f"(median {row['median_step_s'] * 1000:7.1f} ms/step, {row['timed_steps']} steps"
        f"{', time budget reached' if timer.stopped_early else ''}"
        f"{'' if row['finite'] else ', NON-FINITE LOSS'})")
    return row


# --------------------------------------------------------------------------- GAN


def _gan_rows(data, *, warmup: int, steps: int, repeats: int, options: bool, on_gpu: bool,
              scratch: Path, log, option_budget_s: float | None) -> list[dict[str, Any]]:
    import keras

    from bench.keras_dcgan import keras_example_gan
    from celeba_lab.batches import gan_batches
    from celeba_lab.gan import report_discriminator, report_generator
    from celeba_lab.gan_training import build_gan, train_gan

    total = warmup + steps

    def package(timer):
        with tempfile.TemporaryDirectory(dir=scratch) as run_dir:
            train_gan(data, epochs=1, batch_size=32, steps_per_epoch=total, run_dir=run_dir,
                      recipe="report", resume=False, verbose=0, callbacks=[timer])

    def baseline(timer):
        keras.utils.set_random_seed(0)
        gan = keras_example_gan(report_generator(), report_discriminator())
        batches = gan_batches(data, batch_size=32, steps_per_epoch=total, seed=0)
        gan.fit(batches, epochs=1, verbose=0, callbacks=[timer])

    def dcgan_fit(jit_compile=None):
        def train(timer):
            gan = build_gan(seed=0)
            if jit_compile is not None:
                gan.compile(d_optimizer=keras.optimizers.Adam(1e-4),
                            g_optimizer=keras.optimizers.Adam(1e-4), jit_compile=jit_compile)
                gan.optimizer.build()
            batches = gan_batches(data, batch_size=32, steps_per_epoch=total, seed=0)
            gan.fit(batches, epochs=1, verbose=0, callbacks=[timer])
        return train

    rows = []
    common = dict(warmup=warmup, batch=32, log=log)
    for repeat in range(repeats):
        rows.append(_measure(GAN_PACKAGE, "gan", package, repeat=repeat, **common))
        rows.append(_measure(GAN_BASELINE, "gan", baseline, repeat=repeat, **common))
    if options:
        # Each option is one change from the same reference (one warm-up step, then timed
        # steps until the time box closes: a bfloat16 GAN step takes minutes on some CPUs).
        boxed = dict(common, warmup=1, budget_s=option_budget_s)
        rows.append(_measure(GAN_FIT, "gan", dcgan_fit(), **boxed))
        mixed = mixed_policy_name(on_gpu)
        with _policy(mixed):
            rows.append(_measure(f"{GAN_FIT} + {mixed}", "gan", dcgan_fit(), precision=mixed,
                                 **boxed))
        rows.append(_measure(f"{GAN_FIT} + XLA", "gan", dcgan_fit(jit_compile=True),
                             jit_compile=True, **boxed))
    return rows


# --------------------------------------------------------------------------- classifier


def _classifier_rows(data, *, warmup: int, steps: int, repeats: int, options: bool,
                     on_gpu: bool, scratch: Path, log, option_budget_s: float | None
                     ) -> list[dict[str, Any]]:
    import keras
    import numpy as np

    from celeba_lab.batches import classifier_batches
    from celeba_lab.cache import decoded_images
    from celeba_lab.classifiers import report_classifier, train_classifier
    from celeba_lab.data import balanced_sample

    batch = 50
    total = warmup + steps
    # One epoch of `total` steps, a small validation set: the same sample for every variant.
    sample = balanced_sample(data, "Male", sizes=(total * batch, batch, batch), seed=0)

    def package(timer):
        with tempfile.TemporaryDirectory(dir=scratch) as run_dir:
            train_classifier("Male", data, sample=sample, epochs=1, batch_size=batch,
                             run_dir=run_dir, resume=False, verbose=0, callbacks=[timer])

    def arrays(labels):
        x = np.asarray(decoded_images(data, labels.index), dtype=np.float32) / np.float32(255)
        y = np.eye(2, dtype=np.float32)[labels.to_numpy().astype(int)]
        return x, y

    x_train, y_train = arrays(sample.train)
    x_val, y_val = arrays(sample.validation)

    def baseline(timer):
        keras.utils.set_random_seed(0)
        model = report_classifier()
        model.fit(x_train, y_train, batch_size=batch, epochs=1, shuffle=True,
                  validation_data=(x_val, y_val), verbose=0, callbacks=[timer])

    def xla(timer):
        keras.utils.set_random_seed(0)
        model = report_classifier()
        model.compile(optimizer=keras.optimizers.RMSprop(),
                      loss=keras.losses.BinaryCrossentropy(),
                      metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
                      jit_compile=True)
        batches = classifier_batches(data, sample.train, batch_size=batch, shuffle=True)
        model.fit(batches, epochs=1, verbose=0, callbacks=[timer])

    rows = []
    common = dict(warmup=warmup, batch=batch, log=log)
    for repeat in range(repeats):
        rows.append(_measure(CLASSIFIER_PACKAGE, "classifier", package, repeat=repeat,
                             **common))
        rows.append(_measure(CLASSIFIER_BASELINE, "classifier", baseline, repeat=repeat,
                             **common))
    if options:
        boxed = dict(common, warmup=1, budget_s=option_budget_s)
        mixed = mixed_policy_name(on_gpu)
        with _policy(mixed):
            rows.append(_measure(f"{CLASSIFIER_PACKAGE} + {mixed}", "classifier", package,
                                 precision=mixed, **boxed))
        rows.append(_measure(f"{CLASSIFIER_FIT} + XLA", "classifier", xla, jit_compile=True,
                             **boxed))
    return rows


# --------------------------------------------------------------------------- both


def _pooled(rows: list[dict[str, Any]], model: str, variant: str) -> dict[str, Any] | None:
    durations = [d for r in rows if r["model"] == model and r["variant"] == variant
                 for d in r["durations"]]
    if not durations:
        return None
    return summarise_steps(durations)


def training_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps-per-second ratios against each model's baseline, from pooled median step times.

    Returns:
        One row per (model, variant other than the baseline): ``ratio`` = baseline median step
        time / variant median step time (above 1: faster than the baseline), plus the pooled
        ``steps_per_s`` of both.
    """
    out = []
    for model, baseline in (("gan", GAN_BASELINE), ("classifier", CLASSIFIER_BASELINE)):
        base = _pooled(rows, model, baseline)
        if base is None:
            continue
        variants = list(dict.fromkeys(r["variant"] for r in rows if r["model"] == model))
        for variant in variants:
            if variant == baseline:
                continue
            this = _pooled(rows, model, variant)
            out.append({
                "model": model, "variant": variant, "baseline": baseline,
                "steps_per_s": this["steps_per_s"], "baseline_steps_per_s": base["steps_per_s"],
                "median_step_s": this["median_step_s"],
                "baseline_median_step_s": base["median_step_s"],
                "ratio": base["median_step_s"] / this["median_step_s"],
                "ratio_of_means": this["steps_per_s"] / base["steps_per_s"],
            })
    return out


def run_training_benchmark(*, n_images: int = 2000, warmup: int = 3, gan_steps: int = 10,
                           classifier_steps: int = 20, repeats: int = 2, options: bool = True,
                           models: tuple[str, ...] = ("gan", "classifier"), seed: int = 0,
                           option_budget_s: float | None = 60.0,
                           scratch: Path | None = None, log=print) -> list[dict[str, Any]]:
    """Measure every training variant in this process on one synthetic CelebA.

    Args:
        n_images: Size of the synthetic CelebA trained on (written once, then reused).
        warmup: Untimed steps at the start of every run.
        gan_steps: Timed GAN steps per run.
        classifier_steps: Timed classifier steps per run.
        repeats: Times the package and its baseline alternate.
        options: Also measure mixed precision and XLA.
        option_budget_s: Stop an option's run after this many seconds (once a step is timed):
            on a CPU without bfloat16 arithmetic a mixed-precision GAN step takes minutes.
        models: ``"gan"`` and/or ``"classifier"``.
        seed: Seed of the synthetic set.
        scratch: Folder for temporary run folders (default: inside the cache).
        log: Where progress lines go.

    Returns:
        One row per run (``model``, ``variant``, ``steps_per_s``, ``median_step_s``, ...).
    """
    import keras

    import celeba_lab.config as config
    from bench.machine import gpu_names
    from celeba_lab.data import load_celeba
    from celeba_lab.synthetic import ensure_synthetic_celeba

    scratch = Path(scratch or config.cache_dir() / "bench-scratch")
    scratch.mkdir(parents=True, exist_ok=True)
    data = load_celeba(ensure_synthetic_celeba(n_images, seed))
    on_gpu = bool(gpu_names(keras.backend.backend()))
    settings = dict(warmup=warmup, repeats=repeats, options=options, on_gpu=on_gpu,
                    scratch=scratch, log=log, option_budget_s=option_budget_s)
    rows = []
    if "gan" in models:
        rows += _gan_rows(data, steps=gan_steps, **settings)
    if "classifier" in models:
        rows += _classifier_rows(data, steps=classifier_steps, **settings)
    return rows


if __name__ == "__main__":  # a quick look: python -m bench.train_bench
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    result = run_training_benchmark(gan_steps=3, classifier_steps=5, repeats=1, options=False)
    for ratio in training_ratios(result):
        print(ratio)
