"""Exact BiHM quantities by enumerating every state of a tiny binary model: the oracle the
estimators, the training signal and the Gibbs sampler are verified against.

For a model with binary x (D units) and hidden layers of n_1, ..., n_L units, the tables range
over all 2^D visible and 2^(n_1+…+n_L) hidden configurations (keep the total ≤ ~16 bits):

    log p(x, h), log q(h | x)                                   (2^D, 2^H)
    log p̃*(x) = 2 logsumexp_h ½(log p(x, h) + log q(h | x))      (2^D,)
    log Z² = logsumexp_x log p̃*(x),   log p*(x) = log p̃*(x) − log Z²
    log p*(x, h) = ½(log p(x, h) + log q(h | x)) + ½ log p̃*(x) − log Z²

All are differentiable in the model's parameters (gradient checks use autograd through them).
"""
from __future__ import annotations

import itertools

import torch
from torch import Tensor

from .model import HelmholtzPair


def all_binary_states(d: int, like: Tensor) -> Tensor:
    """Every binary vector of length d, (2^d, d), in lexicographic order (first bit most
    significant), with the dtype and device of ``like``."""
    states = torch.tensor(list(itertools.product((0.0, 1.0), repeat=d)))
    return states.reshape(2 ** d, d).to(like)


def hidden_states(model: HelmholtzPair) -> list[Tensor]:
    """Every hidden configuration as per-layer tensors [h_1 (S, n_1), ..., h_L (S, n_L)],
    S = 2^(n_1+…+n_L), in the order of :func:`all_binary_states` over the concatenation."""
    flat = all_binary_states(sum(model.sizes[1:]), model.top.bias)
    return list(torch.split(flat, model.sizes[1:], dim=1))


def joint_tables(model: HelmholtzPair) -> tuple[Tensor, Tensor, Tensor]:
    """(x states (X, D), log p(x, h) (X, S), log q(h | x) (X, S)) for a binary-visible model."""
    if model.gaussian_visible:
        raise ValueError("exact enumeration needs binary visible units")
    xs = all_binary_states(model.sizes[0], model.top.bias)
    hs = hidden_states(model)
    layers = [xs[:, None, :]] + [h[None, :, :] for h in hs]
    return xs, sum(model.log_p_terms(layers)), model.log_q(layers)


def exact_quantities(model: HelmholtzPair) -> dict[str, Tensor]:
    """Exact tables: ``x`` (X, D), ``log_p_xh`` and ``log_q_h_given_x`` (X, S), ``log_px``,
    ``log_p_tilde_star``, ``log_p_star`` (X,), ``log_z2`` (scalar), ``log_p_star_joint`` (X, S)."""
    xs, log_p, log_q = joint_tables(model)
    half = 0.5 * (log_p + log_q)
    log_p_tilde_star = 2.0 * torch.logsumexp(half, dim=1)
    log_z2 = torch.logsumexp(log_p_tilde_star, dim=0)
    return {
        "x": xs, "log_p_xh": log_p, "log_q_h_given_x": log_q,
        "log_px": torch.logsumexp(log_p, dim=1),
        "log_p_tilde_star": log_p_tilde_star,
        "log_z2": log_z2,
        "log_p_star": log_p_tilde_star - log_z2,
        "log_p_star_joint": half + 0.5 * log_p_tilde_star[:, None] - log_z2,
    }


def state_index(bits: Tensor) -> Tensor:
    """Index of binary vectors (..., d) in the lexicographic order of :func:`all_binary_states`."""
    d = bits.shape[-1]
    weights = 2 ** torch.arange(d - 1, -1, -1, device=bits.device)
    return (bits.round().long() * weights).sum(-1)


def tiny_model(sizes=(5, 3, 2), scale: float = 1.5, seed: int = 0) -> HelmholtzPair:
    """A float64 BiHM small enough to enumerate (5 visible, 3 and 2 hidden units: 2^10 joint
    states) with N(0, scale²) weights, so that p, q and p* differ clearly."""
    net = HelmholtzPair(list(sizes)).to(torch.float64)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * scale)
    return net


def estimator_convergence(ks=(10, 100, 1000, 10_000), seed: int = 0) -> dict:
    """Errors of the BiHM estimators against exact enumeration on :func:`tiny_model`, as the
    number of samples K grows: mean |error| over all 2^5 inputs of log p̃*(x) and log p(x)
    (importance sampling with K draws of q(h|x)), and |error| of log Z² (the unbiased estimator
    with K outer draws from p, 10 inner draws from q) and of log p*(x) = log p̃*(x) − log Z².
    The reproduction claim C2 (through :meth:`.bihm.BiHM.estimator_convergence`)."""
    from .estimators import importance_estimates, log_z2_estimate

    net = tiny_model()
    with torch.no_grad():
        ex = exact_quantities(net)
    x = ex["x"]
    rows = []
    for k in ks:
        g = torch.Generator().manual_seed(seed * 1_000_003 + int(k))
        ie = importance_estimates(net, x, int(k), g)
        log_z2, _ = log_z2_estimate(net, int(k), 10, g)
        err = {"K": int(k),
               "log_p_tilde_star": float((ie["log_p_tilde_star"] - ex["log_p_tilde_star"]).abs().mean()),
               "log_px": float((ie["log_px"] - ex["log_px"]).abs().mean()),
               "log_z2": abs(log_z2 - float(ex["log_z2"])),
               "log_p_star": float((ie["log_p_tilde_star"] - log_z2 - ex["log_p_star"]).abs().mean())}
        rows.append(err)
    return {"rows": rows, "exact_log_z2": float(ex["log_z2"]), "n_inputs": int(x.shape[0]),
            "model": "5-3-2 units, weights N(0, 1.5²), float64"}
