"""exercises/ is generated from solutions/, up to date, and holds no solution or hidden test."""

from __future__ import annotations

import json

import yaml

from autograder.course import EXERCISES, REPO, SOLUTIONS, assignments, generate_release
from tests.leaks import find_leaks, fingerprints


def test_every_assignment_has_a_release_and_a_book_page():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = {entry["file"] for part in toc["parts"] for chapter in part["chapters"]
             for entry in [chapter, *chapter.get("sections", [])]}
    assert assignments(), "solutions/ holds no assignment"
    for name in assignments():
        released = sorted(p.name for p in (EXERCISES / name).glob("*.ipynb"))
        assert released == sorted(p.name for p in (SOLUTIONS / name).glob("*.ipynb"))
        for notebook in released:
            assert f"exercises/{name}/{notebook[:-6]}" in files, f"{name}/{notebook} has no page in _toc.yml"


def test_exercises_are_up_to_date(tmp_path):
    """Fails when solutions/ changed and `python -m autograder release` was not run."""
    for name in assignments():
        fresh = generate_release(name, tmp_path)
        for notebook in fresh.glob("*.ipynb"):
            committed = EXERCISES / name / notebook.name
            assert json.loads(notebook.read_text()) == json.loads(committed.read_text()), (
                f"{committed} is out of date: run python -m autograder release {name}")


def test_exercises_hold_no_solution_or_hidden_test():
    prints = fingerprints(SOLUTIONS)
    assert len(prints) > 20, "the fingerprinting found almost nothing to look for"
    assert find_leaks(EXERCISES, prints) == []
    for notebook in EXERCISES.glob("*/*.ipynb"):
        text = notebook.read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text


def test_leak_finder_finds_a_planted_leak(tmp_path):
    """The leak tests above and in test_book.py can fail: a rendered solution notebook is caught, and
    so is its assignment's checks file (where the hidden tests live once converted)."""
    import nbconvert

    source = next(p for p in sorted(SOLUTIONS.glob("*/*.ipynb")) if (p.parent / "checks.py").is_file())
    html, _ = nbconvert.HTMLExporter().from_filename(str(source))
    (tmp_path / "page.html").write_text(html)
    (tmp_path / "checks.py").write_text((source.parent / "checks.py").read_text())
    leaks = find_leaks(tmp_path, fingerprints(SOLUTIONS))
    assert any("solution line" in leak for leak in leaks) and any("hidden test line" in leak for leak in leaks)
