"""A run's training-loss curve as a small inline SVG (the run details of :mod:`reports.page`).

Drawn from ``record["training"]["loss_curve"]`` (:mod:`suite.loss_curve`: at most ~100 binned
points, ``steps`` and ``loss``): the loss against the optimizer step on linear axes, with the two
spans PROTOCOL.md's convergence rule compares shaded — [75%, 80%) of training (L_a) and the last
5% (L_b). Coordinates are written with one decimal, so the same curve gives the same bytes.
"""
from __future__ import annotations

import html
import math

from suite.loss_curve import SPAN, WINDOW

from .formatting import fmt_number

W, H = 460, 190
LEFT, RIGHT, TOP, BOTTOM = 58, 12, 14, 34


def _points(curve: dict) -> list[tuple[float, float]]:
    steps, loss = curve.get("steps") or [], curve.get("loss") or []
    out = []
    for s, v in zip(steps, loss):
        if isinstance(s, (int, float)) and isinstance(v, (int, float)) and math.isfinite(v):
            out.append((float(s), float(v)))
    return out


def loss_curve_svg(training: dict | None) -> str:
    """The SVG of the run's loss curve, or a short note when the run recorded none."""
    curve = (training or {}).get("loss_curve") or {}
    pts = _points(curve)
    if len(pts) < 2:
        return '<p class="empty">no loss curve recorded</p>'
    n_steps = float(curve.get("total_steps") or (pts[-1][0] + 1))
    x0, x1 = 0.0, max(n_steps, pts[-1][0], 1.0)
    ys = [v for _, v in pts]
    y0, y1 = min(ys), max(ys)
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x):
        return LEFT + (x - x0) / (x1 - x0) * pw

    def py(y):
        return TOP + (y1 - y) / (y1 - y0) * ph

    parts = [f'<svg class="loss" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
             f'viewBox="0 0 {W} {H}" role="img" aria-label="training loss against step">']
    for lo, hi, name in (((1 - WINDOW - SPAN), (1 - WINDOW), "L_a"), ((1 - SPAN), 1.0, "L_b")):
        xa, xb = px(x0 + lo * (x1 - x0)), px(x0 + hi * (x1 - x0))
        parts.append(f'<rect x="{xa:.1f}" y="{TOP}" width="{xb - xa:.1f}" height="{ph}" '
                     f'fill="#f4e4b8" opacity="0.7"><title>{name}: the span averaged by the '
                     f'convergence rule</title></rect>')
        parts.append(f'<text x="{(xa + xb) / 2:.1f}" y="{TOP + 10}" text-anchor="middle" '
                     f'fill="#7a5200">{name}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" '
                 f'stroke="#9aa3b2" stroke-width="0.8"/>')
    line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
    parts.append(f'<polyline points="{line}" fill="none" stroke="#2451a6" stroke-width="1.4"/>')
    for y in (y0 + pad, (y0 + y1) / 2, y1 - pad):
        parts.append(f'<text x="{LEFT - 4}" y="{py(y) + 3:.1f}" text-anchor="end">'
                     f'{html.escape(fmt_number(y))}</text>')
        parts.append(f'<line x1="{LEFT - 2}" x2="{LEFT}" y1="{py(y):.1f}" y2="{py(y):.1f}" '
                     f'stroke="#9aa3b2"/>')
    for x in (x0, (x0 + x1) / 2, x1):
        parts.append(f'<text x="{px(x):.1f}" y="{TOP + ph + 13}" text-anchor="middle">'
                     f'{html.escape(fmt_number(x))}</text>')
    parts.append(f'<text x="{LEFT + pw / 2:.1f}" y="{H - 4}" text-anchor="middle" '
                 f'fill="#5b6475">optimizer step</text>')
    parts.append(f'<text x="12" y="{TOP + ph / 2:.1f}" text-anchor="middle" fill="#5b6475" '
                 f'transform="rotate(-90 12 {TOP + ph / 2:.1f})">training loss</text>')
    parts.append("</svg>")
    return "".join(parts)
