"""The textbook apparatus of every chapter (no kernel needed): learning objectives at the top, a
summary, self-check questions whose answers open in the page (sphinx-design dropdowns: plain
``<details>`` elements, so they work in the static book and offline), further reading, citations of
book/references.bib, and a bibliography page that builds without a warning."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tests.conftest import REPO

CHAPTERS = sorted(p.stem for p in (REPO / "book").glob("[0-9][0-9]_*.ipynb"))
CITE = re.compile(r"\{cite(?::[pt])?\}`([^`]+)`")


def _markdown(name: str) -> list[str]:
    nb = nbformat.read(REPO / "book" / f"{name}.ipynb", as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def _bib_keys() -> set[str]:
    return set(re.findall(r"@\w+\{([^,\s]+),", (REPO / "book" / "references.bib").read_text()))


def _section(cells: list[str], title: str) -> str:
    """The markdown from the heading ``title`` up to the next heading of the same or a higher level."""
    text = "\n\n".join(cells)
    found = re.search(rf"^(#+) {title}\b.*$", text, re.MULTILINE | re.IGNORECASE)
    assert found, f"no '{title}' heading"
    level = len(found.group(1))
    rest = text[found.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[:end.start()] if end else rest


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_opens_with_learning_objectives(name):
    cell = next((c for c in _markdown(name)[:3] if re.search(r"learning objectives", c, re.IGNORECASE)), None)
    assert cell is not None, f"{name}: the learning objectives belong in the first cells"
    after = cell[re.search(r"learning objectives", cell, re.IGNORECASE).end():]
    assert len(re.findall(r"^\s*(?:[-*]|\d+\.) ", after, re.MULTILINE)) >= 3, \
        f"{name}: at least three objectives, as a list"


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_ends_with_summary_questions_and_reading(name):
    cells = _markdown(name)
    summary = _section(cells, "Summary")
    assert len(summary.split()) >= 40, f"{name}: the summary is a real paragraph or list"
    questions = _section(cells, "Self-check questions")
    dropdowns = re.findall(r"^(:{3,}|`{3,})\{dropdown\}", questions, re.MULTILINE)
    assert len(dropdowns) >= 3, f"{name}: at least three questions with their answer in a dropdown"
    reading = _section(cells, "Further reading")
    assert CITE.search(reading), f"{name}: further reading cites the bibliography"


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_citation_is_in_the_bibliography(name):
    keys = _bib_keys()
    cited = {k.strip() for cell in _markdown(name) for group in CITE.findall(cell) for k in group.split(",")}
    assert cited, f"{name}: cites nothing"
    assert cited <= keys, f"{name}: unknown keys {sorted(cited - keys)}"


def test_bibliography_page_builds_without_warnings(book_html):
    page = (Path(book_html) / "book" / "bibliography.html").read_text()
    assert page.count('class="citation"') + page.count("citation") >= 10
    log = Path(book_html).parents[1] / "book.log"
    if not log.is_file():
        log = REPO / "test-output" / "book.log"
    if log.is_file():
        warnings = [line for line in log.read_text().splitlines()
                    if "WARNING" in line and re.search(r"bib|cit", line, re.IGNORECASE)]
        assert warnings == []


def test_bibliography_file_parses_with_unique_keys():
    import pybtex.database

    text = (REPO / "book" / "references.bib").read_text()
    keys = re.findall(r"@\w+\{([^,\s]+),", text)
    assert len(keys) == len(set(keys)), "duplicate keys"
    parsed = pybtex.database.parse_string(text, "bibtex")
    assert set(parsed.entries) == set(keys)


@pytest.mark.parametrize("name", CHAPTERS)
def test_stored_outputs_come_from_a_run(name):
    """nbval fails a cell that has outputs but no execution count (outputs pasted in by hand)."""
    nb = nbformat.read(REPO / "book" / f"{name}.ipynb", as_version=4)
    pasted = [i for i, c in enumerate(nb.cells)
              if c.cell_type == "code" and c.get("outputs") and c.get("execution_count") is None]
    assert pasted == [], f"{name}: cells {pasted} have outputs without an execution count"
