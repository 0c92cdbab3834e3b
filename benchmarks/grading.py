"""Grading benchmark: the same batch of generated submissions graded serially and in parallel."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from autograder.course import SERIAL_ASSIGNMENTS, assignments, workers_for
from autograder.grading import grade
from autograder.synthetic import submission, write_submission


def run_grading(students: int = 10) -> dict[str, float]:
    """Grade ``students`` correct submissions of every assignment with one worker and with the
    default number of workers; seconds in all and per notebook for each, and the speed-up.

    Assignments graded serially by design (``segmentation``: each submission trains a network for
    about two minutes) are left out; their cost is the training time the exercise allows.
    """
    numbers: dict[str, float] = {}
    for name in assignments():
        if name in SERIAL_ASSIGNMENTS:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "submitted-in"
            for i in range(students):
                write_submission(submission(name), folder, f"student{i:03d}", name)
            for label, workers in (("serial", 1), ("parallel", workers_for(name))):
                start = time.perf_counter()
                result = grade(name, folder, Path(tmp) / f"work-{label}", workers=workers)
                seconds = time.perf_counter() - start
                numbers[f"{name}_{label}_seconds"] = seconds
                numbers[f"{name}_{label}_seconds_per_notebook"] = seconds / max(1, len(result.scores))
            numbers[f"{name}_workers"] = float(workers_for(name))
            numbers[f"{name}_speedup"] = numbers[f"{name}_serial_seconds"] / numbers[f"{name}_parallel_seconds"]
    return numbers
