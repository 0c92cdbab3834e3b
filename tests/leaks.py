"""Find solution code and hidden tests where students can see them."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from bs4 import BeautifulSoup

BLOCKS = {
    "solution": re.compile(r"### BEGIN SOLUTION(.*?)### END SOLUTION", re.DOTALL),
    "hidden test": re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.DOTALL),
}
MIN_LENGTH = 16          # shorter lines ("return x", "]") are too common to mean anything
# Idioms every PyTorch notebook writes; they identify no solution.
GENERIC = {"withtorch.no_grad():", "super().__init__()"}
# A lone standard layer with literal arguments (``nn.LeakyReLU(0.2),``, ``nn.BatchNorm2d(128),``) is how
# every network is written, in chapters and solutions alike.
LONE_LAYER = re.compile(r"nn\.\w+\([\w.,=]*\),?")
# Seeding a generator and opening a Sequential are idioms too.
IDIOMS = re.compile(r"(torch\.manual_seed|random\.seed|np\.random\.seed)\(\d+\)|(self\.)?\w+=nn\.Sequential\(")


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def fingerprints(solutions: Path) -> dict[str, str]:
    """Distinctive lines of every solution block and hidden test block (squashed -> origin)."""
    found, public = {}, set()
    for path in sorted(solutions.glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            outside = cell.source
            for pattern in BLOCKS.values():
                outside = pattern.sub("", outside)
            public.update(squash(line) for line in outside.splitlines())
            for kind, pattern in BLOCKS.items():
                for block in pattern.findall(cell.source):
                    for line in block.splitlines():
                        code = line.split("#")[0].strip() if not line.strip().startswith(("'", '"')) else line.strip()
                        if len(code) >= MIN_LENGTH:
                            found[squash(code)] = f"{kind} line of {path.parent.name}: {line.strip()}"
    # The grader-side checks (solutions/<a>/checks.py) are hidden tests, every line of them.
    for path in sorted(solutions.glob("*/checks.py")):
        for line in path.read_text().splitlines():
            code = line.split("#")[0].strip()
            if len(code) >= MIN_LENGTH and not code.startswith(("from ", "import ", '"""')):
                found[squash(code)] = f"hidden test line of {path.parent.name}: {line.strip()}"
    # A line that the released notebook shows anyway (a visible test's helper class, say) is no leak.
    # Function signatures are the exercise's public API, not part of a solution.
    return {key: origin for key, origin in found.items()
            if key not in public and key not in GENERIC and not key.startswith("def")
            and not LONE_LAYER.fullmatch(key) and not IDIOMS.fullmatch(key)}


def visible_text(path: Path) -> str:
    """Text a reader can see or download: HTML as rendered text, other files as they are."""
    raw = path.read_text(errors="ignore")
    if path.suffix == ".html":
        return BeautifulSoup(raw, "html.parser").get_text()
    return raw


def find_leaks(folder: Path, prints: dict[str, str], allowed: set[str] = frozenset()) -> list[str]:
    """Every (file, fingerprint) where a fingerprint shows up in ``folder``."""
    leaks = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix not in {".html", ".ipynb", ".md", ".txt", ".js", ".py", ".json"}:
            continue
        text = squash(visible_text(path))
        leaks += [f"{path}: {origin}" for key, origin in prints.items() if key in text and key not in allowed]
    return leaks
