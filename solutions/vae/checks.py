"""Hidden tests of the vae assignment, run by the grader in its own process.

Each check re-checks what the visible test states and adds the hidden cases; every call to the
student's code returns plain data (see autograder.checks), and every comparison is made here.
Random behaviour (``reparameterize``) is judged by statistics of the standardised noise
eps = (z - mu) / sigma, whose distribution is exactly N(0, 1) for a correct answer, with bands of
6 standard deviations: a correct answer fails one band with probability about 2e-9, whatever its
source of random numbers (tests/test_stats_ae_vae.py runs it over 50 seeds). The table from each
assertion to the sentence of the notebook it enforces is SPEC.md. Never released.
"""

import math

import torch
import torch.nn.functional as F

from autograder.checks import (SIGMAS, binomial_band, check, close, finite, in_band, is_scalar_tensor, is_tensor,
                              normal_tail, number, share, uncorrelated)


# ---------------------------------------------------------------------------- 1. reparameterize
def reparameterize_gradients(notebook, mu, logvar):
    """z = notebook.reparameterize(mu, logvar) and the gradients of z.sum() with respect to mu and
    logvar (None where z does not depend on them through autograd)."""
    mu, logvar = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    z = notebook.reparameterize(mu, logvar)
    if not isinstance(z, torch.Tensor) or not z.requires_grad:
        return [z, None, None]
    grads = torch.autograd.grad(z.sum(), [mu, logvar], allow_unused=True)
    return [z.detach(), grads[0], grads[1]]


@check("test_reparameterize")
def reparameterize(student):
    mu = torch.full((4000, 3), 2.0)
    logvar = torch.full_like(mu, math.log(0.25))            # sigma = 0.5
    z = student.reparameterize(mu, logvar)
    assert is_tensor(z, mu.shape), "z must be a tensor of the shape of mu"
    assert z.dtype == torch.float32, "z must keep the dtype of mu (float32 here)"
    assert finite(z), "z must be finite"
    eps = (z.double() - 2.0) / 0.5
    n = eps.numel()
    # Structure first: for independent draws the mean variance within a row (a column) is the
    # total variance, so half of it is ~50 standard deviations away.
    assert float(eps.var(dim=1).mean()) > float(eps.var()) / 2, \
        "eps hardly varies across the latent dimensions of a sample: draw it independently for every element"
    assert float(eps.var(dim=0).mean()) > float(eps.var()) / 2, \
        "eps hardly varies across the samples of the batch: draw it independently for every element"
    assert uncorrelated(eps[:, 1:], eps[:, :-1]), \
        "eps is correlated across the latent dimensions of a sample: draw it independently for every element"
    assert uncorrelated(eps[1:], eps[:-1]), \
        "eps is correlated across the samples of the batch: draw it independently for every element"
    assert in_band(float(eps.mean()), 0.0, 1 / math.sqrt(n)), \
        f"the samples must be centred on mu = 2; their mean is {float(z.double().mean()):.4f}"
    power = float((eps ** 2).mean())
    assert in_band(power, 1.0, math.sqrt(2 / n)), (
        f"with logvar = log(0.25), sigma = exp(logvar / 2) = 0.5, so E[(z - mu)^2] = 0.25; "
        f"got {0.25 * power:.4f}")

    # Element-wise mu and logvar: eps = (z - mu) / exp(logvar / 2) must be N(0, 1) draws,
    # independent across elements and calls.
    g = torch.Generator().manual_seed(4)
    mu = torch.randn(2000, 32, generator=g)
    logvar = torch.rand(2000, 32, generator=g) * 4.5 - 4.0     # sigma from 0.14 to 1.3
    sigma = torch.exp(0.5 * logvar.double())
    z = student.reparameterize(mu, logvar)
    assert is_tensor(z, mu.shape) and finite(z), "z must be a finite tensor of the shape of mu"
    eps = (z.double() - mu.double()) / sigma
    n = eps.numel()
    # Structure first: for independent draws the mean variance within a row (a column) is the
    # total variance, so half of it is ~50 standard deviations away.
    assert float(eps.var(dim=1).mean()) > float(eps.var()) / 2, \
        "eps hardly varies across the latent dimensions of a sample: draw it independently for every element"
    assert float(eps.var(dim=0).mean()) > float(eps.var()) / 2, \
        "eps hardly varies across the samples of the batch: draw it independently for every element"
    assert uncorrelated(eps[:, 1:], eps[:, :-1]), \
        "eps is correlated across the latent dimensions of a sample: draw it independently for every element"
    assert uncorrelated(eps[1:], eps[:-1]), \
        "eps is correlated across the samples of the batch: draw it independently for every element"
    assert in_band(float(eps.mean()), 0.0, 1 / math.sqrt(n)), \
        "z - mu must have mean 0 (mu and logvar differing from element to element)"
    power = float((eps ** 2).mean())
    assert in_band(power, 1.0, math.sqrt(2 / n)), (
        "with mu and logvar differing from element to element, (z - mu) / exp(logvar / 2) must have variance 1 "
        f"(use each element's own sigma = exp(logvar / 2)); got {power:.4f}")
    for k in (1, 2):
        p = 2 * normal_tail(k)
        low, high = binomial_band(n, p, SIGMAS)
        got = share(eps.abs() > k)
        assert low <= got <= high, (
            f"eps is not Gaussian: {100 * p:.2f}% of N(0, 1) draws lie more than {k} from 0, yours {100 * got:.2f}%")
    again = student.reparameterize(mu, logvar)
    assert is_tensor(again, mu.shape) and uncorrelated((again.double() - mu.double()) / sigma, eps), \
        "two calls with the same mu and logvar drew the same (or correlated) eps: every call must draw fresh noise"

    # Gradients, in float64.
    mu = torch.randn(64, 8, dtype=torch.float64, generator=g)
    logvar = torch.randn(64, 8, dtype=torch.float64, generator=g)
    z, d_mu, d_logvar = student.run(reparameterize_gradients, mu, logvar)
    assert is_tensor(z, mu.shape) and z.dtype == torch.float64, "z must keep the dtype of mu (float64 here)"
    assert d_mu is not None and d_logvar is not None, "gradients must flow from z back to mu and logvar"
    assert close(d_mu, torch.ones_like(mu), atol=1e-6), "dz/dmu must be 1 for every element"
    assert close(d_logvar, 0.5 * (z - mu), atol=1e-6, rtol=1e-5), \
        "dz/dlogvar must be sigma * eps / 2, the derivative of mu + exp(logvar / 2) * eps with eps held fixed"


# ---------------------------------------------------------------------------- 2. kl_divergence
def reference_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    mu, logvar = mu.double(), logvar.double()
    return -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)


@check("test_kl_divergence")
def kl_divergence(student):
    kl = student.kl_divergence(torch.zeros(3, 5), torch.zeros(3, 5))
    assert is_tensor(kl, (3,)), "kl_divergence must return one value per sample, shape (B,)"
    assert close(kl, torch.zeros(3)), "the KL of N(0, I) to itself is 0"
    kl = student.kl_divergence(torch.ones(2, 4), torch.zeros(2, 4))
    assert is_tensor(kl, (2,)) and bool((kl > 0).all()), "the KL divergence is positive when mu differs from 0"
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, 0.0], [math.log(2.0), 0.0]])
    expected = torch.tensor([0.5, 0.5 * (2.0 - 1.0 - math.log(2.0))])
    assert close(student.kl_divergence(mu, logvar), expected, atol=1e-6), (
        "wrong value for mu = [[1, 0], [0, 0]], logvar = [[0, 0], [log 2, 0]]: expected "
        f"[{expected[0]:.4f}, {expected[1]:.4f}]")
    g = torch.Generator().manual_seed(6)
    wide = torch.randn(6, 1, generator=g).repeat(1, 4)
    assert close(student.kl_divergence(wide, torch.zeros(6, 4)), 4 * reference_kl(wide[:, :1], torch.zeros(6, 1)),
                 atol=1e-5), "four identical latent dimensions must cost four times one: sum over the dimensions"
    mu, logvar = torch.randn(10, 7, dtype=torch.float64, generator=g), torch.randn(10, 7, dtype=torch.float64, generator=g)
    got = student.kl_divergence(mu, logvar)
    assert is_tensor(got, (10,)), "kl_divergence must return one value per sample, shape (B,)"
    assert close(got, reference_kl(mu, logvar), atol=1e-5), "wrong value for random mu and logvar of shape (10, 7)"


# ---------------------------------------------------------------------------- 3. elbo_loss
def reference_elbo(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    logits, x = logits.double(), x.double()
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(x.shape[0], -1).sum(1)
    return (nll + reference_kl(mu, logvar)).mean()


def callable_globals(fn):
    """The global namespace a notebook function (or callable object, or partial) looks names up in."""
    for candidate in (fn, getattr(fn, "func", None), getattr(type(fn), "__call__", None)):
        namespace = getattr(candidate, "__globals__", None)
        if isinstance(namespace, dict):
            return namespace
    return None


def elbo_with_correct_kl(notebook, logits, x, mu, logvar, gradients=False):
    """notebook.elbo_loss(logits, x, mu, logvar), graded on its own: while it runs, the notebook's
    kl_divergence is a correct one (so a mistake there is not charged twice). With ``gradients``,
    also the gradients of the loss with respect to logits, mu and logvar."""

    def kl_divergence(mu, logvar):
        return -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)

    fn = notebook.elbo_loss
    namespace = callable_globals(fn)
    missing = object()
    saved = namespace.get("kl_divergence", missing) if namespace is not None else missing
    if namespace is not None:
        namespace["kl_divergence"] = kl_divergence
    try:
        if not gradients:
            return fn(logits, x, mu, logvar)
        leaves = [t.clone().requires_grad_(True) for t in (logits, mu, logvar)]
        loss = fn(leaves[0], x, leaves[1], leaves[2])
        if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
            return [loss, None]
        return [loss.detach(), list(torch.autograd.grad(loss.sum(), leaves, allow_unused=True))]
    finally:
        if namespace is not None:
            if saved is missing:
                namespace.pop("kl_divergence", None)
            else:
                namespace["kl_divergence"] = saved


@check("test_elbo_loss")
def elbo_loss(student):
    def loss(*args):
        return student.run(elbo_with_correct_kl, *args, helpers=(callable_globals,))

    x = torch.tensor([[1.0, 0.0]])
    zero = torch.zeros(1, 3)
    value = loss(torch.zeros(1, 2), x, zero, zero)
    assert is_scalar_tensor(value), "elbo_loss must return a scalar tensor"
    sure = loss(torch.tensor([[30.0, -30.0]]), x, zero, zero)     # a confident, correct decoder
    gap = number(value) - number(sure)                              # the KL term cancels in the difference
    assert abs(gap - 2 * math.log(2)) < 1e-5, (
        "with logits 0 each pixel costs log 2 nats more than with a confident, correct decoder: expected "
        f"a difference of 2 log 2 for two pixels, got {gap:.4f}")

    g = torch.Generator().manual_seed(7)
    x = torch.rand(6, 1, 4, 4, generator=g)
    logits = torch.randn(6, 1, 4, 4, generator=g)
    mu, logvar = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    got = loss(logits, x, mu, logvar)
    assert is_scalar_tensor(got), "elbo_loss must return a scalar tensor"
    expected = float(reference_elbo(logits, x, mu, logvar))
    assert abs(number(got) - expected) < 1e-4 * max(1.0, abs(expected)), (
        "wrong value for a batch of 6 images of shape (1, 4, 4) with grey levels in [0, 1]: expected the mean "
        f"over images of (BCE summed over all pixels of the image + KL) = {expected:.4f}, got {number(got):.4f}")
    flat = loss(logits.flatten(1), x.flatten(1), mu, logvar)
    assert abs(number(flat) - expected) < 1e-4 * max(1.0, abs(expected)), \
        "the same images given flat, shape (B, P), must give the same loss"
    one = loss(logits[:1], x[:1], mu[:1], logvar[:1])
    assert abs(number(one) - float(reference_elbo(logits[:1], x[:1], mu[:1], logvar[:1]))) < 1e-4, \
        "wrong value for a batch of one image"

    target = torch.tensor([[1.0, 0.0]])
    right = loss(torch.tensor([[60.0, -60.0]]), target, torch.zeros(1, 2), torch.zeros(1, 2))
    assert finite(right) and abs(number(right)) < 1e-6, \
        "a decoder with logits +-60 that is right costs (almost) 0: the loss must stay exact for large logits"
    wrong = loss(torch.tensor([[-60.0, 60.0]]), target, torch.zeros(1, 2), torch.zeros(1, 2))
    assert finite(wrong) and abs(number(wrong) - 120.0) < 1e-3, \
        "a decoder with logits +-60 that is wrong costs 60 nats per pixel (120 here): the loss must stay exact " \
        "for large logits"

    value, grads = student.run(elbo_with_correct_kl, logits, x, mu, logvar, True, helpers=(callable_globals,))
    assert grads is not None, "gradients must flow from the loss back to x_logits, mu and logvar"
    batch = x.shape[0]
    expected_grads = [(torch.sigmoid(logits) - x) / batch, mu / batch, 0.5 * (logvar.exp() - 1) / batch]
    for grad, wanted, name in zip(grads, expected_grads, ("x_logits", "mu", "logvar")):
        assert grad is not None and close(grad, wanted, atol=1e-5, rtol=1e-4), \
            f"the gradient of the loss with respect to {name} is not that of the formula"


# ---------------------------------------------------------------------------- 4. condition
def condition_gradient(notebook, h, labels, num_classes):
    """notebook.condition(h, labels, num_classes) and the gradient of its sum with respect to h."""
    leaf = h.clone().requires_grad_(True)
    out = notebook.condition(leaf, labels, num_classes)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return [out, None]
    (grad,) = torch.autograd.grad(out.sum(), [leaf], allow_unused=True)
    return [out.detach(), grad]


@check("test_condition")
def condition(student):
    g = torch.Generator().manual_seed(8)
    h = torch.randn(3, 4, generator=g)
    out = student.condition(h, torch.tensor([0, 2, 1]), 3)
    assert is_tensor(out, (3, 7)), "the result must have shape (B, D + num_classes): (3, 7) here"
    assert out.dtype == torch.float32, "the result must keep h's dtype (float32 here)"
    assert torch.equal(out[:, :4], h), "the first D columns must be h unchanged"
    assert torch.equal(out[:, 4:], torch.eye(3)[[0, 2, 1]]), "the last num_classes columns must be the one-hot labels"

    h = torch.randn(2, 5, dtype=torch.float64, generator=g)
    out, grad = student.run(condition_gradient, h, torch.tensor([1, 1]), 10)
    assert is_tensor(out, (2, 15)), "num_classes columns even when the batch holds only some classes: (2, 15) here"
    assert out.dtype == torch.float64, "the result must keep h's dtype (float64 here)"
    assert torch.equal(out[:, :5], h), "the first D columns must be h unchanged (float64 here)"
    expected = torch.zeros(2, 10, dtype=torch.float64)
    expected[:, 1] = 1
    assert torch.equal(out[:, 5:], expected), "one 1 per row, at the label's column, zeros elsewhere"
    assert grad is not None and close(grad, torch.ones_like(h)), "gradients must flow from the result back to h"

    labels = torch.tensor([4, 0, 3, 3, 1])
    out = student.condition(torch.zeros(5, 2), labels, 6)
    assert is_tensor(out, (5, 8)) and torch.equal(out[:, 2:], torch.eye(6)[labels]), \
        "wrong one-hot columns for labels [4, 0, 3, 3, 1] with num_classes = 6"


# ---------------------------------------------------------------------------- 5. interpolate
@check("test_interpolate")
def interpolate(student):
    a, b = torch.zeros(4), torch.ones(4)
    path = student.interpolate(a, b, 5)
    assert is_tensor(path, (5, 4)), "the result must have shape (steps, *z.shape): (5, 4) here"
    assert close(path[0], a) and close(path[-1], b), "the path must start at z_start and end at z_end"
    assert close(path[2], torch.full((4,), 0.5)), "the middle point must be halfway"

    g = torch.Generator().manual_seed(9)
    a, b = torch.randn(2, 3, dtype=torch.float64, generator=g), torch.randn(2, 3, dtype=torch.float64, generator=g)
    path = student.interpolate(a, b, 4)
    assert is_tensor(path, (4, 2, 3)), "the result must have shape (steps, *z.shape): (4, 2, 3) here"
    assert path.dtype == torch.float64, "the points must keep the dtype of z_start (float64 here)"
    t = torch.arange(4, dtype=torch.float64).reshape(4, 1, 1) / 3
    assert close(path[0], a, atol=1e-6) and close(path[-1], b, atol=1e-6), \
        "the path must start at z_start and end at z_end (both included)"
    assert close(path, (1 - t) * a + t * b, atol=1e-6), "z_k = (1 - t_k) z_start + t_k z_end with t_k = k / (steps - 1)"
    two = student.interpolate(a, b, 2)
    assert is_tensor(two, (2, 2, 3)) and close(two, torch.stack([a, b]), atol=1e-6), "steps = 2 gives just the two ends"
