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
