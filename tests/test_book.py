"""The built book: every page a student can reach, in a real headless Chromium, and no leaks.

Screenshots go to test-output/screenshots/. The machine running the tests may be offline, so
requests to other hosts (the CDNs of MathJax, require.js and the widget manager) fail here; they
are recorded and reported but not counted as page errors. Everything served by the book itself
must load, and no page may log a JavaScript error.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from autograder.course import SOLUTIONS
from tests.conftest import OUTPUT, REPO
from tests.leaks import find_leaks, fingerprints

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _pages() -> dict[str, str]:
    """Every page of _toc.yml: name -> path of its HTML file (chapters are named chapter-...)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]] + [entry["file"] for part in toc["parts"] for chapter in part["chapters"]
                             for entry in [chapter, *chapter.get("sections", [])]]
    pages = {}
    for file in files:
        stem = file.rsplit("/", 1)[-1]
        kind = "chapter" if stem[:2].isdigit() else "exercise" if file.startswith("exercises/") else "page"
        pages[f"{kind}-{stem}"] = f"{file}.html"
    return pages


PAGES = _pages()
CHAPTERS = [name for name in PAGES if name.startswith("chapter-")]
EXERCISES = [name for name in PAGES if name.startswith("exercise-")]


def test_book_has_every_page(book_html):
    assert CHAPTERS and EXERCISES
    for page in PAGES.values():
        assert (book_html / page).is_file(), f"{page} is missing from the built book"
    assert (book_html / "searchindex.js").is_file(), "the book has no search index"


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_has_figures_and_buttons(book_html, name):
    chapter = (book_html / PAGES[name]).read_text()
    assert chapter.count("<img") >= 4, "the chapter's figures are missing"
    assert "colab.research.google.com" in chapter and "mybinder.org" in chapter, "launch buttons are missing"
    assert "download" in chapter.lower()
    assert "Traceback (most recent call last)" not in chapter, "a chapter cell failed during the build"


@pytest.mark.parametrize("name", EXERCISES)
def test_exercise_page_is_the_unexecuted_release(book_html, name):
    page = (book_html / PAGES[name]).read_text()
    assert "NotImplementedError" in page
    assert "Traceback" not in page, "the exercise page must not be executed during the build"


def test_built_book_holds_no_solution_or_hidden_test(book_html):
    assert find_leaks(book_html, fingerprints(SOLUTIONS)) == []


@pytest.fixture(scope="module")
def served(book_html):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(book_html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        message = "Debian's chromium is not installed (scripts/browser.sh installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_without_errors(name, served, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, external = [], []
    local = urlparse(served).netloc

    def on_console(message):
        if message.type == "error":
            errors.append(f"console: {message.text}")

    def on_failed(request):
        if urlparse(request.url).netloc == local:
            errors.append(f"failed request: {request.url}")
        else:
            external.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("requestfailed", on_failed)
    page.on("response", lambda r: r.status >= 400 and errors.append(f"HTTP {r.status}: {r.url}"))
    response = page.goto(f"{served}/{PAGES[name]}", wait_until="load")
    assert response is not None and response.ok
    page.wait_for_timeout(500)
    screenshots = OUTPUT / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=False)
    if name.startswith("chapter"):
        page.screenshot(path=str(screenshots / f"{name}-full.png"), full_page=True)
    title = page.locator("h1").first.inner_text()
    assert title.strip(), "the page has no title"
    if name.startswith("chapter"):
        page.wait_for_selector("mjx-container", timeout=15000)   # MathJax is served by the book itself
        assert page.locator("mjx-container").count() >= 20, "the chapter's formulas were not typeset"
    # Errors caused by the offline CDNs are not the book's; everything else is.
    own = [e for e in errors if not any(url.split("?")[0] in e for url in external)
           and "net::ERR" not in e]
    page.close()
    assert own == [], "\n".join(own)


@pytest.mark.slow
def test_search_finds_the_chapter(served, browser):
    page = browser.new_page()
    page.goto(f"{served}/search.html?q=contractive", wait_until="load")
    page.wait_for_selector("#search-results li a", timeout=15000)
    links = page.locator("#search-results li a").evaluate_all("els => els.map(e => e.href)")
    page.close()
    assert any("01_autoencoders" in link for link in links), links
