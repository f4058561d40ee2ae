"""Benchmark of the iterative VAEs (iP-VAE, iG-VAE): inference and training cost against LCA at
an equal number of steps, peak memory of a full evaluation pass, and the quick profile's
convergence numbers next to the paper's.

Every method here costs one (B, K)·(K, K) product per inference step (iP/iG: the lateral
matrix Φᵀ Σ⁻¹ Φ; LCA: the Gram matrix ΦᵀΦ), so the ratios measure the extra elementwise work and
sampling. Targets (issue 5): an iP-VAE test-time step ≤ 2× an LCA step, a training step (relaxed
sampler and backpropagation, per unrolled inference step) ≤ 10×.

    python benchmarks/bench_iterative_vae.py                      # throughput + memory (CPU)
    python benchmarks/bench_iterative_vae.py --parts quick        # train the quick profile on nat16
    python benchmarks/bench_iterative_vae.py --device cuda        # throughput on a GPU

Timings on a shared machine are noisy: each figure is the median of ``--repeats`` runs, and the
runs of the methods compared in one table are interleaved (round after round: LCA, then each
method), so that a change of the machine's load shifts all of them alike; the ratios are given for
wall time and for the process's CPU time (less sensitive to other processes on the machine).

Anchor configuration (the LCA step the ratios divide by). Two LCA implementations are timed and
the faster is the anchor: ``lca (suite LcaSteps)``, the sparse-coding solver's own iteration
(:class:`LcaSteps`: lerp, soft threshold, c = b − aG as a product then a subtraction), and
``lca (lean, fused)``, the same dynamics with c = b − aG in one ``addmm`` and the potential
updated in place. Checked: both sides float32, on the same device, in one process with the same
torch threads (``--threads``; default torch's, use 1 on a shared machine), on the same inputs
and dictionary (D, K, batch), for the same number of steps, cold-started; each call sets up its
problem like the iterative VAEs do (their feed-forward drive and lateral matrix; the LCA's
b = xΦᵀ and Gram matrix), but no longer pays the Lipschitz bound (three K×K×K products) that
``make_steps`` computes for its dt stability check: that check, which the VAEs have no analog
of, used to be timed inside every LCA run (about 1 GFLOP, ~4% of the 50-step inference run at
batch 1000 and ~20% at the training batch of 200), making the LCA look slower and the ratios
better than they are. The iterative VAEs' test-time runs also compute their final Inference
(reconstruction), which the LCA runs do not: that bias is against the VAEs and is left as is.

``--quick``: batch 100, training batch 50, 10 steps, 2 repeats, a 1000-sample memory pass of 10
steps: checks that the script runs, its times are no result.
"""
from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from suite.registry import METHODS, discover  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved_medians  # noqa: E402

PAPER = {  # METHODS.md §2, vH16, K = 512, t_train 16: R² at t = 1 / 16 / 1000 and % zeros
    "ipvae": ((-0.02, 0.71, 0.83), 0.77),
    "igvae_relu": ((0.15, 0.77, 0.82), 0.58),
    "igvae": ((0.20, 0.85, 0.87), 0.0),
}


def synthetic_problem(d: int, k: int, n: int, device, seed: int = 0):
    """Unit-norm atoms Φ (D, K) and inputs x = Φa + noise with sparse nonnegative a."""
    g = torch.Generator().manual_seed(seed)
    phi = torch.randn(d, k, generator=g)
    phi /= phi.norm(dim=0)
    a = torch.rand(n, k, generator=g) * 2 * (torch.rand(n, k, generator=g) < 0.05)
    x = a @ phi.T + 0.3 * torch.randn(n, d, generator=g)
    return phi.to(device), x.to(device)


def iterative(name: str, phi: torch.Tensor, device, **hparams):
    """An iterative VAE of METHODS.md's shapes with the dictionary ``phi``, step size 0.1."""
    d, k = phi.shape
    m = METHODS.get(name)((1, d), k, device=device, seed=0, **hparams)
    with torch.no_grad():
        m.params["phi"].copy_(phi)
        for key in m.params:
            if key.startswith("log_lr"):
                m.params[key].fill_(math.log(0.1))
    return m


LCA_LAM, LCA_DT = 0.5, 0.05


def lca_stepper(phi: torch.Tensor, x: torch.Tensor, lam: float = LCA_LAM, dt: float = LCA_DT):
    """The sparse-coding developer's LCA iteration (LcaSteps, methods/sparse_coding/solvers.py),
    built without ``make_steps``' Lipschitz bound (a stability check, not part of a step)."""
    from brainlike_suite.methods.sparse_coding.lasso import GramLasso
    from brainlike_suite.methods.sparse_coding.solvers import LcaSteps

    prob = GramLasso.from_data(x, phi.T.contiguous(), lam)
    return LcaSteps(prob, torch.zeros_like(prob.b), dt, cold=True)


def lca_run(phi: torch.Tensor, x: torch.Tensor, steps: int):
    """A function running ``steps`` LCA steps (suite LcaSteps) from a cold start."""
    def run():
        it = lca_stepper(phi, x)
        for _ in range(steps):
            it.step()
    return run


def lca_lean_run(phi: torch.Tensor, x: torch.Tensor, steps: int, lam: float = LCA_LAM,
                 dt: float = LCA_DT):
    """A function running ``steps`` LCA steps u ← u + dt(c + a − u), a = T_λ(u), c = b − aG,
    from a cold start, in the fewest passes: c in one addmm, u updated in place."""
    def run():
        gram, b = phi.T @ phi, x @ phi  # (K, K), (B, K)
        u, a = torch.zeros_like(b), torch.zeros_like(b)
        for _ in range(steps):
            c = torch.addmm(b, a, gram, alpha=-1.0)
            u.lerp_(c.add_(a), dt)
            a = u - u.clamp(-lam, lam)
        return a
    return run


def lca_functions(phi: torch.Tensor, x: torch.Tensor, steps: int) -> dict:
    """The two LCA anchors, by name (see the module docstring)."""
    return {"lca (suite LcaSteps)": lca_run(phi, x, steps),
            "lca (lean, fused)": lca_lean_run(phi, x, steps)}


def check_lca_agree(phi: torch.Tensor, x: torch.Tensor, steps: int) -> float:
    """Largest |a| difference between the two LCA implementations after ``steps`` steps."""
    it = lca_stepper(phi, x)
    for _ in range(steps):
        it.step()
    return float((it.codes - lca_lean_run(phi, x, steps)()).abs().max())


def print_ratios(times: dict[str, tuple[float, float]], per: dict[str, int], batch: int,
                 quick: bool = False) -> None:
    """One line per entry: wall ms per step, patch-steps/s, wall and CPU-time ratios to the
    anchor, the faster (wall time per step) of the LCA implementations."""
    lcas = [name for name in times if name.startswith("lca")]
    anchor = min(lcas, key=lambda name: times[name][0] / per[name])
    lca_wall, lca_cpu = (t / per[anchor] for t in times[anchor])
    for name, (wall, cpu) in times.items():
        wall, cpu = wall / per[name], cpu / per[name]
        print(f"  {name:28s} {wall * 1e3:8.3f} ms/step  {batch / wall:10.0f} patch-steps/s  "
              f"ratio to LCA {wall / lca_wall:6.2f} (CPU time {cpu / lca_cpu:6.2f})")
    print(f"  (anchor: {anchor}, dense Euler steps{'; QUICK RUN: not a result' if quick else ''})")


def throughput(args, device) -> None:
    d, k, b, steps = args.dim, args.latents, args.batch, args.steps
    phi, x = synthetic_problem(d, k, b, device)
    print(f"\n== Inference throughput: D={d}, K={k}, batch {b}, {steps} steps, device {device}, "
          f"{torch.get_num_threads()} threads, float32 (median of {args.repeats}, interleaved)")
    print(f"  the two LCA implementations agree: max |Δa| after {steps} steps "
          f"{check_lca_agree(phi, x, steps):.1e}")
    fns = lca_functions(phi, x, steps)
    for name in ("ipvae", "igvae", "igvae_relu"):
        m = iterative(name, phi, device)
        fns[f"{name} (test time)"] = lambda m=m: list(m.infer_trajectory(x, [steps]))
    times = interleaved_medians(fns, device, args.repeats)
    print_ratios(times, {name: steps for name in fns}, b, args.quick)

    tb, t_train = args.train_batch, 16
    phi_t, x_t = synthetic_problem(d, k, tb, device, seed=1)
    print(f"\n== Training cost per unrolled step (forward, two samples, backward): batch {tb}, "
          f"t_train {t_train}, against an LCA step at the same batch")
    fns = lca_functions(phi_t, x_t, steps)
    for name, temperature in (("ipvae", 1.0), ("ipvae", 0.5), ("ipvae", 0.05), ("igvae", 1.0),
                              ("igvae_relu", 1.0)):
        m = iterative(name, phi_t, device, t_train=t_train)
        m.temperature = temperature
        label = f"{name} (T={temperature})" if name == "ipvae" else name
        fns[label] = lambda m=m: m.unroll_loss(x_t, beta=1.0)
    times = interleaved_medians(fns, device, args.repeats)
    print_ratios(times, {name: steps if name.startswith("lca") else t_train for name in fns}, tb,
                 args.quick)


def memory_probe(args) -> None:
    """Run one evaluation pass in a fresh process (so its peak is its own) and report it."""
    code = f"""
import sys, resource, time, torch
sys.path.insert(0, {str(REPO)!r})
torch.set_num_threads({torch.get_num_threads()})
from suite.registry import METHODS, discover
from suite.analyses.convergence import convergence_trace
discover()
n, d, k, t_test, bs = {args.mem_samples}, {args.dim}, {args.latents}, {args.mem_steps}, {args.batch}
x = torch.randn(n, d, generator=torch.Generator().manual_seed(0))
m = METHODS.get(sys.argv[1])((1, d), k, seed=0, t_test=t_test)
list(m.infer_trajectory(x[:bs], [2]))  # warm-up allocations
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
trace = convergence_trace(m, x, t_test, batch_size=bs, n_points=20)
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{{base:.0f}} {{peak:.0f}} {{dt:.1f}}")
"""
    n, k, t = args.mem_samples, args.latents, args.mem_steps
    print(f"\n== Peak memory of a full convergence pass: {n} samples, K={k}, t_test={t}, "
          f"batch {args.batch} (CPU, fresh process; max RSS)")
    naive = n * t * k * 4 / 2**30
    print(f"  an (N, T, K) float32 array of the trajectory would need {naive:.2f} GiB "
          f"({n * 1000 * k * 4 / 2**30:.1f} GiB at T = 1000)")
    for name in ("ipvae", "igvae"):
        out = subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True,
                             check=True).stdout.split()
        base, peak, dt = float(out[0]), float(out[1]), float(out[2])
        print(f"  {name:10s} RSS before {base:7.0f} MiB, peak during the pass {peak:7.0f} MiB "
              f"(+{peak - base:.0f} MiB), {dt:.1f} s")


def quick_profile(args, device) -> None:
    """Train each method with its quick-profile settings on nat16 and print its convergence."""
    from suite.config import load_method_configs, load_profile, settings_for
    from suite.analyses.convergence import convergence_trace
    from suite.data.loading import load_dataset
    from suite.method import Budget

    ds = load_dataset("nat16").to(device)
    profile = load_profile("quick")
    configs = load_method_configs()
    print(f"\n== Quick profile on nat16 ({ds.train.shape[0]} train / {ds.val.shape[0]} val), "
          "next to the paper (vH16, K = 512, 300 epochs)")
    for name in ("ipvae", "igvae_relu", "igvae"):
        s = settings_for(name, "nat16", "quick", profile, configs, {})
        m = METHODS.get(name)(ds.shape, s["n_latents"], device=device, seed=0, **s["hparams"])
        t0 = time.perf_counter()
        m.fit(ds.train, Budget(**s["budget"]))
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        tr = convergence_trace(m, ds.val, batch_size=1000, n_points=12)
        eval_s = time.perf_counter() - t0
        at = lambda key, t: tr[key][tr["steps"].index(t)]  # noqa: E731
        x = ds.val.double()
        mean_ss = float((x - x.mean(1, keepdim=True)).square().sum(1).mean())
        pooled = lambda t: 1 - at("sse", t) / mean_ss  # noqa: E731  (1 − Σ sse / Σ SS_tot)
        t1, tt, tf = 1, m.train_steps, tr["steps"][-1]
        (p1, p16, p1000), pz = PAPER[name]
        print(f"  {name:10s} K={s['n_latents']} fit {fit_s:5.1f} s, trace {eval_s:5.1f} s | "
              f"R² t=1/{tt}/{tf}: {at('r2', t1):.3f} / {at('r2', tt):.3f} / {at('r2', tf):.3f} "
              f"(paper t=1/16/1000: {p1:.2f} / {p16:.2f} / {p1000:.2f}) | zeros at t={tf}: "
              f"{at('frac_zeros', tf):.3f} (paper {pz:.2f}) | sse {at('sse', tf):.1f} | "
              f"pooled R² t=1/{tt}/{tf}: {pooled(t1):.3f} / {pooled(tt):.3f} / {pooled(tf):.3f} | "
              f"‖Δs‖ {at('delta_norm', 1):.3f} → {at('delta_norm', tf):.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--latents", type=int, default=512)
    p.add_argument("--batch", type=int, default=1000, help="inference batch")
    p.add_argument("--train-batch", type=int, default=200)
    p.add_argument("--steps", type=int, default=50, help="inference steps per timing")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--mem-samples", type=int, default=10000)
    p.add_argument("--mem-steps", type=int, default=100)
    p.add_argument("--parts", default="throughput,memory",
                   help="comma list of: throughput, memory (CPU only), quick")
    p.add_argument("--quick", action="store_true",
                   help="small sizes (batch 100, train batch 50, 10 steps, 2 repeats, memory pass "
                        "of 1000 samples x 10 steps): checks the script, times are no result")
    args = p.parse_args()
    if args.quick:
        args.batch, args.train_batch, args.steps, args.repeats = 100, 50, 10, 2
        args.mem_samples, args.mem_steps = 1000, 10
        print("QUICK RUN: small sizes to check the script; the times below are not results.")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    discover()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = parts - {"throughput", "memory", "quick"}
    if unknown:
        p.error(f"unknown --parts {sorted(unknown)}")
    if "throughput" in parts:
        throughput(args, device)
    if "memory" in parts and device.type == "cpu":
        memory_probe(args)
    if "quick" in parts:
        quick_profile(args, device)


if __name__ == "__main__":
    main()
