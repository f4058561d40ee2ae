"""CIFAR16: 16x16 grayscale patches of CIFAR-10 images (Krizhevsky, 2009).

Loading (the P-VAE layout): ``<data_dir>/CIFAR10/xtract16/{trn,vld}/processed.npy`` (the
P-VAE code's path) or ``<data_dir>/CIFAR16/xtract16/{trn,vld}/processed.npy`` (its README's),
float patches of shape (N, 1, 16, 16), (N, 16, 16) or (N, 256); trn is the training split,
vld the validation split.

Building (``python run_suite.py prepare CIFAR16 --from DIR``, DIR holding the CIFAR-10 python
batches ``data_batch_1..5`` and ``test_batch``, directly, in ``cifar-10-batches-py/``, or as
``cifar-10-python.tar.gz``; or ``prepare CIFAR16 --download``, which fetches that archive into
``<data_dir>/CIFAR10/`` with its SHA-256 checked): every 32x32 image goes through the patch
pipeline (:mod:`suite.data.preprocess`) with the P-VAE papers' reference recipe ``pvae-reference`` by
default (:data:`suite.data.preprocess.PVAE_REFERENCE`: grayscale, the reference code's whitening,
local contrast normalization, z-score, 4-pixel crop leaving 24x24; every patch kept), so that
the result matches the authors' ``processed.npy`` in distribution; ``--recipe NAME`` picks
another of :data:`suite.data.preprocess.RECIPES` (``nat16`` also rejects near-blank patches, pixel
std below 0.1, by further draws). 50,000 training patches come from the 50,000 training images
and 10,000 validation patches from the 10,000 held-out test images, at uniformly random
positions (seeded). Written to ``<data_dir>/CIFAR10/xtract16/{trn,vld}/processed.npy`` with a
``processed.json`` sidecar each that records the recipe (name and fields); loading reports its
name as ``recipe_name`` in the dataset's provenance ("unknown (not built by this suite)" without
a sidecar). The batches are unpickled with a loader that only builds arrays.
"""
from __future__ import annotations

import dataclasses
import tarfile
from pathlib import Path

import numpy as np
import torch

from suite.data.sources import Dataset
from suite.data.datafiles import as_images, read_cifar_batch, read_npy
from suite.data.download import RemoteFile
from suite.errors import DataError
from suite.data.filesource import FileDatasetSource, Layout
from suite.data.patchbuild import (RecipeBuilder, built_recipe_name, read_build_info, recipe_info,
                              stream_patches, write_patch_file)
from suite.data.preprocess import PVAE_REFERENCE, PatchRecipe
from suite.progress import ProgressFactory, null_progress
from suite.registry import register_dataset

SHAPE = (1, 16, 16)
TOPS = ("CIFAR10", "CIFAR16")
SPLIT_FILES = (("trn/processed.npy",), ("vld/processed.npy",))
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
BATCH_FOLDER = "cifar-10-batches-py"
ARCHIVE = RemoteFile(
    "cifar-10-python.tar.gz",
    # published with Keras' and torchvision's CIFAR-10 loaders (md5 c58f30108f718f92721af3b95e74349a)
    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",), 170_498_071)


def read_cifar10(folder: Path) -> dict[str, np.ndarray]:
    """{"train": (50000, 32, 32, 3), "test": (10000, 32, 32, 3)} uint8 images from ``folder``.

    ``folder`` holds the python batches, or ``cifar-10-batches-py/`` with them, or
    ``cifar-10-python.tar.gz`` (read without extracting it).
    """
    folder = Path(folder)
    names = TRAIN_BATCHES + (TEST_BATCH,)
    for batch_dir in (folder, folder / BATCH_FOLDER):
        if all((batch_dir / n).is_file() for n in names):
            raw = {n: (batch_dir / n).read_bytes() for n in names}
            return _stack(raw, str(batch_dir))
    archive = folder / ARCHIVE.filename
    if archive.is_file():
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = {m.name: m for m in tar.getmembers() if m.isfile()}
                missing = [n for n in names if f"{BATCH_FOLDER}/{n}" not in members]
                if missing:
                    raise DataError(f"{archive}: the archive has no "
                                    + ", ".join(f"{BATCH_FOLDER}/{n}" for n in missing))
                raw = {n: tar.extractfile(members[f"{BATCH_FOLDER}/{n}"]).read() for n in names}
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(f"{archive}: truncated or corrupt archive ({exc}); get it again") from None
        return _stack(raw, str(archive))
    raise DataError(f"CIFAR16: no CIFAR-10 python batches in {folder}: expected "
                    f"{', '.join(names)} there or in {folder / BATCH_FOLDER}, or {archive}")


def _stack(raw: dict[str, bytes], where: str) -> dict[str, np.ndarray]:
    train = [read_cifar_batch(raw[n], f"{where}/{n}")[0] for n in TRAIN_BATCHES]
    return {"train": np.concatenate(train), "test": read_cifar_batch(raw[TEST_BATCH], f"{where}/{TEST_BATCH}")[0]}


class Cifar16(RecipeBuilder, FileDatasetSource):
    """n_train / n_val: how many patches the builder draws for each split; recipe: the patch
    pipeline it builds with (its seed and sizes are the builder's)."""

    name = "CIFAR16"
    description = ("16x16 whitened, contrast-normalized grayscale patches of CIFAR-10 images "
                   "(P-VAE xtract16 layout)")
    shape = SHAPE
    remote_files = (ARCHIVE,)
    download_subdir = "CIFAR10"
    from_hint = "the CIFAR-10 python batches, or cifar-10-python.tar.gz"

    def __init__(self, n_train: int = PVAE_REFERENCE.n_train, n_val: int = PVAE_REFERENCE.n_val,
                 recipe: PatchRecipe = PVAE_REFERENCE):
        self.n_train, self.n_val, self.recipe = n_train, n_val, recipe

    def layouts(self, data_dir: Path) -> list[Layout]:
        return [Layout("npy", "P-VAE xtract16 patches", data_dir / top / "xtract16", SPLIT_FILES)
                for top in TOPS]

    def read(self, layout: Layout, paths: list[Path]) -> Dataset:
        trn, vld = (torch.from_numpy(as_images(read_npy(p), what=f"CIFAR16 {p}", shape=SHAPE))
                    for p in paths)
        build = read_build_info(paths[0])
        return Dataset(name=self.name, train=trn, val=vld, shape=SHAPE,
                       provenance={"source": "CIFAR-10 (Krizhevsky, 2009)",
                                   "files": [str(p) for p in paths],
                                   "recipe_name": built_recipe_name(build), "build": build})

    def build(self, from_dir: Path, data_dir: Path, seed: int = 0, *,
              progress: ProgressFactory = null_progress) -> list[Path]:
        """Build the trn / vld patch files from the CIFAR-10 python batches in ``from_dir``."""
        images = read_cifar10(from_dir)
        recipe = dataclasses.replace(self.recipe, seed=seed, n_train=self.n_train, n_val=self.n_val)
        rngs = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        folder = self.layouts(Path(data_dir))[0].folder
        written = []
        for (split, source), n, rng, sub in zip(images.items(), (self.n_train, self.n_val), rngs,
                                                 ("trn", "vld")):
            patches = stream_patches(lambda i, src=source: src[i], [src.shape[:2] for src in source],
                                     n, recipe, rng, progress=progress, desc=f"CIFAR-10 {split} images")
            info = {**recipe_info(recipe, [f"cifar-10 {split} batches"]), "seed": seed,
                    "from": str(from_dir), "images": f"CIFAR-10 {split} set ({len(source)} images)"}
            written += write_patch_file(folder / sub / "processed.npy", patches.reshape(-1, *SHAPE), info)
        return written

    def after_download(self, data_dir: Path, fetched: list[Path], seed: int, *,
                       progress: ProgressFactory = null_progress) -> list[Path]:
        return self.build(fetched[0].parent, data_dir, seed, progress=progress)


register_dataset(Cifar16())
