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


def test_gpu_check_times_whole_epochs_through_the_books_path(tmp_path):
    # --full-data: write N images, decode the GAN input once, then whole epochs of train_gan and
    # of a plain DCGAN.fit; the 30 epochs projected from them.
    backend = _backend()
    out = tmp_path / "full.json"
    block = "block-tensorflow" if backend != "tensorflow" else "allow-tensorflow"
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, block, str(SCRIPT), "--backend", backend,
         "--full-data", "100", "--width", "0.125", "--policies", "float32",
         "--full-variants", "train_gan", "DCGAN.fit", "--out", str(out),
         "--workdir", str(tmp_path / "work")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1200)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    payload = json.loads(out.read_text())
    full = payload["full_data"]
    assert payload["on_gpu"] is False and full["images"] == 100
    assert full["decode_s"] > 0 and full["decode_images_per_s"] > 0
    assert [r["variant"] for r in full["runs"]] == ["train_gan, whole epochs",
                                                    "DCGAN.fit, whole epochs"]
    projection = _bench_module("projection")
    for row in full["runs"]:
        # One pass over all 100 images an epoch (the full profile), not the quick profile's 5.
        assert row["epoch_steps"] == 4 and len(row["epoch_s"]) == 2 and row["finite"]
        assert row["steps_per_s"] == pytest.approx(4 / row["epoch_s"][1])
        assert row["projected_recipe_s"] == pytest.approx(
            projection.project_from_epochs(row["epoch_s"], 4))
        assert row["host_peak_rss_mib"] > 0
    # The run folder train_gan wrote holds two epochs' grids: monitor and checkpoints ran.
    assert len(list((tmp_path / "work" / "full-float32" / "grids").glob("*.png"))) == 2


def test_whole_epoch_projection_adds_the_first_epochs_extra_time_once():
    projection = _bench_module("projection")
    steady = projection.project_from_epochs([20.0, 20.0], 6332)
    assert steady == pytest.approx(189_960 * 20.0 / 6332)          # 30 epochs of 20 s
    assert projection.project_from_epochs([38.0, 20.0], 6332) == pytest.approx(steady + 18.0)
    # A shorter epoch (fewer images) scales to the report's 6,332 steps an epoch.
    assert projection.project_from_epochs([5.0, 5.0], 1583) == pytest.approx(
        189_960 * 5.0 / 1583)


def test_report_keeps_step_checks_and_whole_epoch_runs_apart(tmp_path):
    report = _bench_module("report")
    machine = {"date": "2026-11-27T00:00:00", "cpu": "x", "cores": 16, "gpus": ["G"],
               "backend": "jax", "platform": "linux", "python": "3.12", "ram_gib": 1,
               "versions": {}}
    step = {"machine": machine, "device": "G", "backend": "jax", "on_gpu": True,
            "results": [{"model": "gan", "variant": "train_gan, timed per step",
                         "policy": "float32", "steps_per_s": 100.0, "finite": True,
                         "projected_recipe_s": 1899.6, "peak_gpu_mib": 1.0}]}

    def run(images, rate):
        return {"machine": machine, "device": "G", "backend": "jax", "on_gpu": True,
                "full_data": {"images": images, "decode_s": 1.0, "decode_images_per_s": 9.0,
                              "runs": [{"variant": "train_gan, whole epochs",
                                        "policy": "mixed_bfloat16", "epoch_s": [9.0, 6332 / rate],
                                        "epoch_steps": 6332, "steps_per_s": rate,
                                        "projected_recipe_s": 189_960 / rate, "finite": True,
                                        "host_peak_rss_mib": 4000.0}]}}

    (tmp_path / "a_step.json").write_text(json.dumps(step))
    (tmp_path / "b_full.json").write_text(json.dumps(run(202_599, 300.0)))
    (tmp_path / "c_small.json").write_text(json.dumps(run(50_000, 250.0)))
    steps, full = report.load_gpu_results(tmp_path), report.load_gpu_full_runs(tmp_path)
    assert [p["file"] for p in steps] == ["a_step.json"]
    assert [p["file"] for p in full] == ["b_full.json", "c_small.json"]
    table = report.full_epochs_table(full)
    assert list(table["images"]) == [202_599, 50_000] and list(table["steps/s"]) == [300, 250]
    rows = report.projection_rows({}, steps, full)
    gpu = [r for r in rows if r["kind"] == "gpu"]
    # The per-step check, and only the whole-epoch run over all of CelebA.
    assert [round(r["gan_s"]) for r in gpu] == [1900, round(189_960 / 300)]
    assert "timed per step" in gpu[0]["label"] and "whole epochs" in gpu[1]["label"]


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


def _notebook(path: Path, *sources: str) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def test_chapter_memory_follows_the_kernel_and_names_a_failing_cell(tmp_path):
    # A chapter's peak memory is its kernel's (and the kernel's workers'): a cell that holds
    # 400 MiB shows, and a cell that fails ends the chapter with its number and error.
    from bench.chapter_memory import run_chapter

    heavy = _notebook(tmp_path / "01_heavy.ipynb",
                      "import numpy as np\nx = np.ones(400 * 2**20, dtype=np.uint8)",
                      "del x")
    row = run_chapter(heavy)
    assert row["ok"] and row["error"] is None and row["chapter"] == "01_heavy"
    assert 400 < row["peak_anon_mib"] < 1500
    assert row["peak_anon_cell"] == 0 and row["peak_anon_code"] == "import numpy as np"
    assert row["peak_kernel_rss_mib"] >= row["peak_anon_mib"] - row["peak_workers_rss_mib"]
    child = ("import subprocess, sys\nsubprocess.run([sys.executable, '-c', "
             "'x = bytearray(300 * 2**20); import time; time.sleep(1)'], check=True)")
    worker = run_chapter(_notebook(tmp_path / "02_worker.ipynb", child))
    assert worker["peak_workers_rss_mib"] > 250
    broken = _notebook(tmp_path / "03_broken.ipynb", "a = 1", "raise KeyError('Blond')",
                       "never_run()")
    row = run_chapter(broken)
    assert not row["ok"] and row["error"].startswith("cell 1:") and "Blond" in row["error"]


def test_chapter_memory_table_and_figure_read_the_results():
    import matplotlib

    matplotlib.use("Agg")
    from bench.chapter_memory import DEFAULT_CHANGES, chapter_notebooks
    from bench.report import chapter_memory_table
    from celeba_lab import config
    from celeba_lab.plots import plot_chapter_memory

    assert [p.name[:2] for p in chapter_notebooks(["2", "05"])] == ["02", "05"]
    with pytest.raises(SystemExit, match="No chapter numbered 42"):
        chapter_notebooks(["42"])
    profile = config.get_profile(f"full:{DEFAULT_CHANGES}")
    assert profile.classifier_sizes == config.PROFILES["full"].classifier_sizes
    result = {"colab_ram_gib": 12.7, "rows": [
        {"chapter": "01_data", "seconds": 90.0, "peak_anon_mib": 900.0,
         "peak_rss_mib": 1400.0, "ok": True},
        {"chapter": "05_mode_collapse", "seconds": 600.0, "peak_anon_mib": 14_000.0,
         "peak_rss_mib": 15_000.0, "ok": False}]}
    result["rows"][0]["not_a_timing"] = True          # paused or sharing the CPU
    table = chapter_memory_table(result)
    assert table["ran (min)"].isna().tolist() == [True, False]
    assert table["within Colab's RAM"].tolist() == [True, False]
    assert table["ran to the end"].tolist() == [True, False]
    assert table["anonymous peak (GiB)"].tolist() == [0.88, 13.67]
    fig = plot_chapter_memory(result["rows"], limit_gib=12.7)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["01 data", "05 mode collapse (failed)"]
    result["rows"][1]["stopped_early"] = True
    stopped = plot_chapter_memory(result["rows"]).axes[0].get_yticklabels()
    assert stopped[1].get_text() == "05 mode collapse (stopped early)"
    assert any(line.get_xdata()[0] == 12.7 for line in fig.axes[0].get_lines())


def test_chapter_memory_run_keeps_each_chapter_done_in_its_file(tmp_path, synthetic_root,
                                                                monkeypatch):
    # The chapters run one after another with the data, profile and cache given to them; the
    # results file is written after each, so a run stopped midway keeps what it measured.
    from bench.chapter_memory import run
    from celeba_lab import config

    for env in (config.ROOT_ENV, config.PROFILE_ENV, config.CACHE_ENV):
        monkeypatch.setenv(env, "")          # restored after the test
    first = _notebook(tmp_path / "01_setting.ipynb",
                      "import os\nassert os.environ['CELEBA_LAB_PROFILE'] == 'full:gan_epochs=1'")
    second = _notebook(tmp_path / "02_stop.ipynb", "raise SystemExit('stopped')")
    out = tmp_path / "memory.json"
    seen = []
    result = run([first, second], root=synthetic_root, profile="full:gan_epochs=1",
                 cache=tmp_path / "cache", out=out,
                 log=lambda line: seen.append(json.loads(out.read_text())["rows"]
                                              if out.exists() else []))
    assert [r["ok"] for r in result["rows"]] == [True, False]
    assert result["images"] > 0 and result["profile"] == "full:gan_epochs=1"
    assert [len(rows) for rows in seen[::2]] == [0, 1]    # before each chapter: those done
    assert json.loads(out.read_text())["rows"] == result["rows"]


def test_data_benchmark_times_the_epochs_asked_and_the_appendix_reads_them(tmp_path, tmp_cache,
                                                                          capsys):
    # `python -m bench --epochs 3` times a third epoch in every way, with its ratios; the
    # appendix's table shows it and counts the epochs after it at its speed.
    import bench.__main__ as bench_main
    from bench import report

    with pytest.raises(SystemExit):
        bench_main.main(["--only", "data", "--epochs", "1", "--out", str(tmp_path)])
    assert "--epochs must be at least 2" in capsys.readouterr().err
    assert bench_main.main(["--only", "data", "--sizes", "40", "--targets", "gan", "--epochs",
                            "3", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "data.json").read_text())
    assert data["epochs"] == 3
    assert {r["variant"] for r in data["rows"]} == {"package", "keras", "numpy"}
    assert all(report.measured_epochs(r) == 3 and r["epoch3_images_per_s"] > 0
               for r in data["rows"])
    assert all("throughput_ratio_epoch3" in r for r in data["ratios"])
    table = report.data_table(data)
    assert all(not isinstance(v, str) and v > 0 for v in table["epoch 3 (img/s)"])
    row = data["rows"][0]
    assert report.run_seconds(row, 5) == pytest.approx(
        row["epoch1_s"] + row["epoch2_s"] + 3 * row["epoch3_s"])
    assert report.run_seconds(row, 1) == row["epoch1_s"]
    data["rows"][0] = {k: v for k, v in row.items() if not k.startswith("epoch3")}
    assert math.isnan(report.data_table(data)["epoch 3 (img/s)"][0])   # shown as a dash


def test_read_ahead_benchmark_alternates_and_restores(tmp_path, tmp_cache):
    # bench.read_ahead: a first epoch, then epochs alternating read-ahead and none, the cache
    # removed and the package's setting restored afterwards.
    import celeba_lab.batches as data_module
    from bench.read_ahead import main, run_read_ahead
    from celeba_lab import config

    scratch = tmp_path / "scratch"
    result = run_read_ahead(120, schedule=(3, 0, 3), scratch=scratch, log=lambda line: None)
    assert [e["read_ahead"] for e in result["epochs"]] == [None, 3, 0, 3]
    assert all(e["images_per_s"] > 0 for e in result["epochs"])
    assert result["ratio"] == pytest.approx(result["with_read_ahead_images_per_s"]
                                            / result["without_read_ahead_images_per_s"])
    assert not scratch.exists() and data_module._READ_AHEAD == 8
    assert config.CACHE_ENV not in config._overrides and config.cache_dir() == tmp_cache
    out = tmp_path / "read_ahead.json"
    assert main(["--images", "60", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["n"] == 60


def test_page_table_hides_row_numbers_dashes_gaps_and_captions_constant_columns():
    import pandas as pd

    from bench.report import page_table

    table = pd.DataFrame({"device": ["H100", "H100"], "N": [2_000, 202_599],
                          "img/s": [862.0, float("nan")], "steps/s": [0.192, 1.5],
                          "finite": [True, True], "note": ["", "not run"]})
    html = page_table(table).to_html()
    assert "<caption>device: H100; finite: yes</caption>" in html
    import re

    cells = [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)]
    assert cells == ["2,000", "862", "0.192", "", "202,599", "\u2013", "1.500", "not run"]
    assert "row_heading" not in html   # no row numbers


def test_data_table_says_why_a_way_was_not_run_in_its_caption_not_a_column():
    from bench.report import data_table, page_table

    ran = {"target": "gan", "n": 2_000, "variant": "package", "epoch1_s": 2.0,
           "epoch1_images_per_s": 1000.0, "epoch2_images_per_s": 9000.0, "delta_rss_mib": 60.0}
    skipped = {"target": "classifier", "n": 202_599, "variant": "numpy", "skipped": True,
               "reason": "needs about 109.8 GiB of RAM (limit 8.0 GiB)"}
    table = data_table({"rows": [ran, skipped]})
    assert "note" not in table.columns   # a column of notes wrapped a character a line
    assert table.attrs["notes"] == ["not run: classifier at N = 202,599, report: one NumPy "
                                    "array in RAM: needs about 109.8 GiB of RAM (limit 8.0 GiB)"]
    html = page_table(table).to_html()
    assert "<caption>" in html and "not run: classifier at N = 202,599" in html


def test_throughput_figure_marks_the_ways_not_run():
    import matplotlib

    matplotlib.use("Agg")
    from celeba_lab.plots import plot_data_throughput

    rows = [{"target": "gan", "n": n, "variant": v, "epoch1_images_per_s": 100.0,
             "epoch2_images_per_s": 1000.0} for n in (10, 100) for v in ("package", "keras")]
    rows.append({"target": "gan", "n": 10, "variant": "numpy", "epoch1_images_per_s": 50.0,
                 "epoch2_images_per_s": 5000.0})
    rows.append({"target": "gan", "n": 100, "variant": "numpy", "skipped": True})
    fig = plot_data_throughput(rows)
    assert [t.get_text() for t in fig.axes[0].texts] == ["not run"]
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 3
    assert fig.get_figwidth() <= 7.5   # fits the text column without shrinking its labels
