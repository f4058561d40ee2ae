"""A claim's verdict: what was measured, whether it holds, and whether that may be believed.

A verdict is only a result when every run behind it converged (PROTOCOL.md: the loss improved
by less than 1% over the last 20% of training). :func:`decide` turns the judge's answer and the
runs' convergence flags into one of :data:`STATUSES`:

- ``"holds"`` / ``"does not hold"``: the rule was evaluated on converged runs;
- ``"inconclusive: not converged"``: the rule was evaluated, but at least one run behind it was
  still improving; the measured numbers are shown, flagged, and are not results;
- ``"not run"``: a run is missing or failed, or its data are not available here (the reason says
  which);
- ``"not measurable"``: the runs exist but the rule could not be evaluated (e.g. a metric is
  undefined); the reason says why.

A run whose convergence could not be judged (too few steps, flag None) does not block a verdict,
but the verdict's note names it. A *time-bounded* claim ("within 60 minutes of training") is
decided on its runs as they stand when the time runs out, converged or not; the note says when a
run was still improving.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable, Sequence

HOLDS, FAILS = "holds", "does not hold"
UNCONVERGED = "inconclusive: not converged"
NOT_RUN, NOT_MEASURABLE = "not run", "not measurable"
STATUSES = (HOLDS, FAILS, UNCONVERGED, NOT_RUN, NOT_MEASURABLE)


@dataclasses.dataclass
class Judgement:
    """What a claim's judge found: ``holds`` (None when the rule cannot be evaluated),
    ``measured`` (the numbers, as text), ``evidence`` (JSON-ready details), ``reason`` (why it
    cannot be evaluated, when ``holds`` is None) and ``figure`` (a path, or None)."""

    holds: bool | None
    measured: str
    evidence: dict = dataclasses.field(default_factory=dict)
    reason: str = ""
    figure: str | None = None


def run_converged(record: dict) -> bool | None:
    """A run's convergence flag (``record["training"]["converged"]``); None when not judged."""
    flag = (record.get("training") or {}).get("converged")
    return None if flag is None else bool(flag)


def decide(judgement: Judgement | None, records: Sequence[dict], missing: Iterable[str] = (),
           time_bounded: bool = False) -> tuple[str, str]:
    """``(status, note)`` of a claim from its judgement, the run records it used and the
    descriptions of the runs it lacks (see the module docstring for the statuses).

    ``time_bounded``: the claim itself fixes the training time ("within 60 minutes"), so the
    verdict is a result whether or not the run converged by then; an unconverged run is named in
    the note."""
    missing = list(missing)
    if missing:
        return NOT_RUN, "missing: " + "; ".join(missing)
    if judgement is None or judgement.holds is None:
        return NOT_MEASURABLE, judgement.reason if judgement else "no judgement"
    flags = [(r, run_converged(r)) for r in records]
    stuck = [label(r) for r, f in flags if f is False]
    unknown = [label(r) for r, f in flags if f is None]
    note = f"convergence not judged for {', '.join(unknown)}" if unknown else ""
    if stuck and not time_bounded:
        return UNCONVERGED, "; ".join(filter(None, [f"not converged: {', '.join(stuck)}", note]))
    if stuck:
        note = "; ".join(filter(None, [f"time-bounded claim; still improving when the time ran "
                                       f"out: {', '.join(stuck)}", note]))
    return (HOLDS if judgement.holds else FAILS), note


def label(record: dict) -> str:
    """``method(overrides) seedN`` of a run record."""
    spec = record.get("spec") or {}
    extra = ",".join(f"{k}={v}" for k, v in sorted((spec.get("overrides") or {}).items()))
    name = f"{spec.get('method')}({extra})" if extra else str(spec.get("method"))
    return f"{name} seed{spec.get('seed')}"


def mean_ci(values: Iterable[float | None]) -> tuple[float, float, int]:
    """Mean and 95% half-width (Student t) over seeds: :func:`reports.stats.mean_ci`."""
    from reports.stats import mean_ci as _mean_ci

    return _mean_ci(values)


def fmt(values: Iterable[float | None], digits: int = 3) -> str:
    """``m`` for one value, ``m ± h`` (95% CI, Student t) for several, ``—`` for none."""
    m, h, n = mean_ci(values)
    if n == 0:
        return "—"
    text = f"{m:.{digits}g}"
    return text if n < 2 or math.isnan(h) else f"{text} ± {h:.2g}"


def mean(values: Iterable[float | None]) -> float:
    """The mean of the finite values (NaN when there are none)."""
    return mean_ci(values)[0]


def jsonable(obj: Any) -> Any:
    """Floats that JSON can hold (NaN -> None), recursively."""
    if isinstance(obj, float):
        return None if not math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj
