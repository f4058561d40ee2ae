"""Figures as PNG (matplotlib's Agg canvas, no pyplot state), byte-identical from build to build.

Determinism: matplotlib's default style (whatever the user's matplotlibrc says), fixed sizes
and dpi, and no ``Software`` entry in the PNG metadata (Agg writes no time stamp).

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
import math
from pathlib import Path
from typing import Iterator

import matplotlib
import matplotlib.style
import numpy as np
from matplotlib.figure import Figure

from .collect import ReportContext, Table
from .formatting import UNCONVERGED_MARK, UNCONVERGED_NOTE, fmt_param, slug

DPI = 100
PNG_METADATA = {"Software": None}
FAMILY_MARKERS = {"amortized-vae": "o", "iterative-vae": "s", "sparse-coding": "^",
                  "helmholtz": "D", "other": "v"}
MOSAIC_TARGET_PX = 640
"""A dictionary mosaic is magnified by a whole factor up to about this many pixels a side."""


@contextlib.contextmanager
def new_figure(figsize: tuple[float, float]) -> Iterator[Figure]:
    """A Figure of ``figsize`` inches at :data:`DPI`, drawn in matplotlib's default style (not
    the user's matplotlibrc); save it with :func:`_save` inside the ``with`` block."""
    with matplotlib.style.context("default"):
        yield Figure(figsize=figsize, dpi=DPI)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, metadata=PNG_METADATA)
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
    """Scatter of metric ``y`` against ``x``, one point per row with both finite, coloured by
    method, marked by family, with 95% half-widths as error bars; None when no row qualifies."""
    if x not in table.mean or y not in table.mean:
        return None
    ok = (np.isfinite(table.mean[x]) & np.isfinite(table.mean[y])).to_numpy()  # NaN/inf: no point
    if not ok.any():
        return None
    meta = table.meta.loc[ok]
    methods = sorted(meta["method"].unique())
    cmap = matplotlib.colormaps["tab10" if len(methods) <= 10 else "tab20"]
    with new_figure((7.0, 5.0)) as fig:
        ax = fig.add_subplot()
        for j, method in enumerate(methods):
            rows = [i for i in meta.index if meta.at[i, "method"] == method]
            rows.sort(key=lambda i: table.mean.at[i, x])
            xs, ys = table.mean.loc[rows, x].to_numpy(), table.mean.loc[rows, y].to_numpy()
            xerr = np.nan_to_num(table.ci.loc[rows, x].to_numpy(), nan=0.0)
            yerr = np.nan_to_num(table.ci.loc[rows, y].to_numpy(), nan=0.0)
            colour = cmap(j % cmap.N)
            marker = FAMILY_MARKERS.get(meta.at[rows[0], "family"], "v")
            ax.errorbar(xs, ys, xerr=xerr, yerr=yerr, fmt=marker, color=colour, label=method,
                        ls="-" if len(rows) > 1 else "none", lw=0.8, ms=6, capsize=2)
            for i, xv, yv in zip(rows, xs, ys):
                text = _override_text(meta.at[i, "overrides"])
                if table.converged_text(i) == "no":
                    text = (text + UNCONVERGED_MARK).strip()
                if text:
                    ax.annotate(text, (xv, yv), xytext=(4, 4), textcoords="offset points",
                                fontsize=7)
        label_axes(ax, xlabel, ylabel, title)
        ax.legend(fontsize=8, loc="best")
        marked = any(table.converged_text(i) == "no" for i in meta.index)
        if marked:
            fig.text(0.01, 0.01, UNCONVERGED_NOTE, fontsize=7, ha="left", va="bottom")
        fig.tight_layout(rect=(0, 0.04, 1, 1) if marked else None)
        return _save(fig, path)


SSE_LABEL = "distortion: sse (per sample, squared data units)"


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
    return _tradeoff_section(ctx, "sse", "lifetime_sparsity", SSE_LABEL, "lifetime sparsity",
                             "Sparsity vs distortion", "sparsity_vs_sse")


def rate_distortion(ctx: ReportContext) -> list[Path]:
    """Section: sse against rate per (dataset, profile), for the configurations with a rate."""
    return _tradeoff_section(ctx, "rate", "sse", "rate (nats per sample)", SSE_LABEL,
                             "Rate–distortion", "rate_distortion")
