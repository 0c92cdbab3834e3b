"""Feedback for students: which tests passed and why the others failed, never hidden test code."""

from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

HIDDEN_BLOCK = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.MULTILINE | re.DOTALL)
HIDDEN_NOTE = "# (hidden tests ran here at grading time, in the grader's own process)\n"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class HideHiddenTests(Preprocessor):
    """Strip hidden test blocks from test cells and shorten their errors to the message.

    IPython tracebacks quote the source lines around the failing one, which would show hidden
    tests; the student gets the exception type and the test's message instead, which says what was
    expected in words.
    """

    enabled = Bool(True).tag(config=True)   # nbconvert preprocessors are off unless enabled

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            cell.source = HIDDEN_BLOCK.sub("", cell.source).rstrip("\n") + "\n" + HIDDEN_NOTE
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    message = _ANSI.sub("", str(output.get("evalue", ""))).strip()
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {message}" if message
                                           else f"{output.get('ename', 'Error')} (a test failed)"]
        return cell, resources
