"""The summary ranking: each configuration's mean rank per metric over the datasets it ran on.

On every (dataset, profile) pair, the configurations with a finite value of a metric are ranked
by it (1 = best: the lowest or highest value, by the metric's direction in :data:`RANKED`; ties
share their mean rank). A configuration's entry is the mean of its ranks over the pairs it was
ranked on, beside the number of those pairs. On a pair where a configuration did not converge
(" †") it is not ranked: its numbers there are not results (PROTOCOL.md); a configuration
unconverged somewhere is labelled " †" and says on how many pairs. Configurations whose
convergence cannot be judged ("n/a") are ranked.
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd

from .collect import Table

LOWER, HIGHER = "lower", "higher"
RANKED: tuple[tuple[str, str], ...] = (
    ("sse", LOWER), ("rate", LOWER), ("lifetime_sparsity", HIGHER),
    ("population_sparsity", HIGHER), ("dead_frac", LOWER), ("knn@*", HIGHER), ("nll", LOWER),
    ("fit_seconds", LOWER))
"""The ranked metrics and which way is better; ``knn@*`` stands for every ``knn@N`` present.
R² and mse are left out: on one dataset they order configurations exactly as sse does."""


@dataclasses.dataclass
class Ranking:
    """``rows``: one per configuration (family, method, config, label, n_pairs: the pairs it
    ran on, n_unconverged: those where it did not converge), in report order; ``metrics``: the
    ranked metric columns with their direction; ``mean`` / ``count``: per row and metric, the mean rank (NaN: never ranked) and the number of pairs it
    was ranked on; ``detail``: per row and metric, the ranks per pair ("digits/smoke: 2 of 5")."""

    rows: pd.DataFrame
    metrics: list[tuple[str, str]]
    mean: pd.DataFrame
    count: pd.DataFrame
    detail: pd.DataFrame


def ranked_metrics(table: Table) -> list[tuple[str, str]]:
    """The metrics of :data:`RANKED` that some row of ``table`` defines, ``knn@N`` by N."""
    out = []
    for name, direction in RANKED:
        if name == "knn@*":
            knn = [m for m in table.mean.columns if re.fullmatch(r"knn@\d+", m)]
            out += [(m, direction) for m in sorted(knn, key=lambda m: int(m[4:]))
                    if table.defined(m)]
        elif table.defined(name):
            out.append((name, direction))
    return out


def ranking(table: Table) -> Ranking:
    """The ranking of every configuration of ``table`` (all datasets and profiles)."""
    metrics = ranked_metrics(table)
    names = [m for m, _ in metrics]
    meta = table.meta
    ids = list(dict.fromkeys(zip(meta["family"], meta["method"], meta["config"])))
    index = {k: j for j, k in enumerate(ids)}
    ranks: dict[tuple[int, str], list[float]] = {}
    detail: dict[tuple[int, str], list[str]] = {}
    pairs_of: dict[int, set] = {j: set() for j in range(len(ids))}
    unconverged: dict[int, int] = {}
    for dataset, profile in table.pairs():
        sub = table.select(dataset, profile)
        rows = [index[tuple(sub.meta.loc[i, ["family", "method", "config"]])]
                for i in range(len(sub))]
        judged = []
        for i, j in enumerate(rows):
            pairs_of[j].add((dataset, profile))
            if sub.converged_text(i) == "no":
                unconverged[j] = unconverged.get(j, 0) + 1
            else:
                judged.append((i, j))
        for name, direction in metrics:
            if name not in sub.mean:
                continue
            values = pd.Series({j: sub.mean.at[i, name] for i, j in judged}, dtype=np.float64)
            values = values[np.isfinite(values)]
            if values.empty:
                continue
            r = values.rank(method="average", ascending=direction == LOWER)
            for j, rank in r.items():
                ranks.setdefault((j, name), []).append(float(rank))
                detail.setdefault((j, name), []).append(
                    f"{dataset}/{profile}: {rank:g} of {len(values)}")
    rows = pd.DataFrame([{"family": f, "method": m, "config": c,
                          "label": c + (" †" if j in unconverged else ""),
                          "n_pairs": len(pairs_of[j]), "n_unconverged": unconverged.get(j, 0)}
                         for j, (f, m, c) in enumerate(ids)])
    mean = pd.DataFrame([[float(np.mean(ranks[(j, n)])) if (j, n) in ranks else np.nan
                          for n in names] for j in range(len(ids))], columns=names,
                        dtype=np.float64)
    count = pd.DataFrame([[len(ranks.get((j, n), [])) for n in names] for j in range(len(ids))],
                         columns=names, dtype=np.int64)
    det = pd.DataFrame([["; ".join(detail.get((j, n), [])) for n in names]
                        for j in range(len(ids))], columns=names, dtype=object)
    return Ranking(rows, metrics, mean, count, det)
