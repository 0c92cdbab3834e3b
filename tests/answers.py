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
