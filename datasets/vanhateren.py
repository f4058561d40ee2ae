"""vH16: 16x16 patches of van Hateren's natural images (van Hateren & van der Schaaf, 1998).

Loading (the P-VAE papers' file): ``<data_dir>/DOVES/vH16/processed.npy``, float patches of
shape (N, 1, 16, 16), (N, 16, 16) or (N, 256). Split as in the P-VAE code: cut the N patches
into 100 contiguous blocks of N // 100 (the last block takes the remainder) and send the last
round(0.2 * block length) patches of each block to validation.

Building (``python run_suite.py prepare vH16 --from RAW_DIR``): every ``.iml`` / ``.imc``
(headerless big-endian uint16, 1536x1024), TIFF, PNG or JPEG image under RAW_DIR. 20% of the
images (at least one) are held out whole for validation, chosen by the seed. Each image goes
through the patch pipeline (:mod:`suite.data.preprocess`) with the P-VAE papers' reference recipe
``pvae-reference`` by default (:data:`suite.data.preprocess.PVAE_REFERENCE`: grayscale, the reference
code's whitening, local contrast normalization, z-score, border crop; every patch kept), so that
the result matches the authors' ``processed.npy`` in distribution; ``--recipe NAME`` picks
another of :data:`suite.data.preprocess.RECIPES` (``nat16`` also rejects patches whose pixel standard
deviation is below its ``min_patch_std``, 0.1, by further draws). 60,000 patches are drawn at
uniformly random positions (seeded) and written in the block layout above, so that the P-VAE
split gives exactly the patches of the held-out images to validation (48,000 train / 12,000
validation). A JSON sidecar ``processed.json`` records the recipe (name and fields), its hash,
the seed and both image lists; loading reports the recipe's name as ``recipe_name`` in the
dataset's provenance ("unknown (not built by this suite)" for a file without a sidecar, such as
the authors' own). The same seed, recipe and images give a byte-identical file.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from suite.data.sources import Dataset
from suite.data.datafiles import as_images, find_images, image_size, read_image, read_npy
from suite.errors import DataError
from suite.data.filesource import FileDatasetSource, Layout
from suite.data.patchbuild import (RecipeBuilder, built_recipe_name, read_build_info, recipe_info,
                              stream_patches, write_patch_file)
from suite.data.preprocess import PVAE_REFERENCE, PatchRecipe
from suite.progress import ProgressFactory, null_progress
from suite.registry import register_dataset

SHAPE = (1, 16, 16)
N_BLOCKS, VAL_PORTION = 100, 0.2
N_PATCHES = 60_000
VAL_IMAGE_PORTION = 0.2


def block_split(n: int, n_blocks: int = N_BLOCKS, val_portion: float = VAL_PORTION
                ) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices) of the P-VAE block split of n samples.

    Blocks of n // n_blocks contiguous samples (the last one takes the remainder); the last
    round(val_portion * block length) samples of each block (numpy rounding, half to even)
    go to validation.
    """
    if n < n_blocks:
        raise DataError(f"vH16: {n} patches cannot be cut into {n_blocks} blocks")
    size = n // n_blocks
    starts = np.arange(n_blocks) * size
    ends = np.r_[starts[1:], n]
    cut = ends - np.round((ends - starts) * val_portion).astype(np.int64)
    train = np.concatenate([np.arange(s, c) for s, c in zip(starts, cut)])
    val = np.concatenate([np.arange(c, e) for c, e in zip(cut, ends)])
    return train, val


class VanHateren16(RecipeBuilder, FileDatasetSource):
    """n_patches: how many patches the builder draws (train and validation together);
    recipe: the patch pipeline it builds with (its seed and sizes are the builder's)."""

    name = "vH16"
    description = ("16x16 whitened, contrast-normalized patches of van Hateren natural images "
                   "(P-VAE processed.npy, 100-block split)")
    shape = SHAPE
    from_hint = "raw van Hateren images: .iml/.imc, TIFF, PNG or JPEG"

    def __init__(self, n_patches: int = N_PATCHES, recipe: PatchRecipe = PVAE_REFERENCE):
        self.n_patches, self.recipe = n_patches, recipe

    def layouts(self, data_dir: Path) -> list[Layout]:
        return [Layout("npy", "P-VAE processed patches", data_dir / "DOVES" / "vH16", (("processed.npy",),))]

    def read(self, layout: Layout, paths: list[Path]) -> Dataset:
        x = as_images(read_npy(paths[0]), what=f"vH16 {paths[0]}", shape=SHAPE)
        train, val = block_split(len(x))
        build = read_build_info(paths[0])
        return Dataset(name=self.name, train=torch.from_numpy(x[train]), val=torch.from_numpy(x[val]),
                       shape=SHAPE,
                       provenance={"source": "van Hateren natural images", "files": [str(paths[0])],
                                   "split": f"P-VAE block split: {N_BLOCKS} blocks, last "
                                            f"{VAL_PORTION:.0%} of each to validation",
                                   "recipe_name": built_recipe_name(build), "build": build})

    def build(self, from_dir: Path, data_dir: Path, seed: int = 0, *,
              progress: ProgressFactory = null_progress) -> list[Path]:
        """Build ``<data_dir>/DOVES/vH16/processed.npy`` from the raw images under ``from_dir``."""
        images = find_images(from_dir)
        if len(images) < 2:
            raise DataError(f"vH16: --from {from_dir} holds {len(images)} image(s) (.iml, .imc, .tif, "
                            ".tiff, .png, .jpg); at least 2 are needed, as whole images are held "
                            "out for validation")
        sizes = {p: image_size(p) for p in images}  # every header checked before any work
        holdout_rng, train_rng, val_rng = (np.random.default_rng(s)
                                           for s in np.random.SeedSequence(seed).spawn(3))
        n_val_images = max(1, round(VAL_IMAGE_PORTION * len(images)))
        held = set(holdout_rng.permutation(len(images))[:n_val_images].tolist())
        groups = {"train": [p for i, p in enumerate(images) if i not in held],
                  "val": [p for i, p in enumerate(images) if i in held]}
        train_idx, val_idx = block_split(self.n_patches)
        recipe = dataclasses.replace(self.recipe, seed=seed, n_train=len(train_idx), n_val=len(val_idx))
        out = np.empty((self.n_patches, SHAPE[1] * SHAPE[2]), dtype=np.float32)
        for (split, paths), idx, rng in zip(groups.items(), (train_idx, val_idx), (train_rng, val_rng)):
            out[idx] = stream_patches(lambda i, paths=paths: read_image(paths[i]),
                                      [sizes[p] for p in paths], len(idx), recipe, rng,
                                      names=[str(p) for p in paths], progress=progress,
                                      desc=f"vH16 {split} images")
        names = {k: [str(p.relative_to(from_dir)) for p in v] for k, v in groups.items()}
        info = {**recipe_info(recipe, [f"{k}:{n}" for k, v in names.items() for n in v]),
                "seed": seed, "from": str(from_dir), "train_images": names["train"],
                "val_images": names["val"],
                "layout": f"P-VAE block split of {self.n_patches} patches into {N_BLOCKS} blocks: the "
                          f"last {VAL_PORTION:.0%} of each block are the held-out images' patches"}
        target = self.layouts(Path(data_dir))[0].folder / "processed.npy"
        return write_patch_file(target, out.reshape(-1, *SHAPE), info)


register_dataset(VanHateren16())
