"""Typed evaluation and analysis settings: the ``eval:`` mapping of a profile, validated.

Every setting of a run's evaluation has its default here, and only here:

==========================  ==========  ======================================================
key                         default     meaning
==========================  ==========  ======================================================
``holdout``                 see below   seeded slice of the *training* split given to ``fit`` as
                                        ``val`` (:mod:`suite.subsets`); null or false: none
``max_val``                 null        evaluate on a seeded random subset of this many
                                        validation samples (null: all of them)
``knn_draws``               100         draws of the few-shot KNN pool (:func:`suite.metrics.evaluate`)
``dead_kl_threshold``       0.01        a unit is dead when its mean KL is below this (nats)
``infer_batch_size``        1000        samples per ``infer`` call during evaluation
``extra_on_test``           true        method extras (likelihoods) also on the test split
``trace_points``            20          log-spaced steps of the convergence trace
``amortization_gap``        off         re-infer codes with LCA/FISTA (see :class:`GapSettings`);
                                        true: on with the defaults; null, false or ``{}``: off
==========================  ==========  ======================================================

``holdout: {fraction, max}``: ``fraction`` in [0, 1) of the training split (0.05), at most
``max`` samples (5000; null: no cap). ``amortization_gap: {lams, solvers, max_val, nonneg, tol,
max_iter}``: the λ grid ((0.05, 0.1, 0.2, 0.5, 1.0)), the solvers (lca, fista), a seeded random
subset of the evaluated samples (null: all), non-negative codes (false), the solvers' relative
duality-gap tolerance (1e-4) and iteration cap (2000).

:meth:`EvalSettings.from_mapping` validates a mapping (an unknown key, a wrong type or a value out
of range is a :class:`~suite.errors.ConfigError` that names the key, where it came from and the
allowed keys); :meth:`EvalSettings.to_dict` gives the canonical plain dict a run spec stores and
hashes into its key: the keys the settings were given, each value in canonical form, plus
``holdout`` always (so that the slice a run trained without is part of its key). Keys left out
take their defaults without entering the key, so a default can be stated in a profile or not
without changing a run key, as long as the profiles keep stating what they state today.
``EvalSettings.from_mapping(s.to_dict()) == s`` for every ``s``.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Mapping

from .errors import ConfigError

GAP_SOLVERS = ("lca", "fista")
"""The default solvers of the amortization-gap analysis; any registered method declaring
:class:`suite.capabilities.LassoSolver` may be named (checked when the analysis runs)."""
DEFAULT_LAMS = (0.05, 0.1, 0.2, 0.5, 1.0)
"""The default λ grid of the amortization gap (unit-norm atoms); the paper's LCA points are
λ = 0.1, 0.5, 1.0."""

_MISSING = object()


# -- value checks (each returns the canonical value or raises ConfigError) ----------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive_int(where: str, key: str, value: Any, *, nullable: bool = False) -> int | None:
    """A positive integer (integral numbers in any notation, ``1e3``, are accepted and made
    ints); None when ``nullable``."""
    if value is None and nullable:
        return None
    if _is_number(value) and float(value).is_integer() and value > 0:
        return int(value)
    raise ConfigError(f"{where}: {key} must be a positive integer{' or null' if nullable else ''}, "
                      f"got {value!r}")


def _number(where: str, key: str, value: Any, *, low: float, high: float | None = None,
            low_open: bool = False, high_open: bool = True) -> float:
    """A finite number in the given range, as a float."""
    ok = _is_number(value) and (value > low if low_open else value >= low)
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if ok:
        return float(value)
    lo = f"{'(' if low_open else '['}{low:g}"
    hi = f"{high:g}{')' if high_open else ']'}" if high is not None else "∞)"
    raise ConfigError(f"{where}: {key} must be a number in {lo}, {hi}, got {value!r}")


def _bool(where: str, key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{where}: {key} must be true or false, got {value!r}")


def _check_keys(where: str, what: str, given: Mapping, allowed: tuple[str, ...]) -> None:
    unknown = [k for k in given if k not in allowed]
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise ConfigError(f"{where}: unknown {what} {names} (allowed: {', '.join(allowed)})")


def _mapping(where: str, value: Any, what: str) -> Mapping:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: {what} must be a mapping, got {value!r}")
    return value


# -- the settings ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class HoldoutSettings:
    """The slice of the training split held out for ``fit``'s ``val`` (:mod:`suite.subsets`)."""

    fraction: float = 0.05
    """Fraction of the training split, in [0, 1); 0: no slice (``val`` is None)."""
    max: int | None = 5000
    """Cap on the slice's size; None: no cap."""

    KEYS: ClassVar[tuple[str, ...]] = ("fraction", "max")

    @classmethod
    def from_value(cls, value: Any, where: str = "eval.holdout") -> "HoldoutSettings":
        """From a profile's ``holdout`` value: a mapping with keys of :attr:`KEYS` (missing ones
        take their defaults), or None / false for no slice."""
        if isinstance(value, cls):
            return value
        if value is None or value is False:
            return cls(fraction=0.0)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping like {cls().to_dict()}, or null for no "
                              f"held-out slice, got {value!r}")
        _check_keys(where, "key", value, cls.KEYS)
        fraction = value.get("fraction", cls.fraction)
        fraction = _number(where, "fraction", fraction, low=0.0, high=1.0)
        cap = _positive_int(where, "max", value.get("max", cls.max), nullable=True)
        return cls(fraction=fraction, max=cap)

    def to_dict(self) -> dict:
        return {"fraction": float(self.fraction), "max": self.max}


@dataclasses.dataclass(frozen=True)
class GapSettings:
    """The amortization-gap analysis (:mod:`suite.analyses.amortization_gap`)."""

    lams: tuple[float, ...] = DEFAULT_LAMS
    """The λ grid of the re-inference (numbers ≥ 0)."""
    solvers: tuple[str, ...] = GAP_SOLVERS
    """Solvers to re-infer with, among :data:`GAP_SOLVERS`."""
    max_val: int | None = None
    """A seeded random subset of this many of the evaluated samples; None: all."""
    nonneg: bool = False
    """Constrain the re-inferred codes to be ≥ 0."""
    tol: float = 1e-4
    """The solvers' stopping rule (relative duality gap)."""
    max_iter: int = 2000
    """The solvers' iteration cap."""

    KEYS: ClassVar[tuple[str, ...]] = ("lams", "solvers", "max_val", "nonneg", "tol", "max_iter")

    @classmethod
    def canonical(cls, value: Mapping, where: str = "eval.amortization_gap") -> dict:
        """The given keys of a mapping, validated, their values in canonical form."""
        _check_keys(where, "key", value, cls.KEYS)
        out: dict[str, Any] = {}
        for key, v in value.items():
            if key == "lams":
                if not isinstance(v, (list, tuple)) or not v:
                    raise ConfigError(f"{where}: lams must be a non-empty list of numbers ≥ 0, got {v!r}")
                out[key] = [_number(where, "lams", lam, low=0.0) for lam in v]
            elif key == "solvers":
                if (not isinstance(v, (list, tuple)) or not v
                        or any(not isinstance(s, str) or not s for s in v)):
                    raise ConfigError(f"{where}: solvers must be a non-empty list of method names "
                                      f"declaring the LassoSolver capability (e.g. "
                                      f"{', '.join(GAP_SOLVERS)}), got {v!r}")
                out[key] = list(v)
            elif key == "max_val":
                out[key] = _positive_int(where, key, v, nullable=True)
            elif key == "nonneg":
                out[key] = _bool(where, key, v)
            elif key == "tol":
                out[key] = _number(where, key, v, low=0.0, low_open=True)
            else:  # max_iter
                out[key] = _positive_int(where, key, v)
        return out

    @classmethod
    def from_mapping(cls, value: Mapping | None, where: str = "eval.amortization_gap") -> "GapSettings":
        """From a mapping with keys of :attr:`KEYS` (missing ones take their defaults)."""
        d = cls.canonical(_mapping(where, value, "amortization_gap"), where)
        if "lams" in d:
            d["lams"] = tuple(d["lams"])
        if "solvers" in d:
            d["solvers"] = tuple(d["solvers"])
        return cls(**d)

    @classmethod
    def from_value(cls, value: Any, where: str = "eval.amortization_gap") -> "GapSettings | None":
        """From a profile's ``amortization_gap`` value: None when the analysis is off (null,
        false or an empty mapping), the defaults for true, else :meth:`from_mapping`."""
        if isinstance(value, cls):
            return value
        if value is True:
            return cls()
        if value is None or value is False or (isinstance(value, Mapping) and not value):
            return None
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be true, false, null or a mapping with keys "
                              f"{', '.join(cls.KEYS)}, got {value!r}")
        return cls.from_mapping(value, where)

    def to_dict(self) -> dict:
        """Every setting, filled in: what :func:`suite.analyses.amortization_gap.run_gap` takes."""
        return {"lams": list(self.lams), "solvers": list(self.solvers), "max_val": self.max_val,
                "nonneg": self.nonneg, "tol": self.tol, "max_iter": self.max_iter}

    def replace(self, **changes: Any) -> "GapSettings":
        """A copy with some settings changed (validated; None values are ignored)."""
        d = {k: v for k, v in changes.items() if v is not None}
        return GapSettings.from_mapping({**self.to_dict(), **d}, "amortization gap settings")


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """A run's evaluation and analysis settings (the profile's ``eval:`` mapping), typed."""

    holdout: HoldoutSettings = HoldoutSettings()
    max_val: int | None = None
    knn_draws: int = 100
    dead_kl_threshold: float = 0.01
    infer_batch_size: int = 1000
    extra_on_test: bool = True
    trace_points: int = 20
    amortization_gap: GapSettings | None = None
    given: Mapping[str, Any] | None = dataclasses.field(default=None, compare=False, repr=False)
    """The canonical form of the mapping these settings were read from (see :meth:`to_dict`);
    None when built directly (then every setting is stated)."""

    KEYS: ClassVar[tuple[str, ...]] = ("holdout", "max_val", "knn_draws", "dead_kl_threshold",
                                       "infer_batch_size", "extra_on_test", "trace_points",
                                       "amortization_gap")

    @classmethod
    def canonical(cls, value: Mapping | None, where: str = "eval") -> dict:
        """The keys a mapping gives, validated, each value in canonical form (``holdout`` is
        always present, filled in: :meth:`to_dict`)."""
        value = _mapping(where, value, "eval")
        _check_keys(where, "eval setting", value, cls.KEYS)
        out: dict[str, Any] = {}
        for key, v in value.items():
            sub = f"{where}.{key}"
            if key == "holdout":
                out[key] = HoldoutSettings.from_value(v, sub).to_dict()
            elif key == "max_val":
                out[key] = _positive_int(where, key, v, nullable=True)
            elif key in ("knn_draws", "infer_batch_size", "trace_points"):
                out[key] = _positive_int(where, key, v)
            elif key == "dead_kl_threshold":
                out[key] = _number(where, key, v, low=0.0)
            elif key == "extra_on_test":
                out[key] = _bool(where, key, v)
            else:  # amortization_gap: true/false/null stay as written, a mapping is canonical
                GapSettings.from_value(v, sub)
                out[key] = GapSettings.canonical(v, sub) if isinstance(v, Mapping) else v
        out.setdefault("holdout", cls.holdout.to_dict())
        return out

    @classmethod
    def from_mapping(cls, value: Mapping | None, where: str = "eval") -> "EvalSettings":
        """Validated settings from a profile's ``eval:`` mapping or a run spec's ``eval`` dict
        (missing keys take their defaults). ``where`` names the source in error messages (the
        file, and the place in it)."""
        if isinstance(value, cls):
            return value
        given = cls.canonical(value, where)
        fields: dict[str, Any] = {}
        for key, v in given.items():
            if key == "holdout":
                fields[key] = HoldoutSettings.from_value(v, f"{where}.holdout")
            elif key == "amortization_gap":
                fields[key] = GapSettings.from_value(v, f"{where}.amortization_gap")
            else:
                fields[key] = v
        return cls(**fields, given=given)

    def to_dict(self) -> dict:
        """The canonical plain dict of a run spec: the keys these settings were read from, in
        canonical form, and ``holdout`` (every key when built directly)."""
        import copy

        if self.given is not None:
            return copy.deepcopy(dict(self.given))
        return self.full_dict()

    def full_dict(self) -> dict:
        """Every setting, defaults filled in (``amortization_gap``: None when off)."""
        return {"holdout": self.holdout.to_dict(), "max_val": self.max_val,
                "knn_draws": self.knn_draws, "dead_kl_threshold": self.dead_kl_threshold,
                "infer_batch_size": self.infer_batch_size, "extra_on_test": self.extra_on_test,
                "trace_points": self.trace_points,
                "amortization_gap": None if self.amortization_gap is None
                else self.amortization_gap.to_dict()}


DEFAULT_HOLDOUT = HoldoutSettings().to_dict()
"""The default held-out slice as a plain dict (``{"fraction": 0.05, "max": 5000}``)."""
