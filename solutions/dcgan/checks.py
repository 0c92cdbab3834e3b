"""Hidden tests of the dcgan assignment, run by the grader in its own process (never released).

Every check re-checks what the notebook's visible test states and adds the hidden cases. Networks
and training steps are watched through *experiments*: instructor functions shipped to the kernel
that build or step the student's objects on inputs and initial states made HERE, and hand back
plain data (layer tables, parameters before and after, losses). The expected values are computed
in this process by the reference code at the bottom of this file. Solutions/dcgan/SPEC.md maps each
assertion to the sentence of the notebook that states it.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autograder.bridge import Remote
from autograder.checks import as_array, check, close, is_tensor

#: Seed of the data of the 1-D toy training in test_generator_step (a module global, so that the
#: 50-seed test in tests/test_stats_gan.py can vary it).
TOY_SEED = 4
#: Standard deviations of the bands that weight initialisations must fall in (two-sided
#: probability of a false alarm below 1e-8 per band for a correct N(mean, std) draw).
SIGMAS = 6.0

_POOLING = {"MaxPool1d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "LPPool2d",
            "FractionalMaxPool2d"}
_UPSAMPLING = {"Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle"}
_FULLY_CONNECTED = {"Linear", "LazyLinear", "Bilinear"}
_SIGMOIDS = {"Sigmoid", "Hardsigmoid", "LogSigmoid"}


# ---------------------------------------------------------------------------- 1. output size
@check("test_conv_transpose_output_size")
def conv_transpose_output_size(student):
    got = student.conv_transpose_output_size(4, 3)
    assert isinstance(got, int) and not isinstance(got, bool), \
        f"return the size as a Python int (got a value of type {type(got).__name__})"
    assert got == 6, f"size 4, kernel 3, stride 1: expected 6, got {got}"
    for args, options, expected in [((7, 4), dict(stride=2, padding=1), 14), ((1, 7), {}, 7)]:
        got = student.conv_transpose_output_size(*args, **options)
        assert got == expected, \
            f"size {args[0]}, kernel {args[1]}, {options or 'defaults'}: expected {expected}, got {got}"
    for n, k, s, p, d in [(5, 3, 2, 1, 1), (3, 5, 3, 2, 2), (6, 2, 1, 0, 3), (2, 4, 4, 1, 1), (9, 1, 2, 0, 1)]:
        for extra in range(max(s, d)):
            expected = reference_transposed_size(n, k, s, p, extra, d)
            got = student.conv_transpose_output_size(n, k, stride=s, padding=p, output_padding=extra, dilation=d)
            assert isinstance(got, int) and got == expected, (
                f"size={n}, kernel_size={k}, stride={s}, padding={p}, output_padding={extra}, dilation={d}: "
                f"nn.ConvTranspose2d gives {expected}, got {got!r}")


# ---------------------------------------------------------------------------- 2. generator
@check("test_build_generator")
def build_generator(student):
    g = torch.Generator().manual_seed(21)
    z, loud_z = torch.randn(5, 16, generator=g), torch.randn(64, 16, generator=g)
    seen = student.run(probe_network, "build_generator", (16,), z, loud_z, 50.0, helpers=(layer_table,))
    out, loud = seen["out"], seen["loud"]
    assert is_tensor(out, (5, 1, 28, 28)), \
        f"build_generator(16) maps a (5, 16) batch to shape {_shape(out)}, expected (5, 1, 28, 28)"
    kinds = _kinds(seen)
    assert "ConvTranspose2d" in kinds, "upsample with nn.ConvTranspose2d layers: the network has none"
    assert not kinds & _FULLY_CONNECTED, "the generator must have no fully connected (nn.Linear) layer"
    assert "Tanh" in kinds, "end the generator with an nn.Tanh module"
    assert float(out.min()) >= -1 and float(out.max()) <= 1, "the generator's outputs must lie in [-1, 1]"
    assert is_tensor(loud, (64, 1, 28, 28)) and float(loud.min()) >= -1 and float(loud.max()) <= 1, \
        "with every parameter multiplied by 50, outputs left [-1, 1]: the output must be squashed by tanh"
    assert float(loud.min()) < -0.9 and float(loud.max()) > 0.9, \
        "with every parameter multiplied by 50, outputs did not reach both ends of [-1, 1]: the last operation " \
        "must be a tanh (nothing squashing the range before it)"
    assert "BatchNorm2d" in kinds, "use batch normalisation (nn.BatchNorm2d) after the hidden layers"
    assert "ReLU" in kinds, "use nn.ReLU activations in the generator"
    assert "LeakyReLU" not in kinds, "the generator uses ReLU, not LeakyReLU"
    assert not kinds & _UPSAMPLING, \
        f"upsample only with transposed convolutions: found {sorted(kinds & _UPSAMPLING)}"
    _check_initialisation(seen["layers"])
    small = student.run(probe_network, "build_generator", (8,), torch.randn(2, 8, generator=g), None, 1.0,
                        helpers=(layer_table,))
    assert is_tensor(small["out"], (2, 1, 28, 28)), \
        f"build_generator(8) maps a (2, 8) batch to shape {_shape(small['out'])}: honour latent_dim"


# ---------------------------------------------------------------------------- 3. discriminator
@check("test_build_discriminator")
def build_discriminator(student):
    g = torch.Generator().manual_seed(31)
    x, loud_x = torch.randn(6, 1, 28, 28, generator=g), torch.randn(16, 1, 28, 28, generator=g)
    seen = student.run(probe_network, "build_discriminator", (), x, loud_x, 40.0, helpers=(layer_table,))
    out, loud = seen["out"], seen["loud"]
    assert is_tensor(out, (6,)), f"a (6, 1, 28, 28) batch gives logits of shape {_shape(out)}, expected (6,)"
    assert is_tensor(loud, (16,)), f"a (16, 1, 28, 28) batch gives logits of shape {_shape(loud)}, expected (16,)"
    kinds = _kinds(seen)
    assert not kinds & _POOLING, f"no pooling layers: found {sorted(kinds & _POOLING)}"
    layers, calls = seen["layers"], [seen["layers"][i] for i in seen["calls"]]
    convs = [row for row in calls if row["kind"] == "Conv2d"]
    assert any(max(row["stride"]) >= 2 for row in convs), "downsample with strided nn.Conv2d layers (stride >= 2)"
    assert "LeakyReLU" in kinds, "use nn.LeakyReLU activations in the discriminator"
    assert "ReLU" not in kinds, "the discriminator uses LeakyReLU, not ReLU"
    slopes = sorted({round(row["negative_slope"], 6) for row in layers if row["kind"] == "LeakyReLU"})
    assert slopes == [0.2], f"every LeakyReLU has slope 0.2 (found slopes {slopes})"
    assert not kinds & _SIGMOIDS, "no sigmoid in the discriminator: return logits, the losses apply the sigmoid"
    assert float(loud.abs().max()) > 1.5, \
        "with every parameter multiplied by 40, every output stayed within [-1.5, 1.5]: return unbounded logits, " \
        "not probabilities"
    _check_fully_connected_only_at_the_output(calls)
    conv_positions = [i for i, row in enumerate(calls) if row["kind"] == "Conv2d"]
    norm_positions = [i for i, row in enumerate(calls) if row["kind"].startswith("BatchNorm")]
    assert norm_positions, "use batch normalisation (nn.BatchNorm2d) on the hidden layers"
    assert len(conv_positions) >= 2 and min(norm_positions) > conv_positions[1], \
        "no batch normalisation on the input or on the first convolution's output: the first BatchNorm2d must " \
        "come after the second convolution"
    _check_initialisation(layers)


def _check_fully_connected_only_at_the_output(calls: list[dict]) -> None:
    """An nn.Linear is allowed only as the output layer: the last layer with weights, one logit out."""
    dense = [i for i, row in enumerate(calls) if row["kind"] in _FULLY_CONNECTED]
    if not dense:
        return
    weighted = [i for i, row in enumerate(calls) if row["has_weight"]]
    assert len(dense) == 1 and dense[0] == weighted[-1] and calls[dense[0]].get("out_features") == 1, \
        "no fully connected hidden layers: an nn.Linear is allowed only as the output layer " \
        "(the last layer with weights, with out_features=1)"


def _check_initialisation(layers: list[dict]) -> None:
    """Each convolution's weights look like a N(0, 0.02) sample, each batch norm's like N(1, 0.02)."""
    for number, row in enumerate(row for row in layers if row["kind"] in ("Conv2d", "ConvTranspose2d")):
        problem = normal_sample_problem(row["weight"], 0.0, 0.02)
        assert problem is None, f"the weights of convolution layer {number + 1} ({row['kind']}) " \
                                f"are not a N(0, 0.02) sample: {problem}"
    for number, row in enumerate(row for row in layers if row["kind"] == "BatchNorm2d" and "weight" in row):
        problem = normal_sample_problem(row["weight"], 1.0, 0.02)
        assert problem is None, f"the weights of batch-norm layer {number + 1} are not a N(1, 0.02) sample: {problem}"
        assert row["bias"] is None or float(row["bias"].abs().max()) == 0, \
            f"the biases of batch-norm layer {number + 1} must be 0"


def normal_sample_problem(values, mean: float, std: float, sigmas: float = SIGMAS) -> str | None:
    """Why ``values`` is not a plausible sample of N(mean, std**2), or None.

    For n independent draws the sample mean has standard deviation std / sqrt(n) and the sample
    standard deviation has about std / sqrt(2 (n - 1)); both must lie within ``sigmas`` of those
    of the target distribution.
    """
    flat = torch.as_tensor(values, dtype=torch.float64).flatten()
    n = flat.numel()
    if n < 2:
        return None
    got_mean, got_std = float(flat.mean()), float(flat.std())
    mean_band, std_band = sigmas * std / math.sqrt(n), sigmas * std / math.sqrt(2 * (n - 1))
    if abs(got_mean - mean) > mean_band:
        return f"mean {got_mean:.4f} over {n} weights (a correct draw is within {mean:g} ± {mean_band:.4f})"
    if abs(got_std - std) > std_band:
        return f"standard deviation {got_std:.4f} over {n} weights (a correct draw is within {std:g} ± {std_band:.4f})"
    return None


def _kinds(seen: dict) -> set[str]:
    return {row["kind"] for row in seen["layers"]}


def _shape(value) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else f"(not a tensor: {type(value).__name__})"


# ---------------------------------------------------------------------------- 4. discriminator step
@check("test_discriminator_step")
def discriminator_step(student):
    g = torch.Generator().manual_seed(41)
    G, D = toy_pair(g)
    batches = [(torch.randn(6, 3, generator=g) + 1, torch.randn(3, 2, generator=g)),
               (torch.randn(4, 3, generator=g) - 0.5, torch.randn(7, 2, generator=g))]
    lr = 0.5
    seen = student.run(run_steps, "discriminator_step", G.state_dict(), D.state_dict(), batches, lr,
                       helpers=(toy_pair,))
    steps = seen["steps"]
    assert all(step["is_float"] for step in steps), \
        f"return the loss as a Python float (got {steps[0]['type']})"
    reference = reference_discriminator_trajectory(G, D, batches, lr)
    first, second = steps
    assert abs(first["loss"] - reference["losses"][0]) < 1e-5, (
        f"returned loss {first['loss']:.5f}, expected {reference['losses'][0]:.5f}: L_D = mean over the real "
        "batch of -log sigmoid(D(x)) + mean over the generated batch of -log(1 - sigmoid(D(G(z)))), "
        "at the parameters before the update")
    assert not _same(first["D"], _flat(D)), "the discriminator's parameters must change in a discriminator step"
    assert _same(first["D"], reference["D"][0], atol=1e-5), \
        "D's parameters after the call differ from one optimizer step on L_D (real labelled 1, generated 0)"
    assert _same(seen["G"], _flat(G), atol=0), "the generator's parameters must not change in a discriminator step"
    assert not any(seen["G_has_grad"]), \
        "a gradient reached the generator's parameters (their .grad must stay None in a discriminator step)"
    assert abs(second["loss"] - reference["losses"][1]) < 1e-5, \
        f"second call: returned loss {second['loss']:.5f}, expected {reference['losses'][1]:.5f} " \
        "(L_D before the update)"
    if not _same(second["D"], reference["D"][1], atol=1e-5):
        accumulated = _same(second["D"], reference["accumulated"], atol=1e-5)
        raise AssertionError(
            "second call: D's update is the step of the sum of both calls' gradients (gradients accumulated "
            "from one call to the next)" if accumulated else
            "second call: D's parameters differ from one optimizer step on that call's loss")


# ---------------------------------------------------------------------------- 5. generator step
@check("test_generator_step")
def generator_step(student):
    g = torch.Generator().manual_seed(51)
    G, D = toy_pair(g)
    batches = [torch.randn(5, 2, generator=g), torch.randn(3, 2, generator=g) * 2]
    lr = 0.5
    seen = student.run(run_steps, "generator_step", G.state_dict(), D.state_dict(), batches, lr,
                       helpers=(toy_pair,))
    steps = seen["steps"]
    assert all(step["is_float"] for step in steps), f"return the loss as a Python float (got {steps[0]['type']})"
    reference = reference_generator_trajectory(G, D, batches, lr)
    first, second = steps
    assert abs(first["loss"] - reference["losses"][0]) < 1e-5, (
        f"returned loss {first['loss']:.5f}, expected {reference['losses'][0]:.5f}: the non-saturating loss is the "
        "mean of -log sigmoid(D(G(z))), at the parameters before the update")
    assert not _same(first["G"], _flat(G)), "the generator's parameters must change in a generator step"
    assert _same(first["G"], reference["G"][0], atol=1e-5), \
        "G's parameters after the call differ from one optimizer step on the non-saturating loss"
    assert _same(seen["D"], _flat(D), atol=0), "the discriminator's parameters must not change in a generator step"
    assert all(seen["D_trainable"]), \
        "after a generator step every parameter of D must still have requires_grad=True (D stays trainable)"
    assert abs(second["loss"] - reference["losses"][1]) < 1e-5, \
        f"second call: returned loss {second['loss']:.5f}, expected {reference['losses'][1]:.5f} (before the update)"
    if not _same(second["G"], reference["G"][1], atol=1e-5):
        accumulated = _same(second["G"], reference["accumulated"], atol=1e-5)
        raise AssertionError(
            "second call: G's update is the step of the sum of both calls' gradients (gradients accumulated "
            "from one call to the next)" if accumulated else
            "second call: G's parameters differ from one optimizer step on that call's loss")
    mean = toy_training_mean(student, TOY_SEED)
    assert mean > 1.5, (f"1-D toy GAN (data N(3, 0.5), G(z) = a z + b from b = 0, 300 iterations): the generator's "
                        f"mean b reached {mean:.2f}, expected more than 1.5 (moving towards the data at 3)")


def toy_training_mean(student, seed: int) -> float:
    """The generator's mean b after 300 iterations of the 1-D toy GAN, with the student's generator
    step and the reference discriminator step, on data drawn here from ``seed``."""
    draws = torch.Generator().manual_seed(seed)
    D = nn.Sequential(nn.Linear(1, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Flatten(0))
    _reinitialise(D, draws)
    reals = 3 + 0.5 * torch.randn(300, 64, 1, generator=draws)
    z_d, z_g = torch.randn(300, 64, 1, generator=draws), torch.randn(300, 64, 1, generator=draws)
    return float(student.run(train_toy_gan, D.state_dict(), reals, z_d, z_g, helpers=(reference_d_step,)))


# ---------------------------------------------------------------------------- experiments (run in the kernel)
def layer_table(net):
    """Every module of ``net`` (as nn.Module.modules() lists them) described as data: its torch.nn
    class (the first one in its class hierarchy), its settings and its weights."""
    rows = []
    for part in list(net.modules()):
        base = next((c for c in type(part).__mro__ if c.__module__.startswith("torch.nn.modules")), type(part))
        row = {"kind": base.__name__, "class": type(part).__name__,
               "has_weight": isinstance(getattr(part, "weight", None), torch.Tensor)}
        for name in ("stride", "negative_slope", "out_features"):
            value = getattr(part, name, None)
            if isinstance(value, (int, float, tuple)):
                row[name] = tuple(value) if isinstance(value, tuple) else ((value,) if name == "stride" else value)
        if base.__name__ in ("Conv2d", "ConvTranspose2d", "BatchNorm2d") and row["has_weight"]:
            row["weight"] = part.weight.detach().clone()
            bias = getattr(part, "bias", None)
            row["bias"] = bias.detach().clone() if isinstance(bias, torch.Tensor) else None
        rows.append(row)
    return rows


def probe_network(notebook, builder, args, example, loud_example, gain):
    """Build notebook.<builder>(*args); describe its layers; record which leaf modules run, in order,
    on ``example`` and the output; then multiply every parameter by ``gain`` and run ``loud_example``."""
    net = getattr(notebook, builder)(*args)
    table = layer_table(net)
    modules = list(net.modules())
    position = {id(m): i for i, m in enumerate(modules)}
    calls, hooks = [], []
    for part in modules:
        if not list(part.children()):
            hooks.append(part.register_forward_hook(lambda m, i, o: calls.append(position[id(m)])))
    try:
        out = net(example)
    finally:
        for hook in hooks:
            hook.remove()
    loud = None
    if loud_example is not None:
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(gain)
            loud = net(loud_example)
    return {"layers": table, "calls": calls, "out": out.detach() if isinstance(out, torch.Tensor) else out,
            "loud": loud}


def toy_pair(generator=None):
    """Small G: R^2 -> R^3 and D: R^3 -> logits, for watching one training step."""
    G = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    D = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0))
    if generator is not None:
        with torch.no_grad():
            for p in [*G.parameters(), *D.parameters()]:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.7)
    return G, D


def run_steps(notebook, name, g_state, d_state, batches, lr):
    """Call notebook.<name> (discriminator_step or generator_step) once per batch on the toy pair
    with the given states and an SGD optimizer over the stepped network; record everything."""
    G, D = toy_pair()
    G.load_state_dict(g_state)
    D.load_state_dict(d_state)
    stepped = D if name == "discriminator_step" else G
    optimizer = torch.optim.SGD(stepped.parameters(), lr=lr)
    steps = []
    for batch in batches:
        if name == "discriminator_step":
            loss = notebook.discriminator_step(D, G, batch[0], batch[1], optimizer)
        else:
            loss = notebook.generator_step(D, G, batch, optimizer)
        value = float("nan")
        if isinstance(loss, torch.Tensor) and loss.numel() == 1:
            value = float(loss.detach())
        elif isinstance(loss, (int, float)):
            value = float(loss)
        steps.append({"is_float": isinstance(loss, float), "type": type(loss).__name__, "loss": value,
                      "D": torch.cat([p.detach().flatten() for p in D.parameters()]).clone(),
                      "G": torch.cat([p.detach().flatten() for p in G.parameters()]).clone()})
    return {"steps": steps, "G": torch.cat([p.detach().flatten() for p in G.parameters()]),
            "D": torch.cat([p.detach().flatten() for p in D.parameters()]),
            "G_has_grad": [p.grad is not None for p in G.parameters()],
            "D_trainable": [bool(p.requires_grad) for p in D.parameters()]}


def reference_d_step(D, G, real, z, opt):
    """A correct discriminator step (the 1-D toy trains D with it, so only generator_step is graded)."""
    with torch.no_grad():
        generated = G(z)
    objective = F.softplus(-D(real)).mean() + F.softplus(D(generated)).mean()
    opt.zero_grad()
    objective.backward()
    opt.step()


def train_toy_gan(notebook, d_state, reals, z_d, z_g):
    """300 iterations of a 1-D GAN: data ~ N(3, 0.5), G(z) = a z + b from a = 1, b = 0; D is trained by
    the reference step, G by notebook.generator_step. Returns b."""
    G1 = nn.Linear(1, 1)
    with torch.no_grad():
        G1.weight.fill_(1.0)
        G1.bias.fill_(0.0)
    D1 = nn.Sequential(nn.Linear(1, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Flatten(0))
    D1.load_state_dict(d_state)
    opt_d = torch.optim.Adam(D1.parameters(), lr=1e-2, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G1.parameters(), lr=1e-2, betas=(0.5, 0.999))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)            # tiny tensors: extra threads only cost time on a busy machine
    try:
        for i in range(len(reals)):
            reference_d_step(D1, G1, reals[i], z_d[i], opt_d)
            notebook.generator_step(D1, G1, z_g[i], opt_g)
    finally:
        torch.set_num_threads(threads)
    return float(G1.bias.detach())


# ---------------------------------------------------------------------------- reference (this process)
def reference_transposed_size(n: int, k: int, s: int, p: int, extra: int, d: int) -> int:
    """What PyTorch itself gives: run the layer on an empty image."""
    layer = nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=extra, dilation=d)
    with torch.no_grad():
        return int(layer(torch.zeros(1, 1, n, n)).shape[-1])


def _copy_pair(G, D):
    G2, D2 = toy_pair()
    G2.load_state_dict(G.state_dict())
    D2.load_state_dict(D.state_dict())
    return G2, D2


def _flat(module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()]).clone()


def _same(a, b, atol: float = 1e-7) -> bool:
    return close(a, b, atol=atol, rtol=0 if atol == 0 else 1e-5)


def _sgd_trajectory(module, losses_of, batches, lr):
    """Parameters after each plain SGD step on losses_of(batch), the losses before each step, and
    where the second step would land if the first step's gradient were still in it."""
    params = list(module.parameters())
    losses, after, previous = [], [], None
    accumulated = None
    for batch in batches:
        value = losses_of(batch)
        grads = torch.autograd.grad(value, params)
        losses.append(float(value.detach()))
        if previous is not None:
            with torch.no_grad():
                start = [p.clone() for p in params]
                accumulated = torch.cat([(s - lr * (g + h)).flatten() for s, g, h in zip(start, grads, previous)])
        with torch.no_grad():
            for p, grad in zip(params, grads):
                p -= lr * grad
        after.append(_flat(module))
        previous = grads
    return {"losses": losses, "after": after, "accumulated": accumulated}


def reference_discriminator_trajectory(G, D, batches, lr) -> dict:
    G2, D2 = _copy_pair(G, D)

    def loss_of(batch):
        real, z = batch
        with torch.no_grad():
            generated = G2(z)
        return F.softplus(-D2(real)).mean() + F.softplus(D2(generated)).mean()

    run = _sgd_trajectory(D2, loss_of, batches, lr)
    return {"losses": run["losses"], "D": run["after"], "accumulated": run["accumulated"]}


def reference_generator_trajectory(G, D, batches, lr) -> dict:
    G2, D2 = _copy_pair(G, D)
    run = _sgd_trajectory(G2, lambda z: F.softplus(-D2(G2(z))).mean(), batches, lr)
    return {"losses": run["losses"], "G": run["after"], "accumulated": run["accumulated"]}


def _reinitialise(module, generator) -> None:
    """PyTorch's default initialisation, drawn from ``generator`` (so the check is reproducible)."""
    with torch.no_grad():
        for piece in module.modules():
            if isinstance(piece, nn.Linear):
                bound = 1 / math.sqrt(piece.in_features)
                piece.weight.copy_((torch.rand(piece.weight.shape, generator=generator) * 2 - 1) * bound)
                piece.bias.copy_((torch.rand(piece.bias.shape, generator=generator) * 2 - 1) * bound)


# ============================================================================ 6. gradient penalty
#: Seed of the grader's data for test_gradient_penalty (a module global: tests/test_stats_gan.py varies it).
GP_SEED = 61
#: Quadratic-critic experiment: one batch of this size for the mean, REPEATS batches of SPREAD_BATCH
#: for the spread.
GP_BATCH, GP_REPEATS, GP_SPREAD_BATCH = 4096, 200, 64
#: The ratio of the sample variance of GP_REPEATS normal values to their variance lies in this band
#: with probability 1 - 2e-9: the 1e-9 and 1 - 1e-9 quantiles of chi-square(GP_REPEATS - 1) / (GP_REPEATS - 1)
#: (written out because importing scipy.stats costs seconds; tests/test_stats_gan.py recomputes them).
VARIANCE_BAND = (0.5104718273599903, 1.7228330321438805)


@check("test_gradient_penalty")
def gradient_penalty(student):
    draws = torch.Generator().manual_seed(GP_SEED)
    # -- linear critics: the gradient is w everywhere, the penalty (||w|| - 1)^2 whatever epsilon
    cases = [((8, 6), torch.float32, 1.3), ((8, 6), torch.float64, 0.5), ((5, 1, 4, 4), torch.float64, 0.7),
             ((3, 2, 3, 5), torch.float32, 2.0), ((4, 1, 4, 4), torch.float32, 0.4)]
    for shape, dtype, norm in cases:
        w = torch.randn(shape[1:], generator=draws, dtype=torch.float64)
        w = w * norm / w.norm()
        real = torch.randn(shape, generator=draws, dtype=torch.float64)
        fake = torch.randn(shape, generator=draws, dtype=torch.float64)
        flat = len(shape) > 2 and shape[2] == 4          # alternate the critic's output shape: (N,) or (N, 1)
        seen = student.run(linear_penalty, w.to(dtype), 0.3, real.to(dtype), fake.to(dtype), flat,
                           helpers=(LinearCritic,))
        where = f"linear critic with ||w|| = {norm}, inputs {shape} {str(dtype).replace('torch.', '')}"
        value = seen["value"]
        zero_dimensional = isinstance(value, torch.Tensor) and value.dim() == 0
        assert zero_dimensional, f"{where}: return a 0-dimensional tensor (got {_shape(value)})"
        assert value.dtype == dtype, f"{where}: the penalty must have the inputs' dtype {dtype}, got {value.dtype}"
        tolerance = dict(atol=1e-9, rtol=1e-9) if dtype == torch.float64 else dict(atol=1e-6, rtol=1e-4)
        expected = (norm - 1) ** 2
        assert close(value, expected, **tolerance), (
            f"{where}: the penalty is {float(value):.6g}, expected (||w|| - 1)^2 = {expected:.6g} (the norm of each "
            "sample's gradient over all its non-batch dimensions, minus 1, squared, averaged over the batch)")
        assert not seen["grad_touched"], \
            f"{where}: calling gradient_penalty changed the critic's parameters or filled their .grad " \
            "(compute the gradient with torch.autograd.grad)"
        assert seen["differentiable"], \
            f"{where}: the penalty is not differentiable with respect to the critic's parameters (create_graph=True)"
        expected_grad = 2 * (norm - 1) * w / norm
        assert close(seen["grad_w"], expected_grad, **tolerance), \
            f"{where}: the gradient of the penalty with respect to w differs from 2 (||w|| - 1) w / ||w||"
        assert close(seen["grad_b"], 0.0, atol=1e-6), \
            f"{where}: the gradient of the penalty with respect to the critic's bias must be 0"
    # -- quadratic critic D(x) = ||x||^2 / 2 on collinear real and fake samples: mean and spread over epsilon
    real_norms, fake_norms, direction = _collinear_case(draws, GP_BATCH, (1, 4, 4))
    seeds = torch.randint(0, 2 ** 31 - 1, (GP_REPEATS + 2,), generator=draws).tolist()
    # for the spread: samples whose penalties all grow with epsilon (a in [2, 3], b in [0, 0.5]), so that
    # one epsilon shared by the batch would add up instead of averaging out
    spread_real = 2 + torch.rand(GP_SPREAD_BATCH, generator=draws, dtype=torch.float64)
    spread_fake = 0.5 * torch.rand(GP_SPREAD_BATCH, generator=draws, dtype=torch.float64)
    seen = student.run(quadratic_penalties, real_norms, fake_norms, direction, spread_real, spread_fake, seeds,
                       helpers=(QuadraticCritic,))
    mean, variance = penalty_moments(real_norms, fake_norms)
    value = float(seen["big"])
    sd = math.sqrt(float(variance.sum())) / GP_BATCH
    assert abs(value - float(mean.mean())) <= SIGMAS * sd, (
        f"critic ||x||^2 / 2, {GP_BATCH} samples of shape (1, 4, 4) with real and fake on one line through 0: "
        f"penalty {value:.4f}, expected {float(mean.mean()):.4f} ± {SIGMAS * sd:.4f} ({SIGMAS:g} standard deviations) "
        "for one epsilon per sample, uniform on [0, 1], shared by all its pixels")
    assert seen["same_seed_same_value"], \
        "two calls with torch.Generator().manual_seed(s) gave different penalties: draw epsilon from `generator`"
    values = torch.tensor(seen["repeats"], dtype=torch.float64)
    spread_mean, spread_var = penalty_moments(spread_real, spread_fake)
    expected_var = float(spread_var.sum()) / GP_SPREAD_BATCH ** 2
    low, high = VARIANCE_BAND
    ratio = float(values.var()) / expected_var
    assert low <= ratio <= high, (
        f"critic ||x||^2 / 2, {GP_REPEATS} calls on one batch of {GP_SPREAD_BATCH} (each with its own generator): the variance of "
        f"the penalty is {ratio:.2f} times that of independent per-sample epsilons (a correct answer gives a ratio "
        f"within [{low:.2f}, {high:.2f}]): draw one epsilon per sample, independently")
    repeat_sd = math.sqrt(expected_var / GP_REPEATS)
    assert abs(float(values.mean()) - float(spread_mean.mean())) <= SIGMAS * repeat_sd, (
        f"{GP_REPEATS} calls on a batch of {GP_SPREAD_BATCH}: mean penalty {float(values.mean()):.4f}, expected "
        f"{float(spread_mean.mean()):.4f} ± {SIGMAS * repeat_sd:.4f}")


def _collinear_case(draws, batch: int, shape: tuple):
    """Norms a_i of real samples, b_i of fake ones (both along one unit direction u of ``shape``)."""
    real_norms = torch.rand(batch, generator=draws, dtype=torch.float64) * 3
    fake_norms = torch.rand(batch, generator=draws, dtype=torch.float64) * 3
    direction = torch.rand(shape, generator=draws, dtype=torch.float64) + 0.5
    return real_norms, fake_norms, direction / direction.norm()


def penalty_moments(real_norms, fake_norms):
    """Mean and variance over epsilon ~ U[0, 1] of each sample's (||x_hat|| - 1)^2 when real = a u,
    fake = b u (||u|| = 1) and the critic is ||x||^2 / 2 (gradient x_hat, norm b + epsilon (a - b)):
    with c = b - 1 and d = a - b, E (c + e d)^2 = c^2 + c d + d^2 / 3 and
    E (c + e d)^4 = c^4 + 2 c^3 d + 2 c^2 d^2 + c d^3 + d^4 / 5. (Swapping the roles of real and fake
    draws 1 - epsilon, which has the same distribution.)"""
    c, d = fake_norms - 1, real_norms - fake_norms
    second = c ** 2 + c * d + d ** 2 / 3
    fourth = c ** 4 + 2 * c ** 3 * d + 2 * c ** 2 * d ** 2 + c * d ** 3 + d ** 4 / 5
    return second, fourth - second ** 2


class LinearCritic(nn.Module):
    """D(x) = <w, x> + b over all non-batch dimensions; scores of shape (N,) or (N, 1)."""

    def __init__(self, w, b, flat):
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = nn.Parameter(torch.tensor(float(b), dtype=w.dtype))
        self.flat = flat

    def forward(self, x):
        scores = (x * self.w).flatten(1).sum(1) + self.b
        return scores if self.flat else scores[:, None]


class QuadraticCritic(nn.Module):
    """D(x) = ||x||^2 / 2 per sample (gradient x); a parameter fixed at 1 so that it is a real module."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones((), dtype=torch.float64))

    def forward(self, x):
        return 0.5 * self.scale * x.flatten(1).pow(2).sum(1)


def linear_penalty(notebook, w, b, real, fake, flat):
    """The penalty of a linear critic, whether calling it touched the critic, and its gradients."""
    critic = LinearCritic(w, b, flat)
    before = [p.detach().clone() for p in critic.parameters()]
    value = notebook.gradient_penalty(critic, real, fake)
    touched = any(p.grad is not None for p in critic.parameters()) or \
        any(not torch.equal(p.detach(), q) for p, q in zip(critic.parameters(), before))
    out = {"value": value.detach() if isinstance(value, torch.Tensor) else value, "grad_touched": touched,
           "differentiable": isinstance(value, torch.Tensor) and value.requires_grad, "grad_w": None, "grad_b": None}
    if out["differentiable"] and value.numel() == 1:
        for p in critic.parameters():
            p.grad = None
        grads = torch.autograd.grad(value.sum(), [critic.w, critic.b], allow_unused=True)
        out["grad_w"], out["grad_b"] = [g.detach() if g is not None else torch.zeros(()) for g in grads]
        out["differentiable"] = grads[0] is not None
    return out


def quadratic_penalties(notebook, real_norms, fake_norms, direction, spread_real, spread_fake, seeds):
    """Penalties of the critic ||x||^2 / 2: one call on the big batch (no generator), then two calls
    with generators seeded alike and one call per further seed on the spread batch."""
    def value(penalty):
        return float(penalty.detach()) if isinstance(penalty, torch.Tensor) else float(penalty)

    critic = QuadraticCritic()
    real = real_norms.view(-1, 1, 1, 1) * direction
    fake = fake_norms.view(-1, 1, 1, 1) * direction
    big = value(notebook.gradient_penalty(critic, real, fake))
    real = spread_real.view(-1, 1, 1, 1) * direction
    fake = spread_fake.view(-1, 1, 1, 1) * direction
    twice = [value(notebook.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(seeds[0])))
             for _repeat in (0, 1)]
    repeats = [value(notebook.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(seed)))
               for seed in seeds[2:]]
    return {"big": big, "same_seed_same_value": twice[0] == twice[1], "repeats": repeats}


# ============================================================================ 7. Frechet distance
#: Seed of the grader's covariances for test_frechet_distance.
FD_SEED = 71
#: Allowed error, relative to 1 + Tr S1 + Tr S2 + ||mu1 - mu2||^2 (the notebook states it).
FD_TOLERANCE = 1e-3


@check("test_frechet_distance")
def frechet_distance(student):
    rng = np.random.default_rng(FD_SEED)
    seen = student.run(frechet_type, np.zeros(2), np.eye(2), np.ones(2), 2 * np.eye(2))
    assert seen["is_float"], f"return the distance as a Python float (got {seen['type']})"
    mu = np.array([1.0, 2.0])
    _fd_case(student, "a Gaussian and itself", mu, np.eye(2), mu, np.eye(2), 0.0)
    a, b = np.array([4.0, 1.0, 0.25]), np.array([1.0, 9.0, 0.25])
    m1, m2 = np.array([0.0, 1.0, -1.0]), np.array([3.0, 1.0, 1.0])
    _fd_case(student, "diagonal covariances diag(4, 1, 0.25) and diag(1, 9, 0.25)", m1, np.diag(a), m2, np.diag(b),
             float(((m1 - m2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()))
    _fd_case(student, "d = 1", np.array([0.5]), np.array([[4.0]]), np.array([-0.5]), np.array([[0.25]]), 1 + 1.5 ** 2)
    rotation = np.array([[0.6, -0.8], [0.8, 0.6]])
    s1 = np.diag([4.0, 0.25])
    s2 = rotation @ s1 @ rotation.T
    _fd_case(student, "2 x 2 covariances that do not commute", mu, s1, mu + 1, s2, None)
    cases = [("full-rank 8 x 8 covariances", 8, 200, 300), ("full-rank 64 x 64 covariances", 64, 500, 400),
             ("a singular 16 x 16 covariance (6 samples) and a full-rank one", 16, 6, 100),
             ("two singular 32 x 32 covariances (10 and 5 samples)", 32, 10, 5),
             ("two singular 3 x 3 covariances of rank 1 (2 samples each)", 3, 2, 2)]
    for where, d, n1, n2 in cases:
        mix = rng.standard_normal((d, d)) / np.sqrt(d)
        s1 = np.cov(rng.standard_normal((n1, d)) @ mix, rowvar=False).reshape(d, d)
        s2 = np.cov(rng.standard_normal((n2, d)) @ rng.standard_normal((d, d)) / np.sqrt(d), rowvar=False).reshape(d, d)
        m1, m2 = rng.standard_normal(d) * 0.3, rng.standard_normal(d) * 0.3
        _fd_case(student, where, m1, s1, m2, s2, None)
        if d == 16:
            forward = _fd_value(student, m1, s1, m2, s2)
            backward = _fd_value(student, m2, s2, m1, s1)
            assert abs(forward - backward) <= FD_TOLERANCE * _fd_scale(m1, s1, m2, s2), \
                f"{where}: d2(1, 2) = {forward:.6g} but d2(2, 1) = {backward:.6g}: the distance is symmetric"
            _fd_case(student, where + ", against itself", m1, s1, m1, s1, 0.0)


def _fd_value(student, m1, s1, m2, s2) -> float:
    got = student.frechet_distance(m1, s1, m2, s2)
    assert isinstance(got, (int, float, np.ndarray, torch.Tensor)) and np.size(as_array(got)) == 1, \
        f"return the distance as one real number, a Python float (got {_kernel_type(got)})"
    value = float(as_array(got).astype(np.float64).reshape(()))
    return value


def _kernel_type(value) -> str:
    """The type name of a value as the notebook had it (objects that are not data stay there)."""
    return (getattr(value, "type_name", "") or "an object") if isinstance(value, Remote) else type(value).__name__


def _fd_scale(m1, s1, m2, s2) -> float:
    return float(1 + np.trace(s1) + np.trace(s2) + ((m1 - m2) ** 2).sum())


def _fd_case(student, where, m1, s1, m2, s2, expected):
    expected = reference_frechet(m1, s1, m2, s2) if expected is None else expected
    value = _fd_value(student, m1, s1, m2, s2)
    allowed = FD_TOLERANCE * _fd_scale(m1, s1, m2, s2)
    assert np.isfinite(value), f"{where}: the distance is {value} (it must be a finite real number)"
    assert abs(value - expected) <= allowed, \
        f"{where}: got {value:.6g}, expected {expected:.6g} (± {allowed:.2g})"


def frechet_type(notebook, m1, s1, m2, s2):
    out = notebook.frechet_distance(m1, s1, m2, s2)
    return {"is_float": isinstance(out, float), "type": type(out).__name__}


def reference_frechet(m1, s1, m2, s2) -> float:
    """||m1 - m2||^2 + Tr S1 + Tr S2 - 2 Tr (S1 S2)^(1/2), in float64. Tr (S1 S2)^(1/2) is the sum of the
    singular values of S1^(1/2) S2^(1/2) (both roots from symmetric eigen-decompositions, eigenvalues
    that rounding made negative counted as 0): singular values are never negative or complex."""
    def psd_root(s):
        values, vectors = np.linalg.eigh(s)
        return vectors @ np.diag(np.sqrt(np.maximum(values, 0.0))) @ vectors.T

    trace_root = np.linalg.svd(psd_root(s1) @ psd_root(s2), compute_uv=False).sum()
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_root)


# ============================================================================ 8. bootstrap interval
#: Seed of the grader's data sets (and of its reference resamples) for test_bootstrap_ci.
BOOT_SEED = 81
#: Reference resamples per data set: the grader's estimate of the exact bootstrap distribution F*.
BOOT_REFERENCE = 20_000


def _boot_cases(rng):
    """(statistic name, values, n_boot, alpha, rng seed or None) for every data set of the check."""
    cases = []
    for k in range(24):                                   # means of normal samples
        cases.append(("mean", rng.normal(5.0, 2.0, size=30), 2000 if k < 4 else 1000, 0.05,
                      int(rng.integers(2 ** 31)) if k % 2 else None))
    for k in range(10):                                   # standard deviations of skewed (log-normal) samples
        cases.append(("spread", rng.lognormal(0.0, 0.8, size=25), 1000, 0.1, int(rng.integers(2 ** 31)) if k % 2 else None))
    for k in range(6):                                    # medians of two-cluster samples (mean far from median)
        values = np.concatenate([rng.normal(0.0, 1.0, size=28), rng.normal(50.0, 1.0, size=13)])
        cases.append(("median", rng.permutation(values), 1000, 0.05, int(rng.integers(2 ** 31)) if k % 2 else None))
    return cases


@check("test_bootstrap_ci")
def bootstrap_ci(student):
    rng = np.random.default_rng(BOOT_SEED)
    cases = _boot_cases(rng)
    seen = student.run(run_bootstraps, [[name, values, n_boot, alpha, seed] for name, values, n_boot, alpha, seed in cases],
                       rng.normal(0.0, 1.0, size=20))
    for i, out in enumerate(seen["intervals"]):
        assert out["pair"], f"return a tuple (low, high) of two Python floats (got {out['type']})"
    assert seen["same_seed_same_interval"], \
        "two calls with np.random.default_rng(123) returned different intervals: draw every resample from `rng`"
    levels = {"mean": [], "spread": [], "median": []}
    outside = []            # endpoints beyond 6 standard deviations (80 endpoints are judged)
    for (name, values, n_boot, alpha, seed), out in zip(cases, seen["intervals"]):
        low, high = out["low"], out["high"]
        where = (f"statistic {_STATISTIC_WORDS[name]}, n = {len(values)}, n_boot = {n_boot}, alpha = {alpha}, "
                 f"rng {'given' if seed is not None else 'None'}")
        assert low <= high, f"{where}: low = {low:.4g} > high = {high:.4g}"
        reference = np.sort(reference_bootstrap(name, values, BOOT_REFERENCE, rng))
        for end, value, p in (("low", low, alpha / 2), ("high", high, 1 - alpha / 2)):
            below = np.searchsorted(reference, value, side="left") / len(reference)
            at_or_below = np.searchsorted(reference, value, side="right") / len(reference)
            sd = math.sqrt(p * (1 - p) * (1 / n_boot + 1 / BOOT_REFERENCE))
            message = (f"{where}: {end} = {value:.4g} lies at level {0.5 * (below + at_or_below):.4f} of the bootstrap "
                       f"distribution of the statistic; the {p:g} quantile of {n_boot} resamples (each of size n, drawn "
                       f"with replacement) lies within {p:g} ± {SIGMAS * sd + 2 / n_boot:.4f}")
            # one endpoint of 80 may stray (rarely, a correct answer does), never beyond 10 standard deviations
            wide = 10 * sd + 2 / n_boot
            assert at_or_below >= p - wide and below <= p + wide, message
            if not (at_or_below >= p - SIGMAS * sd - 2 / n_boot and below <= p + SIGMAS * sd + 2 / n_boot):
                outside.append(message)
            assert len(outside) <= 1, outside[-1] + f" (and so does an earlier endpoint: {outside[0]})"
            levels[name].append((p, 0.5 * (below + at_or_below), n_boot))
    # the mean's data sets together: the average level is within a much narrower band
    for p in sorted({p for p, _, _ in levels["mean"]}):
        rows = [(level, n_boot) for q, level, n_boot in levels["mean"] if q == p]
        got = float(np.mean([level for level, _ in rows]))
        sd = math.sqrt(sum(p * (1 - p) * (1 / n_boot + 1 / BOOT_REFERENCE) for _, n_boot in rows)) / len(rows)
        band = SIGMAS * sd + 2 / min(n_boot for _, n_boot in rows)
        assert abs(got - p) <= band, (
            f"the mean of normal samples, {len(rows)} data sets: your endpoints lie on average at level {got:.4f} "
            f"of the bootstrap distribution, expected {p:g} ± {band:.4f}")


_STATISTIC_WORDS = {"mean": "np.mean (the default)", "spread": "a Python function (standard deviation)",
                    "median": "np.median"}


def reference_bootstrap(name: str, values, count: int, rng) -> "np.ndarray":
    """``count`` bootstrap values of the statistic ``name`` on ``values`` (resamples of size n,
    with replacement), vectorised."""
    n = len(values)
    samples = values[rng.integers(0, n, size=(count, n))]
    if name == "mean":
        return samples.mean(axis=1)
    if name == "median":
        return np.median(samples, axis=1)
    return samples.std(axis=1)


def run_bootstraps(notebook, cases, extra):
    """notebook.bootstrap_ci on each data set (rng from the given seed, or None), and the same
    seed twice on ``extra``."""
    import numpy as np

    def spread(sample):
        total = 0.0
        mean = sum(sample) / len(sample)
        for value in sample:
            total += (value - mean) ** 2
        return (total / len(sample)) ** 0.5

    intervals = []
    for name, values, n_boot, alpha, seed in cases:
        options = {"n_boot": n_boot, "alpha": alpha}
        if name != "mean":
            options["statistic"] = np.median if name == "median" else spread
        if seed is not None:
            options["rng"] = np.random.default_rng(seed)
        out = notebook.bootstrap_ci(values, **options)
        pair = isinstance(out, tuple) and len(out) == 2 and all(isinstance(v, float) for v in out)
        intervals.append({"pair": pair, "type": type(out).__name__ if not isinstance(out, tuple) else
                          "tuple of " + ", ".join(type(v).__name__ for v in out),
                          "low": float(out[0]) if pair else float("nan"), "high": float(out[1]) if pair else float("nan")})
    again = [notebook.bootstrap_ci(extra, n_boot=200, rng=np.random.default_rng(123)) for _ in range(2)]
    try:
        same = [float(v) for v in again[0]] == [float(v) for v in again[1]]
    except (TypeError, ValueError):
        same = False
    return {"intervals": intervals, "same_seed_same_interval": same}
