"""Leaderboard tables and figures, built from the result store alone (never retrains).

``python run_suite.py report`` calls :func:`build`, which reads ``<out>/runs/*.json`` (and the
per-unit ``.npz`` arrays) through :mod:`suite.store`, aggregates the runs over seeds
(:mod:`reports.collect`) and runs every *section* of :data:`SECTIONS` in order. Output goes to
``<out>/reports/`` and is identical, byte for byte, when rebuilt from the same store:

- ``leaderboard_<dataset>_<profile>.{md,csv,tex,html}`` (:mod:`reports.tables`), with a
  ``converged`` column and a " †" on the rows that did not converge (PROTOCOL.md);
- ``sweep_<dataset>_<profile>.{md,csv,tex,html}`` where a method ran ≥ 2 configurations;
- ``figures/*.png``: dictionaries, sparsity vs distortion, rate–distortion (:mod:`reports.figures`);
- ``index.md``: the store's summary and a link to every file written.

Failed runs (``<out>/failures/``) are counted, never tabulated.

Adding a section
----------------
Write a function ``section(ctx: ReportContext) -> list[Path]`` that builds its tables or figures
from ``ctx`` (``ctx.table`` aggregates over seeds, ``ctx.per_dataset()`` yields one
(dataset, profile, rows) at a time, ``ctx.runs`` has one row per run, ``ctx.records`` the raw
records (``ctx.records_by_key`` by run key), ``ctx.arrays(key)`` a run's stored arrays), writes
them under ``ctx.report_dir`` (figures under ``ctx.figure_dir``, drawn in
:func:`reports.figures.new_figure` and saved with :func:`reports.figures._save` so that they are
reproducible) and returns the paths it wrote, in a fixed order. Then append it to
:data:`SECTIONS`. It must not train anything, nor write time stamps.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from .collect import ReportContext, aggregate, runs_frame
from .amortization_gap import amortization_gap
from .convergence import convergence
from .figures import dictionary_grids, rate_distortion, sparsity_vs_distortion
from .formatting import config_label
from .tables import footnotes, leaderboard, leaderboards, render, sweeps

Section = Callable[[ReportContext], list[Path]]

SECTIONS: list[Section] = [leaderboards, sweeps, dictionary_grids, sparsity_vs_distortion,
                           rate_distortion, convergence, amortization_gap]
"""The report sections, in the order they are built and listed in ``index.md``."""

__all__ = ["SECTIONS", "ReportContext", "build", "format_leaderboard", "summary_lines"]


def build(out_dir: Path, report_dir: Path | None = None) -> list[Path]:
    """Build every section of :data:`SECTIONS` from the store under ``out_dir`` into
    ``report_dir`` (default ``<out_dir>/reports``); return the paths written, ``index.md`` last."""
    out_dir = Path(out_dir)
    report_dir = out_dir / "reports" if report_dir is None else Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    ctx = ReportContext.from_store(out_dir, report_dir)
    written: list[Path] = []
    for section in SECTIONS:
        written += section(ctx)
    index = report_dir / "index.md"
    lines = ["# Reports", "", *_summary(ctx), ""]
    lines += [f"- [{os.path.relpath(p, report_dir)}]({Path(os.path.relpath(p, report_dir)).as_posix()})"
              for p in written]
    index.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    return written + [index]


def format_leaderboard(records: list[dict], dataset: str, profile: str, fmt: str = "github") -> str:
    """The leaderboard of ``records`` (store records) on one (dataset, profile), as a table in
    tabulate format ``fmt`` (no title), with the footnote on " †" (not converged) under it when
    a row has the mark; a one-line note when there is no finished run."""
    runs, metric_names, _ = runs_frame([r for r in records if r.get("status", "ok") == "ok"])
    table = aggregate(runs, metric_names).select(dataset, profile)
    if not len(table):
        return f"(no finished runs for {dataset}, {profile} profile)"
    headers, rows, _ = leaderboard(table)
    return "\n\n".join([render(headers, rows, fmt, n_text=2), *footnotes(table)])


def _summary(ctx: ReportContext) -> list[str]:
    n_runs = len(ctx.records)
    pairs = ctx.table.pairs()
    lines = [f"{n_runs} finished run{'s' if n_runs != 1 else ''} stored in "
             f"{ctx.out_dir / 'runs'} ({len(ctx.table)} configurations on "
             f"{len(pairs)} dataset/profile pair{'s' if len(pairs) != 1 else ''})."]
    if ctx.n_superseded:
        lines.append(f"{ctx.n_superseded} older record(s) of the same method, configuration and "
                     "seed are superseded by newer ones and not counted.")
    if ctx.failures:
        n = len(ctx.failures)
        lines.append(f"{n} run{'s' if n != 1 else ''} failed; see {ctx.out_dir / 'failures'} "
                     "(failed runs are retried on the next invocation):")
        for f in sorted(ctx.failures, key=lambda f: f.get("key", "")):
            spec = f.get("spec") or {}
            error = str(f.get("error") or "").strip().splitlines()
            label = config_label(spec.get("method", "?"), spec.get("overrides") or {})
            lines.append(f"  - {label} on {spec.get('dataset', '?')} "
                         f"({spec.get('profile', '?')}, seed {spec.get('seed', '?')}): "
                         f"{error[0] if error else 'unknown error'}")
    from suite.executors.submissions import missing_lines  # runs submitted to Slurm/Ray, not finished

    return lines + missing_lines(ctx.out_dir)


def summary_lines(out_dir: Path) -> list[str]:
    """How many runs the store under ``out_dir`` holds, how many failed (one line each)."""
    out_dir = Path(out_dir)
    return _summary(ReportContext.from_store(out_dir, out_dir / "reports"))
