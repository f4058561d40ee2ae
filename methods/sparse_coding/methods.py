"""The sparse-coding methods: LCA, ISTA and FISTA, each with dictionary learning.

One base class, :class:`SparseCodingMethod`; the three registered methods differ only in the
lasso solver that infers the codes (and its own knob: ``dt`` for the LCA, ``restart`` for
FISTA). Training follows METHODS.md §3 (see :mod:`.dictionary_learning`); inference returns
the codes a (N, K) that minimize ½‖x − aΦ‖² + λ‖a‖₁ and the reconstruction aΦ (N, D). There is
no posterior, so ``unit_rate`` is None.

By default each solver runs on per-row working sets (:mod:`.working_set`), which reaches the
same optimum, to the same certified tolerance, as the dense iteration at a fraction of the
cost; ``working_set=0`` runs the dense iteration over all atoms.

Divergence: every atom has unit norm after every dictionary-learning step (the update
renormalizes what it changes; :func:`.dictionary_learning.resample_atoms` writes normalized
residuals). An atom whose norm is off by more than :data:`ATOM_NORM_TOL`, or NaN, can only come
from an update that overflowed (the rescaled norm is infinite: the atom becomes zero, and every
later code with it; or NaN); :meth:`SparseCodingMethod.fit` then stops the run with
:class:`~suite.errors.NonFiniteLossError` (a too-large ``lr``) instead of recording a
dictionary of zeros. The rule reads the atoms only, so a healthy run's numbers are unchanged.

``tol`` bounds each code's relative duality gap, a certificate that overestimates the distance
to the optimum (near the optimum it shrinks like the square root of the objective's excess):
the default 1e-2 puts the objective within about 1e-4 of the optimum (measured in
``benchmarks/bench_lasso.py``).
"""
from __future__ import annotations

import warnings

import torch
from torch import Tensor

from suite.capabilities import DataKind, IterativeInference, LassoSolver, LinearDictionary
from suite.errors import NonFiniteLossError
from suite.hparams import Hyper, NonNegative, Positive
from suite.loop import TrainedByLoop
from suite.method import Inference, Method
from suite.registry import register
from suite.seeding import derive_seed, make_generator
from suite.training import check_finite

from .dictionary_learning import dictionary_step, random_atoms, resample_atoms
from .lasso import GramLasso, lasso_objective
from .solvers import make_steps, solve
from .working_set import lasso_working_set

COMMON_HPARAMS = {
    "lam": Positive(1.0, "λ of E(a) = ½‖x − aΦ‖² + λ‖a‖₁, in data units"),
    "nonneg": Hyper(False, "constrain the codes to a ≥ 0 (threshold relu(u − λ))"),
    "tol": Positive(1e-2, "inference stops when every code's duality gap is ≤ tol·E(a)"),
    "max_iter": Positive(5000, "cap on solver iterations per batch (LCA: Euler steps)"),
    "working_set": NonNegative(16, "first working-set size per code (0: dense iteration)"),
    "lr": Positive(0.1, "dictionary learning rate η of Φ ← Φ + η aᵀ(x − aΦ)/B"),
    "batch_size": Positive(256, "minibatch size B of dictionary learning"),
    "resample_dead": Hyper(False, "replace atoms unused for a whole epoch by residuals"),
}

ATOM_NORM_TOL = 1e-2
"""A trained atom's norm must be within 1 ± this (renormalized atoms are within ~1e-7 in
float32); a zero or NaN atom is the mark of a diverged dictionary update."""


class SparseCodingMethod(TrainedByLoop, Method, LinearDictionary, LassoSolver):
    """Lasso sparse coding with a learned unit-norm dictionary (base of LCA, ISTA, FISTA)."""

    family = "sparse-coding"
    data_kinds = frozenset({DataKind.CONTINUOUS})
    solver: str = ""
    hparams = COMMON_HPARAMS
    smoke_hparams = {"max_iter": 200, "batch_size": 32}
    smoke_budget = {"epochs": 1}

    def __init__(self, data_shape, n_latents, device="cpu", seed=0, **hparams):
        super().__init__(data_shape, n_latents, device, seed, **hparams)
        init = make_generator(self.device, derive_seed(self.seed, "dictionary init"))
        self.atoms = random_atoms(self.n_latents, self.dim, init)

    def solver_options(self) -> dict:
        """Solver-specific keyword arguments (``dt`` for the LCA, ``restart`` for FISTA)."""
        return {}

    def encode(self, x: Tensor, return_info: bool = False):
        """Codes (B, K) of x (B, D) on the current dictionary (see :mod:`.solvers`)."""
        kw = dict(nonneg=self.hp["nonneg"], tol=self.hp["tol"], max_iter=self.hp["max_iter"],
                  return_info=return_info, **self.solver_options())
        if self.hp["working_set"] > 0:
            return lasso_working_set(x, self.atoms, self.hp["lam"], solver=self.solver,
                                     size=self.hp["working_set"], **kw)
        return solve(self.solver, x, self.atoms, self.hp["lam"], **kw)

    # -- training (the suite's loop, :mod:`suite.loop`) ----------------------------------------
    def begin_training(self, train: Tensor, total_steps: int, val: Tensor | None) -> None:
        # atoms used in the current epoch, solver calls that stopped at max_iter, the last batch
        self._fit = {"used": torch.zeros(self.n_latents, dtype=torch.bool, device=self.device),
                     "n_unconverged": 0, "last": None, "iters": 0}

    def training_step(self, x: Tensor, step: int, total_steps: int) -> float:
        """Codes of the batch x (B, D) on the current dictionary, then one dictionary-learning
        step; returns the lasso objective E(a) per sample of the batch (checked before the
        update, so that a non-finite objective is reported as such)."""
        fit = self._fit
        codes, info = self.encode(x, return_info=True)
        fit["n_unconverged"] += not info.converged
        fit["iters"] = info.n_iter
        energy = lasso_objective(x, self.atoms, codes, self.hp["lam"]).mean()
        value = check_finite(energy, step, self.name)
        self.atoms = dictionary_step(self.atoms, x, codes, self.hp["lr"])
        fit["used"] |= (codes != 0).any(0)
        fit["last"] = (step, x, codes)
        self._check_dictionary(step)
        return value

    def end_of_epoch(self, epoch: int) -> None:
        """Resample the atoms no code used during the epoch (``resample_dead``) from the residuals
        of its last batch; start counting usage afresh."""
        fit = self._fit
        if self.hp["resample_dead"]:
            step, x, codes = fit["last"]
            self.atoms = resample_atoms(self.atoms, ~fit["used"], x, codes, self.generator)
            self._check_dictionary(step)
        fit["used"].zero_()

    def progress_postfix(self, step: int, loss: float) -> dict:
        return {"energy": loss, "iters": self._fit["iters"]}

    def end_training(self) -> None:
        n_unconverged = self._fit["n_unconverged"]
        self._fit = None
        if n_unconverged:
            warnings.warn(f"{self.name}: inference stopped at max_iter={self.hp['max_iter']} "
                          f"before reaching tol={self.hp['tol']} in {n_unconverged} training "
                          "batches; raise max_iter (or dt for the LCA).", RuntimeWarning)

    def _check_dictionary(self, step: int) -> None:
        """Stop the run when the dictionary-learning step ``step`` left an atom off the unit
        sphere (zero or NaN: the update overflowed; see the module docstring)."""
        off = ~((self.atoms.norm(dim=1) - 1.0).abs() <= ATOM_NORM_TOL)  # NaN norms count
        if bool(off.any()):
            raise NonFiniteLossError(
                f"{self.name}: the dictionary diverged at step {step}: the dictionary-learning "
                f"update (lr={self.hp['lr']:g}) overflowed and {int(off.sum())} of "
                f"{self.n_latents} atoms lost their unit norm (they became zero, which no code uses "
                "again, or NaN). The run was stopped and nothing was recorded as a result. "
                f"Try a smaller learning rate (--set {self.name}.lr=...).")

    def infer(self, x: Tensor) -> Inference:
        codes = self.encode(x)
        return Inference(codes=codes, recon=codes @ self.atoms)

    # -- capabilities ----------------------------------------------------------------------
    def dictionary(self) -> Tensor:
        """The unit-norm atoms Φ (K, D) (LinearDictionary)."""
        return self.atoms

    @classmethod
    def solve_lasso(cls, x: Tensor, atoms: Tensor, lam: float, *, nonneg: bool = False,
                    tol: float = 1e-4, max_iter: int = 5000, max_eig: float | None = None,
                    return_info: bool = False):
        """LassoSolver: the dense solve of this method's solver (:func:`.solvers.solve`) of x
        (B, D) on unit-norm ``atoms`` (K, D), with the solver's default options adapted to
        ``max_eig`` (:meth:`lasso_options`); codes (B, K), or ``(codes, SolveInfo)``."""
        return solve(cls.solver, x, atoms, lam, nonneg=nonneg, tol=tol, max_iter=max_iter,
                     return_info=return_info, **cls.lasso_options(max_eig))

    @classmethod
    def lasso_options(cls, max_eig: float | None) -> dict:
        """The solver's options for :meth:`solve_lasso` given the largest eigenvalue of the
        atoms' Gram matrix (None: unknown). Default: none (ISTA and FISTA bound it themselves)."""
        return {}


@register
class LCA(SparseCodingMethod, IterativeInference):
    """Locally competitive algorithm (Rozell et al. 2008): lasso codes by neural dynamics."""

    name = "lca"
    solver = "lca"
    hparams = {**COMMON_HPARAMS,
               "dt": Positive(0.1, "Euler step dt/τ of the LCA dynamics (stable below 2/L)")}

    def solver_options(self) -> dict:
        return {"dt": self.hp["dt"]}

    @classmethod
    def lasso_options(cls, max_eig: float | None) -> dict:
        """The default Euler step dt = 0.1, reduced to 1/max_eig when that is smaller (the step
        is stable below 2/L, L = max_eig: the default suits well-conditioned sparse-coding
        dictionaries, not every VAE's)."""
        dt = float(cls.hparams["dt"].default)
        return {"dt": dt if not max_eig else min(dt, 1.0 / max_eig)}

    @property
    def test_steps(self) -> int:
        """Horizon of the convergence trace (suite/convergence.py): 1000 Euler steps (the
        iterative VAEs' test horizon in the paper; 100 time constants at dt = 0.1), or
        ``max_iter`` when smaller."""
        return min(1000, int(self.hp["max_iter"]))

    @torch.no_grad()
    def infer_trajectory(self, x: Tensor, steps):
        """Dense LCA Euler steps from u₀ = 0, without the stopping rule, for the convergence
        trace: yields ``(t, Inference after t steps, ‖u_t − u_{t−1}‖ per input (B,))`` at the
        requested steps (ascending, ≥ 1)."""
        wanted = sorted({int(t) for t in steps})
        if not wanted or wanted[0] < 1:
            raise ValueError(f"lca: trajectory steps must be integers >= 1, got {wanted}")
        prob = GramLasso.from_data(x, self.atoms, self.hp["lam"], self.hp["nonneg"])
        it = make_steps("lca", prob, torch.zeros_like(prob.b), cold=True, dt=self.hp["dt"])
        for t in range(1, wanted[-1] + 1):
            before = it.potential
            it.step()
            if t in wanted:
                yield t, Inference(codes=it.codes, recon=it.codes @ self.atoms), \
                    (it.potential - before).norm(dim=1)


@register
class ISTA(SparseCodingMethod):
    """Iterative shrinkage-thresholding (ISTA): lasso codes by proximal gradient descent."""

    name = "ista"
    solver = "ista"


@register
class FISTA(SparseCodingMethod):
    """FISTA (Beck & Teboulle 2009): lasso codes by accelerated proximal gradient descent."""

    name = "fista"
    solver = "fista"
    hparams = {**COMMON_HPARAMS,
               "restart": Hyper(True, "reset the momentum when it points uphill (same optimum)")}

    def solver_options(self) -> dict:
        return {"restart": self.hp["restart"]}
