"""Hidden tests of the autoencoders assignment, run by the grader in its own process.

Each check re-checks what the visible test states and adds the hidden cases; every call to the
student's code returns plain data (see autograder.checks), and every comparison is made here.
Random behaviour (``corrupt``) is judged by statistics whose expectations are derived below, with
bands of 6 standard deviations: a correct answer fails one band with probability about 2e-9,
whatever its source of random numbers (tests/test_stats_ae_vae.py runs it over 50 seeds).
The table from each assertion to the sentence of the notebook it enforces is SPEC.md. Never released.
"""

import math

import numpy as np
import torch
from torch import nn

from autograder.checks import (SIGMAS, as_array, binomial_band, check, close, finite, in_band, is_scalar_tensor,
                              is_tensor, normal_tail, number, requires_grad, share, uncorrelated)


# ---------------------------------------------------------------------------- statistics (grader side)


def clipped_normal_moments(sigma: float, a: float) -> tuple[float, float]:
    """E[Y^2] and E[Y^4] for Y = clip(sigma * Z, -a, a), Z standard normal.

    With c = a / sigma, phi the normal density and Q(c) = P(Z > c):
    E[Z^2; |Z| < c] = 1 - 2Q(c) - 2c phi(c), E[Z^4; |Z| < c] = 3(1 - 2Q(c)) - 2 phi(c)(c^3 + 3c),
    and a clipped value is +-a with probability Q(c) each.
    """
    c = a / sigma
    phi, q = math.exp(-c * c / 2) / math.sqrt(2 * math.pi), normal_tail(c)
    m2 = sigma ** 2 * (1 - 2 * q - 2 * c * phi) + 2 * a ** 2 * q
    m4 = sigma ** 4 * (3 * (1 - 2 * q) - 2 * phi * (c ** 3 + 3 * c)) + 2 * a ** 4 * q
    return m2, m4


# ---------------------------------------------------------------------------- 1. corrupt
@check("test_corrupt")
def corrupt(student):
    x = torch.full((64, 1, 28, 28), 0.5)
    x_after, out = student.run(call_and_return_input, "corrupt", x, 0.1)
    assert is_tensor(out, x.shape), "corrupt must return a tensor of the input's shape"
    assert out.dtype == torch.float32, "corrupt must keep the input's dtype (float32 in, float32 out)"
    assert torch.equal(x_after, x), "corrupt changed its input x in place: return a new tensor and leave x unchanged"
    assert float(out.min()) >= 0 and float(out.max()) <= 1, "corrupted pixels must lie in [0, 1]"

    g = torch.Generator().manual_seed(1)
    x64 = torch.rand(8, 3, 5, 5, dtype=torch.float64, generator=g) * 0.8 + 0.1
    out64 = student.corrupt(x64, 0.05)
    assert is_tensor(out64, x64.shape) and out64.dtype == torch.float64, \
        "corrupt must keep the input's shape and dtype (float64 in, float64 out)"
    assert close(student.corrupt(x64, 0.0), x64, atol=1e-6, rtol=0), "with sigma = 0 the image must come back unchanged"

    # The noise, as the student's corrupt draws it: x = 1/2 everywhere, sigma = 0.1, so the
    # noise is clipped at +-0.5 = 5 sigma (rarely: the moments below still count it).
    sigma, half = 0.1, torch.full((100, 1, 28, 28), 0.5)
    first = student.corrupt(half, sigma)
    assert is_tensor(first, half.shape) and finite(first), "corrupt must return finite values of the input's shape"
    assert float(first.min()) >= 0 and float(first.max()) <= 1, "corrupted pixels must lie in [0, 1]"
    noise = first.double() - 0.5
    n = noise.numel()
    m2, m4 = clipped_normal_moments(sigma, 0.5)
    # Structure first (one draw per image, or one per pixel shared by all images, shows here as
    # a variance that vanishes): for independent draws the mean within-image (across-image) variance
    # is the total variance, so half of it is ~100 standard deviations away.
    total = float(noise.var())
    assert float(noise.flatten(1).var(dim=1).mean()) > total / 2, \
        "the noise hardly varies between the pixels of one image: draw it independently for every pixel"
    assert float(noise.flatten(1).var(dim=0).mean()) > total / 2, \
        "the noise hardly varies from image to image at a given pixel: draw it independently for every image"
    assert uncorrelated(noise[..., :, 1:], noise[..., :, :-1]), \
        "the noise of neighbouring pixels in a row is correlated: draw it independently for every pixel"
    assert uncorrelated(noise[..., 1:, :], noise[..., :-1, :]), \
        "the noise of neighbouring pixels in a column is correlated: draw it independently for every pixel"
    assert uncorrelated(noise[1:], noise[:-1]), \
        "the noise of the same pixel in different images is correlated: draw it independently for every image"
    mean = float(noise.mean())
    assert in_band(mean, 0.0, math.sqrt(m2 / n)), f"the noise must have mean 0; its mean is {mean:.4f}"
    power = float((noise ** 2).mean())
    assert in_band(power, m2, math.sqrt((m4 - m2 ** 2) / n)), (
        f"with sigma = 0.1 on pixels of value 0.5 the mean squared noise should be {m2:.5f} "
        f"(noise of standard deviation sigma); got {power:.5f}")
    for k in (1, 2):
        p = 2 * normal_tail(k)
        low, high = binomial_band(n, p, SIGMAS)
        got = share(noise.abs() > k * sigma)
        assert low <= got <= high, (
            f"the noise is not Gaussian: {100 * p:.2f}% of Gaussian draws lie more than {k} sigma from 0, "
            f"yours {100 * got:.2f}%")
    second = student.corrupt(half, sigma)
    assert is_tensor(second, half.shape) and uncorrelated(second.double() - 0.5, noise), \
        "two calls with the same input drew the same (or correlated) noise: every call must draw fresh noise"

    # Clipping: half of the noise pushes a white pixel above 1 and a black pixel below 0.
    for value, edge in ((1.0, "1"), (0.0, "0")):
        image = torch.full((100, 1, 28, 28), value)
        clipped = student.corrupt(image, 0.5)
        assert is_tensor(clipped, image.shape) and float(clipped.min()) >= 0 and float(clipped.max()) <= 1, \
            "corrupted pixels must lie in [0, 1]"
        low, high = binomial_band(clipped.numel(), 0.5, SIGMAS)
        got = share(clipped == value)
        assert low <= got <= high, (
            f"pixels of value {edge} with noise sigma = 0.5: about half are pushed outside [0, 1] and must be "
            f"clipped to exactly {edge}; {100 * got:.1f}% are")


def call_and_return_input(notebook, name, x, *args):
    """Call notebook.<name>(x, *args) and return x as it is afterwards, and the result."""
    result = getattr(notebook, name)(x, *args)
    return [x, result]


# ---------------------------------------------------------------------------- 2. sparsity_penalty
def reference_sparsity(h: torch.Tensor, rho: float) -> tuple[float, torch.Tensor]:
    """The penalty and its gradient with respect to h, in float64."""
    h = h.double().clone().requires_grad_(True)
    mean_activation = h.mean(0)
    value = (rho * torch.log(rho / mean_activation)
             + (1 - rho) * torch.log((1 - rho) / (1 - mean_activation))).sum()
    value.backward()
    return float(value.detach()), h.grad


@check("test_sparsity_penalty")
def sparsity_penalty(student):
    value = student.sparsity_penalty(torch.full((8, 16), 0.05), 0.05)
    assert is_scalar_tensor(value), "sparsity_penalty must return a scalar tensor"
    assert abs(number(value)) < 1e-6, "when every unit's mean activation equals rho the penalty must be 0"

    activations = torch.Generator().manual_seed(2)
    h = torch.rand(32, 16, generator=activations) * 0.8 + 0.1
    expected, gradient = reference_sparsity(h, 0.05)
    got = student.run(value_and_gradient, "sparsity_penalty", h, 0.05)
    assert is_scalar_tensor(got[0]), "sparsity_penalty must return a scalar tensor"
    assert number(got[0]) > 0, "the penalty must be positive when mean activations differ from rho"

    one_unit = torch.rand(10, 1, generator=activations) * 0.5 + 0.2
    single = number(student.sparsity_penalty(one_unit, 0.1))
    double = number(student.sparsity_penalty(torch.cat([one_unit, one_unit], dim=1), 0.1))
    assert abs(double - 2 * single) < 1e-5 * max(1.0, abs(single)), \
        "two identical units must cost twice one unit: the penalty is summed over units"
    batch = torch.rand(10, 6, generator=activations) * 0.6 + 0.2
    assert abs(number(student.sparsity_penalty(batch.repeat(3, 1), 0.1)) - number(student.sparsity_penalty(batch, 0.1))) \
        < 1e-5, "repeating the batch three times must not change the penalty: rho_hat is a mean over the batch"
    small = torch.tensor([[0.1, 0.5], [0.3, 0.5]], dtype=torch.float64)
    known = 0.2 * math.log(0.2 / 0.5) + 0.8 * math.log(0.8 / 0.5)      # unit 1 has mean 0.2 = rho
    got_small = number(student.sparsity_penalty(small, 0.2))
    assert abs(got_small - known) < 1e-6, (
        f"wrong value for h = [[0.1, 0.5], [0.3, 0.5]] and rho = 0.2: expected KL(0.2 || 0.2) + KL(0.2 || 0.5) "
        f"= {known:.6f}, got {got_small:.6f}")
    assert abs(number(got[0]) - expected) < 1e-5 * max(1.0, expected), \
        f"wrong value for a random batch of 32 x 16 activations: expected {expected:.5f}, got {number(got[0]):.5f}"
    assert got[1] is not None, "gradients must flow from the penalty back to h"
    assert close(got[1], gradient, atol=1e-6, rtol=1e-4), \
        "the gradient of the penalty with respect to h is not the gradient of the formula"


def value_and_gradient(notebook, name, x, *args):
    """notebook.<name>(x, *args) and its gradient with respect to x (None if it has none)."""
    leaf = x.clone().requires_grad_(True)
    value = getattr(notebook, name)(leaf, *args)
    if not isinstance(value, torch.Tensor) or not value.requires_grad:
        return [value, None]
    (grad,) = torch.autograd.grad(value.sum(), [leaf], allow_unused=True)
    return [value.detach(), grad]


# ---------------------------------------------------------------------------- 3. anomaly_score
def score_with(notebook, model_name, x):
    """notebook.anomaly_score(model, x) for a model built in the kernel from its name: the identity,
    zeros, or w * x with a trainable w = 1/2. (The classes live inside the experiment: helper classes
    cannot be shipped, inspect finds no source for classes of a checks file.)"""

    class ZeroReconstruction(nn.Module):
        def forward(self, x):
            return torch.zeros_like(x)

    class HalfReconstruction(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor(0.5))

        def forward(self, x):
            return self.w * x

    models = {"identity": nn.Identity, "zero": ZeroReconstruction, "half": HalfReconstruction}
    return notebook.anomaly_score(models[model_name](), x)


@check("test_anomaly_score")
def anomaly_score(student):
    def score(model, x):
        return student.run(score_with, model, x)

    g = torch.Generator().manual_seed(3)
    x = torch.rand(5, 1, 28, 28, generator=g)
    perfect = score("identity", x)
    assert is_tensor(perfect, (5,)), "anomaly_score must return one score per image, shape (B,)"
    assert close(perfect, torch.zeros(5)), "a perfect reconstruction must score 0"
    zero = score("zero", x)
    assert is_tensor(zero, (5,)), "anomaly_score must return one score per image, shape (B,)"
    assert float(zero.min()) > 0, "a bad reconstruction must have a positive score"
    assert close(zero, x.pow(2).flatten(1).mean(1), atol=1e-6), \
        "each score must be the mean of the squared errors over that image's values"
    assert is_tensor(score("zero", x[:1]), (1,)), "a batch of one image must give shape (1,)"
    flat = torch.rand(7, 784, generator=g)
    assert is_tensor(score("zero", flat), (7,)), "images given as flat vectors (B, 784) must give shape (B,)"
    colour = torch.rand(3, 3, 8, 8, generator=g)
    assert close(score("zero", colour), colour.pow(2).flatten(1).mean(1), atol=1e-6), \
        "for colour images (B, 3, H, W) each score must average over channels and pixels"
    half = score("half", x)
    assert close(half, (0.5 * x).pow(2).flatten(1).mean(1), atol=1e-6), \
        "wrong scores for a model that reconstructs x as x / 2"
    assert not requires_grad(half), \
        "the scores carry gradient history (a model with trainable parameters): they must not require grad"
    far, near = torch.ones(2, 1, 28, 28), torch.full((2, 1, 28, 28), 0.1)
    both = score("zero", torch.cat([near, far]))
    assert is_tensor(both, (4,)) and bool((both[2:] > both[:2]).all()), \
        "images reconstructed worse must score higher, and scores must come in batch order"


# ---------------------------------------------------------------------------- 4. principal_subspace
def projector(basis: torch.Tensor) -> torch.Tensor:
    basis = basis.double()
    return basis @ basis.T


def reference_subspace(x: torch.Tensor, k: int) -> torch.Tensor:
    centred = x.double() - x.double().mean(0)
    return torch.linalg.svd(centred, full_matrices=False)[2][:k].T


@check("test_principal_subspace")
def principal_subspace(student):
    g = torch.Generator().manual_seed(0)
    directions, _ = torch.linalg.qr(torch.randn(10, 10, generator=g))
    scales = torch.tensor([5.0, 3.0, 1.0, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01])
    data = (torch.randn(500, 10, generator=g) * scales) @ directions.T
    basis = student.principal_subspace(data, 2)
    assert is_tensor(basis, (10, 2)), "principal_subspace must return a (D, k) matrix: (10, 2) here"
    assert finite(basis), "the basis must be finite"
    assert close(basis.double().T @ basis.double(), torch.eye(2), atol=1e-4, rtol=0), "the columns must be orthonormal"
    assert close(projector(basis), projector(reference_subspace(data, 2)), atol=0.01, rtol=0), \
        "the columns must span the two directions of largest variance of the centred data"

    shifted = data + 20.0 * directions[:, 9]     # a large mean along the direction of least variance
    basis = student.principal_subspace(shifted, 2)
    assert is_tensor(basis, (10, 2)) and close(projector(basis), projector(reference_subspace(data, 2)),
                                               atol=0.01, rtol=0), \
        "data with a large mean (along a direction of small variance) must give the same subspace: the mean " \
        "is not a direction of variance"
    basis3 = student.principal_subspace(data.double(), 3)
    assert is_tensor(basis3, (10, 3)), "k = 3 must give a (D, 3) matrix"
    assert close(basis3.double().T @ basis3.double(), torch.eye(3), atol=1e-4, rtol=0), \
        "the columns must be orthonormal (k = 3, float64 data)"
    assert close(projector(basis3), projector(reference_subspace(data, 3)), atol=0.01, rtol=0), \
        "the columns must span the k directions of largest variance (k = 3, float64 data)"


# ---------------------------------------------------------------------------- 5. subspace_overlap
def is_python_float(value) -> bool:
    """A Python float (NumPy's float64 is one too; it comes back from the kernel as a 0-d array)."""
    if isinstance(value, float):
        return True
    return isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind == "f"


def reference_overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    qa, qb = torch.linalg.qr(a.double())[0], torch.linalg.qr(b.double())[0]
    return float((torch.linalg.svdvals(qa.T @ qb) ** 2).mean())


@check("test_subspace_overlap")
def subspace_overlap(student):
    e = torch.eye(6)

    def overlap(a, b) -> float:
        value = student.subspace_overlap(a, b)
        assert is_python_float(value), \
            f"subspace_overlap must return a Python float, not {type(value).__name__} (use float(...))"
        return float(as_array(value))

    assert abs(overlap(e[:, :2], e[:, :2]) - 1) < 1e-5, "a subspace overlaps itself completely (1.0)"
    assert abs(overlap(e[:, :2], e[:, 2:4])) < 1e-5, "orthogonal subspaces have overlap 0.0"
    mix = torch.tensor([[2.0, 1.0], [0.5, -3.0]])
    assert abs(overlap(e[:, :2], e[:, :2] @ mix) - 1) < 1e-5, \
        "two different (non-orthonormal) bases of the same subspace must give 1.0"
    assert abs(overlap(e[:, :2], 7.0 * e[:, :2]) - 1) < 1e-5, "scaling a basis must not change the overlap"
    half = torch.stack([e[:, 0], e[:, 2]], dim=1)
    assert abs(overlap(e[:, :2], half) - 0.5) < 1e-5, "two 2-d subspaces sharing one direction have overlap 0.5"
    theta = 0.3
    tilted = (math.cos(theta) * e[:, 0] + math.sin(theta) * e[:, 1]).unsqueeze(1)
    assert abs(overlap(e[:, :1], tilted) - math.cos(theta) ** 2) < 1e-5, \
        "for one direction at angle theta the overlap is cos(theta)^2"
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(8, 3, generator=g, dtype=torch.float64), torch.randn(8, 3, generator=g, dtype=torch.float64)
    expected = reference_overlap(a, b)
    assert abs(overlap(a, b) - expected) < 1e-5, \
        f"wrong value for two random 3-d subspaces of R^8: expected {expected:.6f}"
