"""Toy datasets for the engine's tests: tiny, labelled, built in milliseconds."""
import torch

from suite.capabilities import DataKind
from suite.data.sources import Dataset, DatasetSource
from suite.registry import register_dataset


@register_dataset
class Toy(DatasetSource):
    """Two Gaussian clusters in 16 dimensions, 200 train / 100 validation, labelled."""

    name = "toy"
    description = "two labelled Gaussian clusters (tests)"
    shape = (1, 4, 4)
    labelled = True
    knn_sizes = (10, 50)
    embedded = True

    def load(self, data_dir, cache_dir):
        g = torch.Generator().manual_seed(0)
        y = torch.arange(300) % 2
        centers = torch.randn(2, 16, generator=g) * 3
        x = centers[y] + torch.randn(300, 16, generator=g)
        return Dataset(self.name, x[:200].float(), x[200:].float(), self.shape,
                       train_labels=y[:200].long(), val_labels=y[200:].long(),
                       knn_sizes=self.knn_sizes, provenance={"source": "synthetic"})


@register_dataset
class ToyBinary(DatasetSource):
    """Binary toy data (unlabelled), for capability checks."""

    name = "toybin"
    description = "Bernoulli(0.3) binary vectors (tests)"
    shape = (1, 4, 4)
    data_kind = DataKind.BINARY
    embedded = True

    def load(self, data_dir, cache_dir):
        g = torch.Generator().manual_seed(1)
        x = (torch.rand(300, 16, generator=g) < 0.3).float()
        return Dataset(self.name, x[:200], x[200:], self.shape, data_kind=DataKind.BINARY)
