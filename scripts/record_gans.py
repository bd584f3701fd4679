"""Train the GANs that the chapters load as recorded runs, and write their recordings.

`make record-gans` runs this (`python -m scripts.record_gans` from the repository root). A
recording is a long run trained once on a CPU and committed under book/recorded/ with its
machine, data, profile, date and code version: chapter 5 loads it instead of training for ten
minutes, when its call has exactly the recorded data and settings. tests/test_gan_training.py checks that every recording is what the code trains.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import celeba_lab as cl
from bench.machine import describe_machine, machine_line
from celeba_lab.gan_training import record_gan_run

ROOT = Path(__file__).resolve().parents[1]
PROFILE = "quick"
#: Folder under book/recorded -> the chapter's train_gan call (on the default data).
RECORDINGS = {
    "stabilised-gan": dict(stabilise=True),  # chapter 5's remedy
}


def code_version() -> str:
    return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, text=True,
                          capture_output=True, check=True).stdout.strip()


def main() -> None:
    cl.set_profile(PROFILE)
    data = cl.load_celeba()
    for name, call in RECORDINGS.items():
        run = cl.train_gan(data, **call)
        path = record_gan_run(run, ROOT / "book" / "recorded" / name,
                              machine=machine_line(describe_machine()),
                              code_version=code_version(), profile=PROFILE)
        print(f"{path}: {run.epochs_done} epochs, "
              f"{run.metadata['sessions'][-1]['seconds'] / 60:.1f} min of training")


if __name__ == "__main__":
    main()
