"""The suite's training loop (suite/loop.py): budget, minibatches, NaN guard, loss curve, early
stopping, on a scripted toy method whose every step and score the tests choose."""
from __future__ import annotations

import functools
import math

import pytest
import torch

import suite.loop as loop
from progress_recorder import RecordingProgress
from suite.errors import DataError, NonFiniteLossError
from suite.loop import TrainedByLoop, run_training
from suite.method import Budget, Inference, Method
from suite.registry import METHODS, discover
from suite.seeding import make_generator
from suite.training import Deadline

N, D, BS = 10, 3, 4          # 10 rows, batches of 4: epochs of 3 steps (4, 4, 2 rows)
PER_EPOCH = 3


class Scripted(TrainedByLoop, Method):
    """A toy: step s returns ``losses[s]`` (default s + 1) and adds 1 to its parameter ``w``;
    validation returns the next of ``scores``; ``clock`` (if set) advances 1 s per step."""

    name = "scripted"
    hparams = {"batch_size": BS}

    def __init__(self, losses=None, scores=None, patience=None, clock=None, seed=0):
        super().__init__((D,), 2, seed=seed)
        self.w = torch.zeros(())
        self.losses, self.scores, self.patience, self.clock = losses, list(scores or []), patience, clock
        self.calls: list[tuple] = []
        self.epochs: list[int] = []
        self.validated_w: list[float] = []
        self.ended = 0

    def training_step(self, batch, step, total_steps):
        self.calls.append((step, total_steps, batch.clone()))
        self.w = self.w + 1.0
        if self.clock is not None:
            self.clock.now += 1.0
        return self.losses[step] if self.losses is not None else float(step + 1)

    def end_of_epoch(self, epoch):
        self.epochs.append(epoch)

    def early_stopping_patience(self):
        return self.patience

    def validation_score(self, val):
        self.validated_w.append(float(self.w))
        return self.scores.pop(0)

    def end_training(self):
        self.ended += 1

    def infer(self, x):
        return Inference(codes=x[:, :2], recon=x)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def data(n=N):
    return torch.arange(n * D, dtype=torch.float32).reshape(n, D)


def fake_deadline(monkeypatch, clock):
    monkeypatch.setattr(loop, "Deadline", functools.partial(Deadline, clock=clock))


# -- budget ---------------------------------------------------------------------------------
def test_epochs_set_the_steps_and_batches_are_seeded_permutations_per_epoch():
    m = Scripted(seed=5)
    x = data()
    progress = RecordingProgress()
    assert m.fit(x, Budget(epochs=2), progress=progress) is m
    total = math.ceil(2 * N / BS)                     # Budget.total_steps: 5
    assert m.n_steps_ == total == len(m.calls)
    assert [c[0] for c in m.calls] == list(range(total)) and {c[1] for c in m.calls} == {total}
    assert [c[2].shape[0] for c in m.calls] == [4, 4, 2, 4, 4]   # no batch straddles an epoch
    g = make_generator("cpu", 5)                      # the method's generator, one draw per epoch
    perms = [torch.randperm(N, generator=g) for _ in range(2)]
    assert torch.equal(torch.cat([c[2] for c in m.calls[:3]]), x[perms[0]])
    assert torch.equal(torch.cat([c[2] for c in m.calls[3:]]), x[perms[1][:8]])
    assert m.epochs == [0]                            # the partial second epoch does not count
    [bar] = progress.bars
    assert bar.total == total and bar.n == total and bar.desc == "scripted"
    assert m.ended == 1


def test_max_steps_caps_the_optimizer_steps():
    m = Scripted()
    progress = RecordingProgress()
    m.fit(data(), Budget(epochs=100, max_steps=3), progress=progress)
    assert len(m.calls) == m.n_steps_ == 3
    assert m.loss_curve_.n_steps == 3 and sum(m.loss_curve_.to_dict()["count"]) == 3
    assert m.loss_curve_.planned_steps == 3 and progress.bars[0].n == 3


def test_max_seconds_stops_after_the_step_during_which_time_ran_out(monkeypatch):
    clock = FakeClock()
    fake_deadline(monkeypatch, clock)
    m = Scripted(clock=clock)
    m.fit(data(), Budget(epochs=100, max_seconds=2.5))   # 1 s per step: 1, 2, 3 > 2.5
    assert len(m.calls) == m.n_steps_ == 3 and m.loss_curve_.n_steps == 3
    assert m.loss_curve_.planned_steps == math.ceil(100 * N / BS)
    assert m.ended == 1
    assert m.loss_curve_.stopped_by == "time limit" == m.loss_curve_.to_dict()["stopped_by"]


def test_time_running_out_on_the_last_planned_step_is_the_budget(monkeypatch):
    clock = FakeClock()
    fake_deadline(monkeypatch, clock)
    m = Scripted(clock=clock)
    m.fit(data(), Budget(epochs=1, max_seconds=PER_EPOCH - 0.5))   # runs out at the last step
    assert m.n_steps_ == PER_EPOCH and m.loss_curve_.stopped_by == "budget"


def test_an_empty_training_set_is_a_data_error():
    m = Scripted()
    with pytest.raises(DataError, match="scripted: the training set is empty"):
        m.fit(data(0), Budget(epochs=1))
    assert m.calls == []


def test_no_time_limit_runs_the_whole_budget(monkeypatch):
    clock = FakeClock()
    fake_deadline(monkeypatch, clock)
    m = Scripted(clock=clock)
    m.fit(data(), Budget(epochs=4, max_seconds=None))
    assert m.n_steps_ == math.ceil(4 * N / BS) == 10
    assert m.loss_curve_.stopped_by == "budget"


# -- NaN guard and loss curve ---------------------------------------------------------------
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), torch.tensor(float("-inf"))])
def test_non_finite_loss_stops_the_run_naming_the_method_and_step(bad):
    m = Scripted(losses=[1.0, 2.0, bad, 4.0])
    with pytest.raises(NonFiniteLossError, match=r"scripted: the training loss became -?(nan|inf) "
                                                 r"at step 2\b"):
        m.fit(data(), Budget(epochs=100, max_steps=4))
    assert len(m.calls) == 3 and m.n_steps_ == 2 and m.loss_curve_.n_steps == 2
    assert m.ended == 0                               # end_training only after a normal end


def test_loss_curve_has_one_entry_per_step_with_the_returned_losses():
    losses = [5.0, 4.0, torch.tensor(3.5), 3.0, 2.0, 1.0, 0.5]
    m = Scripted(losses=losses)
    m.fit(data(), Budget(epochs=100, max_steps=7))
    curve = m.loss_curve_.to_dict()
    assert curve["total_steps"] == m.n_steps_ == 7
    assert curve["count"] == [1] * 7 and curve["steps"] == list(range(7))
    assert curve["loss"] == [float(v) for v in losses]
    assert m.loss_curve_.schedule_end == 0.0          # no beta_ramp / temp_ramp hyperparameter


def test_a_failing_step_propagates_and_counts_only_the_finished_steps():
    class Broken(Scripted):
        def training_step(self, batch, step, total_steps):
            if step == 1:
                raise RuntimeError("boom")
            return super().training_step(batch, step, total_steps)

    m = Broken()
    with pytest.raises(RuntimeError, match="boom"):
        m.fit(data(), Budget(epochs=3))
    assert m.n_steps_ == 1 and m.ended == 0


# -- early stopping -------------------------------------------------------------------------
def test_early_stopping_keeps_the_best_scoring_state():
    # scores at the end of epochs 0..3: the best (3.0) after epoch 1 (w = 6), then 2 stale ones
    m = Scripted(scores=[1.0, 3.0, 2.0, 2.5, 9.0], patience=2)
    progress = RecordingProgress()
    m.fit(data(), Budget(epochs=20), progress=progress, val=data(5))
    assert m.validated_w == [3.0, 6.0, 9.0, 12.0]     # once per epoch, then stopped
    assert m.n_steps_ == 4 * PER_EPOCH and m.loss_curve_.n_steps == 12
    assert float(m.w) == 6.0                          # the state of the best score, restored
    assert m.loss_curve_.stopped_by == "early stopping"
    reports = [p for p in progress.bars[0].postfixes if "val_score" in p]
    assert [r["val_score"] for r in reports] == [1.0, 3.0, 2.0, 2.5]
    assert [r["best"] for r in reports] == [1.0, 3.0, 3.0, 3.0]
    assert m.ended == 1


def test_early_stopping_scores_the_last_partial_epoch_and_the_timeout(monkeypatch):
    m = Scripted(scores=[1.0, 2.0, 0.5], patience=5)
    m.fit(data(), Budget(epochs=2), val=data(5))      # 5 steps: epoch end at 3, last step at 5
    assert m.validated_w == [3.0, 5.0] and float(m.w) == 5.0
    clock = FakeClock()
    fake_deadline(monkeypatch, clock)
    m = Scripted(scores=[1.0, 0.5, 2.0], patience=5, clock=clock)
    m.fit(data(), Budget(epochs=50, max_seconds=4.5), val=data(5))   # out of time after step 5
    assert m.validated_w == [3.0, 5.0] and m.n_steps_ == 5
    assert float(m.w) == 3.0                          # the better first score's state
    assert m.loss_curve_.stopped_by == "time limit"


def test_without_val_or_patience_nothing_is_scored():
    m = Scripted(scores=[], patience=2)
    m.fit(data(), Budget(epochs=3))                   # no val
    m2 = Scripted(scores=[])
    m2.fit(data(), Budget(epochs=3), val=data(5))     # no patience
    assert m.validated_w == m2.validated_w == [] and m.n_steps_ == m2.n_steps_ == 8


# -- the built-in families ------------------------------------------------------------------
def test_training_step_is_required():
    class NoStep(TrainedByLoop, Method):
        name = "nostep"
        hparams = {"batch_size": 2}

        def infer(self, x):
            return Inference(codes=x, recon=x)

    with pytest.raises(TypeError, match="training_step"):
        NoStep((2,), 2)


def test_every_built_in_method_is_trained_by_the_loop():
    discover()
    for name in ("lca", "ista", "fista", "pvae", "gvae", "cvae", "lvae", "ipvae", "igvae", "bihm"):
        cls = METHODS.get(name)
        assert issubclass(cls, TrainedByLoop), name
        assert cls.training_step is not TrainedByLoop.training_step, name


@pytest.mark.parametrize("name", ["fista", "gvae", "ipvae", "bihm"])
def test_a_family_takes_at_most_max_steps(name):
    discover()
    cls = METHODS.get(name)
    m = cls((1, 4, 4), 4, seed=0, **cls.smoke_hparams)
    x = torch.rand(200, 16, generator=torch.Generator().manual_seed(0))
    if name == "bihm":
        x = (x > 0.5).float()
    m.fit(x, Budget(epochs=50, max_steps=3), val=x[:20])
    assert m.n_steps_ == 3 == m.loss_curve_.n_steps
    assert sum(m.loss_curve_.to_dict()["count"]) == 3
