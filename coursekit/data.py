"""Data sets of the course: one data directory, an optional read-only mirror, real downloads.

Where files come from, in order:

1. the data directory, ``$COURSE_DATA_DIR`` (default ``~/.cache/dgm-course``);
2. a read-only **mirror** folder, ``$COURSE_DATA_MIRROR``, laid out like the data directory
   (CI points it at ``../shared/data``); files are copied from it, never written into it;
3. the official source on the internet (MedMNIST via the ``medmnist`` package, MNIST via
   torchvision, the Sunnybrook file from the original exercise repository, MD5-checked).

When all three fail, a :class:`DataUnavailableError` says in one message what to download and
where to put it.

Example:
    >>> from coursekit.data import load_medmnist
    >>> x, y = load_medmnist("pneumoniamnist", "train")   # doctest: +SKIP
    >>> x.shape, x.dtype                                  # doctest: +SKIP
    (torch.Size([4708, 1, 28, 28]), torch.float32)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import torch

DATA_DIR_ENV = "COURSE_DATA_DIR"
MIRROR_ENV = "COURSE_DATA_MIRROR"
DEFAULT_DATA_DIR = Path.home() / ".cache" / "dgm-course"

SUNNYBROOK_URL = "https://github.com/ericspod/VPHSummerSchool2019/raw/master/scd_lvsegs.npz"
SUNNYBROOK_MD5 = "12c4233e5809625d31d5c2ae907a45c8"

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


class DataUnavailableError(RuntimeError):
    """A data file is neither in the data directory, nor in the mirror, nor downloadable."""


def data_dir() -> Path:
    """The course's data directory (created if needed): ``$COURSE_DATA_DIR`` or ``~/.cache/dgm-course``."""
    path = Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def mirror_dir() -> Path | None:
    """The read-only mirror folder named by ``$COURSE_DATA_MIRROR``, or None."""
    value = os.environ.get(MIRROR_ENV)
    return Path(value).expanduser() if value else None


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    """MD5 hex digest of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0] if lines else ''}"


def _unavailable(what: str, relpath: str, url: str, reason: str) -> DataUnavailableError:
    target = data_dir() / relpath
    return DataUnavailableError(
        f"{what} is not available ({reason}).\n"
        f"  Download it from {url}\n"
        f"  and save it as {target}\n"
        f"  (or set {MIRROR_ENV} to a folder holding {relpath}, or {DATA_DIR_ENV} to another data directory)."
    )


def copy_from_mirror(relpath: str) -> Path | None:
    """Copy ``relpath`` from the mirror into the data directory; return the local path or None."""
    mirror = mirror_dir()
    if mirror is None or not (mirror / relpath).is_file():
        return None
    target = data_dir() / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    shutil.copyfile(mirror / relpath, tmp)
    tmp.replace(target)
    return target


def fetch_file(relpath: str, url: str, md5: str | None = None, *, what: str | None = None,
               timeout: float = 60.0) -> Path:
    """Return the local path of a data file, copying it from the mirror or downloading it.

    Args:
        relpath: path inside the data directory, for example ``"scd_lvsegs.npz"``.
        url: the official download address.
        md5: expected MD5 of the file; checked on download and on files found locally.
        what: a human name for error messages (defaults to ``relpath``).
        timeout: seconds before a download attempt is abandoned.

    Raises:
        DataUnavailableError: the file is missing, the mirror lacks it and the download failed
            (no network, HTTP error or MD5 mismatch).
    """
    what = what or relpath
    target = data_dir() / relpath
    if target.is_file() and (md5 is None or md5sum(target) == md5):
        return target
    copied = copy_from_mirror(relpath)
    if copied is not None:
        if md5 is None or md5sum(copied) == md5:
            return copied
        copied.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as err:  # URLError, HTTPError, timeouts and socket errors are all OSErrors
        tmp.unlink(missing_ok=True)
        raise _unavailable(what, relpath, url, f"download failed: {err}") from None
    if md5 is not None and md5sum(tmp) != md5:
        tmp.unlink()
        raise _unavailable(what, relpath, url, "the downloaded file's MD5 does not match") from None
    tmp.replace(target)
    return target


def prefetch_exercise_data() -> list[str]:
    """Fetch every data file the exercises read (MNIST, PneumoniaMNIST, Sunnybrook) into the data
    directory. The grader calls this before a batch: student kernels see the data directory
    read-only. Returns the problems met (empty when everything is in place)."""
    def mnist() -> None:
        root = data_dir() / "MNIST" / "raw"
        missing = [name for name in MNIST_FILES if not (root / name).is_file()
                   and copy_from_mirror(f"MNIST/raw/{name}") is None]
        if missing:
            load_mnist(train=True)        # torchvision downloads what is missing

    problems = []
    for fetch in (lambda: medmnist_file("pneumoniamnist"), mnist,
                  lambda: fetch_file("scd_lvsegs.npz", SUNNYBROOK_URL, SUNNYBROOK_MD5)):
        try:
            fetch()
        except DataUnavailableError as err:
            problems.append(str(err).splitlines()[0])
    return problems


# --------------------------------------------------------------------------- MedMNIST


def medmnist_file(flag: str) -> Path:
    """Local path of a 28x28 MedMNIST ``.npz`` file (e.g. ``flag="pneumoniamnist"``), fetched if needed.

    The official path is ``medmnist.<Class>(root=..., download=True)``, which downloads from
    Zenodo with the MD5 in ``medmnist.INFO``. A mirror copy is used as it is: re-assembled copies
    may have another MD5 while holding the same images and splits.
    """
    import medmnist

    if flag not in medmnist.INFO:
        raise ValueError(f"unknown MedMNIST flag {flag!r}; known: {sorted(medmnist.INFO)}")
    relpath = f"medmnist/{flag}.npz"
    target = data_dir() / relpath
    if target.is_file() or copy_from_mirror(relpath) is not None:
        return target
    info = medmnist.INFO[flag]
    dataset_class = getattr(medmnist, info["python_class"])
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        dataset_class(split="test", root=str(target.parent), download=True)
    except Exception as err:  # medmnist wraps network and checksum failures in several types
        raise _unavailable(f"MedMNIST {info['python_class']}", relpath, info["url"], _first_line(err)) from None
    return target


def load_medmnist(flag: str, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split of a 28x28 grey-scale MedMNIST data set into memory.

    Args:
        flag: MedMNIST name in lower case, e.g. ``"pneumoniamnist"`` or ``"breastmnist"``.
        split: ``"train"``, ``"val"`` or ``"test"``.

    Returns:
        ``(images, labels)``: float32 images of shape (N, 1, 28, 28) scaled to [0, 1] and int64
        labels of shape (N,).
    """
    import medmnist

    path = medmnist_file(flag)
    dataset_class = getattr(medmnist, medmnist.INFO[flag]["python_class"])
    dataset = dataset_class(split=split, root=str(path.parent), download=False)
    images = torch.from_numpy(np.ascontiguousarray(dataset.imgs)).float().div_(255.0)
    if images.ndim == 3:
        images = images.unsqueeze(1)
    else:  # colour sets come as (N, H, W, 3)
        images = images.permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(np.asarray(dataset.labels)).long().reshape(len(images), -1)
    return images, labels[:, 0] if labels.shape[1] == 1 else labels


# --------------------------------------------------------------------------- MNIST


def load_mnist(train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST with torchvision (official download), seeding its raw folder from the mirror.

    Returns:
        ``(images, labels)``: float32 (N, 1, 28, 28) in [0, 1] and int64 (N,).
    """
    from torchvision.datasets import MNIST

    root = data_dir()
    for name in MNIST_FILES:
        if not (root / "MNIST" / "raw" / name).is_file():
            copy_from_mirror(f"MNIST/raw/{name}")
    try:
        dataset = MNIST(str(root), train=train, download=True)
    except Exception as err:  # torchvision raises RuntimeError/URLError depending on the failure
        raise _unavailable("MNIST (" + ", ".join(MNIST_FILES) + ")", "MNIST/raw/", "https://yann.lecun.com/exdb/mnist/ (torchvision mirrors)",
                           _first_line(err)) from None
    return dataset.data.unsqueeze(1).float().div_(255.0), dataset.targets.long()


# --------------------------------------------------------------------------- Sunnybrook


def load_sunnybrook() -> dict[str, np.ndarray]:
    """Load the Sunnybrook left-ventricle myocardium set (``scd_lvsegs.npz``, MD5-checked).

    Returns:
        A dict of arrays: ``images`` (420, 64, 64) uint16, ``segs`` (420, 64, 64) 0/1,
        ``caseIndices`` (45,), ``imageIsHyp``, ``caseCat`` and ``caseVoxelSize``.
    """
    path = fetch_file("scd_lvsegs.npz", SUNNYBROOK_URL, SUNNYBROOK_MD5,
                      what="Sunnybrook LV segmentation data (scd_lvsegs.npz)")
    with np.load(path) as archive:
        return {key: archive[key] for key in archive.files}


def sunnybrook_split(test_cases: int = 6) -> dict[str, torch.Tensor]:
    """The Sunnybrook images as float tensors, split by case as in the original exercise.

    Images are scaled per image by their 99th percentile and clipped to [0, 1.5], so that a few
    very bright pixels (fat, vessels) do not squash the myocardium's contrast.

    Args:
        test_cases: how many of the last cases are held out (the original exercise: 6, 52 images).

    Returns:
        ``train_images``, ``train_masks``, ``test_images``, ``test_masks``: float32 tensors of shape
        (N, 1, 64, 64); masks hold 0.0 and 1.0. Every image of a case lands on the same side.
    """
    raw = load_sunnybrook()
    images = raw["images"].astype(np.float32)
    scale = np.percentile(images.reshape(len(images), -1), 99, axis=1)[:, None, None]
    images = np.clip(images / np.maximum(scale, 1e-6), 0.0, 1.5)
    masks = raw["segs"].astype(np.float32)
    cut = int(raw["caseIndices"][-test_cases][0])
    x = torch.from_numpy(images).unsqueeze(1)
    y = torch.from_numpy(masks).unsqueeze(1)
    return {"train_images": x[:cut], "train_masks": y[:cut], "test_images": x[cut:], "test_masks": y[cut:]}


def write_sunnybrook_training_only(target: Path, test_cases: int = 6) -> Path:
    """Write ``scd_lvsegs.npz`` without its last ``test_cases`` patients to ``target``: what the
    segmentation exercise's kernels see in place of the full file when they are graded (the
    held-out patients' masks are the grader's, never the notebook's). Same keys and dtypes."""
    raw = load_sunnybrook()
    cases = raw["caseIndices"]
    keep_cases = len(cases) - test_cases
    cut = int(cases[keep_cases][0])
    per_image = {k for k, v in raw.items() if v.ndim and len(v) == len(raw["images"])}
    per_case = {k for k, v in raw.items() if k not in per_image and v.ndim and len(v) == len(cases)}
    trimmed = {k: v[:cut] if k in per_image else v[:keep_cases] if k in per_case else v for k, v in raw.items()}
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as handle:
        np.savez(handle, **trimmed)
    return target


def sunnybrook_slices() -> dict[str, np.ndarray]:
    """Where each Sunnybrook image comes from: its patient and its place in the patient's stack.

    The images of a patient are stored as one short-axis stack ordered from the base of the heart
    to the apex (the myocardium's area shrinks along it).

    Returns:
        ``case``: int64 (420,), the patient of each image (0-44, in file order);
        ``position``: float32 (420,), the slice's place in its stack, 0 = first (base) to 1 = last
        (apex); a one-slice stack gets 0.5.
    """
    indices = load_sunnybrook()["caseIndices"]
    case = np.zeros(int(indices[-1][1]), dtype=np.int64)
    position = np.zeros(len(case), dtype=np.float32)
    for number, (start, stop) in enumerate(indices):
        case[start:stop] = number
        count = stop - start
        position[start:stop] = np.arange(count) / (count - 1) if count > 1 else 0.5
    return {"case": case, "position": position}


def sunnybrook_validation_folds(folds: int = 3, test_cases: int = 6, seed: int = 0) -> list[np.ndarray]:
    """Patient-wise cross-validation folds inside the training part of :func:`sunnybrook_split`.

    The training patients (all but the last ``test_cases``) are shuffled with ``seed`` and dealt
    into ``folds`` groups of (almost) equal size; every image of a patient lands in the same fold,
    so that a validation score never sees a patient trained on. Use them to make choices without
    touching the held-out patients.

    Returns:
        One sorted int64 array per fold: the indices, into ``train_images``, of its images.
    """
    case = sunnybrook_slices()["case"]
    first_test = len(np.unique(case)) - test_cases
    if not 2 <= folds <= first_test:
        raise ValueError(f"folds must be between 2 and the number of training patients ({first_test})")
    patients = np.random.default_rng(seed).permutation(first_test)
    train_case = case[case < first_test]
    return [np.flatnonzero(np.isin(train_case, group)) for group in np.array_split(patients, folds)]
