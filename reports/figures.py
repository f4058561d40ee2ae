"""Figures as PNG (matplotlib's Agg canvas, no pyplot state), byte-identical from build to build.

Determinism: matplotlib's default style (whatever the user's matplotlibrc says), fixed sizes
and dpi, and no ``Software`` entry in the PNG metadata (Agg writes no time stamp). Vector
copies (``report --formats png,pdf,svg``; :func:`saving_formats`) are written beside each PNG,
without their date entries and with a fixed SVG id salt, so they too are byte-identical.

Every figure draws a method in its own colour and its family's marker (:mod:`reports.style`),
with its legends outside the axes, never over the data.

- ``figures/dictionary_<dataset>_<profile>_<config>.png``: the learned dictionary (K, D) as a
  grid of patches, per configuration, from its first seed that stored one; each atom scaled by
  its largest absolute value to [−1, 1] (gray: −1 black, 0 mid-gray, +1 white; colour images
  map [−1, 1] to [0, 1] per channel), atoms in stored order, row-major, black separators.
- ``figures/sparsity_vs_sse_<dataset>_<profile>.png``: lifetime sparsity against sse, one point
  per configuration (the P-VAE paper's Figure 3 view); error bars are 95% half-widths.
- ``figures/rate_distortion_<dataset>_<profile>.png``: sse against rate (nats) for the
  configurations that have a rate.
Configurations of one method are joined by a line (in order of the x value) and labelled by
their overrides; a configuration that did not converge is labelled " †", explained under the plot.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
from pathlib import Path
from typing import Iterator, Sequence

import matplotlib
import matplotlib.style
import numpy as np
from matplotlib.figure import Figure

from .collect import ReportContext, Table
from .formatting import UNCONVERGED_MARK, UNCONVERGED_NOTE, fmt_param, slug
from .style import family_marker, legend_outside, method_and_family_handles, method_colour

DPI = 100
PNG_METADATA = {"Software": None}
VECTOR_METADATA = {"pdf": {"Creator": None, "Producer": None, "CreationDate": None},
                   "svg": {"Creator": None, "Date": None}}
"""No tool names or dates in vector files: they would change from build to build."""
FORMATS = ("png", "pdf", "svg")
"""The figure formats ``report --formats`` accepts; PNG is always written (the page embeds it)."""
MOSAIC_TARGET_PX = 640
"""A dictionary mosaic is magnified by a whole factor up to about this many pixels a side."""


@contextlib.contextmanager
def new_figure(figsize: tuple[float, float]) -> Iterator[Figure]:
    """A Figure of ``figsize`` inches at :data:`DPI`, drawn in matplotlib's default style (not
    the user's matplotlibrc); save it with :func:`_save` inside the ``with`` block."""
    with matplotlib.style.context("default"):
        yield Figure(figsize=figsize, dpi=DPI)


_EXTRA_FORMATS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "report_extra_formats", default=())
_EXTRA_WRITTEN: contextvars.ContextVar[list[Path] | None] = contextvars.ContextVar(
    "report_extra_written", default=None)


@contextlib.contextmanager
def saving_formats(formats: Sequence[str]) -> Iterator[list[Path]]:
    """Within the block, :func:`_save` also writes each of ``formats`` other than PNG (``pdf``,
    ``svg``) beside the PNG; yields the list of those extra files, in the order written."""
    extra = tuple(f for f in dict.fromkeys(formats) if f != "png")
    unknown = [f for f in extra if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown figure format(s) {unknown}; known: {', '.join(FORMATS)}")
    written: list[Path] = []
    t1, t2 = _EXTRA_FORMATS.set(extra), _EXTRA_WRITTEN.set(written)
    try:
        yield written
    finally:
        _EXTRA_FORMATS.reset(t1)
        _EXTRA_WRITTEN.reset(t2)


def _save(fig: Figure, path: Path, tight: bool = False) -> Path:
    """Save ``fig`` as the PNG ``path`` (and, under :func:`saving_formats`, its vector copies);
    ``tight``: crop to the drawn content (legends outside the axes included). Returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    kw = {"bbox_inches": "tight", "pad_inches": 0.1} if tight else {}
    fig.savefig(path, dpi=DPI, metadata=PNG_METADATA, **kw)
    written = _EXTRA_WRITTEN.get()
    for fmt in _EXTRA_FORMATS.get():
        other = path.with_suffix(f".{fmt}")
        with matplotlib.rc_context({"svg.hashsalt": "brainlike-suite", "svg.fonttype": "path"}):
            fig.savefig(other, dpi=DPI, format=fmt, metadata=VECTOR_METADATA[fmt], **kw)
        if written is not None:
            written.append(other)
    return path


def label_axes(ax, xlabel: str, ylabel: str, title: str | None = None) -> None:
    """The reports' axes: labels, an optional title (10 pt) and a light grid."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title, fontsize=10)
    ax.grid(True, lw=0.3, alpha=0.5)


def _image_shape(data_shape: tuple[int, ...]) -> tuple[tuple[int, ...], bool] | None:
    """``(shape, channels_first)`` to view one atom as (H, W) or (H, W, 3); None when the data
    are not images (after dropping singleton axes)."""
    shape = tuple(s for s in data_shape if s != 1)
    if len(shape) == 2:
        return shape, False
    if len(shape) == 3 and 3 in (shape[0], shape[2]):
        return shape, shape[0] == 3
    return None


def atom_mosaic(dictionary: np.ndarray, data_shape: tuple[int, ...]) -> np.ndarray | None:
    """The K atoms (K, D) tiled row-major on a ⌈√K⌉-column grid with 1-pixel black separators:
    (H', W') in [−1, 1] for gray images, (H', W', 3) in [0, 1] for colour; None if not images."""
    view = _image_shape(data_shape)
    if view is None or dictionary.ndim != 2 or dictionary.shape[1] != math.prod(data_shape):
        return None
    shape, channels_first = view
    atoms = dictionary.astype(np.float64).reshape(-1, *shape)
    if channels_first:
        atoms = np.moveaxis(atoms, 1, -1)
    scale = np.abs(atoms).reshape(len(atoms), -1).max(1)
    atoms = atoms / np.where(scale > 0, scale, 1.0).reshape(-1, *[1] * (atoms.ndim - 1))
    colour = atoms.ndim == 4
    if colour:
        atoms = 0.5 + 0.5 * atoms
    k, h, w = atoms.shape[:3]
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    mosaic = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1, *atoms.shape[3:]),
                     0.0 if colour else -1.0)
    for i, atom in enumerate(atoms):
        r, c = divmod(i, cols)
        mosaic[1 + r * (h + 1):(r + 1) * (h + 1), 1 + c * (w + 1):(c + 1) * (w + 1)] = atom
    return mosaic


def dictionary_figure(mosaic: np.ndarray, title: str, path: Path) -> Path:
    """Draw ``mosaic`` pixel-exact (magnified by a whole factor) under a one-line title."""
    zoom = max(1, MOSAIC_TARGET_PX // max(mosaic.shape[:2]))
    image = np.repeat(np.repeat(mosaic, zoom, 0), zoom, 1)
    pad, title_px = 8, 28
    width = max(image.shape[1] + 2 * pad, 320)
    height = image.shape[0] + 2 * pad + title_px
    with new_figure((width / DPI, height / DPI)) as fig:
        kw = {} if image.ndim == 3 else {"cmap": "gray", "vmin": -1.0, "vmax": 1.0}
        fig.figimage(image, xo=(width - image.shape[1]) // 2, yo=pad, origin="upper", **kw)
        fig.text(0.5, 1 - (title_px / 2) / height, title, ha="center", va="center", fontsize=9)
        return _save(fig, path)


def dictionary_grids(ctx: ReportContext) -> list[Path]:
    """Section: one dictionary figure per configuration that stored a dictionary."""
    paths = []
    for dataset, profile, table in ctx.per_dataset():
        for i in range(len(table)):
            meta = table.meta.iloc[i]
            for seed, key in zip(meta["seeds"], meta["keys"]):
                arrays = ctx.arrays(key)
                if "dictionary" not in arrays or "data_shape" not in arrays:
                    continue
                d = arrays["dictionary"]
                mosaic = atom_mosaic(d, tuple(int(s) for s in arrays["data_shape"]))
                if mosaic is not None:
                    title = f"{meta['config']}: {dataset}, {profile} profile, seed {seed}, {len(d)} atoms"
                    name = f"dictionary_{slug(dataset)}_{slug(profile)}_{slug(meta['config'])}.png"
                    paths.append(dictionary_figure(mosaic, title, ctx.figure_dir / name))
                break
    return paths


def _override_text(overrides: dict) -> str:
    return ", ".join(f"{k}={fmt_param(v)}" for k, v in sorted(overrides.items()))


def tradeoff_figure(table: Table, x: str, y: str, xlabel: str, ylabel: str, title: str,
                    path: Path) -> Path | None:
    """Scatter of metric ``y`` against ``x``, one point per row with both finite, in its
    method's colour and family's marker (:mod:`reports.style`), with 95% half-widths as error
    bars where there are several seeds; legends (methods by family, then the family markers)
    right of the axes. None when no row qualifies."""
    if x not in table.mean or y not in table.mean:
        return None
    ok = (np.isfinite(table.mean[x]) & np.isfinite(table.mean[y])).to_numpy()  # NaN/inf: no point
    if not ok.any():
        return None
    meta = table.meta.loc[ok]
    family_of = {m: f for m, f in zip(meta["method"], meta["family"])}
    methods = sorted(family_of, key=lambda m: (family_of[m], m))
    with new_figure((7.0, 5.0)) as fig:
        ax = fig.add_subplot()
        handles = []
        for method in methods:
            rows = [i for i in meta.index if meta.at[i, "method"] == method]
            rows.sort(key=lambda i: table.mean.at[i, x])
            xs, ys = table.mean.loc[rows, x].to_numpy(), table.mean.loc[rows, y].to_numpy()
            xerr = np.nan_to_num(table.ci.loc[rows, x].to_numpy(), nan=0.0)
            yerr = np.nan_to_num(table.ci.loc[rows, y].to_numpy(), nan=0.0)
            handles.append(ax.errorbar(
                xs, ys, xerr=xerr, yerr=yerr, fmt=family_marker(family_of[method]),
                color=method_colour(method), label=method, ls="-" if len(rows) > 1 else "none",
                lw=0.8, ms=6, capsize=2))
            for i, xv, yv in zip(rows, xs, ys):
                text = _override_text(meta.at[i, "overrides"])
                if table.converged_text(i) == "no":
                    text = (text + UNCONVERGED_MARK).strip()
                if text:
                    ax.annotate(text, (xv, yv), xytext=(4, 4), textcoords="offset points",
                                fontsize=7)
        label_axes(ax, xlabel, ylabel, title)
        legend_outside(ax, method_and_family_handles(handles, family_of.values()),
                       title="method")
        seeds = sorted(set(meta["n_seeds"]))
        notes = ([f"error bars: 95% confidence half-widths over seeds "
                  f"({'/'.join(map(str, seeds))} seeds)"] if max(seeds) > 1 else [])
        if any(table.converged_text(i) == "no" for i in meta.index):
            notes.append(UNCONVERGED_NOTE)
        if notes:
            ax.text(0.0, -0.13, "\n".join(notes), transform=ax.transAxes, fontsize=7,
                    ha="left", va="top")
        return _save(fig, path, tight=True)


SSE_LABEL = "distortion: sse (per sample, squared data units)"
SPARSITY_LABEL = "lifetime sparsity (unitless, 0 to 1; 1 = sparsest)"
RATE_LABEL = "rate (nats per sample)"


def _tradeoff_section(ctx: ReportContext, x: str, y: str, xlabel: str, ylabel: str,
                      title: str, stem: str) -> list[Path]:
    """One :func:`tradeoff_figure` per (dataset, profile) with rows defining ``x`` and ``y``."""
    paths = []
    for dataset, profile, table in ctx.per_dataset():
        path = tradeoff_figure(table, x, y, xlabel, ylabel, f"{title}: {dataset}, {profile} profile",
                               ctx.figure_dir / f"{stem}_{slug(dataset)}_{slug(profile)}.png")
        paths += [path] if path else []
    return paths


def sparsity_vs_distortion(ctx: ReportContext) -> list[Path]:
    """Section: lifetime sparsity against sse per (dataset, profile)."""
    return _tradeoff_section(ctx, "sse", "lifetime_sparsity", SSE_LABEL, SPARSITY_LABEL,
                             "Sparsity vs distortion", "sparsity_vs_sse")


def rate_distortion(ctx: ReportContext) -> list[Path]:
    """Section: sse against rate per (dataset, profile), for the configurations with a rate."""
    return _tradeoff_section(ctx, "rate", "sse", RATE_LABEL, SSE_LABEL,
                             "Rate–distortion", "rate_distortion")
