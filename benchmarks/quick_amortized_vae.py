"""The amortized VAEs under a profile (default ``quick``) on a dataset (default nat16).

For each of pvae, gvae, lvae, cvae, gvae_relu: the settings the suite would use
(configs/profiles + configs/methods/amortized_vae.yaml, resolved by :mod:`suite.config`), the
loss on 2000 validation samples before and after ``fit`` (sse of an evaluation-temperature sample
+ KL, β = 1), the fit time, and the suite's metrics on the validation split (dead fraction with
the PROTOCOL.md rule: mean KL below 0.01 nats). The paper's dead fractions (vH16, K = 512,
3000 epochs) are printed for comparison: P .016, G .782, L .812.

With ``--symmetry``, each trained lin|lin Gaussian VAE is also re-scored (exact loss, β = 1, 5000
validation samples) after setting its log-σ rows to 0 (σ ≡ 1), after a random rotation of its
latent space, and as the balanced factorization of the same encoder-decoder map through its
singular directions (the fewest units): the loss is unchanged while the dead fraction moves, i.e.
the objective does not decide how many units the G-VAE leaves dead.

Run: ``python benchmarks/quick_amortized_vae.py [--profile quick] [--dataset nat16]
[--methods pvae,gvae,lvae] [--threads 2] [--symmetry] [--set lr=0.02 --set epochs=60 ...]``
(``--set`` overrides a hyperparameter, ``epochs``/``max_seconds``/``max_steps`` or ``n_latents``
for every method).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from suite.config import BUDGET_KEYS, load_method_configs, load_profile, settings_for  # noqa: E402
from suite.data.loading import load_dataset  # noqa: E402
from suite.method import Budget  # noqa: E402
from suite.metrics import DEAD_KL_THRESHOLD, evaluate  # noqa: E402
from suite.registry import METHODS, discover  # noqa: E402

PAPER_DEAD = {"pvae": 0.016, "gvae": 0.782, "lvae": 0.812}
"""1 − the published active fractions (METHODS.md §1: P .984, G .218, L .188)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--dataset", default="nat16")
    parser.add_argument("--methods", default="pvae,gvae,lvae,cvae,gvae_relu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--symmetry", action="store_true",
                        help="re-score trained lin|lin G-VAEs rotated and collapsed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    discover()
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    ds = load_dataset(args.dataset)
    profile = load_profile(args.profile)
    configs = load_method_configs()
    x_loss = ds.val[:2000]
    print(f"{args.profile} profile on {args.dataset} (train {tuple(ds.train.shape)}, val "
          f"{tuple(ds.val.shape)}), torch threads {args.threads}, overrides {overrides}")
    for name in args.methods.split(","):
        s = settings_for(name, args.dataset, args.profile, profile, configs, {})
        hparams = {**s["hparams"], **{k: v for k, v in overrides.items()
                                      if k not in BUDGET_KEYS and k != "n_latents"}}
        budget = {**s["budget"], **{k: v for k, v in overrides.items() if k in BUDGET_KEYS}}
        k = overrides.get("n_latents", s["n_latents"])
        method = METHODS.get(name)(ds.shape, k, seed=args.seed, **hparams)
        with torch.no_grad():
            before = float(method.batch_loss(x_loss, 1.0, method.eval_temperature))
        start = time.perf_counter()
        method.fit(ds.train, Budget(**budget))  # never the evaluation split as val
        seconds = time.perf_counter() - start
        with torch.no_grad():
            after = float(method.batch_loss(x_loss, 1.0, method.eval_temperature))
            inf = method.infer(ds.val)
        m, _ = evaluate(inf, ds.val)
        paper = f" (paper {PAPER_DEAD[name]:.3f})" if name in PAPER_DEAD else ""
        print(f"{name:10s} K={k} {budget} fit {seconds:6.1f} s  loss {before:7.1f} -> {after:7.1f}  "
              f"sse {m['sse']:6.1f}  rate {m['rate']:6.1f}  nelbo {m['nelbo']:6.1f}  "
              f"lifetime {m['lifetime_sparsity'] or float('nan'):.3f}  "
              f"dead {m['dead_frac']:.3f}{paper}", flush=True)
        if args.symmetry and name == "gvae" and method.hp["arch"] == "lin|lin":
            symmetry_check(method, ds.train, ds.val[:5000])


def _exact_loss_and_dead(method, x) -> str:
    with torch.no_grad():
        post = method.encode(x)
        kl = method.unit_kl(post)
        loss = float((method.expected_sse(x, post) + kl.sum(1)).mean())
    return f"loss {loss:8.2f}, dead {float((kl.mean(0) < DEAD_KL_THRESHOLD).float().mean()):.3f}"


def symmetry_check(method, train, x) -> None:
    """Exact loss and dead fraction of a trained lin|lin G-VAE: as trained; with σ ≡ 1; after a
    random rotation R of the latent space (A → RA, Φ → ΦRᵀ); and as the balanced factorization
    of the map M = ΦA through the singular directions of M·C^{1/2} (C the data covariance): unit
    i gets decoder column u_i·√(s_i/√2) and encoder row √(s_i·√2)·v_iᵀC^{-1/2}, so that its two
    costs ‖φ_i‖² and ½·a_iᵀCa_i are equal, the cheapest split of the same map."""
    k = method.n_latents
    enc, dec = method.model.encoder.weight, method.model.decoder.weight  # (2K, D), (D, K)
    print(f"    symmetry (exact loss, beta 1, {x.shape[0]} val samples): trained "
          f"{_exact_loss_and_dead(method, x)}")
    with torch.no_grad():
        enc[k:] = 0.0
        print(f"    sigma = 1:  {_exact_loss_and_dead(method, x)}")
        a, phi = enc[:k].clone(), dec.clone()
        rot, _ = torch.linalg.qr(torch.randn(k, k, generator=torch.Generator().manual_seed(0)))
        enc[:k] = rot @ a
        dec.copy_(phi @ rot.T)
        print(f"    rotated:    {_exact_loss_and_dead(method, x)}")
        evals, evecs = torch.linalg.eigh(torch.cov(train[:20000].T.double()))
        root = (evecs * evals.clamp_min(0).sqrt()) @ evecs.T
        inv_root = (evecs / evals.clamp_min(1e-8).sqrt()) @ evecs.T
        u, s, vt = torch.linalg.svd((phi @ a).double() @ root)
        scale = 2.0 ** -0.5
        dec.copy_((u[:, :k] * (s[:k] * scale).sqrt()).to(dec.dtype))
        enc[:k] = (((s[:k] / scale).sqrt()[:, None] * vt[:k]) @ inv_root).to(enc.dtype)
        print(f"    collapsed:  {_exact_loss_and_dead(method, x)} (units = singular directions)")


if __name__ == "__main__":
    main()
