"""User-facing errors of the suite.

Every error a user can cause (a typo in a method name, a missing data file, a malformed
``--set``) is a :class:`SuiteError`: the command line prints its message, without a traceback,
and exits with a non-zero status. Messages say what was wrong and how to fix it.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class SuiteError(Exception):
    """Base class of errors caused by the user's input or environment, not by a bug."""


class UnknownNameError(SuiteError, KeyError):
    """A method, dataset, profile or hyperparameter name that is not registered."""

    def __init__(self, kind: str, name: str, valid: Iterable[str], hint: str = "", owner: str = "",
                 owner_kind: str = ""):
        """``owner`` (of kind ``owner_kind``): what the names belong to, e.g. the method ``lca``
        for its hyperparameters."""
        valid = sorted(valid)
        close = difflib.get_close_matches(name, valid, n=1)
        of = " of " + " ".join(filter(None, (owner_kind, owner))) if owner else ""
        msg = f"unknown {kind} {name!r}{of}."
        if close:
            msg += f" Did you mean {close[0]!r}?"
        listed = ", ".join(valid) if valid else "(none registered)"
        msg += f" Valid {kind}s{' of ' + owner if owner else ''}: {listed}."
        if hint:
            msg += " " + hint
        super().__init__(msg)
        self.kind, self.name, self.valid = kind, name, valid

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class HyperparameterError(SuiteError, ValueError):
    """A hyperparameter value of the wrong type or out of its valid range."""


class ConfigError(SuiteError, ValueError):
    """A malformed configuration file, profile or command-line override."""


class DataError(SuiteError):
    """Data that is missing, truncated, of the wrong shape or with invalid values."""


class DataMissingError(DataError, FileNotFoundError):
    """A dataset whose files are not in the data folder; the message says how to get them."""


class NonFiniteLossError(SuiteError, FloatingPointError):
    """Training produced a NaN or infinite loss; the run stops instead of writing garbage."""


class DuplicateRegistrationError(SuiteError):
    """Two plugins registered the same name."""


class CheckpointError(SuiteError, KeyError):
    """A checkpoint (a method's ``state_dict``) that does not fit the method loading it: missing
    or unexpected entries, or the state of a module the method does not have."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0] if self.args else ""
