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
- ``figures/*.png``: dictionaries, sparsity vs distortion, rate–distortion (:mod:`reports.figures`),
  and with ``formats`` (``report --formats png,pdf,svg``) their vector copies beside them;
- ``convergence_*`` and ``amortization_gap_*`` tables and figures, where runs stored them;
- ``index.html``: everything above on one self-contained page, with sortable and filterable
  leaderboards, a summary ranking, each run's details and the reproduction scorecard
  (:mod:`reports.page`);
- ``index.md``: the store's summary and a link to every file written.

Failed runs (``<out>/failures/``) are counted, never tabulated; the page shows each one's error
and traceback.

Adding a section
----------------
Write a function ``section(ctx: ReportContext) -> list[Path]`` that builds its tables or figures
from ``ctx`` (``ctx.table`` aggregates over seeds, ``ctx.per_dataset()`` yields one
(dataset, profile, rows) at a time, ``ctx.runs`` has one row per run, ``ctx.records`` the raw
records (``ctx.records_by_key`` by run key), ``ctx.arrays(key)`` a run's stored arrays), writes
them under ``ctx.report_dir`` (figures under ``ctx.figure_dir``, drawn in
:func:`reports.figures.new_figure` and saved with :func:`reports.figures._save` so that they are
reproducible) and returns the paths it wrote, in a fixed order. Then insert it in
:data:`SECTIONS` before :func:`reports.page.html_page` (the page embeds what the others wrote;
show the new tables or figures there too). It must not train anything, nor write time stamps.
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
from .figures import (FORMATS, dictionary_grids, rate_distortion, saving_formats,
                      sparsity_vs_distortion)
from .page import html_page
from .summary import store_summary
from .tables import footnotes, leaderboard, leaderboards, render, sweeps

Section = Callable[[ReportContext], list[Path]]

SECTIONS: list[Section] = [leaderboards, sweeps, dictionary_grids, sparsity_vs_distortion,
                           rate_distortion, convergence, amortization_gap, html_page]
"""The report sections, in the order they are built and listed in ``index.md``; the page
(``index.html``) comes last, since it embeds the figures the others wrote."""

__all__ = ["FORMATS", "SECTIONS", "ReportContext", "build", "format_leaderboard",
           "summary_lines"]

BUILT_PATTERNS = ("index.md", "index.html", "leaderboard_*", "sweep_*", "convergence_*",
                  "amortization_gap_*",
                  "figures/dictionary_*", "figures/sparsity_vs_sse_*", "figures/rate_distortion_*",
                  "figures/convergence_*", "figures/amortization_gap_*")
"""Paths (relative, POSIX) that only :func:`build` writes: on a rebuild, such a file of the
previous report that the new one lacks is pruned, as is every file the previous ``index.md``
listed; every other file of the folder (e.g. ``reproduction/``, ``samples_*.png``) is kept."""
_INDEX_LINK = re.compile(r"^- \[.*\]\((?P<path>[^()]+)\)$")
_FORMATS_LINE = re.compile(r"^Figure formats: (?P<formats>[a-z]+(?:, [a-z]+)*) ")


def _previous_formats(report_dir: Path) -> tuple[str, ...]:
    """The figure formats the previous build recorded in its ``index.md``; PNG alone if none."""
    try:
        text = (report_dir / "index.md").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ("png",)
    for line in text.splitlines():
        m = _FORMATS_LINE.match(line)
        if m:
            found = tuple(f for f in m["formats"].split(", ") if f in FORMATS)
            return found or ("png",)
    return ("png",)


def build(out_dir: Path, report_dir: Path | None = None,
          formats: tuple[str, ...] | list[str] | None = None) -> list[Path]:
    """Build every section of :data:`SECTIONS` from the store under ``out_dir`` into
    ``report_dir`` (default ``<out_dir>/reports``); return the paths written, ``index.md`` last.
    ``formats``: the figure formats (:data:`reports.figures.FORMATS`); PNG is always written,
    ``pdf`` and ``svg`` add vector copies beside each figure; None: those of the previous build
    (``index.md`` records them when other than PNG alone), else PNG alone.

    The report is built in a temporary folder beside ``report_dir`` and swapped in when
    complete (files there that the build does not own are carried over): on any error the
    previous report stays as it was. Files of the previous build that this one did not write
    (runs that left the store, formats no longer asked for) are gone afterwards."""
    out_dir = Path(out_dir)
    if formats is None:
        formats = _previous_formats(out_dir / "reports" if report_dir is None else Path(report_dir))
    formats = tuple(dict.fromkeys(["png", *formats]))
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        from suite.errors import ConfigError

        raise ConfigError(f"unknown figure format(s) {', '.join(unknown)}; "
                          f"choose among {', '.join(FORMATS)} (e.g. --formats png,pdf,svg)")
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
        # the folder is writable, its parent not
        return _build_inside(out_dir, report_dir, final, formats)
    try:
        written = _build_into(out_dir, staging, formats)
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


def _build_inside(out_dir: Path, report_dir: Path, final: Path,
                  formats: tuple[str, ...] = ("png",)) -> list[Path]:
    """:func:`build` where only the report folder itself is writable: build in a hidden folder
    inside it, then move each file into place (each replaced atomically) and prune the previous
    build's files that the new one lacks. A failed build still changes nothing."""
    staging = Path(tempfile.mkdtemp(dir=final, prefix=".building-"))
    try:
        written = _build_into(out_dir, staging, formats)
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


def _build_into(out_dir: Path, report_dir: Path,
                formats: tuple[str, ...] = ("png",)) -> list[Path]:
    """Every section, then ``index.md``, written into the (empty) folder ``report_dir``; each
    section's figures in ``formats``."""
    ctx = ReportContext.from_store(out_dir, report_dir)
    written: list[Path] = []
    for section in SECTIONS:
        with saving_formats(formats) as extra:
            written += section(ctx)
        written += extra
    index = report_dir / "index.md"
    lines = ["# Reports", "", *store_summary(ctx), ""]
    if tuple(formats) != ("png",):  # kept by the next build that names none (`run`'s rebuild)
        lines += [f"Figure formats: {', '.join(formats)} (`report --formats png` for PNG only).",
                  ""]
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


def summary_lines(out_dir: Path) -> list[str]:
    """How many runs the store under ``out_dir`` holds, how many failed (one line each)."""
    out_dir = Path(out_dir)
    return store_summary(ReportContext.from_store(out_dir, out_dir / "reports"))
