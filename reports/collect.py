"""From the result store to pandas: one row per run, then one row per configuration over seeds.

A *configuration* is a method with the user's overrides of that run (``spec.overrides``: what
``--set`` or ``--config`` changed; empty for the method's configured default). Its runs on one
(dataset, profile) differ only by seed and are aggregated into a mean and a 95% confidence
half-width (:mod:`reports.stats`). When the store holds several records of the same
(dataset, profile, method, configuration, seed) — e.g. after a change of the method's version or
of a profile's budget — only the most recently finished one counts; the others are reported as
superseded by :func:`reports.summary_lines`.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from suite.store import Store

from .formatting import config_label, converged_text, mark_label, sort_value
from .stats import mean_ci

RUN_COLUMNS = ("dataset", "profile", "family", "method", "config", "config_id", "overrides",
               "spec", "seed", "key", "finished", "nonfinite")
"""The descriptive columns of :func:`runs_frame`; every other column is a metric.
``nonfinite``: the names of the run's metrics that were computed but are NaN or infinite."""

NONFINITE_VALUES = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _nonfinite_metrics(rec: dict) -> dict[str, float]:
    """The metrics of ``rec`` that were computed but are NaN or ±inf, with that value: those
    the store listed (``nonfinite_metrics``; JSON keeps them as null) and any non-finite number
    left in ``metrics`` (records written by other tools)."""
    out = {name: float(v) for name, v in (rec.get("metrics") or {}).items()
           if isinstance(v, float) and not math.isfinite(v)}
    listed = rec.get("nonfinite_metrics")
    if isinstance(listed, dict):
        out.update({str(k): NONFINITE_VALUES[v] for k, v in listed.items()
                    if v in NONFINITE_VALUES})
    return out


def _is_metric(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def runs_frame(records: list[dict]) -> tuple[pd.DataFrame, list[str], int]:
    """``(runs, metric_names, n_superseded)``: one row per kept run (see the module docstring),
    columns :data:`RUN_COLUMNS` then one float column per numeric metric (NaN where undefined),
    metric names sorted; rows in key order. A metric that was computed but is NaN or infinite
    holds that value and is listed in the row's ``nonfinite`` (a tuple of names); NaN without
    that listing means the metric does not apply to the run."""
    rows = []
    for rec in sorted(records, key=lambda r: r["key"]):
        spec = rec["spec"]
        overrides = dict(spec.get("overrides") or {})
        row = {
            "dataset": spec["dataset"], "profile": spec["profile"],
            "family": (rec.get("method") or {}).get("family", "other"), "method": spec["method"],
            "config": config_label(spec["method"], overrides),
            "config_id": json.dumps(overrides, sort_keys=True, default=str),
            "overrides": overrides, "spec": spec, "seed": int(spec["seed"]), "key": rec["key"],
            "finished": str((rec.get("provenance") or {}).get("finished") or ""),
        }
        for name, v in (rec.get("metrics") or {}).items():
            if name not in RUN_COLUMNS and _is_metric(v):
                row[name] = _number(v)
        special = {k: v for k, v in _nonfinite_metrics(rec).items() if k not in RUN_COLUMNS}
        row.update(special)
        row["nonfinite"] = tuple(sorted(special))
        rows.append(row)
    metric_names = sorted({k for r in rows for k in r} - set(RUN_COLUMNS))
    frame = pd.DataFrame(rows, columns=list(RUN_COLUMNS) + metric_names)
    if frame.empty:
        return frame, metric_names, 0
    frame[metric_names] = frame[metric_names].astype(np.float64)
    ident = ["dataset", "profile", "method", "config_id", "seed"]
    latest = frame.sort_values(ident + ["finished", "key"]).drop_duplicates(ident, keep="last")
    kept = frame.loc[frame.index.isin(latest.index)].reset_index(drop=True)
    return kept, metric_names, len(frame) - len(kept)


def row_order(family: str, method: str, overrides: dict, config_id: str) -> tuple:
    """Leaderboard order: family, method, the configured default first, then overrides by value."""
    values = tuple((k, sort_value(v)) for k, v in sorted(overrides.items()))
    return (family, method, bool(overrides), values, config_id)


@dataclasses.dataclass
class Table:
    """Runs aggregated over seeds, one row per (dataset, profile, method, configuration).

    ``meta``: dataset, profile, family, method, config (its label), config_id, overrides, spec
    (of the first seed's run), n_seeds, seeds and keys (tuples in seed order); ``mean`` and
    ``ci``: one column per metric, the mean over seeds and the 95% half-width (NaN when
    undefined, or for ``ci`` with one seed). The three share a 0..n−1 index in report order.
    ``nonfinite`` (same shape as ``mean``, boolean; None: all False): the cells whose metric was
    computed but is NaN or infinite for some seed; their ``mean`` is then the mean of every
    seed's value (NaN or ±inf) and ``ci`` NaN. Elsewhere a NaN mean means "not applicable".
    """

    meta: pd.DataFrame
    mean: pd.DataFrame
    ci: pd.DataFrame
    nonfinite: pd.DataFrame | None = None

    def __post_init__(self):
        if self.nonfinite is None:
            self.nonfinite = pd.DataFrame(False, index=self.mean.index, columns=self.mean.columns,
                                          dtype=bool)

    def frames(self) -> tuple[pd.DataFrame, ...]:
        """``(meta, mean, ci, nonfinite)``: the frames sharing the row index."""
        return self.meta, self.mean, self.ci, self.nonfinite

    def is_nonfinite(self, i: int, metric: str) -> bool:
        """Whether row ``i``'s ``metric`` was computed but is NaN or infinite."""
        return metric in self.nonfinite and bool(self.nonfinite.at[i, metric])

    def pairs(self) -> list[tuple[str, str]]:
        """The (dataset, profile) pairs present, sorted."""
        return sorted(set(zip(self.meta["dataset"], self.meta["profile"])))

    def select(self, dataset: str, profile: str) -> "Table":
        """The rows of one (dataset, profile), re-indexed from 0, in report order."""
        mask = ((self.meta["dataset"] == dataset) & (self.meta["profile"] == profile)).to_numpy()
        parts = [f.loc[mask].reset_index(drop=True) for f in self.frames()]
        return Table(*parts)

    def converged_text(self, i: int) -> str:
        """Row ``i``'s convergence: "yes", "no" or "n/a" (:func:`reports.formatting.converged_text`)."""
        return converged_text(self.mean.at[i, "converged"] if "converged" in self.mean else None)

    def time_limited(self, i: int) -> bool:
        """Whether a seed of row ``i`` was cut by its time limit (the metric ``time_limited``,
        1.0 for such a run: the mean over seeds is then above 0)."""
        value = self.mean.at[i, "time_limited"] if "time_limited" in self.mean else None
        return value is not None and bool(value > 0)

    def label(self, i: int) -> str:
        """Row ``i``'s configuration label, marked " †" when it did not converge and " ‡" when
        a seed was cut by its time limit."""
        return mark_label(self.meta.at[i, "config"], self.converged_text(i), self.time_limited(i))

    def any_unconverged(self) -> bool:
        """Whether some row did not converge (its tables then carry the footnote)."""
        return any(self.converged_text(i) == "no" for i in range(len(self)))

    def any_time_limited(self) -> bool:
        """Whether some row had a seed cut by its time limit (its tables then say so)."""
        return any(self.time_limited(i) for i in range(len(self)))

    def defined(self, metric: str) -> bool:
        """Whether any row has a value for ``metric`` (NaN or infinite counts: it was computed)."""
        return metric in self.mean and bool((self.mean[metric].notna()
                                             | self.nonfinite[metric]).any())

    def __len__(self) -> int:
        return len(self.meta)


def aggregate(runs: pd.DataFrame, metric_names: list[str]) -> Table:
    """Group ``runs`` (from :func:`runs_frame`) by configuration and aggregate over seeds."""
    meta_rows, means, cis, flags = [], [], [], []
    if not runs.empty:
        groups = runs.groupby(["dataset", "profile", "method", "config_id"], sort=False)
        ordered = sorted(groups, key=lambda kv: (kv[0][0], kv[0][1], *row_order(
            kv[1]["family"].iloc[0], kv[0][2], kv[1]["overrides"].iloc[0], kv[0][3])))
        for _, g in ordered:
            g = g.sort_values("seed")
            first = g.iloc[0]
            meta_rows.append({c: first[c] for c in ("dataset", "profile", "family", "method",
                                                     "config", "config_id", "overrides", "spec")}
                             | {"n_seeds": len(g), "seeds": tuple(int(s) for s in g["seed"]),
                                "keys": tuple(g["key"])})
            stats = {m: mean_ci(g[m].tolist()) for m in metric_names}
            special = set().union(*g["nonfinite"]) if "nonfinite" in g else set()
            for m in special & set(metric_names):  # computed but NaN/inf for some seed
                values = [v for v, nf in zip(g[m], g["nonfinite"]) if m in nf or np.isfinite(v)]
                with np.errstate(invalid="ignore"):
                    stats[m] = (float(np.mean(values)), math.nan, len(values))
            means.append({m: s[0] for m, s in stats.items()})
            cis.append({m: s[1] for m, s in stats.items()})
            flags.append({m: m in special for m in metric_names})
    meta = pd.DataFrame(meta_rows, columns=["dataset", "profile", "family", "method", "config",
                                            "config_id", "overrides", "spec", "n_seeds", "seeds",
                                            "keys"])
    return Table(meta, pd.DataFrame(means, columns=metric_names, dtype=np.float64),
                 pd.DataFrame(cis, columns=metric_names, dtype=np.float64),
                 pd.DataFrame(flags, columns=metric_names, dtype=bool))


def resolved_value(spec: dict, name: str) -> Any:
    """The value a run used for setting ``name``: a hyperparameter, a top-level spec field
    (``n_latents``) or a budget entry; None when the run has no such setting."""
    for where in (spec.get("hparams") or {}, spec, spec.get("budget") or {}):
        if name in where:
            return where[name]
    return None


@dataclasses.dataclass
class ReportContext:
    """Everything a report section may use; built once per :func:`reports.build`.

    ``records``/``failures``: the store's finished and failed run records as stored;
    ``runs``: one row per kept run (:func:`runs_frame`), ``metric_names`` its metric columns;
    ``table``: the aggregate over seeds (:class:`Table`); ``n_superseded``: records not counted;
    ``damaged``: the store's damaged runs (:class:`suite.store.DamagedRunError`, naming the file),
    left out of everything else and redone by the next run of their grid.
    """

    out_dir: Path
    report_dir: Path
    records: list[dict]
    failures: list[dict]
    runs: pd.DataFrame
    metric_names: list[str]
    table: Table
    n_superseded: int
    damaged: list = dataclasses.field(default_factory=list)

    @classmethod
    def from_store(cls, out_dir: Path, report_dir: Path) -> "ReportContext":
        store = Store(out_dir)
        intact, damaged = store.scan()
        records = [r for r in intact if r.get("status", "ok") == "ok"]
        runs, metric_names, n_superseded = runs_frame(records)
        return cls(Path(out_dir), Path(report_dir), records, store.failure_records(), runs,
                   metric_names, aggregate(runs, metric_names), n_superseded, damaged)

    @functools.cached_property
    def records_by_key(self) -> dict[str, dict]:
        """``records`` by run key."""
        return {r["key"]: r for r in self.records}

    @property
    def figure_dir(self) -> Path:
        return self.report_dir / "figures"

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        """The per-unit arrays (and dictionary) stored with run ``key``; {} when none."""
        return Store(self.out_dir).arrays(key)

    def failures_of(self, dataset: str, profile: str) -> list[dict]:
        """The failed runs of one (dataset, profile)."""
        return [f for f in self.failures if (f.get("spec") or {}).get("dataset") == dataset
                and (f.get("spec") or {}).get("profile") == profile]

    def per_dataset(self) -> Iterator[tuple[str, str, Table]]:
        """``(dataset, profile, rows)`` for every pair with finished runs, sorted."""
        for dataset, profile in self.table.pairs():
            yield dataset, profile, self.table.select(dataset, profile)
