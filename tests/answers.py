"""Alternative CORRECT answers, written from the student notebooks' wording alone (never from the
solution): other dtypes, loops instead of vectorised code, in-place operations, library calls,
other sources of randomness, classes instead of closures. Every one must earn full marks.

Each entry fills one or more solution cells of an otherwise solved notebook (grade_id -> code).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Answer:
    name: str                                   # becomes the student id in end-to-end tests
    cells: dict[str, str] = field(default_factory=dict)
    note: str = ""                              # what makes it different from the solution

    def answers(self) -> dict[str, str]:
        return {cell: code.strip() + "\n" for cell, code in self.cells.items()}


ALTERNATIVES: dict[str, list[Answer]] = {"gan_theory": [
    Answer("optimal-float64-division", {"optimal_discriminator": '''
def optimal_discriminator(p_data, p_g):
    total = torch.add(p_data, p_g)
    return torch.div(p_data, total)
'''}, "library calls instead of operators"),
    Answer("optimal-reciprocal", {"optimal_discriminator": '''
def optimal_discriminator(p_data, p_g):
    return 1.0 / (1.0 + p_g / p_data) if bool((p_data > 0).all()) else p_data / (p_data + p_g)
'''}, "1 / (1 + p_g / p_data) where possible"),
    Answer("optimal-broadcast-explicit", {"optimal_discriminator": '''
def optimal_discriminator(p_data, p_g):
    p, q = torch.broadcast_tensors(p_data, p_g)
    out = p.clone()
    out /= (p + q)
    return out
'''}, "explicit broadcasting and an in-place division"),
    Answer("jsd-loop", {"js_divergence": '''
def js_divergence(p, q):
    total = torch.zeros((), dtype=p.dtype)
    for a, b in zip(p, q):
        m = (a + b) / 2
        if a > 0:
            total = total + 0.5 * a * torch.log(a / m)
        if b > 0:
            total = total + 0.5 * b * torch.log(b / m)
    return total
'''}, "a Python loop over the entries"),
    Answer("jsd-xlogy", {"js_divergence": '''
def js_divergence(p, q):
    m = 0.5 * (p + q)
    kl_p = (torch.special.xlogy(p, p) - torch.special.xlogy(p, m)).sum()
    kl_q = (torch.special.xlogy(q, q) - torch.special.xlogy(q, m)).sum()
    return 0.5 * (kl_p + kl_q)
'''}, "torch.special.xlogy handles 0 log 0"),
    Answer("jsd-kl-div", {"js_divergence": '''
def js_divergence(p, q):
    m = (p + q) / 2
    log_m = torch.log(m.clamp_min(1e-30))
    return 0.5 * F.kl_div(log_m, p, reduction="sum") + 0.5 * F.kl_div(log_m, q, reduction="sum")
'''}, "F.kl_div, which treats 0 * log 0 as 0"),
    Answer("jsd-float32-entropy", {"js_divergence": '''
def js_divergence(p, q):
    def entropy(r):
        r = r.float()
        return -(r[r > 0] * r[r > 0].log()).sum()
    return entropy((p + q) / 2) - 0.5 * entropy(p) - 0.5 * entropy(q)
'''}, "H(m) - (H(p) + H(q)) / 2, in float32"),
    Answer("dloss-softplus", {"discriminator_loss": '''
def discriminator_loss(real_logits, fake_logits):
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
'''}, "softplus identities"),
    Answer("dloss-logsigmoid", {"discriminator_loss": '''
def discriminator_loss(real_logits, fake_logits):
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()
'''}, "log sigmoid(-l) = log(1 - sigmoid(l))"),
    Answer("dloss-bce-module", {"discriminator_loss": '''
criterion = nn.BCEWithLogitsLoss() if "nn" in globals() else torch.nn.BCEWithLogitsLoss()

def discriminator_loss(real_logits, fake_logits):
    real_targets = torch.ones_like(real_logits)
    fake_targets = torch.zeros_like(fake_logits)
    return criterion(real_logits, real_targets) + criterion(fake_logits, fake_targets)
'''}, "a loss module defined at notebook level"),
    Answer("gloss-logsigmoid", {"generator_loss": '''
def generator_loss(fake_logits, saturating=False):
    if saturating:
        return F.logsigmoid(-fake_logits).mean()
    return -F.logsigmoid(fake_logits).mean()
'''}, "log sigmoid forms"),
    Answer("gloss-softplus", {"generator_loss": '''
def generator_loss(fake_logits, saturating=False):
    return -F.softplus(fake_logits).mean() if saturating else F.softplus(-fake_logits).mean()
'''}, "softplus forms"),
    Answer("gloss-bce-class", {"generator_loss": '''
class _Losses:
    bce = torch.nn.BCEWithLogitsLoss()

    def __call__(self, logits, saturating=False):
        if saturating:
            return -self.bce(logits, torch.zeros_like(logits))
        return self.bce(logits, torch.ones_like(logits))

generator_loss = _Losses()
'''}, "a callable object instead of a function"),
]}


# --------------------------------------------------------------------------- segmentation
ALTERNATIVES["segmentation"] = [
    # dice_coefficient
    Answer("dice-float32", {"dice_coefficient": '''
def dice_coefficient(pred, target, smooth=1e-5):
    p, t = pred.float(), target.float()
    inter = (p * t).sum(dim=(1, 2, 3))
    return ((2 * inter + smooth) / (p.sum(dim=(1, 2, 3)) + t.sum(dim=(1, 2, 3)) + smooth)).mean()
'''}, "float32 whatever the input dtype (the case issue 13 found unfairly failed)"),
    Answer("dice-loop-over-images", {"dice_coefficient": '''
def dice_coefficient(pred, target, smooth=1e-5):
    scores = []
    for p, t in zip(pred, target):
        overlap = torch.sum(p * t)
        scores.append((2.0 * overlap + smooth) / (torch.sum(p) + torch.sum(t) + smooth))
    return torch.stack(scores).mean()
'''}, "a Python loop over the images"),
    Answer("dice-einsum", {"dice_coefficient": '''
def dice_coefficient(pred, target, smooth=1e-5):
    p = pred.reshape(pred.shape[0], -1)
    t = target.reshape(target.shape[0], -1).type_as(p)
    overlap = torch.einsum("bi,bi->b", p, t)
    denominator = p.sum(-1).add(t.sum(-1)).add_(smooth)
    return overlap.mul(2).add_(smooth).div_(denominator).mean()
'''}, "einsum and in-place arithmetic on fresh tensors"),
    Answer("dice-via-jaccard-terms", {"dice_coefficient": '''
def dice_coefficient(pred, target, smooth=1e-5):
    dims = tuple(range(1, pred.dim()))
    both = (pred * target).sum(dims)
    union = pred.sum(dims) + target.sum(dims) - both
    return torch.mean((2 * both + smooth) / (union + both + smooth))
'''}, "|P| + |T| written as union + intersection"),
    # dice_loss
    Answer("loss-own-formula-float32", {"dice_loss": '''
def dice_loss(logits, target, smooth=1e-5):
    prob = torch.sigmoid(logits.float()).flatten(1)
    truth = target.float().flatten(1)
    dice = (2 * (prob * truth).sum(1) + smooth) / (prob.sum(1) + truth.sum(1) + smooth)
    return 1 - dice.mean()
'''}, "its own formula in float32, without calling dice_coefficient"),
    Answer("loss-expit-keyword-call", {"dice_loss": '''
def dice_loss(logits, target, smooth=1e-5):
    return torch.ones((), dtype=logits.dtype) - dice_coefficient(pred=torch.special.expit(logits), target=target,
                                                                 smooth=smooth)
'''}, "torch.special.expit and keyword arguments"),
    Answer("loss-callable-class", {"dice_loss": '''
class SoftDiceLoss(nn.Module):
    def forward(self, logits, target, smooth=1e-5):
        return 1.0 - dice_coefficient(logits.sigmoid(), target, smooth)

dice_loss = SoftDiceLoss()
'''}, "an nn.Module instead of a function"),
    # paired_augment
    Answer("augment-dihedral", {"paired_augment": '''
def paired_augment(image, mask, generator=None):
    """One of the 8 symmetries of the square per sample (rot90 and flips)."""
    turns = torch.randint(0, 4, (image.shape[0],), generator=generator)
    flips = torch.randint(0, 2, (image.shape[0],), generator=generator)
    images, masks = [], []
    for x, m, k, f in zip(image, mask, turns.tolist(), flips.tolist()):
        x, m = torch.rot90(x, k, dims=(1, 2)), torch.rot90(m, k, dims=(1, 2))
        if f:
            x, m = torch.flip(x, dims=(2,)), torch.flip(m, dims=(2,))
        images.append(x)
        masks.append(m)
    return torch.stack(images), torch.stack(masks)
'''}, "the dihedral group (the case issue 13 found unfairly failed)"),
    Answer("augment-numpy-affine", {"paired_augment": '''
import numpy as np

def paired_augment(image, mask, generator=None):
    """Rotation, zoom and shift per sample, parameters from NumPy (seeded from the generator if given)."""
    if generator is not None:
        rng = np.random.default_rng(int(torch.randint(0, 2 ** 31 - 1, (1,), generator=generator)))
    else:
        rng = np.random.default_rng(int(np.random.randint(0, 2 ** 31 - 1)))
    n = image.shape[0]
    angle = rng.uniform(-np.pi, np.pi, n)
    zoom = rng.uniform(0.85, 1.15, n)
    shift = rng.uniform(-0.1, 0.1, (n, 2))
    theta = np.zeros((n, 2, 3))
    theta[:, 0, 0], theta[:, 0, 1] = np.cos(angle) / zoom, -np.sin(angle) / zoom
    theta[:, 1, 0], theta[:, 1, 1] = np.sin(angle) / zoom, np.cos(angle) / zoom
    theta[:, :, 2] = shift
    grid = F.affine_grid(torch.tensor(theta, dtype=image.dtype), list(image.shape), align_corners=True)
    out = F.grid_sample(image, grid, mode="bicubic", padding_mode="border", align_corners=True)
    out_mask = F.grid_sample(mask, grid, mode="nearest", padding_mode="border", align_corners=True)
    return out, out_mask
'''}, "NumPy randomness, any rotation angle, bicubic image interpolation, border padding"),
    Answer("augment-python-random-per-sample", {"paired_augment": '''
import random

def paired_augment(image, mask, generator=None):
    """Per sample: a random flip and a rotation by up to 30 degrees, one affine_grid call per sample."""
    draw = (lambda: float(torch.rand((), generator=generator))) if generator is not None else random.random
    image_out, mask_out = torch.empty_like(image), torch.empty_like(mask)
    for i in range(image.shape[0]):
        angle = math.radians(60 * draw() - 30)
        flip = -1.0 if draw() < 0.5 else 1.0
        theta = torch.tensor([[flip * math.cos(angle), -math.sin(angle), 0.0],
                              [flip * math.sin(angle), math.cos(angle), 0.0]], dtype=image.dtype)[None]
        grid = F.affine_grid(theta, [1, *image.shape[1:]], align_corners=False)
        image_out[i] = F.grid_sample(image[i:i + 1], grid, align_corners=False)[0]
        mask_out[i] = F.grid_sample(mask[i:i + 1], grid, mode="nearest", align_corners=False)[0]
    return image_out, mask_out
'''}, "Python's random without a generator, a loop over samples, preallocated outputs"),
    Answer("augment-elastic", {"paired_augment": '''
def paired_augment(image, mask, generator=None):
    """A random flip and a smooth random displacement field (elastic deformation) per sample."""
    n, _, h, w = image.shape
    coarse = (torch.rand(n, 2, 4, 4, generator=generator) - 0.5) * 0.3
    field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    base = torch.stack([xs, ys], -1).expand(n, h, w, 2)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).view(n, 1, 1, 1)
    grid = (base * torch.cat([flip, torch.ones_like(flip)], -1) + field).to(image.dtype)
    warped = F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
    warped_mask = F.grid_sample(mask, grid, mode="nearest", padding_mode="reflection", align_corners=True)
    return warped, warped_mask
'''}, "elastic deformation with reflection padding"),
    # occlusion_sensitivity
    Answer("occlusion-batched", {"occlusion_sensitivity": '''
def occlusion_sensitivity(model, image, patch_size=8, stride=8):
    """All occluded copies through the network in one batch."""
    _, h, w = image.shape
    corners = [(r, c) for r in range(0, h - patch_size + 1, stride) for c in range(0, w - patch_size + 1, stride)]
    copies = image.unsqueeze(0).repeat(len(corners) + 1, 1, 1, 1)
    for k, (r, c) in enumerate(corners, start=1):
        copies[k, :, r:r + patch_size, c:c + patch_size] = 0
    model.eval()
    with torch.no_grad():
        area = torch.sigmoid(model(copies)).sum(dim=(1, 2, 3))
    total, hits = torch.zeros(h, w), torch.zeros(h, w)
    for k, (r, c) in enumerate(corners, start=1):
        total[r:r + patch_size, c:c + patch_size] += area[0] - area[k]
        hits[r:r + patch_size, c:c + patch_size] += 1
    return total / hits.clamp(min=1)
'''}, "one batch for all windows, as in chapter 6"),
    Answer("occlusion-float64-inference-mode", {"occlusion_sensitivity": '''
def occlusion_sensitivity(model, image, patch_size=8, stride=8):
    model.eval()
    height, width = image.shape[-2:]
    drops = torch.zeros(height, width, dtype=torch.float64)
    counts = torch.zeros(height, width, dtype=torch.float64)
    with torch.inference_mode():
        base = float(torch.sigmoid(model(image[None])).sum())
        for top in range(0, height - patch_size + 1, stride):
            for left in range(0, width - patch_size + 1, stride):
                window = torch.ones_like(image)
                window[:, top:top + patch_size, left:left + patch_size] = 0
                drop = base - float(torch.sigmoid(model((image * window)[None])).sum())
                drops[top:top + patch_size, left:left + patch_size] += drop
                counts[top:top + patch_size, left:left + patch_size] += 1
    covered = counts > 0
    drops[covered] /= counts[covered]
    return drops
'''}, "float64 accumulators, inference_mode, a multiplicative mask"),
    Answer("occlusion-fold", {"occlusion_sensitivity": '''
def occlusion_sensitivity(model, image, patch_size=8, stride=8):
    """Window drops spread over pixels with F.fold (sum of overlapping windows) and divided by coverage."""
    model.eval()
    h, w = image.shape[-2:]
    rows = list(range(0, h - patch_size + 1, stride))
    cols = list(range(0, w - patch_size + 1, stride))
    drops = []
    with torch.no_grad():
        base = torch.sigmoid(model(image.unsqueeze(0))).sum()
        for r in rows:
            for c in cols:
                hidden = image.clone()
                hidden[:, r:r + patch_size, c:c + patch_size] = 0
                drops.append(base - torch.sigmoid(model(hidden.unsqueeze(0))).sum())
        values = torch.stack(drops).reshape(1, 1, -1).expand(1, patch_size * patch_size, -1)
        total = F.fold(values, (h, w), patch_size, stride=stride)
        cover = F.fold(torch.ones_like(values), (h, w), patch_size, stride=stride)
    return (total / cover.clamp(min=1))[0, 0]
'''}, "F.fold to sum the windows"),
]


def _segmentation_networks() -> list[Answer]:
    """Part 5: designs of tests/segmentation_designs.py that clear the top tier (held-out Dice >= 0.80 in
    60 CPU seconds), written differently from the solution (another U-Net class, other losses and rates)."""
    from tests.segmentation_designs import DESIGNS

    return [Answer("network-" + name, DESIGNS[name][0], DESIGNS[name][1])
            for name in ("unet16-no-augment", "unet16-no-augment-dice-only", "unet16-no-augment-lr5e-3")]


ALTERNATIVES["segmentation"] += _segmentation_networks()
