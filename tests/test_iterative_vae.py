"""iP-VAE / iG-VAE / iG_relu-VAE: one update step against a hand computation, the inference loop
with a fixed dictionary, truncated backpropagation, and the Inference contract."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from suite.method import Budget
from suite.registry import METHODS

# A tiny problem: D = 4 pixels, K = 3 latents.
PHI = np.array([[0.5, -0.2, 0.1],
                [0.3, 0.4, -0.6],
                [-0.1, 0.2, 0.7],
                [0.2, -0.5, 0.3]])
RAW_LOG_SIGMA_X = np.array([0.0, -0.3, 0.2, 4.0])  # the last one is squashed by the soft clamp
BIAS = np.array([0.05, 0.1, 0.2])
X = np.array([[1.0, -0.5, 0.8, 0.2], [-2.0, 1.5, 0.3, -0.7]])


def build(name: str, shape=(1, 2, 2), k: int = 3, **hparams):
    return METHODS.get(name)(shape, k, device="cpu", seed=0, **hparams)


def set_params(method, **values) -> None:
    with torch.no_grad():
        for key, v in values.items():
            method.params[key].copy_(torch.as_tensor(v, dtype=torch.float32))


def tiny_model(name: str, **params):
    m = build(name)
    set_params(m, phi=PHI, log_sigma_x=RAW_LOG_SIGMA_X, log_bias=np.log(BIAS), **params)
    return m


def t32(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


def pixel_var() -> np.ndarray:
    """σ² with log σ = 3.45·tanh(raw / 3.45), by hand."""
    return np.exp(2 * 3.45 * np.tanh(RAW_LOG_SIGMA_X / 3.45))


def softplus(v):
    return np.log1p(np.exp(v))


def gaussian_nll(m, x, a) -> torch.Tensor:
    """Σ over the batch and pixels of −log N(x | Φa, diag σ²), from torch.distributions, with the
    model's dictionary and σ from the hand formula (independent of the Likelihood's whitening)."""
    sigma = t32(np.sqrt(pixel_var()))
    mean = a @ m.params["phi"].detach().T
    return -torch.distributions.Normal(mean, sigma).log_prob(t32(x)).sum()


def test_mean_nll_is_the_gaussian_negative_log_likelihood():
    m = tiny_model("ipvae")
    a = t32([[0.0, 2.0, 1.0], [1.0, 0.0, 3.0]])
    torch.testing.assert_close(m.likelihood(t32(X)).mean_nll(a), gaussian_nll(m, X, a) / 2,
                               rtol=1e-5, atol=1e-5)


# -- iP-VAE: one step ----------------------------------------------------------------------
def ip_step_by_hand(x, u, z, eta):
    """u ← C(u + C(η·[Φᵀ((x − Φz)/σ²) − b])), C(v) = 10 − softplus(10 − max(v, −8))."""
    clamp = lambda v: 10.0 - softplus(10.0 - np.maximum(v, -8.0))  # noqa: E731
    err = (x - z @ PHI.T) / pixel_var()        # (B, D) precision-weighted prediction error
    drive = err @ PHI - BIAS                   # feed-forward − lateral inhibition − bias
    return clamp(u + clamp(eta * drive))


@pytest.mark.parametrize("case", ["full", "feedforward_only", "lateral_only"])
def test_ipvae_step_matches_hand_computation(case):
    eta = 0.7
    u = np.array([[-5.0, 0.5, 9.5], [-7.9, -1.0, 2.0]])
    z = np.array([[0.0, 2.0, 1.0], [3.0, 0.0, 20.0]])
    x = X.copy()
    if case == "feedforward_only":   # no spikes: Φᵀ Σ⁻¹ x − b
        z = np.zeros_like(z)
    elif case == "lateral_only":     # blank input: −Φᵀ Σ⁻¹ Φ z − b
        x = np.zeros_like(x)
    m = tiny_model("ipvae", log_lr=math.log(eta))
    (got,) = m.update((t32(u),), t32(z), m.likelihood(t32(x)))
    want = ip_step_by_hand(x, u, z, eta)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-5)
    if case == "full":  # the case exercises the floor, the soft ceiling and the linear range
        assert (eta * ((x - z @ PHI.T) / pixel_var() @ PHI - BIAS) < -8).any()
        assert want.max() > 9.0 and want.max() < 10.0


def test_ipvae_drive_is_minus_the_nll_gradient():
    """Φᵀ Σ⁻¹ (x − Φz) is −∂NLL/∂z, by autograd."""
    m = tiny_model("ipvae")
    lik = m.likelihood(t32(X))
    z = t32([[0.0, 2.0, 1.0], [1.0, 0.0, 3.0]]).requires_grad_()
    (grad,) = torch.autograd.grad(gaussian_nll(m, X, z), z)
    torch.testing.assert_close(lik.drive(z.detach()), -grad, rtol=1e-5, atol=1e-5)


# -- iG-VAEs: one step ---------------------------------------------------------------------
def ig_step_by_hand(x, mu, log_sigma, eps, eta_mu, eta_ls, gain=None):
    """z = μ + σε; g_z = −act'(z)·Φᵀ((x − Φ act(z))/σ²); Fisher-preconditioned steps."""
    sigma = np.exp(log_sigma)
    z = mu + sigma * eps
    if gain is None:
        a, da = z, np.ones_like(z)
    else:
        a, da = np.maximum(z, 0) * gain, (z > 0) * gain
    g_z = -da * (((x - a @ PHI.T) / pixel_var()) @ PHI)
    step_mu = eta_mu * (sigma ** 2 * g_z + BIAS)       # inverse Fisher σ², then the bias
    step_ls = eta_ls * (0.5 * g_z * sigma * eps)       # inverse Fisher ½
    sym = lambda v, c: c * np.tanh(v / c)              # noqa: E731
    return sym(mu - sym(step_mu, 7.0), 7.0), sym(log_sigma - sym(step_ls, 3.0), 2.0)


@pytest.mark.parametrize("name", ["igvae", "igvae_relu"])
def test_igvae_step_matches_hand_computation(name):
    mu = np.array([[0.3, -0.4, 1.2], [-1.0, 0.8, 0.1]])
    log_sigma = np.array([[0.0, -0.5, 0.4], [0.2, -1.0, 0.0]])
    eps = np.array([[0.5, -1.2, 0.3], [1.1, 0.4, -2.0]])
    gain = np.array([1.5, 0.8, 1.2])
    params = {"log_lr_mu": math.log(0.6), "log_lr_log_sigma": math.log(0.9)}
    if name == "igvae_relu":
        params["log_gain"] = np.log(gain)
    m = tiny_model(name, **params)
    got_mu, got_ls = m.update((t32(mu), t32(log_sigma)), t32(eps), m.likelihood(t32(X)))
    want_mu, want_ls = ig_step_by_hand(X, mu, log_sigma, eps, 0.6, 0.9,
                                       gain if name == "igvae_relu" else None)
    np.testing.assert_allclose(got_mu.detach().numpy(), want_mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_ls.detach().numpy(), want_ls, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["igvae", "igvae_relu"])
def test_igvae_step_is_inverse_fisher_times_autograd_gradient(name):
    """Without clamps (huge c) and bias, Δμ = −η σ² ∂NLL/∂μ and Δξ = −η ½ ∂NLL/∂ξ exactly."""
    m = build(name, clamp_mu=1e6, clamp_dmu=1e6, clamp_log_sigma=1e6, clamp_dlog_sigma=1e6)
    set_params(m, phi=PHI, log_sigma_x=RAW_LOG_SIGMA_X, log_bias=-30.0,
               log_lr_mu=math.log(0.3), log_lr_log_sigma=math.log(0.2))
    mu = t32([[0.3, -0.4, 1.2]]).requires_grad_()
    ls = t32([[0.0, -0.5, 0.4]]).requires_grad_()
    eps = t32([[0.5, -1.2, 0.3]])
    lik = m.likelihood(t32(X[:1]))
    d_mu, d_ls = torch.autograd.grad(gaussian_nll(m, X[:1], m.act(mu + ls.exp() * eps)), (mu, ls))
    new_mu, new_ls = m.update((mu.detach(), ls.detach()), eps, lik)
    sigma2 = torch.exp(2 * ls.detach())
    torch.testing.assert_close(new_mu - mu.detach(), -0.3 * sigma2 * d_mu, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(new_ls - ls.detach(), -0.2 * 0.5 * d_ls, rtol=1e-4, atol=1e-6)


# -- the inference loop with a fixed dictionary --------------------------------------------
def test_ipvae_fixed_dictionary_error_decreases_and_state_settles():
    g = torch.Generator().manual_seed(0)
    d, k = 16, 8
    phi = torch.randn(d, k, generator=g)
    phi /= phi.norm(dim=0)
    rates = torch.rand(256, k, generator=g) * 3 * (torch.rand(256, k, generator=g) < 0.4)
    x = rates @ phi.T + 0.1 * torch.randn(256, d, generator=g)
    m = build("ipvae", shape=(1, 4, 4), k=k)
    set_params(m, phi=phi, log_lr=math.log(0.05))
    sse, delta = [], []
    for _, inf, dn in m.infer_trajectory(x, range(1, 301)):
        sse.append(float((x - inf.recon).square().sum(1).mean()))
        delta.append(float(dn.mean()))
    sse, delta = np.array(sse), np.array(delta)
    assert sse[-50:].mean() < 0.2 * sse[:10].mean()
    # decreasing on average: each block of 50 steps is no worse than the previous one (+noise)
    blocks = sse.reshape(6, 50).mean(1)
    assert (np.diff(blocks) < 0.05 * blocks[0]).all(), blocks
    assert delta[-50:].mean() < 0.8 * delta[:5].mean()


# -- truncated backpropagation -------------------------------------------------------------
@pytest.mark.parametrize("name", ["ipvae", "igvae", "igvae_relu"])
@pytest.mark.parametrize("n_chunks", [1, 3])
def test_every_chunk_is_backpropagated(name, n_chunks):
    m = build(name, shape=(1, 4, 4), k=5, t_train=6, n_chunks=n_chunks)
    m.temperature = 0.5
    x = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))
    grads: dict[str, list[float]] = {}
    for key, p in m.params.items():
        p.register_hook(lambda g, key=key: grads.setdefault(key, []).append(float(g.norm())))
    m.unroll_loss(x, beta=1.0)
    # every chunk reaches the dynamics' parameters, with a nonzero gradient each time
    for key in ("phi", "log_sigma_x", "log_bias"):
        assert len(grads[key]) == n_chunks, (key, grads.get(key))
        assert all(v > 0 for v in grads[key]), (key, grads[key])
    # the learned initial state only enters the first chunk
    init_keys = [k for k in m.params if k.endswith("_init")]
    assert all(len(grads[k]) == 1 for k in init_keys)


def test_chunked_gradient_differs_from_full_but_has_the_same_scale():
    """Truncation changes the gradient (paths across chunks are cut), never zeroes a part."""
    def grad_of(n_chunks):
        m = build("igvae", shape=(1, 4, 4), k=5, t_train=6, n_chunks=n_chunks)
        x = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))
        m.unroll_loss(x, beta=1.0)
        return m.params["phi"].grad.clone()
    full, cut = grad_of(1), grad_of(2)
    assert not torch.allclose(full, cut)
    assert 0.5 < float(cut.norm() / full.norm()) < 2.0


def test_n_chunks_cannot_exceed_t_train():
    from suite.errors import HyperparameterError
    with pytest.raises(HyperparameterError, match="n_chunks"):
        build("ipvae", t_train=4, n_chunks=5)


# -- the Inference contract ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["ipvae", "igvae", "igvae_relu"])
def test_inference_fields(name):
    cls = METHODS.get(name)
    m = cls((1, 4, 4), 5, seed=0, **cls.smoke_hparams)
    x = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    m.fit(x, Budget(epochs=1))
    m.generator.manual_seed(5)
    inf = m.infer(x[:10])
    lik = m.likelihood(x[:10])
    torch.testing.assert_close(inf.recon, lik.decode(inf.features))        # recon from the mean
    torch.testing.assert_close(inf.sample_recon, lik.decode(inf.codes))    # and from the sample
    assert (inf.unit_rate >= 0).all()
    torch.testing.assert_close(m.dictionary(), m.params["phi"].detach().T)
    if name == "ipvae":
        assert torch.equal(inf.codes, inf.codes.round()) and (inf.codes >= 0).all()
        torch.testing.assert_close(inf.features, inf.features.clamp_min(0))
    if name == "igvae":
        assert (inf.codes != 0).all()
    # infer is the last point of the trajectory, drawn from the same generator
    m.generator.manual_seed(5)
    (t, traj_inf, delta), = list(m.infer_trajectory(x[:10], [m.hp["t_test"]]))
    assert t == m.hp["t_test"] and delta.shape == (10,)
    torch.testing.assert_close(traj_inf.codes, inf.codes)
    with pytest.raises(ValueError, match=">= 1"):
        list(m.infer_trajectory(x[:10], [0, 3]))


def test_unit_rate_is_zero_at_the_initial_state():
    for name in ("ipvae", "igvae"):
        m = build(name)
        state = m.initial_state(2)
        assert float(m.kl(state, state).detach().abs().max()) < 1e-6
