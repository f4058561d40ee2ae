"""Leaderboard and sweep tables, written as Markdown (GitHub), CSV, LaTeX and HTML.

Display formats (Markdown, LaTeX, HTML) show "mean ± 95% half-width" over seeds, the value alone
with one seed, "—" where a metric is undefined for a method (e.g. ``rate`` of sparse coding),
"NaN" (or "inf" / "-inf") where it was computed but is not a finite number for some seed.
The CSV holds raw numbers for pandas: per metric a ``<metric>_mean`` and a ``<metric>_ci``
column (empty when undefined, ``NaN`` / ``inf`` when computed but not finite), for every numeric
metric of the rows (the displayed ones first).
The LaTeX is a booktabs ``tabular`` in UTF-8 (± and — as characters: any LaTeX since 2018).

Every leaderboard and sweep table has a ``converged`` column (yes / no / n/a, PROTOCOL.md's
criterion, :mod:`suite.loss_curve`); a row that did not converge has its label suffixed with " †"
and the table the footnote :data:`reports.formatting.UNCONVERGED_NOTE` under it.
"""
from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from .collect import ReportContext, Table, resolved_value
from .formatting import (MARKS_NOTE, TIME_LIMITED_NOTE, UNCONVERGED_NOTE, fmt_computed,
                         fmt_mean_ci, fmt_param, mark_label, slug, sort_value)

CORE_METRICS = ("sse", "mse", "r2", "rate", "nelbo", "lifetime_sparsity", "population_sparsity",
                "frac_zeros", "l0", "dead_frac")
OPTIONAL_METRICS = ("rate", "nelbo")
"""Shown only when some row defines them."""
COST_METRICS = ("fit_seconds", "params")
SWEEP_METRICS = ("rate", "sse", "r2", "lifetime_sparsity", "population_sparsity", "dead_frac")
NOT_A_NUMBER_CSV = "NaN"
"""A computed NaN in the CSV (pandas reads it as NaN; "not applicable" is an empty cell)."""

NOTE = ("Mean ± 95% confidence half-width over seeds (Student t); with one seed, the value "
        f"alone; {MARKS_NOTE} Definitions: PROTOCOL.md.")


def _knn_size(name: str) -> int | None:
    m = re.fullmatch(r"knn@(\d+)", name)
    return int(m.group(1)) if m else None


def _is_likelihood(name: str) -> bool:
    return re.search(r"(^|_)nll($|_)", name) is not None


def leaderboard_metrics(table: Table) -> list[str]:
    """The metric columns of a leaderboard: :data:`CORE_METRICS` (``rate``/``nelbo`` only when
    defined somewhere), ``knn@N`` by N, likelihood (``*nll*``) columns, then the costs."""
    names = list(table.mean.columns)
    cols = [m for m in CORE_METRICS if m not in OPTIONAL_METRICS or table.defined(m)]
    cols += sorted((m for m in names if _knn_size(m) is not None and table.defined(m)),
                   key=_knn_size)
    cols += sorted(m for m in names if _is_likelihood(m) and table.defined(m))
    return cols + list(COST_METRICS)


def _cell(table: Table, i: int, m: str) -> str:
    if m not in table.mean:
        return fmt_mean_ci(None, None)
    if table.is_nonfinite(i, m):
        return fmt_computed(table.mean.at[i, m])
    return fmt_mean_ci(table.mean.at[i, m], table.ci.at[i, m] if m in table.ci else None)


def _cells(table: Table, metrics: list[str]) -> list[list[str]]:
    return [[_cell(table, i, m) for m in metrics] for i in range(len(table))]


def leaderboard(table: Table) -> tuple[list[str], list[list[str]], list[str]]:
    """``(headers, rows, metrics)`` of the leaderboard of one (dataset, profile)'s rows: the
    configuration (marked " †" when it did not converge), family, n_seeds, converged, then the
    metrics."""
    metrics = leaderboard_metrics(table)
    headers = ["method", "family", "n_seeds", "converged"] + metrics
    rows = [[table.label(i), table.meta.at[i, "family"], str(table.meta.at[i, "n_seeds"]),
             table.converged_text(i)] + cells
            for i, cells in enumerate(_cells(table, metrics))]
    return headers, rows, metrics


def footnotes(table: Table) -> list[str]:
    """The lines under a table of ``table``'s rows: the meaning of " †" and " ‡" when a row has
    them."""
    return (([UNCONVERGED_NOTE] if table.any_unconverged() else [])
            + ([TIME_LIMITED_NOTE] if table.any_time_limited() else []))


def swept_settings(table: Table) -> dict[str, list[str]]:
    """Per method with at least 2 configurations: the settings its configurations override."""
    out = {}
    for method, g in table.meta.groupby("method", sort=True):
        if g["config_id"].nunique() >= 2:
            out[method] = sorted({k for o in g["overrides"] for k in o})
    return out


def sweep(table: Table) -> tuple[Table, dict[str, list]] | None:
    """The rows of the rate–distortion table: the configurations of the methods with ≥ 2 of them
    (a sub-table in sweep order: family, method, swept values) and the swept settings as columns
    (name -> the value each row used, None where the setting is not one of the row's method's);
    None when no method was swept."""
    swept = swept_settings(table)
    if not swept:
        return None
    settings = sorted({k for keys in swept.values() for k in keys})
    meta = table.meta
    idx = [i for i in range(len(table)) if meta.at[i, "method"] in swept]
    values = {i: [resolved_value(meta.at[i, "spec"], k) if k in swept[meta.at[i, "method"]]
                  else None for k in settings] for i in idx}
    idx.sort(key=lambda i: (meta.at[i, "family"], meta.at[i, "method"],
                            tuple(sort_value(v) for v in values[i]), meta.at[i, "config_id"]))
    sub = Table(*(f.loc[idx].reset_index(drop=True) for f in table.frames()))
    return sub, {k: [values[i][j] for i in idx] for j, k in enumerate(settings)}


def sweep_display(sub: Table, settings: dict[str, list]) -> tuple[list[str], list[list[str]]]:
    """``(headers, rows)`` of a sweep table: method (marked " †" when the row did not converge,
    " ‡" when a seed was cut by its time limit),
    swept settings (blank where not the method's), n_seeds, converged, :data:`SWEEP_METRICS`."""
    cells = _cells(sub, list(SWEEP_METRICS))
    rows = [[mark_label(sub.meta.at[j, "method"], sub.converged_text(j), sub.time_limited(j))]
            + ["" if col[j] is None else fmt_param(col[j]) for col in settings.values()]
            + [str(sub.meta.at[j, "n_seeds"]), sub.converged_text(j)] + cells[j]
            for j in range(len(sub))]
    return ["method", *settings, "n_seeds", "converged", *SWEEP_METRICS], rows


def render(headers: list[str], rows: list[list[str]], fmt: str = "github", n_text: int = 2) -> str:
    """The table in a tabulate format; the first ``n_text`` columns left-aligned, the rest right.
    Cells are written as given (no re-parsing of numbers)."""
    align = ["left"] * n_text + ["right"] * (len(headers) - n_text)
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True, colalign=align)


def csv_frame(table: Table, first: list[str]) -> pd.DataFrame:
    """Raw numbers: meta columns (with ``converged``: yes / no / n/a), then ``<m>_mean``/``<m>_ci``
    for the metrics of ``first`` and, after them, every other metric some row defines
    (alphabetically; ``converged_mean`` is the fraction of judged seeds that converged)."""
    rest = sorted(m for m in table.mean.columns if m not in first and table.defined(m))
    metrics = [m for m in first if m in table.mean] + rest
    meta = table.meta
    out = pd.DataFrame({
        "dataset": meta["dataset"], "profile": meta["profile"], "family": meta["family"],
        "method": meta["method"], "config": meta["config"],
        "overrides": [json.dumps(o, sort_keys=True, default=str) for o in meta["overrides"]],
        "n_seeds": meta["n_seeds"], "seeds": [" ".join(map(str, s)) for s in meta["seeds"]],
        "converged": [table.converged_text(i) for i in range(len(table))]})
    for m in metrics:
        out[f"{m}_mean"] = table.mean[m]
        flagged = table.nonfinite[m] & table.mean[m].isna()
        if flagged.any():  # computed but NaN: "NaN", apart from the empty "not applicable"
            out[f"{m}_mean"] = [NOT_A_NUMBER_CSV if f else v for v, f in zip(table.mean[m], flagged)]
        out[f"{m}_ci"] = table.ci[m]
    return out


def write_formats(stem: Path, title: str, notes: list[str], headers: list[str],
                  rows: list[list[str]], raw: pd.DataFrame, n_text: int,
                  footer: list[str] = ()) -> list[Path]:
    """Write ``stem``.md, .csv, .tex and .html (``notes`` above the table, ``footer`` lines under
    it); return their paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    footer = list(footer)
    texts = {
        ".md": "\n\n".join([f"# {title}", *notes, render(headers, rows, "github", n_text),
                             *footer]) + "\n",
        ".csv": raw.to_csv(index=False, lineterminator="\n"),
        ".tex": "".join(f"% {line}\n" for line in [title, *notes])
                + render(headers, rows, "latex_booktabs", n_text) + "\n"
                + "".join(f"% {line}\n" for line in footer),
        ".html": ("<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\">"
                  f"<title>{html.escape(title)}</title></head>\n<body>\n"
                  f"<h1>{html.escape(title)}</h1>\n"
                  + "".join(f"<p>{html.escape(line)}</p>\n" for line in notes)
                  + render(headers, rows, "html", n_text) + "\n"
                  + "".join(f"<p>{html.escape(line)}</p>\n" for line in footer)
                  + "</body>\n</html>\n"),
    }
    paths = []
    for ext, text in texts.items():
        path = stem.with_suffix(ext)
        path.write_text(text, encoding="utf-8", newline="\n")
        paths.append(path)
    return paths


def _failure_note(ctx: ReportContext, dataset: str, profile: str) -> list[str]:
    n = len(ctx.failures_of(dataset, profile))
    if not n:
        return []
    rel = os.path.relpath(ctx.out_dir.resolve() / "failures", ctx.report_dir.resolve())
    return [f"{n} failed run{'s' if n > 1 else ''} not shown; see {Path(rel).as_posix()}/."]


def leaderboards(ctx: ReportContext) -> list[Path]:
    """Section: ``leaderboard_<dataset>_<profile>.{md,csv,tex,html}`` per (dataset, profile)."""
    paths = []
    for dataset, profile, table in ctx.per_dataset():
        headers, rows, metrics = leaderboard(table)
        paths += write_formats(
            ctx.report_dir / f"leaderboard_{slug(dataset)}_{slug(profile)}",
            f"Leaderboard: {dataset}, {profile} profile", [NOTE] + _failure_note(ctx, dataset, profile),
            headers, rows, csv_frame(table, metrics), n_text=2, footer=footnotes(table))
    return paths


def sweeps(ctx: ReportContext) -> list[Path]:
    """Section: ``sweep_<dataset>_<profile>.{md,csv,tex,html}`` where a method has ≥ 2 configs."""
    paths = []
    for dataset, profile, table in ctx.per_dataset():
        built = sweep(table)
        if built is None:
            continue
        sub, settings = built
        headers, rows = sweep_display(sub, settings)
        raw = csv_frame(sub, list(SWEEP_METRICS))
        for pos, (name, col) in enumerate(settings.items(), start=raw.columns.get_loc("config") + 1):
            raw.insert(pos, f"setting:{name}", list(col))
        note = "One row per configuration of each swept method. " + NOTE
        paths += write_formats(
            ctx.report_dir / f"sweep_{slug(dataset)}_{slug(profile)}",
            f"Rate–distortion sweep: {dataset}, {profile} profile", [note], headers, rows, raw,
            n_text=1 + len(settings), footer=footnotes(sub))
    return paths
