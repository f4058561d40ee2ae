"""How Gabor-like a learned dictionary is: localization and orientation of each atom.

The hallmark of sparse coding on natural images (and the P-VAE paper's Figure 2) is a
dictionary of localized, oriented, band-pass atoms. Two per-atom scores measure it, for atoms
(K, p·p) of square p×p patches:

- ``loc8`` (:func:`best_window_energy`): the fraction of the atom's energy Σ a² that lies inside
  its best (p/2)×(p/2) window (8×8 for 16×16 patches, a quarter of the patch). A plane-wave
  grating scores about 0.25, a localized edge 0.6 and above.
- ``orientedness`` (:func:`orientedness`): |Σ_f P(f) e^{2iθ_f}| / Σ_f P(f), with P the atom's
  power spectrum and θ_f the orientation of frequency f (the DC bin excluded): 1 for a single
  orientation, 0 for an isotropic atom (a blob, a point).

An atom is *Gabor-like* when loc8 ≥ 0.6 and orientedness ≥ 0.5 (:data:`GABOR_LOC8`,
:data:`GABOR_ORIENTEDNESS`); random gratings score 0% and the nat16 sparse-coding dictionaries
about 70% (datasets/nat16.py documents the probe behind these thresholds).
"""
from __future__ import annotations

import math

import numpy as np

GABOR_LOC8 = 0.6
"""Minimum fraction of an atom's energy in its best quarter-size window."""
GABOR_ORIENTEDNESS = 0.5
"""Minimum orientedness of an atom's power spectrum."""


def patch_side(atoms: np.ndarray) -> int:
    """The side p of square patches from atoms (K, p·p); ValueError when D is not a square."""
    d = int(np.asarray(atoms).shape[-1])
    p = math.isqrt(d)
    if p * p != d:
        raise ValueError(f"atoms of {d} pixels are not square patches")
    return p


def best_window_energy(atoms: np.ndarray, window: int | None = None) -> np.ndarray:
    """(K,) fraction of each atom's energy Σ a² inside its best ``window``×``window`` square
    (default p/2). An atom of zero energy scores 0."""
    p = patch_side(atoms)
    window = p // 2 if window is None else int(window)
    e = np.asarray(atoms, dtype=np.float64).reshape(-1, p, p) ** 2
    total = e.sum(axis=(1, 2), keepdims=True)
    e = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    c = np.pad(e.cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))  # summed-area table
    sums = (c[:, window:, window:] - c[:, :-window, window:] - c[:, window:, :-window]
            + c[:, :-window, :-window])
    return sums.reshape(len(e), -1).max(1)


def orientedness(atoms: np.ndarray) -> np.ndarray:
    """(K,) |Σ_f P(f) e^{2iθ_f}| / Σ_f P(f) of each atom's power spectrum P (DC excluded); 0 for
    an atom with no power outside DC."""
    p = patch_side(atoms)
    power = np.abs(np.fft.fft2(np.asarray(atoms, dtype=np.float64).reshape(-1, p, p))) ** 2
    theta = np.arctan2(np.fft.fftfreq(p)[:, None], np.fft.fftfreq(p)[None, :])
    phase = np.exp(2j * theta)
    phase[0, 0] = 0
    power[:, 0, 0] = 0
    total = power.sum((1, 2))
    num = np.abs((power * phase).sum((1, 2)))
    return np.divide(num, total, out=np.zeros_like(num), where=total > 0)


def gabor_like(atoms: np.ndarray) -> np.ndarray:
    """(K,) bool: loc8 ≥ :data:`GABOR_LOC8` and orientedness ≥ :data:`GABOR_ORIENTEDNESS`."""
    return (best_window_energy(atoms) >= GABOR_LOC8) & (orientedness(atoms) >= GABOR_ORIENTEDNESS)


def gabor_like_fraction(atoms: np.ndarray) -> float:
    """Fraction of the atoms (K, p·p) that are Gabor-like (:func:`gabor_like`)."""
    return float(gabor_like(atoms).mean())
