"""Hidden tests of the gan_theory assignment, run by the grader in its own process.

Each check re-checks what the visible test states and adds the hidden cases; every call to the
student's code returns plain data (see autograder.checks). Never released.
"""

import math

import torch

from autograder.checks import check, close, finite, is_scalar_tensor, is_tensor, number


@check("test_optimal_discriminator")
def optimal_discriminator(student):
    d = student.optimal_discriminator(torch.tensor([1.0, 3.0, 0.0]), torch.tensor([1.0, 1.0, 2.0]))
    assert is_tensor(d, (3,)), "return one value per point, as a tensor"
    assert close(d, [0.5, 0.75, 0.0]), "D* is the share of the data density in the total density at each point"
    g = torch.Generator().manual_seed(11)
    p = torch.rand(4, 5, dtype=torch.float64, generator=g) + 0.1
    q = torch.rand(4, 5, dtype=torch.float64, generator=g) + 0.1
    d = student.optimal_discriminator(p, q)
    assert is_tensor(d, (4, 5)), "keep the shape of the inputs"
    assert close(d, p / (p + q), atol=1e-6), "D* = p_data / (p_data + p_g) at each point"
    assert close(student.optimal_discriminator(p, p), torch.full_like(p, 0.5)), "D* is 1/2 where p_g = p_data"
    column = student.optimal_discriminator(p[:, :1], q[:1, :])
    assert is_tensor(column, (4, 5)), "broadcast the two inputs like any elementwise operation"


@check("test_js_divergence")
def js_divergence(student):
    p = torch.tensor([0.2, 0.3, 0.5])
    value = student.js_divergence(p, p)
    assert is_scalar_tensor(value), "js_divergence must return a scalar tensor"
    assert abs(number(value)) < 1e-6, "the JSD of a distribution with itself is 0"
    disjoint = student.js_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]))
    assert finite(disjoint), "zeros in p or q must not give nan: terms with p_i = 0 contribute 0"
    assert abs(number(disjoint) - math.log(2)) < 1e-5, "disjoint supports give the maximum, log 2 (natural log)"
    p = torch.tensor([0.1, 0.4, 0.5], dtype=torch.float64)
    q = torch.tensor([0.3, 0.3, 0.4], dtype=torch.float64)
    m = (p + q) / 2
    expected = 0.5 * float((p * (p / m).log()).sum()) + 0.5 * float((q * (q / m).log()).sum())
    assert abs(number(student.js_divergence(p, q)) - expected) < 1e-6, \
        "wrong value for two overlapping distributions: compare each with the mixture m = (p + q) / 2"
    assert abs(number(student.js_divergence(p, q)) - number(student.js_divergence(q, p))) < 1e-6, \
        "the JSD is symmetric"
    partial = student.js_divergence(torch.tensor([0.5, 0.5, 0.0]), torch.tensor([0.0, 0.5, 0.5]))
    assert finite(partial) and abs(number(partial) - 0.5 * math.log(2)) < 1e-5, \
        "partially overlapping supports (zeros in both p and q): each zero term contributes 0"


@check("test_discriminator_loss")
def discriminator_loss(student):
    value = student.discriminator_loss(torch.zeros(4), torch.zeros(4))
    assert is_scalar_tensor(value), "discriminator_loss must return a scalar tensor"
    assert abs(number(value) - 2 * math.log(2)) < 1e-5, \
        "a discriminator that outputs 1/2 everywhere costs log 2 on each batch: expected 2 log 2"
    good = number(student.discriminator_loss(torch.full((3,), 5.0), torch.full((3,), -5.0)))
    bad = number(student.discriminator_loss(torch.full((3,), -5.0), torch.full((3,), 5.0)))
    assert good < bad, "real samples are labelled 1 and fake ones 0"
    real, fake = torch.tensor([0.3, -1.2, 2.0]), torch.tensor([0.5, -0.7])
    expected = float(-torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean())
    assert abs(number(student.discriminator_loss(real, fake)) - expected) < 1e-5, \
        "expected mean over real of -log sigmoid(l) plus mean over fake of -log(1 - sigmoid(l)), " \
        "with batches of different lengths"
    extreme = student.discriminator_loss(torch.tensor([-80.0]), torch.tensor([80.0]))
    assert finite(extreme) and number(extreme) > 100, "compute from logits stably: large logits must not give inf"
    g = torch.Generator().manual_seed(3)
    real_logits, fake_logits = torch.randn(5, generator=g), torch.randn(7, generator=g)
    grads = student.run(loss_gradients, "discriminator_loss", real_logits, fake_logits)
    assert grads is not None, "the loss must be differentiable with respect to both batches of logits"
    assert close(grads[0], (torch.sigmoid(real_logits) - 1) / 5, atol=1e-5), \
        "gradient with respect to the real logits: average over the real batch"
    assert close(grads[1], torch.sigmoid(fake_logits) / 7, atol=1e-5), \
        "gradient with respect to the fake logits: average over the fake batch"


@check("test_generator_loss")
def generator_loss(student):
    value = student.generator_loss(torch.zeros(4))
    assert is_scalar_tensor(value), "generator_loss must return a scalar tensor"
    assert abs(number(value) - math.log(2)) < 1e-5, "non-saturating loss at D = 1/2 is -log(1/2) = log 2"
    assert abs(number(student.generator_loss(torch.zeros(4), saturating=True)) + math.log(2)) < 1e-5, \
        "saturating loss at D = 1/2 is log(1/2) = -log 2"
    assert number(student.generator_loss(torch.full((2,), 3.0))) < number(student.generator_loss(torch.full((2,), -3.0))), \
        "the non-saturating loss must fall when the discriminator believes the fakes"
    logits = torch.tensor([0.4, -2.0, 1.5])
    d = torch.sigmoid(logits)
    assert abs(number(student.generator_loss(logits)) - float(-torch.log(d).mean())) < 1e-5, \
        "non-saturating: mean of -log D(G(z))"
    assert abs(number(student.generator_loss(logits, saturating=True)) - float(torch.log(1 - d).mean())) < 1e-5, \
        "saturating: mean of log(1 - D(G(z))), which the generator minimises"
    assert number(student.generator_loss(torch.full((2,), 3.0), saturating=True)) < \
        number(student.generator_loss(torch.full((2,), -3.0), saturating=True)), \
        "the saturating loss must also fall when the discriminator believes the fakes"
    confident = torch.full((8,), -10.0)          # D(G(z)) close to 0: the discriminator wins
    saturating = student.run(loss_gradients, "generator_loss", confident, saturating=True)
    plain = student.run(loss_gradients, "generator_loss", confident)
    assert saturating is not None and plain is not None, "the losses must be differentiable in the logits"
    small, large = float(saturating[0].abs().max()), float(plain[0].abs().max())
    assert small < 1e-5 and large > 0.1, \
        "when D(G(z)) is near 0 the saturating loss's gradient must vanish and the non-saturating one's must not"
    assert finite(student.generator_loss(torch.tensor([-90.0, 90.0]))) and \
        finite(student.generator_loss(torch.tensor([-90.0, 90.0]), saturating=True)), "compute stably from logits"


# ---------------------------------------------------------------------------- experiments (run in the kernel)
def loss_gradients(notebook, name, *logits, **options):
    """Gradients of notebook.<name>(*logits, **options) with respect to each batch of logits (None if
    the loss is not differentiable in them)."""
    leaves = [x.clone().requires_grad_(True) for x in logits]
    loss = getattr(notebook, name)(*leaves, **options)
    if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
        return None
    grads = torch.autograd.grad(loss.sum(), leaves, allow_unused=True)
    return [g if g is not None else torch.zeros_like(x) for g, x in zip(grads, leaves)]
