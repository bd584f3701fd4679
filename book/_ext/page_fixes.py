"""Two fixes to the HTML that Jupyter Book 1.x writes, so that pages load without console errors.

``make check-book`` opens every page in headless Chromium and fails on any console error; without
this extension every page has two:

* ``Identifier 'THEBE_JS_URL' has already been declared``: sphinx-thebe registers its inline
  configuration script (``const THEBE_JS_URL = ...``) twice, and Sphinx only de-duplicates
  scripts that have a file name, so the page declares the constant twice and the second
  declaration throws. We keep the first copy of every identical script.
* ``Got invalid theme mode: .``: Jupyter Book leaves the pydata theme's ``default_mode`` empty.
  We set it to ``auto`` (follow the reader's system setting), which is what the theme then falls
  back to anyway, minus the error.
"""

from __future__ import annotations

from typing import Any


def _dedupe_inline_scripts(app, pagename: str, templatename: str, context: dict[str, Any],
                           doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    # An inline script has no file name (None from one registration, "" from the other) and its
    # text in attributes["body"]: keep the first of each identical script.
    seen: set = set()
    kept = []
    for script in scripts:
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def _default_theme_mode(app, config) -> None:
    # The pydata theme reads it from html_context, not from html_theme_options.
    if not config.html_context.get("default_mode"):
        config.html_context["default_mode"] = "auto"


def setup(app) -> dict[str, Any]:
    app.connect("config-inited", _default_theme_mode)
    # After sphinx-book-theme and pydata have filled the context (default priority 500).
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
