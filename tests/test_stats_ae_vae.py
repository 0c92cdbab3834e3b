"""The statistical checks of autoencoders (``corrupt``) and vae (``reparameterize``) are fair and sharp.

* Fair: the solution and every alternative correct answer (tests/answers.py: torch's global
  generator, torch.distributions, NumPy, Python's random, a generator of its own) pass the check
  under 50 seeds of every global generator. The check's bands are 6 standard deviations wide, so a
  correct answer fails one with probability about 2e-9; a failure here means a band is wrong.
* Sharp: every wrong answer aimed at the check (tests/mutants.py) fails it under every one of 10 seeds.
* Derived: the expectations the bands are centred on agree with a simulation.

Runs in-process (LocalLink), with torch on one thread: the "kernel" is this process, so seeding
torch, NumPy and random here seeds the student's code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from autograder.checks import correlation, load_checks, run_checks_locally
from autograder.synthetic import notebook_namespace, solution_code
from tests.answers import ALTERNATIVES
from tests.conftest import seed_everything
from tests.mutants import MUTANTS

#: (assignment, graded cell, test cell) of every check of random behaviour in these two assignments.
RANDOM = [("autoencoders", "corrupt", "test_corrupt"), ("vae", "reparameterize", "test_reparameterize")]
SEEDS = range(50)


pytestmark = pytest.mark.usefixtures("one_thread")


def _answers(assignment: str, cell: str):
    yield "solution", solution_code(assignment)
    for answer in ALTERNATIVES.get(assignment, []):
        if cell in answer.cells:
            code = solution_code(assignment)
            code.update(answer.answers())
            yield answer.name, code


def _cases(kind: str):
    for assignment, cell, test in RANDOM:
        if kind == "right":
            for name, _ in _answers(assignment, cell):
                yield pytest.param(assignment, cell, test, name, id=f"{assignment}-{name}")
        else:
            for mutant in MUTANTS[assignment]:
                if mutant.cell == cell:
                    yield pytest.param(assignment, test, mutant, id=f"{assignment}-{mutant.name}")


@pytest.mark.parametrize("assignment, cell, test, name", list(_cases("right")))
def test_correct_answers_pass_under_50_seeds(assignment, cell, test, name):
    code = dict(_answers(assignment, cell))[name]
    namespace = notebook_namespace(assignment, code)
    failures = {}
    for seed in SEEDS:
        seed_everything(seed)
        verdict = run_checks_locally(assignment, namespace, only={test})[test]
        if not verdict.passed:
            failures[seed] = verdict.message
    assert failures == {}


@pytest.mark.parametrize("assignment, test, mutant", list(_cases("wrong")))
def test_wrong_answers_fail_under_every_seed(assignment, test, mutant):
    code = solution_code(assignment)
    code.update(mutant.answers())
    namespace = notebook_namespace(assignment, code)
    passed = []
    for seed in range(10):
        seed_everything(seed)
        if run_checks_locally(assignment, namespace, only={test})[test].passed:
            passed.append(seed)
    assert passed == []


def _check_globals(assignment: str, test: str) -> dict:
    return load_checks(assignment)[test].__globals__


def test_clipped_noise_moments_match_a_simulation():
    """corrupt's band centres: E[Y^2], E[Y^4] of clip(sigma Z, -a, a), and the Gaussian tail shares."""
    helpers = _check_globals("autoencoders", "test_corrupt")
    generator = torch.Generator().manual_seed(0)
    n = 4_000_000
    for sigma, a in ((0.1, 0.5), (0.2, 0.5), (0.5, 0.5), (1.0, 0.3)):
        y = (sigma * torch.randn(n, dtype=torch.float64, generator=generator)).clamp(-a, a)
        m2, m4 = helpers["clipped_normal_moments"](sigma, a)
        sd2, sd4 = math.sqrt((m4 - m2 ** 2) / n), math.sqrt((float((y ** 8).mean()) - m4 ** 2) / n)
        assert abs(float((y ** 2).mean()) - m2) < 5 * sd2
        assert abs(float((y ** 4).mean()) - m4) < 5 * sd4
    z = torch.randn(n, dtype=torch.float64, generator=generator)
    for k in (1, 2):
        p = 2 * helpers["normal_tail"](k)
        assert abs(float((z.abs() > k).double().mean()) - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_correlation_of_independent_samples_is_within_its_band():
    """The correlation bands (6 / sqrt(n)) hold for independent, clipped or not, samples."""
    generator = torch.Generator().manual_seed(1)
    values = [correlation(torch.randn(20_000, generator=generator).clamp(-1, 1),
                          torch.randn(20_000, generator=generator).clamp(-1, 1))
              for _ in range(200)]
    spread = float(np.std(values))
    assert abs(spread * math.sqrt(20_000) - 1) < 0.2, "sample correlations of independent data are N(0, 1/n)"
