"""Plotting helpers: image grids (torchvision's ``make_grid``), rows of labelled images, and
boxes-and-arrows diagrams of models (``draw_diagram``)."""

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


# --------------------------------------------------------------------------- diagrams

#: Fill colours of the diagram boxes, by role (any matplotlib colour may be passed instead).
DIAGRAM_COLORS = {"data": "#e8e8e8", "net": "#cfe2f3", "code": "#fce5cd", "noise": "#d9ead3",
                  "loss": "#f4cccc", "op": "#ffffff"}


def draw_diagram(boxes: dict[str, tuple], arrows: Sequence[tuple], title: str | None = None, ax=None,
                 figsize: tuple[float, float] = (10, 3), box_size: tuple[float, float] = (1.5, 0.75)):
    """Draw a boxes-and-arrows diagram of a model (an architecture figure drawn from code).

    Args:
        boxes: name -> ``(x, y, text)`` or ``(x, y, text, role)`` or ``(x, y, text, role, (w, h))``; the
            centre is at (x, y) in data units, ``role`` a key of ``DIAGRAM_COLORS`` or a colour, and
            role ``"op"`` draws a circle (an operation such as ``+`` or ``x``).
        arrows: ``(source, target)``, ``(source, target, label)`` or ``(source, target, label, style)``
            with ``style`` a dict of ``dashed`` (bool), ``rad`` (curvature), ``color`` and ``offset`` (of the
            label from the midpoint of the two centres). Arrows start and end on the boxes' edges.
        title: optional title.
        ax: axes to draw in (a new figure when None).
        figsize: size of the new figure.
        box_size: default (width, height) of a box.

    Returns:
        The axes, with equal aspect and no frame.
    """
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    patches, xs, ys = {}, [], []
    for name, spec in boxes.items():
        x, y, text = spec[:3]
        role = spec[3] if len(spec) > 3 else "net"
        w, h = spec[4] if len(spec) > 4 else box_size
        color = DIAGRAM_COLORS.get(role, role)
        if role == "op":
            patch = Circle((x, y), radius=min(w, h) / 2, facecolor=color, edgecolor="black", lw=1)
            w = h = min(w, h)
        else:
            patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                   facecolor=color, edgecolor="black", lw=1)
        ax.add_patch(patch)
        ax.text(x, y, text, ha="center", va="center", fontsize=9)
        patches[name] = patch
        xs += [x - w / 2, x + w / 2]
        ys += [y - h / 2, y + h / 2]
    for arrow in arrows:
        source, target = arrow[:2]
        label = arrow[2] if len(arrow) > 2 else None
        style = arrow[3] if len(arrow) > 3 else {}
        a, b = boxes[source], boxes[target]
        patch = FancyArrowPatch((a[0], a[1]), (b[0], b[1]), patchA=patches[source], patchB=patches[target],
                                arrowstyle="-|>", mutation_scale=12, lw=1.2, color=style.get("color", "black"),
                                linestyle="--" if style.get("dashed") else "-",
                                connectionstyle=f"arc3,rad={style.get('rad', 0.0)}")
        ax.add_patch(patch)
        if label:
            # the middle of the (quadratic Bezier) arc3 curve, then the requested offset
            rad, (dx, dy) = style.get("rad", 0.0), style.get("offset", (0.0, 0.0))
            mx = (a[0] + b[0]) / 2 + rad * (b[1] - a[1]) / 2 + dx
            my = (a[1] + b[1]) / 2 - rad * (b[0] - a[0]) / 2 + dy
            ax.text(mx, my, label, ha="center", va="center", fontsize=8,
                    color=style.get("color", "dimgray"),
                    bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none"))
    ax.set_xlim(min(xs) - 0.3, max(xs) + 0.3)
    ax.set_ylim(min(ys) - 0.3, max(ys) + 0.3)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax
