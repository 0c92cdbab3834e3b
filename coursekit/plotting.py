"""Plotting helpers: image grids (torchvision's ``make_grid``) and rows of labelled images."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from torchvision.utils import make_grid


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 1) -> torch.Tensor:
    """Tile a batch (N, C, H, W) into one (H', W') or (H', W', 3) array for ``imshow``."""
    images = images.detach().float().cpu().clamp(0, 1)
    grid = make_grid(images, nrow=nrow, padding=padding, pad_value=1.0)
    return grid[0] if images.shape[1] == 1 else grid.permute(1, 2, 0)


def show_images(images: torch.Tensor, nrow: int = 8, title: str | None = None, ax=None,
                figsize: tuple[float, float] | None = None):
    """Show a batch of images in [0, 1] as one grid and return the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize or (nrow * 0.8, max(1, len(images) // nrow) * 0.8 + 0.4))
    ax.imshow(image_grid(images, nrow=nrow), cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def show_rows(rows: Sequence[torch.Tensor], labels: Sequence[str], title: str | None = None,
              cell: float = 0.9):
    """Show several batches of the same length as labelled rows (e.g. input / output / target)."""
    ncol = len(rows[0])
    fig, axes = plt.subplots(len(rows), 1, figsize=(ncol * cell, len(rows) * cell + 0.3), squeeze=False)
    for ax, row, label in zip(axes[:, 0], rows, labels):
        ax.imshow(image_grid(row, nrow=ncol), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        for side in ax.spines.values():
            side.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
