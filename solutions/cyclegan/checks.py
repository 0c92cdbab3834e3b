"""Hidden tests of the cyclegan assignment, run by the grader in its own process (never released).

Every check re-checks what the notebook's visible test states and adds the hidden cases; inputs
and initial states are made here, the student's code runs in the kernel (directly or through an
experiment) and hands back data, and the expected values are computed here. The image pool is
random: its statistics are compared with their exact distributions, computed below from the
pool's rule (see ``old_count_pmf``), with bands whose false-alarm probability is below 1e-7.
solutions/cyclegan/SPEC.md maps each assertion to the sentence of the notebook that states it.
"""


import numpy as np
import torch
from torch import nn

from autograder.checks import check, close, is_scalar_tensor, is_tensor, number

#: Probability, in each tail, that a correct pool's statistic falls outside its band.
TAIL = 1e-7


# ---------------------------------------------------------------------------- 1. cycle-consistency loss
@check("test_cycle_consistency_loss")
def cycle_consistency_loss(student):
    _l1_loss_check(student, "cycle_consistency_loss", "reconstructed", default_weight=10.0, other_weight=2.5)


# ---------------------------------------------------------------------------- 2. identity loss
@check("test_identity_loss")
def identity_loss(student):
    _l1_loss_check(student, "identity_loss", "mapped", default_weight=5.0, other_weight=0.7)


def _l1_loss_check(student, name: str, second: str, default_weight: float, other_weight: float) -> None:
    fn = getattr(student, name)
    a = torch.zeros(2, 1, 4, 4)
    value = fn(a, a + 0.5)
    assert is_scalar_tensor(value), f"{name} must return a scalar tensor (0-dimensional)"
    expected = default_weight * 0.5
    assert abs(number(value) - expected) < 1e-5, \
        f"every element off by 0.5 with the default weight: expected {expected:g}, got {number(value):.6g}"
    assert abs(number(fn(a, a))) < 1e-7, "identical inputs must cost 0"
    b = torch.ones(2, 1, 3, 3)
    assert abs(number(fn(b, b - 0.2)) - default_weight * 0.2) < 1e-5, \
        f"every element off by -0.2 with the default weight: expected {default_weight * 0.2:g}"
    g = torch.Generator().manual_seed(1)
    real = torch.randn(3, 1, 5, 6, generator=g, dtype=torch.float64)
    other = torch.randn(3, 1, 5, 6, generator=g, dtype=torch.float64)
    l1 = float((other - real).abs().mean())
    got = fn(real, other, weight=other_weight)
    assert is_scalar_tensor(got) and close(got, other_weight * l1, atol=1e-5), \
        f"random batch, weight={other_weight}: expected weight * mean |{second} - real| = {other_weight * l1:.6f}, " \
        f"got {number(got):.6f}"
    assert close(fn(real, other), default_weight * l1, atol=1e-5), \
        f"random batch, default weight: expected {default_weight:g} * mean |{second} - real| " \
        f"= {default_weight * l1:.6f}"
    grad = student.run(l1_gradient, name, real, other, other_weight)
    assert grad is not None, f"the loss must be differentiable in {second} (no gradient reached it)"
    assert close(grad, other_weight * torch.sign(other - real) / real.numel(), atol=1e-6), \
        f"gradient with respect to {second}: expected weight * sign({second} - real) / number of elements"


# ---------------------------------------------------------------------------- 3. image pool
@check("test_ImagePool")
def image_pool(student):
    # Visible part: a pool of 4, filled by one batch, then 50 batches of 8.
    first, *later = student.run(pool_outputs, 4, [tagged(0, 4)] + [tagged(100 + 8 * i, 8) for i in range(50)])
    assert is_tensor(first, (4, 1, 2, 2)), f"query returns a batch of the input's shape: expected (4, 1, 2, 2), " \
                                           f"got {_shape(first)}"
    assert close(first, tagged(0, 4), atol=0), "while the pool fills up, return the new images themselves"
    returned = _tags(later, 8)
    starts = torch.tensor([100 + 8 * i for i in range(50)]).repeat_interleave(8)
    _check_old_share(returned < starts, pool_size=4, batch=8, what="pool of 4, 50 batches of 8")
    # pool_size 0: the input itself, every time
    plain = student.run(pool_outputs, 0, [tagged(8 * i, 8) for i in range(4)])
    assert all(is_tensor(out, (8, 1, 2, 2)) and close(out, tagged(8 * i, 8), atol=0) for i, out in enumerate(plain)), \
        "ImagePool(0).query must return the input batch unchanged"
    # Hidden part: a pool of 10 and 300 batches of 8 (the pool is full from the third batch on).
    pool_size, batch, count = 10, 8, 300
    outputs = student.run(pool_outputs, pool_size, [tagged(batch * i, batch) for i in range(count)])
    returned = _tags(outputs, batch)
    position = torch.arange(batch * count)
    assert bool((returned <= position).all()), \
        "each image must come back as itself or as an image given before it (never one given after it)"
    counts = torch.bincount(returned, minlength=batch * count)
    assert int(counts[pool_size:].max()) <= 1 and int(counts[:pool_size].max()) <= 2, \
        "an image was handed out twice: a stored image goes back once and is replaced by the new image"
    assert int((counts == 0).sum()) <= pool_size, \
        f"{int((counts == 0).sum())} images were never returned: apart from at most pool_size images still in the " \
        "pool, every image is returned, either at once or later from the pool"
    full = slice(2 * batch, None)                      # batches that start with a full pool
    old = (returned < position // batch * batch)[full]
    _check_old_share(old, pool_size=pool_size, batch=batch, what=f"pool of {pool_size}, batches of {batch}")
    pmf = old_count_pmf(pool_size, batch)
    batches = old.numel() // batch
    all_new = int((old.view(-1, batch).sum(1) == 0).sum())
    low, high = binomial_band(batches, pmf[0])
    assert low <= all_new <= high, (
        f"{all_new} of {batches} batches returned no old image at all; with an independent coin for each image "
        f"this happens with probability {pmf[0]:.4f} per batch (expected between {low} and {high} such batches)")
    flags = student.run(pool_detaches, helpers=(tagged,))
    assert not any(flags), "query must return images detached from the autograd graph (requires_grad False)"


def _check_old_share(old: torch.Tensor, pool_size: int, batch: int, what: str) -> None:
    """The number of returned images that predate their batch, against its exact distribution."""
    batches = old.numel() // batch
    low, high = count_band(old_count_pmf(pool_size, batch), batches)
    mean = expected_old_per_batch(pool_size, batch) / batch
    got = int(old.sum())
    assert low <= got <= high, (
        f"{what}: {got / old.numel():.1%} of the returned images predate their batch; a correct pool gives "
        f"{mean:.1%} on average (between {low / old.numel():.1%} and {high / old.numel():.1%} here): each image "
        "is swapped with probability 1/2 for a uniformly chosen stored image, which may itself have been "
        "stored earlier in the same batch")


def _tags(outputs, batch: int) -> torch.Tensor:
    """The tag of every returned image (each input image is filled with one number)."""
    for i, out in enumerate(outputs):
        assert is_tensor(out, (batch, 1, 2, 2)), \
            f"query returns a batch of the input's shape: expected ({batch}, 1, 2, 2), got {_shape(out)} (call {i + 1})"
    values = torch.cat([out.reshape(len(out), -1).to(torch.float64) for out in outputs])
    assert bool((values == values[:, :1]).all()) and bool((values == values.round()).all()), \
        "returned images must be input images, unchanged"
    return values[:, 0].long()


def _shape(value) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else f"(not a tensor: {type(value).__name__})"


def expected_old_per_batch(pool_size: int, batch: int) -> float:
    """E[images of a batch answered by an image from before the batch], pool full at the start.

    Before image k, let m_k be the number of slots still holding images from before the batch
    (m_0 = N). With probability 1/2 the image is swapped for a uniformly chosen slot: it returns an
    old image with probability m_k / N, and that slot then holds a new image. So
    E[m_{k+1}] = E[m_k] (1 - 1/(2N)), E[m_k] = N (1 - 1/(2N))^k, and the expected count is
    sum_k E[m_k] / (2N) = N (1 - (1 - 1/(2N))^B). For N = 4, B = 8: 2.626 of 8 (32.8 %), not 1/2.
    """
    return pool_size * (1 - (1 - 1 / (2 * pool_size)) ** batch)


def old_count_pmf(pool_size: int, batch: int) -> list[float]:
    """Exact distribution of that count: a Markov chain over (old slots left, old images returned)."""
    states = {(pool_size, 0): 1.0}
    for _ in range(batch):
        following: dict = {}
        for (m, c), p in states.items():
            keep = 0.5 + 0.5 * (pool_size - m) / pool_size        # tails, or a slot refilled in this batch
            following[(m, c)] = following.get((m, c), 0.0) + p * keep
            if m:
                following[(m - 1, c + 1)] = following.get((m - 1, c + 1), 0.0) + p * 0.5 * m / pool_size
        states = following
    pmf = [0.0] * (batch + 1)
    for (_, c), p in states.items():
        pmf[c] += p
    return pmf


def count_band(pmf: list[float], repeats: int, tail: float = TAIL) -> tuple[int, int]:
    """Smallest and largest totals of ``repeats`` independent draws from ``pmf`` outside which each
    tail holds less than ``tail`` probability (exact, by convolution)."""
    total = np.ones(1)
    for _ in range(repeats):
        total = np.convolve(total, np.asarray(pmf, dtype=np.float64))
    low, acc = 0, 0.0
    while acc + total[low] < tail:
        acc += total[low]
        low += 1
    high, acc = len(total) - 1, 0.0
    while acc + total[high] < tail:
        acc += total[high]
        high -= 1
    return int(low), int(high)


def binomial_band(n: int, p: float, tail: float = TAIL) -> tuple[int, int]:
    """Exact binomial counterpart of :func:`count_band`."""
    return count_band([1 - p, p], n, tail)


# ---------------------------------------------------------------------------- 4. generator objective
@check("test_generator_objective")
def generator_objective(student):
    g = torch.Generator().manual_seed(61)
    nets = tiny_nets(g)
    a, b = torch.randn(3, 1, 8, 8, generator=g), torch.randn(3, 1, 8, 8, generator=g) + 0.5
    settings = [{"lambda_cyc": 3.0, "lambda_id": 0.25}, {"lambda_cyc": 0.0, "lambda_id": 0.0},
                {"lambda_cyc": 0.0, "lambda_id": 1.0}, {}]
    seen = student.run(objective_values, [n.state_dict() for n in nets], a, b, settings,
                       helpers=(tiny_nets, reference_l1, notebook_globals))
    values = seen["values"]
    assert all(is_scalar_tensor(v) for v in values), "generator_objective must return a scalar tensor (0-dimensional)"
    terms = reference_terms(nets, a, b)
    adv, cyc, ide = (float(t) for t in terms)

    def expected(lambda_cyc=10.0, lambda_id=5.0):
        return adv + lambda_cyc * cyc + lambda_id * ide

    got = [number(v) for v in values]
    assert abs(got[1] - adv) < 1e-4, (
        f"with lambda_cyc = lambda_id = 0 only the adversarial terms remain: expected {adv:.5f}, got {got[1]:.5f} "
        "(least squares: mean (D_B(G(a)) - 1)^2 + mean (D_A(F(b)) - 1)^2)")
    assert abs(got[2] - got[1] - ide) < 1e-4, (
        f"identity terms (lambda_id = 1, lambda_cyc = 0): expected {ide:.5f}, got {got[2] - got[1]:.5f} "
        "(id(b, G(b)) + id(a, F(a)): G_ab applied to real_b, G_ba applied to real_a)")
    assert abs(got[0] - expected(3.0, 0.25)) < 1e-4, (
        f"lambda_cyc=3, lambda_id=0.25: expected {expected(3.0, 0.25):.5f}, got {got[0]:.5f} (the cycle terms are "
        "cyc(a, F(G(a))) + cyc(b, G(F(b))), weighted by lambda_cyc)")
    assert abs(got[3] - expected()) < 1e-4, \
        f"default weights (lambda_cyc=10, lambda_id=5): expected {expected():.5f}, got {got[3]:.5f}"
    grads = seen["grads"]
    assert grads is not None and all(grad is not None for grad in grads), \
        "gradients must reach both generators' parameters (backward of the returned value)"
    want = reference_generator_gradients(nets, a, b)
    assert all(close(got_g, want_g, atol=1e-4, rtol=1e-3) for got_g, want_g in zip(grads[:2], want[:2])), \
        "the gradient with respect to G_ab's parameters differs from the gradient of L " \
        "(every term must stay differentiable)"
    assert all(close(got_g, want_g, atol=1e-4, rtol=1e-3) for got_g, want_g in zip(grads[2:], want[2:])), \
        "the gradient with respect to G_ba's parameters differs from the gradient of L " \
        "(every term must stay differentiable)"


def reference_terms(nets, a, b):
    """Adversarial, cycle and identity terms of L (weights 1), computed here."""
    G_ab, G_ba, D_a, D_b = nets
    with torch.no_grad():
        to_b, to_a = G_ab(a), G_ba(b)
        adv = ((D_b(to_b) - 1) ** 2).mean() + ((D_a(to_a) - 1) ** 2).mean()
        cyc = (G_ba(to_b) - a).abs().mean() + (G_ab(to_a) - b).abs().mean()
        ide = (G_ab(b) - b).abs().mean() + (G_ba(a) - a).abs().mean()
    return adv, cyc, ide


def reference_generator_gradients(nets, a, b, lambda_cyc=10.0, lambda_id=5.0):
    G_ab, G_ba, D_a, D_b = nets
    to_b, to_a = G_ab(a), G_ba(b)
    total = (((D_b(to_b) - 1) ** 2).mean() + ((D_a(to_a) - 1) ** 2).mean()
             + lambda_cyc * ((G_ba(to_b) - a).abs().mean() + (G_ab(to_a) - b).abs().mean())
             + lambda_id * ((G_ab(b) - b).abs().mean() + (G_ba(a) - a).abs().mean()))
    return list(torch.autograd.grad(total, [G_ab.weight, G_ab.bias, G_ba.weight, G_ba.bias]))


# ---------------------------------------------------------------------------- experiments (run in the kernel)
def tagged(start, count):
    """A batch whose image k is filled with the number start + k (so images can be told apart)."""
    return torch.arange(start, start + count, dtype=torch.float32).view(-1, 1, 1, 1).repeat(1, 1, 2, 2)


def l1_gradient(notebook, name, real, other, weight):
    """Gradient of notebook.<name>(real, other, weight=weight) with respect to ``other`` (None if none)."""
    leaf = other.clone().requires_grad_(True)
    loss = getattr(notebook, name)(real, leaf, weight=weight)
    if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
        return None
    (grad,) = torch.autograd.grad(loss.sum(), [leaf], allow_unused=True)
    return grad


def pool_outputs(notebook, pool_size, batches):
    """A fresh notebook.ImagePool(pool_size) queried with each batch in turn: the answers."""
    pool = notebook.ImagePool(pool_size)
    return [pool.query(batch) for batch in batches]


def pool_detaches(notebook):
    """Whether answers keep the autograd graph, for inputs that carry one (filling and full pool)."""
    pool = notebook.ImagePool(2)
    flags = []
    for start in range(0, 24, 4):
        source = tagged(start, 4).requires_grad_(True)
        out = pool.query(source * 2)
        flags.append(bool(getattr(out, "requires_grad", False)))
    return flags


def tiny_nets(generator=None):
    """Two 1-channel generators (same size out) and two patch discriminators (score maps)."""
    nets = [nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1),
            nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3, stride=2)]
    if generator is not None:
        with torch.no_grad():
            for p in [p for net in nets for p in net.parameters()]:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.4)
    return nets


def reference_l1(real, other, weight=1.0):
    """weight * mean |other - real|: swapped in for the notebook's parts 1 and 2 while part 4 is graded."""
    return weight * (other - real).abs().mean()


def notebook_globals(fn):
    """The global namespace that the notebook's function (or callable object) looks names up in."""
    for candidate in (fn, getattr(fn, "__call__", None), getattr(fn, "func", None)):
        space = getattr(candidate, "__globals__", None)
        if isinstance(space, dict):
            return space
    return None


def objective_values(notebook, states, a, b, settings):
    """notebook.generator_objective on the given nets for each setting of the weights, graded alone:
    the notebook's cycle_consistency_loss and identity_loss are replaced by the reference meanwhile.
    Also the gradients of the default objective with respect to both generators' parameters."""
    nets = tiny_nets()
    for net, state in zip(nets, states):
        net.load_state_dict(state)
    fn = notebook.generator_objective
    space = notebook_globals(fn)
    names = ("cycle_consistency_loss", "identity_loss")
    saved = {name: space[name] for name in names if space is not None and name in space}
    if space is not None:
        space["cycle_consistency_loss"] = lambda real, rec, weight=10.0: reference_l1(real, rec, weight)
        space["identity_loss"] = lambda real, mapped, weight=5.0: reference_l1(real, mapped, weight)
    try:
        values = [fn(a, b, *nets, **options) for options in settings]
        for net in nets:
            net.zero_grad()
        total = fn(a, b, *nets)
        grads = None
        if isinstance(total, torch.Tensor) and total.requires_grad:
            total.sum().backward()
            grads = [p.grad.clone() if p.grad is not None else None
                     for net in nets[:2] for p in (net.weight, net.bias)]
    finally:
        if space is not None:
            for name in names:
                if name in saved:
                    space[name] = saved[name]
                else:
                    space.pop(name, None)
    return {"values": values, "grads": grads}
