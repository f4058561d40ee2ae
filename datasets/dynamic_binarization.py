"""Dynamic binarizations: ``MNIST-bin`` and ``digits-bin``, labelled binary data.

Each pixel intensity p in [0, 1] of the parent dataset becomes one seeded Bernoulli draw,
x ~ Bernoulli(p), drawn once at load time with a torch generator seeded per split
(``derive_seed(name, split, seed)``), so every run sees the same 0/1 images. Labels, splits,
shape and few-shot pool sizes are the parent's. For the Helmholtz machine (binary units) and
for labelled binary few-shot KNN; the fixed binarization of the likelihood literature is
``bMNIST``. The parent's files are all they need: ``prepare MNIST-bin`` prepares ``MNIST``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from suite.capabilities import DataKind
from suite.data.sources import Availability, Dataset, DatasetSource
from suite.data.loading import load_dataset
from suite.errors import DataError, DataMissingError
from suite.registry import DATASETS, register_dataset
from suite.seeding import derive_seed, make_generator


def bernoulli_draws(p: torch.Tensor, seed: int, what: str) -> torch.Tensor:
    """x = 1[u < p] with u ~ U(0, 1), i.e. x ~ Bernoulli(p), elementwise; float32 0/1.

    u comes from a torch generator on p's device seeded with ``seed``.
    """
    if p.numel() and (p.min() < 0 or p.max() > 1):
        raise DataError(f"{what}: intensities must lie in [0, 1] to be Bernoulli probabilities, "
                        f"found [{p.min().item():g}, {p.max().item():g}]")
    u = torch.rand(p.shape, generator=make_generator(p.device, seed), device=p.device)
    return (u < p).to(torch.float32)


def _from_parent(attribute: str) -> property:
    """A read-only property returning the parent dataset's ``attribute``."""
    return property(lambda self: getattr(self.parent, attribute),
                    doc=f"The parent dataset's ``{attribute}``.")


class DynamicBinarization(DatasetSource):
    """``<parent>-bin``: the parent dataset with every pixel replaced by a Bernoulli draw."""

    data_kind = DataKind.BINARY

    def __init__(self, parent: str, seed: int = 0):
        self.derived_from, self.seed = parent, seed
        self.name = f"{parent}-bin"
        self.description = f"{parent}, each pixel a seeded Bernoulli(intensity) draw (0/1), labelled"

    @property
    def parent(self) -> DatasetSource:
        return DATASETS.get(self.derived_from)

    shape = _from_parent("shape")
    labelled = _from_parent("labelled")
    knn_sizes = _from_parent("knn_sizes")
    embedded = _from_parent("embedded")

    def availability(self, data_dir: Path) -> Availability:
        a = self.parent.availability(data_dir)
        return Availability(a.ok, f"drawn from {self.derived_from} ({a.detail})")

    def load(self, data_dir: Path, cache_dir: Path) -> Dataset:
        try:
            base = load_dataset(self.derived_from, data_dir, cache_dir)
        except DataMissingError as exc:
            raise DataMissingError(f"{self.name} is drawn from {self.derived_from} at load time. "
                                   f"{exc}") from None
        draws = {split: bernoulli_draws(getattr(base, split), derive_seed(self.name, split, self.seed),
                                        f"{self.name} {split}")
                 for split in ("train", "val", "test") if getattr(base, split) is not None}
        return dataclasses.replace(
            base, name=self.name, data_kind=DataKind.BINARY, **draws,
            provenance={**base.provenance, "binarization": f"x ~ Bernoulli(pixel of {self.derived_from}), "
                        f"torch generator seeded with derive_seed({self.name!r}, split, {self.seed})"})


register_dataset(DynamicBinarization("MNIST"))
register_dataset(DynamicBinarization("digits"))
