"""The built book: every page a student can reach, in a real headless Chromium, and no leaks.

Screenshots go to test-output/screenshots/. Every page must work offline: no request may leave
the page's own origin (a CDN script is a failure), everything the book serves must load, and no
page may log a JavaScript error. On every chapter page each control of each kernel-free
interactive figure is moved and what is drawn must change. The launch buttons and the Colab
install cells follow the one published address in _config.yml.
"""

from __future__ import annotations

import ast
import functools
import http.server
import importlib.metadata
import re
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import nbformat

import pytest
import yaml

from autograder.course import SOLUTIONS
from tests.conftest import OUTPUT, REPO
from tests.leaks import find_leaks, fingerprints



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
CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())
ADDRESS = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"].get("branch", "main")


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


LAUNCH = re.compile(r'href="(https://(?:colab\.research\.google\.com|mybinder\.org)/[^"]+)"')


@pytest.mark.parametrize("name", CHAPTERS)
def test_launch_buttons_open_this_chapter_at_the_published_address(book_html, name):
    """Colab and Binder open this chapter's notebook in the repository named in _config.yml."""
    notebook = PAGES[name].removesuffix(".html") + ".ipynb"
    assert (REPO / notebook).is_file()
    owner_repo = urlparse(ADDRESS).path.strip("/")
    links = {link.replace("&amp;", "&") for link in LAUNCH.findall((book_html / PAGES[name]).read_text())}
    assert f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/{notebook}" in links, links
    assert f"https://mybinder.org/v2/gh/{owner_repo}/{BRANCH}?urlpath=lab/tree/{notebook}" in links, links


def _install_command(notebook: Path) -> list[str]:
    """What the chapter's first code cell asks pip to install on Colab (run with a fake Colab)."""
    first = next(c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")
    calls = []

    class Shell:
        def run_line_magic(self, magic, line):
            calls.append((magic, line))

    fake_colab = type(sys)("google.colab")
    saved = sys.modules.get("google.colab")
    sys.modules["google.colab"] = fake_colab
    try:
        exec(first.source, {"get_ipython": Shell})
    finally:
        if saved is None:
            del sys.modules["google.colab"]
        else:
            sys.modules["google.colab"] = saved
    assert len(calls) == 1 and calls[0][0] == "pip", f"{notebook.name}: the first cell installs nothing"
    words = calls[0][1].replace("'", " ").split()
    assert words[:2] == ["install", "-q"], words
    return words[2:]


def _imports(source: str) -> set[str]:
    source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _third_party_imports(notebook: Path) -> set[str]:
    """Top-level modules the chapter imports, with those of the coursekit modules it uses."""
    cells = [c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"][1:]
    todo = set().union(*map(_imports, cells)) | {"coursekit"}
    done, modules = set(), set()
    while todo:
        name = todo.pop()
        done.add(name)
        if name.split(".")[0] != "coursekit":
            modules.add(name.split(".")[0])
            continue
        path = REPO.joinpath(*name.split(".")).with_suffix(".py")
        path = path if path.is_file() else path.with_suffix("") / "__init__.py"
        if path.is_file():
            todo |= _imports(path.read_text()) - done
    return {m for m in modules if m not in sys.stdlib_module_names}


@pytest.mark.parametrize("name", CHAPTERS)
def test_colab_install_cell_installs_what_the_chapter_imports(name):
    """The hidden first cell installs the course from the published address, and every package the
    chapter imports that Colab lacks (pinned as in requirements.txt)."""
    sys.path.insert(0, str(REPO / "book" / "_ext"))
    try:
        from course_address import COLAB_PROVIDES
    finally:
        sys.path.remove(str(REPO / "book" / "_ext"))
    notebook = REPO / PAGES[name].removesuffix(".html")
    notebook = notebook.with_suffix(".ipynb")
    words = _install_command(notebook)
    assert f"git+{ADDRESS}@{BRANCH}" in words, f"the course is not installed from {ADDRESS}@{BRANCH}: {words}"
    installed = {re.split(r"[=<>\[]", w)[0].lower().replace("_", "-") for w in words}
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (REPO / "requirements.txt").read_text(), re.M))
    owners = importlib.metadata.packages_distributions()
    for module in _third_party_imports(notebook):
        if module == "coursekit":
            continue
        for dist in owners.get(module, [module]):
            dist = dist.lower().replace("_", "-")
            if dist in COLAB_PROVIDES:
                continue
            assert dist in installed, f"{name} imports {module} ({dist}) but its Colab cell does not install it"
            pinned = [k for k in pins if k.lower().replace("_", "-") == dist]
            if pinned:
                assert f"{pinned[0]}=={pins[pinned[0]]}" in words, f"{dist} is not pinned as in requirements.txt"


def test_the_published_address_is_written_in_one_place():
    """Outside _config.yml, the address appears only in the install cells the build writes from it."""
    for path in [*(REPO / "book").glob("*.md"), *(REPO / "book").glob("*.ipynb")]:
        if path.suffix == ".ipynb":
            cells = nbformat.read(path, as_version=4).cells
            text = "\n".join(c.source for c in cells if '"google.colab" in sys.modules' not in c.source)
        else:
            text = path.read_text()
        assert "github.com/" + urlparse(ADDRESS).path.strip("/") not in text, \
            f"{path.name} writes the address itself: use {{{{ course_repository }}}} (see _config.yml)"


def test_pages_show_the_published_address(book_html):
    intro = re.sub(r"<[^>]+>", "", (book_html / PAGES["page-intro"]).read_text())   # text, no markup
    assert f"git clone {ADDRESS}" in intro, "the intro's clone command does not use the configured address"
    for page in PAGES.values():
        assert "course_repository" not in (book_html / page).read_text(), f"{page}: placeholder left unreplaced"


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


def _open(browser, served, name):
    """Open a page of the book; collect its errors and every request that leaves its origin."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.errors, page.external = [], []
    local = urlparse(served).netloc

    def on_request(request):
        url = urlparse(request.url)
        if url.scheme not in ("data", "blob", "about") and url.netloc != local:
            page.external.append(request.url)

    def on_console(message):
        if message.type == "error":
            page.errors.append(f"console: {message.text}")

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: page.errors.append(f"page error: {exc}"))
    page.on("requestfailed", lambda r: urlparse(r.url).netloc == local
            and page.errors.append(f"failed request: {r.url}"))
    page.on("response", lambda r: r.status >= 400 and page.errors.append(f"HTTP {r.status}: {r.url}"))
    response = page.goto(f"{served}/{PAGES[name]}", wait_until="load")
    assert response is not None and response.ok
    return page


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_offline_without_errors(name, served, browser):
    page = _open(browser, served, name)
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
    page.close()
    assert page.external == [], "requests that leave the book (a CDN?):\n" + "\n".join(page.external)
    assert page.errors == [], "\n".join(page.errors)


# For each code cell with a live ipywidget: does it, or the next cell, hold a kernel-free twin?
WIDGETS_HAVE_TWINS = """() => {
  const cells = [...document.querySelectorAll("div.cell")];
  const missing = [];
  cells.forEach((cell, i) => {
    if (!cell.querySelector('script[type="application/vnd.jupyter.widget-view+json"]')) return;
    const twin = [cell, cells[i + 1]].some(c => c && c.querySelector(".course-twin"));
    if (!twin) missing.push(cell.innerText.slice(0, 120));
  });
  return missing;
}"""


@pytest.mark.slow
@pytest.mark.parametrize("name", CHAPTERS)
def test_interactive_figures_work_without_kernel_or_network(name, served, browser):
    """Move every control of every kernel-free figure: the drawing must change, offline."""
    page = _open(browser, served, name)
    twins = page.locator(".course-twin")
    assert twins.count() >= 1, "the chapter has no kernel-free interactive figure"
    assert page.evaluate(WIDGETS_HAVE_TWINS) == [], "a live widget has no kernel-free twin"
    moved = 0
    for t in range(twins.count()):
        twin = twins.nth(t)
        twin.scroll_into_view_if_needed()
        assert twin.is_visible(), f"interactive figure {t} is hidden in the book"
        image = twin.locator("img.course-twin-frame")
        inputs = twin.locator("input.course-twin-input")
        assert inputs.count() >= 1
        for i in range(inputs.count()):
            control = inputs.nth(i)
            before_src, before_pixels = image.get_attribute("src"), image.screenshot()
            high, value = int(control.get_attribute("max")), int(control.input_value())
            target = high if value != high else 0
            control.fill(str(target))                  # drags the slider: sets it and fires "input"
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
            label = control.evaluate("el => el.closest('.course-twin-control').querySelector('output').textContent")
            assert image.get_attribute("src") != before_src or target == value, \
                f"figure {t}: moving control {i} to {target} ({label}) did not change the frame"
            assert image.screenshot() != before_pixels, f"figure {t}: control {i} changed nothing drawn"
            moved += 1
        play = twin.locator("button.course-twin-play")
        if play.count():
            before_pixels = image.screenshot()
            play.click()
            page.wait_for_timeout(1000)
            assert image.screenshot() != before_pixels, f"figure {t}: the play button animates nothing"
    page.close()
    assert moved >= 1
    assert page.external == [], "requests that leave the book:\n" + "\n".join(page.external)
    assert page.errors == [], "\n".join(page.errors)


@pytest.mark.slow
def test_search_finds_the_chapter(served, browser):
    page = browser.new_page()
    page.goto(f"{served}/search.html?q=contractive", wait_until="load")
    page.wait_for_selector("#search-results li a", timeout=15000)
    links = page.locator("#search-results li a").evaluate_all("els => els.map(e => e.href)")
    page.close()
    assert any("01_autoencoders" in link for link in links), links


def test_quick_and_full_builds_never_share_cached_outputs(tmp_path, monkeypatch):
    """Each setting has its own execution cache; an outdated cache of the same setting is removed,
    the other setting's is kept."""
    from types import SimpleNamespace

    sys.path.insert(0, str(REPO / "book" / "_ext"))
    try:
        import course_cache
    finally:
        sys.path.remove(str(REPO / "book" / "_ext"))
    app = SimpleNamespace(outdir=str(tmp_path / "_build" / "html"), srcdir=str(REPO))
    root = tmp_path / "_build" / ".jupyter_cache"
    (root / "quick-0ld").mkdir(parents=True)
    (root / "full-0ld").mkdir()
    paths = {}
    for quick in ("1", "0"):
        monkeypatch.setenv("COURSE_QUICK", quick)
        config = SimpleNamespace(nb_execution_mode="cache", nb_execution_cache_path="")
        course_cache._set_cache_path(app, config)
        paths[quick] = Path(config.nb_execution_cache_path)
        if quick == "1":
            assert not (root / "quick-0ld").exists(), "an outdated quick cache was kept"
            assert (root / "full-0ld").exists(), "the quick build removed the full setting's cache"
    assert paths["1"] != paths["0"]
    assert paths["1"].parent == paths["0"].parent == root
    assert paths["1"].name.startswith("quick-") and paths["0"].name.startswith("full-")
    assert not (root / "full-0ld").exists()
    fingerprint = paths["1"].name.split("-", 1)[1]
    assert fingerprint == course_cache.code_fingerprint(REPO), "the code version is part of the path"


def test_static_twin_draws_every_setting_once_and_changes_nothing_else():
    """One frame per combination (last control fastest), figures closed, random states restored."""
    import json as _json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from coursekit.widgets import static_twin

    calls = []

    def draw(a, b):
        calls.append((a, b))
        torch.rand(3), np.random.rand(3)                   # consumes the global random states
        fig, ax = plt.subplots(figsize=(2, 1))
        ax.imshow(np.full((4, 4), a * 10 + b), vmin=0, vmax=30, cmap="viridis")
        plt.show()

    torch.manual_seed(1), np.random.seed(1)
    twin = static_twin(draw, a=[0, 1, 2], b=[0, 5], initial={"a": 1}, play="a")
    assert calls == [(a, b) for a in [0, 1, 2] for b in [0, 5]]
    assert plt.get_fignums() == [], "the twin left figures open (they would be shown by the notebook)"
    html = twin._repr_html_()
    assert html.startswith('<div class="course-twin" hidden>'), "Jupyter must not show the twin"
    spec = _json.loads(re.search(r'course-twin-spec">(.*?)</script>', html).group(1))
    frames = _json.loads(re.search(r'course-twin-frames">(.*?)</script>', html).group(1))
    assert len(spec["index"]) == 6 and len(frames) == twin.frame_count == 6
    assert all(f.startswith("data:image/") for f in frames)
    assert twin.frame_at([1, 0]) in html.split("course-twin-spec")[0], "the initial frame is a=1, b=0"
    assert twin.frame_at([0, 0]) != twin.frame_at([0, 1]) != twin.frame_at([1, 1])
    with pytest.raises(ValueError):
        static_twin(draw, a=range(30), b=range(30))       # too many frames for one page


def test_static_twin_restores_the_random_states():
    import numpy as np
    import torch

    from coursekit.widgets import static_twin

    torch.manual_seed(3), np.random.seed(3)
    expected = torch.rand(2), np.random.rand(2)
    torch.manual_seed(3), np.random.seed(3)
    static_twin(lambda x: torch.rand(8, 8) * x + torch.from_numpy(np.random.rand(8, 8)).float() * 0,
                x=[0.0, 1.0])
    assert torch.equal(torch.rand(2), expected[0]) and np.array_equal(np.random.rand(2), expected[1])
