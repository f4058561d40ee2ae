"""Shared training helpers: on-device minibatches, schedules, the NaN guard, time limits.

The suite's training loop (:mod:`suite.loop`) runs every family's training steps with the
minibatches, the NaN guard and the time limit defined here; the families' steps draw on the
schedules, so that schedules and safeguards are the same everywhere.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Iterator

import torch
from torch import Tensor

from . import hparams as hp
from .errors import NonFiniteLossError
from .method import Budget


def minibatches(x: Tensor, batch_size: int, total_steps: int,
                generator: torch.Generator) -> Iterator[tuple[int, Tensor]]:
    """Yield ``(step, batch)`` for ``total_steps`` steps over shuffled epochs of ``x`` (N, D).

    The data stay on their device; each epoch is a fresh permutation drawn from ``generator``
    (on the data's device). A batch never straddles two epochs; the last one of an epoch may be
    smaller than ``batch_size``.
    """
    n = x.shape[0]
    bs = max(1, min(int(batch_size), n))
    step = 0
    while step < total_steps:
        perm = torch.randperm(n, generator=generator, device=generator.device)
        if perm.device != x.device:
            perm = perm.to(x.device)
        for start in range(0, n, bs):
            if step >= total_steps:
                return
            yield step, x[perm[start:start + bs]]
            step += 1


def steps_per_epoch(n: int, batch_size: int) -> int:
    """The minibatches of one epoch of :func:`minibatches` over ``n`` rows (the last may be
    smaller than ``batch_size``)."""
    return math.ceil(n / max(1, min(int(batch_size), n)))


def warmup_cosine(step: int, total: int, warmup_frac: float, lr: float, lr_min: float) -> float:
    """Learning rate at ``step`` of ``total``: linear warm-up from ~0 to ``lr`` over the first
    ``warmup_frac`` of steps, then cosine decay to ``lr_min`` at the last step."""
    warm = int(round(warmup_frac * total))
    if warm > 0 and step < warm:
        return lr * (step + 1) / warm
    rest = max(1, total - warm - 1)
    progress = min(1.0, (step - warm) / rest)
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * progress))


def linear_anneal(step: int, total: int, frac: float, start: float, end: float) -> float:
    """``start`` at step 0, linearly to ``end`` at ``frac * total``, then held at ``end``.

    Used for β ramps (1e-4 -> target) and temperature annealing (1 -> 0.05)."""
    span = frac * total
    if span <= 0:
        return end
    t = min(1.0, step / span)
    return start + (end - start) * t


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def schedule_hparams(*, lr: float, lr_min: float, warmup: float, batch_size: int,
                     grad_clip: float, beta_start: float, beta_ramp: float) -> dict[str, hp.Hyper]:
    """The hyperparameters of the shared training schedule, with the caller's defaults.

    ``lr``/``lr_min``/``warmup``: :func:`warmup_cosine`; ``beta_start``/``beta_ramp``: the β ramp
    towards the method's own ``beta`` (:func:`apply_schedules`); ``batch_size``; ``grad_clip``:
    gradient-norm clip, 0 for none (:func:`clip_gradients`).
    """
    return {
        "beta_start": hp.NonNegative(beta_start, "β at the start of the ramp"),
        "beta_ramp": hp.Fraction(beta_ramp, "fraction of the steps over which β ramps to its target"),
        "lr": hp.Positive(lr, "learning rate (peak of the warm-up/cosine schedule)"),
        "lr_min": hp.NonNegative(lr_min, "learning rate at the end of the cosine decay"),
        "warmup": hp.Fraction(warmup, "fraction of the steps of linear learning-rate warm-up"),
        "batch_size": hp.Positive(batch_size, "training minibatch size"),
        "grad_clip": hp.NonNegative(grad_clip, "gradient-norm clip (0: no clipping)"),
    }


def apply_schedules(optimizer: torch.optim.Optimizer, step: int, total: int,
                    h: dict) -> float:
    """Set ``optimizer``'s learning rate for ``step`` of ``total`` and return β at that step,
    from the hyperparameters ``h`` of :func:`schedule_hparams` plus the target ``beta``."""
    set_lr(optimizer, warmup_cosine(step, total, h["warmup"], h["lr"], h["lr_min"]))
    return linear_anneal(step, total, h["beta_ramp"], h["beta_start"], h["beta"])


def clip_gradients(params, max_norm: float) -> None:
    """Clip the total gradient norm of ``params`` at ``max_norm`` (0: no clipping)."""
    if max_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, max_norm)


def temperature_hparams(*, start: float, final: float, ramp: float,
                        sampler: str = "sampler") -> dict[str, hp.Hyper]:
    """``temp_start``, ``temp_final``, ``temp_ramp``: a sampler temperature annealed linearly from
    ``start`` to ``final`` over the first ``ramp`` of the steps (:func:`annealed_temperature`)."""
    return {
        "temp_start": hp.Positive(start, f"{sampler} temperature at the start of the anneal"),
        "temp_final": hp.Positive(final, f"{sampler} temperature at the end of the anneal"),
        "temp_ramp": hp.Fraction(ramp, "fraction of the steps over which the temperature anneals"),
    }


def annealed_temperature(step: int, total: int, h: dict) -> float:
    """The temperature at ``step`` of ``total`` from the hyperparameters of
    :func:`temperature_hparams`."""
    return linear_anneal(step, total, h["temp_ramp"], h["temp_start"], h["temp_final"])


def non_finite_error(method: str, what: str, value, step: int,
                     hint: str = "a smaller beta, or gradient clipping") -> NonFiniteLossError:
    """The error that stops a diverged run: ``what`` (the training loss, a parameter, a rate)
    became ``value`` at training step ``step``; the message says what to try (a smaller learning
    rate, then ``hint``). The caller raises it."""
    return NonFiniteLossError(
        f"{method}: {what} became {value} at step {step}. The run was stopped "
        "and nothing was recorded as a result. Try a smaller learning rate (--set "
        f"{method}.lr=...)" + (f", {hint}." if hint else "."))


def check_finite(loss: Tensor | float, step: int, method: str) -> float:
    """Stop the run with a clear error when the loss is NaN or infinite; return it as a float
    (for :meth:`suite.loss_curve.LossCurve.add`)."""
    value = float(loss)
    if not math.isfinite(value):
        raise non_finite_error(method, "the training loss", value, step)
    return value


class Deadline:
    """Wall-clock limit of a :class:`Budget` (``expired()`` is False when it has none), measured
    from construction with ``clock`` (seconds; :func:`time.perf_counter` unless a test fakes it)."""

    def __init__(self, budget: Budget, clock: Callable[[], float] = time.perf_counter):
        self.limit = budget.max_seconds
        self.clock = clock
        self.start = clock()

    def expired(self) -> bool:
        return self.limit is not None and self.clock() - self.start > self.limit
