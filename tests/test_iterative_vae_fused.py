"""The iterative VAEs' fused loops (evaluation_step, chunk_loss) against the generic ones they
replace: the same equations, so the same states, losses and gradients up to float rounding, from
the same random stream."""
from __future__ import annotations

import math

import pytest
import torch

from brainlike_suite.methods.distributions import poisson_kl_from_log, poisson_kl_sum
from suite.registry import METHODS


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def model(name: str, d: int = 12, k: int = 7, scale: float = 2.0, lr: float = 0.8, **hparams):
    """A model with a random dictionary of atoms of norm ``scale``, a non-trivial pixel noise and
    step sizes ``lr`` (the defaults are large enough that the iP-VAE's floor and soft ceiling are
    both reached)."""
    m = METHODS.get(name)((1, d), k, device="cpu", seed=0, **hparams)
    with torch.no_grad():
        phi = torch.randn(d, k, generator=gen(1))
        m.params["phi"].copy_(phi / phi.norm(dim=0) * scale)
        m.params["log_sigma_x"].copy_(torch.randn(d, generator=gen(2)) * 0.5 - 1.0)
        for key in m.params:
            if key.startswith("log_lr"):
                m.params[key].fill_(math.log(lr))
    return m


def generic(cls):
    """The base class (IterativeVAE) of a method class."""
    return next(c for c in cls.__mro__ if c.__name__ == "IterativeVAE")


@pytest.mark.parametrize("name", ["ipvae", "igvae", "igvae_relu"])
def test_evaluation_step_equals_draw_then_update(name):
    m = model(name)
    x = torch.randn(30, 12, generator=gen(3)) * 3.0
    base = generic(type(m))
    with torch.no_grad():
        lik = m.likelihood(x)
        fused, plain = m.evaluation_step(lik), base.evaluation_step(m, lik)
        state = m.initial_state(x.shape[0])
        for step in range(12):
            m.generator.manual_seed(100 + step)
            want = plain(state)
            m.generator.manual_seed(100 + step)
            got = fused(state)
            for g, w in zip(got, want):
                torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)  # large drives cancel
            state = got
    if name == "ipvae":  # the loop went through the floor and up to the soft ceiling
        assert float(state[0].min()) < -7.0 and float(state[0].max()) > 5.0


@pytest.mark.parametrize("name", ["ipvae", "igvae", "igvae_relu"])
def test_chunk_loss_equals_the_generic_loop(name):
    """Loss and every parameter's gradient, two chunks (truncated BPTT), relaxed sampler; mild
    steps, so that the KL term (β = 24) weighs in the gradient."""
    x = torch.randn(16, 12, generator=gen(4)) * 2.0
    results = []
    for fused in (True, False):
        m = model(name, scale=0.5, lr=0.2, t_train=5, n_chunks=2)
        m.temperature = 0.4
        if not fused:
            m.chunk_loss = generic(type(m)).chunk_loss.__get__(m)
        m.generator.manual_seed(7)
        loss = m.unroll_loss(x, beta=24.0)
        results.append((loss, {k: p.grad.clone() for k, p in m.params.items()}))
    (loss_f, grad_f), (loss_g, grad_g) = results
    assert loss_f == pytest.approx(loss_g, rel=1e-5)
    for key in grad_g:
        torch.testing.assert_close(grad_f[key], grad_g[key], rtol=1e-4, atol=1e-6 *
                                   float(grad_g[key].abs().max()) + 1e-9, msg=key)
        assert float(grad_g[key].abs().max()) > 0, key


def test_poisson_kl_sum_value_and_gradient():
    """poisson_kl_sum: the sum of poisson_kl_from_log, and its autograd gradient (float64)."""
    u_p = torch.linspace(-8.0, 9.0, 60, dtype=torch.float64)
    d = torch.cat([torch.tensor([0.0, 1e-9, -1e-6, 1e-3]), torch.linspace(-3, 3, 56)]).double()
    u_q = (u_p + d).requires_grad_()
    u_p = u_p.clone().requires_grad_()
    got = poisson_kl_sum(u_q, u_p, u_q.exp(), u_p.exp())
    want = poisson_kl_from_log(u_q, u_p).sum()
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-9)
    g_got = torch.autograd.grad(got, (u_q, u_p))
    g_want = torch.autograd.grad(want, (u_q, u_p))
    for a, b in zip(g_got, g_want):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
