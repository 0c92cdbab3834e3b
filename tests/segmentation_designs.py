"""Student designs for part 5 of the segmentation exercise, to calibrate its held-out Dice tiers.

Each design is what a student could hand in for ``build_model`` and ``train_model`` after reading the
notebook and chapter 6: the starting network and a few changes to it, up to U-Nets. They are graded
exactly as a submission is (solutions/segmentation/checks.py: one thread, seeded, CPU time measured,
held-out patients scored by the grader), in this process.

    python -m tests.segmentation_designs [--seeds 0 1] [--only NAME ...] [--out results.json]

prints one line per design and seed (held-out Dice, CPU seconds) and, at the end, the table for
solutions/segmentation/NOTES.md. Not collected by pytest (it trains ~10 networks for a minute each).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

from autograder.bridge import LocalLink
from autograder.checks import Student

# ----------------------------------------------------------------------------- building blocks
_STARTING = '''
def build_model():
    return starting_network()
'''

_LOOP = '''
def train_model(model, images, masks):
    epochs, batch = EPOCHS, 16
    steps = epochs * math.ceil(len(images) / batch)
    optimizer = OPTIMIZER
    schedule = SCHEDULE
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images))
        for start in range(0, len(images), batch):
            x, y = images[order[start:start + batch]], masks[order[start:start + batch]]
            AUGMENT
            logits = model(x)
            loss = LOSS
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return model
'''
_LOOP_DEFAULTS = {
    "OPTIMIZER": "torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)",
    "SCHEDULE": "torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)",
    "AUGMENT": "x, y = paired_augment(x, y)",
    "LOSS": "F.binary_cross_entropy_with_logits(logits, y) + dice_loss(logits, y)",
}


def loop(epochs: int, **changes: str) -> str:
    """The chapter's training loop (AdamW, one-cycle schedule, paired augmentation, cross-entropy +
    Dice loss) with ``epochs`` and any of its parts replaced."""
    code = _LOOP.replace("EPOCHS", str(epochs))
    for key, value in {**_LOOP_DEFAULTS, **changes}.items():
        code = code.replace(key, value)
    return code


_STEPS_LOOP = '''
def train_model(model, images, masks):
    return starting_training(model, images, masks, steps=STEPS)
'''

_UNET = '''
def build_model():
    def block(c_in, c_out):
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                             nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())

    class UNet(nn.Module):
        def __init__(self, width=WIDTH, depth=3):
            super().__init__()
            sizes = [width * 2 ** i for i in range(depth + 1)]
            self.down = nn.ModuleList([block(1, sizes[0])] + [block(a, b) for a, b in zip(sizes, sizes[1:])])
            self.up = nn.ModuleList([nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in zip(sizes, sizes[1:])])
            self.merge = nn.ModuleList([block(2 * a, a) for a in sizes[:-1]])
            self.head = nn.Conv2d(width, 1, 1)

        def forward(self, x):
            skips = []
            for i, down in enumerate(self.down):
                x = down(x if i == 0 else F.max_pool2d(x, 2))
                skips.append(x)
            x = skips.pop()
            for up, merge in zip(reversed(self.up), reversed(self.merge)):
                x = merge(torch.cat([up(x), skips.pop()], dim=1))
            return self.head(x)

    return UNet()
'''

_WIDE_START = '''
def build_model():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1),
    )
'''

_SKIP_START = '''
def build_model():
    class Skips(nn.Module):
        """The starting network with batch norm, a 3x3 convolution at full resolution and skips."""
        def __init__(self):
            super().__init__()
            self.full = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
            self.mid = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU())
            self.quarter = nn.Sequential(nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                                         nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU())
            self.up1 = nn.Sequential(nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU())
            self.up2 = nn.Sequential(nn.ConvTranspose2d(64, 16, 4, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
            self.head = nn.Conv2d(32, 1, 3, padding=1)

        def forward(self, x):
            a = self.full(x)
            b = self.mid(a)
            c = self.up1(self.quarter(b))
            d = self.up2(torch.cat([c, b], 1))
            return self.head(torch.cat([d, a], 1))

    return Skips()
'''

_STRIDED_UNET = '''
def build_model():
    def unit(c_in, c_out, stride=1):
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                             nn.BatchNorm2d(c_out), nn.ReLU())

    class Strided(nn.Module):
        """MONAI-style: strided convolutions down, little work at full resolution."""
        def __init__(self):
            super().__init__()
            self.d1, self.d2 = unit(1, 16, 2), nn.Sequential(unit(16, 32, 2), unit(32, 32))
            self.d3 = nn.Sequential(unit(32, 64, 2), unit(64, 64))
            self.u3 = nn.Sequential(nn.ConvTranspose2d(64, 32, 2, stride=2), nn.BatchNorm2d(32), nn.ReLU())
            self.m3 = unit(64, 32)
            self.u2 = nn.Sequential(nn.ConvTranspose2d(32, 16, 2, stride=2), nn.BatchNorm2d(16), nn.ReLU())
            self.m2 = unit(32, 16)
            self.u1 = nn.ConvTranspose2d(16, 16, 2, stride=2)
            self.head = nn.Sequential(unit(17, 16), nn.Conv2d(16, 1, 1))

        def forward(self, x):
            a = self.d1(x)
            b = self.d2(a)
            c = self.d3(b)
            b = self.m3(torch.cat([self.u3(c), b], 1))
            a = self.m2(torch.cat([self.u2(b), a], 1))
            return self.head(torch.cat([self.u1(a), x], 1))

    return Strided()
'''


_LITE_UNET = '''
def build_model():
    def convs(c_in, c_out, n=2):
        layers = []
        for i in range(n):
            layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU()]
        return nn.Sequential(*layers)

    class Lite(nn.Module):
        """A U-Net that spends little at full resolution: one 8-channel convolution there."""
        def __init__(self):
            super().__init__()
            self.e0, self.e1, self.e2, self.e3 = convs(1, 8, 1), convs(8, 16), convs(16, 32), convs(32, 64)
            self.u3, self.d2 = nn.ConvTranspose2d(64, 32, 2, stride=2), convs(64, 32)
            self.u2, self.d1 = nn.ConvTranspose2d(32, 16, 2, stride=2), convs(32, 16)
            self.u1, self.d0 = nn.ConvTranspose2d(16, 8, 2, stride=2), convs(16, 8, 1)
            self.head = nn.Conv2d(8, 1, 1)

        def forward(self, x):
            a = self.e0(x)
            b = self.e1(F.max_pool2d(a, 2))
            c = self.e2(F.max_pool2d(b, 2))
            d = self.e3(F.max_pool2d(c, 2))
            c = self.d2(torch.cat([self.u3(d), c], 1))
            b = self.d1(torch.cat([self.u2(c), b], 1))
            return self.head(self.d0(torch.cat([self.u1(b), a], 1)))

    return Lite()
'''

_CROP = "x, y = paired_augment(x, y)\n            top, left = torch.randint(0, 17, (2,)).tolist()\n" \
        "            x, y = x[..., top:top + 48, left:left + 48], y[..., top:top + 48, left:left + 48]"


_TTA = '''

_plain_build_model = build_model


def build_model():
    class FlipAverage(nn.Module):
        """In evaluation mode, average the logits of the image and of its mirror image."""
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            if self.training:
                return self.net(x)
            return (self.net(x) + self.net(x.flip(-1)).flip(-1)) / 2

    return FlipAverage(_plain_build_model())
'''


def unet(width: int) -> str:
    return _UNET.replace("WIDTH", str(width))


#: name -> (cells, what it changes). Epoch counts keep each design under ~80% of the CPU budget here.
DESIGNS: dict[str, tuple[dict[str, str], str]] = {
    "start": ({"build_model": _STARTING, "train_model": _STEPS_LOOP.replace("STEPS", "2000")},
              "the starting network and training as given (2000 steps)"),
    "start-long": ({"build_model": _STARTING, "train_model": _STEPS_LOOP.replace("STEPS", "8000")},
                   "the starting network, trained 4x longer (8000 steps)"),
    "start-dice": ({"build_model": _STARTING, "train_model": loop(130, AUGMENT="")},
                   "starting network, chapter loop: cross-entropy + Dice, AdamW one-cycle, no augmentation"),
    "wide-bn": ({"build_model": _WIDE_START, "train_model": loop(16, AUGMENT="")},
                "starting network 4x wider, with batch norm and one more convolution; chapter loop, no augmentation"),
    "skips": ({"build_model": _SKIP_START, "train_model": loop(20)},
              "starting network with batch norm and skip connections; chapter loop with augmentation"),
    "unet16-chapter": ({"build_model": unet(16), "train_model": loop(12)},
                       "chapter's U-Net (width 16) and training recipe, epochs cut to fit (12)"),
    "unet16-no-augment": ({"build_model": unet(16), "train_model": loop(12, AUGMENT="")},
                          "as unet16-chapter without augmentation"),
    "unet16-bce-only": ({"build_model": unet(16), "train_model": loop(12, LOSS="F.binary_cross_entropy_with_logits(logits, y)")},
                        "as unet16-chapter with cross-entropy only"),
    "unet16-constant-lr": ({"build_model": unet(16), "train_model": loop(
        12, OPTIMIZER="torch.optim.Adam(model.parameters(), lr=1e-3)", SCHEDULE="torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)")},
        "as unet16-chapter with Adam at a constant 1e-3"),
    "unet8": ({"build_model": unet(8), "train_model": loop(30)},
              "U-Net of width 8 (4x cheaper), 30 epochs"),
    "strided": ({"build_model": _STRIDED_UNET, "train_model": loop(30)},
                "MONAI-style strided U-Net, 30 epochs"),
    "lite-unet": ({"build_model": _LITE_UNET, "train_model": loop(24)},
                  "U-Net with one 8-channel convolution at full resolution, 24 epochs"),
    "unet16-crops": ({"build_model": unet(16), "train_model": loop(20, AUGMENT=_CROP)},
                     "chapter's U-Net trained on random 48x48 crops of the augmented slices, 20 epochs"),
    "unet12": ({"build_model": unet(12), "train_model": loop(20)},
               "U-Net of width 12, 20 epochs"),
    "wide-bn-augment": ({"build_model": _WIDE_START, "train_model": loop(60)},
                        "wide-bn with augmentation, 60 epochs"),
    "lite-unet-long": ({"build_model": _LITE_UNET, "train_model": loop(30)},
                       "lite-unet, 30 epochs"),
    "unet16-crops-tta": ({"build_model": unet(16) + _TTA, "train_model": loop(20, AUGMENT=_CROP)},
                         "unet16-crops, predictions averaged with the mirror image's (no training cost)"),
    "lite-unet-crops": ({"build_model": _LITE_UNET, "train_model": loop(44, AUGMENT=_CROP)},
                        "lite-unet trained on 48x48 crops, 44 epochs"),
    "unet16-crops-only": ({"build_model": unet(16), "train_model": loop(20, AUGMENT=_CROP.split("\n", 1)[1].strip())},
                          "unet16-crops without the paired augmentation (crops only), 20 epochs"),
    "lite-unet-no-augment": ({"build_model": _LITE_UNET, "train_model": loop(24, AUGMENT="")},
                             "lite-unet without augmentation, 24 epochs"),
    "unet16-no-augment-lr5e-3": ({"build_model": unet(16), "train_model": loop(
        12, AUGMENT="", OPTIMIZER="torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=1e-4)",
        SCHEDULE="torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=5e-3, total_steps=steps)")},
        "unet16-no-augment with a peak learning rate of 5e-3"),
    "unet16-no-augment-dice-only": ({"build_model": unet(16), "train_model": loop(12, AUGMENT="", LOSS="dice_loss(logits, y)")},
                                    "unet16-no-augment with the Dice loss alone"),
    "unet16-no-augment-bce-only": ({"build_model": unet(16), "train_model": loop(
        12, AUGMENT="", LOSS="F.binary_cross_entropy_with_logits(logits, y)")},
        "unet16-no-augment with cross-entropy alone"),
    "unet16-no-augment-constant-lr": ({"build_model": unet(16), "train_model": loop(
        12, AUGMENT="", OPTIMIZER="torch.optim.Adam(model.parameters(), lr=1e-3)",
        SCHEDULE="torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)")},
        "unet16-no-augment with Adam at a constant 1e-3"),
    "unet16-no-augment-tta": ({"build_model": unet(16) + _TTA, "train_model": loop(12, AUGMENT="")},
                              "unet16-no-augment, predictions averaged with the mirror image's"),
}


# ----------------------------------------------------------------------------- running
def load_checks_module(snapshot: bool = False):
    """solutions/segmentation/checks.py as a module (its checks registered in a throw-away registry).

    ``snapshot``: load a copy, so that editing the file during a long run does not garble the source
    of the experiments shipped to the notebook (read back from the file by line numbers)."""
    import shutil
    import tempfile

    import autograder.checks as registry
    from autograder.checks import checks_file

    path = checks_file("segmentation")
    if snapshot:
        copy = Path(tempfile.mkdtemp()) / "checks.py"
        shutil.copyfile(path, copy)
        path = copy
    registry._REGISTRY = {}
    try:
        spec = importlib.util.spec_from_file_location("segmentation_checks_calibration", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        registry._REGISTRY = None


def grade_design(cells: dict[str, str] | None, seed: int = 0) -> dict:
    """Held-out Dice and CPU seconds of a design, graded as a submission (None: the solution)."""
    from autograder.synthetic import notebook_namespace, solution_code

    answers = solution_code("segmentation")
    answers.update({k: v.strip() + "\n" for k, v in (cells or {}).items()})
    namespace = notebook_namespace("segmentation", answers)
    checks = load_checks_module(snapshot=True)
    checks.SEED = seed
    started = time.perf_counter()
    result = checks._train_and_score(Student(LocalLink(namespace)))
    result["wall"] = time.perf_counter() - started
    return result


def validate_design(cells: dict[str, str] | None, seed: int = 0, val_seed: int = 0) -> dict:
    """What a student sees: trained on 33 training patients, scored on 6 others (``split_by_patient``)."""
    import random

    import numpy as np
    import torch

    from autograder.synthetic import notebook_namespace, solution_code

    answers = solution_code("segmentation")
    answers.update({k: v.strip() + "\n" for k, v in (cells or {}).items()})
    ns = notebook_namespace("segmentation", answers)
    train_x, train_y, val_x, val_y = ns["split_by_patient"](ns["load_training_patients"](), 6, val_seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    start = time.process_time()
    try:
        trained = ns["train_model"](ns["build_model"](), train_x, train_y)
    finally:
        torch.set_num_threads(threads)
    return {"val_dice": ns["mean_hard_dice"](trained, val_x, val_y), "cpu": time.process_time() - start}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", nargs="+", default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--validation", action="store_true", help="score on validation patients instead")
    args = parser.parse_args(argv)
    names = args.only or ["solution", *DESIGNS]
    results = json.loads(args.out.read_text()) if args.out and args.out.is_file() else {}
    for name in names:
        for seed in args.seeds:
            key = f"{name}@{seed}" + ("/val" if args.validation else "")
            if key in results:
                continue
            cells = None if name == "solution" else DESIGNS[name][0]
            if args.validation:
                results[key] = r = validate_design(cells, seed)
                print(f"{name:<22} seed {seed}: validation dice {r['val_dice']:.3f}  cpu {r['cpu']:5.1f} s", flush=True)
            else:
                results[key] = r = grade_design(cells, seed)
                print(f"{name:<22} seed {seed}: dice {r.get('dice', float('nan')):.3f}  cpu {r.get('cpu', float('nan')):5.1f} s"
                      f"  wall {r['wall']:5.0f} s  {r.get('error') or ''}", flush=True)
            if args.out:
                args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
