"""The leaderboard a run prints at its end: a narrow view that fits a terminal (120 columns).

The default columns (:data:`DEFAULT_COLUMNS`) are the configuration, sse, R², rate, lifetime
sparsity, dead fraction, few-shot KNN accuracy (``knn``: the smallest ``knn@N``, where the data
are labelled), converged and fit time; a column that no row defines (``rate`` of sparse coding,
``knn`` on unlabelled data) is left out. ``run --columns`` chooses others: any leaderboard column
name (``python run_suite.py --columns method,sse,nll``), ``knn``, or ``all``. The full table
(every column) stays in the report files, whose path the run prints.

When the table is wider than the width (120 characters), it is narrowed, in this order, until it
fits: numbers to 3 significant digits and half-widths to 1, then confidence half-widths dropped
(means only), long configuration labels shortened with
"…" (keeping the " †" mark), then the last columns left out; a note under the table says what
was done. Every line printed, notes included, fits the width.
"""
from __future__ import annotations

import re
import textwrap

from tabulate import tabulate

from .collect import Table, aggregate, runs_frame
from .formatting import UNDEFINED, fmt_computed, fmt_number, split_marks
from .tables import footnotes, leaderboard_metrics

WIDTH = 120
DEFAULT_COLUMNS = ("method", "sse", "r2", "rate", "lifetime_sparsity", "dead_frac", "knn",
                   "converged", "fit_seconds")
META_COLUMNS = ("method", "family", "n_seeds", "converged")
SHORT = {"r2": "R²", "lifetime_sparsity": "lifetime", "population_sparsity": "population",
         "dead_frac": "dead", "fit_seconds": "fit s", "n_seeds": "seeds"}
"""Display headers of the narrow view (the legend under the table spells them out)."""
LEGEND = {"lifetime": "lifetime sparsity", "population": "population sparsity",
          "dead": "dead fraction", "fit s": "training seconds", "seeds": "number of seeds"}
MIN_LABEL = 12


def parse_columns(text: str | None) -> list[str] | None:
    """``--columns`` as a list of names (None: the default view); ``all`` stays ``["all"]``."""
    if text is None:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    return names or None


def _knn(table: Table) -> str | None:
    sizes = sorted(int(m[4:]) for m in table.mean.columns
                   if re.fullmatch(r"knn@\d+", m) and table.defined(m))
    return f"knn@{sizes[0]}" if sizes else None


def resolve_columns(table: Table, columns: list[str] | None) -> tuple[list[str], list[str]]:
    """``(shown, unknown)``: the column names to show for ``table``, and the requested names it
    does not have. ``None`` gives the default view (columns no row defines left out)."""
    available = list(META_COLUMNS) + leaderboard_metrics(table)
    available += sorted(m for m in table.mean.columns if m not in available and table.defined(m))
    if columns is None:
        shown = []
        for name in DEFAULT_COLUMNS:
            name = _knn(table) if name == "knn" else name
            if name and (name in META_COLUMNS or table.defined(name)):
                shown.append(name)
        return shown, []
    if columns == ["all"]:
        return ["method", "family", "n_seeds", "converged"] + leaderboard_metrics(table), []
    shown, unknown = [], []
    for name in columns:
        resolved = _knn(table) if name == "knn" else name
        if resolved in available:
            if resolved not in shown:
                shown.append(resolved)
        else:
            unknown.append(name)
    if "method" not in shown:
        shown.insert(0, "method")
    return shown, unknown


def _cell(table: Table, i: int, name: str, with_ci: bool, digits: tuple[int, int]) -> str:
    """Row ``i``'s ``name`` cell: "mean ± half-width" with ``digits`` (mean, half-width)
    significant digits, the mean alone without ``with_ci`` or with one seed."""
    if name == "method":
        return table.label(i)
    if name == "family":
        return str(table.meta.at[i, "family"])
    if name == "n_seeds":
        return str(table.meta.at[i, "n_seeds"])
    if name == "converged":
        return table.converged_text(i)
    if name not in table.mean:
        return UNDEFINED
    if table.is_nonfinite(i, name):
        return fmt_computed(table.mean.at[i, name])
    text = fmt_number(table.mean.at[i, name], digits[0])
    ci = table.ci.at[i, name] if name in table.ci else None
    if not with_ci or text == UNDEFINED or ci is None or ci != ci:
        return text
    return f"{text} ± {fmt_number(ci, digits[1])}"


def _shorten(label: str, width: int) -> str:
    body, mark = split_marks(label)
    if len(label) <= width:
        return label
    return body[:max(1, width - len(mark) - 1)] + "…" + mark


def _render(headers: list[str], rows: list[list[str]]) -> str:
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True,
                    colalign=["left"] + ["right"] * (len(headers) - 1))


def _width(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def narrow_table(table: Table, columns: list[str] | None = None,
                 width: int = WIDTH) -> tuple[str, list[str]]:
    """``(table text, notes)``: the view of ``table``'s rows (one (dataset, profile)) with
    ``columns`` (None: :data:`DEFAULT_COLUMNS`), narrowed to ``width`` (module docstring)."""
    shown, unknown = resolve_columns(table, columns)
    notes = []
    if unknown:
        notes.append(f"not columns of this leaderboard: {', '.join(unknown)} (available: "
                     f"{', '.join(resolve_columns(table, ['all'])[0])})")
    headers = [SHORT.get(c, c) for c in shown]
    with_ci, digits = True, (4, 2)
    labels = [table.label(i) for i in range(len(table))]

    def build():
        return [[lab if c == "method" else _cell(table, i, c, with_ci, digits) for c in shown]
                for i, lab in enumerate(labels)]

    text = _render(headers, build())
    if _width(text) > width and any(table.meta["n_seeds"] > 1):
        digits = (3, 1)
        text = _render(headers, build())
        note = "3 significant digits, half-widths 1 (to fit); the report files have 4"
        if _width(text) > width:
            with_ci, digits = False, (4, 2)
            text = _render(headers, build())
            note = "means only (± half-widths left out to fit); the report files have them"
        notes.append(note)
    if _width(text) > width:
        longest = max(len(lab) for lab in labels)
        room = max(MIN_LABEL, longest - (_width(text) - width))
        if room < longest:
            labels = [_shorten(lab, room) for lab in labels]
            text = _render(headers, build())
            notes.append("long labels shortened with …")
    dropped = []
    while _width(text) > width and len(shown) > 1:
        dropped.insert(0, shown.pop())
        headers.pop()
        text = _render(headers, build())
    if dropped:
        notes.append(f"left out to fit {width} columns: {', '.join(dropped)}")
    legend = [f"{h}: {LEGEND[h]}" for h in headers if h in LEGEND]
    if legend:
        notes.insert(0, "; ".join(legend))
    return text, notes


def terminal_leaderboard(records: list[dict], dataset: str, profile: str,
                         columns: list[str] | None = None, width: int = WIDTH,
                         full_table: str | None = None) -> str:
    """The narrow leaderboard of ``records`` (store records) on one (dataset, profile): the
    table, the " †" footnote when a row has the mark, notes, and where ``full_table`` (a path)
    holds every column; every line at most ``width`` characters."""
    runs, metric_names, _ = runs_frame([r for r in records if r.get("status", "ok") == "ok"])
    table = aggregate(runs, metric_names).select(dataset, profile)
    if not len(table):
        return f"(no finished runs for {dataset}, {profile} profile)"
    text, notes = narrow_table(table, columns, width)
    if full_table:
        notes.append(f"every column: {full_table}")
    lines = [*footnotes(table), *notes]
    wrapped = [textwrap.fill(line, width, break_long_words=True, break_on_hyphens=False,
                             subsequent_indent="  ") for line in lines]
    return "\n\n".join([text, "\n".join(wrapped)]) if wrapped else text
