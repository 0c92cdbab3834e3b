"""Grade a folder of submitted notebooks with nbgrader: gradebook, feedback HTML and a CSV.

Layout of the grading workspace (default ``grading/`` in the repository, ignored by git)::

    grading/
      gradebook.db                   nbgrader's gradebook (SQLite unless --db says otherwise)
      release/<assignment>/          student version, regenerated to register the assignment
      submitted/<student>/<assignment>/<notebook>.ipynb
      autograded/<student>/<assignment>/...
      feedback/<student>/<assignment>/<notebook>.html
      <assignment>_grades.csv        one row per student: total and one column per graded cell
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import REPO, cell_timeout_for, nbgrader_config, patched_environ, python_env, run_converter

DEFAULT_WORKDIR = REPO / "grading"
_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")


@dataclass
class GradingResult:
    """What happened to one batch."""

    assignment: str
    csv_path: Path
    scores: dict[str, float] = field(default_factory=dict)       # student -> total score
    max_score: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)         # student -> reason


def find_submissions(submissions: Path, assignment: str) -> dict[str, list[Path]]:
    """Map student ids to their notebooks.

    Accepts ``<student>/<assignment>/*.ipynb`` (nbgrader's collected layout) and
    ``<student>/*.ipynb``.
    """
    found: dict[str, list[Path]] = {}
    for student_dir in sorted(p for p in submissions.iterdir() if p.is_dir()):
        inner = student_dir / assignment
        notebooks = sorted((inner if inner.is_dir() else student_dir).glob("*.ipynb"))
        found[student_dir.name] = notebooks
    return found


def unreadable_reason(path: Path) -> str | None:
    """Why ``path`` is not a notebook nbgrader can grade, in words for the grader; None if it is."""
    import nbformat

    raw = path.read_bytes()
    if not raw.strip():
        return f"{path.name} is empty"
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        where = f" (line {err.lineno}, column {err.colno})" if isinstance(err, json.JSONDecodeError) else ""
        return f"{path.name} is not valid notebook JSON{where}: the file is damaged"
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return f"{path.name} is JSON but not a Jupyter notebook"
    try:
        nbformat.validate(nbformat.reads(raw.decode("utf-8"), as_version=4))
    except Exception as err:  # nbformat raises several types for malformed notebooks
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"{path.name} is not a valid Jupyter notebook: {first[:160]}"
    return None


def grade(assignment: str, submissions: Path, workdir: Path = DEFAULT_WORKDIR, db_url: str | None = None,
          cell_timeout: int | None = None, feedback: bool = True) -> GradingResult:
    """Autograde every student's notebooks for ``assignment`` and export the results.

    Args:
        assignment: the assignment name (a folder of ``solutions/``).
        submissions: folder with one sub-folder per student.
        workdir: the nbgrader course directory used for grading.
        db_url: gradebook URL (default: SQLite file in ``workdir``).
        cell_timeout: seconds per cell (default: :func:`autograder.course.cell_timeout_for`).
        feedback: also write a feedback HTML per student.

    Returns:
        A :class:`GradingResult`; a student whose submission could not be graded appears in
        ``errors`` with the reason, and the batch goes on.
    """
    from nbgrader.api import Gradebook
    from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback

    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{workdir / 'gradebook.db'}"
    config = nbgrader_config(workdir, db_url, cell_timeout=cell_timeout or cell_timeout_for(assignment))
    run_converter(GenerateAssignment, config, assignment_id=assignment, force=True, create_assignment=True)

    result = GradingResult(assignment, workdir / f"{assignment}_grades.csv")
    expected = {p.name for p in (workdir / "release" / assignment).glob("*.ipynb")}
    # Kernels inherit this process's environment: make the course package importable.
    with patched_environ(python_env({"COURSE_NO_PROGRESS": "1"})):
        for student, notebooks in find_submissions(submissions, assignment).items():
            if not _STUDENT_ID.match(student):
                result.errors[student] = "student id has characters nbgrader cannot use"
                continue
            names = {p.name for p in notebooks}
            if not names & expected:
                result.errors[student] = f"no notebook named {', '.join(sorted(expected))} in the submission"
                continue
            broken = [reason for p in notebooks if p.name in expected for reason in [unreadable_reason(p)] if reason]
            if broken:
                result.errors[student] = "; ".join(broken)
                continue
            target = workdir / "submitted" / student / assignment
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            for notebook in notebooks:
                if notebook.name in expected:
                    shutil.copy2(notebook, target / notebook.name)
            try:
                run_converter(Autograde, config, assignment_id=assignment, student_id=student,
                              force=True, create_student=True)
                if feedback:
                    run_converter(GenerateFeedback, config, assignment_id=assignment, student_id=student, force=True)
            except Exception as err:  # nbgrader raises many types; one student's failure must not stop the batch
                last = traceback.format_exception_only(type(err), err)[-1].strip()
                result.errors[student] = f"autograding failed: {last}"

    with Gradebook(db_url) as gb:
        ids = [c.name for nb in gb.find_assignment(assignment).notebooks for c in nb.grade_cells]
        result.max_score = gb.find_assignment(assignment).max_score
        rows = []
        for student in sorted(s.id for s in gb.students):
            try:
                submission = gb.find_submission(assignment, student)
            except Exception:  # MissingEntry: no graded submission for this student
                continue
            cells = {g.cell.name: g.score for nb in submission.notebooks for g in nb.grades if g.cell.name in ids}
            result.scores[student] = submission.score
            rows.append([student, submission.score, result.max_score] + [cells.get(i, 0.0) for i in ids]
                        + [result.errors.get(student, "")])
    with open(result.csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "score", "max_score"] + ids + ["error"])
        writer.writerows(rows)
        for student, reason in sorted(result.errors.items()):
            if student not in result.scores:
                writer.writerow([student, 0.0, result.max_score] + [0.0] * len(ids) + [reason])
    return result
