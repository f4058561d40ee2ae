"""The machinery shared by the iterative VAEs: parameters, the training unroll, the inference loop.

Generative model (D pixels, K latents): x | a ~ N(Φa, diag σ²) with a linear dictionary Φ (D×K,
initialized N(0, init_scale²)) and a learned per-pixel log σ, soft-clamped symmetrically
(softclamp_sym at ``pixel_log_sigma_clamp``, 3.45: σ² in about (1e-3, 1e3)). ``a`` is the code the
dictionary multiplies: spike counts (iP), samples (iG), relu(z)·gain (iG_relu).

Inference is a loop over steps t = 1, 2, ... on a static input x. The state s_t parameterizes the
posterior q_t (log-rates for iP; μ and log σ for iG); s_0 is a learned initial state. One step:

    draw a sample of q_{t−1}  →  s_t = update(s_{t−1}, sample)   (the method's FOND rule)

Every update uses −∂NLL/∂a = Φᵀ Σ⁻¹ (x − Φa) = Φᵀ Σ⁻¹ x − (Φᵀ Σ⁻¹ Φ) a (Σ = diag σ²): the
feed-forward drive minus lateral inhibition, computed as one (B, K)·(K, K) product per step
(:class:`Likelihood`). Subclasses may fuse a step into fewer tensor operations
(:meth:`IterativeVAE.evaluation_step`, :meth:`IterativeVAE.chunk_loss`): the same equations,
only evaluated in another order (results differ by float rounding; random streams are the same).

Training (per minibatch): unroll t_train steps; at each step draw a *fresh* sample of the new q_t
for the loss (two samples per step: one for the update, one for the loss)

    L_t = Σ_d −log N(x_d | (Φa_t)_d, σ_d²) + β · Σ_k KL(q_t ‖ q_{t−1})_k,   a_t ~ q_t,

averaged over the batch; the loss is (1/t_train) Σ_t L_t, backpropagated through the whole loop.
With ``n_chunks`` > 1 the loop is cut into that many consecutive chunks (truncated BPTT): each
chunk's share of the loss is backpropagated as soon as the chunk ends, the state is then detached
and the next chunk continues from it; the gradients of all chunks accumulate into one optimizer
step. (The reference implementation backpropagated only the first chunk.)

Optimization (METHODS.md §2, with the schedules of :mod:`suite.training`): Adamax (lr 5e-3,
weight decay 3e-4), linear warm-up over 0.5% of the steps then cosine to 1e-5, batch 200,
gradient-norm clip 300 (0: off), β held at 1e-4 and ramped linearly to its target over the first
10% of steps; the Poisson method also anneals its sampler's temperature (see :mod:`.poisson`).

Early-training safeguards (the reference's, hadivafaii/IterativeVAE main/layers.py get_c and
main/train.py): every soft clamp of the state and of its per-step change (the method's
``clamp_names``) widens during training,

    c(s) = c_start + ε(s)·(c − c_start),   ε(s) = linear_anneal(s, S, clamp_ramp, 0, 1),

from ``clamp_start`` at step s = 0 linearly to its own value c at s = clamp_ramp·S (S the number
of steps; 10%), then held; evaluation always uses c (ε = 1). ``clamp_start`` is 2 for the
Poisson method and 1 for the Gaussian ones (the reference's c_init), and may not exceed any c.
(The reference holds ε at 0 for the first 0.1% of steps, its ``kl_const_portion``, before the
ramp; like the β ramp here, the ramp starts at step 0.) The Poisson method also fixes its relaxed
sampler's number of arrivals early in training (see :mod:`.poisson`).

Evaluation runs ``t_test`` steps (far more than t_train) at the evaluation temperature and
returns the :class:`~suite.method.Inference` of the final state. :meth:`IterativeVAE.
infer_trajectory` yields it at chosen intermediate steps too, for the convergence trace
(:func:`suite.analyses.convergence.convergence_trace`). Randomness comes from ``self.generator``.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Iterable, Iterator

import torch
from torch import Tensor, nn

from suite import hparams as hp
from brainlike_suite.methods.distributions import softclamp_sym
from suite.capabilities import IterativeInference, LinearDictionary
from suite.errors import HyperparameterError
from suite.loop import TrainedByLoop
from suite.method import Budget, Inference, Method
from suite.progress import ProgressFactory, null_progress
from suite.seeding import seeded
from suite.training import (apply_schedules, clip_gradients, linear_anneal, non_finite_error,
                            schedule_hparams)

State = tuple[Tensor, ...]
"""The posterior's parameters, each (B, K): (log-rates,) for iP, (μ, log σ) for iG."""

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

COMMON_HPARAMS = {
    "t_train": hp.Positive(16, "inference steps unrolled in training (the loss averages them)"),
    "t_test": hp.Positive(1000, "inference steps at evaluation (infer returns the last one)"),
    "n_chunks": hp.Positive(1, "truncated BPTT: chunks of the t_train loop, each backpropagated"),
    **schedule_hparams(lr=5e-3, lr_min=1e-5, warmup=0.005, batch_size=200, grad_clip=300.0,
                       beta_start=1e-4, beta_ramp=0.1),
    "weight_decay": hp.NonNegative(3e-4, "Adamax weight decay"),
    "init_scale": hp.Positive(1e-4, "standard deviation of the initial dictionary entries"),
    "pixel_log_sigma_clamp": hp.Positive(3.45, "symmetric soft clamp of the per-pixel log σ"),
}

SMOKE_HPARAMS = {"t_train": 4, "t_test": 10, "batch_size": 64}
SMOKE_BUDGET = {"max_steps": 10}


def clamp_hparams(start: float, ramp: float = 0.1) -> dict[str, hp.Hyper]:
    """``clamp_start``, ``clamp_ramp``: the soft clamps (``IterativeVAE.clamp_names``) widen
    linearly from ``start`` to their own values over the first ``ramp`` of the training steps
    (:meth:`IterativeVAE.clamp`); ``clamp_ramp`` 0 turns the anneal off."""
    return {
        "clamp_start": hp.Positive(start, "every soft clamp of the state and its change at "
                                          "training step 0 (at most each clamp's value)"),
        "clamp_ramp": hp.Fraction(ramp, "fraction of the steps over which the soft clamps widen "
                                        "linearly from clamp_start to their values"),
    }


@dataclasses.dataclass
class Likelihood:
    """The Gaussian likelihood of a batch x (B, D) under the current parameters.

    phi (D, K) the dictionary; from the soft-clamped per-pixel log σ (D,): the whitened input
    x_w = Σ^(−1/2) x (B, D) and dictionary Φ_w = Σ^(−1/2) Φ (D, K); ff = Φ_wᵀ x_w = Φᵀ Σ⁻¹ x
    (B, K) the feed-forward drive; lateral = Φ_wᵀ Φ_w = Φᵀ Σ⁻¹ Φ (K, K) the lateral-inhibition
    matrix; log_norm = Σ_d log σ_d + (D/2)·log 2π (a scalar), the NLL's constant.
    """

    x: Tensor
    phi: Tensor
    x_w: Tensor
    phi_w: Tensor
    ff: Tensor
    lateral: Tensor
    log_norm: Tensor

    @classmethod
    def of(cls, x: Tensor, phi: Tensor, log_sigma: Tensor) -> "Likelihood":
        inv_sigma = torch.exp(-log_sigma)
        x_w, phi_w = x * inv_sigma, phi * inv_sigma[:, None]
        return cls(x, phi, x_w, phi_w, x_w @ phi_w, phi_w.T @ phi_w,
                   log_sigma.sum() + HALF_LOG_2PI * x.shape[1])

    def drive(self, a: Tensor) -> Tensor:
        """−∂NLL/∂a = Φᵀ Σ⁻¹ (x − Φa) = ff − a·lateral, (B, K)."""
        return torch.addmm(self.ff, a, self.lateral, alpha=-1.0)

    def decode(self, a: Tensor) -> Tensor:
        """The mean Φa (B, D) of x given the code a (B, K)."""
        return a @ self.phi.T

    def whitened_error(self, a: Tensor) -> Tensor:
        """Σ^(−1/2) (x − Φa) = x_w − a·Φ_wᵀ, (B, D)."""
        return torch.addmm(self.x_w, a, self.phi_w.T, alpha=-1.0)

    def mean_nll(self, a: Tensor) -> Tensor:
        """−log N(x | Φa, diag σ²) summed over pixels and averaged over the batch, in nats (a
        scalar): ½‖Σ^(−1/2)(x − Φa)‖² / B + Σ_d log σ_d + (D/2)·log 2π."""
        return self.whitened_error(a).square().sum() * (0.5 / self.x.shape[0]) + self.log_norm


def chunk_sizes(total: int, n_chunks: int) -> list[int]:
    """``total`` steps cut into ``n_chunks`` consecutive chunks as equal as possible."""
    q, r = divmod(int(total), int(n_chunks))
    return [q + (1 if i < r else 0) for i in range(int(n_chunks))]


class IterativeVAE(TrainedByLoop, Method, IterativeInference, LinearDictionary):
    """Base class of the iterative VAEs (not registered). Subclasses implement the posterior.

    Hooks
    -----
    ``_state_parameters() -> dict[str, Tensor]``: the learned initial state and step sizes.
    ``initial_state(n) -> State``: the learned initial state expanded to n inputs.
    ``draw(state) -> Tensor``: one sample of q (spike counts, or Gaussian noise ε), (B, K), at the
        current temperature (``self.temperature``).
    ``update(state, sample, lik) -> State``: one FOND step, deterministic given the sample.
    ``code(state, sample) -> Tensor``: the code a (B, K) that the dictionary multiplies.
    ``kl(state, ref) -> Tensor``: KL(q_state ‖ q_ref) per unit, (B, K), in nats.
    ``inference(state, lik) -> Inference``: the evaluation outputs of a state.
    ``eval_temperature``: the sampler temperature at evaluation.
    ``clamp_names``: the hyperparameters of the soft clamps that anneal from ``clamp_start``
        (read their current values with :meth:`clamp`).
    ``_begin_train_step(step, total, n_train)``: set the schedules of a training step (extend
        with ``super()``); ``_end_training()``: back to evaluation settings.
    ``_on_train_state(t, state)``: called with each new state s_t of a training unroll
        (t = 0 … t_train − 1, ``self.inner_step`` = t during that step's draws); default no-op.

    Trajectory hook (for :func:`suite.analyses.convergence.convergence_trace`)
    ------------------------------------------------------------------
    ``infer_trajectory(x, steps)`` runs max(steps) evaluation steps on x (B, D) and yields
    ``(t, Inference, delta_norm)`` at every requested step t ≥ 1 (ascending): the Inference of the
    state s_t, and ``delta_norm`` (B,) = ‖s_t − s_{t−1}‖₂ per input, the state change of that
    step (over all state components). Memory O(B·K) whatever the number of steps.
    """

    family = "iterative-vae"
    smoke_hparams = SMOKE_HPARAMS
    smoke_budget = SMOKE_BUDGET
    eval_temperature: float = 0.0
    clamp_names: tuple[str, ...] = ()
    clamp_progress: float = 1.0
    """ε of the clamp anneal: 0 at the first training step, 1 after the ramp and at evaluation."""
    inner_step: int = 0
    """The step t of the training unroll being computed (its draws belong to it)."""

    def __init__(self, data_shape, n_latents, device="cpu", seed=0, **hparams):
        super().__init__(data_shape, n_latents, device=device, seed=seed, **hparams)
        with seeded(self.seed, self.device):
            params = {
                "phi": torch.randn(self.dim, self.n_latents, device=self.device)
                * self.hp["init_scale"],
                "log_sigma_x": torch.zeros(self.dim, device=self.device),
                "log_bias": torch.full((self.n_latents,), -3.0, device=self.device),
            }
            params.update(self._state_parameters())
        self.params = nn.ParameterDict({k: nn.Parameter(v) for k, v in params.items()})
        self.temperature = self.eval_temperature

    @classmethod
    def check_hparams(cls, values):
        if values["n_chunks"] > values["t_train"]:
            raise HyperparameterError(
                f"{cls.name}: n_chunks ({values['n_chunks']}) cannot exceed t_train "
                f"({values['t_train']}): every chunk needs at least one step.")
        for name in cls.clamp_names:
            if values["clamp_start"] > values[name]:
                raise HyperparameterError(
                    f"{cls.name}: clamp_start ({values['clamp_start']}) cannot exceed {name} "
                    f"({values[name]}): the soft clamps widen from clamp_start to their values "
                    "during training.")

    # -- hooks ---------------------------------------------------------------------------
    def _state_parameters(self) -> dict[str, Tensor]:
        raise NotImplementedError

    def initial_state(self, n: int) -> State:
        raise NotImplementedError

    def draw(self, state: State) -> Tensor:
        raise NotImplementedError

    def update(self, state: State, sample: Tensor, lik: Likelihood) -> State:
        raise NotImplementedError

    def code(self, state: State, sample: Tensor) -> Tensor:
        raise NotImplementedError

    def kl(self, state: State, ref: State) -> Tensor:
        raise NotImplementedError

    def inference(self, state: State, lik: Likelihood) -> Inference:
        raise NotImplementedError

    # -- shared pieces -------------------------------------------------------------------
    @property
    def bias(self) -> Tensor:
        """b = exp(log_bias) (K,), the per-unit metabolic cost."""
        return torch.exp(self.params["log_bias"])

    def pixel_log_sigma(self) -> Tensor:
        """Per-pixel log σ (D,), soft-clamped symmetrically."""
        return softclamp_sym(self.params["log_sigma_x"], self.hp["pixel_log_sigma_clamp"])

    def clamp(self, name: str) -> float:
        """The current value of the soft clamp ``name`` (one of ``clamp_names``):
        clamp_start + ε·(c − clamp_start), ε = ``clamp_progress``; exactly c when ε = 1 (after
        the ramp and at evaluation)."""
        c = float(self.hp[name])
        if self.clamp_progress >= 1.0:
            return c
        start = float(self.hp["clamp_start"])
        return start + self.clamp_progress * (c - start)

    def likelihood(self, x: Tensor) -> Likelihood:
        return Likelihood.of(x, self.params["phi"], self.pixel_log_sigma())

    def dictionary(self) -> Tensor:
        """Φᵀ (K, D): row k is the image unit k's code adds to the reconstruction."""
        return self.params["phi"].detach().T

    # -- training ------------------------------------------------------------------------
    def _train_temperature(self, step: int, total: int) -> float:
        """Sampler temperature during training (constant unless a subclass anneals it)."""
        return self.eval_temperature

    def _begin_train_step(self, step: int, total: int, n_train: int) -> None:
        """Set the schedules of training step ``step`` of ``total`` (before its minibatch): the
        sampler temperature and ε = linear_anneal(step, total, clamp_ramp, 0, 1) of the clamp
        anneal. ``n_train``: the number of training inputs (epochs of :func:`minibatches` are
        ⌈n_train / batch_size⌉ steps). Subclasses extend it."""
        self.temperature = self._train_temperature(step, total)
        self.clamp_progress = linear_anneal(step, total, self.hp["clamp_ramp"], 0.0, 1.0)

    def _end_training(self) -> None:
        """Back to the evaluation settings: evaluation temperature, clamps at their values."""
        self.temperature = self.eval_temperature
        self.clamp_progress = 1.0

    def _on_train_state(self, t: int, state: State) -> None:
        """Called with the new state s_t of step t of a training unroll (default: nothing)."""

    def chunk_loss(self, state: State, lik: Likelihood, beta: float,
                   size: int, start: int = 0) -> tuple[State, Tensor]:
        """``size`` training steps from ``state``, the first being step ``start`` of the unroll:
        returns the last state and Σ_t L_t (a scalar with its autograd graph), L_t = mean_b
        [NLL(x | a_t) + β Σ_k KL(q_t ‖ q_{t−1})_k] with a_t = code of a fresh draw of q_t.
        Subclasses may override with a fused equivalent."""
        loss = lik.log_norm.new_zeros(())
        for t in range(start, start + size):
            self.inner_step = t
            new = self.update(state, self.draw(state), lik)
            self._on_train_state(t, new)
            a = self.code(new, self.draw(new))
            loss = loss + lik.mean_nll(a) + beta * self.kl(new, state).sum(1).mean()
            state = new
        return state, loss

    def unroll_loss(self, x: Tensor, beta: float) -> float:
        """Run the t_train-step loop on x (B, D), backpropagating each chunk's share of the loss
        (1/t_train) Σ_t L_t as soon as the chunk ends; returns the loss value. Gradients
        accumulate in ``.grad`` (the caller zeroes them and steps the optimizer)."""
        t_train = self.hp["t_train"]
        state = self.initial_state(x.shape[0])
        total, start = 0.0, 0
        for size in chunk_sizes(t_train, self.hp["n_chunks"]):
            state, loss = self.chunk_loss(state, self.likelihood(x), beta, size, start)
            start += size
            (loss / t_train).backward()
            total += float(loss.detach())
            state = tuple(s.detach() for s in state)
        return total / t_train

    # the suite's loop (:mod:`suite.loop`) runs these
    def fit(self, train: Tensor, budget: Budget, progress: ProgressFactory = null_progress,
            val: Tensor | None = None) -> "IterativeVAE":
        """The suite's training loop; back to the evaluation settings however it ends."""
        try:
            return super().fit(train, budget, progress, val)
        finally:
            self._end_training()

    def begin_training(self, train: Tensor, total_steps: int, val: Tensor | None) -> None:
        self._n_train = int(train.shape[0])
        self._train_params = list(self.params.parameters())
        self._optimizer = torch.optim.Adamax(self._train_params, lr=self.hp["lr"],
                                             weight_decay=self.hp["weight_decay"])

    def training_step(self, xb: Tensor, step: int, total_steps: int) -> float:
        """One Adamax step on the unrolled loss of the batch xb (B, D) (:meth:`unroll_loss`, at
        the step's learning rate, β and schedules); returns the loss value."""
        opt = self._optimizer
        beta = apply_schedules(opt, step, total_steps, self.hp)
        self._begin_train_step(step, total_steps, self._n_train)
        opt.zero_grad(set_to_none=True)
        loss = self.unroll_loss(xb, beta)
        clip_gradients(self._train_params, self.hp["grad_clip"])
        opt.step()
        return loss

    def end_training(self) -> None:
        self._optimizer = self._train_params = None
        if self.n_steps_ > 0:
            self._check_trained(self.n_steps_ - 1)

    def _check_trained(self, step: int) -> None:
        """After the last optimizer step (step ``step``), whose result no loss has checked: stop
        with :class:`~suite.errors.NonFiniteLossError` when a parameter is NaN or infinite,
        rather than leave the failure to evaluation. Subclasses extend it."""
        for name, p in self.params.items():
            finite = torch.isfinite(p.detach())
            if not bool(finite.all()):
                value = float(p.detach()[~finite].flatten()[0])
                raise non_finite_error(self.name, f"the parameter {name} (after the optimizer "
                                                  "step)", value, step)

    # -- inference -----------------------------------------------------------------------
    @property
    def test_steps(self) -> int:
        """The evaluation horizon t_test."""
        return int(self.hp["t_test"])

    @property
    def train_steps(self) -> int:
        """The training horizon t_train."""
        return int(self.hp["t_train"])

    def evaluation_step(self, lik: Likelihood) -> Callable[[State], State]:
        """The map s_{t−1} ↦ s_t of one inference step on ``lik``'s inputs (a draw at the current
        temperature, then the update), for use without autograd. Subclasses may return a fused
        equivalent that precomputes what does not change between steps."""
        return lambda state: self.update(state, self.draw(state), lik)

    @torch.no_grad()
    def infer_trajectory(self, x: Tensor,
                         steps: Iterable[int]) -> Iterator[tuple[int, Inference, Tensor]]:
        """Yield ``(t, Inference of s_t, ‖s_t − s_{t−1}‖ per input (B,))`` at the requested steps
        (see the class docstring). Steps must be integers ≥ 1."""
        wanted = sorted({int(s) for s in steps})
        if not wanted or wanted[0] < 1:
            raise ValueError(f"{self.name}: trajectory steps must be integers >= 1, got {wanted}")
        lik = self.likelihood(x)
        step = self.evaluation_step(lik)
        state = self.initial_state(x.shape[0])
        pending = iter(wanted)
        target = next(pending)
        for t in range(1, wanted[-1] + 1):
            new = step(state)
            if t == target:
                delta = torch.sqrt(sum((n - s).square().sum(1) for n, s in zip(new, state)))
                yield t, self.inference(new, lik), delta
                target = next(pending, None)
            state = new

    def infer(self, x: Tensor) -> Inference:
        """The Inference after ``t_test`` steps."""
        *_, (_, inf, _) = self.infer_trajectory(x, [self.test_steps])
        return inf
