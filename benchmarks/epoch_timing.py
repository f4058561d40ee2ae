"""Seconds per training epoch of every method at a profile, and the projected wall time of that
profile's full budget (epochs × seconds per epoch), on one device.

    python benchmarks/epoch_timing.py --device cuda --profile paper [--cap 60]

Each method trains for one epoch (capped at ``--cap`` seconds; a capped epoch is extrapolated
from the steps it took) on the dataset the reproduction claims use for it: natural patches
(``--patches``, default nat16-pvae) for the patch methods, ``bMNIST`` for the BiHM (``digits-bin``
when bMNIST is not in the data folder), ``MNIST`` at K = 10 for the MNIST runs of claim C6 (when
present). Prints one line per (method, dataset) and a total. Used by benchmarks/gpu_check.sh.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from suite.config import build_grid  # noqa: E402
from suite.data.sources import resolve_data_dir  # noqa: E402
from suite.data.loading import load_dataset  # noqa: E402
from suite.devices import resolve_device  # noqa: E402
from suite.method import Budget  # noqa: E402
from suite.registry import DATASETS, METHODS, create_method, discover  # noqa: E402


def time_epoch(spec, ds, device, cap: float) -> tuple[float, int, int]:
    """(seconds for one epoch, steps taken, steps per epoch) of ``spec`` on ``ds``."""
    method = create_method(spec.method, ds.shape, spec.n_latents, device=device, seed=0,
                           **spec.hparams)
    bs = int(spec.hparams.get("batch_size", 100))
    per_epoch = Budget(epochs=1).total_steps(ds.train.shape[0], bs)
    start = time.perf_counter()
    method.fit(ds.train, Budget(epochs=1, max_seconds=cap))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    curve = getattr(method, "loss_curve_", None)
    taken = int(curve.to_dict()["total_steps"]) if curve is not None else per_epoch
    return seconds * per_epoch / max(1, taken), taken, per_epoch


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--profile", default="paper")
    p.add_argument("--patches", default="nat16-pvae")
    p.add_argument("--cap", type=float, default=60.0, help="seconds at most per method")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    discover()
    device = resolve_device(args.device)
    data_dir = resolve_data_dir(args.data_dir)
    binary = "bMNIST" if DATASETS.get("bMNIST").availability(data_dir).ok else "digits-bin"
    plan = [(m, args.patches) for m in METHODS.names() if m != "bihm"] + [("bihm", binary)]
    if DATASETS.get("MNIST").availability(data_dir).ok:
        plan += [("pvae", "MNIST"), ("gvae", "MNIST")]
    print(f"device {device}, profile {args.profile}, cap {args.cap:g} s per method")
    total = 0.0
    for method, dataset in plan:
        spec = build_grid(method, dataset, [0], args.profile).specs[0]
        ds = load_dataset(dataset, args.data_dir).to(device)
        sec, taken, per_epoch = time_epoch(spec, ds, device, args.cap)
        epochs = float(spec.budget.get("epochs", 1))
        projected = sec * epochs
        total += projected
        print(f"{method:11s} {dataset:11s} K={spec.n_latents:<4d} {sec:8.2f} s/epoch "
              f"({taken}/{per_epoch} steps timed) x {epochs:g} epochs = {projected / 3600:7.2f} h")
    print(f"projected {args.profile}-profile training, one seed, all of the above: {total / 3600:.2f} h")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
