"""Shared fixtures: repository paths and the built book."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "test-output"


@pytest.fixture(scope="session")
def book_html() -> Path:
    """The HTML of the book built by scripts/test.sh (COURSE_BOOK_HTML) or scripts/book.sh."""
    path = Path(os.environ.get("COURSE_BOOK_HTML", REPO / "_build" / "html"))
    if not (path / "index.html").is_file():
        message = f"no built book at {path}: run bash scripts/test.sh (it builds the book first)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
