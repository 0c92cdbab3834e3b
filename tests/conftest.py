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


@pytest.fixture
def one_thread():
    """Small tensor work in this process: one thread is faster than several fighting over the cores."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def seed_everything(seed: int) -> None:
    """Seed every source of randomness an answer may use: Python's, NumPy's and PyTorch's."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright (fails in CI when it is missing)."""
    import shutil

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        message = "Debian's chromium is not installed (scripts/browser.sh installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()
