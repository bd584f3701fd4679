"""What the performance appendix shows: results read from files, or measured live, as tables.

The appendix never shows a number it did not measure or read from a results file that names its
machine. :func:`load_results` reads what ``python -m bench`` wrote into ``bench/results/``;
when that is missing it runs a small version of the benchmarks (a few hundred images, a few
steps) in the build itself, and says so. :func:`load_gpu_results` and
:func:`load_gpu_full_runs` read the GPU check results committed under ``bench/gpu_results/``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from bench import GPU_RESULTS_DIR, RESULTS_DIR

__all__ = ["Results", "load_results", "run_live", "load_gpu_results", "load_gpu_full_runs",
           "load_chapter_memory", "load_read_ahead", "measured_epochs", "run_seconds",
           "data_table", "training_table", "gpu_table", "full_epochs_table", "projection_rows",
           "best_gpu_runs", "chapter_memory_table", "page_table"]

VARIANT_NAMES = {
    "package": "celeba_lab (disk cache, streamed)",
    "keras": "keras image_dataset_from_directory",
    "numpy": "report: one NumPy array in RAM",
}


class Results(dict):
    """``{"data": ..., "training": ..., "projection": ..., "machine": ...}`` plus their origin.

    Attributes:
        source: ``"file"`` (read from ``bench/results/``) or ``"live"`` (measured in this run).
        folder: Where the files were read from or written to.
    """

    source: str = "file"
    folder: Path | None = None


def _read(folder: Path, name: str) -> dict[str, Any] | None:
    path = folder / f"{name}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_results(folder: Path = RESULTS_DIR, *, live_if_missing: bool = True,
                 **live) -> Results:
    """The benchmark results in ``folder``; measured live (small) when any part is missing.

    Args:
        folder: Where ``python -m bench`` wrote its files.
        live_if_missing: Run :func:`run_live` when ``data.json`` or ``training.json`` is absent.
        **live: Passed to :func:`run_live`.

    Returns:
        The :class:`Results`.
    """
    found = {name: _read(Path(folder), name)
             for name in ("machine", "data", "training", "projection")}
    if (found["data"] is None or found["training"] is None) and live_if_missing:
        return run_live(**live)
    results = Results({k: v for k, v in found.items() if v is not None})
    results.source, results.folder = "file", Path(folder)
    return results


def run_live(*, sizes: tuple[int, ...] = (800, 2400), targets: tuple[str, ...] = ("classifier",),
             source_n: int | None = None, gan_steps: int = 3, classifier_steps: int = 5,
             warmup: int = 2, out: Path | None = None, log=print) -> Results:
    """A small run of the benchmarks (package against baselines, no GPU options), in minutes.

    The default data benchmark prepares the classifier's 218 x 178 input only: both sizes then
    fill at least one of the package's decoding chunks (576 images), so the memory comparison
    across sizes is meaningful; the GAN input's chunk (5,461 images) needs larger sets.

    Args:
        sizes: Image counts for the data benchmark (the first N of one synthetic set).
        targets: Inputs the data benchmark prepares (``"gan"``, ``"classifier"``).
        source_n: Size of that synthetic set (default: the run profile's, which the other
            chapters have already written into the cache).
        gan_steps: Timed GAN steps per run.
        classifier_steps: Timed classifier steps per run.
        warmup: Untimed steps per run.
        out: Where to write the result files (default: a temporary folder).
        log: Where progress lines go.
    """
    from bench.__main__ import main
    from celeba_lab.config import get_profile

    source_n = source_n or max(get_profile().synthetic_images, max(sizes))
    folder = Path(out or tempfile.mkdtemp(prefix="celeba-bench-"))
    args = ["--sizes", *map(str, sizes), "--gan-steps", str(gan_steps),
            "--classifier-steps", str(classifier_steps), "--warmup", str(warmup),
            "--repeats", "1", "--no-options", "--targets", *targets,
            "--source-images", str(source_n), "--train-images", str(source_n),
            "--out", str(folder)]
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        main(args)
    log(buffer.getvalue())
    results = load_results(folder, live_if_missing=False)
    results.source, results.folder = "live", folder
    return results


def _gpu_files(folder: Path, key: str) -> list[dict[str, Any]]:
    out = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            payload = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if key in payload:
            payload["file"] = path.name
            out.append(payload)
    return out


def load_gpu_results(folder: Path = GPU_RESULTS_DIR) -> list[dict[str, Any]]:
    """The GPU checks timed per step (``bench/gpu_results/*.json``), sorted by file name."""
    return _gpu_files(folder, "results")


def load_gpu_full_runs(folder: Path = GPU_RESULTS_DIR) -> list[dict[str, Any]]:
    """The GPU checks that timed whole epochs (``gpu_check.py --full-data``), by file name."""
    return _gpu_files(folder, "full_data")


def load_chapter_memory(folder: Path = RESULTS_DIR) -> dict[str, Any] | None:
    """Each chapter's peak memory on the full data set (``python -m bench.chapter_memory``),
    or ``None`` when it was not measured."""
    return _read(folder, "chapter_memory")


def load_read_ahead(folder: Path = RESULTS_DIR) -> dict[str, Any] | None:
    """Later epochs with and without read-ahead (``python -m bench.read_ahead``), or ``None``
    when it was not measured."""
    return _read(folder, "read_ahead")


# --------------------------------------------------------------------------- tables


def page_table(table, *, missing: str = "\u2013"):
    """A table as the appendix shows it: no row numbers, a dash for what was not measured.

    Columns that hold one value in every row move into the caption (``device: NVIDIA H100``),
    so the table keeps only what differs between its rows; so do the table's
    ``attrs["notes"]`` (sentences a column would wrap to a few characters a line). Whole numbers get thousands
    separators; other numbers keep the decimals their column was rounded to; True/False read
    yes/no.

    Args:
        table: A :mod:`pandas` frame (from :func:`data_table` and the other tables here).
        missing: What a cell with no value (None, NaN) shows.

    Returns:
        A pandas ``Styler`` that renders as an HTML table.
    """
    import math

    import numpy as np
    import pandas as pd

    constant = [c for c in table.columns
                if len(table) > 1 and table[c].astype(str).nunique(dropna=False) == 1]
    shown = table.drop(columns=constant)

    def text(value) -> str:
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        return str(value)

    def decimals(column) -> int:
        values = [v for v in column if isinstance(v, float) and not math.isnan(v)]
        for d in range(4):
            if all(abs(v - round(v, d)) < 1e-9 for v in values):
                return d
        return 3

    formats = {}
    for name in shown.columns:
        column = shown[name]
        if column.dtype == bool:
            formats[name] = text
        elif pd.api.types.is_numeric_dtype(column):
            d = decimals(column)
            formats[name] = lambda v, d=d: f"{v:,.{d}f}"
        else:
            formats[name] = lambda v: (f"{v:,}" if isinstance(v, int) and not isinstance(v, bool)
                                       else text(v))
    styled = shown.style.hide(axis="index").format(formats, na_rep=missing)
    caption = [f"{c}: {text(table[c].iloc[0])}" for c in constant]
    caption += list(table.attrs.get("notes", []))  # notes too long for a column (data_table)
    if caption:
        styled = styled.set_caption("; ".join(caption))
    return styled



def measured_epochs(row: dict[str, Any]) -> int:
    """How many epochs a data-benchmark row timed (``epoch1_s``, ``epoch2_s``, ...)."""
    epochs = 0
    while f"epoch{epochs + 1}_s" in row:
        epochs += 1
    return epochs


def run_seconds(row: dict[str, Any], epochs: int) -> float:
    """Seconds for ``epochs`` epochs of a data-benchmark row: the epochs it timed, then its
    last timed epoch for each epoch beyond them."""
    timed = measured_epochs(row)
    if timed == 0:
        raise ValueError("the row timed no epoch")
    seconds = sum(row[f"epoch{e}_s"] for e in range(1, min(epochs, timed) + 1))
    return seconds + max(epochs - timed, 0) * row[f"epoch{timed}_s"]


def data_table(data: dict[str, Any]):
    """One row per (input, N, way): images/s cold and warm (and in any later epoch timed, None
    where that epoch was not timed), peak memory added (MiB). A way not run shows no numbers;
    why is in ``attrs["notes"]``, which :func:`page_table` puts in the caption."""
    import pandas as pd

    later = range(3, max((measured_epochs(r) for r in data["rows"]), default=2) + 1)
    rows = []
    for r in data["rows"]:
        row = {"input": r["target"], "N": r["n"], "way": VARIANT_NAMES.get(r["variant"],
                                                                            r["variant"])}
        skipped = bool(r.get("skipped"))
        row["cold epoch (img/s)"] = None if skipped else round(r["epoch1_images_per_s"])
        row["warm epoch (img/s)"] = None if skipped else round(r["epoch2_images_per_s"])
        for e in later:
            value = r.get(f"epoch{e}_images_per_s")
            row[f"epoch {e} (img/s)"] = None if value is None else round(value)
        row["memory added (MiB)"] = None if skipped else round(r["delta_rss_mib"])
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["notes"] = [
        f"not run: {r['target']} at N = {r['n']:,}, {VARIANT_NAMES.get(r['variant'], r['variant'])}"
        f": {r['reason']}" for r in data["rows"] if r.get("skipped")]
    return table


def training_table(training: dict[str, Any]):
    """One row per (model, variant): steps/s, ms per step, ratio to the baseline."""
    import pandas as pd

    ratios = {(r["model"], r["variant"]): r for r in training["ratios"]}
    seen = []
    for r in training["rows"]:
        key = (r["model"], r["variant"])
        if key in seen:
            continue
        seen.append(key)
    rows = []
    baselines = {r["model"]: r["baseline"] for r in training["ratios"]}
    for model, variant in seen:
        ratio = ratios.get((model, variant))
        if variant == baselines.get(model):
            ref = next(r for r in training["ratios"] if r["model"] == model)
            rate, step, vs = ref["baseline_steps_per_s"], ref["baseline_median_step_s"], 1.0
        elif ratio is not None:
            rate, step, vs = ratio["steps_per_s"], ratio["median_step_s"], ratio["ratio"]
        else:
            continue
        timed = sum(r["timed_steps"] for r in training["rows"]
                    if (r["model"], r["variant"]) == (model, variant))
        rows.append({"model": model, "variant": variant, "steps/s": round(rate, 3),
                     "ms per step (median)": round(step * 1000, 1),
                     "vs baseline": round(vs, 2), "timed steps": timed})
    return pd.DataFrame(rows)


def gpu_table(gpu_results: list[dict[str, Any]]):
    """One row per (GPU result file, model, precision): steps/s, peak GPU memory, projection."""
    import pandas as pd

    from bench.projection import format_duration

    rows = []
    for payload in gpu_results:
        for r in payload["results"]:
            rows.append({
                "device": payload["device"], "backend": payload["backend"],
                "model": r["model"], "run": r.get("variant", ""), "precision": r["policy"],
                "steps/s": round(r["steps_per_s"], 1),
                "peak GPU memory (MiB)": (None if r.get("peak_gpu_mib") is None
                                          else round(r["peak_gpu_mib"])),
                "full recipe": format_duration(r.get("projected_recipe_s")),
                "finite losses": bool(r["finite"]),
            })
    return pd.DataFrame(rows)


def full_epochs_table(full_runs: list[dict[str, Any]]):
    """One row per whole-epoch GPU run: its epochs, steps/s, the 30 epochs, memory."""
    import pandas as pd

    from bench.projection import format_duration

    rows = []
    for payload in full_runs:
        full = payload["full_data"]
        for r in full["runs"]:
            rows.append({
                "device": payload["device"], "backend": payload["backend"],
                "images": full["images"], "run": r["variant"], "precision": r["policy"],
                "epochs (s)": ", ".join(f"{s:.1f}" for s in r["epoch_s"]),
                "steps/s": round(r["steps_per_s"]),
                "30 epochs": format_duration(r["projected_recipe_s"]),
                "host peak RSS (MiB)": round(r["host_peak_rss_mib"]),
                "finite losses": bool(r["finite"]),
            })
    return pd.DataFrame(rows)


def chapter_memory_table(result: dict[str, Any]):
    """One row per chapter: how long it ran (blank for a run paused or sharing the CPU,
    ``not_a_timing``), its peak memory (GiB), and whether it passed."""
    import pandas as pd

    return pd.DataFrame([{
        "chapter": r["chapter"],
        "ran (min)": None if r.get("not_a_timing") else round(r["seconds"] / 60, 1),
        "anonymous peak (GiB)": round(r["peak_anon_mib"] / 1024, 2),
        "resident peak (GiB)": round(r["peak_rss_mib"] / 1024, 2),
        "anonymous peak reached in": r.get("peak_anon_code") or "(not recorded)",
        "within Colab's RAM": r["peak_anon_mib"] / 1024 < result["colab_ram_gib"],
        "ran to the end": bool(r["ok"]),
    } for r in result["rows"]])


def projection_rows(results: Results, gpu_results: list[dict[str, Any]],
                    full_runs: list[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The report's GAN (30 epochs) projected for every machine and variant measured.

    Whole-epoch GPU runs count only when they trained on all 202,599 images.

    Returns:
        Rows with ``label`` and ``gan_s`` (seconds), the report's own six hours first.
    """
    from bench.machine import machine_line
    from bench.projection import REPORT_GAN_SECONDS, project_recipe

    rows = [{"label": "the report (Colab GPU, 2022)", "gan_s": REPORT_GAN_SECONDS,
             "kind": "report"}]
    for p in (results.get("projection") or {}).get("projections", []):
        rows.append({"label": p["label"], "gan_s": p.get("gan_s"), "kind": "cpu"})
    for payload in gpu_results:
        for r in payload["results"]:
            if r["model"] != "gan" or not r["finite"] or not payload.get("on_gpu"):
                continue
            projected = project_recipe(r["steps_per_s"])
            # "train_gan, timed per step": the way of timing is part of what was measured.
            run = r.get("variant", "")
            rows.append({"label": f"{payload['device']}, {payload['backend']}, {run}, "
                                  f"{r['policy']}",
                         "gan_s": projected["gan_s"], "kind": "gpu",
                         "machine": machine_line(payload["machine"])})
    from celeba_lab.attributes import N_IMAGES

    for payload in full_runs:
        if payload["full_data"]["images"] != N_IMAGES or not payload.get("on_gpu"):
            continue
        for r in payload["full_data"]["runs"]:
            if r["finite"]:
                rows.append({"label": f"{payload['device']}, {payload['backend']}, "
                                      f"{r['variant']}, {r['policy']}",
                             "gan_s": r["projected_recipe_s"], "kind": "gpu",
                             "machine": machine_line(payload["machine"])})
    return rows


def fastest_projections(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows a figure can label readably: the report's, then the fastest per machine and
    backend (the first words of ``label`` up to the way of timing), in the order of ``rows``.

    Example:
        >>> [r["label"] for r in fastest_projections([
        ...     {"label": "the report", "gan_s": 21600, "kind": "report"},
        ...     {"label": "H100, jax, train_gan, float32", "gan_s": 1594, "kind": "gpu"},
        ...     {"label": "H100, jax, DCGAN.fit, bf16", "gan_s": 560, "kind": "gpu"},
        ...     {"label": "H100, torch, train_gan, float32", "gan_s": 6714, "kind": "gpu"}])]
        ['the report', 'H100, jax, DCGAN.fit, bf16', 'H100, torch, train_gan, float32']
    """
    best: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        parts = row["label"].split(", ")
        key = (row.get("kind"), *(parts[:2] if row.get("kind") == "gpu" else parts[-1:]))
        if key not in best or row["gan_s"] < best[key]["gan_s"]:
            best[key] = row
    return [row for row in rows if row in best.values()]


def best_gpu_runs(gpu_results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each (device, backend, run), the GAN precision with the shortest projected recipe.

    Returns:
        Rows with ``device``, ``backend``, ``run``, ``policy``, ``steps_per_s``,
        ``projected_recipe_s``, ``decode_s`` and ``date``, fastest first.
    """
    best: dict[tuple, dict[str, Any]] = {}
    for payload in gpu_results:
        if not payload.get("on_gpu"):
            continue
        for r in payload["results"]:
            if r["model"] != "gan" or not r["finite"]:
                continue
            key = (payload["device"], payload["backend"], r.get("variant", ""))
            if key not in best or r["projected_recipe_s"] < best[key]["projected_recipe_s"]:
                best[key] = {"device": key[0], "backend": key[1], "run": key[2],
                             "policy": r["policy"], "steps_per_s": r["steps_per_s"],
                             "projected_recipe_s": r["projected_recipe_s"],
                             "decode_s": payload.get("projected_decode_s"),
                             "date": payload["machine"]["date"][:10]}
    return sorted(best.values(), key=lambda r: r["projected_recipe_s"])
