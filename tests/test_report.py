"""The class report, the LMS exports, re-grading one student and manual overrides, on one graded
batch of gan_theory (a mix of correct, wrong, cheating and broken notebooks), opened in a browser."""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.synthetic import solution_code, submission, write_submission
from tests.attacks import GAN, GAN_TESTS, _append, _cells_by_id
from tests.conftest import OUTPUT, REPO
from tests.mutants import MUTANTS


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
