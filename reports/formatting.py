"""How numbers, configurations and file names are written in the reports.

Numbers: 4 significant digits (whole numbers from 1000 up), a confidence half-width with 2;
"mean ± half-width" with several seeds, the value alone with one. Two marks for "no number":
:data:`UNDEFINED` ("—") where a metric does not apply to a method (e.g. ``rate`` of sparse
coding), :data:`NOT_A_NUMBER` ("NaN"; "inf" / "-inf" for infinities) where it was computed but
is not a finite number (:func:`fmt_computed`); :data:`MARKS_NOTE` explains both under tables.

Convergence (PROTOCOL.md; the runs' metric ``converged``, 1/0 per run, None when it cannot be
judged, see :mod:`suite.loss_curve`): a configuration is "yes" when every seed that could be
judged converged, "no" when one did not, "n/a" when none could be judged (or its records predate
the flag). A "no" row's label carries :data:`UNCONVERGED_MARK`, explained by
:data:`UNCONVERGED_NOTE` under the table; a row with a seed cut by its time limit (the metric
``time_limited``) carries :data:`TIME_LIMITED_MARK`, explained by :data:`TIME_LIMITED_NOTE`.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping

from suite import loss_curve

UNDEFINED = "—"
NOT_A_NUMBER = "NaN"
MARKS_NOTE = (f"{UNDEFINED} : not applicable (the method does not define the metric); "
              f"{NOT_A_NUMBER} (or inf / -inf): computed, but not a finite number for at least "
              "one seed.")
UNCONVERGED_MARK = " †"
UNCONVERGED_NOTE = (f"† not converged: loss still improving > {loss_curve.TOL:.0%} over the last "
                    f"{loss_curve.WINDOW:.0%} of training; its numbers are not results")
TIME_LIMITED_MARK = " ‡"
TIME_LIMITED_NOTE = ("‡ cut by its time limit (max_seconds) before its planned steps, on at least "
                     "one seed: its numbers depend on the machine's speed and load (give it more "
                     "time with --set METHOD.max_seconds=...)")
TIME_LIMITED_BADGE = "cut by its time limit"


def fmt_number(v: float | None, digits: int = 4) -> str:
    """``v`` with ``digits`` significant digits (no decimals from 1000 up); "—" when undefined."""
    if v is None or not math.isfinite(v):
        return UNDEFINED
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def fmt_computed(v: float) -> str:
    """A computed value that may be non-finite: "NaN", "inf", "-inf", or :func:`fmt_number`."""
    if v is None or math.isnan(v):
        return NOT_A_NUMBER
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return fmt_number(v)


def fmt_mean_ci(mean: float | None, half_width: float | None) -> str:
    """"mean ± half-width" (the half-width to 2 significant digits), or the mean alone when the
    half-width is undefined (one seed), or "—"."""
    text = fmt_number(mean)
    if text == UNDEFINED or half_width is None or not math.isfinite(half_width):
        return text
    return f"{text} ± {fmt_number(half_width, 2)}"


def converged_text(value: float | None) -> str:
    """"yes" / "no" / "n/a" from the mean over seeds of the ``converged`` metric (NaN or None:
    no seed could be judged)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return "yes" if value >= 1.0 else "no"


def mark_label(label: str, converged: str, time_limited: bool) -> str:
    """``label`` with :data:`UNCONVERGED_MARK` when ``converged`` is "no", then
    :data:`TIME_LIMITED_MARK` when a seed was cut by its time limit."""
    return (label + (UNCONVERGED_MARK if converged == "no" else "")
            + (TIME_LIMITED_MARK if time_limited else ""))


def split_marks(label: str) -> tuple[str, str]:
    """``(body, marks)``: a label without its trailing † / ‡ marks, and those marks."""
    body = label
    while body.endswith((UNCONVERGED_MARK, TIME_LIMITED_MARK)):
        body = body[:-2]
    return body, label[len(body):]


def fmt_param(v: Any) -> str:
    """A hyperparameter value as a user would type it on the command line."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (int, str)):
        return str(v)
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def config_label(method: str, overrides: Mapping[str, Any]) -> str:
    """``lca`` for the configured default, ``lca (lam=0.1, n_latents=64)`` for overrides."""
    if not overrides:
        return method
    return f"{method} ({', '.join(f'{k}={fmt_param(v)}' for k, v in sorted(overrides.items()))})"


def sort_value(v: Any) -> tuple:
    """A key that orders mixed hyperparameter values: numbers by value, then text, then the rest."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, float(v), "")
    if isinstance(v, str):
        return (1, 0.0, v)
    return (2, 0.0, json.dumps(v, sort_keys=True, default=str))


def slug(text: str) -> str:
    """A file-name-safe form of ``text``: ``lca (lam=0.1)`` → ``lca_lam-0.1``."""
    text = text.replace("=", "-")
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_") or "x"
