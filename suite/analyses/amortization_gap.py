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

import time
from typing import Mapping, Sequence

import torch
from torch import Tensor

from ..capabilities import LassoSolver, amortization_gap_applies
from ..errors import ConfigError, UnknownNameError
from ..method import Inference
from ..metrics import evaluate
from ..settings import DEFAULT_LAMS, GAP_SOLVERS, EvalSettings, GapSettings  # noqa: F401 (defaults live there)

REPORTED = ("sse", "r2", "lifetime_sparsity", "population_sparsity", "frac_zeros", "l0", "l1",
            "dead_frac")
"""The metrics of :func:`suite.metrics.evaluate` kept in each row."""


def lasso_solvers() -> list[str]:
    """Names of the registered methods that declare :class:`~suite.capabilities.LassoSolver`."""
    from ..registry import METHODS

    return [name for name, cls in METHODS.items() if issubclass(cls, LassoSolver)]


def gap_solver(name: str) -> type[LassoSolver]:
    """The registered method ``name`` as a lasso solver (its ``solve_lasso`` classmethod re-infers
    the codes): ``ConfigError`` when no method has that name or when it does not declare
    :class:`~suite.capabilities.LassoSolver`. The solvers are plugins found through the
    registry; the suite imports none of them."""
    from ..registry import METHODS

    try:
        cls = METHODS.get(name)
    except UnknownNameError:
        raise ConfigError(f"unknown amortization-gap solver {name!r}; use a registered lasso "
                          f"solver: {', '.join(lasso_solvers()) or 'none is registered'}.") from None
    if not issubclass(cls, LassoSolver):
        raise ConfigError(f"{name!r} cannot be an amortization-gap solver: the method does not "
                          "declare the LassoSolver capability (suite/capabilities.py). Lasso "
                          f"solvers: {', '.join(lasso_solvers()) or 'none is registered'}.")
    return cls


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
                     nonneg: bool = GapSettings.nonneg, tol: float = GapSettings.tol,
                     max_iter: int = GapSettings.max_iter,
                     batch_size: int = 2000) -> list[dict]:
    """Re-infer the codes of ``x_val`` (M, D) on the frozen ``dictionary`` (K, D) with each solver
    of ``solvers`` (``"lca"``, ``"fista"``: registered :class:`~suite.capabilities.LassoSolver`
    methods, :func:`gap_solver`) at each λ of ``lams``; one row per (solver, λ).

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
    # The largest eigenvalue L of the atoms' Gram matrix, given to every solver: a solver whose
    # stability depends on it adapts (LCA's Euler step must satisfy dt < 2/L; its default
    # dt = 0.1 suits well-conditioned sparse-coding dictionaries, not every VAE's).
    top_eig = float(torch.linalg.eigvalsh(atoms @ atoms.T).max()) if len(atoms) else 1.0
    for name in solvers:
        solve = gap_solver(name).solve_lasso
        for lam in lams:
            start = time.perf_counter()
            codes, n_ok = [], 0
            for i in range(0, x_val.shape[0], batch_size):
                c, info = solve(x_val[i:i + batch_size], atoms, float(lam), nonneg=nonneg, tol=tol,
                                max_iter=max_iter, max_eig=top_eig, return_info=True)
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


def gap_settings(eval_cfg: "Mapping | EvalSettings") -> dict | None:
    """The ``amortization_gap`` section of a run's ``eval`` settings (a mapping or an
    :class:`~suite.settings.EvalSettings`), every key filled in
    (:meth:`suite.settings.GapSettings.to_dict`), or None when the settings do not ask for the
    analysis.

    Keys: ``lams`` (λ grid), ``solvers``, ``max_val`` (size of a seeded random subset of the
    validation samples given to :func:`run_gap`; None: all),
    ``nonneg``, ``tol``, ``max_iter``."""
    gap = EvalSettings.from_mapping(eval_cfg).amortization_gap
    return None if gap is None else gap.to_dict()


def applies_to(method) -> bool:
    """Whether the analysis is meaningful for ``method`` (a method class or instance): it
    declares :class:`~suite.capabilities.LinearDictionary` and is not a
    :class:`~suite.capabilities.LassoSolver`, whose own inference already is the lasso solution
    (:func:`suite.capabilities.amortization_gap_applies`). Its ``dictionary()`` may still be
    None for a configuration (then there is nothing to analyse)."""
    return amortization_gap_applies(method)


def run_gap(dictionary: Tensor, x_val: Tensor, settings: "GapSettings | Mapping", seed: int) -> list[dict]:
    """:func:`amortization_gap` on a seeded random subset of ``settings.max_val`` samples of
    ``x_val`` (all when None; :func:`suite.subsets.subset_indices`, seeded from the run seed).
    ``settings``: a :class:`~suite.settings.GapSettings`, or a mapping of its keys."""
    from ..seeding import derive_seed
    from ..subsets import subset_indices

    if not isinstance(settings, GapSettings):
        settings = GapSettings.from_mapping(settings)
    idx = subset_indices(x_val.shape[0], settings.max_val, derive_seed(seed, "amortization gap"))
    if idx is not None:
        x_val = x_val[idx.to(x_val.device)]
    return amortization_gap(dictionary, x_val, list(settings.lams), list(settings.solvers),
                            nonneg=settings.nonneg, tol=settings.tol, max_iter=settings.max_iter)
