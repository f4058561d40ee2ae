"""The Method interface: what every inference method of the suite implements.

A method trains (``fit``) and infers (``infer``); the suite computes every metric from what
``infer`` returns (:class:`Inference`), the same way for every method. Subclass
:class:`Method`, give it a ``name`` and decorate it with :func:`suite.registry.register`.

Hooks, in the order the runner calls them
-----------------------------------------
``__init__(data_shape, n_latents, device, seed, **hparams)``
    Store and validate hyperparameters (unknown names are an error), build parameters on
    ``device`` reproducibly from ``seed`` (use ``suite.seeding.seeded``). Do no training here.
``fit(train, budget, progress, val=None) -> self``
    ``train`` is a float32 tensor (N, D) already on ``device``; ``budget`` says how long to
    train; ``progress(total=, desc=)`` gives a bar. Raise ``NonFiniteLossError`` on NaN/inf
    (``suite.training.check_finite`` does it). ``val`` (M, D) is a held-out slice of the
    *training* split (the runner carves it out, seeded, and trains on the rest: eval setting
    ``holdout``), never the evaluation split: use it for early stopping and model selection
    only. It may be None. Record the training loss of every optimizer step in
    ``self.loss_curve_`` (a :class:`suite.loss_curve.LossCurve`), from which the runner judges
    PROTOCOL.md's convergence criterion; a method that leaves it None is shown "n/a".
``infer(x) -> Inference``
    Called under ``torch.no_grad()`` on batches (B, D) of validation data.
``dictionary() -> Tensor (K, D) | None``
    The linear generative map, for methods that have one (enables the amortization-gap analysis
    and the dictionary figure).
``state_dict() / load_state_dict(state)``
    Checkpointing; the default saves every tensor and ``nn.Module`` attribute.
``evaluate_extra(x) -> dict[str, float]``
    Optional method-specific quantities the protocol asks for and only the model can compute
    (e.g. importance-sampled log-likelihoods); the suite stores them beside its own metrics.

Class attributes
----------------
``name`` (CLI name), ``family`` (one of :data:`FAMILIES`), ``description`` (one line, defaults
to the docstring's first line), ``version`` (bump it when a change alters results: it is part of
every run key), ``hparams`` (name -> default or :class:`suite.hparams.Hyper`), ``smoke_hparams``
(tiny values for the conformance battery), ``data_kinds`` (``{"continuous", "binary"}`` subset
the method can model), ``dead_unit_rule`` (how PROTOCOL.md's dead-unit test applies: ``"auto"``
uses ``unit_rate`` when present, else activity; ``"feature_std"`` uses the standard deviation of
``features`` over inputs, for the BiHM).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Mapping

import torch
from torch import Tensor, nn

from . import hparams as hp
from .errors import DataError
from .progress import ProgressFactory, null_progress
from .loss_curve import LossCurve
from .seeding import make_generator

FAMILIES = ("amortized-vae", "iterative-vae", "sparse-coding", "helmholtz", "other")


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


class Method:
    """Base class of every method; see the module docstring for the hooks to implement."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = "other"
    description: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    hparams: ClassVar[Mapping[str, Any]] = {}
    smoke_hparams: ClassVar[Mapping[str, Any]] = {}
    data_kinds: ClassVar[frozenset[str]] = frozenset({"continuous", "binary"})
    dead_unit_rule: ClassVar[str] = "auto"
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
        """Why this method cannot run on a dataset (None when it can). ``dataset_info`` has
        ``is_binary`` and ``name``."""
        kind = "binary" if dataset_info.is_binary else "continuous"
        if kind not in cls.data_kinds:
            return f"{cls.name} models {'/'.join(sorted(cls.data_kinds))} data, {dataset_info.name} is {kind}"
        return None

    # -- training and inference ------------------------------------------------------------
    def fit(self, train: Tensor, budget: Budget, progress: ProgressFactory = null_progress,
            val: Tensor | None = None) -> "Method":
        raise NotImplementedError

    def infer(self, x: Tensor) -> Inference:
        raise NotImplementedError

    def dictionary(self) -> Tensor | None:
        """(K, D) linear generative map, or None."""
        return None

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
        own = dict(self._state_items())
        missing = set(own) - set(state)
        if missing:
            raise KeyError(f"{self.name}: checkpoint lacks {sorted(missing)}")
        for k, v in own.items():
            if isinstance(v, nn.Module):
                v.load_state_dict(state[k])
            else:
                setattr(self, k, state[k].to(self.device, v.dtype))
        return self

    def n_params(self) -> int:
        """Number of learned scalars (every floating tensor of ``state_dict``)."""
        total = 0
        for v in self.state_dict().values():
            tensors = v.values() if isinstance(v, dict) else [v]
            total += sum(t.numel() for t in tensors if t.is_floating_point())
        return total
