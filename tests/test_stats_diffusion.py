"""The statistical part of the diffusion_loss check holds for every correct answer under 50 seeds,
whatever source of randomness the answer uses (torch's global RNG, NumPy, Python's random module,
a passed-in torch.Generator), and fails for wrong randomness (issue 13: random behaviour is tested
against a derived expectation with a band of several standard deviations)."""

from __future__ import annotations

import pytest

from autograder.bridge import LocalLink
from autograder.checks import Student, load_checks
from autograder.synthetic import notebook_namespace, solution_code
from tests.answers import ALTERNATIVES
from tests.mutants import MUTANTS

SEEDS = range(50)


def _statistics():
    """checks.py's loss_statistics (the module is loaded the way the grader loads it)."""
    return load_checks("diffusion")["test_diffusion_loss"].__globals__["loss_statistics"]


def _student(answers: dict[str, str] | None) -> Student:
    code = solution_code("diffusion")
    code.update(answers or {})
    return Student(LocalLink(notebook_namespace("diffusion", code)))


ANSWERS = {"solution": None} | {a.name: a.answers() for a in ALTERNATIVES["diffusion"] if "diffusion_loss" in a.cells}


@pytest.mark.parametrize("name", sorted(ANSWERS))
@pytest.mark.parametrize("with_generator", [False, True], ids=["kernel-rng", "generator"])
def test_correct_answers_pass_under_50_seeds(name, with_generator):
    statistics, student = _statistics(), _student(ANSWERS[name])
    failures = []
    for seed in SEEDS:
        try:
            statistics(student, seed, with_generator=with_generator)
        except AssertionError as err:
            failures.append(f"seed {seed}: {err}")
    assert failures == []


@pytest.mark.parametrize("mutant", ["loss-timesteps-from-one", "loss-never-last-timestep", "loss-uniform-noise",
                                    "loss-one-noise-per-batch", "loss-one-t-per-batch"])
def test_wrong_randomness_fails_under_every_seed(mutant):
    wrong = next(m for m in MUTANTS["diffusion"] if m.name == mutant)
    statistics, student = _statistics(), _student(wrong.answers())
    passed = []
    for seed in range(10):
        try:
            statistics(student, seed)
            passed.append(seed)
        except AssertionError:
            pass
    assert passed == []
