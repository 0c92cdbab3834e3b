"""The class report, the LMS exports, re-grading one student and manual overrides, on one graded
batch of gan_theory (a mix of correct, wrong, cheating and broken notebooks), opened in a browser."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.synthetic import solution_code, submission, write_submission
from tests.attacks import GAN, _append, _cells_by_id
from tests.conftest import OUTPUT, REPO
from tests.mutants import MUTANTS

pytestmark = pytest.mark.slow


def build_mix(folder: Path) -> dict[str, str]:
    """Write a small class of gan_theory into ``folder``; return student -> what they did."""
    kinds: dict[str, str] = {}

    def add(name: str, kind: str, nb) -> Path:
        kinds[name] = kind
        return write_submission(nb, folder, name, GAN)

    for i in range(3):
        add(f"honest-{i}", "correct", submission(GAN))
    add("blank", "wrong", submission(GAN, answers={}))
    for mutant in MUTANTS[GAN][:2]:
        add(f"mistake-{mutant.name}", "wrong", submission(GAN, {**solution_code(GAN), **mutant.answers()}))
    add("late", "late", submission(GAN))
    (folder / "late" / GAN / "timestamp.txt").write_text("2026-11-21 10:00:00")
    nb = submission(GAN)
    nb.cells[_cells_by_id(nb)["test_js_divergence"]].source = "pass\n"
    add("edit-test", "cheat", nb)
    add("patch-allclose", "cheat", submission(GAN, _append("optimal_discriminator",
                                                          "import torch\ntorch.allclose = lambda *a, **k: True")))
    add("os-exit", "broken", submission(GAN, _append("discriminator_loss", "import os\nos._exit(0)")))
    add("corrupt", "unreadable", submission(GAN))
    (folder / "corrupt" / GAN / f"{GAN}.ipynb").write_text('{"cells": [ broken')
    add("wrong-name", "unreadable", submission(GAN))
    (folder / "wrong-name" / GAN / f"{GAN}.ipynb").rename(folder / "wrong-name" / GAN / "my_work.ipynb")
    return kinds


ROSTER = """id,first_name,last_name,email,lms_id
honest-0,Ada,Lovelace,ada@example.org,1001
honest-1,"=HYPERLINK(""http://evil/"")",Evil,evil@example.org,1002
blank,Bo,Blank,bo@example.org,1003
absent,Al,Absent,al@example.org,1004
"""
LIMITS = dict(cell_seconds=8, notebook_seconds=120, memory_mb=1024)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """One class graded twice: the whole batch, then (after a manual override and a student's
    corrected re-upload) a regrade of that student alone. Every test reads these two runs."""
    from autograder.grading import grade
    from autograder.intake import read_roster
    from autograder.report import add_override

    folder = tmp_path_factory.mktemp("class")
    kinds = build_mix(folder)
    roster_file = folder.parent / "roster.csv"
    roster_file.write_text(ROSTER)
    roster = read_roster(roster_file)
    workdir = OUTPUT / "grading-report"
    shutil.rmtree(workdir, ignore_errors=True)
    db_url = f"sqlite:///{workdir / 'gradebook.db'}"
    first = grade(GAN, folder, workdir, roster=roster, due="2026-11-20 23:59:00", workers=2, **LIMITS)
    first_report = json.loads((workdir / "report" / GAN / "report.json").read_text())
    add_override(workdir, db_url, GAN, "edit-test", "test_js_divergence", 2.0, "edited by a notebook extension")
    reports = workdir / "reports" / GAN
    before = {p.name: p.stat().st_mtime_ns for p in reports.glob("*.json")}
    for name in ("mistake-optimal-d-ratio", "mistake-optimal-d-swapped"):   # both re-upload a corrected notebook
        write_submission(submission(GAN), folder, name, GAN)
    second = grade(GAN, folder, workdir, roster=roster, due="2026-11-20 23:59:00", workers=2,
                   only=["mistake-optimal-d-ratio"], **LIMITS)
    after = {p.name: p.stat().st_mtime_ns for p in reports.glob("*.json")}
    report = json.loads((workdir / "report" / GAN / "report.json").read_text())
    return dict(kinds=kinds, first=first, second=second, first_report=first_report, report=report, workdir=workdir,
                before=before, after=after, db_url=db_url)


def _student(report: dict, name: str) -> dict:
    return next(s for s in report["students"] if s["student"] == name)


def test_every_kind_of_submission_is_where_an_instructor_looks(batch):
    report = batch["first_report"]
    tests = {t["cell"]: t for t in report["tests"]}
    failing = {t["cell"]: {s: f["message"] for f in t["failures"] for s in f["students"]} for t in report["tests"]}
    # correct work: full marks, nowhere else
    for name in ("honest-0", "honest-1", "honest-2"):
        assert _student(report, name)["score"] == report["max_score"]
        assert all(name not in who for who in failing.values())
    # wrong work: under the test it fails, with the check's own message
    assert set(tests) == {"test_optimal_discriminator", "test_js_divergence", "test_discriminator_loss",
                          "test_generator_loss"}
    assert "NotImplementedError" in failing["test_generator_loss"]["blank"]
    for name in ("mistake-optimal-d-ratio", "mistake-optimal-d-swapped"):
        assert "NotImplementedError" not in failing["test_optimal_discriminator"][name]
    assert tests["test_optimal_discriminator"]["pass_rate"] < tests["test_generator_loss"]["pass_rate"]
    # cheats: flagged with the evidence; an edited test cell with its diff against the release
    flagged = {(f["student"], f["kind"]): f for f in report["flagged"]}
    edit = flagged[("edit-test", "edited")]
    assert edit["cell"] == "test_js_divergence"
    assert "+pass" in edit["diff"] and any(line.startswith("-") and "js_divergence(" in line
                                           for line in edit["diff"].splitlines())
    assert "replaced" in flagged[("patch-allclose", "tampering")]["detail"]
    assert "IntegrityError" in failing["test_js_divergence"]["edit-test"]
    # broken: the kernel exit is flagged, later tests say they were not run
    assert ("os-exit", "exit") in flagged and "not run" in failing["test_generator_loss"]["os-exit"]
    # unreadable, late, missing
    not_graded = {x["student"]: x["reason"] for x in report["problems"]["not_graded"]}
    assert "not valid notebook JSON" in not_graded["corrupt"] and "my_work.ipynb" in not_graded["wrong-name"]
    assert [x["student"] for x in report["problems"]["late"]] == ["late"]
    assert report["problems"]["missing"] == ["absent"]
    assert {x["student"] for x in report["problems"]["skipped"]} >= {"corrupt", "wrong-name"}
    # time and memory of every graded notebook; the slowest and largest listed
    for name, kind in batch["kinds"].items():
        if kind != "unreadable":
            student = _student(report, name)
            assert student["seconds"] > 0 and student["memory_peak_mb"] > 50, student
    assert report["slowest"] and report["largest"][0]["memory_peak_mb"] >= report["largest"][-1]["memory_peak_mb"]
    assert report["counts"]["graded"] == 10 and report["counts"]["not_graded"] == 2


def test_report_files_are_written_beside_the_page(batch):
    folder = batch["workdir"] / "report" / GAN
    with open(folder / "tests.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and all(0 <= float(r["pass_rate"]) <= 1 for r in rows)
    with open(folder / "flags.csv") as handle:
        assert any(r["kind"] == "edited" and "+pass" in r["diff"] for r in csv.DictReader(handle))
    page = (folder / "index.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_lms_files_use_the_lms_identifiers_and_columns(batch):
    workdir = batch["workdir"]
    with open(workdir / f"{GAN}_canvas.csv") as handle:
        canvas = list(csv.reader(handle))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", GAN]
    assert canvas[1][0] == "Points Possible" and float(canvas[1][5]) == 8
    by_id = {row[1]: row for row in canvas[2:]}
    assert by_id["1001"][0] == "Lovelace, Ada" and float(by_id["1001"][5]) == 8
    assert float(by_id["1003"][5]) == 0 and float(by_id["1004"][5]) == 0        # blank, and absent
    assert {row[2] for row in canvas[2:]} >= set(batch["kinds"]) | {"absent"}
    with open(workdir / f"{GAN}_moodle.csv") as handle:
        moodle = list(csv.DictReader(handle))
    assert list(moodle[0]) == ["First name", "Last name", "ID number", "Email address", GAN]
    by_email = {row["Email address"]: row for row in moodle if row["Email address"]}
    assert float(by_email["ada@example.org"][GAN]) == 8
    assert by_email["evil@example.org"]["First name"].startswith("'=")          # no formula runs


def test_regrade_of_one_student_leaves_the_others_alone(batch):
    second, before, after = batch["second"], batch["before"], batch["after"]
    assert second.graded == ["mistake-optimal-d-ratio"]
    assert {name for name in after if after[name] != before.get(name)} == {"mistake-optimal-d-ratio.json"}
    assert second.scores["mistake-optimal-d-ratio"] == 8
    assert second.scores["mistake-optimal-d-swapped"] == 7        # its re-upload waits for the next batch
    report = batch["report"]
    assert report["regraded"] == ["mistake-optimal-d-ratio"] and _student(report, "mistake-optimal-d-ratio")["regraded_now"]
    assert report["counts"]["graded"] == 10 and report["problems"]["missing"] == ["absent"]


def test_manual_override_survives_the_next_run_and_is_shown(batch):
    from nbgrader.api import Gradebook

    second, report = batch["second"], batch["report"]
    assert batch["first"].scores["edit-test"] == 6 and second.scores["edit-test"] == 8
    assert second.cell_scores["edit-test"]["test_js_divergence"] == 2
    with Gradebook(batch["db_url"]) as gb:
        grade = gb.find_grade("test_js_divergence", GAN, GAN, "edit-test")
        assert grade.manual_score == 2 and grade.auto_score == 0
    [override] = report["overrides"]
    assert override["applied"] and override["auto_score"] == 0 and override["reason"] == "edited by a notebook extension"
    with open(batch["workdir"] / f"{GAN}_grades.csv") as handle:
        row = next(r for r in csv.DictReader(handle) if r["student_id"] == "edit-test")
    assert float(row["score"]) == 8
    page = (batch["workdir"] / "report" / GAN / "index.html").read_text()
    assert 'title="manual override"' in page and "edited by a notebook extension" in page


def test_override_command_refuses_unknown_cells_and_scores(batch):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    base = [sys.executable, "-m", "autograder", "override", GAN, "blank"]
    for cell, score in (("test_nope", "1"), ("test_js_divergence", "9")):
        run = subprocess.run([*base, cell, score, "--reason", "x", "--workdir", str(batch["workdir"])], env=env,
                             capture_output=True, text=True)
        assert run.returncode == 2 and "override refused" in run.stderr


def test_the_report_opens_in_a_browser(batch, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, requests = [], []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda r: requests.append(r.url))
    path = batch["workdir"] / "report" / GAN / "index.html"
    page.goto(path.as_uri(), wait_until="load")
    assert not errors
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert len(widths) == 3 and min(widths) > 100
    for section in ("distribution", "tests", "flagged", "problems", "resources", "overrides", "students"):
        assert page.locator(f"#{section}").is_visible()
    assert page.locator(".flag[data-student='edit-test'] pre.diff .add").first.inner_text() == "+pass"
    assert page.locator("#problems").inner_text().count("corrupt") >= 1
    rows = page.locator("table.students tbody tr").count()
    assert rows == 13                                  # 10 graded, 2 unreadable, 1 missing
    (OUTPUT / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "screenshots" / "class-report.png"), full_page=True)
    page.close()
