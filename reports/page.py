"""``index.html``: the whole report on one self-contained page (a section of :mod:`reports`).

One HTML file with its CSS and JavaScript inline (``reports/assets/``) and every figure embedded
as a base64 PNG, so it opens offline from ``file://`` and can be mailed or archived alone. It
holds, in order:

- the store's summary (runs, configurations, damaged or failed runs) and a table of contents;
- a control bar: filter rows by method (text) or family, show or hide column groups
  (distortion, rate / ELBO, sparsity, dead units, few-shot KNN, likelihood, cost), open or
  close every run's details;
- the summary ranking (:mod:`reports.ranking`): each configuration's mean rank per metric over
  the (dataset, profile) pairs it ran on;
- per (dataset, profile): the leaderboard (sortable by any column, :mod:`reports.page_tables`;
  unconverged rows marked † and "not a result", with the footnote), its failed runs, the
  sparsity–distortion and rate–distortion figures, the dictionaries as a gallery (click to
  enlarge), the sweep, convergence and amortization-gap tables with their figures, and the
  details of every run and failed run (:mod:`reports.run_details`);
- the reproduction scorecard and the samples, when other commands wrote them
  (:mod:`reports.page_extras`).

The page is built after every other section, from the files they wrote in the same build (the
figures) and from the store; it holds no date and no random id, so the same store gives the same
bytes.
"""
from __future__ import annotations

import json
from pathlib import Path

from suite.loss_curve import TOL, WINDOW

from .amortization_gap_report import NOTE as GAP_NOTE
from .amortization_gap_report import gap_frame, gap_table, samples_note
from .collect import ReportContext, Table
from .convergence_report import NOTE as CONVERGENCE_NOTE
from .convergence_report import convergence_rows, traces_by_config
from .formatting import TIME_LIMITED_NOTE, UNCONVERGED_NOTE, slug
from .html_parts import GROUPS, column_group, esc, image, simple_table
from .page_extras import samples_html, scorecard_html
from .page_tables import leaderboard_table, ranking_table
from .ranking import ranking
from .summary import store_summary
from .run_details import failure_anchor, failure_details, failure_summary, run_details
from .tables import NOTE as TABLE_NOTE
from .tables import leaderboard_metrics, sweep, sweep_display

ASSETS = Path(__file__).resolve().parent / "assets"
TITLE = "brainlike-suite report"
NOT_RESULTS = ("Rows marked † did not converge (PROTOCOL.md: the training loss still improved by "
               f"more than {TOL:.0%} over the last {WINDOW:.0%} of training): their numbers are "
               "shown for "
               "diagnosis, but they are not results. They are not ranked.")


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _pairs(ctx: ReportContext) -> list[tuple[str, str]]:
    """Every (dataset, profile) with finished or failed runs, sorted."""
    failed = {((f.get("spec") or {}).get("dataset", "?"), (f.get("spec") or {}).get("profile", "?"))
              for f in ctx.failures}
    return sorted(set(ctx.table.pairs()) | {(str(d), str(p)) for d, p in failed})


def section_id(dataset: str, profile: str) -> str:
    """The element id of a (dataset, profile)'s section."""
    return f"ds-{slug(dataset)}-{slug(profile)}"


def _figure(ctx: ReportContext, name: str, alt: str, caption: str = "", **kw) -> str:
    path = ctx.figure_dir / name
    return image(path, alt, caption, **kw) if path.is_file() else ""


def _controls(ctx: ReportContext) -> str:
    families = sorted(set(ctx.table.meta["family"]))
    options = "".join(f'<option value="{esc(f)}">{esc(f)}</option>' for f in families)
    present = {column_group(m) for d, p in ctx.table.pairs()
               for m in leaderboard_metrics(ctx.table.select(d, p))}
    boxes = "".join(f'<label><input type="checkbox" data-group="{g}" checked> {esc(title)}</label>'
                    for g, title in GROUPS.items() if g in present)
    return ('<div class="controls" id="controls">'
            '<label>Method <input type="search" id="filter-method" placeholder="filter, e.g. vae"'
            ' aria-label="filter rows by method"></label>'
            f'<label>Family <select id="filter-family"><option value="">all</option>{options}'
            '</select></label>'
            f'<fieldset><legend>Columns</legend>{boxes}</fieldset>'
            '<span><button type="button" data-details="open">open all runs</button> '
            '<button type="button" data-details="close">close all runs</button></span></div>')


def _leaderboard_part(ctx: ReportContext, dataset: str, profile: str, table: Table) -> str:
    sid = section_id(dataset, profile)
    parts = [f"<h3>Leaderboard</h3><p class=\"note\">{esc(TABLE_NOTE)}</p>"]
    if not len(table):
        return parts[0] + '<p class="empty">no finished runs</p>'
    parts.append(leaderboard_table(table, f"lb-{sid}"))
    parts.append(f'<p class="shown-count" id="lb-{sid}-count">{len(table)} rows</p>')
    if table.any_unconverged():
        parts.append(f'<p class="footnote unconverged">{esc(UNCONVERGED_NOTE)} (PROTOCOL.md); '
                     'they are shown for diagnosis and left out of the summary ranking.</p>')
    if table.any_time_limited():
        parts.append(f'<p class="footnote time-limited">{esc(TIME_LIMITED_NOTE)}.</p>')
    return "".join(parts)


def _failure_order(failure: dict) -> tuple:
    spec = failure.get("spec") or {}
    return (str(spec.get("method", "")), json.dumps(spec.get("overrides") or {}, sort_keys=True,
                                                    default=str),
            str(spec.get("seed", "")), str(failure.get("key", "")))


def _failures_of(ctx: ReportContext, dataset: str, profile: str) -> list[dict]:
    """The failed runs of one (dataset, profile), by method, configuration and seed."""
    return sorted(ctx.failures_of(dataset, profile), key=_failure_order)


def _failures_part(ctx: ReportContext, dataset: str, profile: str) -> str:
    failures = _failures_of(ctx, dataset, profile)
    if not failures:
        return ""
    items = "".join(f'<li><a href="#{esc(failure_anchor(str(f.get("key", ""))))}">'
                    f'{esc(failure_summary(f))}</a></li>' for f in failures)
    n = len(failures)
    return (f'<h3>Failed runs ({n})</h3><p class="note">Not tabulated; retried by the next run '
            f'of their grid. Click one for its error and traceback.</p><ul class="failures">'
            f'{items}</ul>')


def _tradeoff_part(ctx: ReportContext, dataset: str, profile: str) -> str:
    stem = f"{slug(dataset)}_{slug(profile)}"
    figs = [_figure(ctx, f"sparsity_vs_sse_{stem}.png", f"sparsity vs distortion, {dataset}",
                    "Lifetime sparsity against distortion (sse), one point per configuration."),
            _figure(ctx, f"rate_distortion_{stem}.png", f"rate-distortion, {dataset}",
                    "Distortion (sse) against rate, for the configurations that have a rate.")]
    figs = [f for f in figs if f]
    return ('<h3>Trade-offs</h3><div class="figures">' + "".join(figs) + "</div>") if figs else ""


def _dictionaries_part(ctx: ReportContext, dataset: str, profile: str, table: Table) -> str:
    figs = []
    for i in range(len(table)):
        config = table.meta.at[i, "config"]
        name = f"dictionary_{slug(dataset)}_{slug(profile)}_{slug(config)}.png"
        figs.append(_figure(ctx, name, f"dictionary of {config}", table.label(i), gray=True))
    figs = [f for f in figs if f]
    if not figs:
        return ""
    return ('<h3>Dictionaries</h3><p class="note">Each atom scaled to [−1, 1] (black −1, gray 0, '
            'white +1), first seed; click one to enlarge.</p><div class="gallery">'
            + "".join(figs) + "</div>")


def _sweep_part(table: Table) -> str:
    built = sweep(table)
    if built is None:
        return ""
    sub, settings = built
    headers, rows = sweep_display(sub, settings)
    n_text = 1 + len(settings)
    numeric = [False] * n_text + [True, False] + [True] * (len(headers) - n_text - 2)
    classes = ["unconverged" if r[0].endswith("†") else "" for r in rows]
    return ('<h3>Rate–distortion sweep</h3><p class="note">One row per configuration of each '
            'swept method.</p>' + simple_table(headers, rows, n_text, numeric=numeric,
                                               row_classes=classes))


def _convergence_part(ctx: ReportContext, dataset: str, profile: str, table: Table) -> str:
    items = traces_by_config(ctx, table)
    if not items:
        return ""
    headers, rows, _ = convergence_rows(items)
    classes = ["unconverged" if r[1].endswith("†") else "" for r in rows]
    fig = _figure(ctx, f"convergence_{slug(dataset)}_{slug(profile)}.png",
                  f"convergence of inference, {dataset}")
    return (f'<h3>Convergence of inference</h3><p class="note">{esc(CONVERGENCE_NOTE)}</p>'
            + simple_table(headers, rows, 2, row_classes=classes) + fig)


def _gap_part(ctx: ReportContext, dataset: str, profile: str, table: Table) -> str:
    frame = gap_frame(ctx, table)
    if frame.empty:
        return ""
    labels = {i: table.label(i) for i in range(len(table))}
    headers, rows = gap_table(frame, labels)
    classes = ["unconverged" if r[1].endswith("†") else "" for r in rows]
    records = [ctx.records_by_key[k] for keys in table.meta["keys"] for k in keys
               if k in ctx.records_by_key]
    fig = _figure(ctx, f"amortization_gap_{slug(dataset)}_{slug(profile)}.png",
                  f"amortization gap, {dataset}")
    return (f'<h3>Amortization gap</h3><p class="note">{esc(GAP_NOTE)}</p>'
            f'<p class="note">{esc(samples_note(records))}</p>'
            + simple_table(headers, rows, 3, row_classes=classes) + fig)


def _runs_part(ctx: ReportContext, dataset: str, profile: str, table: Table) -> str:
    by_key = ctx.records_by_key
    runs = [run_details(by_key[k]) for keys in table.meta["keys"] for k in keys if k in by_key]
    failures = [failure_details(f) for f in _failures_of(ctx, dataset, profile)]
    if not runs and not failures:
        return ""
    return (f'<h3>Runs ({len(runs)} finished, {len(failures)} failed)</h3>'
            '<p class="note">Hyperparameters, budget, convergence and loss curve, provenance '
            'and data of each run; a failed run shows its error and traceback.</p>'
            + "".join(failures) + "".join(runs))


def _dataset_section(ctx: ReportContext, dataset: str, profile: str) -> str:
    table = ctx.table.select(dataset, profile)
    parts = [f'<section class="dataset" id="{section_id(dataset, profile)}">'
             f"<h2>{esc(dataset)}, {esc(profile)} profile</h2>",
             _leaderboard_part(ctx, dataset, profile, table),
             _failures_part(ctx, dataset, profile)]
    if len(table):
        parts += [_tradeoff_part(ctx, dataset, profile),
                  _dictionaries_part(ctx, dataset, profile, table), _sweep_part(table),
                  _convergence_part(ctx, dataset, profile, table),
                  _gap_part(ctx, dataset, profile, table)]
    parts += [_runs_part(ctx, dataset, profile, table), "</section>"]
    return "\n".join(p for p in parts if p)


def _ranking_section(ctx: ReportContext) -> str:
    if not len(ctx.table):
        return ""
    rank = ranking(ctx.table)
    note = ("Mean rank of each configuration per metric over the (dataset, profile) pairs it "
            "ran on; in brackets, on how many it was ranked (hover a cell for each rank). "
            "1 = best: ↓ lowest value first, ↑ highest first. R² and mse are left out: on one "
            "dataset they rank as sse does. " + NOT_RESULTS.replace("They are not ranked.",
                                                                    "They are not ranked there."))
    return (f'<section id="ranking"><h2>Summary ranking</h2><p class="note">{esc(note)}</p>'
            + ranking_table(rank, "ranking-table")
            + f'<p class="shown-count" id="ranking-table-count">{len(rank.rows)} rows</p>'
            + "</section>")


def _summary_html(lines: list[str]) -> str:
    """The store's summary lines (:func:`reports._summary`) as paragraphs, their indented
    "  - item" lines as lists."""
    out, items = [], []
    for line in lines + [""]:
        if line.startswith("  - "):
            items.append(f"<li>{esc(line[4:])}</li>")
            continue
        if items:
            out.append(f'<ul>{"".join(items)}</ul>')
            items = []
        if line:
            out.append(f"<p>{esc(line)}</p>")
    return "".join(out)


def render(ctx: ReportContext) -> str:
    """The page's HTML for ``ctx`` (after the figure sections have written their files)."""
    folder = ctx.out_dir / "reports"
    pairs = _pairs(ctx)
    scorecard = scorecard_html(folder)
    samples = samples_html(folder, set(ctx.records_by_key))
    toc = []
    if len(ctx.table):
        toc.append('<a href="#ranking">Summary ranking</a>')
    toc += [f'<a href="#{section_id(d, p)}">{esc(d)} ({esc(p)})</a>' for d, p in pairs]
    if scorecard:
        toc.append('<a href="#reproduction">Reproduction scorecard</a>')
    if samples:
        toc.append('<a href="#samples">Samples</a>')
    summary = _summary_html(store_summary(ctx))
    body = [f'<header class="page"><h1>{TITLE}</h1>{summary}</header>',
            f'<nav class="toc">{"".join(toc)}</nav>', _controls(ctx), "<main>",
            _ranking_section(ctx)]
    body += [_dataset_section(ctx, d, p) for d, p in pairs]
    if not pairs:
        body.append('<p class="empty">The store holds no run yet.</p>')
    if scorecard:
        body.append('<section id="reproduction"><h2>Reproduction scorecard</h2>'
                    f'{scorecard}</section>')
    if samples:
        body.append(f'<section id="samples"><h2>Samples</h2>{samples}</section>')
    body.append("</main>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{TITLE}</title>\n<link rel=\"icon\" href=\"data:,\">\n"
            f"<style>\n{_asset('page.css')}</style>\n</head>\n<body>\n"
            + "\n".join(b for b in body if b)
            + f"\n<script>\n{_asset('page.js')}</script>\n</body>\n</html>\n")


def html_page(ctx: ReportContext) -> list[Path]:
    """Section: ``index.html``, the one-page report."""
    path = ctx.report_dir / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(ctx), encoding="utf-8", newline="\n")
    return [path]


__all__ = ["html_page", "render", "section_id"]
