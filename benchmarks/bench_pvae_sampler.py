"""Benchmark: the P-VAE's relaxed Poisson sampler against the materializing reference sampler.

Setting (issue 4): B = 1000 nat16 patches (D = 256), K = 512 latents, ``lin|lin``. One full
training step (encode, sample, decode, sse + β·KL, backward, Adamax update) is timed with

- ``fast``: :func:`brainlike_suite.methods.distributions.relaxed_poisson` (what ``pvae`` uses),
- ``dense``: :func:`brainlike_suite.methods.distributions.relaxed_poisson_dense`, a faithful reimplementation of
  the reference sampler that materializes [n_exp, B, K] exponentials, cumsums and sigmoids,
- ``lean``: :func:`dense_lean` (this file), the same materializing algorithm in its cheapest
  eager form: t = cumsum(E)/λ instead of cumsum(E/λ) (the cumsum then needs no backward), the
  shift and scale in one ``addcmul`` and an in-place sigmoid; same noise, same values and
  gradients up to float32 rounding (checked and printed),

both with n_exp from the same rule (the 1 − 1e-5 quantile of Poisson(largest rate of the batch)),
on the rates of three model states (``--states``): ``init``, the model at initialization;
``trained``, a P-VAE trained with the ``quick`` profile's settings for nat16 (at K = 512 and
without the profile's wall-clock cap, so that it runs all its epochs; trained once and cached
under the cache folder); ``spread``, the initial model with prior rates spread from 0.0025 to 81
(a stand-in for a fully trained P-VAE, whose largest rates reach the reference's ≈ 80). Each at
T = 1 (start of the anneal) and T = 0.05 (its end). The reference's fixed n_exp = 263 is also timed at initialization. The
Gaussian VAE's step (same sizes) gives the P-VAE/G-VAE ratio.

Peak memory: CPU tensors are invisible to tracemalloc, so every memory figure is measured in a
fresh subprocess (Linux) that builds the model and runs one warm-up step (first-call allocations
of torch's thread pools and autograd engine), resets the kernel's peak-RSS counter (writing 5
to /proc/self/clear_refs sets VmHWM to the current VmRSS), reads the current resident set size
VmRSS, runs one training step and reads VmHWM: "step MB" = VmHWM − VmRSS is the memory the step
added at its peak (the subprocess runs with MALLOC_MMAP_THRESHOLD_=65536, so that glibc hands
freed tensor memory back to the system and VmRSS tracks live tensors, not the allocator's cache), "peak MB" = VmHWM the whole process's peak during the step (Python, torch,
the dataset and the model included). On CUDA it is ``torch.cuda.max_memory_allocated``
over the step, after a reset.

Faithfulness: a two-sample Kolmogorov–Smirnov test per rate decile compares relaxed samples z
and pathwise gradients ∂z/∂λ of the two samplers on the rates of the ``trained`` and ``spread``
states (200 patches × 512 latents, independent generators); p-values are printed (large is good).
Values and gradients below ``RESOLUTION`` = 1e-4 count as 0: the fast sampler omits arrivals past
its horizon, worth < 1e-6·λT (values) and < 1e-6·(1 + 15T) (gradients) in expectation, and a rank
test would otherwise compare negligible numbers (at T = 0.05 most gradients are < 1e-6).

Times are medians of wall-clock seconds per step ("wall ms") and of the process's CPU seconds
("cpu ms", all threads; steadier than wall-clock on a shared machine); ratios use wall-clock.

Anchor configuration. The anchor is the materializing sampler; the ratios are given against
the reference form (``dense``) and against the faster of ``dense`` and ``lean`` (the best
anchor). Checked: same dtype (float32, the models' dtype) and device for every case; the same
``--threads`` torch threads for all (default 1); the same n_exp for fast and dense/lean (the rule
of the batch's largest rate, or the reference's fixed 263); the same training step around the
sampler: encode, sample, decode, sse + β·KL with the KL the P-VAE trains with
(``total_kl``, fused; the step used the unfused ``unit_kl`` sum before, about 14 ms slower at
B = 1000 on one thread per ``PoissonVAE.total_kl``'s docstring, added to both samplers alike:
it diluted the dense/fast ratio and inflated the P/G ratio), backward,
Adamax; the G-VAE's step is its own ``batch_loss`` (sampled, loss="mc") with the same optimizer.
The dense samplers are eager PyTorch, like the reference; neither side is compiled.

Run: ``python benchmarks/bench_pvae_sampler.py`` (``--device cuda`` on a GPU; ``--threads N``,
default 1: on a shared CPU, OpenMP threads that wait for a descheduled sibling spin and make
two-thread timings erratic; ``--repeats R`` timed dense-sampler steps and ``--fast-repeats R``
timed G-VAE and fast-sampler steps; ``--states init,trained,spread``; ``--retrain`` to retrain
the cached quick-profile model; ``--batch B``; ``--no-memory`` skips the memory subprocesses;
``--quick``: B = 100, states init and spread, 1 dense and 3 fast repeats, no memory probes
(unless ``--memory``): checks that the script runs, its times are no result).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from suite.data.sources import resolve_cache_dir  # noqa: E402
from suite.data.loading import load_dataset  # noqa: E402
from brainlike_suite.methods.distributions import poisson_n_exp, relaxed_poisson, relaxed_poisson_dense  # noqa: E402
from suite.method import Budget  # noqa: E402
from suite.registry import METHODS, discover  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import median_wall_and_cpu_seconds  # noqa: E402

B, K, SHAPE = 1000, 512, (1, 16, 16)  # B is set from --batch in main()
SAMPLERS = ("fast", "dense", "lean")
BETA = 1.0
REFERENCE_N_EXP = 263
RESOLUTION = 1e-4


STATES = ("init", "trained", "spread")


def build(name: str, device: str, state: str):
    """The method at ``state``: "init"; "trained" (the cached quick-profile P-VAE); "spread"
    (the initial model with prior log-rates spread evenly over [−6, 4.4], i.e. prior rates from
    0.0025 to 81: a stand-in for a well-trained P-VAE, whose rates reach the reference's
    r_max ≈ 80, which the quick profile's 2500 steps (50 epochs of 1000 patches) do not reach)."""
    method = METHODS.get(name)(SHAPE, K, device=device, seed=0)
    if state == "trained":
        method.load_state_dict(torch.load(trained_path(), map_location="cpu"))
    elif state == "spread":
        with torch.no_grad():
            method.model.prior_log_rate.copy_(torch.linspace(-6.0, 4.4, K))
    return method


def trained_path() -> Path:
    """The cached quick-profile model; the name hashes the profile's settings (a change of the
    nat16 data needs ``--retrain``)."""
    digest = hashlib.sha256(json.dumps(quick_settings(), sort_keys=True).encode()).hexdigest()[:10]
    return resolve_cache_dir() / "bench" / f"pvae_quick_nat16_K{K}_seed0_{digest}.pt"


def quick_settings() -> dict:
    """The quick profile's hparams and budget for pvae on nat16 (configs/)."""
    from suite.config import load_method_configs, load_profile, settings_for

    s = settings_for("pvae", "nat16", "quick", load_profile("quick"), load_method_configs(), {})
    return {"hparams": s["hparams"], "budget": s["budget"]}


def train_quick(device: str) -> None:
    settings = quick_settings()
    ds = load_dataset("nat16")
    method = METHODS.get("pvae")(SHAPE, K, device=device, seed=0, **settings["hparams"])
    budget = {k: v for k, v in settings["budget"].items() if k != "max_seconds"}
    start = time.perf_counter()
    method.fit(ds.train.to(device), Budget(**budget))
    print(f"trained pvae (K={K}) with the quick profile {settings} in "
          f"{time.perf_counter() - start:.1f} s")
    path = trained_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(method.state_dict(), path)


def batch(device: str) -> torch.Tensor:
    return load_dataset("nat16").train[:B].to(device)


def dense_lean(rate: torch.Tensor, temperature: float, generator: torch.Generator,
               n_exp: int) -> torch.Tensor:
    """The materializing sampler of :func:`relaxed_poisson_dense` in its cheapest eager form:
    S = cumsum(E) (unit-rate arrival times, no gradient), z = Σ σ(1/T − S·(1/(λT))) with the
    affine map in one ``addcmul`` and the sigmoid in place. The same draws from ``generator``
    give the same z and ∂z/∂λ as :func:`relaxed_poisson_dense` up to rounding."""
    if temperature <= 0:
        raise ValueError("dense_lean: temperature must be > 0")
    s = torch.empty((int(n_exp),) + tuple(rate.shape), dtype=rate.dtype,
                    device=rate.device).exponential_(generator=generator).cumsum_(0)
    shift = torch.tensor(1.0 / temperature, dtype=rate.dtype, device=rate.device)
    return torch.sigmoid_(torch.addcmul(shift, s, (-1.0 / temperature) / rate)).sum(0)


SAMPLER_FNS = {"fast": relaxed_poisson, "dense": relaxed_poisson_dense, "lean": dense_lean}


def lean_matches_dense(device: str, n_rows: int = 100, n_exp: int = 200) -> str:
    """A line: the largest differences of z and ∂z/∂λ between ``lean`` and ``dense`` on the same
    noise (rates spread from 0.0025 to 81, T = 1 and 0.05)."""
    rate0 = torch.exp(torch.linspace(-6.0, 4.4, K, device=device)).repeat(n_rows, 1)
    cells = []
    for temperature in (1.0, 0.05):
        out = []
        for fn in (relaxed_poisson_dense, dense_lean):
            r = rate0.clone().requires_grad_(True)
            z = fn(r, temperature, torch.Generator(device=device).manual_seed(7), n_exp)
            z.sum().backward()
            out.append((z.detach(), r.grad))
        dz = float((out[0][0] - out[1][0]).abs().max())
        dg = float(((out[0][1] - out[1][1]).abs() / (out[0][1].abs() + 1e-6)).max())
        cells.append(f"T={temperature}: max |Δz| {dz:.1e}, max rel. |Δ∂z/∂λ| {dg:.1e}")
    return "lean vs dense on the same noise (float32 rounding only): " + "; ".join(cells)


def pvae_step(method, x, opt, temperature: float, sampler: str, n_exp: int | None) -> None:
    """One training step of the P-VAE with the chosen sampler (n_exp None: the rule)."""
    log_rate, log_prior = method.encode(x)
    rate = torch.exp(log_rate)
    n = n_exp if n_exp is not None else poisson_n_exp(float(rate.detach().max()))
    z = SAMPLER_FNS[sampler](rate, temperature, method.generator, n_exp=n)
    # the loss as PoissonVAE.batch_loss computes it (fused total_kl), the sampler aside
    loss = ((x - method.decode(z)).pow(2).sum(1).mean()
            + (BETA / x.shape[0]) * method.total_kl((log_rate, log_prior)))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def gvae_step(method, x, opt) -> None:
    loss = method.batch_loss(x, BETA, 1.0, loss="mc")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def make_step(case: dict, device: str):
    """(step callable, x) for a case {"method", "state", "temperature", "sampler", "n_exp"}."""
    method = build(case["method"], device, case.get("state", "init"))
    opt = torch.optim.Adamax(method.model.parameters(), lr=0.0)  # lr 0: the state stays put
    x = batch(device)
    if case["method"] == "gvae":
        return (lambda: gvae_step(method, x, opt)), method, x
    return (lambda: pvae_step(method, x, opt, case["temperature"], case["sampler"],
                              case.get("n_exp"))), method, x


def time_case(case: dict, device: str, repeats: int) -> tuple[float, float]:
    """Median wall-clock and process CPU seconds of one step (after a warm-up step)."""
    step, _, _ = make_step(case, device)
    return median_wall_and_cpu_seconds(step, device, repeats)


def child_memory(case: dict, device: str) -> dict:
    """Run in a fresh process: the peak memory of one step of ``case`` (after a warm-up step)."""
    step, _, _ = make_step(case, device)
    step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return {"step_mb": (torch.cuda.max_memory_allocated() - base) / 2**20, "how": "cuda"}
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak RSS (VmHWM) to the current
    current = proc_status_mb("VmRSS")
    step()
    peak = proc_status_mb("VmHWM")
    return {"step_mb": peak - current, "peak_mb": peak, "how": "VmHWM"}


def proc_status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS: current resident set, VmHWM: its peak), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_case(case: dict, device: str, threads: int) -> dict:
    # glibc returns blocks >= 64 KiB to the system when freed (no dynamic mmap threshold), so
    # that the resident set size tracks the live tensors instead of the allocator's cache
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(case), "--device", device,
                          "--threads", str(threads), "--batch", str(B)], capture_output=True,
                         text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def two_sample(device: str, state: str, n_rows: int = 200) -> list[str]:
    """KS p-values (values, gradients) per rate decile, fast vs dense, on the rates of ``state``."""
    method = build("pvae", device, state)
    with torch.no_grad():
        rate = torch.exp(method.encode(batch(device)[:n_rows])[0])
    n_rows = rate.shape[0]  # fewer with a small --batch
    n_exp = poisson_n_exp(float(rate.max()))
    lines = [f"two-sample KS tests on {state} rates ({n_rows}x{K}, n_exp={n_exp}; p-values, "
             "values | gradients, per rate decile):"]
    edges = torch.quantile(rate.flatten().cpu(), torch.linspace(0, 1, 11)).tolist()
    for temperature in (1.0, 0.05):
        samples = {}
        for name, fn, seed in (("fast", relaxed_poisson, 1), ("dense", relaxed_poisson_dense, 2)):
            r = rate.clone().requires_grad_(True)
            g = torch.Generator(device=device).manual_seed(seed)
            z = fn(r, temperature, g, n_exp=n_exp)
            z.sum().backward()
            samples[name] = tuple(np.where(np.abs(v) < RESOLUTION, 0.0, v) for v in
                                  (z.detach().flatten().cpu().numpy(), r.grad.flatten().cpu().numpy()))
        flat = rate.flatten().cpu().numpy()
        cells = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            sel = (flat >= lo) & (flat <= hi)
            pv = [stats.ks_2samp(samples["fast"][i][sel], samples["dense"][i][sel]).pvalue for i in (0, 1)]
            cells.append(f"{pv[0]:.2f}|{pv[1]:.2f}")
        lines.append(f"  T={temperature}: " + "  ".join(cells))
    return lines


def main() -> None:
    global B
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timed steps of the dense sampler")
    parser.add_argument("--fast-repeats", type=int, default=15,
                        help="timed steps of the G-VAE and the fast sampler (cheap; their "
                             "medians set the ratios, so they get more)")
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--states", default=",".join(STATES),
                        help=f"model states to time, among {', '.join(STATES)}")
    parser.add_argument("--batch", type=int, default=None, help=f"batch size B (default {B})")
    parser.add_argument("--memory", action=argparse.BooleanOptionalAction, default=None,
                        help="measure each case's peak memory in a subprocess (default: yes, "
                             "no with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="B=100, states init,spread, 1 dense / 3 fast repeats, no memory: "
                             "checks the script, its times are no result")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        B = 100
        args.repeats, args.fast_repeats = 1, 3
        if args.states == ",".join(STATES):
            args.states = "init,spread"
    if args.batch:
        B = args.batch
    memory = args.memory if args.memory is not None else not args.quick
    torch.set_num_threads(args.threads)
    discover()
    if args.child:
        print(json.dumps(child_memory(json.loads(args.child), args.device)))
        return
    states = args.states.split(",")
    if "trained" in states and (args.retrain or not trained_path().exists()):
        train_quick(args.device)
    cases = [
        ("G-VAE", {"method": "gvae"}),
        *[(f"P-VAE {state} T={t} {sampler}", {"method": "pvae", "state": state, "temperature": t,
                                               "sampler": sampler})
          for state in states for t in (1.0, 0.05) for sampler in SAMPLERS],
    ]
    if "init" in states:
        cases += [(f"P-VAE init T=1.0 {sampler} n_exp=263",
                   {"method": "pvae", "state": "init", "temperature": 1.0, "sampler": sampler,
                    "n_exp": REFERENCE_N_EXP}) for sampler in SAMPLERS]
    if args.quick:
        print("QUICK RUN: small sizes to check the script; the times below are not results.")
    print(f"device {args.device}, torch threads {args.threads}, B={B}, K={K}, D=256, lin|lin, "
          f"float32, median of {args.fast_repeats} (G-VAE, fast) or {args.repeats} (dense, lean) "
          "steps after a warm-up")
    print(lean_matches_dense(args.device))
    for state in states:
        m = build("pvae", args.device, state)
        with torch.no_grad():
            rate = torch.exp(m.encode(batch(args.device))[0])
        print(f"  {state} rates: max {float(rate.max()):.3g}, mean {float(rate.mean()):.3g}, "
              f"median {float(rate.median()):.3g}; n_exp rule -> {poisson_n_exp(float(rate.max()))}")
    results = {}
    print(f"{'case':36s} {'wall ms':>9s} {'cpu ms':>9s} {'step MB':>9s} {'peak MB':>9s}")
    for label, case in cases:
        repeats = args.repeats if case.get("sampler") in ("dense", "lean") else args.fast_repeats
        seconds, cpu = time_case(case, args.device, repeats)
        mem = memory_case(case, args.device, args.threads) if memory else {"step_mb": float("nan")}
        results[label] = (seconds, mem)
        print(f"{label:36s} {seconds * 1e3:9.1f} {cpu * 1e3:9.1f} {mem['step_mb']:9.1f} "
              f"{mem.get('peak_mb', float('nan')):9.1f}", flush=True)
    print("ratios (anchor / fast: time against the reference form 'dense' and against the best "
          "anchor, the faster of dense and lean; step memory; fast P-VAE / G-VAE: time):")
    g_time = results["G-VAE"][0]
    for label in results:
        if label.startswith("P-VAE") and " fast" in label:
            f, d = results[label], results[label.replace(" fast", " dense")]
            lean = results[label.replace(" fast", " lean")]
            best_name, best = min((("dense", d), ("lean", lean)), key=lambda kv: kv[1][0])
            print(f"  {label.replace(' fast', ''):30s} time x{d[0] / f[0]:.1f} vs dense, "
                  f"x{best[0] / f[0]:.1f} vs best anchor ({best_name}), step memory "
                  f"{d[1]['step_mb']:.0f} (dense) / {lean[1]['step_mb']:.0f} (lean) / "
                  f"{f[1]['step_mb']:.0f} MB, P/G x{f[0] / g_time:.2f}"
                  + (" [QUICK RUN: not a result]" if args.quick else ""))
    for state in states:
        if state != "init":
            for line in two_sample(args.device, state):
                print(line)


if __name__ == "__main__":
    main()
