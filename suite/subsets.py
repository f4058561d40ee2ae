"""Which rows a run trains, stops early and is evaluated on (PROTOCOL.md: evaluation data is
never seen during training; subsets of the evaluation split are seeded random subsets).

- :func:`holdout_split`: the runner carves a seeded random slice out of the *training* split and
  trains on the rest; the slice is what ``Method.fit`` receives as ``val`` (early stopping, model
  selection). Its size is the eval setting ``holdout: {fraction, max}`` of the profiles
  (``round(fraction · N_train)``, capped at ``max`` samples and at N_train − 1; ``fraction: 0``
  gives no slice, and ``val`` is None). The evaluation split is never passed to ``fit``.
- :func:`subset_indices`: ``max_val``-style subsets of the evaluation split (and of the test
  split, and the amortization gap's own ``max_val``) are seeded random subsets, never the first
  rows (the binarized-MNIST test split, for one, is ordered by class). Half of the subset is drawn
  from each half of the split and the indices are sorted, so the few-shot KNN's pool (the
  subset's first half) comes from the split's first half and its test set from the second, as
  PROTOCOL.md's halves are defined on the whole split.

Seeds come from the run seed through :func:`suite.seeding.derive_seed`, one purpose each, so the
same seed gives the same rows for every method.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import Tensor

from .errors import ConfigError
from .seeding import derive_seed
from .settings import DEFAULT_HOLDOUT, EvalSettings, HoldoutSettings  # noqa: F401 (DEFAULT_HOLDOUT re-exported)


def holdout_settings(eval_cfg: "Mapping[str, Any] | EvalSettings") -> dict:
    """The validated ``holdout`` eval setting as a plain dict ``{"fraction": f, "max": m}``
    (:class:`suite.settings.HoldoutSettings`, where its defaults live)."""
    return EvalSettings.from_mapping(eval_cfg).holdout.to_dict()


def _holdout(settings: "Mapping[str, Any] | HoldoutSettings") -> HoldoutSettings:
    return HoldoutSettings.from_value(settings)


def holdout_size(n_train: int, settings: "Mapping[str, Any] | HoldoutSettings") -> int:
    """Samples held out of a training split of ``n_train``: round(fraction · n_train), capped
    at ``max`` and at n_train − 1 (so that something is left to train on)."""
    settings = _holdout(settings)
    k = int(round(settings.fraction * n_train))
    if settings.max is not None:
        k = min(k, int(settings.max))
    return max(0, min(k, n_train - 1))


def holdout_split(train: Tensor, settings: "Mapping[str, Any] | HoldoutSettings", seed: int,
                  ) -> tuple[Tensor, Tensor | None, dict]:
    """``(rest, held_out, info)``: a seeded random slice of ``train`` (N, D) and the rows left
    to train on (both in their original order, on ``train``'s device; disjoint, together all of
    ``train``); ``held_out`` is None when the slice is empty. ``info`` is what the run record
    stores: ``n_holdout``, ``holdout_fraction``, ``holdout_max``, ``holdout_seed``."""
    settings = _holdout(settings)
    n = train.shape[0]
    k = holdout_size(n, settings)
    split_seed = derive_seed(seed, "holdout")
    info = {"n_holdout": k, "holdout_fraction": settings.fraction,
            "holdout_max": settings.max, "holdout_seed": split_seed}
    if k == 0:
        return train, None, info
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    held, rest = perm[:k].sort().values, perm[k:].sort().values
    return train[rest.to(train.device)], train[held.to(train.device)], info


def subset_indices(n_total: int, n: int | None, seed: int) -> Tensor | None:
    """Sorted indices (int64, CPU) of a seeded random subset of ``n`` of ``range(n_total)``:
    ⌊n/2⌋ drawn from the first half ``[0, ⌊n_total/2⌋)`` and the rest from the second; None
    (take everything) when ``n`` is None or at least ``n_total``."""
    if n is None or int(n) >= n_total:
        return None
    n = int(n)
    if n <= 0:
        raise ConfigError(f"a subset size must be positive, got {n}")
    g = torch.Generator().manual_seed(seed)
    half = n_total // 2
    first = torch.randperm(half, generator=g)[: n // 2]
    second = half + torch.randperm(n_total - half, generator=g)[: n - n // 2]
    return torch.cat([first, second]).sort().values
