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
  configuration (its method's colour, :mod:`reports.style`) its own inference as a large star
  and each solver's λ sweep as a line (LCA solid, FISTA dashed), the λ values annotated, 95%
  half-widths as error bars where several seeds have the row; two legends right of the axes
  (configurations; kinds of inference), never over the data.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from .collect import ReportContext, Table
from .figures import SPARSITY_LABEL, SSE_LABEL, _save, label_axes, new_figure
from .formatting import UNCONVERGED_NOTE, fmt_number, fmt_param, slug
from .stats import mean_ci
from .style import config_colours, heading_handle, legend_outside
from .tables import write_formats

METRICS = ("sse", "r2", "lifetime_sparsity", "population_sparsity", "frac_zeros", "dead_frac")
CI_METRICS = ("sse", "lifetime_sparsity")
"""The metrics of the figure's axes, whose 95% half-widths over seeds ``gap_frame`` adds."""
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
    (``solver`` = ``amortized``, λ NaN for the method's own inference), the number of seeds
    ``n_seeds`` and the 95% half-widths ``<m>_ci`` of :data:`CI_METRICS` (NaN with one seed);
    empty when no run of ``table`` stored a gap analysis."""
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
    groups = frame.groupby(keys, dropna=False, sort=False)
    mean = groups[list(METRICS)].mean().reset_index()
    mean["n_seeds"] = groups.size().to_numpy()
    for m in CI_METRICS:
        mean[f"{m}_ci"] = [mean_ci(v)[1] for v in groups[m].agg(list)]
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


def _errors(part: pd.DataFrame, metric: str):
    """The half-widths of ``metric`` for ``errorbar`` (None when no row has one)."""
    col = f"{metric}_ci"
    if col not in part or not np.isfinite(part[col].to_numpy(dtype=np.float64)).any():
        return None
    return np.nan_to_num(part[col].to_numpy(dtype=np.float64), nan=0.0)


def gap_figure(frame: pd.DataFrame, title: str, path: Path,
               labels: dict[str, str] | None = None) -> Path:
    """Lifetime sparsity against sse: own inference (large star) and re-inference sweeps, one
    colour per configuration; legends right of the axes. ``labels``: the legend's label per
    configuration (e.g. marked " †" when it did not converge, explained under the plot)."""
    labels = labels or {}
    configs = list(dict.fromkeys(frame["config"]))
    method_of = dict(zip(frame["config"], frame["method"]))
    colours = dict(zip(configs, config_colours(method_of[c] for c in configs)))
    solvers = sorted(set(frame["solver"]) - {OWN})
    with new_figure((7.0, 5.0)) as fig:
        ax = fig.add_subplot()
        config_handles = []
        for config in configs:
            colour = colours[config]
            sub = frame[frame["config"] == config]
            own = sub[sub["solver"] == OWN]
            ax.errorbar(own["sse"], own["lifetime_sparsity"], xerr=_errors(own, "sse"),
                        yerr=_errors(own, "lifetime_sparsity"), fmt="*", ms=14, color=colour,
                        mec="black", mew=0.6, capsize=2, lw=0.8)
            for k, (solver, part) in enumerate(sub[sub["solver"] != OWN].groupby("solver",
                                                                                  sort=True)):
                part = part.sort_values("lam")
                ax.errorbar(part["sse"], part["lifetime_sparsity"], xerr=_errors(part, "sse"),
                            yerr=_errors(part, "lifetime_sparsity"),
                            ls=LINESTYLES.get(solver, ":"), marker="o", ms=4, lw=1.0,
                            color=colour, capsize=2)
                if k == 0:  # the solvers reach nearly the same points: label one sweep
                    for r in part.itertuples():
                        ax.annotate(f"λ={fmt_param(r.lam)}", (r.sse, r.lifetime_sparsity),
                                    xytext=(3, 3), textcoords="offset points", fontsize=6)
            config_handles.append(Line2D([], [], color=colour, lw=6,
                                         label=labels.get(config, config)))
        kinds = [Line2D([], [], ls="none", marker="*", ms=12, color="0.6", mec="black",
                        mew=0.6, label=f"own ({OWN}) inference")]
        kinds += [Line2D([], [], ls=LINESTYLES.get(s, ":"), marker="o", ms=4, color="0.35",
                         label=f"{s.upper()} re-inference, λ sweep") for s in solvers]
        label_axes(ax, SSE_LABEL, SPARSITY_LABEL, title)
        legend_outside(ax, [*config_handles, heading_handle(""), heading_handle("inference:"),
                            *kinds], title="configuration")
        notes = (["error bars: 95% confidence half-widths over seeds"]
                 if "n_seeds" in frame and frame["n_seeds"].max() > 1 else [])
        if any(labels.get(c, c) != c for c in configs):
            notes.append(UNCONVERGED_NOTE)
        if notes:
            ax.text(0.0, -0.13, "\n".join(notes), transform=ax.transAxes, fontsize=7,
                    ha="left", va="top")
        return _save(fig, path, tight=True)


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
        by_config = {table.meta.at[i, "config"]: labels[i] for i in range(len(table))}
        paths.append(gap_figure(frame, title, ctx.figure_dir / f"{stem}.png", by_config))
    return paths
