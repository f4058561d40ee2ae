"""The interactive tables of the one-page report: leaderboards and the summary ranking.

Both are sortable (``table.sortable``: every cell carries its raw number in ``data-v``, so a
click on a header sorts by value, not by the displayed text) and filterable (``table.filterable``:
each row carries ``data-label`` and ``data-family``). Metric columns carry their group's class
(``g-distortion``, ``g-rate``, ...; :data:`reports.html_parts.GROUPS`) so that the reader can
show or hide a group, and a heading row names the groups. A leaderboard row that did not
converge is marked three ways: its label's " †", the class ``unconverged`` (hatched) and a
badge saying its numbers are not results; each row links to its runs' details.
"""
from __future__ import annotations

import math

from .collect import Table
from .formatting import TIME_LIMITED_BADGE, TIME_LIMITED_NOTE, fmt_number
from .html_parts import (cell, column_group, esc, group_header_row, header_cell, table)
from .ranking import LOWER, Ranking
from .run_details import run_anchor
from .tables import leaderboard

NOT_A_RESULT = "not converged: not a result"
TITLES = {"n_seeds": "number of seeds", "converged": "PROTOCOL.md's convergence criterion"}


def _row_attrs(label: str, family: str, cls: str = "") -> str:
    c = f' class="{esc(cls)}"' if cls else ""
    return f'<tr{c} data-label="{esc(label)}" data-family="{esc(family)}">'


def _converged_badge(text: str) -> str:
    cls = {"yes": "ok", "no": "warn", "n/a": "na"}.get(text, "na")
    return f'<span class="badge {cls}">{esc(text)}</span>'


def leaderboard_table(table_rows: Table, table_id: str) -> str:
    """The leaderboard of one (dataset, profile)'s rows (the same cells as the files'
    :func:`reports.tables.leaderboard`), interactive."""
    headers, rows, metrics = leaderboard(table_rows)
    groups = [column_group(m) for m in metrics]
    n_lead = len(headers) - len(metrics)
    head = [header_cell("method", title="configuration; † not converged; ‡ cut by its time limit"),
            header_cell("family"), header_cell("seeds", "num", True, TITLES["n_seeds"]),
            header_cell("converged", title=TITLES["converged"])]
    head += [header_cell(m, f"num g-{g}", True) for m, g in zip(metrics, groups)]
    body = []
    for i, display in enumerate(rows):
        meta = table_rows.meta.iloc[i]
        conv = table_rows.converged_text(i)
        links = " ".join(f'<a href="#{esc(run_anchor(k))}" title="details of seed {s}">'
                         f's{s}</a>' for s, k in zip(meta["seeds"], meta["keys"]))
        badge = f' <span class="badge warn">{NOT_A_RESULT}</span>' if conv == "no" else ""
        if table_rows.time_limited(i):
            badge += (f' <span class="badge na" title="{esc(TIME_LIMITED_NOTE)}">'
                      f'{TIME_LIMITED_BADGE}</span>')
        label_html = (f'{esc(display[0])}{badge}<span class="runs-links">runs:{" " + links}'
                      f'</span>')
        tds = [cell(label_html, meta["config"], "label", raw=True),
               cell(display[1]), cell(display[2], int(meta["n_seeds"]), "num"),
               cell(_converged_badge(conv), conv, raw=True)]
        for m, g, text in zip(metrics, groups, display[n_lead:]):
            value = table_rows.mean.at[i, m] if m in table_rows.mean else None
            ci = table_rows.ci.at[i, m] if m in table_rows.ci else None
            title = (f"95% half-width {fmt_number(ci)} over {meta['n_seeds']} seeds"
                     if ci is not None and not math.isnan(ci) else "")
            tds.append(cell(text, value, f"num g-{g}", title))
        cls = "unconverged" if conv == "no" else ""
        body.append(_row_attrs(meta["config"], meta["family"], cls) + "".join(tds) + "</tr>")
    return table(head, body, table_id=table_id, cls="sortable filterable leaderboard",
                 group_row=group_header_row(n_lead, groups))


def ranking_table(rank: Ranking, table_id: str = "ranking-table") -> str:
    """The summary ranking as an interactive table: per configuration, its mean rank per
    metric (hover: the rank on each dataset), the number of (dataset, profile) pairs."""
    names = [m for m, _ in rank.metrics]
    groups = [column_group(m) for m in names]
    head = [header_cell("method"), header_cell("family"),
            header_cell("datasets", "num", True, "(dataset, profile) pairs it ran on")]
    head += [header_cell(f"{m} {'↓' if d == LOWER else '↑'}", f"num g-{g}", True,
                         f"mean rank; 1 = {'lowest' if d == LOWER else 'highest'} {m}")
             for (m, d), g in zip(rank.metrics, groups)]
    body = []
    for j, row in rank.rows.iterrows():
        label = row["label"]
        note = (f' <span class="badge warn">not ranked on {row["n_unconverged"]}: not converged'
                f'</span>' if row["n_unconverged"] else "")
        tds = [cell(esc(label) + note, row["config"], "label", raw=True), cell(row["family"]),
               cell(str(row["n_pairs"]), int(row["n_pairs"]), "num")]
        for m, g in zip(names, groups):
            mean, count = rank.mean.at[j, m], int(rank.count.at[j, m])
            text = "—" if math.isnan(mean) else f"{fmt_number(mean, 3)} ({count})"
            tds.append(cell(text, None if math.isnan(mean) else mean, f"num g-{g}",
                            rank.detail.at[j, m]))
        body.append(_row_attrs(row["config"], row["family"],
                               "unconverged" if row["n_unconverged"] else "")
                    + "".join(tds) + "</tr>")
    return table(head, body, table_id=table_id, cls="sortable filterable ranking",
                 group_row=group_header_row(3, groups))
