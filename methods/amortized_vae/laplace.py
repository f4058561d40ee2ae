"""The Laplace VAE (L-VAE), METHODS.md §1.

As the Gaussian VAE (:mod:`.gaussian`) with posterior Laplace(μ, b), log b = softclamp_sym(s, 5.3),
and prior Laplace(0, 1):

    KL = b·exp(−|μ|/b) + |μ| − log b − 1      (:func:`brainlike_suite.methods.distributions.laplace_kl`);

samples a = μ + b·(E₁ − E₂), E ~ Exp(1); E[a] = μ, Var[a] = 2b².
"""
from __future__ import annotations

from brainlike_suite.methods.distributions import laplace_kl, laplace_rsample
from suite.registry import register

from .gaussian import LocationScaleVAE


@register
class LaplaceVAE(LocationScaleVAE):
    """Laplace VAE: Laplace(μ, b) posterior, Laplace(0, 1) prior; Var[a] = 2b²."""

    name = "lvae"
    version = "1"
    prior_kl = staticmethod(laplace_kl)
    sampler = staticmethod(laplace_rsample)
    variance_factor = 2.0
