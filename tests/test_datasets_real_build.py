"""Builders of the real datasets (`prepare NAME --from DIR`): vH16 from raw van Hateren images
(the real TIFF written out as .iml), CIFAR16 from CIFAR-10 python batches, MNIST / bMNIST
installed from a folder; determinism (same seed, byte-identical files) and held-out images."""
from __future__ import annotations

import dataclasses
import io
import pickle
import tarfile

import numpy as np
import pytest
import scipy.io

from suite.data.loading import load_dataset
from suite.data.datafiles import read_image, write_idx, write_raw_image
from suite.errors import ConfigError, DataError
from suite.data.patchbuild import stream_patches
from suite.data.prepare import add_prepare_arguments, prepare
from suite.data.preprocess import NAT16, PVAE_REFERENCE, RECIPES, PatchRecipe, process_image, sample_patches
from suite.progress import null_progress
from suite.registry import DATASETS


def quiet_prepare(name, **kw):
    return prepare(name, progress=null_progress, log=lambda msg: None, **kw)


@pytest.mark.parametrize("min_std, rounds", [(0.0, 1), (0.3, 1), (1.2, 2)])
def test_stream_patches_equals_sample_patches(min_std, rounds):
    rng = np.random.default_rng(0)
    # noise on the left 20 columns, 1/50 of it on the right: the right side's patches are flat
    raw = [rng.random((40 + 7 * i, 50 - 3 * i)) * np.where(np.arange(50 - 3 * i) < 20, 1.0, 0.02)
           for i in range(4)]
    recipe = PatchRecipe(crop=3, patch_size=8, min_patch_std=min_std)
    loaded = []
    streamed = stream_patches(lambda i: loaded.append(i) or raw[i], [r.shape for r in raw], 500,
                              recipe, np.random.default_rng(7))
    direct = sample_patches([process_image(r, recipe) for r in raw], 500, 8, np.random.default_rng(7),
                            min_std=min_std)
    assert np.array_equal(streamed, direct) and loaded == [0, 1, 2, 3] * rounds
    assert streamed.astype(np.float64).std(1).min() >= min_std
    with pytest.raises(DataError, match="processed to"):
        stream_patches(lambda i: raw[i], [(99, 99)] * 4, 10, recipe, np.random.default_rng(0))


def test_stream_patches_from_flat_images_fail_with_the_threshold():
    # ramps: z-scored slope ~0.07 per pixel, so every 8x8 patch has std ~0.16
    ramps = [np.tile(np.arange(50.0), (40, 1)) for _ in range(3)]
    recipe = PatchRecipe(f0=None, crop=3, patch_size=8, min_patch_std=0.5)
    with pytest.raises(DataError, match=r"only 0 of .* min_patch_std = 0.5"):
        stream_patches(lambda i: ramps[i], [r.shape for r in ramps], 100, recipe,
                       np.random.default_rng(0))


# -- vH16 from raw images ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def raw_vanhateren(tmp_path_factory):
    """Two .iml files from the real van Hateren TIFF (the image and its mirror)."""
    from conftest import SHARED_DATA

    tiff = SHARED_DATA / "vanhateren" / "imk_single.tiff"
    if not tiff.is_file():
        pytest.skip(f"real test data not found at {tiff}")
    img = read_image(tiff)
    assert img.shape == (1024, 1536) and img.dtype == np.uint16
    folder = tmp_path_factory.mktemp("raw_vh")
    write_raw_image(folder / "imk00001.iml", img)
    write_raw_image(folder / "imk00002.imc", img[:, ::-1])
    return folder, img


def test_vh16_built_from_iml_is_seeded_held_out_and_loads(raw_vanhateren, tmp_path):
    raw, img = raw_vanhateren
    src = type(DATASETS.get("vH16"))(n_patches=1000)
    a = src.build(raw, tmp_path / "a", seed=0)
    b = src.build(raw, tmp_path / "b", seed=0)
    c = src.build(raw, tmp_path / "c", seed=1)
    assert a[0] == tmp_path / "a" / "DOVES" / "vH16" / "processed.npy" and a[1].suffix == ".json"
    assert a[0].read_bytes() == b[0].read_bytes()  # same seed: byte-identical
    assert a[0].read_bytes() != c[0].read_bytes()
    ds = src.load(tmp_path / "a", tmp_path).validate()
    assert ds.train.shape == (800, 256) and ds.val.shape == (200, 256)
    build = ds.provenance["build"]
    assert len(build["val_images"]) == 1 and set(build["train_images"] + build["val_images"]) == {
        "imk00001.iml", "imk00002.imc"}
    assert build["recipe"]["seed"] == 0 and build["recipe"]["n_val"] == 200
    # built with the P-VAE papers' reference recipe by default, and the loaded dataset says so
    assert build["recipe_name"] == build["recipe"]["name"] == "pvae-reference"
    assert ds.provenance["recipe_name"] == "pvae-reference"
    # the validation patches are exactly patches of the held-out image, through that recipe
    held = read_image(raw / build["val_images"][0])
    val_rng = np.random.default_rng(np.random.SeedSequence(0).spawn(3)[2])
    expected = sample_patches([process_image(held, PVAE_REFERENCE)], 200, 16, val_rng)
    assert np.array_equal(ds.val.numpy(), expected)
    assert abs(float(ds.train.mean())) < 0.2 and 0.5 < float(ds.train.std()) < 1.5
    # a file without a build record (the authors' own processed.npy) has an unknown recipe
    a[1].unlink()
    ds = src.load(tmp_path / "a", tmp_path)
    assert ds.provenance["build"] is None
    assert ds.provenance["recipe_name"] == "unknown (not built by this suite)"


def test_vh16_built_with_another_recipe(raw_vanhateren, tmp_path):
    raw, _ = raw_vanhateren
    src = type(DATASETS.get("vH16"))(n_patches=1000)
    ref = src.build(raw, tmp_path / "ref", seed=0)[0]
    nat16 = src.with_recipe(NAT16).build(raw, tmp_path / "nat16", seed=0)[0]
    assert src.recipe == PVAE_REFERENCE  # with_recipe leaves the source as it was
    assert ref.read_bytes() != nat16.read_bytes()
    ds = src.load(tmp_path / "nat16", tmp_path)
    assert ds.provenance["recipe_name"] == "nat16"
    assert ds.provenance["build"]["recipe"]["min_patch_std"] == NAT16.min_patch_std
    # contrast normalization tightens the patch means (reference 0.035 vs nat16 0.14 measured
    # on this image, tests/test_preprocess.py)
    ref_means = np.load(ref).reshape(1000, -1).mean(1)
    assert ref_means.std() < 0.5 * ds.train.mean(1).std().item()


def test_vh16_needs_two_images(tmp_path):
    (tmp_path / "raw").mkdir()
    write_raw_image(tmp_path / "raw" / "one.iml", np.zeros((1024, 1536), np.uint16))
    with pytest.raises(DataError, match="at least 2 are needed"):
        quiet_prepare("vH16", data_dir=tmp_path, from_dir=tmp_path / "raw")
    (tmp_path / "raw" / "two.iml").write_bytes(b"\0" * 100)
    with pytest.raises(DataError, match="two.iml: 100 bytes, expected 3145728"):
        quiet_prepare("vH16", data_dir=tmp_path, from_dir=tmp_path / "raw")
    write_raw_image(tmp_path / "raw" / "two.iml", np.zeros((1024, 1536), np.uint16))
    with pytest.raises(DataError, match=r"one.iml: cannot (z-score|contrast-normalize) a constant image"):
        quiet_prepare("vH16", data_dir=tmp_path, from_dir=tmp_path / "raw")
    assert not (tmp_path / "DOVES").exists()


# -- CIFAR16 from the CIFAR-10 python batches -----------------------------------------------------
def cifar_batches(n_per_batch=12, seed=0) -> dict[str, bytes]:
    r = np.random.default_rng(seed)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return {n: pickle.dumps({b"batch_label": n.encode(), b"labels": r.integers(0, 10, n_per_batch).tolist(),
                             b"data": r.integers(0, 256, (n_per_batch, 3072)).astype(np.uint8),
                             b"filenames": [b"x.png"] * n_per_batch}, protocol=2)
            for n in names}


def write_tarball(path, batches):
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in batches.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


@pytest.mark.parametrize("form", ["flat", "nested", "tarball"])
def test_cifar16_built_from_batches(tmp_path, form):
    batches = cifar_batches()
    raw = tmp_path / "raw"
    if form == "tarball":
        raw.mkdir()
        write_tarball(raw / "cifar-10-python.tar.gz", batches)
    else:
        folder = raw if form == "flat" else raw / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        for name, data in batches.items():
            (folder / name).write_bytes(data)
    src = type(DATASETS.get("CIFAR16"))(n_train=300, n_val=100)
    written = src.build(raw, tmp_path / "data", seed=3)
    assert [p.relative_to(tmp_path / "data").as_posix() for p in written] == [
        "CIFAR10/xtract16/trn/processed.npy", "CIFAR10/xtract16/trn/processed.json",
        "CIFAR10/xtract16/vld/processed.npy", "CIFAR10/xtract16/vld/processed.json"]
    again = src.build(raw, tmp_path / "again", seed=3)
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(written, again) if p.suffix == ".npy")
    ds = src.load(tmp_path / "data", tmp_path).validate()
    assert ds.train.shape == (300, 256) and ds.val.shape == (100, 256)
    assert ds.provenance["recipe_name"] == "pvae-reference"
    # validation patches come from the test batch only (held-out images), through the P-VAE
    # papers' reference recipe (the default)
    test = pickle.loads(batches["test_batch"], encoding="bytes")[b"data"].reshape(-1, 3, 32, 32)
    images = [process_image(im.transpose(1, 2, 0), PVAE_REFERENCE) for im in test]
    val_rng = np.random.default_rng(np.random.SeedSequence(3).spawn(2)[1])
    assert np.array_equal(ds.val.numpy(), sample_patches(images, 100, 16, val_rng))


def test_cifar16_damaged_sources(tmp_path):
    batches = cifar_batches()
    (tmp_path / "raw").mkdir()
    with pytest.raises(DataError, match="no CIFAR-10 python batches"):
        quiet_prepare("CIFAR16", data_dir=tmp_path, from_dir=tmp_path / "raw")
    write_tarball(tmp_path / "raw" / "cifar-10-python.tar.gz", batches)
    raw = (tmp_path / "raw" / "cifar-10-python.tar.gz").read_bytes()
    (tmp_path / "raw" / "cifar-10-python.tar.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="truncated or corrupt archive"):
        quiet_prepare("CIFAR16", data_dir=tmp_path, from_dir=tmp_path / "raw")
    del batches["test_batch"]
    write_tarball(tmp_path / "raw" / "cifar-10-python.tar.gz", batches)
    with pytest.raises(DataError, match="has no cifar-10-batches-py/test_batch"):
        quiet_prepare("CIFAR16", data_dir=tmp_path, from_dir=tmp_path / "raw")


# -- MNIST / bMNIST installed from a folder; the prepare command's options ----------------------------
def test_prepare_mnist_and_bmnist_from_a_folder(tmp_path):
    raw = tmp_path / "downloads"
    raw.mkdir()
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
    for name, arr in zip(names, (np.zeros((3, 28, 28), np.uint8), np.arange(3, dtype=np.uint8),
                                 np.zeros((2, 28, 28), np.uint8), np.arange(2, dtype=np.uint8))):
        write_idx(raw / name, arr)
    data = tmp_path / "data"
    written = quiet_prepare("MNIST", data_dir=data, from_dir=raw)
    assert written == [data / "MNIST" / "raw" / n for n in names]
    assert load_dataset("MNIST", data, tmp_path / "cache").train.shape == (3, 784)
    # derived datasets prepare their parent
    assert quiet_prepare("MNIST-bin", data_dir=tmp_path / "d2", from_dir=raw)[0].parent == tmp_path / "d2" / "MNIST" / "raw"
    # a damaged file is refused before anything is installed
    write_idx(raw / names[1], np.arange(4, dtype=np.uint8))
    with pytest.raises(DataError, match="3 images but 4 labels"):
        quiet_prepare("MNIST", data_dir=tmp_path / "d3", from_dir=raw)
    assert not (tmp_path / "d3").exists()
    (raw / names[3]).unlink()
    with pytest.raises(DataError, match=r"expected the four MNIST IDX files.*t10k-labels-idx1-ubyte\[\.gz\]"):
        quiet_prepare("MNIST", data_dir=tmp_path / "d3", from_dir=raw)

    for split, n in (("train", 50_000), ("valid", 10_000), ("test", 10_000)):
        scipy.io.savemat(raw / f"binarized_mnist_{split}.amat", {"X": np.zeros((n, 784), np.uint8)})
    written = quiet_prepare("bMNIST", data_dir=data, from_dir=raw)
    assert [p.parent for p in written] == [data / "BinarizedMNIST"] * 3
    assert DATASETS.get("bMNIST").availability(data).ok


def test_prepare_option_errors(tmp_path):
    with pytest.raises(ConfigError, match="either --from DIR or --download"):
        quiet_prepare("MNIST", data_dir=tmp_path, from_dir=tmp_path, download=True)
    with pytest.raises(ConfigError, match=r"prepare MNIST --download[\s\S]*prepare MNIST --from DIR"):
        quiet_prepare("MNIST", data_dir=tmp_path)
    with pytest.raises(DataError, match=r"no published download[\s\S]*prepare vH16 --from DIR"):
        quiet_prepare("vH16", data_dir=tmp_path, download=True)
    with pytest.raises(DataError, match="no such folder"):
        quiet_prepare("vH16", data_dir=tmp_path, from_dir=tmp_path / "nope")
    assert quiet_prepare("nat16", data_dir=tmp_path, download=True) == []
    assert quiet_prepare("digits-bin", data_dir=tmp_path) == []


def test_prepare_arguments():
    import argparse

    parser = argparse.ArgumentParser()
    add_prepare_arguments(parser)
    args = parser.parse_args(["vH16", "--from", "RAW", "--data-dir", "D", "--seed", "4"])
    assert (args.dataset, args.from_dir, args.download, args.data_dir, args.seed) == ("vH16", "RAW", False, "D", 4)
    args = parser.parse_args(["MNIST", "--download"])
    assert args.download and args.from_dir is None and args.seed == 0 and args.recipe is None
    args = parser.parse_args(["CIFAR16", "--from", "RAW", "--recipe", "pvae-corrected"])
    assert args.recipe == "pvae-corrected"


def test_prepare_rejects_an_unknown_recipe_listing_the_valid_ones(tmp_path, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    add_prepare_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["vH16", "--from", "RAW", "--recipe", "bogus"])
    err = capsys.readouterr().err
    assert "invalid choice: 'bogus'" in err and all(name in err for name in RECIPES)
    (tmp_path / "raw").mkdir()
    with pytest.raises(DataError, match=r"unknown patch recipe 'bogus'; choose one of "
                                        r"\['nat16', 'pvae-corrected', 'pvae-reference'\]"):
        quiet_prepare("vH16", data_dir=tmp_path, from_dir=tmp_path / "raw", recipe="bogus")
    with pytest.raises(ConfigError, match=r"--recipe applies only to the patch datasets.*"
                                          r"MNIST has no patch recipe"):
        quiet_prepare("MNIST", data_dir=tmp_path, from_dir=tmp_path / "raw", recipe="nat16")
    with pytest.raises(ConfigError, match="nat16-pvae"):
        quiet_prepare("nat16", data_dir=tmp_path, recipe="pvae-reference")


@pytest.mark.parametrize("recipe", [None, "pvae-corrected", "nat16"])
def test_prepare_cifar16_records_the_recipe(tmp_path, monkeypatch, recipe):
    import json

    source = DATASETS.get("CIFAR16")
    monkeypatch.setattr(source, "n_train", 120)
    monkeypatch.setattr(source, "n_val", 40)
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, data in cifar_batches().items():
        (raw / name).write_bytes(data)
    messages = []
    written = prepare("CIFAR16", data_dir=tmp_path / "data", from_dir=raw, recipe=recipe,
                      progress=null_progress, log=messages.append)
    name = recipe or "pvae-reference"
    for sidecar in (p for p in written if p.suffix == ".json"):
        info = json.loads(sidecar.read_text())
        assert info["recipe_name"] == name and info["recipe"] == {
            **dataclasses.asdict(RECIPES[name]), "seed": 0, "n_train": 120, "n_val": 40}
    assert f"patch recipe {name!r}" in messages[-1]
    ds = load_dataset("CIFAR16", tmp_path / "data", tmp_path / "cache")
    assert ds.provenance["recipe_name"] == name and ds.train.shape == (120, 256)
    assert source.recipe == PVAE_REFERENCE  # the registered source is left as it was
