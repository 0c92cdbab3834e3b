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
