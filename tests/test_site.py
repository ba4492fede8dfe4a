"""The whole book, as a reader gets it: every notebook executed under the smoke
profile, the site built strictly, then opened offline in Chromium.

This is what ``make book`` does; the browser checks, in a 1400 px window, that math
is typeset, figures have loaded, no table is cut off (each wide one scrolls in its own
box), internal links resolve and no request leaves localhost, and keeps a screenshot
of every page in ``_build/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from defian import paths
from defian.runner import book

pytestmark = [pytest.mark.book]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags from this workplace's notes: no background traffic from the browser itself.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


#: The reader's window of the reading-comfort checks; a screenshot of every page goes to SHOTS.
WIDE = {"width": 1400, "height": 900}
SHOTS = paths.BUILD / "screenshots"
#: Tables whose right edge passes the article's and that no scroll box of their own holds
#: (book/_static/defian.css gives every output and table one); collapsed ones (width 0) are skipped.
CUT_TABLES = """() => {
  const art = document.querySelector('.bd-article') || document.querySelector('main') || document.body;
  if (!art) return [];  // a page without a body (a redirect stub): nothing to lay out
  const right = art.getBoundingClientRect().right + 1;
  const cut = [];
  for (const t of document.querySelectorAll('table')) {
    const r = t.getBoundingClientRect();
    if (r.width === 0) continue;
    let el = t, boxed = false;
    while (el && el !== art) {
      const ox = getComputedStyle(el).overflowX;
      if ((ox === 'auto' || ox === 'scroll') && el.getBoundingClientRect().right <= right) { boxed = true; break; }
      el = el.parentElement;
    }
    if (!boxed && r.right > right) cut.push((t.innerText || '').slice(0, 60));
  }
  return cut;
}"""


@pytest.fixture(scope="session")
def site() -> Path:
    """Execute every notebook under smoke and build the book (``make book``)."""
    assert book.main(["--profile", "smoke"]) == 0, "defian book --profile smoke failed (see above)"
    html = paths.BUILD / "html"
    assert (html / "index.html").is_file()
    return html


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib's name)
        pass


@pytest.fixture(scope="session")
def server(site: Path) -> Iterator[str]:
    """Serve the built site on 127.0.0.1 (nothing else is reachable)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_every_notebook_page_was_built(site: Path) -> None:
    for nb in book.discover():
        assert (site / "notebooks" / f"{nb.stem}.html").is_file(), nb.stem


def test_site_offline_in_chromium(site: Path, server: str) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package")
    pages = [str(p.relative_to(site)) for d in ("book", "notebooks") for p in sorted((site / d).glob("*.html"))]
    outside: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport=WIDE)
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(server) else None)
        # index.html is jupyter-book's redirect stub (a meta refresh to the root chapter):
        # follow it to the end before looking at anything, or the refresh can replace the
        # page while a check is evaluating in it (CI's "execution context was destroyed").
        page.goto(urljoin(server, "index.html"), wait_until="load")
        page.wait_for_url(urljoin(server, "book/intro.html"))
        page.wait_for_load_state("load")
        math_pages = 0
        for rel in pages:
            url = urljoin(server, rel)
            response = page.goto(url, wait_until="load")
            assert response is not None and response.ok, url
            if page.locator(".math").count():
                page.wait_for_function("() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise")
                page.evaluate("() => window.MathJax.startup.promise")
                assert page.locator("mjx-container").count() > 0, f"math not typeset on {rel}"
                math_pages += 1
            broken = page.evaluate(
                "() => Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
            assert not broken, f"images that did not load on {rel}: {broken}"
            cut = page.evaluate(CUT_TABLES)
            assert not cut, f"tables cut off at {WIDE['width']} px on {rel} (no scroll box of their own): {cut}"
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / (rel.replace("/", "_").removesuffix(".html") + ".png")), full_page=True)
            links = page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
            for link in {l.split('#')[0] for l in links if l.startswith(server)}:
                assert page.request.get(link).ok, f"broken internal link on {rel}: {link}"
        browser.close()
    assert math_pages >= 2, "expected typeset math on the chapters and the notebook pages"
    hosts = sorted({urlparse(u).netloc or u for u in outside if not u.startswith(("data:", "blob:", "about:"))})
    assert not hosts, f"requests left localhost: {hosts}"
