"""Gibbs sampling from the BiHM's model distribution p*(x, h) (METHODS.md §4).

With q(x) = p*(x), the joint is p*(x, h) ∝ √(p(x, h) q(h | x)) · √p̃*(x), so the full conditional
of a layer involves only its neighbours (h_0 = x, L = top):

    hidden l < L:  log p*(h_l | ·) = ½[log p(h_l|h_{l+1}) + log p(h_{l−1}|h_l)
                                       + log q(h_l|h_{l−1}) + log q(h_{l+1}|h_l)] + c
    top L:         log p*(h_L | ·) = ½[log p(h_L) + log p(h_{L−1}|h_L) + log q(h_L|h_{L−1})] + c
    visible:       log p*(x | ·)   = ½[log p(x|h_1) + log q(h_1|x)] + log √p̃*(x) + c

(the top layer keeps its prior term, which the reference code drops). Odd layers are
conditionally independent given the even ones and vice versa: a sweep updates every odd layer,
then every even layer (x included).

Each layer is updated by *iterated* sampling-importance-resampling (i-SIR, the conditional
importance sampler of Andrieu, Lee & Vihola 2018), which leaves the conditional exactly invariant
for any number of proposals — plain SIR is exact only as that number grows. Hidden layers draw
``n_per`` candidates from p(h_l | h_{l+1}) (the prior for the top) and ``n_per`` from
q(h_l | h_{l−1}), and every candidate is weighted by target / (½ p + ½ q), as the reference does;
the current state takes a slot in the p block with probability p(h)/(p(h) + q(h)), else in the q
block, which is what makes the stratified draw with mixture weights exact. x draws ``n_per``
candidates from p(x | h_1). Its target needs √p̃*(x), replaced by the unbiased estimate ŝ(x) of
:func:`.estimators.log_sqrt_p_tilde_star_hat` with ``n_inner`` draws; the current x keeps the
estimate it was selected with (a pseudo-marginal update), so the chain still targets p*(x, h)
exactly.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import torch
from torch import Tensor

from brainlike_suite.methods.distributions import gumbel_softmax

from .estimators import EVAL_ROWS, log_sqrt_p_tilde_star_hat
from .model import HelmholtzPair

# a proposal: (draw n candidates per chain -> (N, n, d), log-density of candidates (N, C, d) -> (N, C))
Proposal = tuple[Callable[[int], Tensor], Callable[[Tensor], Tensor]]


@dataclasses.dataclass
class GibbsState:
    """N parallel chains: ``layers = [x (N, D), h_1 (N, n_1), ..., h_L (N, n_L)]`` and ``log_s``
    (N,), the log of the estimate ŝ(x) attached to each chain's current x."""

    layers: list[Tensor]
    log_s: Tensor


def gumbel_argmax(log_weights: Tensor, generator: torch.Generator) -> Tensor:
    """One index per row drawn with probability softmax(log_weights) (Gumbel-max), (N, C) -> (N,)."""
    return gumbel_softmax(log_weights, 0.0, generator).argmax(-1)


@torch.no_grad()
def init_chains(model: HelmholtzPair, n_chains: int, n_inner: int,
                generator: torch.Generator) -> GibbsState:
    """Chains started from ancestral draws of p(x, h)."""
    layers = model.sample_p(n_chains, generator)
    return GibbsState(layers, log_sqrt_p_tilde_star_hat(model, layers[0], n_inner, generator))


def _proposals(model: HelmholtzPair, layers: list[Tensor], l: int,
               generator: torch.Generator) -> list[Proposal]:
    """The proposals of layer ``l`` given its neighbours in ``layers`` (tensors of N chains)."""
    top = model.n_hidden
    n_chains = layers[0].shape[0]

    def conditional(layer, cond: Tensor) -> Proposal:
        def draw(n: int) -> Tensor:
            return layer.sample(cond[:, None].expand(-1, n, -1), generator)
        return draw, lambda cand: layer.log_prob(cand, cond[:, None])

    if l == 0:
        return [conditional(model.p_layers[0], layers[1])]
    if l == top:
        prior = (lambda n: model.top.sample((n_chains, n), generator), model.top.log_prob)
    else:
        prior = conditional(model.p_layers[l], layers[l + 1])
    return [prior, conditional(model.q_layers[l - 1], layers[l - 1])]


def _log_target(model: HelmholtzPair, layers: list[Tensor], l: int, cand: Tensor) -> Tensor:
    """log p*(h_l = cand | neighbours) up to a constant, without x's √p̃*(x) factor: (N, C)."""
    if l == 0:
        h1 = layers[1][:, None]
        return 0.5 * (model.p_layers[0].log_prob(cand, h1) + model.q_layers[0].log_prob(h1, cand))
    below = layers[l - 1][:, None]
    terms = model.p_layers[l - 1].log_prob(below, cand) + model.q_layers[l - 1].log_prob(cand, below)
    if l == model.n_hidden:
        terms = terms + model.top.log_prob(cand)
    else:
        above = layers[l + 1][:, None]
        terms = terms + model.p_layers[l].log_prob(cand, above) + model.q_layers[l].log_prob(above, cand)
    return 0.5 * terms


def _candidates(current: Tensor, proposals: list[Proposal], n_per: int,
                generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Candidates (N, J·n_per, d) with the current state in one slot, the log mixture density
    log (1/J) Σ_j r_j of every candidate (N, C), and the current state's slot (N,)."""
    n = current.shape[0]
    rows = torch.arange(n, device=current.device)
    block = torch.zeros(n, dtype=torch.long, device=current.device)
    if len(proposals) > 1:  # the block holding the current state: P(j) ∝ r_j(current)
        log_r_cur = torch.stack([log_r(current[:, None])[:, 0] for _, log_r in proposals], dim=-1)
        block = gumbel_argmax(log_r_cur, generator)
    cand = torch.cat([draw(n_per) for draw, _ in proposals], dim=1)
    slot = block * n_per
    cand[rows, slot] = current
    log_mix = torch.logsumexp(torch.stack([log_r(cand) for _, log_r in proposals]), dim=0)
    return cand, log_mix - math.log(len(proposals)), slot


@torch.no_grad()
def update_layer(model: HelmholtzPair, state: GibbsState, l: int, n_per: int, n_inner: int,
                 generator: torch.Generator, max_rows: int = EVAL_ROWS) -> GibbsState:
    """One i-SIR update of layer ``l`` in every chain (in place; returns ``state``)."""
    n_chains = state.layers[0].shape[0]
    n_cand = n_per * (1 if l == 0 else 2) * (n_inner if l == 0 else 1)
    chunk = max(1, max_rows // n_cand)
    new_layer, new_log_s = state.layers[l].clone(), state.log_s.clone()
    for start in range(0, n_chains, chunk):
        sl = slice(start, start + chunk)
        layers = [h[sl] for h in state.layers]
        proposals = _proposals(model, layers, l, generator)
        cand, log_mix, slot = _candidates(layers[l], proposals, n_per, generator)
        log_w = _log_target(model, layers, l, cand) - log_mix
        rows = torch.arange(cand.shape[0], device=cand.device)
        if l == 0:
            log_s = log_sqrt_p_tilde_star_hat(model, cand, n_inner, generator)
            log_s[rows, slot] = state.log_s[sl]
            log_w = log_w + log_s
        pick = gumbel_argmax(log_w, generator)
        new_layer[sl] = cand[rows, pick]
        if l == 0:
            new_log_s[sl] = log_s[rows, pick]
    state.layers[l] = new_layer
    state.log_s = new_log_s
    return state


def sweep_order(n_hidden: int) -> list[int]:
    """Odd layers, then even layers (x = layer 0 included): [1, 3, ..., 0, 2, ...]."""
    layers = range(n_hidden + 1)
    return [l for l in layers if l % 2 == 1] + [l for l in layers if l % 2 == 0]


@torch.no_grad()
def gibbs_sweep(model: HelmholtzPair, state: GibbsState, n_per: int, n_inner: int,
                generator: torch.Generator, max_rows: int = EVAL_ROWS) -> GibbsState:
    """One block sweep: every odd layer, then every even layer."""
    for l in sweep_order(model.n_hidden):
        update_layer(model, state, l, n_per, n_inner, generator, max_rows)
    return state


@torch.no_grad()
def gibbs_sample(model: HelmholtzPair, n_chains: int, sweeps: int, n_per: int, n_inner: int,
                 generator: torch.Generator, max_rows: int = EVAL_ROWS) -> GibbsState:
    """``n_chains`` chains started from p, after ``sweeps`` block sweeps."""
    state = init_chains(model, n_chains, n_inner, generator)
    for _ in range(sweeps):
        gibbs_sweep(model, state, n_per, n_inner, generator, max_rows)
    return state
