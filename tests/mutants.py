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
