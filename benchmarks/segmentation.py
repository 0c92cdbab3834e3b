"""The references for ``python -m benchmarks segmentation``: chapter 6's final recipe (the end of its
ablation, :data:`benchmarks.segmentation_recipe.FINAL`) beside the starting network of the original
exercise, the chapter's U-Net configuration and MONAI's UNet. Each is trained on the 39 training
patients, in this process, one after the other on two threads, and scored on the 6 held-out
patients (mean per-image hard Dice); keys ``<name>_heldout_dice``, ``<name>_train_seconds`` (wall)
and ``<name>_train_cpu_seconds``."""

from __future__ import annotations

from benchmarks.segmentation_recipe import compare


def reference(quick: bool) -> dict[str, float]:
    return compare(quick)
