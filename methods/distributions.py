"""Shared distribution math for the VAE families: soft clamps, KL terms, reparameterized samplers.

Everything here is elementwise (broadcasting like torch) unless a docstring says otherwise, works
on any device, and draws randomness only from an explicit ``torch.Generator``.

Contents
--------
- soft clamps: :func:`softclamp_upper`, :func:`softclamp_sym`;
- Poisson: :func:`poisson_kl`, :func:`poisson_kl_from_log`, :func:`poisson_kl_sum`, the exact sampler
  :func:`poisson_counts`, :func:`poisson_n_exp`,
  :func:`check_n_exp`, the relaxed sampler :func:`relaxed_poisson` and its definition-by-
  materialization :func:`relaxed_poisson_dense` (kept as the reference the fast one is tested and
  benchmarked against);
- Gaussian: :func:`gaussian_kl`, :func:`gaussian_rsample`;
- Laplace: :func:`laplace_kl`, :func:`laplace_rsample`;
- categorical: :func:`categorical_kl_uniform`, :func:`gumbel_softmax`.

The relaxed Poisson sampler (exponential arrival times)
-------------------------------------------------------
The P-VAE's reparameterized "spike count" with rate λ and temperature T is

    z = Σ_{i=1}^{n_exp} σ((1 − t_i) / T),   t_i = Σ_{j≤i} Δt_j,   Δt_j = E_j / λ,  E_j ~ Exp(1) iid,

i.e. a soft count of the arrivals of a rate-λ Poisson process inside the window [0, 1]; as T → 0
it tends to the exact count N([0, 1]) ~ Poisson(λ) (when n_exp is large enough not to truncate).
Writing S_i = Σ_{j≤i} E_j (the arrival times of a *unit-rate* process, pure noise), t_i = S_i / λ,
and the pathwise gradient is ∂z/∂λ = Σ_i σ'(u_i)·S_i/(λ²T), u_i = (1 − t_i)/T. The reference
implementation materializes S for all n_exp arrivals of every latent, a [n_exp, B, K] tensor,
although for a latent with λ ≪ n_exp almost every arrival lies far past the window, where
σ((1 − t)/T) ≈ 0.

:func:`relaxed_poisson` (T > 0) draws, with m = log(1/tail_tol), the horizon h = 1 + T·m (time
units; H = λh in unit-rate time) and n = n_exp:

1. every latent's first arrival S_1 = E_1 ~ Exp(1);
2. "full" latents, λh ≥ n: all n arrivals. S_n − S_1 = E_2 + … + E_n ~ Gamma(n − 1),
   independent of S_1, and given it the n − 2 arrivals between are the order statistics of
   n − 2 iid Uniform(S_1, S_n) (uniform spacings); z is symmetric in the arrivals, so they are
   drawn unordered. This is the reference's law exactly;
3. other latents with S_1 < H: the process after S_1 is a fresh unit-rate process (strong
   Markov property), so the number R of arrivals in (S_1, H] is Poisson(H − S_1) and, given R,
   they are iid Uniform(S_1, H). If 1 + R ≥ n (rare: λh < n) the reference keeps only the first
   n: S_n, the (n − 1)-th smallest of the R, is S_1 + (H − S_1)·Beta(n − 1, R − n + 2), and given
   S_n the n − 2 arrivals between are iid Uniform(S_1, S_n): again exact. Otherwise all arrivals
   up to H are kept and the reference's later ones (past H) are omitted;
4. latents with S_1 ≥ H keep S_1 alone (their later arrivals are omitted).

Counts come from :func:`poisson_counts`, the gamma variates from ``torch._standard_gamma`` (the
sampler behind torch.distributions.Gamma), uniforms from :class:`_UniformBlocks`. The arrivals
of all latents with the same count (on a grid of block heights above 16, rows past a latent's
count masked) form dense [count, latents] blocks of ≤ 2¹⁸ values, reduced over the arrivals at
once to z and ∂z/∂λ; the backward pass keeps one number per latent. Work: about
Σ_k min(n, 1 + λ_k·h) arrivals plus O(1) per latent, instead of n·B·K.

Why it is the same estimator. Steps 1–4 draw, in law, exactly the reference's arrival set with
the arrivals past H omitted, except S_1 and except none at all for full or truncated latents; z
and ∂z/∂λ are the reference's functions of (λ, S) evaluated on that set (S held fixed, λ only
decides how much noise to draw). So (z, ∂z/∂λ) has the reference's joint law after removing the
omitted terms, all at times t > h, where σ((1 − t)/T) < e^{−(t−1)/T} ≤ tail_tol. For the
rate-λ arrivals past h (the omitted ones are among them), by Campbell's formula:

    E Σ_{t_i > h} σ((1 − t_i)/T) = λT·log(1 + e^{−m}) ≤ λ·T·tail_tol,
    E Σ_{t_i > h} σ'(u_i)·t_i/(λT) = σ(−m)·(1 + T·m) + T·log(1 + e^{−m}) ≤ tail_tol·(h + T),

so, coupled on the same noise, E|z_ref − z| ≤ λ·T·tail_tol and E|∂z_ref/∂λ − ∂z/∂λ| ≤
tail_tol·(h + T) (tail_tol = 1e-6 by default). Checked by two-sample tests of values and
gradients against :func:`relaxed_poisson_dense` in tests/test_distributions.py (λ from 0.01 to
150, T from 0.01 to 1) and benchmarks/bench_pvae_sampler.py.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# -- soft clamps ---------------------------------------------------------------------------


def softclamp_upper(x: Tensor, c: float) -> Tensor:
    """Smooth upper clamp c − softplus(c − x): ≈ x well below c, → c from below as x → ∞."""
    return c - F.softplus(c - x)


def softclamp_sym(x: Tensor, c: float) -> Tensor:
    """Smooth symmetric clamp c·tanh(x / c): ≈ x near 0, values in (−c, c)."""
    return c * torch.tanh(x / c)


# -- Poisson -------------------------------------------------------------------------------


def _one_minus_exp_plus_xexp(d: Tensor) -> Tensor:
    """f(d) = 1 − e^d + d·e^d (≥ 0), accurate near d = 0 where it is ≈ d²/2.

    Direct evaluation cancels for small |d|, so |d| < 0.1 uses the series
    Σ_{n≥2} (n − 1)·dⁿ / n! = d²/2 + d³/3 + d⁴/8 + d⁵/30 + d⁶/144 (truncation error < 1e-9·d²);
    d below −80 (down to −∞, a zero rate) gives the limit 1.
    """
    small = d.abs() < 0.1
    ds = torch.where(small, d, torch.zeros_like(d))
    series = ds * ds * (0.5 + ds * (1.0 / 3 + ds * (1.0 / 8 + ds * (1.0 / 30 + ds / 144))))
    dl = torch.where(small, torch.ones_like(d), d).clamp_min(-80.0)  # f(−80) = 1 in float
    direct = 1.0 + (dl - 1.0) * torch.exp(dl)
    return torch.where(small, series, direct)


def poisson_kl(rate_q: Tensor, rate_p: Tensor) -> Tensor:
    """KL(Pois(r_q) ‖ Pois(r_p)) in nats, elementwise.

    KL = r_p·(1 − δ + δ·log δ) with δ = r_q / r_p, i.e. r_p − r_q + r_q·log(r_q / r_p); a zero
    posterior rate gives r_p. Rates must be > 0 for r_p and ≥ 0 for r_q. For rates held as logs
    prefer :func:`poisson_kl_from_log` (accurate when r_q ≈ r_p).
    """
    return rate_p - rate_q + torch.xlogy(rate_q, rate_q / rate_p)


def poisson_kl_from_log(log_rate_q: Tensor, log_rate_p: Tensor) -> Tensor:
    """KL(Pois(e^{log_rate_q}) ‖ Pois(e^{log_rate_p})) in nats, elementwise, from log-rates.

    With d = log δ = log r_q − log r_p: KL = r_p·(1 − e^d + d·e^d), evaluated without cancellation
    near d = 0 (where it is ≈ r_p·d²/2). In the P-VAE, d is the encoder's log δr.
    """
    d = log_rate_q - log_rate_p
    return torch.exp(log_rate_p) * _one_minus_exp_plus_xexp(d)


POISSON_THIN_RATE = 0.125
"""Rates up to this bound are drawn by :func:`poisson_counts`'s thinning stage, larger ones by
:func:`torch.poisson` (the bound balances the thinning stage's n·c candidate events against
torch.poisson's per-element cost, which dominates for rates ≳ 0.1)."""


class _PoissonKLSum(torch.autograd.Function):
    """Σ KL over all elements from log-rates and rates; see :func:`poisson_kl_sum`."""

    @staticmethod
    def forward(ctx, log_q: Tensor, log_p: Tensor, rate_q: Tensor, rate_p: Tensor) -> Tensor:
        d = log_q - log_p
        slope_q = rate_q * d
        slope_p = torch.expm1(d).mul_(rate_p)
        ctx.save_for_backward(slope_q, slope_p)
        return (slope_q - slope_p).sum()

    @staticmethod
    def backward(ctx, grad: Tensor):
        slope_q, slope_p = ctx.saved_tensors
        return grad * slope_q, -grad * slope_p, None, None


def poisson_kl_sum(log_rate_q: Tensor, log_rate_p: Tensor, rate_q: Tensor,
                   rate_p: Tensor) -> Tensor:
    """Σ over all elements of KL(Pois(r_q) ‖ Pois(r_p)) in nats (a scalar), for a loss.

    Takes the log-rates u_q, u_p and the rates r_q = e^{u_q}, r_p = e^{u_p} the caller already
    holds (the rates are not differentiated: gradients flow through the log-rates only). With
    d = u_q − u_p and m = e^d − 1 (expm1, accurate near d = 0):

        KL = r_p·(1 − e^d + d·e^d) = r_q·d − r_p·m,   ∂KL/∂u_q = r_q·d,   ∂KL/∂u_p = −r_p·m.

    The gradients are exact to float rounding and cost no autograd graph beyond the inputs; the
    value's rounding error is about ε·r_q·|d| per element (relative ~2ε/|d| where KL ≈ r_p·d²/2
    is tiny), negligible in a batch loss. Per-unit KLs should use :func:`poisson_kl_from_log`
    (accurate near d = 0), which this sum equals up to that rounding.
    """
    return _PoissonKLSum.apply(log_rate_q, log_rate_p, rate_q.detach(), rate_p.detach())


def poisson_counts(rate: Tensor, generator: torch.Generator) -> Tensor:
    """Exact Poisson(rate) counts, elementwise; same shape and dtype as ``rate`` (no gradient).

    On the CPU, with c = :data:`POISSON_THIN_RATE` and n = rate.numel():

    1. rates λ ≤ c, by thinning one rate-c Poisson process per element: draw the total number
       of candidate events M ~ Poisson(n·c) and spread them uniformly over the n elements (so
       each element's candidate count is Poisson(c), independently: Poisson splitting); keep a
       candidate at element i with probability λ_i / c, which leaves Poisson(λ_i) events there
       (thinning). One float64 uniform V per candidate serves both draws: its position is
       ⌊V·n⌋ and its thinning uniform the fractional part of V·n (independent of the position
       and uniform on [0, 1) up to float64 rounding, about 2⁻⁵³·n). The work is one pass over
       the rates plus ~n·c candidates instead of one uniform (and one exp) per element.
    2. rates λ > c: :func:`torch.poisson` on those elements only, overwriting what stage 1 left
       there.

    Rates at exactly c are accepted with probability 1 (an exact Poisson(c)); a zero rate gives
    0. On other devices this is :func:`torch.poisson` (a fast per-element sampler there). Rates
    must be ≥ 0 (ValueError otherwise, NaN included).
    """
    rate = rate.detach()
    if rate.device.type != "cpu":
        return torch.poisson(rate, generator=generator)
    flat = rate.reshape(-1)
    out = torch.zeros_like(flat)
    if flat.numel() == 0:
        return out.view(rate.shape)
    if not bool(flat.min() >= 0):
        raise ValueError("poisson_counts: rates must be >= 0 (and not NaN)")
    _add_thinned_counts(out, flat, POISSON_THIN_RATE, generator)
    large = torch.nonzero(flat > POISSON_THIN_RATE).squeeze(1)
    if large.numel() > 0:
        out.index_copy_(0, large, torch.poisson(flat.index_select(0, large), generator=generator))
    return out.view(rate.shape)


def _add_thinned_counts(out: Tensor, flat: Tensor, bound: float,
                        generator: torch.Generator) -> None:
    """Stage 1 of :func:`poisson_counts`: add Poisson(λ_i) counts to out[i] (both flat, (n,))
    for every element with λ_i ≤ ``bound``, by thinning a rate-``bound`` process per element
    (elements with λ_i > ``bound`` get meaningless counts: stage 2 overwrites them)."""
    n = flat.numel()
    total = torch.poisson(torch.tensor([n * bound], dtype=torch.float64), generator=generator)
    v = torch.rand(int(total), dtype=torch.float64, generator=generator).mul_(n)
    position = torch.floor(v)
    accept_u = v.sub_(position).mul_(bound)  # uniform on [0, bound)
    position = position.long().clamp_max_(n - 1)  # V·n can round up to n
    lam = flat.index_select(0, position)
    hits = position[accept_u < lam]
    out.index_add_(0, hits, torch.ones((), dtype=out.dtype).expand(hits.numel()))


POISSON_N_EXP_MAX_RATE = 1e7
"""The largest rate :func:`poisson_n_exp` accepts (its cdf bracket has about rate_max entries:
0.2 GB at this bound). Real rates stay far below it (the P-VAE's soft clamp e^5, the iP-VAE's
e^10); a larger one is the sign of a diverged model, and callers report it as such."""


def poisson_n_exp(rate_max: float, q: float = 1 - 1e-5) -> int:
    """Number of exponential arrivals the relaxed sampler needs: the q-quantile of Poisson(rate_max),
    i.e. the smallest n with P(N ≤ n) ≥ q for N ~ Poisson(rate_max); at least 1.

    P(N > n_exp) ≤ 1 − q for the count N of a latent of rate ≤ rate_max. Values: 263 for
    rate 200, 203 for 148.4 (= e^5, the P-VAE's soft-clamp ceiling), 42 for 20. Computed from the
    Poisson cdf (scipy.special.pdtr) on a bracket around rate + z·√rate (fast enough per step).
    """
    from scipy.special import pdtr

    rate_max = float(rate_max)
    if not math.isfinite(rate_max) or not 0 < q < 1:
        raise ValueError(f"poisson_n_exp: need a finite rate_max and 0 < q < 1, got {rate_max}, {q}")
    if rate_max > POISSON_N_EXP_MAX_RATE:
        raise ValueError(f"poisson_n_exp: rate_max {rate_max:.4g} is beyond "
                         f"{POISSON_N_EXP_MAX_RATE:.0e}, the largest rate it sizes (its cdf "
                         "bracket takes ~17 bytes per unit of rate; such rates come from a "
                         "diverged model)")
    if rate_max <= 0:
        return 1
    spread = math.sqrt(rate_max) * (2.0 + math.sqrt(2.0 * math.log(1.0 / (1.0 - q))))
    ks = np.arange(0, math.ceil(rate_max + spread + 20.0) + 1)
    cdf = pdtr(ks, rate_max)
    n = int(ks[np.argmax(cdf >= q)]) if cdf[-1] >= q else int(ks[-1])
    return max(1, n)


class PoissonTruncationWarning(UserWarning):
    """The relaxed Poisson sampler's n_exp is too small for the rates it is given."""


def check_n_exp(n_exp: int, rate_max: float, q: float = 1 - 1e-5) -> bool:
    """True when ``n_exp`` arrivals suffice for rates up to ``rate_max`` (the quantile rule of
    :func:`poisson_n_exp`); otherwise warn with :class:`PoissonTruncationWarning` and return False.

    A too-small n_exp truncates the count: relaxed samples of high-rate latents are biased low.
    """
    need = poisson_n_exp(rate_max, q)
    if int(n_exp) < need:
        warnings.warn(
            f"relaxed Poisson sampler: n_exp={n_exp} truncates counts for rates up to "
            f"{rate_max:.4g} (the {q} quantile rule needs n_exp >= {need}); samples are biased low.",
            PoissonTruncationWarning, stacklevel=3)
        return False
    return True


_BLOCK_ELEMENTS = 1 << 18
"""Arrivals the relaxed Poisson sampler draws per dense block (1 MiB per float32 buffer)."""
_EXACT_COUNTS = 16
"""Latents with at most this many arrivals are grouped by exact count (no padding)."""
_LEVELS_PER_OCTAVE = 8
"""Larger counts share blocks of heights on the grid ⌈2^(k/8)⌉ (≤ 9% padding, masked out)."""
_TINY_RATE = 1e-30
"""Rates are clamped to this from below where they divide (a zero rate has no arrivals)."""


class _UniformBlocks:
    """Blocks of iid Uniform[0, 1) values drawn from ``generator``, in buffers reused between draws.

    float32 values are k·2⁻²⁴ with k uniform on 24 bits (the grid of torch's float32
    ``uniform_``), taken from 64-bit words, two per word (the low 24 bits of each 32-bit half).
    On the CPU the words come from a numpy SFC64 bit generator seeded with 128 bits drawn from
    ``generator`` when the blocks are created (so the same generator state gives the same
    numbers; SFC64 makes 64 bits in about a quarter of the time of torch's CPU Mersenne twister,
    and the draws dominate the sampler's cost); elsewhere from ``random_`` on int64 (63 random
    bits). Other dtypes use ``uniform_`` (float64: 53-bit values). A draw returns (u, out): u the
    fresh [rows, cols] block, out a scratch block of the same shape, both overwritten by the
    next draw; rows·cols must not exceed ``size``.
    """

    def __init__(self, generator: torch.Generator, dtype: torch.dtype, device, size: int):
        self.generator, self.size = generator, size
        self.u = torch.empty(size, dtype=dtype, device=device)
        self.out = torch.empty(size, dtype=dtype, device=device)
        self.words = self.bits = None
        if dtype == torch.float32 and self.u.device.type == "cpu":
            seed = torch.randint(0, 2 ** 62, (2,), generator=generator).tolist()
            self.bits = np.random.SFC64(np.random.SeedSequence(seed))
        elif dtype == torch.float32:
            self.words = torch.empty((size + 1) // 2, dtype=torch.int64, device=device)

    def draw(self, rows: int, cols: int) -> tuple[Tensor, Tensor]:
        n = rows * cols
        u = self.u[:n].view(rows, cols)
        if self.bits is not None:
            halves = torch.from_numpy(self.bits.random_raw((n + 1) // 2).view(np.int32))
        elif self.words is not None:
            halves = self.words[:(n + 1) // 2].random_(generator=self.generator).view(torch.int32)
        else:
            return u.uniform_(generator=self.generator), self.out[:n].view(rows, cols)
        u.copy_(halves[:n].bitwise_and_(0xFFFFFF).view(rows, cols))
        return u.mul_(2.0 ** -24), self.out[:n].view(rows, cols)


def _unit_exponentials(n: int, generator: torch.Generator, dtype: torch.dtype, device) -> Tensor:
    """n iid Exp(1) values E = −log(1 − U), U a 53-bit uniform (float64; so that P(E < μ) is
    right to ~1e-16 even for tiny μ), returned in ``dtype``."""
    u = torch.empty(n, dtype=torch.float64, device=device).uniform_(generator=generator)
    return u.neg_().log1p_().neg_().to(dtype)


def _sum_over_arrivals(count: Tensor, offset: Tensor, scale: Tensor, temperature: float,
                       uniforms: _UniformBlocks, with_slope: bool) -> tuple[Tensor, Tensor | None]:
    """Sums over count_k iid arrivals x_kj = offset_k + scale_k·U_kj (U ~ Uniform[0, 1); x = t/T,
    the arrival time over T) of each latent k: (Σ_j σ(1/T − x_kj), Σ_j σ'(1/T − x_kj)·x_kj).

    ``count`` (m,) int32 sorted ascending (≥ 1); ``offset``, ``scale`` (m,); results (m,) each.
    Latents with equal counts up to :data:`_EXACT_COUNTS`, or counts on the same grid level above
    it, form dense [c, w] blocks (c the group's largest count; rows past a latent's own count
    get the argument −∞, σ = 0); σ' = σ − σ², Σ σ'·x = offset·Σ σ' + scale·Σ σ'·U.
    """
    level = torch.where(count <= _EXACT_COUNTS, count,
                        torch.ceil(_LEVELS_PER_OCTAVE * torch.log2(count.float()) - 1e-4).int()
                        + (1 << 20))
    sizes = torch.unique_consecutive(level, return_counts=True)[1].tolist()
    base = torch.rsub(offset, 1.0 / temperature)  # 1/T − offset
    sums, slopes, start = [], [], 0
    for size in sizes:
        stop = start + size
        rows, fewest = int(count[stop - 1]), int(count[start])
        step = max(1, uniforms.size // rows)
        for lo in range(start, stop, step):
            hi = min(lo + step, stop)
            u, arg = uniforms.draw(rows, hi - lo)
            torch.addcmul(base[lo:hi], u, scale[lo:hi], value=-1.0, out=arg)  # 1/T − x
            if fewest < rows:  # rows past a latent's count: no arrival
                pad = torch.arange(fewest, rows, device=u.device, dtype=count.dtype).unsqueeze(1)
                arg[fewest:].masked_fill_(pad >= count[lo:hi], -math.inf)
            sig = arg.sigmoid_()
            sums.append(sig.sum(0))
            if with_slope:
                d_sig = sig.addcmul_(sig, sig, value=-1.0)
                slopes.append(d_sig.sum(0).mul_(offset[lo:hi])
                              .add_(d_sig.mul_(u).sum(0).mul_(scale[lo:hi])))
        start = stop
    return torch.cat(sums), (torch.cat(slopes) if with_slope else None)


def _arrival_terms(x: Tensor, temperature: float, with_slope: bool) -> tuple[Tensor, Tensor | None]:
    """σ(1/T − x) and σ'(1/T − x)·x for single arrivals at x = t/T."""
    sig = torch.rsub(x, 1.0 / temperature).sigmoid_()
    return sig, ((sig - sig * sig).mul_(x) if with_slope else None)


def _soft_count(rate: Tensor, temperature: float, generator: torch.Generator, n_exp: int,
                tail_tol: float, with_slope: bool) -> tuple[Tensor, Tensor | None]:
    """Relaxed counts z (M,) of flat rates λ ≥ 0 (M,), and ∂z/∂λ (M,) when ``with_slope``.

    In unit-rate time S (t = S/λ) with horizon H = λh, h = 1 + T·log(1/tail_tol) (see the module
    docstring for why this has the reference's law up to the tail):

    1. every latent: its first arrival S_1 = E ~ Exp(1) (:func:`_unit_exponentials`);
    2. latents with λh ≥ n_exp ("full"): all n_exp arrivals, S_n = S_1 + Gamma(n_exp − 1) and
       n_exp − 2 arrivals iid Uniform(S_1, S_n) between;
    3. other latents with S_1 < H: R ~ Poisson(H − S_1) more arrivals in (S_1, H]
       (:func:`poisson_counts`), iid Uniform(S_1, H); if 1 + R ≥ n_exp (rare) only the first
       n_exp count: S_n = S_1 + (H − S_1)·Beta(n_exp − 1, R − n_exp + 2), n_exp − 2 iid
       Uniform(S_1, S_n) between. Arrivals past H other than S_1 are omitted.

    z = Σ σ((1 − t)/T) and ∂z/∂λ = Σ σ'((1 − t)/T)·t/(λT) over the arrivals drawn (S held
    fixed); the uniform arrivals are summed in dense blocks (:func:`_sum_over_arrivals`).
    """
    dtype, device, m = rate.dtype, rate.device, rate.numel()
    horizon = 1.0 + temperature * math.log(1.0 / tail_tol)
    lam_t = rate.mul(temperature).clamp_min_(_TINY_RATE)  # λT
    first = _unit_exponentials(m, generator, dtype, device)
    z, slope = _arrival_terms(first / lam_t, temperature, with_slope)
    if n_exp > 1:
        mean = rate * horizon
        full = mean >= n_exp
        sel = torch.nonzero((first < mean) | full).squeeze(1)
        if sel.numel() > 0:
            picked = (v.index_select(0, sel) for v in (first, mean, full, lam_t))
            _add_later_arrivals(z, slope, sel, *picked, temperature, horizon, generator, n_exp)
    if with_slope:
        slope.mul_(temperature).div_(lam_t)  # Σ σ'·x / λ
    return z, slope


def _add_later_arrivals(z: Tensor, slope: Tensor | None, sel: Tensor, first: Tensor,
                        mean: Tensor, full: Tensor, lam_t: Tensor, temperature: float,
                        horizon: float, generator: torch.Generator, n_exp: int) -> None:
    """Steps 2–3 of :func:`_soft_count` for the latents ``sel`` (a full one, or S_1 = ``first``
    inside the horizon ``mean`` = λh); adds Σ σ and Σ σ'·x (x = S/(λT)) of their arrivals after
    the first to z and slope."""
    dtype, device = z.dtype, z.device
    rest = poisson_counts(torch.where(full, 0.0, mean - first), generator)
    last = full | (rest >= n_exp - 1)
    x_first = first / lam_t
    count = rest.int()
    scale = torch.full_like(first, horizon / temperature).sub_(x_first)
    if bool(last.any()):
        li = torch.nonzero(last).squeeze(1)
        full_l, first_l = full.index_select(0, li), first.index_select(0, li)
        shape = torch.where(full_l, n_exp - 1.0, rest.index_select(0, li) - (n_exp - 2.0))
        after = torch._standard_gamma(shape, generator=generator)  # S_n − S_1 (full)
        if not bool(full_l.all()):  # capped: (H − S_1)·Beta(n − 1, R − n + 2)
            ci = torch.nonzero(~full_l).squeeze(1)
            g_c = after.index_select(0, ci)
            before = torch._standard_gamma(torch.full_like(g_c, n_exp - 1.0), generator=generator)
            window = mean.index_select(0, li).sub_(first_l).index_select(0, ci)
            after.index_copy_(0, ci, window.mul_(before).div_(before.add_(g_c)))
        x_first_l = x_first.index_select(0, li)
        x_last = after.div_(lam_t.index_select(0, li)).add_(x_first_l)
        sig, d_slope = _arrival_terms(x_last, temperature, slope is not None)
        sel_l = sel.index_select(0, li)
        z.index_add_(0, sel_l, sig)
        if slope is not None:
            slope.index_add_(0, sel_l, d_slope)
        count.index_fill_(0, li, n_exp - 2)
        scale.index_copy_(0, li, x_last.sub_(x_first_l))
    keep = torch.nonzero(count).squeeze(1)
    if keep.numel() == 0:
        return
    count, order = torch.sort(count.index_select(0, keep), stable=True)
    keep = keep.index_select(0, order)
    uniforms = _UniformBlocks(generator, dtype, device, max(_BLOCK_ELEMENTS, int(count[-1])))
    sums, slopes = _sum_over_arrivals(count, x_first.index_select(0, keep),
                                      scale.index_select(0, keep), temperature, uniforms,
                                      slope is not None)
    sel = sel.index_select(0, keep)
    z.index_add_(0, sel, sums)
    if slope is not None:
        slope.index_add_(0, sel, slopes)


class _RelaxedPoisson(torch.autograd.Function):
    """z = relaxed counts of a flat ``rate``; backward multiplies by the stored ∂z/∂λ."""

    @staticmethod
    def forward(ctx, rate, temperature, generator, n_exp, tail_tol):
        z, dz_drate = _soft_count(rate, temperature, generator, n_exp, tail_tol,
                                  with_slope=ctx.needs_input_grad[0])
        if dz_drate is not None:
            ctx.save_for_backward(dz_drate)
        return z

    @staticmethod
    def backward(ctx, grad_z):
        (dz_drate,) = ctx.saved_tensors
        return grad_z * dz_drate, None, None, None, None


def relaxed_poisson(rate: Tensor, temperature: float, generator: torch.Generator,
                    n_exp: int | None = None, tail_tol: float = 1e-6, *,
                    rate_max: float | None = None) -> Tensor:
    """Reparameterized relaxed Poisson counts z ≈ Pois(rate), same shape and dtype as ``rate``.

    z = Σ_{i≤n_exp} σ((1 − t_i)/T) with t_i the arrival times of a rate-λ Poisson process (see
    the module docstring for the algorithm and for why omitting arrivals past the horizon
    t = 1 + T·log(1/tail_tol) changes values and gradients by at most λ·T·tail_tol and
    tail_tol·(1 + T·(1 + log(1/tail_tol))) in expectation).
    Differentiable in ``rate`` (λ ≥ 0; first derivatives only). ``temperature`` 0 draws exact
    counts with :func:`poisson_counts` (no gradient). ``n_exp`` None uses :func:`poisson_n_exp`
    of the largest rate; a value below that rule triggers :class:`PoissonTruncationWarning` (see
    :func:`check_n_exp`) and truncates exactly as the reference would. ``rate_max``: an upper
    bound of ``rate`` the caller already holds, used in place of the largest rate (saves a
    device synchronization and, with ``n_exp`` None, a second quantile computation).
    Work scales with Σ_k min(n_exp, 1 + λ_k·(1 + T·log(1/tail_tol))) uniform draws plus a few
    operations per latent, instead of n_exp·numel, and memory with numel (blocks of at most 2¹⁸
    draws); the backward pass stores one value per latent.
    """
    if temperature < 0:
        raise ValueError(f"relaxed_poisson: temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return poisson_counts(rate, generator)
    if rate.numel() == 0:
        return rate * 0
    if rate_max is None:
        rate_max = float(rate.detach().max())
    if n_exp is None:
        n_exp = poisson_n_exp(rate_max)
    else:
        check_n_exp(n_exp, rate_max)
    z = _RelaxedPoisson.apply(rate.reshape(-1), float(temperature), generator, int(n_exp),
                              float(tail_tol))
    return z.reshape(rate.shape)


def relaxed_poisson_dense(rate: Tensor, temperature: float, generator: torch.Generator,
                          n_exp: int) -> Tensor:
    """The relaxed Poisson sampler by its definition, materializing [n_exp, *rate.shape] tensors.

    Δt ~ Exp(λ) drawn as E/λ (E ~ Exp(1)), t = cumsum over the n_exp axis, z = Σ σ((1 − t)/T).
    This is the reference implementation's algorithm, kept to validate and benchmark
    :func:`relaxed_poisson`; it costs n_exp·numel memory and time. ``temperature`` must be > 0.
    """
    if temperature <= 0:
        raise ValueError("relaxed_poisson_dense: temperature must be > 0")
    e = torch.empty((int(n_exp),) + tuple(rate.shape), dtype=rate.dtype,
                    device=rate.device).exponential_(generator=generator)
    t = torch.cumsum(e / rate.unsqueeze(0), dim=0)
    return torch.sigmoid((1.0 - t) / temperature).sum(0)


# -- Gaussian ------------------------------------------------------------------------------


def gaussian_kl(mu_q: Tensor, log_sigma_q: Tensor, mu_p: Tensor | float = 0.0,
                log_sigma_p: Tensor | float = 0.0) -> Tensor:
    """KL(N(μ_q, σ_q²) ‖ N(μ_p, σ_p²)) in nats, elementwise (default prior N(0, 1)).

    KL = log(σ_p/σ_q) + (σ_q² + (μ_q − μ_p)²) / (2σ_p²) − 1/2.
    """
    mu_p = torch.as_tensor(mu_p, dtype=mu_q.dtype, device=mu_q.device)
    log_sigma_p = torch.as_tensor(log_sigma_p, dtype=mu_q.dtype, device=mu_q.device)
    var_ratio = torch.exp(2.0 * (log_sigma_q - log_sigma_p))
    mean_term = (mu_q - mu_p) ** 2 * torch.exp(-2.0 * log_sigma_p)
    return log_sigma_p - log_sigma_q + 0.5 * (var_ratio + mean_term) - 0.5


def gaussian_rsample(mu: Tensor, log_sigma: Tensor, generator: torch.Generator) -> Tensor:
    """Reparameterized z = μ + σ·ε, ε ~ N(0, 1) from ``generator``; shape of μ."""
    eps = torch.randn(mu.shape, dtype=mu.dtype, device=mu.device, generator=generator)
    return mu + torch.exp(log_sigma) * eps


# -- Laplace -------------------------------------------------------------------------------


def laplace_kl(mu_q: Tensor, log_b_q: Tensor, mu_p: Tensor | float = 0.0,
               log_b_p: Tensor | float = 0.0) -> Tensor:
    """KL(Laplace(μ_q, b_q) ‖ Laplace(μ_p, b_p)) in nats, elementwise (default prior Laplace(0, 1)).

    KL = (b_q/b_p)·exp(−|μ_q − μ_p| / b_q) + |μ_q − μ_p| / b_p − log(b_q/b_p) − 1.
    """
    mu_p = torch.as_tensor(mu_p, dtype=mu_q.dtype, device=mu_q.device)
    log_b_p = torch.as_tensor(log_b_p, dtype=mu_q.dtype, device=mu_q.device)
    gap = (mu_q - mu_p).abs()
    log_ratio = log_b_q - log_b_p
    return (torch.exp(log_ratio - gap * torch.exp(-log_b_q)) + gap * torch.exp(-log_b_p)
            - log_ratio - 1.0)


def laplace_rsample(mu: Tensor, log_b: Tensor, generator: torch.Generator) -> Tensor:
    """Reparameterized z = μ + b·(E₁ − E₂), E₁, E₂ ~ Exp(1) iid (their difference is Laplace(0, 1))."""
    e = torch.empty((2,) + tuple(mu.shape), dtype=mu.dtype,
                    device=mu.device).exponential_(generator=generator)
    return mu + torch.exp(log_b) * (e[0] - e[1])


# -- categorical ---------------------------------------------------------------------------


def categorical_kl_uniform(logits: Tensor, dim: int = -1) -> Tensor:
    """KL(Cat(softmax(logits)) ‖ Uniform(K)) = Σ_k q_k log q_k + log K, in nats, summed over ``dim``."""
    log_q = torch.log_softmax(logits, dim=dim)
    return (log_q.exp() * log_q).sum(dim) + math.log(logits.shape[dim])


def categorical_kl_uniform_terms(logits: Tensor, dim: int = -1) -> Tensor:
    """Per-category terms q_k·(log q_k + log K) of :func:`categorical_kl_uniform` (they sum to it);
    shape of ``logits``. Used as a per-unit rate for a one-hot code."""
    log_q = torch.log_softmax(logits, dim=dim)
    return log_q.exp() * (log_q + math.log(logits.shape[dim]))


def gumbel_softmax(logits: Tensor, temperature: float, generator: torch.Generator,
                   dim: int = -1) -> Tensor:
    """Relaxed one-hot sample softmax((logits + g)/T), g ~ Gumbel(0, 1) iid from ``generator``.

    ``temperature`` 0 returns the hard one-hot of argmax(logits + g), an exact draw of
    Cat(softmax(logits)) (no gradient). Shape of ``logits``.
    """
    u = torch.rand(logits.shape, dtype=logits.dtype, device=logits.device, generator=generator)
    tiny = torch.finfo(logits.dtype).tiny
    g = -torch.log((-torch.log(u.clamp_min(tiny))).clamp_min(tiny))
    y = logits + g
    if temperature == 0:
        return torch.zeros_like(y).scatter_(dim, y.argmax(dim, keepdim=True), 1.0)
    return torch.softmax(y / temperature, dim=dim)
