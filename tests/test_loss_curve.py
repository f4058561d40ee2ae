"""suite.loss_curve: the binned training-loss curve and PROTOCOL.md's convergence criterion."""
from __future__ import annotations

import math

import numpy as np
import pytest

from suite.loss_curve import MAX_BINS, LossCurve, convergence, schedule_end, training_summary


def curve_of(values, planned=None, ends=0.0) -> LossCurve:
    c = LossCurve(planned, ends)
    for step, v in enumerate(values):
        c.add(step, float(v))
    return c


def test_flat_curve_is_converged():
    out = convergence(curve_of(np.full(500, 3.0)))
    assert out["converged"] is True and out["rel_improvement"] == 0.0
    assert "[75%, 80%)" in out["rule"] and "last 5%" in out["rule"]


def test_curve_still_decreasing_5_percent_is_not_converged():
    n = 1000
    loss = 1.0 - 0.25 * np.arange(n) / n          # falls 0.05 over the last 20%: about 6%
    out = convergence(curve_of(loss))
    assert out["converged"] is False
    # L_a ≈ L(77.5%) = 0.80625, L_b ≈ L(97.5%) = 0.75625 (bins resolve the spans to ~2%)
    assert out["rel_improvement"] == pytest.approx(0.05 / 0.80625, rel=0.1)
    assert "still improving" in out["reason"]


def test_slow_decrease_below_the_tolerance_is_converged():
    n = 1000
    out = convergence(curve_of(1.0 - 0.02 * np.arange(n) / n))    # ~0.4% over the window
    assert out["converged"] is True and 0 < out["rel_improvement"] < 0.01


def test_too_short_to_judge_is_none():
    out = convergence(curve_of([5.0, 4.0, 3.0] * 6))              # 18 steps < 20
    assert out["converged"] is None and out["rel_improvement"] is None
    assert "too few steps" in out["reason"]
    assert convergence(None)["converged"] is None                  # no curve recorded
    assert convergence(curve_of(np.linspace(2, 1, 20)))["converged"] is False   # 20 suffice


def test_noisy_flat_curve_is_converged():
    rng = np.random.default_rng(0)
    out = convergence(curve_of(10.0 + rng.normal(0.0, 0.3, 2000)))   # 3% minibatch noise
    assert out["converged"] is True and abs(out["rel_improvement"]) < 0.01


def test_negative_losses_use_the_magnitude():
    n = 400
    out = convergence(curve_of(-100.0 - 10.0 * np.arange(n) / n))    # −log p̃* going down
    assert out["converged"] is False and out["rel_improvement"] > 0.01


def test_window_before_the_schedules_end_is_not_converged():
    flat = np.full(500, 2.0)
    cut = convergence(curve_of(flat, planned=1000, ends=0.5))       # stopped at 50% of planned
    assert cut["converged"] is False and "schedules end" in cut["reason"]
    assert convergence(curve_of(np.full(1000, 2.0), planned=1000, ends=0.5))["converged"] is True
    assert schedule_end({"beta_ramp": 0.1, "temp_ramp": 0.5, "lr": 1.0}) == 0.5
    assert schedule_end({"lam": 1.0}) == 0.0


def test_binning_keeps_at_most_max_bins_and_exact_means():
    n = 1000
    c = curve_of(np.arange(n, dtype=float))                         # loss = step
    d = c.to_dict()
    assert len(d["loss"]) <= MAX_BINS and sum(d["count"]) == n and d["total_steps"] == n
    assert d["bin_width"] == 16                                      # 1 → 2 → … → 16 by doubling
    start = 0
    for step, loss, count in zip(d["steps"], d["loss"], d["count"]):
        assert step == loss == pytest.approx(start + (count - 1) / 2)   # mean of its steps
        start += count
    assert d["steps"] == sorted(d["steps"])
    short = curve_of([1.0, 2.0, 3.0]).to_dict()
    assert short["loss"] == [1.0, 2.0, 3.0] and short["bin_width"] == 1


def test_stored_dict_gives_the_same_verdict():
    c = curve_of(1.0 - 0.25 * np.arange(300) / 300, planned=300, ends=0.1)
    summary = training_summary(c)
    assert summary["loss_curve"]["planned_steps"] == 300
    assert {k: v for k, v in convergence(summary["loss_curve"]).items()} == {
        k: summary[k] for k in ("converged", "rel_improvement", "rule", "reason")}
    assert training_summary(None)["loss_curve"] is None
    assert all(math.isfinite(v) for v in summary["loss_curve"]["loss"])
