"""Grade a batch of submitted notebooks: the pipeline, top to bottom.

    intake     autograder.intake     folder / LMS zip / roster -> one Submission per student
    policy     autograder.policy     limits and settings of the batch (one Policy)
    execution  autograder.execution  nbgrader Autograde in sandboxed kernels, checks run from here
    verdicts   autograder.checks, autograder.verdicts, autograder.integrity
    export     autograder.export     CSV, summary; nbgrader writes gradebook and feedback

Layout of the grading workspace (default ``grading/`` in the repository, ignored by git)::

    grading/
      gradebook.db                   nbgrader's gradebook (SQLite unless --db says otherwise)
      imported/<assignment>/<student>/<assignment>/<notebook>.ipynb   what intake accepted
      submitted/<student>/<assignment>/<notebook>.ipynb   as checked and repaired for execution
      autograded/<student>/<assignment>/...
      feedback/<student>/<assignment>/<notebook>.html
      reports/<assignment>/<student>.json   what happened to each student (flags, errors, hash)
      <assignment>_grades.csv        one row per student: total, one column per graded cell, flags, error
      <assignment>_summary.json      the batch: graded, unchanged, failed, late, missing, not graded, flags

A student's report is written only after their notebook is graded and their feedback written, so a
batch killed half-way and started again regrades exactly the students without a report (and any
whose files changed), and ends with the same gradebook as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

from autograder.course import EXERCISES, REPO, nbgrader_config, run_converter
from autograder.execution import Job, kernel_server, matplotlib_cache, run_jobs, worker_pool
from autograder.export import GradingResult, read_gradebook, summary_text, write_csv, write_summary
from autograder.intake import Batch, RosterRow, Submission, open_batch
from autograder.policy import KERNEL_DATA_VIEWS, Policy, policy_for
from autograder.report import write_class_files

DEFAULT_WORKDIR = REPO / "grading"
#: Bump when grading changes in a way that must regrade unchanged submissions.
GRADER_VERSION = "3"

__all__ = ["DEFAULT_WORKDIR", "GradingResult", "grade", "summary_text"]


def grade(assignment: str, submissions: Path, workdir: Path = DEFAULT_WORKDIR, db_url: str | None = None, *,
          roster: list[RosterRow] | None = None, policy: Policy | None = None, executor=None,
          only: list[str] | None = None, **settings) -> GradingResult:
    """Autograde every student's notebooks for ``assignment`` and export the results.

    Args:
        submissions: a folder (nbgrader's ``<student>/<assignment>/`` layout or ``<student>/``) or
            a Canvas/Moodle zip (see :mod:`autograder.intake`).
        workdir: the grading workspace (nbgrader course directory); nothing is written outside it.
        db_url: gradebook URL (default: SQLite file in ``workdir``); any SQLAlchemy URL.
        roster: maps LMS users to student ids; its students go into the gradebook, and those who
            handed nothing in get a CSV row.
        policy: how to grade; default :func:`autograder.policy.policy_for` with ``settings``
            (``workers``, ``feedback``, ``force``, ``due``, ``sandbox``, ``limits``, ``cell_seconds``...).
        executor: a ``concurrent.futures``-style executor to grade on instead of local worker
            processes, e.g. ``dask.distributed.Client(...).get_executor(pure=False)``; its workers
            must see ``workdir`` and the gradebook.
        only: re-grade these students alone (whatever their files), keeping everyone else's grades.

    Returns:
        A :class:`GradingResult`; a student whose submission could not be graded appears in
        ``errors`` with the reason, and the batch goes on.
    """
    policy = policy or policy_for(assignment, **settings)
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{workdir / 'gradebook.db'}?timeout=60"   # parallel writers wait for the lock

    # Kernels inherit this environment: the course importable, one share of the cores each.
    threads = str(max(1, (os.cpu_count() or 1) // policy.workers))
    kernel_env = {"COURSE_NO_PROGRESS": "1", "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    pool = worker_pool(policy.workers) if executor is None and policy.workers > 1 else None
    try:
        with kernel_server(kernel_env) as (run_dir, server_ready, data_problems):
            # -- intake
            release = _register(assignment, workdir, db_url, policy, roster)
            batch = open_batch(submissions.resolve(), assignment, {p.name for p in release.glob("*.ipynb")},
                               roster, workdir, policy.limits.max_notebook_mb)
            result = _start_result(batch, workdir)
            # -- policy and integrity: what needs grading, and how
            chosen = batch
            if only:   # a regrade of these students, whatever their files; the others keep their grades, untouched
                chosen = replace(batch, submissions=[s for s in batch.submissions if s.student in only])
                if {s.student for s in chosen.submissions} != set(only):
                    raise ValueError(f"nothing handed in to re-grade for: {', '.join(sorted(set(only) - {s.student for s in chosen.submissions}))}")
                result.unchanged += [s.student for s in batch.submissions if s.student not in only]
            jobs = _prepare(chosen, release, workdir, db_url, replace(policy, force=True) if only else policy, result)
            if jobs:
                server_ready()      # the fork server fetches the data files before it serves
            views = _data_views(assignment, run_dir) if jobs else {}
            jobs = [_with_kernels(job, run_dir, server_ready, kernel_env, policy, views) for job in jobs]
            # -- execution (verdicts are decided inside, per test cell)
            outcomes = run_jobs(jobs, executor or pool)
            result.graded = [job.student for job in jobs]
            result.data_problems = data_problems() if jobs else []
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    # -- export
    reports = workdir / "reports" / assignment
    for student in result.graded + result.unchanged:
        report = outcomes[student].__dict__ if student in outcomes else _read_json(reports / f"{student}.json")
        if report.get("error"):
            result.errors[student] = report["error"]
        if report.get("flags"):
            result.flags[student] = result.flags.get(student, []) + report["flags"]
        result.isolation = report.get("isolation") or result.isolation
    read_gradebook(result, db_url)
    result.missing = [s for s in batch.missing if s not in result.scores and s not in result.errors]
    write_csv(result)
    write_summary(result)
    write_class_files(result, db_url, roster)   # overrides, LMS grade files, class report (autograder.report)
    return result


def _register(assignment: str, workdir: Path, db_url: str, policy: Policy, roster: list[RosterRow] | None) -> Path:
    """Register the assignment (its release, the deadline) and the roster in the gradebook."""
    from nbgrader.api import Gradebook
    from nbgrader.converters import GenerateAssignment

    config = nbgrader_config(workdir, db_url, cell_timeout=policy.limits.cell_seconds)
    with _registration_lock(db_url):
        run_converter(GenerateAssignment, config, assignment_id=assignment, force=True, create_assignment=True)
        with Gradebook(db_url) as gb:
            if policy.due:
                gb.update_or_create_assignment(assignment, duedate=policy.due)
            for row in roster or []:
                gb.update_or_create_student(row.id, **{k: v for k, v in (("first_name", row.first_name),
                                                                        ("last_name", row.last_name),
                                                                        ("email", row.email)) if v})
    return workdir / "release" / assignment


@contextlib.contextmanager
def _registration_lock(db_url: str):
    """One grader at a time registers into a shared PostgreSQL gradebook (two graders started at
    once would both insert the assignment's notebooks and cells); SQLite's file lock does this itself."""
    if not db_url.startswith("postgresql"):
        yield
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("select pg_advisory_lock(8317001)"))
            try:
                yield
            finally:
                connection.execute(text("select pg_advisory_unlock(8317001)"))
    finally:
        engine.dispose()


def _start_result(batch: Batch, workdir: Path) -> GradingResult:
    result = GradingResult(batch.assignment, workdir / f"{batch.assignment}_grades.csv",
                           workdir / f"{batch.assignment}_summary.json")
    result.errors.update(batch.rejected)
    result.skipped = [{"path": s.path, "reason": s.reason, "student": s.student, "kind": s.kind}
                      for s in batch.skipped]
    result.unmapped = [f"{s.path}: {s.reason}" for s in batch.skipped if s.kind == "unmapped"]
    for submission in batch.submissions:
        if submission.flags:
            result.flags[submission.student] = [f.as_dict() for f in submission.flags]
        if submission.late_by_lms:
            result.late[submission.student] = "marked late by the LMS"
    return result


def _prepare(batch: Batch, release: Path, workdir: Path, db_url: str, policy: Policy,
             result: GradingResult) -> list[Job]:
    """Compare each submission with the release (repairing what nbgrader must run), skip the ones
    graded before with the same files and policy, and make a job for each of the others."""
    import nbformat

    from autograder.integrity import attacked_cells, inspect, release_grade_ids

    expected = {p.name: nbformat.read(p, as_version=4) for p in release.glob("*.ipynb")}
    others = {k: v for k, v in release_grade_ids(EXERCISES).items() if k != batch.assignment}
    settings = _settings_digest(release, policy)
    reports = workdir / "reports" / batch.assignment
    reports.mkdir(parents=True, exist_ok=True)
    jobs = []
    for submission in batch.submissions:
        student = submission.student
        digest = _digest(submission, settings)
        if not policy.force and _read_json(reports / f"{student}.json").get("hash") == digest \
                and _has_submission(db_url, batch.assignment, student):
            result.unchanged.append(student)
            continue
        target = workdir / "submitted" / student / batch.assignment
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        findings, attacked = [], {}
        for notebook in submission.notebooks:
            repaired, found = inspect(nbformat.read(notebook, as_version=4), expected[notebook.name], others)
            findings += [dict(f.as_dict(), notebook=notebook.name) for f in found]
            nbformat.write(repaired, target / notebook.name)
            attacked.update(attacked_cells(found))
        stamp = submission.folder / "timestamp.txt"
        if stamp.is_file():
            shutil.copy2(stamp, target / "timestamp.txt")
        wrong = [f for f in findings if f["kind"] == "wrong-assignment"]
        if wrong:
            shutil.rmtree(target)
            result.errors[student] = wrong[0]["detail"]
            result.flags[student] = result.flags.get(student, []) + findings
            continue
        jobs.append(Job(batch.assignment, student, str(workdir), db_url, policy.limits, policy.feedback, digest,
                        attacked, findings))
    return jobs


def _with_kernels(job: Job, run_dir: Path, server_ready, kernel_env: dict, policy: Policy,
                  substitute: dict[str, str]) -> Job:
    from dataclasses import replace

    return replace(job, run_dir=str(run_dir), fork_server=server_ready(), sandbox=policy.sandbox,
                   mpl_cache=matplotlib_cache(), env=kernel_env, substitute=substitute)


def _data_views(assignment: str, run_dir: Path) -> dict[str, str]:
    """The data files this assignment's kernels see in another version (KERNEL_DATA_VIEWS), written
    into the batch's run folder: {file in a data directory: its substitute}."""
    import importlib

    from autograder.sandbox import data_directories

    substitute = {}
    for name, maker in KERNEL_DATA_VIEWS.get(assignment, {}).items():
        module, _, function = maker.partition(":")
        view = run_dir / "views" / name
        try:
            getattr(importlib.import_module(module), function)(view)
        except Exception:   # no data here: the kernels see an empty file (never the full one) and say so
            view.parent.mkdir(parents=True, exist_ok=True)
            view.write_bytes(b"")
        os.chmod(view, 0o644)
        for folder in data_directories():
            if (Path(folder) / name).is_file():
                substitute[str(Path(folder) / name)] = str(view)
    return substitute


def _settings_digest(release: Path, policy: Policy) -> str:
    h = hashlib.sha256(f"{GRADER_VERSION}|{policy.digest()}".encode())
    for path in sorted(release.glob("*.ipynb")):
        h.update(path.read_bytes())
    from autograder.checks import checks_file

    if checks_file(policy.assignment).is_file():
        h.update(checks_file(policy.assignment).read_bytes())
    return h.hexdigest()


def _digest(submission: Submission, settings: str) -> str:
    h = hashlib.sha256(settings.encode())
    stamp = submission.folder / "timestamp.txt"
    for path in sorted(submission.notebooks) + ([stamp] if stamp.is_file() else []):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _has_submission(db_url: str, assignment: str, student: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        try:
            gb.find_submission(assignment, student)
            return True
        except MissingEntry:
            return False
