"""python -m benchmarks NAME [--quick]   (see benchmarks/__init__.py)"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def chapters() -> dict[str, Path]:
    """Chapter benchmarks, found from the file names: book/01_autoencoders.ipynb -> autoencoders."""
    return {p.stem.split("_", 1)[1]: p for p in sorted((REPO / "book").glob("[0-9][0-9]_*.ipynb"))}


def _env(quick: bool, **extra: str) -> dict[str, str]:
    env = dict(os.environ, COURSE_NO_PROGRESS="1", COURSE_QUICK="1" if quick else "0", **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def run_chapter(notebook: Path, quick: bool) -> dict[str, float]:
    """Execute a chapter notebook in a fresh kernel; return its reported metrics and the wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        metrics_file = Path(tmp) / "metrics.json"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                        "--ExecutePreprocessor.timeout=1800", "--output-dir", tmp, str(notebook)],
                       check=True, env=_env(quick, COURSE_METRICS_FILE=str(metrics_file)),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    return {"wall_seconds": wall, **metrics}


#: What a book build reads from the repository (copied, so that the benchmark can edit a chapter).
BOOK_SOURCES = ["_config.yml", "_toc.yml", "requirements.txt", "book", "exercises"]


def _build_book(source: Path, output: Path, quick: bool) -> dict[str, float]:
    """One ``jupyter-book build --all`` (as scripts/book.sh runs it): wall time and executed chapters."""
    log = output / "build.log"
    start = time.perf_counter()
    with log.open("w") as stream:
        subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(source), "--all",
                        "--path-output", str(output)], check=True, env=_env(quick), stdout=stream,
                       stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    text = log.read_text()
    return {"seconds": wall, "executed": text.count("Executed notebook in"),
            "from_cache": text.count("Using cached notebook")}


def run_book(quick: bool, chapter: str) -> dict[str, float | str]:
    """Time three builds of a copy of the book, one after the other, with its execution cache:
    a full build (empty cache: every chapter executed), a rebuild with nothing changed, and a
    rebuild after a change to the code of one chapter (only that chapter is executed again)."""
    notebook = chapters()[chapter]
    numbers: dict[str, float | str] = {"changed_chapter": chapter}
    with tempfile.TemporaryDirectory() as tmp:
        source, output = Path(tmp) / "source", Path(tmp) / "output"
        output.mkdir()
        for name in BOOK_SOURCES:
            path = REPO / name
            if path.is_dir():
                shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
            else:
                source.mkdir(exist_ok=True)
                shutil.copy2(path, source / name)
        for label in ("full_build", "no_change_rebuild", "one_chapter_rebuild"):
            if label == "one_chapter_rebuild":
                _change_code(source / notebook.relative_to(REPO))
            result = _build_book(source, output, quick)
            numbers.update({f"{label}_{key}": value for key, value in result.items()})
        numbers["html_pages"] = len(list((output / "_build" / "html").rglob("*.html")))
    return numbers


def _change_code(notebook: Path) -> None:
    """Append a code cell: a change to the chapter's code, which invalidates its cached outputs."""
    import nbformat

    nb = nbformat.read(notebook, as_version=nbformat.NO_CONVERT)
    nb.cells.append(nbformat.v4.new_code_cell('print("a change to this chapter\'s code")'))
    nbformat.write(nb, notebook)


def reference_numbers(name: str, quick: bool) -> dict[str, float]:
    """Run the chapter's reference, if it has one (benchmarks/<name>.py with ``reference()``),
    so that both are measured in the same run; keys are prefixed with ``reference_``."""
    import importlib

    try:
        module = importlib.import_module(f"benchmarks.{name}")
    except ModuleNotFoundError:
        return {}
    return {f"reference_{key}": value for key, value in module.reference(quick).items()}


def main(argv: list[str] | None = None) -> int:
    found = chapters()
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("name", choices=sorted(found) + ["book", "grading"])
    parser.add_argument("--quick", action="store_true", help="use the quick setting (COURSE_QUICK=1)")
    parser.add_argument("--chapter", choices=sorted(found), default="gan_theory",
                        help="book: the chapter changed before the last rebuild (default: gan_theory)")
    args = parser.parse_args(argv)

    import torch

    if args.name == "book":
        numbers = run_book(args.quick, args.chapter)
    elif args.name == "grading":
        from benchmarks.grading import run_grading

        numbers = run_grading(10 if args.quick else 40)
    else:
        numbers = run_chapter(found[args.name], args.quick)
        numbers.update(reference_numbers(args.name, args.quick))
    result = {"benchmark": args.name, "quick": args.quick, "device": "cuda" if torch.cuda.is_available() else "cpu",
              "cpu_count": os.cpu_count(), "python": platform.python_version(), **numbers}
    width = max(len(k) for k in result)
    for key, value in result.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
