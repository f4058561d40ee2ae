"""The amortization-gap analysis (PROTOCOL.md): re-infer codes on a method's frozen dictionary.

A VAE with a linear decoder x̂ = aΦ (Φ (K, D), one atom per row) infers its codes with an encoder
("amortized" inference). Re-inferring the codes of the same validation samples with an iterative
sparse-coding solver on the same, frozen Φ tells whether a gap in the trade-off between
distortion (sse) and sparsity lies in the amortized inference or in the dictionary. The P-VAE
paper reports it for LCA on the P-VAE's dictionary (METHODS.md §3: λ 0.1 → sse 43.5 / lifetime
sparsity .83, …, against ≈102 / .79 for its own inference).

Normalization (what is fair). LCA and FISTA solve, for every sample x (D,),

    min_c ½‖x − cΦ̃‖² + λ‖c‖₁,   Φ̃_k = Φ_k / ‖Φ_k‖   (unit-norm atoms, so λ has the same meaning
                                                       for every dictionary and solver),

and the codes are reported in the method's own units, a_k = c_k / ‖Φ_k‖, so that aΦ = cΦ̃ is the
same reconstruction. sse and lifetime sparsity — the paper's two axes — do not depend on this
choice (lifetime sparsity is invariant to a per-unit rescaling); population sparsity and l1 are
reported in the method's units, comparable with its own codes. Atoms of (near) zero norm
(‖Φ_k‖ ≤ 1e-8·max_j ‖Φ_j‖) cannot be normalized and keep a zero code; ``active`` restricts the
solvers to a subset of atoms (e.g. the method's non-dead units, so that re-inference does not
revive atoms the model never used; their codes are zero and they count as dead).

Metrics come from :func:`suite.metrics.evaluate` on an :class:`~suite.method.Inference` built
from the re-inferred codes, exactly as for the method's own inference.
"""
from __future__ import annotations

import importlib
import time
from typing import Sequence

import torch
from torch import Tensor

from ..errors import ConfigError
from ..method import Inference
from ..metrics import evaluate

GAP_SOLVERS = ("lca", "fista")
DEFAULT_LAMS = (0.05, 0.1, 0.2, 0.5, 1.0)
"""The default λ grid (unit-norm atoms); the paper's LCA points are λ = 0.1, 0.5, 1.0."""
REPORTED = ("sse", "r2", "lifetime_sparsity", "population_sparsity", "frac_zeros", "l0", "l1",
            "dead_frac")
"""The metrics of :func:`suite.metrics.evaluate` kept in each row."""


def _solver(name: str):
    from ..registry import discover

    if name not in GAP_SOLVERS:
        raise ConfigError(f"unknown amortization-gap solver {name!r}; use one of {list(GAP_SOLVERS)}.")
    discover()
    module = importlib.import_module("brainlike_suite.methods.sparse_coding.solvers")
    return getattr(module, name)


def normalized_atoms(dictionary: Tensor, active: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(atoms, norms)``: the rows of ``dictionary`` (K, D) that can be used — nonzero norm and,
    when ``active`` (K,) bool is given, active — scaled to unit norm (K', D), and the norms (K,)
    of all rows with 0 for the unusable ones."""
    norms = dictionary.norm(dim=1)
    usable = norms > 1e-8 * norms.max().clamp_min(1e-30)
    if active is not None:
        usable &= active.to(device=dictionary.device, dtype=torch.bool)
    return dictionary[usable] / norms[usable, None], torch.where(usable, norms, torch.zeros_like(norms))


def amortization_gap(dictionary: Tensor, x_val: Tensor, lams: Sequence[float] = DEFAULT_LAMS,
                     solvers: Sequence[str] = GAP_SOLVERS, *, active: Tensor | None = None,
                     nonneg: bool = False, tol: float = 1e-4, max_iter: int = 2000,
                     batch_size: int = 2000) -> list[dict]:
    """Re-infer the codes of ``x_val`` (M, D) on the frozen ``dictionary`` (K, D) with each solver
    of ``solvers`` (``"lca"``, ``"fista"``) at each λ of ``lams``; one row per (solver, λ).

    ``nonneg`` constrains the codes to be ≥ 0 (natural for spike counts or relu codes);
    ``tol``/``max_iter`` are the solvers' stopping rule (relative duality gap) and iteration cap;
    ``batch_size`` bounds memory. Everything runs on the device of ``x_val``.

    Each row: ``solver``, ``lam``, ``nonneg``, the metrics of :data:`REPORTED`, ``n_atoms`` (atoms
    the solver could use), ``converged_frac`` (fraction of samples whose duality gap met ``tol``),
    ``n_samples`` (validation samples re-inferred),
    ``seconds`` (solve time).
    """
    if dictionary.ndim != 2 or x_val.ndim != 2 or dictionary.shape[1] != x_val.shape[1]:
        raise ValueError(f"dictionary (K, D) and x_val (M, D) must agree, got "
                         f"{tuple(dictionary.shape)} and {tuple(x_val.shape)}")
    dictionary = dictionary.detach().to(x_val.device, x_val.dtype)
    atoms, norms = normalized_atoms(dictionary, active)
    usable = norms > 0
    rows = []
    # LCA's Euler step must satisfy dt < 2/L (L: largest eigenvalue of the atoms' Gram matrix);
    # the default dt = 0.1 suits well-conditioned sparse-coding dictionaries, not every VAE's.
    top_eig = float(torch.linalg.eigvalsh(atoms @ atoms.T).max()) if len(atoms) else 1.0
    for name in solvers:
        solve = _solver(name)
        extra = {"dt": min(0.1, 1.0 / top_eig)} if name == "lca" else {}
        for lam in lams:
            start = time.perf_counter()
            codes, n_ok = [], 0
            for i in range(0, x_val.shape[0], batch_size):
                c, info = solve(x_val[i:i + batch_size], atoms, float(lam), nonneg=nonneg, tol=tol,
                                max_iter=max_iter, return_info=True, **extra)
                codes.append(c)
                n_ok += c.shape[0] - info.n_unconverged
            seconds = time.perf_counter() - start
            c = torch.cat(codes)
            full = torch.zeros(x_val.shape[0], dictionary.shape[0], device=x_val.device, dtype=x_val.dtype)
            full[:, usable] = c / norms[usable]
            metrics, _ = evaluate(Inference(codes=full, recon=c @ atoms), x_val)
            rows.append({"solver": name, "lam": float(lam), "nonneg": bool(nonneg),
                         **{k: metrics.get(k) for k in REPORTED}, "n_atoms": int(usable.sum()),
                         "converged_frac": n_ok / x_val.shape[0], "n_samples": int(x_val.shape[0]),
                         "seconds": seconds})
    return rows


def gap_settings(eval_cfg: dict) -> dict | None:
    """The ``amortization_gap`` section of a profile's ``eval`` settings, with defaults filled in,
    or None when the profile does not ask for the analysis.

    Keys: ``lams`` (λ grid), ``solvers``, ``max_val`` (size of a seeded random subset of the
    validation samples given to :func:`run_gap`; None: all),
    ``nonneg``, ``tol``, ``max_iter``."""
    cfg = eval_cfg.get("amortization_gap")
    if not cfg:
        return None
    cfg = {} if cfg is True else dict(cfg)
    unknown = set(cfg) - {"lams", "solvers", "max_val", "nonneg", "tol", "max_iter"}
    if unknown:
        raise ConfigError(f"eval.amortization_gap: unknown keys {sorted(unknown)}")
    return {"lams": list(cfg.get("lams", DEFAULT_LAMS)), "solvers": list(cfg.get("solvers", GAP_SOLVERS)),
            "max_val": cfg.get("max_val"), "nonneg": bool(cfg.get("nonneg", False)),
            "tol": float(cfg.get("tol", 1e-4)), "max_iter": int(cfg.get("max_iter", 2000))}


def applies_to(family: str) -> bool:
    """Whether the analysis is meaningful for a method family with a linear dictionary: every
    family but sparse coding, whose own inference already is the lasso solution."""
    return family != "sparse-coding"


def run_gap(dictionary: Tensor, x_val: Tensor, settings: dict, seed: int) -> list[dict]:
    """:func:`amortization_gap` on a seeded random subset of ``settings["max_val"]`` samples of
    ``x_val`` (all when None; :func:`suite.subsets.subset_indices`, seeded from the run seed)."""
    from ..seeding import derive_seed
    from ..subsets import subset_indices

    idx = subset_indices(x_val.shape[0], settings["max_val"], derive_seed(seed, "amortization gap"))
    if idx is not None:
        x_val = x_val[idx.to(x_val.device)]
    return amortization_gap(dictionary, x_val, settings["lams"], settings["solvers"],
                            nonneg=settings["nonneg"], tol=settings["tol"], max_iter=settings["max_iter"])
