"""GPU check: the report's GAN and classifier on one GPU, with JAX or PyTorch, no TensorFlow.

A self-contained script for a machine with an NVIDIA GPU and no network. It writes a small
synthetic CelebA itself, trains the report's DCGAN (the package's ``train_gan``) and the
report's classifier (``train_classifier``) for a fixed number of steps, in float32 and in
mixed precision, and prints for each: steps per second, peak GPU memory, and the projected
time of the report's full recipe (30 GAN epochs over 202,599 images; three classifiers x 15
epochs). It writes the results as JSON and exits with status 2 when a loss is not finite.

Usage (from the repository root; Keras must be installed, TensorFlow need not be)::

    python bench/gpu_check.py --backend torch --steps 50 --out gpu_torch.json
    python bench/gpu_check.py --backend jax --steps 50 --out gpu_jax.json

Without a GPU it runs on the CPU and says so (that is how it is tested). It never imports
TensorFlow unless ``--backend tensorflow`` is asked for.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "bench" / "results" / "gpu_check.json"
#: Exit status when a loss was NaN or infinite.
EXIT_NON_FINITE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("torch", "jax", "tensorflow"),
                        default=os.environ.get("KERAS_BACKEND", "torch"),
                        help="Keras backend (default: $KERAS_BACKEND, else torch)")
    parser.add_argument("--steps", type=int, default=50, help="timed training steps per run")
    parser.add_argument("--warmup", type=int, default=5,
                        help="untimed steps at the start of each run (tracing, compiling)")
    parser.add_argument("--images", type=int, default=800,
                        help="synthetic CelebA images to write and train on")
    parser.add_argument("--policies", nargs="+", default=None,
                        help="Keras dtype policies to measure (default on a GPU: float32 "
                             "mixed_float16 mixed_bfloat16; on a CPU: float32)")
    parser.add_argument("--models", nargs="+", choices=("gan", "classifier"),
                        default=["gan", "classifier"])
    parser.add_argument("--epoch-timing", choices=("auto", "on", "off"), default="auto",
                        help="also time the GAN's plain DCGAN.fit over a whole epoch, with no "
                             "per-step callback (default: on a GPU only)")
    parser.add_argument("--width", type=float, default=1.0,
                        help="GAN layer-width multiplier (1: the report's networks; smaller "
                             "only to test this script quickly on a CPU)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="folder for the synthetic data and runs (default: a temporary one)")
    return parser


def _set_backend(backend: str) -> None:
    # Keras reads KERAS_BACKEND once, at import: it must be set before anything imports keras.
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != backend:
        raise SystemExit(f"keras was already imported with another backend than {backend!r}")
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # the package and bench/ from this checkout


# --------------------------------------------------------------------------- device memory


class DeviceMemory:
    """Peak memory of the first GPU of the active backend, in MiB (None on a CPU)."""

    def __init__(self, backend: str, on_gpu: bool):
        self.backend, self.on_gpu = backend, on_gpu

    def reset(self) -> None:
        if not self.on_gpu:
            return
        if self.backend == "torch":
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        elif self.backend == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.reset_memory_stats("GPU:0")
        # JAX keeps one peak for the whole process: nothing to reset.

    def peak_mib(self) -> float | None:
        if not self.on_gpu:
            return None
        if self.backend == "torch":
            import torch

            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**20
        if self.backend == "jax":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            peak = stats.get("peak_bytes_in_use")
            return None if peak is None else peak / 2**20
        import tensorflow as tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


def _host_peak_mib() -> float:
    # ru_maxrss is in KiB on Linux and bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


# --------------------------------------------------------------------------- training runs


def _classifier_sizes(data, attribute: str, batch: int) -> tuple[int, int, int]:
    """The largest balanced sample this data holds: train a multiple of the batch size."""
    sizes = []
    for name in ("train", "validation", "test"):
        labels = data.labels(attribute, data.split(name))
        pair = 2 * int(min((labels == 1).sum(), (labels == 0).sum()))
        sizes.append(pair)
    train = (sizes[0] // batch) * batch
    if train < batch or min(sizes[1:]) < 2:
        raise SystemExit(f"--images is too small for one balanced batch of {batch}; "
                         "use at least 300 images.")
    return train, min(sizes[1], 2 * batch), min(sizes[2], 2 * batch)


def _train_gan(data, policy: str, args, work: Path, timer) -> None:
    from celeba_lab.gan import train_gan

    train_gan(data, epochs=1, batch_size=32, steps_per_epoch=args.warmup + args.steps,
              width=args.width, run_dir=work / f"gan-{policy}", resume=False, verbose=0,
              callbacks=[timer])


def _epoch_timed_gan(data, policy: str, args, memory: DeviceMemory) -> dict[str, Any]:
    """Steps/s of a plain ``DCGAN.fit`` timed over a whole second epoch.

    No callback runs between steps, so the framework can queue steps ahead on the device.
    Comparing this with the per-step-timed ``train_gan`` run shows what running a Keras
    callback after every step (the package's loss history, the step timer) costs there.
    """
    import keras

    from bench.projection import GAN_STEPS
    from celeba_lab.data import gan_batches
    from celeba_lab.gan import build_gan

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.losses = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.losses.append(float(logs["d_loss"]))  # waits for the epoch's last step
            self.seconds.append(time.perf_counter() - self.began)

    keras.mixed_precision.set_global_policy(policy)
    memory.reset()
    timer = EpochTimer()
    try:
        gan = build_gan(seed=0, width=args.width)
        batches = gan_batches(data, batch_size=32, steps_per_epoch=args.steps, seed=0)
        # Epoch 1 traces and compiles (and warms up); epoch 2 is timed.
        gan.fit(batches, epochs=2, verbose=0, callbacks=[timer])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    rate = args.steps / timer.seconds[-1]
    finite = all(math.isfinite(v) for v in timer.losses)
    return {"model": "gan", "variant": "DCGAN.fit, timed per epoch", "policy": policy,
            "timed_steps": args.steps, "steps_per_s": rate, "median_step_s": 1 / rate,
            "finite": finite, "peak_gpu_mib": memory.peak_mib(),
            "host_peak_rss_mib": _host_peak_mib(), "recipe_steps": GAN_STEPS,
            "projected_recipe_s": GAN_STEPS / rate, "losses": timer.losses}


def _train_classifier(data, policy: str, args, work: Path, timer) -> None:
    from celeba_lab.classifiers import train_classifier

    sizes = _classifier_sizes(data, "Male", 50)
    epochs = math.ceil((args.warmup + args.steps) / (sizes[0] // 50))
    train_classifier("Male", data, sizes=sizes, epochs=epochs, batch_size=50,
                     run_dir=work / f"classifier-{policy}", resume=False, verbose=0,
                     callbacks=[timer])


def _run(model: str, policy: str, data, args, work: Path, memory: DeviceMemory
         ) -> dict[str, Any]:
    import keras

    from bench.projection import CLASSIFIER_STEPS, GAN_STEPS
    from bench.timing import step_timer

    timer = step_timer(args.warmup)
    keras.mixed_precision.set_global_policy(policy)
    memory.reset()
    started = time.perf_counter()
    try:
        (_train_gan if model == "gan" else _train_classifier)(data, policy, args, work, timer)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    wall = time.perf_counter() - started
    # Only the first warmup + steps steps are reported, whatever the epochs added.
    timer.durations[:] = timer.durations[:args.steps]
    timer.losses[:] = timer.losses[:args.warmup + args.steps]
    summary = timer.summary()
    total_steps = GAN_STEPS if model == "gan" else CLASSIFIER_STEPS
    rate = summary["steps_per_s"]
    variant = "train_gan, timed per step" if model == "gan" else "train_classifier, timed per step"
    return {"model": model, "variant": variant, "policy": policy, **summary, "wall_s": wall,
            "peak_gpu_mib": memory.peak_mib(), "host_peak_rss_mib": _host_peak_mib(),
            "recipe_steps": total_steps,
            "projected_recipe_s": total_steps / rate if rate and math.isfinite(rate) else None,
            "losses": timer.losses}


def _print_row(row: dict[str, Any]) -> None:
    from bench.projection import format_duration

    gpu_mem = "–" if row["peak_gpu_mib"] is None else f"{row['peak_gpu_mib']:,.0f} MiB"
    print(f"{row['model']:<10} {row['policy']:<15} {row['variant']:<34} "
          f"{row['steps_per_s']:8.2f} steps/s (median {row['median_step_s'] * 1000:7.1f} ms) "
          f"peak GPU memory {gpu_mem:>10}  full recipe: "
          f"{format_duration(row['projected_recipe_s'])}"
          f"{'' if row['finite'] else '  NON-FINITE LOSS'}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _set_backend(args.backend)
    import keras

    from bench.machine import describe_machine, gpu_names
    from bench.projection import GAN_STEPS, N_IMAGES, format_duration
    from celeba_lab import config
    from celeba_lab.data import decoded_images, load_celeba
    from celeba_lab.synthetic import write_synthetic_celeba

    backend = keras.backend.backend()
    gpus = gpu_names(backend)
    on_gpu = bool(gpus)
    device = gpus[0] if on_gpu else "CPU"
    print(f"Keras {keras.__version__} on {backend}; device: {device}")
    if not on_gpu:
        print("No GPU found: running on the CPU, as a test of this script. The numbers below "
              "say nothing about a GPU.")
    # A CPU without bfloat16 instructions runs mixed precision many times slower than float32
    # (minutes per GAN step here): on a CPU only float32 is measured unless asked.
    policies = args.policies or (["float32", "mixed_float16", "mixed_bfloat16"] if on_gpu
                                 else ["float32"])
    memory = DeviceMemory(backend, on_gpu)

    with tempfile.TemporaryDirectory(prefix="celeba-gpu-check-") as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        config.set_cache_dir(work / "cache")
        started = time.perf_counter()
        root = write_synthetic_celeba(work / f"celeba-{args.images}", n=args.images, seed=0)
        write_s = time.perf_counter() - started
        data = load_celeba(root)
        started = time.perf_counter()
        decoded_images(data, data.attributes.index, size=64)  # the GAN's input, decoded once
        decode_rate = len(data) / (time.perf_counter() - started)
        print(f"wrote {args.images} synthetic images in {write_s:.1f} s; decoded them to "
              f"64x64 at {decode_rate:,.0f} images/s")

        results = []
        epoch_timing = args.epoch_timing == "on" or (args.epoch_timing == "auto" and on_gpu)
        for model in args.models:
            for policy in policies:
                print(f"{model} in {policy}: {args.warmup} + {args.steps} steps ...", flush=True)
                row = _run(model, policy, data, args, work, memory)
                results.append(row)
                _print_row(row)
                if model == "gan" and epoch_timing:
                    print(f"gan in {policy}: DCGAN.fit, {args.steps} steps timed as one epoch"
                          " ...", flush=True)
                    row = _epoch_timed_gan(data, policy, args, memory)
                    results.append(row)
                    _print_row(row)

    ok = all(r["finite"] for r in results)
    best_gan = max((r for r in results if r["model"] == "gan" and r["finite"]),
                   key=lambda r: r["steps_per_s"], default=None)
    if best_gan is not None:
        print(f"fastest GAN: {best_gan['variant']} in {best_gan['policy']}, the report's 30 "
              f"epochs ({GAN_STEPS:,} steps) "
              f"in {format_duration(best_gan['projected_recipe_s'])}, plus "
              f"{format_duration(N_IMAGES / decode_rate)} to decode the 202,599 images once")
    payload = {
        "machine": describe_machine(backend), "device": device, "on_gpu": on_gpu,
        "backend": backend, "steps": args.steps, "warmup": args.warmup,
        "synthetic_images": args.images, "policies": policies, "gan_width": args.width,
        "decode_images_per_s": decode_rate, "projected_decode_s": N_IMAGES / decode_rate,
        "results": results, "finite": ok,
        "tensorflow_imported": "tensorflow" in sys.modules and sys.modules["tensorflow"] is not None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from celeba_lab._io import write_json_atomic

    write_json_atomic(args.out, payload)
    print(f"results written to {args.out}")
    if not ok:
        print("FAILED: a training loss was not finite (see 'losses' in the JSON).")
        return EXIT_NON_FINITE
    return 0


if __name__ == "__main__":
    sys.exit(main())
