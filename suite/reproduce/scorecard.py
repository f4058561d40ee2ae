"""The reproduction scorecard: one row per claim, written as Markdown, CSV and HTML.

Columns: claim, what it says, the paper's value and its source, the value measured here (mean ±
95% CI over seeds where there are several), the rule applied, the verdict (:mod:`.verdict`),
a note (unconverged or missing runs), the claim's wall time and a link to its figure. The
header states the command, commit, date, machine, profile, seeds and datasets (with the patch
recipe). Figures live beside the tables, under ``figures/``.
"""
from __future__ import annotations

import dataclasses
import html
import json
import os
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from suite.store import atomic_write

from .verdict import jsonable


@dataclasses.dataclass
class Row:
    """One claim's line of the scorecard."""

    claim: str
    title: str
    paper: str
    source: str
    measured: str
    rule: str
    verdict: str
    note: str
    run_minutes: float | None
    minutes: float | None
    figure: str | None
    evidence: dict

    def cells(self, report_dir: Path, link: str) -> list[str]:
        fig = ""
        if self.figure:
            rel = Path(os.path.relpath(self.figure, report_dir)).as_posix()
            fig = link.format(rel=rel)
        def fmt(m):
            return "" if m is None else f"{m:.1f}"
        return [self.claim, self.title, self.paper, self.source, self.measured, self.rule,
                self.verdict, self.note, fmt(self.run_minutes), fmt(self.minutes), fig]


HEADERS = ["claim", "what", "paper", "source", "measured here", "rule", "verdict", "note",
           "run minutes", "wall minutes", "figure"]
"""``run minutes``: the sum of the claim's run times (one core each); ``wall minutes``: the time
of its experiment with the command's ``--jobs`` workers (see the header)."""


def _write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text.encode()))


def write_scorecard(rows: list[Row], report_dir: Path, header: dict) -> list[Path]:
    """Write ``scorecard.{md,csv,html,json}`` under ``report_dir``; return their paths."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    head = [f"- **{k}**: {v}" for k, v in header.items()]
    legend = ("Verdicts: *holds* / *does not hold* are results (every run converged); "
              "*inconclusive: not converged* means a run behind it was still improving (> 1% over "
              "the last 20% of training), so its numbers are not results; *not run* names what is "
              "missing. Rules use each paper's own definitions where they differ from the "
              "leaderboard's (dead units: Fig. 5 thresholds; iP-VAE R²: sampled spikes).")
    md_rows = [[c.replace("|", "\\|") for c in r.cells(report_dir, "[figure]({rel})")]
               for r in rows]
    md = "\n".join(["# Reproduction scorecard", "", *head, "", legend, "",
                    tabulate(md_rows, HEADERS, tablefmt="github"), ""])
    html_rows = [[html.escape(c) for c in r.cells(report_dir, "{rel}")[:-1]]
                 + [f'<a href="{html.escape(c)}">figure</a>' if c else ""
                    for c in [r.cells(report_dir, "{rel}")[-1]]] for r in rows]
    table = tabulate(html_rows, HEADERS, tablefmt="unsafehtml")
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Reproduction scorecard</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:13px}"
            "th{background:#eee}</style></head><body><h1>Reproduction scorecard</h1><ul>"
            + "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in header.items())
            + f"</ul><p>{html.escape(legend)}</p>{table}</body></html>\n")
    frame = pd.DataFrame([r.cells(report_dir, "{rel}") for r in rows], columns=HEADERS)
    evidence = {"header": header, "claims": [jsonable(dataclasses.asdict(r)) for r in rows]}
    for r in evidence["claims"]:
        if r["figure"]:
            r["figure"] = Path(os.path.relpath(r["figure"], report_dir)).as_posix()
    return [_write_text(report_dir / "scorecard.md", md),
            _write_text(report_dir / "scorecard.csv", frame.to_csv(index=False)),
            _write_text(report_dir / "scorecard.html", page),
            _write_text(report_dir / "scorecard.json",
                        json.dumps(evidence, indent=1, sort_keys=True, default=str) + "\n")]
