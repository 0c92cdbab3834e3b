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

ALTERNATIVES["autoencoders"] = [
    # corrupt: any source of Gaussian noise, fresh at every call
    Answer("corrupt-numpy-normal", {"corrupt": '''
import numpy as np

def corrupt(x, sigma):
    noise = np.random.normal(0.0, sigma, size=tuple(x.shape))
    return torch.clamp(x + torch.from_numpy(noise).to(dtype=x.dtype, device=x.device), 0.0, 1.0)
'''}, "NumPy's global generator, converted to a tensor of x's dtype"),
    Answer("corrupt-distributions", {"corrupt": '''
def corrupt(x, sigma):
    standard = torch.distributions.Normal(torch.zeros_like(x), torch.ones_like(x))
    return (x + sigma * standard.sample()).clip(0.0, 1.0)
'''}, "torch.distributions.Normal"),
    Answer("corrupt-python-random-loop", {"corrupt": '''
import random

def corrupt(x, sigma):
    values = [v + random.gauss(0.0, sigma) for v in x.flatten().tolist()]
    noisy = torch.tensor(values, dtype=x.dtype, device=x.device).reshape(x.shape)
    return torch.where(noisy > 1, torch.ones_like(noisy), torch.where(noisy < 0, torch.zeros_like(noisy), noisy))
'''}, "Python's random, one draw per pixel in a loop, clipping with torch.where"),
    Answer("corrupt-inplace-on-copy", {"corrupt": '''
def corrupt(x, sigma):
    out = x.clone()
    out.add_(torch.randn_like(out), alpha=sigma)
    out.clamp_(min=0, max=1)
    return out
'''}, "in-place operations on a copy"),
    Answer("corrupt-torch-normal", {"corrupt": '''
def corrupt(x, sigma):
    return torch.normal(mean=x, std=float(sigma)).clamp(0, 1)
'''}, "torch.normal centred on x"),
    Answer("corrupt-own-generator", {"corrupt": '''
_noise_generator = torch.Generator().manual_seed(2024)

def corrupt(x, sigma):
    noise = torch.randn(x.shape, generator=_noise_generator, dtype=x.dtype).to(x.device)
    return torch.minimum(torch.maximum(x + sigma * noise, torch.zeros_like(x)), torch.ones_like(x))
'''}, "a generator of its own, seeded once (fresh noise at every call all the same)"),
    # sparsity_penalty
    Answer("sparsity-loop-float32", {"sparsity_penalty": '''
def sparsity_penalty(h, rho):
    total = torch.zeros((), dtype=torch.float32)
    for j in range(h.shape[1]):
        r = h[:, j].float().mean()
        total = total + rho * torch.log(rho / r) + (1 - rho) * torch.log((1 - rho) / (1 - r))
    return total
'''}, "a loop over units, in float32"),
    Answer("sparsity-bernoulli-kl", {"sparsity_penalty": '''
from torch.distributions import Bernoulli, kl_divergence as _kl

def sparsity_penalty(h, rho):
    rho_hat = h.mean(dim=0)
    target = Bernoulli(probs=torch.full_like(rho_hat, rho))
    return _kl(target, Bernoulli(probs=rho_hat)).sum()
'''}, "KL between Bernoulli distributions from torch.distributions"),
    Answer("sparsity-xlogy-log1p", {"sparsity_penalty": '''
def sparsity_penalty(h, rho):
    rho_hat = h.sum(0) / h.shape[0]
    first = torch.special.xlogy(rho, rho / rho_hat)
    second = (1 - rho) * (math.log1p(-rho) - torch.log1p(-rho_hat))
    return torch.sum(first + second)
'''}, "torch.special.xlogy and log1p, mean as sum / m"),
    Answer("sparsity-float64-cross-entropy", {"sparsity_penalty": '''
def sparsity_penalty(h, rho):
    rho_hat = h.double().mean(0)
    target = torch.full_like(rho_hat, rho)
    cross = F.binary_cross_entropy(rho_hat, target, reduction="sum")
    entropy = -(rho * math.log(rho) + (1 - rho) * math.log(1 - rho)) * rho_hat.numel()
    return cross - entropy
'''}, "KL = cross-entropy - entropy, in float64"),
    # anomaly_score
    Answer("anomaly-inference-mode", {"anomaly_score": '''
def anomaly_score(model, x):
    with torch.inference_mode():
        errors = F.mse_loss(model(x), x, reduction="none")
    return errors.reshape(x.shape[0], -1).mean(dim=1)
'''}, "torch.inference_mode and F.mse_loss(reduction='none')"),
    Answer("anomaly-detach", {"anomaly_score": '''
def anomaly_score(model, x):
    diff = (model(x) - x).detach()
    return (diff * diff).view(len(x), -1).sum(1) / x[0].numel()
'''}, "detach instead of no_grad, sum / number of values"),
    Answer("anomaly-loop", {"anomaly_score": '''
@torch.no_grad()
def anomaly_score(model, x):
    scores = []
    for image in x:
        one = image.unsqueeze(0)
        scores.append(((model(one) - one) ** 2).mean())
    return torch.stack(scores)
'''}, "one image at a time, torch.no_grad as a decorator"),
    # principal_subspace
    Answer("pca-covariance-eigh", {"principal_subspace": '''
def principal_subspace(x, k):
    centred = x - x.mean(dim=0)
    covariance = centred.T @ centred / (x.shape[0] - 1)
    values, vectors = torch.linalg.eigh(covariance)
    return vectors[:, -k:].flip(1)
'''}, "eigenvectors of the covariance matrix"),
    Answer("pca-lowrank", {"principal_subspace": '''
def principal_subspace(x, k):
    _, _, v = torch.pca_lowrank(x, q=k, center=True)
    return v[:, :k]
'''}, "torch.pca_lowrank (randomised)"),
    Answer("pca-numpy-svd", {"principal_subspace": '''
import numpy as np

def principal_subspace(x, k):
    data = x.detach().cpu().numpy()
    _, _, vt = np.linalg.svd(data - data.mean(axis=0), full_matrices=False)
    return torch.from_numpy(np.ascontiguousarray(vt[:k].T)).to(x.device)
'''}, "NumPy's SVD"),
    Answer("pca-sklearn", {"principal_subspace": '''
from sklearn.decomposition import PCA

def principal_subspace(x, k):
    pca = PCA(n_components=k).fit(x.detach().cpu().numpy())
    return torch.tensor(pca.components_.T, dtype=x.dtype, device=x.device)
'''}, "scikit-learn's PCA"),
    # subspace_overlap
    Answer("overlap-projectors", {"subspace_overlap": '''
def subspace_overlap(a, b):
    pa = a @ torch.linalg.pinv(a)
    pb = b @ torch.linalg.pinv(b)
    return float(torch.trace(pa @ pb)) / a.shape[1]
'''}, "trace of the product of the two orthogonal projectors"),
    Answer("overlap-numpy", {"subspace_overlap": '''
import numpy as np

def subspace_overlap(a, b):
    qa, _ = np.linalg.qr(a.double().numpy())
    qb, _ = np.linalg.qr(b.double().numpy())
    return (np.linalg.svd(qa.T @ qb, compute_uv=False) ** 2).mean()
'''}, "NumPy, returning numpy.float64 (a subclass of float)"),
    Answer("overlap-frobenius-cholesky", {"subspace_overlap": '''
def subspace_overlap(a, b):
    def orthonormal(m):
        m = m.double()
        lower = torch.linalg.cholesky(m.T @ m)
        return torch.linalg.solve_triangular(lower, m.T, upper=False).T
    k = a.shape[1]
    return (torch.linalg.matrix_norm(orthonormal(a).T @ orthonormal(b)) ** 2).item() / k
'''}, "Cholesky orthonormalisation, squared Frobenius norm = sum of cos^2"),
]

ALTERNATIVES["vae"] = [
    # reparameterize: any source of Gaussian noise, fresh at every call
    Answer("reparam-rsample", {"reparameterize": '''
def reparameterize(mu, logvar):
    return torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).rsample()
'''}, "torch.distributions.Normal(...).rsample()"),
    Answer("reparam-numpy-eps", {"reparameterize": '''
import numpy as np

def reparameterize(mu, logvar):
    eps = torch.from_numpy(np.random.standard_normal(tuple(mu.shape))).to(mu)
    return mu + eps * logvar.mul(0.5).exp()
'''}, "NumPy's global generator"),
    Answer("reparam-python-random", {"reparameterize": '''
import random

def reparameterize(mu, logvar):
    eps = torch.tensor([random.gauss(0.0, 1.0) for _ in range(mu.numel())], dtype=mu.dtype).reshape(mu.shape)
    std = torch.sqrt(torch.exp(logvar))
    return torch.addcmul(mu, eps.to(mu.device), std)
'''}, "Python's random, sqrt(exp(logvar)), torch.addcmul"),
    Answer("reparam-box-muller", {"reparameterize": '''
def reparameterize(mu, logvar):
    u1 = 1.0 - torch.rand_like(mu)          # in (0, 1]
    u2 = torch.rand_like(mu)
    eps = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2 * math.pi * u2)
    return mu + eps * torch.exp(logvar / 2)
'''}, "Box-Muller from uniform draws"),
    Answer("reparam-own-generator", {"reparameterize": '''
class Reparameterizer:
    def __init__(self, seed):
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, mu, logvar):
        eps = torch.empty(mu.shape, dtype=mu.dtype).normal_(generator=self.generator).to(mu.device)
        return mu + eps * (0.5 * logvar).exp()

reparameterize = Reparameterizer(seed=7)
'''}, "a callable object with a generator of its own"),
    # kl_divergence
    Answer("kl-distributions", {"kl_divergence": '''
from torch.distributions import Normal, kl_divergence as _kl

def kl_divergence(mu, logvar):
    posterior = Normal(mu, torch.exp(0.5 * logvar))
    prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return _kl(posterior, prior).sum(dim=-1)
'''}, "torch.distributions.kl_divergence"),
    Answer("kl-float32-variance-form", {"kl_divergence": '''
def kl_divergence(mu, logvar):
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)
'''}, "0.5 (mu^2 + sigma^2 - 1 - log sigma^2), in float32"),
    Answer("kl-loop-inplace", {"kl_divergence": '''
def kl_divergence(mu, logvar):
    total = torch.zeros(mu.shape[0], dtype=mu.dtype, device=mu.device)
    for d in range(mu.shape[1]):
        term = logvar[:, d].exp()
        term.sub_(logvar[:, d]).add_(mu[:, d] * mu[:, d]).sub_(1)
        total += 0.5 * term
    return total
'''}, "a loop over latent dimensions, in-place updates"),
    # elbo_loss
    Answer("elbo-bernoulli-log-prob", {"elbo_loss": '''
def elbo_loss(x_logits, x, mu, logvar):
    decoder = torch.distributions.Bernoulli(logits=x_logits, validate_args=False)
    log_likelihood = decoder.log_prob(x).flatten(start_dim=1).sum(dim=1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)
    return (kl - log_likelihood).mean()
'''}, "Bernoulli(logits=...).log_prob (grey levels allowed: validate_args=False), KL written inline"),
    Answer("elbo-softplus", {"elbo_loss": '''
def elbo_loss(x_logits, x, mu, logvar):
    per_pixel = F.softplus(x_logits) - x * x_logits
    return per_pixel.sum() / x.shape[0] + kl_divergence(mu, logvar).mean()
'''}, "BCE from logits as softplus(l) - x l; the sum over everything divided by B"),
    Answer("elbo-logsigmoid-loop", {"elbo_loss": '''
def elbo_loss(x_logits, x, mu, logvar):
    total = 0.0
    for logits_i, x_i, mu_i, logvar_i in zip(x_logits, x, mu, logvar):
        nll = -(x_i * F.logsigmoid(logits_i) + (1 - x_i) * F.logsigmoid(-logits_i)).sum()
        total = total + nll + kl_divergence(mu_i.unsqueeze(0), logvar_i.unsqueeze(0))[0]
    return total / len(x)
'''}, "log-sigmoid form, one image at a time"),
    Answer("elbo-mean-times-pixels-float64", {"elbo_loss": '''
def elbo_loss(x_logits, x, mu, logvar):
    pixels = x[0].numel()
    reconstruction = F.binary_cross_entropy_with_logits(x_logits.double(), x.double()) * pixels
    return reconstruction + kl_divergence(mu.double(), logvar.double()).mean()
'''}, "mean over all values times pixels per image, in float64"),
    # condition
    Answer("condition-index-assign", {"condition": '''
def condition(h, labels, num_classes):
    one_hot = torch.zeros(len(labels), num_classes, dtype=h.dtype, device=h.device)
    one_hot[torch.arange(len(labels)), labels] = 1
    return torch.cat((h, one_hot), dim=1)
'''}, "a zero matrix with ones written by index"),
    Answer("condition-eye-rows", {"condition": '''
def condition(h, labels, num_classes):
    return torch.hstack([h, torch.eye(num_classes, dtype=h.dtype, device=h.device)[labels]])
'''}, "rows of the identity matrix, torch.hstack"),
    Answer("condition-compare-arange", {"condition": '''
def condition(h, labels, num_classes):
    classes = torch.arange(num_classes, device=labels.device)
    one_hot = (labels.unsqueeze(1) == classes).to(h)
    return torch.concat([h, one_hot], dim=-1)
'''}, "comparison with arange"),
    Answer("condition-scatter", {"condition": '''
def condition(h, labels, num_classes):
    one_hot = h.new_zeros(h.shape[0], num_classes).scatter_(1, labels.long().view(-1, 1), 1.0)
    return torch.cat([h, one_hot], 1)
'''}, "scatter_ on new_zeros"),
    # interpolate
    Answer("interpolate-lerp-loop", {"interpolate": '''
def interpolate(z_start, z_end, steps):
    return torch.stack([torch.lerp(z_start, z_end, k / (steps - 1)) for k in range(steps)])
'''}, "torch.lerp in a loop"),
    Answer("interpolate-preallocated", {"interpolate": '''
def interpolate(z_start, z_end, steps):
    out = z_start.new_empty((steps, *z_start.shape))
    for k in range(steps):
        t = k / (steps - 1)
        out[k] = (1 - t) * z_start + t * z_end
    return out
'''}, "a preallocated tensor filled in place"),
    Answer("interpolate-default-dtype-t", {"interpolate": '''
def interpolate(z_start, z_end, steps):
    t = torch.linspace(0, 1, steps).reshape(-1, *([1] * z_start.dim())).to(z_start.device)
    return (1 - t) * z_start + t * z_end
'''}, "t in the default dtype (float32): float32-accurate, the dtype of z by type promotion"),
    Answer("interpolate-float64-then-cast", {"interpolate": '''
def interpolate(z_start, z_end, steps):
    t = torch.linspace(0, 1, steps, dtype=torch.float64, device=z_start.device)
    t = t.view(-1, *([1] * z_start.dim()))
    path = z_start.unsqueeze(0).double() + t * (z_end - z_start).unsqueeze(0).double()
    return path.to(z_start.dtype)
'''}, "computed in float64, cast back to z's dtype"),
]


ALTERNATIVES["diffusion"] = [
    # cosine_alpha_bar
    Answer("cosine-python-loop-float32", {"cosine_alpha_bar": '''
def cosine_alpha_bar(T, s=0.008):
    f = [math.cos((k / T + s) / (1 + s) * math.pi / 2) ** 2 for k in range(T + 1)]
    out, running = [], 1.0
    for k in range(1, T + 1):
        beta = min(1 - f[k] / f[k - 1], 0.999)
        running *= 1 - beta
        out.append(running)
    return torch.tensor(out, dtype=torch.float32)
'''}, "a Python loop, float32 result"),
    Answer("cosine-numpy", {"cosine_alpha_bar": '''
import numpy as np

def cosine_alpha_bar(T, s=0.008):
    steps = np.linspace(0, T, T + 1)
    f = np.cos((steps / T + s) / (1 + s) * np.pi / 2) ** 2
    betas = np.minimum(1 - f[1:] / f[:-1], 0.999)
    return torch.from_numpy(np.cumprod(1 - betas))
'''}, "NumPy, converted at the end"),
    Answer("cosine-ratio-then-clip", {"cosine_alpha_bar": '''
def cosine_alpha_bar(T, s=0.008):
    t = torch.linspace(0, 1, T + 1, dtype=torch.float64)
    raw = torch.cos((t + s) / (1 + s) * torch.pi / 2).pow(2)
    raw = raw / raw[0]
    alphas = (raw[1:] / raw[:-1]).clamp(min=0.001)
    return alphas.cumprod(0)
'''}, "clip alpha = 1 - beta from below instead of beta from above; linspace grid"),
    Answer("cosine-log-space", {"cosine_alpha_bar": '''
def cosine_alpha_bar(T, s=0.008):
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    betas = torch.minimum(1 - f[1:] / f[:-1], torch.tensor(0.999, dtype=torch.float64))
    return torch.exp(torch.cumsum(torch.log1p(-betas), 0))
'''}, "cumulative sum of logs"),
    # q_sample
    Answer("q-sample-gather-loop", {"q_sample": '''
def q_sample(x0, t, noise, alpha_bar):
    rows = []
    for b in range(x0.shape[0]):
        a = alpha_bar[int(t[b])]
        rows.append(torch.sqrt(a) * x0[b] + torch.sqrt(1 - a) * noise[b])
    return torch.stack(rows)
'''}, "a loop over the batch"),
    Answer("q-sample-float64", {"q_sample": '''
def q_sample(x0, t, noise, alpha_bar):
    a = alpha_bar.double().index_select(0, t.long())
    shape = (len(t),) + (1,) * (x0.ndim - 1)
    return a.sqrt().view(shape) * x0.double() + (1 - a).sqrt().view(shape) * noise.double()
'''}, "float64 result, index_select"),
    Answer("q-sample-einsum", {"q_sample": '''
def q_sample(x0, t, noise, alpha_bar):
    a = alpha_bar[t].to(x0.dtype)
    flat = torch.einsum("b,bn->bn", a.sqrt(), x0.reshape(len(x0), -1)) + \\
        torch.einsum("b,bn->bn", (1 - a).sqrt(), noise.reshape(len(x0), -1))
    return flat.reshape(x0.shape)
'''}, "flatten and einsum"),
    Answer("q-sample-torch-lerp-free", {"q_sample": '''
def q_sample(x0, t, noise, alpha_bar):
    a = alpha_bar[t]
    while a.dim() < x0.dim():
        a = a.unsqueeze(-1)
    out = x0.clone()
    out.mul_(a.sqrt().to(x0.dtype))
    out.addcmul_((1 - a).sqrt().to(x0.dtype), noise)
    return out
'''}, "in-place on a copy"),
    # diffusion_loss
    Answer("loss-numpy-randomness", {"diffusion_loss": '''
import numpy as np

def diffusion_loss(model, x0, alpha_bar, generator=None):
    B, T = x0.shape[0], len(alpha_bar)
    if generator is None:
        t = torch.from_numpy(np.random.randint(0, T, size=B))
        noise = torch.from_numpy(np.random.standard_normal(tuple(x0.shape))).to(x0.dtype)
    else:
        t = torch.randint(0, T, (B,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator).to(x0.dtype)
    x_t = q_sample(x0, t, noise, alpha_bar)
    return ((model(x_t, t) - noise) ** 2).mean()
'''}, "NumPy's global generator when none is passed"),
    Answer("loss-python-random", {"diffusion_loss": '''
import random

def diffusion_loss(model, x0, alpha_bar, generator=None):
    T = len(alpha_bar)
    if generator is None:
        t = torch.tensor([random.randrange(T) for _ in range(len(x0))])
        noise = torch.tensor([random.gauss(0.0, 1.0) for _ in range(x0.numel())], dtype=x0.dtype).view_as(x0)
    else:
        t = torch.randint(T, (len(x0),), generator=generator)
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    a = alpha_bar[t].view(-1, *[1] * (x0.dim() - 1))
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
    return F.mse_loss(model(x_t, t), noise, reduction="mean")
'''}, "Python's random module; x_t written inline"),
    Answer("loss-multinomial-float64", {"diffusion_loss": '''
def diffusion_loss(model, x0, alpha_bar, generator=None):
    T = len(alpha_bar)
    t = torch.multinomial(torch.ones(T), len(x0), replacement=True, generator=generator)
    noise = torch.empty(x0.shape, dtype=torch.float64).normal_(generator=generator).to(x0.dtype)
    prediction = model(q_sample(x0, t, noise, alpha_bar), t)
    return (prediction.double() - noise.double()).pow(2).sum() / noise.numel()
'''}, "multinomial steps, normal_, float64 sum / count"),
    Answer("loss-randn-like", {"diffusion_loss": '''
def diffusion_loss(model, x0, alpha_bar, generator=None):
    t = torch.randint(low=0, high=alpha_bar.shape[0], size=(x0.size(0),), generator=generator, device="cpu")
    if generator is None:
        noise = torch.randn_like(x0)
    else:
        noise = torch.randn(x0.size(), generator=generator).to(x0)
    return F.mse_loss(model(q_sample(x0, t, noise, alpha_bar), t), noise)
'''}, "randn_like without a generator"),
    # p_sample_step
    Answer("step-tensor-ops", {"p_sample_step": '''
def p_sample_step(model, x_t, t, betas, alpha_bar, noise):
    eps = model(x_t, torch.tensor([t] * len(x_t)))
    beta, ab = betas[t].to(x_t.dtype), alpha_bar[t].to(x_t.dtype)
    x = (x_t - beta / torch.sqrt(1 - ab) * eps) / torch.sqrt(1 - beta)
    if t > 0:
        x = x + torch.sqrt(beta) * noise
    return x
'''}, "tensor arithmetic, a list for t"),
    Answer("step-x0-estimate", {"p_sample_step": '''
def p_sample_step(model, x_t, t, betas, alpha_bar, noise):
    alphas = 1 - betas
    eps = model(x_t, torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device))
    coef = (1 - alphas[t]) / (1 - alpha_bar[t]).sqrt()
    mean = (x_t - coef * eps) / alphas[t].sqrt()
    sigma = betas[t].sqrt() if t > 0 else torch.zeros((), dtype=betas.dtype)
    return mean + sigma * noise
'''}, "sigma = 0 at the last step instead of a branch"),
    Answer("step-float64", {"p_sample_step": '''
def p_sample_step(model, x_t, t, betas, alpha_bar, noise):
    b = betas.double()[t]
    a = alpha_bar.double()[t]
    predicted = model(x_t, torch.ones(x_t.size(0), dtype=torch.int64) * t).double()
    out = (x_t.double() - predicted * b * torch.rsqrt(1 - a)) * torch.rsqrt(1 - b)
    return out + (t != 0) * b.sqrt() * noise.double()
'''}, "float64, rsqrt, a 0/1 factor for the noise"),
]
