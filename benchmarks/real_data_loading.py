"""How long the real datasets take to load and build, from the project's test data.

Prints wall-clock seconds of: loading MNIST from its four gzipped IDX files (60k + 10k); loading
bMNIST from its MAT files; parsing the 50k-row text ``.amat`` (regenerated from the MAT copy in
a temporary folder); drawing MNIST-bin; building vH16 from two 1536x1024 ``.iml`` images (the
van Hateren TIFF and its mirror), per image.

    python benchmarks/real_data_loading.py [--data ../shared/data] [--threads 1]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from suite.data.datafiles import read_amat, read_image, write_raw_image  # noqa: E402
from suite.registry import DATASETS  # noqa: E402


def timed(label: str, fn):
    t = time.perf_counter()
    out = fn()
    print(f"{label:<55s} {time.perf_counter() - t:7.2f} s")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    DATASETS.names()  # plugin discovery, not timed
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mnist = timed("MNIST: 4 gzipped IDX files -> checked tensors",
                      lambda: DATASETS.get("MNIST").load(args.data, tmp).validate())
        from brainlike_suite.datasets.dynamic_binarization import bernoulli_draws

        timed("MNIST-bin: Bernoulli draws of 70k x 784 pixels",
              lambda: [bernoulli_draws(t, 0, "MNIST-bin") for t in (mnist.train, mnist.val)])
        bm = timed("bMNIST: 3 MAT files -> checked tensors",
                   lambda: DATASETS.get("bMNIST").load(args.data, tmp).validate())
        chars = np.full((len(bm.train), 1568), ord(" "), np.uint8)
        chars[:, 0::2] = bm.train.numpy().astype(np.uint8) + ord("0")
        chars[:, -1] = ord("\n")
        (tmp / "train.amat").write_bytes(chars.tobytes())
        timed("bMNIST: parse the 78 MB text .amat (50k rows)", lambda: read_amat(tmp / "train.amat"))
        img = read_image(args.data / "vanhateren" / "imk_single.tiff")
        (tmp / "raw").mkdir()
        write_raw_image(tmp / "raw" / "a.iml", img)
        write_raw_image(tmp / "raw" / "b.iml", img[:, ::-1])
        src = type(DATASETS.get("vH16"))(n_patches=60_000)
        seconds = time.perf_counter()
        src.build(tmp / "raw", tmp / "out", seed=0)
        seconds = time.perf_counter() - seconds
        print(f"{'vH16: build 60k patches from 2 .iml images, per image':<55s} {seconds / 2:7.2f} s"
              f"   (4212 images: about {seconds / 2 * 4212 / 60:.0f} min)")


if __name__ == "__main__":
    main()
