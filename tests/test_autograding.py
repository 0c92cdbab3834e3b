"""Real nbgrader grading of every assignment: the solution earns full marks, the untouched release
earns zero, and each plausible wrong answer loses exactly the points of the test aimed at it."""

from __future__ import annotations

import csv

import pytest
from nbgrader.api import Gradebook

from autograder.course import SOLUTIONS, assignments
from autograder.grading import grade
from autograder.synthetic import solution_code, submission, write_submission
from tests.conftest import OUTPUT
from tests.leaks import find_leaks, fingerprints
from tests.mutants import MUTANTS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=assignments())
def graded(request, tmp_path_factory):
    """Grade one batch per assignment: solution, release, and every mutant."""
    name = request.param
    folder = tmp_path_factory.mktemp(f"submissions-{name}")
    write_submission(submission(name), folder, "solution", name)
    write_submission(submission(name, answers={}), folder, "release", name)
    mutants = MUTANTS.get(name, [])
    for mutant in mutants:
        answers = solution_code(name)
        answers.update(mutant.answers())
        write_submission(submission(name, answers), folder, mutant.name, name)
    workdir = OUTPUT / "grading" / name
    result = grade(name, folder, workdir)
    with Gradebook(f"sqlite:///{workdir / 'gradebook.db'}") as gb:
        cells = {}
        for student in ["solution", "release"] + [m.name for m in mutants]:
            sub = gb.find_submission(name, student)
            cells[student] = {g.cell.name: (g.score, g.max_score) for nb in sub.notebooks for g in nb.grades}
    return name, result, cells, mutants, workdir


def test_every_assignment_has_wrong_answers_for_every_graded_cell(graded):
    name, _, cells, mutants, _ = graded
    tests = set(cells["solution"])
    assert tests <= set().union(*(m.losses() for m in mutants)), \
        f"{name}: some test cells have no wrong answer aimed at them"


def test_solution_earns_full_marks(graded):
    _, result, cells, _, _ = graded
    assert result.errors == {}
    assert result.scores["solution"] == result.max_score > 0
    assert all(score == top for score, top in cells["solution"].values())


def test_untouched_release_earns_zero(graded):
    _, result, cells, _, _ = graded
    assert result.scores["release"] == 0
    assert all(score == 0 for score, _ in cells["release"].values())


def test_each_wrong_answer_loses_exactly_its_points(graded):
    _, _, cells, mutants, _ = graded
    problems = []
    for mutant in mutants:
        for test, (score, top) in cells[mutant.name].items():
            if test in mutant.losses() and score != 0:
                problems.append(f"{mutant.name}: {test} should fail but scored {score}/{top}")
            if test not in mutant.losses() and score != top:
                problems.append(f"{mutant.name}: {test} should pass but scored {score}/{top}")
    assert problems == []


def test_csv_matches_the_gradebook(graded):
    _, result, cells, _, _ = graded
    with open(result.csv_path) as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(cells)
    for student, per_cell in cells.items():
        assert float(rows[student]["score"]) == sum(score for score, _ in per_cell.values())
        for test, (score, _) in per_cell.items():
            assert float(rows[student][test]) == score


def test_feedback_explains_failures_without_hidden_tests(graded):
    name, _, cells, mutants, workdir = graded
    for student in cells:
        assert list((workdir / "feedback" / student / name).glob("*.html")), f"no feedback for {student}"
    # Solution lines do show up, in the feedback of students who wrote them; hidden tests never.
    hidden = {key: origin for key, origin in fingerprints(SOLUTIONS).items() if origin.startswith("hidden test")}
    assert find_leaks(workdir / "feedback", hidden) == []
    page = next((workdir / "feedback" / mutants[0].name / name).glob("*.html")).read_text()
    assert "AssertionError" in page and "hidden tests ran here" in page


def test_broken_submissions_get_a_clear_reason_and_the_batch_goes_on(tmp_path):
    """Corrupt JSON, an empty file, a non-notebook and a missing notebook, beside honest work."""
    name = "gan_theory"
    folder = tmp_path / "in"
    write_submission(submission(name), folder, "honest", name)
    write_submission(submission(name), folder, "corrupt", name).write_text('{"cells": [ broken')
    write_submission(submission(name), folder, "empty", name).write_text("")
    write_submission(submission(name), folder, "not-a-notebook", name).write_text('{"hello": "world"}')
    (folder / "missing" / name).mkdir(parents=True)
    (folder / "missing" / name / "notes.txt").write_text("forgot the notebook")
    result = grade(name, folder, tmp_path / "work", feedback=False)
    assert result.scores == {"honest": result.max_score}
    assert set(result.errors) == {"corrupt", "empty", "not-a-notebook", "missing"}
    assert "not valid notebook JSON" in result.errors["corrupt"]
    assert "is empty" in result.errors["empty"]
    assert "not a Jupyter notebook" in result.errors["not-a-notebook"]
    assert "no notebook named gan_theory.ipynb" in result.errors["missing"]
    with open(result.csv_path) as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert rows["corrupt"]["score"] == "0.0" and "damaged" in rows["corrupt"]["error"]


def test_parallel_and_serial_grading_give_identical_gradebooks(tmp_path):
    """Two worker processes (the default on two cores) and one give the same scores, cell by cell."""
    name = "gan_theory"
    folder = tmp_path / "in"
    write_submission(submission(name), folder, "honest", name)
    write_submission(submission(name, answers={}), folder, "blank", name)
    for mutant in MUTANTS[name][:4]:
        answers = solution_code(name)
        answers.update(mutant.answers())
        write_submission(submission(name, answers), folder, mutant.name, name)
    write_submission(submission(name), folder, "corrupt", name).write_text("{ not json")
    tables = []
    for workers in (1, 2):
        result = grade(name, folder, tmp_path / f"work{workers}", feedback=False, workers=workers)
        with open(result.csv_path) as handle:
            tables.append(sorted(csv.reader(handle)))
    assert tables[0] == tables[1]
    assert len(tables[0]) == 1 + 7 and any(row[0] == "corrupt" and "damaged" in row[-1] for row in tables[0])
