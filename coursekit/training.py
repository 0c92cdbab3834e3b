"""Training plumbing: in-memory mini-batches and progress bars.

The training loops themselves are written in the chapters, where they are the point.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

import torch
from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], desc: str = "", total: int | None = None, **kwargs) -> Iterable[T]:
    """A tqdm progress bar (a widget in notebooks, text elsewhere).

    Bars are silenced when ``COURSE_NO_PROGRESS=1`` (benchmarks and CI logs stay readable).
    """
    disable = os.environ.get("COURSE_NO_PROGRESS", "0") not in ("", "0")
    return tqdm(iterable, desc=desc, total=total, disable=disable, leave=False, **kwargs)


def batches(*tensors: torch.Tensor, batch_size: int = 128, shuffle: bool = True,
            generator: torch.Generator | None = None, device: torch.device | str | None = None,
            ) -> Iterator[Sequence[torch.Tensor]]:
    """Yield aligned mini-batches of tensors that already sit in memory.

    Faster than a ``DataLoader`` for small data sets such as MedMNIST: no worker processes, no
    per-sample collation, just one index tensor per epoch.

    Args:
        *tensors: tensors with the same first dimension (e.g. images and labels).
        batch_size: samples per batch; the last batch may be smaller.
        shuffle: draw a new random order (from ``generator``) for this pass.
        generator: CPU generator for a reproducible order.
        device: move each batch there (non-blocking when the source is pinned).
    """
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError("all tensors must have the same length")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        batch = [t[index] for t in tensors]
        if device is not None:
            batch = [t.to(device, non_blocking=True) for t in batch]
        yield batch
