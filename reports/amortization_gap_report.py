"""The amortization-gap section: a method's own inference beside codes re-inferred on its dictionary.

Built from the rows of :func:`suite.analyses.amortization_gap.amortization_gap` stored in run records under
``traces.amortization_gap`` (a list of dicts with ``solver``, ``lam``, ``sse``,
``lifetime_sparsity``, …), and from the same run's own metrics (``metrics.sse``,
``metrics.lifetime_sparsity``). Values are means over the configuration's seeds that have the row.

- ``amortization_gap_<dataset>_<profile>.{md,csv,tex,html}``: per configuration, a row for its own
  ("amortized") inference and one per (solver, λ) of the re-inference: sse, R², lifetime and
  population sparsity, frac_zeros, dead_frac, and the change in sse against the own inference.
  The own row comes from the run's metrics, on a seeded random subset of ``eval.max_val``
  validation samples; the re-inference from a seeded random ``eval.amortization_gap.max_val`` of
  those (2000 of 10000 in the quick profile): the table's note says so, with the counts the
  runs' specs configured.
- ``figures/amortization_gap_<dataset>_<profile>.png``: lifetime sparsity against sse; per
  configuration (one colour) its own inference as a large filled marker and each solver's λ
  sweep as a line (LCA solid, FISTA dashed), the λ values annotated.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from .collect import ReportContext, Table
from .figures import SSE_LABEL, _save, label_axes, new_figure
from .formatting import UNCONVERGED_NOTE, fmt_number, fmt_param, slug
from .tables import write_formats

METRICS = ("sse", "r2", "lifetime_sparsity", "population_sparsity", "frac_zeros", "dead_frac")
OWN = "amortized"
"""The ``solver`` label of a method's own inference."""
LINESTYLES = {"lca": "-", "fista": "--"}
NOTE = ("Codes of validation samples re-inferred by sparse coding (lasso, unit-norm atoms, "
        "codes rescaled to the method's units) on each method's frozen linear dictionary, beside "
        "the method's own amortized inference (suite/amortization_gap.py). Δsse = sse − own sse.")
SAMPLES_NOTE = ("Samples: the amortized row is the run's own metrics (the leaderboard's), on a "
                "seeded random subset of eval.max_val validation samples; the re-inferred rows use "
                "only a seeded random eval.amortization_gap.max_val of those (`run_suite.py gap "
                "--max_val` may override it), so the two can be measured on different samples.")


def samples_note(records: list[dict]) -> str:
    """:data:`SAMPLES_NOTE`, with the sample counts configured in the specs of the ``records``
    that hold a gap analysis (when the specs record them; None: all)."""
    from suite.errors import ConfigError
    from suite.settings import EvalSettings

    counts = set()
    for rec in records:
        ev = (rec.get("spec") or {}).get("eval") or {}
        if not (rec.get("traces") or {}).get("amortization_gap") or "max_val" not in ev:
            continue  # no gap rows, or a spec that does not record its sample counts
        try:
            settings = EvalSettings.from_mapping(ev, where=f"run {rec.get('key')}: eval")
        except ConfigError:
            continue  # a spec of another layout: its counts are unknown
        gap = settings.amortization_gap
        counts.add((settings.max_val, None if gap is None else gap.max_val))
    listed = "; ".join(f"own {'all' if own is None else own}, re-inferred {'all' if gap is None else gap}"
                       for own, gap in sorted(counts, key=str))
    return f"{SAMPLES_NOTE} Configured here: {listed}." if listed else SAMPLES_NOTE


def gap_frame(ctx: ReportContext, table: Table) -> pd.DataFrame:
    """One row per (configuration, solver, λ) with the mean over seeds of :data:`METRICS`
    (``solver`` = ``amortized``, λ NaN for the method's own inference); empty when no run of
    ``table`` stored a gap analysis."""
    by_key = ctx.records_by_key
    rows = []
    for i in range(len(table)):
        meta = table.meta.iloc[i]
        for key in meta["keys"]:
            rec = by_key.get(key) or {}
            gap = (rec.get("traces") or {}).get("amortization_gap")
            if not gap:
                continue
            own = rec.get("metrics") or {}
            base = {"order": i, "method": meta["method"], "config": meta["config"]}
            rows.append({**base, "solver": OWN, "lam": np.nan,
                         **{m: own.get(m) for m in METRICS}})
            rows += [{**base, "solver": g["solver"], "lam": float(g["lam"]),
                      **{m: g.get(m) for m in METRICS}} for g in gap]
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    frame[list(METRICS)] = frame[list(METRICS)].astype(np.float64)
    keys = ["order", "method", "config", "solver", "lam"]
    mean = frame.groupby(keys, dropna=False, sort=False)[list(METRICS)].mean().reset_index()
    mean["own_rank"] = (mean["solver"] != OWN).astype(int)
    mean = mean.sort_values(["order", "own_rank", "solver", "lam"], kind="stable")
    own_sse = mean[mean["solver"] == OWN].set_index("order")["sse"]
    mean["delta_sse"] = mean["sse"] - mean["order"].map(own_sse)
    return mean.drop(columns="own_rank").reset_index(drop=True)


def gap_table(frame: pd.DataFrame, labels: dict[int, str] | None = None,
              ) -> tuple[list[str], list[list[str]]]:
    """Display headers and rows; ``labels``: the shown config label per ``order`` (e.g. marked
    " †" when the run did not converge), the config itself when absent."""
    labels = labels or {}
    headers = ["method", "config", "inference", "λ", *METRICS, "Δsse"]
    rows = [[r.method, labels.get(r.order, r.config), r.solver,
             "" if np.isnan(r.lam) else fmt_param(r.lam)]
            + [fmt_number(None if np.isnan(getattr(r, m)) else getattr(r, m)) for m in METRICS]
            + ["" if r.solver == OWN else fmt_number(r.delta_sse)]
            for r in frame.itertuples()]
    return headers, rows


def gap_figure(frame: pd.DataFrame, title: str, path: Path) -> Path:
    """Lifetime sparsity against sse: own inference (large marker) and re-inference sweeps."""
    configs = list(dict.fromkeys(frame["config"]))
    cmap = matplotlib.colormaps["tab10" if len(configs) <= 10 else "tab20"]
    with new_figure((7.0, 5.0)) as fig:
        ax = fig.add_subplot()
        for j, config in enumerate(configs):
            colour = cmap(j % cmap.N)
            sub = frame[frame["config"] == config]
            own = sub[sub["solver"] == OWN]
            ax.plot(own["sse"], own["lifetime_sparsity"], "*", ms=14, color=colour,
                    mec="black", mew=0.6, label=f"{config} ({OWN})")
            for solver, part in sub[sub["solver"] != OWN].groupby("solver", sort=True):
                part = part.sort_values("lam")
                ax.plot(part["sse"], part["lifetime_sparsity"], LINESTYLES.get(solver, ":"),
                        marker="o", ms=4, lw=1.0, color=colour, label=f"{config} ({solver})")
                for r in part.itertuples():
                    ax.annotate(f"λ={fmt_param(r.lam)}", (r.sse, r.lifetime_sparsity),
                                xytext=(3, 3), textcoords="offset points", fontsize=6)
        label_axes(ax, SSE_LABEL, "lifetime sparsity", title)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        return _save(fig, path)


def amortization_gap(ctx: ReportContext) -> list[Path]:
    """Section: the amortization-gap table and figure of every (dataset, profile) with analyses."""
    paths = []
    for dataset, profile, table in ctx.per_dataset():
        frame = gap_frame(ctx, table)
        if frame.empty:
            continue
        stem = f"amortization_gap_{slug(dataset)}_{slug(profile)}"
        title = f"Amortization gap: {dataset}, {profile} profile"
        labels = {i: table.label(i) for i in range(len(table))}
        headers, rows = gap_table(frame, labels)
        marked = any(labels[i] != table.meta.at[i, "config"] for i in set(frame["order"]))
        raw = frame.drop(columns="order").assign(dataset=dataset, profile=profile)
        records = [ctx.records_by_key[k] for keys in table.meta["keys"] for k in keys
                   if k in ctx.records_by_key]
        paths += write_formats(ctx.report_dir / stem, title, [NOTE, samples_note(records)],
                               headers, rows, raw, n_text=4,
                               footer=[UNCONVERGED_NOTE] if marked else [])
        paths.append(gap_figure(frame, title, ctx.figure_dir / f"{stem}.png"))
    return paths
