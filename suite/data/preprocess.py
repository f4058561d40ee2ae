"""The natural-image patch pipeline shared by every patch dataset (nat16, vH16, CIFAR16).

Per image (numpy float64 arrays of shape (H, W), see DATA.md):

1. :func:`to_gray_float` -- RGB(A) / uint8 / uint16 / float -> float64 grayscale in [0, 1]
   (integer images are divided by their dtype's maximum);
2. :func:`whiten` -- Olshausen & Field (1997) whitening in the Fourier domain with the filter
   R(f) = f * exp(-(f / f0)^4), f = |(f_y, f_x)| in cycles/pixel (each axis on [-0.5, 0.5]);
3. :func:`contrast_normalize` -- optional local contrast normalization with a Gaussian kernel;
4. :func:`zscore` -- per-image mean 0, standard deviation 1;
5. :func:`crop_border` -- drop ``n`` pixels on each side (the FFT's wrap-around and the local
   filters' edge effects live there).

:func:`process_image` runs the five steps as a :class:`PatchRecipe` says, and
:func:`sample_patches` draws square patches at uniformly random positions with a seeded
``numpy.random.Generator``, keeping only patches whose pixel standard deviation reaches the
recipe's ``min_patch_std`` (:func:`select_patches`, the one selection rule that
:func:`suite.data.patchbuild.stream_patches` shares). A recipe's :meth:`PatchRecipe.hash` goes into
cache keys, so a change of any knob rebuilds the cache.

Named recipes (:data:`RECIPES`, ``prepare --recipe NAME``): :data:`NAT16` (whitening only, the
nat16 default), :data:`PVAE_REFERENCE` (the P-VAE / iP-VAE reference code as it runs) and
:data:`PVAE_CORRECTED` (the same with the whitening filter the papers describe).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Callable

import numpy as np
from scipy import ndimage

from ..errors import DataError

# Bump when the code of a step changes the numbers it produces (it invalidates every cache).
PIPELINE_VERSION = 1

# With a contrast threshold, each round of :func:`select_patches` draws this many candidate
# positions per patch asked for (nat16 rejects ~25%, so one round almost always suffices) ...
CANDIDATES_PER_PATCH = 2
# ... and gives up after this many rounds: at most 1 candidate in 16 passing is an error.
MAX_SELECTION_ROUNDS = 8

# ITU-R BT.709 luma weights for (R, G, B), the ones scikit-image's rgb2gray uses.
LUMA_WEIGHTS = np.array([0.2125, 0.7154, 0.0721])


def to_gray_float(img: np.ndarray) -> np.ndarray:
    """Grayscale float64 (H, W) from (H, W), (H, W, 3) RGB or (H, W, 4) RGBA of any dtype.

    Integer images are scaled to [0, 1] by their dtype's maximum (255 for uint8, 65535 for
    uint16); float images keep their values. Colour is reduced with the BT.709 luma weights
    Y = 0.2125 R + 0.7154 G + 0.0721 B (an alpha channel is dropped).
    """
    a = np.asarray(img)
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float64) / np.iinfo(a.dtype).max
    elif np.issubdtype(a.dtype, np.floating) or a.dtype == bool:
        a = a.astype(np.float64)
    else:
        raise DataError(f"cannot convert an image of dtype {a.dtype} to grayscale float")
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[..., :3] @ LUMA_WEIGHTS
    if a.ndim != 2:
        raise DataError(f"expected a (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    return a


WHITENING_LAYOUTS = ("centered", "reference-unshifted")
"""How :func:`whitening_filter` lays f over the FFT's frequency bins:

``"centered"``: f is each bin's true frequency (``numpy.fft.fftfreq``), the filter the papers
describe (R(0) = 0 removes the mean; R is largest near f0 and rolls off towards Nyquist).
``"reference-unshifted"``: the P-VAE / iP-VAE reference code's layout, bit for bit: f is built on
``linspace(-0.5, 0.5, n)`` along each axis and multiplied with the *unshifted* ``fft2`` output, so
bin (0, 0) (DC) gets f = |(-0.5, -0.5)| = 0.707 and the bin (n/2, n/2), where both frequencies
are at Nyquist, gets f ~ 0 (|(0.5, 0.5)| / (n - 1)). The filter it applies is the centered one
shifted by half the spectrum along both axes (``fftshift``, within 0.025): the gain at true
frequency (f_y, f_x) is that of the described filter at (0.5 - |f_y|, 0.5 - |f_x|). So, with
f0 = 0.5: R = 0.0130 at DC instead of 0 (a low-frequency leak: 1.3% of the image mean is kept);
~0 at the diagonal Nyquist corner instead of 0.0130 (0.011 for n = 64); 0.184 at the on-axis
Nyquist bins (0, n/2) and (n/2, 0), like the centered filter; and direction-dependent in between
(n = 64: at the bin (0, 0.25) cycles/pixel, on an axis, 0.119 against 0.235; at the bin
(0.25, 0.25), on the diagonal, 0.275 for both). Radially averaged it passes less below 0.4 cycles/pixel (60-77% of the centered gain
below 0.25) and more above 0.45. The authors' ``processed.npy`` files were made this way.
"""


def whitening_filter(shape: tuple[int, int], f0: float,
                     layout: str = "centered") -> np.ndarray:
    """R(f) = f * exp(-(f / f0)^4) on the unshifted FFT grid of an image of ``shape`` (H, W).

    With ``layout="centered"``, f = sqrt(f_y^2 + f_x^2), f_y and f_x the FFT frequencies in
    cycles/pixel on [-0.5, 0.5): the factor f flattens the ~1/f amplitude spectrum of natural
    images, the exp(-(f/f0)^4) roll-off removes the highest frequencies (noise, aliasing) and
    R(0) = 0 removes the mean. ``layout="reference-unshifted"`` reproduces the reference code's
    grid instead (see :data:`WHITENING_LAYOUTS`).
    """
    if not f0 > 0:
        raise DataError(f"the whitening cut-off f0 must be positive (cycles/pixel), got {f0}")
    if layout == "centered":
        fy = np.fft.fftfreq(shape[0])[:, None]
        fx = np.fft.fftfreq(shape[1])[None, :]
    elif layout == "reference-unshifted":
        fy = np.linspace(-0.5, 0.5, shape[0])[:, None]
        fx = np.linspace(-0.5, 0.5, shape[1])[None, :]
    else:
        raise DataError(f"unknown whitening layout {layout!r}; choose one of {WHITENING_LAYOUTS}")
    f = np.sqrt(fy**2 + fx**2)
    return f * np.exp(-((f / f0) ** 4))


def whiten(img: np.ndarray, f0: float = 0.4, layout: str = "centered") -> np.ndarray:
    """Olshausen--Field whitening: real(IFFT2(FFT2(img) * R(f))), R as in :func:`whitening_filter`.

    img: (H, W) float; f0: roll-off frequency in cycles/pixel (0.5 is the Nyquist frequency);
    layout: see :data:`WHITENING_LAYOUTS`. Returns (H, W) float64 (zero mean with the centered
    layout). The FFT treats the image as periodic, so the borders carry wrap-around artefacts:
    crop them (:func:`crop_border`).
    """
    img = np.asarray(img, dtype=np.float64)
    spectrum = np.fft.fft2(img) * whitening_filter(img.shape, f0, layout)
    return np.real(np.fft.ifft2(spectrum))


def gaussian_kernel(kernel_size: int = 13, sigma: float | None = None) -> np.ndarray:
    """A normalized (sum 1) separable Gaussian kernel (kernel_size, kernel_size).

    sigma defaults to kernel_size / 6 pixels, so that the kernel spans +-3 sigma.
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise DataError(f"the contrast-normalization kernel size must be odd and positive, "
                        f"got {kernel_size}")
    sigma = kernel_size / 6 if sigma is None else sigma
    if not sigma > 0:
        raise DataError(f"the contrast-normalization sigma must be positive, got {sigma}")
    r = np.arange(kernel_size) - kernel_size // 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


LCN_PADDINGS = ("reflect", "zero")


def contrast_normalize(img: np.ndarray, kernel_size: int = 13,
                       sigma: float | None = None, padding: str = "reflect") -> np.ndarray:
    """Local contrast normalization (Jarrett et al. 2009) with a Gaussian window G.

    v = x - G * x (local mean removed), s = sqrt(G * v^2) (local standard deviation),
    y = v / max(s, mean(s)): regions of low contrast are not amplified beyond the image's
    mean contrast. G: :func:`gaussian_kernel` (kernel_size, sigma in pixels); outside the image
    the convolutions see the reflected image (``padding="reflect"``) or zeros (``"zero"``, the
    reference code's ``F.pad``). The reference's kernel exp(-r^2 / 0.5) on a [-1, 1] grid of 13
    points is kernel_size 13, sigma 3 pixels. img: (H, W) float; returns (H, W) float64.
    """
    if padding not in LCN_PADDINGS:
        raise DataError(f"unknown contrast-normalization padding {padding!r}; choose one of "
                        f"{LCN_PADDINGS}")
    mode = "reflect" if padding == "reflect" else "constant"
    img = np.asarray(img, dtype=np.float64)
    k = gaussian_kernel(kernel_size, sigma)
    v = img - ndimage.correlate(img, k, mode=mode, cval=0.0)
    s = np.sqrt(np.maximum(ndimage.correlate(v**2, k, mode=mode, cval=0.0), 0.0))
    floor = s.mean()
    if floor == 0:
        raise DataError("cannot contrast-normalize a constant image")
    return v / np.maximum(s, floor)


def zscore(img: np.ndarray) -> np.ndarray:
    """(img - mean) / std over all pixels (population std); float64, same shape."""
    img = np.asarray(img, dtype=np.float64)
    std = img.std()
    if not std > 0:
        raise DataError("cannot z-score a constant image (its standard deviation is 0)")
    return (img - img.mean()) / std


def crop_border(img: np.ndarray, n: int = 4) -> np.ndarray:
    """img[n:H-n, n:W-n]; n = 0 returns the image unchanged."""
    if n < 0:
        raise DataError(f"the border crop must be >= 0 pixels, got {n}")
    h, w = img.shape[:2]
    if h <= 2 * n or w <= 2 * n:
        raise DataError(f"cannot crop {n} pixels from each border of a {h}x{w} image")
    return img[n:h - n, n:w - n] if n else img


@dataclasses.dataclass(frozen=True)
class PatchRecipe:
    """Every knob of the patch pipeline; its :meth:`hash` keys built-artefact caches.

    name: the recipe's name, recorded with every dataset built with it (:data:`RECIPES`);
    f0: whitening roll-off in cycles/pixel, or None to skip whitening; whitening_layout: how
    the filter is laid over the FFT bins (:data:`WHITENING_LAYOUTS`);
    lcn: apply :func:`contrast_normalize` (lcn_kernel pixels, lcn_sigma pixels or None for
    lcn_kernel / 6, lcn_padding :data:`LCN_PADDINGS`); crop: pixels dropped on each border after z-scoring;
    patch_size: side of the square patches; seed: the patch-position generator's seed;
    n_train / n_val: number of training / validation patches;
    min_patch_std: contrast threshold: a patch whose pixel standard deviation (population std
    over its p*p pixels, in the units of the processed, z-scored image, whose std is 1) is below
    it is rejected and replaced by further random draws (:func:`select_patches`); 0 keeps every
    patch.
    The defaults are nat16's choice (see ``datasets/nat16.py`` for the evidence), except
    name and min_patch_std, which :data:`NAT16` sets to "nat16" and 0.1.
    """

    name: str = "custom"
    f0: float | None = 0.4
    whitening_layout: str = "centered"
    lcn: bool = False
    lcn_kernel: int = 13
    lcn_sigma: float | None = None
    lcn_padding: str = "reflect"
    crop: int = 4
    patch_size: int = 16
    seed: int = 0
    n_train: int = 50_000
    n_val: int = 10_000
    min_patch_std: float = 0.0

    def __post_init__(self):
        if self.whitening_layout not in WHITENING_LAYOUTS:
            raise DataError(f"unknown whitening layout {self.whitening_layout!r}; choose one of "
                            f"{WHITENING_LAYOUTS}")
        if self.lcn_padding not in LCN_PADDINGS:
            raise DataError(f"unknown contrast-normalization padding {self.lcn_padding!r}; "
                            f"choose one of {LCN_PADDINGS}")

    def hash(self, *inputs: str) -> str:
        """A stable 16-hex-digit digest of the recipe, PIPELINE_VERSION and ``inputs``.

        ``inputs`` names what the recipe is applied to (e.g. image names or file names), so
        that a different image set gets a different cache key as well.
        """
        payload = json.dumps({"recipe": dataclasses.asdict(self), "inputs": list(inputs),
                              "pipeline_version": PIPELINE_VERSION}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def process_image(img: np.ndarray, recipe: PatchRecipe) -> np.ndarray:
    """The per-image pipeline: gray float -> whiten -> [contrast-normalize] -> z-score -> crop.

    img: any image :func:`to_gray_float` accepts; returns (H - 2 crop, W - 2 crop) float64.
    """
    x = to_gray_float(img)
    if recipe.f0 is not None:
        x = whiten(x, recipe.f0, recipe.whitening_layout)
    if recipe.lcn:
        x = contrast_normalize(x, recipe.lcn_kernel, recipe.lcn_sigma, recipe.lcn_padding)
    return crop_border(zscore(x), recipe.crop)


NAT16 = PatchRecipe(name="nat16", f0=0.4, lcn=False, crop=4, patch_size=16, seed=0,
                    n_train=50_000, n_val=10_000, min_patch_std=0.1)
"""nat16's recipe: whitening at f0 = 0.4, no contrast normalization, near-blank patches
rejected (its dictionaries are the most Gabor-like for sparse coding: see datasets/nat16.py)."""

PVAE_REFERENCE = PatchRecipe(name="pvae-reference", f0=0.5, whitening_layout="reference-unshifted",
                             lcn=True, lcn_kernel=13, lcn_sigma=3.0, lcn_padding="zero", crop=4,
                             patch_size=16, seed=0, n_train=50_000, n_val=10_000,
                             min_patch_std=0.0)
"""The P-VAE / iP-VAE reference ``do_process``, step for step: whitening f0 = 0.5 with the
reference's unshifted filter layout, local contrast normalization (13x13 Gaussian, sigma 3
pixels, zero padding, divisor floored at its image mean), per-image z-score, 4-pixel crop,
every patch kept. This is how the authors' ``processed.npy`` files were made. Checked against a
float64 transcription of the reference's ``Whitening`` / ``LocContrastNorm`` (torch): equal to
1e-15, except the z-score, which divides by the population std where ``torch.std`` divides by the
n - 1 one: values differ by the factor sqrt(n / (n - 1)) (1.0005 for a 32x32 CIFAR image)."""

PVAE_CORRECTED = dataclasses.replace(PVAE_REFERENCE, name="pvae-corrected",
                                     whitening_layout="centered")
"""The reference recipe with the whitening filter the papers describe (centered layout)."""

RECIPES = {r.name: r for r in (NAT16, PVAE_REFERENCE, PVAE_CORRECTED)}
"""The named recipes (``prepare --recipe NAME``, dataset provenance)."""


def recipe_named(name: str) -> PatchRecipe:
    """The recipe called ``name``; a DataError lists the valid names otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise DataError(f"unknown patch recipe {name!r}; choose one of {sorted(RECIPES)}") from None


def sample_patch_positions(shapes: list[tuple[int, int]], n: int, patch_size: int,
                           rng: np.random.Generator) -> np.ndarray:
    """(n, 3) int64 rows (image index, top row, left column), uniform over all valid positions.

    Every top-left corner of every image (H - p + 1) * (W - p + 1) is equally likely, so an
    image contributes in proportion to its number of positions.
    """
    counts = np.array([(h - patch_size + 1) * (w - patch_size + 1) for h, w in shapes],
                      dtype=np.int64)
    if len(shapes) == 0 or (counts <= 0).any():
        raise DataError(f"every image must be at least {patch_size}x{patch_size} pixels to cut "
                        f"patches from it; got shapes {shapes}")
    flat = rng.integers(0, counts.sum(), size=n)
    which = np.searchsorted(np.cumsum(counts), flat, side="right")
    offset = flat - np.concatenate([[0], np.cumsum(counts)[:-1]])[which]
    widths = np.array([w - patch_size + 1 for _, w in shapes], dtype=np.int64)[which]
    return np.stack([which, offset // widths, offset % widths], axis=1)


def positions_by_image(positions: np.ndarray, n_images: int) -> list[np.ndarray]:
    """For each image i < n_images, the indices of the rows of ``positions`` on image i.

    positions: (m, 3) rows (image index, top, left); the indices of each image are in row order.
    One stable sort, so that cutting from many images (60,000 CIFAR-10 images) does not rescan
    all positions per image.
    """
    order = np.argsort(positions[:, 0], kind="stable")
    bounds = np.searchsorted(positions[order, 0], np.arange(n_images + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(n_images)]


def cut_patches(img: np.ndarray, corners: np.ndarray, patch_size: int) -> np.ndarray:
    """(m, patch_size * patch_size) float32 patches of one (H, W) image at (m, 2) (top, left)
    corners, flattened row-major."""
    r = np.arange(patch_size)
    rows = corners[:, 0][:, None, None] + r[None, :, None]
    cols = corners[:, 1][:, None, None] + r[None, None, :]
    return img[rows, cols].reshape(len(corners), -1).astype(np.float32)


def extract_patches(images: list[np.ndarray], positions: np.ndarray,
                    patch_size: int) -> np.ndarray:
    """(n, patch_size * patch_size) float32 patches at ``positions`` (rows of image, top, left)."""
    out = np.empty((len(positions), patch_size * patch_size), dtype=np.float32)
    for img, sel in zip(images, positions_by_image(positions, len(images))):
        if sel.size:
            out[sel] = cut_patches(img, positions[sel, 1:], patch_size)
    return out


def patch_std(patches: np.ndarray) -> np.ndarray:
    """(n,) population standard deviation of each row of (n, D) ``patches``, in float64."""
    return patches.astype(np.float64).std(axis=1)


def select_patches(shapes: list[tuple[int, int]], n: int, patch_size: int,
                   rng: np.random.Generator, min_std: float,
                   cut: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(n, p*p) float32 patches at uniformly random positions whose pixel std is >= ``min_std``.

    shapes: the processed images' (H, W); cut(positions): the (m, p*p) float32 patches at
    (m, 3) positions (rows of image, top, left), however the caller gets at the images.
    Rounds: draw candidate positions (:func:`sample_patch_positions`, n of them when
    min_std = 0, otherwise CANDIDATES_PER_PATCH * n), cut them, keep those with
    :func:`patch_std` >= min_std in draw order; repeat until n are kept and return the first n.
    With min_std = 0 this is one round of n draws, every patch kept. The result depends only
    on the generator state, ``shapes``, the pixel values and min_std, so every caller that cuts
    the same images gets the same patches. Raises DataError when fewer than n patches passed
    after MAX_SELECTION_ROUNDS rounds.
    """
    if not min_std >= 0:
        raise DataError(f"min_patch_std must be >= 0 (a pixel standard deviation), got {min_std}")
    per_round = n if min_std == 0 else CANDIDATES_PER_PATCH * n
    kept, n_kept = [], 0
    for _ in range(MAX_SELECTION_ROUNDS):
        candidates = cut(sample_patch_positions(shapes, per_round, patch_size, rng))
        passing = candidates[patch_std(candidates) >= min_std]
        kept.append(passing)
        n_kept += len(passing)
        if n_kept >= n:
            return np.concatenate(kept)[:n]
    drawn = MAX_SELECTION_ROUNDS * per_round
    raise DataError(f"only {n_kept} of {drawn} random {patch_size}x{patch_size} patches "
                    f"({n_kept / drawn:.1%}) have a pixel standard deviation >= min_patch_std = "
                    f"{min_std} (in units of the z-scored image); {n} were needed. The images "
                    "are too flat for this threshold: lower min_patch_std or add images with "
                    "more contrast.")


def sample_patches(images: list[np.ndarray], n: int, patch_size: int,
                   rng: np.random.Generator, *, min_std: float = 0.0) -> np.ndarray:
    """(n, patch_size * patch_size) float32 patches at uniformly random positions of ``images``.

    images: (H_i, W_i) float arrays (already processed); rng: a seeded numpy Generator;
    min_std: patches with a pixel standard deviation below it are replaced by further draws
    (:func:`select_patches`; 0, the default, keeps the first n draws).
    Patches are flattened row-major (C order), as (1, p, p) images.
    """
    return select_patches([im.shape for im in images], n, patch_size, rng, min_std,
                          lambda positions: extract_patches(images, positions, patch_size))
