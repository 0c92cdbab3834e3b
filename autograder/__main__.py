"""Command line: ``python -m autograder {release,grade,check}``.

release   regenerate exercises/ from solutions/ (all assignments or the ones named)
grade     autograde a folder of submissions: gradebook, feedback HTML, CSV
check     run a student's notebook the way the grader will, with the visible tests
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import warnings
from pathlib import Path

from autograder.course import assignments, generate_release, python_env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p_release = sub.add_parser("release", help="regenerate exercises/ from solutions/")
    p_release.add_argument("assignment", nargs="*", help="assignments (default: all)")

    p_grade = sub.add_parser("grade", help="autograde a folder of submissions")
    p_grade.add_argument("assignment")
    p_grade.add_argument("submissions", type=Path, help="folder with one sub-folder per student")
    p_grade.add_argument("--workdir", type=Path, default=None, help="grading workspace (default: grading/)")
    p_grade.add_argument("--db", default=None, help="gradebook SQLAlchemy URL (default: SQLite in the workspace)")
    p_grade.add_argument("--cell-timeout", type=int, default=None, help="seconds per cell")
    p_grade.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    p_grade.add_argument("--workers", type=int, default=None,
                         help="students graded at once (default: one per CPU core; 1 for segmentation)")

    p_check = sub.add_parser("check", help="validate a notebook with its visible tests (nbgrader validate)")
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
        from autograder.grading import DEFAULT_WORKDIR, grade

        result = grade(args.assignment, args.submissions, args.workdir or DEFAULT_WORKDIR, args.db,
                       args.cell_timeout, feedback=not args.no_feedback, workers=args.workers)
        for student, score in sorted(result.scores.items()):
            print(f"{student:24s} {score:6.1f} / {result.max_score:g}")
        for student, reason in sorted(result.errors.items()):
            print(f"{student:24s} ERROR: {reason}")
        print("grades:", result.csv_path)
        return 0
    if args.command == "check":
        # nbgrader validate executes the notebook as submitted and reports failing visible tests,
        # but exits 0 either way: the exit status here says whether the notebook passed.
        result = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(args.notebook)],
                                env=python_env(), capture_output=True, text=True)
        print(result.stdout, end="")
        passed = result.returncode == 0 and "Success!" in result.stdout
        if not passed and result.stderr.strip() and "VALIDATION FAILED" not in result.stdout:
            print(result.stderr.strip().splitlines()[-1], file=sys.stderr)
        return 0 if passed else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
