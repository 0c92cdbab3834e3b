"""Build submissions for tests and benchmarks: the release filled with the solution, or with
chosen (wrong) code in chosen cells, exactly as a student would hand it in."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from autograder.course import EXERCISES, SOLUTIONS

_SOLUTION_BLOCK = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.MULTILINE)


def solution_code(assignment: str, notebook: str | None = None) -> dict[str, str]:
    """Source of each solution cell (grade_id -> code) with the nbgrader markers removed."""
    path = _notebook(SOLUTIONS / assignment, notebook)
    nb = nbformat.read(path, as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: _SOLUTION_BLOCK.sub("", cell.source)
            for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("solution")}


def submission(assignment: str, answers: dict[str, str] | None = None, notebook: str | None = None,
               ) -> nbformat.NotebookNode:
    """The released notebook with solution cells replaced.

    Args:
        answers: grade_id -> code for the cells to fill; ``None`` fills every solution cell with
            the instructor's solution. Cells not named keep the release's stub.
    """
    path = _notebook(EXERCISES / assignment, notebook)
    nb = nbformat.read(path, as_version=4)
    answers = solution_code(assignment, notebook) if answers is None else answers
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def write_submission(nb: nbformat.NotebookNode, folder: Path, student: str, assignment: str,
                     name: str | None = None) -> Path:
    """Write ``nb`` as ``folder/<student>/<assignment>/<name>.ipynb`` (nbgrader's collected layout)."""
    target = folder / student / assignment / (name or f"{assignment}.ipynb")
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return target


def _notebook(folder: Path, name: str | None) -> Path:
    if name is not None:
        return folder / name
    notebooks = sorted(folder.glob("*.ipynb"))
    if len(notebooks) != 1:
        raise ValueError(f"{folder} has {len(notebooks)} notebooks; name one")
    return notebooks[0]


def notebook_namespace(assignment: str, answers: dict[str, str] | None = None, notebook: str | None = None) -> dict:
    """The globals a student's notebook would have after *Restart & Run All* with ``answers`` in its
    solution cells (``None``: the instructor's solutions), built in this process: every code cell of
    the release except the test cells, run in order as the autograder runs them
    (``NBGRADER_EXECUTION`` set, so demo cells skip their training). For fast tests of the checks."""
    import os

    from autograder.integrity import is_test_cell

    nb = submission(assignment, answers, notebook)
    namespace: dict = {"__name__": "__main__"}
    saved = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    try:
        for cell in nb.cells:
            if cell.cell_type != "code" or is_test_cell(cell):
                continue
            source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            try:   # a notebook goes on after a failing cell, as the autograder's does
                exec(compile(source, f"<{assignment}:{cell.metadata.get('nbgrader', {}).get('grade_id', 'cell')}>",
                             "exec"), namespace)
            except Exception:
                pass
    finally:
        if saved is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = saved
    return namespace
