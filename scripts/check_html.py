"""Check the built book in headless Chromium, as a reader's browser would see it.

For every page in the table of contents: it loads without console errors or failed requests,
no internal link or anchor is broken, every image loads, has alt text and, when shown, a
non-zero size, and no log noise (TensorFlow start-up lines, Python warnings, per-epoch
training logs) made it into the page. Tables must be readable: no column narrower than a few
characters of the text it holds, none that holds only empty or "n/a" cells; no number may be
written with a wrong separator ("100.000" for a count, "1.234.567"). Formulas must be typeset: once MathJax has finished, no raw TeX delimiter (``\\(``,
``\\)``, ``\\[``, ``\\]``, ``$$``) may be left in the page's text (code excepted). Nothing may
pass the text column at the 1280 px window: the page does not scroll sideways, no code line is
cut off (a code block scrolling sideways counts as cut off), and a table, figure, image or
output passes the column's right edge only inside a box that scrolls. The check runs offline:
requests that leave the site are answered empty and listed (the book ships its MathJax). A
full-page screenshot of each page is written to ``_build/screenshots/``.

Usage: ``python scripts/check_html.py [_build/html]`` (``make check-book`` builds first).
Installs Debian's ``chromium`` package when it is missing (the machine must reach Debian's
package mirrors; nothing else is downloaded).
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import yaml

CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Text that must never reach a rendered page.
NOISE = [
    re.compile(r"\bI0000 00:00|cuda_dri|Unable to register cu(DNN|BLAS|FFT)"),
    re.compile(r"oneDNN custom operations are on"),
    re.compile(r"This TensorFlow binary is optimized"),
    re.compile(r"(Deprecation|User|Runtime|Future)Warning:"),
    re.compile(r"Traceback \(most recent call last\)"),
]

# A training log line per epoch (the package's "epoch 3/30: ..." and Keras's "Epoch 3/30" or
# "20/20 - 3s - ..." lines): a page shows one line per training run, the curves show the rest.
EPOCH_LOG = re.compile(r"^\s*(?:epoch \d+/\d+\b|\d+/\d+ - \d+m?s\b)", re.IGNORECASE | re.MULTILINE)

# A number written with a separator this book does not use: "100.000" for a count of 100
# (a float printed with three zero decimals), "1.234.567" (dots between thousands).
WRONG_SEPARATOR = re.compile(
    r"(?<![\w.,])(?:[1-9]\d{0,2}(?:\.\d{3}){2,}|[1-9]\d{1,2}\.000)(?![\w]|[.,]\d)")

# What a table cell holds when it holds nothing.
EMPTY_CELLS = {"", "n/a", "na", "nan", "none", "-", "\u2013", "\u2014"}

# The fewest characters a table column may be wide (at the page's width) when its text is longer.
MIN_COLUMN_CHARS = 4

# TeX delimiters that MathJax replaces; any left in the text means a formula was not typeset.
RAW_TEX = re.compile(r"\\[()\[\]]|\$\$")

# The page text outside code and typeset formulas, where raw TeX must not be left.
_PROSE_TEXT_JS = """() => {
  const root = document.querySelector('article.bd-article') || document.querySelector('main')
    || document.body;
  const skip = 'pre, code, script, style, textarea, mjx-container, .MathJax';
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {acceptNode: n =>
    n.parentElement && n.parentElement.closest(skip) ? NodeFilter.FILTER_REJECT
                                                    : NodeFilter.FILTER_ACCEPT});
  const parts = [];
  while (walker.nextNode()) parts.push(walker.currentNode.nodeValue);
  return parts.join(' ');
}"""

# Waits for MathJax (when the page loads it) to finish typesetting; false when it never started.
_MATHJAX_DONE_JS = """async () => {
  for (let i = 0; i < 50 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 100));
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return false;
  await MathJax.startup.promise;
  return true;
}"""

# Everything that passes the text column (or the window) without a scroll box of its own.
_OVERFLOW_JS = """() => {
  const out = [];
  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth + 1)
    out.push(`page scrolls sideways: ${page.scrollWidth} px of content in a ` +
             `${page.clientWidth} px window`);
  const root = document.querySelector('article.bd-article') || document.querySelector('main');
  if (!root) return out;
  const column = root.getBoundingClientRect().right;
  const classes = el => typeof el.className === 'string' ? el.className.trim() : '';
  const name = el => el.tagName.toLowerCase()
    + (classes(el) ? '.' + classes(el).split(/\\s+/).slice(0, 2).join('.') : '');
  const longest = text => text.split('\\n').reduce((a, b) => b.length > a.length ? b : a, '');
  const where = el => { const s = el.closest('[id]'); return s ? ` (in #${s.id})` : ''; };
  const wanted = 'pre, table, img, figure, svg, mjx-container[display="true"], '
    + 'div.cell_output > div';
  for (const el of root.querySelectorAll(wanted)) {
    if (!el.checkVisibility()) continue;
    if (el.tagName === 'PRE' && el.scrollWidth > el.clientWidth + 1) {
      out.push(`code line cut off: ${name(el)}${where(el)} needs ${el.scrollWidth} px, ` +
               `shows ${el.clientWidth}: ` + JSON.stringify(longest(el.innerText).slice(0, 60)));
      continue;
    }
    // The nearest box between the element and the column that scrolls or clips it.
    let box = el.parentElement, style = null;
    for (; box && box !== root; box = box.parentElement) {
      style = getComputedStyle(box).overflowX;
      if (style !== 'visible') break;
    }
    const right = el.getBoundingClientRect().right;
    if (box && box !== root && /auto|scroll/.test(style)) continue;  // scrolls in its own box
    const edge = box && box !== root ? Math.min(column, box.getBoundingClientRect().right) : column;
    if (right > edge + 1)
      out.push(`${name(el)}${where(el)} passes the text column by ${Math.round(right - edge)} px`);
  }
  return out;
}"""


# Every visible table's columns: header text, width in characters of the table's font, and the
# text of each body cell whose centre lies in the column (so a row-spanning index cell counts
# in its own column only). Columns are those of the body row with the most cells.
_TABLES_JS = """() => {
  const root = document.querySelector('article.bd-article') || document.querySelector('main');
  if (!root) return [];
  const out = [];
  for (const table of root.querySelectorAll('table')) {
    if (!table.checkVisibility()) continue;
    const probe = document.createElement('span');
    probe.textContent = '0000000000';
    probe.style.cssText = 'position:absolute;visibility:hidden;white-space:nowrap';
    (table.querySelector('td, th') || table).appendChild(probe);
    const ch = probe.getBoundingClientRect().width / 10 || 8;
    probe.remove();
    const rows = [...table.querySelectorAll('tbody tr')];
    if (!rows.length) continue;
    const widest = rows.reduce((a, r) => r.cells.length > a.cells.length ? r : a, rows[0]);
    const columns = [...widest.cells].map(c => {
      const r = c.getBoundingClientRect();
      return {left: r.left, right: r.right, header: '', cells: [],
              chars: Math.round(r.width / ch * 10) / 10};
    });
    const inColumn = (cell, add) => {
      const r = cell.getBoundingClientRect(), mid = (r.left + r.right) / 2;
      for (const col of columns) if (mid >= col.left && mid <= col.right) add(col);
    };
    for (const cell of table.querySelectorAll('thead th, thead td'))
      inColumn(cell, col => { if (!col.header) col.header = cell.innerText.trim(); });
    for (const row of rows)
      for (const cell of row.cells) inColumn(cell, col => col.cells.push(cell.innerText.trim()));
    const where = table.closest('[id]');
    out.push({where: where ? where.id : '', columns: columns.map(
      ({header, cells, chars}) => ({header, cells, chars}))});
  }
  return out;
}"""


def epoch_log_lines(text: str) -> int:
    """How many per-epoch training log lines ``text`` holds.

    Example:
        >>> epoch_log_lines("epoch 1/30: 20 steps in 5.5 s; loss 0.69\\nEpoch 2/30\\ndone")
        2
    """
    return len(EPOCH_LOG.findall(text))


def wrong_separators(text: str) -> list[str]:
    """Numbers in ``text`` written with a separator the book does not use.

    Example:
        >>> wrong_separators("images 100.000 / 985.000, accuracy 0.950 and 1.000, 12,345")
        ['100.000', '985.000']
    """
    return [m.group(0) for m in WRONG_SEPARATOR.finditer(text)]


def table_problems(tables: list[dict]) -> list[str]:
    """Columns of the page's tables (from ``_TABLES_JS``) that are too narrow or hold nothing.

    A column is too narrow when its text is longer than :data:`MIN_COLUMN_CHARS` characters
    but it is less wide than that (its text wraps a character or two a line); it holds
    nothing when every body cell is empty or "n/a" (or a dash).

    Example:
        >>> table_problems([{"where": "results", "columns": [
        ...     {"header": "note", "chars": 1.6, "cells": ["not run: no RAM", ""]},
        ...     {"header": "FID", "chars": 6.0, "cells": ["n/a", "n/a"]},
        ...     {"header": "n", "chars": 2.0, "cells": ["12", "7"]}]}])  # doctest: +NORMALIZE_WHITESPACE
        ['table column "note" (in #results) is 1.6 characters wide for text of up to 15:
          it wraps', 'table column "FID" (in #results) holds nothing but "n/a"']
    """
    problems = []
    for table in tables:
        where = f" (in #{table['where']})" if table.get("where") else ""
        for column in table["columns"]:
            name = f'table column "{column["header"]}"{where}'
            longest = max((len(c) for c in column["cells"]), default=0)
            if column["chars"] < MIN_COLUMN_CHARS and longest > MIN_COLUMN_CHARS:
                problems.append(f"{name} is {column['chars']:g} characters wide for text of up "
                                f"to {longest}: it wraps")
            values = {c.strip().lower() for c in column["cells"]}
            if column["cells"] and values <= EMPTY_CELLS:
                problems.append(f"{name} is empty" if values <= {""} else
                                f"{name} holds nothing but " + " or ".join(
                                    f'"{v}"' for v in sorted(values - {""})))
    return problems


def raw_tex(text: str, context: int = 20) -> list[str]:
    """Each raw TeX delimiter in ``text`` with ``context`` characters around it.

    Example:
        >>> raw_tex("it costs $$ here", context=3)
        ['ts $$ he']
    """
    return [" ".join(text[max(0, m.start() - context):m.end() + context].split())
            for m in RAW_TEX.finditer(text)]


def math_problems(page) -> list[str]:
    """Raw TeX left in the page's prose once MathJax (if the page loads it) has finished."""
    page.evaluate(_MATHJAX_DONE_JS)
    found = raw_tex(page.evaluate(_PROSE_TEXT_JS))
    if not found:
        return []
    return [f"raw TeX left in the page text ({len(found)} delimiter(s); MathJax did not typeset "
            f"it): {found[0]!r}"]


def overflow_problems(page) -> list[str]:
    """What passes the window or the text column at the page's viewport width."""
    return list(page.evaluate(_OVERFLOW_JS))


def chromium_path() -> str:
    """Path of a Chromium binary, installing Debian's package when none is found."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    print("Chromium not found: installing Debian's chromium package ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True,
                   env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    return shutil.which("chromium") or sys.exit("chromium still missing after apt-get install")


def toc_pages(book_root: Path) -> list[str]:
    """HTML paths (relative to the site) of every file in _toc.yml, in order."""
    toc = yaml.safe_load((book_root / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    return [f"{name}.html" for name in files]


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the report readable
        pass


def check_page(page, base: str, rel: str, html_dir: Path,
               shots: Path) -> tuple[list[str], list[str]]:
    """Load one page; return its problems and the external URLs it asked for."""
    problems: list[str] = []
    external: list[str] = []

    # The check runs offline: a request that leaves the site is answered with an empty body and
    # listed, so that it is visible; what it breaks (a formula left as raw TeX, say) fails.
    def route(request_route):
        url = request_route.request.url
        if url.startswith(base) or url.startswith("data:"):
            request_route.continue_()
        else:
            external.append(url)
            request_route.fulfill(status=200, body="")

    page.route("**/*", route)
    page.on("console", lambda msg: msg.type == "error" and problems.append(
        f"console error: {msg.text}"))
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on("requestfailed", lambda req: req.url.startswith(base) and problems.append(
        f"failed request: {req.url}"))
    page.on("response", lambda resp: resp.url.startswith(base) and resp.status >= 400
            and problems.append(f"HTTP {resp.status}: {resp.url}"))
    url = urljoin(base, rel)
    page.goto(url, wait_until="load")
    page.wait_for_timeout(300)

    images = page.eval_on_selector_all(
        "article img, main img",
        "els => els.map(e => ({src: e.getAttribute('src'), alt: e.getAttribute('alt'),"
        " w: e.naturalWidth, h: e.naturalHeight, cw: e.clientWidth, ch: e.clientHeight,"
        " complete: e.complete, visible: e.checkVisibility()}))")
    for img in images:
        if not img["complete"] or img["w"] == 0 or img["h"] == 0:
            problems.append(f"image does not load: {img['src']}")
        # An image in a closed menu (the launch buttons' logos) is hidden, not broken.
        elif img["visible"] and (img["cw"] == 0 or img["ch"] == 0):
            problems.append(f"image shown at zero size: {img['src']}")
        if not (img["alt"] or "").strip():
            problems.append(f"image without alt text: {img['src']}")

    links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    for link in sorted(set(links)):
        if not link.startswith(base):
            continue
        target, anchor = urldefrag(link)
        path = html_dir / urlparse(target).path.lstrip("/")
        if path.is_dir():
            path = path / "index.html"
        if not path.exists():
            problems.append(f"broken link: {link}")
        elif anchor and path.suffix == ".html":
            text = path.read_text(encoding="utf-8", errors="replace")
            if f'id="{anchor}"' not in text:
                problems.append(f"broken anchor: {link}")

    # Only executed cells' outputs count: the API page may quote a traceback in a docstring.
    text = "\n".join(page.eval_on_selector_all(
        "div.cell_output", "els => els.map(e => e.innerText)"))
    for pattern in NOISE:
        match = pattern.search(text)
        if match:
            problems.append(f"log noise in page: {match.group(0)!r}")

    lines = epoch_log_lines(text)
    if lines:
        problems.append(f"per-epoch training log in page: {lines} line(s) (print one line per "
                        "training run; the learning curves show the epochs)")

    problems += math_problems(page)
    numbers = wrong_separators(page.evaluate(_PROSE_TEXT_JS))
    if numbers:
        problems.append(f"number(s) with a wrong separator: {', '.join(numbers[:5])} (counts "
                        "print as 1,000, not 1.000 or 1000.000)")
    problems += table_problems(page.evaluate(_TABLES_JS))
    problems += overflow_problems(page)

    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / (rel.replace("/", "_").replace(".html", ".png"))),
                    full_page=True)
    return problems, sorted(set(external))


def main(argv: list[str]) -> int:
    html_dir = Path(argv[1] if len(argv) > 1 else "_build/html").resolve()
    # The book whose _build/html this is: a book built elsewhere is checked against its own toc.
    book_root = html_dir.parent.parent
    if not (book_root / "_toc.yml").exists():
        book_root = Path(__file__).resolve().parent.parent
    if not (html_dir / "index.html").exists():
        print(f"{html_dir} holds no built book: run `make book` first.")
        return 2
    from playwright.sync_api import sync_playwright

    pages = toc_pages(book_root)
    shots = html_dir.parent / "screenshots"
    server, base = serve(html_dir)
    failures = 0
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
            for rel in pages:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                problems, external = check_page(page, base, rel, html_dir, shots)
                page.close()
                status = "ok" if not problems else f"{len(problems)} problem(s)"
                print(f"{rel:40s} {status}")
                for problem in problems:
                    print(f"    - {problem}")
                for url in external:
                    print(f"    (external, not fetched offline: {url})")
                failures += bool(problems)
            browser.close()
    finally:
        server.shutdown()
    print(f"{len(pages) - failures} of {len(pages)} pages passed; screenshots in {shots}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
