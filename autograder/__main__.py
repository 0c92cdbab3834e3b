"""Command line: ``python -m autograder {release,grade,check}``.

release   regenerate exercises/ from solutions/ (all assignments or the ones named)
grade     autograde a folder or LMS zip of submissions: gradebook, feedback HTML, CSV, summary
check     run a student's notebook the way the grader will, with the visible tests
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import warnings
from pathlib import Path

from autograder.course import EXERCISES, assignments, generate_release, python_env


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
        return _grade(args)
    if args.command == "check":
        return _check(args.notebook)
    return 2


def _check(notebook: Path) -> int:
    """nbgrader validate (visible tests, as submitted), plus the grader's checks of the test cells."""
    import nbformat

    from autograder.integrity import attacked_cells, inspect, release_grade_ids

    # nbgrader validate executes the notebook as submitted and reports failing visible tests,
    # but exits 0 either way: the exit status here says whether the notebook passed.
    result = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(notebook)],
                            env=python_env(), capture_output=True, text=True)
    print(result.stdout, end="")
    passed = result.returncode == 0 and "Success!" in result.stdout
    if not passed and result.stderr.strip() and "VALIDATION FAILED" not in result.stdout:
        print(result.stderr.strip().splitlines()[-1], file=sys.stderr)
    release = EXERCISES / notebook.stem / notebook.name
    if release.is_file():
        try:
            _, findings = inspect(nbformat.read(notebook, as_version=4), nbformat.read(release, as_version=4),
                                  {k: v for k, v in release_grade_ids(EXERCISES).items() if k != notebook.stem})
        except Exception:  # validate has already said what is wrong with an unreadable notebook
            findings = []
        for finding in findings:
            print(f"WARNING ({finding.kind}): {finding.detail}")
        if attacked_cells(findings) or any(f.kind == "wrong-assignment" for f in findings):
            print("The grader will give zero to the test cells above: download a fresh copy of them.")
            passed = False
    return 0 if passed else 1


def _grade(args: argparse.Namespace) -> int:
    from autograder.course import limits_for
    from autograder.grading import DEFAULT_WORKDIR, grade, summary_text
    from autograder.lms import read_roster, unpack

    workdir = (args.workdir or DEFAULT_WORKDIR).resolve()
    roster = read_roster(args.roster) if args.roster else None
    submissions, unmapped, late = args.submissions, [], set()
    if args.submissions.suffix.lower() == ".zip":
        names = {p.name for p in (EXERCISES / args.assignment).glob("*.ipynb")}
        imported = unpack(args.submissions, args.assignment, workdir / "imported" / args.assignment, roster, names)
        submissions, unmapped, late = imported.folder, imported.unmapped, imported.late
    executor = None
    if args.scheduler:
        from distributed import Client

        executor = Client(args.scheduler).get_executor(pure=False)
    limits = limits_for(args.assignment, cell_seconds=args.cell_timeout, notebook_seconds=args.notebook_timeout,
                        memory_mb=args.memory_mb)
    result = grade(args.assignment, submissions, workdir, args.db, feedback=not args.no_feedback,
                   workers=args.workers, limits=limits, force=args.force, executor=executor, due=args.due,
                   unmapped=unmapped, sandbox=not args.no_sandbox, roster=roster, lms_late=late)
    print(summary_text(result))
    print("grades: ", result.csv_path)
    print("summary:", result.summary_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
