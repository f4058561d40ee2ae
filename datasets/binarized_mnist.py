"""bMNIST: the fixed binarization of MNIST of Larochelle & Murray (2011), 50k / 10k / 10k.

The Helmholtz-machine literature's benchmark. Unlabelled, values 0/1, 28x28. Validation is the
``valid`` split; the ``test`` split is kept in :attr:`Dataset.test` for final likelihood reports.

Files ``binarized_mnist_{train,valid,test}.amat``, looked for under the data folder in
``BinarizedMNIST/`` (where ``prepare bMNIST --download`` writes), ``binarized_mnist/`` and
``bMNIST/``. Each is either the original text (one image per line, 784 space-separated 0/1
values) or a MATLAB v5 MAT file of the same name holding the uint8 (N, 784) variable ``X``.
"""
from __future__ import annotations

from pathlib import Path

import torch

from suite.capabilities import DataKind
from suite.data.sources import Dataset
from suite.data.datafiles import as_images, read_amat
from suite.data.download import RemoteFile
from suite.errors import DataError
from suite.data.filesource import FileDatasetSource, Layout
from suite.progress import ProgressFactory, null_progress
from suite.registry import register_dataset

SHAPE = (1, 28, 28)
SPLITS = ("train", "valid", "test")
SPLIT_SIZES = {"train": 50_000, "valid": 10_000, "test": 10_000}
NAMES = tuple((f"binarized_mnist_{s}.amat",) for s in SPLITS)
FOLDERS = ("BinarizedMNIST", "binarized_mnist", "bMNIST")
URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
# SHA-256 and size of the original text files, as pinned by TensorFlow Datasets
# (url_checksums/binarized_mnist.txt); each was re-derived here from the MAT copies of the
# project's test data (rows written as "0 1 ... 0\n"), and matched.
PUBLISHED = {
    "binarized_mnist_train.amat": ("ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d", 78_400_000),
    "binarized_mnist_valid.amat": ("1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2", 15_680_000),
    "binarized_mnist_test.amat": ("e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c", 15_680_000),
}


class BinarizedMNIST(FileDatasetSource):
    """split_sizes: the row count each split must have (None: any), to catch truncated copies."""

    name = "bMNIST"
    description = "binarized MNIST (Larochelle & Murray), fixed 0/1 draws: 50k train / 10k valid / 10k test"
    shape = SHAPE
    data_kind = DataKind.BINARY
    remote_files = tuple(RemoteFile(f, sha, (URL + f,), size) for f, (sha, size) in PUBLISHED.items())
    download_subdir = "BinarizedMNIST"
    from_hint = "binarized_mnist_{train,valid,test}.amat (text or MAT)"

    def __init__(self, split_sizes: dict[str, int] | None = SPLIT_SIZES):
        self.split_sizes = split_sizes

    def layouts(self, data_dir: Path) -> list[Layout]:
        return [Layout("amat", ".amat files", data_dir / sub, NAMES) for sub in FOLDERS]

    def read(self, layout: Layout, paths: list[Path]) -> Dataset:
        x = {}
        for split, path in zip(SPLITS, paths):
            rows = read_amat(path, 784)
            want = (self.split_sizes or {}).get(split)
            if want is not None and len(rows) != want:
                raise DataError(f"bMNIST {path}: {len(rows)} rows, expected {want} for the {split} "
                                "split (a truncated or different file?)")
            x[split] = torch.from_numpy(as_images(rows, what=f"bMNIST {path}", shape=SHAPE,
                                                  value_range=(0, 1)))
        return Dataset(name=self.name, train=x["train"], val=x["valid"], test=x["test"], shape=SHAPE,
                       data_kind=DataKind.BINARY,
                       provenance={"source": "binarized MNIST of Larochelle & Murray (2011), from MNIST",
                                   "files": [str(p) for p in paths]})

    def build(self, from_dir: Path, data_dir: Path, seed: int = 0, *,
              progress: ProgressFactory = null_progress) -> list[Path]:
        """Check the three .amat files in ``from_dir``, then copy them to ``<data_dir>/BinarizedMNIST``."""
        return self.install_checked(from_dir, data_dir, "amat", NAMES, "the three binarized-MNIST .amat files")


register_dataset(BinarizedMNIST())
