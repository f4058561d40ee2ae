"""Small HTML builders for the one-page report (:mod:`reports.page`): escaping, tables, images.

Everything returns a string; the output depends only on the arguments (no ids drawn at random,
no dates), so a page built from the same store is byte-identical. Images are embedded as
base64 ``data:`` URIs so that the page works alone, offline, from ``file://``.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

GROUPS = {"distortion": "distortion", "rate": "rate / ELBO", "sparsity": "sparsity",
          "dead": "dead units", "knn": "few-shot KNN", "likelihood": "likelihood",
          "cost": "cost", "other": "other"}
"""Column groups the reader can show or hide, with their headings."""


def esc(value: Any) -> str:
    """``value`` as escaped HTML text (attribute-safe)."""
    return html.escape(str(value), quote=True)


def column_group(name: str) -> str:
    """The group (a key of :data:`GROUPS`) of a metric column."""
    if name in ("sse", "mse", "r2") or name.startswith(("sse", "r2")):
        return "distortion"
    if name in ("rate", "nelbo"):
        return "rate"
    if name in ("lifetime_sparsity", "population_sparsity", "frac_zeros", "l0", "l1"):
        return "sparsity"
    if name in ("dead_frac", "n_dead"):
        return "dead"
    if re.fullmatch(r"knn@\d+(_std)?", name):
        return "knn"
    if re.search(r"(^|_)nll($|_)", name):
        return "likelihood"
    if name in ("fit_seconds", "params", "infer_seconds", "peak_memory_mb",
                "infer_samples_per_second", "process_max_rss_mb"):
        return "cost"
    return "other"


def sort_key(value: Any) -> str:
    """A ``data-v`` attribute value: numbers written exactly (repr), "" when undefined/NaN."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, float)):
        return "" if isinstance(value, float) and math.isnan(value) else repr(float(value))
    return str(value)


def cell(text: Any, value: Any = None, cls: str = "", title: str = "", raw: bool = False) -> str:
    """A ``<td>``: ``text`` (escaped unless ``raw``), a sort value (``data-v``), classes."""
    attrs = []
    if cls:
        attrs.append(f' class="{esc(cls)}"')
    if value is not None:
        attrs.append(f' data-v="{esc(sort_key(value))}"')
    if title:
        attrs.append(f' title="{esc(title)}"')
    return f"<td{''.join(attrs)}>{text if raw else esc(text)}</td>"


def header_cell(text: str, cls: str = "", numeric: bool = False, title: str = "") -> str:
    attrs = f' class="{esc(cls)}"' if cls else ""
    attrs += ' data-type="num"' if numeric else ""
    attrs += f' title="{esc(title)}"' if title else ""
    return f"<th{attrs}>{esc(text)}</th>"


def table(headers: Sequence[str], rows: Sequence[str], *, table_id: str = "", cls: str = "",
          group_row: str = "") -> str:
    """A ``<table>`` from pre-built header cells and row (``<tr>``) strings, in a scrolling
    wrapper; ``group_row``: an optional ``<tr>`` of group headings above the headers."""
    attrs = (f' id="{esc(table_id)}"' if table_id else "") + (f' class="{esc(cls)}"' if cls else "")
    return (f'<div class="table-wrap"><table{attrs}><thead>{group_row}<tr>{"".join(headers)}'
            f'</tr></thead><tbody>\n' + "\n".join(rows) + "\n</tbody></table></div>")


def group_header_row(n_lead: int, groups: Sequence[str]) -> str:
    """A ``<tr>`` of group headings: ``n_lead`` blank cells, then one cell per run of equal
    groups in ``groups`` (the metric columns' groups, in order)."""
    cells = [f'<th colspan="{n_lead}"></th>'] if n_lead else []
    i = 0
    while i < len(groups):
        j = i
        while j < len(groups) and groups[j] == groups[i]:
            j += 1
        g = groups[i]
        cells.append(f'<th colspan="{j - i}" class="g-{g}">{esc(GROUPS[g])}</th>')
        i = j
    return f'<tr class="groups">{"".join(cells)}</tr>'


def simple_table(headers: Sequence[str], rows: Iterable[Sequence[str]], n_text: int = 1,
                 table_id: str = "", numeric: Sequence[bool] | None = None,
                 row_classes: Sequence[str] | None = None) -> str:
    """A sortable table of display strings: the first ``n_text`` columns left-aligned text,
    the others right-aligned (sorted as numbers where ``numeric`` says, default: the cell's
    leading number). A cell given as a tuple ``(html, sort value)`` is written as raw HTML."""
    rows = [list(r) for r in rows]
    if numeric is None:
        numeric = [i >= n_text for i in range(len(headers))]
    head = [header_cell(h, "num" if numeric[i] else "", numeric[i]) for i, h in enumerate(headers)]
    body = []
    for k, r in enumerate(rows):
        cls = f' class="{esc(row_classes[k])}"' if row_classes and row_classes[k] else ""
        tds = [cell(c[0], c[1], "num" if numeric[i] else "", raw=True) if isinstance(c, tuple)
               else cell(c, _leading_number(c) if numeric[i] else None,
                         "num" if numeric[i] else "")
               for i, c in enumerate(r)]
        body.append(f"<tr{cls}>{''.join(tds)}</tr>")
    return table(head, body, table_id=table_id, cls="sortable")


def _leading_number(text: str) -> float | None:
    m = re.match(r"\s*(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)", str(text))
    if m:
        return float(m.group(1))
    return {"inf": math.inf, "-inf": -math.inf}.get(str(text).strip(), math.nan)


def kv_table(items: Iterable[tuple[str, Any]], overridden: Iterable[str] = ()) -> str:
    """A two-column key/value table; rows whose key is in ``overridden`` are marked."""
    marked = set(overridden)
    rows = []
    for key, value in items:
        cls = ' class="override"' if key in marked else ""
        note = ' <span class="badge warn">override</span>' if key in marked else ""
        rows.append(f"<tr{cls}><td>{esc(key)}</td><td>{esc(plain(value))}{note}</td></tr>")
    if not rows:
        return '<p class="empty">none</p>'
    return f'<table class="kv">{"".join(rows)}</table>'


def plain(value: Any) -> str:
    """A value as short plain text: JSON for containers, ``g`` format for floats."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return str(value)


def data_uri(path: Path, gray: bool = False) -> str:
    """The PNG at ``path`` as a ``data:image/png;base64`` URI; ``gray``: re-encode it as an
    8-bit gray PNG when every pixel is opaque gray (dictionary mosaics: a third the size)."""
    data = Path(path).read_bytes()
    if gray:
        data = _as_gray(data) or data
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _as_gray(data: bytes) -> bytes | None:
    try:
        import numpy as np
        from PIL import Image
    except ImportError:  # pragma: no cover - matplotlib depends on Pillow
        return None
    with Image.open(io.BytesIO(data)) as img:
        rgba = np.asarray(img.convert("RGBA"))
    if not ((rgba[..., 3] == 255).all() and (rgba[..., 0] == rgba[..., 1]).all()
            and (rgba[..., 1] == rgba[..., 2]).all()):
        return None
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba[..., 0])).save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else None


def image(path: Path, alt: str, caption: str = "", cls: str = "", gray: bool = False,
          caption_html: str = "") -> str:
    """A ``<figure>`` with the PNG embedded and an optional caption (text, or ``caption_html``)."""
    attrs = f' class="{esc(cls)}"' if cls else ""
    cap = caption_html or esc(caption)
    cap = f"<figcaption>{cap}</figcaption>" if cap else ""
    return (f'<figure{attrs}><img src="{data_uri(path, gray)}" alt="{esc(alt)}">{cap}</figure>')

