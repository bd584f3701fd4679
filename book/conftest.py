"""pytest hooks for nbval's runs of the chapters: one execution serves both nbval and the book.

``make chapters`` runs nbval over the paired ``.ipynb`` files with
``--executed-into=_build/.jupyter_cache``. When every cell of a chapter has passed, this plugin
stores the outputs nbval received in Jupyter Book's execution cache, keyed exactly as the book
build keys the chapter's MyST source (code cells, their metadata and the kernelspec). The next
``jupyter-book build`` finds them and renders them instead of executing the chapter a second
time. CI executes each chapter once instead of twice.

Nothing is stored for a chapter that has a failing, skipped or unrun cell, or whose notebook
no longer has its markdown's code: the build then executes that chapter itself, as
``make book`` always does on a fresh checkout.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

OPTION = "--executed-into"
_CHAPTERS = pytest.StashKey[dict]()


def pytest_addoption(parser):
    parser.addoption(
        OPTION, default=None, metavar="CACHE",
        help="Store the outputs of every chapter whose cells all pass in this Jupyter Book "
             "execution cache (e.g. _build/.jupyter_cache), for the book build to reuse.")


def _is_chapter_cell(item) -> bool:
    # nbval's cell items: the notebook's code cell and the outputs the kernel sent back.
    return hasattr(item, "cell_num") and hasattr(item, "test_outputs")


class _Chapter:
    """The cells nbval ran for one notebook, with their outputs and whether each passed."""

    def __init__(self, notebook: Path, cells: int) -> None:
        self.notebook = notebook
        self.cells = cells
        self.outputs: dict[int, list] = {}
        self.sources: dict[int, str] = {}
        self.failed = False
        self.started = time.perf_counter()
        self.finished = self.started


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    cache = item.config.getoption(OPTION)
    if cache is None or not _is_chapter_cell(item):
        return
    chapters = item.config.stash.setdefault(_CHAPTERS, {})
    notebook = Path(str(item.parent.fspath))
    if notebook not in chapters:
        cells = sum(1 for c in item.parent.nb.cells if c.cell_type == "code")
        chapters[notebook] = _Chapter(notebook, cells)
    chapter = chapters[notebook]
    report = outcome.get_result()
    if not report.passed:
        chapter.failed = True
    if call.when == "call" and report.passed:
        chapter.outputs[item.cell_num] = list(item.test_outputs or [])
        chapter.sources[item.cell_num] = item.cell.source
        chapter.finished = time.perf_counter()


def pytest_sessionfinish(session):
    cache = session.config.getoption(OPTION)
    if cache is None:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for chapter in session.config.stash.get(_CHAPTERS, {}).values():
        message = store_chapter(chapter, Path(cache))
        if reporter is not None:
            reporter.write_line(f"{chapter.notebook.name}: {message}")


def store_chapter(chapter: _Chapter, cache: Path) -> str:
    """Store a chapter's outputs for the book build; say what was done (or why not)."""
    source = chapter.notebook.with_suffix(".md")
    if chapter.failed or len(chapter.outputs) != chapter.cells:
        return "not all cells passed; the book build will execute it"
    if not source.is_file():
        return f"no {source.name}; nothing stored"
    notebook = read_book_notebook(source)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    ran = [chapter.sources[i] for i in range(chapter.cells)]
    if [cell.source for cell in code] != ran:
        return (f"its code differs from {source.name} (run `jupytext --sync`); "
                "the book build will execute it")
    for count, (cell, outputs) in enumerate(zip(code, (chapter.outputs[i]
                                                       for i in range(chapter.cells))), 1):
        cell.execution_count = count
        cell.outputs = outputs
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    seconds = chapter.finished - chapter.started
    record = get_cache(str(cache)).cache_notebook_bundle(
        CacheBundleIn(notebook, str(source.resolve()),
                      data={"execution_seconds": seconds, "executed_by": "nbval"}),
        check_validity=False, overwrite=True)
    return f"outputs stored for the book build (cache record {record.pk}, {seconds:.0f} s)"


def read_book_notebook(source: Path):
    """The notebook the book build reads from a MyST markdown chapter (outputs empty)."""
    from myst_nb.core.read import read_myst_markdown_notebook

    return read_myst_markdown_notebook(source.read_text("utf8"), add_source_map=True,
                                       path=str(source))
