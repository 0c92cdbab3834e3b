"""The segmentation checks that test random behaviour, over many seeds and sources of randomness.

``paired_augment`` is random: its check must pass every correct answer (the solution and the
alternatives in tests/answers.py, which draw from a passed generator, PyTorch's global generator,
NumPy or Python's ``random``) under 50 seeds, and fail each wrong answer in tests/mutants.py under
every one of them. The part-5 budget is checked here with a stand-in clock (no training), and the
notebook's self-contained data loader against the grader's (coursekit).
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from autograder.bridge import LocalLink
from autograder.checks import Student, load_checks, run_check
from autograder.synthetic import notebook_namespace, solution_code
from tests.answers import ALTERNATIVES
from tests.mutants import _AUGMENT

SEEDS = range(50)
AUGMENTS = [a for a in ALTERNATIVES["segmentation"] if "paired_augment" in a.cells]


def _namespace(cells: dict[str, str] | None) -> dict:
    answers = solution_code("segmentation")
    answers.update({k: v.strip() + "\n" for k, v in (cells or {}).items()})
    return notebook_namespace("segmentation", answers)


def _verdicts(namespace: dict, grade_id: str):
    """The check's verdict under each seed: the check's own draws and every global RNG seeded alike."""
    check = load_checks("segmentation")[grade_id]
    link = LocalLink(namespace)
    for seed in SEEDS:
        check.__globals__["SEED"] = seed
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        yield seed, run_check(grade_id, check, link)


@pytest.mark.parametrize("cells", [None] + [a.cells for a in AUGMENTS],
                         ids=["solution"] + [a.name for a in AUGMENTS])
def test_correct_augmentations_pass_under_every_seed(cells):
    failures = [f"seed {seed}: {v.message}" for seed, v in _verdicts(_namespace(cells), "test_paired_augment")
                if not v.passed]
    assert failures == []


@pytest.mark.parametrize("mutant", _AUGMENT, ids=[m.name for m in _AUGMENT])
def test_wrong_augmentations_fail_under_every_seed(mutant):
    passed = [seed for seed, v in _verdicts(_namespace(mutant.answers()), "test_paired_augment") if v.passed]
    assert passed == []


def test_augmentation_alternatives_use_every_source_of_randomness():
    """The catalogue covers a passed generator, PyTorch's global generator, NumPy and Python's random."""
    code = "\n".join(a.cells["paired_augment"] for a in AUGMENTS)
    for source in ("generator=generator", "np.random", "random.random", "torch.rand("):
        assert source in code, source


# ----------------------------------------------------------------------------- part 5 without training
class _Clock(LocalLink):
    """A notebook whose CPU clock jumps by ``cost`` seconds during training (stands in for a slow one)."""

    def __init__(self, namespace, cost):
        super().__init__(namespace)
        self.cost, self.now = cost, 0.0

    def cpu_seconds(self) -> float:
        value, self.now = self.now, self.now + self.cost     # read once before and once after training
        return value


_TINY = {"build_model": '''
def build_model():
    return nn.Conv2d(1, 1, 3, padding=1)
''', "train_model": '''
def train_model(model, images, masks):
    return model
'''}


def _tier_verdicts(cells, cost):
    from tests.segmentation_designs import load_checks_module

    checks = load_checks_module()
    link = _Clock(_namespace(cells), cost)
    return {grade_id: run_check(grade_id, fn, link) for grade_id, fn in checks_items(checks)}


def checks_items(module):
    return [(g, getattr(module, f"heldout_tier{g[-1]}")) for g in module.TIERS]


def test_budget_is_measured_from_outside_and_enforced():
    verdicts = _tier_verdicts(_TINY, cost=61.0)
    assert all(not v.passed and "61 CPU seconds; the budget is 60" in v.message for v in verdicts.values())


def test_an_untrained_network_fails_every_tier_with_its_score():
    verdicts = _tier_verdicts(_TINY, cost=1.0)
    assert all(not v.passed and "held-out Dice" in v.message for v in verdicts.values())


def test_train_model_must_return_the_network():
    cells = dict(_TINY, train_model="def train_model(model, images, masks):\n    model.eval()\n")
    verdicts = _tier_verdicts(cells, cost=1.0)
    assert all("train_model must return the trained network" in v.message for v in verdicts.values())


def test_notebook_loader_matches_the_graders_split():
    from coursekit.data import sunnybrook_split

    data = _namespace(None)["load_training_patients"]()
    split = sunnybrook_split()
    assert torch.equal(data["images"], split["train_images"]) and torch.equal(data["masks"], split["train_masks"])
    assert data["patient"].unique().numel() == 39


def test_validation_split_keeps_patients_whole():
    namespace = _namespace(None)
    data = namespace["load_training_patients"]()
    train_x, _, val_x, _ = namespace["split_by_patient"](data, val_patients=6, seed=3)
    patient_of = {x.numpy().tobytes(): int(p) for x, p in zip(data["images"], data["patient"])}
    val_patients = {patient_of[x.numpy().tobytes()] for x in val_x}
    train_patients = {patient_of[x.numpy().tobytes()] for x in train_x}
    assert len(val_patients) == 6 and not val_patients & train_patients
    assert len(val_x) == int(torch.isin(data["patient"], torch.tensor(sorted(val_patients))).sum())


def test_notebook_loader_reads_the_graders_training_only_file_alike(tmp_path, monkeypatch):
    """In the grader's kernels the data file holds the training patients only
    (autograder.policy.KERNEL_DATA_VIEWS): the notebook's loader gives the same training data."""
    from coursekit.data import write_sunnybrook_training_only

    full = _namespace(None)["load_training_patients"]()
    write_sunnybrook_training_only(tmp_path / "scd_lvsegs.npz")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    view = _namespace(None)["load_training_patients"]()
    assert all(torch.equal(full[k], view[k]) for k in ("images", "masks", "patient"))
