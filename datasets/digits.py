"""digits: scikit-learn's handwritten digits (UCI optical recognition), 1797 8x8 images, labelled.

Pixels are counts 0..16 in the source, divided by 16 to [0, 1]; samples are flattened (1, 8, 8)
images, float32; labels 0..9, int64. Needs no files (the data ships with scikit-learn).

Split (fixed, seeded): the samples are put in a *stratified order*: each class's members are
shuffled (numpy Generator, seed 0) and member j of a class of n_c gets the position
(j + 0.5) / n_c; sorting by position (stably) interleaves the classes so that every prefix holds
each class in proportion to its frequency. The first 500 samples of that order are the validation
split, the other 1297 the training split. Per PROTOCOL.md's few-shot protocol the first half of
the validation split (250 samples, about 25 per class) is the labelled pool and the second half
(250) the held-out test set; both halves are stratified as well. ``knn_sizes`` therefore stop at
the pool size: (10, 50, 100, 250).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from suite.data.sources import Dataset, DatasetSource
from suite.registry import register_dataset

N_VAL = 500
SPLIT_SEED = 0
MAX_PIXEL = 16.0


def stratified_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``labels`` ordered so that every prefix is (nearly) stratified.

    Member j (in a random order) of a class with n_c members sits at (j + 0.5) / n_c; the result
    sorts all samples by that position, ties kept in index order.
    """
    position = np.empty(len(labels))
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        position[members] = (np.arange(len(members)) + 0.5) / len(members)
    return np.argsort(position, kind="stable")


@register_dataset
class Digits(DatasetSource):
    name = "digits"
    description = ("scikit-learn's 8x8 handwritten digits in [0, 1], labelled: "
                   "1297 train, 500 val (stratified, seeded)")
    shape = (1, 8, 8)
    labelled = True
    knn_sizes = (10, 50, 100, 250)
    embedded = True

    def load(self, data_dir: Path, cache_dir: Path) -> Dataset:
        from sklearn.datasets import load_digits  # ~1 s to import: not at plugin discovery

        bunch = load_digits()
        x = (bunch.data / MAX_PIXEL).astype(np.float32)
        y = bunch.target.astype(np.int64)
        order = stratified_order(y, np.random.default_rng(SPLIT_SEED))
        val, train = order[:N_VAL], order[N_VAL:]
        return Dataset(
            name=self.name, shape=self.shape, knn_sizes=self.knn_sizes,
            train=torch.from_numpy(x[train]), train_labels=torch.from_numpy(y[train]),
            val=torch.from_numpy(x[val]), val_labels=torch.from_numpy(y[val]),
            provenance={"source": "sklearn.datasets.load_digits: the test set of the UCI "
                                  "'Optical Recognition of Handwritten Digits' (Alpaydin & "
                                  "Kaynak, 1998)",
                        "split": f"stratified order, seed {SPLIT_SEED}: first {N_VAL} -> val",
                        "scale": f"pixel / {MAX_PIXEL:g}"})
