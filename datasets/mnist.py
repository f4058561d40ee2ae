"""MNIST (LeCun, Cortes & Burges): 28x28 handwritten digits, pixels in [0, 1], labelled.

Train = the 60k training set; validation = the official 10k test set (as in the papers).
Files, looked for in this order under the data folder:

1. the P-VAE layout ``MNIST/processed/{x_trn,y_trn,x_vld,y_vld}.npy``;
2. the four IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
   ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each gzipped ``.gz`` or not), all in
   one of ``MNIST/raw/`` (torchvision's layout, where ``prepare MNIST --download`` writes),
   ``MNIST/`` or ``mnist/``.

Get them with ``python run_suite.py prepare MNIST --download`` (SHA-256 of the published
``.gz`` files verified) or ``prepare MNIST --from DIR`` (DIR holding the IDX files).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from suite.data.sources import Dataset
from suite.data.datafiles import as_images, as_labels, read_idx, read_npy
from suite.data.download import RemoteFile
from suite.data.filesource import FileDatasetSource, Layout
from suite.progress import ProgressFactory, null_progress
from suite.registry import register_dataset

SHAPE = (1, 28, 28)
IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
IDX_MAGIC = (0x803, 0x801, 0x803, 0x801)  # uint8 images (N, 28, 28), uint8 labels (N,)
IDX_NAMES = tuple((f"{stem}.gz", stem) for stem in IDX_STEMS)
NPY_NAMES = (("x_trn.npy",), ("y_trn.npy",), ("x_vld.npy",), ("y_vld.npy",))
IDX_FOLDERS = ("MNIST/raw", "MNIST", "mnist")
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
           "https://storage.googleapis.com/cvdf-datasets/mnist/")
# SHA-256 and size of the published .gz files (the same in TensorFlow Datasets, torchvision's
# mirror and the original site's copies).
PUBLISHED = {
    "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
    "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
    "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
    "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
}


def unit_pixels(arr: np.ndarray, what: str) -> np.ndarray:
    """(N, 784) float32 in [0, 1]: integer pixels are divided by 255, float pixels kept."""
    if np.asarray(arr).dtype.kind in "biu":
        return as_images(arr, what=what, shape=SHAPE, value_range=(0, 255)) / np.float32(255)
    return as_images(arr, what=what, shape=SHAPE, value_range=(0, 1))


@register_dataset
class MNIST(FileDatasetSource):
    name = "MNIST"
    description = "MNIST digits 28x28 in [0, 1], labelled: 60k train, the 10k test set as validation"
    shape = SHAPE
    labelled = True
    knn_sizes = (200, 1000, 5000)
    remote_files = tuple(RemoteFile(f, sha, tuple(m + f for m in MIRRORS), size)
                         for f, (sha, size) in PUBLISHED.items())
    download_subdir = "MNIST/raw"
    from_hint = "the four MNIST IDX files, gzipped or not"

    def layouts(self, data_dir: Path) -> list[Layout]:
        return [Layout("npy", "P-VAE processed arrays", data_dir / "MNIST" / "processed", NPY_NAMES)] + [
            Layout("idx", "IDX files", data_dir / sub, IDX_NAMES) for sub in IDX_FOLDERS]

    def read(self, layout: Layout, paths: list[Path]) -> Dataset:
        if layout.kind == "idx":
            xt, yt, xv, yv = (read_idx(p, magic) for p, magic in zip(paths, IDX_MAGIC))
        else:
            xt, yt, xv, yv = (read_npy(p) for p in paths)
        x_trn = unit_pixels(xt, f"MNIST {paths[0]}")
        x_vld = unit_pixels(xv, f"MNIST {paths[2]}")
        y_trn = as_labels(yt, what=f"MNIST {paths[1]}", n=len(x_trn), n_classes=10)
        y_vld = as_labels(yv, what=f"MNIST {paths[3]}", n=len(x_vld), n_classes=10)
        return Dataset(
            name=self.name, train=torch.from_numpy(x_trn), val=torch.from_numpy(x_vld),
            shape=SHAPE, train_labels=torch.from_numpy(y_trn), val_labels=torch.from_numpy(y_vld),
            knn_sizes=self.knn_sizes,
            provenance={"source": "MNIST (LeCun, Cortes & Burges), CC BY-SA 3.0",
                        "layout": layout.description, "files": [str(p) for p in paths]})

    def build(self, from_dir: Path, data_dir: Path, seed: int = 0, *,
              progress: ProgressFactory = null_progress) -> list[Path]:
        """Check the IDX files in ``from_dir``, then copy them to ``<data_dir>/MNIST/raw``."""
        return self.install_checked(from_dir, data_dir, "idx", IDX_NAMES, "the four MNIST IDX files")
