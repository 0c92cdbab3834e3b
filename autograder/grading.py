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
import multiprocessing
import re
import shutil
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import (REPO, cell_timeout_for, nbgrader_config, patched_environ, python_env, run_converter,
                               workers_for)

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
          cell_timeout: int | None = None, feedback: bool = True, workers: int | None = None) -> GradingResult:
    """Autograde every student's notebooks for ``assignment`` and export the results.

    Args:
        assignment: the assignment name (a folder of ``solutions/``).
        submissions: folder with one sub-folder per student.
        workdir: the nbgrader course directory used for grading.
        db_url: gradebook URL (default: SQLite file in ``workdir``).
        cell_timeout: seconds per cell (default: :func:`autograder.course.cell_timeout_for`).
        feedback: also write a feedback HTML per student.
        workers: students graded at once, each in its own process (default:
            :func:`autograder.course.workers_for`: one per CPU core, 1 where grading times training).

    Returns:
        A :class:`GradingResult`; a student whose submission could not be graded appears in
        ``errors`` with the reason, and the batch goes on.
    """
    from nbgrader.api import Gradebook
    from nbgrader.converters import GenerateAssignment

    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # Parallel workers write to one SQLite file: wait up to a minute for a lock instead of 5 s.
    db_url = db_url or f"sqlite:///{workdir / 'gradebook.db'}?timeout=60"
    timeout = cell_timeout or cell_timeout_for(assignment)
    config = nbgrader_config(workdir, db_url, cell_timeout=timeout)
    run_converter(GenerateAssignment, config, assignment_id=assignment, force=True, create_assignment=True)

    result = GradingResult(assignment, workdir / f"{assignment}_grades.csv")
    expected = {p.name for p in (workdir / "release" / assignment).glob("*.ipynb")}
    ready = []
    for student, notebooks in find_submissions(submissions, assignment).items():
        reason = _rejection(student, notebooks, expected)
        if reason:
            result.errors[student] = reason
            continue
        target = workdir / "submitted" / student / assignment
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for notebook in notebooks:
            if notebook.name in expected:
                shutil.copy2(notebook, target / notebook.name)
        ready.append(student)

    workers = max(1, min(workers or workers_for(assignment), len(ready)))
    job = (assignment, str(workdir), db_url, timeout, feedback)
    # Kernels inherit this process's environment: make the course package importable.
    with patched_environ(python_env({"COURSE_NO_PROGRESS": "1"})):
        if workers == 1:
            outcomes = [(student, _autograde_one(job, student)) for student in ready]
        else:
            # "spawn": fresh interpreters, nothing inherited from a parent that may hold threads.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = {student: pool.submit(_autograde_one, job, student) for student in ready}
                outcomes = [(student, _outcome(future)) for student, future in futures.items()]
    for student, error in outcomes:
        if error:
            result.errors[student] = error

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


def _rejection(student: str, notebooks: list[Path], expected: set[str]) -> str | None:
    """Why a submission cannot be graded at all (checked before any kernel starts), or None."""
    if not _STUDENT_ID.match(student):
        return "student id has characters nbgrader cannot use"
    if not {p.name for p in notebooks} & expected:
        return f"no notebook named {', '.join(sorted(expected))} in the submission"
    broken = [reason for p in notebooks if p.name in expected for reason in [unreadable_reason(p)] if reason]
    return "; ".join(broken) or None


def _autograde_one(job: tuple, student: str) -> str | None:
    """Autograde (and write feedback for) one student; return an error message or None.

    Runs in a worker process: everything it needs travels in ``job`` and the gradebook.
    """
    from nbgrader.converters import Autograde, GenerateFeedback

    assignment, workdir, db_url, timeout, feedback = job
    config = nbgrader_config(Path(workdir), db_url, cell_timeout=timeout)
    try:
        run_converter(Autograde, config, assignment_id=assignment, student_id=student, force=True,
                      create_student=True)
        if feedback:
            run_converter(GenerateFeedback, config, assignment_id=assignment, student_id=student, force=True)
    except Exception as err:  # nbgrader raises many types; one student's failure must not stop the batch
        last = traceback.format_exception_only(type(err), err)[-1].strip()
        return f"autograding failed: {last}"
    return None


def _outcome(future: Future) -> str | None:
    try:
        return future.result()
    except Exception as err:  # the worker process itself died (killed, out of memory)
        return f"grading worker failed: {type(err).__name__}: {err}"
