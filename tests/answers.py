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


# --------------------------------------------------------------------------- dcgan
ALTERNATIVES["dcgan"] = [
    Answer("size-stretch-then-crop", {"conv_transpose_output_size": '''
def conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    stretched = size + (size - 1) * (stride - 1)          # input with stride - 1 zeros between pixels
    reach = dilation * (kernel_size - 1) + 1              # the kernel's footprint
    full = stretched + reach - 1                          # a "full" convolution
    return full - 2 * padding + output_padding
'''}, "zero-insertion view of the transposed convolution"),
    Answer("size-loop-over-positions", {"conv_transpose_output_size": '''
def conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    last = 0
    for i in range(size):
        for j in range(kernel_size):
            last = max(last, i * stride + j * dilation)
    return last + 1 - 2 * padding + output_padding
'''}, "scatter every input pixel with a loop and find the last output index"),
    Answer("size-float-arithmetic", {"conv_transpose_output_size": '''
def conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    value = (size - 1.0) * stride - 2.0 * padding + dilation * (kernel_size - 1.0) + output_padding + 1.0
    return int(round(value))
'''}, "float arithmetic converted back to int"),
    Answer("generator-sequential-unflatten", {"build_generator": '''
def build_generator(latent_dim=64):
    net = nn.Sequential(
        nn.Unflatten(1, (latent_dim, 1, 1)),
        nn.ConvTranspose2d(latent_dim, 256, 7, 1, 0, bias=False), nn.BatchNorm2d(256), nn.ReLU(True),
        nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(True),
        nn.ConvTranspose2d(128, 1, 4, 2, 1, bias=False), nn.Tanh())

    def init(m):
        if isinstance(m, nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)

    return net.apply(init)
'''}, "nn.Unflatten instead of a view, .apply for the initialisation, in-place ReLU"),
    Answer("generator-classic-weights-init", {"build_generator": '''
def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        m.weight.data.normal_(0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


class Generator(nn.Module):
    def __init__(self, latent_dim):
        super().__init__()
        self.latent_dim = latent_dim
        self.up1 = nn.ConvTranspose2d(latent_dim, 64, 7)
        self.bn1 = nn.BatchNorm2d(64)
        self.up2 = nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.up3 = nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1)
        self.bn3 = nn.BatchNorm2d(16)
        self.out = nn.Conv2d(16, 1, 3, padding=1)          # a stride-1 convolution does not upsample
        self.relu = nn.ReLU()
        self.tanh = nn.Tanh()

    def forward(self, z):
        x = z.reshape(-1, self.latent_dim, 1, 1)
        x = self.relu(self.bn1(self.up1(x)))
        x = self.relu(self.bn2(self.up2(x)))
        x = self.relu(self.bn3(self.up3(x)))
        return self.tanh(self.out(x))


def build_generator(latent_dim=64):
    net = Generator(latent_dim)
    net.apply(weights_init)
    return net
'''}, "the DCGAN reference code's weights_init, a class at notebook level, a final stride-1 Conv2d"),
    Answer("generator-subclassed-layers", {"build_generator": '''
class Up(nn.ConvTranspose2d):
    """A transposed convolution that initialises itself the DCGAN way."""
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        with torch.no_grad():
            self.weight.normal_(0, 0.02)


class Norm(nn.BatchNorm2d):
    def __init__(self, channels):
        super().__init__(channels)
        with torch.no_grad():
            self.weight.normal_(1, 0.02)
            self.bias.zero_()


def build_generator(latent_dim=64):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([Up(latent_dim, 32, 7, bias=False), Norm(32), nn.ReLU(),
                                         Up(32, 16, 4, 2, 1, bias=False), Norm(16), nn.ReLU(),
                                         Up(16, 1, 4, 2, 1), nn.Tanh()])

        def forward(self, z):
            x = z[:, :, None, None]
            for layer in self.layers:
                x = layer(x)
            return x

    return Net()
'''}, "subclasses of the torch.nn layers, a ModuleList, small widths"),
    Answer("discriminator-linear-output-layer", {"build_discriminator": '''
def build_discriminator():
    net = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1), nn.Flatten(0))
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return net
'''}, "the issue's case: a fully connected OUTPUT layer (allowed; only hidden ones are forbidden)"),
    Answer("discriminator-class-three-convs", {"build_discriminator": '''
def dcgan_init(m):
    name = type(m).__name__
    if "Conv" in name:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),      # 14
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.LeakyReLU(0.2, inplace=True),  # 7
            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2, inplace=True))  # 4
        self.head = nn.Conv2d(128, 1, 4)

    def forward(self, x):
        return self.head(self.features(x)).view(-1)


def build_discriminator():
    return Discriminator().apply(dcgan_init)
'''}, "a class with .view(-1), three strided convolutions, the classic init by class name"),
    Answer("discriminator-linear-head-module", {"build_discriminator": '''
def build_discriminator():
    class D(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 16, 4, 2, 1)
            self.c2 = nn.Conv2d(16, 32, 4, 2, 1)
            self.n2 = nn.BatchNorm2d(32)
            self.act = nn.LeakyReLU(negative_slope=0.2)
            self.fc = nn.Linear(32 * 7 * 7, 1)             # output layer: features -> one logit
            for conv in (self.c1, self.c2):
                torch.nn.init.normal_(conv.weight, std=0.02)
            torch.nn.init.normal_(self.n2.weight, mean=1.0, std=0.02)
            torch.nn.init.zeros_(self.n2.bias)

        def forward(self, x):
            x = self.act(self.c1(x))
            x = self.act(self.n2(self.c2(x)))
            return self.fc(x.flatten(1)).squeeze(1)

    return D()
'''}, "one LeakyReLU module reused, a Linear head with its default initialisation, squeeze"),
    Answer("d-step-softplus-detach", {"discriminator_step": '''
def discriminator_step(D, G, real, z, optimizer_D):
    fake = G(z).detach()
    loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
    D.zero_grad()
    loss.backward()
    optimizer_D.step()
    return float(loss)
'''}, "softplus form, detach, D.zero_grad(), float()"),
    Answer("d-step-two-backward-passes", {"discriminator_step": '''
def discriminator_step(D, G, real, z, optimizer_D):
    optimizer_D.zero_grad(set_to_none=False)
    real_loss = -F.logsigmoid(D(real)).mean()
    real_loss.backward()
    with torch.no_grad():
        fake = G(z)
    fake_loss = -F.logsigmoid(-D(fake)).mean()
    fake_loss.backward()
    optimizer_D.step()
    return real_loss.item() + fake_loss.item()
'''}, "two backward passes whose gradients add up, log-sigmoid form, zeroed (not None) gradients"),
    Answer("d-step-bce-module-zero-after", {"discriminator_step": '''
bce = nn.BCEWithLogitsLoss()


def discriminator_step(D, G, real, z, optimizer_D):
    G.requires_grad_(False)                     # no gradient can reach G ...
    try:
        fake = G(z)
    finally:
        G.requires_grad_(True)                  # ... and G stays trainable
    on_real, on_fake = D(real), D(fake)
    loss = bce(on_real, torch.ones_like(on_real)) + bce(on_fake, torch.zeros_like(on_fake))
    loss.backward()
    optimizer_D.step()
    optimizer_D.zero_grad()                     # clean up after the step instead of before
    return loss.item()
'''}, "G frozen for the forward pass, a loss module, zero_grad after the step"),
    Answer("g-step-softplus", {"generator_step": '''
def generator_step(D, G, z, optimizer_G):
    loss = F.softplus(-D(G(z))).mean()
    optimizer_G.zero_grad()
    loss.backward()
    optimizer_G.step()
    return float(loss.detach())
'''}, "softplus form"),
    Answer("g-step-freeze-D-meanwhile", {"generator_step": '''
def generator_step(D, G, z, optimizer_G):
    flags = [p.requires_grad for p in D.parameters()]
    for p in D.parameters():
        p.requires_grad_(False)
    try:
        loss = -F.logsigmoid(D(G(z))).mean()
        G.zero_grad()
        loss.backward()
        optimizer_G.step()
    finally:
        for p, flag in zip(D.parameters(), flags):
            p.requires_grad_(flag)
    return loss.item()
'''}, "D frozen during the step and restored, G.zero_grad()"),
    Answer("g-step-bce-zero-after", {"generator_step": '''
def generator_step(D, G, z, optimizer_G):
    verdict = D(G(z)).view(-1)
    loss = nn.functional.binary_cross_entropy_with_logits(verdict, torch.ones(verdict.shape[0]))
    loss.backward()
    optimizer_G.step()
    optimizer_G.zero_grad(set_to_none=True)
    return loss.item()
'''}, "BCE against ones, zero_grad after the step"),
]


# --------------------------------------------------------------------------- cyclegan
ALTERNATIVES["cyclegan"] = [
    Answer("cycle-torch-mean-abs", {"cycle_consistency_loss": '''
def cycle_consistency_loss(real, reconstructed, weight=10.0):
    return torch.mean(torch.abs(reconstructed - real)) * weight
'''}, "torch.mean / torch.abs"),
    Answer("cycle-l1-sum-over-numel", {"cycle_consistency_loss": '''
def cycle_consistency_loss(real, reconstructed, weight=10.0):
    return weight * F.l1_loss(reconstructed, real, reduction="sum") / real.numel()
'''}, "summed L1 divided by the number of elements"),
    Answer("cycle-float32-module", {"cycle_consistency_loss": '''
l1 = nn.L1Loss()


def cycle_consistency_loss(real, reconstructed, weight=10.0):
    return weight * l1(reconstructed.float(), real.float())
'''}, "float32 arithmetic on float64 inputs, an nn.L1Loss module"),
    Answer("identity-l1-loss", {"identity_loss": '''
def identity_loss(real, mapped, weight=5.0):
    return F.l1_loss(mapped, real) * weight
'''}, "F.l1_loss"),
    Answer("identity-vector-norm", {"identity_loss": '''
def identity_loss(real, mapped, weight=5.0):
    diff = (mapped - real).flatten()
    return weight * torch.linalg.vector_norm(diff, ord=1) / diff.numel()
'''}, "an L1 norm divided by the number of elements"),
    Answer("identity-float32-loop", {"identity_loss": '''
def identity_loss(real, mapped, weight=5.0):
    total = torch.zeros((), dtype=torch.float32)
    for r, m in zip(real, mapped):
        total = total + (m.float() - r.float()).abs().sum()
    return weight * total / real.numel()
'''}, "float32, a loop over the batch"),
    Answer("pool-torch-rng", {"ImagePool": '''
class ImagePool:
    def __init__(self, pool_size=50):
        self.pool_size = pool_size
        self.stored = []

    def query(self, images):
        images = images.detach()
        if self.pool_size == 0:
            return images
        out = []
        for image in images:
            if len(self.stored) < self.pool_size:
                self.stored.append(image)
                out.append(image)
            elif torch.rand(()).item() < 0.5:
                slot = int(torch.randint(self.pool_size, ()))
                out.append(self.stored[slot].clone())
                self.stored[slot] = image
            else:
                out.append(image)
        return torch.stack(out)
'''}, "coin and slot from torch's global generator"),
    Answer("pool-numpy-generator-buffer", {"ImagePool": '''
import numpy as np


class ImagePool:
    def __init__(self, pool_size=50):
        self.pool_size = pool_size
        self.count = 0
        self.buffer = None
        self.rng = np.random.default_rng()

    def query(self, images):
        if self.pool_size == 0:
            return images.detach()
        out = images.detach().clone()
        if self.buffer is None:
            self.buffer = torch.empty((self.pool_size,) + tuple(images.shape[1:]), dtype=images.dtype)
        coins = self.rng.random(len(images)) < 0.5          # one coin per image, drawn up front
        for i in range(len(images)):
            if self.count < self.pool_size:
                self.buffer[self.count] = out[i]
                self.count += 1
            elif coins[i]:
                slot = self.rng.integers(self.pool_size)
                old = self.buffer[slot].clone()
                self.buffer[slot] = out[i]
                out[i] = old
        return out
'''}, "NumPy Generator (unseeded), coins drawn per batch up front, a preallocated tensor buffer"),
    Answer("pool-own-random-instance", {"ImagePool": '''
class ImagePool:
    def __init__(self, pool_size=50, rng=None):
        self.pool_size = pool_size
        self.rng = rng or random.Random(random.getrandbits(64))
        self.images = []

    def query(self, images):
        answer = []
        for image in images.detach().unbind(0):
            if self.pool_size == 0:
                answer.append(image)
            elif len(self.images) < self.pool_size:
                self.images.append(image)
                answer.append(image)
            elif self.rng.random() > 0.5:
                answer.append(self.images.pop(self.rng.randrange(len(self.images))))
                self.images.append(image)
            else:
                answer.append(image)
        return torch.stack(answer) if answer else images.detach()
'''}, "a random.Random of its own (or a passed-in one), pop and append instead of replacing in place"),
    Answer("pool-numpy-global", {"ImagePool": '''
import numpy as np


class ImagePool:
    def __init__(self, pool_size=50):
        self.pool_size, self.images = pool_size, []

    def query(self, images):
        if not self.pool_size:
            return images.detach()
        result = images.detach().clone()
        for i in range(result.shape[0]):
            if len(self.images) < self.pool_size:
                self.images.append(result[i].clone())
            elif np.random.uniform() < 0.5:
                j = np.random.randint(0, self.pool_size)
                self.images[j], result[i] = result[i].clone(), self.images[j].clone()
        return result
'''}, "NumPy's global generator, swapping in place in a cloned batch"),
    Answer("objective-mse-loss", {"generator_objective": '''
def generator_objective(real_a, real_b, G_ab, G_ba, D_a, D_b, lambda_cyc=10.0, lambda_id=5.0):
    fake_b = G_ab(real_a)
    fake_a = G_ba(real_b)
    score_b, score_a = D_b(fake_b), D_a(fake_a)
    adversarial = F.mse_loss(score_b, torch.ones_like(score_b)) + F.mse_loss(score_a, torch.ones_like(score_a))
    cycle = cycle_consistency_loss(real_a, G_ba(fake_b), weight=lambda_cyc) + \\
        cycle_consistency_loss(real_b, G_ab(fake_a), weight=lambda_cyc)
    same = identity_loss(real_b, G_ab(real_b), weight=lambda_id) + identity_loss(real_a, G_ba(real_a), weight=lambda_id)
    return adversarial + cycle + same
'''}, "F.mse_loss against ones for the LSGAN terms"),
    Answer("objective-loop-over-directions", {"generator_objective": '''
def generator_objective(real_a, real_b, G_ab, G_ba, D_a, D_b, lambda_cyc=10.0, lambda_id=5.0):
    total = 0
    # (source batch, generator to the other domain, generator back, judge of the other domain, real of the other domain)
    for src, forward, backward, judge, other in ((real_a, G_ab, G_ba, D_b, real_b), (real_b, G_ba, G_ab, D_a, real_a)):
        translated = forward(src)
        total = total + ((judge(translated) - 1) ** 2).mean()
        total = total + lambda_cyc * (backward(translated) - src).abs().mean()
        total = total + lambda_id * (forward(other) - other).abs().mean()
    return total
'''}, "one loop over the two directions, L1 terms computed inline"),
    Answer("objective-callable-class", {"generator_objective": '''
class Objective:
    """The CycleGAN generator objective as a callable object."""

    def __call__(self, real_a, real_b, G_ab, G_ba, D_a, D_b, lambda_cyc=10.0, lambda_id=5.0):
        fake_b, fake_a = G_ab(real_a), G_ba(real_b)
        terms = [(D_b(fake_b) - 1).pow(2).mean(), (D_a(fake_a) - 1).pow(2).mean(),
                 cycle_consistency_loss(real_a, G_ba(fake_b), lambda_cyc),
                 cycle_consistency_loss(real_b, G_ab(fake_a), lambda_cyc),
                 identity_loss(real_b, G_ab(real_b), lambda_id),
                 identity_loss(real_a, G_ba(real_a), lambda_id)]
        return torch.stack(terms).sum()


generator_objective = Objective()
'''}, "a callable object, the terms stacked and summed"),
]
