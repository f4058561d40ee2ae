"""Building a patch dataset from many images, one image in memory at a time.

:func:`stream_patches` draws the same patches as :func:`suite.data.preprocess.sample_patches` on
the processed images (the same positions and the same contrast selection for the same generator
state) but loads, processes and cuts one image at a time, so that thousands of 1536x1024 van
Hateren images (tens of GB once processed) or 60,000 CIFAR-10 images need no more memory than
one image plus the patches of a round of candidates.
:func:`write_patch_file` saves a built split atomically, with a JSON sidecar that records how
it was built.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import DataError
from .preprocess import (PatchRecipe, cut_patches, positions_by_image, process_image,
                         select_patches)
from ..progress import ProgressFactory, null_progress
from ..store import atomic_write, write_json


def stream_patches(load: Callable[[int], np.ndarray], raw_shapes: Sequence[tuple[int, int]],
                   n: int, recipe: PatchRecipe, rng: np.random.Generator, *,
                   names: Sequence[str] | None = None, progress: ProgressFactory = null_progress,
                   desc: str = "images") -> np.ndarray:
    """(n, p*p) float32 patches at uniformly random positions of the processed images.

    load(i): the raw image i (any array :func:`suite.data.preprocess.to_gray_float` accepts);
    raw_shapes[i]: its (rows, columns) before processing; recipe: the pipeline
    (:func:`suite.data.preprocess.process_image`), patch size p and contrast threshold
    min_patch_std; rng: a seeded numpy Generator; names[i]: how errors name image i (default:
    its index). The selection is :func:`suite.data.preprocess.select_patches`: each round of
    candidates loads, processes and cuts the images that received one, one image at a time
    (images with no candidate are not loaded), so a second round, needed only when too many
    candidates fall below the threshold, loads images again.
    """
    p, c = recipe.patch_size, recipe.crop
    shapes = [(h - 2 * c, w - 2 * c) for h, w in raw_shapes]
    rounds = 0

    def cut(positions: np.ndarray) -> np.ndarray:
        nonlocal rounds
        rounds += 1
        out = np.empty((len(positions), p * p), dtype=np.float32)
        label = desc if rounds == 1 else f"{desc} (round {rounds}: low-contrast patches replaced)"
        with progress(total=len(shapes), desc=label) as bar:
            by_image = positions_by_image(positions, len(shapes))
            for i, (shape, sel) in enumerate(zip(shapes, by_image)):
                if sel.size:
                    name = names[i] if names is not None else f"{desc} {i}"
                    try:
                        img = process_image(load(i), recipe)
                    except DataError as exc:
                        raise DataError(f"{name}: {exc}") from None
                    if img.shape != shape:
                        raise DataError(f"{name}: processed to {img.shape}, its header announced "
                                        f"{tuple(raw_shapes[i])} before a {c}-pixel crop")
                    out[sel] = cut_patches(img, positions[sel, 1:], p)
                bar.update(1)
        return out

    return select_patches(shapes, n, p, rng, recipe.min_patch_std, cut)


def write_patch_file(path: Path, patches: np.ndarray, info: dict) -> list[Path]:
    """Save (N, 1, p, p) float32 ``patches`` to ``path`` (``.npy``) and ``info`` beside it (``.json``)."""
    path = Path(path)
    atomic_write(path, lambda fh: np.save(fh, np.ascontiguousarray(patches, dtype=np.float32)))
    return [path, write_json(path.with_suffix(".json"), info)]


def read_build_info(path: Path) -> dict | None:
    """The JSON sidecar written by :func:`write_patch_file` for ``path``, if there is one."""
    sidecar = Path(path).with_suffix(".json")
    if not sidecar.is_file():
        return None
    try:
        return json.loads(sidecar.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{sidecar}: unreadable build record ({exc}); delete it or rebuild") from None


def recipe_info(recipe: PatchRecipe, inputs: Sequence[str]) -> dict:
    """The recipe (name and every field), its hash over ``inputs`` (the source file names) and
    the pipeline, for a sidecar."""
    return {"recipe_name": recipe.name, "recipe": dataclasses.asdict(recipe),
            "recipe_hash": recipe.hash(*inputs),
            "pipeline": f"suite.data.preprocess.process_image with the {recipe.name!r} recipe "
                        "(suite.data.preprocess.RECIPES, docs/DATA.md)"}


class RecipeBuilder:
    """Mixin of the file sources whose ``build`` cuts patches with a :class:`PatchRecipe`
    (``self.recipe``; its seed, n_train and n_val are replaced by the builder's own):
    ``prepare --recipe NAME`` builds with :meth:`with_recipe`."""

    recipe: PatchRecipe

    def with_recipe(self, recipe: PatchRecipe):
        """A copy of this source that builds with ``recipe``."""
        other = copy.copy(self)
        other.recipe = recipe
        return other


UNKNOWN_RECIPE = "unknown (not built by this suite)"


def built_recipe_name(info: dict | None) -> str:
    """The name of the recipe a patch file was built with, from its sidecar ``info``
    (:func:`read_build_info`): :data:`UNKNOWN_RECIPE` without a sidecar (e.g. the authors'
    ``processed.npy``), "unnamed (...)" for a sidecar written before recipes had names."""
    if info is None:
        return UNKNOWN_RECIPE
    recipe = info.get("recipe")
    name = info.get("recipe_name") or (recipe.get("name") if isinstance(recipe, dict) else None)
    return name if isinstance(name, str) and name else (
        "unnamed (built by an earlier version of this suite; see the build record's recipe)")
