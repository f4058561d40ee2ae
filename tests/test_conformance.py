"""The conformance battery: every registered method must pass these checks.

In the manner of scikit-learn's ``check_estimator``: construction from ``smoke_hparams``, a short
fit on tiny data, the shapes, dtypes and finiteness of ``Inference``, seed determinism, the
save/load round trip, and rejection of unknown or ill-typed hyperparameters. A new plugin is
picked up automatically by discovery.
"""
from __future__ import annotations

import io
import math

import pytest
import torch

from conftest import device_under_test, tiny_data
from suite.errors import HyperparameterError, UnknownNameError
from suite.loss_curve import LossCurve
from suite.method import FAMILIES, Budget, Inference, Method
from suite.registry import METHODS

SHAPE, K, N_TRAIN, N_VAL = (1, 8, 8), 6, 64, 32
BUDGET = Budget(epochs=2, max_seconds=20)
DEVICE = device_under_test()  # pytest --device cuda runs the battery on a GPU

CASES = [(name, kind) for name, cls in METHODS.items() for kind in sorted(cls.data_kinds)]


def build(name: str, seed: int = 0, **extra) -> Method:
    cls = METHODS.get(name)
    return cls(SHAPE, K, device=DEVICE, seed=seed, **{**cls.smoke_hparams, **extra})


def fitted(name: str, kind: str, seed: int = 0) -> tuple[Method, torch.Tensor]:
    train = tiny_data(kind, N_TRAIN, 64, seed=1).to(DEVICE)
    val = tiny_data(kind, N_VAL, 64, seed=2).to(DEVICE)
    method = build(name, seed)
    assert method.fit(train, BUDGET, val=val) is method, "fit must return self"
    return method, val


def infer(method: Method, x: torch.Tensor, seed: int = 123) -> Inference:
    method.generator.manual_seed(seed)
    with torch.no_grad():
        return method.infer(x)


def assert_same(a: Inference, b: Inference) -> None:
    for field in Inference.FIELDS:
        ta, tb = getattr(a, field), getattr(b, field)
        assert (ta is None) == (tb is None), field
        if ta is not None:
            torch.testing.assert_close(ta, tb, rtol=0, atol=0, msg=f"Inference.{field} differs")


@pytest.mark.parametrize("name", METHODS.names())
def test_class_metadata(name):
    cls = METHODS.get(name)
    assert cls.family in FAMILIES
    assert cls.summary(), "a one-line description (or docstring) is required"
    assert cls.data_kinds and cls.data_kinds <= {"continuous", "binary"}
    cls.resolve_hparams(cls.smoke_hparams)  # smoke values are valid


@pytest.mark.parametrize("name", METHODS.names())
def test_rejects_unknown_hyperparameter(name):
    with pytest.raises(UnknownNameError, match="no_such_knob"):
        build(name, no_such_knob=1)


@pytest.mark.parametrize("name", METHODS.names())
def test_rejects_ill_typed_hyperparameter(name):
    cls = METHODS.get(name)
    numeric = [k for k, v in cls.resolve_hparams({}).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numeric:
        pytest.skip(f"{name} has no numeric hyperparameter")
    with pytest.raises(HyperparameterError):
        build(name, **{numeric[0]: "not a number"})


@pytest.mark.parametrize("name,kind", CASES)
def test_fit_and_infer_contract(name, kind):
    method, val = fitted(name, kind)
    inf = infer(method, val)
    inf.validate(N_VAL, K, 64)
    assert inf.codes.dtype == inf.recon.dtype == torch.float32
    d = method.dictionary()
    if d is not None:
        assert tuple(d.shape) == (K, 64)
    extra = method.evaluate_extra(val)
    assert all(isinstance(v, (int, float)) or v is None for v in extra.values()), extra
    assert method.n_params() > 0
    curve = method.loss_curve_                    # optional: None is shown "n/a" in leaderboards
    if curve is not None:
        assert isinstance(curve, LossCurve), "loss_curve_ must be a suite.loss_curve.LossCurve"
        d = curve.to_dict()
        assert d["total_steps"] >= 1 and d["loss"], "fit must add a loss for every step"
        assert all(math.isfinite(v) for v in d["loss"])


@pytest.mark.parametrize("name,kind", CASES)
def test_same_seed_same_numbers(name, kind):
    a, val = fitted(name, kind, seed=7)
    b, _ = fitted(name, kind, seed=7)
    assert_same(infer(a, val), infer(b, val))


@pytest.mark.parametrize("name,kind", CASES)
def test_state_dict_round_trip(name, kind):
    a, val = fitted(name, kind, seed=3)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = build(name, seed=99).load_state_dict(torch.load(buf))
    assert_same(infer(a, val), infer(b, val))
