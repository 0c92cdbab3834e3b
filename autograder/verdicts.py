"""Verdicts: what a graded test cell's outputs say once the grader has decided.

nbgrader scores a test cell from its outputs (an ``error`` output or text on stderr: zero; a
number as the cell's result: partial credit; anything else: full marks). Outputs come from the
student's kernel, so before nbgrader looks at them :func:`settle_outputs` makes them say exactly
the grader's verdict: the kernel's own output is kept as plain text for the feedback, and an error
is added only when the check, run in the grader's process, failed.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode

#: Error outputs the grader itself adds (kept as errors: they are verdicts, not kernel output).
GRADER_ERRORS = frozenset({"NotRun", "KernelDied", "IntegrityError"})


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return str(output.get("text", ""))
    if output.get("output_type") == "error":
        return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}\n"
    return str(output.get("data", {}).get("text/plain", ""))


def settle_outputs(cell: NotebookNode, verdict: dict | None, decided: bool) -> None:
    """Rewrite a test cell's outputs so that nbgrader's score is the grader's verdict.

    Args:
        verdict: ``{"passed": bool, "message": str, ...}`` from the cell's check, or None if the
            check did not run (the kernel died first, or the cell has no check).
        decided: the cell has a check, so only the grader's verdict (and the grader's own errors)
            may fail it; otherwise (an assignment without checks) errors raised by the cell count.
    """
    settled = []
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "error" and output.get("ename") in GRADER_ERRORS:
            settled.append(output)
        elif kind == "error" and not decided:
            settled.append(output)
        elif kind == "error":
            note = "[the visible test stopped in your kernel: " + _text(output).strip() + "]\n"
            settled.append(NotebookNode(output_type="stream", name="stdout", text=note))
        elif kind == "stream" and output.get("name") == "stderr":
            # Warnings, logging and progress bars are not failures.
            settled.append(NotebookNode(output_type="stream", name="stdout", text=output.get("text", "")))
        elif kind == "execute_result":
            # A number as a cell's result would be partial credit: results are shown, never scored.
            settled.append(NotebookNode(output_type="display_data", data=output.get("data", {}),
                                        metadata=output.get("metadata", {})))
        else:
            settled.append(output)
    if decided and verdict is not None and not verdict.get("passed"):
        message = verdict.get("message") or "a hidden test failed"
        settled.append(NotebookNode(output_type="error", ename="AssertionError", evalue=message,
                                    traceback=[f"AssertionError: {message}"]))
    elif decided and verdict is None and not any(o.get("output_type") == "error" for o in settled):
        message = "the grader's check did not run"
        settled.append(NotebookNode(output_type="error", ename="NotRun", evalue=message,
                                    traceback=[f"NotRun: {message}"]))
    cell.outputs = settled
