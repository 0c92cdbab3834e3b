"""Device check without a GPU: run a notebook on PyTorch's ``meta`` device and report device bugs.

A device bug (a model on the GPU, its input left on the CPU, or the other way round) only shows
on a machine with a GPU. ``COURSE_DEVICE=meta`` makes :func:`coursekit.get_device` return the
``meta`` device, a second device that stores shapes but no data, so that every model, training
step and sampling call runs at no cost on any machine, and calls :func:`install`, which

* checks every tensor operation the way CUDA does: all tensor arguments on one device, except
  CPU 0-dim tensors (Python-number-like scalars), CPU index tensors of a non-CPU tensor and
  copies between devices; a CPU generator must not draw on another device. PyTorch's own meta
  kernels do not check this (a convolution with a meta weight accepts a CPU input), hence the hook;
* lets a notebook go on past the places where it reads values, as it would on a GPU:
  ``.item()``, ``float()``, ``bool()``, ``.tolist()``, ``.cpu()`` and ``.to("cpu")`` of a meta tensor
  give zeros of the right shape and dtype (``False`` for ``bool``), on the CPU;
  ``torch.autocast("meta")`` is allowed (as on the CPU); ``Module.to("meta")`` keeps the parameter
  objects (as ``.to("cuda")`` does); distributions do not validate their (absent) values.
  ``.numpy()`` (and so ``np.asarray`` and plotting) of a meta tensor still fails, as it does for a
  CUDA tensor: that is a device bug too.

:func:`run_notebook` executes a notebook that way (errors do not stop it) and sorts its errors:
the device mismatches (:func:`is_device_mismatch`) and the rest, which in check mode are expected
(exercise stubs, code that needs real values). ``python -m coursekit.devicecheck NOTEBOOK ...``
prints the result and exits with status 1 when a notebook has a device mismatch.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

#: What PyTorch says when tensors of one operation sit on different devices (case-insensitive):
#: CUDA kernels, the hook below (which words its errors like CUDA), PyTorch's meta and CPU code.
_ACCEL = r"(cuda|meta|mps|xpu)"
MISMATCH_PATTERNS = (
    r"Expected all tensors to be on the same device",            # CUDA kernels, this hook, optimizers
    # convolutions on CUDA; the two types differ in device, not only in dtype
    rf"Input type \([^)]*{_ACCEL}[^)]*\) and (weight|bias) type \((?![^)]*{_ACCEL})[^)]*\) should be the same",
    rf"Input type \((?![^)]*{_ACCEL})[^)]*\) and (weight|bias) type \([^)]*{_ACCEL}[^)]*\) should be the same",
    r"indices should be either on cpu or on the same device as the indexed tensor",
    r"Expected a '\w+' device type for generator but found '\w+'",
    r"Tensor on device \S+ is not on the expected device \S+!",     # meta kernels (torch._prims_common)
    r"Cannot inplace into non-meta tensor with meta tensor argument",
    r"\bto be on the same device\b|\bmust be on the same device\b",  # linalg, foreach, conv, dot, index_put
    r"returned an invalid gradient at index \d+ - expected device",  # autograd
    rf"can't convert {_ACCEL}\S* device type tensor to numpy",     # .numpy(), np.asarray, plots
)
_MISMATCH = re.compile("|".join(f"(?:{p})" for p in MISMATCH_PATTERNS), re.IGNORECASE)

# Operations that legitimately take tensors on two devices.
_COPIES = {aten._to_copy, aten.copy_, aten._copy_from, aten._copy_from_and_resize, aten._foreach_copy_,
           aten.lift_fresh, aten.lift_fresh_copy, aten._has_compatible_shallow_copy_type}
_INDEXING = {aten.index, aten.index_put, aten.index_put_, aten._index_put_impl_, aten._unsafe_index,
             aten._unsafe_index_put}


def is_device_mismatch(message: str) -> bool:
    """True when an error message says that tensors (or a generator) sit on different devices."""
    return bool(_MISMATCH.search(message))


def _flat(values) -> list:
    out = []
    for value in values:
        if isinstance(value, (list, tuple)):
            out.extend(value)
        else:
            out.append(value)
    return out


def _mismatch(a: torch.device, b: torch.device, func) -> RuntimeError:
    return RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                        f"{a} and {b}! (device check, in {func})")


def _check(func, args: tuple, kwargs: dict) -> None:
    """Raise as CUDA would when the tensors (or the generator) of one operation sit on two devices."""
    packet = func.overloadpacket
    values = _flat(args) + _flat(kwargs.values())
    if packet in _INDEXING:                  # indices may stay on the CPU when the tensor is elsewhere
        self, indices = args[0], [i for i in args[1] if i is not None]
        if self.device.type == "cpu" and any(i.device.type != "cpu" for i in indices):
            raise RuntimeError("indices should be either on cpu or on the same device as the indexed tensor "
                               f"(cpu) (device check, in {func})")
        values = [self, *args[2:]]
    common = None
    for value in values:
        if isinstance(value, torch.Tensor) and not (value.device.type == "cpu" and value.dim() == 0):
            if common is None:
                common = value.device
            elif value.device != common:
                raise _mismatch(common, value.device, func)
    target = kwargs.get("device") or common
    for value in values:
        if isinstance(value, torch.Generator) and target is not None and value.device.type != target.type:
            raise RuntimeError(f"Expected a '{target.type}' device type for generator but found "
                               f"'{value.device.type}' (device check, in {func})")


def _zero_scalar(dtype: torch.dtype):
    return False if dtype == torch.bool else 0.0 if (dtype.is_floating_point or dtype.is_complex) else 0


def _touches_meta(args: tuple, kwargs: dict) -> bool:
    """Whether an operation has a meta tensor argument or makes one (only those can mismatch)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            if value.is_meta:
                return True
        elif isinstance(value, (list, tuple)):
            if any(isinstance(v, torch.Tensor) and v.is_meta for v in value):
                return True
    device = kwargs.get("device")
    return device is not None and torch.device(device).type == "meta"


class DeviceCheckMode(TorchDispatchMode):
    """Check the devices of every operation on meta tensors; answer reads of meta tensors with zeros."""


def _dispatch(self, func, types, args=(), kwargs=None):
    kwargs = kwargs or {}
    if not _touches_meta(args, kwargs):      # CPU only: nothing to check (the fast path)
        return func(*args, **kwargs)
    packet = func.overloadpacket
    source = args[0] if args and isinstance(args[0], torch.Tensor) else None
    if packet is aten._local_scalar_dense:                                # item(), float(), bool()
        return _zero_scalar(source.dtype)
    if packet is aten._to_copy and source.is_meta:                        # .cpu(), .to("cpu")
        device = torch.device(kwargs.get("device") or "meta")
        if device.type != "meta":
            return torch.zeros(source.shape, dtype=kwargs.get("dtype") or source.dtype, device=device)
    if packet is aten.copy_ and args[1].is_meta and not source.is_meta:   # cpu_tensor[...] = meta
        return source
    if packet not in _COPIES:
        _check(func, args, kwargs)
    return func(*args, **kwargs)


# Set after the class is made: TorchDispatchMode would wrap it in a (slower) torch._dynamo guard.
DeviceCheckMode.__torch_dispatch__ = _dispatch


_installed: DeviceCheckMode | None = None


def installed() -> bool:
    """True once :func:`install` has run in this process."""
    return _installed is not None


def install() -> None:
    """Turn on the check mode in this process (idempotent). Called by ``get_device`` when
    ``COURSE_DEVICE=meta``; the patches below only change what meta tensors do."""
    global _installed
    if _installed is not None:
        return
    _installed = DeviceCheckMode()
    _installed.__enter__()                   # stays active for the rest of the process

    tensor = torch.Tensor
    tolist, fmt = tensor.tolist, tensor.__format__
    tensor.tolist = lambda self: self.cpu().tolist() if self.is_meta else tolist(self)
    tensor.__format__ = lambda self, spec: (format(self.item(), spec) if self.is_meta and self.dim() == 0
                                            else fmt(self, spec))

    # Module.to("meta") keeps the Parameter objects, as .to("cuda") does (optimizers made before
    # the move must see the moved parameters), and distributions skip their value checks (no data).
    torch.__future__.set_swap_module_params_on_conversion(True)
    torch.distributions.Distribution.set_default_validate_args(False)
    autocast_init = torch.amp.autocast_mode.autocast.__init__

    def init(self, device_type, *args, **kwargs):
        autocast_init(self, "cpu" if device_type == "meta" else device_type, *args, **kwargs)

    torch.amp.autocast_mode.autocast.__init__ = init


# ---------------------------------------------------------------------------------------------------
# Running notebooks in check mode


@dataclass
class CellError:
    """One failed cell: its index in the notebook, the error and whether it is a device mismatch."""

    cell: int
    ename: str
    evalue: str
    line: str = ""
    mismatch: bool = False


@dataclass
class CheckResult:
    """What a notebook did in check mode."""

    path: str
    code_cells: int = 0
    clean_cells: int = 0          # code cells that ran without an error
    seconds: float = 0.0
    errors: list[CellError] = field(default_factory=list)

    @property
    def mismatches(self) -> list[CellError]:
        return [e for e in self.errors if e.mismatch]

    def summary(self) -> str:
        lines = [f"{self.path}: {self.clean_cells}/{self.code_cells} code cells without error, "
                 f"{len(self.mismatches)} device mismatch(es), {self.seconds:.1f} s"]
        for e in self.errors:
            kind = "DEVICE MISMATCH" if e.mismatch else "other error"
            where = f"\n    at {e.line}" if e.line else ""
            lines.append(f"  cell {e.cell}: {kind}: {e.ename}: {e.evalue[:300]}{where}")
        return "\n".join(lines)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _failing_line(traceback: list[str]) -> str:
    """``line N: code`` of the cell's own frame of an IPython traceback (where the cell called in)."""
    for frame in traceback:
        text = _ANSI.sub("", frame)
        if text.startswith("Cell In["):
            for line in text.splitlines():
                marked = re.match(r"-+>\s*(\d+)\s?(.*)", line)
                if marked:
                    return f"line {marked[1]}: {marked[2].strip()}"
    return ""


def check_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a check run: ``COURSE_DEVICE=meta``, ``COURSE_QUICK=1``, no progress bars."""
    env = dict(os.environ if base is None else base)
    env.update(COURSE_DEVICE="meta", COURSE_QUICK="1", COURSE_NO_PROGRESS="1", MPLBACKEND="Agg")
    return env


def run_notebook(path: str | Path, cell_timeout: int = 60, setup_timeout: int = 300,
                 kernel: str = "python3") -> CheckResult:
    """Execute a notebook in check mode, in one kernel, going on after errors.

    The kernel gets :func:`check_environment` and runs in the notebook's folder. A cell that runs
    longer than ``cell_timeout`` seconds is interrupted and counts as an error (not a mismatch):
    meta compute is free, so only CPU work can be slow. The cells up to the one that picks the
    device (imports, data) get ``setup_timeout``.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    picks = [i for i in code if "get_device(" in nb.cells[i].source] or code[:1]
    setup = {id(c) for c in nb.cells[:picks[0] + 1]} if picks else set()
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name=kernel, allow_errors=True,
                            interrupt_on_timeout=True, resources={"metadata": {"path": str(path.parent)}},
                            timeout_func=lambda cell: setup_timeout if id(cell) in setup else cell_timeout)
    start = time.perf_counter()
    client.execute(env=check_environment())
    result = CheckResult(str(path), seconds=time.perf_counter() - start)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        result.code_cells += 1
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if not errors:
            result.clean_cells += 1
        for out in errors:
            message = f"{out.get('ename', '')}: {out.get('evalue', '')}"
            result.errors.append(CellError(index, out.get("ename", ""), out.get("evalue", ""),
                                           _failing_line(out.get("traceback", [])), is_device_mismatch(message)))
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m coursekit.devicecheck NOTEBOOK ...``: exit status 1 on a device mismatch."""
    paths = sys.argv[1:] if argv is None else argv
    failed = False
    for path in paths:
        result = run_notebook(path)
        print(result.summary(), flush=True)
        failed |= bool(result.mismatches)
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
