"""The Method interface: what every inference method of the suite implements.

A method trains (``fit``) and infers (``infer``); the suite computes every metric from what
``infer`` returns (:class:`Inference`), the same way for every method. Subclass
:class:`Method`, give it a ``name`` and decorate it with :func:`suite.registry.register`.
``fit`` and ``infer`` are abstract: a class that lacks either cannot be instantiated
(``TypeError``). What a method can do beyond them is *declared* by capability mixins among its
bases (:mod:`suite.capabilities`; below), which the suite tests with ``isinstance``.

Shapes: N training rows, M held-out rows, B rows of a batch, D = ``self.dim`` =
prod(``data_shape``) features, K = ``self.n_latents`` latent units.

Hooks, in the order the runner calls them
-----------------------------------------
``__init__(data_shape, n_latents, device, seed, **hparams)``
    Store and validate hyperparameters (unknown names are an error), build parameters on
    ``device`` reproducibly from ``seed`` (use ``suite.seeding.seeded``). Do no training here.
``fit(train, budget, progress, val=None) -> self``  (abstract)
    ``train`` is a float32 tensor (N, D) already on ``device``; ``budget`` says how long to
    train; ``progress(total=, desc=)`` gives a bar. Raise ``NonFiniteLossError`` on NaN/inf
    (``suite.training.check_finite`` does it). ``val`` (M, D) is a held-out slice of the
    *training* split (the runner carves it out, seeded, and trains on the rest: eval setting
    ``holdout``), never the evaluation split: use it for early stopping and model selection
    only. It may be None. Record the training loss of every optimizer step in
    ``self.loss_curve_`` (a :class:`suite.loss_curve.LossCurve`), from which the runner judges
    PROTOCOL.md's convergence criterion; a method that leaves it None is shown "n/a".
``infer(x) -> Inference``  (abstract)
    Called under ``torch.no_grad()`` on batches x (B, D) of validation data; returns
    :class:`Inference` with codes (B, K), recon (B, D), and optionally features (B, F),
    unit_rate (B, K), sample_recon (B, D).
``state_dict() -> dict / load_state_dict(state) -> self``
    Checkpointing; the default saves every tensor and ``nn.Module`` attribute (on the CPU).
``evaluate_extra(x (B, D)) -> dict[str, float]``
    Optional method-specific quantities the protocol asks for and only the model can compute
    (e.g. importance-sampled log-likelihoods); the suite stores them beside its own metrics.
``cannot_run_reason(dataset_info) -> str | None``  (classmethod)
    Why the method cannot model a dataset; the default compares ``data_kinds`` with the
    dataset's ``data_kind``.

Capability hooks (declared by a mixin of :mod:`suite.capabilities` among the bases)
----------------------------------------------------------------------------------
``IterativeInference``: ``test_steps -> int``, ``train_steps -> int | None`` (default None),
    ``infer_trajectory(x (B, D), steps) -> iterator of (t, Inference, delta_norm (B,))`` at every
    requested step t ≥ 1, ascending (the convergence analysis, run for every such method).
``Sampling``: ``sample_grid(path, n=64, sweeps=100, proposals=100) -> Path``, a PNG of samples
    (``run_suite.py sample``).
``LinearDictionary``: ``dictionary() -> Tensor (K, D) | None``, the linear generative map x̂ = aΦ,
    one atom per row; None when this configuration has none (e.g. a non-linear decoder). It is
    stored with the run (the dictionary figure) and enables the amortization gap.
``LassoSolver``: classmethod ``solve_lasso(x (B, D), atoms (K, D), lam, *, nonneg, tol,
    max_iter, max_eig=None, return_info=False) -> codes (B, K) | (codes, info)``: the method's
    inference is the lasso solution, and the amortization gap re-infers other methods' codes
    with it (the gap does not apply to a LassoSolver itself).
``EstimatorCheck``: classmethod ``estimator_convergence(ks, seed) -> dict``, its estimators
    against exact enumeration (reproduction claim C2).
A class that defines one of these hooks without declaring its capability is rejected by
:func:`suite.registry.register`; one that declares a capability without its hooks cannot be
instantiated.

Class attributes
----------------
``name`` (CLI name), ``family`` (a free, non-empty label grouping related methods in
leaderboards and listings, e.g. ``"sparse-coding"``; no behaviour depends on it), ``description`` (one line, defaults
to the docstring's first line), ``version`` (bump it when a change alters results: it is part of
every run key), ``hparams`` (name -> default or :class:`suite.hparams.Hyper`), ``smoke_hparams``
and ``smoke_budget`` (tiny values and a budget of a few steps: what the ``smoke`` profile and the
conformance battery run), ``data_kinds`` (the subset of
:data:`suite.capabilities.DataKind.ALL`, ``{"continuous", "binary"}``, the method can model), ``dead_unit_rule`` (how PROTOCOL.md's dead-unit test applies: ``"auto"``
uses ``unit_rate`` when present, else activity; ``"feature_std"`` uses the standard deviation of
``features`` over inputs, for the BiHM).
"""
from __future__ import annotations

import abc
import dataclasses
import math
from typing import Any, ClassVar, Mapping

import torch
from torch import Tensor, nn

from . import hparams as hp
from .capabilities import DataKind
from .errors import DataError
from .progress import ProgressFactory, null_progress
from .loss_curve import LossCurve
from .seeding import make_generator

@dataclasses.dataclass
class Budget:
    """How long a method may train.

    ``epochs``: passes over the training set (fractional allowed); ``max_seconds``: a wall-clock
    cap (None: none); ``max_steps``: a cap on optimizer steps (None: none). A method stops at the
    first limit reached.
    """

    epochs: float = 1.0
    max_seconds: float | None = None
    max_steps: int | None = None

    def total_steps(self, n_train: int, batch_size: int) -> int:
        """Number of minibatch steps for ``epochs`` passes, capped by ``max_steps``, at least 1."""
        steps = max(1, math.ceil(self.epochs * n_train / max(1, batch_size)))
        if self.max_steps is not None:
            steps = min(steps, int(self.max_steps))
        return max(1, steps)

@dataclasses.dataclass
class Inference:
    """What a method returns for a batch of N inputs; the suite measures everything from it.

    codes:      (N, K) latent activity whose sparsity is measured (spike counts, coefficients,
                samples, binary units).
    recon:      (N, D) reconstruction from the posterior mean or the code, in data units.
    features:   (N, F) what the few-shot KNN classifier sees; None means ``codes``.
    unit_rate:  (N, K) nats per latent unit (KL of the posterior to the prior), or None for
                methods without a posterior.
    sample_recon: (N, D) reconstruction of one posterior sample drawn at the evaluation
                temperature, or None; with ``unit_rate`` it gives the negative ELBO
                (PROTOCOL.md: nelbo = E_q[sse of a sample] + KL).
    """

    codes: Tensor
    recon: Tensor
    features: Tensor | None = None
    unit_rate: Tensor | None = None
    sample_recon: Tensor | None = None

    FIELDS: ClassVar[tuple[str, ...]] = ("codes", "recon", "features", "unit_rate", "sample_recon")

    @property
    def feats(self) -> Tensor:
        return self.codes if self.features is None else self.features

    def validate(self, n: int, n_latents: int, dim: int) -> None:
        """Raise ``ValueError`` unless every field has the documented shape, a float dtype and
        finite values."""
        expected = {"codes": (n, n_latents), "recon": (n, dim), "unit_rate": (n, n_latents),
                    "sample_recon": (n, dim)}
        for field in self.FIELDS:
            t = getattr(self, field)
            if t is None:
                continue
            if not isinstance(t, Tensor):
                raise ValueError(f"Inference.{field} must be a torch.Tensor, got {type(t).__name__}")
            if not t.is_floating_point():
                raise ValueError(f"Inference.{field} must be floating point, got {t.dtype}")
            if field == "features":
                if t.ndim != 2 or t.shape[0] != n:
                    raise ValueError(f"Inference.features must be (N={n}, F), got {tuple(t.shape)}")
            elif tuple(t.shape) != expected[field]:
                raise ValueError(
                    f"Inference.{field} must have shape {expected[field]}, got {tuple(t.shape)}")
            if not torch.isfinite(t).all():
                raise ValueError(f"Inference.{field} has non-finite values")

    @classmethod
    def concat(cls, parts: list["Inference"]) -> "Inference":
        """Concatenate batch results along N (on the CPU)."""
        kw = {}
        for field in cls.FIELDS:
            vals = [getattr(p, field) for p in parts]
            kw[field] = None if vals[0] is None else torch.cat([v.detach().cpu() for v in vals])
        return cls(**kw)


class Method(abc.ABC):
    """Base class of every method; see the module docstring for the hooks to implement
    (``fit`` and ``infer`` are abstract) and the capabilities a method may declare."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = "other"
    description: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    hparams: ClassVar[Mapping[str, Any]] = {}
    smoke_hparams: ClassVar[Mapping[str, Any]] = {}
    smoke_budget: ClassVar[Mapping[str, Any]] = {}
    """Budget keys (``epochs``, ``max_seconds``, ``max_steps``) of the smoke profile, applied over
    the profile's own budget; with ``smoke_hparams``, the one source of a method's smoke values."""
    data_kinds: ClassVar[frozenset[str]] = DataKind.ALL
    dead_unit_rule: ClassVar[str] = "auto"
    n_steps_: int | None = None
    """The optimizer steps (or closed-form updates) the last ``fit`` took (set by ``fit``; the
    suite's training loop sets it); None: not recorded. The conformance battery checks it
    against the budget."""
    loss_curve_: LossCurve | None = None
    """The per-step training loss of the last ``fit`` (set by ``fit``); None: not recorded."""

    def __init__(self, data_shape: tuple[int, ...], n_latents: int, device: str | torch.device = "cpu",
                 seed: int = 0, **hparams: Any):
        data_shape = tuple(int(s) for s in data_shape)
        if not data_shape or any(s <= 0 for s in data_shape):
            raise DataError(f"{self.name}: data_shape must be positive sizes, got {data_shape}")
        if int(n_latents) <= 0:
            raise hp.HyperparameterError(f"{self.name}: n_latents must be > 0, got {n_latents}")
        self.data_shape = data_shape
        self.dim = math.prod(data_shape)
        self.n_latents = int(n_latents)
        self.device = torch.device(device)
        self.seed = int(seed)
        self.hp: dict[str, Any] = self.resolve_hparams(hparams)
        self.generator = make_generator(self.device, self.seed)

    # -- hyperparameters -------------------------------------------------------------------
    @classmethod
    def resolve_hparams(cls, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults merged with ``overrides``, validated (unknown names are an error)."""
        values = hp.resolve(cls.name or cls.__name__, cls.hparams, overrides)
        cls.check_hparams(values)
        return values

    @classmethod
    def check_hparams(cls, values: dict[str, Any]) -> None:
        """Cross-parameter checks; raise ``HyperparameterError``. Default: none."""

    @classmethod
    def summary(cls) -> str:
        if cls.description:
            return cls.description
        doc = (cls.__doc__ or "").strip().splitlines()
        return doc[0] if doc else ""

    @classmethod
    def cannot_run_reason(cls, dataset_info) -> str | None:
        """Why this method cannot run on a dataset (None when it can). ``dataset_info`` (a
        :class:`suite.data.DatasetSource` or a loaded dataset) has ``data_kind`` (one of
        :data:`suite.capabilities.DataKind.ALL`) and ``name``."""
        kind = dataset_info.data_kind
        if kind not in cls.data_kinds:
            return f"{cls.name} models {'/'.join(sorted(cls.data_kinds))} data, {dataset_info.name} is {kind}"
        return None

    # -- training and inference ------------------------------------------------------------
    @abc.abstractmethod
    def fit(self, train: Tensor, budget: Budget, progress: ProgressFactory = null_progress,
            val: Tensor | None = None) -> "Method":
        """Train on ``train`` (N, D) within ``budget``; return self (see the module docstring)."""

    @abc.abstractmethod
    def infer(self, x: Tensor) -> Inference:
        """The :class:`Inference` of a batch x (B, D) (see the module docstring)."""

    def evaluate_extra(self, x: Tensor) -> dict[str, float]:
        """Method-specific scalars for the record (e.g. log-likelihood estimates). Default: none."""
        return {}

    # -- persistence -----------------------------------------------------------------------
    def _state_items(self):
        for k, v in vars(self).items():
            if k == "generator":
                continue
            if isinstance(v, (Tensor, nn.Module)):
                yield k, v

    def state_dict(self) -> dict[str, Any]:
        """Every tensor and ``nn.Module`` attribute, on the CPU (override for more state)."""
        out = {}
        for k, v in self._state_items():
            if isinstance(v, nn.Module):
                out[k] = {n: t.detach().cpu().clone() for n, t in v.state_dict().items()}
            else:
                out[k] = v.detach().cpu().clone()
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> "Method":
        """Restore every entry of ``state`` (a :meth:`state_dict`), on ``self.device``.

        A tensor attribute of this instance takes the stored values (in its own dtype); a stored
        tensor this instance lacks (an attribute created in ``fit``, or still None) is created,
        so a freshly constructed instance loads a trained checkpoint; an ``nn.Module`` attribute
        loads its stored state strictly. Raises :class:`~suite.errors.CheckpointError`, before
        changing anything, when the checkpoint lacks one of this instance's tensors or modules,
        holds the state of a module this instance does not have (build every module in
        ``__init__``, or override this method to rebuild it), or holds entries that are neither
        (a method whose ``state_dict`` stores more must override ``load_state_dict`` too)."""
        from .errors import CheckpointError

        label = self.name or type(self).__name__
        own = dict(self._state_items())
        missing = sorted(set(own) - set(state))
        if missing:
            raise CheckpointError(f"{label}: the checkpoint lacks {missing}, which this instance "
                                  "has: it was saved by another method or version")
        plan, modules_missing, unexpected, mismatched = [], [], [], []
        for k, value in state.items():
            mine = own.get(k)
            if isinstance(mine, nn.Module):
                if isinstance(value, Mapping):
                    plan.append((k, mine, value))
                else:
                    mismatched.append(f"{k} (a module here, a {type(value).__name__} stored)")
            elif isinstance(mine, Tensor):
                if isinstance(value, Tensor):
                    plan.append((k, mine, value))
                else:
                    mismatched.append(f"{k} (a tensor here, a {type(value).__name__} stored)")
            elif isinstance(value, Mapping) and all(isinstance(t, Tensor) for t in value.values()):
                modules_missing.append(k)
            elif (isinstance(value, Tensor) and isinstance(k, str) and k.isidentifier()
                  and k != "generator" and getattr(self, k, None) is None):
                plan.append((k, None, value))
            else:
                unexpected.append(k)
        if modules_missing:
            raise CheckpointError(
                f"{label}: the checkpoint holds the state of the module(s) "
                f"{sorted(modules_missing)}, which this instance does not have: the default load_state_dict can restore "
                "tensors created in fit but not modules. Build every nn.Module in __init__, or "
                "override load_state_dict to rebuild it before loading.")
        if mismatched or unexpected:
            what = [f"unexpected entries {sorted(map(str, unexpected))} (neither tensors nor "
                    "modules of this method, nor new tensor attributes)"] if unexpected else []
            what += [f"entries of another kind: {', '.join(mismatched)}"] if mismatched else []
            raise CheckpointError(
                f"{label}: cannot load the checkpoint: {'; '.join(what)}. A method whose "
                "state_dict stores more than tensors and modules must override load_state_dict.")
        for k, mine, value in plan:
            if isinstance(mine, nn.Module):
                mine.load_state_dict(value)
            elif mine is None:
                setattr(self, k, value.to(self.device))
            else:
                setattr(self, k, value.to(self.device, mine.dtype))
        return self

    def n_params(self) -> int:
        """Number of learned scalars (every floating tensor of ``state_dict``)."""
        total = 0
        for v in self.state_dict().values():
            tensors = v.values() if isinstance(v, dict) else [v]
            total += sum(t.numel() for t in tensors if t.is_floating_point())
        return total
