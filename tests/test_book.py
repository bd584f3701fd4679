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
