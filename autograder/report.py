"""The instructor's view of a graded batch, written by the export stage after every run.

Stages: intake -> policy -> execution -> verdicts -> export. :func:`write_class_files` is the
export stage's last step:

1. **manual overrides** (``python -m autograder override``), kept in the workspace in
   ``overrides/<assignment>.json``, are written into nbgrader's gradebook as the cell's
   ``manual_score`` after every run, so that they survive re-grading; the CSV and summary are
   written again with them;
2. **grades the LMS takes back**: ``<assignment>_canvas.csv`` (Canvas gradebook import: ``Student,
   ID, SIS User ID, SIS Login ID, Section`` then the assignment column, keyed by the Canvas user id
   from the roster's ``lms_id``) and ``<assignment>_moodle.csv`` (Moodle "Import grades / CSV file":
   map from ``Email address`` to the user's email, or from ``ID number``);
3. **the class report** ``report/<assignment>/index.html``: one self-contained page (charts are
   inline PNG images drawn with matplotlib; no script, no network) with the score distribution,
   the pass rate of every test cell, the most common failure messages of each, the submissions
   flagged for review with their evidence (for an edited test cell, a diff against the release),
   late, missing, unmapped and unreadable submissions, time and memory per notebook, overrides and
   who was re-graded in this run; beside it the same data as ``report.json`` and CSV files.

Every CSV cell goes through :func:`autograder.export.spreadsheet_safe`; every text of the page is
HTML-escaped (names and messages come from students).
"""

from __future__ import annotations

import base64
import csv
import difflib
import html
import io
import json
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from autograder.export import GradingResult, read_gradebook, spreadsheet_safe, write_csv, write_summary

#: Flag kinds that change a test cell before anything runs: the report shows a diff against the release.
_CELL_EDITS = ("edited", "retyped", "deleted", "metadata")
_TOP_MESSAGES = 5
#: Flags about the hand-in rather than the code: listed after the others.
_BOOKKEEPING = ("not-on-roster", "duplicate", "locked-edited", "missing-notebook")


# ---------------------------------------------------------------------------- overrides
def overrides_path(workdir: Path, assignment: str) -> Path:
    """Where the manual overrides of ``assignment`` are kept (JSON list, in the workspace)."""
    return Path(workdir) / "overrides" / f"{assignment}.json"


def read_overrides(workdir: Path, assignment: str) -> list[dict]:
    """The overrides of ``assignment``: dicts with ``student, cell, score, reason, at``."""
    try:
        return json.loads(overrides_path(workdir, assignment).read_text())
    except (OSError, ValueError):
        return []


def add_override(workdir: Path, db_url: str, assignment: str, student: str, cell: str, score: float | None,
                 reason: str) -> dict:
    """Record a manual score for one cell of one student (``score`` None removes the override) and
    write it into the gradebook now if the student has a submission. Returns the stored entry with
    ``applied`` (False: no graded submission yet; applied after the student's first grading).

    Raises:
        ValueError: ``cell`` is not a graded cell of ``assignment``, the score is outside
            ``0..max_points``, or the reason is empty.
    """
    from nbgrader.api import Gradebook, MissingEntry

    if not reason.strip():
        raise ValueError("an override needs a reason (--reason)")
    with Gradebook(db_url) as gb:
        try:
            assignment_row = gb.find_assignment(assignment)
        except MissingEntry:
            raise ValueError(f"no assignment {assignment!r} in the gradebook: grade it first") from None
        cells = {c.name: c.max_score for nb in assignment_row.notebooks for c in nb.grade_cells}
    if cell not in cells:
        raise ValueError(f"{cell!r} is not a graded cell of {assignment}; graded cells: {', '.join(cells)}")
    if score is not None and not 0 <= score <= cells[cell]:
        raise ValueError(f"score {score:g} is outside 0..{cells[cell]:g} for {cell}")
    overrides = [o for o in read_overrides(workdir, assignment) if (o["student"], o["cell"]) != (student, cell)]
    entry = {"student": student, "cell": cell, "score": score, "reason": reason.strip(),
             "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    overrides.append(entry)
    path = overrides_path(workdir, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(overrides, indent=1))
    applied = apply_overrides(workdir, db_url, assignment)
    return next(o for o in applied if (o["student"], o["cell"]) == (student, cell))


def apply_overrides(workdir: Path, db_url: str, assignment: str) -> list[dict]:
    """Write every override of ``assignment`` into the gradebook (``manual_score``, which nbgrader
    counts instead of the autograder's score); a removed one (score None) clears it. Returns the
    overrides, each with ``applied`` (False: the student has no graded submission) and the
    autograder's own score ``auto_score``."""
    from nbgrader.api import Gradebook, MissingEntry

    overrides = read_overrides(workdir, assignment)
    if not overrides:
        return []
    with Gradebook(db_url) as gb:
        notebooks = {c.name: nb.name for nb in gb.find_assignment(assignment).notebooks for c in nb.grade_cells}
        for entry in overrides:
            try:
                grade = gb.find_grade(entry["cell"], notebooks[entry["cell"]], assignment, entry["student"])
            except (MissingEntry, KeyError):
                entry["applied"] = False
                continue
            grade.manual_score = entry["score"]
            grade.needs_manual_grade = False
            entry["applied"], entry["auto_score"] = True, grade.auto_score
        gb.db.commit()
    return overrides


# ---------------------------------------------------------------------------- the export stage's last step
def write_class_files(result: GradingResult, db_url: str, roster=None) -> dict[str, Path]:
    """Apply the overrides, then write the LMS grade files and the class report (see the module
    docstring). ``roster``: the batch's :class:`autograder.intake.RosterRow` list, if any.
    Returns the paths written, by name."""
    workdir = result.csv_path.parent
    overrides = apply_overrides(workdir, db_url, result.assignment)
    if overrides:
        read_gradebook(result, db_url)
        write_csv(result)
        write_summary(result)
    paths = write_lms_files(result, roster or [])
    paths.update(write_report(result, workdir, overrides, roster or []))
    if result.summary_path is not None:
        summary = json.loads(result.summary_path.read_text())
        summary.update(overrides=overrides, report=str(paths["html"]),
                       lms={k: str(v) for k, v in paths.items() if k in ("canvas", "moodle")})
        result.summary_path.write_text(json.dumps(summary, indent=1))
    return paths


# ---------------------------------------------------------------------------- LMS grade files
def lms_rows(result: GradingResult, roster) -> list[tuple[str, float, object]]:
    """(student, points, roster row or None) for every student with a grade: graded ones, ungraded
    ones (0) and roster students who handed nothing in (0), as in the grades CSV."""
    by_id = {row.id: row for row in roster}
    points = dict(result.scores)
    points.update({s: 0.0 for s in result.errors if s not in points})
    points.update({s: 0.0 for s in result.missing if s not in points})
    return [(s, points[s], by_id.get(s)) for s in sorted(points)]


def write_lms_files(result: GradingResult, roster) -> dict[str, Path]:
    """``<assignment>_canvas.csv`` and ``<assignment>_moodle.csv`` beside the grades CSV."""
    workdir = result.csv_path.parent
    canvas, moodle = workdir / f"{result.assignment}_canvas.csv", workdir / f"{result.assignment}_moodle.csv"
    rows = lms_rows(result, roster)
    with open(canvas, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", result.assignment])
        # Canvas's own export has this row; its import skips it.
        writer.writerow(["Points Possible", "", "", "", "", spreadsheet_safe(result.max_score)])
        for student, score, row in rows:
            name = f"{row.last_name}, {row.first_name}" if row and row.last_name else student
            # ID: the Canvas user id (roster's lms_id); without a roster intake used it as the student id.
            canvas_id = row.lms_id if row else ("" if roster else student)
            writer.writerow([spreadsheet_safe(v) for v in (name, canvas_id, student, "", "", score)])
    with open(moodle, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["First name", "Last name", "ID number", "Email address", result.assignment])
        for student, score, row in rows:
            writer.writerow([spreadsheet_safe(v) for v in (row.first_name if row else "", row.last_name if row else "",
                                                           student, row.email if row else "", score)])
    return {"canvas": canvas, "moodle": moodle}


# ---------------------------------------------------------------------------- the class report: data
def class_data(result: GradingResult, workdir: Path, overrides: list[dict] | None = None, roster=()) -> dict:
    """Everything the report shows, as plain data (also written as ``report.json``)."""
    reports = workdir / "reports" / result.assignment
    cell_max = _cell_max(workdir, result.assignment)
    per_student = {}
    for student in sorted(set(result.scores) | set(result.errors) | set(result.missing)):
        report = _read_json(reports / f"{student}.json")
        per_student[student] = {
            "student": student, "score": result.scores.get(student),
            "status": ("graded" if student in result.scores else "missing" if student in result.missing
                       else "not graded"),
            "late": result.late.get(student, ""), "error": result.errors.get(student, ""),
            "flags": sorted({f["kind"] for f in result.flags.get(student, [])}),
            "seconds": report.get("seconds"), "memory_peak_mb": report.get("memory_peak_mb"),
            "regraded_now": student in result.graded,
            "cells": result.cell_scores.get(student, {}),
        }
    tests = []
    for cell in result.cells:
        graded = [s for s in result.scores if cell in result.cell_scores.get(s, {})]
        top = cell_max.get(cell, 0.0)
        passed = [s for s in graded if result.cell_scores[s][cell] >= top]
        failures: dict[str, list[str]] = defaultdict(list)
        for student in graded:
            if student not in passed:
                failures[_failure_message(workdir, result, student, cell, overrides or [])].append(student)
        common = sorted(failures.items(), key=lambda item: (-len(item[1]), item[0]))
        tests.append({"cell": cell, "points": top, "graded": len(graded), "passed": len(passed),
                      "pass_rate": round(len(passed) / len(graded), 3) if graded else None,
                      "mean": round(sum(result.cell_scores[s][cell] for s in graded) / len(graded), 3) if graded else None,
                      "failures": [{"message": m, "count": len(who), "students": sorted(who)}
                                   for m, who in common[:_TOP_MESSAGES]],
                      "other_failures": sum(len(who) for _, who in common[_TOP_MESSAGES:]),
                      # everyone else who lost points here, so that no failing student is out of sight
                      "other_students": sorted(s for _, who in common[_TOP_MESSAGES:] for s in who)})
    flagged = []
    for student, flags in sorted(result.flags.items()):
        for flag in flags:
            entry = {"student": student, "kind": flag.get("kind"), "cell": flag.get("cell"),
                     "detail": flag.get("detail", ""), "notebook": flag.get("notebook", "")}
            if flag.get("kind") in _CELL_EDITS and flag.get("cell"):
                entry["diff"] = _cell_diff(workdir, result.assignment, student, flag["cell"], flag.get("notebook"))
            flagged.append(entry)
    # What may be cheating or broke the notebook first; bookkeeping flags of intake last.
    flagged.sort(key=lambda f: (f["kind"] in _BOOKKEEPING, f["student"]))
    timed = [s for s in per_student.values() if s["seconds"] is not None]
    scores = sorted(result.scores.values())
    return {
        "assignment": result.assignment, "max_score": result.max_score,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "counts": {"graded": len(result.scores), "graded_this_run": len(result.graded),
                   "unchanged": len(result.unchanged), "not_graded": len([s for s in result.errors if s not in result.scores]),
                   "late": len(result.late), "missing": len(result.missing), "unmapped": len(result.unmapped),
                   "flagged": len(result.flags)},
        "scores": {"mean": round(sum(scores) / len(scores), 3) if scores else None,
                   "median": scores[len(scores) // 2] if scores else None,
                   "full_marks": sum(1 for s in scores if s >= result.max_score > 0),
                   "zero": sum(1 for s in scores if s == 0)},
        "students": list(per_student.values()),
        "tests": tests,
        "flagged": flagged,
        "problems": {
            "not_graded": [{"student": s, "reason": r} for s, r in sorted(result.errors.items())
                           if s not in result.scores],
            "late": [{"student": s, "how": h} for s, h in sorted(result.late.items())],
            "missing": sorted(result.missing),
            "unmapped": list(result.unmapped),
            "skipped": [dict(item) for item in result.skipped if item.get("kind") != "junk"],
        },
        "slowest": sorted(timed, key=lambda s: -s["seconds"])[:10],
        "largest": sorted([s for s in timed if s["memory_peak_mb"]], key=lambda s: -s["memory_peak_mb"])[:10],
        "overrides": list(overrides or []),
        "regraded": sorted(result.graded),
        "data_problems": list(result.data_problems),
    }


def _failure_message(workdir: Path, result: GradingResult, student: str, cell: str, overrides: list[dict]) -> str:
    """Why ``cell`` lost points for ``student``: a manual override's reason, else the check's
    message, else the error the cell shows in the autograded notebook (not run, integrity, kernel
    died), else a flag on that cell."""
    for entry in overrides:
        if (entry["student"], entry["cell"]) == (student, cell) and entry.get("applied") and entry["score"] is not None:
            return _short(f"manual override: {entry['reason']}")
    report = _read_json(workdir / "reports" / result.assignment / f"{student}.json")
    verdict = (report.get("verdicts") or {}).get(cell)
    if verdict and not verdict.get("passed") and verdict.get("message"):
        return _short(verdict["message"])
    for nb_path in sorted((workdir / "autograded" / student / result.assignment).glob("*.ipynb")):
        for c in _read_json(nb_path).get("cells", []):
            if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == cell:
                errors = [o for o in c.get("outputs", []) if o.get("output_type") == "error"]
                if errors:
                    return _short(f"{errors[-1].get('ename')}: {errors[-1].get('evalue')}")
    for flag in result.flags.get(student, []):
        if flag.get("cell") == cell:
            return _short(f"{flag['kind']}: {flag.get('detail', '')}")
    return "lost points (no message)"


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _cell_max(workdir: Path, assignment: str) -> dict[str, float]:
    out = {}
    for path in sorted((workdir / "release" / assignment).glob("*.ipynb")):
        for c in _read_json(path).get("cells", []):
            meta = c.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade"):
                out[meta["grade_id"]] = float(meta.get("points", 0))
    return out


def _cell_diff(workdir: Path, assignment: str, student: str, cell: str, notebook: str | None) -> str:
    """Unified diff of a test cell: the release's source against what the student handed in (the
    file intake accepted, before any repair)."""
    def source_of(path: Path) -> str | None:
        for c in _read_json(path).get("cells", []):
            if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == cell:
                text = c.get("source", "")
                return "".join(text) if isinstance(text, list) else text
        return None

    names = [notebook] if notebook else [p.name for p in (workdir / "release" / assignment).glob("*.ipynb")]
    for name in names:
        released = source_of(workdir / "release" / assignment / name)
        if released is None:
            continue
        handed_in = source_of(workdir / "imported" / assignment / student / assignment / name)
        lines = difflib.unified_diff(released.splitlines(), (handed_in or "").splitlines(),
                                     f"release/{name} [{cell}]",
                                     f"{student}/{name} [{cell}]" + ("" if handed_in is not None else " (no such cell)"),
                                     lineterm="")
        return "\n".join(lines) or "(same source: the cell's type or metadata changed)"
    return ""


def _read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


# ---------------------------------------------------------------------------- the class report: files
def write_report(result: GradingResult, workdir: Path, overrides: list[dict] | None = None, roster=()
                 ) -> dict[str, Path]:
    """Write ``report/<assignment>/``: ``index.html``, ``report.json``, ``students.csv``,
    ``tests.csv``, ``failures.csv``, ``flags.csv``."""
    data = class_data(result, workdir, overrides, roster)
    folder = workdir / "report" / result.assignment
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(data, indent=1))
    _write_table(folder / "students.csv", ["student", "status", "score", "late", "error", "flags", "seconds",
                                           "memory_peak_mb", "regraded_now"],
                 [{**s, "flags": " ".join(s["flags"])} for s in data["students"]])
    _write_table(folder / "tests.csv", ["cell", "points", "graded", "passed", "pass_rate", "mean"], data["tests"])
    _write_table(folder / "failures.csv", ["cell", "message", "count", "students"],
                 [{"cell": t["cell"], **f, "students": " ".join(f["students"])} for t in data["tests"]
                  for f in t["failures"]])
    _write_table(folder / "flags.csv", ["student", "kind", "cell", "notebook", "detail", "diff"], data["flagged"])
    page = folder / "index.html"
    page.write_text(render_html(data))
    return {"html": page, "json": folder / "report.json"}


def _write_table(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([spreadsheet_safe(row.get(c)) for c in columns])


# ---------------------------------------------------------------------------- the class report: page
def _png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _charts(data: dict) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts = {}
    scores = [s["score"] for s in data["students"] if s["score"] is not None]
    fig, ax = plt.subplots(figsize=(6, 2.8))
    top = data["max_score"] or 1
    ax.hist(scores, bins=[i * top / 10 for i in range(11)], color="#4477aa", edgecolor="white")
    ax.set_xlabel(f"score (of {top:g})")
    ax.set_ylabel("students")
    ax.set_title(f"Score distribution ({len(scores)} graded)")
    charts["scores"] = _png(fig)
    if data["tests"]:
        fig, ax = plt.subplots(figsize=(6, 0.45 * len(data["tests"]) + 1))
        names = [t["cell"] for t in data["tests"]][::-1]
        rates = [100 * (t["pass_rate"] or 0) for t in data["tests"]][::-1]
        ax.barh(names, rates, color=["#cc6677" if r < 50 else "#ddcc77" if r < 80 else "#117733" for r in rates])
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of graded students with full points")
        ax.set_title("Pass rate per test cell")
        charts["tests"] = _png(fig)
    timed = [s for s in data["students"] if s["seconds"] is not None]
    if timed:
        fig, ax = plt.subplots(figsize=(6, 2.8))
        ax.scatter([s["seconds"] for s in timed], [s["memory_peak_mb"] or 0 for s in timed], color="#4477aa", s=14)
        ax.set_xlabel("seconds per notebook (grading and feedback)")
        ax.set_ylabel("peak memory (MB)")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.set_title("Time and memory per notebook")
        charts["resources"] = _png(fig)
    return charts


def render_html(data: dict) -> str:
    """The report page: self-contained (inline CSS and PNG images, no script, nothing fetched)."""
    e = html.escape
    charts = _charts(data)

    def table(columns: list[str], rows: list[list], cls: str = "") -> str:
        head = "".join(f"<th>{e(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{cell if isinstance(cell, _Raw) else e(_fmt(cell))}</td>"
                                        for cell in row) + "</tr>" for row in rows)
        return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def image(name: str, alt: str) -> str:
        return f'<img src="{charts[name]}" alt="{e(alt)}">' if name in charts else "<p>(no data)</p>"

    c = data["counts"]
    parts = [f"<h1>Class report: {e(data['assignment'])}</h1>",
             f"<p class='meta'>Written {e(data['written'])}. Maximum score {data['max_score']:g}.</p>",
             '<ul class="counts" id="counts">' + "".join(f"<li><b>{v}</b> {e(k.replace('_', ' '))}</li>"
                                                         for k, v in c.items()) + "</ul>"]
    s = data["scores"]
    parts += ['<section id="distribution"><h2>Score distribution</h2>', image("scores", "score histogram"),
              f"<p>mean {_fmt(s['mean'])}, median {_fmt(s['median'])}, {s['full_marks']} with full marks, "
              f"{s['zero']} with zero.</p></section>"]
    parts += ['<section id="tests"><h2>Test cells: pass rate and most common failures</h2>',
              image("tests", "pass rate per test cell")]
    for t in data["tests"]:
        rate = "n/a" if t["pass_rate"] is None else f"{100 * t['pass_rate']:.0f}%"
        parts.append(f'<h3 id="test-{e(t["cell"])}">{e(t["cell"])} — {rate} pass '
                     f'({t["passed"]}/{t["graded"]}, {t["points"]:g} points)</h3>')
        if t["failures"]:
            parts.append(table(["failure message", "students", "who"],
                               [[f["message"], f["count"], ", ".join(f["students"])] for f in t["failures"]]))
            if t["other_failures"]:
                parts.append(f"<p>and {t['other_failures']} more with other messages: "
                             f"{e(', '.join(t['other_students']))}.</p>")
    parts.append("</section>")
    parts.append('<section id="flagged"><h2>Flagged for review</h2>')
    if data["flagged"]:
        for f in data["flagged"]:
            where = f" in cell <code>{e(f['cell'])}</code>" if f.get("cell") else ""
            parts.append(f'<div class="flag" data-student="{e(f["student"])}"><p><b>{e(f["student"])}</b>: '
                         f'<span class="kind">{e(f["kind"])}</span>{where}: {e(f["detail"])}</p>')
            if f.get("diff"):
                parts.append(f'<pre class="diff">{_diff_html(f["diff"])}</pre>')
            parts.append("</div>")
    else:
        parts.append("<p>No submission was flagged.</p>")
    parts.append("</section>")
    p = data["problems"]
    parts.append('<section id="problems"><h2>Not graded, late, missing, unmapped</h2>')
    parts.append("<h3>Not graded (unreadable or refused)</h3>" + (table(["student", "reason"], [[x["student"], x["reason"]]
                 for x in p["not_graded"]]) if p["not_graded"] else "<p>none</p>"))
    parts.append("<h3>Late</h3>" + (table(["student", "how late"], [[x["student"], x["how"]] for x in p["late"]])
                                    if p["late"] else "<p>none</p>"))
    parts.append("<h3>Missing (on the roster, nothing handed in)</h3>" +
                 (table(["student"], [[m] for m in p["missing"]]) if p["missing"] else "<p>none</p>"))
    parts.append("<h3>Unmapped files</h3>" + (table(["file"], [[u] for u in p["unmapped"]]) if p["unmapped"] else "<p>none</p>"))
    parts.append("<h3>Files not graded</h3>" + (table(["file", "kind", "student", "reason"],
                 [[x.get("path"), x.get("kind"), x.get("student"), x.get("reason")] for x in p["skipped"]])
                 if p["skipped"] else "<p>none</p>"))
    parts.append("</section>")
    parts += ['<section id="resources"><h2>Time and memory per notebook</h2>', image("resources", "time and memory"),
              "<h3>Slowest</h3>", table(["student", "seconds", "peak memory (MB)"],
                                        [[x["student"], x["seconds"], x["memory_peak_mb"]] for x in data["slowest"]]),
              "<h3>Largest</h3>", table(["student", "peak memory (MB)", "seconds"],
                                        [[x["student"], x["memory_peak_mb"], x["seconds"]] for x in data["largest"]]),
              "</section>"]
    parts.append('<section id="overrides"><h2>Manual overrides and re-grading</h2>')
    parts.append(table(["student", "cell", "score", "autograder's score", "reason", "when", "applied"],
                       [[o["student"], o["cell"], "removed" if o["score"] is None else o["score"], o.get("auto_score"),
                         o["reason"], o["at"], o.get("applied")] for o in data["overrides"]])
                 if data["overrides"] else "<p>No manual override.</p>")
    parts.append(f"<p>Graded in this run: {e(', '.join(data['regraded'])) or 'nobody (all unchanged)'}.</p></section>")
    cells = [t["cell"] for t in data["tests"]]
    overridden = {(o["student"], o["cell"]) for o in data["overrides"] if o.get("applied")}
    rows = []
    for st in data["students"]:
        marks = [_Raw(f'{e(_fmt(st["cells"].get(cell)))}<sup title="manual override">M</sup>')
                 if (st["student"], cell) in overridden else st["cells"].get(cell) for cell in cells]
        rows.append([st["student"], st["status"], st["score"], *marks, " ".join(st["flags"]), st["late"],
                     st["error"], st["seconds"], st["memory_peak_mb"]])
    parts += ['<section id="students"><h2>Every student</h2>',
              table(["student", "status", "score", *cells, "flags", "late", "error", "seconds", "memory MB"], rows,
                    "students"), "</section>"]
    if data["data_problems"]:
        parts.append("<section><h2>Data problems</h2><ul>" + "".join(f"<li>{e(x)}</li>" for x in data["data_problems"])
                     + "</ul></section>")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
            f"style-src 'unsafe-inline'\"><title>{e(data['assignment'])}: class report</title>"
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n")


class _Raw(str):
    """HTML already escaped."""


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _diff_html(diff: str) -> str:
    out = []
    for line in diff.splitlines():
        cls = "add" if line.startswith("+") and not line.startswith("+++") else \
            "del" if line.startswith("-") and not line.startswith("---") else ""
        out.append(f'<span class="{cls}">{html.escape(line)}</span>' if cls else html.escape(line))
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
th{background:#f0f0f0}.counts{display:flex;flex-wrap:wrap;gap:1em;list-style:none;padding:0}
.counts li{background:#f4f4f4;padding:.3em .6em;border-radius:4px}.flag{border-left:4px solid #cc6677;padding-left:.6em}
pre.diff{background:#fafafa;border:1px solid #ddd;padding:.5em;overflow-x:auto}.add{color:#117733}.del{color:#aa3377}
.kind{font-weight:bold;color:#aa3377}img{max-width:100%}.meta{color:#666}
"""
