"""Convergence of iterative inference: a table and a figure per (dataset, profile).

Built from the convergence traces stored in run records under ``traces.convergence`` (written by
:func:`suite.analyses.convergence.convergence_trace`: metrics at log-spaced inference steps up to the
method's test horizon). Every configuration with a trace is shown: the iterative VAEs, and LCA
(or any other method with a trajectory hook) on the same step axis, "at equal steps".

- ``convergence_<dataset>_<profile>.{md,csv,tex,html}``: one row per configuration; R² and
  frac_zeros at step 1, at the training horizon t_train (when the trace has it) and at the
  final step t_test, and the state change ‖Δs‖ at the final step. Values are means over the
  configuration's seeds that have a trace with the same steps (the first seed's steps).
- ``figures/convergence_<dataset>_<profile>.png``: R² (left) and frac_zeros (right) against the
  inference step (log axis), one line per configuration in its method's colour and family's
  marker (:mod:`reports.style`); solid where inference was trained through its unrolled steps
  (a training horizon), dashed otherwise; a band of 95% half-widths over seeds where several
  seeds have the trace; the legend right of the axes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from scipy import stats

from .collect import ReportContext, Table
from .figures import _save, label_axes, new_figure
from .formatting import UNCONVERGED_NOTE, fmt_number, slug
from .style import config_colours, family_marker, heading_handle, legend_outside
from .tables import write_formats

CURVES = (("r2", "R² (unitless; per sample, mean)"),
          ("frac_zeros", "fraction of zero codes (0 to 1)"))
NOTE = ("Metrics of the inference state after t steps on the validation set, averaged over "
        "samples and seeds (streamed; see suite/convergence.py). The leaderboard uses the final "
        "step.")


def _trace(record: dict) -> dict | None:
    trace = (record.get("traces") or {}).get("convergence")
    return trace if isinstance(trace, dict) and trace.get("steps") else None


def mean_trace(traces: list[dict]) -> dict:
    """The elementwise mean over seeds of traces with the first one's steps (None stays None
    where every seed lacks a value), and under ``<key>_ci`` the 95% half-width over seeds
    (Student t; None where fewer than 2 seeds have a value)."""
    steps = traces[0]["steps"]
    same = [t for t in traces if t["steps"] == steps]
    out = {"steps": steps, "n_seeds": len(same), "train_steps": same[0].get("train_steps")}
    for key in ("r2", "sse", "frac_zeros", "delta_norm", "rate"):
        rows = [[np.nan if v is None else v for v in t[key]]
                for t in same if t.get(key) is not None]
        if not rows:
            out[key] = None
            continue
        arr = np.asarray(rows, dtype=np.float64)
        ok = np.isfinite(arr)
        counts, sums = ok.sum(0), np.where(ok, arr, 0.0).sum(0)
        out[key] = [float(s / c) if c else None for s, c in zip(sums, counts)]
        out[f"{key}_ci"] = [_half_width(arr[ok[:, j], j]) for j in range(arr.shape[1])]
    return out


def _half_width(values: np.ndarray) -> float | None:
    """The 95% half-width (Student t) of the mean of ``values``; None for fewer than 2."""
    if len(values) < 2:
        return None
    if values.min() == values.max():
        return 0.0
    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


def traces_by_config(ctx: ReportContext, table: Table) -> list[tuple[pd.Series, dict]]:
    """``(meta row, mean trace)`` for every configuration of ``table`` with a stored trace; the
    meta row's ``label`` is its configuration marked " †" when training did not converge."""
    by_key = ctx.records_by_key
    out = []
    for i in range(len(table)):
        meta = table.meta.iloc[i].copy()
        meta["label"] = table.label(i)
        traces = [t for t in (_trace(by_key[k]) for k in meta["keys"] if k in by_key) if t]
        if traces:
            out.append((meta, mean_trace(traces)))
    return out


def _at(trace: dict, key: str, step: int | None) -> float | None:
    if step is None or trace.get(key) is None or step not in trace["steps"]:
        return None
    return trace[key][trace["steps"].index(step)]


def convergence_rows(items: list[tuple[pd.Series, dict]],
                     ) -> tuple[list[str], list[list[str]], pd.DataFrame]:
    """Display headers and rows, and the raw numbers, of the convergence table."""
    headers = ["method", "config", "t_train", "t_test", "R²@1", "R²@t_train", "R²@t_test",
               "zeros@1", "zeros@t_train", "zeros@t_test", "‖Δs‖@t_test", "n_seeds"]
    rows, raw = [], []
    for meta, tr in items:
        t_train, t_final = tr.get("train_steps"), tr["steps"][-1]
        values = {"r2@1": _at(tr, "r2", 1), "r2@t_train": _at(tr, "r2", t_train),
                  "r2@t_test": _at(tr, "r2", t_final), "zeros@1": _at(tr, "frac_zeros", 1),
                  "zeros@t_train": _at(tr, "frac_zeros", t_train),
                  "zeros@t_test": _at(tr, "frac_zeros", t_final),
                  "delta@t_test": _at(tr, "delta_norm", t_final)}
        rows.append([meta["method"], meta.get("label", meta["config"]),
                     "" if t_train is None else str(t_train),
                     str(t_final)] + [fmt_number(v) for v in values.values()]
                    + [str(tr["n_seeds"])])
        raw.append({"dataset": meta["dataset"], "profile": meta["profile"],
                    "family": meta["family"], "method": meta["method"], "config": meta["config"],
                    "t_train": t_train, "t_test": t_final, **values, "n_seeds": tr["n_seeds"]})
    return headers, rows, pd.DataFrame(raw)


def convergence_figure(items: list[tuple[pd.Series, dict]], title: str, path: Path) -> Path:
    """R² and frac_zeros against the inference step, one line per configuration (its method's
    colour, its family's marker), with a band of 95% half-widths over seeds where there are
    several; the legend right of the axes."""
    colours = config_colours(meta["method"] for meta, _ in items)
    with new_figure((11.0, 4.5)) as fig:
        axes = fig.subplots(1, 2)
        handles, banded = [], False
        for colour, (meta, tr) in zip(colours, items):
            # solid: inference trained through its unrolled steps (a training horizon)
            style = "-" if tr.get("train_steps") is not None else "--"
            marker = family_marker(meta["family"])
            for ax, (key, _) in zip(axes, CURVES):
                if tr.get(key) is None:
                    continue
                ys = np.array([np.nan if v is None else v for v in tr[key]], dtype=np.float64)
                ax.plot(tr["steps"], ys, style, marker=marker, ms=3, lw=1.2, color=colour)
                ci = tr.get(f"{key}_ci")
                if ci is not None and any(c is not None for c in ci):
                    half = np.array([np.nan if c is None else c for c in ci], dtype=np.float64)
                    ax.fill_between(tr["steps"], ys - half, ys + half, color=colour, alpha=0.18,
                                    lw=0)
                    banded = True
            handles.append(Line2D([], [], ls=style, marker=marker, ms=4, lw=1.2, color=colour,
                                  label=meta.get("label", meta["config"])))
        for ax, (_, label) in zip(axes, CURVES):
            ax.set_xscale("log")
            label_axes(ax, "inference step t (iterations, log scale)", label)
        lines = [Line2D([], [], ls="-", color="0.35", label="solid: trained through t_train"),
                 Line2D([], [], ls="--", color="0.35", label="dashed: no training horizon")]
        legend_outside(axes[1], [*handles, heading_handle(""), *lines], title="configuration")
        notes = ["bands: 95% confidence half-widths over seeds"] if banded else []
        if any(meta.get("label", meta["config"]) != meta["config"] for meta, _ in items):
            notes.append(UNCONVERGED_NOTE)
        if notes:
            axes[0].text(0.0, -0.16, "\n".join(notes), transform=axes[0].transAxes, fontsize=7,
                         ha="left", va="top")
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        return _save(fig, path, tight=True)


def convergence(ctx: ReportContext) -> list[Path]:
    """Section: the convergence table and figure of every (dataset, profile) with traces."""
    paths = []
    for dataset, profile, table in ctx.per_dataset():
        items = traces_by_config(ctx, table)
        if not items:
            continue
        stem = f"convergence_{slug(dataset)}_{slug(profile)}"
        title = f"Convergence of inference: {dataset}, {profile} profile"
        headers, rows, raw = convergence_rows(items)
        marked = any(meta.get("label", meta["config"]) != meta["config"] for meta, _ in items)
        paths += write_formats(ctx.report_dir / stem, title, [NOTE], headers, rows, raw, n_text=2,
                               footer=[UNCONVERGED_NOTE] if marked else [])
        paths.append(convergence_figure(items, title, ctx.figure_dir / f"{stem}.png"))
    return paths
