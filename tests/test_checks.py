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


#: Verdicts are computed by two worker processes (spawned, one torch thread each: small tensors run
#: fastest on one thread); the CPU-heavy checks (segmentation's part 5 trains a network) then share the
#: machine's two cores instead of queueing on one.
WORKERS = 2


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _job(assignment: str, answers: dict[str, str] | None) -> dict[str, tuple[bool, str]]:
    """Run every check against a notebook with ``answers`` (None: the solution); plain data back."""
    verdicts = run_checks_locally(assignment, notebook_namespace(assignment, answers))
    return {g: (v.passed, v.message) for g, v in verdicts.items()}


def _jobs(assignment: str) -> dict[tuple[str, str], dict[str, str] | None]:
    """Every notebook this module grades for ``assignment``: (kind, name) -> answers."""
    def with_solution(extra: dict[str, str]) -> dict[str, str]:
        return {**solution_code(assignment), **extra}

    jobs: dict[tuple[str, str], dict[str, str] | None] = {("solution", ""): None, ("release", ""): {}}
    for mutant in MUTANTS.get(assignment, []):
        if getattr(mutant, "needs_sandbox", False):
            if assignment == "segmentation":
                jobs["cheat", mutant.name] = with_solution(mutant.answers())
            continue                       # graded by tests/test_autograding.py, in the sandbox
        jobs["mutant", mutant.name] = with_solution(mutant.answers())
    for answer in ALTERNATIVES.get(assignment, []) + BLIND.get(assignment, []):
        jobs["alternative", answer.name] = with_solution(answer.answers())
    return jobs


@pytest.fixture(scope="module")
def verdicts(request):
    """(assignment, kind, name) -> future of {grade_id: (passed, message)}, for the assignments of
    the tests selected in this session; slowest assignments first."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    selected = {getattr(getattr(item, "callspec", None), "params", {}).get("assignment")
                for item in request.session.items if getattr(item, "module", None) is request.module}
    if any(getattr(item, "module", None) is request.module and "lookup" in item.name for item in request.session.items):
        selected.add("segmentation")
    order = sorted((a for a in selected if a in CHECKED), key=lambda a: a not in ("segmentation", "dcgan"))
    pool = ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker)
    futures = {(a, *key): pool.submit(_job, a, answers) for a in order for key, answers in _jobs(a).items()}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def _failed(result: dict[str, tuple[bool, str]]) -> dict[str, str]:
    return {g: message for g, (passed, message) in result.items() if not passed}


@pytest.mark.parametrize("assignment", CHECKED)
def test_solution_passes_every_check(verdicts, assignment):
    assert _failed(verdicts[assignment, "solution", ""].result()) == {}


@pytest.mark.parametrize("assignment", CHECKED)
def test_release_passes_no_check(verdicts, assignment):
    result = verdicts[assignment, "release", ""].result()
    assert [g for g, (passed, _) in result.items() if passed] == []


@pytest.mark.parametrize("assignment", CHECKED)
def test_each_wrong_answer_fails_exactly_its_checks(verdicts, assignment):
    problems = []
    for mutant in MUTANTS.get(assignment, []):
        if getattr(mutant, "needs_sandbox", False):
            continue                       # graded by tests/test_autograding.py, in the sandbox
        failed = _failed(verdicts[assignment, "mutant", mutant.name].result())
        if set(failed) != mutant.losses():
            problems.append(f"{mutant.name}: failed {sorted(failed)}, expected {sorted(mutant.losses())}")
    assert problems == []


@pytest.mark.parametrize("assignment", CHECKED)
def test_each_alternative_correct_answer_passes(verdicts, assignment):
    """Ours and the blind ones (tests/answers_blind.py: written from the student notebook alone)."""
    problems = []
    for answer in ALTERNATIVES.get(assignment, []) + BLIND.get(assignment, []):
        failed = _failed(verdicts[assignment, "alternative", answer.name].result())
        if failed:
            problems.append(f"{answer.name}: {failed}")
    assert problems == []


@pytest.mark.parametrize("assignment", CHECKED)
def test_every_graded_function_has_three_alternatives(assignment):
    cells = set(solution_code(assignment))
    counts = {cell: sum(cell in a.cells for a in ALTERNATIVES.get(assignment, [])) for cell in cells}
    assert {c: n for c, n in counts.items() if n < 3} == {}


def test_the_held_out_lookup_cheat_scores_where_the_full_data_file_is_visible(verdicts):
    """The reason segmentation's kernels see a training-only data file: in-process (full file) the
    cheat of tests/mutants.py that looks the held-out images up earns every tier."""
    cheat = next(m for m in MUTANTS["segmentation"] if getattr(m, "needs_sandbox", False))
    result = verdicts["segmentation", "cheat", cheat.name].result()
    assert all(result[g][0] for g in ("test_heldout_tier1", "test_heldout_tier2", "test_heldout_tier3"))
