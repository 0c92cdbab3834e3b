"""Command line: ``python -m autograder {release,grade,check}``.

release   regenerate exercises/ from solutions/ (all assignments or the ones named)
grade     autograde a folder or LMS zip of submissions: gradebook, feedback HTML, CSV, summary
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
                         help="students graded at once (default: one per CPU core; 1 for segmentation)")
    p_grade.add_argument("--scheduler", help="Dask scheduler address: grade on that cluster instead")
    p_grade.add_argument("--cell-timeout", type=int, default=None, help="seconds per cell")
    p_grade.add_argument("--notebook-timeout", type=int, default=None, help="seconds per notebook")
    p_grade.add_argument("--memory-mb", type=int, default=None, help="memory per notebook (MB)")
    p_grade.add_argument("--no-sandbox", action="store_true", help="no namespaces (limits still apply)")
    p_grade.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")

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
    executor = None
    if args.scheduler:
        from distributed import Client

        executor = Client(args.scheduler).get_executor(pure=False)
    policy = policy_for(args.assignment, workers=args.workers, feedback=not args.no_feedback,
                        sandbox=not args.no_sandbox, force=args.force, due=args.due,
                        cell_seconds=args.cell_timeout, notebook_seconds=args.notebook_timeout,
                        memory_mb=args.memory_mb)
    result = grade(args.assignment, args.submissions, workdir, args.db, roster=roster, policy=policy,
                   executor=executor)
    print(summary_text(result))
    print("grades: ", result.csv_path)
    print("summary:", result.summary_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
