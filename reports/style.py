"""One look per method in every figure: its colour, its family's marker, legends off the data.

A method keeps the same colour and marker in every figure of every report, whichever other
methods a figure shows: the built-in methods have fixed colours (:data:`METHOD_COLOURS`), any
other method (a plugin) gets one of :data:`EXTRA_COLOURS` chosen from a hash of its name (stable
across runs and machines). The marker is the family's (:data:`FAMILY_MARKERS`), so a figure
groups families by shape and tells methods apart by colour. Several configurations of one
method (a sweep) share its colour; figures that draw them as separate lines lighten the later
ones (:func:`config_colours`).
"""
from __future__ import annotations

import math
import zlib
from typing import Iterable

from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D

METHOD_COLOURS = {
    # amortized VAEs: warm colours and blues
    "pvae": "#d62728", "cvae": "#ff7f0e", "gvae": "#1f77b4", "gvae_relu": "#17becf",
    "lvae": "#9467bd",
    # iterative VAEs
    "ipvae": "#8c564b", "igvae": "#2ca02c", "igvae_relu": "#bcbd22",
    # sparse coding
    "lca": "#e377c2", "ista": "#7f7f7f", "fista": "#111111",
    # Helmholtz machines
    "bihm": "#393b79",
}
EXTRA_COLOURS = ("#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
                 "#756bb1", "#636363", "#ad494a", "#a55194", "#6baed6")
FAMILY_MARKERS = {"amortized-vae": "o", "iterative-vae": "s", "sparse-coding": "^",
                  "helmholtz": "D", "other": "v"}
OTHER_MARKER = "v"


def method_colour(method: str) -> str:
    """The colour (hex) of ``method`` in every figure."""
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    return EXTRA_COLOURS[zlib.crc32(method.encode("utf-8")) % len(EXTRA_COLOURS)]


def family_marker(family: str) -> str:
    """The marker of a method of ``family``."""
    return FAMILY_MARKERS.get(family, OTHER_MARKER)


def lighten(colour: str, amount: float) -> tuple[float, float, float]:
    """``colour`` blended towards white by ``amount`` (0: unchanged, 1: white)."""
    r, g, b = to_rgb(colour)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def config_colours(methods: Iterable[str]) -> list[tuple[float, float, float]]:
    """One colour per entry of ``methods`` (one entry per configuration, in figure order): the
    method's colour, the 2nd, 3rd, ... configuration of the same method progressively lighter."""
    methods = list(methods)
    totals = {m: methods.count(m) for m in methods}
    seen: dict[str, int] = {}
    out = []
    for m in methods:
        i = seen.get(m, 0)
        seen[m] = i + 1
        out.append(lighten(method_colour(m), 0.55 * i / max(totals[m] - 1, 1) if i else 0.0))
    return out


def family_handles(families: Iterable[str]) -> list[Line2D]:
    """Grey legend handles, one per family present (sorted), showing its marker."""
    return [Line2D([], [], ls="none", marker=family_marker(f), color="0.35", ms=6, label=f)
            for f in sorted(set(families))]


def heading_handle(text: str) -> Line2D:
    """An invisible legend handle whose label reads as a heading inside a legend."""
    return Line2D([], [], ls="none", marker="none", label=text)


def method_and_family_handles(method_handles: list, families: Iterable[str]) -> list:
    """One legend's handles: the methods, then a "family (marker)" heading and the families."""
    return [*method_handles, heading_handle(""), heading_handle("family (marker):"),
            *family_handles(families)]


def legend_outside(ax, handles, labels=None, title: str | None = None, top: float = 1.0,
                   loc: str = "upper left", fontsize: float = 8, max_rows: int = 24):
    """A legend to the right of ``ax`` (never over the data), anchored at height ``top`` (axes
    fraction) by its ``loc`` corner, in columns of at most ``max_rows`` entries; several may
    stack beside one axes. Returns the legend."""
    from matplotlib.legend import Legend

    labels = [h.get_label() for h in handles] if labels is None else labels
    legend = Legend(ax, handles, labels, loc=loc, bbox_to_anchor=(1.02, top),
                    borderaxespad=0.0, fontsize=fontsize, title=title,
                    title_fontsize=fontsize, frameon=False,
                    ncols=max(1, math.ceil(len(handles) / max_rows)))
    ax.add_artist(legend)
    legend.set_clip_on(False)  # add_artist clips to the axes: this legend lies outside them
    return legend
