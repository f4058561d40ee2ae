"""Leaderboard tables and figures, built from the result store alone (never retrains).

``python run_suite.py report`` calls :func:`build`, which reads ``<out>/runs/*.json`` (and the
per-unit ``.npz`` arrays) through :mod:`suite.store`, aggregates the runs over seeds
(:mod:`reports.collect`) and runs every *section* of :data:`SECTIONS` in order. Output goes to
``<out>/reports/`` and is identical, byte for byte, when rebuilt from the same store. It is
built in a temporary folder beside ``reports/`` and swapped in whole, so a failed or killed
build leaves the previous report as it was, never half rewritten; files of runs that left the
store are pruned, while files other commands keep there (``reproduction/``, ``samples_*.png``)
are carried over. Damaged runs (:mod:`suite.store`) are left out and listed in ``index.md``.

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

import fnmatch
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from .collect import ReportContext, aggregate, runs_frame
from .amortization_gap_report import amortization_gap
from .convergence_report import convergence
from .figures import dictionary_grids, rate_distortion, sparsity_vs_distortion
from .formatting import config_label
from .tables import footnotes, leaderboard, leaderboards, render, sweeps

Section = Callable[[ReportContext], list[Path]]

SECTIONS: list[Section] = [leaderboards, sweeps, dictionary_grids, sparsity_vs_distortion,
                           rate_distortion, convergence, amortization_gap]
"""The report sections, in the order they are built and listed in ``index.md``."""

__all__ = ["SECTIONS", "ReportContext", "build", "format_leaderboard", "summary_lines"]

BUILT_PATTERNS = ("index.md", "leaderboard_*", "sweep_*", "convergence_*", "amortization_gap_*",
                  "figures/dictionary_*", "figures/sparsity_vs_sse_*", "figures/rate_distortion_*",
                  "figures/convergence_*", "figures/amortization_gap_*")
"""Paths (relative, POSIX) that only :func:`build` writes: on a rebuild, such a file of the
previous report that the new one lacks is pruned, as is every file the previous ``index.md``
listed; every other file of the folder (e.g. ``reproduction/``, ``samples_*.png``) is kept."""
_INDEX_LINK = re.compile(r"^- \[.*\]\((?P<path>[^()]+)\)$")


def build(out_dir: Path, report_dir: Path | None = None) -> list[Path]:
    """Build every section of :data:`SECTIONS` from the store under ``out_dir`` into
    ``report_dir`` (default ``<out_dir>/reports``); return the paths written, ``index.md`` last.

    The report is built in a temporary folder beside ``report_dir`` and swapped in when
    complete (files there that the build does not own are carried over): on any error the
    previous report stays as it was."""
    out_dir = Path(out_dir)
    report_dir = out_dir / "reports" if report_dir is None else Path(report_dir)
    final = Path(os.path.realpath(report_dir))
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not final.is_dir():
        from suite.errors import SuiteError

        raise SuiteError(f"cannot write the reports to {report_dir}: it is a file, not a folder")
    _remove_stale_staging(final)
    try:
        staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.building-"))
    except PermissionError:
        if not (final.is_dir() and os.access(final, os.W_OK | os.X_OK)):
            raise
        return _build_inside(out_dir, report_dir, final)  # the folder is writable, its parent not
    try:
        written = _build_into(out_dir, staging)
        if final.is_dir():
            _carry_over(final, staging, _previously_built(final))
        from suite.store import default_dir_mode

        os.chmod(staging, default_dir_mode() if not final.is_dir()
                 else final.stat().st_mode & 0o7777)
        _swap_in(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [report_dir / p.relative_to(staging) for p in written]


STALE_SECONDS = 3600
"""Staging folders of builds killed before they could clean up are removed after this long."""


def _remove_stale_staging(final: Path) -> None:
    import time

    try:
        entries = list(os.scandir(final.parent))
    except OSError:
        return
    for entry in entries:
        if (entry.name.startswith((f".{final.name}.building-", f".{final.name}.old-"))
                and entry.is_dir(follow_symlinks=False)):
            try:
                if time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS:
                    shutil.rmtree(entry.path, ignore_errors=True)
            except OSError:
                pass


def _build_inside(out_dir: Path, report_dir: Path, final: Path) -> list[Path]:
    """:func:`build` where only the report folder itself is writable: build in a hidden folder
    inside it, then move each file into place (each replaced atomically) and prune the previous
    build's files that the new one lacks. A failed build still changes nothing."""
    staging = Path(tempfile.mkdtemp(dir=final, prefix=".building-"))
    try:
        written = _build_into(out_dir, staging)
        previous = _previously_built(final)
        for path in written:
            target = final / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        new = {p.relative_to(staging).as_posix() for p in written}
        for path in sorted(final.rglob("*")):
            rel = path.relative_to(final).as_posix()
            if (path.is_file() and not rel.startswith(".building-") and rel not in new
                    and _is_built(rel, previous)):
                path.unlink()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [report_dir / p.relative_to(staging) for p in written]


def _build_into(out_dir: Path, report_dir: Path) -> list[Path]:
    """Every section, then ``index.md``, written into the (empty) folder ``report_dir``."""
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


def _previously_built(report_dir: Path) -> set[str]:
    """The files (relative POSIX paths) the previous build listed in its ``index.md``."""
    try:
        text = (report_dir / "index.md").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    return {m["path"] for line in text.splitlines() if (m := _INDEX_LINK.match(line))}


def _is_built(rel: str, previous: set[str]) -> bool:
    return rel in previous or any(fnmatch.fnmatchcase(rel, pat) for pat in BUILT_PATTERNS)


def _carry_over(old: Path, new: Path, previous: set[str], prefix: str = "") -> None:
    """Link (or copy) into ``new`` every file of ``old`` that is not a build product and that
    the new build did not write, folders recreated; the old folder is left intact."""
    for entry in sorted(os.scandir(old), key=lambda e: e.name):
        rel = prefix + entry.name
        src, dst = Path(entry.path), new / entry.name
        if entry.is_dir(follow_symlinks=False):
            if not dst.exists():
                dst.mkdir()
                shutil.copystat(src, dst)
            if dst.is_dir() and not dst.is_symlink():
                _carry_over(src, dst, previous, rel + "/")
            continue
        if _is_built(rel, previous) or dst.exists() or dst.is_symlink():
            continue
        if entry.is_symlink():
            os.symlink(os.readlink(src), dst)
            continue
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


def _swap_in(staging: Path, final: Path) -> None:
    """Put the folder ``staging`` in place of ``final`` (two renames in one folder)."""
    if not final.exists():
        os.rename(staging, final)
        return
    retired = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-"))
    os.rmdir(retired)  # a unique free name
    os.rename(final, retired)
    try:
        os.rename(staging, final)
    except BaseException:
        os.rename(retired, final)
        raise
    shutil.rmtree(retired, ignore_errors=True)


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
    if ctx.damaged:
        n = len(ctx.damaged)
        lines.append(f"{n} damaged run{'s' if n != 1 else ''} not counted; "
                     f"{'they' if n != 1 else 'it'} will be redone the next time "
                     f"{'their' if n != 1 else 'its'} grid runs:")
        lines += [f"  - {d.path}: {d.reason}" for d in sorted(ctx.damaged, key=lambda d: str(d.path))]
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
