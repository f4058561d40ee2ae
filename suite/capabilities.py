"""Declared capabilities: what a method can do beyond ``fit`` and ``infer``, and the data kinds.

Every method trains and infers (:class:`suite.method.Method`). Some can do more — run their
inference step by step, draw samples, expose a linear dictionary, solve the lasso for others —
and the suite's analyses and commands use that. A method **declares** such a capability by
listing its mixin among its bases, as scikit-learn tags an estimator::

    @register
    class LCA(SparseCodingMethod, IterativeInference, LassoSolver):
        ...

and the suite tests it with ``isinstance(method, IterativeInference)`` (or ``issubclass`` on
the registered class), never by probing for attributes. Each mixin's hooks are abstract: a class
that declares a capability without implementing its hooks cannot be instantiated (``TypeError``
naming the missing hooks). The reverse is checked at registration: :func:`suite.registry.register`
rejects a method that defines a capability's hook (e.g. ``dictionary``) without declaring the
capability (:func:`undeclared_hooks`), so a hook is never silently ignored.

Capabilities and their hooks (shapes: B inputs, D = ``method.dim`` features, K = ``n_latents``)
------------------------------------------------------------------------------------------------
:class:`IterativeInference` — inference is an iteration whose intermediate states are
    meaningful (the iterative VAEs, the LCA). Used by the convergence analysis
    (:mod:`suite.analyses.convergence`), run for every such method.

    ``test_steps -> int`` (property or class attribute): the evaluation horizon, the number of
    steps the trace runs to by default.
    ``train_steps -> int | None`` (property or class attribute; default None): the horizon the
    method was trained with, added to the traced steps when ≤ ``test_steps``.
    ``infer_trajectory(x (B, D), steps: Iterable[int]) -> Iterator[(t, Inference, delta (B,))]``:
    run max(steps) steps on x (under ``torch.no_grad()``) and yield, at every requested step
    t ≥ 1 in ascending order, the :class:`~suite.method.Inference` of the state after t steps
    and ``delta`` (B,), the per-input norm ‖s_t − s_{t−1}‖₂ of that step's state change (in the
    method's state units). Steps < 1 are a ``ValueError``. Memory O(B·K) whatever the steps.

:class:`Sampling` — the trained model can generate data. Used by ``run_suite.py sample``.

    ``sample_grid(path, n=64, sweeps=100, proposals=100) -> Path``: write a PNG figure of ``n``
    samples (per panel) to ``path`` (creating its folder) and return the path written.
    ``sweeps`` and ``proposals`` are the settings of an MCMC sampler (Gibbs sweeps, candidates
    per proposal distribution); a sampler without such a chain ignores them. Draw from
    generators seeded from the method's seed, so a checkpoint gives the same figure.

:class:`LinearDictionary` — the generative map is linear, x̂ = aΦ, for some configurations.
    Used by the dictionary figure (stored with the run) and the amortization-gap analysis.

    ``dictionary() -> Tensor (K, D) | None``: Φ, one atom (the image unit k adds to the
    reconstruction) per row, on the method's device. **None** means "not for this
    configuration": a method whose generative map is linear only for some hyperparameters or
    data returns None for the others — the amortized VAEs with a non-linear decoder
    (``arch`` ``...|mlp`` or ``...|conv``), the BiHM on binary data (σ(Wh + b)). A None
    dictionary stores nothing and skips the analyses, as if the capability were absent.

:class:`LassoSolver` — the method's inference *is* the lasso solution on its dictionary, and it
    exposes that solver for others. The amortization-gap analysis re-infers other methods'
    codes with the registered LassoSolver classes it is asked for (``METHODS.get(name)``, never
    an import of a plugin module), and does not apply to a LassoSolver itself: re-inferring its
    codes by the lasso would give back its own inference (:func:`amortization_gap_applies`).
    The reproduction check C1 compares these solvers with scikit-learn.

    ``solve_lasso(x (B, D), atoms (K, D), lam, *, nonneg=False, tol=1e-4, max_iter=5000,
    max_eig=None, return_info=False) -> codes (B, K) | (codes, info)`` (a classmethod: no
    trained state is needed): the codes a minimizing ½‖x − aΦ‖² + λ‖a‖₁ (a ≥ 0 with
    ``nonneg``) for every row of x, with atoms of unit norm, stopping when every row's relative
    duality gap is ≤ ``tol`` or after ``max_iter`` iterations, on the device and in the dtype
    of x. ``max_eig``: the largest eigenvalue of ΦΦᵀ when the caller knows it (a solver whose
    stability depends on it, such as the LCA's Euler step, adapts to it). ``info`` has at
    least ``n_unconverged`` (int): the rows that stopped at ``max_iter``.

:class:`EstimatorCheck` — the method's estimators (e.g. of log-likelihoods) can be checked
    against exact enumeration on a model small enough to enumerate. Used by the reproduction
    claim C2.

    ``estimator_convergence(ks=(10, 100, 1000, 10000), seed=0) -> dict`` (a classmethod):
    ``{"rows": [{"K": k, <quantity>: mean |estimate − exact|, ...} per k], ...}`` with the
    errors of every estimator for K = each of ``ks`` samples, plus any description keys.

Data kinds
----------
Methods and datasets share one vocabulary, :class:`DataKind`: a dataset source declares the
``data_kind`` of its samples (``"continuous"`` or ``"binary"``: every value 0 or 1), a method
the set ``data_kinds`` it can model; :meth:`suite.method.Method.cannot_run_reason` compares
them.
"""
from __future__ import annotations

import abc
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Iterator

from torch import Tensor

if TYPE_CHECKING:  # the Method module imports this one
    from .method import Inference


class DataKind:
    """The kinds of data (one vocabulary for methods and datasets): plain string constants, so
    that stored records and settings files hold them as text."""

    CONTINUOUS: ClassVar[str] = "continuous"
    """Real-valued samples (patches, pixel intensities)."""
    BINARY: ClassVar[str] = "binary"
    """Samples whose every value is 0 or 1 (binarized MNIST, dynamic binarizations)."""
    ALL: ClassVar[frozenset[str]] = frozenset({CONTINUOUS, BINARY})

    @classmethod
    def of_flag(cls, is_binary: bool) -> str:
        """The kind of a legacy ``is_binary`` flag."""
        return cls.BINARY if is_binary else cls.CONTINUOUS

    @classmethod
    def check(cls, kind: Any, where: str) -> str:
        """``kind`` if it is one of :data:`ALL`; ``ValueError`` naming ``where`` otherwise."""
        if not isinstance(kind, str) or kind not in cls.ALL:
            raise ValueError(f"{where}: data kind must be one of {sorted(cls.ALL)}, got {kind!r}")
        return kind


class Capability(abc.ABC):
    """Base of the capability mixins. ``hooks``: the methods a declaring class must implement
    (its abstract methods), which :func:`undeclared_hooks` also looks for in classes that do
    not declare the capability."""

    hooks: ClassVar[tuple[str, ...]] = ()


class IterativeInference(Capability):
    """Inference runs step by step; the convergence analysis traces its metrics against the step
    (see the module docstring for the hooks)."""

    hooks = ("infer_trajectory",)

    @property
    @abc.abstractmethod
    def test_steps(self) -> int:
        """The evaluation horizon (steps of ``infer``; the trace's last step by default)."""

    @property
    def train_steps(self) -> int | None:
        """The training horizon, or None when the method has none (default)."""
        return None

    @abc.abstractmethod
    def infer_trajectory(self, x: Tensor, steps: Iterable[int]
                         ) -> Iterator[tuple[int, "Inference", Tensor]]:
        """Yield ``(t, Inference after t steps, ‖s_t − s_{t−1}‖₂ per input (B,))`` at every
        requested step t ≥ 1, ascending, for x (B, D)."""


class Sampling(Capability):
    """The trained model draws samples; ``run_suite.py sample`` writes them as a PNG."""

    hooks = ("sample_grid",)

    @abc.abstractmethod
    def sample_grid(self, path: str | Path, n: int = 64, sweeps: int = 100,
                    proposals: int = 100) -> Path:
        """Write a PNG of ``n`` samples (per panel) to ``path``; return the path written.
        ``sweeps``/``proposals``: MCMC settings, ignored by samplers without a chain."""


class LinearDictionary(Capability):
    """The generative map is linear, x̂ = aΦ, for some configurations (the dictionary figure and
    the amortization gap use Φ)."""

    hooks = ("dictionary",)

    @abc.abstractmethod
    def dictionary(self) -> Tensor | None:
        """Φ (K, D), one atom per row; None when this configuration's generative map is not
        linear (e.g. a non-linear decoder, a Bernoulli visible layer)."""


class LassoSolver(Capability):
    """The method infers by solving the lasso, and exposes that solver (a classmethod) for the
    amortization gap and the C1 check; the gap does not apply to the method itself."""

    hooks = ("solve_lasso",)

    @classmethod
    @abc.abstractmethod
    def solve_lasso(cls, x: Tensor, atoms: Tensor, lam: float, *, nonneg: bool = False,
                    tol: float = 1e-4, max_iter: int = 5000, max_eig: float | None = None,
                    return_info: bool = False):
        """Codes (B, K) minimizing ½‖x − aΦ‖² + λ‖a‖₁ for x (B, D) and unit-norm atoms Φ (K, D);
        with ``return_info``, ``(codes, info)``, ``info.n_unconverged`` the rows that hit
        ``max_iter``."""


class EstimatorCheck(Capability):
    """The method's estimators can be checked against exact enumeration (reproduction claim C2)."""

    hooks = ("estimator_convergence",)

    @classmethod
    @abc.abstractmethod
    def estimator_convergence(cls, ks: Iterable[int] = (10, 100, 1000, 10_000), seed: int = 0) -> dict:
        """``{"rows": [{"K": k, <quantity>: mean |error|, ...} per k], ...}``."""


CAPABILITIES: tuple[type[Capability], ...] = (IterativeInference, Sampling, LinearDictionary,
                                               LassoSolver, EstimatorCheck)
"""Every capability mixin, in the order :func:`capabilities_of` lists them."""


def capabilities_of(cls_or_method: Any) -> list[str]:
    """Names of the capabilities a method class (or instance) declares, e.g. ``["LinearDictionary"]``."""
    cls = cls_or_method if isinstance(cls_or_method, type) else type(cls_or_method)
    return [cap.__name__ for cap in CAPABILITIES if issubclass(cls, cap)]


def undeclared_hooks(cls: type) -> list[tuple[str, str]]:
    """``(hook, capability)`` for every capability hook that ``cls`` or one of its bases defines
    while ``cls`` does not declare the capability: a registration error
    (:func:`suite.registry.register`), since the suite would never call that hook."""
    out = []
    for cap in CAPABILITIES:
        if issubclass(cls, cap):
            continue
        for hook in cap.hooks:
            if any(hook in vars(klass) for klass in cls.__mro__):
                out.append((hook, cap.__name__))
    return out


def amortization_gap_applies(cls_or_method: Any) -> bool:
    """Whether the amortization-gap analysis is meaningful for a method: it declares a
    :class:`LinearDictionary` (its ``dictionary()`` may still be None for a configuration) and
    is not itself a :class:`LassoSolver` (whose own inference already is the lasso solution)."""
    cls = cls_or_method if isinstance(cls_or_method, type) else type(cls_or_method)
    return issubclass(cls, LinearDictionary) and not issubclass(cls, LassoSolver)
