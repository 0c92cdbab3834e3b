"""The data layer: data directory, read-only mirror, real downloads and the one clear error.

Downloads go to a real HTTP server on loopback serving small files the tests make; "no network"
is a closed port on loopback, which fails the same way an offline machine does.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from coursekit import data

CLOSED = "http://127.0.0.1:9/unreachable"          # the discard port: connection refused
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture()
def dirs(tmp_path, monkeypatch):
    """A fresh data directory and an empty mirror."""
    data_dir, mirror = tmp_path / "data", tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv(data.DATA_DIR_ENV, str(data_dir))
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    return data_dir, mirror


@pytest.fixture()
def server(tmp_path):
    """Serve tmp_path/www over HTTP on loopback; yields (folder, base_url)."""
    root = tmp_path / "www"
    root.mkdir()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def md5(content: bytes) -> str:
    return hashlib.md5(content).hexdigest()


def fake_medmnist(path: Path, n: int = 6) -> None:
    """A tiny file with MedMNIST's keys, shapes and dtypes."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (n, 1), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


# --------------------------------------------------------------------------- directories


def test_data_dir_follows_the_environment_variable(dirs):
    data_dir, _ = dirs
    assert data.data_dir() == data_dir and data_dir.is_dir()


def test_data_dir_has_a_per_user_default(monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    assert data.data_dir() == Path.home() / ".cache" / "dgm-course"


# --------------------------------------------------------------------------- fetch_file


def test_existing_file_is_used_without_network(dirs):
    data_dir = data.data_dir()
    (data_dir / "a.bin").write_bytes(b"hello")
    assert data.fetch_file("a.bin", CLOSED, md5(b"hello")) == data_dir / "a.bin"


def test_mirror_is_copied_and_left_untouched(dirs):
    data_dir, mirror = dirs
    (mirror / "sub").mkdir()
    (mirror / "sub" / "a.bin").write_bytes(b"mirrored")
    path = data.fetch_file("sub/a.bin", CLOSED, md5(b"mirrored"))
    assert path == data_dir / "sub" / "a.bin" and path.read_bytes() == b"mirrored"
    assert (mirror / "sub" / "a.bin").read_bytes() == b"mirrored"


def test_download_with_md5_check(dirs, server):
    www, base = server
    (www / "file.npz").write_bytes(b"payload")
    path = data.fetch_file("file.npz", f"{base}/file.npz", md5(b"payload"))
    assert path.read_bytes() == b"payload"
    assert not list(path.parent.glob("*.part")), "no partial download may be left behind"


def test_download_with_wrong_md5_is_rejected(dirs, server):
    www, base = server
    (www / "file.npz").write_bytes(b"corrupted")
    with pytest.raises(data.DataUnavailableError, match="MD5"):
        data.fetch_file("file.npz", f"{base}/file.npz", md5(b"payload"))
    assert not (data.data_dir() / "file.npz").exists()


def test_mirror_copy_with_wrong_md5_is_not_trusted(dirs):
    _, mirror = dirs
    (mirror / "a.bin").write_bytes(b"bad copy")
    with pytest.raises(data.DataUnavailableError):
        data.fetch_file("a.bin", CLOSED, md5(b"good copy"))
    assert not (data.data_dir() / "a.bin").exists()


def test_missing_file_without_network_gives_one_clear_message(dirs):
    with pytest.raises(data.DataUnavailableError) as info:
        data.fetch_file("scd_lvsegs.npz", CLOSED, what="Sunnybrook data")
    message = str(info.value)
    assert "Sunnybrook data" in message and CLOSED in message
    assert str(data.data_dir() / "scd_lvsegs.npz") in message, "the message must say where to put the file"
    assert data.MIRROR_ENV in message
    assert info.value.__suppress_context__, "the low-level network error must not be chained into the traceback"


# --------------------------------------------------------------------------- MedMNIST


def test_medmnist_from_mirror_gives_float_tensors(dirs):
    _, mirror = dirs
    fake_medmnist(mirror / "medmnist" / "breastmnist.npz")
    x, y = data.load_medmnist("breastmnist", "val")
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1
    assert y.shape == (6,) and y.dtype == torch.int64


def test_medmnist_official_download_path(dirs, server, monkeypatch):
    import medmnist

    www, base = server
    fake_medmnist(www / "breastmnist.npz")
    content = (www / "breastmnist.npz").read_bytes()
    monkeypatch.setitem(medmnist.INFO["breastmnist"], "url", f"{base}/breastmnist.npz")
    monkeypatch.setitem(medmnist.INFO["breastmnist"], "MD5", md5(content))
    x, _ = data.load_medmnist("breastmnist", "train")
    assert x.shape == (6, 1, 28, 28)
    assert (data.data_dir() / "medmnist" / "breastmnist.npz").read_bytes() == content


def test_medmnist_missing_without_network(dirs, monkeypatch):
    import medmnist

    monkeypatch.setitem(medmnist.INFO["breastmnist"], "url", CLOSED)
    with pytest.raises(data.DataUnavailableError) as info:
        data.load_medmnist("breastmnist", "train")
    assert "breastmnist.npz" in str(info.value) and "BreastMNIST" in str(info.value)
    assert len(str(info.value).splitlines()) <= 5, "one short message, not medmnist's whole help text"


def test_unknown_medmnist_flag():
    with pytest.raises(ValueError, match="unknown MedMNIST flag"):
        data.medmnist_file("nosuchmnist")


# --------------------------------------------------------------------------- MNIST and Sunnybrook


def test_mnist_missing_without_network(dirs, monkeypatch):
    from torchvision.datasets import MNIST

    monkeypatch.setattr(MNIST, "mirrors", [CLOSED + "/"])
    with pytest.raises(data.DataUnavailableError, match="MNIST"):
        data.load_mnist()


def test_sunnybrook_rejects_a_wrong_file_in_the_mirror(dirs, monkeypatch):
    _, mirror = dirs
    np.savez(mirror / "scd_lvsegs.npz", images=np.zeros((2, 64, 64)))
    monkeypatch.setattr(data, "SUNNYBROOK_URL", CLOSED)
    with pytest.raises(data.DataUnavailableError, match="scd_lvsegs.npz"):
        data.load_sunnybrook()


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="needs the offline data mirror ../shared/data")
def test_real_files_from_the_shared_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(data.MIRROR_ENV, str(SHARED_DATA))
    monkeypatch.setattr(data, "SUNNYBROOK_URL", CLOSED)      # must come from the mirror, MD5-checked
    sunnybrook = data.load_sunnybrook()
    assert sunnybrook["images"].shape == (420, 64, 64) and len(sunnybrook["caseIndices"]) == 45
    x, y = data.load_mnist(train=False)
    assert x.shape == (10000, 1, 28, 28) and y[:3].tolist() == [7, 2, 1]
    x, y = data.load_medmnist("pneumoniamnist", "train")
    assert x.shape == (4708, 1, 28, 28) and y.bincount().tolist() == [1214, 3494]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="needs the offline data mirror ../shared/data")
def test_sunnybrook_split_holds_out_whole_patients(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(data.MIRROR_ENV, str(SHARED_DATA))
    split = data.sunnybrook_split()
    raw = data.load_sunnybrook()
    first_test_image = int(raw["caseIndices"][-6][0])
    assert split["train_images"].shape == (first_test_image, 1, 64, 64) == (368, 1, 64, 64)
    assert split["test_images"].shape == split["test_masks"].shape == (52, 1, 64, 64)
    # the held-out images are exactly those of the last six patients, in order
    assert np.array_equal(split["test_masks"][:, 0].numpy(), raw["segs"][first_test_image:].astype(np.float32))
    for key, tensor in split.items():
        assert tensor.dtype == torch.float32, key
    assert set(split["train_masks"].unique().tolist()) == {0.0, 1.0}
    assert 0.0 <= split["train_images"].min() and split["train_images"].max() <= 1.5
    assert data.sunnybrook_split(test_cases=10)["test_images"].shape[0] == 420 - int(raw["caseIndices"][-10][0])


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="needs the offline data mirror ../shared/data")
def test_sunnybrook_slices_and_validation_folds_keep_patients_whole(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(data.MIRROR_ENV, str(SHARED_DATA))
    raw = data.load_sunnybrook()
    slices = data.sunnybrook_slices()
    case, position = slices["case"], slices["position"]
    assert case.shape == position.shape == (420,) and case.max() == 44
    for number, (start, stop) in enumerate(raw["caseIndices"]):
        assert (case[start:stop] == number).all()
        assert position[start] == 0.0 and position[stop - 1] == 1.0 and (np.diff(position[start:stop]) > 0).all()
    # base to apex: the myocardium shrinks along the stack in (almost) every patient
    area = raw["segs"].reshape(420, -1).sum(1)
    shrinking = [np.corrcoef(position[case == c], area[case == c])[0, 1] < 0 for c in range(45)]
    assert sum(shrinking) >= 44

    folds = data.sunnybrook_validation_folds(3)
    train_cases = case[:368]
    joined = np.sort(np.concatenate(folds))
    assert np.array_equal(joined, np.arange(368)), "the folds partition the training images"
    patient_sets = [set(train_cases[f]) for f in folds]
    assert all(not (a & b) for i, a in enumerate(patient_sets) for b in patient_sets[i + 1:]), \
        "no patient in two folds"
    assert max(case[368:].min(), 0) > max(train_cases), "held-out patients never enter a fold"
    assert [len(p) for p in patient_sets] == [13, 13, 13]
    assert all(np.array_equal(a, b) for a, b in zip(folds, data.sunnybrook_validation_folds(3))), "deterministic"
    assert not all(np.array_equal(a, b) for a, b in zip(folds, data.sunnybrook_validation_folds(3, seed=1)))
    with pytest.raises(ValueError):
        data.sunnybrook_validation_folds(1)
