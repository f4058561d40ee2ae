"""Benchmark of the BiHM: time per training step and per epoch of binarized MNIST (50k examples,
batch 100, K = 10), for the quick model and the paper's 12-layer model, plus the cost of the
evaluation estimators (log p̃*/log p with K samples, Z²).

    python benchmarks/bench_bihm.py                      # CPU, both architectures
    python benchmarks/bench_bihm.py --device cuda        # the same on a GPU
    python benchmarks/bench_bihm.py --threads 1          # one CPU thread (a shared machine)

The data are synthetic Bernoulli(0.13) images (bMNIST's mean): the cost does not depend on the
pixel values. Timings on a shared machine are noisy: each figure is the median of ``--repeats``.
An epoch is what ``fit`` runs under the suite's runner: the 50k training images less the
profile's held-out slice (``eval.holdout``: 5%, at most 5000, i.e. 47,500 images, 475 steps),
then the validation bound on that slice (2,500 images, K = ``n_samples``).

Anchor configuration: none. This benchmark compares the BiHM with no other implementation; it
reports absolute times. Checked for equal work with ``BiHM.fit``: the timed step is fit's step
(``bihm_loss``, backward, Adam) including its two host synchronizations per step (the finite-loss
check and the loss-curve value; they matter on CUDA), and the epoch projection uses fit's epoch
(it assumed 50,000 training images and a 10,000-image validation pass before, 5% more steps
and 4× the validation work of a run). Float32, ``--threads`` CPU threads (default torch's).

``--quick``: the quick profile only, 3 steps, 1 repeat, the evaluation estimators timed on 200
examples and 500 Z² draws (scaled): checks that the script runs, its times are no result.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from suite.config import load_method_configs, load_profile, settings_for  # noqa: E402
from suite.registry import create_method, discover  # noqa: E402
from suite.subsets import holdout_settings, holdout_size  # noqa: E402
from suite.training import check_finite  # noqa: E402
from timing import median_seconds  # noqa: E402

N_BMNIST_TRAIN = 50_000


def bench(profile: str, device: torch.device, steps: int, repeats: int,
          eval_rows: int | None = None, z_cap: int = 10_000) -> None:
    from brainlike_suite.methods.helmholtz.estimators import importance_estimates, log_z2_estimate
    from brainlike_suite.methods.helmholtz.objective import bihm_loss

    s = settings_for("bihm", "bMNIST", profile, load_profile(profile), load_method_configs(), {})
    m = create_method("bihm", (1, 28, 28), s["n_latents"], device=device, seed=0, **s["hparams"])
    batch = int(m.hp["batch_size"])
    n_val = holdout_size(N_BMNIST_TRAIN, holdout_settings(s["eval"]))
    n_train = N_BMNIST_TRAIN - n_val
    steps_per_epoch = math.ceil(n_train / batch)
    g = torch.Generator(device=device).manual_seed(0)
    x = (torch.rand(max(n_val, steps * batch, 1000), 784, generator=g, device=device) < 0.13).float()
    opt = torch.optim.Adam(m.net.parameters(), lr=1e-3)

    def train_steps():
        for i in range(steps):  # BiHM.fit's step, with its two host synchronizations
            loss, log_p_tilde_star = bihm_loss(m.net, x[i * batch:(i + 1) * batch],
                                               m.hp["n_samples"], g)
            check_finite(loss.detach(), i, "bihm")
            float(log_p_tilde_star.mean())  # fit's loss-curve value
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    step = median_seconds(train_steps, device, repeats) / steps
    n_val_timed = min(n_val, eval_rows or n_val)
    val = median_seconds(lambda: importance_estimates(m.net, x[:n_val_timed], m.hp["n_samples"], g),
                         device, 1) * n_val / max(n_val_timed, 1)
    k = m.hp["eval_samples"]
    n_eval = min(1000, eval_rows or 1000)
    extra = median_seconds(lambda: importance_estimates(m.net, x[:n_eval], k, g), device, 1)
    z_draws = min(m.hp["z_samples"], z_cap)
    z2 = median_seconds(lambda: log_z2_estimate(m.net, z_draws, m.hp["z_inner"], g), device, 1)
    epoch = step * steps_per_epoch + val
    print(f"{profile:>6} {'-'.join(map(str, m.net.sizes)):<52} {step * 1e3:8.1f} ms/step  "
          f"{epoch:8.1f} s/epoch ({steps_per_epoch} steps of {batch} + {val:.1f} s validation "
          f"on {n_val} held-out images)")
    print(f"{'':>6} evaluation: {extra / n_eval * 1e3:.2f} ms/example at K={k}; "
          f"Z² {z2 / z_draws * 1e6:.1f} µs/draw (J={m.hp['z_inner']}), {z2 * m.hp['z_samples'] / z_draws:.1f} s "
          f"for the profile's {m.hp['z_samples']} draws")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    ap.add_argument("--steps", type=int, default=10, help="training steps per timing")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profiles", default="quick,paper")
    ap.add_argument("--quick", action="store_true",
                    help="quick profile, 3 steps, 1 repeat, estimators on 200 examples and 500 Z² "
                         "draws: checks the script, times are no result")
    args = ap.parse_args()
    eval_rows, z_cap = None, 10_000
    if args.quick:
        args.profiles, args.steps, args.repeats, eval_rows, z_cap = "quick", 3, 1, 200, 500
        print("QUICK RUN: small sizes to check the script; the times below are not results.")
    if args.threads:
        torch.set_num_threads(args.threads)
    discover()
    device = torch.device(args.device)
    print(f"device {device}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}")
    for profile in args.profiles.split(","):
        bench(profile, device, args.steps, args.repeats, eval_rows, z_cap)


if __name__ == "__main__":
    main()
