"""Amortized VAEs (pvae, cvae, gvae, gvae_relu, lvae): architectures, losses, schedules, inference."""
from __future__ import annotations

import math
import warnings

import pytest
import torch

from suite.errors import HyperparameterError, NonFiniteLossError
from suite.method import Budget
from suite.registry import METHODS
from threads import one_thread  # noqa: F401  (autouse: many tiny tensor operations)

NAMES = ["pvae", "cvae", "gvae", "gvae_relu", "lvae"]


def build(name, shape=(1, 4, 4), k=6, **hp):
    cls = METHODS.get(name)
    return cls(shape, k, seed=0, **{**cls.smoke_hparams, **hp})


def data(n, dim, seed=0):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


# -- architectures ---------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["lin|lin", "lin+b|lin+b", "mlp|lin", "conv+b|lin", "conv+b|conv+b",
                                  "conv|mlp+b"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 16, 16), (1, 28, 28), (2, 10, 6)])
def test_architectures_fit_every_image_size(arch, shape):
    m = build("gvae", shape, 5, arch=arch)
    dim = math.prod(shape)
    with torch.no_grad():
        inf = m.infer(data(3, dim))
    inf.validate(3, 5, dim)
    d = m.dictionary()
    assert (d is not None) == arch.split("|")[1].startswith("lin")
    if d is not None:
        assert torch.equal(d, m.model.decoder.weight.T) and d.shape == (5, dim)
    has_bias = [arch.split("|")[i].endswith("+b") for i in (0, 1)]
    enc_last = [p for n, p in m.model.encoder.named_parameters()][-1]
    assert (enc_last.ndim == 1) == has_bias[0]


@pytest.mark.parametrize("arch,message", [("lin", "encoder|decoder"), ("lin|cnn", "not valid"),
                                          ("lin|lin+c", "not valid"), ("a|b|c", "encoder|decoder")])
def test_bad_arch_strings_are_rejected(arch, message):
    with pytest.raises(HyperparameterError, match=message):
        build("pvae", arch=arch)


def test_exact_loss_needs_a_linear_decoder_and_conv_needs_images():
    with pytest.raises(HyperparameterError, match="linear decoder"):
        build("gvae", arch="lin|mlp", loss="exact")
    build("gvae", arch="mlp|lin+b", loss="exact")
    with pytest.raises(HyperparameterError, match="image data"):
        METHODS.get("lvae")((64,), 4, arch="conv|lin")


# -- losses ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_exact_loss_equals_monte_carlo_average(name):
    """E_q sse in closed form vs the average over 4000 posterior samples, per input."""
    extra = {"prior_log_rate_low": 0.0, "prior_log_rate_high": 1.0} if name == "pvae" else {}
    m = build(name, (1, 4, 4), 6, arch="lin|lin+b", loss="exact", init_std=0.4, **extra)
    x = data(8, 16, seed=1)
    reps = 4000
    with torch.no_grad():
        post = m.encode(x)
        exact = m.expected_sse(x, post)
        xr = x.repeat(reps, 1)
        post_r = m.encode(xr)
        sse = (xr - m.decode(m.rsample(post_r, m.eval_temperature))).pow(2).sum(1).view(reps, -1)
        mc, se = sse.mean(0), sse.std(0) / math.sqrt(reps)
        assert torch.all((mc - exact).abs() < 4.5 * se), (mc, exact, se)
        kl = m.unit_kl(post).sum(1)
        torch.testing.assert_close(m.batch_loss(x, 0.7, 0.0), (exact + 0.7 * kl).mean())
        assert (exact > (x - m.decode(m.code_moments(post)[0])).pow(2).sum(1)).all()


def test_gaussian_lin_lin_loss_is_blind_to_rotations_of_the_latent_space():
    """With σ ≡ 1 (bias-free log-σ rows at 0) the lin|lin G-VAE's exact loss depends on the
    encoder rows A and decoder Φ only through ΦA, ‖Φ‖_F and tr(ACAᵀ): rotating the latent space
    (A → RA, Φ → ΦRᵀ) leaves it unchanged, though it moves every unit's KL. The objective cannot
    prefer collapsed (dead) units over spread ones; the Laplace VAE's |μ| penalty can."""
    k = 6
    losses = {}
    for name in ("gvae", "lvae"):
        m = build(name, (1, 4, 4), k, arch="lin|lin", loss="exact", init_std=0.4)
        x = 3.0 * data(64, 16, seed=2)
        r, _ = torch.linalg.qr(torch.randn(k, k, generator=torch.Generator().manual_seed(3)))
        with torch.no_grad():
            m.model.encoder.weight[k:] = 0.0  # log scale 0: unit posterior scale
            before = float(m.batch_loss(x, 1.0, 1.0))
            kl_before = m.unit_kl(m.encode(x)).mean(0)
            m.model.encoder.weight[:k] = r @ m.model.encoder.weight[:k]
            m.model.decoder.weight.copy_(m.model.decoder.weight @ r.T)
            after = float(m.batch_loss(x, 1.0, 1.0))
            kl_after = m.unit_kl(m.encode(x)).mean(0)
        assert (kl_before - kl_after).abs().max() > 1e-2  # the units' shares did change
        losses[name] = (before, after, float(kl_before.sum()), float(kl_after.sum()))
    assert losses["gvae"][0] == pytest.approx(losses["gvae"][1], rel=1e-5)
    assert losses["gvae"][2] == pytest.approx(losses["gvae"][3], rel=1e-5)
    assert abs(losses["lvae"][2] - losses["lvae"][3]) > 0.01 * losses["lvae"][2]


@pytest.mark.parametrize("name", NAMES)
def test_infer_follows_the_protocol(name):
    m = build(name, (1, 4, 4), 6)
    x = data(40, 16, seed=2)
    with torch.no_grad():
        inf = m.infer(x)
        post = m.encode(x)
        mean, _ = m.code_moments(post)
        torch.testing.assert_close(inf.recon, m.decode(mean))
        torch.testing.assert_close(inf.sample_recon, m.decode(inf.codes))
        torch.testing.assert_close(inf.unit_rate, m.unit_kl(post))
    codes = inf.codes
    if name == "pvae":
        assert torch.equal(codes, codes.round()) and (codes >= 0).all()
        log_rate, log_prior = post
        torch.testing.assert_close(inf.features, log_rate - log_prior)
        assert (inf.unit_rate >= 0).all()
    elif name == "cvae":
        assert torch.equal(codes.sum(1), torch.ones(40)) and set(codes.unique().tolist()) == {0.0, 1.0}
        torch.testing.assert_close(inf.unit_rate.sum(1) - math.log(6),
                                   (torch.softmax(inf.features, 1) * torch.log_softmax(inf.features, 1)).sum(1))
    else:
        torch.testing.assert_close(inf.features, post[0])
        assert (inf.unit_rate >= 0).all()
        if name == "gvae_relu":
            assert (codes >= 0).all() and (codes == 0).any()
        else:
            assert (codes < 0).any()


# -- training ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name,temps", [("pvae", (1.0, 0.05)), ("cvae", (1.0, 0.1)), ("lvae", None)])
def test_schedules_beta_ramp_and_temperature_anneal(name, temps):
    m = build(name, (1, 4, 4), 6, beta=2.0, batch_size=10)
    seen = []
    original = m.batch_loss

    def spy(x, beta, temperature, loss=None):
        seen.append((beta, temperature))
        return original(x, beta, temperature, loss)

    m.batch_loss = spy
    m.fit(data(100, 16), Budget(epochs=4))
    assert len(seen) == 40
    betas, ts = zip(*seen)
    assert betas[0] == pytest.approx(1e-4) and betas[10] < betas[19] and betas[20] == betas[-1] == 2.0
    if temps is None:
        assert set(ts) == {1.0}
    else:
        assert ts[0] == temps[0] and ts[20] == ts[-1] == pytest.approx(temps[1]) and ts[5] > ts[15]


def test_pvae_training_sets_n_exp_from_the_largest_rate_without_truncation():
    m = build("pvae", (1, 4, 4), 6, prior_log_rate_low=2.0, prior_log_rate_high=3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.fit(data(64, 16) * 3, Budget(epochs=2))
    assert 2.0 < m.rate_max_seen < math.exp(5.0)


def test_nan_guard_stops_training():
    x = data(64, 16)
    x[5, 3] = float("nan")
    with pytest.raises(NonFiniteLossError, match="gvae: the training loss became nan"):
        build("gvae").fit(x, Budget(epochs=1))


@pytest.mark.parametrize("name", NAMES)
def test_training_lowers_the_loss(name):
    """A short fit on correlated data lowers the loss at the evaluation temperature. (The P-VAE
    starts from prior rates e^0..e^1 here: from the default e^-6..e^-4 its rates need far more
    steps to grow, see benchmarks/quick_amortized_vae.py.)"""
    x = data(512, 16, seed=3) @ data(16, 16, seed=4) * 0.5
    extra = {"prior_log_rate_low": 0.0, "prior_log_rate_high": 1.0} if name == "pvae" else {}
    m = build(name, (1, 4, 4), 8, batch_size=64, lr=1e-2, **extra)
    with torch.no_grad():
        before = float(m.batch_loss(x, 1.0, m.eval_temperature, loss="mc"))
    m.fit(x, Budget(epochs=15))
    with torch.no_grad():
        after = float(m.batch_loss(x, 1.0, m.eval_temperature, loss="mc"))
    # one 8-way category codes Gaussian data coarsely (vector quantization): a smaller gain
    assert after < (0.95 if name == "cvae" else 0.8) * before
