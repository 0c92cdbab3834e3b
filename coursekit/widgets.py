"""Interactive figures: live ipywidgets for a kernel, and their kernel-free twins for the book.

A live widget needs a running kernel, which the online book (static HTML) does not have. Each
interactive figure therefore also gets a *static twin*: :func:`static_twin` draws the figure once
for every setting of its controls while the chapter executes (at build time), and the book's own
script (``book/_static/course-twin.js``) swaps the precomputed frames as the reader moves the
sliders. Nothing is fetched from another site, so the twin works offline and on any static host.

The twin's HTML is marked ``hidden``: Jupyter, Colab and Binder, which have the live widget,
do not show it; the book's stylesheet (``book/_static/course-twin.css``) does.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Iterator

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display
from PIL import Image

from coursekit.plotting import show_rows

#: Upper bound on the frames of one twin: they are embedded in the page (a few kB each).
MAX_FRAMES = 400


class StaticTwin:
    """A kernel-free interactive figure: one precomputed frame per setting of its controls.

    Displayed in a notebook it renders as (hidden) HTML; in the book, ``course-twin.js`` shows
    it and maps the sliders' positions to frames (the last control varies fastest).
    """

    def __init__(self, controls: Mapping[str, Sequence[Any]], frames: Sequence[str],
                 descriptions: Mapping[str, str] | None = None, initial: Mapping[str, Any] | None = None,
                 caption: str | None = None, play: str | None = None) -> None:
        """
        Args:
            controls: control name -> the values its slider steps through.
            frames: one image (a ``data:`` URI) per combination of values, last control fastest.
            descriptions: control name -> label shown next to its slider (default: the name).
            initial: control name -> value shown first (default: each control's first value).
            caption: a sentence under the figure.
            play: the name of a control that a play button steps through (an animation).
        """
        self.names = list(controls)
        self.values = [list(v) for v in controls.values()]
        expected = int(np.prod([len(v) for v in self.values]))
        if len(frames) != expected:
            raise ValueError(f"{len(frames)} frames for {expected} combinations of the controls")
        if play is not None and play not in controls:
            raise ValueError(f"play={play!r} is not one of the controls {self.names}")
        self.unique = list(dict.fromkeys(frames))                 # identical frames are stored once
        position = {uri: i for i, uri in enumerate(self.unique)}
        self.index = [position[uri] for uri in frames]
        self.descriptions = {name: (descriptions or {}).get(name, name) for name in self.names}
        initial = initial or {}
        self.initial = [_position(values, initial[name]) if name in initial else 0
                        for name, values in zip(self.names, self.values)]
        self.caption = caption
        self.play = play

    @property
    def frame_count(self) -> int:
        """Number of distinct frames stored."""
        return len(self.unique)

    def frame_at(self, positions: Sequence[int]) -> str:
        """The frame (data URI) shown when the sliders are at ``positions`` (indices into values)."""
        flat = 0
        for values, pos in zip(self.values, positions):
            flat = flat * len(values) + pos
        return self.unique[self.index[flat]]

    def _repr_html_(self) -> str:
        controls = []
        for i, (name, values) in enumerate(zip(self.names, self.values)):
            label = html.escape(self.descriptions[name])
            shown = html.escape(_label(values[self.initial[i]]))
            button = ('<button type="button" class="course-twin-play" aria-label="play">&#9654;</button>'
                      if name == self.play else "")
            controls.append(
                f'<span class="course-twin-control">{button}<label><span>{label}</span>'
                f'<input class="course-twin-input" type="range" min="0" max="{len(values) - 1}" step="1" '
                f'value="{self.initial[i]}"></label><output>{shown}</output></span>')
        spec = {"controls": [{"name": n, "labels": [_label(v) for v in values]}
                             for n, values in zip(self.names, self.values)],
                "index": self.index, "play": self.play}
        caption = f'<p class="course-twin-caption">{html.escape(self.caption)}</p>' if self.caption else ""
        return (
            '<div class="course-twin" hidden>'
            f'<div class="course-twin-controls">{"".join(controls)}</div>'
            f'<img class="course-twin-frame" alt="interactive figure" src="{self.frame_at(self.initial)}">'
            f"{caption}"
            '<p class="course-twin-note">Computed when the book was built: the sliders work without a '
            "kernel. Launch the page (Colab, Binder) for the live version.</p>"
            f'<script type="application/json" class="course-twin-spec">{_script_json(spec)}</script>'
            f'<script type="application/json" class="course-twin-frames">{_script_json(self.unique)}</script>'
            "</div>")

    def __repr__(self) -> str:
        sizes = " x ".join(f"{name} ({len(v)})" for name, v in zip(self.names, self.values))
        return f"<kernel-free twin for the online book: {sizes}, {self.frame_count} distinct frames>"


def static_twin(draw: Callable[..., Any], *, descriptions: Mapping[str, str] | None = None,
                initial: Mapping[str, Any] | None = None, caption: str | None = None,
                play: str | None = None, dpi: float | None = None, **controls: Iterable[Any]) -> StaticTwin:
    """Precompute ``draw`` for every combination of the controls' values: the book's copy of a widget.

    ``draw`` is typically the very function given to ``ipywidgets.interact``: it is called with
    keyword arguments (one per control) and may draw with matplotlib and call ``plt.show()`` (the
    figures it opens are captured, not displayed), return a matplotlib figure, or return an image
    (a tensor or array in [0, 1], (H, W), (1, H, W) or (H, W, 3)). The global random states
    (Python, NumPy, PyTorch) are restored afterwards, so adding a twin changes no later result.

    Example::

        widgets.interact(show_interpolation, t=widgets.FloatSlider(min=0, max=1, step=0.05))
        static_twin(show_interpolation, t=np.linspace(0, 1, 21).round(2))

    Args:
        draw: draws the figure for one setting of the controls.
        descriptions, initial, caption, play: see :class:`StaticTwin`.
        dpi: resolution of figures drawn with matplotlib (default: ``figure.dpi``, as the chapter's
            other figures).
        **controls: control name -> the values its slider steps through.
    """
    values = {name: list(v) for name, v in controls.items()}
    if not values or any(len(v) == 0 for v in values.values()):
        raise ValueError("every control needs at least one value")
    count = int(np.prod([len(v) for v in values.values()]))
    if count > MAX_FRAMES:
        raise ValueError(f"{count} frames is more than {MAX_FRAMES}: use fewer values per control")
    dpi = dpi or plt.rcParams["figure.dpi"]
    frames = []
    with _restored_random_state(), _captured_figures() as new_figures:
        for combination in itertools.product(*values.values()):
            result = draw(**dict(zip(values, combination)))
            frames.append(_encode(_frame_image(result, new_figures(), dpi)))
    return StaticTwin(values, frames, descriptions=descriptions, initial=initial, caption=caption,
                      play=play)


def image_rows_slider(make_rows: Callable[[float], Sequence[torch.Tensor]], labels: Sequence[str],
                      description: str, min: float, max: float, step: float, value: float,
                      ) -> widgets.VBox:
    """A slider that redraws labelled rows of images computed by ``make_rows(value)``.

    Shows the live widget (Jupyter, Colab, Binder) and its static twin (the online book), whose
    slider takes the same values. Integer arguments give an integer slider.

    Args:
        make_rows: maps the slider's value to a list of image batches (one per row).
        labels: one label per row.
        description, min, max, step, value: the slider's settings.
    """
    integer = all(isinstance(v, (int, np.integer)) for v in (min, max, step, value))
    kind = widgets.IntSlider if integer else widgets.FloatSlider
    slider = kind(description=description, min=min, max=max, step=step, value=value,
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
    steps = np.arange(min, max + step / 2, step)
    steps = [int(v) for v in steps] if integer else [round(float(v), 10) for v in steps]
    display(static_twin(lambda v: show_rows(make_rows(v), labels), v=steps,
                        descriptions={"v": description}, initial={"v": value}))
    return box


def _position(values: Sequence[Any], value: Any) -> int:
    """Index of ``value`` in ``values`` (the nearest one for numbers)."""
    if value in values:
        return list(values).index(value)
    return int(np.argmin([abs(float(v) - float(value)) for v in values]))


def _label(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


def _script_json(data: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


@contextmanager
def _restored_random_state() -> Iterator[None]:
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


@contextmanager
def _captured_figures() -> Iterator[Callable[[], list]]:
    """While active, ``plt.show()`` displays nothing; yields a function listing the figures opened
    since the start (and still open)."""
    show, before = plt.show, set(plt.get_fignums())
    plt.show = lambda *args, **kwargs: None
    try:
        yield lambda: [plt.figure(n) for n in sorted(set(plt.get_fignums()) - before)]
    finally:
        plt.show = show
        for number in set(plt.get_fignums()) - before:
            plt.close(number)


def _frame_image(result: Any, opened: list, dpi: float) -> Image.Image:
    """One frame as a PIL image: the returned image or figure, and the figures ``draw`` opened."""
    if isinstance(result, (torch.Tensor, np.ndarray)):
        for fig in opened:
            plt.close(fig)
        return _array_image(result)
    figures = [result] if isinstance(result, plt.Figure) else []
    figures += [fig for fig in opened if fig is not result]
    if not figures:
        raise ValueError("draw() neither returned an image or a figure nor drew a matplotlib figure")
    images = [_figure_image(fig, dpi) for fig in figures]
    if len(images) == 1:
        return images[0]
    canvas = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images)), "white")
    top = 0
    for image in images:                                  # several figures: stacked, as in a notebook
        canvas.paste(image, (0, top))
        top += image.height
    return canvas


def _figure_image(fig, dpi: float) -> Image.Image:
    """Render and close a figure, cropped to what it draws (like ``bbox_inches="tight"``, which
    would draw it twice)."""
    fig.set_dpi(dpi)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    plt.close(fig)
    drawn = np.argwhere((rgb < 250).any(axis=2))
    if len(drawn):
        pad = max(1, round(dpi / 18))
        (top, left), (bottom, right) = drawn.min(0), drawn.max(0)
        rgb = rgb[max(0, top - pad):bottom + pad + 1, max(0, left - pad):right + pad + 1]
    return Image.fromarray(np.ascontiguousarray(rgb))


def _array_image(image: torch.Tensor | np.ndarray) -> Image.Image:
    array = image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3):
        array = np.moveaxis(array, 0, -1)
    array = np.clip(array, 0, 1).squeeze()
    return Image.fromarray((array * 255).round().astype(np.uint8))


def _encode(image: Image.Image) -> str:
    """A small data URI: a lossless PNG (grey levels, or a 256-colour palette) for plots and
    drawings; a WebP when the frame is photo-like (noise, X-rays) and WebP is much smaller."""
    rgb = np.asarray(image.convert("RGB"))
    grey = image.mode == "L" or bool((np.ptp(rgb.astype(np.int16), axis=2) == 0).all())
    base = image.convert("L") if grey else image.convert("RGB")
    buffer = io.BytesIO()
    (base if grey else base.quantize(colors=256, method=Image.Quantize.FASTOCTREE)).save(
        buffer, format="PNG", compress_level=6)
    data, kind = buffer.getvalue(), "png"
    if len(data) > 8000:                                   # large: try the lossy format
        lossy = io.BytesIO()
        base.save(lossy, format="WEBP", quality=85, method=4)
        if len(lossy.getvalue()) * 1.5 < len(data):
            data, kind = lossy.getvalue(), "webp"
    return f"data:image/{kind};base64," + base64.b64encode(data).decode("ascii")
