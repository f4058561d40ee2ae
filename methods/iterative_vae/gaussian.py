"""iG-VAE and iG_relu-VAE: the iterative Gaussian VAEs (METHODS.md §2).

State: (μ, ξ = log σ), each (B, K); q_t = Π_k N(μ_k, σ_k²). Initial state (μ_0, ξ_0) (K,) each,
learned, initialized at 0. The dictionary multiplies a = act(z): act(z) = z (iG) or
relu(z)·g with a learned per-unit gain g = exp(log_gain) (init 1) (iG_relu).

One step, with noise ε ~ N(0, 1) (B, K) and z = μ + σε: the Euclidean gradients of the
reconstruction term through the reparameterization,

    g_z = ∂NLL/∂z = −act'(z) ⊙ Φᵀ Σ⁻¹ (x − Φ act(z)),   ∂/∂μ = g_z,   ∂/∂ξ = g_z ⊙ σε,

are preconditioned by the inverse Fisher information of N(μ, σ²) in (μ, ξ), diag(σ², ½); the
bias b = exp(log_bias) (per unit, init e⁻³) is added to the preconditioned μ-gradient, and each
component has its own learned step size (η_μ = exp(log_lr_mu), η_ξ = exp(log_lr_log_sigma),
init 1):

    μ ← S(μ − S(η_μ · (σ² g_z + b), c_dμ), c_μ),    ξ ← S(ξ − S(η_ξ · ½ g_z σε, c_dξ), c_ξ),

S(v, c) = softclamp_sym(v, c) = c·tanh(v/c), with c_μ = c_dμ = 7, c_ξ = 2, c_dξ = 3 at evaluation
(the reference's values). act'(z) is 1 (iG) or g·1[z > 0] (iG_relu).

Early-training safeguard (the reference's clamp anneal, hadivafaii/IterativeVAE main/layers.py
``_StochasticLayer.get_c`` with c_init = 1 for its Gaussian layer, ``GaussianLayer.softclamp``):
all four soft clamps widen during training. The reference's Gaussian configs hold them as
``clamp_u`` = (7, 2) for (μ, log σ) and ``clamp_du`` = (7, 3) for their changes, and anneal each
component from c_init = 1; mapped here to c_μ = ``clamp_mu``, c_ξ = ``clamp_log_sigma``, c_dμ =
``clamp_dmu``, c_dξ = ``clamp_dlog_sigma``, all from ``clamp_start`` = 1. At training step s of S,

    c(s) = 1 + ε(s)·(c − 1),   ε(s) = min(1, s / (``clamp_ramp``·S)),  ``clamp_ramp`` = 10%:

c_μ, c_dμ go 1 → 7, c_ξ 1 → 2, c_dξ 1 → 3 over the first 10% of training (:mod:`.base`);
evaluation uses the final values.

KL(q_t ‖ q_{t−1}) is the closed-form Gaussian KL (:func:`brainlike_suite.methods.distributions.gaussian_kl`).
Samples are drawn at temperature 1 in training and evaluation.

Inference of a state: codes = act(z) for one sample z ~ q (samples for iG, relu(z)·g for
iG_relu); features = act(μ); recon = Φ act(μ); sample_recon = Φ act(z); unit_rate =
KL(q_t ‖ q_0) per unit.

Evaluation runs a fused step (:meth:`IGVAE.evaluation_step`): the same equations with the step
sizes and η_μ·b computed once per likelihood and the elementwise work done in place.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from suite import hparams as hp
from brainlike_suite.methods.distributions import gaussian_kl, softclamp_sym
from suite.method import Inference
from suite.registry import register

from .base import COMMON_HPARAMS, IterativeVAE, Likelihood, State, clamp_hparams

GAUSSIAN_HPARAMS = {
    **COMMON_HPARAMS,
    "beta": hp.Positive(8.0, "weight of KL(q_t ‖ q_{t−1}) (β_outer)"),
    "clamp_mu": hp.Positive(7.0, "symmetric soft clamp of μ"),
    "clamp_dmu": hp.Positive(7.0, "symmetric soft clamp of a step's change of μ"),
    "clamp_log_sigma": hp.Positive(2.0, "symmetric soft clamp of log σ"),
    "clamp_dlog_sigma": hp.Positive(3.0, "symmetric soft clamp of a step's change of log σ"),
    **clamp_hparams(1.0),
}


def _softclamp_sym_(v: Tensor, c: float) -> Tensor:
    """softclamp_sym(v, c) = c·tanh(v / c), computed in place in ``v`` (no autograd)."""
    return v.div_(c).tanh_().mul_(c)


@register
class IGVAE(IterativeVAE):
    """iG-VAE: iterative Gaussian VAE, natural-gradient FOND inference with a linear dictionary."""

    name = "igvae"
    version = "2"
    eval_temperature = 1.0
    hparams = GAUSSIAN_HPARAMS
    clamp_names = ("clamp_mu", "clamp_dmu", "clamp_log_sigma", "clamp_dlog_sigma")

    def _state_parameters(self) -> dict[str, Tensor]:
        zeros = torch.zeros(self.n_latents, device=self.device)
        return {"mu_init": zeros.clone(), "log_sigma_init": zeros.clone(),
                "log_lr_mu": torch.zeros((), device=self.device),
                "log_lr_log_sigma": torch.zeros((), device=self.device)}

    # activation of the sample: identity here, relu·gain in IGVAERelu
    def act(self, z: Tensor) -> Tensor:
        return z

    def act_grad(self, z: Tensor, upstream: Tensor) -> Tensor:
        """upstream ⊙ act'(z)."""
        return upstream

    def initial_state(self, n: int) -> State:
        return (self.params["mu_init"].expand(n, -1), self.params["log_sigma_init"].expand(n, -1))

    def draw(self, state: State) -> Tensor:
        mu = state[0]
        return torch.randn(mu.shape, dtype=mu.dtype, device=mu.device, generator=self.generator)

    def _z(self, state: State, eps: Tensor) -> Tensor:
        return state[0] + torch.exp(state[1]) * eps

    def update(self, state: State, sample: Tensor, lik: Likelihood) -> State:
        mu, log_sigma = state
        sigma = torch.exp(log_sigma)
        z = mu + sigma * sample
        g_z = -self.act_grad(z, lik.drive(self.act(z)))
        c = self.clamp
        step_mu = torch.exp(self.params["log_lr_mu"]) * (sigma.square() * g_z + self.bias)
        step_ls = torch.exp(self.params["log_lr_log_sigma"]) * (0.5 * g_z * sigma * sample)
        mu = softclamp_sym(mu - softclamp_sym(step_mu, c("clamp_dmu")), c("clamp_mu"))
        log_sigma = softclamp_sym(log_sigma - softclamp_sym(step_ls, c("clamp_dlog_sigma")),
                                  c("clamp_log_sigma"))
        return mu, log_sigma

    def evaluation_step(self, lik: Likelihood) -> Callable[[State], State]:
        """The fused, in-place form of draw-then-update (see :meth:`update`)."""
        c = {name: self.clamp(name) for name in self.clamp_names}
        eta_mu = float(torch.exp(self.params["log_lr_mu"]))
        eta_ls = float(torch.exp(self.params["log_lr_log_sigma"]))
        bias_step = self.bias * eta_mu  # η_μ·b, (K,)

        def step(state: State) -> State:
            mu, log_sigma = state
            eps = self.draw(state)
            sigma = torch.exp(log_sigma)
            noise = sigma * eps  # σε
            z = noise + mu
            minus_g = self.act_grad(z, lik.drive(self.act(z)))  # −g_z = act'(z)·Φᵀ Σ⁻¹ (x − Φa)
            step_mu = sigma.square_().mul_(minus_g).mul_(-eta_mu).add_(bias_step)
            new_mu = _softclamp_sym_(torch.sub(mu, _softclamp_sym_(step_mu, c["clamp_dmu"])),
                                     c["clamp_mu"])
            step_ls = _softclamp_sym_(noise.mul_(minus_g).mul_(-0.5 * eta_ls),
                                      c["clamp_dlog_sigma"])
            new_ls = _softclamp_sym_(torch.sub(log_sigma, step_ls), c["clamp_log_sigma"])
            return new_mu, new_ls

        return step

    def code(self, state: State, sample: Tensor) -> Tensor:
        return self.act(self._z(state, sample))

    def kl(self, state: State, ref: State) -> Tensor:
        return gaussian_kl(state[0], state[1], ref[0], ref[1])

    def inference(self, state: State, lik: Likelihood) -> Inference:
        codes = self.code(state, self.draw(state))
        mean_code = self.act(state[0])
        return Inference(codes=codes, recon=lik.decode(mean_code), features=mean_code,
                         unit_rate=self.kl(state, self.initial_state(codes.shape[0])),
                         sample_recon=lik.decode(codes))


@register
class IGVAERelu(IGVAE):
    """iG_relu-VAE: iterative Gaussian VAE decoding relu(z)·gain (learned per-unit gain)."""

    name = "igvae_relu"
    version = "2"

    def _state_parameters(self) -> dict[str, Tensor]:
        return {**super()._state_parameters(),
                "log_gain": torch.zeros(self.n_latents, device=self.device)}

    @property
    def gain(self) -> Tensor:
        return torch.exp(self.params["log_gain"])

    def act(self, z: Tensor) -> Tensor:
        return torch.relu(z) * self.gain

    def act_grad(self, z: Tensor, upstream: Tensor) -> Tensor:
        return upstream * self.gain * (z > 0).to(z.dtype)
