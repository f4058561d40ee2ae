"""Validated hyperparameters, in the manner of scikit-learn estimators.

A method declares its hyperparameters as a class attribute ``hparams``: a mapping from name to
either a plain default value or a :class:`Hyper` (default, validity check, one-line help).
:func:`resolve` merges user overrides into the defaults, rejecting unknown names (with the list
of valid ones) and values whose type does not match the default's or that fail their check.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from .errors import HyperparameterError, UnknownNameError

Check = Callable[[Any], bool]


@dataclasses.dataclass(frozen=True)
class Hyper:
    """One hyperparameter: its default, a predicate its value must satisfy, and a help line.

    ``choices`` restricts the value to a finite set (checked before ``check``).
    """

    default: Any
    help: str = ""
    check: Check | None = None
    check_text: str = ""
    choices: tuple | None = None


def positive(v) -> bool:
    return v > 0


def non_negative(v) -> bool:
    return v >= 0


def in_unit_interval(v) -> bool:
    return 0 <= v <= 1


def Positive(default, help: str = "") -> Hyper:
    """A strictly positive number."""
    return Hyper(default, help, positive, "> 0")


def NonNegative(default, help: str = "") -> Hyper:
    """A number >= 0."""
    return Hyper(default, help, non_negative, ">= 0")


def Fraction(default, help: str = "") -> Hyper:
    """A number in [0, 1]."""
    return Hyper(default, help, in_unit_interval, "in [0, 1]")


def Choice(default, choices, help: str = "") -> Hyper:
    """One of a fixed set of values."""
    return Hyper(default, help, choices=tuple(choices))


def as_hyper(spec: Any) -> Hyper:
    return spec if isinstance(spec, Hyper) else Hyper(spec)


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Return ``value`` converted to the default's type, or raise HyperparameterError."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, (list, tuple)):
        if isinstance(value, (list, tuple)):
            return list(value)
    else:
        return value
    raise HyperparameterError(
        f"hyperparameter {name!r} must be of type {type(default).__name__} "
        f"(default {default!r}), got {value!r} of type {type(value).__name__}."
    )


def resolve(owner: str, specs: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict:
    """Merge ``overrides`` into the defaults of ``specs`` and validate every value.

    Parameters
    ----------
    owner: the method name, for error messages.
    specs: name -> default value or :class:`Hyper`.
    overrides: name -> value given by the user (config file, ``--set``, keyword argument).

    Returns a plain dict name -> value with every declared hyperparameter.
    """
    unknown = [k for k in overrides if k not in specs]
    if unknown:
        raise UnknownNameError(
            "hyperparameter", unknown[0], specs.keys(), owner=owner, owner_kind="method",
            hint=f"Their defaults and meanings: `python run_suite.py list --method {owner}`.",
        )
    out = {}
    for name, spec in specs.items():
        h = as_hyper(spec)
        value = overrides.get(name, h.default)
        value = _coerce(f"{owner}.{name}", value, h.default)
        if h.choices is not None and value not in h.choices:
            raise HyperparameterError(
                f"hyperparameter {owner}.{name} must be one of {list(h.choices)}, got {value!r}."
            )
        if h.check is not None and value is not None and not h.check(value):
            raise HyperparameterError(
                f"hyperparameter {owner}.{name} must be {h.check_text or 'valid'}, got {value!r}."
            )
        out[name] = value
    return out


def describe(specs: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """(name, default, help) for every hyperparameter, in declaration order, for ``--list``."""
    rows = []
    for name, spec in specs.items():
        h = as_hyper(spec)
        extra = f" ({h.check_text})" if h.check_text else ""
        if h.choices:
            extra = f" (one of {', '.join(map(str, h.choices))})"
        rows.append((name, h.default, (h.help + extra).strip()))
    return rows
