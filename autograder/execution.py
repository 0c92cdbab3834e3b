"""Execution, the third stage of grading: the only module that knows about kernels and the sandbox.

Stages: intake -> policy -> execution -> verdicts -> export. :func:`run_job` autogrades one
student with real nbgrader (``Autograde``, then ``GenerateFeedback``), replacing nbgrader's
``Execute`` with :class:`GuardedExecute`, which

* starts the kernel through :mod:`autograder.sandbox` (:class:`SandboxedKernelManager`: no
  network, an allow-listed read-only file system, memory/process/time limits), forked from a
  batch's kernel server that has already imported torch (:func:`kernel_server`);
* after every graded test cell runs the cell's check (:mod:`autograder.checks`) *from this
  process*, talking to the kernel only through :mod:`autograder.bridge` (plain data back), and
  settles the cell's outputs to the verdict (:func:`autograder.verdicts.settle_outputs`);
* probes the kernel before and after each test cell (:mod:`autograder.probe`) and flags any
  tampering it sees for the instructor (flags only: the checks decide the scores);
* gives an ``IntegrityError`` to test cells the submission edited, deleted or retyped (found
  before execution by :mod:`autograder.integrity`);
* when the kernel dies (``exit()``, a crash, a limit) or a cell ignores its interrupt, marks that
  cell and every later test cell as not run, with the reason; caps each cell's output.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import json
import multiprocessing
import shutil
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Dict, Integer, List, Unicode

from autograder.bridge import BridgeError, KernelLink
from autograder.checks import load_checks, run_check
from autograder.course import REPO, nbgrader_config, patched_environ, python_env, run_converter
from autograder.integrity import is_test_cell
from autograder.policy import Limits
from autograder.sandbox import read_owned, tree_cpu_seconds
from autograder.verdicts import settle_outputs

PROBE_SOURCE = (Path(__file__).with_name("probe.py")).read_text()
#: Functions tests commonly compare with; watched whether or not a test cell names them.
DEFAULT_WATCH = [
    "torch.allclose", "torch.isclose", "torch.equal", "torch.testing.assert_close", "numpy.allclose",
    "numpy.isclose", "numpy.array_equal", "numpy.testing.assert_allclose", "numpy.testing.assert_array_equal",
    "numpy.testing.assert_array_almost_equal", "numpy.testing.assert_equal", "numpy.testing.assert_almost_equal",
    "math.isclose",
] + [f"builtins.{name}" for name in (
    "abs", "all", "any", "bool", "callable", "dict", "float", "getattr", "hasattr", "int", "isinstance", "len",
    "list", "max", "min", "print", "range", "repr", "round", "set", "sorted", "str", "sum", "tuple", "type",
    "zip", "__import__", "__build_class__", "exec", "eval", "compile", "id", "iter", "next")]
_COMPARISONS = frozenset(DEFAULT_WATCH)
#: Text a student's own cell might print to look like passing tests.
FAKE_PASS = re.compile(r"(?i)\b(all )?tests? (passed|ok|succeeded)\b|\bsuccess!|\bfull marks\b|"
                       r"\b\d+(\.\d+)? ?/ ?\d+(\.\d+)? points?\b|\bpassed\b.*\btests?\b")


def _error_output(ename: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


class SandboxedKernelManager(AsyncKernelManager):
    """Kernel manager that starts the kernel through :mod:`autograder.sandbox`, talking to it over
    Unix sockets in a folder of its own (the kernel has no network)."""

    sandbox_options = List(Unicode(), help="options for python -m autograder.sandbox").tag(config=True)
    run_dir = Unicode("", help="folder holding one sub-folder per kernel").tag(config=True)
    fork_server = Unicode("", help="socket of a fork server with torch imported (else: exec)").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        base = Path(self.run_dir or tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        self.own_dir = Path(tempfile.mkdtemp(prefix="k", dir=base))
        self.transport = "ipc"
        self.connection_file = str(self.own_dir / "connection.json")
        self.ip = str(self.own_dir / "ipc")

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        server = self.fork_server if self.fork_server and wait_for_socket(self.fork_server) else None
        return [sys.executable, "-m", "autograder.sandbox", "--dir", str(self.own_dir),
                *(["--server", server] if server else []), *self.sandbox_options, "--", *command]

    def sandbox_status(self, wait: float = 3.0) -> dict:
        """What the launcher wrote when the kernel ended (waits briefly for it)."""
        path = self.own_dir / "status.json"
        deadline = time.monotonic() + wait
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        text = read_owned(path)      # the kernel can write in its own folder: only the launcher's file counts
        try:
            return json.loads(text) if text else {}
        except ValueError:
            return {}

    def isolation(self) -> str:
        path = self.own_dir / "isolation.txt"
        return path.read_text() if path.exists() else "unknown"


def start_fork_server(path: Path) -> subprocess.Popen:
    """Start the kernel fork server of a batch on the Unix socket ``path`` (see
    :func:`autograder.sandbox.serve`); it inherits this process's environment and stops when
    ``path`` is removed or this process ends."""
    # Kernels forked from it write their own logs to its stdout/stderr: nobody reads those.
    return subprocess.Popen([sys.executable, "-m", "autograder.sandbox", "--serve", str(path)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_socket(path: str, wait: float = 180.0, process: subprocess.Popen | None = None) -> bool:
    """Wait until the fork server at ``path`` is ready (it appears once modules are imported)."""
    deadline = time.monotonic() + wait
    while not os.path.exists(path) and time.monotonic() < deadline:
        if os.path.exists(path + ".failed") or (process is not None and process.poll() is not None):
            return False
        time.sleep(0.05)
    return os.path.exists(path)


class GuardedExecute(Execute):
    """nbgrader's Execute with the integrity checks and limits described in the module docstring."""

    attacked = Dict(help="grade_id -> why that test cell does not count (found before execution)").tag(config=True)
    report_path = Unicode("", help="where to write the findings (JSON)").tag(config=True)
    notebook_timeout = Integer(0, help="seconds for the whole notebook (0: no limit)").tag(config=True)
    max_output_bytes = Integer(1_000_000, help="output kept per cell").tag(config=True)
    trusted_roots = List(Unicode(), help="folders whose code is trusted").tag(config=True)
    assignment = Unicode("", help="assignment whose checks (solutions/<a>/checks.py) decide the verdicts"
                         ).tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------ notebook
    def preprocess(self, nb, resources=None, km=None):
        self._flags: list[dict] = []
        self._dead: str | None = None
        self._baseline: dict | None = None
        self._isolation = "not started"
        self._exit_asked = False
        self._started = time.monotonic()
        self._output_sizes: dict[int, int] = {}
        self._watch, self._names, self._imports = watched_names(nb)
        self._checks = load_checks(self.assignment) if self.assignment else {}
        self._verdicts: dict[str, dict] = {}
        self._manager = None          # kept past nbclient's cleanup: its launcher's status.json has the memory peak
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self._report(nb)

    def create_kernel_manager(self):
        self._manager = super().create_kernel_manager()
        return self._manager

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        test = is_test_cell(cell)
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if self._dead is None and self.notebook_timeout and self._remaining() <= 0:
            self._kill(f"notebook time limit exceeded ({self.notebook_timeout} s)", "time", grade_id)
        if self._dead is not None:
            cell.outputs = [_error_output("NotRun", f"not run: {self._dead}")] if test or cell.source.strip() else []
            return cell, resources
        try:
            if self._baseline is None:
                self._isolation = self.km.isolation() if isinstance(self.km, SandboxedKernelManager) else "none"
                self._baseline = self._probe_kernel(None, baseline=True)
            if test:
                self._probe_kernel(cell)
            cell = self.execute_cell(cell, index, store_history=True)
            if self._exit_asked:
                # IPython's exit() asks the front end to stop the kernel: do what a front end does.
                self._kill(f"the notebook stopped its own kernel (exit()) in cell '{grade_id or index}'",
                           "exit", grade_id)
            elif test:
                self._probe_kernel(cell)
                if grade_id in self._checks:
                    self._decide(cell, grade_id)
        except CellTimeoutError:
            self._kill(f"cell '{grade_id or index}' exceeded its time limit and did not stop when interrupted",
                       "time", grade_id)
            cell.outputs.append(_error_output("NotRun", self._dead))
        except DeadKernelError:
            self._died(cell, grade_id)
        if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
            self._flag("time", grade_id, f"cell '{grade_id or index}' was interrupted at the time limit")
        if test and grade_id in self.attacked:
            cell.outputs.append(_error_output("IntegrityError", self.attacked[grade_id]))
        if test:
            settle_outputs(cell, self._verdicts.get(grade_id), decided=grade_id in self._checks)
        return cell, resources

    # ------------------------------------------------------------------ verdicts
    def _decide(self, cell, grade_id: str) -> None:
        """Run the cell's check from this process; the kernel only answers requests with data."""
        def wait(msg_id, timeout):
            reply = self.wait_for_reply(msg_id)
            if reply is None:
                raise BridgeError(f"your code did not answer within {self.timeout} s (interrupted)")
            return reply

        link = KernelLink(self.kc, wait, self.timeout, cpu=self._kernel_cpu_seconds)
        verdict = run_check(grade_id, self._checks[grade_id], link)
        self._verdicts[grade_id] = {"passed": verdict.passed, "message": verdict.message, "kind": verdict.kind,
                                    "seconds": round(verdict.seconds, 3)}
        if verdict.kind == "bridge" and "did not answer" not in verdict.message:
            self._flag("tampering", grade_id, "the kernel's answer to the grader's check was not well-formed data")
        try:
            link.request({"op": "release"})
        except Exception:  # the kernel may be busy or gone; handles are freed with it
            pass

    def _kernel_cpu_seconds(self) -> float:
        """The kernel's CPU time, read from /proc in this process (the launcher names its pid)."""
        text = read_owned(self._manager.own_dir / "kernel.pid") if self._manager is not None else None
        if not text or not text.strip().isdigit():
            raise BridgeError("the kernel's CPU time cannot be measured here (no launcher pid)")
        return tree_cpu_seconds(int(text))

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        payload = kwargs["execute_reply"].get("content", {}).get("payload", []) or []
        if any(item.get("source") == "ask_exit" for item in payload):
            self._exit_asked = True

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        if self.notebook_timeout and cell is not None:
            remaining = max(1, int(self._remaining()))
            timeout = min(timeout, remaining) if timeout else remaining
        return timeout

    def _remaining(self) -> float:
        return self.notebook_timeout - (time.monotonic() - self._started)

    # ------------------------------------------------------------------ dying kernels
    def _died(self, cell, grade_id) -> None:
        status = self.km.sandbox_status() if isinstance(self.km, SandboxedKernelManager) else {}
        reason = status.get("reason")
        if reason:
            kind = status.get("kind") or "limit"
        else:
            code = status.get("exit_code")
            kind = "exit"
            if code is not None and code < 0:
                reason = f"the kernel crashed (signal {-code})"
            elif code is not None and code > 128:
                reason = f"the kernel crashed (signal {code - 128})"
            else:
                reason = f"the kernel exited (exit code {code}): the notebook stopped its own kernel"
        self._dead = f"{reason}, during cell '{grade_id or 'without id'}'"
        self._flag(kind, grade_id, self._dead)
        cell.outputs.append(_error_output("KernelDied", self._dead))

    def _kill(self, reason: str, kind: str, grade_id) -> None:
        self._dead = reason
        self._flag(kind, grade_id, reason)
        try:
            run_sync(self._async_kill)()
        except Exception:  # the kernel may already be gone
            pass

    async def _async_kill(self) -> None:
        await ensure_async(self.km.shutdown_kernel(now=True))

    # ------------------------------------------------------------------ probes
    def _probe_kernel(self, cell, baseline: bool = False) -> dict | None:
        nonce = secrets.token_hex(8)
        settings = {"WATCH": self._watch, "NAMES": self._names, "TRUSTED": self._trusted(), "NONCE": nonce,
                    "IMPORT": self._imports if baseline else []}
        # Only dunder names are looked up in the notebook's namespace: an honest `from torch import *`
        # (which rebinds compile) or a notebook's own exec cannot break the probe.
        expression = (f"(lambda ns: (__builtins__.exec(__builtins__.compile({PROBE_SOURCE!r}, '<grader-probe>', "
                      f"'exec'), ns), ns['__result__'])[1])({settings!r})")
        msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"probe": expression})
        reply = self.wait_for_reply(msg_id)
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id") if cell is not None else None
        problems: list[str] = []
        found = None
        try:
            answer = reply["content"]["user_expressions"]["probe"]
            found = json.loads(ast.literal_eval(answer["data"]["text/plain"]))
            if not (isinstance(found, dict) and isinstance(found.get("ids"), dict)
                    and isinstance(found.get("bad"), list)):
                raise ValueError("not the probe's answer")
            import hashlib

            if found.get("nonce") != hashlib.sha256(("probe:" + nonce).encode()).hexdigest():
                problems.append("the grader's check returned a wrong answer")
        except Exception as err:  # any malformed answer means the check was interfered with
            found = None
            problems.append(f"the grader's check could not run in the kernel ({type(err).__name__})")
        if found is not None:
            problems += found["bad"]
            if not baseline and self._baseline:
                for dotted, (ident, _, _) in self._baseline["ids"].items():
                    now = found["ids"].get(dotted)
                    if now is None:
                        problems.append(f"{dotted} was deleted")
                    # Installed libraries re-wrap some functions on import (torch._dynamo wraps
                    # torch.manual_seed): a replacement counts when it is notebook code, or when
                    # it replaces one of the comparison functions tests rely on.
                    elif now[0] != ident and (now[2] or dotted in _COMPARISONS):
                        problems.append(f"{dotted} was replaced by {now[1]}")
        decided = cell is not None and cell.metadata.get("nbgrader", {}).get("grade_id") in self._checks
        if problems and decided:
            # The verdict is decided in this process from data: tampering cannot change it; flag it.
            self._flag("tampering", grade_id, "; ".join(problems))
        elif problems and cell is not None:
            message = "this test ran after the notebook changed what tests rely on: " + "; ".join(problems)
            if not any(o.get("ename") == "IntegrityError" for o in cell.outputs):
                cell.outputs.append(_error_output("IntegrityError", message))
            self._flag("tampering", grade_id, "; ".join(problems))
        elif problems:
            self._flag("tampering", None, "before the first cell: " + "; ".join(problems))
        return found

    def _trusted(self) -> list[str]:
        import sysconfig

        roots = list(self.trusted_roots) or [sys.prefix, sys.base_prefix, sys.exec_prefix,
                                             *sysconfig.get_paths().values(), str(REPO / "coursekit")]
        return sorted({str(Path(r).resolve()) for r in roots} | {r for r in roots})

    # ------------------------------------------------------------------ outputs and report
    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {}), default=str))
        total = self._output_sizes.get(cell_index, 0) + size
        self._output_sizes[cell_index] = total
        if total > self.max_output_bytes:
            if total - size <= self.max_output_bytes:
                outs.append(NotebookNode(output_type="stream", name="stdout",
                                         text=f"\n[output cut by the grader: more than {self.max_output_bytes} bytes]\n"))
                self._flag("output", None, f"cell {cell_index} printed more than {self.max_output_bytes} bytes")
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _flag(self, kind: str, cell: str | None, detail: str) -> None:
        entry = {"kind": kind, "cell": cell, "detail": detail}
        if entry not in self._flags:
            self._flags.append(entry)

    def _report(self, nb) -> None:
        for cell in nb.cells:
            if cell.cell_type == "code" and not is_test_cell(cell):
                text = "".join(o.get("text", "") if o.get("output_type") == "stream"
                               else str(o.get("data", {}).get("text/plain", "")) for o in cell.get("outputs", []))
                if FAKE_PASS.search(text):
                    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                    self._flag("fake-output", grade_id, "a cell of the notebook prints text that looks like test "
                               "results (the real tests decide the score)")
        if not self.report_path:
            return
        report = {"flags": self._flags, "dead": self._dead, "isolation": self._isolation, "verdicts": self._verdicts,
                  "seconds": round(time.monotonic() - self._started, 2)}
        status = self._manager.sandbox_status(1.0) if isinstance(self._manager, SandboxedKernelManager) else {}
        report["memory_peak_mb"] = round(sum((status.get("memory_peak_mb") or {}).values()), 1)
        Path(self.report_path).parent.mkdir(parents=True, exist_ok=True)
        Path(self.report_path).write_text(json.dumps(report, indent=1))


def watched_names(nb: NotebookNode) -> tuple[list[str], dict[str, str], list[str]]:
    """What the probe watches for this notebook: dotted names (defaults plus every ``module.attr``
    chain and builtin a test cell uses), names test cells use that instructor cells imported, and
    the modules to import for the baseline."""
    aliases: dict[str, str] = {}
    watch = set(DEFAULT_WATCH)
    names: dict[str, str] = {}
    instructor = [c for c in nb.cells if c.cell_type == "code"
                  and (c.metadata.get("nbgrader", {}).get("locked") or is_test_cell(c))]
    trees = []
    for cell in instructor:
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            trees.append((cell, ast.parse(source)))
        except SyntaxError:
            continue
    for _, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else \
                        alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    if alias.name != "*":
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for cell, tree in trees:
        if not is_test_cell(cell):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                chain, inner = [node.attr], node.value
                while isinstance(inner, ast.Attribute):
                    chain.append(inner.attr)
                    inner = inner.value
                if isinstance(inner, ast.Name) and inner.id in aliases:
                    watch.add(".".join([aliases[inner.id]] + chain[::-1]))
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in aliases:
                    names[node.id] = aliases[node.id]
                elif hasattr(builtins, node.id):
                    names[node.id] = f"builtins.{node.id}"
                    watch.add(f"builtins.{node.id}")
    imports = sorted({d.split(".")[0] for d in watch} | {"numpy.testing", "torch.testing"})
    return sorted(watch), names, imports


# ---------------------------------------------------------------------------- one student, in a worker
@dataclass(frozen=True)
class Job:
    """Everything a worker needs to autograde one student (it may run in another process or on a
    Dask worker, so it carries plain values; the gradebook and workspace are shared)."""

    assignment: str
    student: str
    workdir: str
    db_url: str
    limits: Limits
    feedback: bool
    digest: str                                   # the submission's files and the policy, hashed
    attacked: dict = field(default_factory=dict)  # grade_id -> why that test cell scores zero
    findings: list = field(default_factory=list)  # flags found before execution (dicts)
    run_dir: str = ""
    fork_server: str = ""
    sandbox: bool = True
    mpl_cache: str = ""
    env: dict = field(default_factory=dict)       # the kernels' environment additions
    substitute: dict = field(default_factory=dict)  # data file -> the file its kernels see instead


@dataclass
class Outcome:
    """What happened to one student's notebook (also written as their report, for resuming)."""

    hash: str
    error: str | None = None
    flags: list = field(default_factory=list)
    isolation: str = ""
    seconds: float = 0.0
    verdicts: dict = field(default_factory=dict)
    memory_peak_mb: float = 0.0   # the kernel's peak memory (launcher's status.json; 0: unknown)


def run_job(job: Job) -> Outcome:
    """Autograde (and write feedback for) one student; write their report last, so that a batch
    killed half-way regrades exactly the students without one."""
    import warnings

    from nbgrader.converters import Autograde, GenerateFeedback

    # nbgrader's SQLAlchemy use emits noisy warnings that say nothing about the grades.
    warnings.filterwarnings("ignore", module="nbgrader")
    warnings.filterwarnings("ignore", message=".*not in session.*")
    start = time.monotonic()
    reports = Path(job.workdir) / "reports" / job.assignment
    run_report = reports / f"{job.student}.running"
    run_report.unlink(missing_ok=True)
    config = grading_config(job, run_report)
    error = None
    try:
        with patched_environ(python_env(job.env)):
            run_converter(Autograde, config, assignment_id=job.assignment, student_id=job.student, force=True,
                          create_student=True)
            if job.feedback:
                run_converter(GenerateFeedback, config, assignment_id=job.assignment, student_id=job.student,
                              force=True)
    except Exception as err:  # nbgrader raises many types; one student's failure must not stop the batch
        last = traceback.format_exception_only(type(err), err)[-1].strip()
        error = f"autograding failed: {last}"
    try:
        run = json.loads(run_report.read_text())
    except (OSError, ValueError):
        run = {}
    run_report.unlink(missing_ok=True)
    outcome = Outcome(job.digest, error, list(job.findings) + run.get("flags", []), run.get("isolation", ""),
                      round(time.monotonic() - start, 2), run.get("verdicts", {}), run.get("memory_peak_mb", 0.0))
    tmp = reports / f"{job.student}.json.tmp"
    tmp.write_text(json.dumps(outcome.__dict__, indent=1))
    tmp.replace(reports / f"{job.student}.json")
    return outcome


def grading_config(job: Job, report_path: Path):
    """nbgrader configuration for autograding one student: :class:`GuardedExecute` in place of
    nbgrader's Execute, its kernels started through :mod:`autograder.sandbox` within ``job.limits``."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput,
                                        SaveAutoGrades)

    limits = job.limits
    c = nbgrader_config(Path(job.workdir), job.db_url, cell_timeout=limits.cell_seconds)
    c.Autograde.autograde_preprocessors = [GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                           SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    c.GuardedExecute.assignment = job.assignment
    c.GuardedExecute.attacked = dict(job.attacked)
    c.GuardedExecute.report_path = str(report_path)
    c.GuardedExecute.notebook_timeout = limits.notebook_seconds
    c.GuardedExecute.max_output_bytes = limits.max_output_bytes
    c.SandboxedKernelManager.sandbox_options = sandbox_options(job)
    c.SandboxedKernelManager.run_dir = job.run_dir
    c.SandboxedKernelManager.fork_server = job.fork_server
    return c


def sandbox_options(job: Job) -> list[str]:
    """Command-line options of the kernel launcher (:mod:`autograder.sandbox`) for ``job``."""
    from autograder import sandbox

    limits = job.limits
    return sandbox.launcher_options(memory_mb=limits.memory_mb, max_procs=limits.max_procs,
                                    wall_seconds=limits.notebook_seconds + 30, max_file_mb=limits.max_file_mb,
                                    allow=sandbox.default_allow_list(), namespaces=job.sandbox,
                                    mpl_cache=job.mpl_cache, substitute=job.substitute)


# ---------------------------------------------------------------------------- a batch of students
def run_jobs(jobs: list[Job], executor=None) -> dict[str, Outcome]:
    """Grade every job, here (``executor`` None) or on ``executor``; a worker process that dies
    costs only its own students, who are retried once in a fresh pool."""
    outcomes: dict[str, Outcome] = {}
    if executor is None:
        return {job.student: run_job(job) for job in jobs}
    pending = list(jobs)
    for attempt in range(2):
        if not pending:
            break
        own_pool = None
        if attempt and isinstance(executor, ProcessPoolExecutor):
            own_pool = worker_pool(executor._max_workers)
        pool = own_pool or executor
        try:
            futures = {job.student: pool.submit(run_job, job) for job in pending}
            failed = []
            for student, future in futures.items():
                try:
                    outcomes[student] = future.result()
                except Exception as err:  # the worker itself died (killed, out of memory)
                    outcomes[student] = Outcome("", f"grading worker failed: {type(err).__name__}: {err}")
                    failed.append(student)
        finally:
            if own_pool is not None:
                own_pool.shutdown(wait=True, cancel_futures=True)
        pending = [job for job in pending if job.student in failed]
    return outcomes


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes ("spawn": fresh interpreters, nothing inherited from a parent that may hold
    threads), started now and warmed up (nbgrader imported) while the batch gets ready."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    for _ in range(workers):
        pool.submit(_warm_up)
    return pool


def _warm_up() -> None:
    import nbgrader.converters  # noqa: F401


@contextlib.contextmanager
def kernel_server(kernel_env: dict[str, str]):
    """A batch's run folder and kernel fork server, which imports torch and fetches the exercise
    data while the batch gets ready; yields ``(run_dir, socket_path, data_problems)`` where
    ``socket_path`` is "" when the server could not start (kernels then start the slow way) and
    ``data_problems()`` lists data that could not be fetched. Both are removed at the end."""
    run_dir = Path(tempfile.mkdtemp(prefix="autograder-run-"))
    server_path = run_dir / "fork.sock"
    with patched_environ(python_env(kernel_env)):
        server = start_fork_server(server_path)

    def ready() -> str:
        return str(server_path) if wait_for_socket(str(server_path), process=server) else ""

    def data_problems() -> list[str]:
        report = Path(f"{server_path}.data.json")
        if report.exists():
            return json.loads(report.read_text())
        return _prefetch_data()

    try:
        yield run_dir, ready, data_problems
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)    # the server stops once its socket is gone
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def _prefetch_data() -> list[str]:
    """Student kernels see the data directory read-only: fetch what the exercises read first."""
    try:
        from coursekit.data import prefetch_exercise_data
    except ImportError:
        return []
    return prefetch_exercise_data()


def matplotlib_cache() -> str:
    """matplotlib's font cache, copied into each kernel's scratch folder (building it takes seconds
    and prints a warning, and the kernel's home folder is read-only). Found the way matplotlib
    looks for it, without importing matplotlib."""
    configured = os.environ.get("MPLCONFIGDIR")
    cache = Path(configured) if configured else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "matplotlib"
    return str(cache) if any(cache.glob("fontlist-*.json")) else ""


# ---------------------------------------------------------------------------- a student's own check
@dataclass
class CheckReport:
    """The visible tests of one notebook, run the way the grader runs it."""

    passed: dict[str, bool] = field(default_factory=dict)       # test cell -> visible test passed
    messages: dict[str, str] = field(default_factory=dict)      # test cell -> the error it raised
    flags: list = field(default_factory=list)
    isolation: str = ""


def check_notebook(nb: NotebookNode, policy, workdir: Path) -> CheckReport:
    """Execute ``nb`` in a sandboxed kernel under ``policy`` (same kernels, limits and guards as
    grading; the hidden checks are the grader's alone) and say which visible tests pass."""
    from nbgrader.utils import determine_grade

    job = Job(policy.assignment, "you", str(workdir), "", policy.limits, False, "", sandbox=policy.sandbox,
              mpl_cache=matplotlib_cache(), run_dir=str(workdir / "run"))
    report_path = workdir / "check.json"
    config = grading_config(job, report_path)
    config.GuardedExecute.assignment = ""          # the visible tests alone decide here
    executor = GuardedExecute(config=config)
    with patched_environ(python_env({"COURSE_NO_PROGRESS": "1"})):
        executor.preprocess(nb, {"metadata": {"path": str(workdir)}})
    found = json.loads(report_path.read_text()) if report_path.exists() else {}
    report = CheckReport(flags=found.get("flags", []), isolation=found.get("isolation", ""))
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            score, top = determine_grade(cell)
            report.passed[meta["grade_id"]] = score == top
            errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in cell.outputs if o.get("output_type") == "error"]
            if errors:
                report.messages[meta["grade_id"]] = errors[-1]
    return report
