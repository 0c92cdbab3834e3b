"""Chapter 6's recipe study (benchmarks/segmentation_recipe.py): the boundary measures it rests on,
and the stored ablation the chapter shows (coursekit/results/segmentation_recipe.json) matching the
code that wrote it. No training here: the ablation takes half an hour (``--ablation``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks.segmentation_recipe import (ABLATION_STEPS, BUDGET_SECONDS, FINAL, Config, boundary_distance,
                                            moved_masks, precision_curve)
from coursekit.runtime import measured


def ring(size: int = 32, outer: float = 10.0, inner: float = 7.0, dx: float = 0.0) -> np.ndarray:
    y, x = np.mgrid[:size, :size] - size / 2
    r = np.hypot(x - dx, y)
    return (r < outer) & (r >= inner)


def test_boundary_distance_is_zero_for_equal_masks_and_nan_for_an_empty_one():
    mask = ring()
    assert boundary_distance(mask[None], mask[None])[0] == 0
    assert np.isnan(boundary_distance(np.zeros_like(mask)[None], mask[None])[0])


def test_boundary_distance_of_a_square_moved_by_two_pixels():
    a = np.zeros((1, 20, 20), bool)
    a[0, 5:15, 5:15] = True
    b = np.roll(a, 2, axis=2)
    d = boundary_distance(a, b)[0]
    # the two left/right edges are 2 px apart, top/bottom edges partly coincide: strictly between 0 and 2
    assert 0.5 < d < 2.0
    assert d == pytest.approx(boundary_distance(b, a)[0])        # symmetric


def test_moved_masks_keep_the_area_and_move_the_outline():
    masks = np.stack([ring(dx=0.3 * k) for k in range(6)])
    same = moved_masks(masks, 0.0)
    assert np.array_equal(same, masks)
    moved = moved_masks(masks, 1.0)
    assert abs(moved.sum() / masks.sum() - 1) < 0.1
    assert np.nanmean(boundary_distance(moved, masks)) > 0.3


def test_precision_curve_falls_as_the_outline_moves():
    curve = precision_curve(np.stack([ring(dx=0.1 * k) for k in range(8)]), shifts=(0.25, 0.75, 1.5))
    dice = [row["dice"] for row in curve]
    assert dice == sorted(dice, reverse=True) and dice[-1] < 0.9


def test_the_stored_ablation_is_a_full_run_of_this_code():
    result = measured("segmentation_recipe")
    assert result["quick"] is False and result["folds"] == 3
    rows = result["ablation"]
    names = [row["step"] for row in rows]
    assert names[2:-1] == [step for step, _ in ABLATION_STEPS]
    final = rows[-1]["config"]
    assert final == {f.name: getattr(FINAL, f.name) for f in dataclasses.fields(Config) if f.name in final}
    kept = [row for row in rows[1:-1] if row["kept"]]
    assert kept, "the chapter's U-Net row is always kept"
    # the recipe's training fits its budget, as measured on two threads
    assert kept[-1]["wall_s"] <= BUDGET_SECONDS


def test_the_stored_ceiling_has_every_part():
    ceiling = measured("segmentation_recipe")["ceiling"]
    assert ceiling["larger_model"]["test_dice"] > 0
    assert [row["patients"] for row in ceiling["patients"]] == [13, 26]
    assert [row["shift_px"] for row in ceiling["precision_curve"]] == [0.25, 0.5, 0.6, 0.75, 1.0]
