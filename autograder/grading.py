"""Grade a batch of submitted notebooks with nbgrader: gradebook, feedback HTML, CSV and a summary.

Layout of the grading workspace (default ``grading/`` in the repository, ignored by git)::

    grading/
      gradebook.db                   nbgrader's gradebook (SQLite unless --db says otherwise)
      release/<assignment>/          student version, regenerated to register the assignment
      submitted/<student>/<assignment>/<notebook>.ipynb   as checked and repaired for execution
      autograded/<student>/<assignment>/...
      feedback/<student>/<assignment>/<notebook>.html
      reports/<assignment>/<student>.json   what happened to each student (flags, errors, hash)
      <assignment>_grades.csv        one row per student: total, one column per graded cell, flags, error
      <assignment>_summary.json      the batch: graded, unchanged, failed with reason, late, unmapped, flags

A student's report is written only after their notebook is graded and their feedback written, so a
batch killed half-way and started again regrades exactly the students without a report (and any
whose files changed), and ends with the same gradebook as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import tempfile
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.course import (EXERCISES, REPO, SOLUTIONS, Limits, limits_for, nbgrader_config, patched_environ,
                               python_env, run_converter, workers_for)

DEFAULT_WORKDIR = REPO / "grading"
_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
#: Bump when grading changes in a way that must regrade unchanged submissions.
GRADER_VERSION = "2"


@dataclass
class GradingResult:
    """What happened to one batch."""

    assignment: str
    csv_path: Path
    summary_path: Path | None = None
    scores: dict[str, float] = field(default_factory=dict)       # student -> total score
    max_score: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)         # student -> reason (not graded or failed)
    flags: dict[str, list[dict]] = field(default_factory=dict)   # student -> integrity and limit flags
    graded: list[str] = field(default_factory=list)              # graded in this run
    unchanged: list[str] = field(default_factory=list)           # skipped: same files as last run
    late: dict[str, str] = field(default_factory=dict)           # student -> how late, in words
    missing: list[str] = field(default_factory=list)             # on the roster, nothing handed in
    unmapped: list[str] = field(default_factory=list)            # LMS files that matched no student
    isolation: str = ""


def find_submissions(submissions: Path, assignment: str) -> dict[str, list[Path]]:
    """Map student ids to their notebooks.

    Accepts ``<student>/<assignment>/*.ipynb`` (nbgrader's collected layout; a student with
    folders for other assignments only has not handed this one in) and ``<student>/*.ipynb``.
    """
    found: dict[str, list[Path]] = {}
    for student_dir in sorted(p for p in submissions.iterdir() if p.is_dir()):
        inner = student_dir / assignment
        if inner.is_dir():
            found[student_dir.name] = sorted(inner.glob("*.ipynb"))
        elif not any(p.is_dir() for p in student_dir.iterdir()):
            found[student_dir.name] = sorted(student_dir.glob("*.ipynb"))
        # else: folders for other assignments only: this student did not hand this one in
    return found


def unreadable_reason(path: Path, max_mb: float = Limits.max_notebook_mb) -> str | None:
    """Why ``path`` is not a notebook nbgrader can grade, in words for the grader; None if it is."""
    import nbformat

    size = path.stat().st_size
    if size > max_mb * 2**20:
        return f"{path.name} is {size / 2**20:.0f} MB, more than the {max_mb:g} MB a notebook may have " \
               "(clear large outputs before submitting)"
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
    if data.get("nbformat") != 4:
        return (f"{path.name} is a version {data.get('nbformat')} notebook; the course uses version 4 "
                "(open it in a current Jupyter and save it again)")
    try:
        nbformat.validate(nbformat.reads(raw.decode("utf-8"), as_version=4))
    except Exception as err:  # nbformat raises several types for malformed notebooks
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"{path.name} is not a valid Jupyter notebook: {first[:160]}"
    return None


def grade(assignment: str, submissions: Path, workdir: Path = DEFAULT_WORKDIR, db_url: str | None = None,
          cell_timeout: int | None = None, feedback: bool = True, workers: int | None = None, *,
          limits: Limits | None = None, force: bool = False, executor=None, due: str | None = None,
          unmapped: list[str] | None = None, sandbox: bool = True, roster: list[dict] | None = None,
          lms_late: set[str] | None = None) -> GradingResult:
    """Autograde every student's notebooks for ``assignment`` and export the results.

    Args:
        assignment: the assignment name (a folder of ``solutions/``).
        submissions: folder with one sub-folder per student (see :func:`autograder.lms.unpack`
            for LMS zips).
        workdir: the nbgrader course directory used for grading.
        db_url: gradebook URL (default: SQLite file in ``workdir``); any SQLAlchemy URL.
        cell_timeout: seconds per cell (shortcut for ``limits``).
        feedback: also write a feedback HTML per student.
        workers: students graded at once, each in its own process (default:
            :func:`autograder.course.workers_for`: one per CPU core, 1 where grading times training).
        limits: time and memory limits (default: :func:`autograder.course.limits_for`).
        force: regrade students whose files did not change since the last run.
        executor: a ``concurrent.futures``-style executor to grade on instead of local processes,
            for example ``dask.distributed.Client(...).get_executor(pure=False)``; its workers must
            see ``workdir`` and the gradebook.
        due: deadline (ISO 8601); with nbgrader's ``timestamp.txt`` beside a notebook, late
            submissions are listed in the summary.
        unmapped: names an LMS import could not map to a student (listed in the summary).
        roster: rows of a roster (:func:`autograder.lms.read_roster`): added to the gradebook; a
            student on it who handed nothing in gets a CSV row and appears as missing.
        lms_late: students whose submission the LMS marked late.
        sandbox: run kernels in namespaces (no network, read-only file system) where the OS allows.

    Returns:
        A :class:`GradingResult`; a student whose submission could not be graded appears in
        ``errors`` with the reason, and the batch goes on.
    """
    workdir = workdir.resolve()
    submissions = submissions.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # Kernels inherit this environment: the course importable, one share of the cores each.
    threads = max(1, (os.cpu_count() or 1) // max(1, workers or workers_for(assignment)))
    kernel_env = {"COURSE_NO_PROGRESS": "1", "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    pool = None
    if executor is None and (workers or workers_for(assignment)) > 1:
        # Worker processes start now and import nbgrader while this process gets the batch ready.
        # "spawn": fresh interpreters, nothing inherited from a parent that may hold threads.
        pool = ProcessPoolExecutor(max_workers=workers or workers_for(assignment),
                                   mp_context=multiprocessing.get_context("spawn"))
        for _ in range(pool._max_workers):
            pool.submit(_warm_up)
    try:
        with _fork_server(kernel_env) as (run_dir, server_path, server):
            return _grade(assignment, submissions, workdir, db_url, cell_timeout, feedback, workers, limits,
                          force, executor or pool, due, unmapped, sandbox, roster, lms_late, run_dir,
                          server_path, server, kernel_env)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _warm_up() -> None:
    """Import what grading needs (about 3 s), so that a worker is ready when its first student comes."""
    import nbgrader.converters  # noqa: F401

    import autograder.guard  # noqa: F401


@contextlib.contextmanager
def _fork_server(kernel_env: dict[str, str]):
    """A batch's run folder and kernel fork server, which imports torch and fetches the data while
    the batch gets ready; both removed at the end."""
    from autograder.guard import start_fork_server

    run_dir = Path(tempfile.mkdtemp(prefix="autograder-run-"))
    server_path = run_dir / "fork.sock"
    with patched_environ(python_env(kernel_env)):
        server = start_fork_server(server_path)
    try:
        yield run_dir, server_path, server
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)    # the server stops once its socket is gone
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def _grade(assignment, submissions, workdir, db_url, cell_timeout, feedback, workers, limits, force, executor,
           due, unmapped, sandbox, roster, lms_late, run_dir, server_path, server, kernel_env) -> GradingResult:
    import nbformat
    from nbgrader.api import Gradebook
    from nbgrader.converters import GenerateAssignment

    from autograder.guard import wait_for_socket
    from autograder.integrity import attacked_cells, inspect, release_grade_ids

    # Parallel workers write to one SQLite file: wait up to a minute for a lock instead of 5 s.
    db_url = db_url or f"sqlite:///{workdir / 'gradebook.db'}?timeout=60"
    limits = limits or limits_for(assignment, cell_seconds=cell_timeout)
    config = nbgrader_config(workdir, db_url, cell_timeout=limits.cell_seconds)
    run_converter(GenerateAssignment, config, assignment_id=assignment, force=True, create_assignment=True)
    with Gradebook(db_url) as gb:
        if due:
            gb.update_or_create_assignment(assignment, duedate=due)
        for row in roster or []:
            gb.update_or_create_student(row["id"], **{k: row[k] for k in ("first_name", "last_name", "email")
                                                      if row.get(k)})

    result = GradingResult(assignment, workdir / f"{assignment}_grades.csv",
                           workdir / f"{assignment}_summary.json", unmapped=list(unmapped or []))
    reports = workdir / "reports" / assignment
    reports.mkdir(parents=True, exist_ok=True)
    release_dir = workdir / "release" / assignment
    expected = {p.name: nbformat.read(p, as_version=4) for p in release_dir.glob("*.ipynb")}
    others = {k: v for k, v in release_grade_ids(EXERCISES).items() if k != assignment}
    settings = _settings_digest(release_dir, limits, feedback)
    jobs = []
    for student, notebooks in find_submissions(submissions, assignment).items():
        reason = _rejection(student, notebooks, set(expected), limits)
        if reason:
            result.errors[student] = reason
            continue
        digest = _digest(notebooks, settings)
        previous = _read_json(reports / f"{student}.json")
        if not force and previous.get("hash") == digest and _has_submission(db_url, assignment, student):
            result.unchanged.append(student)
            continue
        target = workdir / "submitted" / student / assignment
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        findings, attacked = [], {}
        for notebook in notebooks:
            if notebook.name not in expected:
                continue
            repaired, found = inspect(nbformat.read(notebook, as_version=4), expected[notebook.name], others)
            findings += [dict(f.as_dict(), notebook=notebook.name) for f in found]
            nbformat.write(repaired, target / notebook.name)
            attacked.update(attacked_cells(found))
        stamp = notebooks[0].parent / "timestamp.txt"
        if stamp.is_file():
            shutil.copy2(stamp, target / "timestamp.txt")
        wrong = [f for f in findings if f["kind"] == "wrong-assignment"]
        if wrong:
            shutil.rmtree(target)
            result.errors[student] = wrong[0]["detail"]
            result.flags[student] = findings
            continue
        jobs.append((student, attacked, findings, digest))

    hide = sorted({str(SOLUTIONS), str(REPO / ".git"), str(workdir), str(submissions)}
                  | ({db_url.split("///", 1)[1].split("?")[0]} if db_url.startswith("sqlite:///") else set()))
    job = {"assignment": assignment, "workdir": str(workdir), "db_url": db_url, "limits": asdict(limits),
           "feedback": feedback, "run_dir": str(run_dir), "hide": hide, "sandbox": sandbox,
           "mpl_cache": _matplotlib_cache(), "fork_server": str(server_path), "env": kernel_env}
    data_problems = []
    if jobs and not wait_for_socket(str(server_path), process=server):
        job["fork_server"] = ""                  # kernels start the slow way; the data is fetched here
        data_problems = _prefetch_data()
    outcomes = _run_jobs(job, jobs, executor)
    if Path(f"{server_path}.data.json").exists():
        data_problems = json.loads(Path(f"{server_path}.data.json").read_text())
    result.graded = [student for student, _, _, _ in jobs]

    for student in result.graded + result.unchanged:
        report = outcomes.get(student) or _read_json(reports / f"{student}.json")
        if report.get("error"):
            result.errors[student] = report["error"]
        if report.get("flags"):
            result.flags[student] = report["flags"]
        result.isolation = report.get("isolation") or result.isolation
    for student in lms_late or ():
        result.late[student] = "marked late by the LMS"
    _export(result, db_url, [row["id"] for row in roster or []])
    _write_summary(result, data_problems)
    return result


def _run_jobs(job: dict, jobs: list, executor) -> dict[str, dict]:
    """Grade every job, here or on ``executor``; a worker process that dies costs only its own
    student (who is retried once, in a fresh pool)."""
    outcomes: dict[str, dict] = {}
    pending = list(jobs)
    for attempt in range(2):
        if not pending:
            break
        if executor is None:
            for student, attacked, findings, digest in pending:
                outcomes[student] = _autograde_one(job, student, attacked, findings, digest)
            return outcomes
        own_pool = None
        if attempt and isinstance(executor, ProcessPoolExecutor):
            own_pool = ProcessPoolExecutor(max_workers=executor._max_workers,
                                           mp_context=multiprocessing.get_context("spawn"))
        pool = own_pool or executor
        try:
            futures = {item[0]: pool.submit(_autograde_one, job, *item) for item in pending}
            failed = []
            for student, future in futures.items():
                try:
                    outcomes[student] = future.result()
                except Exception as err:  # the worker itself died (killed, out of memory)
                    outcomes[student] = {"error": f"grading worker failed: {type(err).__name__}: {err}"}
                    failed.append(student)
        finally:
            if own_pool is not None:
                own_pool.shutdown(wait=True, cancel_futures=True)
        pending = [item for item in pending if item[0] in failed]
    return outcomes


def _autograde_one(job: dict, student: str, attacked: dict, findings: list, digest: str) -> dict:
    """Autograde (and write feedback for) one student; write and return their report.

    Runs in a worker process (local or remote): everything it needs travels in its arguments and
    the gradebook.
    """
    import time
    import warnings

    from nbgrader.converters import Autograde, GenerateFeedback

    # nbgrader's SQLAlchemy use emits noisy warnings that say nothing about the grades.
    warnings.filterwarnings("ignore", module="nbgrader")
    warnings.filterwarnings("ignore", message=".*not in session.*")

    start = time.monotonic()
    workdir = Path(job["workdir"])
    limits = Limits(**job["limits"])
    reports = workdir / "reports" / job["assignment"]
    run_report = reports / f"{student}.running"
    run_report.unlink(missing_ok=True)
    config = grading_config(workdir, job["db_url"], limits, attacked=attacked, report_path=run_report,
                            run_dir=job["run_dir"], hide=job["hide"], sandbox=job["sandbox"],
                            mpl_cache=job.get("mpl_cache", ""), fork_server=job.get("fork_server", ""))
    error = None
    try:
        with patched_environ(python_env(job["env"])):
            run_converter(Autograde, config, assignment_id=job["assignment"], student_id=student, force=True,
                          create_student=True)
            if job["feedback"]:
                run_converter(GenerateFeedback, config, assignment_id=job["assignment"], student_id=student,
                              force=True)
    except Exception as err:  # nbgrader raises many types; one student's failure must not stop the batch
        last = traceback.format_exception_only(type(err), err)[-1].strip()
        error = f"autograding failed: {last}"
    run = _read_json(run_report)
    run_report.unlink(missing_ok=True)
    report = {"hash": digest, "error": error, "flags": findings + run.get("flags", []),
              "isolation": run.get("isolation", ""), "seconds": round(time.monotonic() - start, 2)}
    tmp = reports / f"{student}.json.tmp"
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(reports / f"{student}.json")
    return report


def grading_config(workdir: Path, db_url: str, limits: Limits, *, attacked: dict | None = None,
                   report_path: Path | None = None, run_dir: str = "", hide: list[str] | None = None,
                   sandbox: bool = True, mpl_cache: str = "", fork_server: str = ""):
    """nbgrader configuration for autograding: :class:`autograder.guard.GuardedExecute` in place of
    nbgrader's Execute, its kernels started through :mod:`autograder.sandbox` with ``limits``."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput,
                                        SaveAutoGrades)

    from autograder.guard import GuardedExecute
    from autograder.sandbox import default_allow_list, launcher_options

    c = nbgrader_config(workdir, db_url, cell_timeout=limits.cell_seconds)
    c.Autograde.autograde_preprocessors = [GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                           SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    c.GuardedExecute.attacked = dict(attacked or {})
    c.GuardedExecute.report_path = str(report_path or "")
    c.GuardedExecute.notebook_timeout = limits.notebook_seconds
    c.GuardedExecute.max_output_bytes = limits.max_output_bytes
    options = launcher_options(memory_mb=limits.memory_mb, max_procs=limits.max_procs,
                               wall_seconds=limits.notebook_seconds + 30, max_file_mb=limits.max_file_mb,
                               allow=default_allow_list(), namespaces=sandbox, mpl_cache=mpl_cache)
    options += [arg for path in hide or [] for arg in ("--hide", path)]   # inside allowed paths only
    c.SandboxedKernelManager.sandbox_options = options
    c.SandboxedKernelManager.run_dir = run_dir
    c.SandboxedKernelManager.fork_server = fork_server
    return c


def _rejection(student: str, notebooks: list[Path], expected: set[str], limits: Limits) -> str | None:
    """Why a submission cannot be graded at all (checked before any kernel starts), or None."""
    if not _STUDENT_ID.match(student):
        return "student id has characters nbgrader cannot use"
    if not {p.name for p in notebooks} & expected:
        return f"no notebook named {', '.join(sorted(expected))} in the submission"
    broken = [reason for p in notebooks if p.name in expected
              for reason in [unreadable_reason(p, limits.max_notebook_mb)] if reason]
    return "; ".join(broken) or None


def _settings_digest(release_dir: Path, limits: Limits, feedback: bool) -> str:
    h = hashlib.sha256(f"{GRADER_VERSION}|{limits}|{feedback}".encode())
    for path in sorted(release_dir.glob("*.ipynb")):
        h.update(path.read_bytes())
    return h.hexdigest()


def _digest(notebooks: list[Path], settings: str) -> str:
    h = hashlib.sha256(settings.encode())
    for path in sorted(notebooks) + [p for p in [notebooks[0].parent / "timestamp.txt"] if p.is_file()]:
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


def _prefetch_data() -> list[str]:
    """Student kernels see the data directory read-only: fetch what the exercises read first."""
    try:
        from coursekit.data import prefetch_exercise_data
    except ImportError:
        return []
    return prefetch_exercise_data()


def _matplotlib_cache() -> str:
    """matplotlib's font cache, copied into each kernel's scratch folder (building it takes seconds
    and prints a warning, and the kernel's home folder is read-only). Found the way matplotlib
    looks for it, without importing matplotlib."""
    configured = os.environ.get("MPLCONFIGDIR")
    cache = Path(configured) if configured else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "matplotlib"
    return str(cache) if any(cache.glob("fontlist-*.json")) else ""


def _export(result: GradingResult, db_url: str, roster_ids: list[str]) -> None:
    """CSV from the gradebook: every student with a graded submission, then the ungraded ones, then
    the students of the roster who handed nothing in."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        assignment = gb.find_assignment(result.assignment)
        ids = [c.name for nb in assignment.notebooks for c in nb.grade_cells]
        result.max_score = assignment.max_score
        rows = []
        for student in sorted(s.id for s in gb.students):
            try:
                submission = gb.find_submission(result.assignment, student)
            except MissingEntry:
                continue
            cells = {g.cell.name: g.score for nb in submission.notebooks for g in nb.grades if g.cell.name in ids}
            result.scores[student] = submission.score
            if submission.total_seconds_late > 0:
                result.late[student] = f"{submission.total_seconds_late / 3600:.1f} h after the deadline"
            rows.append([student, submission.score, result.max_score] + [cells.get(i, 0.0) for i in ids]
                        + [_flag_text(result.flags.get(student)), result.errors.get(student, "")])
    with open(result.csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "score", "max_score"] + ids + ["flags", "error"])
        writer.writerows(rows)
        for student, reason in sorted(result.errors.items()):
            if student not in result.scores:
                writer.writerow([student, 0.0, result.max_score] + [0.0] * len(ids)
                                + [_flag_text(result.flags.get(student)), reason])
        result.missing = sorted(set(roster_ids) - set(result.scores) - set(result.errors))
        for student in result.missing:
            writer.writerow([student, 0.0, result.max_score] + [0.0] * len(ids) + ["", "nothing handed in"])


def _flag_text(flags: list[dict] | None) -> str:
    return "; ".join(sorted({f"{f['kind']}" + (f" ({f['cell']})" if f.get("cell") else "") for f in flags or []}))


def _write_summary(result: GradingResult, data_problems: list[str]) -> None:
    summary = {
        "assignment": result.assignment, "max_score": result.max_score, "isolation": result.isolation,
        "graded": sorted(result.graded), "unchanged": sorted(result.unchanged),
        "failed": dict(sorted(result.errors.items())), "late": dict(sorted(result.late.items())),
        "unmapped": result.unmapped, "missing": result.missing, "flags": dict(sorted(result.flags.items())), "data_problems": data_problems,
        "scores": dict(sorted(result.scores.items())),
    }
    result.summary_path.write_text(json.dumps(summary, indent=1))


def summary_text(result: GradingResult) -> str:
    """The batch summary in words, as ``python -m autograder grade`` prints it."""
    lines = [f"{result.assignment}: {len(result.scores)} graded in the gradebook "
             f"({len(result.graded)} this run, {len(result.unchanged)} unchanged and skipped), "
             f"{len([s for s in result.errors if s not in result.scores])} not graded, "
             f"{len(result.late)} late, {len(result.missing)} missing, {len(result.unmapped)} unmapped; "
             f"{len(result.flags)} flagged. Kernel isolation: {result.isolation or 'n/a'}."]
    for student, score in sorted(result.scores.items()):
        lines.append(f"  {student:24s} {score:6.1f} / {result.max_score:g}")
    for student, reason in sorted(result.errors.items()):
        lines.append(f"  {student:24s} ERROR: {reason}")
    for student, how in sorted(result.late.items()):
        lines.append(f"  {student:24s} LATE: {how}")
    for student in result.missing:
        lines.append(f"  {student:24s} MISSING: on the roster, nothing handed in")
    for name in result.unmapped:
        lines.append(f"  UNMAPPED: {name}")
    for student, flags in sorted(result.flags.items()):
        for flag in flags:
            where = f" [{flag['cell']}]" if flag.get("cell") else ""
            lines.append(f"  FLAG {student:19s} {flag['kind']}{where}: {flag['detail']}")
    return "\n".join(lines)
