"""The Gaussian VAE (G-VAE) and its rectified variant (``gvae_relu``), METHODS.md §1.

Encoder output h (B, 2K) = (μ, s): posterior N(μ, σ²) with log σ = softclamp_sym(s, 5.3)
(= 5.3·tanh(s/5.3)); prior N(0, 1); closed-form KL (:func:`brainlike_suite.methods.distributions.gaussian_kl`).
Codes are samples a = μ + σε (T = 1); KNN features μ. ``gvae_relu`` decodes relu(a) instead of a
(codes = relu(a)), whose moments under z ~ N(μ, σ²), with α = μ/σ, Φ/φ the standard normal
cdf/pdf, are

    E[relu z] = μ·Φ(α) + σ·φ(α),   E[relu(z)²] = (μ² + σ²)·Φ(α) + μσ·φ(α),

used for the posterior-mean reconstruction g(E[relu z]) and the exact loss.

Dead units of the lin|lin G-VAE are not decided by its objective. With a bias-free linear
encoder (μ = Ax, log σ = Sx) on zero-mean data, E[log σ] = 0 and E[σ²] ≥ 1, so σ ≡ 1 (S = 0) is
optimal; the exact loss is then E‖x − ΦAx‖² + ‖Φ‖²_F + ½·tr(ACAᵀ) (C the data covariance), which
a rotation of the latent space (A → RA, Φ → ΦRᵀ, R orthogonal) leaves unchanged while it moves
every unit's KL. A solution with many dead units and one with none can have the same loss; which
one training finds is up to the optimizer (tests/test_amortized_vae.py checks the invariance,
``benchmarks/quick_amortized_vae.py --symmetry`` shows it on a trained model). The Laplace
VAE's KL is not rotation-invariant (it penalizes |μ| like an L1 norm), nor is the P-VAE's.
"""
from __future__ import annotations

import math
from typing import Callable, ClassVar

import torch
from torch import Tensor

from suite import hparams as hp
from brainlike_suite.methods.distributions import gaussian_kl, gaussian_rsample, softclamp_sym
from suite.registry import register

from .base import COMMON_HPARAMS, AmortizedVAE, Posterior

LOCATION_SCALE_HPARAMS = {
    **COMMON_HPARAMS,
    "log_scale_clamp": hp.Positive(5.3, "symmetric soft clamp c of the log-scale: c·tanh(s/c)"),
}


class LocationScaleVAE(AmortizedVAE):
    """Shared parts of the Gaussian and Laplace VAEs: posterior (μ, log s) from the encoder, μ as
    KNN features, samples at T = 1. A subclass names its family's functions: ``prior_kl(μ, log s)``
    the KL to the standard prior, ``sampler(μ, log s, generator)`` a reparameterized sample, and
    ``variance_factor`` v with Var[a] = v·s²."""

    params_per_latent = 2
    eval_temperature = 1.0
    hparams = LOCATION_SCALE_HPARAMS
    prior_kl: ClassVar[Callable[[Tensor, Tensor], Tensor]]
    sampler: ClassVar[Callable[..., Tensor]]
    variance_factor: ClassVar[float]

    def posterior(self, h: Tensor) -> Posterior:
        mu, s = h.chunk(2, dim=1)
        return mu, softclamp_sym(s, self.hp["log_scale_clamp"])

    def features(self, post: Posterior) -> Tensor:
        return post[0]

    def unit_kl(self, post: Posterior) -> Tensor:
        return self.prior_kl(*post)

    def rsample(self, post: Posterior, temperature: float) -> Tensor:
        return self.sampler(*post, generator=self.generator)

    def code_moments(self, post: Posterior) -> tuple[Tensor, Tensor]:
        mu, log_scale = post
        return mu, self.variance_factor * torch.exp(2.0 * log_scale)


@register
class GaussianVAE(LocationScaleVAE):
    """Gaussian VAE: N(μ, σ²) posterior, N(0, 1) prior; Var[a] = σ²."""

    name = "gvae"
    version = "1"
    prior_kl = staticmethod(gaussian_kl)
    sampler = staticmethod(gaussian_rsample)
    variance_factor = 1.0


@register
class GaussianReluVAE(GaussianVAE):
    """Gaussian VAE decoding relu of its samples (codes = relu(z))."""

    name = "gvae_relu"
    version = "1"

    def rsample(self, post: Posterior, temperature: float) -> Tensor:
        return torch.relu(super().rsample(post, temperature))

    def code_moments(self, post: Posterior) -> tuple[Tensor, Tensor]:
        mu, log_sigma = post
        sigma = torch.exp(log_sigma)
        alpha = mu / sigma
        cdf = 0.5 * torch.special.erfc(-alpha / math.sqrt(2.0))
        pdf = torch.exp(-0.5 * alpha * alpha) / math.sqrt(2.0 * math.pi)
        mean = mu * cdf + sigma * pdf
        second = (mu * mu + sigma * sigma) * cdf + mu * sigma * pdf
        return mean, (second - mean * mean).clamp_min(0.0)
