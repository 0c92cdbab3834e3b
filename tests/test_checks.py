"""The hidden checks themselves, graded in-process (no kernel, seconds): for every assignment with a
``solutions/<a>/checks.py``, the instructor's solution passes every check, the untouched release
passes none, each plausible wrong answer (tests/mutants.py) fails exactly the checks aimed at it, and
each alternative correct answer (tests/answers.py) passes them all.

The end-to-end tests (tests/test_autograding.py) run the same checks through real nbgrader and
sandboxed kernels; here the data takes the same road (autograder.bridge encoding), only without a
kernel process in between.
"""

from __future__ import annotations

import pytest

from autograder.checks import checks_file, run_checks_locally
from autograder.course import assignments
from autograder.synthetic import notebook_namespace, solution_code
from tests.answers import ALTERNATIVES
from tests.answers_blind import BLIND
from tests.mutants import MUTANTS

CHECKED = [a for a in assignments() if checks_file(a).is_file()]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors: one thread is faster, and does not fight other processes for the cores."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def _verdicts(assignment: str, answers: dict[str, str] | None):
    return run_checks_locally(assignment, notebook_namespace(assignment, answers))


def _failed(verdicts) -> dict[str, str]:
    return {g: v.message for g, v in verdicts.items() if not v.passed}


@pytest.mark.parametrize("assignment", CHECKED)
def test_solution_passes_every_check(assignment):
    assert _failed(_verdicts(assignment, None)) == {}


@pytest.mark.parametrize("assignment", CHECKED)
def test_release_passes_no_check(assignment):
    verdicts = _verdicts(assignment, {})
    assert [g for g, v in verdicts.items() if v.passed] == []


@pytest.mark.parametrize("assignment", CHECKED)
def test_each_wrong_answer_fails_exactly_its_checks(assignment):
    problems = []
    for mutant in MUTANTS.get(assignment, []):
        if getattr(mutant, "needs_sandbox", False):
            continue                       # graded by tests/test_autograding.py, in the sandbox
        answers = solution_code(assignment)
        answers.update(mutant.answers())
        failed = _failed(_verdicts(assignment, answers))
        if set(failed) != mutant.losses():
            problems.append(f"{mutant.name}: failed {sorted(failed)}, expected {sorted(mutant.losses())}")
    assert problems == []


@pytest.mark.parametrize("assignment", CHECKED)
def test_each_alternative_correct_answer_passes(assignment):
    """Ours and the blind ones (tests/answers_blind.py: written from the student notebook alone)."""
    problems = []
    for answer in ALTERNATIVES.get(assignment, []) + BLIND.get(assignment, []):
        answers = solution_code(assignment)
        answers.update(answer.answers())
        failed = _failed(_verdicts(assignment, answers))
        if failed:
            problems.append(f"{answer.name}: {failed}")
    assert problems == []


@pytest.mark.parametrize("assignment", CHECKED)
def test_every_graded_function_has_three_alternatives(assignment):
    cells = set(solution_code(assignment))
    counts = {cell: sum(cell in a.cells for a in ALTERNATIVES.get(assignment, [])) for cell in cells}
    assert {c: n for c, n in counts.items() if n < 3} == {}


def test_the_held_out_lookup_cheat_scores_where_the_full_data_file_is_visible():
    """The reason segmentation's kernels see a training-only data file: in-process (full file) the
    cheat of tests/mutants.py that looks the held-out images up earns every tier."""
    cheat = next(m for m in MUTANTS["segmentation"] if getattr(m, "needs_sandbox", False))
    answers = solution_code("segmentation")
    answers.update(cheat.answers())
    verdicts = _verdicts("segmentation", answers)
    assert all(verdicts[g].passed for g in ("test_heldout_tier1", "test_heldout_tier2", "test_heldout_tier3"))
