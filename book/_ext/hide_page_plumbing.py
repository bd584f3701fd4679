"""Hide a chapter's page plumbing from the rendered code cells; the notebooks keep it.

A figure cell ends with ``glue("fig_x", fig, display=False)`` and ``plt.close(fig)``: lines
that place the figure in the page's text and free its memory, which a reader learns nothing
from. In the built HTML this extension drops, from every code cell's source:

* calls of ``glue(...)`` and ``plt.close(...)`` (a call spanning several lines goes whole),
  and the ``from myst_nb import glue`` import;
* any statement whose first or last line ends with the marker comment ``# page-only``, so that
  authors can mark other lines;
* a ``for``/``if``/``with`` block left with nothing but such lines.

A cell whose source becomes empty loses its input box; one with no output left either is
removed. The ``.md`` and ``.ipynb`` files are untouched, so the lines still run on Colab and
under nbval.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

MARKER = "# page-only"
_CALLS = {"glue", "plt.close", "pyplot.close", "myst_nb.glue"}
_MAGIC = re.compile(r"^(\s*)[%!].*$")
_NAIVE = re.compile(r"^\s*(glue\(|plt\.close\(|from myst_nb import glue\b)")


def _call_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_call_name(node.value)}.{node.attr}"
    return ""


def _is_plumbing(stmt: ast.stmt, lines: list[str]) -> bool:
    first, last = lines[stmt.lineno - 1], lines[stmt.end_lineno - 1]
    if first.rstrip().endswith(MARKER) or last.rstrip().endswith(MARKER):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        return _call_name(stmt.value.func) in _CALLS
    if isinstance(stmt, ast.ImportFrom) and stmt.module == "myst_nb":
        return all(alias.name == "glue" for alias in stmt.names)
    return False


def _hidden(body: list[ast.stmt], lines: list[str], hide: set[int]) -> bool:
    """Add the lines of plumbing statements in ``body`` to ``hide``; True if all of it is."""
    all_hidden = True
    for stmt in body:
        blocks = [getattr(stmt, name) for name in ("body", "orelse", "finalbody")
                  if getattr(stmt, name, None)]
        collapsible = blocks and not getattr(stmt, "handlers", None)  # keep try/except
        if _is_plumbing(stmt, lines) or (
                collapsible and all(_hidden(block, lines, set()) for block in blocks)):
            hide.update(range(stmt.lineno, stmt.end_lineno + 1))
        else:
            all_hidden = False
            for block in blocks:
                _hidden(block, lines, hide)
    return all_hidden and bool(body)


def page_source(source: str) -> str:
    """``source`` without its page plumbing (see the module's docstring); ``""`` if nothing is left.

    Example:
        >>> page_source('fig = plot()\\nglue("fig", fig, display=False)\\nplt.close(fig)')
        'fig = plot()'
    """
    lines = source.splitlines()
    hide: set[int] = set()
    # IPython's magics and shell lines are no Python: parse them as `pass`, keeping the lines.
    masked = "\n".join(_MAGIC.sub(r"\1pass", line) for line in lines)
    try:
        _hidden(ast.parse(masked).body, lines, hide)
    except SyntaxError:  # not Python at all: line by line, single lines only
        hide = {i for i, line in enumerate(lines, 1)
                if _NAIVE.match(line) or line.rstrip().endswith(MARKER)}
    kept = [line for i, line in enumerate(lines, 1) if i not in hide]
    text = "\n".join(kept)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


class HidePagePlumbing(SphinxPostTransform):
    """Apply :func:`page_source` to the source box of every notebook code cell."""

    # Before myst-nb's HideInputCells (199), which wraps the boxes this one may remove.
    default_priority = 150

    def run(self, **kwargs: Any) -> None:
        for cell in list(self.document.findall(nodes.container)):
            if cell.get("nb_element") != "cell_code":
                continue
            for box in [c for c in cell.children if c.get("nb_element") == "cell_code_source"]:
                for block in list(box.findall(nodes.literal_block)):
                    text = page_source(block.astext())
                    if text != block.astext():
                        block.children = [nodes.Text(text)]
                        block.rawsource = text
                if not box.astext().strip():
                    cell.remove(box)
            if not cell.children:
                cell.parent.remove(cell)


def setup(app) -> dict[str, Any]:
    app.add_post_transform(HidePagePlumbing)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
