"""Benchmark: the P-VAE's relaxed Poisson sampler against the materializing reference sampler.

Setting (issue 4): B = 1000 nat16 patches (D = 256), K = 512 latents, ``lin|lin``. One full
training step (encode, sample, decode, sse + β·KL, backward, Adamax update) is timed with

- ``fast``: :func:`suite.distributions.relaxed_poisson` (what ``pvae`` uses),
- ``dense``: :func:`suite.distributions.relaxed_poisson_dense`, a faithful reimplementation of
  the reference sampler that materializes [n_exp, B, K] exponentials, cumsums and sigmoids,

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

Run: ``python benchmarks/bench_pvae_sampler.py`` (``--device cuda`` on a GPU; ``--threads N``,
default 1: on a shared CPU, OpenMP threads that wait for a descheduled sibling spin and make
two-thread timings erratic; ``--repeats R`` timed dense-sampler steps and ``--fast-repeats R``
timed G-VAE and fast-sampler steps; ``--states init,trained,spread``; ``--retrain`` to retrain
the cached quick-profile model).
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

from suite.data import load_dataset, resolve_cache_dir  # noqa: E402
from suite.distributions import poisson_n_exp, relaxed_poisson, relaxed_poisson_dense  # noqa: E402
from suite.method import Budget  # noqa: E402
from suite.registry import METHODS, discover  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import median_wall_and_cpu_seconds  # noqa: E402

B, K, SHAPE = 1000, 512, (1, 16, 16)
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


def pvae_step(method, x, opt, temperature: float, sampler: str, n_exp: int | None) -> None:
    """One training step of the P-VAE with the chosen sampler (n_exp None: the rule)."""
    log_rate, log_prior = method.encode(x)
    rate = torch.exp(log_rate)
    n = n_exp if n_exp is not None else poisson_n_exp(float(rate.detach().max()))
    if sampler == "fast":
        z = relaxed_poisson(rate, temperature, method.generator, n_exp=n)
    else:
        z = relaxed_poisson_dense(rate, temperature, method.generator, n_exp=n)
    loss = (x - method.decode(z)).pow(2).sum(1).mean() + BETA * method.unit_kl((log_rate, log_prior)).sum(1).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def gvae_step(method, x, opt) -> None:
    loss = method.batch_loss(x, BETA, 1.0)
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
                          "--threads", str(threads)], capture_output=True, text=True, check=True,
                         env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def two_sample(device: str, state: str, n_rows: int = 200) -> list[str]:
    """KS p-values (values, gradients) per rate decile, fast vs dense, on the rates of ``state``."""
    method = build("pvae", device, state)
    with torch.no_grad():
        rate = torch.exp(method.encode(batch(device)[:n_rows])[0])
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
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
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
          for state in states for t in (1.0, 0.05) for sampler in ("fast", "dense")],
    ]
    if "init" in states:
        cases += [(f"P-VAE init T=1.0 {sampler} n_exp=263",
                   {"method": "pvae", "state": "init", "temperature": 1.0, "sampler": sampler,
                    "n_exp": REFERENCE_N_EXP}) for sampler in ("fast", "dense")]
    print(f"device {args.device}, torch threads {args.threads}, B={B}, K={K}, D=256, lin|lin, "
          f"median of {args.fast_repeats} (G-VAE, fast) or {args.repeats} (dense) steps after a "
          "warm-up")
    for state in states:
        m = build("pvae", args.device, state)
        with torch.no_grad():
            rate = torch.exp(m.encode(batch(args.device))[0])
        print(f"  {state} rates: max {float(rate.max()):.3g}, mean {float(rate.mean()):.3g}, "
              f"median {float(rate.median()):.3g}; n_exp rule -> {poisson_n_exp(float(rate.max()))}")
    results = {}
    print(f"{'case':36s} {'wall ms':>9s} {'cpu ms':>9s} {'step MB':>9s} {'peak MB':>9s}")
    for label, case in cases:
        repeats = args.repeats if case.get("sampler") == "dense" else args.fast_repeats
        seconds, cpu = time_case(case, args.device, repeats)
        mem = memory_case(case, args.device, args.threads)
        results[label] = (seconds, mem)
        print(f"{label:36s} {seconds * 1e3:9.1f} {cpu * 1e3:9.1f} {mem['step_mb']:9.1f} "
              f"{mem.get('peak_mb', float('nan')):9.1f}", flush=True)
    print("ratios (dense / fast: time, step memory; fast P-VAE / G-VAE: time):")
    g_time = results["G-VAE"][0]
    for label in results:
        if label.startswith("P-VAE") and " fast" in label:
            f, d = results[label], results[label.replace(" fast", " dense")]
            print(f"  {label.replace(' fast', ''):30s} time x{d[0] / f[0]:.1f}, step memory "
                  f"{d[1]['step_mb']:.0f} / {f[1]['step_mb']:.0f} MB, P/G x{f[0] / g_time:.2f}")
    for state in states:
        if state != "init":
            for line in two_sample(args.device, state):
                print(line)


if __name__ == "__main__":
    main()
