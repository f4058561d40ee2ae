"""The ``bihm`` method: a Bidirectional Helmholtz Machine (Bornschein, Shabanian, Fischer &
Bengio, ICML 2016), trained with the recipe of the original code (METHODS.md §4).

Architecture: x (D) - h_1 (``n_latents``) - ``upper_layers`` (h_2, ..., h_L, bottom to top).
The paper's 12-layer binarized-MNIST model 784-300-200-100-75-50-35-30-25-20-15-10-10 is
``n_latents=300, upper_layers=[200, 100, 75, 50, 35, 30, 25, 20, 15, 10, 10]``; ``n_latents`` is
the suite's latent width, and the first hidden layer is the one whose units the suite measures.

Visible units: Bernoulli for binary data, Gaussian N(W h_1 + c, diag σ²) with learned σ for
continuous data (``visible="auto"`` picks from the training data at the first ``fit``).

What the suite sees (:meth:`BiHM.infer`): codes = a binary sample h_1 ~ q(h_1 | x); features =
q(h_1 = 1 | x); recon = E[x | h_1] of that sample (binary data) or W q(h_1 | x) + c (Gaussian);
unit_rate = KL(q(h_1k | x) ‖ p(h_1k)) against the top-down marginal of h_1 (:mod:`.rate`).
Dead units follow PROTOCOL.md's BiHM rule (std of the features). :meth:`BiHM.dictionary` is W
(n_latents, D) for the Gaussian visible layer and None for binary data, whose generative map
σ(W h + b) is not linear. :meth:`BiHM.evaluate_extra` gives the likelihoods of PROTOCOL.md:
``nll`` = −log p*(x), ``nll_tilde`` = −log p̃*(x), ``nll_p`` = −log p(x) (nats, means over the
inputs, each with ``_se``), ``log_z2`` ± ``log_z2_se``, ``rate_total``, and the sample counts.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from suite.capabilities import EstimatorCheck, LinearDictionary, Sampling
from suite.errors import DataError, HyperparameterError
from suite.hparams import Choice, Hyper, Positive
from suite.loop import TrainedByLoop
from suite.method import Inference, Method
from suite.registry import register
from suite.seeding import derive_seed, make_generator, seeded
from suite.training import check_finite

from .estimators import importance_estimates, log_z2_estimate, mean_and_se
from .model import HelmholtzPair
from .objective import bihm_loss
from .rate import bernoulli_kl, h1_marginal


def _is_binary(x: Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


@register
class BiHM(TrainedByLoop, Method, LinearDictionary, Sampling, EstimatorCheck):
    """Bidirectional Helmholtz Machine: p*(x,h) = sqrt(p q)/Z, deep sigmoid belief nets up and down."""

    name = "bihm"
    family = "helmholtz"
    version = "1"
    dead_unit_rule = "feature_std"
    hparams = {
        "upper_layers": Hyper([64, 32], "widths of the hidden layers above h1 (h2..hL, bottom to "
                                        "top); h1 has n_latents units"),
        "visible": Choice("auto", ("auto", "bernoulli", "gaussian"),
                          "visible units; auto: Bernoulli for 0/1 training data, else Gaussian"),
        "n_samples": Positive(10, "K, importance samples per example in training"),
        "batch_size": Positive(100, "examples per minibatch"),
        "lr": Positive(1e-3, "Adam learning rate (constant)"),
        "patience": Positive(10, "early stopping: epochs without a better log p~* on the held-out "
                                   "slice of the training split"),
        "eval_samples": Positive(1000, "K of the likelihood estimates of evaluate_extra"),
        "z_samples": Positive(100000, "draws of the Z^2 estimator"),
        "z_inner": Positive(10, "draws from q(h|x) per Z^2 draw (estimating sqrt p~*(x))"),
        "prior_samples": Positive(10000, "ancestral draws estimating the marginal of h1 (unit_rate)"),
    }
    smoke_hparams = {"upper_layers": [8], "eval_samples": 10, "z_samples": 1000, "z_inner": 2,
                     "prior_samples": 1000}
    smoke_budget = {"max_steps": 50}

    @classmethod
    def check_hparams(cls, values: dict[str, Any]) -> None:
        widths = values["upper_layers"]
        if not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
            raise HyperparameterError(
                f"bihm.upper_layers must be a list of positive integers (may be empty), got {widths!r}")

    def __init__(self, data_shape, n_latents, device="cpu", seed=0, **hparams):
        super().__init__(data_shape, n_latents, device, seed, **hparams)
        self.sizes = [self.dim, self.n_latents, *self.hp["upper_layers"]]
        gaussian = self.hp["visible"] == "gaussian"
        self.visible_gaussian = torch.tensor(gaussian, device=self.device)
        self.net = self._build(gaussian)
        # p(h_1 = 1) under the top-down model, estimated once per parameter set and saved with
        # them (so that a reloaded model infers the same unit rates); empty until computed
        self.h1_prior = torch.empty(0, device=self.device)
        self._trained = False
        self._log_z2: tuple[float, float] | None = None  # (log Z², SE), once per parameter set

    def _build(self, gaussian: bool) -> HelmholtzPair:
        with seeded(self.seed, self.device):
            return HelmholtzPair(self.sizes, gaussian_visible=gaussian).to(self.device)

    def fresh_generator(self, purpose: str) -> torch.Generator:
        """A fresh generator for one purpose, so that evaluations repeat exactly."""
        return make_generator(self.device, derive_seed(self.seed, purpose))

    def _resolve_visible(self, train: Tensor) -> None:
        """Pick Bernoulli or Gaussian visible units for ``train`` (rebuilding an untrained net)."""
        binary = _is_binary(train)
        if self.hp["visible"] == "bernoulli" and not binary:
            raise DataError("bihm: visible='bernoulli' needs binary (0/1) data; these data are "
                            "continuous. Use visible='auto' or 'gaussian'.")
        gaussian = self.hp["visible"] == "gaussian" or (self.hp["visible"] == "auto" and not binary)
        if gaussian == bool(self.visible_gaussian):
            return
        if self._trained:
            raise DataError("bihm: this model was trained with "
                            f"{'Gaussian' if bool(self.visible_gaussian) else 'Bernoulli'} visible "
                            "units and cannot continue on data of the other kind.")
        self.visible_gaussian = torch.tensor(gaussian, device=self.device)
        self.net = self._build(gaussian)

    # -- training --------------------------------------------------------------------------
    @torch.no_grad()
    def validation_bound(self, val: Tensor) -> float:
        """Mean log p̃*(x) of the held-out slice ``val`` with the training K, from a fixed random
        stream (so that successive epochs are compared on the same draws)."""
        est = importance_estimates(self.net, val, self.hp["n_samples"],
                                   self.fresh_generator("validation"))
        return float(est["log_p_tilde_star"].mean())

    # Adam on the BiHM surrogate (:mod:`.objective`), run by the suite's loop (:mod:`suite.loop`):
    # with ``val``, it stops after ``patience`` epochs without a better held-out log p̃*(x) and
    # keeps the best parameters. ``val`` is the runner's held-out slice of the training split
    # (never the evaluation split, on which the metrics are reported): it serves early stopping
    # and the choice of the kept parameters only. ``loss_curve_`` records, per step, the
    # minibatch's mean −log p̃*(x) estimate (nats; the surrogate's value itself is not an
    # objective).
    validation_name = "val_log_p_tilde_star"

    def begin_training(self, train: Tensor, total_steps: int, val: Tensor | None) -> None:
        self._resolve_visible(train)
        self._forget_derived()
        self._optimizer = torch.optim.Adam(self.net.parameters(), lr=self.hp["lr"])
        self._trained = True
        self._early_stopping = val is not None

    def training_step(self, batch: Tensor, step: int, total_steps: int) -> float:
        """One Adam step on the surrogate of the batch (B, D); returns −mean log p̃*(x)."""
        loss, log_p_tilde_star = bihm_loss(self.net, batch, self.hp["n_samples"], self.generator)
        check_finite(loss.detach(), step, self.name)  # the surrogate, before it is applied
        value = -float(log_p_tilde_star.mean())
        self._optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._optimizer.step()
        return value

    def early_stopping_patience(self) -> int:
        return int(self.hp["patience"])

    def validation_score(self, val: Tensor) -> float:
        return self.validation_bound(val)

    def progress_postfix(self, step: int, loss: float) -> dict | None:
        if self._early_stopping:
            return None  # the loop reports the held-out bound at the end of every epoch
        return super().progress_postfix(step, loss)

    def end_training(self) -> None:
        self._optimizer = None
        self._forget_derived()
        self.h1_marginal()

    def _forget_derived(self) -> None:
        """Drop the quantities estimated from the parameters (they changed)."""
        self._log_z2 = None
        self.h1_prior = torch.empty(0, device=self.device)

    # -- inference -------------------------------------------------------------------------
    def h1_marginal(self) -> Tensor:
        """p(h_1 = 1) under the top-down model (n_latents,), from ``prior_samples`` ancestral
        draws, computed once per parameter set (at the end of ``fit``, or on first use)."""
        if self.h1_prior.numel() == 0:
            self.h1_prior = h1_marginal(self.net, self.hp["prior_samples"],
                                        self.fresh_generator("h1_marginal"))
        return self.h1_prior

    @torch.no_grad()
    def infer(self, x: Tensor) -> Inference:
        probs = self.net.q_h1_probs(x)
        codes = torch.bernoulli(probs, generator=self.generator)
        recon = self.net.visible_mean(probs if self.net.gaussian_visible else codes)
        return Inference(codes=codes, recon=recon, features=probs,
                         unit_rate=bernoulli_kl(probs, self.h1_marginal()))

    def dictionary(self) -> Tensor | None:
        """W (n_latents, D) of the Gaussian visible layer; None for binary data (σ(W h + b) is
        not a linear generative map)."""
        if not self.net.gaussian_visible:
            return None
        return self.net.p_layers[0].linear.weight.detach().t()

    # -- likelihoods -----------------------------------------------------------------------
    def log_z2(self) -> tuple[float, float]:
        """(log Z², its standard error), estimated once per parameter set."""
        if self._log_z2 is None:
            self._log_z2 = log_z2_estimate(self.net, self.hp["z_samples"], self.hp["z_inner"],
                                           self.fresh_generator("log_z2"))
        return self._log_z2

    @torch.no_grad()
    def evaluate_extra(self, x: Tensor) -> dict[str, float]:
        """−log p*(x), −log p̃*(x), −log p(x) (means over x, nats, with standard errors: over the
        inputs, and for ``nll`` combined with the SE of log Z²), log Z², and the total rate."""
        k = self.hp["eval_samples"]
        est = importance_estimates(self.net, x, k, self.fresh_generator("evaluate_extra"))
        log_z2, log_z2_se = self.log_z2()
        tilde, tilde_se = mean_and_se(est["log_p_tilde_star"])
        plain, plain_se = mean_and_se(est["log_px"])
        return {
            "nll": -tilde + log_z2, "nll_se": math.hypot(tilde_se, log_z2_se),
            "nll_tilde": -tilde, "nll_tilde_se": tilde_se,
            "nll_p": -plain, "nll_p_se": plain_se,
            "log_z2": log_z2, "log_z2_se": log_z2_se,
            "rate_total": float(est["rate_total"].mean()),
            "nll_samples": float(k), "z2_samples": float(self.hp["z_samples"]),
        }

    # -- samples ---------------------------------------------------------------------------
    def sample_grid(self, path: str | Path, n: int = 64, sweeps: int = 100, proposals: int = 100,
                    n_inner: int = 10) -> Path:
        """PNG of ``n`` ancestral samples of p beside ``n`` Gibbs samples of p* (see
        :func:`.figures.sample_grid`)."""
        from .figures import sample_grid

        return sample_grid(self, path, n=n, sweeps=sweeps, proposals=proposals, n_inner=n_inner)

    # -- estimator check -------------------------------------------------------------------
    @classmethod
    def estimator_convergence(cls, ks=(10, 100, 1000, 10_000), seed: int = 0) -> dict:
        """EstimatorCheck: the errors of the estimators of log p̃*(x), log p(x), log Z² and
        log p*(x) against exact enumeration of a tiny model, as the sample count K grows
        (:func:`.exact.estimator_convergence`)."""
        from .exact import estimator_convergence

        return estimator_convergence(ks, seed=seed)

    # -- persistence -----------------------------------------------------------------------
    def n_params(self) -> int:
        """Learned scalars: the parameters of p and q (not the saved estimate of p(h_1))."""
        return sum(p.numel() for p in self.net.parameters())

    def load_state_dict(self, state: Mapping[str, Any]) -> "BiHM":
        gaussian = bool(state["visible_gaussian"])
        if gaussian != bool(self.visible_gaussian):
            self.visible_gaussian = torch.tensor(gaussian, device=self.device)
            self.net = self._build(gaussian)
        self._forget_derived()
        super().load_state_dict(state)
        self._trained = True
        return self
