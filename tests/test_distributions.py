"""brainlike_suite.methods.distributions: samplers against their distributions, KLs against references."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import stats

from brainlike_suite.methods import distributions as dist


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def chi_square_p(samples: np.ndarray, pmf, support_max: int) -> float:
    """Chi-square goodness-of-fit p-value of integer samples against ``pmf``, merging the tail
    bins so that every expected count is at least 5."""
    n = samples.size
    observed = np.bincount(samples.astype(np.int64), minlength=support_max + 1)[: support_max + 1]
    observed[-1] += (samples > support_max).sum()
    probs = pmf(np.arange(support_max + 1))
    probs[-1] += 1.0 - probs.sum()
    obs_b, exp_b, acc_o, acc_e = [], [], 0, 0.0
    for o, p in zip(observed, probs):
        acc_o += o
        acc_e += n * p
        if acc_e >= 5:
            obs_b.append(acc_o), exp_b.append(acc_e)
            acc_o, acc_e = 0, 0.0
    if acc_e > 0:
        obs_b[-1] += acc_o
        exp_b[-1] += acc_e
    if len(obs_b) < 2:  # everything in one bin: compare the zero count by a binomial test
        return 1.0
    return stats.chisquare(obs_b, exp_b).pvalue


# -- soft clamps and the n_exp rule ---------------------------------------------------------

def test_soft_clamps():
    x = torch.tensor([-100.0, -1.0, 0.0, 3.0, 1e4])
    up = dist.softclamp_upper(x, 5.0)
    assert (up <= 5.0).all() and up[-2] < 5.0 and up[-1] == pytest.approx(5.0)
    assert up[0] == pytest.approx(-100.0) and up[1] == pytest.approx(-1.0, abs=0.01)
    sym = dist.softclamp_sym(x, 5.3)
    assert (sym.abs() < 5.3 + 1e-6).all() and sym[2] == 0 and sym[1] == pytest.approx(-1.0, abs=0.02)


def test_n_exp_rule_matches_methods_md():
    assert dist.poisson_n_exp(200) == 263
    assert dist.poisson_n_exp(math.exp(5)) == 203
    assert dist.poisson_n_exp(20) == 42
    assert dist.poisson_n_exp(0.0) == 1


# -- the exact Poisson sampler (poisson_counts) ------------------------------------------------

CUT = dist.POISSON_THIN_RATE
BELOW_CUT = float(torch.nextafter(torch.tensor(CUT), torch.tensor(0.0)))
ABOVE_CUT = float(torch.nextafter(torch.tensor(CUT), torch.tensor(1.0)))


def poisson_gof(z: np.ndarray, lam: float) -> float:
    return chi_square_p(z, lambda k: stats.poisson.pmf(k, lam), int(lam + 6 * math.sqrt(lam) + 6))


@pytest.mark.parametrize("lam", [0.001, 0.01, 0.05, BELOW_CUT, CUT, ABOVE_CUT, 0.3, 1.0, 3.0,
                                 10.0, 100.0])
def test_poisson_counts_follow_poisson(lam):
    """Goodness of fit against Poisson(λ) on both sides of (and at) the thinning cut-off."""
    rate = torch.full((400, 500), lam)
    z = dist.poisson_counts(rate, gen(31))
    assert z.shape == rate.shape and z.dtype == rate.dtype
    z = z.numpy()
    assert np.all(z == np.round(z)) and z.min() >= 0
    p = poisson_gof(z.ravel(), lam)
    assert p > 1e-3, f"poisson_counts do not look Poisson({lam}): p={p:.2g}"


def test_poisson_counts_mixed_rates_each_follow_their_law():
    """Interleaved small and large rates in one tensor: every group keeps its own law."""
    lams = [0.002, CUT, 0.4, 20.0]
    group = torch.randperm(4 * 50000, generator=gen(32)) % 4
    rate = torch.tensor(lams)[group].reshape(200, 1000)
    z = dist.poisson_counts(rate, gen(33)).reshape(-1).numpy()
    for g_id, lam in enumerate(lams):
        p = poisson_gof(z[(group == g_id).numpy()], lam)
        assert p > 1e-3, f"group with rate {lam}: p={p:.2g}"


def test_poisson_counts_spread_evenly_and_independently():
    """Per-element totals over repeated draws are Poisson(draws·λ) (no position bias), and the
    tensor's total per draw is Poisson(n·λ) (no correlation between elements)."""
    n, draws, lam = 1000, 400, 0.1
    rate = torch.full((n,), lam)
    g = gen(34)
    z = torch.stack([dist.poisson_counts(rate, g) for _ in range(draws)]).numpy()
    p_pos = poisson_gof(z.sum(0), draws * lam)
    p_tot = poisson_gof(z.sum(1), n * lam)
    assert p_pos > 1e-3 and p_tot > 1e-3, (p_pos, p_tot)


def test_poisson_counts_edge_cases_and_seeding():
    rate = torch.tensor([[0.0, 0.01, 5.0], [0.0, 2.0, 0.1]], dtype=torch.float64)
    a, b = dist.poisson_counts(rate, gen(35)), dist.poisson_counts(rate, gen(35))
    assert torch.equal(a, b) and a.dtype == torch.float64 and a.shape == rate.shape
    assert (a[:, 0] == 0).all()
    assert torch.equal(dist.poisson_counts(torch.zeros(1000), gen(36)), torch.zeros(1000))
    assert dist.poisson_counts(torch.empty(0, 3), gen(36)).shape == (0, 3)
    big = torch.rand(50, 40, generator=gen(37)) * 3
    assert torch.equal(dist.relaxed_poisson(big, 0.0, gen(38)), dist.poisson_counts(big, gen(38)))
    for bad in (-1e-3, float("nan")):
        with pytest.raises(ValueError):
            dist.poisson_counts(torch.tensor([0.5, bad]), gen(39))


# -- the relaxed Poisson sampler ---------------------------------------------------------------

@pytest.mark.parametrize("lam", [0.01, 0.3, 2.0, 15.0, 100.0])
def test_exact_counts_follow_poisson(lam):
    rate = torch.full((20000,), lam)
    z = dist.relaxed_poisson(rate, 0.0, gen(1)).numpy()
    assert np.all(z == np.round(z))
    p = chi_square_p(z, lambda k: stats.poisson.pmf(k, lam), int(lam + 6 * math.sqrt(lam) + 6))
    assert p > 1e-3, f"counts at T=0 do not look Poisson({lam}): p={p:.2g}"


@pytest.mark.parametrize("lam", [0.05, 1.0, 20.0])
def test_small_temperature_mean_and_gradient(lam):
    """E z = λ·T·softplus(1/T) (≈ λ) and E ∂z/∂λ = T·softplus(1/T) (≈ 1) at T = 0.05."""
    temp, n = 0.05, 20000
    rate = torch.full((n,), lam, requires_grad=True)
    z = dist.relaxed_poisson(rate, temp, gen(2))
    z.sum().backward()
    factor = temp * math.log1p(math.exp(1.0 / temp))
    se = math.sqrt(lam / n)
    assert abs(float(z.detach().mean()) - lam * factor) < 4.5 * se
    grad = rate.grad
    assert torch.isfinite(grad).all() and (grad != 0).any()
    g_se = float(grad.std()) / math.sqrt(n)
    assert abs(float(grad.mean()) - factor) < 4.5 * g_se + 1e-3


RESOLUTION = 1e-4
"""Values and gradients below this are compared as 0: the fast sampler omits arrivals past its
horizon, whose expected contributions are below 1e-6·λT (values) and 1e-6·(1 + T·15) (gradients),
and a rank test would otherwise see which of two negligible numbers is smaller (e.g. at T = 0.01
most latents' gradients are below 1e-6, made of the σ' of arrivals far from t = 1)."""


def assert_matches_dense(lams, temp, n_exp, n=3000, dtype=torch.float32, seeds=(3, 4)):
    """Two-sample KS tests, per rate, of relaxed values and pathwise gradients ∂z/∂λ: the fast
    sampler against the materializing reference (independent generators), at :data:`RESOLUTION`."""
    rate = torch.tensor(lams, dtype=dtype).repeat(n)
    out = {}
    for name, fn, seed in (("fast", dist.relaxed_poisson, seeds[0]),
                           ("dense", dist.relaxed_poisson_dense, seeds[1])):
        r = rate.clone().requires_grad_(True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dist.PoissonTruncationWarning)
            z = fn(r, temp, gen(seed), n_exp=n_exp)
        z.sum().backward()
        out[name] = (z.detach().view(n, -1), r.grad.view(n, -1))
        assert torch.isfinite(out[name][1]).all()
    for j, lam in enumerate(lams):
        for what in (0, 1):
            a, b = (np.where(np.abs(x) < RESOLUTION, 0.0, x)
                    for x in (out["fast"][what][:, j].numpy(), out["dense"][what][:, j].numpy()))
            p = stats.ks_2samp(a, b, method="asymp").pvalue
            assert p > 1e-3, (f"λ={lam}, T={temp}, n_exp={n_exp}: "
                              f"{'values' if what == 0 else 'gradients'} differ (p={p:.2g})")


@pytest.mark.parametrize("temp", [1.0, 0.5, 0.3, 0.05, 0.01])
def test_fast_sampler_matches_dense_reference(temp):
    """Rates from 0.01 to 150 (latents that see no arrival, a few, many, and, at large T, all
    n_exp of them) at the n_exp of the largest."""
    lams = [0.01, 0.05, 1.0, 10.0, 60.0, 150.0]
    assert_matches_dense(lams, temp, dist.poisson_n_exp(max(lams)))


@pytest.mark.parametrize("temp", [0.05, 0.02])
def test_fast_sampler_truncation_matches_dense(temp):
    """λ·h < n_exp but Poisson(λ·h) often ≥ n_exp: the path that keeps only the first n_exp
    arrivals among those drawn (the n-th from a Beta), and n_exp at the rule for λ = 20."""
    lams = [3.0, 20.0]
    assert_matches_dense(lams, temp, dist.poisson_n_exp(max(lams)))


@pytest.mark.parametrize("n_exp", [1, 2, 3])
def test_fast_sampler_tiny_n_exp_matches_dense(n_exp):
    """Heavily truncated (n_exp far below the rule): first arrival only, first and last, …"""
    assert_matches_dense([0.2, 2.0, 15.0], 0.5, n_exp, n=2000)


def test_fast_sampler_float64_matches_dense():
    assert_matches_dense([0.1, 4.0, 40.0], 0.3, dist.poisson_n_exp(40.0), n=2000,
                         dtype=torch.float64)


def test_larger_n_exp_same_distribution_too_small_detected():
    lam, temp, n = 20.0, 0.05, 20000
    rate = torch.full((n,), lam)
    rule = dist.poisson_n_exp(lam)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = dist.relaxed_poisson(rate, temp, gen(5), n_exp=rule).numpy()
        b = dist.relaxed_poisson(rate, temp, gen(6), n_exp=10 * rule).numpy()
    assert stats.ks_2samp(a, b).pvalue > 1e-3
    with pytest.warns(dist.PoissonTruncationWarning, match="n_exp=10 truncates"):
        c = dist.relaxed_poisson(rate, temp, gen(7), n_exp=10)
    assert float(c.max()) <= 10 and float(c.mean()) < lam - 5
    assert dist.check_n_exp(rule, lam)
    with pytest.warns(dist.PoissonTruncationWarning):
        assert not dist.check_n_exp(rule - 1, lam)


def test_a_known_rate_bound_sets_n_exp_by_the_rule():
    """``rate_max`` stands in for the largest rate: the same draws as n_exp from the rule."""
    rate = torch.rand(50, 8, generator=gen(17)) * 30
    a = dist.relaxed_poisson(rate, 0.3, gen(18), rate_max=120.0)
    b = dist.relaxed_poisson(rate, 0.3, gen(18), n_exp=dist.poisson_n_exp(120.0))
    c = dist.relaxed_poisson(rate, 0.3, gen(18))  # n_exp of the actual largest rate (< 30)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_vanishing_rates_give_zero_counts_and_finite_gradients():
    rate = torch.tensor([0.0, 1e-35, 1e-25, 1e-12, 1e-6, 3.0], requires_grad=True)
    for temp in (1.0, 0.05):
        rate.grad = None
        z = dist.relaxed_poisson(rate, temp, gen(16))
        z.sum().backward()
        assert torch.isfinite(rate.grad).all() and torch.all(z[:4] < 1e-6)
    kl = dist.poisson_kl_from_log(torch.tensor([-float("inf"), -1e4, -90.0]), torch.zeros(3))
    torch.testing.assert_close(kl, torch.ones(3))


def test_sampler_is_seeded_and_keeps_shape():
    rate = torch.rand(3, 4, 5) * 10
    a = dist.relaxed_poisson(rate, 0.5, gen(8))
    b = dist.relaxed_poisson(rate, 0.5, gen(8))
    assert a.shape == rate.shape and torch.equal(a, b)


# -- KL terms ---------------------------------------------------------------------------------

def test_poisson_kl_equals_monte_carlo():
    rq = torch.tensor([0.02, 0.7, 3.0, 40.0], dtype=torch.float64)
    rp = torch.tensor([0.5, 0.7, 9.0, 25.0], dtype=torch.float64)
    n = 50000
    k = torch.poisson(rq.expand(n, -1), generator=gen(9))
    q, p = torch.distributions.Poisson(rq), torch.distributions.Poisson(rp)
    terms = q.log_prob(k) - p.log_prob(k)
    mc, se = terms.mean(0), terms.std(0) / math.sqrt(n)
    kl = dist.poisson_kl(rq, rp)
    assert torch.all((kl - mc).abs() <= 4.5 * se + 1e-9)
    torch.testing.assert_close(dist.poisson_kl_from_log(rq.log(), rp.log()), kl)


def test_poisson_kl_from_log_is_accurate_near_equal_rates():
    d = torch.tensor([1e-6, -1e-4, 3e-3, 0.05, -0.09, 0.11, 2.0, -30.0])
    log_p = torch.tensor(1.3)
    log_q = log_p + d
    dd = log_q.double() - log_p.double()  # the difference the float32 inputs actually hold
    exact = torch.exp(log_p.double()) * (1 - torch.exp(dd) + dd * torch.exp(dd))
    got = dist.poisson_kl_from_log(log_q, log_p.expand_as(d)).double()
    torch.testing.assert_close(got, exact, rtol=1e-4, atol=1e-12)
    assert torch.all(dist.poisson_kl(torch.zeros(2), torch.tensor([0.5, 2.0])) == torch.tensor([0.5, 2.0]))


def test_gaussian_and_laplace_kl_match_torch():
    g = gen(10)
    mu_q, mu_p = torch.randn(50, generator=g) * 2, torch.randn(50, generator=g)
    ls_q, ls_p = torch.randn(50, generator=g), torch.randn(50, generator=g) * 0.5
    kl_div = torch.distributions.kl_divergence
    N, L = torch.distributions.Normal, torch.distributions.Laplace
    torch.testing.assert_close(dist.gaussian_kl(mu_q, ls_q, mu_p, ls_p),
                               kl_div(N(mu_q, ls_q.exp()), N(mu_p, ls_p.exp())))
    torch.testing.assert_close(dist.gaussian_kl(mu_q, ls_q),
                               kl_div(N(mu_q, ls_q.exp()), N(0.0, 1.0)))
    torch.testing.assert_close(dist.laplace_kl(mu_q, ls_q, mu_p, ls_p),
                               kl_div(L(mu_q, ls_q.exp()), L(mu_p, ls_p.exp())))
    torch.testing.assert_close(dist.laplace_kl(mu_q, ls_q), kl_div(L(mu_q, ls_q.exp()), L(0.0, 1.0)))


def test_categorical_kl_closed_form():
    logits = torch.randn(7, 12, generator=gen(11)) * 3
    q = torch.softmax(logits, 1).double()
    closed = (q * torch.log(q * 12)).sum(1)
    torch.testing.assert_close(dist.categorical_kl_uniform(logits).double(), closed, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(dist.categorical_kl_uniform_terms(logits).sum(1),
                               dist.categorical_kl_uniform(logits))
    uniform = torch.distributions.Categorical(logits=torch.zeros(12))
    ref = torch.distributions.kl_divergence(torch.distributions.Categorical(logits=logits), uniform)
    torch.testing.assert_close(dist.categorical_kl_uniform(logits), ref)


# -- other samplers ---------------------------------------------------------------------------

def test_gaussian_and_laplace_samples():
    n = 20000
    mu, log_s = torch.full((n,), 1.5), torch.full((n,), math.log(0.7))
    z = dist.gaussian_rsample(mu, log_s, gen(12)).numpy()
    assert stats.kstest(z, stats.norm(1.5, 0.7).cdf).pvalue > 1e-3
    z = dist.laplace_rsample(mu, log_s, gen(13)).numpy()
    assert stats.kstest(z, stats.laplace(1.5, 0.7).cdf).pvalue > 1e-3


def test_gumbel_softmax_hard_draws_follow_softmax_and_relaxed_rows_sum_to_one():
    logits = torch.tensor([0.0, 1.0, -1.0, 2.0])
    n = 20000
    hard = dist.gumbel_softmax(logits.expand(n, -1), 0.0, gen(14))
    assert torch.all(hard.sum(1) == 1) and set(hard.unique().tolist()) == {0.0, 1.0}
    counts = hard.sum(0).numpy()
    expected = n * torch.softmax(logits, 0).numpy()
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    soft = dist.gumbel_softmax(logits.expand(100, -1), 0.5, gen(15))
    torch.testing.assert_close(soft.sum(1), torch.ones(100))
    assert (soft > 0).all()
