"""Sparse coding: LCA, ISTA and FISTA with dictionary learning (METHODS.md §3).

The solvers are plain functions for reuse (e.g. re-inferring another model's codes on its
frozen dictionary): x (B, D), dictionary (K, D) with unit-norm rows, codes (B, K).

    from brainlike_suite.methods.sparse_coding import fista, lca, lasso_working_set

Modules: :mod:`.lasso` (the problem, objective, duality gap, soft threshold),
:mod:`.solvers` (dense ISTA, FISTA, LCA), :mod:`.working_set` (the same solvers on growing
per-row working sets: the fast default), :mod:`.dictionary_learning` (the dictionary update),
:mod:`.methods` (the registered methods ``lca``, ``ista``, ``fista``).
"""
from .lasso import GramLasso, lasso_objective, lipschitz_bound, soft_threshold
from .methods import FISTA, ISTA, LCA, SparseCodingMethod
from .solvers import SOLVERS, SolveInfo, fista, ista, lca, solve
from .working_set import lasso_working_set

__all__ = ["GramLasso", "lasso_objective", "lipschitz_bound", "soft_threshold", "SOLVERS",
           "SolveInfo", "fista", "ista", "lca", "solve", "lasso_working_set",
           "SparseCodingMethod", "LCA", "ISTA", "FISTA"]
