"""Grading benchmark: a batch of generated submissions graded with the course's grader."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from autograder.course import assignments
from autograder.grading import grade
from autograder.synthetic import submission, write_submission


def run_grading(students: int = 10) -> dict[str, float]:
    """Grade ``students`` correct submissions of every assignment; seconds in all and per notebook."""
    numbers: dict[str, float] = {}
    for name in assignments():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "submitted-in"
            for i in range(students):
                write_submission(submission(name), folder, f"student{i:03d}", name)
            start = time.perf_counter()
            result = grade(name, folder, Path(tmp) / "work")
            seconds = time.perf_counter() - start
        numbers[f"{name}_notebooks"] = float(len(result.scores))
        numbers[f"{name}_seconds"] = seconds
        numbers[f"{name}_seconds_per_notebook"] = seconds / max(1, len(result.scores))
    return numbers
