"""Hidden tests as *checks*: instructor code that runs in the grader's process and decides verdicts.

Each assignment keeps its hidden tests in ``solutions/<assignment>/checks.py`` (never released),
one check per graded test cell::

    from autograder.checks import check, close

    @check("test_js_divergence")
    def _(student):
        p = torch.tensor([0.1, 0.4, 0.5], dtype=torch.float64)
        got = student.js_divergence(p, q)                 # runs in the student's kernel
        assert close(got, expected, atol=1e-9), "wrong value: compare both with their mixture m"

``student`` stands for the notebook. ``student.NAME(...)`` calls the notebook's ``NAME`` in its
kernel and returns *plain data* (tensors and arrays rebuilt from bytes, numbers, strings); objects
that are not data (a network, a pool) stay in the kernel and come back as handles whose methods
can be called the same way. ``student.run(experiment, *args, helpers=[...])`` ships an
instructor-written function (and helpers) to the kernel, calls it there with the notebook's
globals as its first argument, and returns what it returns, as data: that is how a check watches
behaviour (a training step, a state before and after) without trusting anything in the kernel
beyond the numbers it hands back. Every comparison then happens here, on those numbers, against
values this process computes itself.

A check passes when it returns; an ``AssertionError`` fails it with its message; an exception
raised by the student's code fails it with that exception's type and message. The same checks run
in-process against plain Python answers (:func:`run_checks_locally`), which is how the catalogues of
right and wrong answers in ``tests/`` are graded in seconds.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from autograder.bridge import BridgeError, Link, LocalLink, Remote, StudentError, tensor_info

CheckFn = Callable[["Student"], None]
_REGISTRY: dict[str, CheckFn] | None = None


def check(grade_id: str) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated function as the check of the test cell ``grade_id``."""
    def register(fn: CheckFn) -> CheckFn:
        if _REGISTRY is None:
            raise RuntimeError("checks are registered while autograder.checks.load_checks imports them")
        if grade_id in _REGISTRY:
            raise ValueError(f"two checks for {grade_id}")
        _REGISTRY[grade_id] = fn
        return fn
    return register


def checks_file(assignment: str, solutions: Path | None = None) -> Path:
    from autograder.course import SOLUTIONS

    return (solutions or SOLUTIONS) / assignment / "checks.py"


def load_checks(assignment: str, solutions: Path | None = None) -> dict[str, CheckFn]:
    """grade_id -> check, from ``solutions/<assignment>/checks.py`` ({} if the file does not exist)."""
    global _REGISTRY
    path = checks_file(assignment, solutions)
    if not path.is_file():
        return {}
    _REGISTRY = {}
    try:
        name = f"checks_{assignment}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module        # inspect.getsource finds classes shipped to the kernel
        spec.loader.exec_module(module)
        return dict(_REGISTRY)
    finally:
        _REGISTRY = None


# ---------------------------------------------------------------------------- what a check sees
class Student:
    """The notebook under test, seen from the grader: names resolve to objects in its kernel."""

    def __init__(self, link: Link):
        self._link = link

    def __getattr__(self, name: str) -> Remote:
        if name.startswith("_"):
            raise AttributeError(name)
        return Remote(self._link, {"name": name})

    def defines(self, name: str) -> bool:
        """Whether the notebook has a global called ``name``."""
        return bool(self._link.request({"op": "has", "target": {"name": name}}))

    def cpu_seconds(self) -> float:
        """CPU seconds the notebook's kernel has used so far (all its threads and child processes),
        measured by the grader from outside: a budget that is the same on a busy machine and an idle one."""
        return self._link.cpu_seconds()

    def run(self, experiment: Callable, *args, helpers: tuple = (), **kwargs) -> Any:
        """Run ``experiment(notebook, *args, **kwargs)`` in the kernel and return its result as data.

        ``experiment`` and ``helpers`` must be module-level functions or classes of the checks file
        whose source needs only the imports they make themselves (the kernel gets their source,
        not this process's objects). ``notebook.NAME`` is the notebook's global ``NAME``.
        """
        source = "\n\n".join(textwrap.dedent(inspect.getsource(obj)) for obj in (*helpers, experiment))
        preamble = "import math\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n"
        return self._link.request({"op": "run", "source": preamble + source, "entry": experiment.__name__,
                                   "args": _encode(list(args)), "kwargs": _encode(kwargs)})


def _encode(value):
    from autograder.bridge import encode

    return encode(value)


# ---------------------------------------------------------------------------- helpers for checks
def as_array(value: Any) -> np.ndarray:
    """``value`` (tensor, array, number, nested lists) as a float64/int NumPy array."""
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype in (torch.bfloat16, torch.float16):
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def close(got: Any, expected: Any, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    """Whether ``got`` has ``expected``'s shape and values (NaN nowhere unless expected there)."""
    try:
        a, b = as_array(got).astype(np.float64), as_array(expected).astype(np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=rtol, equal_nan=True))


def is_tensor(value: Any, shape: tuple | None = None) -> bool:
    """Whether ``value`` came back as a tensor (of ``shape``, if given)."""
    import torch

    return isinstance(value, torch.Tensor) and (shape is None or tuple(value.shape) == tuple(shape))


def is_scalar_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor) and value.dim() == 0


def number(value: Any) -> float:
    """A Python float from a returned scalar (tensor, array or number); fails the check otherwise."""
    array = as_array(value)
    assert array.size == 1, f"expected a single number, got an array of shape {tuple(array.shape)}"
    return float(array.reshape(()))


def finite(value: Any) -> bool:
    return bool(np.all(np.isfinite(as_array(value).astype(np.float64))))


def requires_grad(value: Any) -> bool:
    """Whether a tensor returned by the student's code was part of an autograd graph in the kernel."""
    info = tensor_info(value)
    return bool(info and (info.requires_grad or info.grad_fn))


#: Default width of a statistical band, in standard deviations (a correct answer falls outside a
#: 6-sigma band with probability about 2e-9 per comparison).
SIGMAS = 6.0


def normal_tail(c: float) -> float:
    """P(Z > c) for a standard normal Z."""
    return 0.5 * math.erfc(c / math.sqrt(2))


def share(mask) -> float:
    """The share of True (or 1) entries of a tensor."""
    return float(mask.double().mean())


def in_band(value: float, expected: float, sd: float, sigmas: float = SIGMAS) -> bool:
    """Whether ``value`` lies within ``sigmas`` standard deviations ``sd`` of ``expected``."""
    return abs(value - expected) <= sigmas * sd


def correlation(a, b) -> float:
    """Sample correlation of two paired samples (tensors): about N(0, 1/n) when they are independent."""
    a, b = a.double().flatten(), b.double().flatten()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / ((a * a).sum() * (b * b).sum()).sqrt().clamp_min(1e-300))


def uncorrelated(a, b, sigmas: float = SIGMAS) -> bool:
    """Whether two paired samples show no correlation beyond ``sigmas`` standard errors."""
    return abs(correlation(a, b)) <= sigmas / math.sqrt(a.numel())


def binomial_band(n: int, p: float, sigmas: float = 5.0) -> tuple[float, float]:
    """The share of successes among ``n`` independent trials of probability ``p`` lies in this band
    with probability above 1 - 1e-6 (``sigmas`` standard deviations)."""
    sd = math.sqrt(p * (1 - p) / n)
    return p - sigmas * sd, p + sigmas * sd


# ---------------------------------------------------------------------------- running checks
@dataclass(frozen=True)
class Verdict:
    """The outcome of one check."""

    grade_id: str
    passed: bool
    message: str = ""              # why it failed, in words for the student
    kind: str = "ok"               # ok | failed | student-error | bridge | missing
    seconds: float = 0.0


def run_check(grade_id: str, fn: CheckFn, link: Link) -> Verdict:
    """Run one check against the notebook behind ``link`` and say what happened."""
    start = time.monotonic()
    try:
        fn(Student(link))
    except AssertionError as err:
        return Verdict(grade_id, False, str(err) or "a check failed", "failed", time.monotonic() - start)
    except StudentError as err:
        message = f"your code raised {err.type}: {err.message}"
        return Verdict(grade_id, False, message, "student-error", time.monotonic() - start)
    except BridgeError as err:
        return Verdict(grade_id, False, f"the grader could not read your notebook's answer: {err}", "bridge",
                       time.monotonic() - start)
    except Exception as err:  # the check tripped over unexpected data (a wrong type, a missing key)
        message = f"your answer could not be checked ({type(err).__name__}: {str(err)[:200]})"
        return Verdict(grade_id, False, message, "failed", time.monotonic() - start)
    return Verdict(grade_id, True, "", "ok", time.monotonic() - start)


def run_checks_locally(assignment: str, namespace: dict, only: set[str] | None = None) -> dict[str, Verdict]:
    """Run every check of ``assignment`` in this process against ``namespace`` (the notebook's
    globals, e.g. from executing answer code): the same checks and data path as grading."""
    link = LocalLink(namespace)
    return {grade_id: run_check(grade_id, fn, link) for grade_id, fn in load_checks(assignment).items()
            if only is None or grade_id in only}
