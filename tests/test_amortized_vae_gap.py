"""The amortization-gap analysis (suite/amortization_gap.py) and its report section."""
from __future__ import annotations

import pytest
import torch

from suite.analyses.amortization_gap import amortization_gap, normalized_atoms
from suite.metrics import treves_rolls
from threads import one_thread  # noqa: F401  (autouse: solvers run tiny operations)


def orthonormal_dictionary(k: int, d: int, seed: int = 0) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, k, generator=torch.Generator().manual_seed(seed),
                                       dtype=torch.float64))
    return q.T.contiguous()  # (K, D), orthonormal rows


def test_orthonormal_dictionary_gives_the_soft_threshold_in_method_units():
    """For orthonormal atoms the lasso optimum is soft(xΦ̃ᵀ, λ); scaling atom k by s_k must give
    the same reconstruction, codes divided by s_k, and the same lifetime sparsity."""
    phi = orthonormal_dictionary(6, 16)
    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    scales = torch.tensor([0.1, 0.5, 1.0, 2.0, 7.0, 30.0], dtype=torch.float64)
    lam = 0.4
    b = x @ phi.T
    optimum = torch.sign(b) * torch.relu(b.abs() - lam)
    sse = ((x - optimum @ phi) ** 2).sum(1).mean().item()
    lifetime = treves_rolls(optimum.abs(), dim=0).mean().item()
    unit = amortization_gap(phi, x, [lam], tol=1e-6)
    scaled = amortization_gap(phi * scales[:, None], x, [lam], tol=1e-8)
    for row in unit + scaled:
        assert row["sse"] == pytest.approx(sse, rel=1e-5)
        assert row["lifetime_sparsity"] == pytest.approx(lifetime, rel=1e-4)
        assert row["converged_frac"] == 1.0 and row["n_atoms"] == 6
    l1_unit = unit[0]["l1"]
    assert scaled[0]["l1"] == pytest.approx((optimum.abs() / scales).sum(1).mean().item(), rel=1e-4)
    assert l1_unit == pytest.approx(optimum.abs().sum(1).mean().item(), rel=1e-4)


def test_small_lambda_approaches_least_squares_and_solvers_agree():
    g = torch.Generator().manual_seed(2)
    phi = torch.randn(8, 20, generator=g, dtype=torch.float64)
    x = torch.randn(200, 20, generator=g, dtype=torch.float64)
    coef = torch.linalg.lstsq(phi.T, x.T).solution.T
    ls_sse = ((x - coef @ phi) ** 2).sum(1).mean().item()
    rows = amortization_gap(phi, x, [1e-3, 0.5], tol=1e-6, max_iter=5000)
    by = {(r["solver"], r["lam"]): r for r in rows}
    for solver in ("lca", "fista"):
        assert by[(solver, 1e-3)]["sse"] == pytest.approx(ls_sse, rel=1e-3)
    assert by[("lca", 0.5)]["sse"] == pytest.approx(by[("fista", 0.5)]["sse"], rel=1e-3)
    assert by[("lca", 0.5)]["sse"] > by[("lca", 1e-3)]["sse"]


def test_zero_and_inactive_atoms_are_left_out():
    phi = orthonormal_dictionary(5, 12, seed=3)
    phi[1] = 0.0
    active = torch.tensor([True, True, True, False, True])
    atoms, norms = normalized_atoms(phi, active)
    assert atoms.shape == (3, 12) and norms.tolist() == pytest.approx([1, 0, 1, 0, 1])
    x = torch.randn(100, 12, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    (row,) = amortization_gap(phi, x, [0.1], solvers=("fista",), active=active)
    assert row["n_atoms"] == 3 and row["dead_frac"] == pytest.approx(2 / 5)


def test_nonneg_codes_and_bad_input():
    phi = orthonormal_dictionary(4, 10, seed=5)
    x = torch.randn(100, 10, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    signed, nonneg = amortization_gap(phi, x, [0.1], solvers=("fista",)), \
        amortization_gap(phi, x, [0.1], solvers=("fista",), nonneg=True)
    assert nonneg[0]["nonneg"] and nonneg[0]["sse"] > signed[0]["sse"]
    with pytest.raises(ValueError, match="must agree"):
        amortization_gap(phi, x[:, :5], [0.1])
    from suite.errors import ConfigError
    with pytest.raises(ConfigError, match="unknown amortization-gap solver"):
        amortization_gap(phi, x, [0.1], solvers=("omp",))


def test_report_section_writes_table_and_figure(tmp_path):
    from reports.amortization_gap_report import amortization_gap as section
    from reports.collect import ReportContext, aggregate, runs_frame

    def record(key, method, seed, sse, gap):
        return {"key": key, "status": "ok",
                "spec": {"dataset": "nat16", "profile": "quick", "method": method, "seed": seed,
                         "overrides": {}},
                "method": {"family": "amortized-vae"},
                "metrics": {"sse": sse, "lifetime_sparsity": 0.8, "r2": 0.5},
                "traces": {"amortization_gap": gap}}

    gap = [{"solver": s, "lam": lam, "sse": 50.0 + 40 * lam, "lifetime_sparsity": 0.8 + 0.1 * lam,
            "r2": 0.7, "population_sparsity": 0.9, "frac_zeros": 0.8, "dead_frac": 0.0}
           for s in ("lca", "fista") for lam in (0.1, 0.5, 1.0)]
    records = [record("a", "pvae", 0, 100.0, gap), record("b", "pvae", 1, 104.0, gap),
               record("c", "gvae", 0, 90.0, None)]
    runs, names, _ = runs_frame(records)
    ctx = ReportContext(tmp_path, tmp_path / "reports", records, [], runs, names,
                        aggregate(runs, names), 0)
    paths = section(ctx)
    assert [p.suffix for p in paths] == [".md", ".csv", ".tex", ".html", ".png"]
    md = paths[0].read_text()
    assert "pvae" in md and "gvae" not in md and "amortized" in md
    assert "102" in md and "-48" in md  # own sse mean over seeds; Δsse of lca λ=0.1: 54 − 102
    assert paths[-1].stat().st_size > 10000
    assert section(ctx) == paths and paths[0].read_text() == md
