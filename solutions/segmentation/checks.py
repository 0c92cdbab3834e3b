"""Hidden tests of the segmentation assignment, run by the grader in its own process.

Each check re-checks what the visible test states and adds the hidden cases; the student's code
runs in the kernel and hands back plain data (see autograder.checks). Every property checked here
is stated in the notebook (the table in SPEC.md beside this file). Never released.

Part 5: the grader sends the training patients into the kernel, has ``train_model(build_model(),
images, masks)`` run there on one CPU thread with the kernel's CPU time measured before and after,
then sends the held-out images (never their masks) and scores the hard masks that come back here.
"""

import math
import sys
import types

import torch
import torch.nn.functional as F

from autograder.bridge import BridgeError, LocalLink, StudentError
from autograder.checks import binomial_band, check, close, is_scalar_tensor, is_tensor, number, requires_grad

#: Seed of the checks' random draws (tests/test_stats_segmentation.py runs them over many seeds).
SEED = 0
#: CPU seconds that build_model() + train_model(...) may use, on one thread (stated in the notebook).
BUDGET_CPU_SECONDS = 60.0
#: Held-out Dice each part-5 test cell asks for (calibrated in NOTES.md).
TIERS = {"test_heldout_tier1": 0.60, "test_heldout_tier2": 0.74, "test_heldout_tier3": 0.80}
#: While train_model runs, these notebook names are the grader's reference versions (stated in the
#: notebook): part 5 does not depend on parts 1-3, so a mistake there costs only that part's points.
REFERENCE_PARTS = ["dice_coefficient", "dice_loss", "paired_augment"]
#: Part 5's single training per notebook (this module is loaded afresh for every notebook).
_TRAINED: dict = {}


# ============================================================================ grader-side references
def _dice64(pred, target, smooth=1e-5):
    """Per-image Dice over all pixels, averaged over the batch, in float64."""
    flat_p = pred.double().reshape(len(pred), -1)
    flat_t = target.double().reshape(len(target), -1)
    both = (flat_p * flat_t).sum(1)
    return ((2 * both + smooth) / (flat_p.sum(1) + flat_t.sum(1) + smooth)).mean()


def _grad64(fn, x, *rest):
    """d fn(x, *rest) / dx in float64."""
    leaf = x.detach().double().clone().requires_grad_(True)
    fn(leaf, *rest).backward()
    return leaf.grad


# ============================================================================ part 1
def _half_masks():
    """The top half and the left half of a 4x4 image, as (1, 1, 4, 4) masks."""
    rows, cols = torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij")
    return (rows < 2).float().view(1, 1, 4, 4), (cols < 2).float().view(1, 1, 4, 4)


@check("test_dice_coefficient")
def dice_coefficient(student):
    top, left = _half_masks()
    value = student.dice_coefficient(top, top)
    assert is_scalar_tensor(value), "dice_coefficient must return a scalar (0-dimensional) tensor"
    assert abs(number(value) - 1) < 1e-5, "a mask compared with itself must have Dice 1"
    got = number(student.dice_coefficient(top, left))
    assert abs(got - 0.5) < 1e-5, f"top half vs left half of a 4x4 image: expected Dice 0.5, got {got:.6f}"
    got = number(student.dice_coefficient(top, 1 - top))
    assert abs(got) < 1e-5, f"disjoint masks: expected Dice 0, got {got:.6f}"
    got = number(student.dice_coefficient(0 * top, 0 * top))
    assert abs(got - 1) < 1e-5, f"two empty masks: expected Dice 1, got {got:.6f}"
    got = number(student.dice_coefficient(torch.zeros(1, 1, 4, 4), top))
    assert got < 1e-4, f"an empty prediction of a non-empty mask: expected Dice (almost) 0, got {got:.6f}"

    truth = torch.zeros(2, 1, 8, 8)
    truth[0, :, :6, :6] = 1
    truth[1, :, :1, :2] = 1
    guess = torch.zeros(2, 1, 8, 8)
    guess[0, :, :6, :6] = 1
    guess[1, :, 7:, 6:] = 1
    got = number(student.dice_coefficient(guess, truth))
    assert abs(got - 0.5) < 1e-4, \
        f"a batch of two images, one with Dice 1 and one with Dice 0: expected their mean 0.5, got {got:.4f}"

    g = torch.Generator().manual_seed(3 + SEED)
    soft = torch.rand(3, 1, 5, 7, generator=g, dtype=torch.float64)
    hard = (torch.rand(3, 1, 5, 7, generator=g) > 0.6).double()
    for smooth in (1e-5, 1.0):
        value = student.dice_coefficient(soft, hard, smooth=smooth)
        want = float(_dice64(soft, hard, smooth))
        assert is_scalar_tensor(value) and abs(number(value) - want) < 1e-5, \
            f"soft predictions (values in [0, 1]) against hard masks, smooth={smooth}: expected {want:.6f}, " \
            f"got {number(value):.6f}"
    grad = student.run(gradient, "dice_coefficient", [], [soft, hard], {}, helpers=HELPERS)
    assert grad is not None, "the Dice must be differentiable in pred (no result with a gradient came back)"
    assert close(grad, _grad64(_dice64, soft, hard), atol=1e-6, rtol=1e-4), \
        "the gradient of the Dice with respect to pred does not match the derivative of the formula"


# ============================================================================ part 2
@check("test_dice_loss")
def dice_loss(student):
    # Graded on its own: while these calls run, the notebook's dice_coefficient is the grader's.
    def loss(*args, **kwargs):
        return student.run(call_with_references, "dice_loss", ["dice_coefficient"], list(args), kwargs,
                           helpers=HELPERS)

    target = F.pad(torch.ones(2, 1, 2, 4), (1, 1, 2, 2))      # a 2x4 rectangle in 6x6 images
    value = loss(torch.where(target > 0, 20.0, -20.0), target)
    assert is_scalar_tensor(value), "dice_loss must return a scalar (0-dimensional) tensor"
    assert number(value) < 1e-4, f"confident, correct logits must give a loss near 0 (got {number(value):.4f})"
    got = number(loss(torch.where(target > 0, -20.0, 20.0), target))
    assert abs(got - 1) < 1e-4, f"confident, wrong logits must give a loss near 1 (got {got:.4f})"

    logits = torch.randn(3, 1, 5, 5, generator=torch.Generator().manual_seed(1 + SEED), dtype=torch.float64)
    mask = (torch.rand(3, 1, 5, 5, generator=torch.Generator().manual_seed(2 + SEED)) > 0.5).double()
    for kwargs in ({}, {"smooth": 1.0}):
        want = 1 - float(_dice64(torch.sigmoid(logits), mask, kwargs.get("smooth", 1e-5)))
        got = loss(logits, mask, **kwargs)
        assert is_scalar_tensor(got) and abs(number(got) - want) < 1e-5, \
            f"random logits, {'smooth=1' if kwargs else 'default smooth'}: expected 1 - soft Dice = {want:.6f}, " \
            f"got {number(got):.6f}"
    grad = student.run(gradient, "dice_loss", ["dice_coefficient"], [logits, mask], {}, helpers=HELPERS)
    assert grad is not None, "the loss must be differentiable in the logits (no result with a gradient came back)"
    want = _grad64(lambda x, t: 1 - _dice64(torch.sigmoid(x), t), logits, mask)
    assert close(grad, want, atol=1e-6, rtol=1e-4), \
        "the gradient of the loss with respect to the logits does not match the derivative of 1 - soft Dice"


# ============================================================================ part 3
def _letter_l(count, size=32):
    """``count`` copies of an asymmetric L (no rotation or flip maps it onto itself)."""
    letter = torch.zeros(size, size)
    letter[6:14, 4:26] = 1                 # the bar
    letter[14:28, 4:10] = 1                # the leg
    return letter.expand(count, 1, size, size).clone()


def _small_l(count):
    """``count`` copies of a 16x16 asymmetric L."""
    shapes = torch.zeros(count, 1, 16, 16)
    shapes[:, :, 3:7, 2:13] = 1
    shapes[:, :, 7:14, 2:5] = 1
    return shapes


def _ring(count):
    yy, xx = torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing="ij")
    ring = torch.zeros(count, 1, 24, 24)
    ring[:, 0] = (((yy - 9) ** 2 + (xx - 13) ** 2).sqrt() - 5).abs().lt(1.6).float()
    ring[:, 0, 18:22, 2:12] = 1
    return ring


def _agreement(image_out, mask_out):
    """Per sample, the Dice between the transformed image thresholded at 0.5 and the transformed mask."""
    seen = (image_out.double() > 0.5).double()
    return [float(_dice64(seen[i:i + 1], mask_out[i:i + 1].double())) for i in range(len(seen))]


@check("test_paired_augment")
def paired_augment(student):
    shapes = _letter_l(8)
    image_out, mask_out = student.paired_augment(shapes.clone(), shapes.clone())
    assert is_tensor(image_out, shapes.shape) and is_tensor(mask_out, shapes.shape), \
        "return (image, mask) with the shapes of the inputs, (B, 1, H, W)"
    assert set(mask_out.unique().tolist()) <= {0.0, 1.0}, "the returned mask must hold only 0 and 1"

    # One call, many samples, from a seeded generator: reproducible, per-sample, identical on both.
    batch = _letter_l(32)
    texture = batch * 0.9 + 0.05                       # the image: the mask's shape, brighter inside
    out = student.run(augment_twice, texture, batch, SEED)
    assert out["inputs_unchanged"], "the input tensors must not be modified"
    (img_a, mask_a), (img_b, mask_b), (img_c, mask_c) = out["first"], out["same_seed"], out["other_seed"]
    assert torch.equal(img_a, img_b) and torch.equal(mask_a, mask_b), \
        "two calls with generators seeded alike returned different outputs: all randomness must come from " \
        "`generator` when one is given"
    assert not (torch.equal(mask_a, mask_c) and torch.equal(img_a, img_c)), \
        "generators with different seeds gave identical outputs: the transform must be drawn from `generator`"
    assert img_a.dtype == texture.dtype and mask_a.dtype == batch.dtype, \
        f"keep the dtypes: float32 in gave image {img_a.dtype} and mask {mask_a.dtype}"
    assert set(mask_a.unique().tolist()) <= {0.0, 1.0}, "the returned mask must hold only 0 and 1"
    worst = min(_agreement(img_a, mask_a))
    assert worst >= 0.9, \
        "image and mask were not transformed alike: in some sample the transformed image (its bright shape) " \
        f"and the transformed mask overlap with Dice {worst:.2f} only"

    # Many copies of a small L: is each drawn on its own, and does the transform change most of them?
    many = _small_l(256)
    moved = student.run(augment_seeded, many * 0.9 + 0.05, many.clone(), 101 + SEED)[1]
    distinct = len({tuple(m.flatten().tolist()) for m in moved})
    assert distinct > 1, "256 copies of one shape came out identical: each sample must get its own random transform"
    changed = sum(not torch.equal(m, s) for m, s in zip(moved, many)) / len(many)
    low, _ = binomial_band(len(many), 0.5)
    assert changed >= low, \
        f"only {changed:.0%} of 256 samples came out changed: on average at least half must be transformed"

    ring = _ring(16)
    img2, mask2 = student.run(augment_seeded, ring * 0.9 + 0.05, ring.clone(), 11 + SEED)
    assert set(mask2.unique().tolist()) <= {0.0, 1.0}, "the returned mask must hold only 0 and 1"
    worst = min(_agreement(img2, mask2))
    assert worst >= 0.8, \
        f"a thin ring: the transformed image and mask overlap with Dice {worst:.2f} only in some sample"
    img64, mask64 = student.paired_augment((ring * 0.9 + 0.05).double(), ring.double())
    assert img64.dtype == torch.float64 and mask64.dtype == torch.float64, \
        f"keep the dtypes: float64 in gave image {img64.dtype} and mask {mask64.dtype}"


# ============================================================================ part 4
def _occlusion64(net, image, patch, stride):
    """Occlusion map computed by the grader (float64) for a torch module living here."""
    rows, cols = image.shape[-2:]
    total, cover = torch.zeros(rows, cols, dtype=torch.float64), torch.zeros(rows, cols, dtype=torch.float64)
    with torch.no_grad():
        net = net.double().eval()
        full = torch.sigmoid(net(image.double()[None])).sum()
        for r in range(0, rows - patch + 1, stride):
            for c in range(0, cols - patch + 1, stride):
                hidden = image.double().clone()
                hidden[..., r:r + patch, c:c + patch] = 0
                total[r:r + patch, c:c + patch] += full - torch.sigmoid(net(hidden[None])).sum()
                cover[r:r + patch, c:c + patch] += 1
    return torch.where(cover > 0, total / cover.clamp(min=1), torch.zeros_like(total))


def _two_layer(weights):
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv2d(2, 1, 3, padding=1))
    with torch.no_grad():
        for p, w in zip(net.parameters(), weights):
            p.copy_(w)
    return net


@check("test_occlusion_sensitivity")
def occlusion_sensitivity(student):
    picture = F.pad(torch.ones(1, 4, 4), (10, 2, 2, 10))      # a bright square at rows 2-5, columns 10-13
    out = student.run(occlude, "pixelwise", [], picture, 8, 8)
    raw = out["map"]
    assert is_tensor(raw, (16, 16)), "return an (H, W) map"
    assert not requires_grad(raw), "the map must not be part of an autograd graph: do not track gradients"
    sens = raw.detach()
    assert out["unchanged"], "the input image must be left unchanged"
    drop = 16 * (torch.sigmoid(torch.tensor(4.0)) - torch.sigmoid(torch.tensor(-4.0))).item()
    assert abs(float(sens[0, 8]) - drop) < 1e-3, \
        f"a per-pixel model, bright 4x4 square in the window at rows 0-7, columns 8-15: expected {drop:.4f} " \
        f"there, got {float(sens[0, 8]):.4f}"
    assert float(sens[8:, :].abs().max()) < 1e-5 and float(sens[:8, :8].abs().max()) < 1e-5, \
        "hiding a window of zeros must change nothing (expected 0 there)"

    strip = torch.zeros(1, 16, 16)
    strip[:, 9:12, 1:7] = 1.0
    tall = student.run(occlude, "pixelwise", [], strip, 8, 8)["map"].detach()
    assert float(tall[8, 0]) > 1 and abs(float(tall[0, 8])) < 1e-5, \
        "a bright strip in the window at rows 8-15, columns 0-7: the map must be high there and 0 at rows 0-7, " \
        "columns 8-15 (the first index is the row)"

    g = torch.Generator().manual_seed(5 + SEED)
    weights = [torch.randn(2, 1, 3, 3, generator=g) * 0.8, torch.randn(2, generator=g) * 0.8,
               torch.randn(1, 2, 3, 3, generator=g) * 0.8, torch.randn(1, generator=g) * 0.8]
    scene = torch.rand(1, 18, 22, generator=g)
    out = student.run(occlude, "two_layer", weights, scene, 6, 4)
    assert is_tensor(out["map"], (18, 22)), "the map has the image's height and width (18, 22 here)"
    want = _occlusion64(_two_layer(weights), scene, 6, 4)
    assert close(out["map"], want, atol=1e-4, rtol=1e-4), \
        "an 18x22 image, patch_size=6, stride=4 (overlapping windows that do not tile the image): the map " \
        "differs from the mean drop over the covering windows (0 where none covers)"
    out = student.run(occlude, "batch_norm", [], scene, 6, 4)
    assert close(out["map"], _occlusion64(_normalised(), scene, 6, 4), atol=1e-4, rtol=1e-4), \
        "a model with batch normalisation: the map differs from the one computed in evaluation mode"


def _normalised():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.BatchNorm2d(1))
    with torch.no_grad():
        net[0].weight.fill_(0.3)
        net[0].bias.fill_(0.1)
        net[1].running_mean.fill_(0.5)
        net[1].running_var.fill_(4.0)
        net[1].weight.fill_(3.0)
        net[1].bias.fill_(-1.0)
    return net


# ============================================================================ part 5
def _shared_cache():
    """Trainings shared across notebooks, for in-process runs only (tests run the same network code in
    many notebooks that differ elsewhere); a real grading run trains once per notebook."""
    holder = sys.modules.get("_segmentation_check_cache")
    if holder is None:
        holder = sys.modules["_segmentation_check_cache"] = types.ModuleType("_segmentation_check_cache")
        holder.results = {}
    return holder.results


def _code_key(value, namespace, seen):
    """What a notebook object's behaviour depends on: its code and the notebook globals it reads."""
    if id(value) in seen:
        return "<seen>"
    seen.add(id(value))
    if isinstance(value, (int, float, str, bool, type(None))) or (
            isinstance(value, tuple) and all(isinstance(v, (int, float, str, bool)) for v in value)):
        return repr(value)
    code = getattr(value, "__code__", None)
    if isinstance(value, type):
        return "class:" + ",".join(f"{k}={_code_key(v, namespace, seen)}" for k, v in sorted(vars(value).items())
                                  if not k.startswith("__") or k in ("__init__", "__call__"))
    if isinstance(value, types.CodeType) or code is not None:
        code = value if isinstance(value, types.CodeType) else code
        parts = [code.co_code.hex(), repr(code.co_names)]
        parts += [_code_key(c, namespace, seen) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
        parts += [f"{n}={_code_key(namespace[n], namespace, seen)}" for n in code.co_names if n in namespace
                  and n not in REFERENCE_PARTS and getattr(namespace[n], "__module__", "__main__") in ("__main__", None)
                  and not isinstance(namespace[n], types.ModuleType)]
        return "code:" + "|".join(parts)
    return f"<{type(value).__name__}>"


def _local_key(student):
    link = getattr(student, "_link", None)
    if type(link) is not LocalLink:
        return None
    ns = link.namespace
    return (SEED, tuple(_code_key(ns.get(n), ns, set()) for n in ("build_model", "train_model")))


def _grader_split():
    from coursekit.data import sunnybrook_split

    return sunnybrook_split()


def held_out_result(student) -> dict:
    """Train the notebook's network once and score it: {"dice", "cpu", "error"}."""
    if "result" in _TRAINED:
        return _TRAINED["result"]
    key = _local_key(student)
    if key is not None and key in _shared_cache():
        _TRAINED["result"] = _shared_cache()[key]
        return _TRAINED["result"]
    try:
        result = _train_and_score(student)
    except BridgeError as err:     # no answer in time, or garbled data: every tier says so, no retraining
        result = {"bridge": str(err)}
    _TRAINED["result"] = result
    if key is not None:
        _shared_cache()[key] = result
    return result


def _train_and_score(student):
    split = _grader_split()
    try:
        probe = student.run(output_shape)
    except StudentError as err:   # the student's code raised: reported by every tier
        return {"error": f"build_model() failed: {err}"}
    if probe != [2, 1, 64, 64]:
        return {"error": f"build_model() must return an nn.Module mapping (2, 1, 64, 64) images to (2, 1, 64, 64) "
                         f"logits; got {probe}"}
    before = student.cpu_seconds()   # measured outside the kernel (a BridgeError here fails every tier)
    try:
        trained, inside = student.run(train_network, split["train_images"], split["train_masks"].to(torch.uint8),
                                      SEED, REFERENCE_PARTS, helpers=HELPERS)
    except StudentError as err:
        return {"error": f"train_model(build_model(), images, masks) failed: {err}"}
    cpu = student.cpu_seconds() - before      # the kernel's own clock (inside) is the student's to change
    try:
        hard = student.run(predict, trained, split["test_images"])
    except StudentError as err:
        return {"error": f"the trained network failed on the held-out images: {err}", "cpu": cpu}
    if not is_tensor(hard, tuple(split["test_masks"].shape)):
        return {"error": "the trained network must map (N, 1, 64, 64) images to (N, 1, 64, 64) logits", "cpu": cpu}
    return {"dice": float(_dice64(hard.double(), split["test_masks"])), "cpu": cpu, "error": None}


def _tier(student, grade_id):
    result = held_out_result(student)
    if result.get("bridge"):
        raise BridgeError(result["bridge"])
    assert not result.get("error"), result.get("error")
    assert result["cpu"] <= BUDGET_CPU_SECONDS, \
        f"build_model() and train_model(...) used {result['cpu']:.0f} CPU seconds; the budget is " \
        f"{BUDGET_CPU_SECONDS:.0f}"
    assert result["dice"] >= TIERS[grade_id], \
        f"held-out Dice {result['dice']:.3f} is below {TIERS[grade_id]:.2f} (training used {result['cpu']:.0f} " \
        f"of {BUDGET_CPU_SECONDS:.0f} CPU seconds)"


@check("test_heldout_tier1")
def heldout_tier1(student):
    out = student.run(output_shape)
    assert out == [2, 1, 64, 64], f"build_model() must map (2, 1, 64, 64) images to (2, 1, 64, 64) logits; got {out}"
    _tier(student, "test_heldout_tier1")


@check("test_heldout_tier2")
def heldout_tier2(student):
    _tier(student, "test_heldout_tier2")


@check("test_heldout_tier3")
def heldout_tier3(student):
    _tier(student, "test_heldout_tier3")


# ============================================================================ run in the kernel
def _notebook_globals(notebook, name):
    """The namespace the notebook's ``name`` reads its globals from (where parts can be swapped)."""
    target = getattr(notebook, name)
    found = getattr(target, "__globals__", None)
    for attr in vars(type(target)).values() if found is None else ():
        found = found or getattr(attr, "__globals__", None)     # a callable object: its methods' globals
    if found is None:
        try:
            from IPython import get_ipython

            found = get_ipython().user_ns
        except Exception:  # no IPython: nothing to swap
            found = {}
    return found


def reference_dice_coefficient(pred, target, smooth=1e-5):
    inter = (pred * target.to(pred.dtype)).flatten(1).sum(1)
    sizes = pred.flatten(1).sum(1) + target.to(pred.dtype).flatten(1).sum(1)
    return ((2 * inter + smooth) / (sizes + smooth)).mean()


def reference_dice_loss(logits, target, smooth=1e-5):
    return 1 - reference_dice_coefficient(torch.sigmoid(logits), target, smooth)


def reference_paired_augment(image, mask, generator=None):
    count = image.shape[0]
    draw = torch.rand(count, 6, generator=generator, device="cpu").to(image.device, image.dtype)
    angle = (draw[:, 0] * 2 - 1) * (math.pi / 8)
    scale = 1.1 - 0.2 * draw[:, 1]
    sign = 1 - 2 * (draw[:, 2] < 0.5).to(image.dtype)
    theta = torch.zeros(count, 2, 3, dtype=image.dtype, device=image.device)
    theta[:, 0, 0] = sign * scale * torch.cos(angle)
    theta[:, 0, 1] = -scale * torch.sin(angle)
    theta[:, 1, 0] = sign * scale * torch.sin(angle)
    theta[:, 1, 1] = scale * torch.cos(angle)
    theta[:, :, 2] = (draw[:, 3:5] - 0.5) / 5
    where = F.affine_grid(theta, list(image.shape), align_corners=False)
    moved = F.grid_sample(image, where, mode="bilinear", padding_mode="zeros", align_corners=False)
    moved_mask = F.grid_sample(mask.to(image.dtype), where, mode="nearest", align_corners=False)
    return moved, moved_mask.to(mask.dtype)


def _swap(space, replace, saved=None):
    """Put the grader's versions of ``replace`` into ``space`` (returning what was there), or put back ``saved``."""
    if saved is None:
        saved = {part: space[part] for part in replace if part in space}
        space.update({part: globals()["reference_" + part] for part in replace})
        return saved
    for part in replace:
        if part in saved:
            space[part] = saved[part]
        else:
            space.pop(part, None)
    return saved


def call_with_references(notebook, name, replace, args, kwargs):
    """notebook.<name>(*args, **kwargs) while the parts in ``replace`` are the grader's versions."""
    space = _notebook_globals(notebook, name)
    saved = _swap(space, replace)
    try:
        value = getattr(notebook, name)(*args, **kwargs)
    finally:
        _swap(space, replace, saved)
    return value.detach() if isinstance(value, torch.Tensor) else value


def gradient(notebook, name, replace, args, kwargs):
    """Gradient of notebook.<name>(args[0], *args[1:]) with respect to args[0] (None if not differentiable)."""
    space = _notebook_globals(notebook, name)
    leaf = args[0].clone().requires_grad_(True)
    saved = _swap(space, replace)
    try:
        value = getattr(notebook, name)(leaf, *args[1:], **kwargs)
    finally:
        _swap(space, replace, saved)
    if not isinstance(value, torch.Tensor) or not value.requires_grad:
        return None
    (grad,) = torch.autograd.grad(value.sum(), [leaf], allow_unused=True)
    return grad


def augment_twice(notebook, image, mask, seed):
    """Three calls with seeded generators (seed, seed again, another seed), and whether inputs survived."""
    kept = (image.clone(), mask.clone())
    calls = [notebook.paired_augment(image, mask, generator=torch.Generator().manual_seed(s))
             for s in (seed, seed, seed + 1)]
    unchanged = torch.equal(image, kept[0]) and torch.equal(mask, kept[1])
    calls = [tuple(t.detach() for t in pair) for pair in calls]
    return {"first": calls[0], "same_seed": calls[1], "other_seed": calls[2], "inputs_unchanged": unchanged}


def augment_seeded(notebook, image, mask, seed):
    """notebook.paired_augment with a generator seeded with ``seed``."""
    return tuple(t.detach() for t in notebook.paired_augment(image, mask, generator=torch.Generator().manual_seed(seed)))


def occlude(notebook, kind, weights, image, patch, stride):
    """notebook.occlusion_sensitivity on a model built here: ``pixelwise`` (a 1x1 convolution, weight 8,
    bias -4), ``two_layer`` (conv-tanh-conv with the given weights) or ``batch_norm``."""
    if kind == "pixelwise":
        model = nn.Conv2d(1, 1, 1)
        with torch.no_grad():
            model.weight.fill_(8.0)
            model.bias.fill_(-4.0)
    elif kind == "two_layer":
        model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh(), nn.Conv2d(2, 1, 3, padding=1))
        with torch.no_grad():
            for p, w in zip(model.parameters(), weights):
                p.copy_(w)
    else:
        model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.BatchNorm2d(1))
        with torch.no_grad():
            model[0].weight.fill_(0.3)
            model[0].bias.fill_(0.1)
            model[1].running_mean.fill_(0.5)
            model[1].running_var.fill_(4.0)
            model[1].weight.fill_(3.0)
            model[1].bias.fill_(-1.0)
        model.train()
    kept = image.clone()
    result = notebook.occlusion_sensitivity(model, image, patch_size=patch, stride=stride)
    return {"map": result, "unchanged": torch.equal(image, kept)}


def output_shape(notebook):
    """The output shape of a fresh build_model() on two blank images (None if it is not a module)."""
    net = notebook.build_model()
    if not isinstance(net, nn.Module):
        return None
    with torch.no_grad():
        out = net(torch.zeros(2, 1, 64, 64))
    return list(out.shape) if isinstance(out, torch.Tensor) else None


def train_network(notebook, images, masks, seed, replace):
    """train_model(build_model(), images, masks) on one thread, seeded, with the parts in ``replace``
    swapped for the grader's; returns the trained network (it stays here) and the CPU seconds it took
    by this process's own clock (for information: the budget is measured outside the kernel)."""
    import random
    import time

    import numpy

    space = _notebook_globals(notebook, "train_model")
    threads = torch.get_num_threads()
    images, masks = images.float(), masks.float()
    start = time.process_time()
    saved = _swap(space, replace)
    try:
        torch.set_num_threads(1)                  # the budget is for one thread
        random.seed(seed)
        numpy.random.seed(seed)
        torch.manual_seed(seed)
        trained = notebook.train_model(notebook.build_model(), images, masks)
    finally:
        _swap(space, replace, saved)
        torch.set_num_threads(threads)
    if not isinstance(trained, nn.Module):
        raise TypeError(f"train_model must return the trained network (an nn.Module), not {type(trained).__name__}")
    return trained, time.process_time() - start


def predict(notebook, model, images):
    """Hard masks (logit > 0) of a trained network in evaluation mode, without gradients."""
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(images[i:i + 16]).detach().float().cpu() for i in range(0, len(images), 16)])
    return (logits > 0).to(torch.uint8)


#: Functions every experiment that swaps parts needs beside it in the kernel.
HELPERS = (_notebook_globals, _swap, reference_dice_coefficient, reference_dice_loss, reference_paired_augment)
