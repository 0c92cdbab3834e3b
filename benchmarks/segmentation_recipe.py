"""A segmentation recipe for chapter 6 (issue 14): Sunnybrook LV myocardium, 64x64, CPU minutes.

``python -m benchmarks.segmentation_recipe`` prints one JSON line per configuration:

* ``val_dice``: mean per-image hard Dice (p > 0.5) over the training patients, by patient-wise
  cross-validation (:func:`coursekit.data.sunnybrook_validation_folds`); every choice of the
  recipe was made on this number;
* ``test_dice``: the same score on the 6 held-out patients (52 images) of the chapter, for a
  model trained on all 39 training patients; it was only looked at to report;
* ``cpu_s`` and ``wall_s``: process CPU seconds and wall seconds of that final training
  (``torch.set_num_threads(2)``). On an idle two-core machine wall ~= cpu_s / 2.

The last line compares the final recipe with the chapter's starting network, the chapter's U-Net
configuration and MONAI's UNet, trained and scored in the same run.

Options: ``--only NAME[,NAME]`` runs some configurations, ``--folds 0`` skips validation,
``--seeds N`` repeats the held-out training with N seeds, ``--figure PATH`` writes the error
analysis figure, ``--quick`` trains a few steps (smoke test).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from coursekit.data import load_sunnybrook, sunnybrook_slices, sunnybrook_split, sunnybrook_validation_folds

THREADS = 2


# --------------------------------------------------------------------------- data


def normalise(images: np.ndarray, how: str) -> np.ndarray:
    """Per-image intensity normalisation of raw MR images (N, H, W).

    ``p99``: divide by the 99th percentile, clip to [0, 1.5] (the chapter's);
    ``zscore``: subtract the mean and divide by the standard deviation of each image;
    ``p1p99``: map the 1st..99th percentile to 0..1, clip to [-0.5, 1.5].
    """
    flat = images.reshape(len(images), -1).astype(np.float32)
    if how == "p99":
        scale = np.percentile(flat, 99, axis=1)[:, None]
        out = np.clip(flat / np.maximum(scale, 1e-6), 0.0, 1.5)
    elif how == "zscore":
        out = (flat - flat.mean(1, keepdims=True)) / np.maximum(flat.std(1, keepdims=True), 1e-6)
    elif how == "p1p99":
        low, high = np.percentile(flat, [1, 99], axis=1)
        out = np.clip((flat - low[:, None]) / np.maximum(high - low, 1e-6)[:, None], -0.5, 1.5)
    else:
        raise ValueError(how)
    return out.reshape(images.shape)


def load(how: str = "p99", context: str = "") -> dict[str, torch.Tensor | np.ndarray]:
    """All 420 images normalised with ``how``, masks, case, position and the train/test cut.

    ``context``: extra input channels taken from the patient's stack, ``stack`` (the slices
    before and after, the image itself at the ends of the stack); ``position`` (a constant channel
    holding the slice's place in the stack, 0 base to 1 apex) is added after augmentation, by
    :func:`with_position`."""
    raw = load_sunnybrook()
    info = sunnybrook_slices()
    split = sunnybrook_split()
    cut = len(split["train_images"])
    x = torch.from_numpy(normalise(raw["images"], how)).unsqueeze(1)
    y = torch.from_numpy(raw["segs"].astype(np.float32)).unsqueeze(1)
    if how == "p99":  # the chapter's own tensors: same numbers
        assert torch.equal(x[:cut], split["train_images"]) and torch.equal(x[cut:], split["test_images"])
    channels = [x]
    case = info["case"]
    if "stack" in context:
        index = np.arange(len(x))
        before = np.where(np.roll(case, 1) == case, np.roll(index, 1), index)
        after = np.where(np.roll(case, -1) == case, np.roll(index, -1), index)
        channels = [x[before], x, x[after]]
    x = torch.cat(channels, 1).contiguous()
    return {"x": x, "y": y, "case": info["case"], "position": info["position"], "cut": cut,
            "pos": torch.from_numpy(info["position"])}


def with_position(config_context: str, x: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
    """Append the constant slice-position channel when the context asks for it."""
    if "position" not in config_context:
        return x
    return torch.cat([x, position.view(-1, 1, 1, 1).expand(-1, 1, *x.shape[2:])], 1)


# --------------------------------------------------------------------------- augmentation


def augment_pair(images: torch.Tensor, masks: torch.Tensor, gen: torch.Generator, strength: float = 1.0,
                 flip: bool = True, intensity: float = 0.0, shift: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The chapter's paired affine augmentation (rotation pi/8, scale 0.1, shift 0.1, at
    ``strength`` 1; the shift further scaled by ``shift``), plus an optional random gamma and
    contrast change of the image (``intensity``)."""
    n = images.shape[0]
    u = torch.rand(n, 8, generator=gen)
    angle = (u[:, 0] - 0.5) * math.pi / 4 * strength
    scale = 1 + 0.2 * (u[:, 1] - 0.5) * strength
    mirror = torch.where(u[:, 2] < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    move = (u[:, 3:5] - 0.5) * 0.2 * strength * shift
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([mirror * cos, -sin, move[:, 0]], 1),
                         torch.stack([mirror * sin, cos, move[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    x = F.grid_sample(images, grid, mode="bilinear", align_corners=False)
    y = F.grid_sample(masks, grid, mode="nearest", align_corners=False)
    if intensity > 0:
        gamma = torch.exp((u[:, 5] - 0.5) * intensity).view(n, 1, 1, 1)
        contrast = (1 + (u[:, 6] - 0.5) * intensity).view(n, 1, 1, 1)
        low = x.amin((1, 2, 3), keepdim=True)
        x = ((x - low).clamp(min=0) ** gamma) * contrast + low
    return x, y


# --------------------------------------------------------------------------- models


def starting_network() -> nn.Module:
    """The chapter's starting network (the original exercise's): two strided convolutions to
    16x16 and two transposed convolutions back, no skips, no normalisation."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1),
    )


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(min(8, channels // 4), channels)
    raise ValueError(kind)


def conv_block(c_in: int, c_out: int, norm: str = "batch") -> nn.Sequential:
    """Two 3x3 convolutions, each followed by normalisation and ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), _norm(norm, c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), _norm(norm, c_out), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """The chapter's U-Net: ``depth`` poolings, channels ``width * 2**i``, concatenating skips."""

    def __init__(self, width: int = 16, depth: int = 3, norm: str = "batch", channels: int = 1):
        super().__init__()
        sizes = [width * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList([conv_block(channels, sizes[0], norm)] +
                                  [conv_block(a, b, norm) for a, b in zip(sizes, sizes[1:])])
        self.up = nn.ModuleList([nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in zip(sizes, sizes[1:])])
        self.merge = nn.ModuleList([conv_block(2 * a, a, norm) for a in sizes[:-1]])
        self.head = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(reversed(self.up), reversed(self.merge)):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


def monai_unet() -> nn.Module:
    """MONAI's UNet as chapter 6 builds it: channels 16-128, strided convolutions, residual units."""
    from monai.networks.nets import UNet as MonaiUNet

    return MonaiUNet(spatial_dims=2, in_channels=1, out_channels=1, channels=(16, 32, 64, 128),
                     strides=(2, 2, 2), num_res_units=1, norm="batch")


# --------------------------------------------------------------------------- losses and metric


def dice_per_image(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-image Dice (B,) of masks (B, 1, H, W), hard or soft; two empty masks give 1."""
    dims = tuple(range(1, pred.dim()))
    return (2 * (pred * target).sum(dims) + eps) / (pred.sum(dims) + target.sum(dims) + eps)


def tversky_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float, eps: float = 1e-5) -> torch.Tensor:
    """1 - Tversky index per image, averaged; ``alpha`` weighs false positives, 1 - alpha false
    negatives (alpha = 0.5 is the Dice loss)."""
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    tp = (p * t).sum(1)
    index = (tp + eps) / (tp + alpha * (p * (1 - t)).sum(1) + (1 - alpha) * ((1 - p) * t).sum(1) + eps)
    return 1 - index.mean()


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Binary focal loss: cross-entropy down-weighted on pixels already classified well."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return ((1 - torch.exp(-bce)) ** gamma * bce).mean()


def make_loss(name: str):
    """``bce``, ``bce+dice`` (the chapter's), ``dice``, ``bce+tversky0.3`` / ``0.7``, ``focal+dice``, ``dicece``
    (MONAI's DiceCELoss)."""
    if name == "bce":
        return F.binary_cross_entropy_with_logits
    if name == "dice":
        return lambda l, t: tversky_loss(l, t, 0.5)
    if name == "bce+dice":
        return lambda l, t: F.binary_cross_entropy_with_logits(l, t) + tversky_loss(l, t, 0.5)
    if name.startswith("bce+tversky"):
        alpha = float(name.removeprefix("bce+tversky"))
        return lambda l, t: F.binary_cross_entropy_with_logits(l, t) + tversky_loss(l, t, alpha)
    if name == "focal+dice":
        return lambda l, t: 10 * focal_loss(l, t) + tversky_loss(l, t, 0.5)
    if name == "dicece":
        from monai.losses import DiceCELoss

        return DiceCELoss(sigmoid=True)
    raise ValueError(name)


# --------------------------------------------------------------------------- post-processing


def postprocess(mask: np.ndarray, largest: bool = True, fill_below: int = 0) -> np.ndarray:
    """Clean a binary mask (H, W): keep the largest 8-connected component, and fill holes of the
    ring smaller than ``fill_below`` pixels (the blood pool, a large hole, stays open)."""
    out = mask.astype(bool)
    if largest and out.any():
        labels, count = ndimage.label(out, structure=np.ones((3, 3)))
        if count > 1:
            sizes = ndimage.sum(out, labels, range(1, count + 1))
            out = labels == 1 + int(np.argmax(sizes))
    if fill_below > 0:
        holes, count = ndimage.label(~out)           # 4-connected background pieces
        border = set(np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]])))
        for k in range(1, count + 1):
            if k not in border and (holes == k).sum() < fill_below:
                out |= holes == k
    return out


# --------------------------------------------------------------------------- configuration and training


@dataclass
class Config:
    """Everything that defines one recipe."""

    name: str
    model: str = "unet"                  # unet | start | monai
    width: int = 16
    depth: int = 3
    norm: str = "batch"
    loss: str = "bce+dice"
    steps: int = 644                     # the chapter: 28 epochs of 23 batches of 16
    batch: int = 16
    lr: float = 3e-3
    schedule: str = "onecycle"           # onecycle | cosine | constant
    weight_decay: float = 1e-4
    strength: float = 1.0                # augmentation: 0 = none
    shift: float = 1.0                   # the shift's share of it (the crops are centred on the LV)
    intensity: float = 0.0
    normalise: str = "p99"
    flip: bool = True                    # left-right flips in the augmentation
    tta: bool = False                    # average the probabilities over the image and its mirror image
    largest: bool = False                # post-processing
    fill_below: int = 0
    threshold: float = 0.5
    ensemble: int = 1                    # models trained with steps // ensemble each
    time_budget: float = 0.0             # seconds of training instead of steps (the starting network)
    context: str = ""                    # extra input channels from the stack (see load)
    note: str = ""
    extra: dict = field(default_factory=dict)


def in_channels(context: str) -> int:
    """Input channels for a ``context`` setting of :func:`load`."""
    return 1 + 2 * ("stack" in context) + ("position" in context)


def build(config: Config) -> nn.Module:
    """A fresh model for ``config``."""
    if config.model == "start":
        return starting_network()
    if config.model == "monai":
        return monai_unet()
    return UNet(config.width, config.depth, config.norm, in_channels(config.context))


def train_one(config: Config, x: torch.Tensor, y: torch.Tensor, seed: int, steps: int,
              pos: torch.Tensor | None = None) -> nn.Module:
    """Train one model of ``config`` for ``steps`` batches with paired augmentation."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build(config).train()
    loss_fn = make_loss(config.loss)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.schedule == "onecycle":
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=steps)
    elif config.schedule == "cosine":
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    else:
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    order, step, start = torch.empty(0, dtype=torch.long), 0, time.perf_counter()
    while step < steps:
        if config.time_budget and time.perf_counter() - start > config.time_budget:
            break
        if len(order) < config.batch:                     # epochs: fresh permutations, no partial batch
            order = torch.cat([order, torch.randperm(len(x), generator=gen)])
        index, order = order[:config.batch], order[config.batch:]
        xb, yb = x[index], y[index]
        if config.strength > 0 or config.intensity > 0:
            xb, yb = augment_pair(xb, yb, gen, config.strength, config.flip, config.intensity, config.shift)
        if pos is not None:
            xb = with_position(config.context, xb, pos[index])
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        step += 1
    return model.eval()


def train(config: Config, x: torch.Tensor, y: torch.Tensor, seed: int = 0, quick: bool = False,
          pos: torch.Tensor | None = None) -> tuple[list[nn.Module], float, float]:
    """Train ``config.ensemble`` models; return them, process CPU seconds and wall seconds."""
    steps = 4 if quick else (10 ** 9 if config.time_budget else config.steps // config.ensemble)
    cpu, wall = time.process_time(), time.perf_counter()
    models = [train_one(config, x, y, seed + 1000 * k, steps, pos) for k in range(config.ensemble)]
    return models, time.process_time() - cpu, time.perf_counter() - wall


@torch.no_grad()
def probabilities(models: list[nn.Module], x: torch.Tensor, tta: bool) -> torch.Tensor:
    # x holds every input channel (see with_position); channel 0 is the image itself
    """Foreground probabilities (N, H, W), averaged over the models and, with ``tta``, over the
    image and its left-right mirror image."""
    probs = torch.zeros_like(x[:, :1])
    flips = [(), (-1,)] if tta else [()]     # the left-right flip of training; others hurt
    for model in models:
        model.eval()
        for dims in flips:
            out = torch.sigmoid(model(x.flip(dims) if dims else x))
            probs += out.flip(dims) if dims else out
    return probs[:, 0] / (len(models) * len(flips))


def to_masks(config: Config, probs: torch.Tensor) -> np.ndarray:
    """Hard masks (N, H, W): threshold, then the configured post-processing."""
    masks = (probs > config.threshold).numpy()
    if config.largest or config.fill_below:
        masks = np.stack([postprocess(m, config.largest, config.fill_below) for m in masks])
    return masks


def predict(config: Config, models: list[nn.Module], x: torch.Tensor) -> np.ndarray:
    """Hard masks (N, H, W) of images (N, 1, H, W) by a trained recipe."""
    return to_masks(config, probabilities(models, x, config.tta))


def per_image_dice(masks: np.ndarray, truth: torch.Tensor) -> np.ndarray:
    """Per-image hard Dice of predicted masks (N, H, W) against true masks (N, 1, H, W)."""
    return dice_per_image(torch.from_numpy(masks.astype(np.float32)), truth[:, 0]).numpy()


# --------------------------------------------------------------------------- evaluation

INFERENCE = ("tta", "largest", "fill_below", "threshold")


def evaluate(config: Config, data: dict, folds: list[np.ndarray], seeds: int = 1, quick: bool = False,
             variants: list[Config] | None = None) -> list[dict]:
    """Cross-validated Dice on the training patients and held-out Dice of models trained on all
    of them (mean over ``seeds``), with the training's CPU and wall seconds.

    ``variants``: configurations differing from ``config`` only in inference (flips, threshold,
    post-processing), scored on the same trained models."""
    variants = variants or [config]
    for v in variants:
        assert all(getattr(v, f.name) == getattr(config, f.name) for f in dataclasses.fields(Config)
                   if f.name not in INFERENCE + ("name", "note")), v.name
    cut = data["cut"]
    x, y, pos = data["x"][:cut], data["y"][:cut], data["pos"][:cut]
    inputs = with_position(config.context, data["x"], data["pos"])     # what the trained models see
    ttas = {v.tta for v in variants}
    val = np.full((len(variants), cut), np.nan)
    val_bd = np.full((len(variants), cut), np.nan)          # boundary distance (pixels)
    fit = []                                               # Dice on the fold's own training images
    val_probs = {tta: torch.full((cut, 64, 64), float("nan")) for tta in ttas}
    for k, fold in enumerate(folds):
        keep = np.setdiff1d(np.arange(cut), fold)
        models, _, _ = train(config, x[keep], y[keep], seed=100 + k, quick=quick, pos=pos[keep])
        for tta in ttas:
            val_probs[tta][fold] = probabilities(models, inputs[fold], tta)
        for j, v in enumerate(variants):
            masks = to_masks(v, val_probs[v.tta][fold])
            val[j, fold] = per_image_dice(masks, y[fold])
            val_bd[j, fold] = boundary_distance(masks, y[fold, 0].numpy())
        fit.append(per_image_dice(predict(config, models, inputs[keep]), y[keep]).mean())
    tests = np.zeros((len(variants), seeds, len(data["x"]) - cut))
    test_bd = np.full_like(tests, np.nan)
    cpus, walls = [], []
    for s in range(seeds):
        models, cpu, wall = train(config, x, y, seed=s, quick=quick, pos=pos)
        cpus.append(cpu)
        walls.append(wall)
        probs = {tta: probabilities(models, inputs[cut:], tta) for tta in ttas}
        for j, v in enumerate(variants):
            masks = to_masks(v, probs[v.tta])
            tests[j, s] = per_image_dice(masks, data["y"][cut:])
            test_bd[j, s] = boundary_distance(masks, data["y"][cut:, 0].numpy())
    return [{"config": v.name, "val_dice": float(np.nanmean(val[j])) if folds else None,
             "fit_dice": float(np.mean(fit)) if folds else None,
             "test_dice": float(tests[j].mean()) if seeds else None, "test_dice_seeds": [round(t, 4) for t in tests[j].mean(1)],
             "val_boundary_px": float(np.nanmean(val_bd[j])) if folds else None,
             "test_boundary_px": float(np.nanmean(test_bd[j])) if seeds else None,
             "cpu_s": float(np.mean(cpus)) if seeds else None, "wall_s": float(np.mean(walls)) if seeds else None,
             "_val_per_image": val[j], "_test_per_image": tests[j].mean(0),
             "_val_probs": val_probs[v.tta].numpy()} for j, v in enumerate(variants)]


# --------------------------------------------------------------------------- the configurations

CHAPTER = Config("chapter U-Net (28 epochs)")

CONFIGS = {
    # the original exercise's training: Adam at a constant 1e-3 (a one-cycle schedule over a time
    # budget would never leave its warm-up), plain cross-entropy, no augmentation, 30 seconds
    "start": Config("starting network (BCE, 30 s)", model="start", loss="bce", strength=0, lr=1e-3,
                    schedule="constant", weight_decay=0.0, time_budget=30.0, steps=10 ** 9),
    "chapter": CHAPTER,
    "monai": Config("MONAI UNet (DiceCE, 28 epochs)", model="monai", loss="dicece"),
}


# --------------------------------------------------------------------------- error analysis

POSITIONS = (("base", 0.0, 1 / 3), ("mid", 1 / 3, 2 / 3), ("apex", 2 / 3, 1.01))


def position_names(position: np.ndarray) -> np.ndarray:
    """``base`` / ``mid`` / ``apex``: the first, middle and last third of each patient's stack."""
    names = np.empty(len(position), dtype=object)
    for name, low, high in POSITIONS:
        names[(position >= low) & (position < high)] = name
    return names


def error_summary(masks: np.ndarray, truth: np.ndarray, position: np.ndarray) -> dict:
    """What goes wrong, per image: Dice by position and by size, islands, holes, area bias."""
    dice = per_image_dice(masks, torch.from_numpy(truth[:, None].astype(np.float32)))
    area = truth.reshape(len(truth), -1).sum(1)
    pred_area = masks.reshape(len(masks), -1).sum(1)
    islands = np.array([ndimage.label(m, structure=np.ones((3, 3)))[1] for m in masks])
    fixed = np.stack([postprocess(m, True, 8) for m in masks])
    names = position_names(position)
    small = area < np.percentile(area, 25)
    out = {"dice": float(dice.mean()), "images": len(dice),
           "dice_by_position": {n: round(float(dice[names == n].mean()), 4) for n, _, _ in POSITIONS},
           "images_by_position": {n: int((names == n).sum()) for n, _, _ in POSITIONS},
           "dice_smallest_quarter": round(float(dice[small].mean()), 4),
           "dice_other_three_quarters": round(float(dice[~small].mean()), 4),
           "share_dice_below_0.5": round(float((dice < 0.5).mean()), 4),
           "share_empty_prediction": round(float((pred_area == 0).mean()), 4),
           "share_with_islands": round(float((islands > 1).mean()), 4),
           "share_changed_by_lcc_and_fill": round(float((fixed != masks).any((1, 2)).mean()), 4),
           "median_area_ratio_pred_over_true": round(float(np.median(pred_area / area)), 4),
           "gap_from_worst_tenth": round(float(np.sort(1 - dice)[-len(dice) // 10:].sum() / (1 - dice).sum()), 4)}
    return out


def error_figure(path: str, panels: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
                 examples: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
    """Dice per slice against the true mask's area, coloured by position (one panel per entry of
    ``panels``: title, per-image Dice, areas, positions), and optionally a row of the worst
    slices (images, truths, predictions, Dice)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"base": "tab:blue", "mid": "tab:green", "apex": "tab:red"}
    width = max(12.0, 4.2 * len(panels))
    fig = plt.figure(figsize=(width, 5.6 if examples is not None else 3.6), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.6, 2.0]) if examples is not None else (fig, None)
    axes = np.atleast_1d(top.subplots(1, len(panels), sharey=True))
    for ax, (title, dice, area, position) in zip(axes, panels):
        names = position_names(position)
        for name, _, _ in POSITIONS:
            pick = names == name
            ax.scatter(area[pick], dice[pick], s=10, c=colours[name], alpha=0.7,
                       label=f"{name}: mean {dice[pick].mean():.2f} (n={pick.sum()})")
        ax.set_ylim(-0.03, 1.0)
        ax.set_xlabel("true myocardium area (pixels)")
        ax.set_title(f"{title}: mean Dice {dice.mean():.3f}", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("hard Dice per slice")
    if examples is not None:
        images, truths, preds, scores = examples
        row = np.atleast_1d(bottom.subplots(1, len(images)))
        for ax, image, truth, pred, score in zip(row, images, truths, preds, scores):
            ax.imshow(image, cmap="gray", vmin=0, vmax=1.2)
            ax.contour(truth, levels=[0.5], colors="lime", linewidths=0.7)
            if pred.any():
                ax.contour(pred, levels=[0.5], colors="red", linewidths=0.7)
            ax.set_title(f"Dice {score:.2f}", fontsize=8)
            ax.axis("off")
        bottom.suptitle("worst validation slices: truth (green), prediction (red)", fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def boundary_distance(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Average symmetric boundary distance (pixels) per image of binary masks (N, H, W): the mean,
    over the boundary pixels of both masks, of the distance to the other mask's boundary. NaN where
    a mask is empty."""
    def surface(mask: np.ndarray) -> np.ndarray:
        return mask & ~ndimage.binary_erosion(mask)

    out = np.full(len(pred), np.nan)
    for i, (a, b) in enumerate(zip(pred.astype(bool), truth.astype(bool))):
        if a.any() and b.any():
            sa, sb = surface(a), surface(b)
            to_b = ndimage.distance_transform_edt(~sb)[sa]
            to_a = ndimage.distance_transform_edt(~sa)[sb]
            out[i] = (to_b.sum() + to_a.sum()) / (len(to_b) + len(to_a))
    return out


def moved_masks(masks: np.ndarray, shift: float, seed: int = 0) -> np.ndarray:
    """Each binary mask (N, H, W) moved by ``shift`` pixels in a random direction (bilinear
    resampling, threshold 0.5): a second outline of the same anatomy that disagrees with the first by
    a sub-pixel amount, as a re-drawn or re-rasterised contour would."""
    gen = torch.Generator().manual_seed(seed)
    m = torch.from_numpy(masks.astype(np.float32))[:, None]
    angle = torch.rand(len(m), generator=gen) * 2 * math.pi
    theta = torch.zeros(len(m), 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = torch.stack([angle.cos(), angle.sin()], 1) * shift * 2 / masks.shape[-1]
    grid = F.affine_grid(theta, list(m.shape), align_corners=False)
    return (F.grid_sample(m, grid, mode="bilinear", align_corners=False) > 0.5)[:, 0].numpy()


def precision_curve(truth: np.ndarray, shifts=(0.25, 0.5, 0.6, 0.75, 1.0)) -> list[dict]:
    """Dice and boundary distance of the true masks against themselves moved by each sub-pixel
    ``shift``: what a given boundary precision costs in Dice on these thin rings."""
    t = torch.from_numpy(truth[:, None].astype(np.float32))
    rows = []
    for shift in shifts:
        moved = moved_masks(truth, shift)
        rows.append({"shift_px": shift,
                     "dice": round(float(per_image_dice(moved, t).mean()), 4),
                     "boundary_px": round(float(np.nanmean(boundary_distance(moved, truth))), 4)})
    return rows


def warm_up() -> None:
    """A few steps of each kind of network, so that one-off start-up costs (thread pools,
    convolution algorithm choice) are not charged to the first configuration timed."""
    x, y = torch.rand(16, 1, 64, 64), (torch.rand(16, 1, 64, 64) > 0.9).float()
    for model in ("unet", "start", "monai"):
        train_one(Config("warm-up", model=model), x, y, seed=0, steps=2)


INFERENCE_VARIANTS = {
    "tta": dict(tta=True),
    "lcc": dict(largest=True),
    "fill": dict(fill_below=8),
    "lcc+fill": dict(largest=True, fill_below=8),
    "tta+lcc": dict(tta=True, largest=True),
    "tta+lcc+fill": dict(tta=True, largest=True, fill_below=8),
    "t0.4": dict(threshold=0.4),
    "t0.6": dict(threshold=0.6),
    "tta+t0.4": dict(tta=True, threshold=0.4),
    "tta+lcc+t0.4": dict(tta=True, largest=True, threshold=0.4),
}


# --------------------------------------------------------------------------- ablation, ceiling, comparison

#: The ablation, in order: each step changes the recipe kept so far and is kept only if it raises
#: the cross-validated Dice (the held-out patients are scored, never used to choose). Training
#: changes cost trainings; inference changes are scored on the same trained models.
ABLATION_STEPS: list[tuple[str, dict]] = [
    ("no augmentation", dict(strength=0.0)),
    ("twice the steps (56 epochs)", dict(steps=1288)),
    ("peak learning rate 5e-3", dict(lr=5e-3)),
    ("mirror-image test-time averaging", dict(tta=True)),
    ("largest component, small holes filled", dict(largest=True, fill_below=8)),
    ("threshold 0.4", dict(threshold=0.4)),
]

#: The recipe the ablation ends with (checked against it by ``--ablation``), and its budget.
FINAL = dataclasses.replace(CHAPTER, name="final recipe", steps=1288, lr=5e-3, tta=True, threshold=0.4)
BUDGET_SECONDS = 120.0


def _row(step: str, result: dict, kept: bool | None) -> dict:
    keys = ("val_dice", "test_dice", "val_boundary_px", "test_boundary_px", "cpu_s", "wall_s")
    return {"step": step, "kept": kept, **{k: None if result[k] is None else round(result[k], 4) for k in keys}}


def ablation(data: dict, folds: list[np.ndarray], quick: bool = False) -> tuple[list[dict], Config]:
    """Greedy ablation from the starting network through the chapter's U-Net: one row per step, and
    the recipe it ends with."""
    training = [(step, change) for step, change in ABLATION_STEPS if not set(change) <= set(INFERENCE)]
    inference = [(step, change) for step, change in ABLATION_STEPS if set(change) <= set(INFERENCE)]

    def with_inference(config: Config) -> list[dict]:
        """``config``'s trainings scored with every combination of the inference steps (bit i of
        the list index: inference step i applied); index 0 is ``config`` itself."""
        combos = [dataclasses.replace(config, name=f"{config.name} inference {mask}",
                                      **{k: v for i, (_, c) in enumerate(inference) if mask >> i & 1 for k, v in c.items()})
                  for mask in range(2 ** len(inference))]
        return evaluate(config, data, folds, quick=quick, variants=[config] + combos[1:])

    rows = [_row("starting network (original exercise, 30 s)", evaluate(CONFIGS["start"], data, folds, quick=quick)[0], None)]
    config, scored = CHAPTER, with_inference(CHAPTER)
    current = scored[0]
    rows.append(_row("U-Net, the chapter's recipe (augmentation, 28 epochs)", current, True))
    for step, change in training:
        candidate = dataclasses.replace(config, **change)
        candidate_scored = with_inference(candidate)
        kept = candidate_scored[0]["val_dice"] > current["val_dice"]
        rows.append(_row(step, candidate_scored[0], kept))
        print(json.dumps(rows[-1]), flush=True)
        if kept:
            config, scored, current = candidate, candidate_scored, candidate_scored[0]
    chosen = 0                       # inference steps, greedily, on the final training's models
    for i, (step, change) in enumerate(inference):
        result = scored[chosen | 1 << i]
        kept = result["val_dice"] > current["val_dice"]
        rows.append(_row(step, result, kept))
        print(json.dumps(rows[-1]), flush=True)
        if kept:
            chosen, current = chosen | 1 << i, result
    config = dataclasses.replace(config, **{k: v for i, (_, c) in enumerate(inference) if chosen >> i & 1
                                            for k, v in c.items()})
    rows.append({"step": "final recipe", "config": {f.name: getattr(config, f.name) for f in dataclasses.fields(Config)
                                                     if f.name not in ("name", "note", "extra")}})
    return rows, dataclasses.replace(config, name="final recipe")


def ceiling(data: dict, final: Config = FINAL, quick: bool = False) -> dict:
    """Where more of the same would lead: a 4x larger U-Net (width 32) with the final recipe, the final
    recipe trained on fewer patients (a learning curve), and what sub-pixel boundary precision costs in
    Dice (:func:`precision_curve`)."""
    cut = data["cut"]
    larger = dataclasses.replace(final, name="U-Net width 32", width=32)
    out = {"larger_model": _row("final recipe with a U-Net of width 32 (4x the compute)", evaluate(larger, data, [], quick=quick)[0], None)}
    case = data["case"][:cut]
    patients = np.unique(case)
    curve = []
    for count in (13, 26):
        keep = np.isin(case, patients[:count])
        sub = {**data, "x": torch.cat([data["x"][:cut][keep], data["x"][cut:]]), "y": torch.cat([data["y"][:cut][keep], data["y"][cut:]]),
               "pos": torch.cat([data["pos"][:cut][keep], data["pos"][cut:]]), "cut": int(keep.sum())}
        curve.append({"patients": count, **_row(f"{count} patients", evaluate(final, sub, [], quick=quick)[0], None)})
    out["patients"] = curve
    out["precision_curve"] = precision_curve(data["y"][:, 0].numpy().astype(bool))
    return out


def compare(quick: bool = False, seeds: int = 1) -> dict[str, float]:
    """The final recipe beside the starting network, the chapter's U-Net (the original solution's
    configuration) and MONAI's UNet: each trained on the 39 training patients and scored on the 6
    held-out ones, in this run. Flat numbers for ``python -m benchmarks segmentation``."""
    torch.set_num_threads(THREADS)
    warm_up()
    data = load(FINAL.normalise, FINAL.context)
    numbers: dict[str, float] = {}
    for key, config in (("final", FINAL), ("start", CONFIGS["start"]), ("chapter", CHAPTER), ("monai", CONFIGS["monai"])):
        result = evaluate(config, data, [], seeds=seeds, quick=quick)[0]
        numbers[f"{key}_heldout_dice"] = round(result["test_dice"], 4)
        numbers[f"{key}_train_seconds"] = round(result["wall_s"], 1)
        numbers[f"{key}_train_cpu_seconds"] = round(result["cpu_s"], 1)
    numbers["budget_seconds"] = BUDGET_SECONDS
    return numbers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.segmentation_recipe")
    parser.add_argument("--only", default="", help="comma-separated configuration keys")
    parser.add_argument("--folds", type=int, default=3, help="validation folds (0: no validation)")
    parser.add_argument("--seeds", type=int, default=1, help="held-out trainings per configuration")
    parser.add_argument("--set", default="", help="override fields: key=value,key=value (experiments)")
    parser.add_argument("--dump", default="", help="save per-image scores of each configuration (npz)")
    parser.add_argument("--variants", default="", help="inference variants scored on the same models")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch threads (timings assume 2)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--ablation", action="store_true", help="the ablation and the ceiling (see ablation())")
    parser.add_argument("--compare", action="store_true", help="final recipe and the three references, held out")
    parser.add_argument("--save", default="", help="with --ablation: write the results as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.compare:
        print(json.dumps(compare(args.quick, args.seeds)))
        return 0
    if args.ablation:
        return run_ablation(args)
    keys = args.only.split(",") if args.only else list(CONFIGS)
    folds = sunnybrook_validation_folds(args.folds) if args.folds else []
    cache: dict[str, dict] = {}
    warm_up()
    for key in keys:
        config = CONFIGS[key]
        if args.set:
            changes = {}
            for item in args.set.split(","):
                name, value = item.split("=")
                kind = type(getattr(config, name))
                changes[name] = value.lower() in ("1", "true") if kind is bool else kind(value)
            config = dataclasses.replace(config, name=f"{config.name} [{args.set}]", **changes)
        if (config.normalise, config.context) not in cache:
            cache[config.normalise, config.context] = load(config.normalise, config.context)
        variants = [config] + [dataclasses.replace(config, name=f"{config.name} +{v}", **INFERENCE_VARIANTS[v])
                               for v in (args.variants.split(",") if args.variants else [])]
        for n, result in enumerate(evaluate(config, cache[config.normalise, config.context], folds, args.seeds, args.quick, variants)):
            if args.dump:
                np.savez_compressed(f"{args.dump}_{key}_{n}.npz", val=result["_val_per_image"],
                                    test=result["_test_per_image"], val_probs=result["_val_probs"])
            print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()
                              if not k.startswith("_")}), flush=True)
    return 0


def run_ablation(args: argparse.Namespace) -> int:
    """``--ablation``: the ablation, then the ceiling; one JSON document (printed, and saved)."""
    import platform

    warm_up()
    data = load()
    folds = sunnybrook_validation_folds(args.folds)
    rows, final_config = ablation(data, folds, args.quick)
    document = {"command": "python -m benchmarks.segmentation_recipe --ablation --save coursekit/results/segmentation_recipe.json",
                "machine": {"cpu_count": os.cpu_count(), "threads": args.threads, "torch": torch.__version__,
                            "python": platform.python_version()},
                "quick": args.quick, "folds": args.folds,
                "ablation": rows, "ceiling": ceiling(data, final_config, args.quick)}
    print(json.dumps(document))
    if args.save:
        with open(args.save, "w") as stream:
            json.dump(document, stream, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
