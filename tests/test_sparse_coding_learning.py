"""Sparse coding: dictionary learning (recovery of a known dictionary, the update rule, dead
atoms), the methods' contract beyond the conformance battery, and their hyperparameters."""
from __future__ import annotations

import pytest
import torch

from suite.errors import HyperparameterError, NonFiniteLossError, UnknownNameError
from progress_recorder import RecordingProgress
from suite.method import Budget
from suite.registry import create_method, discover
from threads import one_thread  # noqa: F401  (autouse fixture)

discover()
from brainlike_suite.methods.sparse_coding import (SOLVERS, fista, lasso_working_set,  # noqa: E402
                                                 soft_threshold)
from brainlike_suite.methods.sparse_coding.dictionary_learning import (  # noqa: E402
    dictionary_step, normalize_atoms, random_atoms, resample_atoms)

D, SHAPE = 16, (1, 4, 4)


def sparse_data(n_true: int = 12, n: int = 2000, active: int = 2, noise: float = 0.01):
    """x = aΦ* + noise with a known unit-norm Φ* (n_true, D) and `active` nonzeros per code,
    magnitudes in ±[0.5, 1.5]."""
    g = torch.Generator().manual_seed(1234)
    true = normalize_atoms(torch.randn(n_true, D, generator=g))
    codes = torch.zeros(n, n_true)
    support = torch.rand(n, n_true, generator=g).argsort(1)[:, :active]
    values = (torch.rand(n, active, generator=g) + 0.5) * torch.randn(n, active, generator=g).sign()
    codes.scatter_(1, support, values)
    return codes @ true + noise * torch.randn(n, D, generator=g), true


@pytest.mark.parametrize("solver", SOLVERS)
def test_dictionary_learning_recovers_a_known_dictionary(solver):
    """≥ 90% of the 12 generating atoms found with |cosine| > 0.95 (16 atoms learned)."""
    x, true = sparse_data()
    method = create_method(solver, SHAPE, 16, seed=0, lam=0.1, lr=5.0, batch_size=128, tol=1e-2)
    method.fit(x, Budget(epochs=6))
    cosine = (true @ method.dictionary().T).abs().amax(1)
    assert (cosine > 0.95).float().mean() >= 0.9, cosine


def test_fit_is_deterministic_under_the_seed():
    x, _ = sparse_data(n=512)

    def atoms(seed):
        return create_method("fista", SHAPE, 16, seed=seed, lam=0.1, lr=5.0,
                             batch_size=64).fit(x, Budget(epochs=2)).dictionary()

    first = atoms(3)
    assert torch.equal(first, atoms(3))
    assert not torch.allclose(first, atoms(4))


def test_dictionary_step_is_the_gradient_step_then_renormalization():
    g = torch.Generator().manual_seed(0)
    atoms = random_atoms(5, D, g)
    x = torch.randn(8, D, generator=g)
    codes = torch.randn(8, 5, generator=g)
    codes[:, 2] = 0  # atom 2 is unused by the batch
    expected = atoms + 0.3 * codes.T @ (x - codes @ atoms) / 8
    expected = expected / expected.norm(dim=1, keepdim=True)
    new = dictionary_step(atoms, x, codes, 0.3)
    torch.testing.assert_close(new, expected)
    torch.testing.assert_close(new.norm(dim=1), torch.ones(5))
    assert torch.equal(new[2], atoms[2]), "an unused atom stays as it is"


def test_resample_replaces_only_dead_atoms_by_unit_norm_residuals():
    g = torch.Generator().manual_seed(0)
    atoms = random_atoms(6, D, g)
    x = torch.randn(10, D, generator=g)
    codes = torch.zeros(10, 6)
    dead = torch.tensor([False, True, False, False, True, False])
    new = resample_atoms(atoms, dead, x, codes, torch.Generator().manual_seed(1))
    assert torch.equal(new[~dead], atoms[~dead])
    torch.testing.assert_close(new.norm(dim=1), torch.ones(6))
    residuals = normalize_atoms(x)  # codes are zero: the residuals are the inputs
    for row in new[dead]:
        assert torch.isclose((residuals @ row).max(), torch.tensor(1.0))


def test_dead_atoms_stay_unless_resampled():
    """With λ above every |xΦᵀ| no atom is ever used: the dictionary does not move, unless
    dead atoms are resampled at the end of each epoch."""
    x, _ = sparse_data(n=256)
    kept = create_method("ista", SHAPE, 8, seed=0, lam=1e3)
    start = kept.dictionary().clone()
    kept.fit(x, Budget(epochs=1))
    assert torch.equal(kept.dictionary(), start)
    moved = create_method("ista", SHAPE, 8, seed=0, lam=1e3, resample_dead=True)
    moved.fit(x, Budget(epochs=1))
    assert not torch.allclose(moved.dictionary(), start)


@pytest.mark.parametrize("solver", SOLVERS)
def test_infer_returns_the_lasso_solution(solver):
    x, _ = sparse_data(n=600)
    method = create_method(solver, SHAPE, 16, seed=0, lam=0.1, lr=5.0, tol=1e-4)
    method.fit(x[:512], Budget(epochs=1))
    with torch.no_grad():
        inf = method.infer(x[512:])
    atoms = method.dictionary()
    assert inf.unit_rate is None and inf.features is None
    torch.testing.assert_close(inf.recon, inf.codes @ atoms)
    torch.testing.assert_close(atoms.norm(dim=1), torch.ones(16))
    exact = fista(x[512:].double(), atoms.double(), 0.1, tol=1e-10)
    torch.testing.assert_close(inf.codes.double(), exact, rtol=0, atol=2e-2)



def test_lca_trajectory_takes_euler_steps_to_the_lasso_solution():
    """From u₀ = 0 the first step is u₁ = dt·xΦᵀ; the trace ends at the lasso optimum."""
    x, _ = sparse_data(n=32)
    method = create_method("lca", SHAPE, 16, seed=0, lam=0.1, dt=0.2)
    atoms = method.dictionary()
    points = {t: (inf, delta) for t, inf, delta in method.infer_trajectory(x, [2000, 1])}
    first, delta = points[1]
    u1 = 0.2 * x @ atoms.T
    torch.testing.assert_close(first.codes, soft_threshold(u1, 0.1))
    torch.testing.assert_close(first.recon, first.codes @ atoms)
    torch.testing.assert_close(delta, u1.norm(dim=1))
    last, delta = points[2000]
    optimum = fista(x.double(), atoms.double(), 0.1, tol=1e-10)
    torch.testing.assert_close(last.codes.double(), optimum, rtol=0, atol=1e-4)
    assert (delta < 1e-5).all()
    with pytest.raises(ValueError, match=">= 1"):
        list(method.infer_trajectory(x, [0, 3]))

def test_nonneg_codes_are_nonnegative():
    x, _ = sparse_data(n=256)
    method = create_method("lca", SHAPE, 16, seed=0, lam=0.1, nonneg=True).fit(x, Budget(epochs=1))
    with torch.no_grad():
        codes = method.infer(x).codes
    assert (codes >= 0).all() and (codes > 0).any()


def test_budget_caps_the_number_of_dictionary_updates():
    x, _ = sparse_data(n=512)
    progress = RecordingProgress()
    create_method("fista", SHAPE, 8, seed=0, batch_size=64).fit(x, Budget(epochs=5, max_steps=3),
                                                                progress=progress)
    [bar] = progress.bars
    assert bar.total == 3 and bar.n == 3 and bar.desc == "fista"
    assert len(bar.postfixes) == 3 and all({"energy", "iters"} <= set(p) for p in bar.postfixes)


def test_unconverged_training_inference_warns():
    x, _ = sparse_data(n=128)
    method = create_method("lca", SHAPE, 16, seed=0, lam=0.1, max_iter=2, dt=0.01)
    with pytest.warns(RuntimeWarning, match="raise max_iter"):
        method.fit(x, Budget(epochs=1))


def test_non_finite_data_stops_training():
    x, _ = sparse_data(n=64)
    x[3, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match="fista"):
        create_method("fista", SHAPE, 8, seed=0).fit(x, Budget(epochs=1))


@pytest.mark.parametrize("name,bad", [("lca", {"lam": -1.0}), ("ista", {"working_set": -1}),
                                      ("fista", {"nonneg": "yes"}), ("lca", {"dt": 0.0}),
                                      ("fista", {"batch_size": 0}), ("lca", {"max_iter": 1.5})])
def test_invalid_hyperparameters_are_rejected(name, bad):
    with pytest.raises(HyperparameterError):
        create_method(name, SHAPE, 8, **bad)


def test_solver_specific_hyperparameters_belong_to_their_solver():
    with pytest.raises(UnknownNameError, match="'dt'"):
        create_method("ista", SHAPE, 8, dt=0.1)
    with pytest.raises(UnknownNameError, match="'restart'"):
        create_method("lca", SHAPE, 8, restart=False)


def test_working_set_option_zero_runs_the_dense_solver():
    x, _ = sparse_data(n=64)
    dense = create_method("fista", SHAPE, 8, seed=0, working_set=0, tol=1e-8)
    sets = create_method("fista", SHAPE, 8, seed=0, tol=1e-8)
    with torch.no_grad():
        torch.testing.assert_close(dense.infer(x).codes, sets.infer(x).codes, rtol=0, atol=1e-4)
    codes = lasso_working_set(x, dense.dictionary(), 1.0, size=8, tol=1e-8)
    torch.testing.assert_close(codes, dense.infer(x).codes, rtol=0, atol=1e-4)
