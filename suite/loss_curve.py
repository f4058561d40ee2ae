"""The training-loss curve of a run, and PROTOCOL.md's convergence flag computed from it.

Every family's ``fit`` records its training loss once per optimizer step in a :class:`LossCurve`
(kept as ``method.loss_curve_``); the runner stores :func:`training_summary` of it in the run
record (``record["training"]``) and the flag in the metrics (``metrics["converged"]``: 1.0, 0.0,
or None when it cannot be judged), so that every leaderboard shows and marks it.

What is recorded: the quantity each family minimizes, per step, in its own units (sparse coding:
the lasso objective ½‖x − aΦ‖² + λ‖a‖₁ per sample of the minibatch; the VAEs: their training
loss at that step's β and temperature; the BiHM: the estimate −log p̃*(x) per sample). Values are
averaged into at most ``max_bins`` bins of consecutive steps (the bin width doubles, merging
neighbours, whenever the steps would need more), so a record holds at most ~100 numbers
whatever the length of training; each :meth:`LossCurve.add` is a few Python float operations.

The convergence rule (:func:`convergence`, PROTOCOL.md "Convergence": a run is converged when its
loss improved by less than 1% over the last 20% of its training). With n the number of steps
taken (the last recorded step + 1), window w = 0.2, averaging span s = 0.05 and tolerance
tol = 0.01:

    L_a = mean loss of the steps in [(1 − w − s)·n, (1 − w)·n)     ([75%, 80%) of training)
    L_b = mean loss of the steps in [(1 − s)·n, n)                  (the last 5%)
    rel_improvement = (L_a − L_b) / |L_a|
    converged = rel_improvement < tol

Means are over the bins whose mean step falls in the span, weighted by their step counts (so a
span's edges are resolved to one bin, at most 2% of training). Averaging over spans of 5% rather
than comparing single steps keeps minibatch noise out of the comparison. A loss that rose over
the window (rel_improvement < 0) counts as converged: it is not still improving.

``converged`` is None — "n/a", cannot be judged — when fewer than ``min_steps`` (20) steps were
taken, or a span holds no recorded step, or L_a = 0, or no curve was recorded (a plugin
without one).

Why the window sits at the end: the β ramp (``beta_ramp``) and the sampler's temperature anneal
(``temp_ramp``) of :mod:`suite.training` change the loss being minimized while they run, so
losses compared across them measure the schedule, not training. They end by 50% of the planned
steps in every family's defaults, so over [75%, 100%] the objective is fixed and the comparison
is meaningful. A curve built with ``schedule_end`` (the fraction of ``planned_steps`` by which
its schedules end, :func:`schedule_end`) checks it: a run whose comparison window starts before
its schedules ended (one stopped early by its time limit, or with a ramp set past 75%) is not
converged, with that reason, since it never trained at its configured β and temperature.

The loss is the training loss (minibatch estimates, PROTOCOL.md §12), not a held-out loss: it
is what every family computes anyway, at no extra cost, and the held-out slice
(:func:`suite.subsets.holdout_split`) stays the BiHM's early-stopping set.
"""
from __future__ import annotations

from typing import Any, Mapping

WINDOW = 0.2
"""Fraction of training over which the improvement is measured (the last 20%)."""
SPAN = 0.05
"""Fraction of training each end of the window is averaged over."""
TOL = 0.01
"""A run is converged when its loss improved by less than this fraction over the window."""
MIN_STEPS = 20
"""Fewer steps than this: convergence cannot be judged (None)."""
MAX_BINS = 100
#: why training ended (``LossCurve.stopped_by``): all its planned steps were taken, its
#: wall-clock limit ``max_seconds`` ran out first, or early stopping on the held-out slice ended it.
BUDGET, TIME_LIMIT, EARLY_STOPPING = "budget", "time limit", "early stopping"
STOP_REASONS = (BUDGET, TIME_LIMIT, EARLY_STOPPING)

RULE = ("converged when (L_a - L_b)/|L_a| < {tol:g}, L_a = mean training loss over "
        "[{a0:g}%, {a1:g}%) of the steps, L_b = mean over the last {s:g}% "
        "(improvement over the last {w:g}% of training)")


def schedule_end(hparams: Mapping[str, Any]) -> float:
    """The fraction of the planned steps by which the shared schedules of
    :mod:`suite.training` end: the largest of ``beta_ramp`` and ``temp_ramp`` among
    ``hparams`` (0 for a method without them)."""
    return max([float(hparams[k]) for k in ("beta_ramp", "temp_ramp") if k in hparams] or [0.0])


class LossCurve:
    """Per-step training losses averaged into at most ``max_bins`` bins of consecutive steps.

    ``planned_steps``: the steps the budget allows (None: unknown); ``schedule_end``: the fraction
    of them by which the method's β/temperature schedules end (see the module docstring).
    Record with ``add(step, value)`` (steps from 0, in increasing order); read with
    :meth:`to_dict`, and judge with :func:`convergence`.
    """

    def __init__(self, planned_steps: int | None = None, schedule_end: float = 0.0,
                 max_bins: int = MAX_BINS):
        if max_bins < 2:
            raise ValueError(f"max_bins must be >= 2, got {max_bins}")
        self.planned_steps = None if planned_steps is None else int(planned_steps)
        self.schedule_end = float(schedule_end)
        self.max_bins = int(max_bins)
        self.width = 1
        self._loss: list[float] = []    # per bin: sum of the values
        self._step: list[float] = []    # per bin: sum of the steps
        self._count: list[int] = []     # per bin: number of values
        self.n_steps = 0                # the last step added + 1
        self.stopped_by: str | None = None  # one of STOP_REASONS, set by the training loop

    def add(self, step: int, value: float) -> None:
        """Record the loss ``value`` (a Python float) of optimizer step ``step``."""
        step = int(step)
        while step // self.width >= self.max_bins:
            self._merge()
        i = step // self.width
        if i >= len(self._count):
            grow = i + 1 - len(self._count)
            self._loss += [0.0] * grow
            self._step += [0.0] * grow
            self._count += [0] * grow
        self._loss[i] += float(value)
        self._step[i] += step
        self._count[i] += 1
        self.n_steps = max(self.n_steps, step + 1)

    def _merge(self) -> None:
        """Double the bin width, merging neighbouring bins."""
        self.width *= 2
        for name in ("_loss", "_step", "_count"):
            old = getattr(self, name)
            setattr(self, name, [sum(old[j:j + 2]) for j in range(0, len(old), 2)])

    def to_dict(self) -> dict:
        """JSON-ready: ``steps`` (mean step of each non-empty bin), ``loss`` (mean loss per bin),
        ``count`` (steps per bin), ``bin_width``, ``total_steps`` (steps taken),
        ``planned_steps``, ``schedule_end`` and ``stopped_by`` (why training ended, one of
        :data:`STOP_REASONS`; None when the method trains itself without the suite's loop)."""
        kept = [j for j, c in enumerate(self._count) if c]
        return {"steps": [self._step[j] / self._count[j] for j in kept],
                "loss": [self._loss[j] / self._count[j] for j in kept],
                "count": [self._count[j] for j in kept],
                "bin_width": self.width, "total_steps": self.n_steps,
                "planned_steps": self.planned_steps, "schedule_end": self.schedule_end,
                "stopped_by": self.stopped_by}


def _span_mean(curve: dict, lo: float, hi: float) -> float | None:
    """Count-weighted mean loss of the bins whose mean step lies in [lo, hi) (hi inclusive when
    it is the end of training); None when there are none."""
    end = curve["total_steps"]
    total, n = 0.0, 0
    for s, loss, c in zip(curve["steps"], curve["loss"], curve["count"]):
        if lo <= s < hi or (hi >= end and s >= lo):
            total, n = total + loss * c, n + c
    return total / n if n else None


def convergence(curve: "LossCurve | Mapping | None", window: float = WINDOW, tol: float = TOL,
                span: float = SPAN, min_steps: int = MIN_STEPS) -> dict:
    """PROTOCOL.md's convergence flag of a loss curve (a :class:`LossCurve` or its
    :meth:`~LossCurve.to_dict`); the rule is in the module docstring.

    Returns ``{"converged": True | False | None, "rel_improvement": float | None, "rule": str,
    "reason": str}``; ``converged`` is None (cannot be judged) without a curve, with fewer than
    ``min_steps`` steps, or when a span holds no step."""
    rule = RULE.format(tol=tol, a0=100 * (1 - window - span), a1=100 * (1 - window),
                       s=100 * span, w=100 * window)

    def result(converged, rel, reason):
        return {"converged": converged, "rel_improvement": rel, "rule": rule, "reason": reason}

    if curve is None:
        return result(None, None, "no loss curve recorded")
    c = curve.to_dict() if isinstance(curve, LossCurve) else dict(curve)
    n = int(c.get("total_steps") or 0)
    if n < min_steps:
        return result(None, None, f"too few steps to judge ({n} < {min_steps})")
    l_a = _span_mean(c, (1 - window - span) * n, (1 - window) * n)
    l_b = _span_mean(c, (1 - span) * n, n)
    if l_a is None or l_b is None:
        return result(None, None, "no recorded step in a comparison span")
    rel = (l_a - l_b) / abs(l_a) if l_a != 0 else None
    planned, ends = c.get("planned_steps"), float(c.get("schedule_end") or 0.0)
    if planned and ends > 0 and (1 - window - span) * n < ends * planned:
        return result(False, rel, f"the comparison window starts at step "
                                  f"{(1 - window - span) * n:.0f} (of {n} taken, {planned} "
                                  f"planned), before the β/temperature schedules end at step "
                                  f"{ends * planned:.0f}: the loss was never minimized at its "
                                  "final settings")
    if rel is None:
        return result(None, None, "the loss before the window is 0: no relative improvement")
    if rel < tol:
        how = f"improved by {rel:.2%}" if rel >= 0 else f"rose by {-rel:.2%}"
        return result(True, rel, f"loss {how} over the last {window:.0%}")
    return result(False, rel, f"loss still improving: {rel:.2%} over the last {window:.0%}")


def training_summary(curve: "LossCurve | None") -> dict:
    """What the runner stores as ``record["training"]``: the binned curve (None without one) and
    the fields of :func:`convergence`."""
    return {"loss_curve": None if curve is None else curve.to_dict(), **convergence(curve)}


def time_limited_metric(curve: "LossCurve | None") -> float | None:
    """The metric ``time_limited``: 1.0 when training was cut by its wall-clock limit before its
    planned steps (its numbers then depend on the machine's speed and load), 0.0 when it ended
    otherwise, None when unknown (no curve, or a method that trains itself)."""
    reason = None if curve is None else curve.stopped_by
    return None if reason is None else float(reason == TIME_LIMIT)


def converged_metric(flag: bool | None) -> float | None:
    """The flag as the leaderboard metric ``converged``: 1.0, 0.0 or None."""
    return None if flag is None else float(bool(flag))
