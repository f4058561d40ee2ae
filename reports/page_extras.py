"""Parts of the one-page report that other commands write into the report folder.

- The reproduction scorecard (``reproduce`` writes ``<out>/reports/reproduction/scorecard.json``,
  :mod:`suite.reproduce.scorecard`): one row per claim — claim, what, the paper's value and
  source, the value measured here, the rule, the verdict (holds / does not hold / inconclusive /
  not run), a note — with each claim's figure embedded, and the scorecard's header (command,
  commit, date, machine, profile).
- Samples (``sample`` writes ``<out>/reports/samples_<method>_<key>.png``), each linked to the
  details of the run it was drawn from.

Both are read from ``<out>/reports`` (where those commands write by default) when the page is
built; a scorecard that cannot be read is named on the page instead of failing the build.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .html_parts import esc, image, simple_table
from .run_details import run_anchor

SCORECARD = Path("reproduction") / "scorecard.json"
VERDICT_BADGES = (("does not hold", "bad"), ("holds", "ok"), ("inconclusive", "warn"),
                  ("not run", "na"))
COLUMNS = (("claim", "claim"), ("title", "what"), ("paper", "paper"), ("source", "source"),
           ("measured", "measured here"), ("rule", "rule"), ("verdict", "verdict"),
           ("note", "note"))


def _badge(verdict: str) -> str:
    cls = next((c for text, c in VERDICT_BADGES if verdict.startswith(text)), "na")
    return f'<span class="badge {cls}">{esc(verdict)}</span>'


def scorecard_html(folder: Path) -> str | None:
    """The scorecard section's body from ``folder`` (``<out>/reports``), or None when there is
    no scorecard."""
    path = folder / SCORECARD
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        header, claims = data.get("header") or {}, list(data["claims"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        why = esc(type(exc).__name__)
        return f'<p class="empty">{esc(path.name)} could not be read ({why}).</p>'
    head = "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in sorted(header.items()))
    headers = [h for _, h in COLUMNS]
    rows = []
    for c in claims:
        texts = {k: "" if c.get(k) is None else str(c.get(k)) for k, _ in COLUMNS}
        rows.append([(_badge(texts[k]), texts[k]) if k == "verdict" else texts[k]
                     for k, _ in COLUMNS])
    tbl = simple_table(headers, rows, n_text=len(headers), table_id="scorecard")
    figures = []
    for c in claims:
        fig = c.get("figure")
        fig_path = (path.parent / str(fig)) if fig else None
        if fig_path and fig_path.is_file() and fig_path.suffix == ".png":
            figures.append(image(fig_path, f"figure of claim {c.get('claim')}",
                                 f"{c.get('claim')}: {c.get('title', '')}"))
    return (f"<ul>{head}</ul>" + tbl
            + (f'<div class="figures">{"".join(figures)}</div>' if figures else ""))


_SAMPLES = re.compile(r"samples_(?P<method>.+?)_(?P<key>[0-9a-f]{6,})\.png")


def samples_html(folder: Path, run_keys: set[str]) -> str | None:
    """Every ``samples_*.png`` of ``folder``, captioned and linked to its run's details when
    the run is in the store; None when there is none."""
    paths = sorted(folder.glob("samples_*.png"))
    if not paths:
        return None
    out = []
    for p in paths:
        m = _SAMPLES.fullmatch(p.name)
        caption = esc(p.name)
        if m and m["key"] in run_keys:
            caption = (f'{esc(m["method"])} samples of run <a href="#{esc(run_anchor(m["key"]))}">'
                       f'{esc(m["key"])}</a>')
        try:
            out.append(image(p, f"samples: {p.name}", caption_html=caption))
        except OSError:
            continue
    return f'<div class="figures">{"".join(out)}</div>' if out else None
