"""The iterative VAEs' early-training safeguards (the reference's): the soft clamps anneal from
clamp_start to their values over the first clamp_ramp of training, and the iP-VAE's relaxed
sampler uses n_exp = 10 arrivals until the first refresh, then the 1 − 1e-3 quantile of
Poisson(the epoch's mean largest rate) per unroll step, refreshed every n_exp_every steps past
the warm-up."""
from __future__ import annotations

import math
import sys

import pytest
import torch

from brainlike_suite.methods.distributions import PoissonTruncationWarning, poisson_n_exp, relaxed_poisson
from suite.errors import HyperparameterError
from suite.method import Budget
from suite.registry import METHODS

CLAMPS = {"ipvae": {"clamp_u": 10.0, "clamp_du": 10.0},
          "igvae": {"clamp_mu": 7.0, "clamp_dmu": 7.0, "clamp_log_sigma": 2.0,
                    "clamp_dlog_sigma": 3.0}}
CLAMPS["igvae_relu"] = CLAMPS["igvae"]
START = {"ipvae": 2.0, "igvae": 1.0, "igvae_relu": 1.0}


def build(name: str, d: int = 6, k: int = 4, **hparams):
    return METHODS.get(name)((1, d), k, device="cpu", seed=0, **hparams)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- clamp anneal --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ipvae", "igvae", "igvae_relu"])
def test_clamp_schedule_start_ramp_and_evaluation(name):
    m = build(name)
    assert m.clamp_names == tuple(CLAMPS[name])
    assert m.hp["clamp_start"] == START[name] and m.hp["clamp_ramp"] == 0.1
    for c, final in CLAMPS[name].items():  # evaluation (never trained): the final values
        assert m.clamp(c) == final
    total = 200  # ramp: 20 steps
    m._begin_train_step(0, total, 1000)
    for c in CLAMPS[name]:
        assert m.clamp(c) == START[name]
    m._begin_train_step(5, total, 1000)  # a quarter of the ramp, linearly
    for c, final in CLAMPS[name].items():
        assert m.clamp(c) == pytest.approx(START[name] + 0.25 * (final - START[name]))
    for step in (20, 21, 199):  # the end of the ramp and after
        m._begin_train_step(step, total, 1000)
        for c, final in CLAMPS[name].items():
            assert m.clamp(c) == final
    m._begin_train_step(0, total, 1000)
    m._end_training()
    for c, final in CLAMPS[name].items():
        assert m.clamp(c) == final


@pytest.mark.parametrize("name", ["ipvae", "igvae"])
def test_fit_anneals_the_clamps_and_ends_at_the_final_values(name, monkeypatch):
    m = build(name, t_train=2, batch_size=10, clamp_ramp=0.5)
    seen = []
    begin = type(m)._begin_train_step

    def spy(self, step, total, n_train):
        begin(self, step, total, n_train)
        seen.append({c: self.clamp(c) for c in self.clamp_names})

    monkeypatch.setattr(type(m), "_begin_train_step", spy)
    m.fit(torch.randn(40, 6, generator=gen(0)), Budget(epochs=10, max_steps=8))
    assert len(seen) == 8
    for c, final in CLAMPS[name].items():
        values = [s[c] for s in seen]  # ramp over 4 of the 8 steps
        assert values[0] == START[name] and values[4:] == [final] * 4
        assert values[2] == pytest.approx((START[name] + final) / 2)
        assert all(a < b for a, b in zip(values[:5], values[1:5]))
        assert m.clamp(c) == final  # evaluation after fit


def test_ipvae_update_is_bounded_by_the_annealed_clamp():
    """A huge drive: at step 0 the new log-rates stay below 2 (and reach its neighbourhood);
    at evaluation they go past 2, towards 10."""
    m = build("ipvae")
    with torch.no_grad():
        m.params["phi"].copy_(torch.randn(6, 4, generator=gen(1)))
    x = m.params["phi"].detach().sum(1, keepdim=True).T.repeat(3, 1) * 50.0
    lik = m.likelihood(x)
    state = (torch.zeros(3, 4),)
    zero = torch.zeros(3, 4)
    with torch.no_grad():
        m._begin_train_step(0, 100, 1000)
        u0 = m.update(state, zero, lik)[0]
        m._end_training()
        u_eval = m.update(state, zero, lik)[0]
    driven = u_eval > 2.5  # the units the drive pushes up
    assert driven.any()
    assert float(u0.max()) < 2.0 and float(u0[driven].min()) > 1.0
    assert float(u_eval.max()) < 10.0


@pytest.mark.parametrize("name", ["igvae", "igvae_relu"])
def test_gaussian_update_is_bounded_by_the_annealed_clamps(name):
    m = build(name)
    with torch.no_grad():
        m.params["phi"].copy_(torch.randn(6, 4, generator=gen(1)) * 3.0)
    x = torch.randn(5, 6, generator=gen(2)) * 30.0
    lik = m.likelihood(x)
    state = (torch.randn(5, 4, generator=gen(3)) * 0.1, torch.zeros(5, 4))
    eps = torch.randn(5, 4, generator=gen(4))
    with torch.no_grad():
        m._begin_train_step(0, 100, 1000)
        mu0, ls0 = m.update(state, eps, lik)
        fused0 = m.evaluation_step(lik)
        m._end_training()
        mu, ls = m.update(state, eps, lik)
    assert float(mu0.abs().max()) < 1.0 and float(ls0.abs().max()) < 1.0
    assert float(mu.abs().max()) > 1.5 and float(mu.abs().max()) < 7.0  # the final clamps
    # the fused evaluation step built during the ramp uses the annealed clamps too
    with torch.no_grad():
        mu_f, ls_f = fused0(state)
    assert float(mu_f.abs().max()) < 1.0 and float(ls_f.abs().max()) < 1.0


# -- the relaxed sampler's n_exp -----------------------------------------------------------
def test_a_truncated_sampler_caps_the_relaxed_counts():
    rate = torch.full((50, 40), 60.0)
    for temperature in (1.0, 0.3, 0.01):
        with pytest.warns(PoissonTruncationWarning):
            z = relaxed_poisson(rate, temperature, gen(0), n_exp=10)
        assert float(z.max()) <= 10.0 + 1e-4
    free = relaxed_poisson(rate, 0.3, gen(0))  # the quantile rule: no cap at 10
    assert float(free.mean()) > 40.0


def test_ipvae_training_draws_never_exceed_n_exp():
    m = build("ipvae", t_train=2)
    m._begin_train_step(0, 100, 1000)
    assert m.n_exp == [10, 10]
    m.temperature = 0.3
    state = (torch.full((20, 4), math.log(60.0)),)
    for t in range(2):
        m.inner_step = t
        assert float(m.draw(state).max()) <= 10.0 + 1e-4
    m.n_exp = [3, 25]
    m.inner_step = 0
    assert float(m.draw(state).max()) <= 3.0 + 1e-4
    m.inner_step = 1
    assert float(m.draw(state).max()) > 10.0
    m._end_training()  # outside training: the sampler's own rule, no cap
    assert m.n_exp is None
    m.temperature = 0.3
    assert float(m.draw(state).max()) > 10.0


def test_n_exp_schedule_in_fit(monkeypatch):
    """40 inputs, batches of 10: epochs of 4 steps; 12 steps, t_train 2, a refresh after every
    3rd step past the warm-up (0.005·12: step 0 is warming up): after steps 3, 6 and 9. Each
    refresh sets n_exp[t] = poisson_n_exp(mean over the epoch's steps so far of the largest rate
    of the new state at unroll step t, 1 − 1e-3)."""
    calls = []

    def spy(rate, temperature, generator, n_exp=None, *args, **kwargs):
        calls.append((n_exp, float(rate.detach().max()), temperature))
        return relaxed_poisson(rate, temperature, generator, n_exp, *args, **kwargs)

    m = build("ipvae", t_train=2, batch_size=10, n_exp_every=3)
    monkeypatch.setattr(sys.modules[type(m).__module__], "relaxed_poisson", spy)
    with torch.no_grad():  # rates of a few spikes, so that refreshed n_exp differ from 10
        m.params["u_init"].fill_(1.5)
        m.params["phi"].copy_(torch.randn(6, 4, generator=gen(1)) * 0.3)
    m.fit(torch.randn(40, 6, generator=gen(0)), Budget(epochs=10, max_steps=12))
    assert len(calls) == 12 * 4 and all(c[2] > 0 for c in calls)
    n_exp = [[calls[4 * s + 2 * t][0] for t in range(2)] for s in range(12)]
    for s in range(12):  # both draws of an unroll step use the same n_exp
        assert [calls[4 * s + 2 * t + 1][0] for t in range(2)] == n_exp[s]
    # the largest rate of the new state at unroll step t: the loss draw's rates
    r_max = [[calls[4 * s + 2 * t + 1][1] for t in range(2)] for s in range(12)]

    def refreshed(steps):
        return [poisson_n_exp(sum(r_max[s][t] for s in steps) / len(steps), 1 - 1e-3)
                for t in range(2)]

    assert n_exp[:4] == [[10, 10]] * 4
    assert n_exp[4:7] == [refreshed(range(0, 4))] * 3
    assert n_exp[7:10] == [refreshed(range(4, 7))] * 3
    assert n_exp[10:] == [refreshed(range(8, 10))] * 2
    assert n_exp[4] != [10, 10]
    assert m.n_exp is None  # evaluation: exact counts, no schedule


def test_n_exp_refresh_waits_for_the_warm_up():
    """warmup 0.1 of 100 steps: steps 0 … 9 warm up; with n_exp_every 5 the first refresh is
    after step 10 (step 0 and 5 are warming up)."""
    m = build("ipvae", t_train=1, warmup=0.1, n_exp_every=5)
    for step in range(12):
        m._begin_train_step(step, 100, 10_000)
        assert m.n_exp == ([10] if step <= 10 else [poisson_n_exp(7.0, 1 - 1e-3)]), step
        m._on_train_state(0, (torch.full((2, 4), math.log(7.0)),))


def test_fused_and_generic_training_paths_agree_with_the_schedule():
    """The fused chunk_loss and the generic loop, schedule active (annealed clamps, truncating
    n_exp per unroll step): the same loss, gradients and recorded rate maxima."""
    x = torch.randn(16, 6, generator=gen(4)) * 2.0
    results = []
    for fused in (True, False):
        m = build("ipvae", t_train=5, n_chunks=2)
        with torch.no_grad():
            m.params["u_init"].fill_(1.0)
            m.params["phi"].copy_(torch.randn(6, 4, generator=gen(1)) * 0.5)
        if not fused:
            base = next(c for c in type(m).__mro__ if c.__name__ == "IterativeVAE")
            m.chunk_loss = base.chunk_loss.__get__(m)
        m._begin_train_step(3, 100, 1000)  # clamps at 2 + 0.3·8
        m.n_exp = [2, 3, 4, 5, 6]
        m.temperature = 0.4
        m.generator.manual_seed(7)
        loss = m.unroll_loss(x, beta=24.0)
        results.append((loss, {k: p.grad.clone() for k, p in m.params.items()},
                        m._rate_max_sum.clone()))
    (loss_f, grad_f, r_f), (loss_g, grad_g, r_g) = results
    assert loss_f == pytest.approx(loss_g, rel=1e-5)
    torch.testing.assert_close(r_f, r_g, rtol=1e-5, atol=1e-6)
    assert float(r_g.min()) > 0
    for key in grad_g:
        torch.testing.assert_close(grad_f[key], grad_g[key], rtol=1e-4, atol=1e-6 *
                                   float(grad_g[key].abs().max()) + 1e-9, msg=key)


# -- hyperparameters -----------------------------------------------------------------------
@pytest.mark.parametrize("name, bad", [
    ("ipvae", {"clamp_start": 0.0}),
    ("ipvae", {"clamp_start": -1.0}),
    ("ipvae", {"clamp_start": 10.5}),  # above clamp_u / clamp_du
    ("ipvae", {"clamp_du": 1.5}),  # below the default clamp_start 2
    ("ipvae", {"clamp_ramp": 1.5}),
    ("ipvae", {"clamp_ramp": -0.1}),
    ("ipvae", {"n_exp_init": 0}),
    ("ipvae", {"n_exp_init": 2.5}),
    ("ipvae", {"n_exp_every": 0}),
    ("ipvae", {"n_exp_tail": 0.0}),
    ("ipvae", {"n_exp_tail": 1.0}),
    ("igvae", {"clamp_start": 2.5}),  # above clamp_log_sigma 2
    ("igvae_relu", {"clamp_log_sigma": 0.5}),  # below the default clamp_start 1
    ("igvae", {"clamp_ramp": 2.0}),
])
def test_bad_safeguard_hyperparameters_are_rejected(name, bad):
    with pytest.raises(HyperparameterError):
        build(name, **bad)


def test_good_safeguard_hyperparameters_are_accepted():
    m = build("ipvae", clamp_start=10.0, clamp_ramp=0.0, n_exp_init=3, n_exp_every=1,
              n_exp_tail=0.01)
    m._begin_train_step(0, 100, 1000)
    assert m.clamp("clamp_u") == 10.0 and m.n_exp == [3] * 16
    m = build("igvae", clamp_start=2.0, clamp_ramp=1.0)
    m._begin_train_step(50, 100, 1000)
    assert m.clamp("clamp_mu") == pytest.approx(4.5)
