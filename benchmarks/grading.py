"""Grading benchmark: one batch of generated submissions graded three ways, in one run:

* **execute**: each notebook simply executed by nbclient, one after the other (the floor);
* **nbgrader**: plain ``nbgrader autograde`` on a standard course folder (one process, serial);
* **autograder**: ``autograder.grading.grade`` with its default workers (sandboxed kernels,
  integrity probes, per-student reports), feedback off like plain autograde, and again with
  one worker to show the cost per notebook.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.course import SOLUTIONS, python_env
from autograder.policy import policy_for
from autograder.grading import grade
from autograder.synthetic import submission, write_submission

ASSIGNMENT = "autoencoders"


def run_grading(students: int = 40, assignment: str = ASSIGNMENT) -> dict[str, float]:
    """Seconds for ``students`` correct submissions of ``assignment`` graded each way (see module doc)."""
    import nbformat
    from nbclient import NotebookClient

    numbers: dict[str, float] = {"students": float(students), "workers": float(policy_for(assignment).workers)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "submitted-in"
        for i in range(students):
            write_submission(submission(assignment), folder, f"student{i:03d}", assignment)
        notebooks = sorted(folder.glob(f"*/{assignment}/*.ipynb"))
        # Graders execute with NBGRADER_EXECUTION set (notebooks skip their demos): so does the floor.
        env = python_env({"COURSE_NO_PROGRESS": "1", "NBGRADER_EXECUTION": "autograde"})

        start = time.perf_counter()
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            for path in notebooks:
                nb = nbformat.read(path, as_version=4)
                NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(tmp)}}).execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        numbers["execute_seconds"] = time.perf_counter() - start

        course = tmp / "nbgrader-course"
        shutil.copytree(SOLUTIONS / assignment, course / "source" / assignment)
        shutil.copytree(folder, course / "submitted")
        (course / "nbgrader_config.py").write_text(
            "c = get_config()\nc.CourseDirectory.course_id = 'bench'\nc.ExecutePreprocessor.timeout = 600\n")
        nbgrader = [sys.executable, "-m", "nbgrader"]
        subprocess.run(nbgrader + ["generate_assignment", assignment, "--create", "--force"], cwd=course,
                       env=env, check=True, capture_output=True)
        start = time.perf_counter()
        subprocess.run(nbgrader + ["autograde", assignment, "--create"], cwd=course, env=env, check=True,
                       capture_output=True)
        numbers["nbgrader_seconds"] = time.perf_counter() - start

        for label, workers in (("autograder", None), ("autograder_1_worker", 1)):
            start = time.perf_counter()
            result = grade(assignment, folder, tmp / f"work-{label}", feedback=False, workers=workers)
            numbers[f"{label}_seconds"] = time.perf_counter() - start
            assert len(result.scores) == students and not result.errors, result.errors
    per = {k[:-8]: v / students for k, v in numbers.items() if k.endswith("_seconds")}
    for key, value in per.items():
        numbers[f"{key}_seconds_per_notebook"] = value
    numbers["speedup_vs_nbgrader"] = numbers["nbgrader_seconds"] / numbers["autograder_seconds"]
    numbers["overhead_vs_execute_1_worker"] = per["autograder_1_worker"] / per["execute"] - 1
    numbers["overhead_vs_execute_parallel"] = (per["autograder"] * numbers["workers"]) / per["execute"] - 1
    return numbers
