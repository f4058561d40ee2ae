"""The categorical VAE (C-VAE), METHODS.md §1.

One K-way categorical latent: the encoder gives logits (B, K), q = softmax(logits), prior uniform,

    KL = Σ_k q_k·log q_k + log K     (:func:`brainlike_suite.methods.distributions.categorical_kl_uniform`),

reported per unit as the terms q_k·(log q_k + log K) (they sum to the KL; a single term can be
negative). Training codes are Gumbel-softmax relaxed one-hots at temperature T (annealed 1 → 0.1
over the first half of training); evaluation codes are hard one-hots (an exact draw, T = 0).
E[a] = q, Cov[a] = diag(q) − qqᵀ, so for a linear decoder

    E_q‖x − Φa − c‖² = ‖x − Φq − c‖² + Σ_k q_k‖φ_k‖² − ‖Φq‖².

KNN features: the logits.
"""
from __future__ import annotations

import torch
from torch import Tensor

from brainlike_suite.methods.distributions import categorical_kl_uniform_terms, gumbel_softmax
from suite.registry import register
from suite.training import temperature_hparams

from .base import COMMON_HPARAMS, AmortizedVAE, Posterior


@register
class CategoricalVAE(AmortizedVAE):
    """Categorical VAE: one K-way relaxed one-hot (Gumbel-softmax), uniform prior."""

    name = "cvae"
    version = "1"
    eval_temperature = 0.0
    hparams = {
        **COMMON_HPARAMS,
        **temperature_hparams(start=1.0, final=0.1, ramp=0.5, sampler="Gumbel-softmax"),
    }

    def posterior(self, h: Tensor) -> Posterior:
        return (h,)

    def unit_kl(self, post: Posterior) -> Tensor:
        return categorical_kl_uniform_terms(post[0])

    def rsample(self, post: Posterior, temperature: float) -> Tensor:
        return gumbel_softmax(post[0], temperature, self.generator)

    def features(self, post: Posterior) -> Tensor:
        return post[0]

    def code_moments(self, post: Posterior) -> tuple[Tensor, Tensor]:
        q = torch.softmax(post[0], dim=1)
        return q, q * (1.0 - q)

    def expected_sse(self, x: Tensor, post: Posterior) -> Tensor:
        q = torch.softmax(post[0], dim=1)
        weight = self.model.decoder.weight                      # (D, K)
        mean_recon = self.decode(q)
        spread = q @ weight.pow(2).sum(0) - (q @ weight.T).pow(2).sum(1)
        return (x - mean_recon).pow(2).sum(1) + spread
