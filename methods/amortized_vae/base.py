"""What the amortized VAEs share: the network, the loss, the training step and inference.

Model (METHODS.md §1): encoder x → posterior parameters → reparameterized code a ~ q(a|x) →
decoder x̂ = g(a). The posterior family (Poisson, Gaussian, Laplace, categorical) is a subclass;
it turns the encoder output into posterior parameters and provides their KL, sampler and moments.
Loss per sample, averaged over the minibatch (no 1/2σ² factor, as in the paper):

    mc:     L = Σ_d (x_d − g(a)_d)² + β·Σ_k KL_k,        a one reparameterized sample at temperature T;
    exact:  L = E_q Σ_d (x_d − g(a)_d)² + β·Σ_k KL_k     for an affine decoder g(a) = Φa + c:
            E_q‖x − Φa − c‖² = ‖x − Φ·E[a] − c‖² + Σ_k Var(a_k)·‖φ_k‖²  (independent units;
            the categorical family adds its covariance term).

Training (:meth:`AmortizedVAE.training_step`, run by the suite's loop :mod:`suite.loop`, with
the schedules of :mod:`suite.training`): Adamax; learning rate warmed up linearly over
``warmup`` of the steps then cosine-decayed to ``lr_min``; β ramped linearly from ``beta_start``
to ``beta`` over the first ``beta_ramp`` of the steps; for the families with a temperature, T
annealed linearly from ``temp_start`` to ``temp_final`` over ``temp_ramp``; gradient-norm
clipping at ``grad_clip`` (0: off); the loop's NaN guard stops the run.

Inference (PROTOCOL.md, :meth:`AmortizedVAE.infer`): ``codes`` = a sample at the evaluation
temperature (exact counts / hard one-hot at T = 0, samples at T = 1), ``recon`` = g(E_q[a]) (the
decoder of the posterior mean of the code), ``features`` = the family's KNN features,
``unit_rate`` = per-unit KL (nats), ``sample_recon`` = g(codes) (so that the suite's nelbo is
the sse of a sample plus the KL).
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from suite import hparams as hp
from suite.capabilities import LinearDictionary
from suite.errors import HyperparameterError
from suite.loop import TrainedByLoop
from suite.method import Inference, Method
from suite.seeding import seeded
from suite.training import (annealed_temperature, apply_schedules, clip_gradients,
                            schedule_hparams)

from .architectures import build_decoder, build_encoder, parse_arch

Posterior = tuple[Tensor, ...]
"""A family's posterior parameters, each (B, K) (e.g. (μ, log σ))."""


def _check_arch(value: str) -> bool:
    parse_arch(value)  # raises a HyperparameterError saying what is wrong
    return True


COMMON_HPARAMS: dict[str, hp.Hyper] = {
    "arch": hp.Hyper("lin|lin", "encoder|decoder, each lin, mlp or conv, '+b' for a final bias",
                     _check_arch, "'enc|dec' with sides lin, mlp, conv (+b)"),
    "loss": hp.Choice("mc", ("mc", "exact"), "sampled loss, or the closed form (linear decoder)"),
    "beta": hp.NonNegative(1.0, "weight of the KL term (target of the β ramp)"),
    **schedule_hparams(lr=5e-3, lr_min=1e-5, warmup=0.01, batch_size=1000, grad_clip=500.0,
                       beta_start=1e-4, beta_ramp=0.5),
    "init_std": hp.Positive(0.05, "std of the N(0, std²) init of lin layers and final layers"),
    "hidden": hp.Positive(256, "hidden width of mlp stacks"),
    "channels": hp.Positive(32, "channels of conv stacks"),
}

SMOKE_HPARAMS = {"batch_size": 64, "hidden": 16, "channels": 4}
SMOKE_BUDGET = {"epochs": 1, "max_steps": 5}


class VAENet(nn.Module):
    """The learned parts: ``encoder`` (B, D) → (B, P·K), ``decoder`` (B, K) → (B, D), and any
    prior parameters a family registers on it."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder


class AmortizedVAE(TrainedByLoop, Method, LinearDictionary):
    """Base of the amortized VAEs; subclasses implement the posterior-family hooks below."""

    family = "amortized-vae"
    hparams = COMMON_HPARAMS
    smoke_hparams = SMOKE_HPARAMS
    smoke_budget = SMOKE_BUDGET
    params_per_latent: ClassVar[int] = 1
    """Encoder outputs per latent (1: a rate or a logit; 2: location and log-scale)."""
    eval_temperature: ClassVar[float] = 1.0
    """Temperature of the evaluation samples (0: exact draws)."""

    def __init__(self, data_shape, n_latents, device="cpu", seed=0, **hparams: Any):
        super().__init__(data_shape, n_latents, device, seed, **hparams)
        self.enc_side, self.dec_side = parse_arch(self.hp["arch"])
        sizes = dict(hidden=self.hp["hidden"], channels=self.hp["channels"],
                     init_std=self.hp["init_std"])
        with seeded(self.seed):
            encoder = build_encoder(self.enc_side, self.data_shape,
                                    self.params_per_latent * self.n_latents, **sizes)
            decoder = build_decoder(self.dec_side, self.n_latents, self.data_shape, **sizes)
            self.model = VAENet(encoder, decoder)
            self.init_prior(self.model)
        self.model.to(self.device)

    @classmethod
    def check_hparams(cls, values: dict[str, Any]) -> None:
        _, dec = parse_arch(values["arch"])
        if values["loss"] == "exact" and dec.kind != "lin":
            raise HyperparameterError(
                f"{cls.name}: loss='exact' needs a linear decoder (arch '...|lin' or '...|lin+b'), "
                f"got arch {values['arch']!r}; use loss='mc'.")
        if values.get("temp_final", 0.0) > values.get("temp_start", 1.0):
            raise HyperparameterError(f"{cls.name}: temp_final must not exceed temp_start.")

    # -- hooks of a posterior family ---------------------------------------------------------
    def init_prior(self, net: VAENet) -> None:
        """Register learned prior parameters on ``net`` (default: none; fixed prior)."""

    def begin_fit(self) -> None:
        """Reset per-fit training state (default: none)."""

    def posterior(self, h: Tensor) -> Posterior:
        """Posterior parameters from the encoder output h (B, P·K)."""
        raise NotImplementedError

    def unit_kl(self, post: Posterior) -> Tensor:
        """(B, K) KL(q(a_k|x) ‖ p(a_k)) in nats."""
        raise NotImplementedError

    def total_kl(self, post: Posterior) -> Tensor:
        """Σ over the batch and the units of KL(q(a_k|x) ‖ p(a_k)) (a scalar, nats), for the loss;
        a family may override it with a cheaper form of the same sum."""
        return self.unit_kl(post).sum()

    def rsample(self, post: Posterior, temperature: float) -> Tensor:
        """(B, K) reparameterized code (what the decoder sees) at ``temperature``."""
        raise NotImplementedError

    def code_moments(self, post: Posterior) -> tuple[Tensor, Tensor]:
        """(E_q[a], Var_q[a]), each (B, K), of the decoded code under the exact posterior."""
        raise NotImplementedError

    def features(self, post: Posterior) -> Tensor:
        """(B, F) features for the few-shot KNN classifier."""
        raise NotImplementedError

    # -- loss ------------------------------------------------------------------------------
    def decode(self, a: Tensor) -> Tensor:
        return self.model.decoder(a)

    def encode(self, x: Tensor) -> Posterior:
        return self.posterior(self.model.encoder(x))

    def expected_sse(self, x: Tensor, post: Posterior) -> Tensor:
        """(B,) E_q Σ_d (x − Φa − c)² = ‖x − Φ·E[a] − c‖² + Σ_k Var(a_k)·‖φ_k‖² (linear decoder)."""
        mean, var = self.code_moments(post)
        atom_norms2 = self.model.decoder.weight.pow(2).sum(0)  # (K,) ‖φ_k‖²
        return (x - self.decode(mean)).pow(2).sum(1) + var @ atom_norms2

    def batch_loss(self, x: Tensor, beta: float, temperature: float,
                   loss: str | None = None) -> Tensor:
        """Mean over the batch of (sse + β·Σ_k KL_k), sampled (``mc``) or in closed form
        (``exact``); ``loss`` None uses the ``loss`` hyperparameter."""
        post = self.encode(x)
        if (loss or self.hp["loss"]) == "exact":
            sse = self.expected_sse(x, post)
        else:
            sse = (x - self.decode(self.rsample(post, temperature))).pow(2).sum(1)
        return sse.mean() + (beta / x.shape[0]) * self.total_kl(post)

    def temperature_at(self, step: int, total: int) -> float:
        """Sampler temperature at ``step`` (families without one: the evaluation temperature)."""
        if "temp_final" not in self.hp:
            return self.eval_temperature
        return annealed_temperature(step, total, self.hp)

    # -- training (the suite's loop, :mod:`suite.loop`) ------------------------------------
    def begin_training(self, train: Tensor, total_steps: int, val: Tensor | None) -> None:
        self._train_params = [p for p in self.model.parameters() if p.requires_grad]
        self._optimizer = torch.optim.Adamax(self._train_params, lr=self.hp["lr"])
        self._beta = 0.0
        self.begin_fit()
        self.model.train()

    def training_step(self, xb: Tensor, step: int, total_steps: int) -> float:
        """One Adamax step on the batch xb (B, D) at the step's learning rate, β and temperature;
        returns the batch loss before the step."""
        h, opt = self.hp, self._optimizer
        self._beta = beta = apply_schedules(opt, step, total_steps, h)
        loss = self.batch_loss(xb, beta, self.temperature_at(step, total_steps))
        value = float(loss.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(self._train_params, h["grad_clip"])
        opt.step()
        return value

    def progress_postfix(self, step: int, loss: float) -> dict | None:
        if step % 50:
            return None
        return {"loss": f"{loss:.4g}", "beta": f"{self._beta:.3g}"}

    def end_training(self) -> None:
        self._optimizer = self._train_params = None
        self.model.eval()

    # -- inference -------------------------------------------------------------------------
    def infer(self, x: Tensor) -> Inference:
        post = self.encode(x)
        mean, _ = self.code_moments(post)
        codes = self.rsample(post, self.eval_temperature)
        return Inference(codes=codes, recon=self.decode(mean), features=self.features(post),
                         unit_rate=self.unit_kl(post), sample_recon=self.decode(codes))

    def dictionary(self) -> Tensor | None:
        """Φᵀ (K, D), the decoder's weight, for a linear decoder; None otherwise."""
        if self.dec_side.kind != "lin":
            return None
        return self.model.decoder.weight.detach().T
