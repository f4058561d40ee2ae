"""Shared helpers of the BiHM tests: the plugin's modules and tiny models with random weights.

A tiny model (5 visible, 3 and 2 hidden units: 2^10 joint states) is small enough for
:mod:`exact` to enumerate, and its random weights (far larger than the training init) make p,
q and p* clearly different, so that a wrong estimator or sampler is visible.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from suite.registry import discover

discover()

from brainlike_suite.methods.helmholtz import (  # noqa: E402
    bihm, estimators, exact, gibbs, layers, model, objective, rate)

__all__ = ["bihm", "estimators", "exact", "gibbs", "layers", "model", "objective", "rate",
           "tiny_model", "chi_square_pvalue"]


def tiny_model(sizes=(5, 3, 2), scale: float = 1.5, seed: int = 0, gaussian: bool = False,
               dtype=torch.float64) -> "model.HelmholtzPair":
    """A HelmholtzPair whose every weight and bias is N(0, scale²) (log σ ~ N(0, 0.3²))."""
    net = model.HelmholtzPair(list(sizes), gaussian_visible=gaussian).to(dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            s = 0.3 if name.endswith("log_sigma") else scale
            p.copy_(torch.randn(p.shape, generator=g, dtype=dtype) * s)
    return net


def chi_square_pvalue(counts: np.ndarray, probs: np.ndarray, min_expected: float = 5.0) -> float:
    """Pearson chi-square p-value of ``counts`` against ``probs``, pooling every category with
    an expected count below ``min_expected`` into one bin."""
    counts = np.asarray(counts, dtype=np.float64)
    expected = np.asarray(probs, dtype=np.float64) * counts.sum()
    small = expected < min_expected
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    keep = exp > 0
    return float(stats.chisquare(obs[keep], exp[keep] * obs[keep].sum() / exp[keep].sum()).pvalue)
