"""Claims that are checks of computation rather than of training: C1 (lasso optima) and C2
(BiHM estimators against exact enumeration). Both run in-process in seconds to minutes.
"""
from __future__ import annotations

import importlib
import math
import time

import numpy as np
import torch

from suite.registry import discover


def plugin(module: str):
    """A built-in method family's module (``"sparse_coding.solvers"``), after discovery."""
    discover()
    return importlib.import_module(f"brainlike_suite.methods.{module}")


def lasso_objectives(x: np.ndarray, atoms: np.ndarray, codes: np.ndarray, lam: float) -> np.ndarray:
    """(N,) E(a) = ½‖x − aΦ‖² + λ‖a‖₁ per sample, in float64; x (N, D), atoms Φ (K, D), codes (N, K)."""
    r = x.astype(np.float64) - codes.astype(np.float64) @ atoms.astype(np.float64)
    return 0.5 * (r ** 2).sum(1) + lam * np.abs(codes.astype(np.float64)).sum(1)


def sklearn_lasso(x: np.ndarray, atoms: np.ndarray, lam: float) -> tuple[np.ndarray, dict]:
    """Codes (N, K) of the reference solver: scikit-learn's ``Lasso`` in its best configuration
    for this problem: float64 (its native dtype), coordinate descent on the precomputed Gram
    matrix, no intercept, duality-gap tolerance 1e-10, up to 100,000 sweeps.

    scikit-learn minimizes (1 / (2 n)) ‖y − Xw‖² + α‖w‖₁ with n = D rows, so α = λ / D gives the
    same minimizer as ½‖x − aΦ‖² + λ‖a‖₁ (X = Φᵀ, y = x, w = a)."""
    from sklearn.linear_model import Lasso

    phi = atoms.astype(np.float64).T  # (D, K)
    d = phi.shape[0]
    model = Lasso(alpha=lam / d, fit_intercept=False, precompute=phi.T @ phi, tol=1e-10,
                  max_iter=100_000, selection="cyclic")
    start = time.perf_counter()
    model.fit(phi, x.astype(np.float64).T)
    coef = np.atleast_2d(model.coef_)
    return coef, {"seconds": time.perf_counter() - start,
                  "config": "sklearn.linear_model.Lasso, float64, precomputed Gram, tol 1e-10, "
                            "max_iter 100000, cyclic coordinate descent"}


def lasso_agreement(atoms: np.ndarray, x: np.ndarray, lam: float, tol: float = 1e-4,
                    max_iter: int = 20_000) -> dict:
    """Solve the lasso for every row of ``x`` (N, D) on the unit-norm ``atoms`` (K, D) with the
    suite's LCA, ISTA and FISTA (float64, relative duality gap ``tol``) and with scikit-learn;
    return, per solver, the relative excess of the summed objective over scikit-learn's,
    (Σ E_solver − Σ E_sklearn) / Σ E_sklearn, its largest per-sample value, and the time."""
    solvers = plugin("sparse_coding.solvers")
    a = torch.as_tensor(atoms, dtype=torch.float64)
    a = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    xt = torch.as_tensor(x, dtype=torch.float64)
    ref_codes, ref_info = sklearn_lasso(x, a.numpy(), lam)
    ref = lasso_objectives(x, a.numpy(), ref_codes, lam)
    top_eig = float(torch.linalg.eigvalsh(a @ a.T).max())
    out = {"sklearn": ref_info, "lam": lam, "n_samples": int(x.shape[0]), "solvers": {}}
    for name in ("lca", "ista", "fista"):
        extra = {"dt": min(0.1, 1.0 / top_eig)} if name == "lca" else {}
        start = time.perf_counter()
        codes = getattr(solvers, name)(xt, a, lam, tol=tol, max_iter=max_iter, **extra)
        seconds = time.perf_counter() - start
        obj = lasso_objectives(x, a.numpy(), codes.numpy(), lam)
        out["solvers"][name] = {"rel_excess": float((obj.sum() - ref.sum()) / ref.sum()),
                                "max_rel_excess": float(((obj - ref) / ref).max()),
                                "seconds": seconds}
    return out


def tiny_helmholtz(sizes=(5, 3, 2), scale: float = 1.5, seed: int = 0):
    """A float64 BiHM small enough to enumerate (5 visible, 3 and 2 hidden units: 2^10 joint
    states) with N(0, scale²) weights, so that p, q and p* differ clearly."""
    model = plugin("helmholtz.model")
    net = model.HelmholtzPair(list(sizes)).to(torch.float64)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * scale)
    return net


def estimator_convergence(ks=(10, 100, 1000, 10_000), z_draws: int = 200_000, seed: int = 0) -> dict:
    """Errors of the BiHM estimators against exact enumeration on :func:`tiny_helmholtz`, as
    the number of samples K grows: mean |error| over all 2^5 inputs of log p̃*(x) and log p(x)
    (importance sampling with K draws of q(h|x)), and |error| of log Z² (the unbiased estimator
    with K outer draws from p, 10 inner draws from q) and of log p*(x) = log p̃*(x) − log Z²."""
    est, exact = plugin("helmholtz.estimators"), plugin("helmholtz.exact")
    net = tiny_helmholtz()
    with torch.no_grad():
        ex = exact.exact_quantities(net)
    x = ex["x"]
    rows = []
    for k in ks:
        g = torch.Generator().manual_seed(seed * 1_000_003 + int(k))
        ie = est.importance_estimates(net, x, int(k), g)
        log_z2, _ = est.log_z2_estimate(net, int(k), 10, g)
        err = {"K": int(k),
               "log_p_tilde_star": float((ie["log_p_tilde_star"] - ex["log_p_tilde_star"]).abs().mean()),
               "log_px": float((ie["log_px"] - ex["log_px"]).abs().mean()),
               "log_z2": abs(log_z2 - float(ex["log_z2"])),
               "log_p_star": float((ie["log_p_tilde_star"] - log_z2 - ex["log_p_star"]).abs().mean())}
        rows.append(err)
    return {"rows": rows, "exact_log_z2": float(ex["log_z2"]), "n_inputs": int(x.shape[0]),
            "model": "5-3-2 units, weights N(0, 1.5²), float64"}


def errors_shrink(rows: list[dict], keys=("log_p_tilde_star", "log_px", "log_z2", "log_p_star"),
                  final_tol: float = 0.05) -> bool:
    """True when, for every quantity, the error at the largest K is below ``final_tol`` nats and
    below the error at the smallest K (the estimators converge to the enumeration)."""
    return all(rows[-1][k] < final_tol and rows[-1][k] < rows[0][k] and math.isfinite(rows[-1][k])
               for k in keys)
