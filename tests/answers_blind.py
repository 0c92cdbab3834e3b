"""Alternative correct answers written from the student notebooks' wording alone ("blind").

Each answer fills one solution cell (keyed by its nbgrader grade_id) with code that a careful student
could write from the exercise text and the book chapters, without the reference solutions or the
hidden tests. Three different answers per graded function: other dtypes, loops versus vectorised
code, in-place operations, library calls, other random-number sources where the text allows them.

Some answers call another function of the same notebook (``kl_divergence`` in ``elbo_loss``,
``cycle_consistency_loss``/``identity_loss`` in ``generator_objective``, ``dice_coefficient`` in
``dice_loss``), as the notebooks invite; they need that cell filled with a correct answer too. Notes
marked "probe" are answers that follow the wording but take a side on a point the text leaves open.
"""
from tests.answers import Answer

# ---------------------------------------------------------------------------------------------
# Exercise 1: autoencoders
# ---------------------------------------------------------------------------------------------

CORRUPT_NORMAL = '''def corrupt(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Return clip(x + sigma * eps, 0, 1) with eps ~ N(0, 1) drawn independently per element."""
    noise = torch.normal(0.0, float(sigma), size=x.shape, dtype=x.dtype, device=x.device)
    return torch.clip(x + noise, min=0.0, max=1.0)
'''

CORRUPT_FLOAT64 = '''def corrupt(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Return clip(x + sigma * eps, 0, 1) with eps ~ N(0, 1) drawn independently per element."""
    # noise drawn and added in double precision, the result cast back to the input's dtype
    eps = torch.randn(x.shape, dtype=torch.float64, device=x.device)
    noisy = x.to(torch.float64) + sigma * eps
    return noisy.clamp(0.0, 1.0).to(x.dtype)
'''

CORRUPT_DISTRIBUTIONS_INPLACE = '''from torch.distributions import Normal


def corrupt(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Return clip(x + sigma * eps, 0, 1) with eps ~ N(0, 1) drawn independently per element."""
    # a standard normal scaled by sigma: Normal(0, sigma) itself refuses sigma = 0
    standard = Normal(torch.zeros((), dtype=x.dtype, device=x.device),
                      torch.ones((), dtype=x.dtype, device=x.device))
    out = x.clone()                       # work in place on a copy, never on x
    out.add_(standard.sample(x.shape), alpha=sigma)
    out.clamp_(0.0, 1.0)
    return out
'''

SPARSITY_FORMULA = '''def sparsity_penalty(h: torch.Tensor, rho: float) -> torch.Tensor:
    """Sum over units of KL(rho || mean activation of the unit over the batch)."""
    rho_hat = h.mean(dim=0)                                   # (H,) mean activation of each unit
    kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
    return kl.sum()
'''

SPARSITY_BERNOULLI = '''from torch.distributions import Bernoulli, kl_divergence as bernoulli_kl


def sparsity_penalty(h: torch.Tensor, rho: float) -> torch.Tensor:
    """Sum over units of KL(rho || mean activation of the unit over the batch)."""
    rho_hat = h.mean(0)
    target = Bernoulli(probs=torch.full_like(rho_hat, rho))
    return bernoulli_kl(target, Bernoulli(probs=rho_hat)).sum()
'''

SPARSITY_XLOGY64 = '''def sparsity_penalty(h: torch.Tensor, rho: float) -> torch.Tensor:
    """Sum over units of KL(rho || mean activation of the unit over the batch)."""
    h64 = h.to(torch.float64)
    rho_hat = h64.sum(dim=0) / h64.shape[0]
    r = torch.tensor(rho, dtype=torch.float64, device=h.device)
    xlogy = torch.special.xlogy
    kl = (xlogy(r, r) - xlogy(r, rho_hat)) + (xlogy(1 - r, 1 - r) - xlogy(1 - r, 1 - rho_hat))
    return kl.sum().to(h.dtype)
'''

ANOMALY_MSE_NONE = '''def anomaly_score(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared reconstruction error, shape (B,)."""
    with torch.no_grad():
        reconstruction = model(x).reshape(x.shape)
        return F.mse_loss(reconstruction, x, reduction="none").flatten(start_dim=1).mean(dim=1)
'''

ANOMALY_LOOP = '''@torch.no_grad()
def anomaly_score(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared reconstruction error, shape (B,)."""
    reconstruction = model(x)
    scores = []
    for i in range(x.shape[0]):                       # one image at a time
        difference = reconstruction[i] - x[i]
        scores.append((difference * difference).mean())
    return torch.stack(scores)
'''

ANOMALY_NORM64 = '''def anomaly_score(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared reconstruction error, shape (B,)."""
    with torch.no_grad():
        difference = (model(x) - x).reshape(x.shape[0], -1).to(torch.float64)
        squared_norm = torch.linalg.vector_norm(difference, ord=2, dim=1) ** 2
        return (squared_norm / difference.shape[1]).to(x.dtype)
'''

PRINCIPAL_SVD64 = '''def principal_subspace(x: torch.Tensor, k: int) -> torch.Tensor:
    """Orthonormal (D, k) basis of the top-k principal directions of the centred rows of x."""
    x64 = x.detach().to(torch.float64)
    centred = x64 - x64.mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return vh[:k].mT.contiguous().to(x.dtype)
'''

PRINCIPAL_EIGH = '''def principal_subspace(x: torch.Tensor, k: int) -> torch.Tensor:
    """Orthonormal (D, k) basis of the top-k principal directions of the centred rows of x."""
    centred = x - x.mean(0)
    covariance = centred.T @ centred / (x.shape[0] - 1)        # (D, D), symmetric
    _, eigenvectors = torch.linalg.eigh(covariance)            # eigenvalues in ascending order
    return eigenvectors[:, -k:].flip(1)                        # largest variance first
'''

PRINCIPAL_NUMPY = '''import numpy as np


def principal_subspace(x: torch.Tensor, k: int) -> torch.Tensor:
    """Orthonormal (D, k) basis of the top-k principal directions of the centred rows of x."""
    data = x.detach().cpu().numpy().astype(np.float64)
    data = data - data.mean(axis=0)
    u, _, _ = np.linalg.svd(data.T, full_matrices=False)       # left singular vectors of (D, N)
    return torch.as_tensor(u[:, :k].copy(), dtype=x.dtype, device=x.device)
'''

OVERLAP_QR = '''def subspace_overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean squared cosine of the principal angles between span(a) and span(b)."""
    qa, _ = torch.linalg.qr(a)
    qb, _ = torch.linalg.qr(b)
    cosines = torch.linalg.svdvals(qa.T @ qb)
    return float((cosines ** 2).mean())
'''

OVERLAP_PROJECTORS = '''def subspace_overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean squared cosine of the principal angles between span(a) and span(b)."""
    # trace(P_a P_b) = ||Q_a^T Q_b||_F^2 = sum of cos^2, with P = A A^+ the orthogonal projector
    a64, b64 = a.detach().to(torch.float64), b.detach().to(torch.float64)
    projector_a = a64 @ torch.linalg.pinv(a64)
    projector_b = b64 @ torch.linalg.pinv(b64)
    return torch.trace(projector_a @ projector_b).item() / a.shape[1]
'''

OVERLAP_SVD_BASIS = '''def subspace_overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean squared cosine of the principal angles between span(a) and span(b)."""
    k = a.shape[1]
    ua = torch.linalg.svd(a, full_matrices=False).U            # orthonormal basis of span(a)
    ub = torch.linalg.svd(b, full_matrices=False).U
    cross = ua.mT @ ub
    return torch.linalg.matrix_norm(cross, ord="fro").pow(2).item() / k
'''

# ---------------------------------------------------------------------------------------------
# Exercise 2: variational autoencoders
# ---------------------------------------------------------------------------------------------

REPARAM_RSAMPLE = '''from torch.distributions import Normal


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I)."""
    return Normal(mu, torch.exp(0.5 * logvar), validate_args=False).rsample()
'''

REPARAM_FLOAT64 = '''def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I)."""
    eps = torch.randn(mu.shape, dtype=torch.float64, device=mu.device)
    z = mu.to(torch.float64) + torch.exp(logvar.to(torch.float64) / 2) * eps
    return z.to(mu.dtype)
'''

REPARAM_ADDCMUL = '''def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I)."""
    sigma = torch.sqrt(torch.exp(logvar))
    eps = torch.empty_like(mu).normal_(0.0, 1.0)
    return torch.addcmul(mu, sigma, eps)
'''

KL_FORMULA = '''def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dims, shape (B,)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)
'''

KL_DISTRIBUTIONS = '''from torch.distributions import Normal, kl_divergence as normal_kl


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dims, shape (B,)."""
    posterior = Normal(mu, torch.exp(0.5 * logvar), validate_args=False)
    prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return normal_kl(posterior, prior).flatten(1).sum(1)
'''

KL_LOOP64 = '''def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dims, shape (B,)."""
    mu64, logvar64 = mu.to(torch.float64), logvar.to(torch.float64)
    total = torch.zeros(mu.shape[0], dtype=torch.float64, device=mu.device)
    for d in range(mu.shape[1]):                   # one latent dimension at a time
        m, lv = mu64[:, d], logvar64[:, d]
        total = total + (m * m + torch.exp(lv) - 1 - lv)
    return (0.5 * total).to(mu.dtype)
'''

ELBO_SUM_REDUCTION = '''def elbo_loss(x_logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Negative ELBO: per-image Bernoulli NLL summed over pixels, plus KL, averaged over the batch."""
    batch = x.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(x_logits, x, reduction="sum") / batch
    return reconstruction + kl_divergence(mu, logvar).mean()
'''

ELBO_SOFTPLUS = '''def elbo_loss(x_logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Negative ELBO: per-image Bernoulli NLL summed over pixels, plus KL, averaged over the batch."""
    # BCE(x, sigmoid(l)) = softplus(l) - x * l, stable for large |l|
    bce = F.softplus(x_logits) - x * x_logits
    per_image = bce.flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).flatten(1).sum(1)
    return (per_image + kl).mean()
'''

ELBO_BERNOULLI64 = '''from torch.distributions import Bernoulli


def elbo_loss(x_logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Negative ELBO: per-image Bernoulli NLL summed over pixels, plus KL, averaged over the batch."""
    logits64, x64 = x_logits.to(torch.float64), x.to(torch.float64)
    # validate_args=False: grey levels in [0, 1] are not in the Bernoulli's {0, 1} support
    nll = -Bernoulli(logits=logits64, validate_args=False).log_prob(x64)
    per_image = nll.reshape(x.shape[0], -1).sum(dim=1)
    mu64, logvar64 = mu.to(torch.float64), logvar.to(torch.float64)
    kl = -0.5 * (1 + logvar64 - mu64 ** 2 - logvar64.exp()).reshape(mu.shape[0], -1).sum(dim=1)
    return (per_image + kl).mean().to(x_logits.dtype)
'''

CONDITION_ONE_HOT = '''def condition(h: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Concatenate h with the one-hot encoding of labels along dim 1."""
    one_hot = F.one_hot(labels.long(), num_classes).to(dtype=h.dtype, device=h.device)
    return torch.cat([h, one_hot], dim=1)
'''

CONDITION_EYE = '''def condition(h: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Concatenate h with the one-hot encoding of labels along dim 1."""
    rows = torch.eye(num_classes, dtype=h.dtype, device=h.device)
    return torch.hstack((h, rows[labels.to(h.device).long()]))
'''

CONDITION_SCATTER = '''def condition(h: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Concatenate h with the one-hot encoding of labels along dim 1."""
    one_hot = h.new_zeros(h.shape[0], num_classes)
    one_hot.scatter_(1, labels.to(h.device).long().view(-1, 1), 1.0)
    out = h.new_empty(h.shape[0], h.shape[1] + num_classes)
    out[:, :h.shape[1]] = h                       # tracked by autograd: out stays differentiable in h
    out[:, h.shape[1]:] = one_hot
    return out
'''

INTERP_LINSPACE = '''def interpolate(z_start: torch.Tensor, z_end: torch.Tensor, steps: int) -> torch.Tensor:
    """Linear path from z_start to z_end, endpoints included, shape (steps, *z_start.shape)."""
    t = torch.linspace(0.0, 1.0, steps, dtype=z_start.dtype, device=z_start.device)
    t = t.reshape(steps, *([1] * z_start.dim()))
    return (1 - t) * z_start.unsqueeze(0) + t * z_end.unsqueeze(0)
'''

INTERP_LOOP = '''def interpolate(z_start: torch.Tensor, z_end: torch.Tensor, steps: int) -> torch.Tensor:
    """Linear path from z_start to z_end, endpoints included, shape (steps, *z_start.shape)."""
    points = []
    for k in range(steps):
        t = k / (steps - 1)
        points.append((1 - t) * z_start + t * z_end)
    return torch.stack(points, dim=0)
'''

INTERP_LERP64 = '''def interpolate(z_start: torch.Tensor, z_end: torch.Tensor, steps: int) -> torch.Tensor:
    """Linear path from z_start to z_end, endpoints included, shape (steps, *z_start.shape)."""
    weights = torch.arange(steps, dtype=torch.float64, device=z_start.device) / (steps - 1)
    weights = weights.view(-1, *([1] * z_start.dim()))
    start = z_start.to(torch.float64).unsqueeze(0)
    end = z_end.to(torch.float64).unsqueeze(0)
    return torch.lerp(start, end, weights).to(z_start.dtype)
'''

# ---------------------------------------------------------------------------------------------
# Exercise 4: DCGAN
# ---------------------------------------------------------------------------------------------

SIZE_FORMULA = '''def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Side length of a ConvTranspose2d output."""
    return int((size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1)
'''

SIZE_DIRECT_CONV = '''def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Side length of a ConvTranspose2d output."""
    # the equivalent direct convolution: insert stride - 1 zeros between input values, pad with
    # d(k - 1) - p zeros on both sides (plus output_padding on one), then a stride-1 convolution
    spread = (size - 1) * stride + 1
    reach = dilation * (kernel_size - 1)
    padded = spread + 2 * (reach - padding) + output_padding
    return padded - reach
'''

SIZE_SCATTER = '''def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Side length of a ConvTranspose2d output."""
    # input position i scatters its kernel tap j to output position i * stride + j * dilation
    last = max(i * stride + j * dilation for i in range(size) for j in range(kernel_size))
    return last + 1 - 2 * padding + output_padding
'''

GENERATOR_SEQUENTIAL = '''def build_generator(latent_dim: int = 64) -> nn.Module:
    """DCGAN generator: (B, latent_dim) -> (B, 1, 28, 28) in [-1, 1]."""
    net = nn.Sequential(
        nn.Unflatten(1, (latent_dim, 1, 1)),                                # z as a 1x1 image
        nn.ConvTranspose2d(latent_dim, 128, 7, 1, 0, bias=False),          # 1 -> 7
        nn.BatchNorm2d(128), nn.ReLU(True),
        nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False),                  # 7 -> 14
        nn.BatchNorm2d(64), nn.ReLU(True),
        nn.ConvTranspose2d(64, 1, 4, 2, 1, bias=False),                    # 14 -> 28
        nn.Tanh(),
    )
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, 0.02)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)
    return net
'''

GENERATOR_CLASS_4_STAGES = '''class DCGANGenerator(nn.Module):
    """1 -> 4 -> 7 -> 14 -> 28 with transposed convolutions, batch norm and ReLU, tanh output."""

    def __init__(self, latent_dim: int = 64, width: int = 32):
        super().__init__()
        self.latent_dim = latent_dim
        self.layers = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, 8 * width, 4, 1, 0),      # 1 -> 4
            nn.BatchNorm2d(8 * width), nn.ReLU(),
            nn.ConvTranspose2d(8 * width, 4 * width, 3, 2, 1),       # 4 -> 7
            nn.BatchNorm2d(4 * width), nn.ReLU(),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1),       # 7 -> 14
            nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, 1, 4, 2, 1),               # 14 -> 28
            nn.Tanh(),
        )
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, mean=1.0, std=0.02)
            nn.init.zeros_(module.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z.view(z.shape[0], self.latent_dim, 1, 1))


def build_generator(latent_dim: int = 64) -> nn.Module:
    """DCGAN generator: (B, latent_dim) -> (B, 1, 28, 28) in [-1, 1]."""
    return DCGANGenerator(latent_dim)
'''

GENERATOR_REFINE_CONV = '''def build_generator(latent_dim: int = 64) -> nn.Module:
    """DCGAN generator: (B, latent_dim) -> (B, 1, 28, 28) in [-1, 1]."""
    # all upsampling by transposed convolutions; a last stride-1 convolution only mixes channels
    layers = [nn.Unflatten(1, (latent_dim, 1, 1))]
    channels = [latent_dim, 96, 48, 24]
    shapes = [(7, 1, 0), (4, 2, 1), (4, 2, 1)]                       # 1 -> 7 -> 14 -> 28
    for c_in, c_out, (k, s, p) in zip(channels, channels[1:], shapes):
        layers += [nn.ConvTranspose2d(c_in, c_out, k, s, p), nn.BatchNorm2d(c_out), nn.ReLU()]
    layers += [nn.Conv2d(channels[-1], 1, 3, 1, 1), nn.Tanh()]
    net = nn.Sequential(*layers)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                module.weight.normal_(0.0, 0.02)
                module.bias.zero_()
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.normal_(1.0, 0.02)
                module.bias.zero_()
    return net
'''

DISCRIMINATOR_SEQUENTIAL = '''def build_discriminator() -> nn.Module:
    """DCGAN discriminator: (B, 1, 28, 28) -> (B,) logits."""
    net = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),              # 28 -> 14, no BN
        nn.Conv2d(64, 128, 4, 2, 1, bias=False),                                 # 14 -> 7
        nn.BatchNorm2d(128), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(128, 1, 7, 1, 0),                                              # 7 -> 1 logit
        nn.Flatten(0),                                                           # (B, 1, 1, 1) -> (B,)
    )
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, 0.0, 0.02)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)
    return net
'''

DISCRIMINATOR_CLASS = '''class DCGANDiscriminator(nn.Module):
    """28 -> 14 -> 7 -> 4 by strided convolutions, then a 4x4 convolution to one logit."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1),
            nn.LeakyReLU(negative_slope=0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(negative_slope=0.2),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1),
            nn.BatchNorm2d(4 * width),
            nn.LeakyReLU(negative_slope=0.2),
        )
        self.score = nn.Conv2d(4 * width, 1, 4)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(x)).view(-1)


def build_discriminator() -> nn.Module:
    """DCGAN discriminator: (B, 1, 28, 28) -> (B,) logits."""
    return DCGANDiscriminator()
'''

DISCRIMINATOR_LINEAR_OUTPUT = '''class ConvThenLogit(nn.Module):
    """Strided convolutions, then the last feature map flattened into one output unit (DCGAN paper)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2),                                 # 14x14
            nn.Conv2d(32, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.LeakyReLU(0.2),  # 7x7
        )
        self.out = nn.Linear(64 * 7 * 7, 1)          # the output layer, not a hidden one
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight, 0.0, 0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x).flatten(1)).squeeze(1)


def build_discriminator() -> nn.Module:
    """DCGAN discriminator: (B, 1, 28, 28) -> (B,) logits."""
    return ConvThenLogit()
'''

DSTEP_NO_GRAD_BCE = '''def discriminator_step(D: nn.Module, G: nn.Module, real: torch.Tensor, z: torch.Tensor,
                       optimizer_D: torch.optim.Optimizer) -> float:
    """One discriminator update on a real batch and G(z); returns the loss before the update."""
    with torch.no_grad():
        fake = G(z)
    real_logits = D(real)
    fake_logits = D(fake)
    loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    optimizer_D.zero_grad()
    loss.backward()
    optimizer_D.step()
    return loss.item()
'''

DSTEP_DETACH_SOFTPLUS = '''def discriminator_step(D: nn.Module, G: nn.Module, real: torch.Tensor, z: torch.Tensor,
                       optimizer_D: torch.optim.Optimizer) -> float:
    """One discriminator update on a real batch and G(z); returns the loss before the update."""
    fake = G(z).detach()                                   # cut the graph: nothing flows into G
    # -log sigmoid(l) = softplus(-l) and -log(1 - sigmoid(l)) = softplus(l)
    loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
    D.zero_grad(set_to_none=True)
    loss.backward()
    optimizer_D.step()
    return float(loss.detach())
'''

DSTEP_LOGSIGMOID64 = '''def discriminator_step(D: nn.Module, G: nn.Module, real: torch.Tensor, z: torch.Tensor,
                       optimizer_D: torch.optim.Optimizer) -> float:
    """One discriminator update on a real batch and G(z); returns the loss before the update."""
    with torch.no_grad():
        fake = G(z)
    for p in D.parameters():                              # fresh gradients for this step
        p.grad = None
    real_term = -F.logsigmoid(D(real).to(torch.float64)).mean()
    fake_term = -F.logsigmoid(-D(fake).to(torch.float64)).mean()
    loss = real_term + fake_term
    loss.backward()
    optimizer_D.step()
    return loss.detach().cpu().item()
'''

GSTEP_BCE = '''def generator_step(D: nn.Module, G: nn.Module, z: torch.Tensor, optimizer_G: torch.optim.Optimizer) -> float:
    """One generator update with the non-saturating loss; returns the loss before the update."""
    logits = D(G(z))
    loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    optimizer_G.zero_grad()
    loss.backward()
    optimizer_G.step()
    return loss.item()
'''

GSTEP_FREEZE_D = '''def generator_step(D: nn.Module, G: nn.Module, z: torch.Tensor, optimizer_G: torch.optim.Optimizer) -> float:
    """One generator update with the non-saturating loss; returns the loss before the update."""
    flags = [p.requires_grad for p in D.parameters()]
    D.requires_grad_(False)                                # no gradient for D in G's step
    try:
        loss = F.softplus(-D(G(z))).mean()                 # -log sigmoid(D(G(z)))
        optimizer_G.zero_grad()
        loss.backward()
        optimizer_G.step()
    finally:
        for p, flag in zip(D.parameters(), flags):         # D trainable again, as before
            p.requires_grad_(flag)
    return loss.item()
'''

GSTEP_AUTOGRAD_GRAD64 = '''def generator_step(D: nn.Module, G: nn.Module, z: torch.Tensor, optimizer_G: torch.optim.Optimizer) -> float:
    """One generator update with the non-saturating loss; returns the loss before the update."""
    params = [p for p in G.parameters() if p.requires_grad]
    loss = -F.logsigmoid(D(G(z)).to(torch.float64)).mean()
    grads = torch.autograd.grad(loss, params, allow_unused=True)   # gradients for G only
    optimizer_G.zero_grad()
    for p, g in zip(params, grads):
        p.grad = None if g is None else g.to(p.dtype)
    optimizer_G.step()
    return loss.item()
'''

# ---------------------------------------------------------------------------------------------
# Exercise 5: CycleGAN
# ---------------------------------------------------------------------------------------------

CYCLE_L1 = '''def cycle_consistency_loss(real: torch.Tensor, reconstructed: torch.Tensor, weight: float = 10.0) -> torch.Tensor:
    """weight * mean |reconstructed - real|."""
    return weight * F.l1_loss(reconstructed, real)
'''

CYCLE_FLOAT64 = '''def cycle_consistency_loss(real: torch.Tensor, reconstructed: torch.Tensor, weight: float = 10.0) -> torch.Tensor:
    """weight * mean |reconstructed - real|."""
    difference = (reconstructed.to(torch.float64) - real.to(torch.float64)).abs()
    return (weight * difference.sum() / difference.numel()).to(reconstructed.dtype)
'''

CYCLE_NORM = '''def cycle_consistency_loss(real: torch.Tensor, reconstructed: torch.Tensor, weight: float = 10.0) -> torch.Tensor:
    """weight * mean |reconstructed - real|."""
    difference = reconstructed - real
    return weight * torch.linalg.vector_norm(difference, ord=1) / difference.numel()
'''

IDENTITY_L1 = '''def identity_loss(real: torch.Tensor, mapped: torch.Tensor, weight: float = 5.0) -> torch.Tensor:
    """weight * mean |mapped - real|."""
    return F.l1_loss(mapped, real, reduction="mean").mul(weight)
'''

IDENTITY_FLOAT64 = '''def identity_loss(real: torch.Tensor, mapped: torch.Tensor, weight: float = 5.0) -> torch.Tensor:
    """weight * mean |mapped - real|."""
    return (weight * torch.mean(torch.abs(mapped.double() - real.double()))).to(mapped.dtype)
'''

IDENTITY_REUSE = '''def identity_loss(real: torch.Tensor, mapped: torch.Tensor, weight: float = 5.0) -> torch.Tensor:
    """weight * mean |mapped - real|."""
    # the same weighted mean absolute difference as the cycle loss of part 1
    return cycle_consistency_loss(real, mapped, weight=weight)
'''

POOL_PYTHON_RANDOM = '''class ImagePool:
    """A history of generated images for the discriminator (pool_size 0: no history)."""

    def __init__(self, pool_size: int = 50):
        self.pool_size = pool_size
        self.images = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.pool_size == 0:
            return images.detach()                      # no pool: the batch itself, values unchanged
        returned = []
        for image in images.detach():
            image = image.clone()                       # keep our own copy, not a view of the batch
            if len(self.images) < self.pool_size:
                self.images.append(image)
                returned.append(image)
            elif random.random() < 0.5:
                slot = random.randrange(self.pool_size)
                returned.append(self.images[slot])
                self.images[slot] = image
            else:
                returned.append(image)
        return torch.stack(returned)
'''

POOL_TORCH_BUFFER = '''class ImagePool:
    """A history of generated images for the discriminator (pool_size 0: no history)."""

    def __init__(self, pool_size: int = 50):
        self.pool_size = pool_size
        self.count = 0
        self.buffer = None                              # (pool_size, C, H, W), made on first use

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.pool_size == 0:
            return images
        images = images.detach()
        if self.buffer is None:
            self.buffer = images.new_empty((self.pool_size, *images.shape[1:]))
        out = images.clone()
        coins = torch.rand(images.shape[0])             # one coin flip per image
        slots = torch.randint(0, self.pool_size, (images.shape[0],))
        for i in range(images.shape[0]):
            if self.count < self.pool_size:
                self.buffer[self.count] = images[i]
                self.count += 1
            elif coins[i] < 0.5:
                slot = int(slots[i])
                out[i] = self.buffer[slot]              # an old image goes out ...
                self.buffer[slot] = images[i]           # ... and the new one takes its place
        return out
'''

POOL_NUMPY = '''import numpy as np


class ImagePool:
    """A history of generated images for the discriminator (pool_size 0: no history)."""

    def __init__(self, pool_size: int = 50):
        self.pool_size = pool_size
        self.stored = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.pool_size <= 0:
            return images
        result = torch.empty_like(images, requires_grad=False)
        with torch.no_grad():
            for i in range(images.shape[0]):
                new = images[i].detach().clone()
                if len(self.stored) < self.pool_size:
                    self.stored.append(new)
                    result[i] = new
                elif np.random.uniform() < 0.5:
                    slot = np.random.randint(0, self.pool_size)
                    result[i] = self.stored[slot]
                    self.stored[slot] = new
                else:
                    result[i] = new
        return result
'''

OBJECTIVE_REUSE = '''def generator_objective(real_a: torch.Tensor, real_b: torch.Tensor, G_ab: nn.Module, G_ba: nn.Module,
                        D_a: nn.Module, D_b: nn.Module, lambda_cyc: float = 10.0,
                        lambda_id: float = 5.0) -> torch.Tensor:
    """LSGAN adversarial terms + cycle-consistency + identity, both directions."""
    fake_b = G_ab(real_a)
    fake_a = G_ba(real_b)
    score_b, score_a = D_b(fake_b), D_a(fake_a)
    adversarial = (F.mse_loss(score_b, torch.ones_like(score_b))
                   + F.mse_loss(score_a, torch.ones_like(score_a)))
    cycle = (cycle_consistency_loss(real_a, G_ba(fake_b), lambda_cyc)
             + cycle_consistency_loss(real_b, G_ab(fake_a), lambda_cyc))
    identity = identity_loss(real_b, G_ab(real_b), lambda_id) + identity_loss(real_a, G_ba(real_a), lambda_id)
    return adversarial + cycle + identity
'''

OBJECTIVE_INLINE = '''def generator_objective(real_a: torch.Tensor, real_b: torch.Tensor, G_ab: nn.Module, G_ba: nn.Module,
                        D_a: nn.Module, D_b: nn.Module, lambda_cyc: float = 10.0,
                        lambda_id: float = 5.0) -> torch.Tensor:
    """LSGAN adversarial terms + cycle-consistency + identity, both directions."""
    fake_b, fake_a = G_ab(real_a), G_ba(real_b)
    adv_ab = ((D_b(fake_b) - 1) ** 2).mean()
    adv_ba = ((D_a(fake_a) - 1) ** 2).mean()
    cyc_a = lambda_cyc * (G_ba(fake_b) - real_a).abs().mean()
    cyc_b = lambda_cyc * (G_ab(fake_a) - real_b).abs().mean()
    id_b = lambda_id * (G_ab(real_b) - real_b).abs().mean()
    id_a = lambda_id * (G_ba(real_a) - real_a).abs().mean()
    return adv_ab + adv_ba + cyc_a + cyc_b + id_b + id_a
'''

OBJECTIVE_LOOP64 = '''def generator_objective(real_a: torch.Tensor, real_b: torch.Tensor, G_ab: nn.Module, G_ba: nn.Module,
                        D_a: nn.Module, D_b: nn.Module, lambda_cyc: float = 10.0,
                        lambda_id: float = 5.0) -> torch.Tensor:
    """LSGAN adversarial terms + cycle-consistency + identity, both directions."""
    terms = []
    # (source, other domain, generator source -> other, generator back, judge of the other domain)
    for source, other, forward, backward, judge in ((real_a, real_b, G_ab, G_ba, D_b),
                                                    (real_b, real_a, G_ba, G_ab, D_a)):
        fake = forward(source)
        terms.append((judge(fake).double() - 1).pow(2).mean())
        terms.append(lambda_cyc * (backward(fake).double() - source.double()).abs().mean())
        terms.append(lambda_id * (forward(other).double() - other.double()).abs().mean())
    return torch.stack(terms).sum().to(real_a.dtype)
'''

# ---------------------------------------------------------------------------------------------
# Exercise 6: segmentation, parts 1-4
# ---------------------------------------------------------------------------------------------

DICE_FLATTEN = '''def dice_coefficient(pred: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """Per-image Dice of masks (B, 1, H, W), averaged over the batch."""
    p = pred.flatten(1)
    t = target.flatten(1).to(p.dtype)
    overlap = (p * t).sum(1)
    per_image = (2 * overlap + smooth) / (p.sum(1) + t.sum(1) + smooth)
    return per_image.mean()
'''

DICE_EINSUM64 = '''def dice_coefficient(pred: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """Per-image Dice of masks (B, 1, H, W), averaged over the batch."""
    batch = pred.shape[0]
    p = pred.reshape(batch, -1).to(torch.float64)
    t = target.reshape(batch, -1).to(torch.float64)
    overlap = torch.einsum("bi,bi->b", p, t)
    dice = (2.0 * overlap + smooth) / (p.sum(dim=1) + t.sum(dim=1) + smooth)
    return dice.mean().to(pred.dtype)
'''

DICE_LOOP = '''def dice_coefficient(pred: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """Per-image Dice of masks (B, 1, H, W), averaged over the batch."""
    scores = []
    for p, t in zip(pred, target):                       # one image (1, H, W) at a time
        intersection = torch.sum(p * t)
        scores.append((2 * intersection + smooth) / (torch.sum(p) + torch.sum(t) + smooth))
    return torch.stack(scores).mean()
'''

DICE_LOSS_REUSE = '''def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """1 - soft Dice of sigmoid(logits) against target."""
    return 1 - dice_coefficient(torch.sigmoid(logits), target, smooth=smooth)
'''

DICE_LOSS_EXPIT64 = '''def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """1 - soft Dice of sigmoid(logits) against target."""
    probs = torch.special.expit(logits.to(torch.float64)).flatten(1)
    t = target.to(torch.float64).flatten(1)
    dice = (2 * (probs * t).sum(1) + smooth) / (probs.sum(1) + t.sum(1) + smooth)
    return (1.0 - dice.mean()).to(logits.dtype)
'''

DICE_LOSS_PER_IMAGE = '''def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """1 - soft Dice of sigmoid(logits) against target."""
    probs = F.logsigmoid(logits).exp()
    dims = tuple(range(1, logits.dim()))                 # every axis but the batch
    overlap = (probs * target).sum(dim=dims)
    dice = (2 * overlap + smooth) / (probs.sum(dim=dims) + target.sum(dim=dims) + smooth)
    return (1 - dice).mean()                             # mean of 1 - Dice_b = 1 - mean Dice_b
'''

AUGMENT_AFFINE = '''def paired_augment(image: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None):
    """The same random spatial transform on each image and its mask; masks stay binary."""
    n = image.shape[0]
    source = generator.device if generator is not None else torch.device("cpu")

    def uniform(low, high):
        return (low + (high - low) * torch.rand(n, generator=generator, device=source)).to(image.device)

    angle = uniform(-math.pi / 9, math.pi / 9)           # +-20 degrees
    scale = uniform(0.9, 1.1)
    tx, ty = uniform(-0.1, 0.1), uniform(-0.1, 0.1)
    flip = torch.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0).to(image.device)
    cos, sin = scale * torch.cos(angle), scale * torch.sin(angle)
    theta = torch.stack([torch.stack([flip * cos, -sin, tx], dim=1),
                         torch.stack([flip * sin, cos, ty], dim=1)], dim=1).to(image.dtype)
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    image_out = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    mask_out = F.grid_sample(mask.to(image.dtype), grid, mode="nearest", padding_mode="zeros",
                             align_corners=False)
    return image_out, mask_out.to(mask.dtype)
'''

AUGMENT_DIHEDRAL = '''def paired_augment(image: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None):
    """The same random spatial transform on each image and its mask; masks stay binary."""
    # one of the eight flips/right-angle rotations per sample (only the four that keep the shape
    # when the images are not square); exact on pixels, so the mask stays binary
    height, width = image.shape[-2:]
    choices = 8 if height == width else 4
    source = generator.device if generator is not None else torch.device("cpu")
    picks = torch.randint(0, choices, (image.shape[0],), generator=generator, device=source).tolist()
    image_out, mask_out = torch.empty_like(image), torch.empty_like(mask)
    for i, pick in enumerate(picks):
        x, y = image[i], mask[i]
        if choices == 8:
            x, y = torch.rot90(x, pick % 4, dims=(-2, -1)), torch.rot90(y, pick % 4, dims=(-2, -1))
            if pick >= 4:
                x, y = torch.flip(x, dims=(-1,)), torch.flip(y, dims=(-1,))
        else:
            flips = [dims for bit, dims in ((1, (-1,)), (2, (-2,))) if pick & bit]
            for dims in flips:
                x, y = torch.flip(x, dims=dims), torch.flip(y, dims=dims)
        image_out[i], mask_out[i] = x, y
    return image_out, mask_out
'''

AUGMENT_LOOP_THRESHOLD64 = '''def paired_augment(image: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None):
    """The same random spatial transform on each image and its mask; masks stay binary."""
    # one affine matrix per sample (rotation, zoom, shift, vertical flip), built in a loop in
    # float64; image and mask are both resampled bilinearly and the mask is thresholded at 0.5
    n = image.shape[0]
    source = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(n, 5, generator=generator, device=source, dtype=torch.float64).cpu()
    rows = []
    for i in range(n):
        angle = (u[i, 0].item() - 0.5) * math.pi / 3             # +-30 degrees
        zoom = 0.85 + 0.3 * u[i, 1].item()
        shift_x, shift_y = 0.3 * (u[i, 2].item() - 0.5), 0.3 * (u[i, 3].item() - 0.5)
        flip = -1.0 if u[i, 4].item() < 0.5 else 1.0
        rows.append([[zoom * math.cos(angle), -zoom * math.sin(angle) * flip, shift_x],
                     [zoom * math.sin(angle), zoom * math.cos(angle) * flip, shift_y]])
    theta = torch.tensor(rows, dtype=torch.float64, device=image.device)
    grid = F.affine_grid(theta, list(image.shape), align_corners=True)
    image_out = F.grid_sample(image.to(torch.float64), grid, mode="bilinear", align_corners=True)
    mask_soft = F.grid_sample(mask.to(torch.float64), grid, mode="bilinear", align_corners=True)
    mask_out = (mask_soft > 0.5).to(mask.dtype)
    return image_out.to(image.dtype), mask_out
'''

OCCLUSION_BATCH = '''def occlusion_sensitivity(model: nn.Module, image: torch.Tensor, patch_size: int = 8, stride: int = 8) -> torch.Tensor:
    """Mean drop of the predicted foreground area over the windows covering each pixel (H, W)."""
    _, height, width = image.shape
    corners = [(r, c) for r in range(0, height - patch_size + 1, stride)
               for c in range(0, width - patch_size + 1, stride)]
    batch = image.unsqueeze(0).repeat(len(corners) + 1, 1, 1, 1)     # copy 0 stays whole
    for k, (r, c) in enumerate(corners, start=1):
        batch[k, :, r:r + patch_size, c:c + patch_size] = 0
    model.eval()
    with torch.no_grad():
        area = torch.sigmoid(model(batch)).sum(dim=(1, 2, 3))
    total = torch.zeros(height, width, dtype=area.dtype, device=area.device)
    hits = torch.zeros(height, width, dtype=area.dtype, device=area.device)
    for k, (r, c) in enumerate(corners, start=1):
        total[r:r + patch_size, c:c + patch_size] += area[0] - area[k]
        hits[r:r + patch_size, c:c + patch_size] += 1
    return torch.where(hits > 0, total / hits.clamp(min=1), torch.zeros_like(total))
'''

OCCLUSION_LOOP64 = '''def occlusion_sensitivity(model: nn.Module, image: torch.Tensor, patch_size: int = 8, stride: int = 8) -> torch.Tensor:
    """Mean drop of the predicted foreground area over the windows covering each pixel (H, W)."""
    model.eval()
    _, height, width = image.shape
    total = torch.zeros(height, width, dtype=torch.float64, device=image.device)
    count = torch.zeros(height, width, dtype=torch.float64, device=image.device)
    with torch.no_grad():
        whole = torch.sigmoid(model(image.unsqueeze(0))).to(torch.float64).sum()
        for top in range(0, height - patch_size + 1, stride):
            for left in range(0, width - patch_size + 1, stride):
                occluded = image.clone()
                occluded[:, top:top + patch_size, left:left + patch_size] = 0.0
                area = torch.sigmoid(model(occluded.unsqueeze(0))).to(torch.float64).sum()
                total[top:top + patch_size, left:left + patch_size] += whole - area
                count[top:top + patch_size, left:left + patch_size] += 1
    mean = torch.where(count > 0, total / count.clamp(min=1), 0.0)
    return mean.to(image.dtype)
'''

OCCLUSION_FOLD = '''def occlusion_sensitivity(model: nn.Module, image: torch.Tensor, patch_size: int = 8, stride: int = 8) -> torch.Tensor:
    """Mean drop of the predicted foreground area over the windows covering each pixel (H, W)."""
    channels, height, width = image.shape
    model.eval()
    if patch_size > height or patch_size > width:        # no window fits anywhere
        return torch.zeros(height, width, dtype=image.dtype, device=image.device)
    fold = dict(output_size=(height, width), kernel_size=patch_size, stride=stride)
    windows = ((height - patch_size) // stride + 1) * ((width - patch_size) // stride + 1)
    # window k's indicator image: fold a one-hot column k of blocks into an (H, W) map
    one_hot = torch.eye(windows, dtype=image.dtype, device=image.device)
    indicators = F.fold(one_hot[:, None, :].expand(windows, patch_size * patch_size, windows), **fold)
    occluded = image.unsqueeze(0).masked_fill(indicators.bool(), 0.0)    # (K, C, H, W)
    with torch.no_grad():
        area = torch.sigmoid(model(torch.cat([image.unsqueeze(0), occluded]))).flatten(1).sum(1)
    drops = (area[0] - area[1:]).to(image.dtype)
    summed = F.fold(drops.view(1, 1, windows).expand(1, patch_size * patch_size, windows), **fold)
    covered = F.fold(torch.ones(1, patch_size * patch_size, windows, dtype=image.dtype,
                                device=image.device), **fold)
    return torch.where(covered > 0, summed / covered.clamp(min=1), 0.0)[0, 0]
'''

BLIND: dict[str, list[Answer]] = {
    "autoencoders": [
        Answer("blind-corrupt-torch-normal", {"corrupt": CORRUPT_NORMAL},
               "torch.normal(0, sigma, size) with the input's dtype and device, torch.clip"),
        Answer("blind-corrupt-float64", {"corrupt": CORRUPT_FLOAT64},
               "noise drawn in float64 (another random stream than randn_like on float32), cast back"),
        Answer("blind-corrupt-distributions-inplace", {"corrupt": CORRUPT_DISTRIBUTIONS_INPLACE},
               "torch.distributions.Normal(0, 1).sample(shape) * sigma, add_/clamp_ in place on a clone"),
        Answer("blind-sparsity-formula", {"sparsity_penalty": SPARSITY_FORMULA},
               "the formula with torch.log, rho_hat = h.mean(0)"),
        Answer("blind-sparsity-bernoulli-kl", {"sparsity_penalty": SPARSITY_BERNOULLI},
               "torch.distributions: KL(Bernoulli(rho) || Bernoulli(rho_hat)) summed over units"),
        Answer("blind-sparsity-xlogy-float64", {"sparsity_penalty": SPARSITY_XLOGY64},
               "torch.special.xlogy in float64, returned in h's dtype"),
        Answer("blind-anomaly-mse-none", {"anomaly_score": ANOMALY_MSE_NONE},
               "F.mse_loss(reduction='none').flatten(1).mean(1) under a no_grad context"),
        Answer("blind-anomaly-loop", {"anomaly_score": ANOMALY_LOOP},
               "@torch.no_grad decorator, a Python loop over images, torch.stack"),
        Answer("blind-anomaly-norm-float64", {"anomaly_score": ANOMALY_NORM64},
               "squared torch.linalg.vector_norm / D in float64, cast back to x's dtype"),
        Answer("blind-pca-svd-float64", {"principal_subspace": PRINCIPAL_SVD64},
               "torch.linalg.svd of the centred data in float64, cast back"),
        Answer("blind-pca-eigh-covariance", {"principal_subspace": PRINCIPAL_EIGH},
               "torch.linalg.eigh of the covariance matrix in the input's dtype"),
        Answer("blind-pca-numpy-svd", {"principal_subspace": PRINCIPAL_NUMPY},
               "numpy SVD of the transposed centred data (left singular vectors), back to torch"),
        Answer("blind-overlap-qr-svdvals", {"subspace_overlap": OVERLAP_QR},
               "the hint: QR, svdvals of Qa^T Qb, mean of squares, float()"),
        Answer("blind-overlap-projector-trace", {"subspace_overlap": OVERLAP_PROJECTORS},
               "trace(Pa Pb) / k with Pa = A pinv(A), in float64"),
        Answer("blind-overlap-svd-frobenius", {"subspace_overlap": OVERLAP_SVD_BASIS},
               "orthonormal bases from SVD (U), squared Frobenius norm of Ua^T Ub / k"),
    ],
    "vae": [
        Answer("blind-reparameterize-rsample", {"reparameterize": REPARAM_RSAMPLE},
               "torch.distributions.Normal(mu, exp(logvar/2)).rsample()"),
        Answer("blind-reparameterize-float64", {"reparameterize": REPARAM_FLOAT64},
               "eps drawn in float64 (another random stream than randn_like on float32), cast back"),
        Answer("blind-reparameterize-addcmul", {"reparameterize": REPARAM_ADDCMUL},
               "sigma = sqrt(exp(logvar)), eps = empty_like().normal_(), torch.addcmul"),
        Answer("blind-kl-formula", {"kl_divergence": KL_FORMULA},
               "closed form, summed over dim=-1"),
        Answer("blind-kl-distributions", {"kl_divergence": KL_DISTRIBUTIONS},
               "torch.distributions kl_divergence(Normal, Normal(0, 1)).flatten(1).sum(1)"),
        Answer("blind-kl-loop-float64", {"kl_divergence": KL_LOOP64},
               "loop over latent dimensions in float64, cast back"),
        Answer("blind-elbo-sum-reduction", {"elbo_loss": ELBO_SUM_REDUCTION},
               "BCE-with-logits reduction='sum' / B + mean of the notebook's kl_divergence (needs that cell)"),
        Answer("blind-elbo-softplus", {"elbo_loss": ELBO_SOFTPLUS},
               "self-contained: BCE as softplus(l) - x l, inline KL"),
        Answer("blind-elbo-bernoulli-float64", {"elbo_loss": ELBO_BERNOULLI64},
               "torch.distributions.Bernoulli(logits).log_prob (validate_args=False) in float64, inline KL, cast back"),
        Answer("blind-condition-one-hot", {"condition": CONDITION_ONE_HOT}, "F.one_hot(labels.long()) + torch.cat"),
        Answer("blind-condition-eye-index", {"condition": CONDITION_EYE}, "rows of torch.eye indexed by labels, hstack"),
        Answer("blind-condition-scatter", {"condition": CONDITION_SCATTER}, "zeros.scatter_ in place, slices assigned into a new tensor"),
        Answer("blind-interpolate-linspace", {"interpolate": INTERP_LINSPACE}, "broadcast torch.linspace weights"),
        Answer("blind-interpolate-loop", {"interpolate": INTERP_LOOP}, "Python loop over k, torch.stack"),
        Answer("blind-interpolate-lerp-float64", {"interpolate": INTERP_LERP64},
               "torch.lerp with arange weights in float64, cast back"),
    ],
    "dcgan": [
        Answer("blind-size-formula", {"conv_transpose_output_size": SIZE_FORMULA}, "the chapter's formula"),
        Answer("blind-size-direct-conv", {"conv_transpose_output_size": SIZE_DIRECT_CONV},
               "via the equivalent direct convolution (zero insertion and padding)"),
        Answer("blind-size-scatter-positions", {"conv_transpose_output_size": SIZE_SCATTER},
               "last output position reached by a scattered kernel tap, loops"),
        Answer("blind-generator-sequential", {"build_generator": GENERATOR_SEQUENTIAL},
               "Sequential with nn.Unflatten, 1->7->14->28, no conv biases, init loop"),
        Answer("blind-generator-class-4-stages", {"build_generator": GENERATOR_CLASS_4_STAGES},
               "nn.Module subclass, 1->4->7->14->28, conv biases kept and zeroed, self.apply init"),
        Answer("blind-generator-refine-conv", {"build_generator": GENERATOR_REFINE_CONV},
               "probe: 1->7->14->28 by transposed convs, then a stride-1 Conv2d + tanh (upsampling still only "
               "by transposed convolutions); init under no_grad with in-place normal_"),
        Answer("blind-discriminator-sequential", {"build_discriminator": DISCRIMINATOR_SEQUENTIAL},
               "probe: Sequential 28->14->7->1, final 7x7 conv, nn.Flatten(0); conv biases left at PyTorch's "
               "default init (the text asks only for N(0, 0.02) conv weights and N(1, 0.02) BN weights in D)"),
        Answer("blind-discriminator-class", {"build_discriminator": DISCRIMINATOR_CLASS},
               "nn.Module subclass 28->14->7->4, 4x4 conv to a logit, view(-1)"),
        Answer("blind-discriminator-linear-output", {"build_discriminator": DISCRIMINATOR_LINEAR_OUTPUT},
               "probe: the DCGAN paper's FC output layer (Flatten + Linear to 1 unit); no FC *hidden* layer"),
        Answer("blind-dstep-no-grad-bce", {"discriminator_step": DSTEP_NO_GRAD_BCE},
               "G(z) under no_grad, BCE with logits, optimizer.zero_grad"),
        Answer("blind-dstep-detach-softplus", {"discriminator_step": DSTEP_DETACH_SOFTPLUS},
               "G(z).detach(), softplus form of the loss, D.zero_grad(set_to_none=True)"),
        Answer("blind-dstep-logsigmoid-float64", {"discriminator_step": DSTEP_LOGSIGMOID64},
               "-logsigmoid in float64, grads set to None by hand, loss.detach().cpu().item()"),
        Answer("blind-gstep-bce", {"generator_step": GSTEP_BCE},
               "BCE with logits against ones; D's .grad is filled (D's parameters unchanged)"),
        Answer("blind-gstep-freeze-d", {"generator_step": GSTEP_FREEZE_D},
               "D.requires_grad_(False) during the step, restored in finally; softplus form"),
        Answer("blind-gstep-autograd-grad", {"generator_step": GSTEP_AUTOGRAD_GRAD64},
               "torch.autograd.grad for G's parameters only (D's .grad untouched), float64 loss"),
    ],
    "cyclegan": [
        Answer("blind-cycle-l1-loss", {"cycle_consistency_loss": CYCLE_L1}, "weight * F.l1_loss"),
        Answer("blind-cycle-float64", {"cycle_consistency_loss": CYCLE_FLOAT64},
               "sum/numel in float64, cast back"),
        Answer("blind-cycle-vector-norm", {"cycle_consistency_loss": CYCLE_NORM},
               "torch.linalg.vector_norm(ord=1) / numel"),
        Answer("blind-identity-l1-loss", {"identity_loss": IDENTITY_L1}, "F.l1_loss(...).mul(weight)"),
        Answer("blind-identity-float64", {"identity_loss": IDENTITY_FLOAT64}, "torch.mean(abs) in float64, cast back"),
        Answer("blind-identity-reuse-cycle", {"identity_loss": IDENTITY_REUSE},
               "calls the notebook's cycle_consistency_loss (needs that cell)"),
        Answer("blind-pool-python-random", {"ImagePool": POOL_PYTHON_RANDOM},
               "probe: Python's random module (as the chapter), list storage; pool_size=0 returns "
               "images.detach() (same values, new tensor object). Passes the visible test only through "
               "random.seed(0) (0.352; about 10% of seeds pass)"),
        Answer("blind-pool-torch-buffer", {"ImagePool": POOL_TORCH_BUFFER},
               "torch's global RNG (coins and slots drawn per batch), a preallocated tensor buffer; "
               "pool_size=0 returns the input object. Fails the visible test (old share 0.333): with pool 4 and "
               "batches of 8 the spec's per-image semantics give an expected old share of 0.5 * (1 - (7/8)**8) "
               "= 0.328, below the test's 0.35 bound"),
        Answer("blind-pool-numpy", {"ImagePool": POOL_NUMPY},
               "probe: NumPy's global RNG (not seeded by random.seed or torch.manual_seed); "
               "pool_size=0 returns the input object. Fails the visible test about 96% of the time "
               "(expected old share 0.328 < 0.35, see blind-pool-torch-buffer)"),
        Answer("blind-objective-reuse", {"generator_objective": OBJECTIVE_REUSE},
               "F.mse_loss against ones + the notebook's cycle/identity functions (needs those cells)"),
        Answer("blind-objective-inline", {"generator_objective": OBJECTIVE_INLINE},
               "self-contained, every term written out"),
        Answer("blind-objective-loop-float64", {"generator_objective": OBJECTIVE_LOOP64},
               "loop over the two directions, terms in float64, stacked and summed, cast back"),
    ],
    "segmentation": [
        Answer("blind-dice-flatten", {"dice_coefficient": DICE_FLATTEN}, "flatten(1) sums"),
        Answer("blind-dice-einsum-float64", {"dice_coefficient": DICE_EINSUM64},
               "einsum overlap in float64, cast back"),
        Answer("blind-dice-loop", {"dice_coefficient": DICE_LOOP}, "Python loop over images, torch.stack"),
        Answer("blind-dice-loss-reuse", {"dice_loss": DICE_LOSS_REUSE},
               "1 - the notebook's dice_coefficient(sigmoid(logits)) (needs that cell)"),
        Answer("blind-dice-loss-expit-float64", {"dice_loss": DICE_LOSS_EXPIT64},
               "self-contained, torch.special.expit in float64, cast back"),
        Answer("blind-dice-loss-mean-of-complements", {"dice_loss": DICE_LOSS_PER_IMAGE},
               "logsigmoid().exp(), mean over images of 1 - Dice_b"),
        Answer("blind-augment-affine-nearest", {"paired_augment": AUGMENT_AFFINE},
               "batched affine_grid/grid_sample, bilinear image, nearest mask, horizontal flip"),
        Answer("blind-augment-dihedral-loop", {"paired_augment": AUGMENT_DIHEDRAL},
               "per-sample rot90/flip in a loop (1 in 8 samples keeps the identity), exact on pixels"),
        Answer("blind-augment-threshold-float64", {"paired_augment": AUGMENT_LOOP_THRESHOLD64},
               "per-sample theta built in a Python loop, float64 resampling, bilinear mask thresholded at 0.5"),
        Answer("blind-occlusion-batch", {"occlusion_sensitivity": OCCLUSION_BATCH},
               "all occluded copies in one batch, accumulation loops"),
        Answer("blind-occlusion-loop-float64", {"occlusion_sensitivity": OCCLUSION_LOOP64},
               "one forward pass per window, areas summed in float64, cast back"),
        Answer("blind-occlusion-fold", {"occlusion_sensitivity": OCCLUSION_FOLD},
               "window indicators and per-pixel means with F.fold, masked_fill"),
    ],
}
