"""Device choice, seeding, the course-wide quick setting and metric reporting."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import torch

#: Set to 1 to make every chapter and solution notebook train for a few steps only (CI).
QUICK_ENV = "COURSE_QUICK"
#: Device override: ``cpu``, ``cuda``, ``cuda:1``, ... or ``meta`` (the device check, see :mod:`coursekit.devicecheck`).
DEVICE_ENV = "COURSE_DEVICE"
#: When set, :func:`report` also appends its metrics (JSON) to this file (used by the benchmarks).
METRICS_ENV = "COURSE_METRICS_FILE"


def quick() -> bool:
    """Return True when the quick setting (``COURSE_QUICK=1``) is on.

    Chapters use it to shrink training to a few steps; full settings are the default.
    """
    return os.environ.get(QUICK_ENV, "0").strip().lower() not in ("", "0", "false", "no")


def get_device(prefer: str | None = None) -> torch.device:
    """The device chapters and solutions compute on.

    ``COURSE_DEVICE`` (environment) chooses it: ``cpu``, ``cuda``, ``cuda:1``, ... or ``meta``;
    unset or empty, CUDA when present, otherwise the CPU. ``COURSE_DEVICE=meta`` is the device
    check: tensors on PyTorch's ``meta`` device hold shapes but no data, so a notebook runs
    without cost on any machine, and :func:`coursekit.devicecheck.install` makes every operation
    that mixes devices fail as it would on a GPU (``python -m coursekit.devicecheck NOTEBOOK``).

    Args:
        prefer: force a device name (``"cpu"``, ``"cuda"``), mostly for tests; it wins over the
            environment and never turns the check on.
    """
    if prefer is not None:
        return torch.device(prefer)
    name = os.environ.get(DEVICE_ENV, "").strip()
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"{DEVICE_ENV}={name!r} is not a device name (cpu, cuda, cuda:1, meta): {err}") from None
    if device.type == "meta":
        from coursekit import devicecheck

        devicecheck.install()
    return device


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) and return a seeded CPU generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def report(**metrics: float) -> dict[str, float]:
    """Print a chapter's measured numbers as a small table and hand them to the benchmarks.

    Values are rounded for printing only. When ``COURSE_METRICS_FILE`` is set the metrics are
    merged into that JSON file, which is how ``python -m benchmarks CHAPTER`` collects them.
    """
    width = max(len(k) for k in metrics) if metrics else 0
    for key, value in metrics.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    target = os.environ.get(METRICS_ENV)
    if target:
        path = Path(target)
        merged = json.loads(path.read_text()) if path.exists() else {}
        merged.update({k: float(v) for k, v in metrics.items()})
        path.write_text(json.dumps(merged, indent=1))
    return metrics


#: Results of long measurements (benchmarks) that chapters show but cannot afford to rerun.
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def measured(name: str) -> dict:
    """The stored result of a long benchmark run (``coursekit/results/<name>.json``).

    Chapters read them where the measurement takes longer than the chapter's budget (for example
    chapter 6's ablation, ``python -m benchmarks.segmentation_recipe --ablation``); each file
    names the command that wrote it, so a reader can reproduce it.
    """
    path = RESULTS_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no stored result {name!r} in {RESULTS_DIR}: run the command in its chapter to make it")
    return json.loads(path.read_text())
