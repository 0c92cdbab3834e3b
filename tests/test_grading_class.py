"""Grade a generated class of honest, partial, broken and cheating submissions with real nbgrader in
sandboxed kernels, and check every score, cell by cell, and every flag of the batch summary."""

from __future__ import annotations

import csv
import functools
import shutil
from pathlib import Path
import http.server
import json
import threading

import pytest
from nbgrader.api import Gradebook

from autograder.course import SOLUTIONS
from autograder.policy import Limits
from autograder.grading import grade, summary_text
from autograder.synthetic import solution_code
from tests.attacks import GAN, build_class
from tests.conftest import OUTPUT

pytestmark = pytest.mark.slow
#: Tight limits keep the class quick: a loop is interrupted after 8 s, a kernel above 1 GB is killed.
CLASS_LIMITS = {GAN: Limits(cell_seconds=8, notebook_seconds=120, memory_mb=1024, max_procs=16)}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    workdir = OUTPUT / "grading-class"
    if workdir.exists():
        import shutil

        shutil.rmtree(workdir)
    served = tmp_path_factory.mktemp("served")
    (served / "answer.py").write_text("\n".join(solution_code(GAN).values()))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    victim = OUTPUT / "victim.txt"
    victim.write_text("intact")
    secrets = {"solutions": str(SOLUTIONS / GAN / f"{GAN}.ipynb"), "gradebook": str(workdir / "gradebook.db"),
               "victim_file": str(victim), "solutions_copy": str(_solutions_copy(tmp_path_factory))}
    students = build_class(folder, f"http://127.0.0.1:{server.server_address[1]}", secrets)
    results = {}
    try:
        for assignment in sorted({s.assignment for s in students}):
            results[assignment] = grade(assignment, folder, workdir, limits=CLASS_LIMITS.get(assignment),
                                        due="2026-11-20 23:59:00" if assignment == GAN else None)
    finally:
        server.shutdown()
    with Gradebook(f"sqlite:///{workdir / 'gradebook.db'}") as gb:
        cells = {}
        for student in students:
            try:
                sub = gb.find_submission(student.assignment, student.name)
            except Exception:
                continue
            cells[student.name] = {g.cell.name: (g.score, g.max_score) for nb in sub.notebooks for g in nb.grades}
    return students, results, cells, victim, workdir


def _solutions_copy(tmp_path_factory) -> Path:
    """An instructor's copy of the solutions outside the course folder (a nbgrader source/ tree)."""
    target = tmp_path_factory.mktemp("instructor") / "source" / GAN / f"{GAN}.ipynb"
    target.parent.mkdir(parents=True)
    shutil.copy(SOLUTIONS / GAN / f"{GAN}.ipynb", target)
    return target


def test_the_class_is_big_enough_and_covers_every_assignment_it_claims(graded_class):
    students, results, _, _, _ = graded_class
    assert len(students) >= 30
    assert set(results) == {"autoencoders", "gan_theory", "vae"}


def test_every_graded_student_gets_exactly_the_expected_points(graded_class):
    students, results, cells, _, _ = graded_class
    problems = []
    for student in students:
        if student.error:
            continue
        if student.name not in cells:
            problems.append(f"{student.name}: not graded ({results[student.assignment].errors.get(student.name)})")
            continue
        for test, (score, top) in cells[student.name].items():
            want = 0 if test in student.zero else top
            if score != want:
                problems.append(f"{student.name}: {test} scored {score}/{top}, expected {want}")
    assert problems == [], "\n".join(problems)


def test_every_flag_is_raised_where_expected_and_nowhere_else(graded_class):
    students, results, _, _, _ = graded_class
    problems = []
    for student in students:
        flags = results[student.assignment].flags.get(student.name, [])
        kinds = {f["kind"] for f in flags}
        if not (student.flags <= kinds <= student.flags | student.optional):
            problems.append(f"{student.name}: flags {sorted(kinds)}, expected {sorted(student.flags)}: {flags}")
    assert problems == [], "\n".join(problems)


def test_broken_submissions_get_their_reason_and_nothing_else_stops(graded_class):
    students, results, _, _, _ = graded_class
    for student in students:
        errors = results[student.assignment].errors
        if student.error:
            assert student.error in errors.get(student.name, ""), (student.name, errors.get(student.name))
        else:
            assert student.name not in errors, (student.name, errors[student.name])


def test_summary_lists_late_and_flagged_students_and_the_csv_agrees(graded_class):
    students, results, cells, _, workdir = graded_class
    result = results[GAN]
    assert set(result.late) == {"late"}
    assert result.isolation == "namespaces"
    summary = json.loads(result.summary_path.read_text())
    assert set(summary["late"]) == {"late"} and "patch-allclose" in summary["flags"]
    assert "corrupt" in summary["failed"]
    text = summary_text(result)
    assert "FLAG patch-allclose" in text and "LATE: 10.0 h after the deadline" in text
    with open(result.csv_path) as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert "tampering" in rows["patch-allclose"]["flags"] and rows["honest-0"]["flags"] == ""
    assert float(rows["honest-0"]["score"]) == result.max_score
    assert float(rows["delete-test"]["test_discriminator_loss"]) == 0
    # feedback tells the student why a test that "passed" scored zero
    page = next((workdir / "feedback" / "edit-test" / GAN).glob("*.html")).read_text()
    assert "IntegrityError" in page and "was edited" in page


def test_student_code_cannot_reach_the_network_solutions_or_the_gradebook(graded_class):
    students, results, cells, victim, _ = graded_class
    # zero for the download and read-solutions attempts is checked above; here: nothing was damaged
    assert victim.read_text() == "intact"
    assert cells["vandal"] and all(score == top for score, top in cells["vandal"].values())
    assert all(score == top for score, top in cells["honest-0"].values())


def test_the_class_report_shows_every_student_where_an_instructor_looks(graded_class, browser):
    """The report of the gan_theory batch (well over 40 submissions: honest, wrong, cheating, broken)."""
    students, results, cells, _, workdir = graded_class
    mine = [s for s in students if s.assignment == GAN]
    assert len(mine) >= 40
    report = json.loads((workdir / "report" / GAN / "report.json").read_text())
    listed = {s["student"] for s in report["students"]}
    not_graded = {x["student"] for x in report["problems"]["not_graded"]}
    flagged = {(f["student"], f["kind"]) for f in report["flagged"]}
    failing = {s for t in report["tests"] for f in t["failures"] for s in f["students"]}
    failing |= {s for t in report["tests"] for s in t["other_students"]}     # past the five commonest messages
    for student in mine:
        assert student.name in listed | not_graded, student.name
        if student.error:
            assert student.name in not_graded, student.name
        for kind in student.flags:
            assert (student.name, kind) in flagged, (student.name, kind)
        assert (student.name in failing) == bool(student.zero), student.name
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((workdir / "report" / GAN / "index.html").as_uri(), wait_until="load")
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    text = page.locator("#flagged").inner_text()
    assert "probe-dodger" in text and "memfd-hog" in text
    assert "corrupt" in page.locator("#problems").inner_text()
    page.close()
