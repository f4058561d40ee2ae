"""Claims that are checks of computation rather than of training: C1 (lasso optima) and C2
(BiHM estimators against exact enumeration). Both run in-process in seconds to minutes.

The methods' code is reached through the registry and their declared capabilities
(:mod:`suite.capabilities`: the :class:`~suite.capabilities.LassoSolver` classes for C1, the
:class:`~suite.capabilities.EstimatorCheck` of the BiHM for C2), never by importing a plugin.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from suite.capabilities import EstimatorCheck, LassoSolver
from suite.errors import SuiteError
from suite.registry import METHODS


def capable(name: str, capability: type):
    """The registered method class ``name``, which must declare ``capability``."""
    cls = METHODS.get(name)
    if not issubclass(cls, capability):
        raise SuiteError(f"method {name!r} does not declare the {capability.__name__} capability "
                         "(suite/capabilities.py) this check needs.")
    return cls


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
    a = torch.as_tensor(atoms, dtype=torch.float64)
    a = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    xt = torch.as_tensor(x, dtype=torch.float64)
    ref_codes, ref_info = sklearn_lasso(x, a.numpy(), lam)
    ref = lasso_objectives(x, a.numpy(), ref_codes, lam)
    top_eig = float(torch.linalg.eigvalsh(a @ a.T).max())
    out = {"sklearn": ref_info, "lam": lam, "n_samples": int(x.shape[0]), "solvers": {}}
    for name in ("lca", "ista", "fista"):
        solve = capable(name, LassoSolver).solve_lasso
        start = time.perf_counter()
        codes = solve(xt, a, lam, tol=tol, max_iter=max_iter, max_eig=top_eig)
        seconds = time.perf_counter() - start
        obj = lasso_objectives(x, a.numpy(), codes.numpy(), lam)
        out["solvers"][name] = {"rel_excess": float((obj.sum() - ref.sum()) / ref.sum()),
                                "max_rel_excess": float(((obj - ref) / ref).max()),
                                "seconds": seconds}
    return out


def estimator_convergence(ks=(10, 100, 1000, 10_000), z_draws: int = 200_000, seed: int = 0,
                          method: str = "bihm") -> dict:
    """Errors of the estimators of ``method`` (the BiHM: log p̃*(x), log p(x), log Z², log p*(x))
    against exact enumeration of a tiny model, as the number of samples K grows: its
    :class:`~suite.capabilities.EstimatorCheck` hook (``rows``: one dict per K). ``z_draws`` is
    kept for compatibility and unused."""
    return capable(method, EstimatorCheck).estimator_convergence(tuple(ks), seed=seed)


def errors_shrink(rows: list[dict], keys=("log_p_tilde_star", "log_px", "log_z2", "log_p_star"),
                  final_tol: float = 0.05) -> bool:
    """True when, for every quantity, the error at the largest K is below ``final_tol`` nats and
    below the error at the smallest K (the estimators converge to the enumeration)."""
    return all(rows[-1][k] < final_tol and rows[-1][k] < rows[0][k] and math.isfinite(rows[-1][k])
               for k in keys)
