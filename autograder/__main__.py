"""Command line: ``python -m autograder {release,grade,regrade,override,check}``.

release   regenerate exercises/ from solutions/ (all assignments or the ones named)
grade     autograde a folder or LMS zip of submissions: gradebook, feedback HTML, CSV, LMS files, class report
regrade   re-grade one student (or a few) of a batch, whatever their files; the others are not touched
override  set a cell's score by hand (kept in the workspace, applied after every run)
check     run a student's notebook the way the grader will, with the visible tests
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from autograder.course import EXERCISES, assignments, generate_release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p_release = sub.add_parser("release", help="regenerate exercises/ from solutions/")
    p_release.add_argument("assignment", nargs="*", help="assignments (default: all)")

    p_grade = sub.add_parser("grade", help="autograde a folder or LMS zip of submissions",
                             description="Autograde a batch; prints the batch summary. Re-running grades only "
                                         "new or changed submissions (--force: all).")
    p_grade.add_argument("assignment")
    p_grade.add_argument("submissions", type=Path,
                         help="folder with one sub-folder per student, or a Canvas/Moodle zip")
    p_grade.add_argument("--roster", type=Path, help="CSV with columns id[,first_name,last_name,email,lms_id]")
    p_grade.add_argument("--workdir", type=Path, default=None, help="grading workspace (default: grading/)")
    p_grade.add_argument("--db", default=None, help="gradebook SQLAlchemy URL (default: SQLite in the workspace)")
    p_grade.add_argument("--due", help="deadline, e.g. '2026-12-01 23:59' (late = nbgrader timestamp.txt after it)")
    p_grade.add_argument("--force", action="store_true", help="regrade unchanged submissions too")
    p_grade.add_argument("--workers", type=int, default=None,
                         help="students graded at once (default: one per CPU core)")
    p_grade.add_argument("--scheduler", help="Dask scheduler address: grade on that cluster instead")
    p_grade.add_argument("--cell-timeout", type=int, default=None, help="seconds per cell")
    p_grade.add_argument("--notebook-timeout", type=int, default=None, help="seconds per notebook")
    p_grade.add_argument("--memory-mb", type=int, default=None, help="memory per notebook (MB)")
    p_grade.add_argument("--no-sandbox", action="store_true", help="no namespaces (limits still apply)")
    p_grade.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    p_grade.add_argument("--only", action="append", metavar="STUDENT",
                         help="re-grade this student alone, whatever their files (repeatable); the others keep "
                              "their grades")

    p_regrade = sub.add_parser("regrade", parents=[], help="re-grade one student: same as grade --only STUDENT",
                               add_help=True)
    for action in p_grade._actions:
        if action.dest not in ("help", "only"):
            p_regrade._add_action(action)
    p_regrade.add_argument("student", nargs="+", help="the students to re-grade")

    p_override = sub.add_parser("override", help="set one cell's score by hand; survives re-grading",
                                description="Store a manual score for one graded cell of one student in the "
                                            "workspace (overrides/<assignment>.json) and write it into the gradebook "
                                            "now and after every grade run (nbgrader's manual_score). Re-run grade "
                                            "(nothing unchanged is re-executed) to refresh the CSV, LMS files and report.")
    p_override.add_argument("assignment")
    p_override.add_argument("student")
    p_override.add_argument("cell", help="grade id of the cell, e.g. test_js_divergence")
    p_override.add_argument("score", help="points for that cell, or 'clear' to remove the override")
    p_override.add_argument("--reason", required=True, help="why (shown in the class report)")
    p_override.add_argument("--workdir", type=Path, default=None, help="grading workspace (default: grading/)")
    p_override.add_argument("--db", default=None, help="gradebook SQLAlchemy URL (default: SQLite in the workspace)")

    p_check = sub.add_parser("check", help="run a notebook the way the grader will, with its visible tests")
    p_check.add_argument("notebook", type=Path)

    args = parser.parse_args(argv)
    # nbgrader's SQLAlchemy use emits noisy warnings that say nothing about the grades.
    warnings.filterwarnings("ignore", module="nbgrader")
    warnings.filterwarnings("ignore", message=".*not in session.*")
    if args.command == "release":
        for name in args.assignment or assignments():
            print("generated", generate_release(name))
        return 0
    if args.command == "grade":
        return _grade(args)
    if args.command == "regrade":
        args.only = args.student
        return _grade(args)
    if args.command == "override":
        return _override(args)
    if args.command == "check":
        return _check(args.notebook)
    return 2


def _check(notebook: Path) -> int:
    """Run the notebook the way the grader will (same sandbox, limits and guards; visible tests) and
    compare its test cells with the release. Exit status 1 if a visible test fails or a test cell
    was changed."""
    import tempfile

    import nbformat

    from autograder.execution import check_notebook
    from autograder.integrity import attacked_cells, inspect, release_grade_ids
    from autograder.intake import unreadable_reason
    from autograder.policy import policy_for

    reason = unreadable_reason(notebook)
    if reason:
        print(f"CANNOT CHECK: {reason}")
        return 1
    nb = nbformat.read(notebook, as_version=4)
    assignment = notebook.stem
    release = EXERCISES / assignment / notebook.name
    findings = []
    if release.is_file():
        nb, findings = inspect(nb, nbformat.read(release, as_version=4),
                               {k: v for k, v in release_grade_ids(EXERCISES).items() if k != assignment})
    with tempfile.TemporaryDirectory(prefix="autograder-check-") as tmp:
        report = check_notebook(nb, policy_for(assignment, workers=1), Path(tmp))
    for test, ok in report.passed.items():
        line = f"  {'pass' if ok else 'FAIL'}  {test}"
        print(line + (f": {report.messages[test]}" if not ok and test in report.messages else ""))
    passed = bool(report.passed) and all(report.passed.values())
    for flag in report.flags:
        print(f"NOTE ({flag['kind']}): {flag['detail']}")
    for finding in findings:
        print(f"WARNING ({finding.kind}): {finding.detail}")
    if attacked_cells(findings) or any(f.kind == "wrong-assignment" for f in findings):
        print("The grader will give zero to the test cells above: download a fresh copy of them.")
        passed = False
    print("Success! Every visible test passes; hidden tests run at grading time." if passed else
          "Some visible tests fail (see above).")
    return 0 if passed else 1


def _grade(args: argparse.Namespace) -> int:
    from autograder.grading import DEFAULT_WORKDIR, grade, summary_text
    from autograder.intake import read_roster
    from autograder.policy import policy_for

    workdir = (args.workdir or DEFAULT_WORKDIR).resolve()
    try:
        roster = read_roster(args.roster) if args.roster else None
    except ValueError as err:
        print(f"roster refused: {err}", file=sys.stderr)
        return 2
    args.db = database_url(args.db)
    problem = check_database(args.db)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    executor = None
    if args.scheduler:
        from distributed import Client

        executor = Client(args.scheduler).get_executor(pure=False)
    policy = policy_for(args.assignment, workers=args.workers, feedback=not args.no_feedback,
                        sandbox=not args.no_sandbox, force=args.force, due=args.due,
                        cell_seconds=args.cell_timeout, notebook_seconds=args.notebook_timeout,
                        memory_mb=args.memory_mb)
    try:
        result = grade(args.assignment, args.submissions, workdir, args.db, roster=roster, policy=policy,
                       executor=executor, only=args.only)
    except ValueError as err:
        if not args.only:
            raise
        print(f"regrade refused: {err}", file=sys.stderr)
        return 2
    print(summary_text(result))
    print("grades: ", result.csv_path)
    print("summary:", result.summary_path)
    workdir_files = result.csv_path.parent
    print("canvas: ", workdir_files / f"{result.assignment}_canvas.csv")
    print("moodle: ", workdir_files / f"{result.assignment}_moodle.csv")
    print("report: ", workdir_files / "report" / result.assignment / "index.html")
    return 0


def database_url(db_url: str | None) -> str | None:
    """``db_url`` with a driver SQLAlchemy can load: a plain ``postgresql://`` URL means psycopg 3
    to SQLAlchemy 2.1; the course pins psycopg2 (``psycopg2-binary``), used unless psycopg 3 is installed."""
    if db_url and db_url.startswith(("postgresql://", "postgres://")):
        import importlib.util

        if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
            return "postgresql+psycopg2://" + db_url.split("://", 1)[1]
    return db_url


def check_database(db_url: str | None) -> str | None:
    """None when the gradebook at ``db_url`` (None: the workspace's SQLite file) accepts a
    connection, else one message saying what is wrong, before anything is graded."""
    if not db_url or db_url.startswith("sqlite"):
        return None
    try:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        url = make_url(db_url)
        engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10}
                               if url.get_backend_name() == "postgresql" else {})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except ModuleNotFoundError as err:
        return f"gradebook database: the driver is not installed ({err.name}); for PostgreSQL: pip install psycopg2-binary"
    except Exception as err:  # any refusal: down, wrong password, no such database
        first = str(getattr(err, "orig", None) or err).strip().splitlines()
        where = make_url(db_url).render_as_string(hide_password=True) if "make_url" in locals() else "?"
        return f"gradebook database {where} cannot be used: {first[0] if first else type(err).__name__}"
    return None


def _override(args: argparse.Namespace) -> int:
    from autograder.grading import DEFAULT_WORKDIR
    from autograder.report import add_override

    workdir = (args.workdir or DEFAULT_WORKDIR).resolve()
    args.db = database_url(args.db)
    db_url = args.db or f"sqlite:///{workdir / 'gradebook.db'}"
    problem = check_database(args.db)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    try:
        score = None if args.score.lower() == "clear" else float(args.score)
        entry = add_override(workdir, db_url, args.assignment, args.student, args.cell, score, args.reason)
    except ValueError as err:
        print(f"override refused: {err}", file=sys.stderr)
        return 2
    if not entry.get("applied"):
        print(f"note: {args.student} has no graded submission of {args.assignment} yet; the override is applied "
              f"once they are graded")
    what = "removed" if entry["score"] is None else f"{entry['score']:g} points"
    print(f"override for {args.student}, {args.cell}: {what} ({entry['reason']}); kept in "
          f"{workdir / 'overrides' / (args.assignment + '.json')} and applied after every grade run. "
          f"Run grade again to refresh the CSV, LMS files and report.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
