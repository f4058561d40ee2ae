"""iP-VAE: the iterative Poisson VAE (METHODS.md §2).

State: u = log-rates (B, K); q_t = Π_k Pois(e^{u_k}). Initial state u_0 (K,) learned, initialized
Uniform(−6, −4). One step, with a spike-count sample z ~ Pois(e^u) (relaxed at temperature T in
training, exact at evaluation):

    u ← C_u(u + C_du(η · [Φᵀ Σ⁻¹ (x − Φz) − b])),   C_c(v) = softclamp_upper(max(v, floor), c),

η = exp(log_lr) the learned step size (init 1), b = exp(log_bias) the learned per-unit bias (init
e⁻³), c = 10 for both the increment and the state (``clamp_du``, ``clamp_u``) at evaluation.
Φᵀ Σ⁻¹ x is the feed-forward drive, −Φᵀ Σ⁻¹ Φ z lateral inhibition, −b the metabolic cost. The
hard floor (``log_rate_floor``, −8, as in the reference) keeps rates away from 0 so that the
relaxed sampler's gradient stays finite and a silenced unit can recover within a few steps.

Early-training safeguards (the reference's: hadivafaii/IterativeVAE, main/layers.py
``_StochasticLayer.get_c``, ``PoissonLayer.softclamp`` / ``get_dist`` / ``update_n_exp``, and
main/train.py ``Trainer.iteration``):

- Clamp anneal. Both soft ceilings (state and increment; not the floor) widen during training:
  at training step s of S, c_u(s) = c_0 + ε(s)(c_u − c_0) and c_du(s) = c_0 + ε(s)(c_du − c_0),
  ε(s) = min(1, s / (``clamp_ramp``·S)), c_0 = ``clamp_start`` = 2: from 2 at s = 0 to 10 at
  s = 10% of S (:mod:`.base`); evaluation uses 10.
- Number of arrivals of the relaxed sampler. At unroll step t, both training draws (the one
  for the update, from q_{t−1}, and the one for the loss, from q_t) are truncated at n_exp[t],

      z = Σ_{i=1}^{n_exp[t]} σ((1 − t_i)/T) ≤ n_exp[t]   (t_i the arrival times at rate e^u),

  so that a unit's relaxed count never exceeds n_exp[t]. n_exp[t] is
  ``n_exp_init`` = 10 (the 1 − 10⁻³ quantile of Poisson(3)) until the first refresh. The
  refreshes come after every training step s with s ≡ 0 (mod ``n_exp_every`` = 200) that is
  past the learning-rate warm-up (s/S ≥ ``warmup``): then n_exp[t] =
  poisson_n_exp(r̄_t, 1 − ``n_exp_tail``), the 1 − 10⁻³ quantile of Poisson(r̄_t), where r̄_t is
  the mean, over the training steps of the current epoch so far (including s), of the batch's
  largest rate max_{b,k} e^{u_t} of the new state at unroll step t (the reference's running
  average meter of ``posterior.rate.max()``, created afresh each epoch and never reset
  otherwise). The maxima accumulate in a device tensor, read once per refresh. The truncation is
  deliberate, so :class:`~brainlike_suite.methods.distributions.PoissonTruncationWarning` is silenced for these
  draws. Outside training (evaluation draws exact counts anyway) the sampler picks n_exp itself.

KL(q_t ‖ q_{t−1}) is the standard Poisson KL r_{t−1}·f(r_t / r_{t−1}), f(δ) = 1 − δ + δ log δ
(:func:`brainlike_suite.methods.distributions.poisson_kl_from_log`; the reference multiplied by the posterior rate
instead). The sampler's temperature anneals linearly from ``temp_start`` (1) to ``temp_final``
(0.01) over the first ``temp_ramp`` (50%) of training; evaluation draws exact counts.

Inference of a state: codes = spike counts z ~ Pois(e^u) (exact draw); features = rates e^u;
recon = Φ e^u (the posterior mean); sample_recon = Φz; unit_rate = KL(q_t ‖ q_0) per unit.

Fused loops (the same equations, fewer tensor operations): both precompute, per likelihood,
η(Φᵀ Σ⁻¹ x − b) and fold η into the lateral term, so that the drive of a step is one addmm,
η(ff − b) − z·(η Φᵀ Σ⁻¹ Φ); both reuse each state's rates e^u for its draw (and, in training, for
the KL). Evaluation (:meth:`IPVAE.evaluation_step`) runs in place without autograd; training
(:meth:`IPVAE.chunk_loss`) backpropagates the KL through its closed-form gradient
(:func:`brainlike_suite.methods.distributions.poisson_kl_sum`).
"""
from __future__ import annotations

import math
import warnings
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from suite import hparams as hp
from brainlike_suite.methods.distributions import (POISSON_N_EXP_MAX_RATE, PoissonTruncationWarning,
                                 poisson_kl_from_log, poisson_kl_sum, poisson_n_exp,
                                 relaxed_poisson, softclamp_upper)
from suite.method import Inference
from suite.registry import register
from suite.training import (annealed_temperature, non_finite_error, steps_per_epoch,
                            temperature_hparams)

from .base import COMMON_HPARAMS, IterativeVAE, Likelihood, State, clamp_hparams


def _floor_softclamp_(v: Tensor, floor: float, c: float) -> Tensor:
    """C(v) = softclamp_upper(max(v, floor), c) = c − softplus(c − max(v, floor)), computed with
    in-place operations on ``v`` (which it overwrites; no autograd), returned as a new tensor."""
    return F.softplus(v.clamp_min_(floor).neg_().add_(c)).neg_().add_(c)


@register
class IPVAE(IterativeVAE):
    """iP-VAE: iterative Poisson VAE, spiking FOND inference with a linear dictionary (2025)."""

    name = "ipvae"
    version = "2"
    eval_temperature = 0.0
    hparams = {
        **COMMON_HPARAMS,
        "beta": hp.Positive(24.0, "weight of KL(q_t ‖ q_{t−1}) (β_outer)"),
        **temperature_hparams(start=1.0, final=0.01, ramp=0.5, sampler="relaxed-Poisson"),
        "clamp_u": hp.Positive(10.0, "soft upper clamp of the log-rates"),
        "clamp_du": hp.Positive(10.0, "soft upper clamp of a step's log-rate change"),
        "log_rate_floor": hp.Hyper(-8.0, "hard lower bound of log-rates and their changes",
                                   lambda v: v < 0, "< 0"),
        **clamp_hparams(2.0),
        "n_exp_init": hp.Positive(10, "training: arrivals of the relaxed sampler until the "
                                      "first refresh"),
        "n_exp_every": hp.Positive(200, "training: refresh n_exp after every step that is a "
                                        "multiple of this, past the warm-up"),
        "n_exp_tail": hp.Hyper(1e-3, "training: n_exp is the 1 − n_exp_tail quantile of "
                                     "Poisson(mean largest rate)", lambda v: 0 < v < 1,
                               "in (0, 1)"),
    }
    clamp_names = ("clamp_u", "clamp_du")
    n_exp: list[int] | None = None
    """Training: the relaxed sampler's number of arrivals at each unroll step t (None outside
    training: the sampler's own rule)."""
    _rate_max_sum: Tensor | None = None
    _rate_max_count: int = 0
    _train_step: int = 0
    """The training step being computed (for the divergence message)."""

    def _state_parameters(self) -> dict[str, Tensor]:
        return {
            "u_init": torch.rand(self.n_latents, device=self.device) * 2.0 - 6.0,
            "log_lr": torch.zeros((), device=self.device),
        }

    def _train_temperature(self, step: int, total: int) -> float:
        return annealed_temperature(step, total, self.hp)

    def _begin_train_step(self, step: int, total: int, n_train: int) -> None:
        """The base schedules, then the n_exp schedule (module docstring): at step 0, n_exp =
        n_exp_init everywhere; the refresh due after step − 1; a new epoch's running mean."""
        self._train_step = step
        super()._begin_train_step(step, total, n_train)
        h = self.hp
        if step == 0 or self.n_exp is None:
            self.n_exp = [int(h["n_exp_init"])] * self.train_steps
            self._rate_max_sum = torch.zeros(self.train_steps, device=self.device)
            self._rate_max_count = 0
        else:
            last = step - 1
            if last % h["n_exp_every"] == 0 and last / total >= h["warmup"]:
                self._refresh_n_exp()
        if step % steps_per_epoch(n_train, h["batch_size"]) == 0:
            self._rate_max_sum.zero_()
            self._rate_max_count = 0
        self._rate_max_count += 1

    def _refresh_n_exp(self) -> None:
        """n_exp[t] = poisson_n_exp(r̄_t, 1 − n_exp_tail), r̄_t the epoch's mean largest rate."""
        if self._rate_max_count == 0:
            return
        means = (self._rate_max_sum / self._rate_max_count).tolist()  # the one device read
        for t, r in enumerate(means):
            self._check_rate(r, f"the epoch's mean largest spike rate of unroll step {t}")
        q = 1.0 - self.hp["n_exp_tail"]
        self.n_exp = [poisson_n_exp(r, q) for r in means]

    def _check_rate(self, rate_max: float, what: str) -> None:
        """Stop a diverged run with :class:`~suite.errors.NonFiniteLossError` when the largest
        rate the training sampler sees is NaN, infinite or beyond what it can draw
        (:data:`~brainlike_suite.methods.distributions.POISSON_N_EXP_MAX_RATE`; the soft clamps keep real rates
        below e^10) instead of letting the sampler fail with its own error."""
        if not rate_max <= POISSON_N_EXP_MAX_RATE:  # NaN fails the comparison too
            value = rate_max if not math.isfinite(rate_max) else (
                f"{rate_max:.4g} (beyond {POISSON_N_EXP_MAX_RATE:.0e}: training diverged)")
            raise non_finite_error(self.name, what, value, self._train_step)

    def _end_training(self) -> None:
        super()._end_training()
        self.n_exp, self._rate_max_sum, self._rate_max_count = None, None, 0

    def _check_trained(self, step: int) -> None:
        """The base check, and the rates of the learned initial state (the only state the soft
        clamps do not bound): the last optimizer step must not have sent them out of reach."""
        super()._check_trained(step)
        self._train_step = step
        self._check_rate(float(torch.exp(self.params["u_init"].detach().max())),
                         "the largest initial spike rate (after the optimizer step)")

    def _on_train_state(self, t: int, state: State) -> None:
        """Add the batch's largest rate e^{max u_t} to the running sum of unroll step t."""
        if self._rate_max_sum is not None:
            self._rate_max_sum[t] += torch.exp(state[0].detach().max())

    def _current_n_exp(self) -> int | None:
        """n_exp of the unroll step being computed (None outside training)."""
        if self.n_exp is None or not 0 <= self.inner_step < len(self.n_exp):
            return None
        return self.n_exp[self.inner_step]

    def _clamp(self, v: Tensor, c: float) -> Tensor:
        return softclamp_upper(v.clamp_min(self.hp["log_rate_floor"]), c)

    def initial_state(self, n: int) -> State:
        return (self.params["u_init"].expand(n, -1),)

    def draw(self, state: State) -> Tensor:
        return self._draw_at(torch.exp(state[0]))

    def _draw_at(self, rate: Tensor) -> Tensor:
        """Spike counts z ~ Pois(rate) at the current temperature (relaxed when T > 0, with at
        most n_exp arrivals in training)."""
        n_exp = self._current_n_exp()
        if n_exp is None or self.temperature == 0:
            return relaxed_poisson(rate, self.temperature, self.generator)
        rate_max = float(rate.detach().max())  # the value relaxed_poisson would read itself
        self._check_rate(rate_max, f"the largest spike rate of unroll step {self.inner_step}")
        with warnings.catch_warnings():  # truncating is the point of the schedule
            warnings.simplefilter("ignore", PoissonTruncationWarning)
            return relaxed_poisson(rate, self.temperature, self.generator, n_exp=n_exp,
                                   rate_max=rate_max)

    def update(self, state: State, sample: Tensor, lik: Likelihood) -> State:
        eta = torch.exp(self.params["log_lr"])
        du = self._clamp(eta * (lik.drive(sample) - self.bias), self.clamp("clamp_du"))
        return (self._clamp(state[0] + du, self.clamp("clamp_u")),)

    def evaluation_step(self, lik: Likelihood) -> Callable[[State], State]:
        """The fused, in-place step u ↦ C(u + C(η(ff − b) − z·(η·lateral))), z ~ Pois(e^u)."""
        h = self.hp
        floor = float(h["log_rate_floor"])
        c_u, c_du = self.clamp("clamp_u"), self.clamp("clamp_du")
        eta = float(torch.exp(self.params["log_lr"]))
        offset = (lik.ff - self.bias).mul_(eta)  # η(Φᵀ Σ⁻¹ x − b), (B, K)
        lateral = lik.lateral

        def step(state: State) -> State:
            u = state[0]
            v = torch.addmm(offset, self._draw_at(torch.exp(u)), lateral, alpha=-eta)
            return (_floor_softclamp_(_floor_softclamp_(v, floor, c_du).add_(u), floor, c_u),)

        return step

    def chunk_loss(self, state: State, lik: Likelihood, beta: float,
                   size: int, start: int = 0) -> tuple[State, Tensor]:
        """The base class's loop, fused: the drive is one addmm (η folded into the offset and
        the lateral matrix, once per chunk), each state's rates e^u serve its draw and the KL,
        and the KL's gradient is closed-form (:func:`brainlike_suite.methods.distributions.poisson_kl_sum`).
        Steps ``start`` … ``start + size − 1`` of the unroll (their n_exp, their rate maxima)."""
        eta = torch.exp(self.params["log_lr"])
        offset = eta * (lik.ff - self.bias)
        lateral = eta * lik.lateral
        c_u, c_du = self.clamp("clamp_u"), self.clamp("clamp_du")
        inv_b = 1.0 / lik.x.shape[0]
        u = state[0]
        rate = torch.exp(u)
        nll = lik.log_norm.new_zeros(())
        kl = lik.log_norm.new_zeros(())
        for t in range(start, start + size):
            self.inner_step = t
            du = self._clamp(torch.addmm(offset, self._draw_at(rate), lateral, alpha=-1.0), c_du)
            new = self._clamp(u + du, c_u)
            self._on_train_state(t, (new,))
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
