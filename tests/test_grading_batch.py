"""Batches as an instructor runs them: an LMS zip with a roster through the command line, killed
half-way and resumed; re-runs that grade only what changed; the same batch on a Dask cluster."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder.course import REPO
from autograder.grading import grade
from autograder.intake import read_roster as roster_rows
from autograder.lms import read_roster, unpack
from autograder.synthetic import solution_code, submission, write_submission
from tests.mutants import MUTANTS

pytestmark = pytest.mark.slow
GAN = "gan_theory"


def _canvas_class(tmp_path: Path) -> tuple[Path, Path]:
    """A Canvas zip of 8 submissions (one late, one re-upload renamed '-1', one user not on the
    roster, one stray file) and a roster with one student who handed nothing in."""
    notebooks = {"honest": submission(GAN), "blank": submission(GAN, answers={})}
    for mutant in MUTANTS[GAN][:5]:
        notebooks[mutant.name] = submission(GAN, {**solution_code(GAN), **mutant.answers()})
    roster = ["id,first_name,last_name,email,lms_id"]
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for number, (student, nb) in enumerate(notebooks.items()):
            uid = 1000 + number
            roster.append(f"{student},{student.title()},Student{number},{student}@example.edu,{uid}")
            late = "_LATE" if student == "blank" else ""
            name = f"{GAN}-1.ipynb" if student == "honest" else f"{GAN}.ipynb"
            zf.writestr(f"student{number}{student.replace('-', '')}{late}_{uid}_{50000 + number}_{name}",
                        nbformat.writes(nb))
        zf.writestr(f"stranger_9999_59999_{GAN}.ipynb", nbformat.writes(submission(GAN)))
        zf.writestr("readme.txt", "exported by Canvas")
    roster.append("absent,Absent,Student,absent@example.edu,2000")
    (tmp_path / "roster.csv").write_text("\n".join(roster) + "\n")
    return archive, tmp_path / "roster.csv"


def _rows(path: Path) -> list[list[str]]:
    with open(path) as handle:
        return sorted(csv.reader(handle))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", GAN, *args]


def test_lms_zip_maps_students_and_reports_what_it_cannot(tmp_path):
    archive, roster_path = _canvas_class(tmp_path)
    names = {f"{GAN}.ipynb"}
    imported = unpack(archive, GAN, tmp_path / "out", read_roster(roster_path), names)
    assert len(imported.students) == 7 and imported.late == {"blank"}
    assert (tmp_path / "out" / "honest" / GAN / f"{GAN}.ipynb").is_file(), "re-upload gets its name back"
    assert sorted(u.split(":")[0] for u in imported.unmapped) == ["readme.txt", f"stranger_9999_59999_{GAN}.ipynb"]
    assert "not in the roster" in " ".join(imported.unmapped)
    moodle = tmp_path / "moodle.zip"
    with zipfile.ZipFile(moodle, "w") as zf:
        zf.writestr(f"Honest Student0_1000_assignsubmission_file_/{GAN}.ipynb", "{}")
        zf.writestr(f"Blank Student1_77_assignsubmission_file_{GAN}.ipynb", "{}")
    imported = unpack(moodle, GAN, tmp_path / "moodle", read_roster(roster_path), names)
    assert set(imported.students) == {"honest", "blank"}, "by LMS id, else by name"


def test_killed_batch_resumes_to_the_same_gradebook_and_reruns_skip_unchanged_work(tmp_path):
    archive, roster = _canvas_class(tmp_path)
    reference = tmp_path / "reference"
    result = grade(GAN, unpack(archive, GAN, tmp_path / "plain", read_roster(roster), {f"{GAN}.ipynb"}).folder,
                   reference, roster=roster_rows(roster), feedback=False)
    assert len(result.scores) == 7 and result.missing == ["absent"]

    work = tmp_path / "killed"
    command = _cli(str(archive), "--roster", str(roster), "--workdir", str(work), "--no-feedback")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    reports = work / "reports" / GAN
    deadline = time.monotonic() + 300
    while len(list(reports.glob("*.json"))) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    done_before_kill = len(list(reports.glob("*.json")))
    family = psutil.Process(process.pid).children(recursive=True)
    os.killpg(process.pid, signal.SIGKILL)
    for child in family:
        try:
            child.kill()
        except psutil.Error:
            pass
    process.wait()
    assert 2 <= done_before_kill < 7, f"the kill should land mid-batch ({done_before_kill} graded)"

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{7 - done_before_kill} this run, {done_before_kill} unchanged" in rerun.stdout, rerun.stdout
    assert "UNMAPPED: stranger_9999" in rerun.stdout and "MISSING" in rerun.stdout
    assert "blank" in rerun.stdout and "LATE: marked late by the LMS" in rerun.stdout
    assert _rows(work / f"{GAN}_grades.csv") == _rows(reference / f"{GAN}_grades.csv")

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert "0 this run, 7 unchanged" in again.stdout, again.stdout
    assert _rows(work / f"{GAN}_grades.csv") == _rows(reference / f"{GAN}_grades.csv")


def test_a_changed_submission_is_regraded_and_force_regrades_all(tmp_path):
    folder = tmp_path / "in"
    write_submission(submission(GAN, answers={}), folder, "changer", GAN)
    write_submission(submission(GAN), folder, "steady", GAN)
    first = grade(GAN, folder, tmp_path / "work", feedback=False)
    assert first.scores == {"changer": 0.0, "steady": first.max_score}
    write_submission(submission(GAN), folder, "changer", GAN)
    second = grade(GAN, folder, tmp_path / "work", feedback=False)
    assert second.graded == ["changer"] and second.unchanged == ["steady"]
    assert second.scores == {"changer": first.max_score, "steady": first.max_score}
    third = grade(GAN, folder, tmp_path / "work", feedback=False, force=True)
    assert sorted(third.graded) == ["changer", "steady"]


def test_grading_on_a_dask_cluster_gives_the_same_gradebook(tmp_path):
    """The grader's workers are Dask worker processes sharing the workspace and the SQLite gradebook."""
    distributed = pytest.importorskip("distributed")
    folder = tmp_path / "in"
    write_submission(submission(GAN), folder, "honest", GAN)
    write_submission(submission(GAN, answers={}), folder, "blank", GAN)
    for mutant in MUTANTS[GAN][5:8]:
        write_submission(submission(GAN, {**solution_code(GAN), **mutant.answers()}), folder, mutant.name, GAN)
    local = grade(GAN, folder, tmp_path / "local", feedback=False, workers=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        on_dask = grade(GAN, folder, tmp_path / "dask", feedback=False, executor=client.get_executor(pure=False))
    assert on_dask.scores == local.scores and len(on_dask.scores) == 5
    assert _rows(on_dask.csv_path) == _rows(local.csv_path)
