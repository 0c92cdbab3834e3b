"""The student's check: `python -m autograder check NOTEBOOK` (nbgrader validate underneath)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from autograder.course import assignments
from autograder.synthetic import submission, write_submission

pytestmark = pytest.mark.slow


def check(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "check", str(path)],
                          capture_output=True, text=True, timeout=600)


def check_both(*paths) -> list[subprocess.CompletedProcess]:
    """Check notebooks side by side (each check is a process of its own; two cores)."""
    running = [subprocess.Popen([sys.executable, "-m", "autograder", "check", str(p)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for p in paths]
    results = []
    for process in running:
        out, err = process.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


@pytest.mark.parametrize("name", assignments())
def test_check_passes_a_solved_notebook_and_flags_an_untouched_one(name, tmp_path):
    solved = write_submission(submission(name), tmp_path, "me", name)
    untouched = write_submission(submission(name, answers={}), tmp_path, "you", name)
    result, unfinished = check_both(solved, untouched)
    assert result.returncode == 0 and "Success" in result.stdout, result.stdout + result.stderr

    assert unfinished.returncode == 1, "an unfinished notebook must fail the check"
    assert "NotImplementedError" in unfinished.stdout, "the check must say which cells still raise"
    assert "Success" not in unfinished.stdout


def test_check_warns_about_an_edited_test_cell(tmp_path):
    name = "gan_theory"
    nb = submission(name)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_js_divergence")
    test.source = "pass\n"
    result = check(write_submission(nb, tmp_path, "me", name))
    assert result.returncode == 1, result.stdout
    assert "WARNING (edited)" in result.stdout and "test_js_divergence" in result.stdout
