"""Probe, not part of the suite: how fast could FISTA be with a compiled per-code kernel?

Issue 14 asks for FISTA at least 5× faster than scikit-learn's best lasso solver (its Cython
coordinate-descent kernel, float64) at a relative objective 1e-4 above the optimum, on one
thread, for the learned and the random nat16 dictionaries of ``bench_lasso.py``. The suite's
FISTA runs as batched tensor operations (torch), and ``bench_lasso.py`` prints floors for that
form. This probe answers the other half of the question: FISTA compiled per code, without any
tensor-operation overhead, on the same problems, against the same anchor (the faster of the CD
kernel with and without gap-safe screening), measured in the same run. It needs numba (``pip install numba``), which the suite does not depend on.

The kernel (float32, like the suite's solvers): per code, a working set of the W₀ atoms of
largest |xΦᵀ|; FISTA with gradient restart on it, with a step 1/L from 8 power iterations and
backtracking (L × 1.5 whenever ½dᵀG_Sd > (L/2)‖d‖²), stopping at a restricted duality gap
≤ ½·tol·E; then the full correlation c = b − aG over all K atoms and the full duality gap
(the suite's certificate, :mod:`methods.sparse_coding.lasso`); if it is above tol·E, the
violating atoms (|c_k| > λ, largest first, at most doubling the set) join, and FISTA resumes
warm. xΦᵀ is one float32 GEMM (torch), inside the timing. Tolerances are swept as in
``bench_lasso.py`` and the loosest that reaches the target objective is timed (best of
``--repeats`` after a warm-up; numba compiles on the first call, outside the timing).

    pip install numba && python benchmarks/probe_compiled_fista.py --repeats 5
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch

from bench_lasso import (MAX_ITER, N_ATOMS, N_PATCHES, TARGET_GAP, TOLS, LEARN, SklearnAnchors,
                         learned_dictionary, sweep)

try:
    import numba
except ImportError as err:  # pragma: no cover - a probe for those who install numba
    raise SystemExit("this probe needs numba: pip install numba (the suite does not use it)") from err


@numba.njit(cache=True)
def _largest(values, count, member, out):
    """The indices of the ``count`` largest ``values`` (K,) into ``out``, marked in ``member``;
    returns how many were found (insertion into a sorted buffer: O(K·count) at worst)."""
    best_v = np.full(count, -np.inf, np.float32)
    best_i = np.full(count, -1, np.int64)
    found = 0
    for k in range(values.shape[0]):
        v = values[k]
        if found < count or v > best_v[found - 1]:
            pos = found if found < count else count - 1
            while pos > 0 and best_v[pos - 1] < v:
                best_v[pos] = best_v[pos - 1]
                best_i[pos] = best_i[pos - 1]
                pos -= 1
            best_v[pos] = v
            best_i[pos] = k
            found = min(found + 1, count)
    for i in range(found):
        out[i] = best_i[i]
        member[best_i[i]] = True
    return found


@numba.njit(cache=True)
def _gap(sq_norm, a_dot_b, a_dot_c, l1, worst, lam):
    """(E(a), duality gap) from ‖x‖², a·b, a·c, ‖a‖₁ and max|c| (see methods/sparse_coding/lasso)."""
    q = sq_norm - a_dot_b
    r2 = max(q - a_dot_c, 0.0)
    scale = min(1.0, lam / max(worst, 1e-30))
    primal = 0.5 * r2 + lam * l1
    return primal, primal - scale * q + 0.5 * scale * scale * r2


@numba.njit(cache=True)
def _sums(codes, b, corr, width):
    """(a·b, a·c, ‖a‖₁, max|c|) over the first ``width`` entries."""
    a_b, a_c, l1, worst = 0.0, 0.0, 0.0, 0.0
    for i in range(width):
        a_b += codes[i] * b[i]
        a_c += codes[i] * corr[i]
        l1 += abs(codes[i])
        worst = max(worst, abs(corr[i]))
    return a_b, a_c, l1, worst


@numba.njit(cache=True)
def _correlate(b_s, gram_s, codes, width, out):
    """out = b_S − codes·G_S over the working set (zero codes skipped)."""
    for i in range(width):
        out[i] = b_s[i]
    for j in range(width):
        if codes[j] != 0.0:
            for i in range(width):
                out[i] -= codes[j] * gram_s[j, i]


@numba.njit(cache=True)
def fista_code(b, gram, sq_norm, lam, tol, first_size, max_iter, out):
    """FISTA on a growing working set for one code: b (K,) = xΦᵀ, gram (K, K), out (K,)."""
    n_atoms = b.shape[0]
    index = np.empty(n_atoms, np.int64)
    member = np.zeros(n_atoms, np.bool_)
    width = _largest(np.abs(b), min(first_size, n_atoms), member, index)
    codes = np.zeros(n_atoms, np.float32)
    corr = np.empty(n_atoms, np.float32)
    gram_s = np.empty((n_atoms, n_atoms), np.float32)
    b_s = np.empty(n_atoms, np.float32)
    work = np.empty((10, n_atoms), np.float32)
    x, x_prev, c, c_prev, y, c_y, new, c_new, v, w = (work[0], work[1], work[2], work[3], work[4],
                                                      work[5], work[6], work[7], work[8], work[9])
    lipschitz, used = 0.0, 0
    while True:
        for i in range(width):
            b_s[i] = b[index[i]]
            for j in range(width):
                gram_s[i, j] = gram[index[i], index[j]]
        v[:width] = 1.0
        for _ in range(8):  # power iterations: an estimate, corrected by backtracking
            norm = 0.0
            for i in range(width):
                s = 0.0
                for j in range(width):
                    s += gram_s[i, j] * v[j]
                w[i] = s
                norm += s * s
            norm = np.sqrt(norm)
            v_norm = 0.0
            for i in range(width):
                v_norm += v[i] * v[i]
            lipschitz = max(lipschitz, norm / np.sqrt(v_norm))
            for i in range(width):
                v[i] = w[i] / max(norm, 1e-30)
        for i in range(width):
            x[i] = x_prev[i] = codes[i]
        _correlate(b_s, gram_s, x, width, c)
        for i in range(width):
            c_prev[i] = c[i]
        t, it = 1.0, 0
        while used < max_iter:
            if it % 2 == 0:
                a_b, a_c, l1, worst = _sums(x, b_s, c, width)
                primal, gap = _gap(sq_norm, a_b, a_c, l1, worst, lam)
                if gap <= 0.5 * tol * primal + 16 * 1.2e-7 * sq_norm:
                    break
            t_next = 0.5 + np.sqrt(0.25 + t * t)
            beta = (t - 1.0) / t_next
            for i in range(width):
                y[i] = x[i] + beta * (x[i] - x_prev[i])
                c_y[i] = c[i] + beta * (c[i] - c_prev[i])
            while True:  # backtracking: ½dᵀG d ≤ (L/2)‖d‖², dᵀG d = d·(c(y) − c(new))
                step = 1.0 / lipschitz
                for i in range(width):
                    u = y[i] + step * c_y[i]
                    new[i] = u - lam * step if u > lam * step else (
                        u + lam * step if u < -lam * step else 0.0)
                _correlate(b_s, gram_s, new, width, c_new)
                d_g_d, d_d = 0.0, 0.0
                for i in range(width):
                    d = new[i] - y[i]
                    d_g_d += d * (c_y[i] - c_new[i])
                    d_d += d * d
                if d_g_d <= lipschitz * d_d * (1 + 1e-6) + 1e-30:
                    break
                lipschitz *= 1.5
            restart = 0.0
            for i in range(width):
                restart += (y[i] - new[i]) * (new[i] - x[i])
                x_prev[i], c_prev[i] = x[i], c[i]
                x[i], c[i] = new[i], c_new[i]
            t = 1.0 if restart > 0 else t_next  # gradient restart
            it += 1
            used += 1
        codes[:width] = x[:width]
        for k in range(n_atoms):
            corr[k] = b[k]
        for j in range(width):
            if x[j] != 0.0:
                row = gram[index[j]]
                for k in range(n_atoms):
                    corr[k] -= x[j] * row[k]
        a_b, a_c, l1, worst = 0.0, 0.0, 0.0, 0.0
        for j in range(width):
            a_b += x[j] * b_s[j]
            a_c += x[j] * corr[index[j]]
            l1 += abs(x[j])
        for k in range(n_atoms):
            worst = max(worst, abs(corr[k]))
        primal, gap = _gap(sq_norm, a_b, a_c, l1, worst, lam)
        if gap <= tol * primal + 16 * 1.2e-7 * sq_norm or used >= max_iter or width == n_atoms:
            break
        for k in range(n_atoms):  # violations outside the set
            corr[k] = -1.0 if member[k] else abs(corr[k])
        n_violating = np.sum(corr > lam)
        grow = min(max(n_violating, 1), width, n_atoms - width)
        added = _largest(corr, grow, member, index[width:])
        codes[width:width + added] = 0.0
        width += added
    out[:] = 0.0
    for j in range(width):
        out[index[j]] = codes[j]
    return used


@numba.njit(cache=True)
def fista_codes(b, gram, sq_norm, lam, tol, first_size, max_iter):
    """Codes (B, K) for b (B, K) = xΦᵀ, one code after the other."""
    out = np.zeros(b.shape, np.float32)
    for r in range(b.shape[0]):
        fista_code(b[r], gram, sq_norm[r], lam, tol, first_size, max_iter, out[r])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--first-size", type=int, default=16)
    args = p.parse_args()
    torch.set_num_threads(1)
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    from suite.data.loading import load_dataset
    from suite.registry import discover
    discover()
    from brainlike_suite.methods.sparse_coding import GramLasso, fista, lasso_objective
    from brainlike_suite.methods.sparse_coding.dictionary_learning import random_atoms

    ds = load_dataset("nat16")
    x = ds.val[:N_PATCHES].contiguous()
    print(f"compiled FISTA probe (numba {numba.__version__}, float32, 1 thread) against "
          f"scikit-learn's CD kernel (float64, Gram precomputed, tolerance swept, 1 thread); "
          f"{N_PATCHES} nat16 patches, K = {N_ATOMS}, target relative objective {TARGET_GAP:g}")
    for case in ("learned", "random"):
        atoms = (learned_dictionary(ds.train, ds.shape, LEARN) if case == "learned"
                 else random_atoms(N_ATOMS, x.shape[1], torch.Generator().manual_seed(0)))
        gram = (atoms @ atoms.T).numpy()
        lam = 0.1 * float((x @ atoms.T).abs().max())
        x64, atoms64 = x.double(), atoms.double()
        prob64 = GramLasso.from_data(x64, atoms64, lam)
        exact = fista(x64, atoms64, lam, tol=1e-10, max_iter=MAX_ITER)
        optimum = float(lasso_objective(x64, atoms64, exact, lam).sum())

        def accuracy(codes) -> tuple[float, float]:
            codes = torch.as_tensor(codes).double()
            primal, gap = prob64.primal_and_gap(codes, prob64.correlation(codes))
            total = float(lasso_objective(x64, atoms64, codes, lam).sum())
            return (total - optimum) / optimum, float((gap / primal.clamp_min(1e-300)).max())

        def compiled(tol):
            b = (x @ atoms.T).numpy()
            return fista_codes(b, gram, (x * x).sum(1).numpy(), np.float32(lam), np.float32(tol),
                               args.first_size, MAX_ITER)

        compiled(1e-2)  # compile outside the timing
        anchors = SklearnAnchors(x64.numpy(), atoms64.numpy(), lam, 1)
        anchor_tols = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kernels = {label: sweep(run, anchor_tols, accuracy, args.repeats) for label, run in (
                ("sk CD kernel", anchors.cd_kernel),
                ("sk CD kernel no-screen", lambda tol: anchors.cd_kernel(tol, screening=False)))}
        ours = sweep(compiled, TOLS, accuracy, args.repeats)
        best = min(kernels, key=lambda label: kernels[label][1])  # the anchor: the faster kernel
        anchor = kernels[best]
        print(f"\n== {case} dictionary: λ = {lam:.4g}")
        for label, (setting, t, rel, row) in (*kernels.items(), ("compiled FISTA", ours)):
            print(f"{label:24s} {setting:10s} {t * 1e3:8.1f} ms  rel. obj {rel:.1e}  "
                  f"max row gap {row:.1e}")
        print(f"anchor: {best} (the faster of the two)")
        print(f"compiled FISTA vs the CD kernel: {anchor[1] / ours[1]:.1f}x (target ≥ 5x)")


if __name__ == "__main__":
    main()
