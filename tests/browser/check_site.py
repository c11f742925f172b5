"""Open every page of the built book in headless Chromium and fail on what a reader would see broken.

Usage: ``python tests/browser/check_site.py _build/html --screenshots _build/screenshots``
(``scripts/browser_test.sh`` builds the book first). Each page is checked for

- a notebook execution error (a traceback or error output);
- a broken internal link (missing target file, or missing ``#anchor`` in it);
- an image that did not load (``naturalWidth == 0``);
- math left as raw TeX after MathJax finished typesetting, or a MathJax error;
- a resource fetched from outside the local server (the book must read offline);
- a notebook page without its "profile used" line or its ``.ipynb`` download button.

Exits 1 listing every problem, 0 when there is none.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import re
import sys
import tempfile
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# The machine may have no network: without these Chromium stalls on background requests.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1400,1000",
)
# A fresh browser profile has no stored light/dark choice; the theme logs that as an error.
BENIGN_CONSOLE = ("favicon.ico", "Got invalid theme mode")
SKIP_DIRS = ("_static", "_sources", "_images")
SCREENSHOTS = {
    "intro": "book/intro.html",
    "theory_lemma4": "notebooks/theory/lemma4_leakage_bounds.html",
    "experiment_e1": "notebooks/synthetic/e1_gmm_curation.html",
    "reproduction": "notebooks/reproduction.html",
}
ERROR_OUTPUT_SELECTOR = ".cell_output .traceback, .cell_output .error, .highlight-ipythontb, .output_error"
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^$\s][^$]*\\[A-Za-z]+|\\[A-Za-z]{2,}\{")

REDIRECT = re.compile(r'<meta http-equiv="refresh" content="\d+;\s*url=([^"#]+)', re.IGNORECASE)

# Resolves once MathJax has typeset the page (or at once when the page loads no MathJax).
WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const started = Date.now();
(function poll() {
  const hasScript = !!document.querySelector('script[src*="mathjax"]');
  if (!hasScript) { done('none'); return; }
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    mj.startup.promise.then(() => done('ok')).catch(e => done('error: ' + e));
  } else if (Date.now() - started > 30000) {
    done('timeout: MathJax never started');
  } else {
    setTimeout(poll, 100);
  }
})();
"""

# Forces lazy images to load and waits for every image to settle.
WAIT_FOR_IMAGES = """
const done = arguments[arguments.length - 1];
const imgs = Array.from(document.images);
imgs.forEach(img => { img.loading = 'eager'; });
Promise.all(imgs.map(img => img.complete ? null : new Promise(r => {
  img.addEventListener('load', r); img.addEventListener('error', r); setTimeout(r, 15000);
}))).then(() => done(imgs.filter(i => i.naturalWidth === 0).map(i => i.getAttribute('src'))));
"""

# Text nodes a reader sees (not code, not MathJax output, not hidden search data).
VISIBLE_TEXT = """
const skip = new Set(['SCRIPT', 'STYLE', 'PRE', 'CODE', 'TEXTAREA', 'NOSCRIPT', 'KBD']);
const root = document.querySelector('main') || document.body || document.documentElement;
if (!root) return [];
const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
const out = [];
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  let el = n.parentElement, hidden = false;
  while (el && el !== root) {
    if (skip.has(el.tagName) || el.tagName.toLowerCase().startsWith('mjx-')) { hidden = true; break; }
    el = el.parentElement;
  }
  if (!hidden && n.textContent.trim()) out.push(n.textContent);
}
return out;
"""


class _Anchors(HTMLParser):
    """Collects the ``id`` and ``name`` attributes of one HTML file."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.anchors.add(value)


@functools.lru_cache(maxsize=None)
def anchors_of(path: Path) -> frozenset[str]:
    parser = _Anchors()
    parser.feed(path.read_text(errors="replace"))
    return frozenset(parser.anchors)


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``site`` on a free localhost port in a daemon thread."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def start_browser(profile_dir: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    return driver


def check_link(site: Path, base: str, href: str) -> str | None:
    """Why an internal ``href`` (absolute URL on the local server) is broken, or None."""
    parts = urlsplit(href)
    path = unquote(parts.path[len(urlsplit(base).path) :])
    target = site / path
    if path == "" or path.endswith("/"):
        target = target / "index.html"
    if not target.is_file():
        return f"missing file {path or '/'}"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html" and fragment not in anchors_of(target):
        return f"missing anchor #{fragment} in {path}"
    return None


def check_page(driver, site: Path, base: str, page: Path) -> list[str]:
    """Problems on one page."""
    rel = page.relative_to(site).as_posix()
    redirect = REDIRECT.search(page.read_text(errors="replace"))
    if redirect:
        # Checked in the browser it would race with the redirect; its target is a page of its own.
        target = page.parent / unquote(redirect.group(1))
        return [] if target.is_file() else [f"redirect to missing {redirect.group(1)}"]
    driver.get(base + rel)
    problems = []

    mathjax = driver.execute_async_script(WAIT_FOR_MATHJAX)
    if mathjax not in ("ok", "none"):
        problems.append(f"MathJax: {mathjax}")
    if driver.find_elements("css selector", "mjx-merror, .MathJax_Error"):
        problems.append("MathJax reports a TeX error")
    raw = [t.strip()[:80] for t in driver.execute_script(VISIBLE_TEXT) if RAW_TEX.search(t)]
    problems += [f"raw TeX: {t!r}" for t in raw[:5]]

    problems += [f"image did not load: {src}" for src in driver.execute_async_script(WAIT_FOR_IMAGES)]

    errors = driver.find_elements("css selector", ERROR_OUTPUT_SELECTOR)
    if errors:
        problems.append(f"execution error output: {errors[0].text[:200]!r}")

    hrefs = driver.execute_script(
        "return Array.from(document.querySelectorAll('a[href]'), a => a.href);"
    )
    for href in sorted(set(hrefs)):
        if href.startswith(base):
            why = check_link(site, base, href)
            if why:
                problems.append(f"broken link {href[len(base):]}: {why}")

    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);"
    )
    problems += [f"fetched from outside: {url}" for url in resources if not url.startswith(base)]

    for entry in driver.get_log("browser"):
        if entry["level"] == "SEVERE" and not any(b in entry["message"] for b in BENIGN_CONSOLE):
            problems.append(f"console: {entry['message'][:200]}")

    notebook_source = site / "_sources" / Path(rel).with_suffix(".ipynb")
    if notebook_source.is_file():
        if not driver.find_elements("css selector", ".profile-line"):
            problems.append("notebook page without its 'Executed at profile' line")
        download = driver.find_elements("css selector", "a.btn-download-source-button")
        if not any((a.get_attribute("href") or "").endswith(".ipynb") for a in download):
            problems.append("notebook page without an .ipynb download button")
    return problems


def screenshot(driver, base: str, rel: str, out: Path, name: str) -> None:
    """The top of the page, and the whole page (capped) through the DevTools protocol."""
    driver.get(base + rel)
    driver.execute_async_script(WAIT_FOR_MATHJAX)
    driver.execute_async_script(WAIT_FOR_IMAGES)
    driver.save_screenshot(str(out / f"{name}.png"))
    height = min(driver.execute_script("return document.documentElement.scrollHeight;"), 12000)
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": 1400, "height": height, "scale": 1},
        },
    )
    (out / f"{name}_full.png").write_bytes(base64.b64decode(shot["data"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("site", type=Path, help="the built book, e.g. _build/html")
    parser.add_argument("--screenshots", type=Path, default=None, help="folder for PNGs")
    args = parser.parse_args(argv)
    site = args.site.resolve()
    pages = sorted(
        p for p in site.rglob("*.html") if p.relative_to(site).parts[0] not in SKIP_DIRS
    )
    if not pages:
        print(f"no pages under {site}", file=sys.stderr)
        return 1

    server, base = serve(site)
    failures: dict[str, list[str]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile_dir:
        driver = start_browser(profile_dir)
        try:
            for page in pages:
                rel = page.relative_to(site).as_posix()
                try:
                    problems = check_page(driver, site, base, page)
                except WebDriverException as exc:
                    problems = [f"browser error: {exc.msg}"]
                print(f"{'FAIL' if problems else 'ok  '} {rel}")
                if problems:
                    failures[rel] = problems
            if args.screenshots:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                for name, rel in SCREENSHOTS.items():
                    if (site / rel).is_file():
                        screenshot(driver, base, rel, args.screenshots, name)
                print(f"screenshots: {args.screenshots.resolve()}")
        finally:
            driver.quit()
            server.shutdown()

    print(f"{len(pages)} pages checked in {time.perf_counter() - started:.0f} s")
    for rel, problems in failures.items():
        print(f"\n{rel}:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
