"""Convergence traces (suite/convergence.py) and their report section (reports/convergence.py)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import reports
from suite.analyses.convergence import convergence_trace, has_trajectory, log_steps
from suite.capabilities import IterativeInference
from suite.method import Inference, Method
from suite.registry import METHODS

K = 5


class Scripted(Method, IterativeInference):
    """A method whose trajectory is known in closed form: recon = (1 − 2^−t)·x, the first
    min(t, K) units are 1 and the rest 0, ‖Δs‖ = 1/t for every input."""

    name = "scripted"
    train_steps = 4
    test_steps = 50

    def __init__(self):
        super().__init__((1, 2, 3), K)
        self.calls: list[tuple[int, tuple[int, ...]]] = []

    def fit(self, train, budget, progress=None, val=None):
        return self

    def infer(self, x):
        *_, (_, inf, _) = self.infer_trajectory(x, [self.test_steps])
        return inf

    def infer_trajectory(self, x, steps):
        self.calls.append((x.shape[0], tuple(steps)))
        for t in steps:
            codes = (torch.arange(K) < t).float().expand(x.shape[0], K)
            yield t, Inference(codes=codes, recon=(1 - 2.0 ** -t) * x,
                               unit_rate=codes * t), torch.full((x.shape[0],), 1.0 / t)


def expected_r2(x: torch.Tensor, t: int) -> float:
    x = x.double()
    ss = (x - x.mean(1, keepdim=True)).square().sum(1)
    return float((1 - 4.0 ** -t * x.square().sum(1) / ss).mean())


def test_log_steps():
    steps = log_steps(1000, 20)
    assert steps[0] == 1 and steps[-1] == 1000 and steps == sorted(set(steps))
    assert 15 <= len(steps) <= 20
    ratios = np.diff(np.log(steps[3:]))
    assert ratios.max() < 2.5 * ratios.min()  # evenly spaced in log once past the integers
    assert log_steps(1, 20) == [1] and log_steps(3, 20) == [1, 2, 3]
    with pytest.raises(ValueError):
        log_steps(0, 5)


@pytest.mark.parametrize("batch_size", [7, 1000])
def test_trace_matches_closed_form_whatever_the_batching(batch_size):
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    m = Scripted()
    tr = convergence_trace(m, x, t_test=50, batch_size=batch_size, n_points=6)
    assert tr["steps"] == sorted(set(log_steps(50, 6)) | {4})       # the training horizon added
    assert tr["train_steps"] == 4 and tr["t_test"] == 50 and tr["n_samples"] == 40
    assert len(m.calls) == -(-40 // batch_size)                   # one trajectory per batch
    assert all(steps == tuple(tr["steps"]) for _, steps in m.calls)
    for i, t in enumerate(tr["steps"]):
        assert tr["r2"][i] == pytest.approx(expected_r2(x, t), rel=1e-9)
        assert tr["frac_zeros"][i] == pytest.approx(max(0, K - t) / K)
        assert tr["delta_norm"][i] == pytest.approx(1.0 / t)
        assert tr["rate"][i] == pytest.approx(min(t, K) * t)
        want_sse = float(((2.0 ** -t * x.double()) ** 2).sum(1).mean())
        assert tr["sse"][i] == pytest.approx(want_sse, rel=1e-9)
    json.dumps(tr)  # storable as is


class OneShot(Method):
    """A method that infers in one shot: it does not declare IterativeInference."""

    name = "oneshot"

    def fit(self, train, budget, progress=None, val=None):
        return self

    def infer(self, x):
        return Inference(codes=x[:, :self.n_latents], recon=x)


def test_trace_needs_the_hook():
    one_shot = OneShot((1, 2, 2), 3)
    assert not has_trajectory(one_shot)
    with pytest.raises(TypeError, match="IterativeInference.*infer_trajectory"):
        convergence_trace(one_shot, torch.zeros(2, 4), t_test=3)
    assert has_trajectory(Scripted())


def test_trace_defaults_to_the_declared_test_steps():
    tr = convergence_trace(Scripted(), torch.randn(4, 6, dtype=torch.float64), n_points=4)
    assert tr["t_test"] == 50 and tr["steps"][-1] == 50 and tr["train_steps"] == 4


@pytest.mark.parametrize("name", ["ipvae", "igvae_relu"])
def test_trace_of_an_iterative_vae(name):
    cls = METHODS.get(name)
    m = cls((1, 4, 4), 6, seed=0, **cls.smoke_hparams)
    x = torch.randn(30, 16, generator=torch.Generator().manual_seed(0))
    tr = convergence_trace(m, x, batch_size=16, n_points=5)
    assert tr["steps"][-1] == m.hp["t_test"] and m.hp["t_train"] in tr["steps"]
    for key in ("r2", "sse", "frac_zeros", "delta_norm", "rate"):
        assert len(tr[key]) == len(tr["steps"]) and all(np.isfinite(tr[key]))
    assert all(0 <= v <= 1 for v in tr["frac_zeros"]) and all(v >= 0 for v in tr["delta_norm"])


# -- the report section --------------------------------------------------------------------
def write_traced_run(out: Path, key: str, method: str, family: str, seed: int, trace: dict) -> None:
    record = {
        "key": key, "status": "ok",
        "spec": {"method": method, "dataset": "toy", "profile": "quick", "seed": seed,
                 "n_latents": 6, "hparams": {}, "overrides": {}, "budget": {"epochs": 1},
                 "eval": {}},
        "method": {"name": method, "family": family, "version": "1", "description": ""},
        "metrics": {"sse": 1.0, "r2": trace["r2"][-1]},
        "provenance": {"finished": "2025-01-01T00:00:00"},
        "files": {"arrays": None, "checkpoint": None},
        "traces": {"convergence": trace},
    }
    (out / "runs").mkdir(parents=True, exist_ok=True)
    (out / "runs" / f"{key}.json").write_text(json.dumps(record))


def trace_of(r2, zeros, train_steps=None):
    steps = [1, 2, 4, 8]
    return {"steps": steps, "r2": r2, "sse": [1.0] * 4, "frac_zeros": zeros,
            "delta_norm": [1.0, 0.5, 0.25, 0.125], "rate": None, "t_test": 8,
            "train_steps": train_steps, "n_samples": 10, "batch_size": 10}


def test_report_section(tmp_path):
    out = tmp_path / "results"
    write_traced_run(out, "ip0", "ipvae", "iterative-vae", 0,
                     trace_of([0.0, 0.2, 0.5, 0.6], [0.9, 0.8, 0.7, 0.7], train_steps=4))
    write_traced_run(out, "ip1", "ipvae", "iterative-vae", 1,
                     trace_of([0.2, 0.4, 0.7, 0.8], [0.9, 0.8, 0.7, 0.5], train_steps=4))
    write_traced_run(out, "lca0", "lca", "sparse-coding", 0,
                     trace_of([0.1, 0.3, None, 0.9], [0.5, 0.6, 0.7, 0.8]))
    written = reports.build(out)
    names = {p.name for p in written}
    assert {"convergence_toy_quick.md", "convergence_toy_quick.csv",
            "convergence_toy_quick.png"} <= names
    import pandas as pd
    table = pd.read_csv(out / "reports" / "convergence_toy_quick.csv").set_index("method")
    assert table.loc["ipvae", "r2@1"] == pytest.approx(0.1)          # mean over 2 seeds
    assert table.loc["ipvae", "r2@t_train"] == pytest.approx(0.6)
    assert table.loc["ipvae", "zeros@t_test"] == pytest.approx(0.6)
    assert table.loc["ipvae", "n_seeds"] == 2
    assert table.loc["lca", "r2@t_test"] == pytest.approx(0.9)
    assert np.isnan(table.loc["lca", "r2@t_train"])                  # LCA has no t_train
    png = (out / "reports" / "figures" / "convergence_toy_quick.png").read_bytes()
    reports.build(out)                                                # rebuild: same bytes
    assert (out / "reports" / "figures" / "convergence_toy_quick.png").read_bytes() == png


def test_lca_trajectory_reaches_the_lasso_solution():
    """LCA beside the iterative VAEs: its trajectory hook runs plain Euler steps from u = 0, whose
    fixed point is the lasso solution of the sparse-coding solver."""
    m = METHODS.get("lca")((1, 4, 4), 8, seed=0, max_iter=1500, dt=0.1)
    from brainlike_suite.methods.sparse_coding.lasso import lasso_objective  # after discovery
    from brainlike_suite.methods.sparse_coding.solvers import lca
    x = torch.randn(20, 16, generator=torch.Generator().manual_seed(0))
    points = list(m.infer_trajectory(x, [1, 10, 1500]))
    assert [t for t, _, _ in points] == [1, 10, 1500]
    deltas = [float(d.mean()) for _, _, d in points]
    assert deltas[2] < 1e-3 * deltas[0]
    want = lca(x, m.atoms, m.hp["lam"], dt=0.1, tol=1e-7, max_iter=20000)
    energy = lasso_objective(x, m.atoms, points[-1][1].codes, m.hp["lam"])
    optimum = lasso_objective(x, m.atoms, want, m.hp["lam"])
    assert float(((energy - optimum) / optimum).abs().max()) < 1e-5
