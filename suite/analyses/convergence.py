"""Convergence traces of iterative inference: metrics against the number of inference steps.

For a method that declares :class:`suite.capabilities.IterativeInference` (the iterative VAEs,
the LCA; any method may declare it), whose hook

    method.infer_trajectory(x (B, D), steps) -> iterator of (t, Inference, delta_norm (B,))

yielding, at each requested step t (ascending, ≥ 1), the :class:`~suite.method.Inference` of its
state after t steps and the per-input norm ‖s_t − s_{t−1}‖₂ of that step's state change,
:func:`convergence_trace` streams the validation set batch by batch and records, at
logarithmically spaced steps t = 1 … t_test, averaged over all validation samples:

- ``r2``: PROTOCOL.md's per-sample R² of ``recon`` (mean over samples whose pixels vary),
  computed by :func:`suite.metrics.distortion`;
- ``sse``: mean Σ_d (x − recon)² (same function);
- ``frac_zeros``: fraction of exactly-zero entries of ``codes`` (PROTOCOL.md's definition);
- ``delta_norm``: mean ‖s_t − s_{t−1}‖₂, the state change per step (state units: log-rates for
  the iP-VAE, (μ, log σ) for the iG-VAEs);
- ``rate``: mean Σ_k ``unit_rate`` in nats (None when the method gives no ``unit_rate``);
- ``r2_sample`` / ``sse_sample``: the same R² and sse of ``sample_recon``, the reconstruction
  from one posterior sample (for the iP-VAE, Φz from sampled spike counts: the R² its paper's
  Figure 3 plots); None when the method gives no ``sample_recon``.

The metrics are the suite's, never the method's. Memory is O(batch·K): each batch's trajectory
is consumed step by step and only running sums are kept, never an (N, T, K) array.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..capabilities import IterativeInference
from ..method import Method
from ..metrics import distortion

TRACE_METRICS = ("r2", "sse", "frac_zeros", "delta_norm", "rate", "r2_sample", "sse_sample")
OPTIONAL_METRICS = ("rate", "r2_sample", "sse_sample")
"""Metrics that are None when the method does not return what they need."""


def has_trajectory(method: Method) -> bool:
    """Whether ``method`` declares :class:`~suite.capabilities.IterativeInference` (and so has
    the ``infer_trajectory`` hook)."""
    return isinstance(method, IterativeInference)


def log_steps(t_max: int, n_points: int) -> list[int]:
    """About ``n_points`` distinct integers from 1 to ``t_max`` (both included), evenly spaced
    on a log scale."""
    if t_max < 1 or n_points < 1:
        raise ValueError(f"log_steps needs t_max >= 1 and n_points >= 1, got {t_max}, {n_points}")
    grid = np.geomspace(1, t_max, num=max(2, n_points)) if t_max > 1 else np.ones(1)
    return sorted({int(round(v)) for v in grid} | {1, int(t_max)})


def convergence_trace(method: Method, x_val: Tensor, t_test: int | None = None,
                      batch_size: int = 1000, n_points: int = 20) -> dict:
    """R², sse, frac_zeros, ‖Δs‖ and rate at log-spaced steps up to ``t_test``, averaged over
    the samples of ``x_val`` (N, D) (on the method's device), streamed in batches.

    ``t_test`` defaults to the method's ``test_steps``. The steps are :func:`log_steps`
    (t_test, n_points) plus the method's training horizon ``train_steps`` when it is not None
    (and ≤ t_test), so that R² at t = 1 / t_train / t_test can be read off (the iP-VAE
    paper's comparison). Returns a JSON-ready dict: ``steps`` (list of int) and one list per
    metric of :data:`TRACE_METRICS`, aligned with ``steps`` (``rate`` is None when the method has
    no ``unit_rate``), plus ``t_test``, ``train_steps`` (or None), ``n_samples`` and
    ``batch_size``. Raises ``TypeError`` for a method that does not declare
    :class:`~suite.capabilities.IterativeInference`.
    """
    if not has_trajectory(method):
        raise TypeError(f"{method.name or type(method).__name__} does not declare the "
                        "IterativeInference capability (suite/capabilities.py), so it has no "
                        "infer_trajectory hook: no convergence trace")
    if t_test is None:
        t_test = int(method.test_steps)
    train_steps = method.train_steps
    steps = log_steps(int(t_test), n_points)
    if train_steps is not None and int(train_steps) <= int(t_test):
        steps = sorted(set(steps) | {int(train_steps)})
    index = {t: i for i, t in enumerate(steps)}
    sums = {k: np.zeros(len(steps)) for k in TRACE_METRICS}
    n_r2 = np.zeros(len(steps))
    present = {k: True for k in OPTIONAL_METRICS}
    n_total = int(x_val.shape[0])
    with torch.no_grad():
        for start in range(0, n_total, max(1, int(batch_size))):
            x = x_val[start:start + batch_size]
            n = x.shape[0]
            n_varying = int((x.amax(1) > x.amin(1)).sum())  # samples with a defined R²
            for t, inf, delta in method.infer_trajectory(x, steps):
                i = index[t]
                d = distortion(x.double(), inf.recon.double())
                if d["r2"] is not None:
                    sums["r2"][i] += d["r2"] * n_varying
                    n_r2[i] += n_varying
                sums["sse"][i] += d["sse"] * n
                sums["frac_zeros"][i] += float((inf.codes == 0).double().sum()) / inf.codes.shape[1]
                sums["delta_norm"][i] += float(delta.double().sum())
                if inf.unit_rate is None:
                    present["rate"] = False
                else:
                    sums["rate"][i] += float(inf.unit_rate.double().sum())
                if inf.sample_recon is None:
                    present["r2_sample"] = present["sse_sample"] = False
                else:
                    ds = distortion(x.double(), inf.sample_recon.double())
                    if ds["r2"] is not None:
                        sums["r2_sample"][i] += ds["r2"] * n_varying
                    sums["sse_sample"][i] += ds["sse"] * n
    out: dict = {"steps": steps}
    for key, total in sums.items():
        denom = n_r2 if key in ("r2", "r2_sample") else np.full(len(steps), float(n_total))
        values = [float(s / c) if c > 0 else None for s, c in zip(total, denom)]
        out[key] = values if present.get(key, True) else None
    out.update(t_test=int(t_test), train_steps=None if train_steps is None else int(train_steps),
               n_samples=n_total, batch_size=int(batch_size))
    return out
