"""iP-VAE: the iterative Poisson VAE (METHODS.md §2).

State: u = log-rates (B, K); q_t = Π_k Pois(e^{u_k}). Initial state u_0 (K,) learned, initialized
Uniform(−6, −4). One step, with a spike-count sample z ~ Pois(e^u) (relaxed at temperature T in
training, exact at evaluation):

    u ← C(u + C(η · [Φᵀ Σ⁻¹ (x − Φz) − b])),   C(v) = softclamp_upper(max(v, floor), c),

η = exp(log_lr) the learned step size (init 1), b = exp(log_bias) the learned per-unit bias (init
e⁻³), c = 10 for both the increment and the state (``clamp_du``, ``clamp_u``). Φᵀ Σ⁻¹ x is the
feed-forward drive, −Φᵀ Σ⁻¹ Φ z lateral inhibition, −b the metabolic cost. The hard floor
(``log_rate_floor``, −8, as in the reference) keeps rates away from 0 so that the relaxed
sampler's gradient stays finite and a silenced unit can recover within a few steps.

KL(q_t ‖ q_{t−1}) is the standard Poisson KL r_{t−1}·f(r_t / r_{t−1}), f(δ) = 1 − δ + δ log δ
(:func:`suite.distributions.poisson_kl_from_log`; the reference multiplied by the posterior rate
instead). The sampler's temperature anneals linearly from ``temp_start`` (1) to ``temp_final``
(0.01) over the first ``temp_ramp`` (50%) of training; evaluation draws exact counts.

Inference of a state: codes = spike counts z ~ Pois(e^u) (exact draw); features = rates e^u;
recon = Φ e^u (the posterior mean); sample_recon = Φz; unit_rate = KL(q_t ‖ q_0) per unit.

Fused loops (the same equations, fewer tensor operations): both precompute, per likelihood,
η(Φᵀ Σ⁻¹ x − b) and fold η into the lateral term, so that the drive of a step is one addmm,
η(ff − b) − z·(η Φᵀ Σ⁻¹ Φ); both reuse each state's rates e^u for its draw (and, in training, for
the KL). Evaluation (:meth:`IPVAE.evaluation_step`) runs in place without autograd; training
(:meth:`IPVAE.chunk_loss`) backpropagates the KL through its closed-form gradient
(:func:`suite.distributions.poisson_kl_sum`).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from suite import hparams as hp
from suite.distributions import (poisson_kl_from_log, poisson_kl_sum, relaxed_poisson,
                                 softclamp_upper)
from suite.method import Inference
from suite.registry import register
from suite.training import annealed_temperature, temperature_hparams

from .base import COMMON_HPARAMS, IterativeVAE, Likelihood, State


def _floor_softclamp_(v: Tensor, floor: float, c: float) -> Tensor:
    """C(v) = softclamp_upper(max(v, floor), c) = c − softplus(c − max(v, floor)), computed with
    in-place operations on ``v`` (which it overwrites; no autograd), returned as a new tensor."""
    return F.softplus(v.clamp_min_(floor).neg_().add_(c)).neg_().add_(c)


@register
class IPVAE(IterativeVAE):
    """iP-VAE: iterative Poisson VAE, spiking FOND inference with a linear dictionary (2025)."""

    name = "ipvae"
    version = "1"
    eval_temperature = 0.0
    hparams = {
        **COMMON_HPARAMS,
        "beta": hp.Positive(24.0, "weight of KL(q_t ‖ q_{t−1}) (β_outer)"),
        **temperature_hparams(start=1.0, final=0.01, ramp=0.5, sampler="relaxed-Poisson"),
        "clamp_u": hp.Positive(10.0, "soft upper clamp of the log-rates"),
        "clamp_du": hp.Positive(10.0, "soft upper clamp of a step's log-rate change"),
        "log_rate_floor": hp.Hyper(-8.0, "hard lower bound of log-rates and their changes",
                                   lambda v: v < 0, "< 0"),
    }

    def _state_parameters(self) -> dict[str, Tensor]:
        return {
            "u_init": torch.rand(self.n_latents, device=self.device) * 2.0 - 6.0,
            "log_lr": torch.zeros((), device=self.device),
        }

    def _train_temperature(self, step: int, total: int) -> float:
        return annealed_temperature(step, total, self.hp)

    def _clamp(self, v: Tensor, c: float) -> Tensor:
        return softclamp_upper(v.clamp_min(self.hp["log_rate_floor"]), c)

    def initial_state(self, n: int) -> State:
        return (self.params["u_init"].expand(n, -1),)

    def draw(self, state: State) -> Tensor:
        return self._draw_at(torch.exp(state[0]))

    def _draw_at(self, rate: Tensor) -> Tensor:
        """Spike counts z ~ Pois(rate) at the current temperature (relaxed when T > 0)."""
        return relaxed_poisson(rate, self.temperature, self.generator)

    def update(self, state: State, sample: Tensor, lik: Likelihood) -> State:
        eta = torch.exp(self.params["log_lr"])
        du = self._clamp(eta * (lik.drive(sample) - self.bias), self.hp["clamp_du"])
        return (self._clamp(state[0] + du, self.hp["clamp_u"]),)

    def evaluation_step(self, lik: Likelihood) -> Callable[[State], State]:
        """The fused, in-place step u ↦ C(u + C(η(ff − b) − z·(η·lateral))), z ~ Pois(e^u)."""
        h = self.hp
        floor, c_u, c_du = float(h["log_rate_floor"]), float(h["clamp_u"]), float(h["clamp_du"])
        eta = float(torch.exp(self.params["log_lr"]))
        offset = (lik.ff - self.bias).mul_(eta)  # η(Φᵀ Σ⁻¹ x − b), (B, K)
        lateral = lik.lateral

        def step(state: State) -> State:
            u = state[0]
            v = torch.addmm(offset, self._draw_at(torch.exp(u)), lateral, alpha=-eta)
            return (_floor_softclamp_(_floor_softclamp_(v, floor, c_du).add_(u), floor, c_u),)

        return step

    def chunk_loss(self, state: State, lik: Likelihood, beta: float,
                   size: int) -> tuple[State, Tensor]:
        """The base class's loop, fused: the drive is one addmm (η folded into the offset and
        the lateral matrix, once per chunk), each state's rates e^u serve its draw and the KL,
        and the KL's gradient is closed-form (:func:`suite.distributions.poisson_kl_sum`)."""
        eta = torch.exp(self.params["log_lr"])
        offset = eta * (lik.ff - self.bias)
        lateral = eta * lik.lateral
        c_u, c_du = self.hp["clamp_u"], self.hp["clamp_du"]
        inv_b = 1.0 / lik.x.shape[0]
        u = state[0]
        rate = torch.exp(u)
        nll = lik.log_norm.new_zeros(())
        kl = lik.log_norm.new_zeros(())
        for _ in range(size):
            du = self._clamp(torch.addmm(offset, self._draw_at(rate), lateral, alpha=-1.0), c_du)
            new = self._clamp(u + du, c_u)
            new_rate = torch.exp(new)
            nll = nll + lik.whitened_error(self._draw_at(new_rate)).square().sum()
            kl = kl + poisson_kl_sum(new, u, new_rate, rate)
            u, rate = new, new_rate
        loss = (0.5 * inv_b) * nll + size * lik.log_norm + (beta * inv_b) * kl
        return (u,), loss

    def code(self, state: State, sample: Tensor) -> Tensor:
        return sample

    def kl(self, state: State, ref: State) -> Tensor:
        return poisson_kl_from_log(state[0], ref[0])

    def inference(self, state: State, lik: Likelihood) -> Inference:
        rates = torch.exp(state[0])
        counts = relaxed_poisson(rates, 0.0, self.generator)
        return Inference(codes=counts, recon=lik.decode(rates), features=rates,
                         unit_rate=self.kl(state, self.initial_state(rates.shape[0])),
                         sample_recon=lik.decode(counts))
