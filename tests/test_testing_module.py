"""suite.testing, the public conformance battery: a correct method and dataset pass it, and every
check catches the breakage it exists for (each "mutant" below breaks one rule and must fail the
check named after that rule, with a message saying why). Also the default load_state_dict of
suite.method.Method: tensors created in fit are restored into a fresh instance, a module created
in fit or an unexpected entry is a clear CheckpointError."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from suite.data.sources import Availability, Dataset, DatasetSource
from suite.errors import CheckpointError, SuiteError
from suite.hparams import Positive
from suite.loss_curve import LossCurve
from suite.method import Budget, Inference, Method
from suite.progress import null_progress
from suite.seeding import seeded
from suite.testing import (CheckSkipped, check_dataset, check_method, dataset_checks,
                           method_checks, parametrize_with_checks, run_checks, steps_taken)
from suite.training import minibatches


# -- a correct method, and mutants that each break one rule ----------------------------------
class Good(Method):
    """A linear autoencoder trained by minibatch gradient steps (a correct plugin)."""

    name = "good"
    family = "other"
    data_kinds = frozenset({"continuous"})
    hparams = {"lr": Positive(0.01, "step size"), "batch_size": Positive(16, "minibatch size")}

    def __init__(self, data_shape, n_latents, device="cpu", seed=0, **hparams):
        super().__init__(data_shape, n_latents, device, seed, **hparams)
        with seeded(self.seed, self.device):
            self.weight = torch.randn(self.n_latents, self.dim, device=self.device) / self.dim ** 0.5

    def total_steps(self, train, budget):
        return budget.total_steps(train.shape[0], self.hp["batch_size"])

    def step(self, batch):
        w = self.weight.clone().requires_grad_(True)
        loss = ((batch @ w.T @ w - batch) ** 2).sum(1).mean()
        loss.backward()
        self.weight = (w - self.hp["lr"] * w.grad).detach()
        return float(loss.detach())

    def fit(self, train, budget, progress=null_progress, val=None):
        total = self.total_steps(train, budget)
        self.loss_curve_, self.n_steps_ = LossCurve(total), 0
        for step, batch in minibatches(train, self.hp["batch_size"], total, self.generator):
            self.loss_curve_.add(step, self.step(batch))
            self.n_steps_ = step + 1
        return self

    def infer(self, x):
        codes = x @ self.weight.T
        return Inference(codes=codes, recon=codes @ self.weight)


class WrongShape(Good):
    """infer returns one code too many per input."""

    def infer(self, x):
        inf = super().infer(x)
        return Inference(codes=torch.cat([inf.codes, inf.codes[:, :1]], 1), recon=inf.recon)


class IgnoresMaxSteps(Good):
    """fit counts its steps from the epochs only."""

    def total_steps(self, train, budget):
        return Budget(epochs=budget.epochs).total_steps(train.shape[0], self.hp["batch_size"])


class NoStepCount(Good):
    """fit records neither n_steps_ nor loss_curve_."""

    def fit(self, train, budget, progress=null_progress, val=None):
        total = self.total_steps(train, budget)
        for _, batch in minibatches(train, self.hp["batch_size"], total, self.generator):
            self.step(batch)
        return self


class GlobalRandom(Good):
    """fit adds noise from torch's unseeded global generator."""

    def fit(self, train, budget, progress=null_progress, val=None):
        super().fit(train, budget, progress, val)
        self.weight = self.weight + 0.01 * torch.randn(self.weight.shape, device=self.device)
        return self


class FixedSeed(Good):
    """Ignores its seed: parameters and minibatch order come from seed 0 whatever the seed."""

    def __init__(self, data_shape, n_latents, device="cpu", seed=0, **hparams):
        super().__init__(data_shape, n_latents, device, 0, **hparams)
        self.seed = int(seed)


class ForgetfulState(Good):
    """state_dict leaves out a tensor that infer uses (an offset created in fit)."""

    def fit(self, train, budget, progress=null_progress, val=None):
        super().fit(train, budget, progress, val)
        self.offset = train.mean(0)
        return self

    def infer(self, x):
        inf = super().infer(x)
        return Inference(codes=inf.codes, recon=inf.recon + self.offset)

    def state_dict(self):
        return {k: v for k, v in super().state_dict().items() if k != "offset"}


class ModuleInFit(Good):
    """Builds an nn.Module in fit, which a fresh instance lacks."""

    def fit(self, train, budget, progress=null_progress, val=None):
        super().fit(train, budget, progress, val)
        with seeded(self.seed, self.device):
            self.head = nn.Linear(self.dim, self.dim, device=self.device)
        return self

    def infer(self, x):
        inf = super().infer(x)
        return Inference(codes=inf.codes, recon=self.head(inf.recon))


class PickledState(Good):
    """state_dict holds an object that torch.load(weights_only=True) refuses."""

    def state_dict(self):
        return {**super().state_dict(), "curve": self.loss_curve_}

    def load_state_dict(self, state):
        return super().load_state_dict({k: v for k, v in state.items() if k != "curve"})


class AcceptsAnything(Good):
    """Ignores unknown hyperparameters."""

    @classmethod
    def resolve_hparams(cls, overrides):
        return super().resolve_hparams({k: v for k, v in overrides.items() if k in cls.hparams})


class NoDescription(Good):
    family = ""


class ClosedForm(Method):
    """PCA-like: a deterministic closed-form fit (no randomness, no optimizer step)."""

    name = "closed"
    data_kinds = frozenset({"continuous"})

    def fit(self, train, budget, progress=null_progress, val=None):
        self.mean = train.mean(0)
        self.components = torch.linalg.svd(train - self.mean, full_matrices=False)[2][:self.n_latents]
        self.n_steps_ = 0
        return self

    def infer(self, x):
        codes = (x - self.mean) @ self.components.T
        return Inference(codes=codes, recon=codes @ self.components + self.mean)


def failing(cls, check: str) -> str:
    """check_method(cls) must fail, naming ``check``; returns the message."""
    with pytest.raises(AssertionError) as info:
        check_method(cls)
    msg = str(info.value)
    assert check in msg, msg
    return msg


def statuses(obj, **kw) -> dict[str, str]:
    return {r.check: r.status for r in run_checks(obj, **kw)}


def test_a_correct_method_passes_every_check():
    results = check_method(Good)
    assert {r.status for r in results} == {"pass"}, results
    names = [r.check for r in results]
    for check in ("check_budget_max_steps[continuous]", "check_checkpoint_fresh_instance[continuous]",
                  "check_same_seed_same_numbers[continuous]",
                  "check_seed_changes_parameters[continuous]", "check_fit_and_infer[continuous]",
                  "check_rejects_unknown_hyperparameter", "check_state_dict_round_trip[continuous]"):
        assert check in names


def test_fit_checks_run_once_per_data_kind():
    class Both(Good):
        data_kinds = frozenset({"continuous", "binary"})

    names = [n for n, _ in method_checks(Both)]
    assert "check_fit_and_infer[binary]" in names and "check_fit_and_infer[continuous]" in names
    assert not any("[binary]" in n for n, _ in method_checks(Good))


def test_wrong_inference_shape_fails_fit_and_infer():
    msg = failing(WrongShape, "check_fit_and_infer[continuous]")
    assert "Inference.codes must have shape (32, 6), got (32, 7)" in msg


def test_ignoring_max_steps_fails_the_budget_check():
    msg = failing(IgnoresMaxSteps, "check_budget_max_steps[continuous]")
    assert "max_steps=3" in msg and "took 400 steps" in msg
    assert statuses(IgnoresMaxSteps)["check_fit_and_infer[continuous]"] == "pass"


def test_no_step_count_fails_the_budget_check_with_advice():
    msg = failing(NoStepCount, "check_budget_max_steps[continuous]")
    assert "neither n_steps_ nor loss_curve_" in msg and "self.n_steps_" in msg


def test_steps_taken_falls_back_to_the_loss_curve():
    m = Good((1, 8, 8), 6)
    m.loss_curve_ = LossCurve(10)
    for step in range(5):
        m.loss_curve_.add(step, 1.0)
    assert steps_taken(m) == {"loss_curve_": 5}
    m.n_steps_ = 2
    assert steps_taken(m) == {"n_steps_": 2, "loss_curve_": 5}
    assert steps_taken(ClosedForm((1, 8, 8), 6)) == {}


def test_unseeded_global_randomness_fails_determinism():
    msg = failing(GlobalRandom, "check_same_seed_same_numbers[continuous]")
    assert "self.generator" in msg


def test_ignoring_the_seed_fails_the_seed_check():
    msg = failing(FixedSeed, "check_seed_changes_parameters[continuous]")
    assert "seeds 7 and 8 give identical fitted parameters" in msg
    assert statuses(FixedSeed)["check_same_seed_same_numbers[continuous]"] == "pass"


def test_a_deterministic_method_skips_the_seed_check():
    got = statuses(ClosedForm)
    assert got.pop("check_seed_changes_parameters[continuous]") == "skip"
    assert got.pop("check_rejects_ill_typed_hyperparameter") == "skip"  # it has none
    assert set(got.values()) == {"pass"}, got
    check_method(ClosedForm)  # skips are not failures


def test_state_missing_from_state_dict_fails_both_round_trips():
    msg = failing(ForgetfulState, "check_state_dict_round_trip[continuous]")
    assert "check_checkpoint_fresh_instance[continuous]" in msg


def test_module_created_in_fit_fails_the_checkpoint_check_clearly():
    msg = failing(ModuleInFit, "check_checkpoint_fresh_instance[continuous]")
    assert "CheckpointError" in msg and "Build every nn.Module in __init__" in msg


def test_state_not_loadable_with_weights_only_fails_the_checkpoint_check():
    msg = failing(PickledState, "check_checkpoint_fresh_instance[continuous]")
    assert "weights_only=True" in msg
    assert statuses(PickledState)["check_state_dict_round_trip[continuous]"] == "pass"


def test_accepting_unknown_hyperparameters_fails():
    msg = failing(AcceptsAnything, "check_rejects_unknown_hyperparameter")
    assert "raised nothing; expected UnknownNameError" in msg


def test_bad_metadata_fails():
    failing(NoDescription, "check_class_metadata")


def test_check_method_rejects_what_is_not_a_method():
    with pytest.raises(TypeError, match="Method subclass"):
        check_method(object)


def test_a_check_can_be_called_alone_and_names_itself():
    checks = dict(method_checks(WrongShape))
    check = checks["check_fit_and_infer[continuous]"]
    assert repr(check) == "check_fit_and_infer[continuous]"
    with pytest.raises(AssertionError, match="Inference.codes"):
        check(WrongShape, device="cpu")
    checks["check_budget_max_steps[continuous]"](WrongShape)  # unrelated checks still pass


def test_checks_leave_the_global_random_state_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    check_method(Good)
    assert torch.equal(torch.rand(3), expected)


# -- load_state_dict: tensors created in fit, modules, unexpected entries ---------------------
def test_load_state_dict_creates_tensors_made_in_fit():
    a = ClosedForm((1, 8, 8), 6).fit(torch.randn(20, 64), Budget())
    b = ClosedForm((1, 8, 8), 6)
    assert not hasattr(b, "mean")
    b.load_state_dict(a.state_dict())
    assert torch.equal(b.mean, a.mean) and torch.equal(b.components, a.components)
    assert set(b.state_dict()) == {"mean", "components"}


def test_load_state_dict_raises_on_a_module_made_in_fit():
    a = ModuleInFit((1, 8, 8), 6).fit(torch.randn(20, 64), Budget(max_steps=1))
    with pytest.raises(CheckpointError, match=r"module\(s\) \['head'\].*__init__"):
        ModuleInFit((1, 8, 8), 6).load_state_dict(a.state_dict())


def test_load_state_dict_raises_on_unexpected_and_missing_entries():
    m = Good((1, 8, 8), 6)
    state = m.state_dict()
    with pytest.raises(CheckpointError, match=r"unexpected entries \['note'\]"):
        m.load_state_dict({**state, "note": "hello"})
    with pytest.raises(CheckpointError, match="unexpected entries"):
        m.load_state_dict({**state, "generator": torch.zeros(3)})
    with pytest.raises(CheckpointError, match="unexpected entries"):  # an existing non-tensor
        m.load_state_dict({**state, "dim": torch.tensor(3)})
    with pytest.raises(CheckpointError, match=r"lacks \['weight'\]") as info:
        m.load_state_dict({})
    assert isinstance(info.value, (KeyError, SuiteError))
    with pytest.raises(CheckpointError, match="a tensor here"):
        m.load_state_dict({"weight": {"w": torch.zeros(1)}})


def test_load_state_dict_changes_nothing_when_it_refuses():
    m = Good((1, 8, 8), 6)
    before = m.weight.clone()
    with pytest.raises(CheckpointError):
        m.load_state_dict({"weight": torch.zeros_like(before), "note": 1})
    assert torch.equal(m.weight, before)


# -- datasets ---------------------------------------------------------------------------------
class GoodData(DatasetSource):
    name = "goodset"
    description = "labelled Gaussian noise (tests)"
    shape = (1, 2, 3)
    labelled = True
    knn_sizes = (5,)
    embedded = True

    def make(self):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(30, 6, generator=g)
        y = torch.arange(30) % 3
        return dict(train=x[:20], val=x[20:], train_labels=y[:20], val_labels=y[20:])

    def load(self, data_dir, cache_dir):
        return Dataset(self.name, shape=self.shape, knn_sizes=self.knn_sizes, **self.make())


class BinaryData(GoodData):
    name = "binset"
    is_binary = True
    labelled = False
    knn_sizes = ()

    def load(self, data_dir, cache_dir):
        d = self.make()
        return Dataset(self.name, (d["train"] > 0).float(), (d["val"] > 0).float(), self.shape,
                       is_binary=True)


class WrongDeclaredShape(GoodData):
    def load(self, data_dir, cache_dir):
        return dataclasses.replace(super().load(data_dir, cache_dir), shape=(2, 3))


class WrongDim(GoodData):
    shape = (1, 3, 3)


class Float64Data(GoodData):
    def make(self):
        return {**super().make(), "val": super().make()["val"].double()}

    def load(self, data_dir, cache_dir):  # Dataset itself does not check dtypes
        return Dataset(self.name, shape=self.shape, **self.make())


class ShortLabels(GoodData):
    def make(self):
        d = super().make()
        return {**d, "train_labels": d["train_labels"][:-1].int()}


class NotBinary(BinaryData):
    def load(self, data_dir, cache_dir):
        d = self.make()
        return Dataset(self.name, d["train"], d["val"], self.shape, is_binary=True)


class Random(GoodData):
    labelled, knn_sizes = False, ()

    def load(self, data_dir, cache_dir):
        return Dataset(self.name, torch.randn(20, 6), torch.randn(10, 6), self.shape)


class TupleAvailability(GoodData):
    def availability(self, data_dir):
        return (True, "here")


class Missing(GoodData):
    embedded = False

    def availability(self, data_dir):
        return Availability(False, "missing (expected goodset.npy)")

    def load(self, data_dir, cache_dir):
        raise AssertionError("load must not be called when the data is not available")


def test_a_correct_dataset_passes(tmp_path):
    for source in (GoodData(), BinaryData, GoodData):
        results = check_dataset(source, data_dir=tmp_path, cache_dir=tmp_path)
        assert {r.status for r in results} == {"pass"}, results


@pytest.mark.parametrize("source,check,words", [
    (WrongDeclaredShape, "check_dataset_shape", "shape (2, 3), the source declares (1, 2, 3)"),
    (WrongDim, "check_dataset_shape", "train must be flat, (N, 9) for samples of shape (1, 3, 3)"),
    (Float64Data, "check_dataset_tensors", "val must be float32, got torch.float64"),
    (ShortLabels, "check_dataset_labels", "train_labels must be an int64 tensor"),
    (NotBinary, "check_dataset_binary", "values other than 0 and 1"),
    (Random, "check_dataset_deterministic", "two loads give different train"),
    (TupleAvailability, "check_dataset_availability", "must return a suite.data.sources.Availability"),
])
def test_dataset_mutants_fail_their_check(tmp_path, source, check, words):
    with pytest.raises(AssertionError) as info:
        check_dataset(source(), data_dir=tmp_path, cache_dir=tmp_path)
    assert check in str(info.value) and words in str(info.value), str(info.value)


def test_unavailable_dataset_skips_the_checks_that_need_it(tmp_path):
    got = statuses(Missing(), data_dir=tmp_path, cache_dir=tmp_path)
    assert got == {"check_dataset_metadata": "pass", "check_dataset_availability": "pass",
                   "check_dataset_shape": "skip", "check_dataset_tensors": "skip",
                   "check_dataset_labels": "skip", "check_dataset_binary": "skip",
                   "check_dataset_deterministic": "skip"}
    check = dict(dataset_checks(Missing()))["check_dataset_shape"]
    with pytest.raises(CheckSkipped, match="not available here: missing"):
        check(Missing(), data_dir=tmp_path)


# -- parametrize_with_checks ------------------------------------------------------------------
def test_parametrize_with_checks_ids_and_pairs():
    mark = parametrize_with_checks([Good, GoodData()])
    assert mark.args[0] == "plugin, check"
    ids = mark.kwargs["ids"]
    assert "good-check_fit_and_infer[continuous]" in ids and "goodset-check_dataset_shape" in ids
    assert len(ids) == len(set(ids)) == len(mark.args[1])
    assert all(p[0] is Good for p, i in zip(mark.args[1], ids) if i.startswith("good-"))


@parametrize_with_checks([Good, ClosedForm, GoodData()])
def test_parametrized_battery(plugin, check, tmp_path):
    check(plugin, device="cpu", data_dir=tmp_path, cache_dir=tmp_path)
