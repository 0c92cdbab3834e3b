"""python -m benchmarks NAME [--quick]   (see benchmarks/__init__.py)"""

from __future__ import annotations

import argparse
import json
import os
import platform
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


def run_book(quick: bool) -> dict[str, float]:
    """Time a complete build of the book (every chapter executed)."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(REPO), "--all",
                        "--path-output", tmp], check=True, env=_env(quick),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        pages = len(list((Path(tmp) / "_build" / "html").rglob("*.html")))
    return {"build_seconds": wall, "html_pages": pages}


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
    args = parser.parse_args(argv)

    import torch

    if args.name == "book":
        numbers = run_book(args.quick)
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
