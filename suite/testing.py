"""The conformance battery, public: check a method or dataset plugin the way the suite uses it.

In the manner of scikit-learn's ``check_estimator`` and benchopt's ``benchopt test``: every
method and dataset the suite runs must pass these checks, and a plugin author runs them on
their own classes, with no test-suite file to import and no environment variable::

    from suite.testing import check_method, check_dataset, parametrize_with_checks

    check_method(MyMethod)                 # AssertionError naming the failing check, and why
    check_dataset(MyDataSource())          # the same for a dataset source

    @parametrize_with_checks([MyMethod, MyDataSource()])
    def test_plugin(plugin, check):        # one pytest test per (plugin, check), readable ids
        check(plugin)                      # check(plugin, device="cuda") on a GPU

or, from the command line, ``python run_suite.py check --plugins DIR``.

Method checks (each fit-based check runs once per data kind of ``data_kinds``, on tiny seeded
data: :func:`tiny_data`, :data:`N_TRAIN` training and :data:`N_VAL` validation rows of
:data:`SHAPE`, :data:`N_LATENTS` latents, the class's ``smoke_hparams``):

``check_class_metadata``
    ``name`` a valid CLI name, ``family`` a non-empty label, a one-line summary,
    ``data_kinds`` a non-empty subset of {continuous, binary}, every capability hook it defines
    declared (:mod:`suite.capabilities`), a ``version``, and ``smoke_hparams`` (and
    ``smoke_budget``) valid.
``check_rejects_unknown_hyperparameter`` / ``check_rejects_ill_typed_hyperparameter``
    construction with an unknown name raises ``UnknownNameError`` naming it; a string for a
    numeric hyperparameter raises ``HyperparameterError``.
``check_fit_and_infer[kind]``
    a short fit (:data:`FIT_BUDGET`, updated by ``smoke_budget``) returns ``self``;
    ``infer`` under ``torch.no_grad()`` passes :meth:`suite.method.Inference.validate`
    (shapes, float dtypes, finite values), with float32 codes and reconstructions;
    ``dictionary()`` (where the method has one) is None or (K, D); ``evaluate_extra`` gives
    numbers; ``n_params() > 0``;
    ``loss_curve_`` is None or a finite :class:`suite.loss_curve.LossCurve`.
``check_budget_max_steps[kind]``
    ``fit`` under ``Budget(epochs=100, max_steps=3)`` takes at most 3 optimizer steps, read from
    ``method.n_steps_`` and the steps recorded in ``method.loss_curve_`` (a method recording
    neither fails: set ``n_steps_``, 0 for a closed-form fit).
``check_same_seed_same_numbers[kind]``
    two instances built and fitted with the same seed, under different states of torch's
    global generator, infer identical outputs (randomness comes from the seed only).
``check_seed_changes_parameters[kind]``
    for a stochastic method (one whose fresh parameters depend on the seed, or that draws from
    ``self.generator`` while it is built or fitted), seeds 7 and 8 give different fitted
    parameters; a method that draws nothing random is skipped.
``check_state_dict_round_trip[kind]``
    the ``state_dict`` of a fitted instance, through ``torch.save``/``torch.load`` in memory,
    loaded into an instance built with another seed, infers identical outputs (the state, not
    the seed, determines the model).
``check_checkpoint_fresh_instance[kind]``
    the ``state_dict`` of a fitted instance, through a checkpoint file loaded as the store
    loads it (``weights_only=True``), loaded into a newly built, unfitted instance with the
    same arguments, restores every stored entry (its ``state_dict`` equals the saved one) and
    infers identical outputs.

Dataset checks (on a :class:`suite.data.sources.DatasetSource`; those that need the data are
skipped, with the reason, when ``availability`` says it is not here):

``check_dataset_metadata``, ``check_dataset_availability`` (returns an ``Availability``),
``check_dataset_shape`` (the loaded shape is the declared one, splits are (N, prod(shape))),
``check_dataset_tensors`` (flat float32 finite non-empty tensors), ``check_dataset_labels``
(int64 labels, one per sample, exactly when ``labelled``), ``check_dataset_binary`` (values in
{0, 1} when ``is_binary``, and the flag as declared), ``check_dataset_deterministic`` (two
loads give identical tensors).

A check signals failure with an ``AssertionError`` (any other exception it lets through is a
failure too), and a skip with :class:`CheckSkipped` (a ``unittest.SkipTest``: pytest reports it
as skipped). Checks restore the global random states (torch's, NumPy's, Python's) when they
end.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
import random
import tempfile
import unittest
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from torch import Tensor

from .errors import HyperparameterError, UnknownNameError
from .loss_curve import LossCurve
from .capabilities import LinearDictionary
from .method import Budget, Inference, Method
from .progress import null_progress
from .seeding import make_generator

SHAPE = (1, 8, 8)
"""Per-sample shape of the tiny data of the method checks (D = 64)."""
N_LATENTS = 6
N_TRAIN = 64
N_VAL = 32
FIT_BUDGET = Budget(epochs=2, max_seconds=20)
"""The short fit of the method checks (a class's ``smoke_budget`` updates it)."""
STEP_BUDGET = Budget(epochs=100, max_steps=3)
"""The budget of ``check_budget_max_steps``: many epochs, capped at 3 steps."""
DATA_KINDS = ("continuous", "binary")
INFER_SEED = 123
"""``method.generator`` is reseeded with this before every ``infer`` a check compares."""


class CheckSkipped(unittest.SkipTest):
    """A check that does not apply (pytest reports it as skipped)."""


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``status`` is ``"pass"``, ``"fail"`` or ``"skip"``; ``reason``
    says why it failed or was skipped (empty when it passed)."""

    plugin: str
    check: str
    status: str
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "fail"


class Check:
    """One named check: ``check(plugin, device="cpu", data_dir=None, cache_dir=None)`` raises
    ``AssertionError`` (failure) or :class:`CheckSkipped`, else returns None. Method checks use
    ``device``; dataset checks use the data and cache folders (None: the suite's defaults)."""

    def __init__(self, name: str, func: Callable, **bound: Any):
        self.name = name
        self._func = func
        self._bound = bound

    def __call__(self, plugin: Any, *, device: str | torch.device = "cpu",
                 data_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> None:
        ctx = _Context(torch.device(device), data_dir, cache_dir)
        devices = [ctx.device] if ctx.device.type == "cuda" else []
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=devices):
                self._func(plugin, ctx, **self._bound)
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)

    def __repr__(self) -> str:
        return self.name


@dataclasses.dataclass(frozen=True)
class _Context:
    device: torch.device
    data_dir: str | Path | None
    cache_dir: str | Path | None


# -- tiny data and helpers ----------------------------------------------------------------------
def tiny_data(kind: str, n: int, dim: int = 64, seed: int = 0) -> Tensor:
    """(n, dim) float32 on the CPU: N(0, 1) for ``continuous``, Bernoulli(0.3) for ``binary``."""
    g = torch.Generator().manual_seed(seed)
    if kind == "binary":
        return (torch.rand(n, dim, generator=g) < 0.3).float()
    return torch.randn(n, dim, generator=g)


def _seed_globals(seed: int) -> None:
    """Seed torch's, NumPy's and Python's global generators (checks restore them afterwards):
    a plugin that draws from them unseeded gives different numbers under different seeds."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _label(cls: type) -> str:
    return getattr(cls, "name", "") or cls.__name__


def _build(cls: type, ctx: _Context, seed: int = 0, **extra: Any) -> Method:
    return cls(SHAPE, N_LATENTS, device=ctx.device, seed=seed, **{**cls.smoke_hparams, **extra})


def _data(kind: str, ctx: _Context) -> tuple[Tensor, Tensor]:
    dim = math.prod(SHAPE)
    return (tiny_data(kind, N_TRAIN, dim, seed=1).to(ctx.device),
            tiny_data(kind, N_VAL, dim, seed=2).to(ctx.device))


def _fit_budget(cls: type) -> Budget:
    smoke = dict(getattr(cls, "smoke_budget", None) or {})
    return dataclasses.replace(FIT_BUDGET, **smoke)


def _fitted(cls: type, kind: str, ctx: _Context, seed: int = 0,
            budget: Budget | None = None) -> tuple[Method, Tensor]:
    train, val = _data(kind, ctx)
    method = _build(cls, ctx, seed)
    out = method.fit(train, budget or _fit_budget(cls), progress=null_progress, val=val)
    assert out is method, f"fit must return self, it returned {type(out).__name__}"
    return method, val


def _infer(method: Method, x: Tensor, seed: int = INFER_SEED) -> Inference:
    method.generator.manual_seed(seed)
    with torch.no_grad():
        out = method.infer(x)
    assert isinstance(out, Inference), \
        f"infer must return a suite.method.Inference, it returned {type(out).__name__}"
    return out


def _inference_difference(a: Inference, b: Inference) -> str | None:
    """The first field in which two inferences differ (None: identical)."""
    for field in Inference.FIELDS:
        ta, tb = getattr(a, field), getattr(b, field)
        if (ta is None) != (tb is None):
            return f"Inference.{field} is None in one and not in the other"
        if ta is None:
            continue
        if ta.shape != tb.shape:
            return f"Inference.{field} has shapes {tuple(ta.shape)} and {tuple(tb.shape)}"
        if not torch.equal(ta.detach().cpu(), tb.detach().cpu()):
            diff = (ta.detach().cpu().double() - tb.detach().cpu().double()).abs()
            return f"Inference.{field} differs (max |difference| {float(diff.max()):.3g})"
    return None


def _flat_state(state: Any, prefix: str = "") -> dict[str, Any]:
    """A state dict flattened to ``a.b.c`` keys (module states are nested dicts)."""
    out = {}
    if isinstance(state, dict):
        for k, v in state.items():
            out.update(_flat_state(v, f"{prefix}{k}."))
    else:
        out[prefix[:-1]] = state
    return out


def _state_difference(a: dict, b: dict) -> str | None:
    """How two state dicts differ (None: same keys, identical tensors)."""
    fa, fb = _flat_state(a), _flat_state(b)
    if set(fa) != set(fb):
        only_a, only_b = sorted(set(fa) - set(fb)), sorted(set(fb) - set(fa))
        return f"entries only in the saved state: {only_a}; only in the loaded one: {only_b}"
    for k in fa:
        va, vb = fa[k], fb[k]
        if isinstance(va, Tensor) and isinstance(vb, Tensor):
            if va.shape != vb.shape or va.dtype != vb.dtype or not torch.equal(va.cpu(), vb.cpu()):
                return f"{k!r} differs"
        elif va != vb:
            return f"{k!r} differs ({va!r} vs {vb!r})"
    return None


def _expect_raises(exc_type: type, fn: Callable[[], Any], what: str, match: str = "") -> None:
    try:
        fn()
    except exc_type as exc:
        assert not match or match in str(exc), \
            f"{what} raised {type(exc).__name__}, but its message does not name {match!r}: {exc}"
        return
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"{what} raised {type(exc).__name__}: {exc}; expected "
                             f"{exc_type.__name__}") from exc
    raise AssertionError(f"{what} raised nothing; expected {exc_type.__name__}")


def steps_taken(method: Any) -> dict[str, int]:
    """The optimizer steps the last ``fit`` took, by source: ``n_steps_`` (set by the suite's
    training loop, or by the method) and ``loss_curve_`` (the recorded steps: the larger of the
    last step + 1 and the number of values added). Empty when the method records neither."""
    out: dict[str, int] = {}
    if method.n_steps_ is not None:
        out["n_steps_"] = int(method.n_steps_)
    if method.loss_curve_ is not None:
        d = method.loss_curve_.to_dict()
        out["loss_curve_"] = max(int(d.get("total_steps") or 0), int(sum(d.get("count") or [])))
    return out


# -- method checks ------------------------------------------------------------------------------
def _undeclared_hooks(cls: type) -> list[tuple[str, str]]:
    from .capabilities import undeclared_hooks

    return undeclared_hooks(cls)


def check_class_metadata(cls: type, ctx: _Context) -> None:
    from .registry import NAME_PATTERN

    name = getattr(cls, "name", "")
    assert isinstance(name, str) and NAME_PATTERN.match(name or ""), \
        (f"name must be a CLI name (a letter, then letters, digits, '_' or '-'), got {name!r}")
    assert isinstance(cls.family, str) and cls.family, \
        f"family must be a non-empty label, got {cls.family!r}"
    assert cls.summary(), "a one-line description (the class attribute or a docstring) is required"
    kinds = cls.data_kinds
    assert isinstance(kinds, (set, frozenset)) and kinds and set(kinds) <= set(DATA_KINDS), \
        f"data_kinds must be a non-empty set, a subset of {set(DATA_KINDS)}, got {kinds!r}"
    undeclared = _undeclared_hooks(cls)
    assert not undeclared, "hooks defined without declaring their capability: " + ", ".join(
        f"{hook} (add suite.capabilities.{cap} to the bases)" for hook, cap in undeclared)
    assert isinstance(cls.version, str) and cls.version, \
        f"version must be a non-empty string, got {cls.version!r}"
    unknown = set(cls.smoke_hparams) - set(cls.hparams)
    assert not unknown, f"smoke_hparams names unknown hyperparameters {sorted(unknown)}"
    try:
        cls.resolve_hparams(cls.smoke_hparams)
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"smoke_hparams are invalid: {type(exc).__name__}: {exc}") from exc
    try:
        _fit_budget(cls)
    except TypeError as exc:
        raise AssertionError(f"smoke_budget must use Budget's keys (epochs, max_seconds, "
                             f"max_steps): {exc}") from exc


def check_rejects_unknown_hyperparameter(cls: type, ctx: _Context) -> None:
    _expect_raises(UnknownNameError, lambda: _build(cls, ctx, no_such_knob=1),
                   "construction with the unknown hyperparameter no_such_knob=1", "no_such_knob")


def check_rejects_ill_typed_hyperparameter(cls: type, ctx: _Context) -> None:
    numeric = [k for k, v in cls.resolve_hparams(cls.smoke_hparams).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numeric:
        raise CheckSkipped(f"{_label(cls)} has no numeric hyperparameter")
    _expect_raises(HyperparameterError, lambda: _build(cls, ctx, **{numeric[0]: "not a number"}),
                   f"construction with {numeric[0]}='not a number'")


def check_fit_and_infer(cls: type, ctx: _Context, kind: str) -> None:
    method, val = _fitted(cls, kind, ctx)
    inf = _infer(method, val)
    try:
        inf.validate(N_VAL, N_LATENTS, math.prod(SHAPE))
    except ValueError as exc:
        raise AssertionError(f"infer on ({N_VAL}, {math.prod(SHAPE)}) inputs with "
                             f"n_latents={N_LATENTS}: {exc}") from exc
    for field in ("codes", "recon"):
        dtype = getattr(inf, field).dtype
        assert dtype == torch.float32, f"Inference.{field} must be float32, got {dtype}"
    d = method.dictionary() if isinstance(method, LinearDictionary) else None
    if d is not None:
        assert isinstance(d, Tensor) and tuple(d.shape) == (N_LATENTS, math.prod(SHAPE)), \
            f"dictionary() must be None or (K, D) = {(N_LATENTS, math.prod(SHAPE))}, got " + (
                str(tuple(d.shape)) if isinstance(d, Tensor) else type(d).__name__)
    with torch.no_grad():
        extra = method.evaluate_extra(val)
    assert isinstance(extra, dict) and all(
        isinstance(v, (int, float)) or v is None for v in extra.values()), \
        f"evaluate_extra must return a dict of numbers, got {extra!r}"
    assert method.n_params() > 0, "n_params() must count the learned scalars (> 0)"
    curve = method.loss_curve_                    # optional: None is shown "n/a" in leaderboards
    if curve is not None:
        assert isinstance(curve, LossCurve), "loss_curve_ must be a suite.loss_curve.LossCurve"
        c = curve.to_dict()
        assert c["total_steps"] >= 1 and c["loss"], "fit must add a loss for every step"
        assert all(math.isfinite(v) for v in c["loss"]), "loss_curve_ holds non-finite losses"


def check_budget_max_steps(cls: type, ctx: _Context, kind: str) -> None:
    method, _ = _fitted(cls, kind, ctx, budget=STEP_BUDGET)
    steps = steps_taken(method)
    assert steps, ("fit records neither n_steps_ nor loss_curve_, so the optimizer steps it took "
                   "cannot be counted: set self.n_steps_ in fit (0 for a closed-form fit) or "
                   "record self.loss_curve_, or train with suite.loop.run_training")
    limit = STEP_BUDGET.max_steps
    over = {k: v for k, v in steps.items() if v > limit}
    assert not over, (f"fit under Budget(epochs={STEP_BUDGET.epochs:g}, max_steps={limit}) took "
                      f"{max(over.values())} steps ("
                      + ", ".join(f"{k}: {v}" for k, v in steps.items())
                      + "): it must stop after budget.max_steps steps (Budget.total_steps caps it)")


def check_same_seed_same_numbers(cls: type, ctx: _Context, kind: str) -> None:
    _seed_globals(1001)   # a method that draws from the unseeded global generators differs
    a, val = _fitted(cls, kind, ctx, seed=7)
    _seed_globals(2002)
    b, _ = _fitted(cls, kind, ctx, seed=7)
    _seed_globals(3003)
    inf_a = _infer(a, val)
    _seed_globals(4004)
    diff = _inference_difference(inf_a, _infer(b, val))
    assert diff is None, (f"two fits with seed 7 infer different outputs: {diff}. Draw every "
                          "random number from self.generator and build parameters inside "
                          "suite.seeding.seeded(seed), never from torch's global generator")


def _generator_state(g: torch.Generator) -> Tensor:
    return g.get_state()


def check_seed_changes_parameters(cls: type, ctx: _Context, kind: str) -> None:
    fresh_a, fresh_b = _build(cls, ctx, seed=7), _build(cls, ctx, seed=8)
    init_differs = _state_difference(fresh_a.state_dict(), fresh_b.state_dict()) is not None
    a, _ = _fitted(cls, kind, ctx, seed=7)
    b, _ = _fitted(cls, kind, ctx, seed=8)
    untouched = make_generator(ctx.device, 7)
    drew = not torch.equal(_generator_state(a.generator), _generator_state(untouched))
    if not (init_differs or drew):
        raise CheckSkipped(f"{_label(cls)} draws nothing random (its fresh parameters do not "
                           "depend on the seed, and it does not use self.generator while built "
                           "and fitted)")
    assert _state_difference(a.state_dict(), b.state_dict()) is not None, (
        "seeds 7 and 8 give identical fitted parameters, though the method is stochastic ("
        + ("its fresh parameters depend on the seed" if init_differs else
           "it draws from self.generator") + "): some randomness ignores the seed (a generator "
        "or suite.seeding.seeded with a fixed seed?)")


def check_state_dict_round_trip(cls: type, ctx: _Context, kind: str) -> None:
    a, val = _fitted(cls, kind, ctx, seed=3)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = _build(cls, ctx, seed=99)
    b.load_state_dict(torch.load(buf, map_location=ctx.device, weights_only=False))  # the format:
    # check_checkpoint_fresh_instance
    diff = _inference_difference(_infer(a, val), _infer(b, val))
    assert diff is None, ("an instance built with another seed (99) and loaded with the "
                          f"state_dict of a fitted one (seed 3) infers other outputs: {diff}. "
                          "state_dict must hold everything infer depends on")


def check_checkpoint_fresh_instance(cls: type, ctx: _Context, kind: str) -> None:
    a, val = _fitted(cls, kind, ctx, seed=3)
    saved = a.state_dict()
    fd, path = tempfile.mkstemp(suffix=".pt", prefix="suite-check-")
    os.close(fd)
    try:
        torch.save(saved, path)
        try:
            state = torch.load(path, map_location=ctx.device, weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise AssertionError(
                "the state_dict cannot be loaded with torch.load(weights_only=True), as the store "
                f"loads checkpoints: keep it to tensors, numbers, strings and containers "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
    finally:
        os.unlink(path)
    b = _build(cls, ctx, seed=3)
    out = b.load_state_dict(state)
    assert out is b, f"load_state_dict must return self, it returned {type(out).__name__}"
    diff = _state_difference(saved, b.state_dict())
    assert diff is None, ("a fresh instance loaded with a fitted one's checkpoint does not hold "
                          f"the same state: {diff}. load_state_dict must restore every stored "
                          "entry")
    diff = _inference_difference(_infer(a, val), _infer(b, val))
    assert diff is None, ("a fresh instance (same arguments) loaded with a fitted one's checkpoint "
                          f"infers other outputs: {diff}")


_CLASS_CHECKS = (check_class_metadata, check_rejects_unknown_hyperparameter,
                 check_rejects_ill_typed_hyperparameter)
_KIND_CHECKS = (check_fit_and_infer, check_budget_max_steps, check_same_seed_same_numbers,
                check_seed_changes_parameters, check_state_dict_round_trip,
                check_checkpoint_fresh_instance)


def _kinds(cls: type) -> list[str]:
    kinds = [k for k in DATA_KINDS if k in (getattr(cls, "data_kinds", None) or ())]
    return kinds or ["continuous"]


def method_checks(cls: type) -> Iterator[tuple[str, Check]]:
    """``(check_name, check)`` for every check of the Method class ``cls``; the fit-based ones
    once per data kind it models (``check_fit_and_infer[binary]``). Call ``check(cls)`` or
    ``check(cls, device="cuda")``."""
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"method_checks expects a suite.method.Method subclass, got {cls!r}")
    for func in _CLASS_CHECKS:
        yield func.__name__, Check(func.__name__, func)
    for kind in _kinds(cls):
        for func in _KIND_CHECKS:
            name = f"{func.__name__}[{kind}]"
            yield name, Check(name, func, kind=kind)


# -- dataset checks -----------------------------------------------------------------------------
def _source(source: Any):
    from .data.sources import DatasetSource

    obj = source() if isinstance(source, type) else source
    if not isinstance(obj, DatasetSource):
        raise TypeError(f"dataset checks expect a suite.data.sources.DatasetSource, got {source!r}")
    return obj


def _dirs(ctx: _Context) -> tuple[Path, Path]:
    from .data.sources import resolve_cache_dir, resolve_data_dir

    return resolve_data_dir(ctx.data_dir), resolve_cache_dir(ctx.cache_dir)


# ((source class, name, (data_dir, cache_dir)), Dataset), newest last
_LOADED: list[tuple[tuple, Any]] = []
_LOADED_KEEP = 2


def _loaded(source: Any, ctx: _Context):
    """``source``'s dataset, loaded once per source (class and name) and folders (the last two
    are kept); a skip when it is not available here."""
    dirs = _dirs(ctx)
    key = (type(source), source.name, dirs)
    for known, ds in _LOADED:
        if known == key:
            return ds
    avail = source.availability(dirs[0])
    if not getattr(avail, "ok", False):
        detail = getattr(avail, "detail", avail)
        raise CheckSkipped(f"{source.name} is not available here: {detail}")
    ds = source.load(*dirs)
    _LOADED.append((key, ds))
    del _LOADED[:-_LOADED_KEEP]
    return ds


def _splits(ds) -> list[tuple[str, Any]]:
    return [(s, getattr(ds, s)) for s in ("train", "val", "test") if getattr(ds, s) is not None]


def check_dataset_metadata(source: Any, ctx: _Context) -> None:
    from .registry import NAME_PATTERN

    assert isinstance(source.name, str) and NAME_PATTERN.match(source.name or ""), \
        f"name must be a CLI name (a letter, then letters, digits, '_' or '-'), got {source.name!r}"
    kind = getattr(source, "data_kind", None)
    assert kind is None or kind in DATA_KINDS, \
        f"data_kind must be one of {DATA_KINDS}, got {kind!r}"
    assert isinstance(source.description, str) and source.description.strip(), \
        "a one-line description is required"
    shape = source.shape
    assert isinstance(shape, tuple) and shape and all(
        isinstance(s, int) and s > 0 for s in shape), \
        f"shape must be a tuple of positive ints (e.g. (1, 16, 16)), got {shape!r}"
    for flag in ("labelled", "is_binary", "embedded"):
        assert isinstance(getattr(source, flag), bool), \
            f"{flag} must be a bool, got {getattr(source, flag)!r}"
    sizes = tuple(source.knn_sizes)
    assert all(isinstance(k, int) and k > 0 for k in sizes), \
        f"knn_sizes must be positive ints, got {sizes!r}"
    assert not sizes or source.labelled, "knn_sizes needs labels: the source is not labelled"


def check_dataset_availability(source: Any, ctx: _Context) -> None:
    from .data.sources import Availability

    avail = source.availability(_dirs(ctx)[0])
    assert isinstance(avail, Availability), \
        f"availability() must return a suite.data.sources.Availability, got {type(avail).__name__}"
    assert isinstance(avail.ok, bool), f"Availability.ok must be a bool, got {avail.ok!r}"
    assert isinstance(avail.detail, str) and avail.detail.strip(), \
        "Availability.detail must say where the data comes from, or what is missing"


def check_dataset_shape(source: Any, ctx: _Context) -> None:
    ds = _loaded(source, ctx)
    assert tuple(ds.shape) == tuple(source.shape), \
        f"the loaded dataset has shape {tuple(ds.shape)}, the source declares {tuple(source.shape)}"
    dim = math.prod(source.shape)
    for split, x in _splits(ds):
        assert isinstance(x, Tensor), f"{split} must be a torch.Tensor, got {type(x).__name__}"
        assert x.ndim == 2 and x.shape[1] == dim, \
            (f"{split} must be flat, (N, {dim}) for samples of shape {tuple(source.shape)}, got "
             f"{tuple(x.shape)}")
    assert ds.name == source.name, f"the loaded dataset is named {ds.name!r}, not {source.name!r}"


def check_dataset_tensors(source: Any, ctx: _Context) -> None:
    ds = _loaded(source, ctx)
    for split, x in _splits(ds):
        assert isinstance(x, Tensor), f"{split} must be a torch.Tensor, got {type(x).__name__}"
        assert x.dtype == torch.float32, f"{split} must be float32, got {x.dtype}"
        assert x.ndim == 2, f"{split} must be flat (N, D), got {tuple(x.shape)}"
        assert x.shape[0] > 0, f"the {split} split is empty"
        bad = int((~torch.isfinite(x)).sum())
        assert not bad, f"{split} holds {bad} NaN or infinite values"


def check_dataset_labels(source: Any, ctx: _Context) -> None:
    ds = _loaded(source, ctx)
    if not source.labelled:
        held = [s for s in ("train", "val", "test") if getattr(ds, f"{s}_labels") is not None]
        assert not held, f"the source is not labelled, but {held} labels were loaded"
        return
    for split in ("train", "val"):
        assert getattr(ds, f"{split}_labels") is not None, \
            f"the source is labelled, but {split}_labels is None"
    for split, x in _splits(ds):
        y = getattr(ds, f"{split}_labels")
        if y is None:
            continue
        assert isinstance(y, Tensor) and y.dtype == torch.int64, \
            f"{split}_labels must be an int64 tensor, got {getattr(y, 'dtype', type(y).__name__)}"
        assert y.ndim == 1 and y.shape[0] == x.shape[0], \
            f"{split} has {x.shape[0]} samples but {tuple(y.shape)} labels"


def check_dataset_binary(source: Any, ctx: _Context) -> None:
    ds = _loaded(source, ctx)
    assert bool(ds.is_binary) == bool(source.is_binary), \
        f"the source declares is_binary={source.is_binary}, the loaded dataset says {ds.is_binary}"
    if not source.is_binary:
        return
    for split, x in _splits(ds):
        other = int((~((x == 0) | (x == 1))).sum())
        assert not other, f"{split} is flagged binary but holds {other} values other than 0 and 1"


def check_dataset_deterministic(source: Any, ctx: _Context) -> None:
    first = _loaded(source, ctx)
    _seed_globals(987654)  # a load that draws from the unseeded global generators differs
    second = source.load(*_dirs(ctx))
    for field in ("train", "val", "test", "train_labels", "val_labels", "test_labels"):
        a, b = getattr(first, field), getattr(second, field)
        assert (a is None) == (b is None), f"{field} is None in one load and not in the other"
        if a is not None:
            assert a.shape == b.shape and torch.equal(a, b), \
                f"two loads give different {field}: load must be deterministic (seed its draws)"


_DATASET_CHECKS = (check_dataset_metadata, check_dataset_availability, check_dataset_shape,
                   check_dataset_tensors, check_dataset_labels, check_dataset_binary,
                   check_dataset_deterministic)


def dataset_checks(source: Any) -> Iterator[tuple[str, Check]]:
    """``(check_name, check)`` for every check of a dataset source (an instance, or a class
    built with no arguments). Call ``check(source)`` or ``check(source, data_dir=...)``."""
    _source(source)
    for func in _DATASET_CHECKS:
        yield func.__name__, Check(func.__name__, _on_source(func))


def _on_source(func: Callable) -> Callable:
    @functools.wraps(func)
    def run(source: Any, ctx: _Context) -> None:
        func(_source(source), ctx)
    return run


# -- running ------------------------------------------------------------------------------------
def _is_method(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, Method)


def plugin_label(obj: Any) -> str:
    """The name a plugin is shown by: a method's or dataset's ``name``."""
    if _is_method(obj):
        return _label(obj)
    return getattr(obj, "name", "") or getattr(obj, "__name__", type(obj).__name__)


def checks_for(obj: Any) -> Iterator[tuple[str, Check]]:
    """:func:`method_checks` of a Method class, else :func:`dataset_checks`."""
    return method_checks(obj) if _is_method(obj) else dataset_checks(obj)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, AssertionError):
        return text or "assertion failed"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_checks(obj: Any, *, device: str | torch.device = "cpu", data_dir: str | Path | None = None,
               cache_dir: str | Path | None = None,
               on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Run every check of ``obj`` (a Method class or a dataset source) and return their results;
    nothing is raised for a failing check. ``on_result`` is called after each one."""
    results = []
    label = plugin_label(obj)
    for name, check in checks_for(obj):
        try:
            check(obj, device=device, data_dir=data_dir, cache_dir=cache_dir)
            result = CheckResult(label, name, "pass")
        except unittest.SkipTest as exc:
            result = CheckResult(label, name, "skip", str(exc))
        except Exception as exc:  # noqa: BLE001  (any exception is the check's failure)
            result = CheckResult(label, name, "fail", _reason(exc))
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _raise_failures(label: str, results: list[CheckResult]) -> list[CheckResult]:
    failed = [r for r in results if not r.ok]
    if failed:
        lines = "\n".join(f"  {r.check}: {r.reason}" for r in failed)
        raise AssertionError(f"{label} failed {len(failed)} of {len(results)} checks "
                             f"(first: {failed[0].check}):\n{lines}")
    return results


def check_method(cls: type, *, device: str | torch.device = "cpu") -> list[CheckResult]:
    """Run every method check on the Method class ``cls`` (see the module docstring); raise an
    ``AssertionError`` naming each failing check and why. Returns the results (passes and
    skips) when all pass."""
    if not _is_method(cls):
        raise TypeError(f"check_method expects a suite.method.Method subclass, got {cls!r}")
    return _raise_failures(_label(cls), run_checks(cls, device=device))


def check_dataset(source: Any, *, data_dir: str | Path | None = None,
                  cache_dir: str | Path | None = None) -> list[CheckResult]:
    """Run every dataset check on ``source`` (a DatasetSource instance or class); raise an
    ``AssertionError`` naming each failing check and why. Checks that need the data are skipped
    when it is not available in ``data_dir`` (None: ``--data-dir``'s default)."""
    src = _source(source)
    return _raise_failures(src.name, run_checks(src, data_dir=data_dir, cache_dir=cache_dir))


def parametrize_with_checks(plugins: Iterable[Any]):
    """A ``pytest.mark.parametrize("plugin, check", ...)`` over every (plugin, check) pair of
    ``plugins`` (Method classes and dataset sources), with ids ``<name>-<check>``, e.g.
    ``pca-check_fit_and_infer[continuous]``. The test calls ``check(plugin)``, optionally with
    ``device=`` (methods) or ``data_dir=``/``cache_dir=`` (datasets)."""
    import pytest

    params, ids = [], []
    for obj in plugins:
        label = plugin_label(obj)
        for name, check in checks_for(obj):
            params.append((obj, check))
            ids.append(f"{label}-{name}")
    return pytest.mark.parametrize("plugin, check", params, ids=ids)
