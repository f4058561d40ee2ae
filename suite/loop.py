"""The suite's training loop: the one skeleton every minibatch-trained family runs.

A family supplies what one training step does (:meth:`TrainedByLoop.training_step`) and a few
optional hooks; :func:`run_training` owns everything else, so that budgets, safeguards and the
recorded loss are the same for every method:

- the minibatches: each epoch a fresh permutation of the training rows drawn from
  ``method.generator`` (:func:`suite.training.minibatches`), batches of the method's
  ``batch_size`` hyperparameter (:meth:`TrainedByLoop.train_batch_size`);
- the budget: ``total_steps = budget.total_steps(N, batch_size)`` (``epochs`` passes capped by
  ``max_steps``) is never exceeded, and the wall-clock limit ``max_seconds``
  (:class:`suite.training.Deadline`, started when ``fit`` starts) is checked after every step:
  the step during which it ran out is the last one (so at least one step is always taken);
- the progress bar (``progress(total=total_steps, desc=method.name)``), advanced once per step;
- the NaN/inf guard: a non-finite step loss stops the run with
  :class:`~suite.errors.NonFiniteLossError` naming the method and the step
  (:func:`suite.training.check_finite`);
- the loss curve: ``method.loss_curve_``, a :class:`suite.loss_curve.LossCurve` planned for
  ``total_steps`` with the ``schedule_end`` of the method's hyperparameters, one value per
  optimizer step (the convergence flag reads it);
- ``method.n_steps_``: the number of optimizer steps actually taken (at most ``total_steps``),
  and why training ended, ``method.loss_curve_.stopped_by``: ``"budget"`` (every planned step
  taken), ``"time limit"`` (``max_seconds`` ran out first: the run's numbers then depend on the
  machine's speed and load, and the reports mark it) or ``"early stopping"``;
- early stopping on ``val``, the held-out slice of the training split, for a method that asks
  for it (``early_stopping_patience``): the held-out score is computed at the end of every
  epoch, at the last step and when time runs out; training stops after ``patience``
  scores without a better one, and the best-scoring state is restored at the end.

One step, in order (``step`` counts from 0, ``epoch`` = the epochs completed before it)::

    loss = method.training_step(batch, step, total_steps)     # forward, backward, update
    check_finite(loss, step, method.name); loss_curve_.add(step, loss); n_steps_ = step + 1
    bar.update(1); bar.set_postfix(**method.progress_postfix(step, loss))   # unless None
    if the step completed an epoch: method.end_of_epoch(epoch)
    out_of_time = deadline.expired()
    if early stopping and (the step completed an epoch, or was the last, or out_of_time):
        score = method.validation_score(val)   # better: snapshot method.state_dict(); else stale += 1
    stop if out_of_time or stale >= patience

Hooks of :class:`TrainedByLoop` (shapes: N training rows, M held-out rows, B ≤ batch_size rows
of a minibatch, D = ``method.dim`` features; tensors on ``method.device``)
-----------------------------------------------------------------------------------------------
``training_step(batch (B, D), step: int, total_steps: int) -> float``  (required)
    One optimizer step (or closed-form update) on ``batch``: the family's own forward,
    backward, gradient clipping and optimizer step, with its schedules at ``step`` of
    ``total_steps``. Returns the loss of the step to record (a Python float or a 0-d tensor,
    in the family's own units; the loop checks it is finite). It may check intermediate
    quantities itself before updating (``check_finite`` raises the same error).
``begin_training(train (N, D), total_steps: int, val (M, D) | None) -> None``
    Once, before the first step (and before the progress bar opens): build the optimizer,
    reset per-fit state. ``method.loss_curve_`` and ``n_steps_`` are already reset.
``end_of_epoch(epoch: int) -> None``
    After the last step of every *complete* epoch (``epoch`` from 0; a final partial epoch
    does not count): e.g. resample dead dictionary atoms.
``early_stopping_patience() -> int | None``
    None (default): no early stopping. An integer p: with ``val`` given, stop after p held-out
    scores in a row without a better one, and keep the best-scoring state.
``validation_score(val (M, D)) -> float``
    The held-out score, higher is better (called only when early stopping is on and ``val`` is
    not None). It must not change the method's parameters or draw from ``method.generator``.
    The loop shows it on the bar as ``validation_name`` (a class attribute), beside ``best``
    and ``train_loss`` (the mean recorded loss since the previous score).
``end_training() -> None``
    After the last step when training ended normally (not after an error), once the best state
    is restored: back to evaluation mode, checks of the final parameters, warnings.
``progress_postfix(step: int, loss: float) -> dict | None``
    What the bar shows after the step (default: the loss); None shows nothing new.
``train_batch_size() -> int``
    The minibatch size (default: the ``batch_size`` hyperparameter).

The best state is taken with ``method.state_dict()`` and restored with
``method.load_state_dict()`` (the checkpoint interface of :class:`suite.method.Method`); when the
last score was the best, the current state is already the best and nothing is restored.
"""
from __future__ import annotations

import abc
import math
from typing import Any, ClassVar

from torch import Tensor

from .errors import DataError
from .loss_curve import BUDGET, EARLY_STOPPING, TIME_LIMIT, LossCurve, schedule_end
from .method import Budget
from .progress import ProgressFactory, null_progress
from .training import Deadline, check_finite, minibatches, steps_per_epoch


def run_training(method: Any, train: Tensor, budget: Budget,
                 progress: ProgressFactory = null_progress, val: Tensor | None = None) -> int:
    """Train ``method`` (a :class:`TrainedByLoop`) on ``train`` (N, D) within ``budget``; returns
    the number of optimizer steps taken (also ``method.n_steps_``). See the module docstring."""
    deadline = Deadline(budget)
    n = int(train.shape[0])
    if n == 0:
        raise DataError(f"{method.name}: the training set is empty; there is nothing to fit.")
    batch_size = method.train_batch_size()
    total = budget.total_steps(n, batch_size)
    per_epoch = steps_per_epoch(n, batch_size)
    method.loss_curve_ = LossCurve(total, schedule_end(method.hp))
    method.n_steps_ = 0
    method.begin_training(train, total, val)
    patience = method.early_stopping_patience() if val is not None else None
    best_score, best_state, stale = -math.inf, None, 0
    since_sum, since_n = 0.0, 0  # recorded losses since the last held-out score
    stopped_by = BUDGET
    with progress(total=total, desc=method.name) as bar:
        for step, batch in minibatches(train, batch_size, total, method.generator):
            value = check_finite(method.training_step(batch, step, total), step, method.name)
            method.loss_curve_.add(step, value)
            method.n_steps_ = step + 1
            bar.update(1)
            postfix = method.progress_postfix(step, value)
            if postfix:
                bar.set_postfix(**postfix)
            epoch_done = (step + 1) % per_epoch == 0
            if epoch_done:
                method.end_of_epoch((step + 1) // per_epoch - 1)
            out_of_time = deadline.expired()
            if patience is not None:
                since_sum, since_n = since_sum + value, since_n + 1
                if epoch_done or step + 1 == total or out_of_time:
                    score = float(method.validation_score(val))
                    if score > best_score:
                        best_score, best_state, stale = score, method.state_dict(), 0
                    else:
                        stale += 1
                    bar.set_postfix(**{"train_loss": since_sum / since_n,
                                       method.validation_name: score, "best": best_score})
                    since_sum, since_n = 0.0, 0
                    if stale >= patience:
                        stopped_by = EARLY_STOPPING if step + 1 < total else BUDGET
                        break
            if out_of_time:
                stopped_by = TIME_LIMIT if step + 1 < total else BUDGET
                break
    method.loss_curve_.stopped_by = stopped_by
    if best_state is not None and stale > 0:  # stale == 0: the current state is the best
        method.load_state_dict(best_state)
    method.end_training()
    return method.n_steps_


class TrainedByLoop(abc.ABC):
    """Mixin for a :class:`suite.method.Method` trained by :func:`run_training`: its ``fit`` runs
    the suite's loop; the family implements :meth:`training_step` (abstract) and, where it needs
    them, the other hooks (all documented, with shapes, in the module docstring). List it before
    ``Method`` among the bases, so that its ``fit`` is the one used:
    ``class MyFamily(TrainedByLoop, Method)``."""

    validation_name: ClassVar[str] = "val_score"
    """The bar's name for :meth:`validation_score`."""
    n_steps_: int = 0
    """Optimizer steps taken by the last ``fit``."""

    def fit(self, train: Tensor, budget: Budget, progress: ProgressFactory = null_progress,
            val: Tensor | None = None):
        run_training(self, train, budget, progress, val)
        return self

    # -- hooks -------------------------------------------------------------------------------
    @abc.abstractmethod
    def training_step(self, batch: Tensor, step: int, total_steps: int) -> float:
        """One optimizer step on ``batch`` (B, D); returns its loss."""

    def begin_training(self, train: Tensor, total_steps: int, val: Tensor | None) -> None:
        """Before the first step (default: nothing)."""

    def end_of_epoch(self, epoch: int) -> None:
        """After every complete epoch (default: nothing)."""

    def early_stopping_patience(self) -> int | None:
        """Held-out scores without improvement before stopping; None: no early stopping."""
        return None

    def validation_score(self, val: Tensor) -> float:
        """The held-out score (higher is better) of early stopping."""
        raise NotImplementedError

    def end_training(self) -> None:
        """After the last step of a fit that ended normally (default: nothing)."""

    def progress_postfix(self, step: int, loss: float) -> dict | None:
        """What the progress bar shows after ``step`` (default: the loss)."""
        return {"loss": f"{loss:.4g}"}

    def train_batch_size(self) -> int:
        """The minibatch size: the ``batch_size`` hyperparameter."""
        return self.hp["batch_size"]
