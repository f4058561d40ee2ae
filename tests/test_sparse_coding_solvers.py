"""Sparse coding: the lasso solvers (ISTA, FISTA, LCA, dense and on working sets) against
scikit-learn's coordinate descent, the duality-gap certificate, and convergence."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso

from suite.errors import HyperparameterError
from threads import one_thread  # noqa: F401  (autouse fixture)
from suite.registry import discover

discover()
from brainlike_suite.methods.sparse_coding import (GramLasso, SOLVERS, lasso_objective,  # noqa: E402
                                                 lasso_working_set, lipschitz_bound, soft_threshold,
                                                 solve)

D, K, B = 24, 96, 16


def problem(seed: int = 0, dtype=torch.float64, frac: float = 0.5):
    """A fixed random unit-norm dictionary (K, D), inputs (B, D) and λ = frac·max|xΦᵀ|."""
    g = torch.Generator().manual_seed(seed)
    atoms = torch.randn(K, D, generator=g, dtype=torch.float64)
    atoms /= atoms.norm(dim=1, keepdim=True)
    x = torch.randn(B, D, generator=g, dtype=torch.float64)
    lam = frac * float((x @ atoms.T).abs().max())
    return x.to(dtype), atoms.to(dtype), lam


def sklearn_codes(x, atoms, lam, nonneg):
    """Row-wise Lasso on the design Φᵀ (D, K): sklearn minimizes ‖x − Φᵀa‖²/(2D) + α‖a‖₁,
    i.e. our E(a)/D for α = λ/D."""
    out = []
    for row in x.double().numpy():
        model = Lasso(alpha=lam / D, fit_intercept=False, positive=nonneg, tol=1e-12,
                      max_iter=200_000)
        out.append(model.fit(atoms.double().numpy().T, row).coef_)
    return torch.from_numpy(np.array(out))


@pytest.fixture(scope="module")
def reference():
    x, atoms, lam = problem()
    return {nonneg: sklearn_codes(x, atoms, lam, nonneg) for nonneg in (False, True)}


def energy(x, atoms, codes, lam):
    return lasso_objective(x.double(), atoms.double(), codes.double(), lam)


def run(solver: str, mode: str, x, atoms, lam, **kw):
    if mode == "dense":
        return solve(solver, x, atoms, lam, return_info=True, **kw)
    return lasso_working_set(x, atoms, lam, solver=solver, return_info=True, **kw)


@pytest.mark.parametrize("nonneg", [False, True], ids=["lasso", "positive"])
@pytest.mark.parametrize("mode", ["dense", "working-set"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_reaches_sklearn_objective(solver, mode, nonneg, reference):
    """Default tolerance: every row's objective within 1e-4 (relative) of scikit-learn's."""
    x, atoms, lam = problem()
    codes, info = run(solver, mode, x, atoms, lam, nonneg=nonneg)
    assert info.converged
    if mode == "working-set":
        assert info.rounds >= 1, "the problem is sparse: working sets must be used"
    ours, theirs = energy(x, atoms, codes, lam), energy(x, atoms, reference[nonneg], lam)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=0)
    if nonneg:
        assert (codes >= 0).all()


@pytest.mark.parametrize("solver", SOLVERS)
def test_float32_reaches_sklearn_objective(solver, reference):
    x, atoms, lam = problem(dtype=torch.float32)
    codes, info = run(solver, "working-set", x, atoms, lam)
    assert info.converged and codes.dtype == torch.float32
    rel = (energy(x, atoms, codes, lam).sum() / energy(x, atoms, reference[False], lam).sum()) - 1
    assert abs(float(rel)) <= 1e-4


@pytest.mark.parametrize("mode", ["dense", "working-set"])
def test_tight_tolerance_gives_sklearn_codes(mode, reference):
    """The lasso solution is unique here: at a tight tolerance the codes themselves agree."""
    x, atoms, lam = problem()
    codes, _ = run("fista", mode, x, atoms, lam, tol=1e-10)
    torch.testing.assert_close(codes, reference[False], rtol=0, atol=1e-5)
    assert ((codes != 0) == (reference[False] != 0)).all()


def test_working_set_grows_over_rounds(reference):
    """A first working set of 2 atoms is too small for most rows: it grows; same optimum."""
    x, atoms, lam = problem()
    codes, info = lasso_working_set(x, atoms, lam, size=2, tol=1e-10, return_info=True)
    assert info.rounds >= 3 and info.converged
    torch.testing.assert_close(codes, reference[False], rtol=0, atol=1e-5)


def test_rows_too_large_for_working_sets_finish_dense(monkeypatch, reference):
    """Rows whose next working set would not fit are finished by the dense iteration."""
    from brainlike_suite.methods.sparse_coding import working_set

    x, atoms, lam = problem()
    monkeypatch.setattr(working_set, "MAX_GRAM_NUMBERS", B * 2 ** 2)  # only the first round fits
    codes, info = lasso_working_set(x, atoms, lam, size=2, tol=1e-10, return_info=True)
    assert info.rounds == 1 and info.converged
    torch.testing.assert_close(codes, reference[False], rtol=0, atol=1e-5)


def test_dense_codes_use_the_dense_solver():
    """When rows have many atoms above λ at the start, working sets are skipped (rounds 0)."""
    x, atoms, lam = problem(frac=0.3)
    codes, info = lasso_working_set(x, atoms, lam, return_info=True)
    dense = solve("fista", x, atoms, lam)
    assert info.rounds == 0 and info.working_size is None
    torch.testing.assert_close(energy(x, atoms, codes, lam), energy(x, atoms, dense, lam), rtol=1e-4, atol=0)


def test_duality_gap_bounds_the_suboptimality(reference):
    x, atoms, lam = problem()
    prob = GramLasso.from_data(x, atoms, lam)
    best = energy(x, atoms, reference[False], lam)
    g = torch.Generator().manual_seed(5)
    for scale in (0.0, 0.1, 1.0):
        codes = scale * torch.randn(B, K, generator=g, dtype=torch.float64)
        primal, gap = prob.primal_and_gap(codes, prob.correlation(codes))
        torch.testing.assert_close(primal, energy(x, atoms, codes, lam))  # Gram form is exact
        assert (gap >= primal - best - 1e-9).all()
    primal, gap = prob.primal_and_gap(reference[False], prob.correlation(reference[False]))
    assert (gap <= 1e-8 * primal).all()


def test_lca_public_defaults_of_100_small_steps_do_not_converge(reference):
    """100 Euler steps of dt = 1e-3 cover a tenth of a time constant: far from the optimum,
    and the solver says so (every row whose optimum is not zero); the suite's defaults converge."""
    x, atoms, lam = problem()
    codes, info = solve("lca", x, atoms, lam, dt=1e-3, max_iter=100, return_info=True)
    active = (reference[False] != 0).any(1)
    assert not info.converged and info.n_iter == 100
    assert info.n_unconverged == int(active.sum()) > 0
    best = energy(x, atoms, reference[False], lam)
    assert (energy(x, atoms, codes, lam)[active] > 1.01 * best[active]).all()
    _, good = solve("lca", x, atoms, lam, return_info=True)
    assert good.converged and good.n_iter < 5000


def test_lca_step_too_large_for_the_dictionary_is_an_error():
    x, atoms, lam = problem()
    with pytest.raises(HyperparameterError, match="dt=5.*stable only for dt <"):
        solve("lca", x, atoms, lam, dt=5.0)


def test_unknown_solver_is_an_error():
    x, atoms, lam = problem()
    with pytest.raises(ValueError, match="unknown lasso solver 'cd'.*lca"):
        solve("cd", x, atoms, lam)


def test_warm_start_at_the_optimum_needs_no_iteration(reference):
    x, atoms, lam = problem()
    for solver in SOLVERS:
        codes, info = solve(solver, x, atoms, lam, a0=reference[False], return_info=True)
        assert info.n_iter == 0 and info.converged


def test_zero_input_gives_zero_codes():
    _, atoms, lam = problem()
    codes, info = lasso_working_set(torch.zeros(3, D, dtype=torch.float64), atoms, lam,
                                    return_info=True)
    assert info.converged and info.n_iter == 0 and (codes == 0).all()


def test_precomputed_gram_gives_the_same_codes():
    x, atoms, lam = problem()
    torch.testing.assert_close(solve("fista", x, atoms, lam, gram=atoms @ atoms.T),
                               solve("fista", x, atoms, lam))


def test_soft_threshold():
    u = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    torch.testing.assert_close(soft_threshold(u, 1.0), torch.tensor([-2.0, 0, 0, 0, 0, 0, 2.0]))
    torch.testing.assert_close(soft_threshold(u, 1.0, nonneg=True), torch.tensor([0.0, 0, 0, 0, 0, 0, 2.0]))
    per_row = soft_threshold(torch.stack([u, u]), torch.tensor([[1.0], [0.0]]))
    torch.testing.assert_close(per_row[1], u)


def test_lipschitz_bound_is_a_tight_upper_bound():
    g = torch.Generator().manual_seed(1)
    atoms = torch.randn(64, 32, generator=g, dtype=torch.float64)
    atoms /= atoms.norm(dim=1, keepdim=True)
    gram = atoms @ atoms.T
    top = torch.linalg.eigvalsh(gram)[-1]
    bound = lipschitz_bound(gram)
    assert top <= bound <= 1.05 * top
    batch = torch.stack([gram[:16, :16], gram[16:32, 16:32]])
    tops = torch.linalg.eigvalsh(batch)[:, -1]
    bounds = lipschitz_bound(batch, squarings=2)
    assert (tops <= bounds).all() and (bounds <= 1.1 * tops).all()


def test_shape_mismatch_is_an_error():
    x, atoms, lam = problem()
    with pytest.raises(ValueError, match="same D"):
        solve("fista", x[:, :10], atoms, lam)
