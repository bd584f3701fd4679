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
    python bench/gpu_check.py --backend jax --full-data 202599 --out gpu_jax_full.json

``--full-data N`` measures instead the book's own path at full size: it writes N synthetic
images, decodes the GAN input once (``decoded_images``, as ``train_gan`` does), then times two
whole epochs of ``train_gan`` per dtype policy (monitor grids and checkpoints included) and,
as the ceiling, two whole epochs of a plain ``DCGAN.fit`` with no callbacks. The report's 30
epochs are projected from the second epoch's time per step, plus the first epoch's extra
time (compiling) once.

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


#: What --full-data can time: the package's train_gan; the same with its loss history read on
#: the training thread after every step (as before the history became async-safe); a plain
#: DCGAN.fit with no callbacks (the ceiling).
FULL_VARIANTS = {"train_gan": "train_gan, whole epochs",
                 "train_gan-history-in-step": "train_gan, history read in every step",
                 "DCGAN.fit": "DCGAN.fit, whole epochs"}


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
    parser.add_argument("--full-data", type=int, default=None, metavar="N",
                        help="instead: time whole epochs of train_gan over N synthetic images "
                             "through the book's path (N = 202599: all of CelebA)")
    parser.add_argument("--full-variants", nargs="+", choices=tuple(FULL_VARIANTS),
                        default=["train_gan", "DCGAN.fit"],
                        help="what --full-data times (DCGAN.fit in the first policy only)")
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
    from celeba_lab.gan_training import train_gan

    train_gan(data, epochs=1, batch_size=32, steps_per_epoch=args.warmup + args.steps,
              recipe="report", width=args.width, run_dir=work / f"gan-{policy}", resume=False,
              verbose=0, callbacks=[timer])


def _epoch_clock():
    """A callback that records whole-epoch seconds and the epoch's mean losses, and nothing
    per step (so, with train_gan's own callbacks, Keras can queue steps ahead)."""
    import keras

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.losses = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            # Reading the loss waits for the epoch's last step. Placed last among the
            # callbacks, the clock also counts train_gan's monitor grid and checkpoint.
            self.losses.append(float(logs["d_loss"]))
            self.seconds.append(time.perf_counter() - self.began)

    return EpochClock()


def _epoch_timed_gan(data, policy: str, args, memory: DeviceMemory) -> dict[str, Any]:
    """Steps/s of a plain ``DCGAN.fit`` timed over a whole second epoch.

    No callback runs between steps, so the framework can queue steps ahead on the device.
    Comparing this with the per-step-timed ``train_gan`` run shows what running a Keras
    callback after every step (the package's loss history, the step timer) costs there.
    """
    import keras

    from bench.projection import GAN_STEPS
    from celeba_lab.batches import gan_batches
    from celeba_lab.gan_training import build_gan

    keras.mixed_precision.set_global_policy(policy)
    memory.reset()
    timer = _epoch_clock()
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


def _full_epochs_row(variant: str, policy: str, clock, steps: int, started: float,
                     memory: DeviceMemory) -> dict[str, Any]:
    from bench.projection import project_from_epochs

    return {"model": "gan", "variant": variant, "policy": policy, "epoch_steps": steps,
            "epoch_s": clock.seconds, "steps_per_s": steps / clock.seconds[-1],
            "projected_recipe_s": project_from_epochs(clock.seconds, steps),
            "wall_s": time.perf_counter() - started, "losses": clock.losses,
            "finite": all(math.isfinite(v) for v in clock.losses),
            "peak_gpu_mib": memory.peak_mib(), "host_peak_rss_mib": _host_peak_mib()}


def _full_data(args, policies: list[str], memory: DeviceMemory, work: Path,
               save) -> dict[str, Any]:
    """Whole epochs of the report's GAN over ``args.full_data`` images, the book's way."""
    import keras

    from celeba_lab.batches import gan_batches
    from celeba_lab.cache import decoded_images
    from celeba_lab.data import load_celeba
    from celeba_lab.gan_training import _History, build_gan, train_gan
    from celeba_lab.synthetic import write_synthetic_celeba

    n = args.full_data
    started = time.perf_counter()
    root = write_synthetic_celeba(work / f"celeba-{n}", n=n, seed=0,
                                  workers=os.cpu_count() or 1)
    payload: dict[str, Any] = {"images": n, "write_s": time.perf_counter() - started}
    print(f"wrote {n:,} synthetic images in {payload['write_s']:.0f} s", flush=True)
    data = load_celeba(root)
    started = time.perf_counter()
    decoded_images(data, data.attributes.index, size=64)
    payload["decode_s"] = time.perf_counter() - started
    payload["decode_images_per_s"] = n / payload["decode_s"]
    payload["host_peak_rss_mib_after_decode"] = _host_peak_mib()
    print(f"decoded the GAN input in {payload['decode_s']:.1f} s "
          f"({payload['decode_images_per_s']:,.0f} images/s)", flush=True)
    payload["runs"] = runs = []
    save(payload)
    for policy in policies:
        for variant in args.full_variants:
            if variant == "DCGAN.fit" and policy != policies[0]:
                continue        # the ceiling, once
            print(f"{variant} in {policy}: 2 whole epochs ...", flush=True)
            keras.mixed_precision.set_global_policy(policy)
            memory.reset()
            clock = _epoch_clock()
            began = time.perf_counter()
            _History.async_safe = variant != "train_gan-history-in-step"
            try:
                if variant != "DCGAN.fit":
                    run = train_gan(data, epochs=2, batch_size=32, steps_per_epoch=None,
                                    recipe="report", width=args.width,
                                    run_dir=work / f"full-{policy}",
                                    resume=False, verbose=0, callbacks=[clock])
                    steps = run.metadata["sessions"][-1]["steps_per_epoch"]
                else:
                    batches = gan_batches(data, batch_size=32, seed=0)
                    build_gan(seed=0, width=args.width).fit(batches, epochs=2, verbose=0,
                                                            callbacks=[clock])
                    steps = len(batches)
            finally:
                keras.mixed_precision.set_global_policy("float32")
                _History.async_safe = True
            row = _full_epochs_row(FULL_VARIANTS[variant], policy, clock, steps, began,
                                   memory)
            runs.append(row)
            save(payload)
            print(f"  epochs {', '.join(f'{s:.1f} s' for s in row['epoch_s'])} "
                  f"({row['steps_per_s']:.0f} steps/s in the second); the report's 30 epochs: "
                  f"{row['projected_recipe_s'] / 60:.1f} min; host peak RSS "
                  f"{row['host_peak_rss_mib']:,.0f} MiB", flush=True)
    return payload


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
    from celeba_lab.cache import decoded_images
    from celeba_lab.data import load_celeba
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

    if args.full_data:
        return _main_full_data(args, backend, device, on_gpu, policies, memory)
    with tempfile.TemporaryDirectory(prefix="celeba-gpu-check-") as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        config.set_cache_dir(work / "cache")
        config.set_images_dir(work / "cache" / "images")
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
    from celeba_lab._io import write_json_atomic

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, payload)
    print(f"results written to {args.out}")
    if not ok:
        print("FAILED: a training loss was not finite (see 'losses' in the JSON).")
        return EXIT_NON_FINITE
    return 0


def _main_full_data(args, backend: str, device: str, on_gpu: bool, policies: list[str],
                    memory: DeviceMemory) -> int:
    from bench.machine import describe_machine
    from celeba_lab import config
    from celeba_lab._io import write_json_atomic

    head = {"machine": describe_machine(backend), "device": device, "on_gpu": on_gpu,
            "backend": backend, "gan_width": args.width, "policies": policies}

    def save(full: dict[str, Any]) -> None:   # after every run: a killed check keeps the rest
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out, {**head, "full_data": full})

    with tempfile.TemporaryDirectory(prefix="celeba-gpu-full-") as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        config.set_cache_dir(work / "cache")
        config.set_images_dir(work / "cache" / "images")
        config.set_profile("full")     # train_gan's default: one pass over all images an epoch
        full = _full_data(args, policies, memory, work, save)
    ok = all(r["finite"] for r in full["runs"])
    save(full)
    print(f"results written to {args.out}")
    if not ok:
        print("FAILED: a training loss was not finite (see 'losses' in the JSON).")
        return EXIT_NON_FINITE
    return 0


if __name__ == "__main__":
    sys.exit(main())
