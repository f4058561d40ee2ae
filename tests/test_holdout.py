"""Evaluation hygiene: fit never sees the evaluation split (a seeded held-out slice of the
training split is its ``val``), subsets of the evaluation split are seeded random subsets, and
every run record carries its training-loss curve and convergence flag."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import suite.analyses.amortization_gap as gap_module
from suite import registry
from suite.config import RunSpec, build_grid
from suite.data.sources import Dataset
from suite.data.loading import load_dataset
from suite.evaluation import subset_of_test_split, validation_subset
from suite.loss_curve import LossCurve
from suite.method import Inference, Method
from suite.registry import METHODS
from suite.runner import run_one
from suite.subsets import holdout_split, subset_indices
from threads import one_thread  # noqa: F401  (autouse fixture)

PLUGINS = Path(__file__).resolve().parent / "plugins"
SEEN: dict = {}


class Spy(Method):
    """Records what ``fit`` received (tests only); a flat loss curve of 40 steps."""

    name = "spy"
    data_kinds = frozenset({"continuous"})

    def __init__(self, data_shape, n_latents, device="cpu", seed=0, **hparams):
        super().__init__(data_shape, n_latents, device, seed, **hparams)
        self.weight = torch.eye(self.n_latents, self.dim, device=self.device)

    def fit(self, train, budget, progress, val=None):
        SEEN.update(train=train.clone(), val=None if val is None else val.clone())
        self.loss_curve_ = LossCurve(40)
        for step in range(40):
            self.loss_curve_.add(step, 1.0)
        return self

    def infer(self, x):
        codes = x @ self.weight.T
        return Inference(codes=codes, recon=codes @ self.weight)


@pytest.fixture(autouse=True)
def spy_registered(monkeypatch):
    registry.discover([PLUGINS])                          # the toy dataset
    monkeypatch.setitem(METHODS._items, "spy", Spy)       # removed again after each test
    monkeypatch.setitem(METHODS._origin, "spy", "tests/test_holdout.py")
    SEEN.clear()


def rows(x: torch.Tensor) -> set[tuple[float, ...]]:
    return {tuple(r) for r in x.tolist()}


def test_fit_gets_a_held_out_slice_of_the_training_split_never_the_evaluation_split(tmp_path):
    spec = build_grid("spy", "toy", [0], "smoke").specs[0]
    assert run_one(spec.to_dict(), tmp_path, device="cpu", show_progress=False).status == "done"
    ds = load_dataset("toy")
    train, val = rows(SEEN["train"]), rows(SEEN["val"])
    assert len(SEEN["val"]) == 10 and len(SEEN["train"]) == 190        # 5% of 200
    assert not train & val                                            # disjoint
    assert train | val == rows(ds.train)                              # together: the train split
    assert not (train | val) & rows(ds.val)                           # never the evaluation split
    assert rows(ds.train[:10]) != val                                 # random, not the first rows

    rec = json.loads((tmp_path / "runs" / f"{spec.key()}.json").read_text())
    d = rec["dataset"]
    assert (d["n_holdout"], d["n_train"], d["n_train_split"]) == (10, 190, 200)
    assert d["holdout_fraction"] == 0.05 and d["holdout_max"] == 5000 and d["holdout_seed"] > 0
    assert rec["training"]["converged"] is True and rec["metrics"]["converged"] == 1.0
    assert rec["training"]["loss_curve"]["total_steps"] == 40

    first = SEEN["val"]                                               # same seed: same slice
    run_one(spec.to_dict(), tmp_path / "again", device="cpu", show_progress=False)
    assert torch.equal(SEEN["val"], first)


def test_holdout_split_is_seeded_capped_and_can_be_switched_off():
    x = torch.arange(1000.0).unsqueeze(1)
    rest, held, info = holdout_split(x, {"fraction": 0.05, "max": 20}, seed=3)
    assert info["n_holdout"] == 20 and held.shape == (20, 1) and rest.shape == (980, 1)
    assert sorted(held[:, 0].tolist() + rest[:, 0].tolist()) == list(range(1000))
    assert torch.equal(holdout_split(x, {"fraction": 0.05, "max": 20}, seed=3)[1], held)
    assert not torch.equal(holdout_split(x, {"fraction": 0.05, "max": 20}, seed=4)[1], held)
    rest, held, info = holdout_split(x, {"fraction": 0.0, "max": None}, seed=3)
    assert held is None and rest is x and info["n_holdout"] == 0


def test_run_key_changes_with_the_holdout_setting():
    (base,) = build_grid("toy", "toy", [0], "smoke").specs
    assert base.eval["holdout"] == {"fraction": 0.05, "max": 5000}
    d = base.to_dict()
    for holdout in ({"fraction": 0.1, "max": 5000}, {"fraction": 0.05, "max": 100}):
        assert RunSpec.from_dict({**d, "eval": {**d["eval"], "holdout": holdout}}).key() != base.key()


def class_ordered(n: int = 1000) -> Dataset:
    """Validation rows x_i = i, labels in class order (0…0, 1…1, …), like bMNIST's test split."""
    x = torch.arange(float(n)).unsqueeze(1)
    labels = torch.arange(n) * 10 // n
    return Dataset("ordered", x[:10], x, (1, 1, 1), val_labels=labels.long(), test=x + 0.5)


def test_validation_subset_is_a_seeded_random_subset_with_its_labels():
    ds = class_ordered()
    x, y = validation_subset(ds, 100, seed=0)
    idx = x[:, 0].long()
    assert len(idx) == 100 and torch.equal(idx, idx.sort().values)
    assert not torch.equal(idx, torch.arange(100))                    # not the first rows
    assert torch.equal(y, ds.val_labels[idx])                         # labels follow the rows
    assert len(set(y.tolist())) == 10                                 # every class, not just 0
    assert (idx[:50] < 500).all() and (idx[50:] >= 500).all()         # KNN pool / test halves
    x2, y2 = validation_subset(ds, 100, seed=0)
    assert torch.equal(x2, x) and torch.equal(y2, y)                  # same seed, same subset
    assert not torch.equal(validation_subset(ds, 100, seed=1)[0], x)
    full, labels = validation_subset(ds, None, seed=0)
    assert full is ds.val and labels is ds.val_labels
    assert validation_subset(ds, 5000, seed=0)[0] is ds.val
    test = subset_of_test_split(ds, 100, seed=0)[:, 0]
    assert len(test) == 100 and not torch.equal(test, torch.arange(100) + 0.5)


def test_subset_indices_halves():
    idx = subset_indices(11, 5, seed=2)
    assert len(idx) == 5 and len(set(idx.tolist())) == 5
    assert (idx[:2] < 5).all() and (idx[2:] >= 5).all()
    assert subset_indices(11, None, seed=2) is None and subset_indices(11, 11, seed=2) is None


def test_amortization_gap_subset_is_random(monkeypatch):
    seen = {}

    def fake(dictionary, x_val, *args, **kwargs):
        seen["x"] = x_val
        return []
    monkeypatch.setattr(gap_module, "amortization_gap", fake)
    x = torch.arange(1000.0).unsqueeze(1)
    settings = {"lams": [0.1], "solvers": ["fista"], "max_val": 50, "nonneg": False, "tol": 1e-4,
                "max_iter": 10}
    gap_module.run_gap(torch.ones(1, 1), x, settings, seed=0)
    first = seen["x"][:, 0]
    assert len(first) == 50 and not torch.equal(first, torch.arange(50.0))
    gap_module.run_gap(torch.ones(1, 1), x, settings, seed=0)
    assert torch.equal(seen["x"][:, 0], first)


@pytest.mark.filterwarnings("ignore:lca. inference stopped:RuntimeWarning")
def test_a_smoke_run_of_a_real_family_records_its_curve_and_flag(tmp_path):
    spec = build_grid("lca", "toy", [0], "smoke", ["lca.epochs=4"]).specs[0]   # 4 × 6 steps
    assert run_one(spec.to_dict(), tmp_path, device="cpu", show_progress=False).status == "done"
    rec = json.loads((tmp_path / "runs" / f"{spec.key()}.json").read_text())
    curve = rec["training"]["loss_curve"]
    assert curve["total_steps"] == curve["planned_steps"] == 24 and sum(curve["count"]) == 24
    assert all(v > 0 for v in curve["loss"])                          # the lasso objective
    assert rec["training"]["converged"] in (True, False)
    assert rec["metrics"]["converged"] == float(rec["training"]["converged"])
    assert "[75%, 80%)" in rec["training"]["rule"]
