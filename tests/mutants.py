"""Plausible wrong answers, one per submission, each with the test cell that must catch it.

Every mutant replaces one solution cell of an otherwise correct submission. Grading must take
away exactly the points of ``loses`` and keep every other test cell's points.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str          # becomes the student id
    cell: str          # grade_id of the solution cell it replaces
    loses: str         # grade_id of the test cell that must fail
    code: str

    def answers(self) -> dict[str, str]:
        return {self.cell: self.code.strip() + "\n"}

    def losses(self) -> set[str]:
        return {self.loses}


@dataclass(frozen=True)
class Together:
    """Several wrong answers in one submission, for assignments whose grading trains a network
    (one training per submission instead of one per mistake). The graded parts are independent
    (hidden tests swap in reference versions of the other parts), so each mistake must still cost
    exactly its own test's points and nothing else."""
    name: str
    parts: tuple[Mutant, ...]

    def answers(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for part in self.parts:
            merged.update(part.answers())
        return merged

    def losses(self) -> set[str]:
        return set().union(*(part.losses() for part in self.parts))


MUTANTS: dict[str, list[Mutant]] = {"autoencoders": [
    # corrupt
    Mutant("corrupt-variance-as-std", "corrupt", "test_corrupt", '''
def corrupt(x, sigma):
    return (x + sigma ** 2 * torch.randn_like(x)).clamp(0, 1)
'''),
    Mutant("corrupt-no-clip", "corrupt", "test_corrupt", '''
def corrupt(x, sigma):
    return x + sigma * torch.randn_like(x)
'''),
    Mutant("corrupt-in-place", "corrupt", "test_corrupt", '''
def corrupt(x, sigma):
    return x.add_(sigma * torch.randn_like(x)).clamp_(0, 1)
'''),
    Mutant("corrupt-one-noise-per-image", "corrupt", "test_corrupt", '''
def corrupt(x, sigma):
    noise = torch.randn((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
    return (x + sigma * noise).clamp(0, 1)
'''),
    Mutant("corrupt-uniform-noise", "corrupt", "test_corrupt", '''
def corrupt(x, sigma):
    return (x + sigma * math.sqrt(3) * (2 * torch.rand_like(x) - 1)).clamp(0, 1)
'''),
    Mutant("corrupt-fixed-seed", "corrupt", "test_corrupt", '''
def corrupt(x, sigma):
    g = torch.Generator().manual_seed(0)
    return (x + sigma * torch.randn(x.shape, generator=g, dtype=x.dtype)).clamp(0, 1)
'''),
    Mutant("corrupt-same-noise-every-image", "corrupt", "test_corrupt", '''
def corrupt(x, sigma):
    noise = torch.randn(x.shape[1:], dtype=x.dtype, device=x.device)
    return (x + sigma * noise).clamp(0, 1)
'''),
    Mutant("corrupt-float32-result", "corrupt", "test_corrupt", '''
def corrupt(x, sigma):
    return (x.float() + sigma * torch.randn(x.shape)).clamp(0, 1)
'''),
    Mutant("corrupt-wraps-around", "corrupt", "test_corrupt", '''
def corrupt(x, sigma):
    return torch.remainder(x + sigma * torch.randn_like(x), 1.0)
'''),
    Mutant("corrupt-laplace-noise", "corrupt", "test_corrupt", '''
def corrupt(x, sigma):
    laplace = torch.empty_like(x).exponential_() - torch.empty_like(x).exponential_()   # variance 2
    return (x + sigma / math.sqrt(2) * laplace).clamp(0, 1)
'''),
    # sparsity_penalty
    Mutant("sparsity-mean-over-units", "sparsity_penalty", "test_sparsity_penalty", '''
def sparsity_penalty(h, rho):
    r = h.mean(0)
    return (rho * torch.log(rho / r) + (1 - rho) * torch.log((1 - rho) / (1 - r))).mean()
'''),
    Mutant("sparsity-reversed-kl", "sparsity_penalty", "test_sparsity_penalty", '''
def sparsity_penalty(h, rho):
    r = h.mean(0)
    return (r * torch.log(r / rho) + (1 - r) * torch.log((1 - r) / (1 - rho))).sum()
'''),
    Mutant("sparsity-mean-over-wrong-axis", "sparsity_penalty", "test_sparsity_penalty", '''
def sparsity_penalty(h, rho):
    r = h.mean(1)
    return (rho * torch.log(rho / r) + (1 - rho) * torch.log((1 - rho) / (1 - r))).sum()
'''),
    Mutant("sparsity-missing-second-term", "sparsity_penalty", "test_sparsity_penalty", '''
def sparsity_penalty(h, rho):
    r = h.mean(0)
    return (rho * torch.log(rho / r)).sum().abs()
'''),
    Mutant("sparsity-summed-over-batch", "sparsity_penalty", "test_sparsity_penalty", '''
def sparsity_penalty(h, rho):
    r = h.sum(0).clamp(max=0.999)
    return (rho * torch.log(rho / r) + (1 - rho) * torch.log((1 - rho) / (1 - r))).sum()
'''),
    Mutant("sparsity-rho-hat-detached", "sparsity_penalty", "test_sparsity_penalty", '''
def sparsity_penalty(h, rho):
    r = h.mean(0).detach()
    return (rho * torch.log(rho / r) + (1 - rho) * torch.log((1 - rho) / (1 - r))).sum()
'''),
    Mutant("sparsity-log2", "sparsity_penalty", "test_sparsity_penalty", '''
def sparsity_penalty(h, rho):
    r = h.mean(0)
    return (rho * torch.log2(rho / r) + (1 - rho) * torch.log2((1 - rho) / (1 - r))).sum()
'''),
    # anomaly_score
    Mutant("anomaly-batch-mean", "anomaly_score", "test_anomaly_score", '''
def anomaly_score(model, x):
    with torch.no_grad():
        return F.mse_loss(model(x), x)
'''),
    Mutant("anomaly-sum-over-pixels", "anomaly_score", "test_anomaly_score", '''
def anomaly_score(model, x):
    with torch.no_grad():
        return (model(x) - x).pow(2).flatten(1).sum(1)
'''),
    Mutant("anomaly-keeps-gradient", "anomaly_score", "test_anomaly_score", '''
def anomaly_score(model, x):
    return (model(x) - x).pow(2).flatten(1).mean(1)
'''),
    Mutant("anomaly-squeezed", "anomaly_score", "test_anomaly_score", '''
def anomaly_score(model, x):
    with torch.no_grad():
        return (model(x) - x).pow(2).flatten(1).mean(1).squeeze()
'''),
    Mutant("anomaly-root-mean-square", "anomaly_score", "test_anomaly_score", '''
def anomaly_score(model, x):
    with torch.no_grad():
        return (model(x) - x).pow(2).flatten(1).mean(1).sqrt()
'''),
    Mutant("anomaly-assumes-4d-images", "anomaly_score", "test_anomaly_score", '''
def anomaly_score(model, x):
    with torch.no_grad():
        return (model(x) - x).pow(2).mean(dim=(1, 2, 3))
'''),
    # principal_subspace
    Mutant("pca-not-centred", "principal_subspace", "test_principal_subspace", '''
def principal_subspace(x, k):
    return torch.linalg.svd(x, full_matrices=False)[2][:k].T
'''),
    Mutant("pca-rows-not-columns", "principal_subspace", "test_principal_subspace", '''
def principal_subspace(x, k):
    return torch.linalg.svd(x - x.mean(0), full_matrices=False)[2][:k]
'''),
    Mutant("pca-smallest-directions", "principal_subspace", "test_principal_subspace", '''
def principal_subspace(x, k):
    return torch.linalg.svd(x - x.mean(0), full_matrices=False)[2][-k:].T
'''),
    Mutant("pca-scaled-by-singular-values", "principal_subspace", "test_principal_subspace", '''
def principal_subspace(x, k):
    _, s, vh = torch.linalg.svd(x - x.mean(0), full_matrices=False)
    return vh[:k].T * s[:k] / s[0]
'''),
    # subspace_overlap
    Mutant("overlap-not-orthonormalised", "subspace_overlap", "test_subspace_overlap", '''
def subspace_overlap(a, b):
    return float((torch.linalg.svdvals(a.T @ b) ** 2).mean())
'''),
    Mutant("overlap-cosines-not-squared", "subspace_overlap", "test_subspace_overlap", '''
def subspace_overlap(a, b):
    qa, qb = torch.linalg.qr(a)[0], torch.linalg.qr(b)[0]
    return float(torch.linalg.svdvals(qa.T @ qb).mean())
'''),
    Mutant("overlap-returns-tensor", "subspace_overlap", "test_subspace_overlap", '''
def subspace_overlap(a, b):
    qa, qb = torch.linalg.qr(a)[0], torch.linalg.qr(b)[0]
    return (torch.linalg.svdvals(qa.T @ qb) ** 2).mean()
'''),
    Mutant("overlap-sum-not-mean", "subspace_overlap", "test_subspace_overlap", '''
def subspace_overlap(a, b):
    qa, qb = torch.linalg.qr(a)[0], torch.linalg.qr(b)[0]
    return float((torch.linalg.svdvals(qa.T @ qb) ** 2).sum())
'''),
]}

MUTANTS["vae"] = [
    Mutant("reparam-std-is-exp-logvar", "reparameterize", "test_reparameterize", '''
def reparameterize(mu, logvar):
    return mu + torch.randn_like(mu) * torch.exp(logvar)
'''),
    Mutant("reparam-std-is-logvar-halved", "reparameterize", "test_reparameterize", '''
def reparameterize(mu, logvar):
    return mu + torch.randn_like(mu) * 0.5 * logvar.exp()
'''),
    Mutant("reparam-detached", "reparameterize", "test_reparameterize", '''
def reparameterize(mu, logvar):
    return torch.normal(mu.detach(), torch.exp(0.5 * logvar).detach())
'''),
    Mutant("reparam-one-eps-per-row", "reparameterize", "test_reparameterize", '''
def reparameterize(mu, logvar):
    eps = torch.randn(mu.shape[0], 1, dtype=mu.dtype, device=mu.device)
    return mu + eps * torch.exp(0.5 * logvar)
'''),
    Mutant("reparam-uniform-noise", "reparameterize", "test_reparameterize", '''
def reparameterize(mu, logvar):
    eps = (torch.rand_like(mu) * 2 - 1) * math.sqrt(3)
    return mu + eps * torch.exp(0.5 * logvar)
'''),
    Mutant("reparam-logvar-as-std", "reparameterize", "test_reparameterize", '''
def reparameterize(mu, logvar):
    return mu + torch.randn_like(mu) * logvar
'''),
    Mutant("reparam-one-eps-per-column", "reparameterize", "test_reparameterize", '''
def reparameterize(mu, logvar):
    eps = torch.randn(1, mu.shape[1], dtype=mu.dtype, device=mu.device)
    return mu + eps * torch.exp(0.5 * logvar)
'''),
    Mutant("reparam-same-eps-every-call", "reparameterize", "test_reparameterize", '''
_eps_cache = {}

def reparameterize(mu, logvar):
    key = (tuple(mu.shape), mu.dtype)
    if key not in _eps_cache:
        _eps_cache[key] = torch.randn(key[0], dtype=mu.dtype)
    return mu + _eps_cache[key] * torch.exp(0.5 * logvar)
'''),
    Mutant("reparam-float32-output", "reparameterize", "test_reparameterize", '''
def reparameterize(mu, logvar):
    return (mu + torch.randn(mu.shape) * torch.exp(0.5 * logvar)).float()
'''),
    Mutant("reparam-std-detached", "reparameterize", "test_reparameterize", '''
def reparameterize(mu, logvar):
    std = torch.exp(0.5 * logvar).detach()
    return mu + torch.randn_like(mu) * std
'''),
    Mutant("kl-mean-over-dims", "kl_divergence", "test_kl_divergence", '''
def kl_divergence(mu, logvar):
    return -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
'''),
    Mutant("kl-wrong-sign", "kl_divergence", "test_kl_divergence", '''
def kl_divergence(mu, logvar):
    return 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
'''),
    Mutant("kl-summed-over-batch", "kl_divergence", "test_kl_divergence", '''
def kl_divergence(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
'''),
    Mutant("kl-variance-not-exponentiated", "kl_divergence", "test_kl_divergence", '''
def kl_divergence(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar, dim=1)
'''),
    Mutant("kl-std-for-variance", "kl_divergence", "test_kl_divergence", '''
def kl_divergence(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - torch.exp(0.5 * logvar), dim=1)
'''),
    Mutant("kl-keepdim", "kl_divergence", "test_kl_divergence", '''
def kl_divergence(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1, keepdim=True)
'''),
    Mutant("elbo-mean-over-pixels", "elbo_loss", "test_elbo_loss", '''
def elbo_loss(x_logits, x, mu, logvar):
    return F.binary_cross_entropy_with_logits(x_logits, x) + kl_divergence(mu, logvar).mean()
'''),
    Mutant("elbo-sum-over-batch", "elbo_loss", "test_elbo_loss", '''
def elbo_loss(x_logits, x, mu, logvar):
    return F.binary_cross_entropy_with_logits(x_logits, x, reduction="sum") + kl_divergence(mu, logvar).sum()
'''),
    Mutant("elbo-kl-subtracted", "elbo_loss", "test_elbo_loss", '''
def elbo_loss(x_logits, x, mu, logvar):
    b = x.shape[0]
    nll = F.binary_cross_entropy_with_logits(x_logits.reshape(b, -1), x.reshape(b, -1), reduction="none").sum(1)
    return (nll - kl_divergence(mu, logvar)).mean()
'''),
    Mutant("elbo-sigmoid-twice", "elbo_loss", "test_elbo_loss", '''
def elbo_loss(x_logits, x, mu, logvar):
    b = x.shape[0]
    probs = torch.sigmoid(x_logits).reshape(b, -1)
    nll = F.binary_cross_entropy_with_logits(probs, x.reshape(b, -1), reduction="none").sum(1)
    return (nll + kl_divergence(mu, logvar)).mean()
'''),
    Mutant("elbo-unstable-log", "elbo_loss", "test_elbo_loss", '''
def elbo_loss(x_logits, x, mu, logvar):
    b = x.shape[0]
    p = torch.sigmoid(x_logits).reshape(b, -1)
    x = x.reshape(b, -1)
    nll = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(1)
    return (nll + kl_divergence(mu, logvar)).mean()
'''),
    Mutant("elbo-kl-summed-over-batch", "elbo_loss", "test_elbo_loss", '''
def elbo_loss(x_logits, x, mu, logvar):
    nll = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").reshape(x.shape[0], -1).sum(1)
    return nll.mean() + kl_divergence(mu, logvar).sum()
'''),
    Mutant("elbo-sums-last-dim-only", "elbo_loss", "test_elbo_loss", '''
def elbo_loss(x_logits, x, mu, logvar):
    nll = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").sum(-1)
    return nll.mean() + kl_divergence(mu, logvar).mean()
'''),
    Mutant("elbo-bce-on-probabilities", "elbo_loss", "test_elbo_loss", '''
def elbo_loss(x_logits, x, mu, logvar):
    per_pixel = F.binary_cross_entropy(torch.sigmoid(x_logits), x, reduction="none")
    return (per_pixel.reshape(x.shape[0], -1).sum(1) + kl_divergence(mu, logvar)).mean()
'''),
    Mutant("elbo-kl-detached", "elbo_loss", "test_elbo_loss", '''
def elbo_loss(x_logits, x, mu, logvar):
    nll = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").reshape(x.shape[0], -1).sum(1)
    return (nll + kl_divergence(mu.detach(), logvar.detach())).mean()
'''),
    Mutant("condition-onehot-width-from-batch", "condition", "test_condition", '''
def condition(h, labels, num_classes):
    return torch.cat([h, F.one_hot(labels).to(h.dtype)], dim=1)
'''),
    Mutant("condition-label-as-number", "condition", "test_condition", '''
def condition(h, labels, num_classes):
    return torch.cat([h, labels.to(h.dtype).unsqueeze(1).repeat(1, num_classes)], dim=1)
'''),
    Mutant("condition-float32-always", "condition", "test_condition", '''
def condition(h, labels, num_classes):
    return torch.cat([h.float(), F.one_hot(labels, num_classes).float()], dim=1)
'''),
    Mutant("condition-h-detached", "condition", "test_condition", '''
def condition(h, labels, num_classes):
    return torch.cat([h.detach(), F.one_hot(labels, num_classes).to(h.dtype)], dim=1)
'''),
    Mutant("condition-one-hot-first", "condition", "test_condition", '''
def condition(h, labels, num_classes):
    return torch.cat([F.one_hot(labels, num_classes).to(h.dtype), h], dim=1)
'''),
    Mutant("interpolate-endpoint-missing", "interpolate", "test_interpolate", '''
def interpolate(z_start, z_end, steps):
    return torch.stack([z_start + (z_end - z_start) * k / steps for k in range(steps)])
'''),
    Mutant("interpolate-reversed", "interpolate", "test_interpolate", '''
def interpolate(z_start, z_end, steps):
    return torch.stack([z_end + (z_start - z_end) * k / (steps - 1) for k in range(steps)])
'''),
    Mutant("interpolate-float32-path", "interpolate", "test_interpolate", '''
def interpolate(z_start, z_end, steps):
    t = torch.linspace(0, 1, steps)
    return torch.stack([(1 - s) * z_start.float() + s * z_end.float() for s in t])
'''),
    Mutant("interpolate-stacked-last", "interpolate", "test_interpolate", '''
def interpolate(z_start, z_end, steps):
    return torch.stack([z_start + (z_end - z_start) * k / (steps - 1) for k in range(steps)], dim=-1)
'''),
    Mutant("interpolate-concatenated", "interpolate", "test_interpolate", '''
def interpolate(z_start, z_end, steps):
    return torch.cat([z_start + (z_end - z_start) * k / (steps - 1) for k in range(steps)])
'''),
]

MUTANTS["gan_theory"] = [
    Mutant("optimal-d-swapped", "optimal_discriminator", "test_optimal_discriminator", '''
def optimal_discriminator(p_data, p_g):
    return p_g / (p_data + p_g)
'''),
    Mutant("optimal-d-ratio", "optimal_discriminator", "test_optimal_discriminator", '''
def optimal_discriminator(p_data, p_g):
    return p_data / p_g.clamp(min=1e-12)
'''),
    Mutant("jsd-nan-on-zeros", "js_divergence", "test_js_divergence", '''
def js_divergence(p, q):
    m = 0.5 * (p + q)
    return 0.5 * (p * torch.log(p / m)).sum() + 0.5 * (q * torch.log(q / m)).sum()
'''),
    Mutant("jsd-log2", "js_divergence", "test_js_divergence", '''
def js_divergence(p, q):
    m = 0.5 * (p + q)
    kl = lambda a, b: torch.where(a > 0, a * torch.log2(a / b), torch.zeros_like(a)).sum()
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)
'''),
    Mutant("jsd-only-the-p-term", "js_divergence", "test_js_divergence", '''
def js_divergence(p, q):
    m = 0.5 * (p + q)
    return torch.where(p > 0, p * torch.log(p / m), torch.zeros_like(p)).sum()
'''),
    Mutant("jsd-no-half", "js_divergence", "test_js_divergence", '''
def js_divergence(p, q):
    m = 0.5 * (p + q)
    kl = lambda a, b: torch.where(a > 0, a * torch.log(a / b), torch.zeros_like(a)).sum()
    return kl(p, m) + kl(q, m)
'''),
    Mutant("dloss-labels-swapped", "discriminator_loss", "test_discriminator_loss", '''
def discriminator_loss(real_logits, fake_logits):
    return (F.binary_cross_entropy_with_logits(real_logits, torch.zeros_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits)))
'''),
    Mutant("dloss-mean-of-concatenation", "discriminator_loss", "test_discriminator_loss", '''
def discriminator_loss(real_logits, fake_logits):
    logits = torch.cat([real_logits, fake_logits])
    labels = torch.cat([torch.ones_like(real_logits), torch.zeros_like(fake_logits)])
    return F.binary_cross_entropy_with_logits(logits, labels)
'''),
    Mutant("dloss-unstable", "discriminator_loss", "test_discriminator_loss", '''
def discriminator_loss(real_logits, fake_logits):
    return -torch.log(torch.sigmoid(real_logits)).mean() - torch.log(1 - torch.sigmoid(fake_logits)).mean()
'''),
    Mutant("dloss-sums-over-batch", "discriminator_loss", "test_discriminator_loss", '''
def discriminator_loss(real_logits, fake_logits):
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits), reduction="sum")
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits), reduction="sum")
            ) / 2
'''),
    Mutant("gloss-always-saturating", "generator_loss", "test_generator_loss", '''
def generator_loss(fake_logits, saturating=False):
    return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
'''),
    Mutant("gloss-saturating-sign-flipped", "generator_loss", "test_generator_loss", '''
def generator_loss(fake_logits, saturating=False):
    if saturating:
        return F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
'''),
    Mutant("gloss-nonsaturating-unstable", "generator_loss", "test_generator_loss", '''
def generator_loss(fake_logits, saturating=False):
    if saturating:
        return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return -torch.log(torch.sigmoid(fake_logits)).mean()
'''),
    Mutant("gloss-saturating-unstable", "generator_loss", "test_generator_loss", '''
def generator_loss(fake_logits, saturating=False):
    if saturating:
        return torch.log(1 - torch.sigmoid(fake_logits)).mean()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
'''),
]


# --------------------------------------------------------------------------- segmentation
# Grading this assignment trains the student's network once per submission, so the wrong answers
# travel in groups: one mistake per graded function in each submission. The first group keeps the
# instructor's network (its mistakes must not cost any Dice-threshold points); the others pair their
# mistakes with a weak network trained for a few steps, which must lose exactly the three
# threshold tests.
_THRESHOLDS = ("test_heldout_tier1", "test_heldout_tier2", "test_heldout_tier3")

_DICE = [
    Mutant("dice-over-whole-batch", "dice_coefficient", "test_dice_coefficient", """
def dice_coefficient(pred, target, smooth=1e-5):
    return (2 * (pred * target).sum() + smooth) / (pred.sum() + target.sum() + smooth)
"""),
    Mutant("dice-no-smooth-in-numerator", "dice_coefficient", "test_dice_coefficient", """
def dice_coefficient(pred, target, smooth=1e-5):
    inter = (pred * target).sum((1, 2, 3))
    return (2 * inter / (pred.sum((1, 2, 3)) + target.sum((1, 2, 3)) + smooth)).mean()
"""),
    Mutant("dice-without-factor-two", "dice_coefficient", "test_dice_coefficient", """
def dice_coefficient(pred, target, smooth=1e-5):
    inter = (pred * target).sum((1, 2, 3))
    return ((inter + smooth) / (pred.sum((1, 2, 3)) + target.sum((1, 2, 3)) + smooth)).mean()
"""),
    Mutant("dice-means-instead-of-sums", "dice_coefficient", "test_dice_coefficient", """
def dice_coefficient(pred, target, smooth=1e-5):
    inter = (pred * target).mean((1, 2, 3))
    return ((2 * inter + smooth) / (pred.mean((1, 2, 3)) + target.mean((1, 2, 3)) + smooth)).mean()
"""),
    Mutant("dice-thresholds-soft-masks", "dice_coefficient", "test_dice_coefficient", """
def dice_coefficient(pred, target, smooth=1e-5):
    pred = (pred > 0.5).to(target.dtype)
    inter = (pred * target).sum((1, 2, 3))
    return ((2 * inter + smooth) / (pred.sum((1, 2, 3)) + target.sum((1, 2, 3)) + smooth)).mean()
"""),
    Mutant("dice-summed-over-batch", "dice_coefficient", "test_dice_coefficient", """
def dice_coefficient(pred, target, smooth=1e-5):
    inter = (pred * target).sum((1, 2, 3))
    return ((2 * inter + smooth) / (pred.sum((1, 2, 3)) + target.sum((1, 2, 3)) + smooth)).sum()
"""),
    Mutant("dice-detached", "dice_coefficient", "test_dice_coefficient", """
def dice_coefficient(pred, target, smooth=1e-5):
    p, t = pred.detach().flatten(1), target.flatten(1)
    return ((2 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth)).mean()
"""),
    Mutant("dice-per-image-vector", "dice_coefficient", "test_dice_coefficient", """
def dice_coefficient(pred, target, smooth=1e-5):
    p, t = pred.flatten(1), target.flatten(1)
    return (2 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth)
"""),
    Mutant("dice-ignores-smooth-argument", "dice_coefficient", "test_dice_coefficient", """
def dice_coefficient(pred, target, smooth=1e-5):
    p, t = pred.flatten(1), target.flatten(1)
    return ((2 * (p * t).sum(1) + 1e-5) / (p.sum(1) + t.sum(1) + 1e-5)).mean()
"""),
]
_LOSS = [
    Mutant("loss-without-sigmoid", "dice_loss", "test_dice_loss", """
def dice_loss(logits, target, smooth=1e-5):
    return 1 - dice_coefficient(logits, target, smooth)
"""),
    Mutant("loss-is-the-dice", "dice_loss", "test_dice_loss", """
def dice_loss(logits, target, smooth=1e-5):
    return dice_coefficient(torch.sigmoid(logits), target, smooth)
"""),
    Mutant("loss-hard-threshold", "dice_loss", "test_dice_loss", """
def dice_loss(logits, target, smooth=1e-5):
    return 1 - dice_coefficient((logits > 0).to(logits.dtype), target, smooth)
"""),
    Mutant("loss-smooth-one", "dice_loss", "test_dice_loss", """
def dice_loss(logits, target, smooth=1e-5):
    return 1 - dice_coefficient(torch.sigmoid(logits), target, 1.0)
"""),
    Mutant("loss-is-cross-entropy", "dice_loss", "test_dice_loss", """
def dice_loss(logits, target, smooth=1e-5):
    return F.binary_cross_entropy_with_logits(logits, target)
"""),
    Mutant("loss-detached", "dice_loss", "test_dice_loss", """
def dice_loss(logits, target, smooth=1e-5):
    return 1 - dice_coefficient(torch.sigmoid(logits).detach(), target, smooth)
"""),
    Mutant("loss-ignores-smooth-argument", "dice_loss", "test_dice_loss", """
def dice_loss(logits, target, smooth=1e-5):
    return 1 - dice_coefficient(torch.sigmoid(logits), target)
"""),
]
_AUGMENT = [
    Mutant("augment-separate-draws", "paired_augment", "test_paired_augment", """
def paired_augment(image, mask, generator=None):
    def warp(x, mode):
        n = x.shape[0]
        a = (torch.rand(n, generator=generator) - 0.5) * math.pi / 4
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = a.cos(), -a.sin(), a.sin(), a.cos()
        return F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), mode=mode, align_corners=False)
    return warp(image, "bilinear"), warp(mask, "nearest")
"""),
    Mutant("augment-bilinear-mask", "paired_augment", "test_paired_augment", """
def paired_augment(image, mask, generator=None):
    n = image.shape[0]
    a = (torch.rand(n, generator=generator) - 0.5) * math.pi / 4
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = a.cos(), -a.sin(), a.sin(), a.cos()
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    return F.grid_sample(image, grid, align_corners=False), F.grid_sample(mask, grid, align_corners=False)
"""),
    Mutant("augment-one-transform-per-batch", "paired_augment", "test_paired_augment", """
def paired_augment(image, mask, generator=None):
    k = int(torch.randint(1, 4, (1,), generator=generator))
    flip = bool(torch.rand(1, generator=generator) < 0.5)
    image, mask = torch.rot90(image, k, (2, 3)), torch.rot90(mask, k, (2, 3))
    return (image.flip(-1), mask.flip(-1)) if flip else (image, mask)
"""),
    Mutant("augment-ignores-generator", "paired_augment", "test_paired_augment", """
def paired_augment(image, mask, generator=None):
    out_i, out_m = image.clone(), mask.clone()
    for b in range(image.shape[0]):
        k = int(torch.randint(1, 4, (1,)))
        out_i[b], out_m[b] = torch.rot90(image[b], k, (1, 2)), torch.rot90(mask[b], k, (1, 2))
    return out_i, out_m
"""),
    Mutant("augment-identity", "paired_augment", "test_paired_augment", """
def paired_augment(image, mask, generator=None):
    return image.clone(), mask.clone()
"""),
    Mutant("augment-in-place", "paired_augment", "test_paired_augment", """
def paired_augment(image, mask, generator=None):
    for b in range(image.shape[0]):
        k = int(torch.randint(1, 4, (1,), generator=generator))
        image[b], mask[b] = torch.rot90(image[b], k, (1, 2)), torch.rot90(mask[b], k, (1, 2))
    return image, mask
"""),
    Mutant("augment-opposite-rotations", "paired_augment", "test_paired_augment", """
def paired_augment(image, mask, generator=None):
    out_i, out_m = image.clone(), mask.clone()
    for b in range(image.shape[0]):
        k = int(torch.randint(1, 4, (1,), generator=generator))
        out_i[b], out_m[b] = torch.rot90(image[b], k, (1, 2)), torch.rot90(mask[b], -k, (1, 2))
    return out_i, out_m
"""),
    Mutant("augment-mask-becomes-bool", "paired_augment", "test_paired_augment", """
def paired_augment(image, mask, generator=None):
    k = torch.randint(0, 4, (image.shape[0],), generator=generator).tolist()
    out_i = torch.stack([torch.rot90(x, t, (1, 2)) for x, t in zip(image, k)])
    out_m = torch.stack([torch.rot90(m, t, (1, 2)) for m, t in zip(mask, k)])
    return out_i, out_m > 0.5
"""),
    Mutant("augment-float64-to-float32", "paired_augment", "test_paired_augment", """
def paired_augment(image, mask, generator=None):
    k = torch.randint(0, 4, (image.shape[0],), generator=generator).tolist()
    out_i = torch.stack([torch.rot90(x, t, (1, 2)) for x, t in zip(image, k)])
    out_m = torch.stack([torch.rot90(m, t, (1, 2)) for m, t in zip(mask, k)])
    return out_i.float(), out_m.float()
"""),
    Mutant("augment-rarely-applied", "paired_augment", "test_paired_augment", """
def paired_augment(image, mask, generator=None):
    apply = torch.rand(image.shape[0], generator=generator) < 0.2
    k = torch.randint(1, 4, (image.shape[0],), generator=generator).tolist()
    out_i = torch.stack([torch.rot90(x, t, (1, 2)) if a else x.clone() for x, t, a in zip(image, k, apply)])
    out_m = torch.stack([torch.rot90(m, t, (1, 2)) if a else m.clone() for m, t, a in zip(mask, k, apply)])
    return out_i, out_m
"""),
]
_OCCLUSION_LOOP = """
def occlusion_sensitivity(model, image, patch_size=8, stride=8):
    model.eval()
    h, w = image.shape[-2:]
    total, count = torch.zeros(h, w), torch.zeros(h, w)
    with torch.no_grad():
        base = SCORE(model(image[None])).sum().item()
        for r in range(0, h - patch_size + LAST, stride):
            for c in range(0, w - patch_size + LAST, stride):
                x = COPY
                x[..., r:r + patch_size, c:c + patch_size] = 0
                total[ROWS, COLS] += DROP
                count[ROWS, COLS] += 1
    return RESULT
"""
_OCC_DEFAULTS = {"SCORE": "torch.sigmoid", "LAST": "1", "COPY": "image.clone()",
                 "ROWS": "r:r + patch_size", "COLS": "c:c + patch_size",
                 "DROP": "base - torch.sigmoid(model(x[None])).sum().item()",
                 "RESULT": "total / count.clamp(min=1)"}


def _fill(template: str, defaults: dict[str, str], **changes: str) -> str:
    """A wrong answer from a template: placeholders replaced by the defaults, except the changes."""
    code = template
    for key, value in {**defaults, **changes}.items():
        code = code.replace(key, value)
    return code


def _occlusion(**changes: str) -> str:
    return _fill(_OCCLUSION_LOOP, _OCC_DEFAULTS, **changes)


_OCCLUSION = [
    Mutant("occlusion-sign-flipped", "occlusion_sensitivity", "test_occlusion_sensitivity",
           _occlusion(DROP="torch.sigmoid(model(x[None])).sum().item() - base")),
    Mutant("occlusion-sums-overlaps", "occlusion_sensitivity", "test_occlusion_sensitivity",
           _occlusion(RESULT="total")),
    Mutant("occlusion-never-restores", "occlusion_sensitivity", "test_occlusion_sensitivity",
           _occlusion(COPY="image")),
    Mutant("occlusion-on-logits", "occlusion_sensitivity", "test_occlusion_sensitivity",
           _occlusion(SCORE="", DROP="base - model(x[None]).sum().item()")),
    Mutant("occlusion-misses-last-window", "occlusion_sensitivity", "test_occlusion_sensitivity",
           _occlusion(LAST="0")),
    Mutant("occlusion-rows-columns-swapped", "occlusion_sensitivity", "test_occlusion_sensitivity",
           _occlusion(ROWS="c:c + patch_size", COLS="r:r + patch_size")),
    Mutant("occlusion-train-mode", "occlusion_sensitivity", "test_occlusion_sensitivity",
           _occlusion().replace("    model.eval()\n", "")),
    Mutant("occlusion-tracks-gradients", "occlusion_sensitivity", "test_occlusion_sensitivity", """
def occlusion_sensitivity(model, image, patch_size=8, stride=8):
    model.eval()
    h, w = image.shape[-2:]
    total, count = torch.zeros(h, w), torch.zeros(h, w)
    base = torch.sigmoid(model(image[None])).sum()
    for r in range(0, h - patch_size + 1, stride):
        for c in range(0, w - patch_size + 1, stride):
            x = image.clone()
            x[..., r:r + patch_size, c:c + patch_size] = 0
            total[r:r + patch_size, c:c + patch_size] += base - torch.sigmoid(model(x[None])).sum()
            count[r:r + patch_size, c:c + patch_size] += 1
    return total / count.clamp(min=1)
"""),
]
_WEAK_NETWORK = [
    Mutant("weak-build", "build_model", "test_heldout_tier1", """
def build_model():
    return nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(),
                         nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1))
"""),
    Mutant("weak-train", "train_model", "test_heldout_tier2", """
def train_model(model, images, masks):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(20):
        pick = torch.randint(0, len(images), (16,))
        loss = F.binary_cross_entropy_with_logits(model(images[pick]), masks[pick])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model
"""),
]
# The starting network widened, with batch norm, trained briefly (tests/segmentation_designs.py, "wide-bn"):
# held-out Dice 0.726 in 10 CPU seconds, so it earns tier 1 and loses tiers 2 and 3.
_FIRST_TIER_NETWORK = [
    Mutant("wide-bn-build", "build_model", "test_heldout_tier2", """
def build_model():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1),
    )
"""),
    Mutant("wide-bn-train", "train_model", "test_heldout_tier3", """
def train_model(model, images, masks):
    epochs, batch = 16, 16
    steps = epochs * math.ceil(len(images) / batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images))
        for start in range(0, len(images), batch):
            x, y = images[order[start:start + batch]], masks[order[start:start + batch]]
            logits = model(x)
            loss = F.binary_cross_entropy_with_logits(logits, y) + dice_loss(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return model
"""),
]
# train_model that trains in place and returns nothing: every tier is lost, with a clear message.
_NO_RETURN = Mutant("train-returns-nothing", "train_model", "test_heldout_tier3", """
def train_model(model, images, masks):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = F.binary_cross_entropy_with_logits(model(images[:16]), masks[:16])
    opt.zero_grad()
    loss.backward()
    opt.step()
""")


class _WeakGroup(Together):
    def losses(self) -> set[str]:
        return super().losses() | set(_THRESHOLDS)


def _segmentation_groups() -> list[Together]:
    groups: list[Together] = []
    for i in range(max(map(len, (_DICE, _LOSS, _AUGMENT, _OCCLUSION)))):
        parts = tuple(group[i] for group in (_DICE, _LOSS, _AUGMENT, _OCCLUSION) if i < len(group))
        name = "seg-" + ".".join(p.name.split("-")[0] + str(i + 1) for p in parts)
        network = tuple(_WEAK_NETWORK) if i != 2 else (_WEAK_NETWORK[0], _NO_RETURN)
        groups.append(Together(name, parts) if i == 0 else _WeakGroup(name + ".weak", parts + network))
    groups.append(Together("seg-network-first-tier-only", tuple(_FIRST_TIER_NETWORK)))
    return groups


class _NeedsSandbox(_WeakGroup):
    """A cheat that only the grader's sandbox stops (in-process checks run without it)."""
    needs_sandbox = True


# Reads the held-out patients' masks from the data file and looks each image up: in the grader's
# kernels the file holds the training patients only (autograder.policy.KERNEL_DATA_VIEWS), so the
# held-out images are not found and every tier is lost. tests/test_checks.py shows it would score 1.0
# in a kernel that sees the full file.
_LOOKUP = (Mutant("lookup-build", "build_model", "test_heldout_tier1", """
def build_model():
    import numpy as np
    with np.load(sunnybrook_file()) as archive:
        raw, segs = archive["images"].astype(np.float32), archive["segs"].astype(np.float32)
    scale = np.percentile(raw.reshape(len(raw), -1), 99, axis=1)[:, None, None]
    bank = torch.from_numpy(np.clip(raw / np.maximum(scale, 1e-6), 0.0, 1.5)).flatten(1)
    answers = torch.from_numpy(segs).unsqueeze(1) * 20 - 10

    class Lookup(nn.Module):
        def forward(self, x):
            distance = torch.cdist(x.flatten(1).float(), bank)
            nearest = distance.argmin(1)
            found = distance.min(1).values < 0.5         # other slices lie 10 or more away
            return torch.where(found[:, None, None, None], answers[nearest], torch.full_like(answers[nearest], -10.0))
    return Lookup()
"""), Mutant("lookup-train", "train_model", "test_heldout_tier2", """
def train_model(model, images, masks):
    return model
"""))

MUTANTS["segmentation"] = _segmentation_groups() + [_NeedsSandbox("seg-lookup-heldout-masks", _LOOKUP)]


# --------------------------------------------------------------------------- dcgan
_G_TEMPLATE = """
def build_generator(latent_dim=64):
    class Gen(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(
                nn.ConvTranspose2d(latent_dim, 128, 7, bias=False), NORM1 ACT,
                nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), NORM2 ACT,
                nn.ConvTranspose2d(64, 1, 4, 2, 1), OUT)

        def forward(self, z):
            return self.body(z.view(len(z), -1, 1, 1))

    net = Gen()
    for m in net.modules():
        if isinstance(m, nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, STD)
        if isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return net
"""
_G_DEFAULTS = {"NORM1": "nn.BatchNorm2d(128),", "NORM2": "nn.BatchNorm2d(64),", "ACT": "nn.ReLU()",
               "OUT": "nn.Tanh()", "STD": "0.02"}
_D_TEMPLATE = """
def build_discriminator():
    body = nn.Sequential(
        nn.Conv2d(1, 64, 4, STRIDE, 1), FIRST ACT, POOL
        nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), ACT,
        nn.Conv2d(128, 1, 7), nn.Flatten(0), END)
    for m in body.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return body
"""
_D_DEFAULTS = {"STRIDE": "2", "FIRST": "", "ACT": "nn.LeakyReLU(0.2)", "POOL": "", "END": ""}


_D_STEP = """
def discriminator_step(D, G, real, z, optimizer_D):
    MAKE_GENERATED
    on_real, on_fake = D(real), D(fake)
    loss = (F.binary_cross_entropy_with_logits(on_real, REAL_LABEL)
            + F.binary_cross_entropy_with_logits(on_fake, FAKE_LABEL))
    ZERO
    loss.backward()
    optimizer_D.step()
    return RESULT
"""
# (placeholders must not contain one another: _fill replaces them in turn)
_D_STEP_DEFAULTS = {"MAKE_GENERATED": "fake = G(z).detach()", "REAL_LABEL": "torch.ones_like(on_real)",
                    "FAKE_LABEL": "torch.zeros_like(on_fake)", "ZERO": "optimizer_D.zero_grad()",
                    "RESULT": "loss.item()"}
_G_STEP = """
def generator_step(D, G, z, optimizer_G):
    BEFORE
    verdict = D(FAKE)
    loss = LOSS
    ZERO
    loss.backward()
    optimizer_G.step()
    return RESULT
"""
_G_STEP_DEFAULTS = {"BEFORE": "", "FAKE": "G(z)",
                    "LOSS": "F.binary_cross_entropy_with_logits(verdict, torch.ones_like(verdict))",
                    "ZERO": "optimizer_G.zero_grad()", "RESULT": "loss.item()"}

MUTANTS["dcgan"] = [
    # conv_transpose_output_size
    Mutant("size-conv-formula", "conv_transpose_output_size", "test_conv_transpose_output_size", """
def conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
"""),
    Mutant("size-padding-once", "conv_transpose_output_size", "test_conv_transpose_output_size", """
def conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    return (size - 1) * stride - padding + dilation * (kernel_size - 1) + output_padding + 1
"""),
    Mutant("size-ignores-dilation", "conv_transpose_output_size", "test_conv_transpose_output_size", """
def conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    return (size - 1) * stride - 2 * padding + kernel_size + output_padding
"""),
    Mutant("size-ignores-output-padding", "conv_transpose_output_size", "test_conv_transpose_output_size", """
def conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    return (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + 1
"""),
    Mutant("size-stride-times-size", "conv_transpose_output_size", "test_conv_transpose_output_size", """
def conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    return size * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding
"""),
    # build_generator
    Mutant("generator-sigmoid-output", "build_generator", "test_build_generator",
           _fill(_G_TEMPLATE, _G_DEFAULTS, OUT="nn.Sigmoid(), nn.Tanh()")),
    Mutant("generator-linear-output", "build_generator", "test_build_generator",
           _fill(_G_TEMPLATE, _G_DEFAULTS, OUT="nn.Identity()")),
    Mutant("generator-default-init", "build_generator", "test_build_generator",
           _fill(_G_TEMPLATE, _G_DEFAULTS, STD="0.2")),
    Mutant("generator-no-batchnorm", "build_generator", "test_build_generator",
           _fill(_G_TEMPLATE, _G_DEFAULTS, NORM1="", NORM2="")),
    Mutant("generator-leaky-relu", "build_generator", "test_build_generator",
           _fill(_G_TEMPLATE, _G_DEFAULTS, ACT="nn.LeakyReLU(0.2)")),
    Mutant("generator-fully-connected", "build_generator", "test_build_generator", """
def build_generator(latent_dim=64):
    return nn.Sequential(nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 784), nn.Tanh(),
                         nn.Unflatten(1, (1, 28, 28)))
"""),
    Mutant("generator-upsample", "build_generator", "test_build_generator", """
def build_generator(latent_dim=64):
    class Gen(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = nn.ConvTranspose2d(latent_dim, 64, 7)
            self.rest = nn.Sequential(nn.BatchNorm2d(64), nn.ReLU(), nn.Upsample(scale_factor=4),
                                      nn.Conv2d(64, 1, 3, padding=1), nn.Tanh())

        def forward(self, z):
            return self.rest(self.first(z.view(len(z), -1, 1, 1)))

    net = Gen()
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
    return net
"""),
    # build_discriminator
    Mutant("discriminator-max-pooling", "build_discriminator", "test_build_discriminator", """
def build_discriminator():
    body = nn.Sequential(
        nn.Conv2d(1, 64, 3, 1, 1), nn.LeakyReLU(0.2), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, 1, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2), nn.MaxPool2d(2),
        nn.Conv2d(128, 1, 7), nn.Flatten(0))
    for m in body.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
    return body
"""),
    Mutant("discriminator-relu", "build_discriminator", "test_build_discriminator",
           _fill(_D_TEMPLATE, _D_DEFAULTS, ACT="nn.ReLU()")),
    Mutant("discriminator-sigmoid", "build_discriminator", "test_build_discriminator",
           _fill(_D_TEMPLATE, _D_DEFAULTS, END="nn.Sigmoid()")),
    Mutant("discriminator-batchnorm-on-input", "build_discriminator", "test_build_discriminator",
           _fill(_D_TEMPLATE, _D_DEFAULTS, FIRST="nn.BatchNorm2d(64),")),
    Mutant("discriminator-slope-0.01", "build_discriminator", "test_build_discriminator",
           _fill(_D_TEMPLATE, _D_DEFAULTS, ACT="nn.LeakyReLU()")),
    Mutant("discriminator-probabilities", "build_discriminator", "test_build_discriminator",
           _fill(_D_TEMPLATE, _D_DEFAULTS, END="nn.Hardsigmoid()")),
    # discriminator_step
    Mutant("d-step-gradient-reaches-G", "discriminator_step", "test_discriminator_step",
           _fill(_D_STEP, _D_STEP_DEFAULTS, MAKE_GENERATED="fake = G(z)")),
    Mutant("d-step-no-zero-grad", "discriminator_step", "test_discriminator_step",
           _fill(_D_STEP, _D_STEP_DEFAULTS, ZERO="pass")),
    Mutant("d-step-labels-swapped", "discriminator_step", "test_discriminator_step",
           _fill(_D_STEP, _D_STEP_DEFAULTS, REAL_LABEL="torch.zeros_like(on_real)", FAKE_LABEL="torch.ones_like(on_fake)")),
    Mutant("d-step-returns-tensor", "discriminator_step", "test_discriminator_step",
           _fill(_D_STEP, _D_STEP_DEFAULTS, RESULT="loss")),
    Mutant("d-step-one-mean-over-both", "discriminator_step", "test_discriminator_step", """
def discriminator_step(D, G, real, z, optimizer_D):
    fake = G(z).detach()
    logits = torch.cat([D(real), D(fake)])
    labels = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))])
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    optimizer_D.zero_grad()
    loss.backward()
    optimizer_D.step()
    return loss.item()
"""),
    Mutant("d-step-loss-after-update", "discriminator_step", "test_discriminator_step", """
def discriminator_step(D, G, real, z, optimizer_D):
    fake = G(z).detach()
    def loss_now():
        return (F.binary_cross_entropy_with_logits(D(real), torch.ones(len(real)))
                + F.binary_cross_entropy_with_logits(D(fake), torch.zeros(len(fake))))
    optimizer_D.zero_grad()
    loss_now().backward()
    optimizer_D.step()
    with torch.no_grad():
        return loss_now().item()
"""),
    # generator_step
    Mutant("g-step-saturating", "generator_step", "test_generator_step",
           _fill(_G_STEP, _G_STEP_DEFAULTS, LOSS="-F.binary_cross_entropy_with_logits(verdict, torch.zeros_like(verdict))")),
    Mutant("g-step-wrong-target", "generator_step", "test_generator_step",
           _fill(_G_STEP, _G_STEP_DEFAULTS, LOSS="F.binary_cross_entropy_with_logits(verdict, torch.zeros_like(verdict))")),
    Mutant("g-step-no-zero-grad", "generator_step", "test_generator_step",
           _fill(_G_STEP, _G_STEP_DEFAULTS, ZERO="pass")),
    Mutant("g-step-detached-fake", "generator_step", "test_generator_step",
           _fill(_G_STEP, _G_STEP_DEFAULTS, FAKE="G(z).detach().requires_grad_()")),
    Mutant("g-step-freezes-D-for-good", "generator_step", "test_generator_step",
           _fill(_G_STEP, _G_STEP_DEFAULTS, BEFORE="D.requires_grad_(False)")),
    Mutant("g-step-returns-tensor", "generator_step", "test_generator_step",
           _fill(_G_STEP, _G_STEP_DEFAULTS, RESULT="loss")),
    # added with the grader-side checks (issue 13): one wrong answer per checked property without one
    Mutant("size-returns-float", "conv_transpose_output_size", "test_conv_transpose_output_size", """
def conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    return float((size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1)
"""),
    Mutant("generator-batchnorm-weights-left-at-1", "build_generator", "test_build_generator", """
def build_generator(latent_dim=64):
    net = nn.Sequential(
        nn.Unflatten(1, (latent_dim, 1, 1)),
        nn.ConvTranspose2d(latent_dim, 128, 7, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
    for m in net.modules():
        if isinstance(m, nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
    return net
"""),
    Mutant("generator-ignores-latent-dim", "build_generator", "test_build_generator",
           _fill(_G_TEMPLATE, _G_DEFAULTS).replace("nn.ConvTranspose2d(latent_dim, 128", "nn.ConvTranspose2d(64, 128")),
    Mutant("generator-only-last-layer-initialised", "build_generator", "test_build_generator",
           _fill(_G_TEMPLATE, _G_DEFAULTS).replace("if isinstance(m, nn.ConvTranspose2d):",
                                                    "if isinstance(m, nn.ConvTranspose2d) and m.out_channels == 1:")),
    Mutant("discriminator-hidden-linear", "build_discriminator", "test_build_discriminator", """
def build_discriminator():
    body = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1), nn.Flatten(0))
    for m in body.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
    return body
"""),
    Mutant("discriminator-default-init", "build_discriminator", "test_build_discriminator", """
def build_discriminator():
    return nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Conv2d(128, 1, 7), nn.Flatten(0))
"""),
    Mutant("discriminator-logits-shape-B1", "build_discriminator", "test_build_discriminator",
           _fill(_D_TEMPLATE, _D_DEFAULTS).replace("nn.Flatten(0)", "nn.Flatten(1)")),
    Mutant("discriminator-no-batchnorm", "build_discriminator", "test_build_discriminator",
           _fill(_D_TEMPLATE, _D_DEFAULTS).replace("nn.BatchNorm2d(128), ", "")),
    Mutant("d-step-steps-G-too", "discriminator_step", "test_discriminator_step", """
def discriminator_step(D, G, real, z, optimizer_D):
    fake = G(z)
    on_real, on_fake = D(real), D(fake)
    loss = F.softplus(-on_real).mean() + F.softplus(on_fake).mean()
    optimizer_D.zero_grad()
    loss.backward()
    optimizer_D.step()
    with torch.no_grad():
        for p in G.parameters():
            p -= 0.01 * p.grad
            p.grad = None
    return loss.item()
"""),
    Mutant("g-step-also-steps-D", "generator_step", "test_generator_step",
           _fill(_G_STEP, _G_STEP_DEFAULTS, ZERO="optimizer_G.zero_grad(); D.zero_grad()",
                 RESULT="torch.optim.SGD(D.parameters(), lr=0.01).step() or loss.item()")),
    Mutant("g-step-loss-after-update", "generator_step", "test_generator_step", """
def generator_step(D, G, z, optimizer_G):
    verdict = D(G(z))
    loss = F.softplus(-verdict).mean()
    optimizer_G.zero_grad()
    loss.backward()
    optimizer_G.step()
    with torch.no_grad():
        return F.softplus(-D(G(z))).mean().item()
"""),
]

# parts 6-8 (issue 16): gradient_penalty, frechet_distance, bootstrap_ci
_GP = """
def gradient_penalty(critic, real, fake, generator=None):
    EPS
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    scores = critic(x_hat)
    GRAD
    norms = NORMS
    return PENALTY
"""
_GP_DEFAULTS = {"EPS": "eps = torch.rand((len(real),) + (1,) * (real.dim() - 1), generator=generator, dtype=real.dtype)",
                "GRAD": "(grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)",
                "NORMS": "grad.flatten(1).norm(2, dim=1)", "PENALTY": "((norms - 1) ** 2).mean()"}
_FD = """
def frechet_distance(mu1, sigma1, mu2, sigma2):
    from scipy import linalg
    ROOT
    return float(MEANS + np.trace(sigma1) + np.trace(sigma2) - 2 * TRACE)
"""
_FD_DEFAULTS = {"ROOT": "root = linalg.sqrtm(sigma1 @ sigma2).real", "MEANS": "((mu1 - mu2) ** 2).sum()",
                "TRACE": "np.trace(root)"}
_BOOT = """
def bootstrap_ci(values, statistic=np.mean, n_boot=2000, alpha=0.05, rng=None):
    RNG
    n = len(values)
    replicates = np.array([STAT(RESAMPLE) for _ in range(n_boot)], dtype=float)
    low, high = QUANTILES
    return float(low), float(high)
"""
_BOOT_DEFAULTS = {"RNG": "rng = np.random.default_rng() if rng is None else rng", "STAT": "statistic",
                  "RESAMPLE": "values[rng.integers(0, n, size=n)]",
                  "QUANTILES": "np.quantile(replicates, [alpha / 2, 1 - alpha / 2])"}

#: The wrong answers of parts 6-8, one by one (tests/test_stats_gan.py runs the random ones over seeds).
DCGAN_EVALUATION_MUTANTS = [
    # gradient_penalty
    Mutant("gp-without-minus-one", "gradient_penalty", "test_gradient_penalty",
           _fill(_GP, _GP_DEFAULTS, PENALTY="(norms ** 2).mean()")),
    Mutant("gp-squared-norm-minus-one", "gradient_penalty", "test_gradient_penalty",
           _fill(_GP, _GP_DEFAULTS, NORMS="grad.flatten(1).pow(2).sum(1)")),
    Mutant("gp-norm-over-channels-only", "gradient_penalty", "test_gradient_penalty",
           _fill(_GP, _GP_DEFAULTS, NORMS="grad.norm(2, dim=1)")),
    Mutant("gp-norm-of-whole-batch", "gradient_penalty", "test_gradient_penalty",
           _fill(_GP, _GP_DEFAULTS, NORMS="grad.norm(2)")),
    Mutant("gp-no-create-graph", "gradient_penalty", "test_gradient_penalty",
           _fill(_GP, _GP_DEFAULTS, GRAD="(grad,) = torch.autograd.grad(scores.sum(), x_hat)")),
    Mutant("gp-one-sided", "gradient_penalty", "test_gradient_penalty",
           _fill(_GP, _GP_DEFAULTS, PENALTY="(torch.relu(norms - 1) ** 2).mean()")),
    Mutant("gp-one-epsilon-for-the-batch", "gradient_penalty", "test_gradient_penalty",
           _fill(_GP, _GP_DEFAULTS, EPS="eps = torch.rand((), generator=generator, dtype=real.dtype)")),
    Mutant("gp-one-epsilon-per-pixel", "gradient_penalty", "test_gradient_penalty",
           _fill(_GP, _GP_DEFAULTS, EPS="eps = torch.rand(real.shape, generator=generator, dtype=real.dtype)")),
    Mutant("gp-midpoint-instead-of-random", "gradient_penalty", "test_gradient_penalty",
           _fill(_GP, _GP_DEFAULTS, EPS="eps = torch.full((len(real),) + (1,) * (real.dim() - 1), 0.5, dtype=real.dtype)")),
    Mutant("gp-ignores-generator", "gradient_penalty", "test_gradient_penalty",
           _fill(_GP, _GP_DEFAULTS, EPS="eps = torch.rand((len(real),) + (1,) * (real.dim() - 1), dtype=real.dtype)")),
    Mutant("gp-float32-always", "gradient_penalty", "test_gradient_penalty",
           _fill(_GP, _GP_DEFAULTS, PENALTY="((norms - 1) ** 2).mean().float()")),
    Mutant("gp-backward-fills-critic-grads", "gradient_penalty", "test_gradient_penalty",
           _fill(_GP, _GP_DEFAULTS, GRAD="scores.sum().backward(create_graph=True)\n    grad = x_hat.grad")),
    Mutant("gp-gradient-at-real-samples", "gradient_penalty", "test_gradient_penalty", """
def gradient_penalty(critic, real, fake, generator=None):
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
"""),
    # frechet_distance
    Mutant("fd-no-matrix-root", "frechet_distance", "test_frechet_distance",
           _fill(_FD, _FD_DEFAULTS, ROOT="root = sigma1 @ sigma2")),
    Mutant("fd-entrywise-root", "frechet_distance", "test_frechet_distance",
           _fill(_FD, _FD_DEFAULTS, ROOT="root = np.sqrt(np.abs(sigma1 @ sigma2))")),
    Mutant("fd-product-of-roots", "frechet_distance", "test_frechet_distance",
           _fill(_FD, _FD_DEFAULTS, ROOT="root = (linalg.sqrtm(sigma1) @ linalg.sqrtm(sigma2)).real")),
    Mutant("fd-mean-distance-not-squared", "frechet_distance", "test_frechet_distance",
           _fill(_FD, _FD_DEFAULTS, MEANS="np.linalg.norm(mu1 - mu2)")),
    Mutant("fd-eigenvalues-not-clipped", "frechet_distance", "test_frechet_distance",
           _fill(_FD, _FD_DEFAULTS, ROOT="root = None", TRACE="np.sqrt(np.linalg.eigvals(sigma1 @ sigma2).real).sum()")),
    Mutant("fd-returns-complex", "frechet_distance", "test_frechet_distance", """
def frechet_distance(mu1, sigma1, mu2, sigma2):
    from scipy import linalg
    root = linalg.sqrtm(sigma1 @ sigma2)
    return ((mu1 - mu2) ** 2).sum() + np.trace(sigma1 + sigma2 - 2 * root)
"""),
    Mutant("fd-large-regulariser", "frechet_distance", "test_frechet_distance",
           _fill(_FD, _FD_DEFAULTS, ROOT="root = linalg.sqrtm((sigma1 + 1e-2 * np.eye(len(sigma1))) @ "
                                           "(sigma2 + 1e-2 * np.eye(len(sigma2)))).real")),
    Mutant("fd-returns-array", "frechet_distance", "test_frechet_distance", """
def frechet_distance(mu1, sigma1, mu2, sigma2):
    from scipy import linalg
    root = linalg.sqrtm(sigma1 @ sigma2).real
    return np.array([((mu1 - mu2) ** 2).sum() + np.trace(sigma1 + sigma2 - 2 * root)])
"""),
    # bootstrap_ci
    Mutant("boot-without-replacement", "bootstrap_ci", "test_bootstrap_ci",
           _fill(_BOOT, _BOOT_DEFAULTS, RESAMPLE="rng.permutation(values)")),
    Mutant("boot-half-size-resamples", "bootstrap_ci", "test_bootstrap_ci",
           _fill(_BOOT, _BOOT_DEFAULTS, RESAMPLE="values[rng.integers(0, n, size=n // 2)]")),
    Mutant("boot-quantiles-alpha-not-halved", "bootstrap_ci", "test_bootstrap_ci",
           _fill(_BOOT, _BOOT_DEFAULTS, QUANTILES="np.quantile(replicates, [alpha, 1 - alpha])")),
    Mutant("boot-percent-as-fraction", "bootstrap_ci", "test_bootstrap_ci",
           _fill(_BOOT, _BOOT_DEFAULTS, QUANTILES="np.percentile(replicates, [alpha / 2, 1 - alpha / 2])")),
    Mutant("boot-ignores-statistic", "bootstrap_ci", "test_bootstrap_ci",
           _fill(_BOOT, _BOOT_DEFAULTS, STAT="np.mean")),
    Mutant("boot-ignores-rng", "bootstrap_ci", "test_bootstrap_ci",
           _fill(_BOOT, _BOOT_DEFAULTS, RNG="rng = np.random.default_rng()")),
    Mutant("boot-basic-interval", "bootstrap_ci", "test_bootstrap_ci", """
def bootstrap_ci(values, statistic=np.mean, n_boot=2000, alpha=0.05, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    n = len(values)
    replicates = np.array([statistic(values[rng.integers(0, n, size=n)]) for _ in range(n_boot)])
    q_low, q_high = np.quantile(replicates, [alpha / 2, 1 - alpha / 2])
    estimate = statistic(values)
    return float(2 * estimate - q_high), float(2 * estimate - q_low)
"""),
    Mutant("boot-normal-approximation", "bootstrap_ci", "test_bootstrap_ci", """
def bootstrap_ci(values, statistic=np.mean, n_boot=2000, alpha=0.05, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    n = len(values)
    replicates = np.array([statistic(values[rng.integers(0, n, size=n)]) for _ in range(n_boot)])
    estimate, se = statistic(values), replicates.std()
    return float(estimate - 1.96 * se), float(estimate + 1.96 * se)
"""),
    Mutant("boot-returns-array", "bootstrap_ci", "test_bootstrap_ci",
           _fill(_BOOT, _BOOT_DEFAULTS, QUANTILES="np.quantile(replicates, [alpha / 2, 1 - alpha / 2]), None\n"
                                                 "    return np.quantile(replicates, [alpha / 2, 1 - alpha / 2])")),
]


def _evaluation_groups() -> list[Together]:
    """Parts 6-8 are independent functions: grade one penalty, one Frechet and one bootstrap mistake per
    submission (13 submissions instead of 31); each must still cost exactly its own test."""
    by_cell: dict[str, list[Mutant]] = {}
    for mutant in DCGAN_EVALUATION_MUTANTS:
        by_cell.setdefault(mutant.cell, []).append(mutant)
    columns = list(by_cell.values())
    return [Together(".".join(column[i].name for column in columns if i < len(column)),
                     tuple(column[i] for column in columns if i < len(column)))
            for i in range(max(map(len, columns)))]


MUTANTS["dcgan"] += _evaluation_groups()


# --------------------------------------------------------------------------- cyclegan
_POOL = """
class ImagePool:
    def __init__(self, pool_size=50):
        self.pool_size = pool_size
        self.images = []

    def query(self, images):
        if self.pool_size == 0:
            return images.detach()
        chosen = []
        BATCH_COIN
        for image in SOURCE:
            if len(self.images) < self.pool_size:
                self.images.append(image.clone())
                chosen.append(image)
            elif COIN:
                slot = random.randrange(len(self.images))
                chosen.append(self.images[slot])
                REPLACE
            else:
                chosen.append(image)
        return torch.stack(chosen)
"""
_POOL_DEFAULTS = {"BATCH_COIN": "", "SOURCE": "images.detach()", "COIN": "random.random() < 0.5",
                  "REPLACE": "self.images[slot] = image.clone()"}
_OBJECTIVE = """
def generator_objective(real_a, real_b, G_ab, G_ba, D_a, D_b, lambda_cyc=10.0, lambda_id=5.0):
    fake_b, fake_a = G_ab(real_a), G_ba(real_b)
    adversarial = ADV
    cycle = (cycle_consistency_loss(real_a, CYC_A, lambda_cyc)
             + cycle_consistency_loss(real_b, CYC_B, lambda_cyc))
    same = identity_loss(real_b, ID_B, lambda_id) + identity_loss(real_a, ID_A, lambda_id)
    return adversarial + cycle + same
"""
_OBJ_DEFAULTS = {"ADV": "((D_b(fake_b) - 1) ** 2).mean() + ((D_a(fake_a) - 1) ** 2).mean()",
                 "CYC_A": "G_ba(fake_b)", "CYC_B": "G_ab(fake_a)", "ID_B": "G_ab(real_b)", "ID_A": "G_ba(real_a)"}

MUTANTS["cyclegan"] = [
    Mutant("cycle-l2", "cycle_consistency_loss", "test_cycle_consistency_loss", """
def cycle_consistency_loss(real, reconstructed, weight=10.0):
    return weight * ((reconstructed - real) ** 2).mean()
"""),
    Mutant("cycle-sum-not-mean", "cycle_consistency_loss", "test_cycle_consistency_loss", """
def cycle_consistency_loss(real, reconstructed, weight=10.0):
    return weight * (reconstructed - real).abs().sum() / len(real)
"""),
    Mutant("cycle-ignores-weight", "cycle_consistency_loss", "test_cycle_consistency_loss", """
def cycle_consistency_loss(real, reconstructed, weight=10.0):
    return 10.0 * (reconstructed - real).abs().mean()
"""),
    Mutant("cycle-no-absolute-value", "cycle_consistency_loss", "test_cycle_consistency_loss", """
def cycle_consistency_loss(real, reconstructed, weight=10.0):
    return weight * (reconstructed - real).mean().abs()
"""),
    Mutant("cycle-detached", "cycle_consistency_loss", "test_cycle_consistency_loss", """
def cycle_consistency_loss(real, reconstructed, weight=10.0):
    return weight * torch.tensor((reconstructed - real).abs().mean().item(), dtype=real.dtype)
"""),
    Mutant("identity-l2", "identity_loss", "test_identity_loss", """
def identity_loss(real, mapped, weight=5.0):
    return weight * ((mapped - real) ** 2).mean()
"""),
    Mutant("identity-default-weight-10", "identity_loss", "test_identity_loss", """
def identity_loss(real, mapped, weight=10.0):
    return weight * (mapped - real).abs().mean()
"""),
    Mutant("identity-ignores-weight", "identity_loss", "test_identity_loss", """
def identity_loss(real, mapped, weight=5.0):
    return 5.0 * (mapped - real).abs().mean()
"""),
    Mutant("pool-never-returns-history", "ImagePool", "test_ImagePool",
           _fill(_POOL, _POOL_DEFAULTS, COIN="False")),
    Mutant("pool-always-returns-history", "ImagePool", "test_ImagePool",
           _fill(_POOL, _POOL_DEFAULTS, COIN="True")),
    Mutant("pool-returns-without-replacing", "ImagePool", "test_ImagePool",
           _fill(_POOL, _POOL_DEFAULTS, REPLACE="pass")),
    Mutant("pool-one-coin-per-batch", "ImagePool", "test_ImagePool",
           _fill(_POOL, _POOL_DEFAULTS, BATCH_COIN="use_old = random.random() < 0.5", COIN="use_old")),
    Mutant("pool-not-detached", "ImagePool", "test_ImagePool",
           _fill(_POOL, _POOL_DEFAULTS, SOURCE="images")),
    Mutant("pool-stores-everything", "ImagePool", "test_ImagePool", """
class ImagePool:
    def __init__(self, pool_size=50):
        self.pool_size = pool_size
        self.images = []

    def query(self, images):
        out = []
        for image in images.detach():
            if self.images and random.random() < 0.5:
                out.append(self.images[random.randrange(len(self.images))])
            else:
                out.append(image)
            self.images.append(image)
        return torch.stack(out)
"""),
    Mutant("objective-cross-entropy", "generator_objective", "test_generator_objective",
           _fill(_OBJECTIVE, _OBJ_DEFAULTS, ADV="F.binary_cross_entropy_with_logits(D_b(fake_b), torch.ones_like(D_b(fake_b))) + F.binary_cross_entropy_with_logits(D_a(fake_a), torch.ones_like(D_a(fake_a)))")),
    Mutant("objective-target-zero", "generator_objective", "test_generator_objective",
           _fill(_OBJECTIVE, _OBJ_DEFAULTS, ADV="(D_b(fake_b) ** 2).mean() + (D_a(fake_a) ** 2).mean()")),
    Mutant("objective-identity-wrong-domain", "generator_objective", "test_generator_objective",
           _fill(_OBJECTIVE, _OBJ_DEFAULTS, ID_B="G_ba(real_b)", ID_A="G_ab(real_a)")),
    Mutant("objective-cycle-same-generator", "generator_objective", "test_generator_objective",
           _fill(_OBJECTIVE, _OBJ_DEFAULTS, CYC_A="G_ab(fake_b)", CYC_B="G_ba(fake_a)")),
    Mutant("objective-one-direction", "generator_objective", "test_generator_objective", """
def generator_objective(real_a, real_b, G_ab, G_ba, D_a, D_b, lambda_cyc=10.0, lambda_id=5.0):
    fake_b = G_ab(real_a)
    return (((D_b(fake_b) - 1) ** 2).mean() + cycle_consistency_loss(real_a, G_ba(fake_b), lambda_cyc)
            + identity_loss(real_b, G_ab(real_b), lambda_id))
"""),
    Mutant("objective-squared-mean", "generator_objective", "test_generator_objective",
           _fill(_OBJECTIVE, _OBJ_DEFAULTS, ADV="(D_b(fake_b).mean() - 1) ** 2 + (D_a(fake_a).mean() - 1) ** 2")),
    Mutant("objective-weights-swapped", "generator_objective", "test_generator_objective", """
def generator_objective(real_a, real_b, G_ab, G_ba, D_a, D_b, lambda_cyc=10.0, lambda_id=5.0):
    fake_b, fake_a = G_ab(real_a), G_ba(real_b)
    adversarial = ((D_b(fake_b) - 1) ** 2).mean() + ((D_a(fake_a) - 1) ** 2).mean()
    cycle = cycle_consistency_loss(real_a, G_ba(fake_b), lambda_id) + cycle_consistency_loss(real_b, G_ab(fake_a), lambda_id)
    same = identity_loss(real_b, G_ab(real_b), lambda_cyc) + identity_loss(real_a, G_ba(real_a), lambda_cyc)
    return adversarial + cycle + same
"""),
    # added with the grader-side checks (issue 13)
    Mutant("identity-detached", "identity_loss", "test_identity_loss", """
def identity_loss(real, mapped, weight=5.0):
    return weight * (mapped.detach() - real).abs().mean()
"""),
    Mutant("pool-always-first-slot", "ImagePool", "test_ImagePool",
           _fill(_POOL, _POOL_DEFAULTS).replace("slot = random.randrange(len(self.images))", "slot = 0")),
    Mutant("pool-coin-one-quarter", "ImagePool", "test_ImagePool",
           _fill(_POOL, _POOL_DEFAULTS, COIN="random.random() < 0.25")),
    Mutant("pool-size-zero-not-handled", "ImagePool", "test_ImagePool",
           _fill(_POOL, _POOL_DEFAULTS).replace("if self.pool_size == 0:", "if self.pool_size < 0:")
           .replace("random.randrange(len(self.images))", "random.randrange(self.pool_size)")),
    Mutant("objective-detached-cycle", "generator_objective", "test_generator_objective",
           _fill(_OBJECTIVE, _OBJ_DEFAULTS, CYC_A="G_ba(fake_b.detach())", CYC_B="G_ab(fake_a.detach())")),
    Mutant("objective-no-identity", "generator_objective", "test_generator_objective",
           _fill(_OBJECTIVE, _OBJ_DEFAULTS).replace("return adversarial + cycle + same", "return adversarial + cycle")),
]


_COSINE = '''
def cosine_alpha_bar(T, s=0.008):
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    betas = torch.clamp(1 - f[1:] / f[:-1], max=0.999)
    return torch.cumprod(1 - betas, dim=0)
'''
_LOSS = '''
def diffusion_loss(model, x0, alpha_bar, generator=None):
    T = len(alpha_bar)
    t = torch.randint(0, T, (x0.shape[0],), generator=generator)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    x_t = q_sample(x0, t, noise, alpha_bar)
    return F.mse_loss(model(x_t, t), noise)
'''
_STEP = '''
def p_sample_step(model, x_t, t, betas, alpha_bar, noise):
    eps = model(x_t, torch.full((x_t.shape[0],), t, dtype=torch.long))
    beta, ab = float(betas[t]), float(alpha_bar[t])
    mean = (x_t - beta / math.sqrt(1 - ab) * eps) / math.sqrt(1 - beta)
    return mean if t == 0 else mean + math.sqrt(beta) * noise
'''


def _diffusion(name: str, cell: str, template: str, *changes: tuple[str, str]) -> Mutant:
    """A wrong answer made from a correct one by textual changes (each must apply)."""
    code = template
    for old, new in changes:
        assert old in code, (name, old)
        code = code.replace(old, new)
    return Mutant(name, cell, f"test_{cell}", code)


MUTANTS["diffusion"] = [
    # cosine_alpha_bar
    _diffusion("cosine-no-clamp", "cosine_alpha_bar", _COSINE, ("torch.clamp(1 - f[1:] / f[:-1], max=0.999)", "1 - f[1:] / f[:-1]")),
    _diffusion("cosine-starts-at-alpha-bar-0", "cosine_alpha_bar", _COSINE,
               ("return torch.cumprod(1 - betas, dim=0)", "return torch.cat([torch.ones(1, dtype=betas.dtype), torch.cumprod(1 - betas, dim=0)[:-1]])")),
    _diffusion("cosine-returns-t-equals-0-to-T", "cosine_alpha_bar", _COSINE,
               ("return torch.cumprod(1 - betas, dim=0)", "return torch.cat([torch.ones(1, dtype=betas.dtype), torch.cumprod(1 - betas, dim=0)])")),
    _diffusion("cosine-returns-betas", "cosine_alpha_bar", _COSINE, ("return torch.cumprod(1 - betas, dim=0)", "return 1 - betas")),
    _diffusion("cosine-ignores-offset", "cosine_alpha_bar", _COSINE, ("(t / T + s) / (1 + s)", "(t / T + 0.008) / 1.008")),
    _diffusion("cosine-not-squared", "cosine_alpha_bar", _COSINE, ("math.pi / 2) ** 2", "math.pi / 2)")),
    # q_sample
    Mutant("q-sample-variance-instead-of-std", "q_sample", "test_q_sample", '''
def q_sample(x0, t, noise, alpha_bar):
    ab = alpha_bar[t].reshape(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
    return ab * x0 + (1 - ab) * noise
'''),
    Mutant("q-sample-index-minus-one", "q_sample", "test_q_sample", '''
def q_sample(x0, t, noise, alpha_bar):
    ab = alpha_bar[t - 1].reshape(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise
'''),
    Mutant("q-sample-first-t-for-all", "q_sample", "test_q_sample", '''
def q_sample(x0, t, noise, alpha_bar):
    ab = alpha_bar[t[0]].to(x0.dtype)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise
'''),
    Mutant("q-sample-only-4d", "q_sample", "test_q_sample", '''
def q_sample(x0, t, noise, alpha_bar):
    ab = alpha_bar[t].view(-1, 1, 1, 1).to(x0.dtype)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise
'''),
    Mutant("q-sample-in-place", "q_sample", "test_q_sample", '''
def q_sample(x0, t, noise, alpha_bar):
    ab = alpha_bar[t].reshape(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
    return x0.mul_(ab.sqrt()).add_((1 - ab).sqrt() * noise)
'''),
    Mutant("q-sample-draws-its-own-noise", "q_sample", "test_q_sample", '''
def q_sample(x0, t, noise, alpha_bar):
    ab = alpha_bar[t].reshape(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * torch.randn_like(x0)
'''),
    # diffusion_loss
    _diffusion("loss-timesteps-from-one", "diffusion_loss", _LOSS, ("torch.randint(0, T,", "torch.randint(1, T,")),
    _diffusion("loss-never-last-timestep", "diffusion_loss", _LOSS, ("torch.randint(0, T,", "torch.randint(0, T - 1,")),
    _diffusion("loss-model-gets-t-plus-one", "diffusion_loss", _LOSS, ("model(x_t, t)", "model(x_t, t + 1)")),
    _diffusion("loss-one-t-per-batch", "diffusion_loss", _LOSS,
               ("torch.randint(0, T, (x0.shape[0],), generator=generator)",
                "torch.randint(0, T, (1,), generator=generator).repeat(x0.shape[0])")),
    _diffusion("loss-regresses-x0", "diffusion_loss", _LOSS, ("F.mse_loss(model(x_t, t), noise)", "F.mse_loss(model(x_t, t), x0)")),
    _diffusion("loss-summed", "diffusion_loss", _LOSS, ("F.mse_loss(model(x_t, t), noise)", "F.mse_loss(model(x_t, t), noise, reduction='sum')")),
    _diffusion("loss-uniform-noise", "diffusion_loss", _LOSS,
               ("torch.randn(x0.shape, generator=generator, dtype=x0.dtype)", "torch.rand(x0.shape, generator=generator, dtype=x0.dtype) * 2 - 1")),
    _diffusion("loss-one-noise-per-batch", "diffusion_loss", _LOSS,
               ("torch.randn(x0.shape, generator=generator, dtype=x0.dtype)",
                "torch.randn(x0.shape[1:], generator=generator, dtype=x0.dtype).expand(x0.shape)")),
    _diffusion("loss-ignores-generator", "diffusion_loss", _LOSS,
               ("torch.randint(0, T, (x0.shape[0],), generator=generator)", "torch.randint(0, T, (x0.shape[0],))"),
               ("torch.randn(x0.shape, generator=generator, dtype=x0.dtype)", "torch.randn(x0.shape, dtype=x0.dtype)")),
    _diffusion("loss-detached", "diffusion_loss", _LOSS, ("F.mse_loss(model(x_t, t), noise)", "F.mse_loss(model(x_t, t).detach(), noise)")),
    _diffusion("loss-variance-instead-of-std", "diffusion_loss", _LOSS,
               ("x_t = q_sample(x0, t, noise, alpha_bar)",
                "ab = alpha_bar[t].view(-1, *([1] * (x0.dim() - 1)))\n    x_t = ab * x0 + (1 - ab) * noise")),
    # p_sample_step
    _diffusion("step-variance-instead-of-std", "p_sample_step", _STEP, ("mean + math.sqrt(beta) * noise", "mean + beta * noise")),
    _diffusion("step-noise-on-last-step", "p_sample_step", _STEP, ("mean if t == 0 else mean + math.sqrt(beta) * noise", "mean + math.sqrt(beta) * noise")),
    _diffusion("step-alpha-bar-index-minus-one", "p_sample_step", _STEP, ("float(alpha_bar[t])", "float(alpha_bar[t - 1])")),
    _diffusion("step-model-gets-t-plus-one", "p_sample_step", _STEP,
               ("torch.full((x_t.shape[0],), t, dtype=torch.long)", "torch.full((x_t.shape[0],), t + 1, dtype=torch.long)")),
    _diffusion("step-divides-by-sqrt-alpha-bar", "p_sample_step", _STEP, ("/ math.sqrt(1 - beta)", "/ math.sqrt(ab)")),
    _diffusion("step-coefficient-without-sqrt", "p_sample_step", _STEP, ("beta / math.sqrt(1 - ab) * eps", "beta / (1 - ab) * eps")),
    _diffusion("step-no-noise-ever", "p_sample_step", _STEP, ("mean if t == 0 else mean + math.sqrt(beta) * noise", "mean")),
    _diffusion("step-posterior-variance-wrong-sign", "p_sample_step", _STEP,
               ("mean if t == 0 else mean + math.sqrt(beta) * noise", "mean if t == 0 else mean - math.sqrt(beta) * noise")),
]
