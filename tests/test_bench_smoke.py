"""bench/gpu_check.py runs end to end on a CPU: 2 steps of each model, finite numbers, JSON out.

The script is what a maintainer runs on a GPU machine without TensorFlow, so under the JAX and
PyTorch backends it runs here with ``tensorflow`` made unimportable.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "gpu_check.py"

# Runs the script as `python bench/gpu_check.py ...` would, after blocking TensorFlow.
RUNNER = textwrap.dedent(
    """
    import runpy, sys
    if sys.argv[1] == "block-tensorflow":
        sys.modules["tensorflow"] = None   # any `import tensorflow` now raises ImportError
    script = sys.argv[2]
    sys.argv = [script, *sys.argv[3:]]
    runpy.run_path(script, run_name="__main__")
    """
)


def _backend() -> str:
    return os.environ.get("KERAS_BACKEND", "tensorflow")


@pytest.mark.slow
def test_gpu_check_runs_on_cpu_and_writes_finite_numbers(tmp_path):
    backend = _backend()
    out = tmp_path / "gpu_check.json"
    block = "block-tensorflow" if backend != "tensorflow" else "allow-tensorflow"
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               CELEBA_LAB_CACHE=str(tmp_path / "cache"))
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, block, str(SCRIPT), "--backend", backend,
         # A quarter-width GAN: the full one takes minutes per step on a CPU under JAX.
         "--steps", "2", "--warmup", "1", "--images", "300", "--width", "0.25",
         "--out", str(out),
         "--workdir", str(tmp_path / "work")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1200)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "running on the CPU" in result.stdout  # it says it is not on a GPU

    payload = json.loads(out.read_text())
    assert payload["backend"] == backend and payload["on_gpu"] is False
    assert payload["finite"] is True and payload["gan_width"] == 0.25
    if backend != "tensorflow":
        assert payload["tensorflow_imported"] is False
    assert {(r["model"], r["policy"]) for r in payload["results"]} == {
        ("gan", "float32"), ("classifier", "float32")}
    for row in payload["results"]:
        assert row["timed_steps"] == 2
        assert len(row["losses"]) == 3 and all(math.isfinite(v) for v in row["losses"])
        for key in ("steps_per_s", "median_step_s", "projected_recipe_s", "host_peak_rss_mib"):
            assert math.isfinite(row[key]) and row[key] > 0, (key, row[key])
        assert row["peak_gpu_mib"] is None  # no GPU, no GPU memory figure
    gan = next(r for r in payload["results"] if r["model"] == "gan")
    # The projection is the report's 189,960 steps at the measured rate.
    assert gan["projected_recipe_s"] == pytest.approx(189_960 / gan["steps_per_s"])


def _bench_module(name: str):
    sys.path.insert(0, str(ROOT))
    try:
        return __import__(f"bench.{name}", fromlist=[name])
    finally:
        sys.path.remove(str(ROOT))


def test_step_summary_flags_non_finite_losses():
    timing = _bench_module("timing")
    ok = timing.summarise_steps([0.5, 0.25], [0.7, 0.6, 0.5])
    assert ok["finite"] and ok["steps_per_s"] == pytest.approx(2 / 0.75)
    assert ok["median_step_s"] == pytest.approx(0.375)
    assert not timing.summarise_steps([0.5], [0.7, float("nan")])["finite"]
    assert not timing.summarise_steps([0.5], [float("inf")])["finite"]


def test_gpu_check_fails_loudly_on_non_finite_losses(tmp_path, tmp_cache, monkeypatch):
    """A NaN loss makes the script exit with its own status, after writing the JSON."""
    gpu_check = _bench_module("gpu_check")

    def fake_run(model, policy, data, args, work, memory):
        return {"model": model, "variant": "fake", "policy": policy, "finite": model != "gan",
                "steps_per_s": 1.0, "median_step_s": 1.0, "peak_gpu_mib": None,
                "projected_recipe_s": 1.0, "losses": [float("nan")]}

    monkeypatch.setattr(gpu_check, "_run", fake_run)
    out = tmp_path / "result.json"
    status = gpu_check.main(["--backend", _backend(), "--images", "30", "--out", str(out),
                             "--workdir", str(tmp_path / "work")])
    assert status == gpu_check.EXIT_NON_FINITE
    assert json.loads(out.read_text())["finite"] is False


@pytest.mark.slow
def test_appendix_measures_live_when_no_results_are_committed(tmp_cache, tmp_path):
    # The performance appendix reads bench/results/; without them it runs a small live set.
    sys.path.insert(0, str(ROOT))
    from bench import report

    results = report.load_results(tmp_path / "absent", sizes=(60, 120), source_n=1000,
                                  gan_steps=1, classifier_steps=1, warmup=1,
                                  out=tmp_path / "live", log=lambda text: None)
    assert results.source == "live"
    rows = results["data"]["rows"]
    assert {r["n"] for r in rows} == {60, 120}
    variants = {r["variant"] for r in results["training"]["rows"]}
    assert len(variants) >= 4, variants  # package and baseline, for the GAN and the classifier
    assert all(r["steps_per_s"] > 0 and r["finite"] for r in results["training"]["rows"])


def test_peak_memory_counts_the_memory_of_child_processes():
    # The package decodes large caches in worker processes: their memory is the reader's too.
    from bench.memory import PeakMemory

    child = [sys.executable, "-c",
             "import time; x = bytearray(300 * 2**20); x[::4096] = b'x' * len(x[::4096]); "
             "time.sleep(0.5)"]
    with PeakMemory() as memory:
        subprocess.run(child, check=True)
    assert memory.peak["anon"] - memory.floor["anon"] > 250
    assert memory.peak["rss"] - memory.floor["rss"] > 250
