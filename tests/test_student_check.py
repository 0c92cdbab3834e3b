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


@pytest.mark.parametrize("name", assignments())
def test_check_passes_a_solved_notebook_and_flags_an_untouched_one(name, tmp_path):
    solved = write_submission(submission(name), tmp_path, "me", name)
    result = check(solved)
    assert result.returncode == 0 and "Success" in result.stdout, result.stdout + result.stderr

    untouched = write_submission(submission(name, answers={}), tmp_path, "you", name)
    result = check(untouched)
    assert result.returncode == 1, "an unfinished notebook must fail the check"
    assert "NotImplementedError" in result.stdout, "the check must say which cells still raise"
    assert "Success" not in result.stdout


def test_check_warns_about_an_edited_test_cell(tmp_path):
    name = "gan_theory"
    nb = submission(name)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_js_divergence")
    test.source = "pass\n"
    result = check(write_submission(nb, tmp_path, "me", name))
    assert result.returncode == 1, result.stdout
    assert "WARNING (edited)" in result.stdout and "test_js_divergence" in result.stdout
