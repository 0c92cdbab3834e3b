"""ipywidgets helpers shared by the chapters.

In the online book a widget shows its first state; run the page on Colab, Binder or locally to
move it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from coursekit.plotting import show_rows


def image_rows_slider(make_rows: Callable[[float], Sequence[torch.Tensor]], labels: Sequence[str],
                      description: str, min: float, max: float, step: float, value: float,
                      ) -> widgets.VBox:
    """A slider that redraws labelled rows of images computed by ``make_rows(value)``.

    Args:
        make_rows: maps the slider's value to a list of image batches (one per row).
        labels: one label per row.
        description, min, max, step, value: the slider's settings.
    """
    slider = widgets.FloatSlider(description=description, min=min, max=max, step=step, value=value,
                                 continuous_update=False, style={"description_width": "initial"})
    out = widgets.Output()

    def redraw(change=None) -> None:
        with out:
            out.clear_output(wait=True)
            fig = show_rows(make_rows(slider.value), labels)
            plt.show(fig)

    slider.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([slider, out])
    display(box)
    return box
