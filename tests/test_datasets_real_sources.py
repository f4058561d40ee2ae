"""The real datasets' sources (MNIST, bMNIST, vH16, CIFAR16, MNIST-bin, digits-bin) on small
files generated in each layout, their integrity errors and missing-data messages, and the real
files of ../shared/data when present."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import scipy.stats
import torch

from suite.data.sources import resolve_data_dir
from suite.data.loading import load_dataset
from suite.data.datafiles import write_idx
from suite.errors import DataError, DataMissingError
from suite.registry import DATASETS

RNG = np.random.default_rng(1)
IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
       "t10k-labels-idx1-ubyte")


def write_mnist(folder, n_train=30, n_test=20, gz=True, pixels=None, labels=None):
    folder.mkdir(parents=True, exist_ok=True)
    x = {"train": RNG.integers(0, 256, (n_train, 28, 28)).astype(np.uint8),
         "test": RNG.integers(0, 256, (n_test, 28, 28)).astype(np.uint8)}
    if pixels is not None:
        x = {k: np.full_like(v, pixels) for k, v in x.items()}
    y = labels or {"train": RNG.integers(0, 10, n_train).astype(np.uint8),
                   "test": RNG.integers(0, 10, n_test).astype(np.uint8)}
    ext = ".gz" if gz else ""
    for name, arr in zip(IDX, (x["train"], y["train"], x["test"], y["test"])):
        write_idx(folder / (name + ext), arr)
    return x, y


def amat_text(x):
    return "".join(" ".join(map(str, row)) + "\n" for row in x).encode()


# -- MNIST ------------------------------------------------------------------------------------
@pytest.mark.parametrize("sub", ["MNIST/raw", "MNIST", "mnist"])
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_layouts(tmp_path, sub, gz):
    x, y = write_mnist(tmp_path / sub, gz=gz)
    ds = load_dataset("MNIST", tmp_path, tmp_path / "cache")
    assert ds.shape == (1, 28, 28) and ds.train.shape == (30, 784) and ds.val.shape == (20, 784)
    assert torch.equal(ds.train, torch.from_numpy(x["train"].reshape(30, 784) / np.float32(255)))
    assert ds.train.dtype == torch.float32 and float(ds.train.max()) <= 1.0
    assert ds.train_labels.tolist() == y["train"].tolist() and ds.val_labels.tolist() == y["test"].tolist()
    assert ds.knn_sizes == (200, 1000, 5000) and ds.labelled and not ds.is_binary and ds.test is None
    assert ds.provenance["files"][0].startswith(str(tmp_path / sub))
    detail = DATASETS.get("MNIST").availability(tmp_path).detail
    assert detail.startswith(f"IDX files in {tmp_path / sub}: {IDX[0]}{'.gz' if gz else ''}, ")


@pytest.mark.parametrize("stored", [(1, 28, 28), (28, 28), (784,)])
def test_mnist_processed_npy_layout_is_preferred(tmp_path, stored):
    write_mnist(tmp_path / "MNIST" / "raw")
    p = tmp_path / "MNIST" / "processed"
    p.mkdir(parents=True)
    x_trn, x_vld = RNG.random((12, *stored)).astype(np.float32), RNG.random((8, *stored)).astype(np.float32)
    np.save(p / "x_trn.npy", x_trn)
    np.save(p / "x_vld.npy", x_vld)
    np.save(p / "y_trn.npy", np.arange(12) % 10)
    np.save(p / "y_vld.npy", (np.arange(8) % 10).astype(np.float32))  # torch-saved floats happen
    ds = load_dataset("MNIST", tmp_path, tmp_path / "cache")
    assert ds.provenance["layout"] == "P-VAE processed arrays"
    assert np.array_equal(ds.train.numpy(), x_trn.reshape(12, 784))
    assert ds.val_labels.tolist() == list(range(8))


@pytest.mark.parametrize("damage,message", [
    ("labels_short", "30 images but 29 labels"),
    ("label_10", r"labels must lie in 0\.\.9"),
    ("wrong_magic", r"wrong magic number 0x00000807, expected 0x00000803"),
    ("truncated", "gzip stream is truncated"),
    ("wrong_shape", r"expected images of shape .*got \(30, 28, 27\)"),
])
def test_mnist_idx_damage(tmp_path, damage, message):
    folder = tmp_path / "MNIST" / "raw"
    write_mnist(folder)
    if damage == "labels_short":
        write_idx(folder / (IDX[1] + ".gz"), np.zeros(29, np.uint8))
    elif damage == "label_10":
        write_idx(folder / (IDX[1] + ".gz"), np.full(30, 10, np.uint8))
    elif damage == "wrong_magic":
        write_idx(folder / IDX[0], np.zeros((30, 28, 28), np.uint8))
        raw = (folder / IDX[0]).read_bytes()
        (folder / (IDX[0] + ".gz")).write_bytes(b"\x00\x00\x08\x07" + raw[4:])
    elif damage == "truncated":
        raw = (folder / (IDX[0] + ".gz")).read_bytes()
        (folder / (IDX[0] + ".gz")).write_bytes(raw[: len(raw) // 2])
    elif damage == "wrong_shape":
        write_idx(folder / (IDX[0] + ".gz"), np.zeros((30, 28, 27), np.uint8))
    with pytest.raises(DataError, match=message) as err:
        DATASETS.get("MNIST").load(tmp_path, tmp_path / "cache")
    assert str(folder) in str(err.value)


@pytest.mark.parametrize("x,message", [
    (np.full((4, 1, 28, 28), np.nan, np.float32), "NaN or infinite"),
    (np.full((4, 1, 28, 28), 3.0, np.float32), r"values must lie in \[0, 1\]"),
    (np.zeros((4, 1, 28, 28), np.complex64), "expected numeric pixels"),
])
def test_mnist_processed_damage(tmp_path, x, message):
    p = tmp_path / "MNIST" / "processed"
    p.mkdir(parents=True)
    for split in ("trn", "vld"):
        np.save(p / f"x_{split}.npy", x)
        np.save(p / f"y_{split}.npy", np.zeros(4, np.int64))
    with pytest.raises(DataError, match=message):
        DATASETS.get("MNIST").load(tmp_path, tmp_path)


def test_mnist_missing_names_files_folders_and_commands(tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    write_idx(tmp_path / "mnist" / (IDX[0] + ".gz"), np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataMissingError) as err:
        load_dataset("MNIST", tmp_path, tmp_path / "cache")
    msg = str(err.value)
    assert "dataset 'MNIST' was not found" in msg
    for folder in ("MNIST/processed", "MNIST/raw", "MNIST", "mnist"):
        assert str(tmp_path / folder) in msg
    for name in IDX + ("x_trn.npy", "y_vld.npy"):
        assert name in msg
    assert f"found only: {IDX[0]}.gz" in msg
    assert f"python run_suite.py prepare MNIST --download --data-dir {tmp_path}" in msg
    assert f"python run_suite.py prepare MNIST --from DIR --data-dir {tmp_path}" in msg
    av = DATASETS.get("MNIST").availability(tmp_path)
    assert not av.ok and "prepare MNIST --download" in av.detail and str(tmp_path / "mnist") in av.detail
    monkeypatch.setenv("BRAINLIKE_DATA_DIR", str(tmp_path))  # the default folder: no --data-dir
    assert resolve_data_dir(None) == tmp_path
    with pytest.raises(DataMissingError, match=r"prepare MNIST --download\n"):
        DATASETS.get("MNIST").load(tmp_path, tmp_path)


# -- bMNIST -------------------------------------------------------------------------------------
def bmnist_source(**kw):
    return type(DATASETS.get("bMNIST"))(**kw)


@pytest.mark.parametrize("sub", ["BinarizedMNIST", "binarized_mnist", "bMNIST"])
def test_bmnist_text_and_mat(tmp_path, sub):
    folder = tmp_path / sub
    folder.mkdir()
    x = {s: RNG.integers(0, 2, (n, 784)).astype(np.uint8) for s, n in (("train", 7), ("valid", 5), ("test", 3))}
    (folder / "binarized_mnist_train.amat").write_bytes(amat_text(x["train"]))
    scipy.io.savemat(folder / "binarized_mnist_valid.amat", {"X": x["valid"]})
    (folder / "binarized_mnist_test.amat").write_bytes(amat_text(x["test"]))
    ds = bmnist_source(split_sizes=None).load(tmp_path, tmp_path).validate()
    assert ds.is_binary and not ds.labelled and ds.shape == (1, 28, 28)
    for split, t in (("train", ds.train), ("valid", ds.val), ("test", ds.test)):
        assert t.dtype == torch.float32 and np.array_equal(t.numpy(), x[split])
    with pytest.raises(DataError, match=r"7 rows, expected 50000 for the train split"):
        bmnist_source().load(tmp_path, tmp_path)
    (folder / "binarized_mnist_test.amat").write_bytes(amat_text(x["test"])[:-5])
    with pytest.raises(DataError, match="line 3 has 782 values, expected 784"):
        bmnist_source(split_sizes=None).load(tmp_path, tmp_path)
    (folder / "binarized_mnist_test.amat").unlink()
    with pytest.raises(DataMissingError, match=r"binarized_mnist_test\.amat[\s\S]*prepare bMNIST --download"):
        bmnist_source().load(tmp_path, tmp_path)


# -- vH16 ---------------------------------------------------------------------------------------
def pvae_split_reference(n, n_blocks=100, vld_portion=0.2):
    """The P-VAE repository's split, written out as its docstring describes it."""
    size = n // n_blocks
    trn, vld = [], []
    for b in range(n_blocks):
        block = list(range(b * size, n if b == n_blocks - 1 else (b + 1) * size))
        n_vld = int(np.round(len(block) * vld_portion))
        trn += block[: len(block) - n_vld]
        vld += block[len(block) - n_vld:]
    return trn, vld


@pytest.mark.parametrize("stored", [(1, 16, 16), (16, 16), (256,)])
def test_vh16_processed_npy_and_block_split(tmp_path, stored):
    folder = tmp_path / "DOVES" / "vH16"
    folder.mkdir(parents=True)
    x = RNG.normal(size=(1234, *stored)).astype(np.float32)
    np.save(folder / "processed.npy", x)
    ds = load_dataset("vH16", tmp_path, tmp_path / "cache")
    trn, vld = pvae_split_reference(1234)
    assert len(vld) == 99 * 2 + 9  # blocks of 12 (last one 46): round(2.4) = 2, round(9.2) = 9
    assert np.array_equal(ds.train.numpy(), x.reshape(1234, 256)[trn])
    assert np.array_equal(ds.val.numpy(), x.reshape(1234, 256)[vld])
    assert ds.shape == (1, 16, 16) and ds.provenance["build"] is None


def test_vh16_block_split_matches_reference_on_many_sizes():
    from brainlike_suite.datasets.vanhateren import block_split

    for n in (100, 101, 250, 999, 60_000, 60_123):
        trn, vld = block_split(n)
        ref_trn, ref_vld = pvae_split_reference(n)
        assert trn.tolist() == ref_trn and vld.tolist() == ref_vld
    with pytest.raises(DataError, match="cannot be cut into 100 blocks"):
        block_split(99)


def test_vh16_damage_and_missing(tmp_path):
    with pytest.raises(DataMissingError) as err:
        load_dataset("vH16", tmp_path)
    msg = str(err.value)
    assert "'vH16'" in msg and str(tmp_path / "DOVES" / "vH16") in msg and "processed.npy" in msg
    assert f"python run_suite.py prepare vH16 --from DIR --data-dir {tmp_path}" in msg
    assert "--download" not in msg  # there is no published download of the processed patches
    folder = tmp_path / "DOVES" / "vH16"
    folder.mkdir(parents=True)
    np.save(folder / "processed.npy", np.full((200, 1, 16, 16), np.nan, np.float32))
    with pytest.raises(DataError, match="NaN"):
        DATASETS.get("vH16").load(tmp_path, tmp_path)
    np.save(folder / "processed.npy", np.zeros((200, 1, 8, 8), np.float32))
    with pytest.raises(DataError, match=r"got \(200, 1, 8, 8\)"):
        DATASETS.get("vH16").load(tmp_path, tmp_path)


# -- CIFAR16 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("top", ["CIFAR10", "CIFAR16"])
def test_cifar16_both_seed_layouts(tmp_path, top):
    x = {s: RNG.normal(size=(n, 1, 16, 16)).astype(np.float32) for s, n in (("trn", 40), ("vld", 10))}
    for split, arr in x.items():
        (tmp_path / top / "xtract16" / split).mkdir(parents=True)
        np.save(tmp_path / top / "xtract16" / split / "processed.npy", arr)
    ds = load_dataset("CIFAR16", tmp_path, tmp_path / "cache")
    assert np.array_equal(ds.train.numpy(), x["trn"].reshape(40, 256))
    assert np.array_equal(ds.val.numpy(), x["vld"].reshape(10, 256))
    assert DATASETS.get("CIFAR16").availability(tmp_path).detail == (
        f"P-VAE xtract16 patches in {tmp_path / top / 'xtract16'}: trn/processed.npy, vld/processed.npy")


def test_cifar16_missing_lists_both_layouts(tmp_path):
    (tmp_path / "CIFAR16" / "xtract16" / "trn").mkdir(parents=True)
    np.save(tmp_path / "CIFAR16" / "xtract16" / "trn" / "processed.npy", np.zeros((4, 256), np.float32))
    with pytest.raises(DataMissingError) as err:
        load_dataset("CIFAR16", tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "CIFAR10" / "xtract16") in msg and str(tmp_path / "CIFAR16" / "xtract16") in msg
    assert "found only: trn/processed.npy" in msg and "prepare CIFAR16 --download" in msg


# -- dynamic binarizations ------------------------------------------------------------------------
def test_mnist_bin_is_seeded_bernoulli_of_the_intensities(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw", n_train=200, n_test=100, pixels=77)
    src = DATASETS.get("MNIST-bin")
    assert src.shape == (1, 28, 28) and src.is_binary and src.labelled and src.knn_sizes == (200, 1000, 5000)
    a = load_dataset("MNIST-bin", tmp_path, tmp_path / "cache")
    b = src.load(tmp_path, tmp_path / "cache")
    assert torch.equal(a.train, b.train) and torch.equal(a.val, b.val)  # the same draws every load
    assert not torch.equal(a.train[:100], a.val)  # each split has its own stream
    parent = load_dataset("MNIST", tmp_path, tmp_path / "cache")
    assert torch.equal(a.train_labels, parent.train_labels) and a.knn_sizes == parent.knn_sizes
    assert set(a.train.unique().tolist()) == {0.0, 1.0} and a.is_binary
    k, n = int(a.train.sum()), a.train.numel()
    assert scipy.stats.binomtest(k, n, 77 / 255).pvalue > 1e-3
    assert "Bernoulli" in a.provenance["binarization"]


def test_mnist_bin_missing_points_to_mnist(tmp_path):
    with pytest.raises(DataMissingError, match=r"MNIST-bin is drawn from MNIST[\s\S]*prepare MNIST --download"):
        load_dataset("MNIST-bin", tmp_path)
    assert not DATASETS.get("MNIST-bin").availability(tmp_path).ok


def test_digits_bin_matches_digits_in_expectation(tmp_path):
    digits = load_dataset("digits", tmp_path, tmp_path / "cache")
    ds = load_dataset("digits-bin", tmp_path, tmp_path / "cache")
    assert ds.shape == digits.shape and ds.is_binary and torch.equal(ds.val_labels, digits.val_labels)
    assert DATASETS.get("digits-bin").availability(tmp_path).ok
    p = digits.train.double()
    z = (ds.train.double().sum() - p.sum()) / (p * (1 - p)).sum().sqrt()
    assert abs(float(z)) < 4
    assert torch.equal(ds.train[p == 0], torch.zeros_like(ds.train[p == 0]))
    assert torch.equal(ds.train[p == 1], torch.ones_like(ds.train[p == 1]))


# -- the real files of ../shared/data ----------------------------------------------------------------
def test_real_mnist(shared_data):
    ds = load_dataset("MNIST", shared_data, shared_data / "no-cache")
    assert ds.train.shape == (60000, 784) and ds.val.shape == (10000, 784)
    assert float(ds.train.min()) == 0.0 and float(ds.train.max()) == 1.0
    assert float(ds.val.min()) >= 0.0 and float(ds.val.max()) <= 1.0
    assert sorted(ds.train_labels.unique().tolist()) == list(range(10))
    assert sorted(ds.val_labels.unique().tolist()) == list(range(10))
    assert ds.train_labels[:5].tolist() == [5, 0, 4, 1, 9]  # MNIST's famous first digits


def test_real_binarized_mnist(shared_data):
    ds = load_dataset("bMNIST", shared_data, shared_data / "no-cache")
    assert (ds.train.shape[0], ds.val.shape[0], ds.test.shape[0]) == (50000, 10000, 10000)
    for t in (ds.train, ds.val, ds.test):
        assert t.shape[1] == 784 and bool(((t == 0) | (t == 1)).all())
    assert 0.1 < float(ds.train.mean()) < 0.2  # about 13% of MNIST's pixels are on
