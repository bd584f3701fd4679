"""The book and its package never drift: paired notebooks, one repository setting, the TOC."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

from celeba_lab import config

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
CHAPTERS = sorted(p for p in BOOK.glob("*.md") if p.read_text().startswith("---\njupytext:"))


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [entry["file"] for entry in part["chapters"]]
    return files


def _cells(nb) -> list[tuple[str, str, tuple]]:
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ()))) for c in nb.cells]


def test_there_are_chapters():
    assert len(CHAPTERS) >= 1


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_paired_notebook_matches_its_markdown(chapter):
    import jupytext

    ipynb = chapter.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run `make sync`"
    from_md = jupytext.read(chapter)
    committed = nbformat.read(ipynb, as_version=4)
    assert _cells(committed) == _cells(from_md), (
        f"{ipynb.name} has drifted from {chapter.name}: run `make sync` (the .md is the source)")
    for cell in committed.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{ipynb.name} is committed with outputs: run `make sync`")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_starts_with_the_setup_cell(chapter):
    import jupytext

    first = next(c for c in jupytext.read(chapter).cells if c.cell_type == "code")
    assert "cl.setup()" in first.source
    # The Colab install line uses the one repository setting.
    assert f"git+{config.REPOSITORY_URL}" in first.source


def test_repository_is_one_setting():
    book_config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert book_config["repository"]["url"] == config.REPOSITORY_URL
    assert config.REPOSITORY_URL in (ROOT / "README.md").read_text()


def test_toc_lists_every_chapter_and_only_existing_files():
    files = _toc_files()
    for name in files:
        assert (ROOT / f"{name}.md").exists(), f"_toc.yml names {name}, which does not exist"
    listed = {ROOT / f"{name}.md" for name in files}
    assert set(CHAPTERS) <= listed, "a chapter is missing from _toc.yml"


def test_execution_fails_the_build_on_errors():
    book_config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert book_config["execute"]["allow_errors"] is False
    assert "-W" in (ROOT / "Makefile").read_text()


def _page_fixes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("page_fixes", BOOK / "_ext" / "page_fixes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_book_loads_the_page_fixes_and_its_assets_exist():
    book_config = yaml.safe_load((ROOT / "_config.yml").read_text())
    extensions = book_config["sphinx"]["local_extensions"]
    assert (ROOT / extensions["page_fixes"] / "page_fixes.py").exists()
    for asset in (book_config["logo"], book_config["html"]["favicon"]):
        assert (ROOT / asset).stat().st_size > 0


def test_page_fixes_keep_one_copy_of_each_inline_script():
    from sphinx.builders.html._assets import _JavaScript

    thebe = 'const THEBE_JS_URL = "x"'
    scripts = [_JavaScript("_static/doctools.js", priority=200),
               _JavaScript(None, body=thebe), _JavaScript("_static/sphinx-thebe.js"),
               _JavaScript("", body=thebe),  # the duplicate that made every page throw
               _JavaScript("", body="let other = 1;"),
               _JavaScript("_static/doctools.js", priority=200)]
    context = {"script_files": scripts}
    _page_fixes()._dedupe_inline_scripts(None, "intro", "page.html", context, None)
    kept = context["script_files"]
    assert [s.attributes.get("body") or s.filename for s in kept] == [
        "_static/doctools.js", thebe, "_static/sphinx-thebe.js", "let other = 1;"]


def test_page_fixes_give_the_theme_a_valid_mode():
    from types import SimpleNamespace

    fixes = _page_fixes()
    config = SimpleNamespace(html_context={})
    fixes._default_theme_mode(None, config)
    assert config.html_context["default_mode"] in {"light", "dark", "auto"}
    chosen = SimpleNamespace(html_context={"default_mode": "dark"})
    fixes._default_theme_mode(None, chosen)
    assert chosen.html_context["default_mode"] == "dark"


def _book_module(path: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_book_renders_math_offline_and_loads_its_css_and_plumbing_filter():
    book_config = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx = book_config["sphinx"]
    assert "sphinx-mathjax-offline" in sphinx["extra_extensions"]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"sphinx-mathjax-offline' in pyproject.split("book = [")[1].split("]")[0]
    assert (ROOT / sphinx["local_extensions"]["hide_page_plumbing"]
            / "hide_page_plumbing.py").exists()
    static = [ROOT / folder for folder in sphinx["config"]["html_static_path"]]
    for css in sphinx["config"]["html_css_files"]:
        assert any((folder / css).stat().st_size > 0 for folder in static if (folder / css).exists())
    assert sphinx["config"]["nb_merge_streams"] is True  # one box for a cell's printed lines


_FIGURE_CELL = """fig = cl.plots.plot_training_curves(male)
glue("fig_curves", fig, display=False)
plt.close(fig)"""


@pytest.mark.parametrize("source, shown", [
    (_FIGURE_CELL, "fig = cl.plots.plot_training_curves(male)"),
    # a call over several lines goes whole; a block left empty goes too
    ('x = 1\nglue("a", x,\n     display=False)\nfor k, v in d.items():\n    glue(k, v)\ny = 2',
     "x = 1\ny = 2"),
    # the marker hides any statement; an IPython magic does not stop the filter
    ("%matplotlib inline\nn = len(data)  # page-only\nprint(n)", "%matplotlib inline\nprint(n)"),
    ("from myst_nb import glue\nimport numpy as np", "import numpy as np"),
    ('glue("a", 1)\nplt.close("all")', ""),
    # only calls of glue and plt.close: other code that names them stays
    ('print("glue(")\nglued = glue_all(x)\nax.close()', 'print("glue(")\nglued = glue_all(x)\nax.close()'),
    # a loop that does more than plumbing keeps its other lines
    ("for fig in figs:\n    fig.savefig(p)\n    plt.close(fig)", "for fig in figs:\n    fig.savefig(p)"),
])
def test_page_plumbing_lines_are_hidden(source, shown):
    plumbing = _book_module(BOOK / "_ext" / "hide_page_plumbing.py")
    assert plumbing.page_source(source) == shown


def test_a_cell_of_plumbing_only_is_removed_and_others_keep_their_output():
    from types import SimpleNamespace

    from docutils import nodes
    from docutils.frontend import get_default_settings
    from docutils.parsers.rst import Parser
    from docutils.utils import new_document

    plumbing = _book_module(BOOK / "_ext" / "hide_page_plumbing.py")
    document = new_document("page", get_default_settings(Parser))

    def cell(source, output=None):
        node = nodes.container(nb_element="cell_code", classes=["cell"])
        box = nodes.container(nb_element="cell_code_source", classes=["cell_input"])
        box += nodes.literal_block(source, source)
        node += box
        if output:
            node += nodes.container(output, nodes.Text(output), nb_element="cell_code_output")
        document.append(node)
        return node

    cell('glue("n", 3, display=False)')
    figure = cell(_FIGURE_CELL)
    printed = cell("plt.close(fig)  # page-only", output="42")
    plumbing.HidePagePlumbing.run(SimpleNamespace(document=document))
    assert document.children == [figure, printed]
    assert figure.astext() == "fig = cl.plots.plot_training_curves(male)"
    assert [c["nb_element"] for c in printed.children] == ["cell_code_output"]


def _check_html():
    return _book_module(ROOT / "scripts" / "check_html.py")


@pytest.mark.parametrize("text, found", [
    ("The discriminator \\(D\\) loses.", 2),
    ("\\[ \\hat p = \\frac{a}{b} \\]", 2),
    ("$$\nx^2\n$$", 2),
    ("It costs $5, or $6 with tax; D(x) = 1/2 [0, 1].", 0),
    ("", 0),
])
def test_the_browser_check_finds_raw_tex_delimiters(text, found):
    snippets = _check_html().raw_tex(text)
    assert len(snippets) == found
    assert all("\n" not in snippet for snippet in snippets)


@pytest.mark.parametrize("text, lines", [
    ("celeba-lab: profile quick (...): Male (report recipe), 30 epochs x 20 steps of 50 images;"
     " ... -> 30 epochs in 3 min 05 s; last epoch: loss 0.2, accuracy 0.93", 0),
    ("epoch 1/30: 20 steps in 5.5 s; loss 0.69\nepoch 2/30: 20 steps in 5.4 s; loss 0.6", 2),
    ("Epoch 1/5\n20/20 - 3s - 150ms/step - loss: 0.6931\nEpoch 2/5", 3),
    ("trained for 30 epochs; epoch 3 was the best", 0),
])
def test_the_browser_check_counts_per_epoch_log_lines(text, lines):
    assert _check_html().epoch_log_lines(text) == lines


@pytest.mark.parametrize("text, found", [
    ("images 100.000 / 985.000", ["100.000", "985.000"]),
    ("step 1.234.567 of the run", ["1.234.567"]),
    ("accuracy 0.950, 1.000 and 0.000; 100,000 images; 12.5 %; 202,599", []),
    ("a ratio of 100.0005 and version 2.21.000", []),
])
def test_the_browser_check_finds_numbers_with_a_wrong_separator(text, found):
    assert _check_html().wrong_separators(text) == found


def _column(header, cells, chars=12.0):
    return {"header": header, "cells": cells, "chars": chars}


def test_the_browser_check_finds_narrow_and_empty_table_columns():
    check = _check_html()
    readable = {"where": "data", "columns": [
        _column("way", ["celeba_lab (disk cache)", "keras"], chars=30),
        _column("N", ["2,000", "20,000"], chars=6), _column("n", ["7", "12"], chars=2.5),
        _column("note", ["", "not run: no RAM"], chars=20)]}
    assert check.table_problems([readable]) == []
    squeezed = {"where": "data", "columns": [
        _column("note", ["not run: needs 10.8 GiB of RAM", ""], chars=1.4),
        _column("FID (Inception)", ["n/a", "N/A", "n/a"]), _column("KID", ["", ""]),
        _column("dash", ["\u2013", "\u2013"])]}
    problems = check.table_problems([squeezed])
    assert len(problems) == 4, problems
    assert problems[0].startswith('table column "note" (in #data) is 1.4 characters wide')
    assert 'table column "FID (Inception)" (in #data) holds nothing but "n/a"' in problems
    assert 'table column "KID" (in #data) is empty' in problems


# ---------------------------------------------------------------------------------------------
# One execution for nbval and the book (book/conftest.py)
# ---------------------------------------------------------------------------------------------

_TINY_CHAPTER = """---
jupytext:
  formats: md:myst,ipynb
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A tiny chapter

```{code-cell}
:tags: [remove-cell]
from myst_nb import glue
glue("answer", 6 * 7, display=False)
```

The answer is {glue:}`answer`.

```{code-cell}
print("printed by the kernel")
BODY
```
"""


def _nbval_into_cache(folder: Path, cache: Path, body: str):
    """Write a paired tiny chapter into `folder`, run nbval on it with the chapters' plugin."""
    import shutil
    import subprocess
    import sys

    import jupytext

    shutil.copy(BOOK / "conftest.py", folder / "conftest.py")
    source = folder / "tiny.md"
    source.write_text(_TINY_CHAPTER.replace("BODY", body))
    jupytext.write(jupytext.read(source), folder / "tiny.ipynb")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-current-env", f"--executed-into={cache}", "tiny.ipynb"],
        cwd=folder, capture_output=True, text=True, timeout=300)
    return source, run


def test_chapters_run_by_nbval_are_stored_for_the_book_build(tmp_path):
    import importlib.util

    from jupyter_cache import get_cache

    spec = importlib.util.spec_from_file_location("chapters_plugin", BOOK / "conftest.py")
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    read_book_notebook = plugin.read_book_notebook
    cache = tmp_path / "jupyter_cache"
    source, run = _nbval_into_cache(tmp_path, cache, "21 * 2")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "outputs stored for the book build" in run.stdout
    # The book build reads the markdown, and finds the outputs nbval received.
    _, merged = get_cache(str(cache)).merge_match_into_notebook(read_book_notebook(source))
    glued, printed = [c for c in merged.cells if c.cell_type == "code"]
    assert glued.metadata["tags"] == ["remove-cell"]
    assert glued.outputs[0]["metadata"]["scrapbook"]["name"] == "answer"
    assert printed.execution_count == 2
    assert [o["output_type"] for o in printed.outputs] == ["stream", "execute_result"]
    assert printed.outputs[0]["text"] == "printed by the kernel\n"
    assert printed.outputs[1]["data"]["text/plain"] == "42"
    nbformat.validate(merged)

    # A chapter with a failing cell is not stored: the build executes it itself.
    failing = tmp_path / "failing"
    failing.mkdir()
    source, run = _nbval_into_cache(failing, failing / "jupyter_cache", "1 / 0")
    assert run.returncode != 0
    assert "not all cells passed" in run.stdout
    with pytest.raises(KeyError):
        get_cache(str(failing / "jupyter_cache")).match_cache_notebook(read_book_notebook(source))


def test_make_chapters_hands_its_outputs_to_the_book_build():
    makefile = (ROOT / "Makefile").read_text()
    chapters = makefile.split("\nchapters:")[1].split("\n\n")[0]
    assert "--executed-into=_build/.jupyter_cache" in chapters
    book_config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert book_config["execute"]["execute_notebooks"] == "cache"


def test_the_reproduce_appendix_profile_table_is_the_configured_profiles():
    from celeba_lab.config import PROFILES

    text = (BOOK / "reproduce.md").read_text()
    for name, p in PROFILES.items():
        row = next(x for x in text.splitlines() if x.startswith(f"| `{name}` |"))
        steps = p.classifier_sizes[0] // p.classifier_batch * p.classifier_epochs
        sizes = " / ".join(f"{n:,}" for n in p.classifier_sizes)
        assert f"| {sizes}, {p.classifier_epochs} ({steps:,}) |" in row, row
        gan_steps = p.gan_steps_per_epoch
        if gan_steps is not None:  # otherwise one pass over CelebA per epoch
            faces = p.gan_epochs * gan_steps * p.gan_batch
            assert f"`{p.gan_recipe}`, {p.gan_epochs} x {gan_steps:,} ({faces:,})" in row, row


def test_the_reproduce_appendix_agrees_with_the_measurements():
    """Its times are computed from bench/gpu_results (rounded as the page rounds them)."""
    import json
    import re

    text = (BOOK / "reproduce.md").read_text()
    results = ROOT / "bench" / "gpu_results"
    full = {r["policy"]: r for r in
            json.loads((results / "h100_jax_full.json").read_text())["full_data"]["runs"]
            if r["variant"] == "train_gan, whole epochs"}
    torch = {r["policy"]: r for r in json.loads((results / "h100_torch.json").read_text())
             ["results"] if r["variant"] == "train_gan, timed per step"}

    def row(label):
        line = next(x for x in text.splitlines() if x.startswith(f"| {label}"))
        return [float(v) for v in re.findall(r"about \*{0,2}([\d.]+)", line)]

    for label, policy in (("the DCGAN, 30 epochs, float32", "float32"),
                          ("the DCGAN, 30 epochs, mixed bfloat16", "mixed_bfloat16")):
        jax_min, torch_h = row(label)
        assert abs(jax_min - full[policy]["projected_recipe_s"] / 60) <= 0.25, label
        assert abs(torch_h - 189_960 / torch[policy]["steps_per_s"] / 3600) <= 0.05, label
    gan_rate = full["float32"]["steps_per_s"]
    assert f"{gan_rate:.0f} GAN steps/s" in text
    t4_gan_min = 5_000 / (gan_rate / 45) / 60                  # chapter 4 on a T4
    assert abs(row("4 DCGAN")[0] - (t4_gan_min + 1.5)) <= 0.5
