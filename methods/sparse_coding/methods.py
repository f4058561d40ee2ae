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

import math
import warnings

import torch
from torch import Tensor

from suite.errors import NonFiniteLossError
from suite.hparams import Hyper, NonNegative, Positive
from suite.loss_curve import LossCurve
from suite.method import Budget, Inference, Method
from suite.progress import ProgressFactory, null_progress
from suite.registry import register
from suite.seeding import derive_seed, make_generator
from suite.training import Deadline, check_finite, minibatches

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


class SparseCodingMethod(Method):
    """Lasso sparse coding with a learned unit-norm dictionary (base of LCA, ISTA, FISTA)."""

    family = "sparse-coding"
    data_kinds = frozenset({"continuous"})
    solver: str = ""
    hparams = COMMON_HPARAMS
    smoke_hparams = {"max_iter": 200, "batch_size": 32, "lam": 0.5}

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

    def fit(self, train: Tensor, budget: Budget, progress: ProgressFactory = null_progress,
            val: Tensor | None = None) -> "SparseCodingMethod":
        batch_size = self.hp["batch_size"]
        total = budget.total_steps(train.shape[0], batch_size)
        per_epoch = math.ceil(train.shape[0] / min(batch_size, train.shape[0]))
        deadline = Deadline(budget)
        used = torch.zeros(self.n_latents, dtype=torch.bool, device=self.device)
        n_unconverged = 0
        self.loss_curve_ = LossCurve(total)    # the lasso objective E(a) per sample, per step
        with progress(total=total, desc=self.name) as bar:
            for step, x in minibatches(train, batch_size, total, self.generator):
                codes, info = self.encode(x, return_info=True)
                n_unconverged += not info.converged
                energy = lasso_objective(x, self.atoms, codes, self.hp["lam"]).mean()
                value = check_finite(energy, step, self.name)
                self.loss_curve_.add(step, value)
                self.atoms = dictionary_step(self.atoms, x, codes, self.hp["lr"])
                used |= (codes != 0).any(0)
                if (step + 1) % per_epoch == 0:
                    if self.hp["resample_dead"]:
                        self.atoms = resample_atoms(self.atoms, ~used, x, codes, self.generator)
                    used.zero_()
                self._check_dictionary(step)
                bar.update(1)
                bar.set_postfix(energy=value, iters=info.n_iter)
                if deadline.expired():
                    break
        if n_unconverged:
            warnings.warn(f"{self.name}: inference stopped at max_iter={self.hp['max_iter']} "
                          f"before reaching tol={self.hp['tol']} in {n_unconverged} training "
                          "batches; raise max_iter (or dt for the LCA).", RuntimeWarning)
        return self

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

    def dictionary(self) -> Tensor:
        return self.atoms


@register
class LCA(SparseCodingMethod):
    """Locally competitive algorithm (Rozell et al. 2008): lasso codes by neural dynamics."""

    name = "lca"
    solver = "lca"
    hparams = {**COMMON_HPARAMS,
               "dt": Positive(0.1, "Euler step dt/τ of the LCA dynamics (stable below 2/L)")}

    def solver_options(self) -> dict:
        return {"dt": self.hp["dt"]}

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
