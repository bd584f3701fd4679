"""``python -m bench``: run the benchmarks, print figures and ratios, write bench/results/.

Examples::

    python -m bench                       # N = 2,000 and 20,000; about ten minutes on 2 cores
    python -m bench --full                # adds all 202,599 images (a long run, ~25 GB of disk)
    python -m bench --only train --gan-steps 20
    python -m bench --sizes 500 --gan-steps 3 --classifier-steps 5 --repeats 1   # a smoke run

The final numbers belong to a quiet machine: other processes sharing the CPU slow every
variant, and not by the same factor.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench import RESULTS_DIR  # noqa: E402

FULL_SIZE = 202_599
DEFAULT_SIZES = (2_000, 20_000)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true",
                        help=f"add N = {FULL_SIZE:,} (all of CelebA) to the data benchmark")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES),
                        help="numbers of synthetic images for the data benchmark")
    parser.add_argument("--targets", choices=("gan", "classifier"), nargs="+",
                        default=["gan", "classifier"], help="inputs the data benchmark prepares")
    parser.add_argument("--source-images", type=int, default=None,
                        help="size of the one synthetic set the data benchmark reads its first "
                             "N images from (default: the largest N)")
    parser.add_argument("--epochs", type=int, default=2,
                        help="epochs the data benchmark times per run (the first is cold, the "
                             "rest warm; more than two show the epochs after the cache settles)")
    parser.add_argument("--only", choices=("data", "train"), nargs="+",
                        default=["data", "train"], help="run only these benchmarks")
    parser.add_argument("--train-images", type=int, default=None,
                        help="size of the synthetic CelebA the training benchmark uses "
                             "(default: the data benchmark's set, else 20,000)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per run")
    parser.add_argument("--gan-steps", type=int, default=10, help="timed GAN steps per run")
    parser.add_argument("--classifier-steps", type=int, default=20,
                        help="timed classifier steps per run")
    parser.add_argument("--repeats", type=int, default=3,
                        help="times the package and its baseline alternate")
    parser.add_argument("--no-options", action="store_true",
                        help="skip the mixed-precision and XLA measurements")
    parser.add_argument("--option-budget", type=float, default=60.0,
                        help="seconds after which a mixed-precision or XLA run stops (once "
                             "one step is timed)")
    parser.add_argument("--max-baseline-gib", type=float, default=None,
                        help="skip the in-RAM baseline above this much memory "
                             "(default: 40%% of the available memory)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help=f"where to write the results (default {RESULTS_DIR})")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when a goal is not met")
    return parser


def _write(out: Path, name: str, payload: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    from celeba_lab._io import write_bytes_atomic, write_json_atomic

    write_json_atomic(out / f"{name}.json", payload)
    table = pd.DataFrame([{k: v for k, v in r.items() if not isinstance(v, list)} for r in rows])
    write_bytes_atomic(out / f"{name}.csv", table.to_csv(index=False).encode())


def _data(args, machine, log) -> tuple[dict[str, Any], list[str]]:
    from bench.data_bench import data_ratios, run_data_benchmark

    sizes = sorted(set(args.sizes) | ({FULL_SIZE} if args.full else set()))
    log(f"\n== 1. data: preparing the GAN and classifier inputs for N = "
        f"{', '.join(f'{n:,}' for n in sizes)} synthetic images")
    rows = run_data_benchmark(sizes, targets=args.targets, source_n=args.source_images,
                              max_baseline_gib=args.max_baseline_gib, epochs=args.epochs, log=log)
    ratios = data_ratios(rows, epochs=args.epochs)
    failures = []
    log("\n   package / baseline (throughput: above 1 is faster; memory added: below 1 is less)")
    for r in ratios:
        warm = ", ".join(f"x{r[f'throughput_ratio_epoch{e}']:.2f}"
                         for e in range(2, args.epochs + 1))
        log(f"   N={r['n']:>7,} {r['target']:<10} vs {r['baseline']:<6} throughput "
            f"cold x{r['throughput_ratio_epoch1']:.2f}, warm {warm}"
            f"; memory added x{r['memory_ratio']:.2f}")
        if r["baseline"] == "keras" and r["throughput_ratio_epoch1"] < 1:
            failures.append(f"data: N={r['n']:,} {r['target']}: cold-epoch throughput is "
                            f"{r['throughput_ratio_epoch1']:.2f}x the Keras baseline's")
    flat = _flatness(rows)
    for target, growth in flat.items():
        log(f"   package memory added, N={growth['small_n']:,} -> {growth['large_n']:,} "
            f"({target}): x{growth['growth']:.2f} ({growth['small_mib']:.0f} -> "
            f"{growth['large_mib']:.0f} MiB)" + ("" if growth["checked"] else
            f"; not a flatness check: fewer than two sizes reach the "
            f"{growth['chunk_images']:,} decoded images the package holds at most"))
        if growth["checked"] and growth["growth"] > 1.5:
            failures.append(f"data: the package's memory grows x{growth['growth']:.2f} with N "
                            f"({target})")
    payload = {"machine": machine, "sizes": sizes, "epochs": args.epochs, "rows": rows,
               "ratios": ratios, "flatness": flat}
    _write(args.out, "data", payload, rows)
    return payload, failures


def chunk_images(target: str) -> int:
    """The most decoded images the package's cache writer holds in RAM at once."""
    from bench.data_bench import TARGETS
    from celeba_lab.cache import images_held_while_decoding

    return images_held_while_decoding(TARGETS[target]["size"])


def _flatness(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Peak memory the package adds at the largest N over that at the smallest, per input.

    The package holds a bounded number of decoded images at a time, so its memory grows with N
    only until N reaches that number (5,461 GAN images, 576 classifier images). Flatness is
    judged on the sizes that reach it; ``checked`` is False when fewer than two do.
    """
    out = {}
    for target in sorted({r["target"] for r in rows}):
        mine = sorted((r for r in rows if r["target"] == target and r["variant"] == "package"
                       and not r.get("skipped")), key=lambda r: r["n"])
        full = [r for r in mine if r["n"] >= chunk_images(target)]
        checked = len(full) >= 2
        pair = full if checked else mine
        if len(pair) >= 2:
            small, large = pair[0]["delta_rss_mib"], pair[-1]["delta_rss_mib"]
            out[target] = {"small_n": pair[0]["n"], "large_n": pair[-1]["n"],
                           "small_mib": small, "large_mib": large,
                           "growth": max(large, 1.0) / max(small, 1.0), "checked": checked,
                           "chunk_images": chunk_images(target)}
    return out


def _train(args, machine, log) -> tuple[dict[str, Any], list[str]]:
    from bench.train_bench import (CLASSIFIER_PACKAGE, GAN_PACKAGE, run_training_benchmark,
                                   training_ratios)

    log(f"\n== 2. training: steps per second, {args.warmup} warm-up + {args.gan_steps} GAN / "
        f"{args.classifier_steps} classifier timed steps, {args.repeats} alternations")
    n_images = args.train_images or args.source_images or max(args.sizes)
    rows = run_training_benchmark(n_images=n_images, warmup=args.warmup,
                                  gan_steps=args.gan_steps,
                                  classifier_steps=args.classifier_steps,
                                  repeats=args.repeats, options=not args.no_options,
                                  option_budget_s=args.option_budget, log=log)
    ratios = training_ratios(rows)
    failures = []
    log("\n   steps/s relative to the baseline (median step times; 1.00 = same speed)")
    for r in ratios:
        log(f"   {r['model']:<10} {r['variant']:<42} x{r['ratio']:.2f}  "
            f"({r['steps_per_s']:.3f} vs {r['baseline_steps_per_s']:.3f} steps/s)")
        # The goal is the package's own cost: its training functions as they are, not the
        # GPU options (mixed precision, XLA) measured here as one change each.
        if r["variant"] in (GAN_PACKAGE, CLASSIFIER_PACKAGE) and r["ratio"] < 0.95:
            failures.append(f"training: {r['variant']} runs at {r['ratio']:.2f}x its baseline "
                            "(goal: at least 0.95)")
    payload = {"machine": machine, "settings": {
        "train_images": n_images, "warmup": args.warmup, "gan_steps": args.gan_steps,
        "classifier_steps": args.classifier_steps, "repeats": args.repeats},
        "rows": rows, "ratios": ratios}
    _write(args.out, "training", payload, rows)
    return payload, failures


def _projection(data, training, machine, log) -> dict[str, Any]:
    from bench.machine import machine_line
    from bench.projection import format_duration, project_recipe
    from bench.train_bench import CLASSIFIER_PACKAGE, GAN_BASELINE, GAN_PACKAGE

    log("\n== 3. the report's full recipe, projected from the measured rates")
    pooled = {(r["model"], r["variant"]): r for r in (training or {}).get("ratios", [])}
    projections = []
    decode = None
    if data:
        gan_rows = [r for r in data["rows"] if r["target"] == "gan" and r["variant"] == "package"
                    and not r.get("skipped")]
        if gan_rows:
            decode = max(gan_rows, key=lambda r: r["n"])["epoch1_images_per_s"]
    for variant in (GAN_PACKAGE, GAN_BASELINE):
        gan = pooled.get(("gan", GAN_PACKAGE))
        if gan is None:
            continue
        rate = gan["steps_per_s"] if variant == GAN_PACKAGE else gan["baseline_steps_per_s"]
        classifier = pooled.get(("classifier", CLASSIFIER_PACKAGE))
        projections.append(project_recipe(
            rate, classifier["steps_per_s"] if classifier and variant == GAN_PACKAGE else None,
            gan_decode_images_per_s=decode if variant == GAN_PACKAGE else None,
            label=f"{variant}, {machine['cpu']} ({machine['cores']} cores"
                  f"{', ' + machine['gpus'][0] if machine['gpus'] else ''})"))
    for p in projections:
        log(f"   {p['label']}")
        log(f"      GAN, 30 epochs: {format_duration(p.get('gan_s'))}"
            + (f"; decoding 202,599 images once: {format_duration(p['gan_decode_s'])}"
               if "gan_decode_s" in p else "")
            + (f"; 3 classifiers x 15 epochs: {format_duration(p['classifiers_s'])}"
               if "classifiers_s" in p else ""))
    log(f"   (measured on {machine_line(machine)})")
    payload = {"machine": machine, "projections": projections}
    return payload


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error(f"--epochs must be at least 2 (a cold and a warm epoch), got {args.epochs}")
    args.out.mkdir(parents=True, exist_ok=True)
    from bench.machine import describe_machine, machine_line
    from celeba_lab._io import write_json_atomic

    def log(line: str = "") -> None:
        print(line, flush=True)

    started = time.perf_counter()
    machine = describe_machine()
    log(f"machine: {machine_line(machine)}")
    log("(numbers from a machine shared with other work are noisy: rerun on a quiet one)")
    write_json_atomic(args.out / "machine.json", machine)
    failures: list[str] = []
    data = training = None
    if "data" in args.only:
        data, failed = _data(args, machine, log)
        failures += failed
    if "train" in args.only:
        training, failed = _train(args, machine, log)
        failures += failed
    if training:
        write_json_atomic(args.out / "projection.json",
                          _projection(data, training, machine, log))
    log(f"\nresults in {args.out} ({time.perf_counter() - started:.0f} s)")
    for failure in failures:
        log(f"GOAL NOT MET: {failure}")
    return 1 if failures and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
