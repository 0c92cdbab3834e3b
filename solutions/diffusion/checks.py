"""Hidden tests of the diffusion assignment, run by the grader in its own process.

Each check re-checks what the visible test states and adds the hidden cases; every call to the
student's code returns plain data (see autograder.checks). Functions that take a model run in the
kernel as experiments, with a model defined here. Never released.
"""

import math

import torch
from torch import nn

from autograder.checks import binomial_band, check, close, finite, is_scalar_tensor, is_tensor, number


# ---------------------------------------------------------------------------- references (grader side)
def ref_cosine_alpha_bar(T, s=0.008):
    grid = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((grid + s) / (1 + s) * (math.pi / 2)) ** 2
    b = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - b, 0)


def ref_q_sample(x0, t, noise, alpha_bar):
    a = alpha_bar.double()[t].reshape(-1, *([1] * (x0.dim() - 1)))
    return a.sqrt() * x0.double() + (1 - a).sqrt() * noise.double()


def ref_p_sample_step(eps, x_t, t, betas, alpha_bar, noise):
    b, a = float(betas[t]), float(alpha_bar[t])
    mean = (x_t.double() - b / math.sqrt(1 - a) * eps.double()) / math.sqrt(1 - b)
    return mean if t == 0 else mean + math.sqrt(b) * noise.double()


# ---------------------------------------------------------------------------- 1. cosine schedule
@check("test_cosine_alpha_bar")
def cosine_alpha_bar(student):
    ab = student.cosine_alpha_bar(10)
    assert is_tensor(ab, (10,)), "return one value per step t = 1..T, a tensor of shape (T,)"
    assert bool((ab[1:] < ab[:-1]).all()) and bool((ab > 0).all()) and bool((ab < 1).all()), \
        "alpha_bar must decrease strictly and stay in (0, 1)"
    f = lambda t: math.cos((t / 10 + 0.008) / 1.008 * math.pi / 2) ** 2
    assert abs(number(ab[0]) - f(1) / f(0)) < 1e-5, "the first entry is alpha_bar_1 = f(1) / f(0)"
    assert close(ab, ref_cosine_alpha_bar(10), atol=1e-6, rtol=1e-4), \
        "wrong values for T = 10: alpha_bar_t is the product of (1 - beta_u) for u = 1..t"
    ratio = number(ab[-1]) / number(ab[-2])
    assert abs(ratio - 0.001) < 1e-5, "the last step's beta must be capped at 0.999 (alpha_bar_T = 0.001 alpha_bar_{T-1})"
    long = student.cosine_alpha_bar(1000)
    assert is_tensor(long, (1000,)), "shape (T,) for T = 1000"
    assert close(long, ref_cosine_alpha_bar(1000), atol=1e-6, rtol=1e-3), "wrong values for T = 1000"
    assert abs(number(long[-1]) / number(long[-2]) - 0.001) < 1e-4, "the last beta must be capped at 0.999 for T = 1000"
    other = student.cosine_alpha_bar(50, s=0.02)
    assert close(other, ref_cosine_alpha_bar(50, 0.02), atol=1e-6, rtol=1e-4), "the offset s must be used as given"


# ---------------------------------------------------------------------------- 2. q_sample
@check("test_q_sample")
def q_sample(student):
    alpha_bar = torch.tensor([0.9, 0.5, 0.1])
    x_t = student.q_sample(torch.ones(3, 1, 2, 2), torch.tensor([0, 1, 2]), torch.full((3, 1, 2, 2), 2.0), alpha_bar)
    assert is_tensor(x_t, (3, 1, 2, 2)), "x_t has the shape of x0"
    expected = [math.sqrt(a) + 2 * math.sqrt(1 - a) for a in (0.9, 0.5, 0.1)]
    assert close(x_t[:, 0, 0, 0], expected, atol=1e-5), \
        "image b uses alpha_bar[t[b]]: sqrt(alpha_bar) * x0 + sqrt(1 - alpha_bar) * noise"
    g = torch.Generator().manual_seed(21)
    for shape, dtype in [((4, 3, 5, 6), torch.float64), ((5, 7), torch.float32), ((1, 1, 3, 3), torch.float32)]:
        x0 = torch.rand(shape, generator=g, dtype=dtype) * 2 - 1
        noise = torch.randn(shape, generator=g, dtype=dtype)
        alpha_bar = ref_cosine_alpha_bar(30).to(dtype)
        t = torch.randint(0, 30, (shape[0],), generator=g)
        got = student.q_sample(x0, t, noise, alpha_bar)
        assert is_tensor(got, shape), f"x_t has the shape of x0 (input of shape {shape})"
        assert close(got, ref_q_sample(x0, t, noise, alpha_bar), atol=1e-5), \
            f"wrong values for x0 of shape {shape}: each image uses its own alpha_bar[t[b]]"
    x0, noise = torch.rand(3, 2, 2, generator=g), torch.randn(3, 2, 2, generator=g)
    t = torch.tensor([4, 4, 0])
    alpha_bar = ref_cosine_alpha_bar(5).float()
    unchanged = student.run(inputs_unchanged, "q_sample", x0, t, noise, alpha_bar)
    assert unchanged, "q_sample must not modify its inputs"


# ---------------------------------------------------------------------------- 3. diffusion_loss
def loss_statistics(student, seed, with_generator=False):
    """Everything the loss check asserts about 40 calls (one seed), without a generator (the kernel's
    own randomness, seeded) or with a fresh torch.Generator per call. The statistical parts have
    5-sigma bands, so a correct answer passes with probability above 1 - 1e-4, whatever its source."""
    T, B, calls = 10, 64, 40
    g = torch.Generator().manual_seed(1000 + seed)
    x0 = torch.rand(B, 1, 4, 4, generator=g) * 2 - 1
    alpha_bar = torch.linspace(0.98, 0.02, T)
    seeds = [100 * seed + k for k in range(calls)] if with_generator else None
    runs = student.run(loss_experiment, x0, alpha_bar, calls, seed, seeds, helpers=(reference_q_sample,))
    assert isinstance(runs, list) and len(runs) == calls, "diffusion_loss must return a loss at every call"
    all_t, all_noise, pairs = [], [], []
    for run in runs:
        assert run["calls"] == 1, "call model(x_t, t) exactly once per loss"
        loss = run["loss"]
        assert is_scalar_tensor(loss), "diffusion_loss must return a scalar tensor"
        assert run["requires_grad"], "the loss must be differentiable: gradients must reach the model's parameters"
        t, x_t = run["t"], run["x_t"]
        assert is_tensor(t, (B,)) and not t.is_floating_point(), \
            "model must get t as an integer tensor of shape (B,), one step index per image"
        assert int(t.min()) >= 0 and int(t.max()) <= T - 1, "step indices lie in 0..T-1 (T = len(alpha_bar))"
        assert is_tensor(x_t, tuple(x0.shape)), "model must get x_t of the shape of x0"
        a = alpha_bar.double()[t.long()].view(-1, 1, 1, 1)
        noise = (x_t.double() - a.sqrt() * x0.double()) / (1 - a).sqrt()
        assert finite(noise), "x_t must be finite"
        out = 0.5 * x_t.double() + 0.01 * t.double().view(-1, 1, 1, 1)
        expected = float(((out - noise) ** 2).mean())
        assert abs(number(loss) - expected) < 1e-4 * max(1.0, expected), \
            "the loss must be the mean (over all entries) of the squared difference between the model's " \
            "output and the noise that made x_t from x0 with alpha_bar[t]"
        grad = run["grad"]
        assert grad is not None and abs(number(grad) - float((2 * (out - noise) * x_t.double()).mean())) < 1e-3, \
            "the gradient of the loss with respect to the model's parameters is wrong"
        assert len(set(t.tolist())) > 1, "draw a separate step index for each image, not one per batch"
        all_t.append(t.long())
        all_noise.append(noise)
        pairs.append(float((noise[1:] * noise[:-1]).mean()))
    t = torch.cat(all_t)
    for value in range(T):
        low, high = binomial_band(len(t), 1 / T)
        share = float((t == value).double().mean())
        assert low <= share <= high, \
            f"step indices must be uniform over 0..T-1: index {value} was drawn {share:.1%} of the time, expected 10%"
    noise = torch.cat(all_noise).flatten()
    n = len(noise)
    assert abs(float(noise.mean())) < 5 / math.sqrt(n), "the noise must have mean 0"
    assert abs(float(noise.var()) - 1) < 5 * math.sqrt(2 / n), "the noise must have variance 1 (standard Gaussian)"
    fourth = float((noise ** 4).mean())
    assert abs(fourth - 3) < 5 * math.sqrt(96 / n), "the noise must be Gaussian (its fourth moment is 3)"
    correlation = sum(pairs) / len(pairs)
    assert abs(correlation) < 5 / math.sqrt(n * (B - 1) / B), "each image must get its own, independent noise"


@check("test_diffusion_loss")
def diffusion_loss(student):
    value = student.run(zero_model_loss, torch.zeros(2048, 1, 4, 4), torch.linspace(0.99, 0.01, 20))
    assert is_scalar_tensor(value), "diffusion_loss must return a scalar tensor"
    assert abs(number(value) - 1.0) < 0.05, "predicting zeros must cost the mean squared noise, about 1"
    loss_statistics(student, 0)
    loss_statistics(student, 1, with_generator=True)
    x0 = torch.rand(16, 1, 3, 3, generator=torch.Generator().manual_seed(4)) * 2 - 1
    same = student.run(loss_experiment, x0, torch.linspace(0.9, 0.1, 8), 2, 5, [5, 5],
                       helpers=(reference_q_sample,))
    assert number(same[0]["loss"]) == number(same[1]["loss"]) and torch.equal(same[0]["t"], same[1]["t"]), \
        "with a generator, draw t and the noise from it (generators seeded alike give the same loss)"


# ---------------------------------------------------------------------------- 4. p_sample_step
@check("test_p_sample_step")
def p_sample_step(student):
    betas = torch.tensor([0.1, 0.2, 0.3])
    alpha_bar = torch.cumprod(1 - betas, 0)
    ones = torch.ones(2, 1, 2, 2)
    step = student.run(step_experiment, ones, 2, betas, alpha_bar, ones, 0.5, 0.0)
    assert is_tensor(step["x"], (2, 1, 2, 2)), "x_{t-1} has the shape of x_t"
    mean = (1 - 0.3 / math.sqrt(1 - float(alpha_bar[2])) * 0.5) / math.sqrt(0.7)
    assert abs(number(step["x"][0, 0, 0, 0]) - (mean + math.sqrt(0.3))) < 1e-5, \
        "wrong value at t = 2: the mean from the predicted noise plus sqrt(beta_t) * noise"
    last = student.run(step_experiment, ones, 0, betas, alpha_bar, ones, 0.5, 0.0)
    assert abs(number(last["x"][0, 0, 0, 0]) - (1 - 0.1 / math.sqrt(0.1) * 0.5) / math.sqrt(0.9)) < 1e-5, \
        "at the last step (t = 0) return the mean, with no noise added"
    g = torch.Generator().manual_seed(8)
    betas = (1 - ref_cosine_alpha_bar(20) / torch.cat([torch.ones(1, dtype=torch.float64), ref_cosine_alpha_bar(20)[:-1]]))
    alpha_bar = ref_cosine_alpha_bar(20)
    for shape, t, dtype in [((3, 1, 4, 5), 19, torch.float64), ((3, 1, 4, 5), 7, torch.float32),
                            ((4, 6), 1, torch.float32), ((3, 1, 4, 5), 0, torch.float64)]:
        x_t = torch.randn(shape, generator=g, dtype=dtype)
        noise = torch.randn(shape, generator=g, dtype=dtype)
        result = student.run(step_experiment, x_t, t, betas.to(dtype), alpha_bar.to(dtype), noise, 0.3, 0.05)
        assert result["calls"] == 1, "call the model exactly once"
        steps = result["t"]
        assert is_tensor(steps, (shape[0],)) and not steps.is_floating_point() and bool((steps == t).all()), \
            f"call the model with a long tensor of shape (B,) filled with the step index t (t = {t})"
        assert close(result["seen"], x_t, atol=1e-6), "give the model x_t as it is"
        eps = 0.3 * x_t.double() + 0.05 * t
        assert is_tensor(result["x"], shape), f"x_{{t-1}} has the shape of x_t (input of shape {shape})"
        assert close(result["x"], ref_p_sample_step(eps, x_t, t, betas, alpha_bar, noise), atol=1e-4, rtol=1e-4), \
            f"wrong x_{{t-1}} at t = {t}" + (": no noise at the last step" if t == 0 else
                                               ": mean from the predicted noise plus sqrt(beta_t) * noise")


# ---------------------------------------------------------------------------- experiments (run in the kernel)
def reference_q_sample(x0, t, noise, alpha_bar):
    a = alpha_bar.to(x0.device)[t].to(x0.dtype).reshape(-1, *([1] * (x0.dim() - 1)))
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def zero_model_loss(notebook, x0, alpha_bar):
    class Zero(nn.Module):
        def forward(self, x, t):
            return torch.zeros_like(x)

    return notebook.diffusion_loss(Zero(), x0, alpha_bar)


def loss_experiment(notebook, x0, alpha_bar, calls, seed, generator_seeds):
    """Call diffusion_loss `calls` times (with the reference q_sample in place of the notebook's, so
    that this part is graded alone); report the loss, the model's inputs and the parameter's gradient."""
    import random

    import numpy

    class Recorder(nn.Module):
        """eps(x, t) = w x + 0.01 t with w = 0.5, remembering what it was called with."""

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor(0.5))
            self.calls = []

        def forward(self, x, t):
            self.calls.append((x.detach().clone(), torch.as_tensor(t).detach().clone()))
            steps = torch.as_tensor(t).to(device=x.device, dtype=x.dtype)
            return self.w * x + 0.01 * steps.reshape(-1, *([1] * (x.dim() - 1)))

    fn = notebook.diffusion_loss
    space = getattr(fn, "__globals__", None)
    saved = space.get("q_sample") if space is not None else None
    if space is not None and "q_sample" in space:
        space["q_sample"] = reference_q_sample
    try:
        random.seed(seed)
        numpy.random.seed(seed)
        torch.manual_seed(seed)
        runs = []
        for k in range(calls):
            model = Recorder()
            if generator_seeds:
                loss = fn(model, x0.clone(), alpha_bar.clone(), torch.Generator().manual_seed(generator_seeds[k]))
            else:
                loss = fn(model, x0.clone(), alpha_bar.clone())
            grad = None
            needs = isinstance(loss, torch.Tensor) and loss.requires_grad
            if needs:
                loss.backward()
                grad = None if model.w.grad is None else model.w.grad.detach().clone()
            last = model.calls[-1] if model.calls else (None, None)
            runs.append({"loss": loss.detach() if isinstance(loss, torch.Tensor) else loss, "requires_grad": needs,
                         "grad": grad, "calls": len(model.calls), "x_t": last[0], "t": last[1]})
        return runs
    finally:
        if space is not None and saved is not None:
            space["q_sample"] = saved


def step_experiment(notebook, x_t, t, betas, alpha_bar, noise, a, c):
    class Affine(nn.Module):
        """eps(x, t) = a x + c t, remembering what it was called with."""

        def __init__(self):
            super().__init__()
            self.calls = []

        def forward(self, x, t):
            self.calls.append((x.detach().clone(), torch.as_tensor(t).detach().clone()))
            steps = torch.as_tensor(t).to(device=x.device, dtype=x.dtype)
            return a * x + c * steps.reshape(-1, *([1] * (x.dim() - 1)))

    model = Affine()
    with torch.no_grad():
        x = notebook.p_sample_step(model, x_t.clone(), t, betas.clone(), alpha_bar.clone(), noise.clone())
    last = model.calls[-1] if model.calls else (None, None)
    return {"x": x, "calls": len(model.calls), "seen": last[0], "t": last[1]}


def inputs_unchanged(notebook, name, *args):
    copies = [a.clone() for a in args]
    getattr(notebook, name)(*args)
    return all(torch.equal(a, b) for a, b in zip(args, copies))
