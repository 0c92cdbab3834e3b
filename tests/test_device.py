"""The device check: every chapter, exercise release and solution runs on the ``meta`` device
(``COURSE_DEVICE=meta``, see coursekit/devicecheck.py) and must not mix devices; a planted
mismatch is caught; the hook answers the way CUDA would.

Notebooks run in parallel kernels (one kernel per notebook); what each reached is written to
test-output/device/coverage.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from coursekit.devicecheck import CheckResult, is_device_mismatch, run_notebook
from tests.conftest import OUTPUT, REPO

NOTEBOOKS = [str(p.relative_to(REPO)) for pattern in ("book/*.ipynb", "exercises/*/*.ipynb", "solutions/*/*.ipynb")
             for p in sorted(REPO.glob(pattern))]
#: A cell running longer is interrupted (an error, not a mismatch): device code on meta is instant,
#: only CPU training (the solutions' demos and hidden tests, chapter 3's toys) takes that long.
CELL_TIMEOUT = 30
WORKERS = max(2, (os.cpu_count() or 2)) + 1      # kernels mostly wait on imports and I/O


@pytest.fixture(scope="module")
def checked(request) -> dict[str, Future]:
    """Start the check of every notebook selected in this session, in parallel kernels."""
    params = [getattr(getattr(item, "callspec", None), "params", {}) for item in request.session.items
              if getattr(item, "module", None) is request.module]     # nbval's items have no module
    selected = [p["notebook"] for p in params if "notebook" in p]
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    futures = {nb: pool.submit(run_notebook, REPO / nb, CELL_TIMEOUT) for nb in dict.fromkeys(selected)}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)     # early exit (-x): drop the ones not started
    coverage = {nb: _coverage(f.result()) for nb, f in futures.items() if f.done() and not f.exception()}
    if coverage:
        path = OUTPUT / "device" / "coverage.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**old, **coverage}, indent=1))


def _coverage(result: CheckResult) -> dict:
    return {"clean_cells": result.clean_cells, "code_cells": result.code_cells, "seconds": round(result.seconds, 1),
            "mismatches": [f"cell {e.cell}: {e.evalue[:200]}" for e in result.mismatches],
            "other_errors": [f"cell {e.cell}: {e.ename}" for e in result.errors if not e.mismatch]}


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_has_no_device_mismatch(checked, notebook):
    result = checked[notebook].result()
    print(result.summary())
    assert not result.mismatches, "device mismatch in check mode (COURSE_DEVICE=meta):\n" + result.summary()
    # The check only means something if the notebook got past choosing its device.
    source = nbformat.read(REPO / notebook, as_version=4).cells
    setup = [i for i, c in enumerate(source) if c.cell_type == "code" and "get_device()" in c.source]
    # (a release's stub raising NotImplementedError is expected: its solution runs the same cell whole)
    failed = {e.cell for e in result.errors if e.ename != "NotImplementedError"}
    assert not set(setup[:1]) & failed, f"the cell that picks the device failed:\n{result.summary()}"
    assert result.clean_cells > 0


# ---------------------------------------------------------------------------------------------------
# The check catches planted bugs and passes clean code.

SETUP = """\
import numpy as np, torch, matplotlib.pyplot as plt
from torch import nn
import coursekit
device = coursekit.get_device()
print(device)"""

CLEAN = [SETUP, """\
net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
net = net.to(device)
optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
images, labels = torch.rand(32, 1, 8, 8), torch.randint(0, 2, (32,))
for step in range(3):
    pick = torch.randint(0, 32, (16,))                       # CPU indices, CPU data, then moved
    x, y = images[pick].to(device), labels[pick].to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits = net(x)
    loss = nn.functional.cross_entropy(logits.float(), y) + 0.1 * torch.tensor(1.0)   # CPU scalar is fine
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    print(f"step {step}: loss {loss.item():.3f} {loss:.2f} {float(loss) < 10} {bool(loss > 0)}")""",
          """\
with torch.no_grad():
    out = net(images.to(device)).softmax(1).cpu()
accuracy = (out.argmax(1) == labels).float().mean().item()
plt.imshow(net[0].weight.detach().cpu()[0, 0].numpy()); plt.close()
print(accuracy, out.tolist()[:1], net.cpu()[0].weight.shape)"""]

PLANTED = [SETUP, """\
net = nn.Linear(4, 2).to(device)
out = net(torch.randn(3, 4))              # planted: the input stays on the CPU""", """\
class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.ConvTranspose2d(8, 16, 4), nn.BatchNorm2d(16), nn.ReLU(),
                                 nn.ConvTranspose2d(16, 1, 4))
    def forward(self, z):
        return self.net(z[:, :, None, None])

def sample(G, n):
    G.eval()
    z = torch.randn(n, 8).to(device)
    with torch.no_grad():
        return G(z).cpu()

G = Generator()
untrained = sample(G, 16)                 # planted (chapter 4's bug): G is not on the device yet""", """\
G.to(device)
print(sample(G, 16).shape)                # moved: fine"""]


def _notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_check_catches_planted_mismatches(tmp_path):
    result = run_notebook(_notebook(tmp_path / "planted.ipynb", PLANTED))
    print(result.summary())
    assert [e.cell for e in result.mismatches] == [1, 2], result.summary()
    assert "torch.randn(3, 4)" in result.mismatches[0].line
    assert "sample(G, 16)" in result.mismatches[1].line
    assert result.clean_cells == 2


@pytest.mark.slow
def test_clean_notebook_passes(tmp_path):
    result = run_notebook(_notebook(tmp_path / "clean.ipynb", CLEAN))
    print(result.summary())
    assert result.errors == [], result.summary()
    assert result.clean_cells == len(CLEAN)


# ---------------------------------------------------------------------------------------------------
# The hook, operation by operation (in a subprocess: it changes torch for the whole process).

PROBE = """
import json, torch, torch.nn as nn, torch.nn.functional as F
import coursekit
m = coursekit.get_device()
assert m.type == "meta" and __import__("coursekit.devicecheck").devicecheck.installed()
c = lambda *s: torch.rand(*s)
d = lambda *s: torch.rand(*s, device=m)
p = nn.Parameter(d(3)); p.grad = d(3)
cpu_state = nn.Linear(3, 3); opt_cpu_state = torch.optim.Adam(cpu_state.parameters())
cpu_state(c(2, 3)).sum().backward(); opt_cpu_state.step()           # Adam state on the CPU ...
cpu_state.to(m); cpu_state(d(2, 3)).sum().backward()                # ... and the model moved after
moved = nn.Linear(3, 3); opt_moved = torch.optim.Adam(moved.parameters()); moved.to(m)
moved(d(2, 3)).sum().backward()
MIXED = {                  # mixing devices: must fail
    "conv, model on device, input on cpu": lambda: nn.Conv2d(1, 2, 3).to(m)(c(2, 1, 8, 8)),
    "conv, model on cpu, input on device": lambda: nn.Conv2d(1, 2, 3)(d(2, 1, 8, 8)),
    "conv transpose": lambda: nn.ConvTranspose2d(1, 2, 3).to(m)(c(2, 1, 8, 8)),
    "linear": lambda: nn.Linear(4, 2).to(m)(c(3, 4)),
    "linear without bias": lambda: nn.Linear(4, 2, bias=False)(d(3, 4)),
    "matmul": lambda: c(3, 4) @ d(4, 5),
    "bmm": lambda: torch.bmm(d(2, 3, 4), c(2, 4, 5)),
    "add": lambda: d(3) + c(3),
    "in-place add into cpu": lambda: c(3).add_(d(3)),
    "cat": lambda: torch.cat([d(3), c(3)]),
    "stack": lambda: torch.stack([c(3), d(3)]),
    "where": lambda: torch.where(d(3) > 0.5, d(3), c(3)),
    "mse loss": lambda: F.mse_loss(d(3), c(3)),
    "bce with logits": lambda: F.binary_cross_entropy_with_logits(d(3), c(3)),
    "cross entropy, labels on cpu": lambda: F.cross_entropy(d(4, 3), torch.tensor([0, 1, 2, 0])),
    "batch norm": lambda: nn.BatchNorm2d(1).to(m)(c(2, 1, 4, 4)),
    "index cpu tensor with device indices": lambda: c(5)[torch.tensor([0, 1], device=m)],
    "index_select, cpu index": lambda: d(5).index_select(0, torch.tensor([0, 1])),
    "cdist": lambda: torch.cdist(d(3, 4), c(5, 4)),
    "grid_sample": lambda: F.grid_sample(d(2, 1, 4, 4), c(2, 4, 4, 2), align_corners=False),
    "device scalar into cpu tensor": lambda: c(3) * d(()),
    "randn with a cpu generator on the device": lambda: torch.randn(3, generator=torch.Generator(), device=m),
    "numpy of a device tensor": lambda: d(3).numpy(),
    "optimizer state on cpu, model moved after a step": lambda: opt_cpu_state.step(),
}
ALLOWED = {                # what CUDA allows: must pass
    "cpu 0-dim scalar with device tensor": lambda: d(3) * torch.tensor(2.0),
    "device tensor indexed with cpu indices": lambda: d(5)[torch.tensor([0, 1])],
    "device tensor indexed with a cpu mask": lambda: d(5)[torch.rand(5) > 2],
    "copy between devices": lambda: d(3).copy_(c(3)),
    "cpu tensor assigned from device": lambda: c(3).__setitem__(slice(0, 2), d(2)),
    "item, float, bool, format": lambda: (d(()).item(), float(d(())), bool(d(()) > 0), f"{d(()):.2f}"),
    "cpu, to('cpu'), tolist, numpy after cpu": lambda: (d(2).cpu(), d(2).to("cpu"), d(2).tolist(), d(2).cpu().numpy()),
    "autocast on the device type": lambda: torch.autocast(m.type, dtype=torch.bfloat16, enabled=False).__enter__(),
    "optimizer made before the move": lambda: opt_moved.step(),
    "optimizer on device": lambda: torch.optim.Adam([p]).step(),
    "distributions": lambda: torch.distributions.Normal(d(3), d(3).exp()).rsample(),
    "module to cpu": lambda: nn.Linear(2, 2).to(m).cpu()(c(1, 2)),
}
def error(case):
    try:
        case()
        return ""
    except Exception as err:
        return f"{type(err).__name__}: {err}"
print(json.dumps({kind: {name: error(case) for name, case in cases.items()}
                  for kind, cases in [("mixed", MIXED), ("allowed", ALLOWED)]}))
"""


@pytest.fixture(scope="module")
def probe() -> dict[str, dict[str, str]]:
    env = {**os.environ, "COURSE_DEVICE": "meta", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_hook_fails_on_mixed_devices_like_cuda(probe):
    assert len(probe["mixed"]) >= 20
    for name, error in probe["mixed"].items():
        assert is_device_mismatch(error), f"{name}: {error or 'no error'}"


def test_hook_lets_what_cuda_allows_pass(probe):
    assert len(probe["allowed"]) >= 10
    for name, error in probe["allowed"].items():
        assert error == "", f"{name}: {error}"


# ---------------------------------------------------------------------------------------------------
# The matcher, on PyTorch's real messages.

MISMATCHES = [
    # CUDA (chapter 4 on an H100, issue 14) and CUDA kernels
    "Input type (torch.cuda.FloatTensor) and weight type (torch.FloatTensor) should be the same",
    "Input type (torch.FloatTensor) and weight type (torch.cuda.FloatTensor) should be the same",
    "Input type (CUDABFloat16Type) and weight type (CPUBFloat16Type) should be the same",
    "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu! "
    "(when checking argument for argument mat1 in method wrapper_CUDA_addmm)",
    "Expected all tensors to be on the same device, but got mat2 is on cpu, different from other tensors on cuda:0",
    "indices should be either on cpu or on the same device as the indexed tensor (cpu)",
    "Expected a 'cuda' device type for generator but found 'cpu'",
    "can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first.",
    "Function AddmmBackward0 returned an invalid gradient at index 1 - expected device meta but got cpu",
    "Tensors of the same index must be on the same device and the same dtype except `step` tensors that can be CPU",
    # meta and CPU code paths
    "Tensor on device meta is not on the expected device cpu!",
    "Tensor on device cpu is not on the expected device meta!",
    "Cannot inplace into non-meta tensor with meta tensor argument",
    "can't convert meta device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first.",
]
NOT_MISMATCHES = [
    "Input type (torch.cuda.DoubleTensor) and weight type (torch.cuda.FloatTensor) should be the same",
    "Input type (CUDADoubleType) and weight type (CUDAFloatType) should be the same",
    "Input type (double) and bias type (float) should be the same",
    "mat1 and mat2 shapes cannot be multiplied (3x4 and 5x2)",
    "Tensor.item() cannot be called on meta tensors",
    "Cannot copy out of meta tensor; no data!",
    "expected scalar type Float but found Double",
    "",
]


@pytest.mark.parametrize("message", MISMATCHES)
def test_matcher_knows_device_messages(message):
    assert is_device_mismatch(message)


@pytest.mark.parametrize("message", NOT_MISMATCHES)
def test_matcher_ignores_other_errors(message):
    assert not is_device_mismatch(message)


def test_get_device_reads_course_device(monkeypatch):
    import torch

    from coursekit import devicecheck, get_device

    default = "cuda" if torch.cuda.is_available() else "cpu"
    for value, expected in [(None, default), ("", default), (" cpu ", "cpu"), ("cuda:1", "cuda:1")]:
        if value is None:
            monkeypatch.delenv("COURSE_DEVICE", raising=False)
        else:
            monkeypatch.setenv("COURSE_DEVICE", value)
        assert str(get_device()) == expected
        assert str(get_device("cpu")) == "cpu"
    monkeypatch.setenv("COURSE_DEVICE", "gpu")
    with pytest.raises(ValueError, match="COURSE_DEVICE='gpu' is not a device name"):
        get_device()
    assert not devicecheck.installed()       # only COURSE_DEVICE=meta turns the check on (see PROBE)
