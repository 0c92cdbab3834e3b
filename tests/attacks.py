"""A generated class: honest, partial and broken submissions, and every cheat the grader must
defeat, each with the exact outcome expected (which test cells score zero, which flags are raised,
or why the submission is not graded).

Cheats are appended to (or replace) the answer cells of a correct submission, so that whatever they
attack is the only thing that can cost points.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.synthetic import solution_code, submission, write_submission
from tests.mutants import MUTANTS

GAN = "gan_theory"
GAN_TESTS = ["test_optimal_discriminator", "test_js_divergence", "test_discriminator_loss", "test_generator_loss"]
GAN_ANSWERS = ["optimal_discriminator", "js_divergence", "discriminator_loss", "generator_loss"]


@dataclass
class Student:
    name: str
    assignment: str
    zero: set[str] = field(default_factory=set)        # test cells that must score 0 (all others full)
    flags: set[str] = field(default_factory=set)       # flag kinds expected in the summary (exactly)
    error: str | None = None                           # substring of the reason when not graded
    note: str = ""                                     # what the student tried


def _append(cell: str, code: str, assignment: str = GAN) -> dict[str, str]:
    answers = solution_code(assignment)
    answers[cell] = answers[cell] + "\n" + code.strip() + "\n"
    return answers


def _cells_by_id(nb) -> dict[str, int]:
    return {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)}


def build_class(folder: Path, server_url: str, secrets: dict[str, str]) -> list[Student]:
    """Write the class into ``folder`` (``<student>/<assignment>/<notebook>.ipynb``).

    Args:
        server_url: an HTTP address on this machine serving the solution code (``/answer.py``),
            which a cheat tries to download.
        secrets: paths the kernels must not read or write (``solutions``, ``gradebook``,
            ``victim_file``).
    """
    students: list[Student] = []

    def add(student: Student, nb) -> None:
        write_submission(nb, folder, student.name, student.assignment)
        students.append(student)

    # ---- honest work, partial work, plausible mistakes
    for i in range(3):
        add(Student(f"honest-{i}", GAN), submission(GAN))
    for name in ("autoencoders", "vae"):
        add(Student(f"honest-{name}", name), submission(name))
    add(Student("blank", GAN, zero=set(GAN_TESTS), note="handed in the release untouched"), submission(GAN, answers={}))
    partial = solution_code(GAN)
    del partial["generator_loss"]
    add(Student("partial", GAN, zero={"test_generator_loss"}, note="left one answer as the stub"),
        submission(GAN, partial))
    for mutant in MUTANTS[GAN][:2] + MUTANTS["autoencoders"][:1]:
        answers = solution_code(mutant_assignment(mutant))
        answers.update(mutant.answers())
        add(Student(f"mistake-{mutant.name}", mutant_assignment(mutant), zero=mutant.losses()),
            submission(mutant_assignment(mutant), answers))
    late = Student("late", GAN, note="handed in after the deadline (nbgrader's timestamp.txt)")
    add(late, submission(GAN))
    (folder / late.name / GAN / "timestamp.txt").write_text("2026-11-21 10:00:00")
    extra = Student("extra-files", GAN, note="notebook plus unrelated files")
    add(extra, submission(GAN))
    (folder / extra.name / GAN / "scratch.csv").write_text("a,b\n1,2\n")

    # ---- broken files
    broken = {"corrupt": ('{"cells": [ broken', "not valid notebook JSON"),
              "empty": ("", "is empty"),
              "not-a-notebook": ('{"hello": "world"}', "not a Jupyter notebook"),
              "nbformat-3": (json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}),
                             "version 3 notebook")}
    for name, (text, reason) in broken.items():
        add(Student(name, GAN, error=reason), submission(GAN))
        (folder / name / GAN / f"{GAN}.ipynb").write_text(text)
    huge = submission(GAN)
    huge.cells[0].setdefault("attachments", {})["blob.png"] = {"image/png": "A" * (26 * 2**20)}
    add(Student("huge-file", GAN, error="more than the 25 MB"), huge)
    add(Student("wrong-name", GAN, error="no notebook named gan_theory.ipynb"), submission(GAN))
    (folder / "wrong-name" / GAN / f"{GAN}.ipynb").rename(folder / "wrong-name" / GAN / "my_work.ipynb")
    add(Student("wrong-assignment", GAN, error="belongs to the assignment 'vae'", flags={"wrong-assignment"}),
        submission("vae"))

    # ---- cheats on the grading machinery (all answers otherwise correct)
    everything = set(GAN_TESTS)
    cheats = {
        "patch-allclose": ("import torch\ntorch.allclose = lambda *a, **k: True", everything),
        "patch-numpy-testing": ("import numpy.testing\nnumpy.testing.assert_allclose = lambda *a, **k: None",
                                everything),
        "patch-builtin": ("import builtins\nbuiltins.abs = lambda x: 0.0", everything),
        "shadow-abs": ("abs = lambda x: 0.0", everything),
        "ast-strip-asserts": ('''
import ast
class _Quiet(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(_Quiet())''', everything),
        "input-transformer": ("get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])",
                              everything),
        "custom-exception": ("get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)", everything),
        "no-traceback": ("get_ipython().showtraceback = lambda *a, **k: None", everything),
        "event-hook": ("get_ipython().events.register('pre_run_cell', lambda *a, **k: None)", everything),
    }
    for name, (code, zero) in cheats.items():
        add(Student(name, GAN, zero=zero, flags={"tampering"}), submission(GAN, _append("optimal_discriminator", code)))

    # cheats that stop the kernel in the third answer cell: the first two tests keep their points
    late = {"test_discriminator_loss", "test_generator_loss"}
    for name, code, kind in (("os-exit", "import os\nos._exit(0)", "exit"),
                             ("ipython-exit", "exit()", "exit"),
                             ("segfault", "import ctypes\nctypes.string_at(0)", "exit")):
        add(Student(name, GAN, zero=late, flags={kind}), submission(GAN, _append("discriminator_loss", code)))
    add(Student("kill-parent", GAN, note="tries to kill the grader: its process namespace has no parent to see"),
        submission(GAN, _append("discriminator_loss", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")))
    add(Student("stuck-loop", GAN, zero=late, flags={"time"}, note="loop that swallows the interrupt"),
        submission(GAN, _append("discriminator_loss", '''
import time
while True:
    try:
        time.sleep(0.2)
    except KeyboardInterrupt:
        pass''')))
    add(Student("slow-loop", GAN, zero={"test_discriminator_loss"}, flags={"time"},
                note="an endless loop that the interrupt stops: only the test needing it fails"),
        submission(GAN, {**solution_code(GAN), "discriminator_loss": "while True:\n    pass\n"}))
    add(Student("memory-hog", GAN, zero=late, flags={"memory"}),
        submission(GAN, _append("discriminator_loss", "hog = b'x' * (3 * 2**30)")))
    add(Student("fork-bomb", GAN, zero=late, flags={"limit"}),
        submission(GAN, _append("discriminator_loss", '''
import subprocess
children = [subprocess.Popen(["sleep", "60"]) for _ in range(40)]
import time
time.sleep(2)''')))
    add(Student("fake-output", GAN, zero=MUTANTS[GAN][0].losses(), flags={"fake-output"}),
        submission(GAN, {**solution_code(GAN), **{k: v + '\nprint("All tests passed! 8/8 points")\n'
                                                   for k, v in MUTANTS[GAN][0].answers().items()}}))
    add(Student("huge-output", GAN, flags={"output"}),
        submission(GAN, _append("optimal_discriminator", "print('x' * 5_000_000)")))

    # ---- cheats on the notebook file
    nb = submission(GAN)
    nb.cells[_cells_by_id(nb)["test_js_divergence"]].source = "pass\n"
    add(Student("edit-test", GAN, zero={"test_js_divergence"}, flags={"edited"}), nb)
    nb = submission(GAN)
    del nb.cells[_cells_by_id(nb)["test_discriminator_loss"]]
    add(Student("delete-test", GAN, zero={"test_discriminator_loss"}, flags={"deleted"}), nb)
    nb = submission(GAN)
    index = _cells_by_id(nb)["test_generator_loss"]
    nb.cells[index] = nbformat.v4.new_code_cell(nb.cells[index].source)
    add(Student("retype-plain", GAN, zero={"test_generator_loss"}, flags={"retyped"}), nb)
    nb = submission(GAN)
    index = _cells_by_id(nb)["test_generator_loss"]
    copy_cell = nbformat.v4.new_code_cell(nb.cells[index].source)
    copy_cell.metadata = copy.deepcopy(nb.cells[index].metadata)
    nb.cells[index] = copy_cell
    add(Student("retype-with-metadata", GAN, zero={"test_generator_loss"}, flags={"retyped"}), nb)
    nb = submission(GAN)
    nb.cells[_cells_by_id(nb)["test_optimal_discriminator"]].metadata["nbgrader"]["points"] = 100
    add(Student("metadata-points", GAN, zero={"test_optimal_discriminator"}, flags={"metadata"}), nb)
    nb = submission(GAN)
    meta = nb.cells[_cells_by_id(nb)["test_js_divergence"]].metadata["nbgrader"]
    meta["grade"], meta["locked"] = False, False
    add(Student("metadata-ungraded", GAN, zero={"test_js_divergence"}, flags={"metadata"}), nb)
    nb = submission(GAN)
    index = _cells_by_id(nb)["test_discriminator_loss"]
    nb.cells[index] = nbformat.v4.new_markdown_cell(nb.cells[index].source, metadata=nb.cells[index].metadata)
    add(Student("test-to-markdown", GAN, zero={"test_discriminator_loss"}, flags={"metadata"}), nb)

    # ---- cheats on the sandbox: read solutions, download answers, write where they must not
    reach = '''
import json, urllib.request
try:
    exec(urllib.request.urlopen("{url}/answer.py", timeout=5).read().decode())
except OSError:
    pass'''
    no_answers = {k: "" for k in GAN_ANSWERS}
    add(Student("download-answers", GAN, zero=everything, note="fetches the answers over the network"),
        submission(GAN, {**no_answers, "optimal_discriminator": reach.format(url=server_url)}))
    steal = '''
import json, pathlib
try:
    source = json.loads(pathlib.Path({path!r}).read_text())
    for cell in source["cells"]:
        if cell["metadata"].get("nbgrader", {{}}).get("solution"):
            exec("".join(cell["source"]).replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""))
except (OSError, ValueError):
    pass'''
    add(Student("read-solutions", GAN, zero=everything, note="reads the instructor notebook"),
        submission(GAN, {**no_answers, "optimal_discriminator": steal.format(path=secrets["solutions"])}))
    vandal = f'''
import sqlite3, pathlib
for action in (lambda: sqlite3.connect({secrets["gradebook"]!r}).execute("update grade set manual_score = 0").connection.commit(),
               lambda: pathlib.Path({secrets["victim_file"]!r}).write_text("vandalised")):
    try:
        action()
    except Exception:
        pass'''
    add(Student("vandal", GAN, note="tries to zero the gradebook and overwrite a course file"),
        submission(GAN, _append("optimal_discriminator", vandal)))
    return students


def mutant_assignment(mutant) -> str:
    return next(name for name, group in MUTANTS.items() if mutant in group)
