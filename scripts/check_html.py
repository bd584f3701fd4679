"""Check the built book in headless Chromium, as a reader's browser would see it.

For every page in the table of contents: it loads without console errors or failed requests,
no internal link or anchor is broken, every image loads, has alt text and, when shown, a
non-zero size, and no log noise (TensorFlow start-up lines, Python warnings) made it into the
page. The check runs offline: requests that leave the site (MathJax from its CDN) are answered
empty and listed. A full-page screenshot of each page is written to ``_build/screenshots/``.

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

    # The check runs offline: a request that leaves the site (MathJax from its CDN, say) is
    # answered with an empty body and listed, so that it is visible but is not a failure of
    # the built site.
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
